//! From a loaded scenario and the command line's overrides to a validated, typed [`RunPlan`].
//!
//! Everything that can be wrong with a scenario is found here, once, before any traffic: durations are parsed,
//! the host URL and methods checked, templates compiled against the variables that exist (built-ins, `env.*`,
//! and every capture any step declares), JSON paths parsed, weights and gates range-checked. The engine only ever
//! sees a `RunPlan`; it never touches TOML or clap.

mod resolve;
#[cfg(test)]
mod tests;

use std::fmt::Write as _;
use std::time::Duration;

use http::Method;
use http::header::HeaderName;

use crate::scenario::jsonpath::JsonPath;
use crate::scenario::template::{self, Template};

pub use resolve::{MAX_DURATION, resolve};

/// Values given on the command line, which win over the scenario's.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub host: Option<String>,
    pub users: Option<u64>,
    pub spawn_rate: Option<f64>,
    pub duration: Option<Duration>,
}

/// A run, ready for the engine.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub name: String,
    pub file: std::path::PathBuf,
    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:8000`.
    pub host: String,
    pub timeout: Duration,
    pub users: u64,
    pub spawn_rate: f64,
    pub duration: Duration,
    pub stop_timeout: Duration,
    pub connections: Connections,
    /// A staged load (k6's ramping-vus, Locust's load shapes): empty for the classic ramp to `users` at
    /// `spawn_rate`. With stages, `users` is the highest stage target and `spawn_rate` the fastest ramp.
    pub stages: Vec<Stage>,
    pub wait: Wait,
    /// Every request of the scenario; a step's index is its statistics id.
    pub steps: Vec<Step>,
    pub on_start: Vec<usize>,
    pub tasks: Vec<usize>,
    pub on_stop: Vec<usize>,
    /// Names of the capture slots, indexed by [`template::Var::Capture`].
    pub captures: Vec<String>,
    pub gates: Vec<Gate>,
}

/// One stage: the users ramp linearly from the previous stage's target (0 at the start) to `users` over
/// `duration`; a zero duration is a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stage {
    pub duration: Duration,
    pub users: u64,
}

/// How often the scheduler re-reads a staged target.
const STAGE_RESOLUTION: Duration = Duration::from_millis(10);

impl RunPlan {
    /// The users that should be running `t` into the run.
    pub fn target_users(&self, t: Duration) -> u64 {
        if self.stages.is_empty() {
            // User 1 at once, then one every 1/spawn_rate s.
            let due = (t.as_secs_f64() * self.spawn_rate).floor();
            return (due as u64).saturating_add(1).min(self.users);
        }
        let mut from = 0u64;
        let mut start = Duration::ZERO;
        for s in &self.stages {
            let end = start + s.duration;
            if t < end {
                let frac = (t - start).as_secs_f64() / s.duration.as_secs_f64();
                let x = from as f64 + (s.users as f64 - from as f64) * frac;
                return x.floor().max(0.0) as u64;
            }
            from = s.users;
            start = end;
        }
        from
    }

    /// When the target may next change after `t` (from the start of the run); `None` once it no longer will.
    pub fn next_change(&self, t: Duration) -> Option<Duration> {
        if self.stages.is_empty() {
            let running = self.target_users(t);
            return (running < self.users)
                .then(|| Duration::from_secs_f64(running as f64 / self.spawn_rate).max(t));
        }
        let total: Duration = self.stages.iter().map(|s| s.duration).sum();
        (t < total).then(|| (t + STAGE_RESOLUTION).min(total))
    }
}

/// Who owns the HTTP connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connections {
    /// Each user its own keep-alive connection, as a Locust `HttpUser` (the default).
    PerUser,
    /// The users of each worker share a pool of keep-alive connections: as many connections as requests in
    /// flight, for very high user counts. Cookies stay per user.
    Shared,
}

impl Connections {
    pub fn as_str(self) -> &'static str {
        match self {
            Connections::PerUser => "per_user",
            Connections::Shared => "shared",
        }
    }
}

/// A user's pause between tasks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Wait {
    None,
    Constant(Duration),
    /// Uniform between the two bounds, as Locust's `between(min, max)`.
    Between(Duration, Duration),
    /// Tasks start this far apart, however long each takes (the wait is what is left of the interval), as
    /// Locust's `constant_pacing`; `constant_throughput(n)` is a pacing of 1/n s.
    Pacing(Duration),
}

impl Wait {
    /// The pause after a task that started `since_start` ago; `uniform` draws from [0, 1).
    pub fn pause(&self, since_start: Duration, uniform: impl FnOnce() -> f64) -> Duration {
        match *self {
            Wait::None => Duration::ZERO,
            Wait::Constant(d) => d,
            Wait::Between(lo, hi) => lo + (hi - lo).mul_f64(uniform()),
            Wait::Pacing(every) => every.saturating_sub(since_start),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    OnStart,
    Task,
    OnStop,
}

impl StepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::OnStart => "on_start",
            StepKind::Task => "task",
            StepKind::OnStop => "on_stop",
        }
    }
}

/// One request as the engine runs it.
#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    pub kind: StepKind,
    pub method: Method,
    /// Path (or absolute URL) template.
    pub path: Template,
    pub query: Vec<(String, Template)>,
    pub headers: Vec<(HeaderName, Template)>,
    pub body: Body,
    /// Accepted status codes; `None` means any 2xx.
    pub expect_status: Option<Vec<u16>>,
    pub captures: Vec<Capture>,
    pub weight: u32,
    /// After this task, the user ends its session and starts a new one (on_start runs again).
    pub restart_session: bool,
    pub timeout: Option<Duration>,
}

impl Step {
    /// Whether `status` meets this step's expectation.
    pub fn accepts(&self, status: u16) -> bool {
        match &self.expect_status {
            Some(list) => list.contains(&status),
            None => (200..300).contains(&status),
        }
    }

    /// True when the response body is needed (a JSON capture).
    pub fn needs_body(&self) -> bool {
        self.captures
            .iter()
            .any(|c| matches!(c.source, CaptureSource::Json(_)))
    }
}

#[derive(Debug, Clone)]
pub enum Body {
    None,
    Json(JsonTemplate),
    Text(Template),
}

/// A JSON body whose strings are templates.
#[derive(Debug, Clone)]
pub enum JsonTemplate {
    Literal(serde_json::Value),
    String(Template),
    Array(Vec<JsonTemplate>),
    Object(Vec<(String, JsonTemplate)>),
}

impl JsonTemplate {
    /// The body as a fixed value, when no string in it has a variable.
    pub fn constant(&self) -> Option<serde_json::Value> {
        match self {
            JsonTemplate::Literal(v) => Some(v.clone()),
            JsonTemplate::String(_) => None,
            JsonTemplate::Array(items) => items
                .iter()
                .map(JsonTemplate::constant)
                .collect::<Option<Vec<_>>>()
                .map(serde_json::Value::Array),
            JsonTemplate::Object(fields) => fields
                .iter()
                .map(|(k, v)| v.constant().map(|v| (k.clone(), v)))
                .collect::<Option<serde_json::Map<_, _>>>()
                .map(serde_json::Value::Object),
        }
    }

    pub fn render(&self, ctx: &mut dyn template::Context) -> serde_json::Value {
        match self {
            JsonTemplate::Literal(v) => v.clone(),
            JsonTemplate::String(t) => serde_json::Value::String(t.render(ctx)),
            JsonTemplate::Array(items) => {
                serde_json::Value::Array(items.iter().map(|i| i.render(ctx)).collect())
            }
            JsonTemplate::Object(fields) => serde_json::Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.render(ctx)))
                    .collect(),
            ),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Capture {
    pub name: String,
    pub slot: usize,
    pub source: CaptureSource,
}

#[derive(Debug, Clone)]
pub enum CaptureSource {
    Json(JsonPath),
    Header(HeaderName),
}

/// A quality gate, checked on the finished results.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    /// `None` for all requests together, else a request name.
    pub scope: Option<String>,
    pub metric: GateMetric,
    pub threshold: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateMetric {
    /// Percent of requests that met their expectation; passes when measured >= threshold.
    SuccessRate,
    /// A latency percentile in ms; passes when measured < threshold.
    Percentile(u8),
}

impl GateMetric {
    pub fn key(self) -> String {
        match self {
            GateMetric::SuccessRate => "success_rate".into(),
            GateMetric::Percentile(p) => format!("p{p}_ms"),
        }
    }
}

impl RunPlan {
    /// The host as it may be shown: a password in the URL (`http://user:secret@host`) is masked.
    pub fn host_display(&self) -> String {
        match url::Url::parse(&self.host) {
            Ok(mut url) if url.password().is_some() => {
                let _ = url.set_password(Some("***"));
                url.as_str().trim_end_matches('/').to_string()
            }
            _ => self.host.clone(),
        }
    }

    /// The sum of the task weights.
    pub fn total_weight(&self) -> u64 {
        self.tasks
            .iter()
            .map(|&i| u64::from(self.steps[i].weight))
            .sum()
    }

    /// A human-readable account of the plan, as `loadgen check` prints it. Shows templates, never values.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let secs = |d: Duration| humantime::format_duration(d).to_string();
        let _ = writeln!(s, "scenario   {} ({})", self.name, self.file.display());
        let _ = writeln!(
            s,
            "target     {} (request timeout {})",
            self.host_display(),
            secs(self.timeout)
        );
        if self.stages.is_empty() {
            let ramp = self.users as f64 / self.spawn_rate;
            let _ = writeln!(
                s,
                "load       {} users, spawned at {}/s (all running after {:.1}s), for {}; stop timeout {}",
                self.users,
                self.spawn_rate,
                ramp,
                secs(self.duration),
                secs(self.stop_timeout)
            );
        } else {
            let _ = writeln!(
                s,
                "load       {} stages, up to {} users, for {}; stop timeout {}",
                self.stages.len(),
                self.users,
                secs(self.duration),
                secs(self.stop_timeout)
            );
            let (mut from, mut at) = (0, Duration::ZERO);
            for (i, st) in self.stages.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "  stage {}  {:>8} .. {:<8} {:>6} -> {} users",
                    i + 1,
                    secs(at),
                    secs(at + st.duration),
                    from,
                    st.users
                );
                from = st.users;
                at += st.duration;
            }
            if self.duration > at {
                let _ = writeln!(s, "  then     {} users until {}", from, secs(self.duration));
            } else if self.duration < at {
                let _ = writeln!(
                    s,
                    "  (the run ends at {}, before the last stage ends)",
                    secs(self.duration)
                );
            }
        }
        let wait = match self.wait {
            Wait::None => "none".to_string(),
            Wait::Constant(d) => format!("constant {}", secs(d)),
            Wait::Between(a, b) => format!("between {} and {} (uniform)", secs(a), secs(b)),
            Wait::Pacing(d) => format!(
                "pacing: a task every {} per user ({:.3} tasks/s)",
                secs(d),
                1.0 / d.as_secs_f64().max(1e-9)
            ),
        };
        let _ = writeln!(s, "wait       {wait}");
        let _ = writeln!(
            s,
            "connections {}",
            match self.connections {
                Connections::PerUser => "per_user (each user its own keep-alive connection)",
                Connections::Shared =>
                    "shared (each worker's users share a pool of keep-alive connections)",
            }
        );
        let total = self.total_weight().max(1) as f64;
        for (title, list) in [
            ("on_start", &self.on_start),
            ("tasks", &self.tasks),
            ("on_stop", &self.on_stop),
        ] {
            if list.is_empty() {
                continue;
            }
            let _ = writeln!(s, "{title}:");
            for &i in list.iter() {
                let st = &self.steps[i];
                let _ = write!(
                    s,
                    "  {:<24} {:<7} {}",
                    st.name,
                    st.method.as_str(),
                    st.path.source()
                );
                if st.kind == StepKind::Task {
                    let _ = write!(
                        s,
                        "  weight {} ({:.1}%)",
                        st.weight,
                        100.0 * f64::from(st.weight) / total
                    );
                }
                match &st.expect_status {
                    Some(c) => {
                        let c: Vec<String> = c.iter().map(u16::to_string).collect();
                        let _ = write!(s, "  expect {}", c.join("|"));
                    }
                    None => s.push_str("  expect 2xx"),
                }
                for c in &st.captures {
                    let src = match &c.source {
                        CaptureSource::Json(p) => p.as_str().to_string(),
                        CaptureSource::Header(h) => format!("header {h}"),
                    };
                    let _ = write!(s, "  capture {}={}", c.name, src);
                }
                if st.restart_session {
                    s.push_str("  restarts session");
                }
                s.push('\n');
            }
        }
        if self.gates.is_empty() {
            let _ = writeln!(s, "gates      none");
        } else {
            let _ = writeln!(s, "gates:");
            for g in &self.gates {
                let op = match g.metric {
                    GateMetric::SuccessRate => ">=",
                    GateMetric::Percentile(_) => "<",
                };
                let _ = writeln!(
                    s,
                    "  {:<24} {} {} {}",
                    g.scope.as_deref().unwrap_or("all requests"),
                    g.metric.key(),
                    op,
                    g.threshold
                );
            }
        }
        s
    }
}
