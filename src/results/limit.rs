//! Issue 21 item 3: what a limit search (`run --find-limit`) found, as the results keep it: each step judged,
//! the highest level that passed, the first that failed and what failed there.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::GateResult;

/// Why a limit search ended.
pub const STOPPED_GATE: &str = "gate";
/// loadgen itself could not keep the step's load (its scheduler lagged, users or iterations fell short).
pub const STOPPED_GENERATOR: &str = "generator";
/// Every step up to `max` passed.
pub const STOPPED_MAX: &str = "max";
/// The run ended before a step failed or the last was judged (an interrupt, `--duration`).
pub const STOPPED_ENDED: &str = "ended";

/// The outcome of a limit search.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Limit {
    /// What the levels count: `users` or `iterations/s`.
    pub unit: String,
    pub start: f64,
    pub step: f64,
    pub max: f64,
    /// How long each step held its level, seconds.
    pub hold_s: f64,
    /// Every step judged, in order.
    pub steps: Vec<LimitStep>,
    /// The highest level that passed (null when the first step failed).
    pub highest_passing: Option<LimitStep>,
    /// The step that ended the search (null when every step passed, or the run ended first).
    pub first_failing: Option<LimitStep>,
    /// The gates that failed on the first failing step.
    pub failed_gates: Vec<GateResult>,
    /// The endpoints with failed requests in the first failing step, most failures first.
    pub endpoints: Vec<LimitEndpoint>,
    /// The failures of the first failing step by kind (`status`, `timeout`, ...).
    pub failure_kinds: BTreeMap<String, u64>,
    /// `gate`, `generator` (loadgen could not keep the step's load: it, not the target, is the limit), `max`
    /// (every step passed) or `ended` (the run ended first).
    pub stopped_because: String,
    /// Why the generator was the limit, when it was.
    #[serde(default)]
    pub generator: Vec<String>,
}

/// One step of a search, as judged on its held part.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LimitStep {
    /// Users, or iterations per second.
    pub level: f64,
    /// The stage (from 1) of the results that holds it.
    pub stage: usize,
    /// The judged part, seconds from the start of the run.
    pub from_s: f64,
    pub to_s: f64,
    pub passed: bool,
    pub requests: u64,
    pub failures: u64,
    pub rps: f64,
    pub p95_ms: Option<f64>,
}

/// An endpoint's failures in a step.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LimitEndpoint {
    pub name: String,
    pub requests: u64,
    pub failures: u64,
    pub p95_ms: Option<f64>,
}

impl Limit {
    /// The answer in a line: "the limit is between 20 and 25 users: at 25, gate success_rate >= 99 failed".
    pub fn line(&self) -> String {
        let unit = &self.unit;
        let lvl = |s: &LimitStep| fmt_level(s.level);
        match (
            self.stopped_because.as_str(),
            &self.highest_passing,
            &self.first_failing,
        ) {
            (STOPPED_GENERATOR, pass, Some(f)) => format!(
                "loadgen itself was the limit at {} {unit}{}: the target was not judged there",
                lvl(f),
                pass.as_ref()
                    .map(|p| format!(" (the target passed at {} {unit})", lvl(p)))
                    .unwrap_or_default()
            ),
            (STOPPED_GATE, Some(p), Some(f)) => format!(
                "the limit is between {} and {} {unit}: at {}, {}",
                lvl(p),
                lvl(f),
                lvl(f),
                self.what_failed()
            ),
            (STOPPED_GATE, None, Some(f)) => format!(
                "even the first step failed, at {} {unit}: {}",
                lvl(f),
                self.what_failed()
            ),
            (STOPPED_MAX, Some(p), _) => {
                format!("no limit found: every step passed, up to {} {unit}", lvl(p))
            }
            (_, p, _) => format!(
                "the run ended before a step failed{}",
                p.as_ref()
                    .map(|p| format!(" (the highest passing: {} {unit})", lvl(p)))
                    .unwrap_or_default()
            ),
        }
    }

    /// "gate p95 < 500 ms failed (measured 812 ms)", with the others counted.
    fn what_failed(&self) -> String {
        match self.failed_gates.as_slice() {
            [] => "requests failed".into(),
            [g, rest @ ..] => format!(
                "gate {} failed (measured {}){}",
                g.label(),
                g.measured_text(),
                if rest.is_empty() {
                    String::new()
                } else {
                    format!(" and {} more", rest.len())
                }
            ),
        }
    }
}

/// A level as written: `25`, `12.5`.
pub fn fmt_level(l: f64) -> String {
    if l.fract() == 0.0 {
        format!("{l:.0}")
    } else {
        format!("{}", (l * 1000.0).round() / 1000.0)
    }
}
