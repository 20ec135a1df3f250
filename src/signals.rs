//! SIGINT and SIGTERM, handled here and nowhere else.
//!
//! loadgen treats SIGTERM (a cancelled CI job, `docker stop`, a deleted Kubernetes pod) as it treats SIGINT
//! (Ctrl-C):
//! - `run` and `check --preflight` ([`Stops::watch_run`]): the first stops the users gracefully (the results are
//!   still written; exit 130), the second stops them at once;
//! - the grace period in which `run --metrics-addr` serves its final figures: either cuts it short;
//! - `serve-demo`: either stops the server cleanly (exit 0).
//!
//! [`Stops::listen`] installs the handlers at once, not when a task first runs: a command listens before it
//! announces itself, so a signal sent as soon as its first line is printed is handled, never lost and never
//! left to the default action (which would kill the process without its results).

use tokio_util::sync::CancellationToken;

/// Which signal asked loadgen to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGINT, Ctrl-C.
    Interrupt,
    /// SIGTERM.
    Terminate,
}

impl Stop {
    /// The signal's name, e.g. `SIGTERM`.
    pub fn name(self) -> &'static str {
        match self {
            Stop::Interrupt => "SIGINT",
            Stop::Terminate => "SIGTERM",
        }
    }
}

/// Listens for SIGINT and SIGTERM from [`Stops::listen`] on; [`Stops::next`] waits for the next one.
pub struct Stops {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Stops {
    /// Starts listening (within the Tokio runtime). A signal whose handler cannot be installed is logged and
    /// then never waited for.
    pub fn listen() -> Stops {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listen = |kind: SignalKind, name: &str| {
                signal(kind)
                    .map_err(|e| tracing::warn!("cannot handle {name}: {e}"))
                    .ok()
            };
            Stops {
                interrupt: listen(SignalKind::interrupt(), "SIGINT"),
                terminate: listen(SignalKind::terminate(), "SIGTERM"),
            }
        }
        #[cfg(not(unix))]
        Stops {}
    }

    /// Waits for the next SIGINT or SIGTERM (one received since [`Stops::listen`] counts).
    pub async fn next(&mut self) -> Stop {
        #[cfg(unix)]
        {
            async fn recv(s: Option<&mut tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            tokio::select! {
                _ = recv(self.interrupt.as_mut()) => Stop::Interrupt,
                _ = recv(self.terminate.as_mut()) => Stop::Terminate,
            }
        }
        #[cfg(not(unix))]
        {
            match tokio::signal::ctrl_c().await {
                Ok(()) => Stop::Interrupt,
                Err(_) => std::future::pending().await,
            }
        }
    }

    /// During a run: the first SIGINT/SIGTERM cancels `interrupt` (a graceful stop, with a line on stderr
    /// saying so), the second `abort` (stop now). A token already cancelled is passed over.
    pub async fn watch_run(mut self, interrupt: CancellationToken, abort: CancellationToken) {
        for token in [&interrupt, &abort] {
            self.next().await;
            if token.is_cancelled() {
                continue;
            }
            if std::ptr::eq(token, &interrupt) {
                eprintln!("\ninterrupted: stopping users (press Ctrl-C again to stop at once)");
            }
            token.cancel();
        }
    }
}
