//! What the results say of themselves: whether loadgen kept its plan ([`Validity`], judged by
//! [`crate::validity`]), and the verdict ([`Verdict`], decided by [`crate::verdict`] and nowhere else).

use serde::{Deserialize, Serialize};

use super::GateResult;

/// Whether the run kept its plan, as the results file carries it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Validity {
    pub valid: bool,
    /// Why the run is invalid, each with what to do about it; empty for a valid run.
    pub reasons: Vec<String>,
}

impl Default for Validity {
    fn default() -> Self {
        Validity {
            valid: true,
            reasons: Vec::new(),
        }
    }
}

/// What a run came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    Fail,
    Invalid,
    Interrupted,
}

impl Outcome {
    /// The word the reports show: PASS, FAIL, INVALID, INTERRUPTED.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::Invalid => "INVALID",
            Outcome::Interrupted => "INTERRUPTED",
        }
    }
}

/// The verdict and its reason, as the results file carries it (`verdict`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub result: Outcome,
    /// Why, in a few words: "all 4 gates passed", "no gates; 37 of 1,200 requests failed".
    pub reason: String,
    /// The exit code `run` and `merge` end with for it.
    pub exit_code: u8,
}

/// A run ended early by a failed gate (`[gates] abort_on_fail`): the gate as judged then, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Aborted {
    /// The gate that failed, with the value measured on the running totals when it was judged.
    pub gate: GateResult,
    /// Seconds from the start of the run.
    pub at_s: f64,
}
