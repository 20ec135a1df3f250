//! Requests through an HTTP proxy (issue 17 item 7): the settings come resolved from the plan
//! ([`crate::plan::Proxies`]: `[target] proxy`, `HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`).
//!
//! An `https://` origin is reached through a tunnel: `CONNECT host:port` to the proxy, then the TLS handshake
//! with the origin inside it, so the proxy sees neither the requests nor the certificate check. An `http://`
//! origin's requests go to the proxy in absolute form (`GET http://host:port/path HTTP/1.1`), written from the
//! rendered request ([`absolute_form`]: the request line rewritten and `Proxy-Authorization` added, the rest
//! copied as it is), on a connection kept for that origin.
//!
//! Credentials from the proxy URL go only in `Proxy-Authorization` (Basic); no message, log or result shows
//! them. Which connection needs what is decided once, when it is opened ([`super::conn::connect`]); a
//! request on a direct connection costs one check of an `Option`.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Origin;
use crate::plan::ProxyServer;

/// The longest answer head a proxy may send to `CONNECT`.
const MAX_CONNECT_HEAD: usize = 16 * 1024;

/// `host:port` as a request target and `Host` value (an IPv6 address in brackets).
fn host_port(origin: &Origin) -> String {
    if origin.host.contains(':') {
        format!("[{}]:{}", origin.host, origin.port)
    } else {
        format!("{}:{}", origin.host, origin.port)
    }
}

/// Opens a tunnel to `origin` through the proxy `tcp` is connected to. A refusal (any status but 2xx) is an
/// error naming the proxy and its status line.
pub(super) async fn tunnel(
    tcp: &mut TcpStream,
    origin: &Origin,
    proxy: &ProxyServer,
) -> io::Result<()> {
    let target = host_port(origin);
    let mut head = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(auth) = &proxy.authorization {
        head.push_str("Proxy-Authorization: ");
        head.push_str(auth);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    tcp.write_all(head.as_bytes()).await?;
    // Read byte by byte past the head only: what follows a 2xx is the origin's (TLS) and must stay unread.
    // A head is a few dozen bytes, once per connection.
    let mut buf = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if buf.len() >= MAX_CONNECT_HEAD {
            return Err(io::Error::other(format!(
                "the proxy {}: its answer to CONNECT is over {MAX_CONNECT_HEAD} bytes",
                proxy.shown
            )));
        }
        if tcp.read(&mut byte).await? == 0 {
            return Err(io::Error::other(format!(
                "the proxy {} closed the connection instead of answering CONNECT",
                proxy.shown
            )));
        }
        buf.push(byte[0]);
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut r = httparse::Response::new(&mut headers);
    match r.parse(&buf) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => {
            return Err(io::Error::other(format!(
                "the proxy {} answered CONNECT with something that is not HTTP",
                proxy.shown
            )));
        }
    }
    let code = r.code.unwrap_or(0);
    if (200..300).contains(&code) {
        return Ok(());
    }
    let reason: String = r
        .reason
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(80)
        .collect();
    let hint = match code {
        407 => "; give its credentials in the proxy URL (http://user:password@host:port)",
        403 => "; the proxy does not allow tunnels to this host or port",
        _ => "",
    };
    Err(io::Error::other(format!(
        "the proxy {} refused the tunnel to the target: {code} {reason}{hint}",
        proxy.shown
    )))
}

/// Writes into `out` the request in `wire` (as rendered: origin-form target) as it goes to a proxy: the
/// target in absolute form and, when the proxy has credentials, `Proxy-Authorization` after the request line.
pub(super) fn absolute_form(wire: &[u8], origin: &Origin, proxy: &ProxyServer, out: &mut Vec<u8>) {
    out.clear();
    let line_end = wire
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or(wire.len());
    let line = &wire[..line_end];
    // `METHOD SP target SP version`: the target is between the first and the last space.
    match (
        line.iter().position(|&b| b == b' '),
        line.iter().rposition(|&b| b == b' '),
    ) {
        (Some(a), Some(b)) if a < b && line.get(a + 1) == Some(&b'/') => {
            out.extend_from_slice(&line[..=a]);
            out.extend_from_slice(if origin.https {
                b"https://"
            } else {
                b"http://"
            });
            out.extend_from_slice(origin.authority.as_bytes());
            out.extend_from_slice(&line[a + 1..]);
        }
        // Already absolute (or not a request line loadgen writes): as it is.
        _ => out.extend_from_slice(line),
    }
    if let Some(auth) = &proxy.authorization {
        out.extend_from_slice(b"\r\nProxy-Authorization: ");
        out.extend_from_slice(auth.as_bytes());
    }
    out.extend_from_slice(&wire[line_end..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(url: &str) -> Origin {
        Origin::of(&url::Url::parse(url).unwrap()).unwrap()
    }

    #[test]
    fn requests_to_a_proxy_are_in_absolute_form_with_its_credentials() {
        let mut p = ProxyServer {
            host: "proxy.test".into(),
            port: 3128,
            authorization: None,
            shown: "http://proxy.test:3128".into(),
        };
        let wire = b"GET /a?b=1 HTTP/1.1\r\nhost: api.test:8080\r\n\r\n";
        let mut out = Vec::new();
        absolute_form(wire, &origin("http://api.test:8080/"), &p, &mut out);
        assert_eq!(
            out,
            b"GET http://api.test:8080/a?b=1 HTTP/1.1\r\nhost: api.test:8080\r\n\r\n"
        );
        p.authorization = Some("Basic eDp5".into());
        let wire = b"POST / HTTP/1.1\r\nhost: [::1]\r\ncontent-length: 2\r\n\r\n{}";
        absolute_form(wire, &origin("http://[::1]/"), &p, &mut out);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "POST http://[::1]/ HTTP/1.1\r\nProxy-Authorization: Basic eDp5\r\nhost: [::1]\r\ncontent-length: 2\r\n\r\n{}"
        );
        assert_eq!(host_port(&origin("https://[::1]/")), "[::1]:443");
    }
}
