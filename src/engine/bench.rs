//! The per-request work of the engine, reachable from `benches/hot_path.rs` without opening the engine's
//! modules: one user's request rendered into its client's send buffer, as `super::http::exec` does before it
//! sends. Not an API: hidden from the docs, and free to change with the engine.

use std::sync::Arc;

use rand::SeedableRng;
use tokio_util::sync::CancellationToken;

use super::client::Client;
use super::request::render;
use super::shared::{Ctx, Shared, State};
use crate::metrics::Recorder;
use crate::plan::RunPlan;

/// One user of `plan` (user 42, session 3, every capture set), ready to render its requests.
pub struct Requests {
    shared: Arc<Shared>,
    state: State,
    client: Client,
}

impl Requests {
    pub fn new(plan: RunPlan, capture: &str) -> Result<Requests, String> {
        let recorder = Arc::new(Recorder::new(plan.steps.len(), 4));
        let captures = vec![super::shared::Captured::One(capture.to_string()); plan.captures.len()];
        let shared = Arc::new(Shared::new(
            Arc::new(plan),
            recorder,
            "r1".into(),
            CancellationToken::new(),
        )?);
        Ok(Requests {
            shared,
            state: State {
                id: 42,
                number: 42,
                row: None,
                session: 3,
                captures,
                rng: rand::rngs::SmallRng::seed_from_u64(1),
                frames: Vec::new(),
                status: 0,
            },
            client: Client::default(),
        })
    }

    /// The step named `name`.
    pub fn step(&self, name: &str) -> Option<usize> {
        self.shared.plan.steps.iter().position(|s| s.name == name)
    }

    /// The plan's steps (requests and flows).
    pub fn steps(&self) -> usize {
        self.shared.plan.steps.len()
    }

    /// The run's recorder (its shards are what a request's outcome goes into).
    pub fn recorder(&self) -> &Recorder {
        &self.shared.recorder
    }

    /// Renders step `idx` into the send buffer; its length.
    pub fn render(&mut self, idx: usize) -> Result<usize, String> {
        let shared = &*self.shared;
        let step = &shared.plan.steps[idx];
        let prep = &shared.prepared[idx];
        let mut ctx = Ctx {
            state: &mut self.state,
            shared,
        };
        let origin = prep.origin.as_ref().unwrap_or(&shared.origin);
        let (buf, jar) = self.client.send_buffer();
        render(step, prep, &shared.base_path, origin, &mut ctx, jar, buf)?;
        Ok(buf.wire.len())
    }
}
