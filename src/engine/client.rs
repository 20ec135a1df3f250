//! The HTTP/1.1 client a virtual user owns: its own keep-alive connection (one per origin it talks to) and its
//! own cookie jar, as a Locust `HttpUser` has — so N users really are N clients to the server.
//!
//! A user sends one request at a time, so the exchange is done on the user's own task, as wrk does it: the request
//! head and body go out in one write from a reused buffer, the response head is parsed with `httparse` from a
//! reused read buffer, and the body is framed by Content-Length, chunked encoding or the end of the connection.
//! No pool, no connection task, no channel between them: hyper's client connection passes every request through
//! a channel whose blocks cost each connection ~8.6 KiB more after its 32nd request, and a pooled client per user
//! is what makes other Rust generators heavy (~140 KiB per user). What can be shared is shared: the DNS answers
//! ([`Net`] resolves each origin once) and the TLS configuration (one `rustls::ClientConfig`, see [`super::tls`]).
//!
//! Redirects are not followed: a 3xx is an answer like any other (accept it with `expect.status`).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use http::header::HeaderValue;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::io_error::describe_io;
use crate::metrics::FailureKind;

/// Where requests go: scheme, host and port, with the `Host` header value ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `http://host:port` form, used to tell origins apart.
    pub key: String,
    pub https: bool,
    pub host: String,
    pub port: u16,
    /// The `Host` header: `host` or `host:port` when the port is not the scheme's default.
    pub authority: String,
}

impl Origin {
    /// The origin of an absolute http(s) URL.
    pub fn of(url: &url::Url) -> Result<Origin, String> {
        let https = match url.scheme() {
            "http" => false,
            "https" => true,
            other => return Err(format!("unsupported scheme `{other}`")),
        };
        // An IPv6 literal is looked up (and named to TLS) bare, and written in brackets in `Host`.
        let (host, in_authority) = match url.host() {
            Some(url::Host::Ipv6(a)) => (a.to_string(), format!("[{a}]")),
            Some(h) => (h.to_string(), h.to_string()),
            None => return Err("URL without a host".into()),
        };
        let port = url
            .port_or_known_default()
            .unwrap_or(if https { 443 } else { 80 });
        let authority = match url.port() {
            Some(p) => format!("{in_authority}:{p}"),
            None => in_authority,
        };
        HeaderValue::try_from(authority.as_str()).map_err(|_| "invalid host".to_string())?;
        Ok(Origin {
            key: format!("{}://{authority}", url.scheme()),
            https,
            host,
            port,
            authority,
        })
    }
}

/// What all users share: resolved addresses and the TLS configuration.
#[derive(Debug)]
pub struct Net {
    tls: Arc<rustls::ClientConfig>,
    dns: Mutex<HashMap<String, Arc<[SocketAddr]>>>,
}

impl Default for Net {
    fn default() -> Self {
        Self::new()
    }
}

impl Net {
    /// Trusting the built-in roots only.
    pub fn new() -> Self {
        Self::with_tls(&crate::plan::Tls::default())
    }

    /// Trusting what `tls` says (extra CA certificates, or any certificate).
    pub fn with_tls(tls: &crate::plan::Tls) -> Self {
        Net {
            tls: Arc::new(super::tls::client_config(tls)),
            dns: Mutex::new(HashMap::new()),
        }
    }

    /// The addresses of `origin`, looked up once per run.
    pub async fn resolve(&self, origin: &Origin) -> io::Result<Arc<[SocketAddr]>> {
        if let Some(a) = self.cached(&origin.key) {
            return Ok(a);
        }
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((origin.host.as_str(), origin.port))
            .await?
            .collect();
        if addrs.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "the host name has no address",
            ));
        }
        let addrs: Arc<[SocketAddr]> = addrs.into();
        self.dns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(origin.key.clone(), addrs.clone());
        Ok(addrs)
    }

    fn cached(&self, key: &str) -> Option<Arc<[SocketAddr]>> {
        self.dns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }
}

/// Why a request got no (complete) answer.
#[derive(Debug)]
pub enum SendError {
    Connect(io::Error),
    Tls(io::Error),
    /// The connection failed while sending or receiving.
    Io(io::Error),
    /// The peer closed the connection before the response was complete.
    Closed,
    /// The answer is not valid HTTP/1.x.
    Invalid(String),
}

impl SendError {
    /// The failure category and a short message (never a URL: URLs may carry tokens).
    pub fn describe(&self) -> (FailureKind, String) {
        match self {
            SendError::Connect(e) => describe_io(e, FailureKind::Connect),
            SendError::Tls(e) => (
                FailureKind::Connect,
                super::tls::describe_handshake_error(e),
            ),
            SendError::Io(e) => describe_io(e, FailureKind::Connection),
            SendError::Closed => (
                FailureKind::Connection,
                "connection closed before the response completed".into(),
            ),
            SendError::Invalid(m) => (FailureKind::Other, format!("invalid HTTP response: {m}")),
        }
    }
}

/// The largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Headers parsed per response at most.
const MAX_HEADERS: usize = 96;

/// A TCP or TLS connection.
enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Stream {
    async fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.write_all(b).await,
            Stream::Tls(s) => {
                s.write_all(b).await?;
                s.flush().await
            }
        }
    }

    /// Whether the peer has already closed (or broken) this idle connection, as far as is known without waiting:
    /// a peek at the socket, made only when the reactor has seen it readable (otherwise free). For plain HTTP any
    /// unsolicited byte also counts (the framing is lost); under TLS bytes may be a session ticket, so only the
    /// end of the stream or an error does.
    fn peer_closed(&self) -> bool {
        let (tcp, bytes_mean_closed) = match self {
            Stream::Plain(s) => (s, true),
            Stream::Tls(s) => (s.get_ref().0, false),
        };
        let mut byte = [0u8; 1];
        let mut buf = tokio::io::ReadBuf::new(&mut byte);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match tcp.poll_peek(&mut cx, &mut buf) {
            std::task::Poll::Pending => false,
            std::task::Poll::Ready(Ok(0) | Err(_)) => true,
            std::task::Poll::Ready(Ok(_)) => bytes_mean_closed,
        }
    }

    async fn read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read_buf(buf).await,
            Stream::Tls(s) => s.read_buf(buf).await,
        }
    }
}

/// One keep-alive connection and its read buffer.
struct Conn {
    stream: Stream,
    buf: BytesMut,
    /// Requests already answered on it (a reused connection may have been closed by the server meanwhile).
    used: u64,
}

/// The head of a response: status and headers, kept as offsets into the raw bytes.
#[derive(Debug, Default)]
pub struct Head {
    pub status: u16,
    raw: Bytes,
    headers: Vec<(usize, usize, usize, usize)>,
}

impl Head {
    /// The headers named `name` (any case), in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers
            .iter()
            .filter(move |&&(ns, ne, _, _)| self.raw[ns..ne].eq_ignore_ascii_case(name.as_bytes()))
            .map(move |&(_, _, vs, ve)| &self.raw[vs..ve])
    }

    /// The first header named `name`, as text.
    pub fn get<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.get_all(name)
            .next()
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.get_all(name).any(|v| {
            std::str::from_utf8(v)
                .map(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
                .unwrap_or(false)
        })
    }
}

/// A complete answer.
#[derive(Debug)]
pub struct Answer {
    pub head: Head,
    /// When the head had arrived.
    pub head_at: std::time::Instant,
    /// Body bytes received (after chunked decoding).
    pub bytes: u64,
    /// The body, when it was asked for and is at most [`Outgoing::max_body`] long.
    pub body: Vec<u8>,
    /// The body was asked for but is longer than [`Outgoing::max_body`]: it was read to its end and counted, but
    /// not kept (`body` is empty).
    pub oversize: bool,
}

/// What the client needs to know of the request in its [`SendBuf`] besides its bytes.
pub struct Outgoing<'a> {
    /// Its method: an idempotent request may be sent again on a fresh connection.
    pub method: &'a http::Method,
    /// It says `Connection: close`: it gets a connection of its own, not kept after.
    pub close: bool,
    /// Keep the body of the answer (for captures).
    pub keep_body: bool,
    /// The longest body kept; a longer one is read and counted as it streams, but dropped.
    pub max_body: u64,
}

/// A user's send buffer: the request as it goes on the wire ([`super::request::render`] writes it), and the
/// scratch space it is rendered with (the target, the varying header values). Reused from request to request,
/// so rendering allocates nothing once they have grown.
#[derive(Debug, Default)]
pub struct SendBuf {
    pub wire: String,
    pub target: String,
    pub values: String,
    pub spans: Vec<(usize, usize)>,
}

/// Idle keep-alive connections shared by the users of one worker (`connections = "shared"`).
///
/// A user takes a connection for one exchange and puts it back after; so a worker holds as many connections
/// as it has requests in flight at once, not one per user. Each worker has its own pool (its users run on one
/// thread), so the lock is never contended.
#[derive(Default)]
pub struct Pool {
    idle: std::sync::Mutex<Vec<(String, Conn)>>,
}

impl Pool {
    fn take(&self, key: &str) -> Option<(String, Conn)> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let i = idle.iter().rposition(|(k, _)| k == key)?;
        Some(idle.swap_remove(i))
    }

    fn put(&self, key: String, conn: Conn) {
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((key, conn));
    }

    /// Idle connections now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// One user's connections (its own, or its worker's pool) and cookies.
#[derive(Default)]
pub struct Client {
    conns: Vec<(String, Conn)>,
    pool: Option<std::sync::Arc<Pool>>,
    cookies: Vec<(String, String)>,
    send: SendBuf,
}

impl Client {
    /// A client that takes its connections from `pool` instead of owning them.
    pub fn shared(pool: std::sync::Arc<Pool>) -> Client {
        Client {
            pool: Some(pool),
            ..Client::default()
        }
    }

    /// The send buffer to render the next request into, and the cookies the user's jar holds.
    pub fn send_buffer(&mut self) -> (&mut SendBuf, &[(String, String)]) {
        (&mut self.send, &self.cookies)
    }

    fn take(&mut self, key: &str) -> Option<(String, Conn)> {
        match &self.pool {
            Some(pool) => pool.take(key),
            None => {
                let i = self.conns.iter().position(|(k, _)| k == key)?;
                Some(self.conns.swap_remove(i))
            }
        }
    }

    fn put(&mut self, key: String, conn: Conn) {
        match &self.pool {
            Some(pool) => pool.put(key, conn),
            None => self.conns.push((key, conn)),
        }
    }

    /// Sends the request in the send buffer to `origin` over this user's connection to it (opening one if needed) and reads the
    /// whole answer.
    ///
    /// A kept-alive connection can turn out to have been closed by the server meanwhile. An idempotent request
    /// (GET, HEAD, PUT, DELETE, OPTIONS, TRACE: RFC 9110 §9.2.2) that finds it closed before any answer byte is
    /// sent again once on a new connection, as browsers do. Any other request (a POST: a payment, a sign-up) is
    /// never sent twice: before it is written on a reused connection, the connection is checked for a close
    /// already received (and replaced if so, nothing having been sent); after it is written, a failure is the
    /// request's failure.
    pub async fn exchange(
        &mut self,
        net: &Net,
        origin: &Origin,
        req: &Outgoing<'_>,
    ) -> Result<Answer, SendError> {
        let idempotent = matches!(
            *req.method,
            http::Method::GET
                | http::Method::HEAD
                | http::Method::PUT
                | http::Method::DELETE
                | http::Method::OPTIONS
                | http::Method::TRACE
        );
        for attempt in 0..2 {
            let mut reused = None;
            while let Some((key, conn)) = self.take(&origin.key) {
                // Idempotent requests retry instead: the check is for requests that may not.
                if idempotent || !conn.stream.peer_closed() {
                    reused = Some((key, conn));
                    break;
                }
            }
            let (key, mut conn) = match reused {
                Some(c) => c,
                None => {
                    let stream = connect(net, origin).await?;
                    let buf = BytesMut::with_capacity(4096);
                    (
                        origin.key.clone(),
                        Conn {
                            stream,
                            buf,
                            used: 0,
                        },
                    )
                }
            };
            let reused = conn.used > 0;
            // The connection is owned by this future while in use: if the exchange is cut short (a timeout),
            // it is dropped with it rather than reused mid-answer.
            match round_trip(&mut conn, self.send.wire.as_bytes(), req).await {
                Ok((answer, keep_alive)) => {
                    conn.used += 1;
                    // A request that says `Connection: close` gets a connection of its own, as it asks.
                    if keep_alive && !req.close {
                        self.put(key, conn);
                    }
                    self.store_cookies(&answer.head);
                    return Ok(answer);
                }
                Err((e, nothing_received)) => {
                    let stale = matches!(&e, SendError::Closed)
                        || matches!(&e, SendError::Io(io) if matches!(io.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe));
                    if !(idempotent && reused && nothing_received && stale && attempt == 0) {
                        return Err(e);
                    }
                }
            }
        }
        Err(SendError::Closed)
    }

    /// Drops every connection (a user that ends closes its connections).
    pub fn close(&mut self) {
        self.conns.clear();
    }

    fn store_cookies(&mut self, head: &Head) {
        for v in head.get_all("set-cookie") {
            let Ok(s) = std::str::from_utf8(v) else {
                continue;
            };
            let mut parts = s.split(';');
            let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim());
            let expired = parts.any(|a| {
                let a = a.trim().to_ascii_lowercase();
                a == "max-age=0" || a.starts_with("max-age=-")
            });
            self.cookies.retain(|(n, _)| n != name);
            if !expired {
                self.cookies.push((name.to_string(), value.to_string()));
            }
        }
    }
}

/// Writes the request and reads the answer. On error, also says whether no answer byte had been received.
async fn round_trip(
    conn: &mut Conn,
    wbuf: &[u8],
    req: &Outgoing<'_>,
) -> Result<(Answer, bool), (SendError, bool)> {
    conn.buf.clear();
    conn.stream
        .write_all(wbuf)
        .await
        .map_err(|e| (SendError::Io(e), true))?;
    // The head.
    let (head, head_len) = loop {
        if !conn.buf.is_empty() {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut r = httparse::Response::new(&mut headers);
            match r.parse(&conn.buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let base = conn.buf.as_ptr() as usize;
                    let offsets = r
                        .headers
                        .iter()
                        .map(|h| {
                            let ns = h.name.as_ptr() as usize - base;
                            let vs = h.value.as_ptr() as usize - base;
                            (ns, ns + h.name.len(), vs, vs + h.value.len())
                        })
                        .collect();
                    let status = r.code.unwrap_or(0);
                    let http10 = r.version == Some(0);
                    if (100..200).contains(&status) && status != 101 {
                        // An interim answer (100 Continue, 103 Early Hints): the real one follows.
                        let _ = conn.buf.split_to(n);
                        continue;
                    }
                    break ((status, http10, offsets), n);
                }
                Ok(httparse::Status::Partial) => {}
                Err(e) => return Err((SendError::Invalid(e.to_string()), false)),
            }
            if conn.buf.len() >= MAX_HEAD {
                return Err((
                    SendError::Invalid("response head over 64 KiB".into()),
                    false,
                ));
            }
        }
        let received = !conn.buf.is_empty();
        match conn.stream.read_buf(&mut conn.buf).await {
            Ok(0) => return Err((SendError::Closed, !received)),
            Ok(_) => {}
            Err(e) => return Err((SendError::Io(e), !received)),
        }
    };
    let head_at = std::time::Instant::now();
    let ((status, http10, offsets), n) = (head, head_len);
    let head = Head {
        status,
        raw: conn.buf.split_to(n).freeze(),
        headers: offsets,
    };
    let keep_alive = if http10 {
        head.has_token("connection", "keep-alive")
    } else {
        !head.has_token("connection", "close")
    };

    // The body: counted as it streams; kept only when asked for, and only up to `max_body`, so an answer of
    // any size costs no more memory than the read buffer.
    let mut body = Vec::new();
    let mut bytes = 0u64;
    let fail = |e: SendError| (e, false);
    let no_body = *req.method == http::Method::HEAD || status == 204 || status == 304;
    if no_body {
        return Ok((
            Answer {
                head,
                head_at,
                bytes,
                body,
                oversize: false,
            },
            keep_alive,
        ));
    }
    let chunked = head.has_token("transfer-encoding", "chunked");
    let length = match head.get("content-length") {
        Some(len) if !chunked => Some(
            len.trim()
                .parse::<u64>()
                .map_err(|_| fail(SendError::Invalid(format!("bad content-length `{len}`"))))?,
        ),
        _ => None,
    };
    // A declared length over the limit is known to be too long before the first byte.
    let mut oversize = req.keep_body && length.is_some_and(|n| n > req.max_body);
    if let Some(n) = length.filter(|_| req.keep_body && !oversize) {
        body.reserve_exact(usize::try_from(n).unwrap_or(0));
    }
    let mut take = |chunk: &[u8]| {
        bytes += chunk.len() as u64;
        if req.keep_body && !oversize {
            if (body.len() + chunk.len()) as u64 > req.max_body {
                oversize = true;
                body = Vec::new();
            } else {
                body.extend_from_slice(chunk);
            }
        }
    };
    if chunked {
        loop {
            // The size line.
            let line_end = loop {
                if let Some(p) = conn.buf.windows(2).position(|w| w == b"\r\n") {
                    break p;
                }
                if conn.buf.len() > 4096 {
                    return Err(fail(SendError::Invalid("chunk size line too long".into())));
                }
                fill(conn).await.map_err(fail)?;
            };
            let line = std::str::from_utf8(&conn.buf[..line_end]).unwrap_or("");
            let hex = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(hex, 16)
                .map_err(|_| fail(SendError::Invalid(format!("bad chunk size `{hex}`"))))?;
            let _ = conn.buf.split_to(line_end + 2);
            if size == 0 {
                // Trailers, up to an empty line.
                loop {
                    if let Some(p) = conn.buf.windows(2).position(|w| w == b"\r\n") {
                        let _ = conn.buf.split_to(p + 2);
                        if p == 0 {
                            break;
                        }
                        continue;
                    }
                    fill(conn).await.map_err(fail)?;
                }
                break;
            }
            let mut left = size;
            while left > 0 {
                if conn.buf.is_empty() {
                    fill(conn).await.map_err(fail)?;
                }
                let n = left.min(conn.buf.len());
                take(&conn.buf[..n]);
                let _ = conn.buf.split_to(n);
                left -= n;
            }
            while conn.buf.len() < 2 {
                fill(conn).await.map_err(fail)?;
            }
            let _ = conn.buf.split_to(2);
        }
    } else if let Some(mut left) = length {
        while left > 0 {
            if conn.buf.is_empty() {
                fill(conn).await.map_err(fail)?;
            }
            let n = (left.min(conn.buf.len() as u64)) as usize;
            take(&conn.buf[..n]);
            let _ = conn.buf.split_to(n);
            left -= n as u64;
        }
    } else {
        // No length: the body runs to the end of the connection.
        loop {
            if !conn.buf.is_empty() {
                take(&conn.buf);
                conn.buf.clear();
            }
            match conn.stream.read_buf(&mut conn.buf).await {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => return Err(fail(SendError::Io(e))),
            }
        }
        return Ok((
            Answer {
                head,
                head_at,
                bytes,
                body,
                oversize,
            },
            false,
        ));
    }
    Ok((
        Answer {
            head,
            head_at,
            bytes,
            body,
            oversize,
        },
        keep_alive,
    ))
}

/// Reads more into the connection's buffer; the end of the stream is an error here (mid-answer).
async fn fill(conn: &mut Conn) -> Result<(), SendError> {
    if conn.buf.capacity() - conn.buf.len() < 1024 {
        conn.buf.reserve(4096);
    }
    match conn.stream.read_buf(&mut conn.buf).await {
        Ok(0) => Err(SendError::Closed),
        Ok(_) => Ok(()),
        Err(e) => Err(SendError::Io(e)),
    }
}

async fn connect(net: &Net, origin: &Origin) -> Result<Stream, SendError> {
    let addrs = net.resolve(origin).await.map_err(SendError::Connect)?;
    let stream = TcpStream::connect(&addrs[..])
        .await
        .map_err(SendError::Connect)?;
    let _ = stream.set_nodelay(true);
    if origin.https {
        let name = rustls::pki_types::ServerName::try_from(origin.host.clone())
            .map_err(|e| SendError::Tls(io::Error::new(io::ErrorKind::InvalidInput, e)))?;
        let tls = tokio_rustls::TlsConnector::from(net.tls.clone())
            .connect(name, stream)
            .await
            .map_err(SendError::Tls)?;
        Ok(Stream::Tls(Box::new(tls)))
    } else {
        Ok(Stream::Plain(stream))
    }
}

#[cfg(test)]
mod tests;
