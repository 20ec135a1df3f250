//! The live UI's HTTP server: the page, its event stream, its actions, and the report and results at the end.
//!
//! hyper HTTP/1.1 on a task of its own, as the metrics server ([`crate::report::prometheus`]). Routes:
//! - `GET /`: the page (one self-contained file, with a Content-Security-Policy that lets it load nothing and
//!   connect only to this server);
//! - `GET /events`: server-sent events (see [`super::board`]): a page that connects late or reloads is sent
//!   the run from its start;
//! - `POST /api/stop`, `/api/steer`, `/api/start`: the page's actions (JSON in, JSON out);
//! - `GET /report.html`, `/results.json`: once the run ended.
//!
//! Safety: bound to loopback unless `--ui-remote` says otherwise, and then every request needs the token (the
//! `token` query parameter, or the `X-Loadgen-Token` header for the actions). On loopback, the `Host` header
//! must name this server (no DNS rebinding), and an action needs `Content-Type: application/json` and, when the
//! browser sends an `Origin`, this server's (no cross-site request can change a run).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::{Body, Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::board::{Board, Phase};
use crate::engine::steer::{Change, Steering};
use crate::plan::{MAX_ARRIVAL_RATE, MAX_SPAWN_RATE, MAX_USERS, MIN_ARRIVAL_RATE, MIN_SPAWN_RATE};

/// The page, compiled in.
const PAGE: &str = include_str!("page.html");

/// What the page may load and connect to: itself, and this server.
const CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                   connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The start form's values, as the page sends them (`loadgen ui FILE`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartForm {
    pub users: Option<u64>,
    pub spawn_rate: Option<f64>,
    pub rate: Option<f64>,
    pub duration: Option<String>,
    pub host: Option<String>,
}

/// A start asked from the form, with where to answer whether the plan took it.
pub type StartAsk = (StartForm, oneshot::Sender<Result<(), String>>);

/// What the server's connections share.
pub(super) struct Ctx {
    pub board: Board,
    pub steering: Steering,
    pub token: Option<String>,
    pub addr: SocketAddr,
    pub start: Option<mpsc::Sender<StartAsk>>,
    pub stop: CancellationToken,
}

pub(super) async fn serve(listener: TcpListener, ctx: Arc<Ctx>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            _ = ctx.stop.cancelled() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let ctx = ctx.clone();
                    let service = service_fn(move |req: Request<Incoming>| {
                        let ctx = ctx.clone();
                        async move { Ok::<_, Infallible>(respond(req, &ctx).await) }
                    });
                    conns.spawn(async move {
                        let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                        if let Err(e) = conn.await {
                            tracing::debug!(error = %e, "UI connection ended with an error");
                        }
                    });
                }
                Err(e) => {
                    tracing::debug!(error = %e, "UI accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }
    // Pages still connected get what was sent last (the end of the run) before they are cut.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    conns.shutdown().await;
}

type Reply = Response<Either<Full<Bytes>, EventBody>>;

fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Reply {
    let mut r = Response::new(Either::Left(Full::new(body.into())));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_str(content_type)
            .unwrap_or(hyper::header::HeaderValue::from_static("text/plain")),
    );
    h.insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    h.insert(
        "x-content-type-options",
        hyper::header::HeaderValue::from_static("nosniff"),
    );
    r
}

fn json(status: StatusCode, value: serde_json::Value) -> Reply {
    reply(status, "application/json", value.to_string())
}

fn error(status: StatusCode, message: impl Into<String>) -> Reply {
    json(status, serde_json::json!({ "error": message.into() }))
}

/// The value of query parameter `name`, if any.
fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Compares without stopping at the first difference.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The checks every request passes before its route (the token; on loopback, the Host header): the answer
/// to a request that fails one.
fn refused(req: &Request<Incoming>, ctx: &Ctx) -> Option<Reply> {
    if let Some(token) = &ctx.token {
        let given = req
            .headers()
            .get("x-loadgen-token")
            .and_then(|v| v.to_str().ok())
            .or_else(|| query_param(req.uri().query(), "token"));
        if !given.is_some_and(|g| same(g, token)) {
            return Some(error(
                StatusCode::UNAUTHORIZED,
                "access token missing or wrong: open the URL loadgen printed",
            ));
        }
    } else if let Some(host) = req.headers().get(hyper::header::HOST) {
        let host = host.to_str().unwrap_or("");
        let port = ctx.addr.port();
        let ok = [
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
            ctx.addr.to_string(),
        ]
        .iter()
        .any(|h| h.eq_ignore_ascii_case(host));
        if !ok {
            return Some(error(
                StatusCode::FORBIDDEN,
                "this server answers only to its own address (Host header)",
            ));
        }
    }
    None
}

/// An action's extra checks (JSON, and from this server's own page): the answer to one that fails them.
fn not_same_site(req: &Request<Incoming>) -> Option<Reply> {
    let json = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return Some(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send JSON (Content-Type: application/json)",
        ));
    }
    if let Some(origin) = req.headers().get(hyper::header::ORIGIN) {
        let host = req
            .headers()
            .get(hyper::header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let origin = origin.to_str().unwrap_or("");
        if !origin.eq_ignore_ascii_case(&format!("http://{host}")) {
            return Some(error(
                StatusCode::FORBIDDEN,
                "actions are taken from this server's own page only",
            ));
        }
    }
    None
}

/// Reads an action's JSON body (4 KiB at most).
async fn body<T: serde::de::DeserializeOwned>(req: Request<Incoming>) -> Result<T, Reply> {
    let bytes = Limited::new(req.into_body(), 4096)
        .collect()
        .await
        .map_err(|_| error(StatusCode::PAYLOAD_TOO_LARGE, "the body is over 4 KiB"))?
        .to_bytes();
    serde_json::from_slice(&bytes)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("bad JSON: {e}")))
}

async fn respond(req: Request<Incoming>, ctx: &Ctx) -> Reply {
    if let Some(r) = refused(&req, ctx) {
        return r;
    }
    let path = req.uri().path().to_string();
    match (req.method().clone(), path.as_str()) {
        (Method::GET | Method::HEAD, "/") => {
            let mut r = reply(StatusCode::OK, "text/html; charset=utf-8", PAGE);
            if let Ok(v) = hyper::header::HeaderValue::from_str(CSP) {
                r.headers_mut().insert("content-security-policy", v);
            }
            r
        }
        (Method::GET, "/events") => events(ctx),
        (Method::GET | Method::HEAD, "/report.html") => match ctx.board.report_html() {
            Some(html) => reply(
                StatusCode::OK,
                "text/html; charset=utf-8",
                html.as_bytes().to_vec(),
            ),
            None => error(
                StatusCode::NOT_FOUND,
                "the report is written when the run ends",
            ),
        },
        (Method::GET | Method::HEAD, "/results.json") => match ctx.board.results_json() {
            Some(json) => reply(StatusCode::OK, "application/json", json.as_bytes().to_vec()),
            None => error(
                StatusCode::NOT_FOUND,
                "the results are written when the run ends",
            ),
        },
        (Method::POST, "/api/stop") => {
            if let Some(r) = not_same_site(&req) {
                return r;
            }
            match ctx.board.phase() {
                Phase::Running => {
                    ctx.steering.stop();
                    json(StatusCode::ACCEPTED, serde_json::json!({ "ok": true }))
                }
                Phase::Stopping => json(StatusCode::ACCEPTED, serde_json::json!({ "ok": true })),
                p => error(
                    StatusCode::CONFLICT,
                    format!("the run is not running ({})", phase_word(p)),
                ),
            }
        }
        (Method::POST, "/api/steer") => {
            if let Some(r) = not_same_site(&req) {
                return r;
            }
            let ask: SteerForm = match body(req).await {
                Ok(a) => a,
                Err(r) => return r,
            };
            steer(ctx, ask)
        }
        (Method::POST, "/api/start") => {
            if let Some(r) = not_same_site(&req) {
                return r;
            }
            let form: StartForm = match body(req).await {
                Ok(f) => f,
                Err(r) => return r,
            };
            start(ctx, form).await
        }
        (
            _,
            "/" | "/events" | "/report.html" | "/results.json" | "/api/stop" | "/api/steer"
            | "/api/start",
        ) => error(StatusCode::METHOD_NOT_ALLOWED, "wrong method for this path"),
        _ => error(StatusCode::NOT_FOUND, "not found: the live UI is at /"),
    }
}

fn phase_word(p: Phase) -> &'static str {
    match p {
        Phase::Waiting => "it has not started",
        Phase::Running => "running",
        Phase::Stopping => "it is stopping",
        Phase::Ended => "it has ended",
    }
}

/// A change asked from the page.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SteerForm {
    users: Option<u64>,
    spawn_rate: Option<f64>,
    rate: Option<f64>,
}

fn steer(ctx: &Ctx, ask: SteerForm) -> Reply {
    let phase = ctx.board.phase();
    if phase != Phase::Running {
        return error(
            StatusCode::CONFLICT,
            format!(
                "the load can be changed while the run goes ({})",
                phase_word(phase)
            ),
        );
    }
    let Some(facts) = ctx.board.facts() else {
        return error(StatusCode::CONFLICT, "no run yet");
    };
    if !facts.steerable {
        return error(
            StatusCode::CONFLICT,
            facts
                .steer_off_reason
                .unwrap_or_else(|| "steering is off".into()),
        );
    }
    let change = match (facts.open, ask) {
        (false, SteerForm { rate: Some(_), .. }) => {
            return error(
                StatusCode::BAD_REQUEST,
                "`rate` applies to an arrival rate; this run has users (change `users`, `spawn_rate`)",
            );
        }
        (
            true,
            SteerForm { users: Some(_), .. }
            | SteerForm {
                spawn_rate: Some(_),
                ..
            },
        ) => {
            return error(
                StatusCode::BAD_REQUEST,
                "this run has an arrival rate: change `rate` (iterations per second)",
            );
        }
        (true, SteerForm { rate: None, .. }) => {
            return error(
                StatusCode::BAD_REQUEST,
                "give `rate`, iterations per second",
            );
        }
        (true, SteerForm { rate: Some(r), .. }) => {
            if !(MIN_ARRIVAL_RATE..=MAX_ARRIVAL_RATE).contains(&r) {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "`rate` must be from {MIN_ARRIVAL_RATE} to {MAX_ARRIVAL_RATE} iterations per second, got {r}"
                    ),
                );
            }
            Change::Rate(r)
        }
        (
            false,
            SteerForm {
                users, spawn_rate, ..
            },
        ) => {
            if users.is_none() && spawn_rate.is_none() {
                return error(
                    StatusCode::BAD_REQUEST,
                    "give `users`, `spawn_rate` or both",
                );
            }
            let users = users.unwrap_or(facts.users_now);
            let spawn_rate = spawn_rate.unwrap_or(facts.spawn_rate);
            if users > MAX_USERS {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("`users` must be from 0 to {MAX_USERS}, got {users}"),
                );
            }
            if !(MIN_SPAWN_RATE..=MAX_SPAWN_RATE).contains(&spawn_rate) {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "`spawn_rate` must be from {MIN_SPAWN_RATE} to {MAX_SPAWN_RATE} users per second, got {spawn_rate}"
                    ),
                );
            }
            // A user holds a connection: more users than open files fail as "too many open files"; say it now.
            if let Ok((soft, _)) = rlimit::Resource::NOFILE.get()
                && users.saturating_add(64) > soft
            {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "{users} users need about {} open files, but loadgen's limit is {soft}: raise it before the \
                         run (e.g. `ulimit -n {}`), or ask for fewer users",
                        users + 64,
                        (users + 64).next_power_of_two()
                    ),
                );
            }
            Change::Users { users, spawn_rate }
        }
    };
    // Applied by the scheduler within a moment; the page hears of it as a `manual` event.
    ctx.steering.change(change);
    json(StatusCode::OK, serde_json::json!({ "ok": true }))
}

async fn start(ctx: &Ctx, form: StartForm) -> Reply {
    let Some(tx) = &ctx.start else {
        return error(
            StatusCode::CONFLICT,
            "this run was started from the command line (`loadgen ui FILE` shows a start form)",
        );
    };
    if ctx.board.phase() != Phase::Waiting {
        return error(StatusCode::CONFLICT, "the run has already started");
    }
    let (answer, answered) = oneshot::channel();
    if tx.send((form, answer)).await.is_err() {
        return error(
            StatusCode::CONFLICT,
            "loadgen is no longer waiting to start",
        );
    }
    match answered.await {
        Ok(Ok(())) => json(StatusCode::OK, serde_json::json!({ "ok": true })),
        Ok(Err(message)) => error(StatusCode::BAD_REQUEST, message),
        Err(_) => error(
            StatusCode::CONFLICT,
            "loadgen is no longer waiting to start",
        ),
    }
}

/// The event stream of one page.
fn events(ctx: &Ctx) -> Reply {
    let sub = ctx.board.subscribe();
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        let mut rest = sub.rest;
        if tx.send(Bytes::from(sub.first)).await.is_err() || sub.ended {
            return;
        }
        let mut ping = tokio::time::interval(std::time::Duration::from_secs(15));
        ping.tick().await;
        loop {
            let next = tokio::select! {
                _ = ping.tick() => Bytes::from_static(b": ping\n\n"),
                e = rest.recv() => match e {
                    Ok(e) => {
                        let end = e.starts_with("event: end\n");
                        if tx.send(Bytes::from(e.as_bytes().to_vec())).await.is_err() || end {
                            return;
                        }
                        continue;
                    }
                    // A page too slow to keep up is cut off: its browser reconnects and is sent the history.
                    Err(broadcast::error::RecvError::Lagged(_) | broadcast::error::RecvError::Closed) => return,
                },
            };
            if tx.send(next).await.is_err() {
                return;
            }
        }
    });
    let mut r = Response::new(Either::Right(EventBody { rx }));
    let h = r.headers_mut();
    h.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/event-stream"),
    );
    // The stream ends with the run: the connection goes with it (the server's shutdown waits for it).
    h.insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    h.insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    r
}

/// A response body fed by a channel: the event stream.
pub struct EventBody {
    rx: mpsc::Receiver<Bytes>,
}

impl Body for EventBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}
