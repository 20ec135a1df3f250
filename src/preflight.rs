//! Pre-flight checks: the scenario's `[preflight]` requests, run against the target before any load.
//!
//! A run against a target that is not ready (still starting, a dependency down) is a wasted run, not a failed
//! gate. Each attempt runs the checks in order with one user of their own (captures carry from one check to
//! the next, as in `on_start`); the first attempt where every check passes lets the run start. Attempts go on
//! every `interval` until `timeout`; then no load is sent and the run ends with exit code 4, naming the check
//! that failed and why. The checks' requests are not part of the run's statistics.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::engine::ProbeError;
use crate::plan::{Preflight, RunPlan};

/// How the checks went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every check passed, at this attempt (from 1).
    Ready { attempts: u32, took: Duration },
    /// Still failing at the timeout: the last failure, as "check `name`: reason".
    NotReady { attempts: u32, reason: String },
}

/// Runs the checks of `plan` until they pass or their timeout ends. Stops early (as not ready) when `stop` is
/// cancelled (an interrupt).
pub async fn run(
    plan: &RunPlan,
    preflight: &Preflight,
    stop: &CancellationToken,
    mut on_failure: impl FnMut(u32, &str),
) -> Verdict {
    let started = Instant::now();
    let deadline = started + preflight.timeout;
    let mut attempts = 0;
    loop {
        attempts += 1;
        match attempt(plan, preflight).await {
            Ok(()) => {
                return Verdict::Ready {
                    attempts,
                    took: started.elapsed(),
                };
            }
            Err(reason) => {
                on_failure(attempts, &reason);
                let next = Instant::now() + preflight.interval;
                if next >= deadline || stop.is_cancelled() {
                    return Verdict::NotReady { attempts, reason };
                }
                tokio::select! {
                    _ = tokio::time::sleep_until(next.into()) => {}
                    _ = stop.cancelled() => return Verdict::NotReady { attempts, reason },
                }
            }
        }
    }
}

/// One attempt: every check in order, as one fresh user ([`crate::engine::probe`]); the first failure's reason.
async fn attempt(plan: &RunPlan, preflight: &Preflight) -> Result<(), String> {
    match crate::engine::probe(plan, &preflight.checks).await {
        Ok(()) => Ok(()),
        Err(ProbeError::Setup(e)) => Err(format!("cannot set up the checks: {e}")),
        Err(ProbeError::Step { index, reason }) => Err(format!(
            "check `{}`: {reason}",
            preflight.checks[index].name
        )),
    }
}
