//! Pre-flight checks: the scenario's `[preflight]` requests, run against the target before any load.
//!
//! A run against a target that is not ready (still starting, a dependency down) is a wasted run, not a failed
//! gate. Each attempt runs the checks in order with one user of their own (captures carry from one check to
//! the next, as in `on_start`); the first attempt where every check passes lets the run start. Attempts go on
//! every `interval` until `timeout`; then no load is sent and the run ends with exit code 4, naming the check
//! that failed and why. The checks' requests are not part of the run's statistics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::engine::client::Client;
use crate::engine::shared::Shared;
use crate::engine::user::Vu;
use crate::metrics::{Collector, Recorder};
use crate::plan::{Preflight, RunPlan, UserClass, Wait};

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

/// One attempt: every check in order, on a fresh user; the first failure's reason.
async fn attempt(plan: &RunPlan, preflight: &Preflight) -> Result<(), String> {
    let checks = preflight.checks.len();
    // The checks as a plan of their own: one class whose on_start is the checks, so a user runs them with
    // the engine's own request path (templates, captures, TLS, timeouts).
    let mut own = plan.clone();
    own.steps = preflight.checks.clone();
    own.classes = vec![UserClass {
        name: "preflight".into(),
        weight: 1,
        wait: Wait::None,
        on_start: (0..checks).collect(),
        tasks: Vec::new(),
        on_stop: Vec::new(),
    }];
    own.data = None;
    own.preflight = None;
    let recorder = Arc::new(Recorder::new(checks, 1));
    let shared = Arc::new(
        Shared::new(
            Arc::new(own),
            recorder.clone(),
            "preflight".into(),
            CancellationToken::new(),
        )
        .map_err(|e| format!("cannot set up the checks: {e}"))?,
    );
    let start = crate::engine::walk::Start {
        local: 0,
        number: 0,
        class: 0,
    };
    let mut user = Vu::new(start, shared, Client::default(), CancellationToken::new());
    let mut failed = None;
    for i in 0..checks {
        if user.exec(i).await.is_err() {
            failed = Some(i);
            break;
        }
    }
    user.finish().await;
    let Some(i) = failed else {
        return Ok(());
    };
    let mut collector = Collector::new(checks, Instant::now());
    collector.tick(&recorder, Instant::now());
    let why = collector.totals[i]
        .errors
        .keys()
        .next()
        .map_or_else(|| "failed".to_string(), |(_, message)| message.clone());
    Err(format!("check `{}`: {why}", preflight.checks[i].name))
}
