//! Per-second observers that do I/O (the live CSV files with their fsync, the Prometheus snapshot) run on a
//! thread of their own, off the scheduler task: a slow or blocked disk can then never delay the scheduler, so
//! never the users it starts or the ticks it collects.
//!
//! The scheduler hands each second to an [`OffTask`] (an [`Observer`]) which only queues it: the point is
//! pushed, the run's totals so far are copied (memory only, once a second), and the thread is woken. The thread
//! gives its [`Background`] observer every point queued since its last call, in order, with the latest totals;
//! so a sink that fell behind catches up in one call, and its backlog is bounded ([`MAX_BACKLOG`] points).

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use super::Observer;
use crate::metrics::{Collector, FailureKey, Seen, SeriesPoint, StepStats};

/// Points kept for a sink that has fallen behind; older ones are dropped (the outputs are written again from
/// the results at the end of the run anyway).
pub const MAX_BACKLOG: usize = 600;

/// The run's figures so far, as the collector holds them after a tick.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    /// Per step (requests and flows), in the plan's order.
    pub totals: Vec<StepStats>,
    /// When each failure was first and last seen.
    pub failures_seen: HashMap<FailureKey, Seen>,
    /// Arrival rate: iterations started and dropped.
    pub iterations: u64,
    pub dropped: u64,
    /// Requests (not flows) so far, and how many of them failed.
    pub requests: u64,
    pub failures: u64,
}

impl Totals {
    pub fn of(c: &Collector) -> Totals {
        let (requests, failures) = c.running_totals();
        Totals {
            totals: c.totals.clone(),
            failures_seen: c.failures_seen.clone(),
            iterations: c.iterations,
            dropped: c.dropped,
            requests,
            failures,
        }
    }
}

/// An observer that runs off the scheduler task, on a thread of its own, where it may block.
pub trait Background: Send + 'static {
    /// The seconds since the last call (at least one, in order) and the run's totals at the last of them.
    fn seconds(&mut self, points: &[SeriesPoint], totals: &Totals);
}

#[derive(Default)]
struct Queue {
    points: Vec<SeriesPoint>,
    totals: Totals,
    /// Points dropped because the sink was [`MAX_BACKLOG`] behind.
    lost: u64,
    closed: bool,
}

type Slot = Arc<(Mutex<Queue>, Condvar)>;

/// The scheduler's side of a [`Background`] observer: queues each second for its thread, never waits for it.
pub struct OffTask {
    slot: Slot,
    thread: Option<JoinHandle<()>>,
}

impl OffTask {
    /// Starts the thread (named `loadgen-{name}`) that runs `sink`.
    pub fn start(name: &str, mut sink: impl Background) -> std::io::Result<OffTask> {
        let slot: Slot = Arc::default();
        let theirs = slot.clone();
        let thread = std::thread::Builder::new()
            .name(format!("loadgen-{name}"))
            .spawn(move || {
                let (lock, ready) = &*theirs;
                loop {
                    let (points, totals, lost, closed) = {
                        let mut q = lock.lock().unwrap_or_else(|p| p.into_inner());
                        while q.points.is_empty() && !q.closed {
                            q = ready.wait(q).unwrap_or_else(|p| p.into_inner());
                        }
                        (
                            std::mem::take(&mut q.points),
                            std::mem::take(&mut q.totals),
                            std::mem::take(&mut q.lost),
                            q.closed,
                        )
                    };
                    if lost > 0 {
                        tracing::warn!(
                            "the live outputs fell behind the run by more than {MAX_BACKLOG} s; {lost} seconds \
                             were left out of them (they are written again from the results at the end)"
                        );
                    }
                    if !points.is_empty() {
                        sink.seconds(&points, &totals);
                    }
                    if closed {
                        return;
                    }
                }
            })?;
        Ok(OffTask {
            slot,
            thread: Some(thread),
        })
    }

    fn close(&self) {
        let (lock, ready) = &*self.slot;
        lock.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
        ready.notify_one();
    }

    /// Hands the seconds still queued to the sink, then waits (off the async workers) for its thread to end.
    pub async fn finish(mut self) {
        self.close();
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

impl Observer for OffTask {
    fn tick(&mut self, point: &SeriesPoint, totals: &Collector) {
        let totals = Totals::of(totals);
        let (lock, ready) = &*self.slot;
        let mut q = lock.lock().unwrap_or_else(|p| p.into_inner());
        if q.points.len() >= MAX_BACKLOG {
            q.points.remove(0);
            q.lost += 1;
        }
        q.points.push(point.clone());
        q.totals = totals;
        drop(q);
        ready.notify_one();
    }
}

/// Dropped without [`OffTask::finish`] (an error ended the command): the thread is told to end, not waited for.
impl Drop for OffTask {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    /// Per call: the seconds' `elapsed_s`, and the totals' iterations.
    type Calls = Arc<Mutex<Vec<(Vec<f64>, u64)>>>;

    /// Blocks in its first call until `release` says so (a disk that does not answer), then records what it
    /// was given.
    struct Stuck {
        release: mpsc::Receiver<()>,
        entered: mpsc::Sender<()>,
        seen: Calls,
    }

    impl Background for Stuck {
        fn seconds(&mut self, points: &[SeriesPoint], totals: &Totals) {
            let first = self.seen.lock().unwrap().is_empty();
            if first {
                let _ = self.entered.send(());
                let _ = self.release.recv();
            }
            self.seen.lock().unwrap().push((
                points.iter().map(|p| p.elapsed_s).collect(),
                totals.iterations,
            ));
        }
    }

    fn point(s: u64) -> SeriesPoint {
        crate::results::fixtures::point(s as f64)
    }

    /// A sink stuck in its first write: the scheduler's ticks (here 300 seconds of them) go on without waiting,
    /// and once it is free it is given every second it missed, in order, with the latest totals.
    #[tokio::test]
    async fn a_blocked_sink_never_delays_the_ticks_and_catches_up_after() {
        let (release, released) = mpsc::channel();
        let (entered_tx, entered) = mpsc::channel();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut off = OffTask::start(
            "test",
            Stuck {
                release: released,
                entered: entered_tx,
                seen: seen.clone(),
            },
        )
        .unwrap();
        let mut collector = Collector::new(1, Instant::now());
        off.tick(&point(1), &collector);
        entered
            .recv_timeout(Duration::from_secs(10))
            .expect("the sink got the first second");
        // The ticks run on a thread of their own so that, were they to wait for the sink, this test fails
        // instead of hanging.
        let (done_tx, done) = mpsc::channel();
        let ticker = std::thread::spawn(move || {
            for s in 2..=300 {
                collector.iterations = s;
                off.tick(&point(s), &collector);
            }
            let _ = done_tx.send(());
            off
        });
        done.recv_timeout(Duration::from_secs(10))
            .expect("299 ticks went through while the sink was blocked");
        assert_eq!(seen.lock().unwrap().len(), 0, "the sink is still blocked");
        let off = ticker.join().unwrap();
        release.send(()).unwrap();
        off.finish().await;
        let seen = seen.lock().unwrap();
        let all: Vec<f64> = seen.iter().flat_map(|(p, _)| p.clone()).collect();
        assert_eq!(all, (1..=300).map(|s| s as f64).collect::<Vec<_>>());
        assert_eq!(seen.len(), 2, "the 299 seconds missed came in one call");
        assert_eq!(seen[1].1, 300, "with the latest totals");
    }

    /// A sink further behind than [`MAX_BACKLOG`] gets the latest seconds only.
    #[tokio::test]
    async fn the_backlog_is_bounded() {
        let (release, released) = mpsc::channel();
        let (entered_tx, entered) = mpsc::channel();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut off = OffTask::start(
            "test",
            Stuck {
                release: released,
                entered: entered_tx,
                seen: seen.clone(),
            },
        )
        .unwrap();
        let collector = Collector::new(1, Instant::now());
        off.tick(&point(0), &collector);
        entered.recv_timeout(Duration::from_secs(10)).unwrap();
        let n = MAX_BACKLOG as u64 + 50;
        for s in 1..=n {
            off.tick(&point(s), &collector);
        }
        release.send(()).unwrap();
        off.finish().await;
        let seen = seen.lock().unwrap();
        let caught_up = &seen[1].0;
        assert_eq!(caught_up.len(), MAX_BACKLOG);
        assert_eq!(caught_up.first().copied(), Some(51.0));
        assert_eq!(caught_up.last().copied(), Some(n as f64));
    }
}
