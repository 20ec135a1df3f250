//! Scenario files: the TOML model as written, and loading it with its includes.
//!
//! This module owns the *raw* shape of a scenario (what the user typed, with byte spans kept for error
//! messages) and the `include` mechanism. It does not interpret values: durations, URLs, templates and JSON
//! paths are checked and compiled by [`crate::plan`], which turns a [`Loaded`] scenario into a `RunPlan`.
//!
//! Include semantics: an included file is merged *under* the including one. `name`, `[target]`, `[load]`,
//! `[gates]`, `[validity]`, `[preflight]`, `[monitor]`, `user.wait`, `user.restart_session_on`, `user.follow_redirects`, `user.headers`, `user.on_start` and `user.on_stop` are taken from the including file when it has them
//! (a whole section replaces the included one), and `[[task]]` lists are concatenated, included tasks first,
//! except that a task with the same `name` as an included task replaces it in place (how stress.toml accepts
//! 429 on one request of the shared flow). A `[classes.NAME]` replaces an included class of the same name.
//! Includes nest; a cycle is an error.

pub mod error;
#[cfg(test)]
mod fuzz_tests;
pub mod jsonpath;
pub mod template;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

pub use error::ScenarioError;

/// A scenario file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    pub name: Option<Spanned<String>>,
    pub include: Option<Spanned<toml::Value>>,
    pub target: Option<RawTarget>,
    pub load: Option<RawLoad>,
    pub gates: Option<RawGates>,
    pub data: Option<RawData>,
    pub validity: Option<RawValidity>,
    pub preflight: Option<RawPreflight>,
    pub user: Option<RawUser>,
    #[serde(default)]
    pub task: Vec<RawStep>,
    /// User classes, each with its own weight, wait, `on_start`, tasks and `on_stop`: `[classes.reader]`.
    pub classes: Option<BTreeMap<Spanned<String>, RawClass>>,
    /// Issue 21 item 4: the target's own Prometheus metrics, scraped during the run.
    pub monitor: Option<RawMonitor>,
}

/// `[monitor]`: Prometheus endpoints of the system under test and the series to keep.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMonitor {
    /// Between two scrapes of an endpoint (default 1s).
    pub interval: Option<Spanned<String>>,
    /// How long a scrape may take (default: 80 % of the interval; less than the interval).
    pub timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub endpoint: Vec<RawMonitorEndpoint>,
}

/// `[[monitor.endpoint]]`: one `/metrics` endpoint, by `url`, or by `path` on the target's host.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMonitorEndpoint {
    pub name: Spanned<String>,
    pub url: Option<Spanned<String>>,
    pub path: Option<Spanned<String>>,
    /// A list of selectors, or a table of names to selectors.
    pub series: Spanned<toml::Value>,
}

/// A gate on a `[monitor]` series: `"api:cpu" = { max = 80 }`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMonitorGate {
    pub max: Option<Spanned<f64>>,
    pub min: Option<Spanned<f64>>,
}

/// `[gates.monitor]` (and `[gates.steady.monitor]`, `[gates.stages.N.monitor]`): series key to gate.
pub type RawMonitorGates = BTreeMap<Spanned<String>, Spanned<RawMonitorGate>>;

/// One user class (Locust's several `User` classes): `[classes.NAME]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClass {
    /// This class's share of the users (of an arrival rate's iterations), against the other classes' weights.
    pub weight: Option<Spanned<i64>>,
    pub wait: Option<Spanned<toml::Value>>,
    pub restart_session_on: Option<StatusList>,
    pub on_start: Option<Vec<RawStep>>,
    pub on_stop: Option<Vec<RawStep>>,
    #[serde(default)]
    pub task: Vec<RawStep>,
    /// Issue 17, item 4: redirects followed by this class's requests at most (their default).
    pub follow_redirects: Option<Spanned<i64>>,
    /// Issue 18 item 4: headers this class's requests send unless they set the same header (over `[target]`'s).
    pub headers: Option<HeaderTable>,
}

/// A table of header names to value templates, as written.
pub type HeaderTable = BTreeMap<String, Spanned<String>>;

/// `[target] resolve`: host names to lists of addresses, as written.
pub type ResolveMap = BTreeMap<Spanned<String>, Spanned<Vec<Spanned<String>>>>;

/// A list of HTTP status codes as written, each with its place.
pub type StatusList = Spanned<Vec<Spanned<i64>>>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    pub host: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    /// The largest response body kept for captures: a byte count, or a size such as "10MB".
    pub max_body: Option<Spanned<toml::Value>>,
    /// Accept any server certificate (self-signed test servers).
    pub insecure: Option<Spanned<bool>>,
    /// A PEM file of CA certificates trusted besides the built-in roots, relative to the scenario file.
    pub ca_file: Option<Spanned<String>>,
    // Issue 17, item 6 (HTTP/2):
    /// The HTTP version: "1.1" (the default), "2" or "auto" (ALPN over TLS).
    pub http: Option<Spanned<toml::Value>>,
    /// HTTP/2 connections per origin per worker thread (default 1).
    pub http2_connections: Option<Spanned<i64>>,
    // Issue 17, items 4 and 5 (redirects, compression).
    /// Redirects a request follows at most (the default of every request; 0: none).
    pub follow_redirects: Option<Spanned<i64>>,
    /// Issue 17 item 8: the client certificate (PEM, with its chain) and its private key shown to servers that
    /// ask for one (mutual TLS), relative to the scenario file.
    pub client_cert: Option<Spanned<String>>,
    pub client_key: Option<Spanned<String>>,
    /// Issue 17 item 3: how long looked-up addresses are used ("5m"; "never": once per run), and host names
    /// answered with fixed addresses instead of a lookup (`{ "api.test" = ["127.0.0.2", "::1"] }`).
    pub dns_ttl: Option<Spanned<String>>,
    pub resolve: Option<ResolveMap>,
    /// Issue 17 item 7: the proxy every request goes through (`http://host:port`; "none": ignore HTTP_PROXY and
    /// HTTPS_PROXY), and the hosts reached directly (NO_PROXY's syntax; replaces NO_PROXY).
    pub proxy: Option<Spanned<String>>,
    pub no_proxy: Option<Spanned<String>>,
    /// Ask for compressed answers (`Accept-Encoding: gzip, deflate, br`) and decode them (every request's default).
    pub compression: Option<Spanned<bool>>,
    /// Issue 18 item 4: headers every request sends unless it sets the same header itself.
    pub headers: Option<HeaderTable>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLoad {
    pub users: Option<Spanned<i64>>,
    pub spawn_rate: Option<Spanned<f64>>,
    pub duration: Option<Spanned<String>>,
    pub stop_timeout: Option<Spanned<String>>,
    pub connections: Option<Spanned<String>>,
    pub stages: Option<Spanned<Vec<RawStage>>>,
    pub arrival_rate: Option<Spanned<f64>>,
    pub max_users: Option<Spanned<i64>>,
    pub queue_timeout: Option<Spanned<String>>,
    /// Stop after this many task iterations in all (the duration still bounds the run).
    pub iterations: Option<Spanned<i64>>,
    /// Issue 21 item 3: a search for the breaking point (`run --find-limit`), raising the users (or the
    /// arrival rate) in steps.
    pub search: Option<Spanned<RawSearch>>,
}

/// `[load] search = { start, step, max, hold }`: the levels of a limit search (users, or iterations per second
/// with an arrival rate) and how long each is held.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSearch {
    pub start: Option<Spanned<f64>>,
    pub step: Option<Spanned<f64>>,
    pub max: Option<Spanned<f64>>,
    pub hold: Option<Spanned<String>>,
}

/// One stage of a staged load: ramp linearly to `users` (closed model) or to `rate` iterations per second
/// (open model) over `duration`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    pub duration: Spanned<String>,
    pub users: Option<Spanned<i64>>,
    /// Users stages: move to `users` at this many users per second, then hold (Locust's shape tuples),
    /// instead of a linear ramp over the whole stage.
    pub spawn_rate: Option<Spanned<f64>>,
    pub rate: Option<Spanned<f64>>,
}

/// `[preflight]`: requests that must succeed before any load is sent, retried for a bounded time.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPreflight {
    /// How long to keep retrying (default 30s).
    pub timeout: Option<Spanned<String>>,
    /// The pause between two attempts (default 1s).
    pub interval: Option<Spanned<String>>,
    #[serde(default)]
    pub check: Vec<RawStep>,
}

/// `[validity]`: when loadgen's own shortfall makes the run invalid (exit 3).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawValidity {
    /// Scheduler lag above this, in more than a tenth of the seconds, makes the run invalid.
    pub max_lag: Option<Spanned<String>>,
    /// Percent of the due iterations (or planned users) that may be missing.
    pub max_shortfall_pct: Option<Spanned<f64>>,
}

/// `[data]`: a CSV file whose rows go to users, as `{{data.COLUMN}}` in templates.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawData {
    /// Relative to the scenario file that names it.
    pub file: Spanned<String>,
    /// `unique` (the default), `round_robin` or `random`.
    pub assign: Option<Spanned<String>>,
}

/// Thresholds for one scope (all requests, or one request name).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGateSet {
    pub success_rate: Option<Spanned<f64>>,
    pub p50_ms: Option<Spanned<f64>>,
    pub p90_ms: Option<Spanned<f64>>,
    pub p95_ms: Option<Spanned<f64>>,
    pub p99_ms: Option<Spanned<f64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGates {
    pub success_rate: Option<Spanned<f64>>,
    pub p50_ms: Option<Spanned<f64>>,
    pub p90_ms: Option<Spanned<f64>>,
    pub p95_ms: Option<Spanned<f64>>,
    pub p99_ms: Option<Spanned<f64>>,
    /// Per request name: `[gates.requests.verify_token]`.
    pub requests: Option<BTreeMap<Spanned<String>, RawGateSet>>,
    /// Arrival rate: the most iterations that may be dropped.
    pub dropped_iterations: Option<Spanned<i64>>,
    /// Gates on the steady part of the run (after the ramp-up): `[gates.steady]`.
    pub steady: Option<Spanned<RawGateWindow>>,
    /// Gates on one stage: `[gates.stages.2]`.
    pub stages: Option<BTreeMap<Spanned<String>, RawGateWindow>>,
    /// Without any gate to judge: whether a failed request fails the run (true when absent).
    pub fail_on_errors: Option<Spanned<bool>>,
    /// End the run as soon as a whole-run gate fails (k6's `abortOnFail`).
    pub abort_on_fail: Option<Spanned<bool>>,
    /// With `abort_on_fail`: how long into the run before the gates are first judged (k6's `delayAbortEval`).
    pub abort_grace: Option<Spanned<String>>,
    /// Issue 21 item 4: gates on `[monitor]` series over the whole run.
    pub monitor: Option<RawMonitorGates>,
}

/// Gates on a part of the run: thresholds for all requests, and per request name.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGateWindow {
    pub success_rate: Option<Spanned<f64>>,
    pub p50_ms: Option<Spanned<f64>>,
    pub p90_ms: Option<Spanned<f64>>,
    pub p95_ms: Option<Spanned<f64>>,
    pub p99_ms: Option<Spanned<f64>>,
    pub requests: Option<BTreeMap<Spanned<String>, RawGateSet>>,
    /// Issue 21 item 4: gates on `[monitor]` series over this window.
    pub monitor: Option<RawMonitorGates>,
}

impl RawGateWindow {
    /// The thresholds for all requests together.
    pub fn overall(&self) -> RawGateSet {
        RawGateSet {
            success_rate: self.success_rate.clone(),
            p50_ms: self.p50_ms.clone(),
            p90_ms: self.p90_ms.clone(),
            p95_ms: self.p95_ms.clone(),
            p99_ms: self.p99_ms.clone(),
        }
    }
}

impl RawGates {
    /// The thresholds for all requests together.
    pub fn overall(&self) -> RawGateSet {
        RawGateSet {
            success_rate: self.success_rate.clone(),
            p50_ms: self.p50_ms.clone(),
            p90_ms: self.p90_ms.clone(),
            p95_ms: self.p95_ms.clone(),
            p99_ms: self.p99_ms.clone(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUser {
    pub wait: Option<Spanned<toml::Value>>,
    /// The default of every task request's `restart_session_on`.
    pub restart_session_on: Option<StatusList>,
    pub on_start: Option<Vec<RawStep>>,
    pub on_stop: Option<Vec<RawStep>>,
    /// Issue 17, item 4: redirects followed by the user's requests at most (their default).
    pub follow_redirects: Option<Spanned<i64>>,
    /// Issue 18 item 4: headers the user's requests send unless they set the same header (over `[target]`'s).
    pub headers: Option<HeaderTable>,
}

/// One HTTP request (an `on_start`/`on_stop` step or a `[[task]]`), or a task made of `steps` run in order
/// (a flow).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub name: Spanned<String>,
    pub method: Option<Spanned<String>>,
    /// Required for a request; a flow has `steps` instead.
    pub path: Option<Spanned<String>>,
    /// A flow: these requests in order, timed each and as a whole (tasks only).
    pub steps: Option<Spanned<Vec<RawStep>>>,
    pub weight: Option<Spanned<i64>>,
    /// Labels for `--tags` / `--exclude-tags` (tasks only).
    pub tags: Option<Spanned<Vec<String>>>,
    /// Query parameters: a value (a template, or a number or boolean), or a list of them (the key repeated;
    /// issue 18 item 4).
    pub query: Option<BTreeMap<String, Spanned<toml::Value>>>,
    pub headers: Option<BTreeMap<String, Spanned<String>>>,
    pub json: Option<Spanned<toml::Value>>,
    pub body: Option<Spanned<String>>,
    pub expect: Option<RawExpect>,
    pub capture: Option<BTreeMap<String, Spanned<toml::Value>>>,
    pub restart_session: Option<Spanned<bool>>,
    /// Statuses after which the user's session restarts (its token is no longer valid, say).
    pub restart_session_on: Option<StatusList>,
    pub timeout: Option<Spanned<String>>,
    /// Issue 17, item 4: redirects this request follows at most (0: none).
    pub follow_redirects: Option<Spanned<i64>>,
    /// Issue 17, item 5: ask for a compressed answer and decode it (instead of `[target] compression`).
    pub compression: Option<Spanned<bool>>,
    // Issue 18 item 5: bodies.
    /// `application/x-www-form-urlencoded` fields (values are templates).
    pub form: Option<BTreeMap<String, Spanned<String>>>,
    /// `multipart/form-data` parts, in order.
    pub multipart: Option<Spanned<Vec<RawPart>>>,
    /// A body read from a file at load: `"payload.json"` or `{ path = "payload.json", template = true }`.
    pub body_file: Option<Spanned<toml::Value>>,
    // Issue 18 item 3: control flow.
    /// A pause after this step: `"2s"` or `{ between = ["1s", "3s"] }`.
    pub think: Option<Spanned<toml::Value>>,
    /// Run this step (a request or a block of `steps`) N times.
    pub repeat: Option<Spanned<i64>>,
    /// Run this step once per item of a captured list (`{{item}}`, `{{index}}`).
    pub for_each: Option<Spanned<String>>,
    /// The name of `for_each`'s item variable (default `item`).
    #[serde(rename = "as")]
    pub as_name: Option<Spanned<String>>,
    /// Run this step only when the condition holds (`status == 200`, `token exists`, `count > 3`).
    #[serde(rename = "if")]
    pub if_cond: Option<Spanned<String>>,
    /// After this step, end the flow when the condition holds (not a failure).
    pub stop_if: Option<Spanned<String>>,
    /// One of these steps, picked at random by their `weight`.
    pub choose: Option<Spanned<Vec<RawStep>>>,
}

/// One part of a `multipart` body: a field (`value`) or a file (`file`, read at load).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPart {
    pub name: Spanned<String>,
    pub value: Option<Spanned<String>>,
    /// Relative to the scenario file.
    pub file: Option<Spanned<String>>,
    pub filename: Option<Spanned<String>>,
    pub content_type: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    pub status: Option<StatusList>,
    /// JSON paths into the answer's body and the values they must hold: `json = { "$.status" = "healthy" }`
    /// (strings are templates).
    pub json: Option<BTreeMap<String, Spanned<toml::Value>>>,
    // Issue 18 item 1: checks.
    /// Text (or texts) the body must contain (templates).
    pub body_contains: Option<Spanned<toml::Value>>,
    /// Text (or texts) the body must not contain (templates).
    pub body_not_contains: Option<Spanned<toml::Value>>,
    /// A regex (or regexes) the body must match.
    pub body_regex: Option<Spanned<toml::Value>>,
    /// JSON paths that must hold a value.
    pub json_exists: Option<Spanned<Vec<Spanned<String>>>>,
    /// JSON paths that must not hold a value.
    pub json_absent: Option<Spanned<Vec<Spanned<String>>>>,
    /// The length of the array (or string, or object) at a JSON path: `N` or `{ min = N, max = M }`.
    pub json_length: Option<BTreeMap<String, Spanned<toml::Value>>>,
    /// Response headers: `true` (present), `false` (absent), a string (equals; a template) or `{ regex = "..." }`.
    pub headers: Option<BTreeMap<String, Spanned<toml::Value>>>,
    /// The response time above which the request fails, in milliseconds.
    pub max_ms: Option<Spanned<toml::Value>>,
}

/// A value together with the file it came from (an index into [`Loaded::files`]).
#[derive(Debug)]
pub struct At<T> {
    pub file: usize,
    pub value: T,
}

/// One file read from disk.
#[derive(Debug)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
}

/// A scenario with its includes merged, every piece remembering its file.
#[derive(Debug, Default)]
pub struct Loaded {
    pub files: Vec<SourceFile>,
    pub name: Option<At<Spanned<String>>>,
    pub target: Option<At<RawTarget>>,
    pub load: Option<At<RawLoad>>,
    pub gates: Option<At<RawGates>>,
    pub data: Option<At<RawData>>,
    pub validity: Option<At<RawValidity>>,
    pub preflight: Option<At<RawPreflight>>,
    pub wait: Option<At<Spanned<toml::Value>>>,
    pub restart_on: Option<At<StatusList>>,
    /// `[user] follow_redirects` (issue 17, item 4).
    pub follow_redirects: Option<At<Spanned<i64>>>,
    /// `[user] headers` (issue 18, item 4).
    pub headers: Option<At<HeaderTable>>,
    pub on_start: Option<At<Vec<RawStep>>>,
    pub on_stop: Option<At<Vec<RawStep>>>,
    pub tasks: Vec<At<RawStep>>,
    /// `[classes.NAME]`, in name order; a class named like an included one replaces it.
    pub classes: Vec<At<(Spanned<String>, RawClass)>>,
    /// `[monitor]` (issue 21 item 4): the including file's replaces an included one.
    pub monitor: Option<At<RawMonitor>>,
}

impl Loaded {
    /// The path of the top-level scenario file.
    pub fn root(&self) -> &Path {
        &self.files[0].path
    }

    /// A located error in file `file` at `span`.
    pub fn error(
        &self,
        file: usize,
        span: std::ops::Range<usize>,
        message: impl Into<String>,
    ) -> ScenarioError {
        let f = &self.files[file];
        ScenarioError::span(&f.path, &f.text, span, message)
    }

    /// Like [`Loaded::error`], pointing at `needle` inside `span` when it occurs there (a variable in a template).
    pub fn error_in(
        &self,
        file: usize,
        span: std::ops::Range<usize>,
        needle: &str,
        message: impl Into<String>,
    ) -> ScenarioError {
        let text = &self.files[file].text;
        let at = text
            .get(span.clone())
            .and_then(|s| s.find(needle))
            .map_or(span.start, |i| span.start + i);
        self.error(file, at..at, message)
    }
}

/// Reads `path` and everything it includes.
pub fn load(path: &Path) -> Result<Loaded, ScenarioError> {
    let mut loaded = Loaded::default();
    let mut stack = Vec::new();
    load_into(path, None, &mut loaded, &mut stack)?;
    Ok(loaded)
}

/// Parses scenario text as if read from `path` (includes resolve relative to it).
pub fn load_str(path: &Path, text: String) -> Result<Loaded, ScenarioError> {
    let mut loaded = Loaded::default();
    let mut stack = Vec::new();
    load_into(path, Some(text), &mut loaded, &mut stack)?;
    Ok(loaded)
}

fn load_into(
    path: &Path,
    text: Option<String>,
    loaded: &mut Loaded,
    stack: &mut Vec<PathBuf>,
) -> Result<(), ScenarioError> {
    let text = match text {
        Some(t) => t,
        None => crate::files::read_text(path, crate::files::SCENARIO)
            .map_err(|e| ScenarioError::read(path, "cannot read the scenario file", e))?,
    };
    let raw: RawFile = toml::from_str(&text).map_err(|e| error::from_toml(path, &text, &e))?;
    let id = loaded.files.len();
    loaded.files.push(SourceFile {
        path: path.to_path_buf(),
        text,
    });
    stack.push(path.canonicalize().unwrap_or_else(|_| path.to_path_buf()));

    // Includes first, so this file's own values land on top of them.
    if let Some(include) = &raw.include {
        for (name, span) in include_list(loaded, id, include)? {
            let dir = path.parent().unwrap_or(Path::new("."));
            let target = dir.join(&name);
            let canonical = target.canonicalize().map_err(|e| {
                loaded.error(id, span.clone(), format!("cannot include `{name}`: {e}"))
            })?;
            if let Some(pos) = stack.iter().position(|p| *p == canonical) {
                let cycle: Vec<String> = stack[pos..]
                    .iter()
                    .chain(std::iter::once(&canonical))
                    .map(|p| {
                        p.file_name().map_or_else(
                            || p.display().to_string(),
                            |n| n.to_string_lossy().into_owned(),
                        )
                    })
                    .collect();
                return Err(loaded.error(
                    id,
                    span,
                    format!("include cycle: {}", cycle.join(" -> ")),
                ));
            }
            // Read it here, so a directory or an unreadable file is reported at the include line.
            let text =
                crate::files::read_text(&canonical, crate::files::SCENARIO).map_err(|e| {
                    if let crate::files::ReadError::NotUtf8 { .. } = e {
                        // Where the bad byte is, in the included file.
                        ScenarioError::read(&target, "cannot read this included file", e)
                    } else {
                        loaded.error(id, span.clone(), format!("cannot include `{name}`: {e}"))
                    }
                })?;
            load_into(&target, Some(text), loaded, stack)?;
        }
    }
    stack.pop();

    let at = |value| At { file: id, value };
    let RawFile {
        name,
        target,
        load,
        gates,
        data,
        validity,
        preflight,
        user,
        task,
        classes,
        monitor,
        include: _,
    } = raw;
    if let Some(v) = monitor {
        loaded.monitor = Some(At { file: id, value: v });
    }
    if let Some(v) = preflight {
        loaded.preflight = Some(At { file: id, value: v });
    }
    if let Some(v) = validity {
        loaded.validity = Some(At { file: id, value: v });
    }
    for (name, class) in classes.into_iter().flatten() {
        let value = (name, class);
        match loaded
            .classes
            .iter()
            .position(|c| c.value.0.get_ref() == value.0.get_ref())
        {
            Some(i) => loaded.classes[i] = At { file: id, value },
            None => loaded.classes.push(At { file: id, value }),
        }
    }
    if let Some(v) = name {
        loaded.name = Some(at(v));
    }
    if let Some(v) = target {
        loaded.target = Some(At { file: id, value: v });
    }
    if let Some(v) = load {
        loaded.load = Some(At { file: id, value: v });
    }
    if let Some(v) = gates {
        loaded.gates = Some(At { file: id, value: v });
    }
    if let Some(v) = data {
        loaded.data = Some(At { file: id, value: v });
    }
    if let Some(user) = user {
        if let Some(v) = user.wait {
            loaded.wait = Some(At { file: id, value: v });
        }
        if let Some(v) = user.restart_session_on {
            loaded.restart_on = Some(At { file: id, value: v });
        }
        if let Some(v) = user.follow_redirects {
            loaded.follow_redirects = Some(At { file: id, value: v });
        }
        if let Some(v) = user.headers {
            loaded.headers = Some(At { file: id, value: v });
        }
        if let Some(v) = user.on_start {
            loaded.on_start = Some(At { file: id, value: v });
        }
        if let Some(v) = user.on_stop {
            loaded.on_stop = Some(At { file: id, value: v });
        }
    }
    // A task named like an included one replaces it in place (an override); duplicates within one file are
    // left for the plan to report.
    let included = loaded.tasks.len();
    for t in task {
        let same = loaded.tasks[..included]
            .iter()
            .position(|old| old.file != id && old.value.name.get_ref() == t.name.get_ref());
        match same {
            Some(i) => loaded.tasks[i] = At { file: id, value: t },
            None => loaded.tasks.push(At { file: id, value: t }),
        }
    }
    Ok(())
}

fn include_list(
    loaded: &Loaded,
    file: usize,
    include: &Spanned<toml::Value>,
) -> Result<Vec<(String, std::ops::Range<usize>)>, ScenarioError> {
    let span = include.span();
    let bad = || {
        loaded.error(
            file,
            span.clone(),
            "`include` takes a file name or a list of file names, e.g. include = \"auth_flow.toml\"",
        )
    };
    match include.get_ref() {
        toml::Value::String(s) => Ok(vec![(s.clone(), span.clone())]),
        toml::Value::Array(items) => items
            .iter()
            .map(|v| match v {
                toml::Value::String(s) => Ok((s.clone(), span.clone())),
                _ => Err(bad()),
            })
            .collect(),
        _ => Err(bad()),
    }
}
