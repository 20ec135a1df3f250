//! The engine: starts virtual users on the load plan (a ramp or stages; an arrival rate starts iterations),
//! runs them for the duration, stops them gracefully, and collects what they measured.
//!
//! Users run on `workers`: one current-thread runtime per core, users sharded across them. This task (the
//! scheduler) starts them on schedule and drains the statistics once a second into the time series (see
//! [`crate::metrics`]).
//!
//! With an arrival rate the scheduler starts no users: each worker runs a lane of the schedule (see
//! `arrival`).
//!
//! Shutdown follows mini-redis: one [`CancellationToken`] tells every user to stop starting tasks (end of
//! duration, `--iterations` used up, an interrupt, or an [`Observer`] asking to stop: a failed gate with
//! `abort_on_fail`); users finish the request they are in and run `on_stop`; whatever has not ended
//! by the stop timeout is aborted, as it is at once on a second interrupt or an interrupt during the stop
//! phase. Completion is known when every worker has reported that its last user ended.
//!
//! # Boundary
//! Outside the engine only this is seen: [`run`] (a plan in, a [`RunOutcome`] out, each second shown to an
//! [`Observer`]), [`Signals`], [`new_run_id`], [`probe`] (a few steps sent by one user outside any run: the
//! pre-flight checks), and [`debug`] (one user's exchanges printed: `run --debug N`). Everything else is
//! crate-private.
//!
//! # Layers
//! Each module imports only those below it:
//! - `mod` (the scheduler), `probe`, `debug`
//! - `workers` → `arrival` → `user` (a user's session loop) → `http` (one step: send, check, capture,
//!   record) → `shared` (what users share; a user's template values) → `request` (a step's prepared parts
//!   and their rendering) → `client` (connections, cookies, framing) → `tls` → `io_error`;
//! - `walk` (who starts when) beside them, read by the scheduler, `arrival` and `user`.

#[doc(hidden)]
mod answer;
pub(crate) mod arrival;
pub mod bench;
pub(crate) mod client;
// Issue 18 item 6: `run --debug N`.
mod debug;
pub(crate) mod http;
pub(crate) mod io_error;
pub mod observe;
mod probe;
pub(crate) mod request;
pub(crate) mod shared;
// Issue 19 item 2: changes from the live UI.
pub mod steer;
pub(crate) mod tls;
pub(crate) mod user;
pub(crate) mod walk;
pub(crate) mod workers;

pub use debug::{Summary as DebugSummary, debug};
pub use probe::{ProbeError, probe};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::{Instant, MissedTickBehavior, interval_at, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::metrics::{Collector, FailureKey, Recorder, Seen, SeriesPoint, StepStats};
use crate::plan::RunPlan;
use shared::Shared;
use workers::Workers;

/// Signals from outside the run.
#[derive(Debug, Clone, Default)]
pub struct Signals {
    /// Stop gracefully (first Ctrl-C / SIGTERM).
    pub interrupt: CancellationToken,
    /// Stop now (second Ctrl-C).
    pub abort: CancellationToken,
    /// Changes to the load and a stop asked from the live UI (never used without `--ui`).
    pub steering: steer::Steering,
}

/// What a finished run measured.
#[derive(Debug)]
pub struct RunOutcome {
    pub run_id: String,
    pub started_at: SystemTime,
    pub ended_at: SystemTime,
    /// From the first user's start to the end of the stop phase.
    pub elapsed: Duration,
    /// From the start to the stop (the end of the duration, or the interrupt): the part the plan covers.
    pub run_time: Duration,
    /// Arrival rate: iterations started and dropped.
    pub iterations: u64,
    pub dropped: u64,
    pub totals: Vec<StepStats>,
    pub series: Vec<SeriesPoint>,
    /// When each failure was first and last seen.
    pub failures_seen: HashMap<FailureKey, Seen>,
    pub interrupted: bool,
    /// Users still running at the stop timeout, which were aborted.
    pub aborted_users: usize,
    /// The most users running at once.
    pub peak_users: u64,
    /// Cores loadgen could run on.
    pub cores: usize,
    /// Issue 17 item 3: per origin, the addresses connections were opened to and how many.
    pub addresses: Vec<(String, Vec<(std::net::SocketAddr, u64)>)>,
    /// Issue 19: the changes made to the load from the live UI, and whether the UI stopped the run (then
    /// `interrupted` is set too).
    pub manual: Vec<steer::Manual>,
    pub stopped_from_ui: bool,
}

/// Something that wants to hear about each second of the run (the progress line, the live CSV files, the
/// live gate watch).
pub trait Observer {
    fn tick(&mut self, point: &SeriesPoint, totals: &Collector);

    /// The run's plan is over (its duration, `--iterations`, an interrupt, or a stop this observer asked
    /// for): the users are being stopped. Ticks still come until the last user ended.
    fn stopping(&mut self) {}

    /// Asked after each tick of the run: true ends it early, gracefully, as its duration would (users
    /// finish their request and run `on_stop`). The live gate watch (`abort_on_fail`) uses it.
    fn stop_requested(&self) -> bool {
        false
    }
}

impl Observer for () {
    fn tick(&mut self, _: &SeriesPoint, _: &Collector) {}
}

impl<T: Observer> Observer for Option<T> {
    fn tick(&mut self, point: &SeriesPoint, totals: &Collector) {
        if let Some(o) = self {
            o.tick(point, totals);
        }
    }

    fn stopping(&mut self) {
        if let Some(o) = self {
            o.stopping();
        }
    }

    fn stop_requested(&self) -> bool {
        self.as_ref().is_some_and(Observer::stop_requested)
    }
}

impl<A: Observer, B: Observer> Observer for (A, B) {
    fn tick(&mut self, point: &SeriesPoint, totals: &Collector) {
        self.0.tick(point, totals);
        self.1.tick(point, totals);
    }

    fn stopping(&mut self) {
        self.0.stopping();
        self.1.stopping();
    }

    fn stop_requested(&self) -> bool {
        self.0.stop_requested() || self.1.stop_requested()
    }
}

/// Runs `plan` to completion (or interruption).
pub async fn run(
    plan: Arc<RunPlan>,
    run_id: String,
    signals: Signals,
    observer: &mut dyn Observer,
) -> Result<RunOutcome, crate::error::Error> {
    let steps = plan.steps.len();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Four metrics shards per worker: user n records into shard n mod 4k, which belongs to worker n mod k.
    let recorder = Arc::new(Recorder::new(steps, cores * 4));
    let stop = CancellationToken::new();
    let shared = Arc::new(
        Shared::new(plan.clone(), recorder.clone(), run_id.clone(), stop.clone())
            .map_err(crate::error::Error::Usage)?,
    );
    let mut workers = Workers::start(cores, &shared)
        .map_err(|e| crate::error::Error::io("cannot start the worker threads", e))?;

    let started_at = SystemTime::now();
    let started = Instant::now();
    let deadline = started + plan.duration;
    let mut collector = Collector::new(steps, started.into_std());
    for (i, _) in plan
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.is_request())
    {
        collector.not_a_request(i);
    }
    let mut tick = interval_at(started + Duration::from_secs(1), Duration::from_secs(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // Users running, in the order they started: a ramp-down stops the newest first (see `walk`).
    let mut schedule: walk::Schedule<CancellationToken> = walk::Schedule::new(&plan, started);
    let mut interrupted = false;
    let mut stopped_from_ui = false;
    let steering = signals.steering.clone();
    // An arrival rate changed from the UI: what the plan's target rate is replaced with.
    let mut manual_rate: Option<f64> = None;
    let arrival = match &plan.load {
        crate::plan::Load::Arrival(a) => {
            workers.start_lanes(started.into_std(), plan.users);
            recorder.set_target_rate(a.rate_at(Duration::ZERO) * plan.rate_share());
            Some(a)
        }
        _ => None,
    };

    loop {
        tokio::select! {
            biased;
            _ = signals.interrupt.cancelled() => { interrupted = true; break; }
            _ = sleep_until(deadline) => break,
            // `--iterations` used up.
            _ = shared.all_done.cancelled() => break,
            _ = steering.stopped() => { interrupted = true; stopped_from_ui = true; break; }
            _ = steering.queued() => {
                let now = Instant::now();
                for change in steering.take() {
                    match change {
                        steer::Change::Users { users, spawn_rate } if arrival.is_none() => {
                            schedule.steer(now, users, spawn_rate);
                        }
                        steer::Change::Rate(rate) if arrival.is_some() => {
                            manual_rate = Some(rate);
                            shared.manual_rate.send_replace(Some((now.into_std(), rate)));
                            recorder.set_target_rate(rate * plan.rate_share());
                        }
                        // The UI offers only the change that fits the load model.
                        _ => continue,
                    }
                    steering.applied_at(change, now - started);
                }
            }
            _ = tick.tick() => {
                let now = Instant::now();
                if let Some(a) = arrival {
                    let rate = manual_rate.unwrap_or_else(|| a.rate_at(now - started));
                    recorder.set_target_rate(rate * plan.rate_share());
                }
                let p = collector.tick(&recorder, now.into_std()).clone();
                observer.tick(&p, &collector);
                // An observer's stop (a failed gate with abort_on_fail) ends the plan as its duration would.
                if observer.stop_requested() {
                    break;
                }
            }
            _ = sleep_until(schedule.next().unwrap_or(deadline)), if schedule.next().is_some() => {
                // Catch up on the users due by now (a busy runtime may wake us late), a bounded batch at a
                // time so the deadline and interrupts are still seen between batches. A ramp-down stops the
                // newest users: they finish their task, run on_stop and end.
                let own_target = schedule.step(
                    &plan,
                    Instant::now(),
                    |user| {
                        let token = stop.child_token();
                        workers.spawn(user, token.clone());
                        token
                    },
                    |token| token.cancel(),
                );
                recorder.set_target_users(own_target);
            }
        }
    }

    // Stop phase: no new tasks; in-flight requests and on_stop get up to the stop timeout.
    let run_time = started.elapsed();
    observer.stopping();
    stop.cancel();
    workers.close();
    let grace = Instant::now() + plan.stop_timeout;
    loop {
        tokio::select! {
            biased;
            _ = signals.abort.cancelled() => { workers.abort(); break; }
            // Already stopping: an interrupt now means "stop at once".
            _ = signals.interrupt.cancelled(), if !interrupted => {
                interrupted = true;
                workers.abort();
                break;
            }
            _ = sleep_until(grace) => { workers.abort(); break; }
            more = workers.next_done() => if !more { break },
            _ = tick.tick() => {
                let p = collector.tick(&recorder, Instant::now().into_std()).clone();
                observer.tick(&p, &collector);
            }
        }
    }
    let aborted_users = workers.join().await;
    if aborted_users > 0 {
        tracing::warn!(
            "{aborted_users} users were still busy at the stop timeout and were stopped"
        );
    }
    let p = collector
        .finish(&recorder, Instant::now().into_std())
        .clone();
    observer.tick(&p, &collector);

    Ok(RunOutcome {
        run_id,
        started_at,
        ended_at: SystemTime::now(),
        elapsed: started.elapsed(),
        run_time,
        iterations: collector.iterations,
        dropped: collector.dropped,
        totals: collector.totals,
        failures_seen: collector.failures_seen,
        series: collector.series,
        interrupted,
        aborted_users,
        peak_users: recorder.peak_users(),
        cores: collector.cores,
        addresses: shared.net.addresses_used(),
        manual: steering.applied(),
        stopped_from_ui,
    })
}

/// A short random id for a run (8 hex characters).
pub fn new_run_id() -> String {
    format!("{:08x}", rand::random::<u32>())
}
