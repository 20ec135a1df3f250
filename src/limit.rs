//! Issue 21 item 3: the watch of a limit search (`run --find-limit`), judging each step as it ends.
//!
//! The plan holds the steps as stages ([`crate::plan::Search`]); this [`Observer`] keeps the seconds of the
//! current step's held part, and when the step ends judges them: first loadgen's own validity there (the same
//! rules as [`crate::validity`] for a whole run: scheduler lag, users or iterations short of the plan), since
//! a step loadgen could not keep says nothing about the target; then the scenario's whole-run gates (those
//! under `[gates]`, `[gates.requests.NAME]` and `[gates.steady]`) on the step's statistics, rebuilt from the
//! per-second histograms with [`crate::report::series_window`], as every window gate is. Without such gates a
//! step fails on any failed request, as a run does (Locust's rule). The first step that fails asks the engine
//! to stop ([`Observer::stop_requested`]); the results are written as for any run, with [`Limit`] beside them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::engine::Observer;
use crate::gates;
use crate::metrics::{Collector, SeriesPoint, round3};
use crate::plan::{Gate, GateMetric, Load, RunPlan, Search, SearchStep, Window};
use crate::report::{Entry, series_window};
use crate::results::limit::{
    Limit, LimitEndpoint, LimitStep, STOPPED_ENDED, STOPPED_GATE, STOPPED_GENERATOR, STOPPED_MAX,
};
use crate::results::{GateResult, Iterations};

/// A step's judgment.
struct Judged {
    step: LimitStep,
    gates: Vec<GateResult>,
    generator: Vec<String>,
    endpoints: Vec<LimitEndpoint>,
    kinds: BTreeMap<String, u64>,
}

/// Judges each step of a limit search as it ends, and stops the run at the first that fails.
pub struct LimitWatch {
    plan: Arc<RunPlan>,
    search: Search,
    gates: Vec<Gate>,
    /// The step being run (index into `search.steps`).
    next: usize,
    /// The current step's held seconds, their times made relative to its hold.
    held: Vec<SeriesPoint>,
    /// The failures by kind when the current step's hold began.
    kinds_at_hold: Option<BTreeMap<String, u64>>,
    prev_elapsed: f64,
    judged: Vec<Judged>,
    failed: bool,
    /// When the plan ended (its duration, an interrupt): a step ending later is not judged.
    over_at: Option<f64>,
    quiet: bool,
}

impl LimitWatch {
    /// The watch of `plan`'s search, or `None` when it is not one.
    pub fn new(plan: Arc<RunPlan>, quiet: bool) -> Option<LimitWatch> {
        let search = plan.search.clone()?;
        let gates = step_gates(&plan);
        // A step held from the start (an arrival rate's first) counts its failures from none.
        let kinds_at_hold = search
            .steps
            .first()
            .filter(|s| s.hold_from.is_zero())
            .map(|_| BTreeMap::new());
        Some(LimitWatch {
            plan,
            search,
            gates,
            next: 0,
            held: Vec::new(),
            kinds_at_hold,
            prev_elapsed: 0.0,
            judged: Vec::new(),
            failed: false,
            over_at: None,
            quiet,
        })
    }

    /// What the search found.
    pub fn finish(self) -> Limit {
        let s = &self.search;
        let highest_passing = self
            .judged
            .iter()
            .filter(|j| j.step.passed)
            .map(|j| j.step.clone())
            .next_back();
        let failing = self.judged.iter().find(|j| !j.step.passed);
        let stopped_because = match failing {
            Some(j) if !j.generator.is_empty() => STOPPED_GENERATOR,
            Some(_) => STOPPED_GATE,
            None if self.judged.len() == s.steps.len() => STOPPED_MAX,
            None => STOPPED_ENDED,
        };
        Limit {
            unit: s.unit().into(),
            start: s.start,
            step: s.step,
            max: s.max,
            hold_s: s.hold.as_secs_f64(),
            steps: self.judged.iter().map(|j| j.step.clone()).collect(),
            highest_passing,
            first_failing: failing.map(|j| j.step.clone()),
            failed_gates: failing
                .map(|j| j.gates.iter().filter(|g| !g.passed).cloned().collect())
                .unwrap_or_default(),
            endpoints: failing.map(|j| j.endpoints.clone()).unwrap_or_default(),
            failure_kinds: failing.map(|j| j.kinds.clone()).unwrap_or_default(),
            stopped_because: stopped_because.into(),
            generator: failing.map(|j| j.generator.clone()).unwrap_or_default(),
        }
    }

    fn judge(&mut self, step: SearchStep, totals: &Collector) {
        let (from, to) = (step.hold_from.as_secs_f64(), step.end.as_secs_f64());
        let entries = Entry::of_steps(&self.plan.steps);
        let (rows, all) = series_window(&entries, &self.held, (0.0, to - from));
        let dropped: u64 = self.held.iter().map(|p| p.dropped).sum();
        let iterations = matches!(self.plan.load, Load::Arrival(_)).then(|| {
            let started: u64 = self.held.iter().map(|p| p.iterations).sum();
            Iterations {
                due: (step.level * (to - from)).floor() as u64,
                started,
                dropped,
                rate: round3(started as f64 / (to - from).max(1e-3)),
            }
        });
        let generator =
            crate::validity::of_part(&self.plan, &self.held, iterations.as_ref()).reasons;
        let is_arrival = iterations.is_some();
        let evidence = (rows, all);
        let results = gates::evaluate_with(
            &self.gates,
            &evidence,
            &|_| None,
            is_arrival.then_some(dropped),
        );
        let (rows, all) = evidence;
        let passed = generator.is_empty() && results.iter().all(|g| g.passed);
        let mut endpoints: Vec<LimitEndpoint> = rows
            .iter()
            .zip(&entries)
            .filter(|(r, e)| e.request && r.failures > 0)
            .map(|(r, _)| LimitEndpoint {
                name: r.name.clone(),
                requests: r.requests,
                failures: r.failures,
                p95_ms: r.percentiles_ms.as_ref().map(|p| p.p95),
            })
            .collect();
        endpoints.sort_by(|a, b| b.failures.cmp(&a.failures).then(a.name.cmp(&b.name)));
        let now = failure_kinds(&self.plan, totals);
        let before = self.kinds_at_hold.take().unwrap_or_default();
        let kinds = now
            .into_iter()
            .filter_map(|(k, n)| {
                let d = n.saturating_sub(before.get(&k).copied().unwrap_or(0));
                (d > 0).then_some((k, d))
            })
            .collect();
        let judged = Judged {
            step: LimitStep {
                level: step.level,
                stage: step.stage,
                from_s: round3(from),
                to_s: round3(to),
                passed,
                requests: all.requests,
                failures: all.failures,
                rps: all.rps,
                p95_ms: all.percentiles_ms.as_ref().map(|p| p.p95),
            },
            gates: results,
            generator,
            endpoints,
            kinds,
        };
        if !self.quiet {
            let level = crate::results::limit::fmt_level(step.level);
            let unit = self.search.unit();
            let what = if passed {
                "passed".to_string()
            } else if !judged.generator.is_empty() {
                "loadgen could not keep this load: the generator is the limit".to_string()
            } else {
                let failed: Vec<String> = judged
                    .gates
                    .iter()
                    .filter(|g| !g.passed)
                    .map(|g| format!("{} (measured {})", g.label(), g.measured_text()))
                    .collect();
                format!("failed: {}", failed.join(", "))
            };
            eprintln!(
                "find-limit: step {} of {}, {level} {unit}: {what}",
                self.next + 1,
                self.search.steps.len()
            );
        }
        self.failed = !passed;
        self.judged.push(judged);
    }
}

impl Observer for LimitWatch {
    fn tick(&mut self, p: &SeriesPoint, totals: &Collector) {
        let prev = std::mem::replace(&mut self.prev_elapsed, p.elapsed_s);
        if self.failed {
            return;
        }
        let Some(&step) = self.search.steps.get(self.next) else {
            return;
        };
        let (from, to) = (step.hold_from.as_secs_f64(), step.end.as_secs_f64());
        if self.kinds_at_hold.is_none() && p.elapsed_s >= from {
            self.kinds_at_hold = Some(failure_kinds(&self.plan, totals));
        }
        // As every window: a point counts when the middle of the interval it covers falls within the span.
        let mid = (prev + p.elapsed_s) / 2.0;
        if mid >= from && mid <= to {
            let mut point = p.clone();
            point.elapsed_s -= from;
            self.held.push(point);
        }
        if p.elapsed_s >= to {
            // A step cut short by the end of the plan (an interrupt, --duration) is not judged.
            if self.over_at.is_none_or(|at| to <= at + 1.0) {
                self.judge(step, totals);
            }
            self.held.clear();
            self.next += 1;
            // The next step's hold may begin right away (an arrival rate's does): its failures count from now.
            if let Some(n) = self.search.steps.get(self.next)
                && p.elapsed_s >= n.hold_from.as_secs_f64()
            {
                self.kinds_at_hold = Some(failure_kinds(&self.plan, totals));
            }
        }
    }

    fn stopping(&mut self) {
        self.over_at.get_or_insert(self.prev_elapsed);
    }

    fn stop_requested(&self) -> bool {
        self.failed
    }
}

/// The gates each step is judged by: the whole-run and steady-part gates, on the step's held part; without
/// any, a success rate of 100 % when failed requests fail a run (they do unless `fail_on_errors` is off, which
/// resolution refuses for a search without gates).
pub fn step_gates(plan: &RunPlan) -> Vec<Gate> {
    let gates: Vec<Gate> = plan
        .gates
        .iter()
        .filter(|g| matches!(g.window, Window::Run | Window::Steady) && g.skip.is_none())
        .map(|g| Gate {
            window: Window::Run,
            ..g.clone()
        })
        .collect();
    if gates.is_empty() && plan.rules.fail_on_errors {
        return vec![Gate {
            scope: None,
            window: Window::Run,
            metric: GateMetric::SuccessRate,
            threshold: 100.0,
            skip: None,
        }];
    }
    gates
}

/// The failures so far by kind, requests only.
fn failure_kinds(plan: &RunPlan, totals: &Collector) -> BTreeMap<String, u64> {
    let entries = Entry::of_steps(&plan.steps);
    let mut kinds: HashMap<&'static str, u64> = HashMap::new();
    for (s, e) in totals.totals.iter().zip(&entries) {
        if !e.request {
            continue;
        }
        for ((kind, _), n) in &s.errors {
            *kinds.entry(kind.as_str()).or_default() += n;
        }
    }
    kinds.into_iter().map(|(k, n)| (k.to_string(), n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::fixtures;

    /// Users 10, 20, 30, each reached in 1 s and held 2 s: steps over 0-3 s, 3-6 s and 6-9 s, judged on
    /// 1-3 s, 4-6 s and 7-9 s.
    fn plan(extra: &str) -> Arc<RunPlan> {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("l.toml");
        std::fs::write(
            &file,
            format!(
                "[target]\nhost = \"http://h\"\n[load]\nsearch = {{ start = 10, step = 10, max = 30, hold = \"2s\" }}\n\
                 [[task]]\nname = \"x\"\npath = \"/\"\n{extra}"
            ),
        )
        .expect("write");
        let loaded = crate::scenario::load(&file).expect("load");
        Arc::new(crate::plan::resolve(&loaded, &crate::plan::Overrides::default()).expect("plan"))
    }

    /// Second `s` of a run at `users`, with 10 requests of which `failures` failed, and the scheduler `lag_ms`
    /// late.
    fn second(s: u64, users: u64, failures: u64, lag_ms: f64) -> SeriesPoint {
        let h = fixtures::histogram(&[1000; 10]);
        SeriesPoint {
            users,
            target_users: users,
            lag_ms,
            requests: 10,
            failures,
            by_request: vec![fixtures::interval(10, failures, &h)],
            ..fixtures::timed(fixtures::point(s as f64), &h)
        }
    }

    /// Runs `watch` over seconds 1..=9 at the plan's users, `bad` deciding each second's failures and lag;
    /// returns the seconds after which it asked to stop.
    fn feed(watch: &mut LimitWatch, bad: impl Fn(u64) -> (u64, f64)) -> Option<u64> {
        let totals = Collector::new(1, std::time::Instant::now());
        for s in 1..=9u64 {
            let users = 10 * s.div_ceil(3);
            let (failures, lag) = bad(s);
            watch.tick(&second(s, users, failures, lag), &totals);
            if watch.stop_requested() {
                return Some(s);
            }
        }
        None
    }

    #[test]
    fn the_first_step_that_fails_a_gate_ends_the_search() {
        let mut w = LimitWatch::new(plan("[gates]\nsuccess_rate = 90"), true).expect("a search");
        // Failures in seconds 8 and 9: the third step's held part (7-9 s), 5 of 10 requests each.
        let stopped = feed(&mut w, |s| (if s >= 8 { 5 } else { 0 }, 0.0));
        assert_eq!(stopped, Some(9));
        let l = w.finish();
        assert_eq!(l.stopped_because, STOPPED_GATE);
        assert_eq!(l.steps.len(), 3);
        assert_eq!(
            l.steps.iter().map(|s| s.requests).collect::<Vec<_>>(),
            [20, 20, 20],
            "each step is judged on its 2 held seconds"
        );
        assert_eq!(l.highest_passing.as_ref().map(|s| s.level), Some(20.0));
        let f = l.first_failing.as_ref().expect("a failing step");
        assert_eq!((f.level, f.stage, f.failures), (30.0, 3, 10));
        assert_eq!(l.failed_gates.len(), 1);
        assert_eq!(l.failed_gates[0].measured, Some(50.0));
        assert_eq!(l.endpoints[0].name, "x");
        assert!(l.line().starts_with("the limit is between 20 and 30 users"));
    }

    /// `abort_on_fail` would stop the search mid-step on the whole-run gates; the search stops itself.
    #[test]
    fn abort_on_fail_leaves_a_search_to_its_own_watch() {
        let gates = "[gates]\nsuccess_rate = 90\nabort_on_fail = true";
        assert!(
            plan(gates).rules.abort_after.is_some(),
            "the scenario asks for it"
        );
        assert!(crate::watch::GateWatch::new(plan(gates), true).is_none());
        assert!(LimitWatch::new(plan(gates), true).is_some());
    }

    #[test]
    fn a_step_loadgen_could_not_keep_makes_the_generator_the_limit() {
        // The default [validity] max_lag is 100 ms: both held seconds of the second step are late.
        let mut w = LimitWatch::new(plan(""), true).expect("a search");
        let stopped = feed(&mut w, |s| {
            (0, if (5..=6).contains(&s) { 500.0 } else { 1.0 })
        });
        assert_eq!(stopped, Some(6));
        let l = w.finish();
        assert_eq!(l.stopped_because, STOPPED_GENERATOR);
        assert_eq!(l.first_failing.as_ref().map(|s| s.level), Some(20.0));
        assert!(l.generator[0].contains("lagged"), "{:?}", l.generator);
        assert!(l.failed_gates.is_empty(), "the target was not what failed");
    }

    #[test]
    fn without_gates_a_failed_request_fails_a_step_and_every_step_passing_reaches_max() {
        let mut w = LimitWatch::new(plan(""), true).expect("a search");
        assert_eq!(feed(&mut w, |_| (0, 0.0)), None);
        let l = w.finish();
        assert_eq!(l.stopped_because, STOPPED_MAX);
        assert_eq!(l.highest_passing.as_ref().map(|s| s.level), Some(30.0));

        let mut w = LimitWatch::new(plan(""), true).expect("a search");
        assert_eq!(feed(&mut w, |s| (u64::from(s == 2), 0.0)), Some(3));
        let l = w.finish();
        assert_eq!(l.failed_gates[0].threshold, 100.0);
        assert!(l.highest_passing.is_none());
        assert!(
            l.line()
                .starts_with("even the first step failed, at 10 users")
        );
    }
}
