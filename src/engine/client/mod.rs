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
//! `cookies` (the user's jar), `redirect` (following redirects), `wire` (a rendered request read back). This module owns the request's way through them: which connection, whether a
//! failed request may be sent again.

mod conn;
mod cookies;
pub mod decode;
mod h1;
mod redirect;
mod wire;

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::BytesMut;
use http::header::HeaderValue;

use super::io_error::describe_io;
use crate::metrics::FailureKind;
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
            SendError::Io(e) => describe_io(e, FailureKind::Connection),
            SendError::Closed => (
                FailureKind::Connection,
                "connection closed before the response completed".into(),
            ),
            SendError::Invalid(m) => (FailureKind::Other, format!("invalid HTTP response: {m}")),
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
}

impl Client {
    /// A client that takes its connections from `pool` instead of owning them.
    pub fn shared(pool: std::sync::Arc<Pool>) -> Client {
        Client {
            pool: Some(pool),
            ..Client::default()
        }
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
    }
}

#[cfg(test)]
mod tests;
