//! The HTTP/1.1 client a virtual user owns: its own keep-alive connection (one per origin it talks to) and its
//! own cookie jar, as a Locust `HttpUser` has — so N users really are N clients to the server.
//!
//! It drives hyper's connection API directly rather than a pooled client: a user sends one request at a time,
//! so a pool, its locks and its per-request bookkeeping are pure overhead on the request path, and a whole
//! pooled client per user is what makes other Rust generators heavy (~140 KiB per user). What can be shared is:
//! the DNS answers ([`Net`] resolves each origin once) and the TLS configuration (one `rustls::ClientConfig`).
//!
//! Redirects are not followed: a 3xx is an answer like any other (accept it with `expect.status`).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::header::{COOKIE, HOST, HeaderValue, SET_COOKIE};
use http::{HeaderMap, Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

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
    pub authority: HeaderValue,
}

impl Origin {
    /// The origin of an absolute http(s) URL.
    pub fn of(url: &url::Url) -> Result<Origin, String> {
        let https = match url.scheme() {
            "http" => false,
            "https" => true,
            other => return Err(format!("unsupported scheme `{other}`")),
        };
        let host = url.host_str().ok_or("URL without a host")?.to_string();
        let port = url
            .port_or_known_default()
            .unwrap_or(if https { 443 } else { 80 });
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        Ok(Origin {
            key: format!("{}://{authority}", url.scheme()),
            https,
            host,
            port,
            authority: HeaderValue::try_from(authority).map_err(|_| "invalid host".to_string())?,
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
    pub fn new() -> Self {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth());
        let tls = match tls {
            Ok(t) => t,
            // The ring provider supports the default versions; this is unreachable in practice.
            Err(_) => unreachable!("ring supports TLS 1.2 and 1.3"),
        };
        Net {
            tls: Arc::new(tls),
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

/// Why a request got no answer.
#[derive(Debug)]
pub enum SendError {
    Connect(io::Error),
    Tls(io::Error),
    Http(hyper::Error),
}

impl SendError {
    /// The failure category and a short message (never a URL: URLs may carry tokens).
    pub fn describe(&self) -> (FailureKind, String) {
        match self {
            SendError::Connect(e) => describe_io(e, FailureKind::Connect),
            SendError::Tls(e) => (FailureKind::Connect, format!("TLS handshake failed: {e}")),
            SendError::Http(e) => describe_hyper(e),
        }
    }
}

/// Names an I/O failure by its kind.
pub fn describe_io(e: &io::Error, default: FailureKind) -> (FailureKind, String) {
    use io::ErrorKind::*;
    let (kind, msg) = match e.kind() {
        ConnectionRefused => (FailureKind::Connect, "connection refused"),
        ConnectionReset => (FailureKind::Connection, "connection reset by peer"),
        ConnectionAborted => (FailureKind::Connection, "connection aborted"),
        BrokenPipe => (FailureKind::Connection, "broken pipe"),
        UnexpectedEof => (
            FailureKind::Connection,
            "connection closed before the response completed",
        ),
        TimedOut => (FailureKind::Timeout, "request timed out"),
        AddrNotAvailable => (FailureKind::Connect, "no local address/port available"),
        AddrInUse => (FailureKind::Connect, "local address in use"),
        HostUnreachable | NetworkUnreachable => (FailureKind::Connect, "host unreachable"),
        NotFound => (FailureKind::Connect, "the host name does not resolve"),
        _ => return (default, e.to_string()),
    };
    (kind, msg.to_string())
}

fn describe_hyper(e: &hyper::Error) -> (FailureKind, String) {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            return describe_io(io, FailureKind::Connection);
        }
        source = s.source();
    }
    if e.is_incomplete_message() {
        return (
            FailureKind::Connection,
            "connection closed before the response completed".into(),
        );
    }
    if e.is_canceled() || e.is_closed() {
        return (FailureKind::Connection, "connection closed".into());
    }
    if e.is_parse() {
        return (FailureKind::Other, format!("invalid HTTP response: {e}"));
    }
    (FailureKind::Connection, e.to_string())
}

/// One user's connections and cookies.
#[derive(Default)]
pub struct Client {
    conns: Vec<(String, SendRequest<Full<Bytes>>)>,
    cookies: Vec<(String, String)>,
}

impl Client {
    /// Sends `req` to `origin` over this user's connection to it, opening one if there is none.
    /// The `Host` and `Cookie` headers are added here.
    pub async fn send(
        &mut self,
        net: &Net,
        origin: &Origin,
        mut req: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, SendError> {
        req.headers_mut().insert(HOST, origin.authority.clone());
        if !self.cookies.is_empty() {
            let mut c = String::new();
            for (i, (n, v)) in self.cookies.iter().enumerate() {
                if i > 0 {
                    c.push_str("; ");
                }
                c.push_str(n);
                c.push('=');
                c.push_str(v);
            }
            if let Ok(v) = HeaderValue::try_from(c) {
                req.headers_mut().insert(COOKIE, v);
            }
        }
        let sender = self.ready(net, origin).await?;
        let resp = sender.send_request(req).await.map_err(SendError::Http)?;
        self.store_cookies(resp.headers());
        Ok(resp)
    }

    /// A connection to `origin` that can take a request now.
    async fn ready(
        &mut self,
        net: &Net,
        origin: &Origin,
    ) -> Result<&mut SendRequest<Full<Bytes>>, SendError> {
        let pos = self.conns.iter().position(|(k, _)| *k == origin.key);
        if let Some(i) = pos {
            // A connection the server closed (keep-alive timeout, Connection: close) is replaced.
            if self.conns[i].1.is_closed() || self.conns[i].1.ready().await.is_err() {
                self.conns.swap_remove(i);
            } else {
                return Ok(&mut self.conns[i].1);
            }
        }
        let sender = connect(net, origin).await?;
        self.conns.push((origin.key.clone(), sender));
        let last = self.conns.len() - 1;
        Ok(&mut self.conns[last].1)
    }

    /// Drops every connection (a user that ends closes its connections).
    pub fn close(&mut self) {
        self.conns.clear();
    }

    fn store_cookies(&mut self, headers: &HeaderMap) {
        for v in headers.get_all(SET_COOKIE) {
            let Ok(s) = v.to_str() else { continue };
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

async fn connect(net: &Net, origin: &Origin) -> Result<SendRequest<Full<Bytes>>, SendError> {
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
        handshake(tls).await
    } else {
        handshake(stream).await
    }
}

async fn handshake<IO>(io: IO) -> Result<SendRequest<Full<Bytes>>, SendError>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(SendError::Http)?;
    // The connection is driven by its own task, on the user's runtime; it ends when the sender is dropped.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_name_host_and_default_ports() {
        let o = Origin::of(&url::Url::parse("http://127.0.0.1:8000/x").unwrap()).unwrap();
        assert_eq!(
            (o.key.as_str(), o.port, o.https),
            ("http://127.0.0.1:8000", 8000, false)
        );
        assert_eq!(o.authority, "127.0.0.1:8000");
        let o = Origin::of(&url::Url::parse("https://example.test/").unwrap()).unwrap();
        assert_eq!((o.port, o.https), (443, true));
        assert_eq!(o.authority, "example.test");
        assert!(Origin::of(&url::Url::parse("ftp://x/").unwrap()).is_err());
    }

    #[test]
    fn cookie_jar_sets_replaces_and_expires() {
        let mut c = Client::default();
        let mut h = HeaderMap::new();
        h.append(
            SET_COOKIE,
            HeaderValue::from_static("sid=abc; Path=/; HttpOnly"),
        );
        h.append(SET_COOKIE, HeaderValue::from_static("theme=dark"));
        c.store_cookies(&h);
        assert_eq!(
            c.cookies,
            [
                ("sid".to_string(), "abc".to_string()),
                ("theme".into(), "dark".into())
            ]
        );
        let mut h = HeaderMap::new();
        h.append(SET_COOKIE, HeaderValue::from_static("sid=def"));
        h.append(SET_COOKIE, HeaderValue::from_static("theme=; Max-Age=0"));
        c.store_cookies(&h);
        assert_eq!(c.cookies, [("sid".to_string(), "def".to_string())]);
    }
}
