//! A method's statements as requests: `self.client.get/post/...(...)` calls become steps, `with ... as
//! response:` blocks and `if response.status_code == N` checks become `expect`, `self.x =
//! response.json()[...]` becomes a capture, `self.on_start()` at a task's end becomes `restart_session`.
//!
//! Every statement is either translated or written as a [`Note`] at its line: nothing is dropped silently.

use std::collections::{HashMap, HashSet};

use rustpython_parser::ast::{self, CmpOp, Constant, Expr, Ranged, Stmt, StmtFunctionDef};
use serde_json::Value as J;

use super::Source;
use super::value::{Eval, Scope, UNIQUE, Untranslated, dotted, is_self, json_path, response_of};
use crate::import::{Body, DraftStep, Note, Wait};

/// What a method translates to.
#[derive(Debug, Default)]
pub struct Method {
    pub steps: Vec<DraftStep>,
    /// `self.on_start()` was the method's last statement.
    pub restart: bool,
    /// `self.client.headers[...] = ...` / `.update({...})`: headers for every later request of the user.
    pub headers: Vec<(String, String)>,
}

/// The request names used so far: loadgen's must be unique across the scenario.
#[derive(Debug, Default)]
pub struct Names(HashSet<String>);

impl Names {
    /// `name`, or `name_2`, `name_3`... when it is taken; the second value says whether it was renamed.
    pub fn claim(&mut self, name: &str) -> (String, bool) {
        if self.0.insert(name.to_string()) {
            return (name.to_string(), false);
        }
        let mut n = 2;
        loop {
            let candidate = format!("{name}_{n}");
            if self.0.insert(candidate.clone()) {
                return (candidate, true);
            }
            n += 1;
        }
    }
}

/// Translates the methods of one user class.
pub struct Translator<'a> {
    pub src: &'a Source<'a>,
    pub scope: Scope,
    pub notes: Vec<Note>,
    pub names: &'a mut Names,
    /// The class's methods that are neither tasks nor `on_start`/`on_stop`: inlined where a task calls them.
    pub helpers: HashMap<String, &'a StmtFunctionDef>,
    pub inlined: HashSet<String>,
    /// Translating a `SequentialTaskSet`'s methods: `self.interrupt()` at a method's end is its normal exit.
    pub in_sequence: bool,
    depth: usize,
}

/// A method being translated.
struct State {
    method: Method,
    /// Response variables (`as response`, `r = self.client.get(...)`) and the step they answer.
    responses: HashMap<String, usize>,
    /// Whether `self.on_start()` at the end means a session restart (tasks only).
    is_task: bool,
}

const METHODS: &[&str] = &["get", "post", "put", "patch", "delete", "head", "options"];

impl<'a> Translator<'a> {
    pub fn new(src: &'a Source<'a>, scope: Scope, names: &'a mut Names) -> Self {
        Translator {
            src,
            scope,
            notes: Vec::new(),
            names,
            helpers: HashMap::new(),
            inlined: HashSet::new(),
            in_sequence: false,
            depth: 0,
        }
    }

    fn line(&self, node: &impl Ranged) -> usize {
        self.src.line(node.start().to_usize())
    }

    fn note(&mut self, node: &impl Ranged, text: impl Into<String>) {
        let line = self.line(node);
        self.notes.push(Note::at(line, text));
    }

    /// A note for a statement left out: its first line as written.
    fn left_out(&mut self, s: &impl Ranged, why: &str) {
        let text = format!("`{}`: {why}", self.src.snippet(s.range()));
        self.note(s, text);
    }

    fn untranslated(&mut self, u: Untranslated, what: &str) {
        self.notes.push(Note::at(
            u.line,
            format!("`{}` has no translation: {what}", u.text),
        ));
    }

    /// Runs an evaluation, keeping a note for each value it replaced by a template.
    fn eval<T>(
        &mut self,
        f: impl FnOnce(&mut Eval) -> Result<T, Untranslated>,
    ) -> Result<T, Untranslated> {
        let mut ev = Eval::new(self.src, &self.scope);
        let out = f(&mut ev);
        let replaced = std::mem::take(&mut ev.replaced);
        for r in replaced {
            let text = if r.with == UNIQUE {
                format!(
                    "`{}` (a unique value) became `{}`: unique per run, user and session",
                    r.text, r.with
                )
            } else {
                format!(
                    "`{}` became `{}` (0 to 4294967295): narrow it by hand if the target needs a range",
                    r.text, r.with
                )
            };
            let note = Note::at(r.line, text);
            if !self.notes.contains(&note) {
                self.notes.push(note);
            }
        }
        out
    }

    /// A method's body as requests.
    pub fn method(&mut self, f: &'a StmtFunctionDef, is_task: bool) -> Method {
        self.scope.locals.clear();
        let mut st = State {
            method: Method::default(),
            responses: HashMap::new(),
            is_task,
        };
        self.block(&f.body, &mut st, true);
        st.method
    }

    /// Statements in order; `top`: the method's own (its last one may be `self.on_start()`).
    fn block(&mut self, body: &'a [Stmt], st: &mut State, top: bool) {
        for (i, s) in body.iter().enumerate() {
            self.stmt(s, st, top && i + 1 == body.len());
        }
    }

    fn stmt(&mut self, s: &'a Stmt, st: &mut State, last: bool) {
        match s {
            Stmt::Expr(x) => match &*x.value {
                Expr::Constant(c) if matches!(c.value, Constant::Str(_)) => {} // a docstring
                Expr::Call(c) => self.call(s, c, st, last),
                _ => self.left_out(s, "not translated"),
            },
            Stmt::Assign(a) if a.targets.len() == 1 => self.assign(s, &a.targets[0], &a.value, st),
            Stmt::AnnAssign(a) if a.value.is_some() => {
                if let Some(v) = &a.value {
                    self.assign(s, &a.target, v, st)
                }
            }
            Stmt::With(w) if w.items.len() == 1 => match &w.items[0].context_expr {
                Expr::Call(c) if client_call(c).is_some() => {
                    let step = self.request(c, st);
                    if let (Some(i), Some(Expr::Name(n))) =
                        (step, w.items[0].optional_vars.as_deref())
                    {
                        st.responses.insert(n.id.to_string(), i);
                    }
                    self.block(&w.body, st, false);
                }
                _ => self.left_out(s, "a `with` block that is not a request: not translated"),
            },
            Stmt::If(i) => self.status_check(s, i, st),
            Stmt::Pass(_) => {}
            Stmt::Return(r) if r.value.is_none() && last => {}
            _ => self.left_out(s, "not translated"),
        }
    }

    /// A call made for its effect: a request, `self.on_start()`, a helper, a pause, a response's verdict.
    fn call(&mut self, s: &'a Stmt, c: &'a ast::ExprCall, st: &mut State, last: bool) {
        if client_call(c).is_some() {
            self.request(c, st);
            return;
        }
        let Some(name) = dotted(&c.func) else {
            return self.left_out(s, "not translated");
        };
        let parts: Vec<&str> = name.split('.').collect();
        match parts.as_slice() {
            ["self", "on_start"] if st.is_task && last => st.method.restart = true,
            ["self", "interrupt"] if self.in_sequence && last => {}
            ["self", "on_start"] => self.left_out(
                s,
                "on_start again, not at the end of a task: not translated (loadgen restarts a session after a task \
                 with `restart_session = true`)",
            ),
            ["self", helper] if self.helpers.contains_key(*helper) && self.depth < 4 && c.args.is_empty() => {
                let f = self.helpers[*helper];
                self.inlined.insert(helper.to_string());
                self.depth += 1;
                self.block(&f.body, st, false);
                self.depth -= 1;
            }
            [resp, "success" | "raise_for_status"] if st.responses.contains_key(*resp) => {}
            [resp, "failure"] if st.responses.contains_key(*resp) => self.left_out(
                s,
                "a failure that is not the other branch of a status check: not translated (use `expect` checks)",
            ),
            ["self", "client", "headers", "update"] if c.args.len() == 1 => {
                match self.eval(|ev| ev.pairs(&c.args[0])) {
                    Ok(pairs) => st.method.headers.extend(pairs),
                    Err(u) => self.untranslated(u, "the headers were left out"),
                }
            }
            ["time" | "gevent", "sleep"] | ["sleep"] if c.args.len() == 1 => {
                let secs = self.eval(|ev| ev.seconds(&c.args[0]));
                match (secs, st.method.steps.last_mut()) {
                    (Ok(secs), Some(step)) => {
                        step.think = Some(Wait::Constant(std::time::Duration::from_secs_f64(secs)))
                    }
                    _ => self.left_out(s, "a pause before any request: not translated"),
                }
            }
            _ => self.left_out(s, "not translated"),
        }
    }

    /// `x = ...`, `self.x = ...`: a request's answer, a capture from it, a value, a default header.
    fn assign(&mut self, s: &'a Stmt, target: &'a Expr, value: &'a Expr, st: &mut State) {
        if let Expr::Call(c) = value
            && client_call(c).is_some()
        {
            let step = self.request(c, st);
            if let (Some(i), Expr::Name(n)) = (step, target) {
                st.responses.insert(n.id.to_string(), i);
            }
            return;
        }
        if let Expr::Subscript(sub) = target
            && dotted(&sub.value).as_deref() == Some("self.client.headers")
        {
            let pair = self.eval(|ev| Ok((ev.text(&sub.slice)?, ev.text(value)?)));
            match pair {
                Ok(pair) => st.method.headers.push(pair),
                Err(u) => self.untranslated(u, "the header was left out"),
            }
            return;
        }
        let (var, on_self) = match target {
            Expr::Name(n) => (n.id.to_string(), false),
            Expr::Attribute(a) if is_self(&a.value) => (a.attr.to_string(), true),
            _ => return self.left_out(s, "not translated"),
        };
        let resp = response_of(value).filter(|r| st.responses.contains_key(*r));
        if let Some(resp) = resp {
            let step = st.responses[resp];
            match json_path(value, resp).filter(|p| p != "$") {
                Some(path) => {
                    let name = capture_name(&var);
                    st.method.steps[step].captures.push((name.clone(), path));
                    self.set(&var, on_self, J::String(format!("{{{{{name}}}}}")));
                }
                None => self.left_out(
                    s,
                    "only `response.json()[...]` values are captured: not translated",
                ),
            }
            return;
        }
        match self.eval(|ev| {
            ev.stable = true;
            ev.value(value)
        }) {
            Ok(v) => self.set(&var, on_self, v),
            Err(u) => {
                self.scope.locals.remove(&var);
                let what = format!(
                    "`{}` is unknown to the requests that use it",
                    target_text(&var, on_self)
                );
                self.untranslated(u, &what)
            }
        }
    }

    fn set(&mut self, var: &str, on_self: bool, v: J) {
        if on_self {
            self.scope.user.insert(var.to_string(), v);
        } else {
            self.scope.locals.insert(var.to_string(), v);
        }
    }

    /// `if response.status_code == 200: ... else: response.failure(...)` → `expect = { status = [200] }`, the
    /// success branch translated; any other `if` is a note.
    fn status_check(&mut self, s: &'a Stmt, i: &'a ast::StmtIf, st: &mut State) {
        let Some((resp, codes, negated)) = status_test(&i.test) else {
            return self.left_out(
                s,
                "a condition loadgen does not translate: the whole `if` was left out",
            );
        };
        let Some(&step) = st.responses.get(resp) else {
            return self.left_out(s, "a status check on an unknown response: not translated");
        };
        let (ok, other) = if negated {
            (&i.orelse, &i.body)
        } else {
            (&i.body, &i.orelse)
        };
        if other.is_empty() {
            // No verdict for the other statuses: Locust's default (4xx, 5xx fail), as loadgen's.
        } else if other.iter().all(|s| is_failure(s, resp)) {
            st.method.steps[step].expect_status = codes;
        } else {
            let first = &other[0];
            self.left_out(first, "the branch for other statuses is not translated");
        }
        self.block(ok, st, false);
    }

    /// `self.client.METHOD(url, ...)` as a step; `None` (and a note) when its URL has no translation.
    fn request(&mut self, c: &'a ast::ExprCall, st: &mut State) -> Option<usize> {
        let (method, url) = client_call(c)?;
        let Some(url) = url else {
            self.note(c, "a request without a URL: not translated");
            return None;
        };
        let path = match self.eval(|ev| ev.text(url)) {
            Ok(p) => p,
            Err(u) => {
                self.untranslated(u, "the request was left out");
                return None;
            }
        };
        let mut step = DraftStep {
            method: method.to_ascii_uppercase(),
            path: if path.starts_with('/')
                || path.starts_with("http://")
                || path.starts_with("https://")
            {
                path
            } else {
                format!("/{path}")
            },
            ..DraftStep::default()
        };
        let mut name = None;
        for k in &c.keywords {
            let Some(arg) = k.arg.as_ref().map(|a| a.as_str()) else {
                self.note(k, "`**kwargs` in a request: not translated");
                continue;
            };
            let v = &k.value;
            match arg {
                "url" | "method" => {}
                "name" => match self.eval(|ev| ev.text(v)) {
                    Ok(n) if !n.contains("{{") && !n.is_empty() => name = Some(n),
                    _ => self.note(
                        k,
                        "a `name=` that is not a plain string: the request is named by its URL",
                    ),
                },
                "json" => match self.eval(|ev| ev.value(v)) {
                    Ok(j) => step.body = Body::Json(j),
                    Err(u) => self.untranslated(u, "the request's `json=` body was left out"),
                },
                "data" => match self.eval(|ev| ev.value(v)) {
                    Ok(J::String(text)) => step.body = Body::Text(text),
                    Ok(J::Object(_)) => match self.eval(|ev| ev.pairs(v)) {
                        Ok(form) => step.body = Body::Form(form),
                        Err(u) => self.untranslated(u, "the request's `data=` form was left out"),
                    },
                    _ => self.left_out(k, "the request's `data=` body was left out"),
                },
                "headers" => match self.eval(|ev| ev.pairs(v)) {
                    Ok(h) => step.headers = h,
                    Err(u) => self.untranslated(u, "the request's headers were left out"),
                },
                "params" => match self.eval(|ev| ev.pairs(v)) {
                    Ok(q) if !q.is_empty() => {
                        let sep = if step.path.contains('?') { '&' } else { '?' };
                        let query: Vec<String> = q
                            .iter()
                            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                            .collect();
                        step.path = format!("{}{sep}{}", step.path, query.join("&"));
                    }
                    Ok(_) => {}
                    Err(u) => self.untranslated(u, "the request's `params=` were left out"),
                },
                "catch_response" => {}
                other => self.left_out(k, &format!("`{other}=` is not translated")),
            }
        }
        let wanted = name.unwrap_or_else(|| step.path.clone());
        let (name, renamed) = self.names.claim(&wanted);
        if renamed {
            self.note(
                c,
                format!("the request name `{wanted}` is used before: loadgen's names are unique, this one is `{name}`"),
            );
        }
        step.name = name;
        st.method.steps.push(step);
        Some(st.method.steps.len() - 1)
    }
}

/// `self.client.get(url, ...)` → `("get", url)`; `self.client.request("PUT", url)` → `("PUT", url)`.
fn client_call(c: &ast::ExprCall) -> Option<(String, Option<&Expr>)> {
    let name = dotted(&c.func)?;
    let method = name.strip_prefix("self.client.")?;
    let kw = |k: &str| {
        c.keywords
            .iter()
            .find(|x| x.arg.as_ref().is_some_and(|a| a.as_str() == k))
    };
    if METHODS.contains(&method) {
        let url = c.args.first().or_else(|| kw("url").map(|k| &k.value));
        return Some((method.to_string(), url));
    }
    if method == "request" {
        let m = c.args.first().or_else(|| kw("method").map(|k| &k.value))?;
        let Expr::Constant(ast::ExprConstant {
            value: Constant::Str(m),
            ..
        }) = m
        else {
            return None;
        };
        let url = c.args.get(1).or_else(|| kw("url").map(|k| &k.value));
        return Some((m.clone(), url));
    }
    None
}

/// `response.status_code == 200` / `!= 200` / `in (200, 201)` / `not in [...]`: the response, the codes, and
/// whether the test is negated.
fn status_test(test: &Expr) -> Option<(&str, Vec<u16>, bool)> {
    let Expr::Compare(c) = test else { return None };
    let ([op], [right]) = (c.ops.as_slice(), c.comparators.as_slice()) else {
        return None;
    };
    let Expr::Attribute(a) = &*c.left else {
        return None;
    };
    let Expr::Name(resp) = &*a.value else {
        return None;
    };
    if a.attr.as_str() != "status_code" {
        return None;
    }
    let code = |e: &Expr| match e {
        Expr::Constant(ast::ExprConstant {
            value: Constant::Int(i),
            ..
        }) => i
            .to_string()
            .parse::<u16>()
            .ok()
            .filter(|c| (100..600).contains(c)),
        _ => None,
    };
    let codes: Option<Vec<u16>> = match (op, right) {
        (CmpOp::Eq | CmpOp::NotEq, e) => code(e).map(|c| vec![c]),
        (CmpOp::In | CmpOp::NotIn, Expr::Tuple(t)) => t.elts.iter().map(code).collect(),
        (CmpOp::In | CmpOp::NotIn, Expr::List(l)) => l.elts.iter().map(code).collect(),
        (CmpOp::In | CmpOp::NotIn, Expr::Set(s)) => s.elts.iter().map(code).collect(),
        _ => None,
    };
    let negated = matches!(op, CmpOp::NotEq | CmpOp::NotIn);
    Some((resp.id.as_str(), codes?, negated))
}

/// `response.failure(...)` (or `pass`): a statement that only marks the answer failed.
fn is_failure(s: &Stmt, resp: &str) -> bool {
    let Stmt::Expr(x) = s else { return false };
    let Expr::Call(c) = &*x.value else {
        return false;
    };
    dotted(&c.func).is_some_and(|d| d == format!("{resp}.failure"))
}

/// A capture's name for a variable: the same, unless loadgen has a template of that name.
pub fn capture_name(var: &str) -> String {
    let clean: String = var
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if crate::import::reserved_names().any(|r| r == clean) {
        format!("{clean}_value")
    } else {
        clean
    }
}

fn target_text(var: &str, on_self: bool) -> String {
    if on_self {
        format!("self.{var}")
    } else {
        var.to_string()
    }
}

/// A query value form-encoded, its `{{...}}` templates kept as they are.
fn encode(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open..].find("}}") else {
            break;
        };
        out.extend(url::form_urlencoded::byte_serialize(
            &rest.as_bytes()[..open],
        ));
        out.push_str(&rest[open..open + close + 2]);
        rest = &rest[open + close + 2..];
    }
    out.extend(url::form_urlencoded::byte_serialize(rest.as_bytes()));
    out
}
