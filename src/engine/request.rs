//! What a request is made of: the parts of a step that never vary, built once per run ([`Prepared`]), and the
//! rendering of the rest for one user (path and query values percent-encoded, headers, body).
//!
//! It knows steps, templates and origins, and nothing of users or of the run: the request path
//! ([`super::http`]) hands it a template context.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Request, Uri};

use super::client::Origin;
use crate::plan::{Body, Step};
use crate::scenario::template::Context;

/// What can be built once per step instead of once per request.
#[derive(Debug)]
pub struct Prepared {
    /// The request target (path and query) when nothing in it varies.
    pub(super) uri: Option<Uri>,
    /// The origin of a constant absolute URL; `None` means the run's target (or a URL rendered per request).
    pub(super) origin: Option<Origin>,

    /// Header values that do not vary.
    headers: Vec<Option<HeaderValue>>,
    /// The body when it does not vary.
    body: Option<Bytes>,
}

impl Prepared {
    pub fn new(step: &Step, base_path: &str) -> Prepared {
        let mut uri = None;
        let mut origin = None;
        if step.path.is_constant() && step.query.iter().all(|(_, t)| t.is_constant()) {
            let mut target = String::new();
            let mut none = NoVars;
            if let Ok((o, u)) = request_target(step, base_path, &mut none, &mut target) {
                uri = Some(u);
                origin = o;
            }
        }
        let headers = step
            .headers
            .iter()
            .map(|(_, t)| {
                t.is_constant()
                    .then(|| HeaderValue::try_from(t.render(&mut NoVars)).ok())
                    .flatten()
            })
            .collect();
        let body = match &step.body {
            Body::None => Some(Bytes::new()),
            Body::Json(t) => t
                .constant()
                .and_then(|v| serde_json::to_vec(&v).ok())
                .map(Bytes::from),
            Body::Text(t) => t.is_constant().then(|| Bytes::from(t.render(&mut NoVars))),
        };
        Prepared {
            uri,
            origin,
            headers,
            body,
        }
    }
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

/// Renders the request target (`/path?query`) into `buf` and parses it; for an absolute URL also its origin.
fn request_target(
    step: &Step,
    base_path: &str,
    ctx: &mut dyn Context,
    buf: &mut String,
) -> Result<(Option<Origin>, Uri), String> {
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
    let uri = Uri::try_from(std::mem::take(buf)).map_err(|e| {
        format!(
            "invalid request path from `{}`: {e}",
            crate::plan::request_checks::mask_userinfo(step.path.source())
        )
    })?;
    Ok((origin, uri))
}

/// Builds the request of step `idx` for the user behind `ctx`: what is constant comes from [`Prepared`], the
/// rest is rendered. Returns the origin when the step's URL is absolute and was rendered now. The `Host` and
/// `Cookie` headers are added when it is sent.
pub fn build(
    step: &Step,
    prep: &Prepared,
    base_path: &str,
    ctx: &mut dyn Context,
) -> Result<(Option<Origin>, Request<Bytes>), String> {
    let (origin, uri) = match &prep.uri {
        Some(u) => (None, u.clone()),
        None => {
            let mut buf = String::with_capacity(64);
            request_target(step, base_path, ctx, &mut buf)?
        }
    };
    let mut req = Request::new(Bytes::new());
    *req.method_mut() = step.method.clone();
    *req.uri_mut() = uri;
    let headers = req.headers_mut();
    for ((name, tpl), constant) in step.headers.iter().zip(&prep.headers) {
        let value = match constant {
            Some(v) => v.clone(),
            None => HeaderValue::try_from(tpl.render(ctx))
                .map_err(|_| format!("header `{name}` rendered to an invalid value"))?,
        };
        headers.append(name.clone(), value);
    }
    let body = match (&prep.body, &step.body) {
        (Some(b), _) => b.clone(),
        (None, Body::Json(t)) => {
            Bytes::from(serde_json::to_vec(&t.render(ctx)).unwrap_or_default())
        }
        (None, Body::Text(t)) => Bytes::from(t.render(ctx)),
        (None, Body::None) => Bytes::new(),
    };
    if matches!(step.body, Body::Json(_)) && !headers.contains_key(CONTENT_TYPE) {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    *req.body_mut() = body;
    Ok((origin, req))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_values_are_encoded_where_a_url_cannot_hold_them() {
        let mut out = String::new();
        encode_path_value("a b\r\n\0\x7f\"#<>\\^`{|}é/?&=%x", &mut out);
        assert_eq!(
            out,
            "a%20b%0D%0A%00%7F%22%23%3C%3E%5C%5E%60%7B%7C%7D%C3%A9/?&=%x"
        );
    }
}
