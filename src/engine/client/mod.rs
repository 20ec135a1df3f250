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
//! Redirects are followed by `redirect` (up to the request's `follow_redirects`), each hop an exchange of its own.
//!
//! Submodules: `conn` (TCP/TLS connections and connecting), `h1` (the HTTP/1.1 exchange on one connection),
//! `framing` (how an answer's body ends and whether its connection is kept: RFC 9112 §6.3; the conformance
//! suite in `conformance_tests` and docs/http-client.md go case by case), `cookies` (the user's jar), `redirect`
//! (following redirects), `wire` (a rendered request read back). This module owns the request's way through
//! them: which connection, whether a failed request may be sent again.

mod conn;
mod cookies;
pub mod decode;
mod dns;
mod framing;
mod h1;
// Issue 17, item 6: HTTP/2 (`self::h2`; the crate is `::h2`).
mod h2;
mod proxy;
mod redirect;
mod wire;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use http::header::HeaderValue;

pub use self::h2::{H2Failure, H2Pool};
use super::io_error::describe_io;
use crate::metrics::FailureKind;
use crate::plan::HttpVersion;
use conn::{Conn, connect};
pub use cookies::Jar;
use h1::round_trip;
pub use h1::{Answer, Head};

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
    /// Issue 17 item 3: every address of a name, re-looked-up after a TTL, and which were used.
    dns: dns::Resolver,
    /// Issue 17 item 7: the proxies, when any is set (`None`: every connection is direct).
    proxy: Option<Arc<crate::plan::Proxies>>,
    // Issue 17, item 6 (HTTP/2):
    /// The HTTP version spoken (`[target] http`).
    http: HttpVersion,
    /// HTTP/2 connections per origin per worker.
    http2_connections: u32,
    /// With `http = "2"` or `"auto"`: `tls` offering ALPN `h2` (and `http/1.1` for auto), for HTTP/2's
    /// connections. HTTP/1.1 connections use `tls`, which offers no ALPN.
    tls_alpn: Option<Arc<rustls::ClientConfig>>,
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
            dns: dns::Resolver::default(),
            proxy: None,
            http: HttpVersion::Http1,
            http2_connections: crate::plan::DEFAULT_HTTP2_CONNECTIONS,
            tls_alpn: None,
        }
    }

    /// Speaking the HTTP version `protocol` says (HTTP/1.1 unless told otherwise).
    pub fn with_protocol(mut self, protocol: crate::plan::Protocol) -> Self {
        self.http = protocol.http;
        self.http2_connections = protocol.http2_connections;
        self.tls_alpn = match protocol.http {
            HttpVersion::Http1 => None,
            HttpVersion::Http2 => Some(vec![b"h2".to_vec()]),
            HttpVersion::Auto => Some(vec![b"h2".to_vec(), b"http/1.1".to_vec()]),
        }
        .map(|alpn| {
            let mut config = (*self.tls).clone();
            config.alpn_protocols = alpn;
            Arc::new(config)
        });
        self
    }

    /// Through the proxies `proxy` gives (none when it sets none).
    pub fn with_proxy(mut self, proxy: &crate::plan::Proxies) -> Self {
        self.proxy = proxy.any().then(|| Arc::new(proxy.clone()));
        self
    }

    /// With `dns`'s look-up settings (TTL, fixed addresses).
    pub fn with_dns(mut self, dns: &crate::plan::Dns) -> Self {
        self.dns = dns::Resolver::new(dns);
        self
    }

    /// Per origin (`http://host:port`), the addresses connections were opened to and how many.
    pub fn addresses_used(&self) -> Vec<(String, Vec<(SocketAddr, u64)>)> {
        self.dns.used()
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
    /// An HTTP/2 request failed (issue 17, item 6).
    Http2(H2Failure),
    /// Redirects that could not be followed (too many, or to no usable URL); the message names no URL.
    Redirect(String),
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
            // An alert after the handshake (TLS 1.3 client authentication refused): named as TLS.
            SendError::Io(e) if super::tls::is_tls_error(e) => (
                FailureKind::Connect,
                super::tls::describe_handshake_error(e),
            ),
            SendError::Io(e) => describe_io(e, FailureKind::Connection),
            SendError::Closed => (
                FailureKind::Connection,
                "connection closed before the response completed".into(),
            ),
            SendError::Invalid(m) => (FailureKind::Other, format!("invalid HTTP response: {m}")),
            SendError::Http2(e) => e.describe(),
            SendError::Redirect(m) => (FailureKind::Redirect, m.clone()),
        }
    }
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
    /// The length of the step's own `Cookie` value at the start of the rendered `cookie` header (the jar's
    /// cookies follow it): a redirect to another origin keeps neither (issue 17, item 4).
    pub own_cookie: usize,
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
    cookies: Jar,
    send: SendBuf,
    // Issue 17, item 6 (HTTP/2):
    /// The worker's HTTP/2 connections (made for this client alone when it was given none).
    h2: Option<Arc<H2Pool>>,
    /// The one of them this user's requests go on (boxed: an HTTP/1.1 user carries 8 bytes for it, not ~400).
    h2_conn: Option<Box<self::h2::UserConn>>,
    /// Issue 17 item 7: the request as it goes to an http proxy (absolute form), when it does.
    forward: Vec<u8>,
}

impl Client {
    /// A client that takes its connections from `pool` instead of owning them.
    pub fn shared(pool: std::sync::Arc<Pool>) -> Client {
        Client {
            pool: Some(pool),
            ..Client::default()
        }
    }

    /// This client's HTTP/2 requests go on `pool`'s connections (its worker's).
    pub fn with_h2(mut self, pool: Arc<H2Pool>) -> Client {
        self.h2 = Some(pool);
        self
    }

    /// The user's cookie jar.
    pub fn jar(&self) -> &Jar {
        &self.cookies
    }

    /// The send buffer to render the next request into, and the user's cookie jar.
    pub fn send_buffer(&mut self) -> (&mut SendBuf, &Jar) {
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
        // The one check HTTP/1.1 pays for HTTP/2.
        if net.http != HttpVersion::Http1
            // Boxed, so that HTTP/2's state is not part of every user's future (10,000 users each carried
            // ~2 KiB more for it): one allocation per HTTP/2 request instead.
            && let Some(done) = Box::pin(self.exchange_h2(net, origin, req)).await
        {
            return done;
        }
        let idempotent = is_idempotent(req.method);
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
                // Boxed: connecting (DNS, a proxy's tunnel, the TLS handshake) is a large future that only a
                // new connection needs, so it is allocated then rather than carried by every user.
                None => (origin.key.clone(), Box::pin(connect(net, origin)).await?),
            };
            let reused = conn.used > 0;
            // Issue 17 item 7: to an http proxy, the request goes in absolute form.
            let wire = match conn.forward.as_ref().and_then(|p| p.http.as_ref()) {
                None => self.send.wire.as_bytes(),
                Some(p) => {
                    proxy::absolute_form(self.send.wire.as_bytes(), origin, p, &mut self.forward);
                    &self.forward
                }
            };
            // The connection is owned by this future while in use: if the exchange is cut short (a timeout),
            // it is dropped with it rather than reused mid-answer.
            match round_trip(&mut conn, wire, req).await {
                Ok((answer, keep_alive)) => {
                    conn.used += 1;
                    // A request that says `Connection: close` gets a connection of its own, as it asks.
                    if keep_alive && !req.close {
                        self.put(key, conn);
                    }
                    let wire = &self.send.wire;
                    self.cookies
                        .store(&answer.head, origin, || wire::target_of(wire));
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
        self.h2_conn = None;
    }

    /// The request as an HTTP/2 stream (see [`self::h2`]), sent again once on another connection when the
    /// never-twice rule allows it. `None`: the origin speaks HTTP/1.1 (`auto` over plain http, or a TLS server
    /// that chose it), and the request takes the HTTP/1.1 path.
    async fn exchange_h2(
        &mut self,
        net: &Net,
        origin: &Origin,
        req: &Outgoing<'_>,
    ) -> Option<Result<Answer, SendError>> {
        if net.http == HttpVersion::Auto && !origin.https {
            return None;
        }
        let idempotent = is_idempotent(req.method);
        let pool = self
            .h2
            .get_or_insert_with(|| Arc::new(H2Pool::new(net.http2_connections)))
            .clone();
        for attempt in 0..2 {
            match self::h2::connection(&pool, &mut self.h2_conn, net, origin).await {
                Ok(self::h2::Got::H2) => {}
                Ok(self::h2::Got::Http1(stream)) => {
                    // The server chose HTTP/1.1: this connection is the user's first one to it.
                    if let Some(stream) = stream {
                        let conn = Conn {
                            stream,
                            buf: bytes::BytesMut::with_capacity(conn::READ_BUF),
                            used: 0,
                            forward: None,
                        };
                        self.put(origin.key.clone(), conn);
                    }
                    return None;
                }
                Err(e) => return Some(Err(e)),
            }
            match self::h2::round_trip(
                &mut self.h2_conn,
                origin,
                self.send.wire.as_bytes(),
                req,
                idempotent,
            )
            .await
            {
                Ok(answer) => {
                    let sent = &self.send.wire;
                    self.cookies
                        .store(&answer.head, origin, || wire::target_of(sent));
                    return Some(Ok(answer));
                }
                Err((e, again)) => {
                    if !(again && attempt == 0) {
                        return Some(Err(e));
                    }
                }
            }
        }
        Some(Err(SendError::Closed))
    }
}

/// GET, HEAD, PUT, DELETE, OPTIONS, TRACE (RFC 9110 §9.2.2).
fn is_idempotent(method: &http::Method) -> bool {
    matches!(
        *method,
        http::Method::GET
            | http::Method::HEAD
            | http::Method::PUT
            | http::Method::DELETE
            | http::Method::OPTIONS
            | http::Method::TRACE
    )
}

#[cfg(test)]
mod conformance_tests;
#[cfg(test)]
mod tests;
