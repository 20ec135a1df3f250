//! The results model: the one plain, typed, serde-serialisable account of a run, of a merge of segments, or
//! of a results file read back.
//!
//! Everything that reads results (every output format, `compare`, `merge`, the gates, the validity check and the
//! verdict) reads these types, and nothing here depends on how they were made: building them from the engine's
//! outcome is [`crate::report`]'s, judging them is [`crate::gates`], [`crate::validity`] and
//! [`crate::verdict`]'s. That is the layering: this module at the bottom (it imports no other module of the
//! crate; `plan` and `metrics` use its types), the judges on it, the formats on top.
//!
//! Its JSON form is a versioned contract (`schema_version`, `docs/results.schema.json`). Latency histograms are
//! held decoded ([`Hist`]) and encoded ([`hdr`]) only when written; gates' windows and metrics are enums
//! ([`Window`], [`GateMetric`]) written as the schema's strings. Merging is written once per type ([`HistSum`],
//! [`SeriesPoint::then`] / [`SeriesPoint::alongside`], [`stats::Tally`]) and used by the run's per-second
//! compaction, the window gates and `loadgen merge`; every statistic (percentiles, success rate, rates) comes
//! from [`stats`]. Secrets stay out: request settings are shown as templates, and header values and bodies are
//! not included.

#[cfg(test)]
pub mod fixtures;
mod gate;
pub mod hdr;
mod hist;
pub mod limit;
mod monitor;
mod series;
pub mod stats;
mod verdict;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use gate::{GateMetric, GateResult, Window};
pub use hist::{Hist, HistSum, reading_a_file};
pub use monitor::{
    MAX_MONITOR_POINTS, MAX_MONITOR_WARNINGS, MonitorEndpoint, MonitorPoint, MonitorResults,
    MonitorSeries, MonitorWarning,
};
pub use series::{SeriesPoint, StepInterval, seconds};
pub use verdict::{Aborted, Outcome, Validity, Verdict};

/// Bumped when a field is removed or changes meaning; adding fields does not bump it.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunResults {
    pub schema_version: u32,
    pub loadgen_version: String,
    pub run_id: String,
    pub scenario: ScenarioInfo,
    pub settings: Settings,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub ended_at: String,
    pub duration_s: f64,
    /// True when the run was stopped by SIGINT/SIGTERM before its duration.
    pub interrupted: bool,
    pub totals: Totals,
    /// One entry per request name, in scenario order.
    pub requests: Vec<RequestStats>,
    /// All requests together (computed from every request, not a sum of rows).
    pub aggregated: RequestStats,
    pub failures: Vec<FailureEntry>,
    pub time_series: Vec<SeriesPoint>,
    pub gates: GateSummary,
    /// loadgen's own health during the run: whether its measurements can be trusted.
    pub generator: Generator,
    /// Whether loadgen kept the plan; an invalid run says nothing certain about the server.
    #[serde(default)]
    pub validity: Validity,
    /// Set by `loadgen merge`: which segments these results combine, and which are missing; null for the
    /// results of one run.
    #[serde(default)]
    pub merged: Option<Merged>,
    /// Set when a failed gate ended the run early (`[gates] abort_on_fail`); null otherwise.
    #[serde(default)]
    pub aborted: Option<Aborted>,
    /// The verdict, as [`crate::verdict::Verdict::of`] decided it when the file was written (readers decide
    /// again from the figures; null in files written before it existed).
    #[serde(default)]
    pub verdict: Option<Verdict>,
    /// Issue 17 item 3: per origin, the addresses connections were opened to and how many (every address a
    /// name resolves to is used); omitted when none is known (older files, reports of other tools).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<OriginAddresses>,
    /// Issue 19 item 2: the changes made to the load from the live UI (`run --ui`), in order; each is a window
    /// of its own that the whole-run gates judge again (`during: "manual N"`). Omitted when none was made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manual: Vec<ManualStage>,
    /// Who stopped an interrupted run: `ui` when it was stopped from the live UI; omitted otherwise (a signal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_by: Option<String>,
    /// Issue 21 item 3: what a limit search (`run --find-limit`) found; omitted for other runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<limit::Limit>,
    /// Issue 21 item 4: the target's own metrics scraped during the run (`[monitor]`); omitted without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<MonitorResults>,
}

/// A change made to the load while the run went (the live UI's steering), from `at_s` to the next change or the
/// end of the run: users moved to `users` at `spawn_rate` (closed models), or iterations started at `rate` per
/// second (an arrival rate).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ManualStage {
    pub at_s: f64,
    #[serde(default)]
    pub users: Option<u64>,
    #[serde(default)]
    pub spawn_rate: Option<f64>,
    #[serde(default)]
    pub rate: Option<f64>,
}

impl ManualStage {
    /// The span of manual stage `n` (from 1) of `stages`, from the start of the run: to the next change, or to
    /// `end_s`.
    pub fn span(stages: &[ManualStage], n: usize, end_s: f64) -> (f64, f64) {
        let Some(stage) = n.checked_sub(1).and_then(|i| stages.get(i)) else {
            return (end_s, end_s);
        };
        let to = stages.get(n).map_or(end_s, |next| next.at_s).min(end_s);
        (stage.at_s.min(end_s), to)
    }
}

/// The addresses connections to one origin were opened to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OriginAddresses {
    /// `scheme://host:port`.
    pub origin: String,
    pub addresses: Vec<AddressCount>,
}

/// Connections opened to one address.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AddressCount {
    /// An IP address and port, e.g. `127.0.0.2:8080` or `[::1]:8080`.
    pub address: String,
    pub connections: u64,
}

impl OriginAddresses {
    /// `a` and `b` together: the connections of the same origin and address added up.
    pub fn merge(lists: &[&[OriginAddresses]]) -> Vec<OriginAddresses> {
        let mut by: BTreeMap<&str, BTreeMap<&str, u64>> = BTreeMap::new();
        for o in lists.iter().flat_map(|l| l.iter()) {
            let e = by.entry(&o.origin).or_default();
            for a in &o.addresses {
                *e.entry(&a.address).or_default() += a.connections;
            }
        }
        by.into_iter()
            .map(|(origin, a)| OriginAddresses {
                origin: origin.to_string(),
                addresses: a
                    .into_iter()
                    .map(|(address, connections)| AddressCount {
                        address: address.to_string(),
                        connections,
                    })
                    .collect(),
            })
            .collect()
    }
}

/// What `loadgen merge` combined.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Merged {
    /// How many segments the plan was cut into.
    pub count: u64,
    /// The indexes of the segments merged, in order.
    pub segments: Vec<u64>,
    /// The indexes of the segments not given to merge: the results then cover only part of the plan.
    pub missing: Vec<u64>,
    /// True when every segment is there.
    pub complete: bool,
    /// The run ids of the merged results, in segment order.
    pub run_ids: Vec<String>,
}

/// CPU and scheduler lag of loadgen itself, and the warnings they call for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Generator {
    /// Cores loadgen could run on.
    pub cores: usize,
    /// loadgen's CPU use, percent of those cores: mean and highest one-second value (null off Linux).
    pub cpu_pct_mean: Option<f64>,
    pub cpu_pct_max: Option<f64>,
    /// The largest scheduler lag seen, ms.
    pub lag_ms_max: f64,
    /// Reasons the latencies may be distorted by loadgen itself; empty when there are none.
    pub warnings: Vec<String>,
}

/// CPU use above which loadgen warns (Locust warns at 90 % too).
pub const CPU_WARN_PCT: f64 = 90.0;
/// Scheduler lag above which loadgen warns, ms.
pub const LAG_WARN_MS: f64 = 10.0;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScenarioInfo {
    pub name: String,
    pub file: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Settings {
    pub host: String,
    /// The most users at once: the ramp's or highest stage's target, or an arrival rate's `max_users`.
    pub users: u64,
    /// Users started per second while ramping up; null for an arrival rate (which starts users as iterations
    /// need them).
    pub spawn_rate: Option<f64>,
    /// The load model: `ramp`, `stages` or `arrival_rate`.
    #[serde(default = "default_load")]
    pub load: String,
    /// The arrival rate, for `load = "arrival_rate"`.
    #[serde(default)]
    pub arrival: Option<ArrivalInfo>,
    /// The `[data]` file: its shape, never its values.
    #[serde(default)]
    pub data: Option<DataInfo>,
    pub duration_s: f64,
    pub timeout_s: f64,
    /// `[target] max_body`: the longest response body kept for a JSON capture (files written before it existed
    /// read as the default).
    #[serde(default = "default_max_body")]
    pub max_body_bytes: u64,
    pub stop_timeout_s: f64,
    /// `per_user` or `shared`.
    pub connections: String,
    /// The load stages, when the scenario has them (`users` is then the highest target).
    #[serde(default)]
    pub stages: Vec<StageInfo>,
    /// The first user class's wait (the only one's, without classes).
    pub wait: WaitInfo,
    /// The user classes, when the scenario defines them (`[classes.NAME]`); empty otherwise.
    #[serde(default)]
    pub classes: Vec<ClassInfo>,
    /// `--iterations`: the run stops after this many task iterations in all.
    #[serde(default)]
    pub max_iterations: Option<u64>,
    /// `--segment I/N`: these results are the I-th of N parts of the plan (the users, rates, iterations and
    /// rows above are this segment's share); null for a whole run, and for merged results.
    #[serde(default)]
    pub segment: Option<Segment>,
    pub requests: Vec<RequestDef>,
}

/// One user class: its share of the users (of an arrival rate's iterations) and its wait.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClassInfo {
    pub name: String,
    pub weight: u32,
    pub wait: WaitInfo,
}

fn default_load() -> String {
    "ramp".into()
}

/// `[target] max_body`'s default (`crate::plan::DEFAULT_MAX_BODY`, which a test keeps equal).
fn default_max_body() -> u64 {
    10 << 20
}

/// An arrival rate: its stages (a constant rate is one stage of 0 s) and how long an iteration may wait for a
/// free user.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ArrivalInfo {
    pub stages: Vec<RateStageInfo>,
    pub queue_timeout_s: f64,
    /// Iterations due over the planned duration.
    pub planned_iterations: u64,
}

/// A test-data file as the results describe it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DataInfo {
    pub file: String,
    pub rows: u64,
    pub columns: Vec<String>,
    /// `unique`, `round_robin` or `random`.
    pub assign: String,
}

/// One stage of an arrival rate: ramp linearly to `rate` iterations per second over `duration_s`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RateStageInfo {
    pub duration_s: f64,
    pub rate: f64,
}

/// One load stage: ramp linearly to `users` over `duration_s`, or at `spawn_rate` users per second and hold.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StageInfo {
    pub duration_s: f64,
    pub users: u64,
    #[serde(default)]
    pub spawn_rate: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WaitInfo {
    /// `none`, `constant` or `between`.
    pub mode: String,
    pub min_s: f64,
    pub max_s: f64,
}

/// A request as the scenario defines it: templates only, never rendered values.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RequestDef {
    pub name: String,
    /// `on_start`, `task`, `on_stop`, or `flow` for a flow's own entry (its steps are `task`s naming it in
    /// `flow`).
    pub kind: String,
    /// The user class it belongs to, when the scenario defines classes.
    #[serde(default)]
    pub class: Option<String>,
    /// For a step of a flow: the flow's name.
    #[serde(default)]
    pub flow: Option<String>,
    pub method: String,
    pub path: String,
    pub weight: u32,
    /// Accepted status codes; absent means any 2xx.
    pub expect_status: Option<Vec<u16>>,
    pub captures: Vec<String>,
    pub header_names: Vec<String>,
    pub restart_session: bool,
    /// This request's own timeout, when it overrides the target's.
    pub timeout_s: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Totals {
    pub requests: u64,
    pub failures: u64,
    /// Percent of requests that met their expectation (100 when there were none).
    pub success_rate: f64,
    pub rps: f64,
    pub failures_per_s: f64,
    /// The most users running at once.
    pub peak_users: u64,
    /// Users still busy at the stop timeout, stopped mid-task (their in-flight requests are `aborted` failures).
    pub aborted_users: u64,
    /// Arrival rate only: iterations started and dropped.
    #[serde(default)]
    pub iterations: Option<Iterations>,
}

/// What became of an arrival rate's iterations.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Iterations {
    /// Due by the end of the run (by the plan, up to when the run ended).
    pub due: u64,
    /// Started on a user.
    pub started: u64,
    /// Due, but no user was free within the queue timeout, or still waiting when the run ended.
    pub dropped: u64,
    /// Iterations started per second over the run.
    pub rate: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RequestStats {
    pub method: String,
    pub name: String,
    pub requests: u64,
    pub failures: u64,
    pub success_rate: f64,
    pub rps: f64,
    pub failures_per_s: f64,
    /// Latencies in milliseconds (microsecond resolution); absent when there were no requests.
    pub min_ms: Option<f64>,
    pub mean_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub percentiles_ms: Option<Percentiles>,
    /// Time to the response headers, same percentiles; null when no request got an answer.
    pub ttfb_percentiles_ms: Option<Percentiles>,
    /// Arrival rate only: the latency percentiles measured from when each request was sent rather than from
    /// when its iteration was due (coordinated omission not corrected); null otherwise.
    #[serde(default)]
    pub uncorrected_percentiles_ms: Option<Percentiles>,
    /// The full latency histogram, µs ([`crate::metrics::hdr`] encoding), from which any percentile can be
    /// recomputed and runs merged; null when no request was timed.
    #[serde(default)]
    pub hdr: Option<Hist>,
    /// The same for the time to the response headers.
    #[serde(default)]
    pub ttfb_hdr: Option<Hist>,
    /// Arrival rate only: the histogram behind `uncorrected_percentiles_ms` (from each request's send), so runs
    /// and segments merge it exactly too; null otherwise.
    #[serde(default)]
    pub uncorrected_hdr: Option<Hist>,
    pub avg_content_bytes: f64,
    /// Count per HTTP status code ("200": 10); requests that got no answer are not here.
    pub status_codes: BTreeMap<String, u64>,
    // Issue 17, items 4 and 5: absent when nothing was redirected or decoded, so older files read the same.
    /// Redirects followed by these requests, in all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirects: Option<u64>,
    /// Answers whose body was decoded (`Content-Encoding`), and those bodies' bytes as received and as decoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoded_bodies: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoded_body_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoded_body_bytes: Option<u64>,
}

impl RequestStats {
    /// Sets the client's counts (absent when zero).
    pub fn with_client(mut self, c: &ClientCounts) -> RequestStats {
        let some = |n: u64| (n > 0).then_some(n);
        self.redirects = some(c.redirects);
        self.decoded_bodies = some(c.decoded);
        self.encoded_body_bytes = self.decoded_bodies.map(|_| c.encoded_bytes);
        self.decoded_body_bytes = self.decoded_bodies.map(|_| c.decoded_bytes);
        self
    }

    /// The client's counts, as [`RequestStats::with_client`] stored them.
    pub fn client(&self) -> ClientCounts {
        ClientCounts {
            redirects: self.redirects.unwrap_or(0),
            decoded: self.decoded_bodies.unwrap_or(0),
            encoded_bytes: self.encoded_body_bytes.unwrap_or(0),
            decoded_bytes: self.decoded_body_bytes.unwrap_or(0),
        }
    }
}

/// The percentiles Locust reports, in ms.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p66: f64,
    pub p75: f64,
    pub p80: f64,
    pub p90: f64,
    pub p95: f64,
    pub p98: f64,
    pub p99: f64,
    pub p99_9: f64,
    pub p99_99: f64,
    pub p100: f64,
}

impl Percentiles {
    /// The value for a whole percentile (50, 90, 95, 99...).
    pub fn get(&self, p: u8) -> Option<f64> {
        Some(match p {
            50 => self.p50,
            66 => self.p66,
            75 => self.p75,
            80 => self.p80,
            90 => self.p90,
            95 => self.p95,
            98 => self.p98,
            99 => self.p99,
            100 => self.p100,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FailureEntry {
    pub method: String,
    pub name: String,
    pub kind: FailureKind,
    pub message: String,
    pub occurrences: u64,
    /// Unix seconds when this failure was first and last seen (to the second the collector drained it).
    #[serde(default)]
    pub first_seen: Option<u64>,
    #[serde(default)]
    pub last_seen: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GateSummary {
    /// True when every gate passed (and true when there are no gates); the run's verdict is `verdict`.
    pub passed: bool,
    pub results: Vec<GateResult>,
    /// With no gate to judge, whether a failed request fails the run (`[gates] fail_on_errors`,
    /// `--no-fail-on-errors`); true in files written before it existed.
    #[serde(default = "yes")]
    pub fail_on_errors: bool,
}

impl GateSummary {
    /// The summary of `results`: `passed` when every gate did.
    pub fn of(results: Vec<GateResult>, fail_on_errors: bool) -> GateSummary {
        GateSummary {
            passed: results.iter().all(|g| g.passed),
            results,
            fail_on_errors,
        }
    }
}

fn yes() -> bool {
    true
}

/// The I-th of N parts of a plan (`--segment I/N`; parsed and applied by [`crate::plan`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// From 0 to `count - 1`.
    pub index: u64,
    pub count: u64,
}

impl std::fmt::Display for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// What the client did beyond one plain exchange (issue 17, items 4 and 5), summed per request name: zero for
/// a run that neither follows redirects nor decodes bodies, and then absent from the results.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientCounts {
    /// Redirects followed.
    pub redirects: u64,
    /// Answers whose body was decoded (`Content-Encoding`), their body bytes as received and as decoded.
    pub decoded: u64,
    pub encoded_bytes: u64,
    pub decoded_bytes: u64,
}

impl ClientCounts {
    /// Adds `other` (saturating).
    pub fn add(&mut self, other: &ClientCounts) {
        self.redirects = self.redirects.saturating_add(other.redirects);
        self.decoded = self.decoded.saturating_add(other.decoded);
        self.encoded_bytes = self.encoded_bytes.saturating_add(other.encoded_bytes);
        self.decoded_bytes = self.decoded_bytes.saturating_add(other.decoded_bytes);
    }
}

/// Why a request did not meet its expectation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The connection could not be made (refused, DNS, unreachable).
    Connect,
    /// No complete answer within the request timeout.
    Timeout,
    /// The connection broke while sending or reading (reset, closed early).
    Connection,
    /// loadgen's machine ran out of something a connection needs: file descriptors (the process's or the
    /// system's limit) or local ports. A limit of the load generator, not an answer of the target.
    Resources,
    /// An answer with a status the step does not accept.
    Status,
    /// The answer lacked a value the step captures.
    Capture,
    /// The answer's JSON body did not hold what the step's `expect.json` asks for.
    Assertion,
    /// Still in flight when the stop timeout ended the run (recorded with the time it had taken so far).
    Aborted,
    /// Redirects that could not be followed: more than the request's `follow_redirects`, a loop, or a
    /// `Location` that is not an http(s) URL (issue 17, item 4).
    Redirect,
    /// A compressed body that could not be decoded: an unknown `Content-Encoding`, or broken data (issue 17,
    /// item 5).
    Decode,
    /// Anything else (a request that could not be built, a body that could not be read).
    Other,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Connect => "connect",
            FailureKind::Timeout => "timeout",
            FailureKind::Connection => "connection",
            FailureKind::Resources => "resources",
            FailureKind::Status => "status",
            FailureKind::Capture => "capture",
            FailureKind::Assertion => "assertion",
            FailureKind::Aborted => "aborted",
            FailureKind::Redirect => "redirect",
            FailureKind::Decode => "decode",
            FailureKind::Other => "other",
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn files_without_max_body_read_as_the_plans_default() {
        assert_eq!(super::default_max_body(), crate::plan::DEFAULT_MAX_BODY);
    }
}
