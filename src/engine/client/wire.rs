//! The request as rendered, read back: [`super::super::request::render`] writes each request once, as HTTP/1.1
//! bytes in the user's send buffer (the fast path: one write, nothing else built). What must see the request
//! another way reads it here instead of rendering it again: HTTP/2 (a head of fields, not lines), a redirect
//! (the next hop's request is the first one edited), a proxy (an absolute target). Parsing a head loadgen wrote
//! itself costs well under a microsecond and happens only on those paths.

/// A rendered request, borrowed from its bytes.
#[derive(Debug)]
// `method` and `target` are read by HTTP/2 and proxies (issue 17), which land beside redirects.
#[allow(dead_code)]
pub struct WireRequest<'a> {
    pub method: &'a str,
    /// As on the request line: origin-form (`/path?query`).
    pub target: &'a str,
    /// Every header line in order, `Host`, `Cookie` and `Content-Length` included.
    pub headers: Vec<(&'a str, &'a [u8])>,
    pub body: &'a [u8],
}

/// The request target of a rendered request (its request line's second word), without parsing the rest.
pub fn target_of(wire: &str) -> &str {
    wire.split(' ').nth(1).unwrap_or("/")
}

/// Headers read back at most (the renderer writes one line per header of the step, plus a few of its own).
const MAX_HEADERS: usize = 256;

impl<'a> WireRequest<'a> {
    /// Reads back a request that [`super::super::request::render`] wrote.
    pub fn parse(wire: &'a [u8]) -> Result<WireRequest<'a>, String> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut r = httparse::Request::new(&mut headers);
        let n = match r.parse(wire) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Err("incomplete request head".into()),
            Err(e) => return Err(format!("request head: {e}")),
        };
        Ok(WireRequest {
            method: r.method.unwrap_or("GET"),
            target: r.path.unwrap_or("/"),
            headers: r.headers.iter().map(|h| (h.name, h.value)).collect(),
            body: &wire[n..],
        })
    }

    /// The first header named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, v)| v)
    }

    /// Writes an HTTP/1.1 request into `out` (cleared first): `method target`, the headers in order, then the
    /// body. `Content-Length` is written from `body` (when it is not empty or the method carries one); any
    /// given in `headers` is left out.
    pub fn write(
        out: &mut String,
        method: &str,
        target: &str,
        headers: &[(&str, &[u8])],
        body: &[u8],
    ) -> Result<(), String> {
        let text = std::str::from_utf8(body).map_err(|_| "the body is not text".to_string())?;
        Self::write_head(out, method, target, headers, body.len())?;
        out.push_str(text);
        Ok(())
    }

    /// [`WireRequest::write`] without the body: the head of a request whose body is `body_len` bytes (issue 18
    /// item 5: a binary body, which goes after it as bytes).
    pub fn write_head(
        out: &mut String,
        method: &str,
        target: &str,
        headers: &[(&str, &[u8])],
        body_len: usize,
    ) -> Result<(), String> {
        out.clear();
        out.push_str(method);
        out.push(' ');
        out.push_str(target);
        out.push_str(" HTTP/1.1\r\n");
        for (n, v) in headers {
            if n.eq_ignore_ascii_case("content-length") {
                continue;
            }
            out.push_str(n);
            out.push_str(": ");
            out.push_str(std::str::from_utf8(v).map_err(|_| format!("header `{n}` is not text"))?);
            out.push_str("\r\n");
        }
        if body_len > 0 || matches!(method, "POST" | "PUT" | "PATCH") {
            out.push_str("content-length: ");
            out.push_str(&body_len.to_string());
            out.push_str("\r\n");
        }
        out.push_str("\r\n");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_and_rewrites_a_request() {
        let wire =
            b"POST /a?b=1 HTTP/1.1\r\nhost: x:1\r\ncookie: s=1\r\ncontent-length: 2\r\n\r\n{}";
        let r = WireRequest::parse(wire).unwrap();
        assert_eq!((r.method, r.target, r.body), ("POST", "/a?b=1", &b"{}"[..]));
        assert_eq!(r.header("Cookie"), Some(&b"s=1"[..]));
        assert_eq!(r.header("authorization"), None);
        let mut out = String::new();
        let kept: Vec<_> = r
            .headers
            .iter()
            .copied()
            .filter(|(n, _)| *n != "cookie")
            .collect();
        WireRequest::write(&mut out, "GET", "/next", &kept, b"").unwrap();
        assert_eq!(out, "GET /next HTTP/1.1\r\nhost: x:1\r\n\r\n");
        WireRequest::write(&mut out, "PUT", "/p", &kept, b"abc").unwrap();
        assert_eq!(
            out,
            "PUT /p HTTP/1.1\r\nhost: x:1\r\ncontent-length: 3\r\n\r\nabc"
        );
        assert!(WireRequest::parse(b"GET / HTTP/1.1\r\nhost").is_err());
    }
}
