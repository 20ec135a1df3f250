//! One user, outside any run: the engine's request path (templates, captures, TLS, timeouts) used to send a few
//! requests in order and say whether they all met their expectations. Pre-flight checks ([`crate::preflight`])
//! are its caller; it builds the user, the shared state and the recorder the request path needs, so callers
//! outside the engine never do.

use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::client::Client;
use super::shared::Shared;
use super::user::Vu;
use super::walk::Start;
use crate::metrics::{Collector, Recorder};
use crate::plan::{RunPlan, Step, UserClass, Wait};

/// Why a probe did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeError {
    /// The steps could not be made into requests (an invalid host): no request was sent.
    Setup(String),
    /// Step `index` (of the steps given) failed, for `reason` (as the failures table says it).
    Step { index: usize, reason: String },
}

/// Runs `steps` in order as one fresh user of `plan`'s target (its host, TLS, timeouts, body limit), captures
/// carrying from one step to the next as in `on_start`; stops at the first step that fails. Nothing is recorded
/// in any run's statistics.
pub async fn probe(plan: &RunPlan, steps: &[Step]) -> Result<(), ProbeError> {
    let count = steps.len();
    // The steps as a plan of their own: one class whose on_start is the steps.
    let mut own = plan.clone();
    own.steps = steps.to_vec();
    own.classes = vec![UserClass {
        name: "probe".into(),
        weight: 1,
        wait: Wait::None,
        on_start: (0..count).collect(),
        tasks: Vec::new(),
        on_stop: Vec::new(),
        start_program: crate::plan::Program::sequence(&(0..count).collect::<Vec<_>>()),
        stop_program: Default::default(),
    }];
    own.data = None;
    own.preflight = None;
    let recorder = Arc::new(Recorder::new(count, 1));
    let shared = Arc::new(
        Shared::new(
            Arc::new(own),
            recorder.clone(),
            "preflight".into(),
            CancellationToken::new(),
        )
        .map_err(ProbeError::Setup)?,
    );
    let start = Start {
        local: 0,
        number: 0,
        class: 0,
    };
    let mut user = Vu::new(start, shared, Client::default(), CancellationToken::new());
    let mut failed = None;
    for i in 0..count {
        if user.exec(i).await.is_err() {
            failed = Some(i);
            break;
        }
    }
    user.finish().await;
    let Some(index) = failed else {
        return Ok(());
    };
    let mut collector = Collector::new(count, Instant::now());
    collector.tick(&recorder, Instant::now());
    let reason = collector.totals[index]
        .errors
        .keys()
        .next()
        .map_or_else(|| "failed".to_string(), |(_, message)| message.clone());
    Err(ProbeError::Step { index, reason })
}
