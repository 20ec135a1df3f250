//! A `multipart/form-data` parser for the shop's upload endpoint (issue 18, item 7): the whole body is already in
//! memory (bounded by the upload limit), so the parser works on one byte slice and every part's content is a
//! sub-slice of it, binary-safe and never copied.
//!
//! Shape (RFC 7578 on RFC 2046): an optional preamble, then `--BOUNDARY` (transport padding allowed) CRLF, the
//! part's headers (parsed by `httparse`) and an empty line, the content up to CRLF `--BOUNDARY`, and so on until
//! `--BOUNDARY--`; the epilogue is ignored. Every part needs a `Content-Disposition: form-data; name="..."`;
//! `filename` (or RFC 5987 `filename*`) and `Content-Type` are optional. Anything else is a [`MultipartError`]
//! that says what was wrong, never echoing the content.

use std::borrow::Cow;

/// Most parts one body may hold.
pub(crate) const MAX_PARTS: usize = 100;
/// Most headers one part may carry.
const MAX_PART_HEADERS: usize = 16;
/// Longest boundary RFC 2046 allows.
const MAX_BOUNDARY: usize = 70;

/// One part of a multipart body; `data` borrows from the body.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Part<'a> {
    pub name: Cow<'a, str>,
    pub filename: Option<Cow<'a, str>>,
    pub content_type: Option<&'a str>,
    pub data: &'a [u8],
}

/// Why a multipart body was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum MultipartError {
    #[error("the body does not start with the boundary's delimiter")]
    NoDelimiter,
    #[error("the body ends before the closing delimiter")]
    Unterminated,
    #[error("a delimiter line is not followed by CRLF")]
    BadDelimiterLine,
    #[error("a part's headers are malformed")]
    BadHeaders,
    #[error("a part has no Content-Disposition: form-data header with a name")]
    NoName,
    #[error("more than {MAX_PARTS} parts")]
    TooManyParts,
}

/// The boundary of a `multipart/form-data` Content-Type (`multipart/form-data; boundary=XYZ`, the value quoted or
/// not); `None` for another type or a missing, empty or over-long boundary.
pub(crate) fn boundary(content_type: &str) -> Option<Cow<'_, str>> {
    let mut params = split_params(content_type);
    let kind = params.next()?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    let b = params.find_map(|p| param(p, "boundary"))?;
    (!b.is_empty() && b.len() <= MAX_BOUNDARY).then_some(b)
}

/// Splits `body` into its parts, delimited by `boundary`.
pub(crate) fn parse<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<Part<'a>>, MultipartError> {
    let delim = format!("--{boundary}");
    let delim = delim.as_bytes();
    // CRLF then the delimiter: how every part's content ends.
    let mut close = Vec::with_capacity(delim.len() + 2);
    close.extend_from_slice(b"\r\n");
    close.extend_from_slice(delim);

    let mut pos = if body.starts_with(delim) {
        0
    } else {
        find(body, &close, 0).ok_or(MultipartError::NoDelimiter)? + 2
    };
    let mut parts = Vec::new();
    loop {
        // `pos` is at a delimiter.
        let mut p = pos + delim.len();
        let rest = &body[p..];
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        if rest.is_empty() {
            return Err(MultipartError::Unterminated);
        }
        while matches!(body.get(p), Some(b' ' | b'\t')) {
            p += 1;
        }
        if !body[p..].starts_with(b"\r\n") {
            return Err(if p >= body.len() {
                MultipartError::Unterminated
            } else {
                MultipartError::BadDelimiterLine
            });
        }
        p += 2;
        if parts.len() == MAX_PARTS {
            return Err(MultipartError::TooManyParts);
        }
        let (part, next) = part_at(body, p, &close)?;
        parts.push(part);
        pos = next;
    }
}

/// The part whose headers start at `start`, and where its closing delimiter starts.
fn part_at<'a>(
    body: &'a [u8],
    start: usize,
    close: &[u8],
) -> Result<(Part<'a>, usize), MultipartError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_PART_HEADERS];
    let (len, headers) = match httparse::parse_headers(&body[start..], &mut headers) {
        Ok(httparse::Status::Complete((len, headers))) => (len, headers),
        Ok(httparse::Status::Partial) => return Err(MultipartError::Unterminated),
        Err(_) => return Err(MultipartError::BadHeaders),
    };
    let mut name = None;
    let mut filename = None;
    let mut filename_ext = None;
    let mut content_type = None;
    for h in headers.iter() {
        let value = std::str::from_utf8(h.value).map_err(|_| MultipartError::BadHeaders)?;
        if h.name.eq_ignore_ascii_case("content-disposition") {
            let mut params = split_params(value);
            if !params
                .next()
                .is_some_and(|d| d.trim().eq_ignore_ascii_case("form-data"))
            {
                return Err(MultipartError::NoName);
            }
            for p in params {
                if let Some(v) = param(p, "name") {
                    name = Some(v);
                } else if let Some(v) = param(p, "filename") {
                    filename = Some(v);
                } else if let Some(v) = param(p, "filename*") {
                    filename_ext = ext_value(&v).map(Cow::Owned);
                }
            }
        } else if h.name.eq_ignore_ascii_case("content-type") {
            content_type = Some(value.trim());
        }
    }
    let name = name.ok_or(MultipartError::NoName)?;
    let data_start = start + len;
    let end = find(body, close, data_start).ok_or(MultipartError::Unterminated)?;
    let part = Part {
        name,
        filename: filename_ext.or(filename),
        content_type,
        data: &body[data_start..end],
    };
    Ok((part, end + 2))
}

/// Where `needle` first occurs in `hay` at or after `from`.
fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = *needle.first()?;
    let mut i = from;
    while i + needle.len() <= hay.len() {
        let at = hay[i..=hay.len() - needle.len()]
            .iter()
            .position(|&b| b == first)?;
        i += at;
        if &hay[i..i + needle.len()] == needle {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// The `;`-separated pieces of a header value, a `;` inside a quoted string not splitting.
fn split_params(value: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(value);
    std::iter::from_fn(move || {
        let s = rest?;
        let mut quoted = false;
        let mut escaped = false;
        for (i, c) in s.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if quoted => escaped = true,
                '"' => quoted = !quoted,
                ';' if !quoted => {
                    rest = Some(&s[i + 1..]);
                    return Some(&s[..i]);
                }
                _ => {}
            }
        }
        rest = None;
        Some(s)
    })
}

/// The value of the parameter `piece` (`key=value` or `key="quoted"`) when its key is `key` (case-insensitive).
fn param<'a>(piece: &'a str, key: &str) -> Option<Cow<'a, str>> {
    let (k, v) = piece.split_once('=')?;
    if !k.trim().eq_ignore_ascii_case(key) {
        return None;
    }
    let v = v.trim();
    let Some(inner) = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return Some(Cow::Borrowed(v));
    };
    if !inner.contains('\\') {
        return Some(Cow::Borrowed(inner));
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' {
            chars.next().unwrap_or('\\')
        } else {
            c
        });
    }
    Some(Cow::Owned(out))
}

/// An RFC 5987 extended value (`UTF-8''na%C3%AFve.txt`), decoded; `None` for another charset or bad UTF-8.
fn ext_value(v: &str) -> Option<String> {
    let mut it = v.splitn(3, '\'');
    let charset = it.next()?;
    let _language = it.next()?;
    let encoded = it.next()?;
    if !charset.eq_ignore_ascii_case("utf-8") {
        return None;
    }
    percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .ok()
        .map(Cow::into_owned)
}
