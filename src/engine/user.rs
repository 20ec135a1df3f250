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
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio_util::sync::CancellationToken;

use super::client::{Client, Net, Origin};
use super::http::Prepared;
use super::walk::Start;
use crate::metrics::{FailureKind, Outcome, Recorder};
use crate::plan::{RunPlan, Task};
use crate::scenario::template::{self, Var};

/// What every user of a run shares (read-only on the request path, apart from the `seq` counter).
#[derive(Debug)]
pub struct Shared {
    pub plan: Arc<RunPlan>,
    pub recorder: Arc<Recorder>,
    pub run_id: String,
    pub seq: AtomicU64,
    /// Cancelled when users must stop starting tasks.
    pub stop: CancellationToken,
    /// Per class, cumulative task weights, for weighted choice.
    pub cumulative: Vec<Vec<u64>>,
    /// `--iterations`: task iterations claimed, and finished (or dropped); `all_done` is cancelled when the
    /// finished ones reach the limit.
    pub claimed: AtomicU64,
    pub finished: AtomicU64,
    pub all_done: CancellationToken,
    /// Per step, what could be built once (URI, header values, body).
    pub prepared: Vec<Prepared>,
    /// The target's origin and the path prefix of its URL (`http://h/api` → `/api`).
    pub origin: Origin,
    pub base_path: String,
    pub net: Net,
    /// Hands out the rows of the `[data]` file.
    pub feeder: Option<crate::data::Feeder>,
}

impl Shared {
    pub fn new(
        plan: Arc<RunPlan>,
        recorder: Arc<Recorder>,
        run_id: String,
        stop: CancellationToken,
    ) -> Result<Self, String> {
        let cumulative = plan
            .classes
            .iter()
            .map(|c| {
                let mut acc = 0;
                c.tasks
                    .iter()
                    .map(|t| {
                        acc += u64::from(t.weight);
                        acc
                    })
                    .collect()
            })
            .collect();
        let url = url::Url::parse(&plan.host).map_err(|e| format!("invalid host: {e}"))?;
        let origin = Origin::of(&url)?;
        let base_path = url.path().trim_end_matches('/').to_string();
        let prepared = plan
            .steps
            .iter()
            .map(|s| Prepared::new(s, &base_path))
            .collect();
        let feeder = plan
            .data
            .as_ref()
            .map(|d| crate::data::Feeder::new(d.set.clone(), d.assign));
        let net = Net::with_tls(&plan.tls);
        Ok(Shared {
            plan,
            recorder,
            run_id,
            seq: AtomicU64::new(0),
            stop,
            cumulative,
            claimed: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            all_done: CancellationToken::new(),
            prepared,
            origin,
            base_path,
            net,
            feeder,
        })
    }

    /// Class `class`'s task for a number `r` drawn uniformly from `0..its total weight`.
    pub fn task_for(&self, class: usize, r: u64) -> &Task {
        let tasks = &self.plan.classes[class].tasks;
        &tasks[pick(&self.cumulative[class], r).min(tasks.len().saturating_sub(1))]
    }

    /// Claims one of the run's `--iterations` for a closed-model user; false once they are all claimed.
    pub fn claim(&self) -> bool {
        match self.plan.max_iterations {
            Some(max) => self.claimed.fetch_add(1, Ordering::Relaxed) < max,
            None => true,
        }
    }

    /// `n` iterations have finished (or were dropped): the run ends when that makes `--iterations`.
    pub fn iterations_finished(&self, n: u64) {
        if let Some(max) = self.plan.max_iterations
            && n > 0
            && self.finished.fetch_add(n, Ordering::Relaxed) + n >= max
        {
            self.all_done.cancel();
        }
    }
}

/// The position whose weight range holds `r`, given cumulative weights: with weights 10, 5 (cumulative 10, 15),
/// r in 0..10 picks 0 and r in 10..15 picks 1 — each task in proportion to its weight, as Locust's `@task(N)`.
pub fn pick(cumulative: &[u64], r: u64) -> usize {
    cumulative
        .partition_point(|&c| c <= r)
        .min(cumulative.len().saturating_sub(1))
}

/// A user's own values: what templates read.
pub struct State {
    /// This user's number in this process (from 1): which metrics shard it records into.
    pub id: u64,
    /// Its number in the whole plan (from 1; the same under `--segment`): what `{{vu}}` renders, and which
    /// row of the data file it takes.
    pub number: u64,
    /// This user's row of the `[data]` file, if the scenario has one.
    pub row: Option<usize>,
    pub session: u64,
    pub captures: Vec<Option<String>>,
    pub rng: SmallRng,
}

/// One virtual user.
pub struct Vu {
    /// Its user class (an index into the plan's classes).
    pub class: usize,
    pub state: State,
    pub client: Client,
    pub shared: Arc<Shared>,
    /// The request being waited for (step, start): recorded as aborted if the user is dropped mid-request.
    pub in_flight: Option<(usize, Instant)>,
    /// Cancelled when this user must stop starting tasks: at the end of the run, or when a stage ramps down.
    pub stop: CancellationToken,
    /// When the arrival-rate iteration about to run its task was due: its request is measured from then.
    pub due: Option<Instant>,
    /// A session is open: `on_start` has run and succeeded, and `on_stop` is owed.
    pub open: bool,
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
        if let Some((step, start)) = self.in_flight.take() {
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
                captures: vec![None; shared.plan.captures.len()],
                rng: SmallRng::from_rng(&mut rand::rng()),
            },
            client,
            shared,
            in_flight: None,
            stop,
            due: None,
            open: false,
        }
    }

    /// Takes this user's row of the data file. With `unique`, the plan checked there is one for every user it
    /// starts; should they still run out, the user goes without (its `{{data.*}}` render empty) and says so once.
    fn take_row(&mut self) {
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
    async fn open_session(&mut self) -> bool {
        let shared = self.shared.clone();
        self.state.session += 1;
        self.state.captures.iter_mut().for_each(|c| *c = None);
        for &step in &shared.plan.classes[self.class].on_start {
            if self.stop.is_cancelled() || self.exec(step).await.is_err() {
                return false;
            }
        }
        self.open = true;
        true
    }

    /// Runs one weighted-random task of the user's class; returns when it started. A task marked
    /// `restart_session` closes the session.
    async fn task(&mut self) -> Instant {
        let shared = self.shared.clone();
        let total = shared.cumulative[self.class].last().copied().unwrap_or(0);
        let r = self.state.rng.random_range(0..total.max(1));
        let task = shared.task_for(self.class, r);
        let started = Instant::now();
        if task.is_flow() {
            self.flow(task).await;
        } else {
            let _ = self.exec(task.head).await;
        }
        if task.restart_session {
            self.open = false;
        }
        started
    }

    /// Runs a flow's steps in order, stopping at the first that fails, and records the flow as a whole under
    /// its own entry: from its first request (or, for an arrival-rate iteration, from when it was due) to the
    /// end of its last, failed when a step failed.
    async fn flow(&mut self, task: &Task) {
        let shared = self.shared.clone();
        let start = Instant::now();
        let delay = self.due.map(|d| start.saturating_duration_since(d));
        let mut failed = None;
        for &step in &task.steps {
            if let Err(kind) = self.exec(step).await {
                failed = Some((kind, step));
                break;
            }
            if !self.open {
                // A status in `restart_session_on` ended the session: the rest of the flow would run without it.
                break;
            }
        }
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
        if self.open || self.open_session().await {
            let now = Instant::now();
            self.due = Some(now.checked_sub(waited).unwrap_or(now));
            self.task().await;
            self.due = None;
        }
        self.shared.iterations_finished(1);
    }

    /// The end of the user: `on_stop` if a session is open, then its connections close.
    pub async fn finish(mut self) {
        if self.open {
            let shared = self.shared.clone();
            for &step in &shared.plan.classes[self.class].on_stop {
                let _ = self.exec(step).await;
            }
            self.open = false;
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
            if !self.open {
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

/// What templates render against: the user's own values and the run's shared ones.
pub struct Ctx<'a> {
    pub state: &'a mut State,
    pub shared: &'a Shared,
}

impl template::Context for Ctx<'_> {
    fn write_var(&mut self, var: Var, out: &mut String) {
        match var {
            Var::Vu => template::write_num(out, self.state.number),
            Var::Session => template::write_num(out, self.state.session),
            Var::RunId => out.push_str(&self.shared.run_id),
            Var::Seq => {
                template::write_num(out, self.shared.seq.fetch_add(1, Ordering::Relaxed) + 1)
            }
            Var::Uuid => {
                let bytes: [u8; 16] = self.state.rng.random();
                let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
                out.push_str(
                    id.hyphenated()
                        .encode_lower(&mut uuid::Uuid::encode_buffer()),
                );
            }
            Var::Random => template::write_num(out, u64::from(self.state.rng.random::<u32>())),
            Var::TimestampMs => template::write_num(
                out,
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64),
            ),
            Var::Data(column) => {
                if let (Some(row), Some(feeder)) = (self.state.row, &self.shared.feeder) {
                    out.push_str(feeder.set().value(row, column));
                }
            }
            Var::Capture(slot) => {
                if let Some(Some(v)) = self.state.captures.get(slot) {
                    out.push_str(v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pick_maps_weight_ranges_exactly() {
        let cumulative = [10, 15, 17, 18];
        let picks: Vec<usize> = (0..18).map(|r| pick(&cumulative, r)).collect();
        assert_eq!(picks.iter().filter(|&&p| p == 0).count(), 10);
        assert_eq!(picks.iter().filter(|&&p| p == 1).count(), 5);
        assert_eq!(picks.iter().filter(|&&p| p == 2).count(), 2);
        assert_eq!(picks.iter().filter(|&&p| p == 3).count(), 1);
    }

    /// The shipped task mix (weights 10/5/2/1) drawn 180,000 times: each task's share is within 0.5 percentage
    /// points of its weight's share (the standard error is at most 0.12 points, so this is over 4 sigma).
    #[test]
    fn weighted_choice_follows_the_weights() {
        let weights = [10u64, 5, 2, 1];
        let cumulative: Vec<u64> = weights
            .iter()
            .scan(0, |acc, w| {
                *acc += w;
                Some(*acc)
            })
            .collect();
        let total = *cumulative.last().unwrap();
        let mut rng = SmallRng::seed_from_u64(7);
        let n = 180_000;
        let mut counts = [0u64; 4];
        for _ in 0..n {
            counts[pick(&cumulative, rng.random_range(0..total))] += 1;
        }
        for (i, w) in weights.iter().enumerate() {
            let expected = 100.0 * *w as f64 / total as f64;
            let got = 100.0 * counts[i] as f64 / n as f64;
            assert!(
                (got - expected).abs() < 0.5,
                "task {i}: {got:.2}% vs {expected:.2}%"
            );
        }
    }
}
