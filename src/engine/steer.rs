//! Changes made to a run while it goes, from outside it: the live web UI's steering (issue 19 item 2).
//!
//! The UI holds a [`Steering`] handle (the same one the scheduler was given in its [`super::Signals`]): it
//! queues a [`Change`] and wakes the scheduler, which applies it at once, from that moment on:
//! - users (a ramp or stages): the plan's target is replaced by a move from the users running to the new
//!   number at the new spawn rate, held to the end of the run (what Locust does when its users are edited);
//! - an arrival rate: iterations start at the new constant rate, each worker's lane switching to it through a
//!   watch channel it selects on (see `arrival`).
//!
//! Each change applied is kept with when it was applied, as a [`Manual`] stage: the results list them, the
//! charts mark them, and the gates judge each as a window of its own. A stop asked from the UI ends the run as
//! an interrupt would, and says so in the verdict.
//!
//! Cost when unused: the scheduler selects on one more future, which never wakes; a lane holds one watch
//! receiver that never changes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// A change to the load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change {
    /// Closed models: move to `users` at `spawn_rate` users per second, and hold there.
    Users { users: u64, spawn_rate: f64 },
    /// Arrival rate: start iterations at this many per second from now on.
    Rate(f64),
}

/// A change as applied: when, from the start of the run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Manual {
    pub at: Duration,
    pub change: Change,
}

#[derive(Debug, Default)]
struct Inner {
    queued: Mutex<Vec<Change>>,
    wake: Notify,
    applied: Mutex<Vec<Manual>>,
    stop: CancellationToken,
}

/// The handle both sides hold: the UI queues changes and asks to stop; the scheduler applies them.
#[derive(Debug, Clone, Default)]
pub struct Steering {
    inner: Arc<Inner>,
}

impl Steering {
    /// Queues `change` for the scheduler, which applies it within a moment.
    pub fn change(&self, change: Change) {
        lock(&self.inner.queued).push(change);
        self.inner.wake.notify_one();
    }

    /// Asks the run to stop, gracefully, as an interrupt would.
    pub fn stop(&self) {
        self.inner.stop.cancel();
    }

    /// Whether a stop was asked.
    pub fn stop_asked(&self) -> bool {
        self.inner.stop.is_cancelled()
    }

    /// The changes applied so far, in order.
    pub fn applied(&self) -> Vec<Manual> {
        lock(&self.inner.applied).clone()
    }

    /// Resolves when a stop is asked.
    pub(super) async fn stopped(&self) {
        self.inner.stop.cancelled().await;
    }

    /// Resolves when changes are queued (at once if some already are).
    pub(super) async fn queued(&self) {
        if !lock(&self.inner.queued).is_empty() {
            return;
        }
        self.inner.wake.notified().await;
    }

    /// Takes the changes queued.
    pub(super) fn take(&self) -> Vec<Change> {
        std::mem::take(&mut *lock(&self.inner.queued))
    }

    /// Records a change as applied `at` into the run.
    pub(super) fn applied_at(&self, change: Change, at: Duration) {
        lock(&self.inner.applied).push(Manual { at, change });
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn changes_queued_before_the_wait_are_seen_and_taken_once() {
        let s = Steering::default();
        s.change(Change::Rate(5.0));
        s.change(Change::Users {
            users: 3,
            spawn_rate: 1.0,
        });
        tokio::time::timeout(Duration::from_secs(5), s.queued())
            .await
            .expect("queued changes wake the scheduler");
        assert_eq!(s.take().len(), 2);
        assert!(s.take().is_empty());
        assert!(!s.stop_asked());
        s.clone().stop();
        assert!(s.stop_asked());
        tokio::time::timeout(Duration::from_secs(5), s.stopped())
            .await
            .expect("a stop asked on a clone is seen");
    }
}
