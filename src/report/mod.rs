//! The results model and the formats it is written in.
//!
//! [`RunResults`] is the one plain, serde-serialisable account of a run, built once from the plan and the
//! engine's totals; every output (console, JSON, and later CSV, HTML, JUnit) is derived from it, as hyperfine's
//! exporters are. Its JSON form is a versioned contract (`schema_version`, `docs/results.schema.json`).
//! Secrets stay out: request settings are shown as templates, and header values and bodies are not included.

pub mod console;
pub mod csv;
pub mod html;
pub mod json;
pub mod junit;
pub mod live;
pub mod markdown;
pub mod outputs;
pub mod progress;
pub mod prometheus;
pub mod validate;

#[cfg(test)]
mod fuzz_tests;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::engine::RunOutcome;
use crate::gates::{self, GateResult};
use crate::metrics::{FailureKey, FailureKind, Seen, SeriesPoint, StepStats, hdr, ms, round3};
use crate::plan::{Load, RunPlan, Step, Wait};

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
    pub validity: crate::validity::Validity,
    /// Set by `loadgen merge`: which segments these results combine, and which are missing; null for the
    /// results of one run.
    #[serde(default)]
    pub merged: Option<Merged>,
    /// Set when a failed gate ended the run early (`[gates] abort_on_fail`); null otherwise.
    #[serde(default)]
    pub aborted: Option<crate::verdict::Aborted>,
    /// The verdict, as [`crate::verdict::Verdict::of`] decided it when the file was written (readers decide
    /// again from the figures; null in files written before it existed).
    #[serde(default)]
    pub verdict: Option<crate::verdict::Verdict>,
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

impl Generator {
    fn of(series: &[SeriesPoint], cores: usize) -> Generator {
        // The last point covers the stop phase, where every user wakes at once to stop: its lag and CPU say
        // nothing about the measurements, so it is left out when there is anything else.
        let series = match series {
            [rest @ .., _] if !rest.is_empty() => rest,
            all => all,
        };
        // Points weigh as the seconds they cover (one each, unless a long run's series was merged).
        let cpu: Vec<(usize, f64)> = crate::metrics::series::seconds(series)
            .filter_map(|(n, p)| p.cpu_pct.map(|c| (n, c)))
            .collect();
        let cpu_secs: usize = cpu.iter().map(|(n, _)| n).sum();
        let cpu_pct_mean = (cpu_secs > 0)
            .then(|| round3(cpu.iter().map(|(n, c)| *n as f64 * c).sum::<f64>() / cpu_secs as f64));
        let cpu_pct_max = cpu.iter().map(|(_, c)| *c).reduce(f64::max);
        let lag_ms_max = series.iter().map(|p| p.lag_ms).fold(0.0, f64::max);
        let secs_where = |f: &dyn Fn(&SeriesPoint) -> bool| -> usize {
            crate::metrics::series::seconds(series)
                .filter(|(_, p)| f(p))
                .map(|(n, _)| n)
                .sum()
        };
        let mut warnings = Vec::new();
        if let Some(max) = cpu_pct_max.filter(|m| *m >= CPU_WARN_PCT) {
            let busy = secs_where(&|p| p.cpu_pct.is_some_and(|c| c >= CPU_WARN_PCT));
            warnings.push(format!(
                "loadgen's own CPU reached {max:.0}% of {cores} core(s) ({busy} s at or above {CPU_WARN_PCT:.0}%): \
                 latencies measured then include loadgen's own queuing; run fewer users per machine or give it more cores"
            ));
        }
        if lag_ms_max > LAG_WARN_MS {
            let late = secs_where(&|p| p.lag_ms > LAG_WARN_MS);
            warnings.push(format!(
                "loadgen's scheduler lagged more than {LAG_WARN_MS:.0} ms in {late} of {} s (up to {lag_ms_max:.1} ms): \
                 latencies measured then may be overstated by up to that much",
                secs_where(&|_| true)
            ));
        }
        Generator {
            cores,
            cpu_pct_mean,
            cpu_pct_max,
            lag_ms_max,
            warnings,
        }
    }
}

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
    pub segment: Option<crate::plan::Segment>,
    pub requests: Vec<RequestDef>,
}

/// One user class: its share of the users (of an arrival rate's iterations) and its wait.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClassInfo {
    pub name: String,
    pub weight: u32,
    pub wait: WaitInfo,
}

impl WaitInfo {
    fn of(wait: Wait) -> WaitInfo {
        let (mode, min, max) = match wait {
            Wait::None => ("none", Duration::ZERO, Duration::ZERO),
            Wait::Constant(d) => ("constant", d, d),
            Wait::Between(a, b) => ("between", a, b),
            Wait::Pacing(d) => ("pacing", d, d),
        };
        WaitInfo {
            mode: mode.into(),
            min_s: secs(min),
            max_s: secs(max),
        }
    }
}

impl Settings {
    /// The load in a few words: "100 users at 10/s", "3 stages up to 100 users", "200 iterations/s (at most
    /// 300 users)".
    pub fn load_summary(&self) -> String {
        match (&self.arrival, self.stages.len(), self.spawn_rate) {
            (Some(a), ..) => {
                let peak = a.stages.iter().map(|s| s.rate).fold(0.0, f64::max);
                let shape = if a.stages.len() == 1 && a.stages[0].duration_s == 0.0 {
                    String::new()
                } else {
                    format!(" in {} stages", a.stages.len())
                };
                format!(
                    "{} iterations/s{shape} (at most {} users)",
                    crate::plan::fmt_rate(peak),
                    self.users
                )
            }
            (None, n, _) if n > 0 => format!("{n} stages up to {} users", self.users),
            (None, _, Some(rate)) => format!("{} users at {rate}/s", self.users),
            (None, _, None) => format!("{} users", self.users),
        }
    }
}

fn default_load() -> String {
    "ramp".into()
}

fn default_max_body() -> u64 {
    crate::plan::DEFAULT_MAX_BODY
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
    pub hdr: Option<String>,
    /// The same for the time to the response headers.
    #[serde(default)]
    pub ttfb_hdr: Option<String>,
    /// Arrival rate only: the histogram behind `uncorrected_percentiles_ms` (from each request's send), so runs
    /// and segments merge it exactly too; null otherwise.
    #[serde(default)]
    pub uncorrected_hdr: Option<String>,
    pub avg_content_bytes: f64,
    /// Count per HTTP status code ("200": 10); requests that got no answer are not here.
    pub status_codes: BTreeMap<String, u64>,
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
    pub fn of(h: &Histogram<u64>) -> Self {
        let q = |p: f64| ms(h.value_at_quantile(p));
        Percentiles {
            p50: q(0.50),
            p66: q(0.66),
            p75: q(0.75),
            p80: q(0.80),
            p90: q(0.90),
            p95: q(0.95),
            p98: q(0.98),
            p99: q(0.99),
            p99_9: q(0.999),
            p99_99: q(0.9999),
            p100: ms(h.max()),
        }
    }

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

fn yes() -> bool {
    true
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

pub(crate) fn stats(method: &str, name: &str, s: &StepStats, secs: f64) -> RequestStats {
    let has = s.requests > 0;
    let timed = !s.latency.is_empty();
    RequestStats {
        method: method.to_string(),
        name: name.to_string(),
        requests: s.requests,
        failures: s.failures,
        success_rate: success_rate(s.requests, s.failures),
        rps: round3(s.requests as f64 / secs),
        failures_per_s: round3(s.failures as f64 / secs),
        min_ms: timed.then(|| ms(s.latency.min())),
        mean_ms: timed.then(|| round3(s.latency.mean() / 1000.0)),
        max_ms: timed.then(|| ms(s.latency.max())),
        percentiles_ms: (!s.latency.is_empty()).then(|| Percentiles::of(&s.latency)),
        ttfb_percentiles_ms: (!s.ttfb.is_empty()).then(|| Percentiles::of(&s.ttfb)),
        uncorrected_percentiles_ms: (!s.uncorrected.is_empty())
            .then(|| Percentiles::of(&s.uncorrected)),
        hdr: hdr::encode(&s.latency),
        ttfb_hdr: hdr::encode(&s.ttfb),
        uncorrected_hdr: hdr::encode(&s.uncorrected),
        avg_content_bytes: if has {
            round3(s.bytes as f64 / s.requests as f64)
        } else {
            0.0
        },
        status_codes: s
            .statuses
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect(),
    }
}

fn success_rate(requests: u64, failures: u64) -> f64 {
    if requests == 0 {
        100.0
    } else {
        round3(100.0 * requests.saturating_sub(failures) as f64 / requests as f64)
    }
}

fn secs(d: Duration) -> f64 {
    round3(d.as_secs_f64())
}

/// The statistics of a run so far: what the final results and the live CSV files share.
pub struct Rows {
    /// Per request name, in scenario order.
    pub requests: Vec<RequestStats>,
    pub aggregated: RequestStats,
    /// Grouped by request in scenario order, most frequent first within a request.
    pub failures: Vec<FailureEntry>,
}

/// What a row of the statistics is: its method (or `FLOW`), its name, and whether it is a request (the
/// aggregate counts requests; a flow's own entry times requests already counted).
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub method: &'a str,
    pub name: &'a str,
    pub request: bool,
}

impl<'a> Entry<'a> {
    /// The entries of a plan's steps.
    pub fn of_steps(steps: &'a [Step]) -> Vec<Entry<'a>> {
        steps
            .iter()
            .map(|s| Entry {
                method: s.method_label(),
                name: &s.name,
                request: s.is_request(),
            })
            .collect()
    }

    /// The entries of a results file's rows (a row is a flow when its definition says so).
    pub fn of_results(r: &'a RunResults) -> Vec<Entry<'a>> {
        r.requests
            .iter()
            .enumerate()
            .map(|(i, q)| Entry {
                method: &q.method,
                name: &q.name,
                request: r.settings.requests.get(i).is_none_or(|d| d.kind != "flow"),
            })
            .collect()
    }
}

impl Rows {
    /// The rows of `totals` (one per step of `steps`), with rates over `elapsed` seconds.
    pub fn of(
        steps: &[Step],
        totals: &[StepStats],
        seen: &HashMap<FailureKey, Seen>,
        elapsed: f64,
    ) -> Rows {
        Rows::of_entries(&Entry::of_steps(steps), totals, seen, elapsed)
    }

    /// The rows of `totals` (one per entry), with rates over `elapsed` seconds.
    pub fn of_entries(
        entries: &[Entry<'_>],
        totals: &[StepStats],
        seen: &HashMap<FailureKey, Seen>,
        elapsed: f64,
    ) -> Rows {
        let mut all = StepStats::default();
        let mut requests = Vec::with_capacity(entries.len());
        let mut failures = Vec::new();
        for (i, (e, s)) in entries.iter().zip(totals).enumerate() {
            if e.request {
                all.merge(s);
            }
            requests.push(stats(e.method, e.name, s, elapsed));
            let mut errs: Vec<_> = s.errors.iter().collect();
            errs.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
            failures.extend(errs.into_iter().map(|((kind, message), n)| {
                let seen = seen.get(&(i, *kind, message.clone()));
                FailureEntry {
                    method: e.method.to_string(),
                    name: e.name.to_string(),
                    kind: *kind,
                    message: message.clone(),
                    occurrences: *n,
                    first_seen: seen.map(|s| s.first),
                    last_seen: seen.map(|s| s.last),
                }
            }));
        }
        Rows {
            requests,
            aggregated: stats("", "Aggregated", &all, elapsed),
            failures,
        }
    }
}

impl RunResults {
    /// Builds the results of `outcome` for `plan`, gates and verdict included; `aborted` when a failed gate
    /// ended the run early.
    pub fn build(
        plan: &RunPlan,
        outcome: &RunOutcome,
        aborted: Option<crate::verdict::Aborted>,
    ) -> RunResults {
        let elapsed = outcome.elapsed.as_secs_f64().max(1e-3);
        let Rows {
            requests,
            aggregated,
            failures,
        } = Rows::of(
            &plan.steps,
            &outcome.totals,
            &outcome.failures_seen,
            elapsed,
        );
        let whole = (requests, aggregated);
        let gate_results = gates::evaluate_with(
            &plan.gates,
            &whole,
            &|w| Some(window_evidence(plan, &outcome.series, plan.span(w))),
            outcome_dropped(plan, outcome),
        );
        let (requests, aggregated) = whole;
        let mut results = RunResults {
            schema_version: SCHEMA_VERSION,
            loadgen_version: env!("CARGO_PKG_VERSION").to_string(),
            run_id: outcome.run_id.clone(),
            scenario: ScenarioInfo {
                name: plan.name.clone(),
                file: plan.file.display().to_string(),
            },
            settings: Settings {
                host: plan.host_display(),
                users: plan.users,
                spawn_rate: match plan.load {
                    Load::Ramp { spawn_rate } => Some(spawn_rate),
                    Load::Stages(_) => Some(stages_spawn_rate(plan)),
                    Load::Arrival(_) => None,
                },
                load: plan.load.as_str().into(),
                data: plan.data.as_ref().map(|d| DataInfo {
                    file: d.set.path().display().to_string(),
                    rows: d.set.len() as u64,
                    columns: d.set.columns().to_vec(),
                    assign: d.assign.as_str().into(),
                }),
                arrival: match &plan.load {
                    Load::Arrival(a) => Some(ArrivalInfo {
                        stages: a
                            .stages
                            .iter()
                            .map(|s| RateStageInfo {
                                duration_s: secs(s.duration),
                                // A segment's share of the rate (the whole rate without one).
                                rate: s.rate * plan.rate_share(),
                            })
                            .collect(),
                        queue_timeout_s: secs(a.queue_timeout),
                        planned_iterations: plan
                            .iteration_share(a.due_by(plan.duration).floor() as u64)
                            .min(plan.max_iterations.unwrap_or(u64::MAX)),
                    }),
                    _ => None,
                },
                duration_s: secs(plan.duration),
                timeout_s: secs(plan.timeout),
                max_body_bytes: plan.max_body,
                stop_timeout_s: secs(plan.stop_timeout),
                connections: plan.connections.as_str().into(),
                stages: match &plan.load {
                    Load::Stages(stages) => stages
                        .iter()
                        .map(|s| StageInfo {
                            duration_s: secs(s.duration),
                            users: s.users,
                            spawn_rate: s.spawn_rate,
                        })
                        .collect(),
                    _ => Vec::new(),
                },
                wait: WaitInfo::of(plan.classes.first().map_or(Wait::None, |c| c.wait)),
                classes: if plan.has_classes() {
                    plan.classes
                        .iter()
                        .map(|c| ClassInfo {
                            name: c.name.clone(),
                            weight: c.weight,
                            wait: WaitInfo::of(c.wait),
                        })
                        .collect()
                } else {
                    Vec::new()
                },
                max_iterations: plan.max_iterations,
                segment: plan.segment,
                requests: plan
                    .steps
                    .iter()
                    .map(|s| RequestDef {
                        name: s.name.clone(),
                        kind: s.kind.as_str().into(),
                        class: plan
                            .has_classes()
                            .then(|| plan.classes[s.class].name.clone()),
                        flow: s.flow.map(|f| plan.steps[f].name.clone()),
                        method: s.method_label().to_string(),
                        path: s.path.source().to_string(),
                        weight: s.weight,
                        expect_status: s.expect_status.clone(),
                        captures: s.captures.iter().map(|c| c.name.clone()).collect(),
                        header_names: s.headers.iter().map(|(h, _)| h.to_string()).collect(),
                        restart_session: s.restart_session,
                        timeout_s: s.timeout.map(secs),
                    })
                    .collect(),
            },
            started_at: rfc3339(outcome.started_at),
            ended_at: rfc3339(outcome.ended_at),
            duration_s: round3(elapsed),
            interrupted: outcome.interrupted,
            totals: Totals {
                requests: aggregated.requests,
                failures: aggregated.failures,
                success_rate: aggregated.success_rate,
                rps: aggregated.rps,
                failures_per_s: aggregated.failures_per_s,
                peak_users: outcome.peak_users,
                aborted_users: outcome.aborted_users as u64,
                iterations: match &plan.load {
                    Load::Arrival(a) => {
                        // Due up to when the run's plan ended: its duration, or the interrupt.
                        let planned = outcome.run_time.min(plan.duration);
                        Some(Iterations {
                            due: plan
                                .iteration_share(a.due_by(planned).ceil() as u64)
                                .min(plan.max_iterations.unwrap_or(u64::MAX)),
                            started: outcome.iterations,
                            dropped: outcome.dropped,
                            rate: round3(outcome.iterations as f64 / secs(planned).max(1e-3)),
                        })
                    }
                    _ => None,
                },
            },
            requests,
            aggregated,
            failures,
            time_series: outcome.series.clone(),
            gates: GateSummary {
                passed: gate_results.iter().all(|g| g.passed),
                results: gate_results,
                fail_on_errors: plan.rules.fail_on_errors,
            },
            generator: Generator::of(&outcome.series, outcome.cores),
            validity: crate::validity::Validity::default(),
            merged: None,
            aborted,
            verdict: None,
        };
        results.validity = crate::validity::assess(plan, &results);
        results.judge();
        results
    }

    /// Decides the verdict again from the figures ([`crate::verdict::Verdict::of`]) and stores it in
    /// `verdict`, after anything it depends on changed; returns it.
    pub fn judge(&mut self) -> crate::verdict::Verdict {
        let v = crate::verdict::Verdict::of(self);
        self.verdict = Some(v.clone());
        v
    }
}

/// An arrival rate's dropped iterations (`None` for other loads).
fn outcome_dropped(plan: &RunPlan, outcome: &RunOutcome) -> Option<u64> {
    matches!(plan.load, Load::Arrival(_)).then_some(outcome.dropped)
}

/// The statistics of the seconds of `series` whose middle falls within `span` (from the start of the run),
/// rebuilt from their per-request histograms and counts.
pub fn window_evidence(
    plan: &RunPlan,
    series: &[SeriesPoint],
    (from, to): (Duration, Duration),
) -> gates::Evidence {
    series_window(
        &Entry::of_steps(&plan.steps),
        series,
        (from.as_secs_f64(), to.as_secs_f64()),
    )
}

/// [`window_evidence`] for any rows: `entries` in the order of each point's `by_request`, the span in seconds
/// from the start of the run. A point counts when the middle of the interval it covers falls within the span
/// (points may cover more than a second once a long run's series was merged).
pub fn series_window(
    entries: &[Entry<'_>],
    series: &[SeriesPoint],
    (a, b): (f64, f64),
) -> gates::Evidence {
    let mut totals: Vec<StepStats> = entries.iter().map(|_| StepStats::default()).collect();
    let mut prev = 0.0;
    for p in series {
        let mid = (prev + p.elapsed_s) / 2.0;
        prev = p.elapsed_s;
        if mid < a || mid > b {
            continue;
        }
        for (t, i) in totals.iter_mut().zip(&p.by_request) {
            // Saturating: a results file's counts are bounded, but not how many points add up.
            t.requests = t.requests.saturating_add(i.requests);
            t.failures = t.failures.saturating_add(i.failures);
            t.bytes = t.bytes.saturating_add(i.bytes);
            // Every histogram of a results file was read once when the file was (report::validate).
            if let Some(h) = i.hdr.as_deref().and_then(|h| hdr::decode(h).ok()) {
                let _ = hdr::add(&mut t.latency, &h);
            }
        }
    }
    let rows = Rows::of_entries(entries, &totals, &HashMap::new(), (b - a).max(1e-3));
    (rows.requests, rows.aggregated)
}

/// The fastest ramp of a staged load, users per second (a step counts as its size per second).
fn stages_spawn_rate(plan: &RunPlan) -> f64 {
    let Load::Stages(stages) = &plan.load else {
        return 0.0;
    };
    let mut fastest: f64 = 0.0;
    for (_, from, s) in crate::plan::stage_walk(stages) {
        let rate = match s.spawn_rate {
            Some(r) => r,
            None => {
                let step = (s.users as f64 - from).abs();
                if s.duration.is_zero() {
                    step
                } else {
                    step / s.duration.as_secs_f64()
                }
            }
        };
        fastest = fastest.max(rate);
    }
    round3(fastest.max(0.001))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(cpu: Option<f64>, lag: f64) -> SeriesPoint {
        SeriesPoint {
            elapsed_s: 1.0,
            timestamp: 0,
            users: 1,
            target_users: 1,
            requests: 1,
            failures: 0,
            rps: 1.0,
            failures_per_s: 0.0,
            p50_ms: Some(1.0),
            p95_ms: Some(1.0),
            p99_ms: Some(1.0),
            max_ms: Some(1.0),
            cpu_pct: cpu,
            lag_ms: lag,
            hdr: None,
            by_request: Vec::new(),
            target_rate: None,
            iterations: 0,
            dropped: 0,
        }
    }

    /// A plan with one task, `x`.
    fn one_task_plan() -> RunPlan {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.toml");
        std::fs::write(
            &file,
            "[target]\nhost = \"http://h\"\n[load]\nusers = 1\nduration = \"10s\"\n[[task]]\nname = \"x\"\npath = \"/\"\n",
        )
        .unwrap();
        crate::plan::resolve(
            &crate::scenario::load(&file).unwrap(),
            &crate::plan::Overrides::default(),
        )
        .unwrap()
    }

    #[test]
    fn windows_and_the_generator_read_merged_points_by_their_span() {
        let plan = one_task_plan();
        // Second s has s requests of s ms; the series is merged down to 6 points of uneven spans.
        let (mut series, mut levels) = (Vec::new(), Vec::new());
        for s in 1..=10u64 {
            let mut h = crate::metrics::new_histogram();
            h.record_n(s * 1000, s).unwrap();
            let mut p = point(Some(10.0 * s as f64), 0.0);
            p.elapsed_s = s as f64;
            p.requests = s;
            p.hdr = hdr::encode(&h);
            p.by_request = vec![crate::metrics::StepInterval {
                requests: s,
                failures: 0,
                bytes: 0,
                hdr: hdr::encode(&h),
            }];
            series.push(p);
            crate::metrics::series::compact(&mut series, &mut levels, 6);
        }
        let ends: Vec<f64> = series.iter().map(|p| p.elapsed_s).collect();
        assert_eq!(ends, [2.0, 4.0, 6.0, 8.0, 9.0, 10.0]);
        let secs = Duration::from_secs;
        let (_, all) = window_evidence(&plan, &series, (secs(0), secs(10)));
        assert_eq!(all.requests, 55);
        // A window takes the points whose middle it holds: 2-4 s (middle 3) and 4-6 s (middle 5).
        let (rows, part) = window_evidence(&plan, &series, (secs(2), secs(6)));
        assert_eq!((part.requests, rows[0].requests), (3 + 4 + 5 + 6, 18));
        assert!(
            (part.max_ms.unwrap() - 6.0).abs() < 0.01,
            "{:?}",
            part.max_ms
        );
        // The generator's CPU mean weighs each point by the seconds it covers (the last point left out).
        let g = Generator::of(&series, 1);
        let by_second: f64 = (1..=9).map(|s| 10.0 * s as f64).sum::<f64>() / 9.0;
        assert!(
            (g.cpu_pct_mean.unwrap() - by_second).abs() < 0.01,
            "{:?}",
            g.cpu_pct_mean
        );
    }

    #[test]
    fn generator_warns_on_saturated_cpu_and_scheduler_lag() {
        let calm = Generator::of(
            &[
                point(Some(20.0), 0.5),
                point(Some(40.0), 2.0),
                point(Some(5.0), 0.1),
            ],
            2,
        );
        assert_eq!(calm.cpu_pct_mean, Some(30.0));
        assert_eq!(calm.cpu_pct_max, Some(40.0));
        assert_eq!(calm.lag_ms_max, 2.0);
        assert!(calm.warnings.is_empty(), "{:?}", calm.warnings);

        let busy = Generator::of(
            &[
                point(Some(95.0), 0.5),
                point(None, 25.0),
                point(Some(1.0), 0.0),
            ],
            1,
        );
        assert_eq!(busy.warnings.len(), 2, "{:?}", busy.warnings);
        assert!(busy.warnings[0].contains("CPU reached 95%"));
        assert!(
            busy.warnings[1].contains("in 1 of 2 s (up to 25.0 ms)"),
            "{:?}",
            busy.warnings
        );

        // The final (stop-phase) point alone does not warn.
        let stop = Generator::of(&[point(Some(20.0), 1.0), point(Some(99.0), 80.0)], 1);
        assert!(stop.warnings.is_empty(), "{:?}", stop.warnings);
        assert_eq!(stop.lag_ms_max, 1.0);
    }
}
