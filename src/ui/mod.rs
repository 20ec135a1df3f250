//! The live web UI (issue 19): `loadgen run FILE --ui [ADDR]` serves a page that shows the run as it goes and
//! steers it; `loadgen ui FILE` shows a start form first, as Locust's start screen does.
//!
//! Parts: [`board`] holds what the pages are shown and turns each second of the run into it (off the
//! scheduler, like the live CSV files); `server` serves the page, its server-sent events and its actions; the
//! actions reach the run through the engine's [`crate::engine::steer::Steering`] handle. The page itself is
//! one self-contained file (`page.html`: inline CSS and JavaScript, nothing loaded from anywhere else).
//!
//! Cost: the run does nothing for the UI but queue each second for the feed's thread (as for the live CSV);
//! the feed's work is once a second whatever the load, and a page costs its connection.

pub mod board;
mod server;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use board::{Board, Feed, Hello, Phase};
pub use server::{StartAsk, StartForm};

use crate::engine::steer::Steering;
use crate::error::Error;

/// Locust's port, which its users know.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8089";

/// How the UI is served.
#[derive(Debug, Clone)]
pub struct UiOptions {
    pub addr: SocketAddr,
    /// `--ui-remote`: an address other than loopback is allowed (then a token is required).
    pub remote: bool,
    /// `--ui-token` (or `LOADGEN_UI_TOKEN`); one is made when a remote address has none.
    pub token: Option<String>,
}

/// The running UI server.
pub struct UiServer {
    addr: SocketAddr,
    token: Option<String>,
    stop: CancellationToken,
    task: JoinHandle<()>,
    pub board: Board,
    pub steering: Steering,
}

impl UiServer {
    /// Binds now (a port in use, or a remote address without `--ui-remote`, fails before any traffic) and
    /// serves until [`UiServer::shutdown`]. `start` receives the start form's asks (`loadgen ui FILE`).
    pub async fn start(
        opts: &UiOptions,
        board: Board,
        steering: Steering,
        start: Option<mpsc::Sender<StartAsk>>,
    ) -> Result<UiServer, Error> {
        let loopback = opts.addr.ip().is_loopback();
        if !loopback && !opts.remote {
            return Err(Error::Usage(format!(
                "--ui {}: the live UI listens on loopback only unless --ui-remote is given (anyone who can \
                 reach the address could watch and stop the run; a token is then required)",
                opts.addr
            )));
        }
        let token = match (&opts.token, loopback) {
            (Some(t), _)
                if t.len() < 16
                    || !t
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
            {
                return Err(Error::Usage(
                    "--ui-token must be at least 16 characters of letters, digits, - and _".into(),
                ));
            }
            (Some(t), _) => Some(t.clone()),
            (None, false) => Some(format!("{:032x}", rand::random::<u128>())),
            (None, true) => None,
        };
        let listener = TcpListener::bind(opts.addr).await.map_err(|e| {
            Error::io(
                format!("cannot serve the live UI on {} (--ui)", opts.addr),
                e,
            )
        })?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("cannot read the live UI's address", e))?;
        let stop = CancellationToken::new();
        let ctx = Arc::new(server::Ctx {
            board: board.clone(),
            steering: steering.clone(),
            token: token.clone(),
            addr,
            start,
            stop: stop.clone(),
        });
        let task = tokio::spawn(server::serve(listener, ctx));
        Ok(UiServer {
            addr,
            token,
            stop,
            task,
            board,
            steering,
        })
    }

    /// The page's URL, with its token when one is required.
    pub fn url(&self) -> String {
        let host = if self.addr.ip().is_unspecified() {
            format!("<this machine's address>:{}", self.addr.port())
        } else {
            self.addr.to_string()
        };
        match &self.token {
            Some(t) => format!("http://{host}/?token={t}"),
            None => format!("http://{host}/"),
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the address is reachable from other machines (a warning is due).
    pub fn remote(&self) -> bool {
        !self.addr.ip().is_loopback()
    }

    /// Stops accepting and ends every open connection.
    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}
