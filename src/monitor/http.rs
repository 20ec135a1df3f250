//! One `GET` of a metrics endpoint over HTTP/1.0 on a blocking socket, within a deadline: the status must be
//! 200, the body at most [`MAX_BODY`] bytes (a `Content-Length` honoured, a chunked body decoded in case a
//! server chunks anyway).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// The largest metrics page read.
pub const MAX_BODY: usize = 16 << 20;

/// The body of `GET url`, or why there is none.
pub fn get(url: &str, timeout: Duration) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    let u = url::Url::parse(url).map_err(|e| format!("bad URL: {e}"))?;
    let host = u.host_str().ok_or("no host")?;
    let port = u.port_or_known_default().unwrap_or(80);
    let addrs: Vec<_> = (host.trim_start_matches('[').trim_end_matches(']'), port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    let left = || deadline.saturating_duration_since(Instant::now());
    let mut last = String::from("no address");
    let mut stream = None;
    for a in addrs {
        if left().is_zero() {
            break;
        }
        match TcpStream::connect_timeout(&a, left()) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = e.to_string(),
        }
    }
    let mut s = stream.ok_or_else(|| format!("cannot connect: {last}"))?;
    let path = match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_string(),
    };
    let host_header = match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    s.set_write_timeout(Some(left().max(Duration::from_millis(1))))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {host_header}\r\nAccept: text/plain;version=0.0.4\r\nUser-Agent: loadgen/{}\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    )
    .map_err(|e| format!("cannot send: {e}"))?;
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let l = left();
        if l.is_zero() {
            return Err(format!(
                "timed out after {}",
                humantime::format_duration(timeout)
            ));
        }
        s.set_read_timeout(Some(l)).map_err(|e| e.to_string())?;
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > MAX_BODY + 64 * 1024 {
                    return Err(format!("the answer is over {} MB", MAX_BODY >> 20));
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(format!(
                    "timed out after {}",
                    humantime::format_duration(timeout)
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read failed: {e}")),
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let head = match resp.parse(&buf) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => return Err("not an HTTP answer".into()),
    };
    let code = resp.code.unwrap_or(0);
    if code != 200 {
        return Err(format!("status {code}"));
    }
    let header = |name: &str| {
        resp.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
    };
    let mut body = buf[head..].to_vec();
    if header("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        body = dechunk(&body).ok_or("a chunked body that ends early")?;
    } else if let Some(n) = header("content-length").and_then(|n| n.parse::<usize>().ok()) {
        if body.len() < n {
            return Err("the body ends before its Content-Length".into());
        }
        body.truncate(n);
    }
    if header("content-encoding").is_some_and(|e| e != "identity") {
        return Err("a compressed answer (asked for none)".into());
    }
    String::from_utf8(body).map_err(|_| "the body is not UTF-8 text".into())
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = b.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&b[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        b = &b[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_decoded() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n").as_deref(),
            Some(&b"abcde"[..])
        );
        assert_eq!(dechunk(b"5\r\nab"), None);
    }

    #[test]
    fn a_closed_port_is_an_error_not_a_hang() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a port");
        let e = get(
            &format!("http://127.0.0.1:{port}/metrics"),
            Duration::from_millis(500),
        );
        assert!(e.is_err());
    }
}
