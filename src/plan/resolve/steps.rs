//! Resolution of steps: a request's method, path, headers, body, captures and expectations, the task keys
//! (weight, tags, restart_session), flows and their steps, and templates checked against the names that exist.

use super::*;
use crate::plan::request_checks;

pub(super) fn resolve_step(
    loaded: &Loaded,
    file: usize,
    raw: &RawStep,
    kind: StepKind,
    nested: Nested,
    names: &Names,
    defaults: ClientDefaults,
) -> Result<Step> {
    let in_flow = nested != Nested::No;
    let captures = &names.captures;
    let name = raw.name.get_ref().trim().to_string();
    if name.is_empty() {
        return Err(loaded
            .error(file, raw.name.span(), "request `name` must not be empty")
            .into());
    }
    if let Some(list) = &raw.steps {
        return resolve_flow(loaded, file, raw, kind, in_flow, list, name);
    }
    if nested == Nested::No
        && let Some((key, span)) = first_written(control_keys(raw))
    {
        let whose = match kind {
            StepKind::Task => {
                "a single-request [[task]]; make it a flow: [[task]] name = \"...\" with [[task.steps]]"
            }
            StepKind::Preflight => "a preflight check",
            _ => "this step",
        };
        return Err(loaded
            .error(file, span, format!("`{key}` is not allowed on {whose}"))
            .into());
    }
    let Some(raw_path) = &raw.path else {
        return Err(loaded
            .error(file, raw.name.span(), format!("request `{name}` has no `path`"))
            .with_help("a request needs path = \"/...\"; a task made of several requests has [[task.steps]] instead")
            .into());
    };
    let method = match &raw.method {
        None => Method::GET,
        Some(m) => {
            let upper = m.get_ref().to_ascii_uppercase();
            if !METHODS.contains(&upper.as_str()) {
                return Err(loaded
                    .error(
                        file,
                        m.span(),
                        format!(
                            "unknown HTTP method `{}`; expected one of {}",
                            m.get_ref(),
                            METHODS.join(", ")
                        ),
                    )
                    .suggest(&upper, METHODS.iter().copied())
                    .into());
            }
            Method::from_bytes(upper.as_bytes()).unwrap_or(Method::GET)
        }
    };
    let tpl = |s: &Spanned<String>| compile(loaded, file, s.span(), s.get_ref(), names);

    let path_src = raw_path.get_ref();
    if !(path_src.starts_with('/')
        || path_src.starts_with("http://")
        || path_src.starts_with("https://")
        || path_src.starts_with("{{"))
    {
        return Err(loaded
            .error(
                file,
                raw_path.span(),
                format!(
                    "`path` must start with `/` (or be a full http:// URL), got `{}`",
                    request_checks::mask_userinfo(path_src)
                ),
            )
            .masking(request_checks::userinfo_secret(path_src))
            .into());
    }
    let path = tpl(raw_path)?;
    check_path(loaded, file, raw_path, &path)?;
    // Issue 18 item 4: a list is the key repeated, once per value.
    let query = super::bodies::query(loaded, file, raw, names)?;
    // Issue 18 items 4 and 5: the headers checked as default headers are, and the body kinds.
    let headers = match &raw.headers {
        Some(table) => super::bodies::header_table(loaded, file, table, names)?,
        None => Vec::new(),
    };
    let body = super::bodies::body(loaded, file, raw, names)?;
    let (expect_status, checks) = match &raw.expect {
        Some(e) => resolve_expect(loaded, file, e, names)?,
        None => (None, Vec::new()),
    };
    let mut caps = Vec::new();
    for (cname, v) in raw.capture.iter().flatten() {
        let slot = captures.iter().position(|c| c == cname).unwrap_or(0);
        caps.push(resolve_capture(loaded, file, cname, slot, v)?);
    }
    let task_only = |what: &str, span: Range<usize>| -> Error {
        let whose = if in_flow {
            "the steps of a flow (put it on the flow's [[task]])".to_string()
        } else {
            format!("{} steps", kind.as_str())
        };
        loaded
            .error(
                file,
                span,
                format!("`{what}` applies to [[task]] entries, not to {whose}"),
            )
            .into()
    };
    let kind_here = if in_flow { StepKind::OnStart } else { kind };
    // An alternative of `choose` has a weight, which the flow's compiler reads.
    let (weight, tags, restart_session) = task_fields(
        loaded,
        file,
        raw,
        kind_here,
        &task_only,
        nested == Nested::Choice,
    )?;
    let restart_on = match (&raw.restart_session_on, kind) {
        (None, _) => Vec::new(),
        (Some(list), StepKind::Task) => status_list(loaded, file, list, "restart_session_on")?,
        (Some(list), _) => {
            return Err(loaded
                .error(
                    file,
                    list.span(),
                    format!(
                        "`restart_session_on` applies to tasks (and the steps of flows), not to {} steps",
                        kind.as_str()
                    ),
                )
                .into());
        }
    };
    let timeout = raw
        .timeout
        .as_ref()
        .map(|t| positive_duration(loaded, file, t, "timeout"))
        .transpose()?;
    // The request's own setting wins; else a request that expects a redirect status checks the redirect itself
    // and does not follow it; else the class's, the user's or the target's default.
    let follow_redirects = match &raw.follow_redirects {
        Some(v) => super::values::follow_value(loaded, file, v)?,
        None if expect_status
            .as_ref()
            .is_some_and(|l| l.iter().any(|s| (300..400).contains(s))) =>
        {
            0
        }
        None => defaults.follow_redirects,
    };
    let compression = raw
        .compression
        .as_ref()
        .map_or(defaults.compression, |c| *c.get_ref());
    Ok(Step {
        name,
        kind,
        method,
        path,
        query,
        headers,
        body,
        expect_status,
        checks,
        captures: caps,
        weight,
        restart_session,
        restart_on,
        tags,
        timeout,
        class: 0,
        flow: None,
        follow_redirects,
        compression,
        header_needs: Vec::new(),
    })
}

/// A request path is sent as written: no control character in its text (nor in what `env.*` put there), no
/// character a request line cannot hold in a relative path, and a constant absolute URL that is a valid target
/// (see [`request_checks`]).
fn check_path(loaded: &Loaded, file: usize, raw: &Spanned<String>, path: &Template) -> Result<()> {
    let first = path.literals().next().unwrap_or("");
    let absolute = !raw.get_ref().starts_with('/');
    for lit in path.literals() {
        if let Some(problem) = request_checks::path_problem(lit, absolute) {
            // Not in the text as written: it came with an environment variable.
            let from_env = if request_checks::path_problem(raw.get_ref(), absolute).is_none() {
                " (it comes from an `env.*` variable the path uses)"
            } else {
                ""
            };
            return Err(loaded
                .error(file, raw.span(), format!("`path`: {problem}{from_env}"))
                .masking(request_checks::userinfo_secret(lit))
                .into());
        }
    }
    if path.is_constant() && (first.starts_with("http://") || first.starts_with("https://")) {
        request_checks::check_url(first, "the URL").map_err(|m| {
            loaded
                .error(file, raw.span(), format!("`path`: {m}"))
                .masking(request_checks::userinfo_secret(first))
        })?;
    }
    Ok(())
}

/// Status codes as written (`expect.status`, `restart_session_on`): at least one, each 100-599.
pub(super) fn status_list(
    loaded: &Loaded,
    file: usize,
    list: &crate::scenario::StatusList,
    what: &str,
) -> Result<Vec<u16>> {
    if list.get_ref().is_empty() {
        return Err(loaded
            .error(
                file,
                list.span(),
                format!("`{what}` must list at least one status code"),
            )
            .into());
    }
    let mut codes = Vec::new();
    for s in list.get_ref() {
        let c = *s.get_ref();
        if !(100..=599).contains(&c) {
            return Err(loaded
                .error(
                    file,
                    s.span(),
                    format!("`{c}` is not an HTTP status code (100-599)"),
                )
                .into());
        }
        codes.push(c as u16);
    }
    Ok(codes)
}

/// A `weight`: 1..=1000000 (a task's, or an alternative's of `choose`).
pub(super) fn weight_value(loaded: &Loaded, file: usize, w: &Spanned<i64>) -> Result<u32> {
    let v = *w.get_ref();
    if !(1..=1_000_000).contains(&v) {
        return Err(loaded
            .error(
                file,
                w.span(),
                format!("`weight` must be between 1 and 1000000, got {v}"),
            )
            .into());
    }
    Ok(v as u32)
}

/// The task-level keys of `raw` (weight, tags, restart_session), refused unless `kind` is a task.
pub(super) fn task_fields(
    loaded: &Loaded,
    file: usize,
    raw: &RawStep,
    kind: StepKind,
    task_only: &dyn Fn(&str, Range<usize>) -> Error,
    choice: bool,
) -> Result<(u32, Vec<String>, bool)> {
    let weight = match (&raw.weight, kind) {
        (None, _) => 1,
        // An alternative of `choose`: its weight is the choice's, read by the flow's compiler.
        (Some(_), _) if choice => 1,
        (Some(w), StepKind::Task) => weight_value(loaded, file, w)?,
        (Some(w), _) => return Err(task_only("weight", w.span())),
    };
    let tags = match (&raw.tags, kind) {
        (None, _) => Vec::new(),
        (Some(t), StepKind::Task) => t.get_ref().clone(),
        (Some(t), _) => return Err(task_only("tags", t.span())),
    };
    let restart_session = match (&raw.restart_session, kind) {
        (None, _) => false,
        (Some(r), StepKind::Task) => *r.get_ref(),
        (Some(r), _) => return Err(task_only("restart_session", r.span())),
    };
    Ok((weight, tags, restart_session))
}

/// A flow's own entry: a `[[task]]` with `steps`, which has the task's keys and none of a request's.
pub(super) fn resolve_flow(
    loaded: &Loaded,
    file: usize,
    raw: &RawStep,
    kind: StepKind,
    in_flow: bool,
    list: &Spanned<Vec<RawStep>>,
    name: String,
) -> Result<Step> {
    if in_flow || kind != StepKind::Task {
        return Err(loaded
            .error(
                file,
                list.span(),
                if in_flow {
                    "flows do not nest: a step of a flow is one request".to_string()
                } else {
                    format!(
                        "`steps` applies to [[task]] entries, not to {} steps",
                        kind.as_str()
                    )
                },
            )
            .into());
    }
    if list.get_ref().is_empty() {
        return Err(loaded
            .error(file, list.span(), format!("flow `{name}` has no steps"))
            .into());
    }
    let request_keys = request_keys(raw);
    if let Some((key, span)) = first_written(request_keys) {
        return Err(loaded
            .error(
                file,
                span,
                format!("flow `{name}` has `steps`, so `{key}` belongs on one of its steps"),
            )
            .with_help("a flow's own keys are name, weight, tags, restart_session and think")
            .into());
    }
    if let Some((key, span)) = first_written(control_keys(raw)) {
        return Err(loaded
            .error(file, span, format!("flow `{name}`: `{key}` goes on one of its steps (or on a block of them), not on the flow's [[task]]"))
            .with_help("wrap the steps in a block: [[task.steps]] name = \"...\" repeat = 3 steps = [ ... ]")
            .into());
    }
    let task_only = |what: &str, span: Range<usize>| -> Error {
        loaded
            .error(file, span, format!("`{what}` is not allowed here"))
            .into()
    };
    let (weight, tags, restart_session) = task_fields(loaded, file, raw, kind, &task_only, false)?;
    Ok(Step {
        name,
        kind: StepKind::Flow,
        method: Method::GET,
        path: Template::literal(""),
        query: Vec::new(),
        headers: Vec::new(),
        body: Body::None,
        expect_status: None,
        checks: Vec::new(),
        captures: Vec::new(),
        weight,
        restart_session,
        restart_on: Vec::new(),
        tags,
        timeout: None,
        class: 0,
        flow: None,
        follow_redirects: 0,
        compression: false,
        header_needs: Vec::new(),
    })
}

/// Compiles a template found at `span` in `file`.
pub(super) fn compile(
    loaded: &Loaded,
    file: usize,
    span: Range<usize>,
    s: &str,
    names: &Names,
) -> Result<Template> {
    Template::compile(
        s,
        |v: &RawVar<'_>| resolve_var(loaded, file, span.clone(), v, names),
        |e| {
            loaded
                .error_in(file, span.clone(), &e.text, e.message)
                .into()
        },
    )
}

pub(super) fn resolve_var(
    loaded: &Loaded,
    file: usize,
    span: Range<usize>,
    v: &RawVar<'_>,
    names: &Names,
) -> Result<Resolved> {
    let captures = &names.captures;
    let var = match v.name {
        "vu" => Var::Vu,
        "session" => Var::Session,
        "run_id" => Var::RunId,
        "seq" => Var::Seq,
        "uuid" => Var::Uuid,
        "random" => Var::Random,
        "timestamp_ms" => Var::TimestampMs,
        name => {
            if let Some(env) = name.strip_prefix("env.") {
                return super::bodies::env_value(loaded, file, span, v, env);
            }
            if let Some(column) = name.strip_prefix("data.") {
                return match names.data.as_ref() {
                    Some(set) => match set.column(column) {
                        Some(i) => Ok(Resolved::Var(Var::Data(i))),
                        None => {
                            let e = loaded.error_in(
                                file,
                                span,
                                v.text,
                                format!(
                                    "`{}` has no column `{column}`",
                                    set.path().display()
                                ),
                            );
                            Err(match crate::scenario::error::did_you_mean(
                                column,
                                set.columns().iter().map(String::as_str),
                            ) {
                                Some(best) => e.with_help(format!("did you mean `data.{best}`?")),
                                None => e.with_help(format!(
                                    "its columns are: {}",
                                    set.columns().join(", ")
                                )),
                            }
                            .into())
                        }
                    },
                    None => Err(loaded
                        .error_in(file, span, v.text, format!("`{name}` needs a data file"))
                        .with_help("add [data] file = \"users.csv\" (a CSV file with a header row naming the columns)")
                        .into()),
                };
            }
            if let Some(var) = names.loop_var(name) {
                return Ok(Resolved::Var(var));
            }
            if name == "item" || name == "index" {
                return Err(loaded
                    .error_in(file, span, v.text, format!("`{name}` is only set inside a loop"))
                    .with_help("`{{item}}` is the current item of a for_each; `{{index}}` counts the iterations of a for_each or repeat (from 0)")
                    .into());
            }
            match captures.iter().position(|c| c == name) {
                Some(slot) => Var::Capture(slot),
                None => {
                    let known: Vec<&str> = template::BUILTINS
                        .iter()
                        .map(|(b, _)| *b)
                        .chain(captures.iter().map(String::as_str))
                        .collect();
                    let mut e = loaded.error_in(
                        file,
                        span,
                        v.text,
                        format!("unknown template variable `{name}`"),
                    );
                    e = match crate::scenario::error::did_you_mean(name, known.iter().copied()) {
                        Some(best) => e.with_help(format!("did you mean `{best}`?")),
                        None => e.with_help(format!(
                            "known variables: {}, env.NAME, and the captures declared in the scenario{}",
                            template::BUILTINS.iter().map(|(b, _)| *b).collect::<Vec<_>>().join(", "),
                            if captures.is_empty() { String::new() } else { format!(" ({})", captures.join(", ")) }
                        )),
                    };
                    return Err(e.into());
                }
            }
        }
    };
    Ok(Resolved::Var(var))
}

pub(super) fn json_template(
    loaded: &Loaded,
    file: usize,
    span: Range<usize>,
    v: &toml::Value,
    names: &Names,
) -> Result<JsonTemplate> {
    Ok(match v {
        toml::Value::String(s) => {
            let t = compile(loaded, file, span, s, names)?;
            if t.is_constant() {
                JsonTemplate::Literal(serde_json::Value::String(t.render(&mut NoVars)))
            } else {
                JsonTemplate::String(t)
            }
        }
        toml::Value::Array(items) => JsonTemplate::Array(
            items
                .iter()
                .map(|i| json_template(loaded, file, span.clone(), i, names))
                .collect::<Result<_>>()?,
        ),
        toml::Value::Table(t) => JsonTemplate::object(
            t.iter()
                .map(|(k, v)| {
                    Ok((
                        k.clone(),
                        json_template(loaded, file, span.clone(), v, names)?,
                    ))
                })
                .collect::<Result<_>>()?,
        ),
        toml::Value::Integer(i) => JsonTemplate::Literal((*i).into()),
        toml::Value::Float(f) => JsonTemplate::Literal(
            serde_json::Number::from_f64(*f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
        ),
        toml::Value::Boolean(b) => JsonTemplate::Literal((*b).into()),
        toml::Value::Datetime(d) => JsonTemplate::Literal(d.to_string().into()),
    })
}

pub(super) struct NoVars;
impl template::Context for NoVars {
    fn write_var(&mut self, _: Var, _: &mut String) {}
}
