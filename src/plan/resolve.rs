//! Resolution: every check of a loaded scenario, with the location of what fails.

use std::collections::HashMap;
use std::ops::Range;
use std::time::Duration;

use http::Method;
use http::header::HeaderName;
use toml::Spanned;

use super::*;
use crate::duration::DurationError;
use crate::error::Error;
use crate::scenario::jsonpath::JsonPath;
use crate::scenario::template::{self, RawVar, Resolved, Template, Var};
use crate::scenario::{At, Loaded, RawGateSet, RawLoad, RawStep, ScenarioError};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// `[target] max_body` when the scenario does not set it: 10 MiB.
pub const DEFAULT_MAX_BODY: u64 = 10 << 20;
const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

// Issue 18 items 4 and 5: default headers, env defaults, bodies.
mod bodies;
mod checks;
mod flow;
mod gates;
mod steps;

use super::request_checks::check_host;
use super::values::{MAX_DURATION, duration_value, positive_duration};
use checks::*;
use flow::*;
use gates::*;
use steps::*;

type Result<T> = std::result::Result<T, Error>;

/// What a template may refer to besides the built-ins: the captures and the data file's columns.
struct Names {
    captures: Vec<String>,
    data: Option<std::sync::Arc<crate::data::DataSet>>,
    /// The loops around the node being resolved, innermost last (issue 18, item 3).
    scope: std::cell::RefCell<Vec<LoopVar>>,
    /// Loop frames given out so far.
    frames: std::cell::Cell<usize>,
}

impl Names {
    fn new(captures: Vec<String>, data: Option<std::sync::Arc<crate::data::DataSet>>) -> Names {
        Names {
            captures,
            data,
            scope: Default::default(),
            frames: Default::default(),
        }
    }

    /// A new loop frame.
    fn new_frame(&self) -> usize {
        let f = self.frames.get();
        self.frames.set(f + 1);
        f
    }

    /// What a loop variable name means here: `index` (the innermost loop's) or a `for_each` item.
    fn loop_var(&self, name: &str) -> Option<Var> {
        let scope = self.scope.borrow();
        if name == "index" {
            return scope.last().map(|l| Var::Index(l.frame));
        }
        scope
            .iter()
            .rev()
            .find(|l| l.item.as_deref() == Some(name))
            .map(|l| Var::Item(l.frame))
    }
}

/// Resolves `loaded` with `overrides` into a plan, or the first problem found.
pub fn resolve(loaded: &Loaded, overrides: &Overrides) -> Result<RunPlan> {
    let root = 0;
    let missing = |what: &str, example: &str| -> Error {
        ScenarioError::file(loaded.root(), format!("missing `{what}`"))
            .with_help(format!("add it to the scenario, e.g. {example}"))
            .into()
    };

    let name = match &loaded.name {
        Some(n) if n.value.get_ref().trim().is_empty() => {
            return Err(loaded
                .error(n.file, n.value.span(), "`name` must not be empty")
                .into());
        }
        Some(n) => n.value.get_ref().clone(),
        None => loaded
            .root()
            .file_stem()
            .map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned()),
    };

    // [target]
    let target = loaded.target.as_ref();
    let host = match (
        &overrides.host,
        target.and_then(|t| t.value.host.as_ref().map(|h| (t.file, h))),
    ) {
        (Some(h), _) => check_host(h).map_err(|m| {
            Error::Usage(format!(
                "--host {}: {m}",
                super::request_checks::shown_url(h)
            ))
        })?,
        (None, Some((file, h))) => {
            // Issue 18 item 4: env templates resolved at load, then checked as a URL.
            let text = bodies::host_text(loaded, file, h)?;
            check_host(&text).map_err(|m| {
                loaded
                    .error(file, h.span(), m)
                    .masking(super::request_checks::userinfo_secret(&text))
            })?
        }
        (None, None) => {
            return Err(missing(
                "[target] host",
                "[target] host = \"http://127.0.0.1:8000\" (or pass --host, or --demo)",
            ));
        }
    };
    let timeout = match target.and_then(|t| t.value.timeout.as_ref().map(|v| (t.file, v))) {
        Some((file, v)) => positive_duration(loaded, file, v, "timeout")?,
        None => DEFAULT_TIMEOUT,
    };
    let max_body = match target.and_then(|t| t.value.max_body.as_ref().map(|v| (t.file, v))) {
        Some((file, v)) => size_value(loaded, file, v, "max_body")?,
        None => DEFAULT_MAX_BODY,
    };
    let tls = super::tls::resolve_tls(loaded, overrides)?;
    let protocol = super::protocol::resolve_protocol(loaded)?;
    // Issue 17, items 4 and 5: what every request does unless its class or itself says otherwise.
    let target_defaults = ClientDefaults {
        follow_redirects: match target
            .and_then(|t| t.value.follow_redirects.as_ref().map(|v| (t.file, v)))
        {
            Some((file, v)) => super::values::follow_value(loaded, file, v)?,
            None => super::values::DEFAULT_FOLLOW_REDIRECTS,
        },
        compression: target
            .and_then(|t| t.value.compression.as_ref())
            .is_some_and(|c| *c.get_ref()),
    };
    let dns = super::net::resolve_dns(loaded)?;
    let proxy = super::net::resolve_proxies(loaded, &overrides.proxy_env)?;

    // [load]
    let load = loaded.load.as_ref();
    // Issue 21 item 3: a limit search makes its own steps, and its length is theirs.
    let (search, (load_model, users)) = if super::search::wanted(load, overrides) {
        let (s, l, u) = super::search::resolve_search(loaded, load, overrides, timeout)?;
        (Some(s), (l, u))
    } else {
        (
            None,
            super::load::resolve_load(loaded, load, overrides, timeout)?,
        )
    };
    let staged: Duration = load_model.stage_durations().iter().sum();
    let written = load
        .filter(|_| search.is_none())
        .and_then(|l| l.value.duration.as_ref().map(|v| (l.file, v)));
    let duration = match (overrides.duration, written) {
        (Some(d), _) if d.is_zero() => {
            return Err(Error::Usage("--duration must be above 0".into()));
        }
        (Some(d), _) => d,
        (None, Some((file, d))) => positive_duration(loaded, file, d, "duration")?,
        (None, None) if !staged.is_zero() => staged,
        (None, None) => {
            // --rate replaced stages that would have given the run its length: say so, not "missing".
            let stages = load.and_then(|l| {
                let list = l.value.stages.as_ref()?.get_ref();
                list.iter()
                    .map(|st| st.duration.get_ref().trim())
                    .map(crate::duration::parse)
                    .sum::<std::result::Result<Duration, _>>()
                    .ok()
            });
            if let (Some(total), Some(_)) = (stages, overrides.rate) {
                let total = humantime::format_duration(total);
                return Err(Error::Usage(format!(
                    "--rate replaces the scenario's [load] stages (which last {total}) with one constant arrival \
                     rate, and the scenario has no [load] duration of its own: give the run a length, e.g. \
                     --duration {total}"
                )));
            }
            return Err(missing("[load] duration", "[load] duration = \"5m\""));
        }
    };
    let stop_timeout = match load.and_then(|l| l.value.stop_timeout.as_ref().map(|v| (l.file, v))) {
        Some((file, v)) => duration_value(loaded, file, v, "stop_timeout")?,
        None => DEFAULT_STOP_TIMEOUT,
    };
    let connections = resolve_connections(loaded, load)?;
    let max_iterations = resolve_iterations(loaded, load, overrides)?;
    // The user classes as written, then the tasks that --tags / --exclude-tags keep.
    let mut sources = class_sources(loaded)?;
    if sources.iter().all(|c| c.tasks.is_empty()) {
        return Err(missing(
            "[[task]]",
            "[[task]] name = \"home\" path = \"/\" (at least one task)",
        ));
    }
    let excluded = select_tasks(&mut sources, overrides)?;
    // Every capture name first, so any step may use any capture.
    let mut captures: Vec<String> = Vec::new();
    for src in &sources {
        for (file, raw) in src.all_steps() {
            collect_captures(loaded, file, raw, &mut captures)?;
        }
    }

    if let Some(p) = &loaded.preflight {
        for raw in &p.value.check {
            collect_captures(loaded, p.file, raw, &mut captures)?;
        }
    }
    let data = super::data::resolve_data(loaded, &load_model, users, overrides)?;
    let names = Names::new(captures, data.as_ref().map(|d| d.set.clone()));
    let mut steps: Vec<Step> = Vec::new();
    let mut seen: HashMap<String, (usize, Range<usize>)> = HashMap::new();
    let mut classes = Vec::with_capacity(sources.len());
    for (ci, src) in sources.iter().enumerate() {
        let wait = match src.wait {
            Some((file, w)) => parse_wait(loaded, file, w)?,
            None => Wait::None,
        };
        let class_defaults = ClientDefaults {
            follow_redirects: match src.follow {
                Some((file, v)) => super::values::follow_value(loaded, file, v)?,
                None => target_defaults.follow_redirects,
            },
            ..target_defaults
        };
        let restart_default = match src.restart_on {
            Some((file, list)) => status_list(loaded, file, list, "restart_session_on")?,
            None => Vec::new(),
        };
        let class_headers = bodies::default_headers(loaded, src.headers, &names)?;
        let mut add =
            |file: usize, raw: &RawStep, kind: StepKind, flow: Option<usize>, nested: Nested| {
                let mut step =
                    resolve_step(loaded, file, raw, kind, nested, &names, class_defaults)?;
                if step.kind == StepKind::Task && step.restart_on.is_empty() {
                    step.restart_on.clone_from(&restart_default);
                }
                bodies::merge_default_headers(&mut step, &class_headers);
                step.class = ci;
                step.flow = flow;
                unique_name(loaded, &mut seen, file, raw, &step.name)?;
                steps.push(step);
                Ok::<usize, Error>(steps.len() - 1)
            };
        // on_start and on_stop: their nodes, with control flow (issue 18, item 3).
        let mut c = Compiler::new(loaded, &names, StepKind::OnStart, None, &mut add);
        c.list(&src.on_start, 0)?;
        let (start_ops, on_start) = (c.ops, c.requests);
        let mut tasks = Vec::with_capacity(src.tasks.len());
        for &(file, raw) in &src.tasks {
            let head = add(file, raw, StepKind::Task, None, Nested::No)?;
            let mut ops = Vec::new();
            let members = match &raw.steps {
                None => {
                    ops.push(Op::Request(head));
                    vec![head]
                }
                Some(list) => {
                    let inner: Vec<(usize, &RawStep)> =
                        list.get_ref().iter().map(|r| (file, r)).collect();
                    let mut c = Compiler::new(loaded, &names, StepKind::Task, Some(head), &mut add);
                    c.list(&inner, 1)?;
                    ops = c.ops;
                    c.requests
                }
            };
            if let Some(t) = &raw.think {
                ops.push(Op::Think(think(loaded, file, t)?));
            }
            tasks.push((head, members, Program { ops }));
        }
        let mut c = Compiler::new(loaded, &names, StepKind::OnStop, None, &mut add);
        c.list(&src.on_stop, 0)?;
        let (stop_ops, on_stop) = (c.ops, c.requests);
        let tasks = tasks
            .into_iter()
            .map(|(head, steps_of, program)| Task {
                head,
                steps: steps_of,
                program,
                weight: steps[head].weight,
                restart_session: steps[head].restart_session,
            })
            .collect();
        classes.push(UserClass {
            name: src.name.clone(),
            weight: src.weight,
            wait,
            on_start,
            tasks,
            on_stop,
            start_program: Program { ops: start_ops },
            stop_program: Program { ops: stop_ops },
        });
    }

    let monitor = super::monitor::resolve_monitor(loaded)?;
    let gates = match &loaded.gates {
        Some(g) => resolve_gates(
            loaded,
            g.file,
            &g.value,
            (&steps, &excluded),
            &load_model,
            overrides,
            monitor.as_ref(),
        )?,
        None => Vec::new(),
    };
    let rules = resolve_rules(loaded, overrides, &gates)?;
    if search.is_some()
        && !rules.fail_on_errors
        && !gates
            .iter()
            .any(|g| matches!(g.window, Window::Run | Window::Steady))
    {
        return Err(Error::Usage(
            "a limit search judges each step by the scenario's gates (under [gates]), or by its failed requests:              with no such gate and fail_on_errors off, no step could fail; add a gate, e.g. [gates]              p95_ms = 500"
                .into(),
        ));
    }
    let _ = root;
    let preflight = resolve_preflight(loaded, &names, target_defaults)?;
    Ok(RunPlan {
        name,
        file: loaded.root().to_path_buf(),
        host,
        timeout,
        max_body,
        tls,
        protocol,
        dns,
        proxy,
        users,
        load: load_model,
        duration,
        stop_timeout,
        connections,
        max_iterations,
        steps,
        classes,
        frames: names.frames.get(),
        captures: names.captures,
        data,
        gates,
        rules,
        validity: resolve_validity(loaded)?,
        preflight,
        segment: None,
        whole: None,
        search,
        monitor,
    })
}

/// `[preflight]`: its checks (requests, resolved like any other) and how long to retry them.
fn resolve_preflight(
    loaded: &Loaded,
    names: &Names,
    target_defaults: ClientDefaults,
) -> Result<Option<Preflight>> {
    let Some(p) = &loaded.preflight else {
        return Ok(None);
    };
    let file = p.file;
    let raw = &p.value;
    if raw.check.is_empty() {
        return Err(
            ScenarioError::file(&loaded.files[file].path, "`[preflight]` has no checks")
                .with_help("add one: [[preflight.check]] name = \"health\" path = \"/health\"")
                .into(),
        );
    }
    let timeout = match &raw.timeout {
        Some(v) => positive_duration(loaded, file, v, "preflight.timeout")?,
        None => Duration::from_secs(30),
    };
    let interval = match &raw.interval {
        Some(v) => positive_duration(loaded, file, v, "preflight.interval")?,
        None => Duration::from_secs(1),
    };
    let mut checks = Vec::with_capacity(raw.check.len());
    let mut seen: HashMap<String, (usize, Range<usize>)> = HashMap::new();
    // Issue 18 item 4: preflight checks send the target's default headers.
    let target_headers = bodies::default_headers(loaded, None, names)?;
    for r in &raw.check {
        if let Some(t) = &r.think {
            return Err(loaded
                .error(
                    file,
                    t.span(),
                    "`think` is not allowed on a preflight check",
                )
                .into());
        }
        let mut step = resolve_step(
            loaded,
            file,
            r,
            StepKind::Preflight,
            Nested::No,
            names,
            target_defaults,
        )?;
        unique_name(loaded, &mut seen, file, r, &step.name)?;
        bodies::merge_default_headers(&mut step, &target_headers);
        checks.push(step);
    }
    Ok(Some(Preflight {
        checks,
        timeout,
        interval,
    }))
}

/// `[validity]`, over the defaults.
fn resolve_validity(loaded: &Loaded) -> Result<Validity> {
    let mut v = Validity::default();
    let Some(raw) = &loaded.validity else {
        return Ok(v);
    };
    let file = raw.file;
    if let Some(d) = &raw.value.max_lag {
        v.max_lag = positive_duration(loaded, file, d, "max_lag")?;
    }
    if let Some(p) = &raw.value.max_shortfall_pct {
        let x = *p.get_ref();
        if !(0.0..=100.0).contains(&x) {
            return Err(loaded
                .error(
                    file,
                    p.span(),
                    format!("`max_shortfall_pct` is a percentage from 0 to 100, got {x}"),
                )
                .into());
        }
        v.max_shortfall = x / 100.0;
    }
    Ok(v)
}

/// A user class as written: where its parts are.
struct ClassSource<'a> {
    name: String,
    weight: u32,
    wait: Option<(usize, &'a Spanned<toml::Value>)>,
    restart_on: Option<(usize, &'a crate::scenario::StatusList)>,
    /// `follow_redirects` of the class (or `[user]`).
    follow: Option<(usize, &'a Spanned<i64>)>,
    /// Issue 18 item 4: `headers` of the class (or `[user]`).
    headers: Option<(usize, &'a crate::scenario::HeaderTable)>,
    on_start: Vec<(usize, &'a RawStep)>,
    tasks: Vec<(usize, &'a RawStep)>,
    on_stop: Vec<(usize, &'a RawStep)>,
}

impl<'a> ClassSource<'a> {
    /// Every step, the nodes inside flows, blocks and choices included.
    fn all_steps(&self) -> impl Iterator<Item = (usize, &'a RawStep)> + '_ {
        self.on_start
            .iter()
            .chain(&self.tasks)
            .chain(&self.on_stop)
            .flat_map(|&(file, raw)| {
                let mut all = Vec::new();
                each_node(raw, &mut |r| all.push((file, r)));
                all
            })
    }
}

/// Calls `f` with `raw` and every node inside it (`steps`, `choose`), depth first.
fn each_node<'a>(raw: &'a RawStep, f: &mut dyn FnMut(&'a RawStep)) {
    f(raw);
    for inner in raw
        .steps
        .iter()
        .chain(raw.choose.iter())
        .flat_map(|l| l.get_ref().iter())
    {
        each_node(inner, f);
    }
}

/// The classes of the scenario: its `[classes.NAME]`, or one class named `user` made of `[user]` and the
/// top-level `[[task]]`s.
fn class_sources(loaded: &Loaded) -> Result<Vec<ClassSource<'_>>> {
    fn steps_of(s: &Option<At<Vec<RawStep>>>) -> Vec<(usize, &RawStep)> {
        s.iter()
            .flat_map(|a| a.value.iter().map(move |r| (a.file, r)))
            .collect()
    }
    if loaded.classes.is_empty() {
        return Ok(vec![ClassSource {
            name: IMPLICIT_CLASS.into(),
            weight: 1,
            wait: loaded.wait.as_ref().map(|w| (w.file, &w.value)),
            restart_on: loaded.restart_on.as_ref().map(|r| (r.file, &r.value)),
            follow: loaded.follow_redirects.as_ref().map(|f| (f.file, &f.value)),
            headers: loaded.headers.as_ref().map(|h| (h.file, &h.value)),
            on_start: steps_of(&loaded.on_start),
            tasks: loaded.tasks.iter().map(|t| (t.file, &t.value)).collect(),
            on_stop: steps_of(&loaded.on_stop),
        }]);
    }
    // With classes, nothing may sit outside them: it would be unclear which class it belongs to.
    let stray = loaded
        .tasks
        .first()
        .map(|t| (t.file, t.value.name.span(), "[[task]]"))
        .or_else(|| {
            loaded
                .wait
                .as_ref()
                .map(|w| (w.file, w.value.span(), "[user] wait"))
        })
        .or_else(|| {
            // Issue 18 item 4: `[user] headers` beside classes (each class has its own).
            loaded.headers.as_ref().and_then(|h| {
                h.value
                    .values()
                    .next()
                    .map(|v| (h.file, v.span(), "[user] headers"))
            })
        })
        .or_else(|| {
            [
                (&loaded.on_start, "[[user.on_start]]"),
                (&loaded.on_stop, "[[user.on_stop]]"),
            ]
            .into_iter()
            .find_map(|(s, what)| {
                let a = s.as_ref()?;
                a.value.first().map(|r| (a.file, r.name.span(), what))
            })
        });
    if let Some((file, span, what)) = stray {
        return Err(loaded
            .error(
                file,
                span,
                format!("this scenario has [classes.*], so {what} must go inside a class"),
            )
            .with_help("move it into each class that should run it, e.g. [[classes.reader.task]]")
            .into());
    }
    let mut out = Vec::with_capacity(loaded.classes.len());
    for c in &loaded.classes {
        let (name, raw) = &c.value;
        let file = c.file;
        let valid = !name.get_ref().is_empty()
            && name
                .get_ref()
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-');
        if !valid {
            return Err(loaded
                .error(
                    file,
                    name.span(),
                    format!(
                        "class name `{}` must be letters, digits, `_` and `-`",
                        name.get_ref()
                    ),
                )
                .into());
        }
        let weight = match &raw.weight {
            None => 1,
            Some(w) if (1..=1_000_000).contains(w.get_ref()) => *w.get_ref() as u32,
            Some(w) => {
                return Err(loaded
                    .error(
                        file,
                        w.span(),
                        format!(
                            "class `weight` must be between 1 and 1000000, got {}",
                            w.get_ref()
                        ),
                    )
                    .into());
            }
        };
        if raw.task.is_empty() {
            return Err(loaded
                .error(
                    file,
                    name.span(),
                    format!("class `{}` has no tasks", name.get_ref()),
                )
                .with_help(format!(
                    "add one: [[classes.{}.task]] name = \"home\" path = \"/\"",
                    name.get_ref()
                ))
                .into());
        }
        fn list(file: usize, v: &Option<Vec<RawStep>>) -> Vec<(usize, &RawStep)> {
            v.iter().flatten().map(|r| (file, r)).collect()
        }
        out.push(ClassSource {
            name: name.get_ref().clone(),
            weight,
            wait: raw.wait.as_ref().map(|w| (file, w)),
            restart_on: raw.restart_session_on.as_ref().map(|r| (file, r)),
            follow: raw.follow_redirects.as_ref().map(|f| (file, f)),
            headers: bodies::class_headers(file, raw),
            on_start: list(file, &raw.on_start),
            tasks: raw.task.iter().map(|r| (file, r)).collect(),
            on_stop: list(file, &raw.on_stop),
        });
    }
    Ok(out)
}

/// `--iterations`, or `[load] iterations`.
fn resolve_iterations(
    loaded: &Loaded,
    load: Option<&At<RawLoad>>,
    overrides: &Overrides,
) -> Result<Option<u64>> {
    if let Some(n) = overrides.iterations {
        if n == 0 {
            return Err(Error::Usage("--iterations must be at least 1".into()));
        }
        return Ok(Some(n));
    }
    match load.and_then(|l| l.value.iterations.as_ref().map(|v| (l.file, v))) {
        None => Ok(None),
        Some((_, v)) if *v.get_ref() >= 1 => Ok(Some(*v.get_ref() as u64)),
        Some((file, v)) => Err(loaded
            .error(
                file,
                v.span(),
                format!("`iterations` must be at least 1, got {}", v.get_ref()),
            )
            .into()),
    }
}

/// Adds the capture names `raw` declares to `captures`, checking each.
fn collect_captures(
    loaded: &Loaded,
    file: usize,
    raw: &RawStep,
    captures: &mut Vec<String>,
) -> Result<()> {
    for (cname, value) in raw.capture.iter().flatten() {
        let valid = !cname.is_empty()
            && cname.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !cname.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            return Err(loaded
                .error(
                    file,
                    value.span(),
                    format!("capture name `{cname}` must be letters, digits and `_`"),
                )
                .into());
        }
        if template::BUILTINS.iter().any(|(b, _)| b == cname) || cname == "env" {
            return Err(loaded
                .error(
                    file,
                    value.span(),
                    format!("capture name `{cname}` is a built-in variable; pick another name"),
                )
                .into());
        }
        if !captures.contains(cname) {
            captures.push(cname.clone());
        }
    }
    Ok(())
}

/// Refuses a request (or flow) name already used anywhere in the scenario.
fn unique_name(
    loaded: &Loaded,
    seen: &mut HashMap<String, (usize, Range<usize>)>,
    file: usize,
    raw: &RawStep,
    name: &str,
) -> Result<()> {
    if let Some((f, span)) = seen.get(name) {
        let first = loaded.error(*f, span.clone(), "");
        return Err(loaded
            .error(file, raw.name.span(), format!("duplicate request name `{name}`"))
            .with_help(format!(
                "first defined at {}:{}:{}; request names must be unique, since statistics and gates use them",
                first.file.display(),
                first.line,
                first.column
            ))
            .into());
    }
    seen.insert(name.to_string(), (file, raw.name.span()));
    Ok(())
}

/// Keeps the tasks `--tags` selects and `--exclude-tags` does not (`on_start` and `on_stop` always stay);
/// a class left with no task is left out.
/// Keeps the tasks `--tags` / `--exclude-tags` select; returns the names of the requests (and flows) left out,
/// each with the reason, so gates on them can be reported as skipped rather than as unknown names.
fn select_tasks(
    classes: &mut Vec<ClassSource<'_>>,
    overrides: &Overrides,
) -> Result<Vec<(String, String)>> {
    if overrides.tags.is_empty() && overrides.exclude_tags.is_empty() {
        return Ok(Vec::new());
    }
    let tags_of = |r: &RawStep| r.tags.as_ref().map_or(Vec::new(), |t| t.get_ref().clone());
    let mut known: Vec<String> = classes
        .iter()
        .flat_map(|c| c.tasks.iter())
        .flat_map(|(_, r)| tags_of(r))
        .collect();
    known.sort();
    known.dedup();
    for (flag, list) in [
        ("--tags", &overrides.tags),
        ("--exclude-tags", &overrides.exclude_tags),
    ] {
        for t in list {
            if !known.contains(t) {
                let hint =
                    match crate::scenario::error::did_you_mean(t, known.iter().map(String::as_str))
                    {
                        Some(best) => format!("; did you mean `{best}`?"),
                        None if known.is_empty() => {
                            "; no task has tags (add tags = [\"...\"] to a [[task]])".into()
                        }
                        None => format!("; the tasks' tags are: {}", known.join(", ")),
                    };
                return Err(Error::Usage(format!(
                    "{flag} {t}: no task has this tag{hint}"
                )));
            }
        }
    }
    // The reason a task is left out, or None when it runs.
    let left_out = |r: &RawStep| -> Option<String> {
        let tags = tags_of(r);
        if let Some(t) = tags.iter().find(|t| overrides.exclude_tags.contains(t)) {
            return Some(format!("left out by --exclude-tags {t}"));
        }
        let wanted = overrides.tags.is_empty() || tags.iter().any(|t| overrides.tags.contains(t));
        (!wanted).then(|| format!("not selected by --tags {}", overrides.tags.join(",")))
    };
    let named = |r: &RawStep, why: &str, out: &mut Vec<(String, String)>| {
        each_node(r, &mut |n| {
            out.push((n.name.get_ref().trim().to_string(), why.to_string()))
        });
    };
    let mut excluded = Vec::new();
    for c in classes.iter_mut() {
        c.tasks.retain(|(_, r)| match left_out(r) {
            Some(why) => {
                named(r, &why, &mut excluded);
                false
            }
            None => true,
        });
        if c.tasks.is_empty() {
            let why = format!(
                "class `{}` has no task left by --tags / --exclude-tags, so its users do not run",
                c.name
            );
            for &(_, r) in c.on_start.iter().chain(&c.on_stop) {
                named(r, &why, &mut excluded);
            }
        }
    }
    classes.retain(|c| !c.tasks.is_empty());
    if classes.is_empty() {
        return Err(Error::Usage(
            "--tags / --exclude-tags leave no task to run".into(),
        ));
    }
    Ok(excluded)
}

fn resolve_connections(loaded: &Loaded, load: Option<&At<RawLoad>>) -> Result<Connections> {
    Ok(
        match load.and_then(|l| l.value.connections.as_ref().map(|v| (l.file, v))) {
            None => Connections::PerUser,
            Some((_, v)) if v.get_ref() == "per_user" => Connections::PerUser,
            Some((_, v)) if v.get_ref() == "shared" => Connections::Shared,
            Some((file, v)) => {
                return Err(loaded
                    .error(
                        file,
                        v.span(),
                        format!(
                            "unknown `connections` mode `{}`; expected \"per_user\" or \"shared\"",
                            v.get_ref()
                        ),
                    )
                    .suggest(v.get_ref(), ["per_user", "shared"])
                    .into());
            }
        },
    )
}

/// A size above zero: a whole number of bytes, or a string such as "512KB" or "10MiB" (see [`parse_size`]).
fn size_value(loaded: &Loaded, file: usize, v: &Spanned<toml::Value>, what: &str) -> Result<u64> {
    let err = |m: String| -> Error {
        loaded
            .error(file, v.span(), format!("`{what}`: {m}"))
            .with_help(
                "write a number of bytes or a size with a unit, e.g. 1048576, \"512KB\", \"10MB\", \"1GiB\" \
                 (KB, MB, GB are powers of 1000; KiB, MiB, GiB of 1024)",
            )
            .into()
    };
    let bytes = match v.get_ref() {
        toml::Value::Integer(n) => {
            u64::try_from(*n).map_err(|_| err(format!("{n} is negative")))?
        }
        toml::Value::String(s) => {
            parse_size(s).map_err(|m| err(format!("cannot read `{s}` as a size: {m}")))?
        }
        other => return Err(err(format!("expected a size, found {}", other.type_str()))),
    };
    if bytes == 0 {
        return Err(err("must be above zero".into()));
    }
    Ok(bytes)
}

fn parse_wait(loaded: &Loaded, file: usize, w: &Spanned<toml::Value>) -> Result<Wait> {
    parse_pause(loaded, file, w, "wait")
}

/// A pause as written for `what` (`wait`, or a step's `think`): a duration, `{ constant = ... }`,
/// `{ between = [min, max] }`, `{ constant_pacing = ... }` or `{ constant_throughput = N }`.
pub(super) fn parse_pause(
    loaded: &Loaded,
    file: usize,
    w: &Spanned<toml::Value>,
    what: &str,
) -> Result<Wait> {
    let err = |m: String| -> Error {
        loaded
            .error(file, w.span(), m)
            .with_help(format!("write {what} = \"1s\", {what} = {{ constant = \"1s\" }} or {what} = {{ between = [\"100ms\", \"500ms\"] }}"))
            .into()
    };
    let dur = |v: &toml::Value| -> Result<Duration> {
        match v {
            toml::Value::String(s) => crate::duration::parse(s).map_err(|e| match e {
                DurationError::TooLong => {
                    err(format!("`{what}`: `{s}` is over the maximum of 365 days"))
                }
                DurationError::Unreadable(_) | DurationError::BadSeconds => {
                    err(format!("`{what}`: cannot parse `{s}` as a duration ({e})"))
                }
            }),
            other => Err(err(format!(
                "`{what}`: expected a duration string, found {}",
                other.type_str()
            ))),
        }
    };
    match w.get_ref() {
        toml::Value::String(_) => Ok(Wait::Constant(dur(w.get_ref())?)),
        toml::Value::Table(t) if t.len() == 1 => {
            let (k, v) = t
                .iter()
                .next()
                .ok_or_else(|| err(format!("empty `{what}`")))?;
            match k.as_str() {
                "constant" => Ok(Wait::Constant(dur(v)?)),
                "constant_pacing" => match dur(v)? {
                    d if d.is_zero() => {
                        Err(err(format!("`{what}.constant_pacing` must be above zero")))
                    }
                    d => Ok(Wait::Pacing(d)),
                },
                "constant_throughput" => match v.as_float().or(v.as_integer().map(|i| i as f64)) {
                    // One task every 1/n s: past 365 days (or past what a Duration holds) is refused, not a panic.
                    Some(n) if n > 0.0 && n <= 1e6 => match Duration::try_from_secs_f64(1.0 / n) {
                        Ok(d) if d <= MAX_DURATION => Ok(Wait::Pacing(d)),
                        _ => Err(err(format!(
                            "`{what}.constant_throughput` = {n:e} is one task every {:.3e} s per user, over the maximum of \
                             365 days: give at least {:.3e} tasks per second",
                            1.0 / n,
                            1.0 / MAX_DURATION.as_secs_f64()
                        ))),
                    },
                    _ => Err(err(format!(
                        "`{what}.constant_throughput` takes the tasks per second per user, a number above 0 (up to 1000000)"
                    ))),
                },
                "between" => match v.as_array().map(Vec::as_slice) {
                    Some([lo, hi]) => {
                        let (lo, hi) = (dur(lo)?, dur(hi)?);
                        if lo > hi {
                            return Err(err(format!(
                                "`{what}.between`: the minimum is above the maximum"
                            )));
                        }
                        Ok(Wait::Between(lo, hi))
                    }
                    _ => Err(err(format!(
                        "`{what}.between` takes two durations: [min, max]"
                    ))),
                },
                other => {
                    let e = loaded.error(
                        file,
                        w.span(),
                        format!(
                            "unknown wait mode `{other}`; expected `constant`, `between`, `constant_pacing` or \
                             `constant_throughput`"
                        ),
                    );
                    Err(e
                        .suggest(
                            other,
                            [
                                "constant",
                                "between",
                                "constant_pacing",
                                "constant_throughput",
                            ],
                        )
                        .into())
                }
            }
        }
        other => Err(err(format!(
            "`{what}`: expected a duration or a table, found {}",
            other.type_str()
        ))),
    }
}
