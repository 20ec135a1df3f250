//! `loadgen import`: scenarios written from the files other tools keep (a browser's HAR recording, a
//! locustfile).
//!
//! This module owns the [`Draft`]: the scenario an importer builds (host, the user's wait and `on_start`, tasks
//! that are requests or flows, captures, think times) together with the notes it could not translate, and its
//! rendering as a commented scenario file ([`Draft::to_toml`]). Each importer ([`har`], [`locust`]) reads its own
//! format into a `Draft`; the command (`commands::import`) writes the text. An importer never runs anything: the
//! scenario it writes is checked by `loadgen check` like any other, and its notes say what to review.

pub mod har;
pub mod locust;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

/// Names a capture must not take: loadgen's built-in template variables ([`crate::scenario::template::BUILTINS`])
/// and the names its templates and conditions give a meaning (`item`, `index`, `data`, `env`, `status`).
pub fn reserved_names() -> impl Iterator<Item = &'static str> {
    crate::scenario::template::BUILTINS
        .iter()
        .map(|(name, _)| *name)
        .chain(["item", "index", "data", "env", "status"])
}

/// A source file that cannot be imported: which file, where in it, and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{}{}: {message}", path.display(), place(*line, *column))]
pub struct ImportError {
    pub path: PathBuf,
    /// 1-based, when the error is about one place.
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

fn place(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

/// A scenario being written by an importer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Draft {
    /// Comment lines at the top of the file (where it came from, how to run it), without the leading `# `.
    pub header: Vec<String>,
    pub name: Option<String>,
    /// The target's base URL (`[target] host`).
    pub host: Option<String>,
    /// `[load]`: written as a small default the user is expected to change.
    pub load: Option<DraftLoad>,
    /// The users' behaviour when the scenario has one kind of user (`[user]` and `[[task]]`).
    pub user: DraftUser,
    /// Several kinds of user (`[classes.NAME]`); when not empty, `user` must be empty.
    pub classes: Vec<DraftClass>,
    /// What the importer could not translate, written as comments at the end: where and what.
    pub notes: Vec<Note>,
}

/// `[load]` as written by an importer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DraftLoad {
    pub users: u64,
    pub spawn_rate: f64,
    pub duration: Duration,
}

/// One kind of user: its wait, default headers, `on_start`, tasks and `on_stop`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DraftUser {
    pub wait: Option<Wait>,
    /// `headers` every request of the user sends (`[user] headers`).
    pub headers: Vec<(String, String)>,
    pub on_start: Vec<DraftStep>,
    pub tasks: Vec<DraftTask>,
    pub on_stop: Vec<DraftStep>,
}

/// `[classes.NAME]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DraftClass {
    pub name: String,
    pub weight: Option<u32>,
    /// Comment lines above the class's table.
    pub comments: Vec<String>,
    pub user: DraftUser,
}

/// A user's wait between two tasks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Wait {
    Constant(Duration),
    Between(Duration, Duration),
    /// Locust's `constant_pacing`: a task starts every this long.
    Pacing(Duration),
    /// Locust's `constant_throughput(n)`: n tasks per second per user.
    Throughput(f64),
}

/// A `[[task]]`: one request, or a flow of requests run in order (`steps`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DraftTask {
    pub name: String,
    pub weight: Option<u32>,
    /// Comment lines above the task.
    pub comments: Vec<String>,
    /// One step: the task is that request (under the task's name). More: a flow.
    pub steps: Vec<DraftStep>,
    pub restart_session: bool,
    /// `tags = [...]` (for `--tags`, `--exclude-tags`).
    pub tags: Vec<String>,
    /// A pause after the task.
    pub think: Option<Wait>,
}

/// One request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DraftStep {
    pub name: String,
    /// Comment lines above the step.
    pub comments: Vec<String>,
    /// `GET` is left out of the file.
    pub method: String,
    /// The path (and query) relative to the host, or a whole URL for another host; templates allowed.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    /// `expect = { status = [...] }`; empty: loadgen's default (any 2xx or 3xx).
    pub expect_status: Vec<u16>,
    /// `capture = { NAME = "$.json.path" }`.
    pub captures: Vec<(String, String)>,
    /// A pause after the request (a recorded gap, say).
    pub think: Option<Wait>,
}

/// A request's body.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Body {
    #[default]
    None,
    /// `json = {...}`: a JSON object or array (sent as `application/json`).
    Json(serde_json::Value),
    /// `form = {...}`: `application/x-www-form-urlencoded` fields.
    Form(Vec<(String, String)>),
    /// `body = "..."`: sent as it is (the step's headers say its type).
    Text(String),
}

/// Something the importer left out, and where it was in the source.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    /// The source line (1-based), when the note is about one place.
    pub line: Option<usize>,
    pub text: String,
}

impl Note {
    pub fn at(line: usize, text: impl Into<String>) -> Self {
        Note {
            line: Some(line),
            text: text.into(),
        }
    }
    pub fn general(text: impl Into<String>) -> Self {
        Note {
            line: None,
            text: text.into(),
        }
    }
}

impl Draft {
    /// The scenario as a commented TOML file.
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        for line in &self.header {
            comment(&mut out, line);
        }
        if let Some(name) = &self.name {
            kv(&mut out, "name", &quote(name));
        }
        if let Some(host) = &self.host {
            out.push_str("\n[target]\n");
            kv(&mut out, "host", &quote(host));
        }
        if let Some(load) = &self.load {
            out.push_str("\n[load]\n");
            kv(&mut out, "users", &load.users.to_string());
            kv(&mut out, "spawn_rate", &number(load.spawn_rate));
            kv(&mut out, "duration", &quote(&duration(load.duration)));
        }
        if self.classes.is_empty() {
            user(&mut out, "user", "task", &self.user, None);
        } else {
            for class in &self.classes {
                let table = format!("classes.{}", key(&class.name));
                out.push('\n');
                for line in &class.comments {
                    comment(&mut out, line);
                }
                let tasks = format!("{table}.task");
                user(&mut out, &table, &tasks, &class.user, Some(class.weight));
            }
        }
        if !self.notes.is_empty() {
            out.push_str("\n# Not translated (review these by hand):\n");
            for note in &self.notes {
                match note.line {
                    Some(line) => comment(&mut out, &format!("- line {line}: {}", note.text)),
                    None => comment(&mut out, &format!("- {}", note.text)),
                }
            }
        }
        out
    }
}

/// `[user]` (or `[classes.NAME]`, whose `weight` is `Some`) and its tasks as `[[tasks]]`.
fn user(out: &mut String, table: &str, tasks: &str, u: &DraftUser, weight: Option<Option<u32>>) {
    let mut head = String::new();
    if let Some(Some(w)) = weight {
        kv(&mut head, "weight", &w.to_string());
    }
    if let Some(w) = u.wait {
        kv(&mut head, "wait", &wait(w));
    }
    if !u.headers.is_empty() {
        kv(&mut head, "headers", &inline_pairs(&u.headers));
    }
    if !head.is_empty() || weight.is_some() {
        if weight.is_none() {
            out.push('\n');
        }
        let _ = writeln!(out, "[{table}]");
        out.push_str(&head);
    }
    for step in &u.on_start {
        out.push('\n');
        request(out, &format!("[[{table}.on_start]]"), step);
    }
    for task in &u.tasks {
        out.push('\n');
        for line in &task.comments {
            comment(out, line);
        }
        let header = format!("[[{tasks}]]");
        match task.steps.as_slice() {
            [only] if only.name == task.name => {
                out.push_str(&header);
                out.push('\n');
                kv(out, "name", &quote(&task.name));
                task_keys(out, task);
                request_keys(out, only);
            }
            steps => {
                out.push_str(&header);
                out.push('\n');
                kv(out, "name", &quote(&task.name));
                task_keys(out, task);
                for step in steps {
                    request(out, &format!("[[{tasks}.steps]]"), step);
                }
            }
        }
    }
    for step in &u.on_stop {
        out.push('\n');
        request(out, &format!("[[{table}.on_stop]]"), step);
    }
}

/// A task's own keys (not its request's).
fn task_keys(out: &mut String, task: &DraftTask) {
    if let Some(w) = task.weight {
        kv(out, "weight", &w.to_string());
    }
    if task.restart_session {
        kv(out, "restart_session", "true");
    }
    if !task.tags.is_empty() {
        let tags: Vec<String> = task.tags.iter().map(|t| quote(t)).collect();
        kv(out, "tags", &format!("[{}]", tags.join(", ")));
    }
    if let Some(t) = task.think {
        kv(out, "think", &wait(t));
    }
}

/// A request under its own table header, with its comments first.
fn request(out: &mut String, header: &str, step: &DraftStep) {
    for line in &step.comments {
        comment(out, line);
    }
    out.push_str(header);
    out.push('\n');
    kv(out, "name", &quote(&step.name));
    request_keys(out, step);
}

/// A request's keys but `name`, which the caller writes first (a one-request task writes its own keys between).
fn request_keys(out: &mut String, step: &DraftStep) {
    if !step.method.eq_ignore_ascii_case("GET") && !step.method.is_empty() {
        kv(out, "method", &quote(&step.method.to_ascii_uppercase()));
    }
    kv(out, "path", &quote(&step.path));
    let mut headers = step.headers.clone();
    let json = match &step.body {
        Body::Json(v) => json_to_toml(v),
        _ => None,
    };
    if let (Body::Json(_), None) = (&step.body, &json) {
        // JSON with a null in it has no TOML form: the text itself is sent, with its type.
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            headers.push(("Content-Type".into(), "application/json".into()));
        }
    }
    if !headers.is_empty() {
        kv(out, "headers", &inline_pairs(&headers));
    }
    match &step.body {
        Body::None => {}
        Body::Json(v) => match json {
            Some(t) => kv(out, "json", &t),
            None => kv(out, "body", &quote(&v.to_string())),
        },
        Body::Form(fields) => kv(out, "form", &inline_pairs(fields)),
        Body::Text(text) => kv(out, "body", &quote(text)),
    }
    if !step.expect_status.is_empty() {
        let codes: Vec<String> = step.expect_status.iter().map(u16::to_string).collect();
        kv(
            out,
            "expect",
            &format!("{{ status = [{}] }}", codes.join(", ")),
        );
    }
    if !step.captures.is_empty() {
        kv(out, "capture", &inline_pairs(&step.captures));
    }
    if let Some(t) = step.think {
        kv(out, "think", &wait(t));
    }
}

fn kv(out: &mut String, key: &str, value: &str) {
    let _ = writeln!(out, "{key} = {value}");
}

/// `# text`, one comment line per line of `text`.
fn comment(out: &mut String, text: &str) {
    for line in text.lines() {
        if line.is_empty() {
            out.push_str("#\n");
        } else {
            let _ = writeln!(out, "# {line}");
        }
    }
    if text.is_empty() {
        out.push_str("#\n");
    }
}

/// A TOML basic string.
pub fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A bare key when it can be one, else a quoted key.
pub fn key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_string()
    } else {
        quote(k)
    }
}

/// `{ a = "x", "B-c" = "y" }`.
fn inline_pairs(pairs: &[(String, String)]) -> String {
    let items: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{} = {}", key(k), quote(v)))
        .collect();
    format!("{{ {} }}", items.join(", "))
}

/// A JSON value as an inline TOML value; `None` when it holds a null (TOML has none).
fn json_to_toml(v: &serde_json::Value) -> Option<String> {
    use serde_json::Value as J;
    Some(match v {
        J::Null => return None,
        J::Bool(b) => b.to_string(),
        J::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) if f.is_finite() => number(f),
            _ => return None,
        },
        J::String(s) => quote(s),
        J::Array(items) => {
            let items: Option<Vec<String>> = items.iter().map(json_to_toml).collect();
            format!("[{}]", items?.join(", "))
        }
        J::Object(map) => {
            let items: Option<Vec<String>> = map
                .iter()
                .map(|(k, v)| Some(format!("{} = {}", key(k), json_to_toml(v)?)))
                .collect();
            let items = items?;
            if items.is_empty() {
                "{}".to_string()
            } else {
                format!("{{ {} }}", items.join(", "))
            }
        }
    })
}

/// A float as TOML writes it (always with a point or an exponent).
fn number(f: f64) -> String {
    toml::Value::Float(f).to_string()
}

/// A duration as the scenario format reads it: `"250ms"`, `"3s"`, `"1.5s"`.
pub fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

fn wait(w: Wait) -> String {
    match w {
        Wait::Constant(d) => quote(&duration(d)),
        Wait::Between(a, b) => format!(
            "{{ between = [{}, {}] }}",
            quote(&duration(a)),
            quote(&duration(b))
        ),
        Wait::Pacing(d) => format!("{{ constant_pacing = {} }}", quote(&duration(d))),
        Wait::Throughput(n) => format!("{{ constant_throughput = {} }}", number(n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn step(name: &str, method: &str, path: &str) -> DraftStep {
        DraftStep {
            name: name.into(),
            method: method.into(),
            path: path.into(),
            ..DraftStep::default()
        }
    }

    #[test]
    fn a_draft_renders_as_a_scenario_that_parses_back() {
        let mut login = step("login", "post", "/api/auth/login");
        login.body = Body::Json(json!({"username": "u\"1", "n": 1.5, "tags": ["a"], "x": {}}));
        login.captures = vec![("token".into(), "$.access_token".into())];
        login.expect_status = vec![200];
        let mut verify = step("verify", "GET", "/api/auth/verify");
        verify.headers = vec![("Authorization".into(), "Bearer {{token}}".into())];
        let mut form = step("form", "PUT", "/f");
        form.body = Body::Form(vec![("a b".into(), "c".into())]);
        form.think = Some(Wait::Constant(Duration::from_millis(1500)));
        let draft = Draft {
            header: vec!["imported".into(), String::new()],
            name: Some("imp".into()),
            host: Some("http://127.0.0.1:8000".into()),
            load: Some(DraftLoad {
                users: 10,
                spawn_rate: 2.0,
                duration: Duration::from_secs(60),
            }),
            user: DraftUser {
                wait: Some(Wait::Between(
                    Duration::from_secs(1),
                    Duration::from_secs(3),
                )),
                on_start: vec![login],
                tasks: vec![
                    DraftTask {
                        name: "verify".into(),
                        weight: Some(3),
                        comments: vec!["line 12".into()],
                        steps: vec![verify],
                        ..DraftTask::default()
                    },
                    DraftTask {
                        name: "page".into(),
                        steps: vec![step("a", "GET", "/a"), form],
                        restart_session: true,
                        ..DraftTask::default()
                    },
                ],
                ..DraftUser::default()
            },
            notes: vec![Note::at(7, "self.environment"), Note::general("cookies")],
            ..Draft::default()
        };
        let text = draft.to_toml();
        let t: toml::Table = text.parse().unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(t["target"]["host"].as_str(), Some("http://127.0.0.1:8000"));
        assert_eq!(t["load"]["duration"].as_str(), Some("60s"));
        let start = &t["user"]["on_start"][0];
        assert_eq!(start["method"].as_str(), Some("POST"));
        assert_eq!(start["json"]["username"].as_str(), Some("u\"1"));
        assert_eq!(start["json"]["n"].as_float(), Some(1.5));
        assert_eq!(start["capture"]["token"].as_str(), Some("$.access_token"));
        let tasks = t["task"].as_array().expect("tasks");
        assert_eq!(tasks[0]["name"].as_str(), Some("verify"));
        assert_eq!(tasks[0]["weight"].as_integer(), Some(3));
        assert!(tasks[0].get("method").is_none(), "GET is the default");
        assert_eq!(tasks[1]["steps"][1]["form"]["a b"].as_str(), Some("c"));
        assert_eq!(tasks[1]["steps"][1]["think"].as_str(), Some("1500ms"));
        assert_eq!(tasks[1]["restart_session"].as_bool(), Some(true));
        assert!(text.contains("# - line 7: self.environment\n"), "{text}");
        assert!(text.contains("# line 12\n[[task]]"), "{text}");
    }

    #[test]
    fn json_with_a_null_is_sent_as_text() {
        let mut s = step("n", "POST", "/n");
        s.body = Body::Json(json!({"a": null}));
        let mut out = String::new();
        request_keys(&mut out, &s);
        let t: toml::Table = out.parse().expect("TOML");
        assert_eq!(t["body"].as_str(), Some("{\"a\":null}"));
        assert_eq!(
            t["headers"]["Content-Type"].as_str(),
            Some("application/json")
        );
    }

    #[test]
    fn classes_render_with_their_weights() {
        let class = |name: &str, w| DraftClass {
            name: name.into(),
            weight: Some(w),
            user: DraftUser {
                tasks: vec![DraftTask {
                    name: format!("{name}_t"),
                    steps: vec![step(&format!("{name}_t"), "GET", "/")],
                    ..DraftTask::default()
                }],
                ..DraftUser::default()
            },
            ..DraftClass::default()
        };
        let draft = Draft {
            classes: vec![class("reader", 3), class("Writer X", 1)],
            ..Draft::default()
        };
        let text = draft.to_toml();
        let t: toml::Table = text.parse().unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(t["classes"]["reader"]["weight"].as_integer(), Some(3));
        assert_eq!(
            t["classes"]["Writer X"]["task"][0]["name"].as_str(),
            Some("Writer X_t")
        );
    }
}
