//! HTTP/2 (issue 17, item 6): a request is a stream on a connection a worker's users share, built on the `h2`
//! crate (framing, HPACK, flow control and stream states are its; nothing here parses frames).
//!
//! Shape. A worker thread owns an [`H2Pool`]: per origin, at most `http2_connections` connections, opened
//! lazily (the first user to need one connects while the others wait for it, so 64 users starting together
//! open one connection, not 64). Each connection's driver (`h2::client::Connection`) is a task on the worker's
//! runtime, so nothing crosses threads. A user takes one connection's `SendRequest` handle, in turn over the
//! slots, and keeps it (one atomic load per request checks it is still alive); its requests are streams on it.
//!
//! The request is the one rendered as HTTP/1.1 bytes in the user's send buffer, read back with
//! [`super::wire::WireRequest`] and turned into fields ([`request_of`]): `Host` becomes `:authority`, and the
//! connection-specific headers HTTP/2 forbids (RFC 9113 §8.2.2) are dropped. The response becomes the same
//! [`Head`]/[`Answer`] the HTTP/1.1 exchange produces ([`head_of`] writes its fields as header lines), so checks,
//! captures, byte counts and failure kinds are the same code for both versions. A request the same, byte for
//! byte, as the user's previous one on its connection (a step sent again and again) reuses that one's fields
//! instead of being read back and built again ([`Prepared`]).
//!
//! Never twice (item 1): a request is sent again, once, on another connection only when the server provably
//! did not process it — it never left (the connection was already gone), the server refused the stream
//! (`REFUSED_STREAM`), or a GOAWAY said its last stream was below this one — or when it is idempotent and no
//! answer had begun. A connection that failed is marked dead and replaced by the next user that needs it.
//!
//! A request cut short (the request timeout drops the exchange future) drops its stream handles, and `h2`
//! resets the stream (`RST_STREAM CANCEL`): the connection and the other users' streams go on.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ::h2::client::SendRequest;
use ::h2::{Reason, RecvStream, SendStream};
use bytes::{Bytes, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::io::{AsyncRead, AsyncWrite};

use super::conn::{Stream, connect_with};
use super::wire::WireRequest;
use super::{Answer, Head, Net, Origin, Outgoing, SendError};
use crate::metrics::FailureKind;
use crate::plan::HttpVersion;

/// The stream-level receive window: large, so a response of up to this size needs no WINDOW_UPDATE round
/// trip (capacity is released as the body is read, so it bounds nothing in memory).
const STREAM_WINDOW: u32 = 1 << 20;
/// The connection-level receive window, shared by its streams.
const CONNECTION_WINDOW: u32 = 16 << 20;

/// Why an HTTP/2 request failed, as far as the retry rule and the failures table need to know.
#[derive(Debug)]
pub enum H2Failure {
    /// The `h2` crate's error: a reset stream, a GOAWAY, an I/O error, a protocol error.
    Proto(::h2::Error),
    /// Over TLS the server did not choose HTTP/2 (ALPN), and `http = "2"` asks for nothing else.
    NotOffered,
    /// The rendered request could not be made into HTTP/2 fields.
    Request(String),
}

impl H2Failure {
    /// The failure category and a short message (never a URL or a header value).
    pub fn describe(&self) -> (FailureKind, String) {
        match self {
            H2Failure::NotOffered => (
                FailureKind::Connect,
                "the server did not agree to HTTP/2 in the TLS handshake (ALPN); use [target] http = \"auto\" \
                 or \"1.1\" for a server without HTTP/2"
                    .into(),
            ),
            H2Failure::Request(m) => (FailureKind::Other, format!("HTTP/2 request: {m}")),
            H2Failure::Proto(e) => {
                if let Some(io) = e.get_io() {
                    return super::describe_io(io, FailureKind::Connection);
                }
                let reason = e
                    .reason()
                    .map_or_else(|| "no reason".to_string(), |r| format!("{r:?}"));
                if e.is_go_away() && e.is_remote() {
                    (
                        FailureKind::Connection,
                        format!("the server closed the HTTP/2 connection (GOAWAY {reason})"),
                    )
                } else if e.is_reset() && e.is_remote() {
                    (
                        FailureKind::Connection,
                        format!("the server reset the HTTP/2 stream ({reason})"),
                    )
                } else if e.reason() == Some(Reason::PROTOCOL_ERROR) {
                    (
                        FailureKind::Connection,
                        format!(
                            "HTTP/2 protocol error ({reason}); on plain http, does the server speak HTTP/2 with \
                             prior knowledge (h2c)? Use [target] http = \"1.1\" if not"
                        ),
                    )
                } else {
                    (
                        FailureKind::Connection,
                        format!("HTTP/2 error ({reason}): {e}"),
                    )
                }
            }
        }
    }

    /// The server provably did not process the request: it refused the stream, or its GOAWAY's last stream
    /// id is below it (`h2` fails exactly those streams with the remote GOAWAY).
    fn unprocessed(&self) -> bool {
        match self {
            H2Failure::Proto(e) => {
                (e.is_reset() && e.is_remote() && e.reason() == Some(Reason::REFUSED_STREAM))
                    || (e.is_go_away() && e.is_remote())
            }
            _ => false,
        }
    }

    /// Whether the connection is of no more use (its streams fail, or the server is closing it).
    fn connection_gone(&self) -> bool {
        match self {
            H2Failure::Proto(e) => e.is_go_away() || e.is_io(),
            _ => false,
        }
    }
}

/// One HTTP/2 connection: the handle streams are opened with, and whether its driver has ended or it failed.
#[derive(Clone)]
struct Live {
    send: SendRequest<Bytes>,
    dead: Arc<AtomicBool>,
}

impl Live {
    fn alive(&self) -> bool {
        !self.dead.load(Ordering::Relaxed)
    }
}

/// One of an origin's connection places: the connection in it, and a lock held while one is being opened.
#[derive(Default)]
struct Slot {
    live: Mutex<Option<Live>>,
    opening: tokio::sync::Mutex<()>,
}

struct OriginConns {
    key: String,
    /// `http = "auto"` over TLS, and the server chose HTTP/1.1: requests to it take the HTTP/1.1 path.
    http1: bool,
    slots: Vec<Arc<Slot>>,
}

/// The HTTP/2 connections of one worker's users, per origin (see the module documentation).
pub struct H2Pool {
    per_origin: usize,
    next: AtomicUsize,
    origins: Mutex<Vec<OriginConns>>,
}

impl H2Pool {
    /// At most `per_origin` connections to each origin.
    pub fn new(per_origin: u32) -> H2Pool {
        H2Pool {
            per_origin: per_origin.max(1) as usize,
            next: AtomicUsize::new(0),
            origins: Mutex::new(Vec::new()),
        }
    }

    /// Connections open now (for tests).
    #[cfg(test)]
    pub fn open(&self) -> usize {
        let origins = self.origins.lock().unwrap_or_else(|p| p.into_inner());
        origins
            .iter()
            .flat_map(|o| &o.slots)
            .filter(|s| {
                s.live
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .as_ref()
                    .is_some_and(Live::alive)
            })
            .count()
    }

    /// The next slot for `origin`, or `None` when the origin was found to speak HTTP/1.1 only.
    fn slot(&self, origin: &Origin) -> Option<Arc<Slot>> {
        let mut origins = self.origins.lock().unwrap_or_else(|p| p.into_inner());
        let i = match origins.iter().position(|o| o.key == origin.key) {
            Some(i) => i,
            None => {
                origins.push(OriginConns {
                    key: origin.key.clone(),
                    http1: false,
                    slots: (0..self.per_origin).map(|_| Arc::default()).collect(),
                });
                origins.len() - 1
            }
        };
        let o = &origins[i];
        if o.http1 {
            return None;
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed) % o.slots.len();
        Some(o.slots[n].clone())
    }

    fn mark_http1(&self, origin: &Origin) {
        let mut origins = self.origins.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(o) = origins.iter_mut().find(|o| o.key == origin.key) {
            o.http1 = true;
        }
    }
}

/// The HTTP/2 connection a user holds: its origin and its own clone of the connection's handle.
pub struct UserConn {
    key: String,
    live: Live,
    /// The previous exchange's stream handles, dropped once the next request is sent (see [`round_trip`]).
    held: Option<(SendStream<Bytes>, RecvStream)>,
    /// The last request sent, kept to reuse when the next one is the same (see [`Prepared::prepare`]). Per
    /// connection, so per origin: `:scheme` and a missing `Host`'s `:authority` come from it.
    last: Prepared,
}

/// A rendered request and, once it has been sent twice in a row, its HTTP/2 form.
#[derive(Default)]
struct Prepared {
    wire: Vec<u8>,
    request: Option<(http::Request<()>, usize)>,
}

/// Requests larger than this (head and body) are not kept: comparing and copying them would cost more than
/// building their fields again.
const PREPARED_MAX: usize = 8 * 1024;

impl Prepared {
    /// The HTTP/2 request for the rendered `wire` and its body. A user's requests often repeat exactly (a
    /// scenario step sent again and again): a request the same, byte for byte, as the one before it is a clone
    /// of its fields (reference counts and one header map) instead of a new parse, a new `Uri` and a new value
    /// per header. A different one is built as before and costs one copy of its bytes (no allocation once the
    /// buffer has grown), kept to compare with the next; its fields are kept when it comes again.
    fn prepare<'w>(
        &mut self,
        wire: &'w [u8],
        origin: &Origin,
    ) -> Result<(http::Request<()>, &'w [u8]), String> {
        let same = self.wire.as_slice() == wire;
        if same && let Some((request, body_at)) = &self.request {
            return Ok((request.clone(), &wire[*body_at..]));
        }
        let parsed = WireRequest::parse(wire)?;
        let (request, body) = request_of(&parsed, origin)?;
        if same {
            self.request = Some((request.clone(), wire.len() - body.len()));
        } else if wire.len() <= PREPARED_MAX {
            self.wire.clear();
            self.wire.extend_from_slice(wire);
            self.request = None;
        }
        Ok((request, body))
    }
}

/// What getting a connection gave: an HTTP/2 one, or (`auto` over TLS) an HTTP/1.1 one the server chose,
/// which the caller uses on its HTTP/1.1 path.
pub(super) enum Got {
    H2,
    Http1(Option<Stream>),
}

/// Makes sure `user` holds a live HTTP/2 connection to `origin` from `pool`, opening one if its slot has none.
pub(super) async fn connection(
    pool: &H2Pool,
    user: &mut Option<Box<UserConn>>,
    net: &Net,
    origin: &Origin,
) -> Result<Got, SendError> {
    if let Some(u) = user
        && u.key == origin.key
        && u.live.alive()
    {
        return Ok(Got::H2);
    }
    *user = None;
    let Some(slot) = pool.slot(origin) else {
        return Ok(Got::Http1(None));
    };
    let live = match current(&slot) {
        Some(l) => l,
        None => {
            let _opening = slot.opening.lock().await;
            // Another user may have opened it while this one waited.
            match current(&slot) {
                Some(l) => l,
                None => match open(net, origin).await? {
                    Opened::H2(live) => {
                        *slot.live.lock().unwrap_or_else(|p| p.into_inner()) = Some(live.clone());
                        live
                    }
                    Opened::Http1(stream) => {
                        pool.mark_http1(origin);
                        return Ok(Got::Http1(Some(stream)));
                    }
                },
            }
        }
    };
    *user = Some(Box::new(UserConn {
        key: origin.key.clone(),
        live,
        held: None,
        last: Prepared::default(),
    }));
    Ok(Got::H2)
}

fn current(slot: &Slot) -> Option<Live> {
    slot.live
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .filter(|l| l.alive())
        .cloned()
}

enum Opened {
    H2(Live),
    Http1(Stream),
}

/// Connects to `origin` and starts HTTP/2 on it: over TLS as ALPN agreed, over plain TCP with prior knowledge.
async fn open(net: &Net, origin: &Origin) -> Result<Opened, SendError> {
    let tls = match &net.tls_alpn {
        Some(c) if origin.https => c,
        _ => &net.tls,
    };
    let stream = match connect_with(net, origin, tls).await {
        Ok(s) => s,
        // A server with ALPN but without h2 refuses the handshake (`no_application_protocol`).
        Err(SendError::Tls(e)) if refused_alpn(&e) => {
            return Err(SendError::Http2(H2Failure::NotOffered));
        }
        Err(e) => return Err(e),
    };
    match stream {
        Stream::Plain(tcp) => handshake(tcp).await.map(Opened::H2),
        Stream::Tls(tls) => {
            if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                handshake(tls).await.map(Opened::H2)
            } else if net.http == HttpVersion::Auto {
                Ok(Opened::Http1(Stream::Tls(tls)))
            } else {
                Err(SendError::Http2(H2Failure::NotOffered))
            }
        }
    }
}

/// The handshake failed because the server has none of the protocols offered by ALPN.
fn refused_alpn(e: &std::io::Error) -> bool {
    e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>())
        == Some(&rustls::Error::AlertReceived(
            rustls::AlertDescription::NoApplicationProtocol,
        ))
}

async fn handshake<T>(io: T) -> Result<Live, SendError>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (send, conn) = ::h2::client::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .enable_push(false)
        .handshake::<T, Bytes>(io)
        .await
        .map_err(|e| SendError::Http2(H2Failure::Proto(e)))?;
    let dead = Arc::new(AtomicBool::new(false));
    let ended = dead.clone();
    // The connection's driver: reads frames and hands them to the streams, writes what they queue. On the
    // worker's own runtime; it ends when the connection fails or every handle to it is gone.
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("HTTP/2 connection ended: {e}");
        }
        ended.store(true, Ordering::Relaxed);
    });
    Ok(Live { send, dead })
}

/// The HTTP/2 exchange of the request in `wire` on `user`'s connection, with the never-twice rule: on
/// failure, says whether it may be sent again (see the module documentation).
pub(super) async fn round_trip(
    user: &mut Option<Box<UserConn>>,
    origin: &Origin,
    wire: &[u8],
    req: &Outgoing<'_>,
    idempotent: bool,
) -> Result<Answer, (SendError, bool)> {
    let Some(u) = user.as_mut() else {
        return Err((SendError::Closed, false));
    };
    let fail = |e: H2Failure, began: bool, live: &Live| {
        if e.connection_gone() {
            live.dead.store(true, Ordering::Relaxed);
        }
        let again = e.unprocessed()
            || (idempotent
                && !began
                && matches!(&e, H2Failure::Proto(p) if p.is_io() || p.is_go_away()));
        (SendError::Http2(e), again)
    };
    let (request, body) = u
        .last
        .prepare(wire, origin)
        .map_err(|m| (SendError::Http2(H2Failure::Request(m)), false))?;
    // Not sent yet: a failure here is the connection's, and the request may go on another one.
    let ready = std::future::poll_fn(|cx| u.live.send.poll_ready(cx)).await;
    if let Err(e) = ready {
        u.live.dead.store(true, Ordering::Relaxed);
        return Err((SendError::Http2(H2Failure::Proto(e)), true));
    }
    let (response, mut stream) = match u.live.send.send_request(request, body.is_empty()) {
        Ok(s) => s,
        Err(e) => {
            u.live.dead.store(true, Ordering::Relaxed);
            return Err((SendError::Http2(H2Failure::Proto(e)), true));
        }
    };
    // Dropping the last handle of a finished stream wakes the connection's task (to free the stream): done
    // now, just after the send that woke it anyway, it costs no wake-up and no poll of its own.
    u.held = None;
    if !body.is_empty()
        && let Err(e) = stream.send_data(Bytes::copy_from_slice(body), true)
    {
        return Err(fail(H2Failure::Proto(e), false, &u.live));
    }
    let response = match response.await {
        Ok(r) => r,
        Err(e) => return Err(fail(H2Failure::Proto(e), false, &u.live)),
    };
    let head_at = Instant::now();
    let (parts, mut body) = response.into_parts();
    let head = head_of(parts.status, &parts.headers);
    drop(parts);
    let answer = read_body(head, head_at, &mut body, req)
        .await
        .map_err(|e| fail(H2Failure::Proto(e), true, &u.live))?;
    u.held = Some((stream, body));
    Ok(answer)
}

/// The body: counted as it streams and its flow-control capacity given back at once; kept only when asked for,
/// up to `max_body`, as the HTTP/1.1 exchange does.
async fn read_body(
    head: Head,
    head_at: Instant,
    body: &mut RecvStream,
    req: &Outgoing<'_>,
) -> Result<Answer, ::h2::Error> {
    let mut kept = Vec::new();
    let mut bytes = 0u64;
    let mut oversize = false;
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let n = chunk.len();
        let _ = body.flow_control().release_capacity(n);
        bytes += n as u64;
        if req.keep_body && !oversize {
            if (kept.len() + n) as u64 > req.max_body {
                oversize = true;
                kept = Vec::new();
            } else {
                kept.extend_from_slice(&chunk);
            }
        }
    }
    Ok(Answer {
        head,
        head_at,
        bytes,
        body: kept,
        oversize,
    })
}

/// Headers HTTP/2 forbids in a request (RFC 9113 §8.2.2), or carries otherwise (`Host` as `:authority`).
fn dropped(name: &str, value: &[u8]) -> bool {
    ["host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"]
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n))
        // `TE` may only say `trailers`.
        || (name.eq_ignore_ascii_case("te") && !value.eq_ignore_ascii_case(b"trailers"))
}

/// The HTTP/2 request for a rendered one: method, `:scheme` from the origin, `:authority` from its `Host`
/// header (the origin's when it has none), `:path` from its target, the other headers as fields.
pub(super) fn request_of<'a>(
    wire: &WireRequest<'a>,
    origin: &Origin,
) -> Result<(http::Request<()>, &'a [u8]), String> {
    let method = http::Method::from_bytes(wire.method.as_bytes())
        .map_err(|_| "invalid method".to_string())?;
    let authority = match wire.header("host") {
        Some(h) => std::str::from_utf8(h).map_err(|_| "the Host header is not text".to_string())?,
        None => origin.authority.as_str(),
    };
    let uri = http::Uri::builder()
        .scheme(if origin.https { "https" } else { "http" })
        .authority(authority)
        .path_and_query(wire.target)
        .build()
        .map_err(|e| format!("invalid target: {e}"))?;
    let mut headers = HeaderMap::with_capacity(wire.headers.len());
    for &(name, value) in &wire.headers {
        if dropped(name, value) {
            continue;
        }
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| "invalid header name".to_string())?;
        let value = HeaderValue::from_bytes(value)
            .map_err(|_| format!("invalid value for header `{name}`"))?;
        headers.append(name, value);
    }
    let mut request = http::Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = http::Version::HTTP_2;
    *request.headers_mut() = headers;
    Ok((request, wire.body))
}

/// The response's status and fields as the [`Head`] the HTTP/1.1 exchange parses: a status line and one
/// `name: value` line per field, with the offsets of each name and value.
pub(super) fn head_of(status: http::StatusCode, headers: &HeaderMap) -> Head {
    let size: usize = headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum();
    let mut raw = BytesMut::with_capacity(16 + size);
    raw.extend_from_slice(b"HTTP/2 ");
    raw.extend_from_slice(status.as_str().as_bytes());
    raw.extend_from_slice(b"\r\n");
    let mut offsets = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let ns = raw.len();
        raw.extend_from_slice(name.as_str().as_bytes());
        let ne = raw.len();
        raw.extend_from_slice(b": ");
        let vs = raw.len();
        raw.extend_from_slice(value.as_bytes());
        let ve = raw.len();
        raw.extend_from_slice(b"\r\n");
        offsets.push((ns, ne, vs, ve));
    }
    Head {
        status: status.as_u16(),
        raw: raw.freeze(),
        headers: offsets,
    }
}

#[cfg(test)]
mod tests;
