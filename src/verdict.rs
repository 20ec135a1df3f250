//! The verdict of a run: pass, fail, invalid or interrupted, and why, decided here and nowhere else.
//!
//! [`Verdict::of`] reads a [`RunResults`] (of a run, a merge, or a saved file) and returns the outcome with its
//! reason; the exit code of `run` and `merge` is its [`Verdict::exit_status`], and every format shows it
//! rather than judging for itself (the console's `Result:` line, the Markdown and HTML headings, JUnit's
//! "run completed" case, the results file's `verdict`).
//!
//! The rules, first match wins:
//! 1. interrupted (SIGINT/SIGTERM, or the live UI's Stop button) → INTERRUPTED, exit 130;
//! 2. a limit search (`run --find-limit`, [`crate::limit`]) is judged by what it found: PASS (exit 0) when it
//!    found the limit (or every step passed), FAIL (exit 1) when even its first step failed, INVALID (exit 3)
//!    when loadgen itself was the limit; the whole-run gates, which the failing step fails too, are shown but
//!    do not decide;
//! 3. loadgen could not keep its plan ([`crate::validity`]) → INVALID, exit 3: the figures are no verdict on
//!    the server;
//! 4. ended early by a failed gate (`[gates] abort_on_fail`) → FAIL, exit 1;
//! 5. with at least one gate judged (skipped gates do not count): FAIL (exit 1) when one failed, else PASS;
//! 6. with no gate to judge, as Locust does: FAIL (exit 1) when any request failed, or when no request was
//!    made at all, unless `fail_on_errors` is off (`[gates] fail_on_errors = false`, `--no-fail-on-errors`).

use crate::ExitStatus;
pub use crate::results::{Aborted, Outcome, Verdict};
use crate::results::{GateResult, RunResults};

impl Verdict {
    /// The verdict on `r`.
    pub fn of(r: &RunResults) -> Verdict {
        let (result, reason) = judge(r);
        let mut v = Verdict {
            result,
            reason,
            exit_code: 0,
        };
        v.exit_code = v.exit_status().code();
        v
    }

    pub fn exit_status(&self) -> ExitStatus {
        match self.result {
            Outcome::Pass => ExitStatus::Pass,
            Outcome::Fail => ExitStatus::GatesFailed,
            Outcome::Invalid => ExitStatus::Invalid,
            Outcome::Interrupted => ExitStatus::Interrupted,
        }
    }

    /// The one final line of the console summary: `Result: FAIL (2 of 4 gates failed)`.
    pub fn line(&self) -> String {
        format!("Result: {} ({})", self.result.word(), self.reason)
    }
}

fn judge(r: &RunResults) -> (Outcome, String) {
    let gates = gates_text(&r.gates.results);
    let with_gates = |s: String| match &gates {
        Some(g) => format!("{s}; {g}"),
        None => s,
    };
    if r.interrupted {
        let planned = r.settings.duration_s;
        return (
            Outcome::Interrupted,
            with_gates(format!(
                "stopped{} after {:.1} s of {}; the figures cover what ran",
                if r.stopped_by.as_deref() == Some("ui") {
                    " from the live UI"
                } else {
                    ""
                },
                r.duration_s,
                if planned > 0.0 {
                    format!("{planned:.0} s")
                } else {
                    "the plan".into()
                }
            )),
        );
    }
    if let Some(limit) = &r.limit {
        use crate::results::limit::{STOPPED_GATE, STOPPED_GENERATOR};
        let outcome = match limit.stopped_because.as_str() {
            STOPPED_GENERATOR => Outcome::Invalid,
            STOPPED_GATE if limit.highest_passing.is_none() => Outcome::Fail,
            _ => Outcome::Pass,
        };
        return (outcome, limit.line());
    }
    if !r.validity.valid {
        return (
            Outcome::Invalid,
            with_gates(
                "loadgen could not keep the plan, so the figures are no verdict on the server"
                    .into(),
            ),
        );
    }
    if let Some(a) = &r.aborted {
        return (
            Outcome::Fail,
            format!(
                "aborted at {:.0} s: gate {} failed (measured {})",
                a.at_s,
                a.gate.label(),
                a.gate.measured_text()
            ),
        );
    }
    let judged = r.gates.results.iter().filter(|g| g.skipped.is_none());
    if judged.clone().next().is_some() {
        let failed = judged.filter(|g| !g.passed).count();
        let outcome = if failed == 0 {
            Outcome::Pass
        } else {
            Outcome::Fail
        };
        return (outcome, gates.unwrap_or_default());
    }
    // No gate to judge: Locust's rule, any failed request fails the run.
    let (requests, failures) = (r.totals.requests, r.totals.failures);
    let skipped = r.gates.results.len();
    let lead = if skipped == 0 {
        "no gates".to_string()
    } else {
        format!("no gate judged, {skipped} skipped")
    };
    let (bad, what) = if requests == 0 {
        (true, "no request was made".to_string())
    } else if failures > 0 {
        (
            true,
            format!(
                "{} of {} requests failed",
                thousands(failures),
                thousands(requests)
            ),
        )
    } else {
        (
            false,
            format!("all {} requests succeeded", thousands(requests)),
        )
    };
    match (bad, r.gates.fail_on_errors) {
        (true, true) => (Outcome::Fail, format!("{lead}; {what}")),
        (true, false) => (
            Outcome::Pass,
            format!("{lead}; {what}, allowed: fail_on_errors is off"),
        ),
        (false, _) => (Outcome::Pass, format!("{lead}; {what}")),
    }
}

/// "all 4 gates passed", "1 of 4 gates failed", with the skipped ones; `None` without gates.
fn gates_text(results: &[GateResult]) -> Option<String> {
    if results.is_empty() {
        return None;
    }
    let skipped = results.iter().filter(|g| g.skipped.is_some()).count();
    let judged = results.len() - skipped;
    let failed = results
        .iter()
        .filter(|g| g.skipped.is_none() && !g.passed)
        .count();
    let plural = |n: usize| if n == 1 { "gate" } else { "gates" };
    let mut s = match (judged, failed) {
        (0, _) => String::new(),
        (1, 0) => "the gate passed".into(),
        (n, 0) => format!("all {n} gates passed"),
        (n, f) => format!("{f} of {n} {} failed", plural(n)),
    };
    if skipped > 0 {
        if !s.is_empty() {
            s.push_str(", ");
        }
        s.push_str(&format!("{skipped} {} skipped", plural(skipped)));
    }
    Some(s)
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests;
