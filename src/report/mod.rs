//! Building the results of a run, and the formats they are written in.
//!
//! The model itself ([`RunResults`] and what it holds) is [`crate::results`]'s, re-exported here; this module
//! builds it once from the plan and the engine's totals ([`RunResults::build`]), gates, validity and verdict
//! included, and every output (console, JSON, CSV, HTML, JUnit, Markdown) is derived from it, as hyperfine's
//! exporters are.

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
// Issue 21 items 1 and 2: the combined report of several runs.
pub mod suite;
pub mod validate;

#[cfg(test)]
mod fuzz_tests;

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use crate::engine::RunOutcome;
use crate::gates;
use crate::metrics::{FailureKey, Seen, StepStats, round3};
use crate::plan::{Gate, Load, RunPlan, Step, Wait};
use crate::results::stats::Tally;
pub use crate::results::*;

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

impl Generator {
    pub(crate) fn of(series: &[SeriesPoint], cores: usize) -> Generator {
        // The last point covers the stop phase, where every user wakes at once to stop: its lag and CPU say
        // nothing about the measurements, so it is left out when there is anything else.
        let series = match series {
            [rest @ .., _] if !rest.is_empty() => rest,
            all => all,
        };
        // Points weigh as the seconds they cover (one each, unless a long run's series was merged).
        let cpu: Vec<(usize, f64)> = crate::results::seconds(series)
            .filter_map(|(n, p)| p.cpu_pct.map(|c| (n, c)))
            .collect();
        let cpu_secs: usize = cpu.iter().map(|(n, _)| n).sum();
        let cpu_pct_mean = (cpu_secs > 0)
            .then(|| round3(cpu.iter().map(|(n, c)| *n as f64 * c).sum::<f64>() / cpu_secs as f64));
        let cpu_pct_max = cpu.iter().map(|(_, c)| *c).reduce(f64::max);
        let lag_ms_max = series.iter().map(|p| p.lag_ms).fold(0.0, f64::max);
        let secs_where = |f: &dyn Fn(&SeriesPoint) -> bool| -> usize {
            crate::results::seconds(series)
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

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// The statistics of one request name's recorded totals over `secs` seconds.
pub(crate) fn stats(method: &str, name: &str, s: &StepStats, secs: f64) -> RequestStats {
    RequestStats::of(
        method,
        name,
        (s.requests, s.failures, s.bytes as f64),
        [Some(&s.latency), Some(&s.ttfb), Some(&s.uncorrected)],
        s.statuses
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect(),
        secs,
    )
    .with_client(&s.client)
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
        let manual = manual_stages(plan, outcome);
        let end_s = outcome.run_time.as_secs_f64();
        let gate_results = gates::evaluate_with(
            &with_manual_windows(&plan.gates, manual.len()),
            &whole,
            &|w| {
                let span = match w {
                    Window::Manual(n) => {
                        let (a, b) = ManualStage::span(&manual, n, end_s);
                        (secs_duration(a), secs_duration(b))
                    }
                    _ => plan.span(w),
                };
                Some(window_evidence(plan, &outcome.series, span))
            },
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
                                .iteration_share(
                                    due_with_changes(a, planned, &outcome.manual).ceil() as u64,
                                )
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
            gates: GateSummary::of(gate_results, plan.rules.fail_on_errors),
            generator: Generator::of(&outcome.series, outcome.cores),
            validity: crate::validity::Validity::default(),
            merged: None,
            aborted,
            verdict: None,
            addresses: outcome
                .addresses
                .iter()
                .map(|(origin, a)| crate::results::OriginAddresses {
                    origin: origin.clone(),
                    addresses: a
                        .iter()
                        .map(|(addr, n)| crate::results::AddressCount {
                            address: addr.to_string(),
                            connections: *n,
                        })
                        .collect(),
                })
                .collect(),
            manual,
            stopped_by: outcome.stopped_from_ui.then(|| "ui".to_string()),
            // Set by `run --find-limit` from its watch (`crate::limit`).
            limit: None,
            // Added by [`RunResults::with_monitor`] when the scenario has a `[monitor]`.
            monitor: None,
        };
        results.validity = crate::validity::assess(plan, &results);
        results.judge();
        results
    }

    /// Issue 21 item 4: adds what `[monitor]` scraped, judges the monitor gates on it (each over its window of
    /// `plan`) and decides the verdict again.
    pub fn with_monitor(
        mut self,
        plan: &RunPlan,
        monitor: crate::results::MonitorResults,
    ) -> RunResults {
        self.monitor = Some(monitor);
        let mut gates = std::mem::take(&mut self.gates.results);
        gates::judge_monitor(&mut gates, self.monitor.as_ref(), &|w| {
            let (a, b) = plan.span(w);
            (a.as_secs_f64(), b.as_secs_f64())
        });
        self.gates = GateSummary::of(gates, self.gates.fail_on_errors);
        self.judge();
        self
    }

    /// Decides the verdict again from the figures ([`crate::verdict::Verdict::of`]) and stores it in
    /// `verdict`, after anything it depends on changed; returns it.
    pub fn judge(&mut self) -> crate::verdict::Verdict {
        let v = crate::verdict::Verdict::of(self);
        self.verdict = Some(v.clone());
        v
    }
}

/// The iterations an arrival rate made due by `planned` into the run, the rates changed from the live UI
/// included: the plan's schedule to the first change, then each change's constant rate to the next.
fn due_with_changes(
    a: &crate::plan::Arrival,
    planned: Duration,
    manual: &[crate::engine::steer::Manual],
) -> f64 {
    use crate::engine::steer::Change;
    let rates: Vec<(Duration, f64)> = manual
        .iter()
        .filter_map(|m| match m.change {
            Change::Rate(r) => Some((m.at.min(planned), r)),
            Change::Users { .. } => None,
        })
        .collect();
    let Some(&(first, _)) = rates.first() else {
        return a.due_by(planned);
    };
    let mut due = a.due_by(first);
    for (i, &(at, rate)) in rates.iter().enumerate() {
        let to = rates.get(i + 1).map_or(planned, |n| n.0);
        due += rate * to.saturating_sub(at).as_secs_f64();
    }
    due
}

/// Issue 19: the changes made from the live UI, as the results keep them.
fn manual_stages(plan: &RunPlan, outcome: &RunOutcome) -> Vec<ManualStage> {
    use crate::engine::steer::Change;
    outcome
        .manual
        .iter()
        .map(|m| {
            let at_s = round3(m.at.as_secs_f64());
            match m.change {
                Change::Users { users, spawn_rate } => ManualStage {
                    at_s,
                    users: Some(users),
                    spawn_rate: Some(spawn_rate),
                    rate: None,
                },
                Change::Rate(rate) => ManualStage {
                    at_s,
                    users: None,
                    spawn_rate: None,
                    // A segment's share, as the settings give the planned rate.
                    rate: Some(rate * plan.rate_share()),
                },
            }
        })
        .collect()
}

/// `gates`, and each whole-run gate again for each of `manual` changes made from the live UI (issue 19 item 2):
/// a manual stage is judged by the run's gates as a stage of its own (`during: "manual N"`).
pub fn with_manual_windows(gates: &[Gate], manual: usize) -> Vec<Gate> {
    let mut all = gates.to_vec();
    for n in 1..=manual {
        all.extend(
            gates
                .iter()
                .filter(|g| g.window == Window::Run)
                .map(|g| Gate {
                    window: Window::Manual(n),
                    ..g.clone()
                }),
        );
    }
    all
}

fn secs_duration(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::ZERO)
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
    let mut totals: Vec<Tally> = entries.iter().map(|_| Tally::default()).collect();
    let mut prev = 0.0;
    for p in series {
        let mid = (prev + p.elapsed_s) / 2.0;
        prev = p.elapsed_s;
        if mid < a || mid > b {
            continue;
        }
        for (t, i) in totals.iter_mut().zip(&p.by_request) {
            // Within MAX_TOTAL: every histogram of a run, or of a results file read back, is.
            let _ = t.add_interval(i);
        }
    }
    let secs = (b - a).max(1e-3);
    let mut all = Tally::default();
    for (e, t) in entries.iter().zip(&totals) {
        if e.request {
            let _ = all.merge(t);
        }
    }
    let requests = entries
        .iter()
        .zip(&totals)
        .map(|(e, t)| t.stats(e.method, e.name, secs))
        .collect();
    (requests, all.stats("", "Aggregated", secs))
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
            cpu_pct: cpu,
            lag_ms: lag,
            ..crate::results::fixtures::timed(
                crate::results::fixtures::point(1.0),
                &crate::results::fixtures::histogram(&[1000]),
            )
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
            p.hdr = Hist::of_some(&h);
            p.by_request = vec![crate::results::fixtures::interval(s, 0, &h)];
            series.push(p);
            crate::metrics::series::compact(&mut series, &mut levels, 6);
        }
        let ends: Vec<f64> = series.iter().map(|p| p.elapsed_s).collect();
        assert_eq!(ends, [2.0, 4.0, 6.0, 8.0, 9.0, 10.0]);
        let secs = Duration::from_secs;
        let coded = crate::metrics::hdr::CODED.with(|c| c.get());
        let (_, all) = window_evidence(&plan, &series, (secs(0), secs(10)));
        assert_eq!(all.requests, 55);
        // A window takes the points whose middle it holds: 2-4 s (middle 3) and 4-6 s (middle 5).
        let (rows, part) = window_evidence(&plan, &series, (secs(2), secs(6)));
        assert_eq!(
            crate::metrics::hdr::CODED.with(|c| c.get()),
            coded,
            "windows are rebuilt without encoding or decoding a histogram"
        );
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

    /// An arrival rate changed from the live UI: the iterations due follow the plan to the first change, then
    /// each change's rate (so a run steered down is not judged short of the plan's rate, nor one steered up
    /// excused).
    #[test]
    fn iterations_due_follow_the_rates_changed_from_the_ui() {
        use crate::engine::steer::{Change, Manual};
        use crate::plan::{Arrival, RateStage};
        let a = Arrival {
            stages: vec![RateStage {
                duration: Duration::ZERO,
                rate: 10.0,
            }],
            queue_timeout: Duration::from_secs(1),
        };
        let s = Duration::from_secs;
        assert_eq!(due_with_changes(&a, s(60), &[]), 600.0);
        let m = |at: u64, change| Manual { at: s(at), change };
        let changes = [
            m(20, Change::Rate(50.0)),
            // A users change (a closed model's) does not count here.
            m(
                25,
                Change::Users {
                    users: 1,
                    spawn_rate: 1.0,
                },
            ),
            m(30, Change::Rate(1.0)),
        ];
        // 20 s at 10/s, 10 s at 50/s, 30 s at 1/s.
        assert_eq!(due_with_changes(&a, s(60), &changes), 200.0 + 500.0 + 30.0);
        // Interrupted at 25 s: 20 s at 10/s, 5 s at 50/s.
        assert_eq!(due_with_changes(&a, s(25), &changes), 200.0 + 250.0);
    }
}
