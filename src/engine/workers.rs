//! Worker threads: one current-thread tokio runtime per core, with the users sharded across them.
//!
//! User *n* runs on worker *n mod k* for its whole life, with its connections (hyper's connection tasks are
//! spawned on the same runtime). Nothing on the request path crosses threads: no work stealing, no cross-core
//! wake-ups, and — since metrics shard *n mod 4k* belongs to worker *n mod k* — no lock another thread
//! competes for, except the collector's once-a-second swap. This is how the fastest generators are built
//! (one event loop per core, like wrk's threads).
//!
//! The scheduler talks to a worker by sending user numbers to start; dropping the senders tells the workers no
//! more users will come, and each reports when its last user has ended. [`Workers::abort`] stops the users
//! still running (at the stop timeout, or a second interrupt).

use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::arrival::{self, Lane};
use super::client::{Client, H2Pool, Pool};
use super::shared::Shared;
use super::user::Vu;
use super::walk::Start;
use crate::plan::{Connections, HttpVersion, Load};

/// What the scheduler tells a worker.
pub enum Command {
    /// Start this user (its numbers and class), which stops when its token is cancelled (closed models).
    User(Start, CancellationToken),
    /// Run this lane of the arrival rate (open model): the worker starts its users itself.
    Lane(Lane),
}

/// The worker threads of a run.
pub struct Workers {
    senders: Vec<mpsc::UnboundedSender<Command>>,
    threads: Vec<JoinHandle<()>>,
    done: mpsc::UnboundedReceiver<usize>,
    pending: usize,
    abort: CancellationToken,
    aborted: usize,
}

impl Workers {
    /// Starts `count` workers (at least one) for the users of `shared`.
    pub fn start(count: usize, shared: &Arc<Shared>) -> std::io::Result<Workers> {
        let (done_tx, done) = mpsc::unbounded_channel();
        let abort = CancellationToken::new();
        let mut senders = Vec::new();
        let mut threads = Vec::new();
        for w in 0..count.max(1) {
            let (tx, rx) = mpsc::unbounded_channel();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (shared, abort, done_tx) = (shared.clone(), abort.clone(), done_tx.clone());
            let thread = std::thread::Builder::new()
                .name(format!("loadgen-worker-{w}"))
                .spawn(move || {
                    let aborted = runtime.block_on(worker(shared, rx, abort));
                    let _ = done_tx.send(aborted);
                })?;
            senders.push(tx);
            threads.push(thread);
        }
        Ok(Workers {
            pending: senders.len(),
            senders,
            threads,
            done,
            abort,
            aborted: 0,
        })
    }

    /// Starts user `id` of class `class` on its worker.
    pub fn spawn(&self, user: Start, stop: CancellationToken) {
        let w = (user.local as usize) % self.senders.len();
        let _ = self.senders[w].send(Command::User(user, stop));
    }

    /// Starts the arrival rate's lanes, one per worker (fewer when `users` is smaller), timed from `started`.
    pub fn start_lanes(&self, started: std::time::Instant, users: u64) {
        let lanes = (self.senders.len() as u64).min(users).max(1);
        for (index, tx) in self.senders.iter().enumerate().take(lanes as usize) {
            let index = index as u64;
            let _ = tx.send(Command::Lane(Lane {
                index,
                lanes,
                users: Lane::share(users, lanes, index),
                started,
            }));
        }
    }

    /// No more users will be started: workers end once their users have.
    pub fn close(&mut self) {
        self.senders.clear();
    }

    /// Waits for the next worker to end; `false` once all have.
    pub async fn next_done(&mut self) -> bool {
        if self.pending == 0 {
            return false;
        }
        match self.done.recv().await {
            Some(aborted) => {
                self.aborted += aborted;
                self.pending -= 1;
                true
            }
            None => {
                self.pending = 0;
                false
            }
        }
    }

    /// Stops every user still running (their in-flight requests are recorded as aborted).
    pub fn abort(&self) {
        self.abort.cancel();
    }

    /// Waits for every worker thread to end; returns how many users were aborted.
    pub async fn join(mut self) -> usize {
        self.close();
        while self.next_done().await {}
        for t in self.threads.drain(..) {
            // The thread has sent its report, so it is ending; joining is immediate.
            let _ = t.join();
        }
        self.aborted
    }
}

/// One worker: runs the users it is sent until it is told there will be no more and they have all ended, or
/// until aborted. Returns how many users it aborted.
async fn worker(
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<Command>,
    abort: CancellationToken,
) -> usize {
    // Scheduler lag is measured on every worker, where the users run.
    let probe_stop = CancellationToken::new();
    tokio::spawn(crate::metrics::lag_probe(
        shared.recorder.clone(),
        probe_stop.clone(),
    ));
    // With `connections = "shared"`, this worker's users share one pool of keep-alive connections.
    let pool = (shared.plan.connections == Connections::Shared).then(|| Arc::new(Pool::default()));
    // With HTTP/2 (issue 17, item 6), its users' requests are streams on this worker's HTTP/2 connections.
    let h2 = (shared.plan.protocol.http != HttpVersion::Http1)
        .then(|| Arc::new(H2Pool::new(shared.plan.protocol.http2_connections)));
    let client = || {
        let c = match &pool {
            Some(p) => Client::shared(p.clone()),
            None => Client::default(),
        };
        match &h2 {
            Some(h) => c.with_h2(h.clone()),
            None => c,
        }
    };
    if matches!(shared.plan.load, Load::Arrival(_)) {
        // The open model: this worker's lane, if it has one (the senders close without one otherwise).
        let aborted = match rx.recv().await {
            Some(Command::Lane(lane)) => {
                let stop = shared.stop.clone();
                arrival::run(shared.clone(), lane, client, stop, abort).await
            }
            _ => 0,
        };
        probe_stop.cancel();
        return aborted;
    }
    let mut users = JoinSet::new();
    let mut open = true;
    let mut aborted = 0;
    loop {
        if !open && users.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            _ = abort.cancelled() => {
                aborted = users.len();
                users.abort_all();
                break;
            }
            msg = rx.recv(), if open => match msg {
                Some(Command::User(user, stop)) => {
                    users.spawn(Vu::new(user, shared.clone(), client(), stop).run());
                }
                Some(Command::Lane(_)) => {}
                None => open = false,
            },
            Some(res) = users.join_next(), if !users.is_empty() => {
                if let Err(e) = res && e.is_panic() {
                    tracing::error!("a virtual user panicked: {e}");
                }
            }
        }
    }
    // Aborted users are dropped here, which records their in-flight requests.
    while users.join_next().await.is_some() {}
    probe_stop.cancel();
    aborted
}
