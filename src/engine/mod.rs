//! The engine: starts virtual users at the spawn rate, runs them for the duration, stops them gracefully, and
//! collects what they measured.
//!
//! Shutdown follows mini-redis: one [`CancellationToken`] tells every user to stop starting tasks (end of
//! duration, or an interrupt); users finish the request they are in and run `on_stop`; whatever has not ended
//! by the stop timeout is aborted, as it is at once on a second interrupt. Completion is known when the
//! `JoinSet` is empty. Statistics are drained once a second into the time series (see [`crate::metrics`]).

pub mod client;
pub mod http;
pub mod user;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior, interval_at, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::metrics::{Collector, Recorder, SeriesPoint, StepStats};
use crate::plan::RunPlan;
use user::{Shared, Vu};

/// Signals from outside the run.
#[derive(Debug, Clone, Default)]
pub struct Signals {
    /// Stop gracefully (first Ctrl-C / SIGTERM).
    pub interrupt: CancellationToken,
    /// Stop now (second Ctrl-C).
    pub abort: CancellationToken,
}

/// What a finished run measured.
#[derive(Debug)]
pub struct RunOutcome {
    pub run_id: String,
    pub started_at: SystemTime,
    pub ended_at: SystemTime,
    /// From the first user's start to the end of the stop phase.
    pub elapsed: Duration,
    pub totals: Vec<StepStats>,
    pub series: Vec<SeriesPoint>,
    pub interrupted: bool,
    /// Users still running at the stop timeout, which were aborted.
    pub aborted_users: usize,
    /// Users that could not be started (their HTTP client failed to build).
    pub failed_users: u64,
    /// The most users running at once.
    pub peak_users: u64,
    /// Cores loadgen could run on.
    pub cores: usize,
}

/// Something that wants to hear about each second of the run (the progress line).
pub trait Observer {
    fn tick(&mut self, point: &SeriesPoint, totals: &Collector);
}

impl Observer for () {
    fn tick(&mut self, _: &SeriesPoint, _: &Collector) {}
}

/// Users started per wake-up of the scheduler at most.
const SPAWN_BATCH: u64 = 256;

/// Runs `plan` to completion (or interruption).
pub async fn run(
    plan: Arc<RunPlan>,
    run_id: String,
    signals: Signals,
    observer: &mut dyn Observer,
) -> Result<RunOutcome, crate::error::Error> {
    let steps = plan.steps.len();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let recorder = Arc::new(Recorder::new(steps, workers * 4));
    let stop = CancellationToken::new();
    let shared = Arc::new(
        Shared::new(plan.clone(), recorder.clone(), run_id.clone(), stop.clone())
            .map_err(crate::error::Error::Usage)?,
    );

    let started_at = SystemTime::now();
    let started = Instant::now();
    let deadline = started + plan.duration;
    let mut collector = Collector::new(steps, started.into_std());
    let mut tick = interval_at(started + Duration::from_secs(1), Duration::from_secs(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut users: JoinSet<()> = JoinSet::new();
    let mut spawned: u64 = 0;
    let failed_users = 0;
    let spawn_time = |i: u64| started + Duration::from_secs_f64(i as f64 / plan.spawn_rate);
    let mut interrupted = false;
    // Scheduler lag is measured where the users run; the probe ends with the run.
    let probe_stop = CancellationToken::new();
    tokio::spawn(crate::metrics::lag_probe(
        recorder.clone(),
        probe_stop.clone(),
    ));

    loop {
        let next_spawn = (spawned < plan.users).then(|| spawn_time(spawned));
        tokio::select! {
            biased;
            _ = signals.interrupt.cancelled() => { interrupted = true; break; }
            _ = sleep_until(deadline) => break,
            _ = tick.tick() => {
                let p = collector.tick(&recorder, Instant::now().into_std()).clone();
                observer.tick(&p, &collector);
            }
            _ = sleep_until(next_spawn.unwrap_or(deadline)), if next_spawn.is_some() => {
                let now = Instant::now();
                // Catch up on the users due by now (a busy runtime may wake us late), a bounded batch at a
                // time so the deadline and interrupts are still seen between batches.
                let batch_end = spawned + SPAWN_BATCH;
                while spawned < plan.users && spawned < batch_end && spawn_time(spawned) <= now {
                    spawned += 1;
                    users.spawn(Vu::new(spawned, shared.clone()).run());
                }
            }
            Some(res) = users.join_next(), if !users.is_empty() => {
                if let Err(e) = res && e.is_panic() {
                    tracing::error!("a virtual user panicked: {e}");
                }
            }
        }
    }

    // Stop phase: no new tasks; in-flight requests and on_stop get up to the stop timeout.
    stop.cancel();
    let grace = Instant::now() + plan.stop_timeout;
    let mut aborted_users = 0;
    loop {
        tokio::select! {
            biased;
            _ = signals.abort.cancelled() => { aborted_users = users.len(); users.abort_all(); break; }
            // Already stopping: an interrupt now means "stop at once".
            _ = signals.interrupt.cancelled(), if !interrupted => {
                interrupted = true;
                aborted_users = users.len();
                users.abort_all();
                break;
            }
            _ = sleep_until(grace) => { aborted_users = users.len(); users.abort_all(); break; }
            res = users.join_next() => match res {
                None => break,
                Some(Err(e)) if e.is_panic() => tracing::error!("a virtual user panicked: {e}"),
                Some(_) => {}
            },
            _ = tick.tick() => {
                let p = collector.tick(&recorder, Instant::now().into_std()).clone();
                observer.tick(&p, &collector);
            }
        }
    }
    while users.join_next().await.is_some() {}
    if aborted_users > 0 {
        tracing::warn!(
            "{aborted_users} users were still busy at the stop timeout and were stopped"
        );
    }
    probe_stop.cancel();
    let p = collector
        .finish(&recorder, Instant::now().into_std())
        .clone();
    observer.tick(&p, &collector);

    Ok(RunOutcome {
        run_id,
        started_at,
        ended_at: SystemTime::now(),
        elapsed: started.elapsed(),
        totals: collector.totals,
        series: collector.series,
        interrupted,
        aborted_users,
        failed_users,
        peak_users: recorder.peak_users(),
        cores: collector.cores,
    })
}

/// A short random id for a run (8 hex characters).
pub fn new_run_id() -> String {
    format!("{:08x}", rand::random::<u32>())
}
