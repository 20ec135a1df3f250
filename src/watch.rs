//! Judgments made while the run goes on, as [`Observer`]s of its seconds: the gate watch that ends a run
//! whose gate has already failed (`[gates] abort_on_fail`), and the warning for a target that refuses every
//! connection from the start.
//!
//! The gate watch judges the whole-run gates (directly under `[gates]` and `[gates.requests.NAME]`, and
//! `dropped_iterations`) on the running totals, with the same [`crate::gates::evaluate_with`] and the same
//! statistics ([`Rows`]) as the final results, once a second from `abort_grace` on, as k6 judges a threshold
//! with `abortOnFail` after `delayAbortEval`. A gate fails then as it would at the end with the figures so far;
//! a scope that has had no request yet is not judged (no evidence yet is not a failure yet). Gates on a window
//! (`[gates.steady]`, `[gates.stages.N]`) are judged at the end only. The first gate to fail asks the engine
//! to stop ([`Observer::stop_requested`]): users stop gracefully, as at the end of the duration, every result
//! is written, and the verdict is FAIL with `aborted` set.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::engine::Observer;
use crate::gates;
use crate::metrics::{Collector, FailureKind, SeriesPoint, round3};
use crate::plan::{Gate, Load, RunPlan, Window};
use crate::report::Rows;
use crate::verdict::Aborted;

/// `[gates] abort_on_fail`: judges the whole-run gates every second after the grace, and stops the run at the
/// first that fails.
pub struct GateWatch {
    plan: Arc<RunPlan>,
    gates: Vec<Gate>,
    grace: Duration,
    aborted: Option<Aborted>,
    /// The plan is over (the users are stopping): nothing left to abort.
    over: bool,
    quiet: bool,
}

impl GateWatch {
    /// The watch for `plan`, or `None` when its gates do not say `abort_on_fail`.
    pub fn new(plan: Arc<RunPlan>, quiet: bool) -> Option<GateWatch> {
        let grace = plan.rules.abort_after?;
        // A limit search (issue 21) stops at its first failing step itself (`crate::limit`): the whole-run
        // gates, which a step's failures fail long before it ends, would stop it before it was judged.
        if plan.search.is_some() {
            return None;
        }
        let gates: Vec<Gate> = plan
            .gates
            .iter()
            .filter(|g| g.window == Window::Run && g.skip.is_none())
            .cloned()
            .collect();
        Some(GateWatch {
            plan,
            gates,
            grace,
            aborted: None,
            over: false,
            quiet,
        })
    }

    /// The gate that ended the run, and when.
    pub fn aborted(self) -> Option<Aborted> {
        self.aborted
    }

    fn judge(&self, elapsed: f64, totals: &Collector) -> Option<gates::GateResult> {
        let rows = Rows::of(
            &self.plan.steps,
            &totals.totals,
            &HashMap::new(),
            elapsed.max(1e-3),
        );
        let whole = (rows.requests, rows.aggregated);
        let dropped = matches!(self.plan.load, Load::Arrival(_)).then_some(totals.dropped);
        gates::evaluate_with(&self.gates, &whole, &|_| None, dropped)
            .into_iter()
            .find(|g| !g.passed && g.measured.is_some())
    }
}

impl Observer for GateWatch {
    fn tick(&mut self, p: &SeriesPoint, totals: &Collector) {
        if self.over || self.aborted.is_some() || p.elapsed_s < self.grace.as_secs_f64() {
            return;
        }
        if let Some(gate) = self.judge(p.elapsed_s, totals) {
            let at_s = round3(p.elapsed_s);
            if !self.quiet {
                eprintln!(
                    "aborting at {at_s:.0} s: gate {} failed (measured {}); stopping the users \
                     ([gates] abort_on_fail)",
                    gate.label(),
                    gate.measured_text()
                );
            }
            self.aborted = Some(Aborted { gate, at_s });
        }
    }

    fn stopping(&mut self) {
        self.over = true;
    }

    fn stop_requested(&self) -> bool {
        self.aborted.is_some()
    }
}

/// How long into the run the target is judged unreachable when every request so far failed to connect.
pub const UNREACHABLE_AFTER: Duration = Duration::from_secs(3);

/// Warns once, on stderr, when every request in the first seconds failed to connect: the target is probably
/// not up, or `--host` is wrong.
pub struct TargetWatch {
    host: String,
    demo_hint: bool,
    judged: bool,
}

impl TargetWatch {
    /// `host` as the user may show it (password masked); `demo_hint` adds "--demo" to the advice.
    pub fn new(host: String, demo_hint: bool) -> TargetWatch {
        TargetWatch {
            host,
            demo_hint,
            judged: false,
        }
    }

    fn judge(&mut self, elapsed: f64, totals: &Collector) {
        self.judged = true;
        let (requests, failures) = totals.running_totals();
        if requests == 0
            || failures < requests
            || totals.running_failures_of(FailureKind::Connect) < failures
        {
            return;
        }
        eprintln!(
            "warning: every request in the first {:.0} s failed to connect to {} — is the target up? \
             (check --host URL{})",
            elapsed.max(1.0).floor(),
            self.host,
            if self.demo_hint {
                ", or use --demo for the built-in API"
            } else {
                ""
            }
        );
    }
}

impl Observer for TargetWatch {
    fn tick(&mut self, p: &SeriesPoint, totals: &Collector) {
        if !self.judged && p.elapsed_s >= UNREACHABLE_AFTER.as_secs_f64() {
            self.judge(p.elapsed_s, totals);
        }
    }

    fn stopping(&mut self) {
        // A run over before the window ends is not judged: its summary lists the connect failures anyway, and
        // the stop phase says nothing about the start.
        self.judged = true;
    }
}
