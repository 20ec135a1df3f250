//! The HTTP/1.1 exchange on one connection: the request written in one go, the response head parsed with
//! `httparse` from a reused read buffer, the body framed by Content-Length, chunked encoding or the end of the
//! connection, counted as it streams and kept only when asked for, up to a limit.

use bytes::Bytes;

use super::conn::Conn;
use super::framing::{Body, chunk_size, framing};
use super::{Outgoing, SendError};

/// The largest response head accepted.
pub(super) const MAX_HEAD: usize = 64 * 1024;
/// Headers parsed per response at most.
pub(super) const MAX_HEADERS: usize = 96;
/// The head of a response: status and headers, kept as offsets into the raw bytes.
#[derive(Debug, Default)]
pub struct Head {
    pub status: u16,
    pub(super) raw: Bytes,
    pub(super) headers: Vec<(usize, usize, usize, usize)>,
}

impl Head {
    /// The headers named `name` (any case), in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers
            .iter()
            .filter(move |&&(ns, ne, _, _)| self.raw[ns..ne].eq_ignore_ascii_case(name.as_bytes()))
            .map(move |&(_, _, vs, ve)| &self.raw[vs..ve])
    }

    /// Every header (name, value) in order (issue 18 item 6: `--debug` prints them).
    pub fn fields(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.headers
            .iter()
            .map(|&(ns, ne, vs, ve)| (&self.raw[ns..ne], &self.raw[vs..ve]))
    }

    /// The first header named `name`, as text.
    pub fn get<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.get_all(name)
            .next()
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Whether a field named `name` lists `token` (framing reads its fields in `framing`, in one pass).
    #[allow(dead_code)]
    pub(super) fn has_token(&self, name: &str, token: &str) -> bool {
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
/// Writes the request and reads the answer. On error, also says whether no answer byte had been received.
pub(super) async fn round_trip(
    conn: &mut Conn,
    wbuf: &[u8],
    req: &Outgoing<'_>,
) -> Result<(Answer, bool), (SendError, bool)> {
    conn.buf.clear();
    // The previous answer's head was split off the front: take the room back (in place, as nothing else holds
    // it now) before it runs short, rather than reading a head in two pieces.
    if conn.buf.capacity() < 1024 {
        conn.buf.reserve(super::conn::READ_BUF);
    }
    conn.stream
        .write_all(wbuf)
        .await
        .map_err(|e| (SendError::Io(e), true))?;
    // The head.
    let (head, head_len) = loop {
        if !conn.buf.is_empty() {
            let parsed = match parse_head(&conn.buf, false) {
                // Refused as it stands: is it obs-fold (a field value continued on the next line)? A user agent
                // replaces each fold with spaces (RFC 9112 §5.2). Tried only after a refusal, so a normal head
                // is parsed once.
                Err(e) => match parse_head(&conn.buf, true) {
                    Ok(Some(p)) => {
                        for &(_, _, vs, ve) in &p.2 {
                            let mut fold = false;
                            for b in &mut conn.buf[vs..ve] {
                                fold = matches!(*b, b'\r' | b'\n')
                                    || fold && matches!(*b, b' ' | b'\t');
                                if fold {
                                    *b = b' ';
                                }
                            }
                        }
                        Ok(Some(p))
                    }
                    Ok(None) => Ok(None),
                    Err(_) => Err(e),
                },
                parsed => parsed,
            };
            match parsed {
                Ok(Some((status, http10, offsets, n))) => {
                    // However the head arrived (in one read into a large buffer, too).
                    if n > MAX_HEAD {
                        return Err((
                            SendError::Invalid("response head over 64 KiB".into()),
                            false,
                        ));
                    }
                    if status < 100 {
                        return Err((SendError::Invalid("status code below 100".into()), false));
                    }
                    if (100..200).contains(&status) && status != 101 {
                        // An interim answer (100 Continue, 103 Early Hints): the real one follows.
                        let _ = conn.buf.split_to(n);
                        continue;
                    }
                    break ((status, http10, offsets), n);
                }
                Ok(None) => {}
                Err(e) => return Err((head_error(e), false)),
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
    let framing = framing(&head, http10);
    let keep_alive = framing.keep_alive;

    // The body: counted as it streams; kept only when asked for, and only up to `max_body`, so an answer of
    // any size costs no more memory than the read buffer.
    let mut body = Vec::new();
    let mut bytes = 0u64;
    let fail = |e: SendError| (e, false);
    // 101 Switching Protocols: what follows is another protocol (whether or not the request asked for an
    // upgrade), so it is an answer without a body whose connection is never used again. An answer rather than a
    // failure of its own: a scenario that sends `Upgrade` expects it, and one that does not sees the status.
    let switched = status == 101;
    let no_body = *req.method == http::Method::HEAD || status == 204 || status == 304 || switched;
    if no_body {
        return Ok((
            Answer {
                head,
                head_at,
                bytes,
                body,
                oversize: false,
            },
            keep_alive && !switched && conn.buf.is_empty(),
        ));
    }
    let body_framing = framing
        .body
        .map_err(|why| fail(SendError::Invalid(why.into())))?;
    let chunked = body_framing == Body::Chunked;
    let length = match body_framing {
        Body::Length(n) => Some(n),
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
        // Strict, as hyper is: every line ends in CRLF and the data in CRLF; a lenient reading here is how a
        // response is split or smuggled.
        loop {
            let n = line(
                conn,
                4096,
                "chunk size line over 4 KiB",
                "chunk size line not ended by CRLF",
            )
            .await
            .map_err(fail)?;
            let size = chunk_size(&conn.buf[..n])
                .ok_or_else(|| fail(SendError::Invalid("invalid chunk size".into())))?;
            let _ = conn.buf.split_to(n + 2);
            if size == 0 {
                // The trailer section, up to an empty line: skipped, within the bound of a head.
                let mut trailers = 0;
                loop {
                    let n = line(
                        conn,
                        MAX_HEAD.saturating_sub(trailers),
                        "trailer section over 64 KiB",
                        "trailer line not ended by CRLF",
                    )
                    .await
                    .map_err(fail)?;
                    let _ = conn.buf.split_to(n + 2);
                    if n == 0 {
                        break;
                    }
                    trailers += n + 2;
                }
                break;
            }
            pass(conn, size, &mut take).await.map_err(fail)?;
            while conn.buf.len() < 2 {
                fill(conn).await.map_err(fail)?;
            }
            if conn.buf[..2] != *b"\r\n" {
                return Err(fail(SendError::Invalid(
                    "chunk data not followed by CRLF".into(),
                )));
            }
            let _ = conn.buf.split_to(2);
        }
    } else if let Some(left) = length {
        pass(conn, left, &mut take).await.map_err(fail)?;
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
        // Bytes past the end of the answer mean the framing is off (or the server is broken): the next answer
        // would not start where it should, so the connection is not used again.
        keep_alive && conn.buf.is_empty(),
    ))
}

/// A response head: status, whether it is HTTP/1.0, the fields as offsets into `buf`, the head's length.
type Parsed = (u16, bool, Vec<(usize, usize, usize, usize)>, usize);

/// Parses the head at the start of `buf`; `None` while it is incomplete.
fn parse_head(buf: &[u8], obs_fold: bool) -> Result<Option<Parsed>, httparse::Error> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut r = httparse::Response::new(&mut headers);
    let n = match httparse::ParserConfig::default()
        .allow_obsolete_multiline_headers_in_responses(obs_fold)
        .parse_response(&mut r, buf)?
    {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return Ok(None),
    };
    let base = buf.as_ptr() as usize;
    let offsets = r
        .headers
        .iter()
        .map(|h| {
            let ns = h.name.as_ptr() as usize - base;
            let vs = h.value.as_ptr() as usize - base;
            (ns, ns + h.name.len(), vs, vs + h.value.len())
        })
        .collect();
    Ok(Some((
        r.code.unwrap_or(0),
        r.version == Some(0),
        offsets,
        n,
    )))
}

/// What is wrong with a head httparse refused, in words a reader of the results can act on.
fn head_error(e: httparse::Error) -> SendError {
    use httparse::Error as E;
    SendError::Invalid(match e {
        E::Version => "not an HTTP/1.x status line".into(),
        E::Status | E::Token => "invalid status line".into(),
        E::TooManyHeaders => format!("more than {MAX_HEADERS} header fields"),
        E::HeaderName => "invalid header name".into(),
        E::HeaderValue => "invalid header value".into(),
        E::NewLine => "invalid line ending in the head".into(),
    })
}

/// The length of the line at the start of the read buffer (without its CRLF), reading until it is all there.
/// A line of more than `max` bytes is refused with `too_long`, one that does not end in CRLF (a bare LF, or a
/// CR elsewhere in it) with `bad_end`.
async fn line(
    conn: &mut Conn,
    max: usize,
    too_long: &'static str,
    bad_end: &'static str,
) -> Result<usize, SendError> {
    let mut searched = 0;
    loop {
        if let Some(p) = conn.buf[searched..].iter().position(|&b| b == b'\n') {
            let lf = searched + p;
            if lf > max {
                return Err(SendError::Invalid(too_long.into()));
            }
            return match lf.checked_sub(1) {
                Some(cr) if conn.buf[cr] == b'\r' && !conn.buf[..cr].contains(&b'\r') => Ok(cr),
                _ => Err(SendError::Invalid(bad_end.into())),
            };
        }
        searched = conn.buf.len();
        if searched > max {
            return Err(SendError::Invalid(too_long.into()));
        }
        fill(conn).await?;
    }
}

/// Passes the next `left` bytes of the body (what is buffered, then what arrives) to `take`, chunk by chunk as
/// they come: a chunk's data or a Content-Length body.
async fn pass(
    conn: &mut Conn,
    mut left: u64,
    take: &mut impl FnMut(&[u8]),
) -> Result<(), SendError> {
    while left > 0 {
        if conn.buf.is_empty() {
            fill(conn).await?;
        }
        let n = (left.min(conn.buf.len() as u64)) as usize;
        take(&conn.buf[..n]);
        let _ = conn.buf.split_to(n);
        left -= n as u64;
    }
    Ok(())
}

/// Reads more into the connection's buffer; the end of the stream is an error here (mid-answer).
pub(super) async fn fill(conn: &mut Conn) -> Result<(), SendError> {
    if conn.buf.capacity() - conn.buf.len() < 1024 {
        conn.buf.reserve(4096);
    }
    match conn.stream.read_buf(&mut conn.buf).await {
        Ok(0) => Err(SendError::Closed),
        Ok(_) => Ok(()),
        Err(e) => Err(SendError::Io(e)),
    }
}
