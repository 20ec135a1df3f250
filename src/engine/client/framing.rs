//! How an answer's body is delimited (RFC 9112 §6.3) and whether its connection may carry another request,
//! decided in one pass over the head's fields; and the strict readers of the numbers that delimit a body. Apart
//! from `h1` so that the rules read as a list, each with the reason it exists: a lenient reading of framing is
//! how request smuggling and response splitting happen, and a wrongly framed answer poisons every later answer
//! on the connection.
//!
//! Error messages are fixed texts: they never quote a header value or body bytes (a response may carry secrets).

use super::h1::Head;

/// How the body of an answer ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Body {
    /// After this many bytes (Content-Length).
    Length(u64),
    /// At the zero-size chunk and the trailer section after it.
    Chunked,
    /// When the server closes the connection.
    ToClose,
}

/// What the head says about framing.
#[derive(Debug)]
pub(super) struct Framing {
    /// The connection may carry another request after this answer (as far as the head tells).
    pub keep_alive: bool,
    /// How the body ends, or why it cannot be told (only an error when there is a body to read).
    pub body: Result<Body, &'static str>,
}

/// Reads the framing fields of `head` (Connection, Content-Length, Transfer-Encoding) in one pass.
pub(super) fn framing(head: &Head, http10: bool) -> Framing {
    let (mut close, mut keep_alive) = (false, false);
    // Transfer-Encoding: present at all, and chunked as its final coding (in the last field).
    let (mut coded, mut chunked) = (false, false);
    let mut length: Option<u64> = None;
    let mut bad_length = None;
    for &(ns, ne, vs, ve) in &head.headers {
        let (name, value) = (&head.raw[ns..ne], &head.raw[vs..ve]);
        // The length first: a cheap test that skips most fields.
        match name.len() {
            10 if name.eq_ignore_ascii_case(b"connection") => {
                for t in value.split(|&b| b == b',').map(trim) {
                    close |= t.eq_ignore_ascii_case(b"close");
                    keep_alive |= t.eq_ignore_ascii_case(b"keep-alive");
                }
            }
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                // Several fields, or one holding a list, are fine when every value is the same (RFC 9110 §8.6).
                for v in value.split(|&b| b == b',').map(trim) {
                    match decimal(v) {
                        Some(n) if length.is_none_or(|l| l == n) => length = Some(n),
                        Some(_) => {
                            bad_length.get_or_insert("conflicting Content-Length values");
                        }
                        None => {
                            bad_length.get_or_insert("Content-Length is not a decimal number");
                        }
                    }
                }
            }
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                coded = true;
                chunked = value
                    .rsplit(|&b| b == b',')
                    .next()
                    .is_some_and(|t| trim(t).eq_ignore_ascii_case(b"chunked"));
            }
            _ => {}
        }
    }
    let body = if coded && http10 {
        // HTTP/1.0 has no transfer codings: the framing cannot be trusted (RFC 9112 §6.1). hyper refuses it too.
        Err("Transfer-Encoding in an HTTP/1.0 response")
    } else if chunked {
        Ok(Body::Chunked)
    } else if coded {
        // A coding other than chunked last: only the close ends the body (RFC 9112 §6.3, item 4), whatever a
        // Content-Length says.
        Ok(Body::ToClose)
    } else if let Some(why) = bad_length {
        Err(why)
    } else {
        Ok(length.map_or(Body::ToClose, Body::Length))
    };
    Framing {
        // Both Transfer-Encoding and Content-Length may be an attempt at smuggling: the transfer coding frames
        // this answer, and the connection carries nothing after it (RFC 9112 §6.1).
        keep_alive: !close
            && (!http10 || keep_alive)
            && !(coded && (length.is_some() || bad_length.is_some())),
        body,
    }
}

/// The size in a chunk's size line (the line without its CRLF): hex digits, then optional spaces and tabs, then
/// nothing or the chunk extensions after a `;` (ignored). No sign, no `0x`; `None` when it overflows a u64.
pub(super) fn chunk_size(line: &[u8]) -> Option<u64> {
    let digits = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    let rest = trim(&line[digits..]);
    if digits == 0 || !(rest.is_empty() || rest[0] == b';') {
        return None;
    }
    line[..digits].iter().try_fold(0u64, |n, &b| {
        let d = char::from(b).to_digit(16)?;
        n.checked_mul(16)?.checked_add(u64::from(d))
    })
}

/// A decimal number of digits only: no sign, no spaces, no `0x`; `None` when it overflows a u64.
fn decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |n, &b| match b {
        b'0'..=b'9' => n.checked_mul(10)?.checked_add(u64::from(b - b'0')),
        _ => None,
    })
}

/// `s` without the spaces and tabs around it.
fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |e| e + 1);
    &s[start..end]
}
