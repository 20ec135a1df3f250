//! From a loaded scenario and the command line's overrides to a validated, typed [`RunPlan`].
//!
//! Everything that can be wrong with a scenario is found here, once, before any traffic: durations are parsed,
//! the host URL and methods checked, templates compiled against the variables that exist (built-ins, `env.*`,
//! and every capture any step declares), JSON paths parsed, weights and gates range-checked. The engine only ever
//! sees a `RunPlan`; it never touches TOML or clap.

pub mod checks;
pub mod cond;
mod data;
mod describe;
pub mod flow;
mod load;
mod mix;
// Issue 21 item 4: the target's own metrics.
pub mod monitor;
mod protocol;
pub mod request_checks;
mod resolve;
mod search;
mod segment;
#[cfg(test)]
mod tests;
mod tls;
// Issue 17 items 3 and 7: DNS and proxies.
mod net;
mod values;

use std::time::Duration;

use http::Method;
use http::header::HeaderName;

use crate::scenario::jsonpath::JsonPath;
use crate::scenario::template::{self, Template};

pub use crate::results::{GateMetric, Window};
pub use checks::{Check, HeaderCheck, Length, Pick};
pub use data::{DataPlan, users_started};
pub use flow::{Op, Program};
pub use load::{MAX_ARRIVAL_RATE, MAX_SPAWN_RATE, MIN_ARRIVAL_RATE, MIN_SPAWN_RATE};
pub use mix::{Deal, Mix};
pub use net::{Bypass, DEFAULT_DNS_TTL, Dns, PROXY_ENV, Proxies, ProxyServer};
pub use protocol::{DEFAULT_HTTP2_CONNECTIONS, HttpVersion, MAX_HTTP2_CONNECTIONS, Protocol};
pub use resolve::{DEFAULT_MAX_BODY, resolve};
pub use search::{Search, SearchStep};
pub use segment::{MAX_SEGMENTS, Segment, WholeLoad};
pub use tls::{CaFile, ClientIdentity, Tls};
pub use values::{MAX_DURATION, MAX_USERS};

/// One kind of user: its share of the users, its wait, and its steps (indexes into [`RunPlan::steps`]).
#[derive(Debug, Clone)]
pub struct UserClass {
    pub name: String,
    pub weight: u32,
    pub wait: Wait,
    pub on_start: Vec<usize>,
    pub tasks: Vec<Task>,
    pub on_stop: Vec<usize>,
    /// What `on_start` and `on_stop` run: their requests in order, or with control flow (issue 18, item 3).
    pub start_program: Program,
    pub stop_program: Program,
}

impl UserClass {
    /// The sum of the task weights.
    pub fn total_weight(&self) -> u64 {
        self.tasks.iter().map(|t| u64::from(t.weight)).sum()
    }
}

/// A task: one request, or a flow of requests run in order.
#[derive(Debug, Clone)]
pub struct Task {
    /// Its statistics entry: the request, or the flow's own entry (the steps timed as a whole).
    pub head: usize,
    /// The requests it may run, in the scenario's order (just `head` for a single request).
    pub steps: Vec<usize>,
    /// What it runs: its requests in order, or with control flow (issue 18, item 3); a flow's entry is recorded
    /// around it.
    pub program: Program,
    pub weight: u32,
    /// After this task, the user ends its session and starts a new one (on_start runs again).
    pub restart_session: bool,
}

impl Task {
    pub fn is_flow(&self) -> bool {
        self.steps != [self.head]
    }

    /// A task that is one request and nothing else: run directly, without the program.
    pub fn single(&self) -> Option<usize> {
        self.program.single().filter(|_| !self.is_flow())
    }
}

/// Values given on the command line, which win over the scenario's.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub host: Option<String>,
    pub users: Option<u64>,
    pub spawn_rate: Option<f64>,
    /// A constant arrival rate, replacing the scenario's load model.
    pub rate: Option<f64>,
    /// Run only the tasks with one of these tags (all when empty).
    pub tags: Vec<String>,
    /// Leave out the tasks with one of these tags.
    pub exclude_tags: Vec<String>,
    pub duration: Option<Duration>,
    /// Stop after this many task iterations in all.
    pub iterations: Option<u64>,
    /// Accept any server certificate (`--insecure`).
    pub insecure: bool,
    /// A PEM file of extra trusted CA certificates (`--ca-file`), replacing the scenario's `ca_file`.
    pub ca_file: Option<std::path::PathBuf>,
    /// The client certificate and key files (`--client-cert`, `--client-key`), each replacing the scenario's
    /// `client_cert` / `client_key` (issue 17 item 8).
    pub client_cert: Option<std::path::PathBuf>,
    pub client_key: Option<std::path::PathBuf>,
    /// Issue 17 item 7: the proxy variables of the environment ([`PROXY_ENV`]) that are set, name and value.
    pub proxy_env: Vec<(String, String)>,
    /// `--no-fail-on-errors`: without gates, failed requests do not fail the run.
    pub no_fail_on_errors: bool,
    /// `--find-limit`: a search for the breaking point ([`Search`]).
    pub find_limit: bool,
}

/// A run, ready for the engine.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub name: String,
    pub file: std::path::PathBuf,
    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:8000`.
    pub host: String,
    pub timeout: Duration,
    /// The largest response body kept for a JSON capture, bytes. A longer body is still read (and counted) to
    /// its end, but not kept, and the capture fails.
    pub max_body: u64,
    /// How https servers are trusted.
    pub tls: Tls,
    /// Item 6 of issue 17: the HTTP version spoken (`[target] http`) and HTTP/2's connections per worker.
    pub protocol: Protocol,
    /// Issue 17 item 3: how host names become addresses.
    pub dns: Dns,
    /// Issue 17 item 7: which proxy each request goes through.
    pub proxy: Proxies,
    /// The most users the plan runs at once: the ramp's or the highest stage's target, or an arrival rate's
    /// `max_users`.
    pub users: u64,
    /// How users (or iterations) are started over time.
    pub load: Load,
    pub duration: Duration,
    pub stop_timeout: Duration,
    pub connections: Connections,
    /// Stop after this many task iterations in all (`--iterations`), or at the duration if that comes first.
    pub max_iterations: Option<u64>,
    /// Every request of the scenario, and an entry per flow; a step's index is its statistics id.
    pub steps: Vec<Step>,
    /// The kinds of user, at least one: a scenario without `[classes]` has one, named `user`.
    pub classes: Vec<UserClass>,
    /// Names of the capture slots, indexed by [`template::Var::Capture`].
    pub captures: Vec<String>,
    /// The loops of the programs (`repeat`, `for_each`): each has a frame in a user's state.
    pub frames: usize,
    /// The test data, when the scenario has a `[data]` file.
    pub data: Option<DataPlan>,
    pub gates: Vec<Gate>,
    /// What decides the verdict besides the gates' thresholds: failed requests without gates, and whether a
    /// failed gate ends the run early.
    pub rules: GateRules,
    /// Bounds past which the run is invalid: loadgen itself could not keep the plan.
    pub validity: Validity,
    /// Requests that must succeed before any load is sent (`[preflight]`).
    pub preflight: Option<Preflight>,
    /// `--segment I/N`: this process runs only that part of the plan (already applied to the load, the
    /// iterations and the data), see [`RunPlan::for_segment`].
    pub segment: Option<Segment>,
    /// Under a segment, the whole plan's load, which the scheduler walks (users, or an arrival rate's iterations).
    pub whole: Option<WholeLoad>,
    /// Issue 21 item 3: a search for the breaking point (`--find-limit`); `load` then holds its steps.
    pub search: Option<Search>,
    /// Issue 21 item 4: the target's own metrics scraped during the run (`[monitor]`).
    pub monitor: Option<monitor::MonitorPlan>,
}

/// The load profile: what the scheduler follows.
#[derive(Debug, Clone, PartialEq)]
pub enum Load {
    /// Closed model: `users` started at `spawn_rate` per second, then held (Locust's `-u` / `-r`).
    Ramp { spawn_rate: f64 },
    /// Closed model over stages (k6's ramping-vus, Locust's load shapes).
    Stages(Vec<Stage>),
    /// Open model: iterations started at a rate, whatever the response times (k6's arrival-rate executors,
    /// wrk2's `-R`).
    Arrival(Arrival),
}

impl Load {
    /// The users that should be running `t` into the run, for a plan of at most `users` users.
    pub fn target_users(&self, users: u64, t: Duration) -> u64 {
        let stages = match self {
            Load::Ramp { spawn_rate } => {
                // User 1 at once, then one every 1/spawn_rate s.
                let due = (t.as_secs_f64() * spawn_rate).floor();
                return (due as u64).saturating_add(1).min(users);
            }
            Load::Stages(stages) => stages,
            Load::Arrival(_) => return 0,
        };
        let walk = stage_walk(stages);
        for &(start, from, s) in &walk {
            if t < start + s.duration {
                return s.users_at(from, t - start).floor().max(0.0) as u64;
            }
        }
        walk.last().map_or(0, |&(_, from, s)| {
            s.users_at(from, s.duration).floor().max(0.0) as u64
        })
    }

    /// When the target may next change after `t`; `None` once it no longer will.
    pub fn next_change(&self, users: u64, t: Duration) -> Option<Duration> {
        match self {
            Load::Ramp { spawn_rate } => {
                let running = self.target_users(users, t);
                // None too when the next start is past what a Duration holds (a rate near 0).
                (running < users)
                    .then(|| Duration::try_from_secs_f64(running as f64 / spawn_rate).ok())
                    .flatten()
                    .map(|d| d.max(t))
            }
            Load::Stages(stages) => {
                let total: Duration = stages.iter().map(|s| s.duration).sum();
                (t < total).then(|| (t + STAGE_RESOLUTION).min(total))
            }
            Load::Arrival(_) => None,
        }
    }

    /// The durations of the stages, users or rate (none for a ramp).
    pub fn stage_durations(&self) -> Vec<Duration> {
        match self {
            Load::Ramp { .. } => Vec::new(),
            Load::Stages(st) => st.iter().map(|s| s.duration).collect(),
            Load::Arrival(a) => a.stages.iter().map(|s| s.duration).collect(),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Load::Ramp { .. } => "ramp",
            Load::Stages(_) => "stages",
            Load::Arrival(_) => "arrival_rate",
        }
    }
}

/// One stage: the users ramp linearly from where the previous stage left them (0 at the start) to `users`
/// over `duration` (a zero duration is a step), or, with `spawn_rate`, move to `users` at that many users per
/// second and hold there for the rest of the stage (as Locust's load shapes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    pub duration: Duration,
    pub users: u64,
    pub spawn_rate: Option<f64>,
}

impl Stage {
    /// The users `tau` into this stage, having started it at `from`.
    pub fn users_at(&self, from: f64, tau: Duration) -> f64 {
        let to = self.users as f64;
        match self.spawn_rate {
            Some(rate) => {
                let moved = rate * tau.as_secs_f64();
                if to >= from {
                    (from + moved).min(to)
                } else {
                    (from - moved).max(to)
                }
            }
            None if self.duration.is_zero() => to,
            None => {
                let frac = (tau.as_secs_f64() / self.duration.as_secs_f64()).min(1.0);
                from + (to - from) * frac
            }
        }
    }

    /// How long into this stage, started at `from`, its target is reached (its duration if never).
    pub fn reached(&self, from: f64) -> Duration {
        match self.spawn_rate {
            // A rate too slow for a Duration (or 0, from a results file) never gets there within the stage.
            Some(rate) => Duration::try_from_secs_f64((self.users as f64 - from).abs() / rate)
                .map_or(self.duration, |d| d.min(self.duration)),
            None => self.duration,
        }
    }
}

/// When users stages first reach their highest target (with a spawn rate, possibly before the stage ends; a
/// rate too slow to get there: the end of the stage that gets closest).
pub fn stages_ramp_up(stages: &[Stage]) -> Duration {
    let peak = stages.iter().map(|s| s.users).max().unwrap_or(0) as f64;
    stage_walk(stages)
        .into_iter()
        .find(|&(_, from, s)| s.users_at(from, s.duration) >= peak)
        .map_or_else(
            || {
                first_peak(
                    stage_walk(stages)
                        .into_iter()
                        .map(|(_, from, s)| (s.duration, s.users_at(from, s.duration))),
                )
            },
            |(start, from, s)| start + s.reached(from),
        )
}

/// Each stage with when it starts and the users it starts from.
pub fn stage_walk(stages: &[Stage]) -> Vec<(Duration, f64, Stage)> {
    let (mut start, mut from) = (Duration::ZERO, 0.0);
    stages
        .iter()
        .map(|s| {
            let here = (start, from, *s);
            from = s.users_at(from, s.duration);
            start += s.duration;
            here
        })
        .collect()
}

/// An open-model load: iterations (one task each, after `on_start` for a user's new session) start at the
/// rate of `stages`, each on an idle user; up to `users` users exist at once. An iteration due when every
/// user is busy waits for one, for at most `queue_timeout`, and is dropped after that; its latency counts
/// from when it was due, so the wait shows (coordinated omission corrected).
#[derive(Debug, Clone, PartialEq)]
pub struct Arrival {
    /// The rate ramps linearly from the previous stage's (0 at the start) to each stage's over its duration,
    /// and holds after the last; a constant rate is one stage of 0 s.
    pub stages: Vec<RateStage>,
    pub queue_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateStage {
    pub duration: Duration,
    /// Iterations per second at the end of the stage.
    pub rate: f64,
}

impl Arrival {
    /// The rate `t` into the run, iterations per second.
    pub fn rate_at(&self, t: Duration) -> f64 {
        let (mut from, mut start) = (0.0, Duration::ZERO);
        for s in &self.stages {
            let end = start + s.duration;
            if t < end {
                let frac = (t - start).as_secs_f64() / s.duration.as_secs_f64();
                return from + (s.rate - from) * frac;
            }
            from = s.rate;
            start = end;
        }
        from
    }

    /// The highest rate of the plan.
    pub fn peak_rate(&self) -> f64 {
        self.stages.iter().map(|s| s.rate).fold(0.0, f64::max)
    }

    /// How many iterations are due in the first `t` of the run (the integral of the rate).
    pub fn due_by(&self, t: Duration) -> f64 {
        let (mut from, mut start, mut n) = (0.0, Duration::ZERO, 0.0);
        for s in &self.stages {
            let end = start + s.duration;
            let d = s.duration.as_secs_f64();
            if t < end {
                let tau = (t - start).as_secs_f64();
                return n + from * tau + (s.rate - from) * tau * tau / (2.0 * d);
            }
            n += (from + s.rate) / 2.0 * d;
            from = s.rate;
            start = end;
        }
        n + from * (t - start).as_secs_f64()
    }

    /// When iteration `k` (from 0) is due, from the start of the run: the time at which [`Arrival::due_by`]
    /// reaches `k`. `None` when the rate never gets there (it ends at 0).
    pub fn start_of(&self, k: u64) -> Option<Duration> {
        let k = k as f64;
        let (mut from, mut start, mut n) = (0.0f64, Duration::ZERO, 0.0f64);
        for s in &self.stages {
            let d = s.duration.as_secs_f64();
            let in_stage = (from + s.rate) / 2.0 * d;
            if d > 0.0 && k < n + in_stage {
                // Solve from·τ + (rate − from)·τ²/(2d) = x for τ in [0, d], in the form that is stable when the
                // rate barely changes (and exact when it does not).
                let x = k - n;
                let a = (s.rate - from) / (2.0 * d);
                let disc = (from * from + 4.0 * a * x).max(0.0);
                let denom = from + disc.sqrt();
                let tau = if denom > 0.0 { 2.0 * x / denom } else { 0.0 };
                return Some(start + Duration::from_secs_f64(tau.clamp(0.0, d)));
            }
            n += in_stage;
            from = s.rate;
            start += s.duration;
        }
        // A rate so low that iteration k is due past what a Duration holds never gets there either.
        if from <= 0.0 {
            return None;
        }
        Duration::try_from_secs_f64((k - n).max(0.0) / from)
            .ok()
            .and_then(|d| start.checked_add(d))
    }
}

/// Checks of the target before the load: each attempt runs `checks` in order (captures carry over, as in
/// `on_start`); the first attempt where all pass lets the run start, and attempts go on every `interval` until
/// `timeout`, after which the run ends without load (exit 4: target not ready).
#[derive(Debug, Clone)]
pub struct Preflight {
    pub checks: Vec<Step>,
    pub timeout: Duration,
    pub interval: Duration,
}

/// When the run counts as invalid: loadgen could not keep the plan, so its figures say nothing certain about
/// the server. The run then exits with its own code rather than passing or failing the gates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Validity {
    /// Loadgen's own scheduler lag above this in more than [`Validity::LATE_SHARE`] of the seconds (and in at
    /// least two).
    pub max_lag: Duration,
    /// More than this fraction of the due iterations dropped, or of the planned users missing.
    pub max_shortfall: f64,
}

impl Validity {
    /// The share of seconds that may exceed `max_lag`.
    pub const LATE_SHARE: f64 = 0.10;
}

impl Default for Validity {
    fn default() -> Self {
        Validity {
            max_lag: Duration::from_millis(100),
            max_shortfall: 0.02,
        }
    }
}

/// How often the scheduler re-reads a staged target.
const STAGE_RESOLUTION: Duration = Duration::from_millis(10);

impl RunPlan {
    /// The users of the whole plan that should be running `t` into the run (0 for an arrival rate, which starts
    /// users as the iterations need them). Under a segment this is still the whole plan's count: the scheduler
    /// walks every user of the whole plan and starts those dealt to its segment (see [`Deal`]).
    pub fn target_users(&self, t: Duration) -> u64 {
        match &self.whole {
            Some(w) => w.load.target_users(w.users, t),
            None => self.load.target_users(self.users, t),
        }
    }

    /// When [`RunPlan::target_users`] may next change after `t` (from the start of the run); `None` once it no
    /// longer will.
    pub fn next_change(&self, t: Duration) -> Option<Duration> {
        match &self.whole {
            Some(w) => w.load.next_change(w.users, t),
            None => self.load.next_change(self.users, t),
        }
    }

    /// When the ramp-up ends: the steady part of the run starts here (the first time the plan reaches its
    /// highest users or rate), capped at the duration. Under a segment, the whole plan's: the segment's users
    /// start when the whole plan starts them, and merged results take the steady part from the whole plan too.
    pub fn ramp_up(&self) -> Duration {
        let (load, users) = self
            .whole
            .as_ref()
            .map_or((&self.load, self.users), |w| (&w.load, w.users));
        let end = match load {
            Load::Ramp { spawn_rate } => {
                Duration::try_from_secs_f64(users.saturating_sub(1) as f64 / spawn_rate)
                    .unwrap_or(Duration::MAX)
            }
            Load::Stages(stages) => stages_ramp_up(stages),
            Load::Arrival(a) => first_peak(a.stages.iter().map(|s| (s.duration, s.rate))),
        };
        end.min(self.duration)
    }
}

/// A rate as written in scenarios: `200`, `0.5`.
/// A size in bytes as written in scenarios: a whole number of bytes, or a number and a unit. `KB`, `MB`, `GB`
/// and `TB` are powers of 1000, `KiB`, `MiB`, `GiB` and `TiB` powers of 1024 (units in any case; `B` alone is
/// bytes); "1.5MB" is 1,500,000 bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = (&t[..split], t[split..].trim());
    if number.is_empty() {
        return Err("expected a number of bytes or a size such as \"512KB\" or \"10MiB\"".into());
    }
    let factor: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        other => {
            return Err(format!(
                "unknown size unit `{other}`; expected B, KB, MB, GB, TB, KiB, MiB, GiB or TiB"
            ));
        }
    };
    let bytes = match number.parse::<u64>() {
        Ok(n) => n.checked_mul(factor),
        Err(_) => match number.parse::<f64>() {
            Ok(x) if x.is_finite() => {
                let b = x * factor as f64;
                (b < u64::MAX as f64).then_some(b as u64)
            }
            _ => return Err(format!("`{number}` is not a number")),
        },
    };
    bytes.ok_or_else(|| "too large".to_string())
}

/// A size in bytes for people: "10 MiB", "512 KB", "1000 bytes" (the unit it divides exactly, binary first).
pub fn fmt_size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 8] = [
        (1 << 40, "TiB"),
        (1_000_000_000_000, "TB"),
        (1 << 30, "GiB"),
        (1_000_000_000, "GB"),
        (1 << 20, "MiB"),
        (1_000_000, "MB"),
        (1 << 10, "KiB"),
        (1_000, "KB"),
    ];
    for (size, unit) in UNITS {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{} {unit}", bytes / size);
        }
    }
    format!("{bytes} bytes")
}

pub fn fmt_rate(r: f64) -> String {
    let s = format!("{r:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The end of the first stage that reaches the highest value.
fn first_peak(stages: impl Iterator<Item = (Duration, f64)> + Clone) -> Duration {
    let peak = stages.clone().map(|(_, v)| v).fold(0.0, f64::max);
    let mut at = Duration::ZERO;
    for (d, v) in stages {
        at += d;
        if v >= peak {
            break;
        }
    }
    at
}

/// The name of the one class of a scenario without `[classes]`.
pub const IMPLICIT_CLASS: &str = "user";

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
    /// A flow's own entry: its steps timed as a whole (not a request; not in the aggregated figures).
    Flow,
    /// A `[preflight]` check (not part of the run's statistics).
    Preflight,
}

impl StepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::OnStart => "on_start",
            StepKind::Task => "task",
            StepKind::OnStop => "on_stop",
            StepKind::Flow => "flow",
            StepKind::Preflight => "preflight",
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
    /// What the answer must hold besides its status (`expect.json`, `body_contains`, ...; issue 18, item 1).
    pub checks: Vec<Check>,
    pub captures: Vec<Capture>,
    pub weight: u32,
    /// After this task, the user ends its session and starts a new one (on_start runs again).
    pub restart_session: bool,
    /// Statuses after which the user's session restarts (e.g. 401: its token is no longer valid).
    pub restart_on: Vec<u16>,
    /// Labels that `--tags` / `--exclude-tags` select tasks by.
    pub tags: Vec<String>,
    pub timeout: Option<Duration>,
    /// The user class it belongs to (an index into [`RunPlan::classes`]).
    pub class: usize,
    /// For a request inside a flow: the flow's entry (an index into [`RunPlan::steps`]).
    pub flow: Option<usize>,
    /// Redirects followed at most (0: a 3xx is the answer). Issue 17, item 4.
    pub follow_redirects: u32,
    /// Sends `Accept-Encoding: gzip, deflate, br` (unless it sets its own) and decodes the body it keeps.
    /// Issue 17, item 5.
    pub compression: bool,
    /// Issue 18 item 4: the default headers (from `[target]`, `[user]`, `[classes.NAME]`; indexes into
    /// `headers`) whose templates use captures, each with the capture slots it uses: such a header is sent only
    /// once the user has captured them all. Empty for most steps.
    pub header_needs: Vec<(usize, Vec<usize>)>,
}

/// What a request takes from its class and target unless it says otherwise (issue 17, items 4 and 5).
#[derive(Debug, Clone, Copy)]
pub struct ClientDefaults {
    pub follow_redirects: u32,
    pub compression: bool,
}

impl Step {
    /// What the statistics show as its method: the HTTP method, or `FLOW` for a flow's own entry.
    pub fn method_label(&self) -> &str {
        match self.kind {
            StepKind::Flow => "FLOW",
            _ => self.method.as_str(),
        }
    }

    /// True for the HTTP requests, which the aggregated figures count (not a flow's own entry).
    pub fn is_request(&self) -> bool {
        self.kind != StepKind::Flow
    }

    /// Whether `status` meets this step's expectation.
    pub fn accepts(&self, status: u16) -> bool {
        match &self.expect_status {
            Some(list) => list.contains(&status),
            None => (200..300).contains(&status),
        }
    }

    /// True when the response body is needed (a check or capture that reads it).
    pub fn needs_body(&self) -> bool {
        self.checks.iter().any(Check::needs_body)
            || self
                .captures
                .iter()
                .any(|c| matches!(c.source, CaptureSource::Json(_) | CaptureSource::Regex(..)))
    }
}

#[derive(Debug, Clone)]
pub enum Body {
    None,
    Json(JsonTemplate),
    Text(Template),
    // Issue 18 item 5: bodies.
    /// `form`: `application/x-www-form-urlencoded` fields, each name already encoded, each value a template
    /// encoded as it is rendered.
    Form(Vec<(String, Template)>),
    /// `multipart` and `body_file`: pieces sent one after the other.
    Pieces(Pieces),
}

/// Issue 18 item 5: a body made of text templates and bytes as they were read (`multipart`, `body_file`).
#[derive(Debug, Clone)]
pub struct Pieces {
    /// The `Content-Type` loadgen sends unless the request sets its own.
    pub content_type: String,
    pub pieces: Vec<Piece>,
    /// A multipart body's boundary, which no rendered value may hold (the plan checked the constant parts).
    pub boundary: Option<String>,
}

impl Pieces {
    /// True when some content is not UTF-8 (a binary file): the request is written as bytes, not as text.
    pub fn is_binary(&self) -> bool {
        self.pieces.iter().any(|p| matches!(p, Piece::Bytes(_)))
    }
}

/// A piece of a [`Pieces`] body: a template, or bytes that are not UTF-8 (sent unchanged).
#[derive(Debug, Clone)]
pub enum Piece {
    Text(Template),
    Bytes(std::sync::Arc<[u8]>),
}

impl Body {
    /// The `Content-Type` loadgen writes for this body unless the request sets its own.
    pub fn content_type(&self) -> Option<&str> {
        match self {
            Body::Json(_) => Some("application/json"),
            Body::Form(_) => Some("application/x-www-form-urlencoded"),
            Body::Pieces(p) => Some(&p.content_type),
            Body::None | Body::Text(_) => None,
        }
    }
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

    /// Writes the body as compact JSON straight into `out`: the same bytes as `serde_json::to_string` of
    /// [`JsonTemplate::render`], without building a `serde_json::Value` per request. Object fields are in the
    /// order `serde_json::Map` gives them ([`JsonTemplate::object`] puts them so when the plan is resolved).
    pub fn write_into(&self, ctx: &mut dyn template::Context, out: &mut String) {
        use std::fmt::Write as _;
        match self {
            JsonTemplate::Literal(v) => {
                let _ = write!(out, "{v}");
            }
            JsonTemplate::String(t) => {
                out.push('"');
                let start = out.len();
                t.render_into(ctx, out);
                if out[start..].bytes().any(needs_json_escape) {
                    let raw = out.split_off(start);
                    json_escape_into(&raw, out);
                }
                out.push('"');
            }
            JsonTemplate::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_into(ctx, out);
                }
                out.push(']');
            }
            JsonTemplate::Object(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push('"');
                    json_escape_into(k, out);
                    out.push_str("\":");
                    v.write_into(ctx, out);
                }
                out.push('}');
            }
        }
    }

    /// An object whose fields are in the order a `serde_json::Map` iterates them (sorted by key, or as inserted
    /// when serde_json's `preserve_order` is on), so [`JsonTemplate::write_into`] and
    /// [`JsonTemplate::render`] give the same text.
    pub fn object(mut fields: Vec<(String, JsonTemplate)>) -> JsonTemplate {
        let order: serde_json::Map<String, serde_json::Value> = fields
            .iter()
            .map(|(k, _)| (k.clone(), serde_json::Value::Null))
            .collect();
        let rank: std::collections::HashMap<&str, usize> = order
            .keys()
            .enumerate()
            .map(|(i, k)| (k.as_str(), i))
            .collect();
        let mut ranked: Vec<(usize, (String, JsonTemplate))> = fields
            .drain(..)
            .map(|f| (rank.get(f.0.as_str()).copied().unwrap_or(usize::MAX), f))
            .collect();
        ranked.sort_by_key(|(r, _)| *r);
        JsonTemplate::Object(ranked.into_iter().map(|(_, f)| f).collect())
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

/// A byte serde_json escapes in a string: `"`, `\\` and the control characters below 0x20.
fn needs_json_escape(b: u8) -> bool {
    b == b'"' || b == b'\\' || b < 0x20
}

/// `s` escaped as serde_json writes a string's content (`\\n`, `\\"`, `\\u001b`...; everything else as is).
fn json_escape_into(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut from = 0;
    for (i, b) in s.bytes().enumerate() {
        if !needs_json_escape(b) {
            continue;
        }
        out.push_str(&s[from..i]);
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            _ => {
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
        }
        from = i + 1;
    }
    out.push_str(&s[from..]);
}

#[derive(Debug, Clone)]
pub struct Capture {
    pub name: String,
    pub slot: usize,
    pub source: CaptureSource,
    /// Which of the values found it keeps (issue 18, item 2).
    pub pick: Pick,
    /// What it takes when it finds nothing, instead of failing the request.
    pub default: Option<String>,
}

#[derive(Debug, Clone)]
pub enum CaptureSource {
    Json(JsonPath),
    Header(HeaderName),
    /// A regex over the body: the text of group `group` (0: the whole match) of each match.
    Regex(checks::Regex, usize),
    /// A cookie the answer set (`Set-Cookie`), by name.
    Cookie(String),
}

impl CaptureSource {
    /// The source as the scenario writes it, for messages.
    pub fn label(&self) -> String {
        match self {
            CaptureSource::Json(p) => p.as_str().to_string(),
            CaptureSource::Header(h) => format!("header {h}"),
            CaptureSource::Regex(r, _) => format!("regex {:?}", r.source),
            CaptureSource::Cookie(c) => format!("cookie {c}"),
        }
    }
}

/// A quality gate, checked on the finished results.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    /// `None` for all requests together, else a request name.
    pub scope: Option<String>,
    /// The part of the run it looks at.
    pub window: Window,
    pub metric: GateMetric,
    pub threshold: f64,
    /// Why this gate is not judged, when it is not: its request does not run in this plan (left out by
    /// `--tags` / `--exclude-tags`). A skipped gate neither passes nor fails the run.
    pub skip: Option<String>,
}

/// What decides the verdict besides the gates' thresholds (`[gates] fail_on_errors`, `abort_on_fail`,
/// `abort_grace`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateRules {
    /// With no gate to judge, a failed request fails the run (Locust's exit code on errors); off with
    /// `[gates] fail_on_errors = false` or `--no-fail-on-errors`.
    pub fail_on_errors: bool,
    /// `[gates] abort_on_fail = true`: the whole-run gates are judged on the running totals every second from
    /// this far into the run, and the first to fail ends it (k6's `abortOnFail` with `delayAbortEval`).
    pub abort_after: Option<Duration>,
}

impl Default for GateRules {
    fn default() -> Self {
        GateRules {
            fail_on_errors: true,
            abort_after: None,
        }
    }
}

impl RunPlan {
    /// The span of `window`, from the start of the run.
    pub fn span(&self, window: Window) -> (Duration, Duration) {
        let stage_ends = self.load.stage_durations();
        match window {
            Window::Run => (Duration::ZERO, self.duration),
            Window::Steady => (self.ramp_up(), self.duration),
            Window::Stage(n) => {
                let start: Duration = stage_ends.iter().take(n.saturating_sub(1)).sum();
                let end = start
                    + stage_ends
                        .get(n.saturating_sub(1))
                        .copied()
                        .unwrap_or_default();
                (start.min(self.duration), end.min(self.duration))
            }
            // A change made from the live UI: the plan does not know when; the results do
            // (`crate::results::ManualStage::span`).
            Window::Manual(_) => (self.duration, self.duration),
        }
    }
}
