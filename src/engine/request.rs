//! What a request is made of: the parts of a step that never vary, built once per run ([`Prepared`]), and the
//! rendering of a request for one user straight into its client's send buffer ([`render`]): request line,
//! headers and body written from the prepared parts and the user's values, with no `http::Request`, header map
//! or per-request copy of a shared value in between (path and query values percent-encoded, header values
//! checked as `http::HeaderValue` would).
//!
//! It knows steps, templates and origins, and nothing of users or of the run: the request path
//! ([`super::http`]) hands it a template context.

use http::header::{ACCEPT_ENCODING, CONNECTION, CONTENT_TYPE, COOKIE, HOST, HeaderName};
use http::{Method, Uri};

use super::client::{Jar, Origin, SendBuf};
use crate::plan::{Body, Step};
use crate::scenario::template::Context;

/// What can be built once per step instead of once per request.
#[derive(Debug)]
pub struct Prepared {
    /// The request target (path and query, as it goes on the wire) when nothing in it varies.
    target: Option<String>,
    /// The origin of a constant absolute URL; `None` means the run's target (or a URL rendered per request).
    pub(super) origin: Option<Origin>,
    /// Header values that do not vary (and are valid header values), by the step's header.
    headers: Vec<Option<String>>,
    /// The order the step's headers go on the wire: by name in order of first appearance, a name's values
    /// together (as an `http::HeaderMap` iterates), `Cookie` left out (it goes out as one header, with the jar).
    order: Vec<usize>,
    /// The step's own `Cookie` header (the first, if several).
    cookie: Option<usize>,
    /// The step sets its own `Host` (which replaces the target's), `Connection: close`.
    own_host: bool,
    /// Its `Connection` headers say `close`, as far as they are constant.
    close: bool,
    /// The body when it does not vary.
    body: Option<String>,
    /// Issue 17, item 5: `accept-encoding` is loadgen's to write (the step asks for compression and sets no
    /// `Accept-Encoding` of its own).
    accept_encoding: bool,
    // Issue 18 items 4 and 5.
    /// The `content-type` loadgen writes (the body's, unless the step sets its own).
    content_type: Option<String>,
    /// The body has content that is not UTF-8: the request is written as bytes ([`body::write_bytes`]).
    binary: bool,
    /// Such a body when it does not vary.
    body_bytes: Option<Vec<u8>>,
    /// Some headers are defaults sent only once their captures exist ([`Step::header_needs`]).
    conditional: bool,
}

impl Prepared {
    pub fn new(step: &Step, base_path: &str) -> Prepared {
        let mut target = None;
        let mut origin = None;
        if step.path.is_constant() && step.query.iter().all(|(_, t)| t.is_constant()) {
            let mut buf = String::new();
            if let Ok(o) = request_target(step, base_path, &mut NoVars, &mut buf) {
                target = Some(buf);
                origin = o;
            }
        }
        let headers: Vec<Option<String>> = step
            .headers
            .iter()
            .map(|(_, t)| {
                t.is_constant()
                    .then(|| t.render(&mut NoVars))
                    .filter(|v| valid_header_value(v))
            })
            .collect();
        let mut order = Vec::with_capacity(step.headers.len());
        for (i, (name, _)) in step.headers.iter().enumerate() {
            if name == COOKIE || order.iter().any(|&j: &usize| step.headers[j].0 == *name) {
                continue;
            }
            order.extend((i..step.headers.len()).filter(|&j| step.headers[j].0 == *name));
        }
        let named = |n: &HeaderName| step.headers.iter().any(|(h, _)| h == n);
        let close = step
            .headers
            .iter()
            .zip(&headers)
            .any(|((n, _), v)| n == CONNECTION && v.as_deref().is_some_and(says_close));
        let binary = matches!(&step.body, Body::Pieces(p) if p.is_binary());
        let body = match &step.body {
            Body::None => Some(String::new()),
            Body::Json(t) => t.constant().and_then(|v| serde_json::to_string(&v).ok()),
            Body::Text(t) => t.is_constant().then(|| t.render(&mut NoVars)),
            _ if binary => None,
            Body::Form(_) | Body::Pieces(_) => body::constant_text(&step.body),
        };
        let own_content_type = named(&CONTENT_TYPE);
        Prepared {
            target,
            origin,
            headers,
            order,
            cookie: step.headers.iter().position(|(n, _)| n == COOKIE),
            own_host: named(&HOST),
            close,
            body,
            accept_encoding: step.compression && !named(&ACCEPT_ENCODING),
            content_type: (!own_content_type)
                .then(|| step.body.content_type().map(str::to_string))
                .flatten(),
            binary,
            body_bytes: binary.then(|| body::constant_bytes(&step.body)).flatten(),
            conditional: !step.header_needs.is_empty(),
        }
    }
}

/// What `http::HeaderValue` accepts: visible ASCII, spaces, tabs and bytes past ASCII; no other control
/// character (so no CR or LF that would end the header and start another).
fn valid_header_value(v: &str) -> bool {
    v.bytes().all(|b| (b >= 32 && b != 127) || b == b'\t')
}

/// Whether a `Connection` header value holds the `close` token.
fn says_close(v: &str) -> bool {
    v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close"))
}

struct NoVars;
impl Context for NoVars {
    fn write_var(&mut self, _: crate::scenario::template::Var, _: &mut String) {}
}

/// Renders variables into a request path: each value (a capture, a data value, a built-in) is percent-encoded
/// where a URL cannot hold it, so whatever a response or a data file holds, it stays inside the path: a CR or
/// LF from a captured value can never end the request line and start a header of its own.
struct PathValues<'a> {
    inner: &'a mut dyn Context,
    value: String,
}

impl Context for PathValues<'_> {
    fn write_var(&mut self, var: crate::scenario::template::Var, out: &mut String) {
        self.value.clear();
        self.inner.write_var(var, &mut self.value);
        encode_path_value(&self.value, out);
    }
}

/// Appends `value` to `out`, percent-encoding control characters (C0, DEL), space, non-ASCII bytes and
/// ``"#<>\^`{|}``; `/`, `?`, `&`, `=` and `%` are kept, so a value may still carry a path or a query (as a
/// captured `next` link does).
pub fn encode_path_value(value: &str, out: &mut String) {
    for &b in value.as_bytes() {
        let keep = b.is_ascii_graphic()
            && !matches!(
                b,
                b'"' | b'#' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}'
            );
        if keep {
            out.push(b as char);
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
}

/// Renders the request target (`/path?query`) into `buf`, as it goes on the wire; for an absolute URL also
/// its origin.
fn request_target(
    step: &Step,
    base_path: &str,
    ctx: &mut dyn Context,
    buf: &mut String,
) -> Result<Option<Origin>, String> {
    buf.clear();
    step.path.render_into(
        &mut PathValues {
            inner: &mut *ctx,
            value: String::new(),
        },
        buf,
    );
    let mut origin = None;
    if buf.starts_with("http://") || buf.starts_with("https://") {
        let url = url::Url::parse(buf).map_err(|e| {
            format!(
                "invalid URL from path `{}`: {e}",
                crate::plan::request_checks::mask_userinfo(step.path.source())
            )
        })?;
        origin = Some(Origin::of(&url)?);
        let mut rest = url.path().to_string();
        if let Some(q) = url.query() {
            rest.push('?');
            rest.push_str(q);
        }
        *buf = rest;
    } else if !base_path.is_empty() {
        buf.insert_str(0, base_path);
    }
    if !step.query.is_empty() {
        let mut value = String::new();
        buf.push(if buf.contains('?') { '&' } else { '?' });
        for (i, (k, t)) in step.query.iter().enumerate() {
            if i > 0 {
                buf.push('&');
            }
            buf.extend(url::form_urlencoded::byte_serialize(k.as_bytes()));
            buf.push('=');
            value.clear();
            t.render_into(ctx, &mut value);
            buf.extend(url::form_urlencoded::byte_serialize(value.as_bytes()));
        }
    }
    if !plain_target(buf) {
        // What a URI parser makes of it (a fragment dropped, or an error): rare, so parsed only then.
        let uri = Uri::try_from(buf.as_str()).map_err(|e| {
            format!(
                "invalid request path from `{}`: {e}",
                crate::plan::request_checks::mask_userinfo(step.path.source())
            )
        })?;
        let target = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
        *buf = target;
    }
    Ok(origin)
}

/// A target that a URI parser takes as it is: a path (from `/`) and query of visible ASCII, without a fragment
/// or a character that a path or a query refuses (`"` `<` `>` `` ` ``).
fn plain_target(t: &str) -> bool {
    t.starts_with('/')
        && t.len() < 8192
        && t.bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'#' | b'<' | b'>' | b'`'))
}

/// Renders the request of `step` for the user behind `ctx` into `buf.wire`, as it goes on the wire: what is
/// constant comes from `prep`, the rest is rendered. `origin` is where it goes unless its URL is absolute and
/// rendered now (that origin is returned); `jar` is the user's cookies, of which those that match the request's
/// URL (RFC 6265: domain, path, `Secure`) are sent — an empty jar costs nothing here.
///
/// Every header is on the wire once: `host` is the target's unless the request sets its own `Host`, which
/// replaces it; `cookie` is one header, the request's own `Cookie` value first and then the jar's cookies that
/// it does not name; `content-type` is the body's (`application/json` for a JSON body, and those of issue 18's
/// `form`, `multipart` and `body_file`) unless the request sets one; a default header that uses a capture the user
/// has not made is left out;
/// `accept-encoding` is `gzip, deflate, br` when the step asks for compression and sets none of its own;
/// `content-length` is loadgen's alone (the plan refuses a scenario's `Content-Length` and
/// `Transfer-Encoding`).
pub(crate) fn render(
    step: &Step,
    prep: &Prepared,
    base_path: &str,
    origin: &Origin,
    ctx: &mut dyn Context,
    jar: &Jar,
    buf: &mut SendBuf,
) -> Result<Rendered, String> {
    let SendBuf {
        wire: w,
        target,
        values,
        spans,
        own_cookie: own_cookie_len,
        bytes,
    } = buf;
    if let Some(b) = bytes.as_deref_mut() {
        b.clear();
    }
    let (dyn_origin, target) = match &prep.target {
        Some(t) => (None, t.as_str()),
        None => (
            request_target(step, base_path, ctx, target)?,
            target.as_str(),
        ),
    };
    // The varying header values, rendered in the step's order into one reused buffer.
    values.clear();
    spans.clear();
    for ((name, tpl), constant) in step.headers.iter().zip(&prep.headers) {
        let start = values.len();
        if constant.is_none() {
            tpl.render_into(ctx, values);
            if !valid_header_value(&values[start..]) {
                return Err(format!("header `{name}` rendered to an invalid value"));
            }
        }
        spans.push((start, values.len()));
    }
    let value = |i: usize| -> &str {
        match &prep.headers[i] {
            Some(v) => v,
            None => &values[spans[i].0..spans[i].1],
        }
    };
    let origin = dyn_origin.as_ref().unwrap_or(origin);

    w.clear();
    w.push_str(step.method.as_str());
    w.push(' ');
    w.push_str(target);
    w.push_str(" HTTP/1.1\r\n");
    if !prep.own_host {
        w.push_str("host: ");
        w.push_str(&origin.authority);
        w.push_str("\r\n");
    }
    let own_cookie = prep
        .cookie
        .filter(|&i| !prep.conditional || body::header_wanted(step, i, &*ctx))
        .map(value);
    let named = |name: &str| {
        own_cookie.is_some_and(|v| {
            v.split(';')
                .filter_map(|pair| pair.split('=').next())
                .any(|n| n.trim_ascii() == name)
        })
    };
    // An empty jar (no answer ever set a cookie): no URL built, nothing allocated.
    let matching = if jar.is_empty() {
        Vec::new()
    } else {
        jar.matching(origin, target)
    };
    let mut jar = matching.iter().filter(|(n, _)| !named(n)).peekable();
    *own_cookie_len = 0;
    if own_cookie.is_some() || jar.peek().is_some() {
        w.push_str("cookie: ");
        let mut first = true;
        if let Some(v) = own_cookie {
            w.push_str(v);
            *own_cookie_len = v.len();
            first = v.trim_ascii().is_empty();
        }
        for (n, v) in jar {
            if !first {
                w.push_str("; ");
            }
            first = false;
            w.push_str(n);
            w.push('=');
            w.push_str(v);
        }
        w.push_str("\r\n");
    }
    if prep.accept_encoding {
        w.push_str("accept-encoding: gzip, deflate, br\r\n");
    }
    let mut close = prep.close;
    for &i in &prep.order {
        if prep.conditional && !body::header_wanted(step, i, &*ctx) {
            continue;
        }
        let name = &step.headers[i].0;
        let v = value(i);
        if prep.headers[i].is_none() && *name == CONNECTION {
            close |= says_close(v);
        }
        w.push_str(name.as_str());
        w.push_str(": ");
        w.push_str(v);
        w.push_str("\r\n");
    }
    if let Some(ct) = &prep.content_type {
        w.push_str("content-type: ");
        w.push_str(ct);
        w.push_str("\r\n");
    }
    let method_has_body = matches!(step.method, Method::POST | Method::PUT | Method::PATCH);
    if prep.binary {
        // Issue 18 item 5: the body into `bytes`, then the head (in `wire` too) put before it.
        let out = bytes.get_or_insert_default();
        body::write_bytes(&step.body, prep.body_bytes.as_deref(), ctx, out, values)?;
        content_length(w, out.len());
        w.push_str("\r\n");
        out.splice(0..0, w.bytes());
        return Ok(Rendered {
            origin: dyn_origin,
            close,
        });
    }
    match &prep.body {
        Some(body) => {
            if !body.is_empty() || method_has_body {
                content_length(w, body.len());
            }
            w.push_str("\r\n");
            w.push_str(body);
        }
        None => {
            // Rendered after the head, then its length put in before the blank line.
            let head = w.len();
            match &step.body {
                Body::Json(t) => t.write_into(ctx, w),
                Body::Text(t) => t.render_into(ctx, w),
                Body::None => {}
                Body::Form(_) | Body::Pieces(_) => body::write_text(&step.body, ctx, w, values)?,
            }
            let len = w.len() - head;
            let mut line = String::with_capacity(24);
            if len > 0 || method_has_body {
                content_length(&mut line, len);
            }
            line.push_str("\r\n");
            w.insert_str(head, &line);
        }
    }
    Ok(Rendered {
        origin: dyn_origin,
        close,
    })
}

fn content_length(w: &mut String, len: usize) {
    w.push_str("content-length: ");
    crate::scenario::template::write_num(w, len as u64);
    w.push_str("\r\n");
}

/// What rendering found out besides the bytes.
#[derive(Debug)]
pub(crate) struct Rendered {
    /// The origin of an absolute URL rendered now.
    pub origin: Option<Origin>,
    /// The request says `Connection: close`.
    pub close: bool,
}

// Issue 18 items 4 and 5: bodies and default headers.
mod body;
#[cfg(test)]
mod tests;
