//! Connections: a TCP or TLS stream to an origin, opened from the run's shared [`super::Net`] (its resolved
//! addresses and TLS configuration), with the read buffer it keeps between exchanges.

use std::io;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Net, Origin, SendError};
use crate::plan::{Proxies, ProxyServer};
use std::sync::Arc;

/// A connection's read buffer to begin with: room for the head and body of a typical API answer. Small,
/// because every user holds one (10,000 users × 4 KiB was the largest part of a run's memory); an answer that
/// does not fit grows it (`h1::fill`), and that connection keeps the larger buffer.
pub(super) const READ_BUF: usize = 2048;

/// A TCP or TLS connection.
pub(super) enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Stream {
    pub(super) async fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
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
    pub(super) fn peer_closed(&self) -> bool {
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

    pub(super) async fn read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read_buf(buf).await,
            Stream::Tls(s) => s.read_buf(buf).await,
        }
    }
}

/// One keep-alive connection and its read buffer.
pub(super) struct Conn {
    pub(super) stream: Stream,
    pub(super) buf: BytesMut,
    /// Requests already answered on it (a reused connection may have been closed by the server meanwhile).
    pub(super) used: u64,
    /// Issue 17 item 7: set when its requests go to the http proxy (`Proxies::http`) in absolute form; `None`:
    /// to the origin, or through a CONNECT tunnel.
    pub(super) forward: Option<Arc<Proxies>>,
}

/// A new connection to `origin`: directly, or through the proxy the plan gives for it.
pub(super) async fn connect(net: &Net, origin: &Origin) -> Result<Conn, SendError> {
    let (stream, forward) = match &net.proxy {
        None => (open(net, origin, None, &net.tls).await?, None),
        Some(proxies) => match proxies.for_origin(origin.https, &origin.host, origin.port) {
            None => (open(net, origin, None, &net.tls).await?, None),
            Some(p) => {
                let forward = (!origin.https).then(|| proxies.clone());
                (open(net, origin, Some(p), &net.tls).await?, forward)
            }
        },
    };
    Ok(Conn {
        stream,
        buf: BytesMut::with_capacity(READ_BUF),
        used: 0,
        forward,
    })
}

/// The stream to `origin` over a TLS configuration of its own (HTTP/2's, which offers ALPN; issue 17, item 6),
/// through the proxy the plan gives for it: a CONNECT tunnel for https. HTTP/2 without TLS (h2c) cannot go
/// through an http proxy (it forwards HTTP/1.1 requests), which is said rather than bypassing the proxy.
pub(super) async fn connect_with(
    net: &Net,
    origin: &Origin,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<Stream, SendError> {
    let proxy = net
        .proxy
        .as_ref()
        .and_then(|p| p.for_origin(origin.https, &origin.host, origin.port));
    if proxy.is_some() && !origin.https {
        return Err(SendError::Connect(io::Error::other(
            "HTTP/2 over plain http (h2c) cannot go through an http proxy: use https, http = \"1.1\", or \
             no_proxy for this host",
        )));
    }
    open(net, origin, proxy, tls).await
}

/// A TCP connection to `addr`'s next address in turn (trying the others if it refuses).
async fn tcp(net: &Net, addr: &Origin) -> Result<TcpStream, io::Error> {
    let (entry, start) = net.dns.pick(addr).await?;
    // This connection's turn in the round-robin, then the other addresses if it refuses.
    let n = entry.addrs.len();
    let mut failed = None;
    let mut opened = None;
    for i in (0..n).map(|k| (start + k) % n) {
        match TcpStream::connect(entry.addrs[i]).await {
            Ok(s) => {
                entry.opened(i);
                opened = Some(s);
                break;
            }
            Err(e) => failed = Some(e),
        }
    }
    let stream = match (opened, failed) {
        (Some(s), _) => s,
        (None, Some(e)) => return Err(e),
        (None, None) => {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "the host name has no address",
            ));
        }
    };
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// The stream to `origin`: TCP to it or to `proxy` (with a CONNECT tunnel for https), then TLS for https.
async fn open(
    net: &Net,
    origin: &Origin,
    proxy: Option<&ProxyServer>,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<Stream, SendError> {
    let stream = match proxy {
        None => tcp(net, origin).await.map_err(SendError::Connect)?,
        Some(p) => {
            let at = Origin {
                key: p.shown.clone(),
                https: false,
                host: p.host.clone(),
                port: p.port,
                authority: String::new(),
            };
            let mut s = tcp(net, &at).await.map_err(|e| {
                use crate::metrics::FailureKind;
                match super::super::io_error::describe_io(&e, FailureKind::Connect) {
                    // Out of descriptors or ports: loadgen's own limit, kept as such.
                    (FailureKind::Resources, _) => SendError::Connect(e),
                    (_, why) => SendError::Connect(io::Error::other(format!(
                        "cannot connect to the proxy {}: {why}",
                        p.shown
                    ))),
                }
            })?;
            if origin.https {
                super::proxy::tunnel(&mut s, origin, p)
                    .await
                    .map_err(SendError::Connect)?;
            }
            s
        }
    };
    if origin.https {
        let name = rustls::pki_types::ServerName::try_from(origin.host.clone())
            .map_err(|e| SendError::Tls(io::Error::new(io::ErrorKind::InvalidInput, e)))?;
        let tls = tokio_rustls::TlsConnector::from(tls.clone())
            .connect(name, stream)
            .await
            .map_err(SendError::Tls)?;
        Ok(Stream::Tls(Box::new(tls)))
    } else {
        Ok(Stream::Plain(stream))
    }
}
