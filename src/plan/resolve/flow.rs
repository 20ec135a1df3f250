//! Resolution of control flow (issue 18, item 3): the nodes of a flow, `on_start` or `on_stop` (requests,
//! blocks of `steps`, `choose`, pauses) with their `if`, `repeat`, `for_each`, `think` and `stop_if`, compiled
//! into a [`Program`] (see [`crate::plan::flow`]). Loop variables (`{{item}}`, `{{index}}`, an `as` name) are in
//! scope inside their loop only, which [`Names`] tracks while the nodes inside are resolved.

use super::*;
use crate::plan::cond::{Cond, Operand};
use crate::plan::flow::{MAX_DEPTH, MAX_REPEAT, Op};

/// A loop variable in scope: its `for_each` item name (none for `repeat`) and its frame.
#[derive(Debug, Clone)]
pub(super) struct LoopVar {
    pub item: Option<String>,
    pub frame: usize,
}

/// Resolves one request node: `(file, raw, kind, flow, in_choice)` to its step index.
pub(super) type AddStep<'f> =
    dyn FnMut(usize, &RawStep, StepKind, Option<usize>, Nested) -> Result<usize> + 'f;

/// Where a request is written, for what it may say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Nested {
    /// A `[[task]]`, an `on_start` / `on_stop` step or a preflight check.
    No,
    /// Inside a flow's `steps` or a block.
    Flow,
    /// An alternative of `choose` (which has a `weight`).
    Choice,
}

/// The control keys of a node, with where each is written (for "not here" errors).
pub(super) fn control_keys(raw: &RawStep) -> [(&'static str, Option<Range<usize>>); 5] {
    [
        ("repeat", raw.repeat.as_ref().map(Spanned::span)),
        ("for_each", raw.for_each.as_ref().map(Spanned::span)),
        ("if", raw.if_cond.as_ref().map(Spanned::span)),
        ("stop_if", raw.stop_if.as_ref().map(Spanned::span)),
        ("choose", raw.choose.as_ref().map(Spanned::span)),
    ]
}

/// The first of `keys` that the step writes, with where it is written.
pub(super) fn first_written(
    keys: impl IntoIterator<Item = (&'static str, Option<Range<usize>>)>,
) -> Option<(&'static str, Range<usize>)> {
    keys.into_iter().find_map(|(k, s)| s.map(|s| (k, s)))
}

/// Compiles nodes into one program: its instructions, and the requests it may run.
pub(super) struct Compiler<'a, 'f> {
    pub loaded: &'a Loaded,
    pub names: &'a Names,
    /// The kind of the requests it resolves, and their flow's entry.
    pub kind: StepKind,
    pub flow: Option<usize>,
    pub add: &'a mut AddStep<'f>,
    pub ops: Vec<Op>,
    pub requests: Vec<usize>,
}

impl<'a, 'f> Compiler<'a, 'f> {
    pub fn new(
        loaded: &'a Loaded,
        names: &'a Names,
        kind: StepKind,
        flow: Option<usize>,
        add: &'a mut AddStep<'f>,
    ) -> Self {
        Compiler {
            loaded,
            names,
            kind,
            flow,
            add,
            ops: Vec::new(),
            requests: Vec::new(),
        }
    }

    /// Compiles the nodes `list` (each with its file), `depth` blocks deep.
    pub fn list(&mut self, list: &[(usize, &RawStep)], depth: usize) -> Result<()> {
        for &(file, raw) in list {
            self.node(file, raw, depth, Nested::Flow)?;
        }
        Ok(())
    }

    fn node(&mut self, file: usize, raw: &RawStep, depth: usize, place: Nested) -> Result<()> {
        let (loaded, names) = (self.loaded, self.names);
        let name = raw.name.get_ref().trim();
        let shapes: Vec<(&str, Range<usize>)> = [
            ("path", raw.path.as_ref().map(Spanned::span)),
            ("steps", raw.steps.as_ref().map(Spanned::span)),
            ("choose", raw.choose.as_ref().map(Spanned::span)),
        ]
        .into_iter()
        .filter_map(|(k, s)| s.map(|s| (k, s)))
        .collect();
        if let [_, (second, span), ..] = shapes.as_slice() {
            return Err(loaded
                .error(file, span.clone(), format!("step `{name}` has both `{}` and `{second}`", shapes[0].0))
                .with_help("a step is a request (path), a block (steps) or a choice (choose); nest them instead")
                .into());
        }
        if (raw.steps.is_some() || raw.choose.is_some()) && depth >= MAX_DEPTH {
            let span = shapes[0].1.clone();
            return Err(loaded
                .error(
                    file,
                    span,
                    format!(
                        "step `{name}` nests blocks {} deep; at most {MAX_DEPTH} levels are allowed",
                        depth + 1
                    ),
                )
                .with_help("flatten it: a long scenario reads better as several tasks or flows")
                .into());
        }
        // repeat / for_each
        if let (Some(r), Some(f)) = (&raw.repeat, &raw.for_each) {
            let _ = r;
            return Err(loaded
                .error(file, f.span(), format!("step `{name}` has both `repeat` and `for_each`"))
                .with_help("put one loop in a block of the other: { name = \"...\", repeat = 3, steps = [ { ..., for_each = \"ids\" } ] }")
                .into());
        }
        if let Some(a) = &raw.as_name
            && raw.for_each.is_none()
        {
            return Err(loaded
                .error(
                    file,
                    a.span(),
                    format!("step `{name}`: `as` names the item of a `for_each`, and it has none"),
                )
                .into());
        }
        let mut frame = None;
        if let Some(r) = &raw.repeat {
            let n = *r.get_ref();
            if !(0..=MAX_REPEAT).contains(&n) {
                return Err(loaded
                    .error(
                        file,
                        r.span(),
                        format!("`repeat` must be between 0 and {MAX_REPEAT}, got {n}"),
                    )
                    .into());
            }
            let f = names.new_frame();
            self.ops.push(Op::Repeat {
                frame: f,
                times: n as u32,
                end: usize::MAX,
            });
            frame = Some((f, self.ops.len() - 1));
            names.scope.borrow_mut().push(LoopVar {
                item: None,
                frame: f,
            });
        }
        if let Some(list) = &raw.for_each {
            let list_name = list.get_ref().trim();
            let list_name = list_name
                .strip_prefix("{{")
                .and_then(|l| l.strip_suffix("}}"))
                .map_or(list_name, str::trim);
            let Some(slot) = names.captures.iter().position(|c| c == list_name) else {
                let e = loaded.error(
                    file,
                    list.span(),
                    format!("`for_each`: no capture is named `{list_name}`"),
                );
                return Err(match crate::scenario::error::did_you_mean(list_name, names.captures.iter().map(String::as_str)) {
                    Some(best) => e.with_help(format!("did you mean `{best}`?")),
                    None => e.with_help("for_each walks a list captured earlier: capture = { ids = { json = \"$.items[*].id\", pick = \"all\" } }"),
                }
                .into());
            };
            let item = match &raw.as_name {
                Some(a) => {
                    let n = a.get_ref().trim();
                    let valid = !n.is_empty()
                        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        && !n.starts_with(|c: char| c.is_ascii_digit());
                    if !valid
                        || n == "index"
                        || n == "status"
                        || template::BUILTINS.iter().any(|(b, _)| *b == n)
                    {
                        return Err(loaded
                            .error(file, a.span(), format!("`as = \"{n}\"`: not a name a loop item can take"))
                            .with_help("use letters, digits and `_`, and not a built-in (index, status, vu, ...)")
                            .into());
                    }
                    if names.captures.iter().any(|c| c == n) {
                        return Err(loaded
                            .error(
                                file,
                                a.span(),
                                format!(
                                    "`as = \"{n}\"` would hide the capture `{n}`; pick another name"
                                ),
                            )
                            .into());
                    }
                    n.to_string()
                }
                None => "item".to_string(),
            };
            let f = names.new_frame();
            self.ops.push(Op::ForEach {
                frame: f,
                list: slot,
                end: usize::MAX,
            });
            frame = Some((f, self.ops.len() - 1));
            names.scope.borrow_mut().push(LoopVar {
                item: Some(item),
                frame: f,
            });
        }
        let body = self.ops.len();
        // `if` is judged for each run of the node: inside its loop, with the loop's variables.
        let mut compiled = || -> Result<Option<usize>> {
            let unless = match &raw.if_cond {
                Some(c) => {
                    self.ops.push(Op::Unless {
                        cond: condition(loaded, names, file, c, "if")?,
                        to: usize::MAX,
                    });
                    Some(self.ops.len() - 1)
                }
                None => None,
            };
            self.body(file, raw, depth, place)?;
            Ok(unless)
        };
        let unless = compiled();
        if frame.is_some() {
            names.scope.borrow_mut().pop();
        }
        let unless = unless?;
        // In a loop, a false `if` skips to the next run; else it skips the whole step, its `stop_if` included.
        if frame.is_some()
            && let Some(at) = unless
        {
            let next = self.ops.len();
            if let Op::Unless { to, .. } = &mut self.ops[at] {
                *to = next;
            }
        }
        if let Some((f, at)) = frame {
            self.ops.push(Op::Next { frame: f, body });
            let end = self.ops.len();
            match &mut self.ops[at] {
                Op::Repeat { end: e, .. } | Op::ForEach { end: e, .. } => *e = end,
                _ => {}
            }
        }
        if let Some(c) = &raw.stop_if {
            self.ops
                .push(Op::StopIf(condition(loaded, names, file, c, "stop_if")?));
        }
        if frame.is_none()
            && let Some(at) = unless
        {
            let end = self.ops.len();
            if let Op::Unless { to, .. } = &mut self.ops[at] {
                *to = end;
            }
        }
        Ok(())
    }

    /// The node itself (a request, a block, a choice or nothing) and its `think`.
    fn body(&mut self, file: usize, raw: &RawStep, depth: usize, place: Nested) -> Result<()> {
        let loaded = self.loaded;
        let name = raw.name.get_ref().trim();
        if raw.path.is_some() {
            let i = (self.add)(file, raw, self.kind, self.flow, place)?;
            self.ops.push(Op::Request(i));
            self.requests.push(i);
        } else if let Some(list) = &raw.steps {
            not_on_block(loaded, file, raw, "a block of `steps`")?;
            if list.get_ref().is_empty() {
                return Err(loaded
                    .error(file, list.span(), format!("block `{name}` has no steps"))
                    .into());
            }
            let inner: Vec<(usize, &RawStep)> = list.get_ref().iter().map(|r| (file, r)).collect();
            self.list(&inner, depth + 1)?;
        } else if let Some(list) = &raw.choose {
            not_on_block(loaded, file, raw, "a `choose`")?;
            if list.get_ref().is_empty() {
                return Err(loaded
                    .error(
                        file,
                        list.span(),
                        format!("`choose` of `{name}` has nothing to choose from"),
                    )
                    .into());
            }
            let at = self.ops.len();
            self.ops.push(Op::Choose {
                branches: Vec::new(),
            });
            let mut branches = Vec::new();
            let mut jumps = Vec::new();
            let mut total = 0u64;
            for alt in list.get_ref() {
                let weight = alt
                    .weight
                    .as_ref()
                    .map_or(Ok(1), |w| weight_value(loaded, file, w))?;
                total += u64::from(weight);
                branches.push((total, self.ops.len()));
                self.node(file, alt, depth + 1, Nested::Choice)?;
                jumps.push(self.ops.len());
                self.ops.push(Op::Jump(usize::MAX));
            }
            let end = self.ops.len();
            for j in jumps {
                self.ops[j] = Op::Jump(end);
            }
            self.ops[at] = Op::Choose { branches };
        } else if raw.think.is_none() {
            return Err(loaded
                .error(file, raw.name.span(), format!("step `{name}` has no `path`"))
                .with_help("a step is a request (path = \"/...\"), a block (steps = [...]), a choice (choose = [...]) or a pause (think = \"1s\")")
                .into());
        } else {
            not_on_block(loaded, file, raw, "a pause")?;
        }
        if let Some(t) = &raw.think {
            self.ops.push(Op::Think(think(loaded, file, t)?));
        }
        Ok(())
    }
}

/// A `think` value: a duration or `{ between = [min, max] }` (or `{ constant = ... }`).
pub(super) fn think(loaded: &Loaded, file: usize, t: &Spanned<toml::Value>) -> Result<Wait> {
    match parse_pause(loaded, file, t, "think")? {
        Wait::Pacing(_) => Err(loaded
            .error(file, t.span(), "`think` is a pause after the step: a duration or { between = [min, max] }, not a pacing")
            .into()),
        w => Ok(w),
    }
}

/// A node that is not a request refuses a request's keys.
fn not_on_block(loaded: &Loaded, file: usize, raw: &RawStep, what: &str) -> Result<()> {
    if let Some((key, span)) = first_written(request_keys(raw)) {
        return Err(loaded
            .error(
                file,
                span,
                format!(
                    "step `{}` is {what}, so `{key}` belongs on a request inside it",
                    raw.name.get_ref().trim()
                ),
            )
            .into());
    }
    Ok(())
}

/// A condition of `key` (`if`, `stop_if`), its names resolved in the current scope.
fn condition(
    loaded: &Loaded,
    names: &Names,
    file: usize,
    c: &Spanned<String>,
    key: &str,
) -> Result<Cond> {
    let text = c.get_ref();
    let mut failed: Option<Error> = None;
    let parsed = Cond::parse(text, |name| {
        let raw = RawVar {
            name,
            text: name,
            at: 0,
        };
        match resolve_var(loaded, file, c.span(), &raw, names) {
            Ok(template::Resolved::Var(v)) => Ok(Operand::Var(v)),
            Ok(template::Resolved::Value(v)) => Ok(Operand::Text(v)),
            Err(mut e) => {
                // Said as a condition's name, not a template's variable.
                if let Error::Scenario(se) = &mut e
                    && let Some(rest) = se.message.strip_prefix("unknown template variable")
                {
                    se.message = format!("`{key}`: unknown name{rest}");
                }
                failed = Some(e);
                Err(String::new())
            }
        }
    });
    match parsed {
        Ok(cond) => Ok(cond),
        Err(_) if failed.is_some() => Err(failed.unwrap_or(Error::Usage(String::new()))),
        Err((at, m)) => {
            // The condition's text starts after its opening quote.
            let start = c.span().start + 1 + at;
            Err(loaded
                .error(file, start..start, format!("`{key}`: {m}"))
                .with_help("a condition is `NAME == VALUE` (also != < <= > >=), `NAME exists` or `NAME missing`, joined by `and` or `or`; names: status, captures, data.COLUMN, loop variables; text in quotes")
                .into())
        }
    }
}

/// The keys only a request has, with where each is written.
pub(super) fn request_keys(raw: &RawStep) -> Vec<(&'static str, Option<Range<usize>>)> {
    let first = |m: &Option<BTreeMap<String, Spanned<String>>>| {
        m.as_ref()
            .and_then(|q| q.values().next())
            .map(Spanned::span)
    };
    vec![
        (
            "restart_session_on",
            raw.restart_session_on.as_ref().map(Spanned::span),
        ),
        ("method", raw.method.as_ref().map(Spanned::span)),
        ("path", raw.path.as_ref().map(Spanned::span)),
        // Issue 18 item 4: query values may be lists, numbers or booleans.
        (
            "query",
            raw.query
                .as_ref()
                .and_then(|q| q.values().next())
                .map(Spanned::span),
        ),
        ("headers", first(&raw.headers)),
        ("json", raw.json.as_ref().map(Spanned::span)),
        ("body", raw.body.as_ref().map(Spanned::span)),
        ("form", first(&raw.form)),
        ("multipart", raw.multipart.as_ref().map(Spanned::span)),
        ("body_file", raw.body_file.as_ref().map(Spanned::span)),
        ("expect", raw.expect.as_ref().map(|_| raw.name.span())),
        (
            "capture",
            raw.capture
                .as_ref()
                .and_then(|c| c.values().next())
                .map(Spanned::span),
        ),
        ("timeout", raw.timeout.as_ref().map(Spanned::span)),
        (
            "follow_redirects",
            raw.follow_redirects.as_ref().map(Spanned::span),
        ),
        ("compression", raw.compression.as_ref().map(Spanned::span)),
    ]
}

use std::collections::BTreeMap;
