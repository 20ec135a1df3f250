//! Connection handling: the accept loop with graceful shutdown ([`serve`]) and
//! the self-contained background server ([`DemoServer`]).
//!
//! Shape: one tokio task per TCP connection, each driving a hyper HTTP/1.1
//! keep-alive connection or an HTTP/2 one (h2c with prior knowledge: hyper-util's
//! auto builder tells them apart by the client's first bytes), all kept in a `JoinSet` so they can be drained and,
//! past a grace period, aborted — following mini-redis: stop accepting when
//! the shutdown future resolves, tell every connection to finish its current
//! request and close, wait up to [`SHUTDOWN_GRACE`], return. Accept errors such as
//! `EMFILE` are logged and retried after a short back-off instead of ending
//! the server, since they are transient under heavy connection counts.
//! [`DemoServer`] runs [`serve`] on its own OS thread and tokio runtime so a
//! load generator in the same process never shares worker threads with it.

use std::cell::RefCell;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use hyper::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;

use super::DemoConfig;
use super::handler::App;

/// How long open connections may take to finish after shutdown is requested.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Back-off after an accept error that is not about a single connection.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Upper bound for [`DemoServer::shutdown`] / drop to wait for the thread.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// Serves the demo API on `listener` until `shutdown` resolves.
///
/// Then it stops accepting, lets every open connection finish the request it
/// is working on (idle keep-alive connections close at once), waits at most
/// [`SHUTDOWN_GRACE`] for them, aborts the rest and returns. Fails only if
/// `config` is invalid (`InvalidInput`) or the token secret cannot be set up.
pub async fn serve(
    listener: TcpListener,
    config: DemoConfig,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let app = Arc::new(App::new(config)?);
    let (stop_tx, stop_rx) = watch::channel(());
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .keep_alive(true)
        .pipeline_flush(true)
        .header_read_timeout(None);
    let mut conns = JoinSet::new();
    let mut next_index: u64 = 0;
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "demo server listening");
    }
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(res) = conns.join_next(), if !conns.is_empty() => {
                if let Err(e) = res {
                    tracing::warn!(error = %e, "demo connection task failed");
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    spawn_connection(&mut conns, &builder, &app, stream, next_index, stop_rx.clone());
                    next_index = next_index.wrapping_add(1);
                }
                Err(e) if is_connection_error(&e) => {
                    tracing::debug!(error = %e, "demo accept: connection failed");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "demo accept failed; retrying shortly");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            }
        }
    }
    drop(listener);
    // Wakes every connection task; they finish their in-flight request.
    let _ = stop_tx.send(());
    let open = conns.len();
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            remaining = conns.len(),
            "demo server: aborting connections still busy after the grace period"
        );
        conns.shutdown().await;
    }
    tracing::info!(connections_closed = open, "demo server stopped");
    Ok(())
}

/// Starts serving one accepted connection (number `index`) as a task in
/// `conns`; the task finishes the in-flight request and closes when `stop`
/// fires.
fn spawn_connection(
    conns: &mut JoinSet<()>,
    builder: &auto::Builder<TokioExecutor>,
    app: &Arc<App>,
    stream: TcpStream,
    index: u64,
    mut stop: watch::Receiver<()>,
) {
    // Latency measurements must not include Nagle delays.
    let _ = stream.set_nodelay(true);
    let app = Arc::clone(app);
    // Per-connection RNG: no shared state; only the hyper task touches it.
    let rng = RefCell::new(app.connection_rng(index));
    // Counted by HTTP version when its first request arrives (`GET /api/debug/versions`).
    let counted = std::cell::Cell::new(false);
    let service = service_fn(move |req: Request<Incoming>| {
        app.versions.request(req.version(), !counted.replace(true));
        let (fail, delay) = app.sample(&mut rng.borrow_mut(), req.uri().path());
        let app = Arc::clone(&app);
        async move { Ok::<_, Infallible>(app.respond(req, fail, delay).await) }
    });
    let conn = builder
        .serve_connection(TokioIo::new(stream), service)
        .into_owned();
    conns.spawn(async move {
        tokio::pin!(conn);
        let res = tokio::select! {
            res = conn.as_mut() => res,
            _ = stop.changed() => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = res {
            tracing::debug!(error = %e, "demo connection ended with an error");
        }
    });
}

/// Errors that concern only the one connection being accepted.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// A demo server running in the background on its own thread and runtime.
///
/// Dropping it also stops the server (waiting a bounded time for it).
#[derive(Debug)]
pub struct DemoServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    /// Disconnects when the server thread exits.
    done: mpsc::Receiver<()>,
    thread: Option<JoinHandle<()>>,
}

impl DemoServer {
    /// Binds `addr` (e.g. `127.0.0.1:0`) and serves on a dedicated OS thread
    /// with its own tokio runtime (multi-thread, 1 worker) so the load
    /// generator's runtime does not share with it.
    ///
    /// Binding, runtime and thread errors (e.g. `AddrInUse`) and an invalid
    /// `config` (`InvalidInput`) are returned here, before anything runs.
    pub fn start(addr: SocketAddr, config: DemoConfig) -> io::Result<DemoServer> {
        config.validate()?;
        let std_listener = std::net::TcpListener::bind(addr)?;
        std_listener.set_nonblocking(true)?;
        let local = std_listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("loadgen-demo-worker")
            .enable_all()
            .build()?;
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("loadgen-demo".to_owned())
            .spawn(move || {
                // Dropped last, when this thread is really done (also on panic).
                let _done = done_tx;
                let result = runtime.block_on(async move {
                    let listener = TcpListener::from_std(std_listener)?;
                    // A dropped sender (DemoServer dropped) also means "stop".
                    serve(listener, config, async {
                        let _ = stop_rx.await;
                    })
                    .await
                });
                if let Err(e) = result {
                    tracing::error!(error = %e, "demo server failed");
                }
                runtime.shutdown_timeout(Duration::from_secs(1));
            })?;
        Ok(DemoServer {
            addr: local,
            stop: Some(stop_tx),
            done: done_rx,
            thread: Some(thread),
        })
    }

    /// The address actually bound (with the real port when 0 was requested).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL such as `http://127.0.0.1:PORT`. A wildcard bind address
    /// (`0.0.0.0` / `::`) is replaced by the loopback address of its family.
    pub fn url(&self) -> String {
        let mut addr = self.addr;
        match addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => addr.set_ip(Ipv4Addr::LOCALHOST.into()),
            IpAddr::V6(ip) if ip.is_unspecified() => addr.set_ip(Ipv6Addr::LOCALHOST.into()),
            _ => {}
        }
        format!("http://{addr}")
    }

    /// Stops the server: signals shutdown and joins the thread. Blocks at
    /// most a few seconds (the connection grace period plus runtime
    /// teardown); if the thread still has not finished it is detached.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(stop) = self.stop.take() else {
            return;
        };
        let _ = stop.send(());
        match self.done.recv_timeout(STOP_WAIT) {
            Err(mpsc::RecvTimeoutError::Timeout) => {
                tracing::warn!("demo server thread did not stop in time; detaching it");
                self.thread = None;
            }
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                if let Some(thread) = self.thread.take()
                    && thread.join().is_err()
                {
                    tracing::warn!("demo server thread panicked");
                }
            }
        }
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        self.stop();
    }
}
