//! A virtual user: its own HTTP client (connections and cookies, as a Locust `HttpUser`), its captured values,
//! and the session loop of its class: `on_start`, then weighted random tasks with waits between them, until
//! told to stop (or the run's `--iterations` are used up); then `on_stop`. A task is one request or a flow: its
//! requests in order, stopping at the first that fails, timed each and as a whole.
//!
//! A session restarts (on_start runs again, `{{session}}` increases, captures are cleared) after a task marked
//! `restart_session`, after an answer whose status is in the request's `restart_session_on` (a 401 once the
//! server no longer knows the user's token), and when an `on_start` step fails; in the latter case the user first waits its usual
//! wait time (at least 100 ms), so a dead target is retried, not hammered.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio_util::sync::CancellationToken;

use super::client::Client;
use super::http::{self, Turn};
use super::shared::{Captured, Ctx, Frame, Shared, State};
use super::walk::Start;
use crate::metrics::{FailureKind, Outcome, Recorder};
use crate::plan::{Op, Program, Task};

/// Which list a program is, for what ends it early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    OnStart,
    /// A task or flow: it also ends when the session does.
    Task,
    /// `on_stop`: the run is already stopping, so it runs to its end, without pauses.
    OnStop,
}

/// One virtual user.
pub struct Vu {
    /// Its user class (an index into the plan's classes).
    pub class: usize,
    pub state: State,
    pub client: Client,
    pub shared: Arc<Shared>,
    /// Cancelled when this user must stop starting tasks: at the end of the run, or when a stage ramps down.
    pub stop: CancellationToken,
    /// The request in flight, when the iteration was due, whether a session is open.
    pub turn: Turn,
}

/// Decrements the active-user gauge however the user ends (including abort).
struct Active<'a>(&'a Recorder);
impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.user_stopped();
    }
}

/// A user aborted at the stop timeout is dropped mid-request: that request is recorded, with the time it had
/// taken so far, so the slowest requests of a stalling target are not the ones that vanish.
impl Drop for Vu {
    fn drop(&mut self) {
        // Issue 18 item 6: `--debug` prints the user's last exchange with its last values.
        if let Some(d) = &self.shared.debug {
            d.ended(&self.state);
        }
        if let Some((step, start)) = self.turn.in_flight.take() {
            self.shared.recorder.record(
                self.state.id,
                step,
                &Outcome {
                    delay: None,
                    latency: Some(start.elapsed()),
                    ttfb: None,
                    status: None,
                    bytes: 0,
                    failure: Some((FailureKind::Aborted, "still in flight at the stop timeout")),
                    client: Default::default(),
                },
            );
        }
    }
}

impl Vu {
    pub fn new(user: Start, shared: Arc<Shared>, client: Client, stop: CancellationToken) -> Self {
        Vu {
            class: user.class,
            state: State {
                id: user.local,
                number: user.number,
                row: None,
                session: 0,
                captures: vec![Captured::Unset; shared.plan.captures.len()],
                rng: SmallRng::from_rng(&mut rand::rng()),
                frames: vec![Frame::default(); shared.plan.frames],
                status: 0,
            },
            client,
            shared,
            stop,
            turn: Turn::default(),
        }
    }

    /// Runs step `idx` ([`http::exec`]); `Ok` when it met its expectation, else why not.
    pub async fn exec(&mut self, idx: usize) -> Result<(), FailureKind> {
        http::exec(
            &self.shared,
            &mut self.state,
            &mut self.client,
            &mut self.turn,
            idx,
        )
        .await
    }

    /// Takes this user's row of the data file. With `unique`, the plan checked there is one for every user it
    /// starts; should they still run out, the user goes without (its `{{data.*}}` render empty) and says so once.
    pub(super) fn take_row(&mut self) {
        if self.state.row.is_some() {
            return;
        }
        if let Some(feeder) = &self.shared.feeder {
            let rng = &mut self.state.rng;
            match feeder.take(self.state.number, || rng.random::<f64>()) {
                Ok(row) => self.state.row = Some(row),
                Err(e) => tracing::warn!("{e}"),
            }
        }
    }

    /// Starts a new session: clears the captures and runs `on_start`; false (with the session left closed) when
    /// a step fails or the user is told to stop.
    pub(super) async fn open_session(&mut self) -> bool {
        let shared = self.shared.clone();
        self.state.session += 1;
        self.state
            .captures
            .iter_mut()
            .for_each(|c| *c = Captured::Unset);
        self.state.status = 0;
        let program = &shared.plan.classes[self.class].start_program;
        let done = if program.is_sequence() {
            self.run_sequence(program, Run::OnStart).await
        } else {
            Box::pin(self.run_program(program, Run::OnStart)).await
        };
        if !matches!(done, Ok(true)) {
            return false;
        }
        self.turn.open = true;
        true
    }

    /// Runs a program that is only requests in order, as [`Vu::run_program`] would: the common case, run without
    /// the interpreter, whose state would make every user's future larger (10,000 users: 1.7 MiB). A program with
    /// control flow is boxed by its callers instead (one allocation per run of it).
    async fn run_sequence(
        &mut self,
        program: &Program,
        run: Run,
    ) -> Result<bool, (FailureKind, usize)> {
        for op in &program.ops {
            let Op::Request(step) = op else { continue };
            if run == Run::OnStart && self.stop.is_cancelled() {
                return Ok(false);
            }
            self.exec(*step).await.map_err(|kind| (kind, *step))?;
            if run == Run::Task && !self.turn.open {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Runs `program` (issue 18, item 3): `Ok(true)` when it ran to its end (or a `stop_if` ended it), `Ok(false)`
    /// when the user was told to stop first (or, in a task, its session ended), `Err` with the failure's kind
    /// and step at the first request that failed.
    async fn run_program(
        &mut self,
        program: &Program,
        run: Run,
    ) -> Result<bool, (FailureKind, usize)> {
        let shared = self.shared.clone();
        let ops = &program.ops;
        let mut pc = 0;
        // Instructions run since the last await: a program of loops and conditions that sends nothing still
        // gives other users a turn now and then.
        let mut busy = 0u32;
        while let Some(op) = ops.get(pc) {
            pc += 1;
            match op {
                Op::Request(step) => {
                    // A session that has not started by the stop does not start; a task, once started, runs to
                    // its end (the stop timeout bounds it), as its requests' statistics expect.
                    if run == Run::OnStart && self.stop.is_cancelled() {
                        return Ok(false);
                    }
                    self.exec(*step).await.map_err(|kind| (kind, *step))?;
                    busy = 0;
                    if run == Run::Task && !self.turn.open {
                        // A status in `restart_session_on` ended the session: the rest would run without it.
                        return Ok(false);
                    }
                }
                Op::Think(wait) => {
                    let d = wait.pause(Duration::ZERO, || self.state.rng.random::<f64>());
                    if run == Run::OnStop {
                        // The run is ending: on_stop's requests go out without its pauses.
                        continue;
                    }
                    // The stop cuts a pause short (the rest of the task then runs without waiting).
                    tokio::select! {
                        _ = tokio::time::sleep(d) => {}
                        _ = self.stop.cancelled() => {}
                    }
                    busy = 0;
                }
                Op::Unless { cond, to } => {
                    let mut ctx = Ctx {
                        state: &mut self.state,
                        shared: &shared,
                    };
                    if !cond.holds(&mut ctx) {
                        pc = *to;
                    }
                }
                Op::StopIf(cond) => {
                    let mut ctx = Ctx {
                        state: &mut self.state,
                        shared: &shared,
                    };
                    if cond.holds(&mut ctx) {
                        return Ok(true);
                    }
                }
                Op::Repeat { frame, times, end } => {
                    if *times == 0 {
                        pc = *end;
                    } else if let Some(f) = self.state.frames.get_mut(*frame) {
                        f.items.clear();
                        f.index = 0;
                        f.count = *times;
                    }
                }
                Op::ForEach { frame, list, end } => {
                    let items = match self.state.captures.get(*list) {
                        Some(Captured::List(items)) => items.clone(),
                        Some(Captured::One(v)) => vec![v.clone()],
                        _ => Vec::new(),
                    };
                    if items.is_empty() {
                        pc = *end;
                    } else if let Some(f) = self.state.frames.get_mut(*frame) {
                        f.count = u32::try_from(items.len()).unwrap_or(u32::MAX);
                        f.items = items;
                        f.index = 0;
                    }
                }
                Op::Next { frame, body } => {
                    if let Some(f) = self.state.frames.get_mut(*frame) {
                        f.index += 1;
                        if f.index < f.count {
                            pc = *body;
                        } else {
                            f.items = Vec::new();
                        }
                    }
                }
                Op::Choose { branches } => {
                    let total = branches.last().map_or(0, |b| b.0);
                    let r = self.state.rng.random_range(0..total.max(1));
                    if let Some(&(_, to)) = branches.iter().find(|b| b.0 > r) {
                        pc = to;
                    }
                }
                Op::Jump(to) => pc = *to,
            }
            busy += 1;
            if busy >= 1024 {
                busy = 0;
                tokio::task::yield_now().await;
            }
        }
        Ok(true)
    }

    /// Runs one weighted-random task of the user's class; returns when it started. A task marked
    /// `restart_session` closes the session.
    pub(super) async fn task(&mut self) -> Instant {
        let shared = self.shared.clone();
        let total = shared.cumulative[self.class].last().copied().unwrap_or(0);
        let r = self.state.rng.random_range(0..total.max(1));
        let task = shared.task_for(self.class, r);
        let started = Instant::now();
        if task.is_flow() {
            self.flow(task).await;
        } else if let Some(step) = task.single() {
            let _ = self.exec(step).await;
        } else {
            // One request with a think after it.
            let _ = Box::pin(self.run_program(&task.program, Run::Task)).await;
        }
        if task.restart_session {
            self.turn.open = false;
        }
        started
    }

    /// Runs a flow's steps in order, stopping at the first that fails, and records the flow as a whole under
    /// its own entry: from its first request (or, for an arrival-rate iteration, from when it was due) to the
    /// end of its last, failed when a step failed.
    async fn flow(&mut self, task: &Task) {
        let shared = self.shared.clone();
        let start = Instant::now();
        let delay = self.turn.due.map(|d| start.saturating_duration_since(d));
        let done = if task.program.is_sequence() {
            self.run_sequence(&task.program, Run::Task).await
        } else {
            Box::pin(self.run_program(&task.program, Run::Task)).await
        };
        let failed = done.err();
        let message =
            failed.map(|(_, step)| format!("step `{}` failed", shared.plan.steps[step].name));
        shared.recorder.record(
            self.state.id,
            task.head,
            &Outcome {
                delay,
                latency: Some(start.elapsed()),
                ttfb: None,
                status: None,
                bytes: 0,
                failure: failed.map(|(kind, _)| kind).zip(message.as_deref()),
                client: Default::default(),
            },
        );
    }

    /// One iteration of an arrival-rate load, in line for a user since `due`: opens a session if none is open,
    /// then runs one task, whose latency includes the time the iteration waited for this user (but not this
    /// user's `on_start`, which has its own entries). A failed `on_start` ends the iteration there; the next one
    /// tries again.
    pub async fn iteration(&mut self, due: Instant) {
        let recorder = self.shared.recorder.clone();
        recorder.user_started();
        let _busy = Active(&recorder);
        let waited = due.elapsed();
        self.take_row();
        if self.turn.open || self.open_session().await {
            let now = Instant::now();
            self.turn.due = Some(now.checked_sub(waited).unwrap_or(now));
            self.task().await;
            self.turn.due = None;
        }
        self.shared.iterations_finished(1);
    }

    /// The end of the user: `on_stop` if a session is open, then its connections close.
    pub async fn finish(&mut self) {
        if self.turn.open {
            let shared = self.shared.clone();
            let program = &shared.plan.classes[self.class].stop_program;
            let _ = if program.is_sequence() {
                self.run_sequence(program, Run::OnStop).await
            } else {
                Box::pin(self.run_program(program, Run::OnStop)).await
            };
            self.turn.open = false;
        }
        self.client.close();
    }

    /// Runs until its stop token is cancelled, then runs `on_stop` if a session is open.
    pub async fn run(mut self) {
        let recorder = self.shared.recorder.clone();
        recorder.user_started();
        let _active = Active(&recorder);
        self.take_row();
        while !self.stop.is_cancelled() {
            if !self.turn.open {
                let started = Instant::now();
                if !self.open_session().await {
                    self.pause(started, true).await;
                    continue;
                }
            }
            if !self.shared.claim() {
                break;
            }
            let started = self.task().await;
            self.shared.iterations_finished(1);
            self.pause(started, false).await;
        }
        self.finish().await;
    }

    /// The wait after a task that started at `started`; returns early when the run stops.
    async fn pause(&mut self, started: Instant, after_failure: bool) {
        let rng = &mut self.state.rng;
        let d = self.shared.plan.classes[self.class]
            .wait
            .pause(started.elapsed(), || rng.random::<f64>());
        let d = if after_failure {
            d.max(Duration::from_millis(100))
        } else {
            d
        };
        if d.is_zero() {
            // Still give other tasks a turn, so a zero-wait user cannot starve the runtime.
            tokio::task::yield_now().await;
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = self.stop.cancelled() => {}
        }
    }
}

#[cfg(test)]
mod memory_per_user {
    use std::sync::Arc;

    /// Each of 10,000 users is one spawned future holding its client: every byte either gains is 10 KB of the
    /// run's memory. Issue 17's HTTP/2, proxy and DNS states once added ~2 KiB to every user (HTTP/1.1 ones too,
    /// 21 MiB at 10,000 users) until the rarely taken paths were boxed; issue 18's interpreter is boxed for the
    /// programs with control flow, and `finish` borrows the user instead of taking it (its future held a second
    /// copy of the user: 400 bytes). Bounds with a little headroom over today's sizes (future 2,208 bytes, client
    /// 192 bytes on Rust 1.95), so that growth is a decision.
    #[test]
    fn a_users_future_and_client_stay_small() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/ultimate.toml");
        let loaded = crate::scenario::load(&path).expect("the shipped scenario loads");
        let host = crate::plan::Overrides {
            host: Some("http://127.0.0.1:9".into()),
            ..Default::default()
        };
        let plan = crate::plan::resolve(&loaded, &host).expect("and resolves");
        let recorder = Arc::new(crate::metrics::Recorder::new(plan.steps.len(), 4));
        let stop = tokio_util::sync::CancellationToken::new();
        let shared = crate::engine::shared::Shared::new(Arc::new(plan), recorder, "r".into(), stop)
            .expect("shared state");
        let user = crate::engine::walk::Start {
            local: 1,
            number: 1,
            class: 0,
        };
        let client = crate::engine::client::Client::default();
        let vu = super::Vu::new(user, Arc::new(shared), client, Default::default());
        let client = std::mem::size_of::<crate::engine::client::Client>();
        let future = std::mem::size_of_val(&vu.run());
        assert!(client <= 256, "a Client is {client} bytes");
        assert!(future <= 2400, "a user's future is {future} bytes");
    }
}
