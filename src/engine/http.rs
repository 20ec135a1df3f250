//! One request of one virtual user: build it from the step (what is constant was built once, in
//! [`Prepared`]), send it over the user's connection, read the answer, check the expectation, apply captures,
//! record the outcome.
//!
//! Two times are measured from just before the request is sent (connecting included, when the user has no open
//! connection): the time to the response headers (TTFB) and the full response time to the end of the body, as
//! Locust measures it. JSON parsing for captures happens after the clock stops. Bodies that nothing captures
//! from are counted chunk by chunk, never buffered; a body a capture needs is kept up to `[target] max_body`,
//! and a longer one is read to its end but dropped, and fails the capture. The request timeout covers the
//! whole exchange.

use std::time::Instant;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Request, Uri};
use tokio::time::timeout_at;

use super::client::{Origin, Outgoing};
use super::user::{Ctx, Shared, Vu};
use crate::metrics::{FailureKind, Outcome};
use crate::plan::{Body, CaptureSource, Step};

/// What can be built once per step instead of once per request.
#[derive(Debug)]
pub struct Prepared {
    /// The request target (path and query) when nothing in it varies.
    uri: Option<Uri>,
    /// The origin of a constant absolute URL; `None` means the run's target (or a URL rendered per request).
    origin: Option<Origin>,

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
impl crate::scenario::template::Context for NoVars {
    fn write_var(&mut self, _: crate::scenario::template::Var, _: &mut String) {}
}

/// Renders variables into a request path: each value (a capture, a data value, a built-in) is percent-encoded
/// where a URL cannot hold it, so whatever a response or a data file holds, it stays inside the path: a CR or
/// LF from a captured value can never end the request line and start a header of its own.
struct PathValues<'a> {
    inner: &'a mut dyn crate::scenario::template::Context,
    value: String,
}

impl crate::scenario::template::Context for PathValues<'_> {
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
    ctx: &mut dyn crate::scenario::template::Context,
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
    shared: &Shared,
    ctx: &mut Ctx<'_>,
    idx: usize,
) -> Result<(Option<Origin>, Request<Bytes>), String> {
    let step = &shared.plan.steps[idx];
    let prep = &shared.prepared[idx];
    let (origin, uri) = match &prep.uri {
        Some(u) => (None, u.clone()),
        None => {
            let mut buf = String::with_capacity(64);
            request_target(step, &shared.base_path, ctx, &mut buf)?
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

impl Vu {
    /// Runs step `idx`; `Ok` when it met its expectation (and its captures were found), else why not.
    pub async fn exec(&mut self, idx: usize) -> Result<(), FailureKind> {
        let Vu {
            state,
            client,
            shared,
            in_flight,
            due,
            open,
            ..
        } = self;
        let shared: &Shared = shared;
        let id = state.id;
        let step = &shared.plan.steps[idx];
        let prep = &shared.prepared[idx];
        let mut ctx = Ctx { state, shared };

        let (dyn_origin, req) = match build(shared, &mut ctx, idx) {
            Ok(r) => r,
            Err(msg) => return unsent(shared, id, idx, &msg),
        };
        let origin = dyn_origin
            .as_ref()
            .or(prep.origin.as_ref())
            .unwrap_or(&shared.origin);

        // Send it and read the answer, all within the request timeout.
        let needs_body = step.needs_body();
        let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let out = Outgoing {
            method: req.method(),
            target,
            headers: req.headers(),
            body: req.body(),
            keep_body: needs_body,
            max_body: shared.plan.max_body,
        };
        let start = Instant::now();
        *in_flight = Some((idx, start));
        let delay = due.take().map(|d| start.saturating_duration_since(d));
        let deadline =
            tokio::time::Instant::from_std(start + step.timeout.unwrap_or(shared.plan.timeout));
        let answer = match timeout_at(deadline, client.exchange(&shared.net, origin, &out)).await {
            Ok(Ok(a)) => a,
            failed => {
                let (kind, msg) = match failed {
                    Ok(Err(e)) => e.describe(),
                    // Timed out: the connection is mid-request and cannot be reused.
                    _ => {
                        client.close();
                        (FailureKind::Timeout, "request timed out".to_string())
                    }
                };
                let end = Instant::now();
                return done(
                    shared,
                    in_flight,
                    id,
                    idx,
                    (start, end, delay),
                    None,
                    None,
                    0,
                    Some((kind, &msg)),
                );
            }
        };
        let end = Instant::now();
        let ttfb = answer.head_at.saturating_duration_since(start);
        let status = answer.head.status;
        if step.restart_on.contains(&status) {
            // The session is no longer valid (an expired token, a restarted server): the next task starts a
            // new one.
            *open = false;
        }
        let bytes = answer.bytes;
        let accepted = step.accepts(status);
        let mut header_caps: Vec<(usize, Option<String>)> = Vec::new();
        for c in &step.captures {
            if let CaptureSource::Header(h) = &c.source {
                header_caps.push((c.slot, answer.head.get(h.as_str()).map(str::to_string)));
            }
        }
        let needs_body = accepted && needs_body;
        let kept = answer.body;
        // Every outcome from here on shares the times, status and size; only the failure differs.
        let mut record = |failure: Option<(FailureKind, &str)>| {
            done(
                shared,
                in_flight,
                id,
                idx,
                (start, end, delay),
                Some(ttfb),
                Some(status),
                bytes,
                failure,
            )
        };

        if !accepted {
            let expected = match &step.expect_status {
                Some(list) => list
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join("|"),
                None => "2xx".into(),
            };
            let msg = format!("unexpected status {status} (expected {expected})");
            return record(Some((FailureKind::Status, &msg)));
        }
        // Captures: header values first, then JSON paths into the body.
        for (slot, value) in header_caps {
            match value {
                Some(v) => ctx.state.captures[slot] = Some(v),
                None => {
                    let msg = format!(
                        "capture `{}`: response header missing",
                        shared.plan.captures[slot]
                    );
                    return record(Some((FailureKind::Capture, &msg)));
                }
            }
        }
        if needs_body && answer.oversize {
            let msg = format!("body larger than max_body ({} bytes)", shared.plan.max_body);
            return record(Some((FailureKind::Capture, &msg)));
        }
        if needs_body {
            let json: Option<serde_json::Value> = serde_json::from_slice(&kept).ok();
            for (path, want) in &step.expect_json {
                let found = json.as_ref().and_then(|j| path.find(j));
                if !found.is_some_and(|v| json_eq(v, want)) {
                    // Never the values themselves: what the answer holds may be a token or personal
                    // data, and this message goes to every report and log. Their kinds and sizes say enough
                    // to tell a wrong value from a missing or truncated one.
                    let msg = match (&json, found) {
                        (None, _) => format!("expect.json {}: the body is not JSON", path.as_str()),
                        (Some(_), None) => {
                            format!(
                                "expect.json {}: no value there (expected {})",
                                path.as_str(),
                                kind_of(want)
                            )
                        }
                        (Some(_), Some(v)) => format!(
                            "expect.json {}: the value differs (got {}, expected {}; values are not shown)",
                            path.as_str(),
                            kind_of(v),
                            kind_of(want)
                        ),
                    };
                    return record(Some((FailureKind::Assertion, &msg)));
                }
            }
            for c in &step.captures {
                let CaptureSource::Json(path) = &c.source else {
                    continue;
                };
                let found = json
                    .as_ref()
                    .and_then(|j| path.find(j))
                    .and_then(|v| match v {
                        serde_json::Value::String(s) => Some(s.clone()),
                        serde_json::Value::Null => None,
                        other => Some(other.to_string()),
                    });
                match found {
                    Some(v) => ctx.state.captures[c.slot] = Some(v),
                    None => {
                        let why = if json.is_none() {
                            "body is not JSON"
                        } else {
                            "no value at that path"
                        };
                        let msg = format!("capture `{}` ({}): {why}", c.name, path.as_str());
                        return record(Some((FailureKind::Capture, &msg)));
                    }
                }
            }
        }
        record(None)
    }
}

/// JSON equality where numbers compare by value (a TOML `1` matches a JSON `1.0`).
fn json_eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// What a failure message says of a JSON value instead of the value: its kind and size ("a string of 36
/// characters", "a number", "an array of 2 items").
fn kind_of(v: &serde_json::Value) -> String {
    use serde_json::Value;
    let plural = |n: usize, one: &str, many: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {many}")
        }
    };
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Number(_) => "a number".into(),
        Value::String(s) => format!(
            "a string of {}",
            plural(s.chars().count(), "character", "characters")
        ),
        Value::Array(a) => format!("an array of {}", plural(a.len(), "item", "items")),
        Value::Object(o) => format!("an object of {}", plural(o.len(), "key", "keys")),
    }
}

/// A request that could not even be built: counted as a failure, with no latency.
fn unsent(shared: &Shared, id: u64, idx: usize, msg: &str) -> Result<(), FailureKind> {
    shared.recorder.record(
        id,
        idx,
        &Outcome {
            delay: None,
            latency: None,
            ttfb: None,
            status: None,
            bytes: 0,
            failure: Some((FailureKind::Other, msg)),
        },
    );
    Err(FailureKind::Other)
}

/// Records a finished request; `Ok` when it met its expectation.
#[allow(clippy::too_many_arguments)]
fn done(
    shared: &Shared,
    in_flight: &mut Option<(usize, Instant)>,
    id: u64,
    idx: usize,
    (start, end, delay): (Instant, Instant, Option<std::time::Duration>),
    ttfb: Option<std::time::Duration>,
    status: Option<u16>,
    bytes: u64,
    failure: Option<(FailureKind, &str)>,
) -> Result<(), FailureKind> {
    *in_flight = None;
    let ok = failure.map_or(Ok(()), |(kind, _)| Err(kind));
    // The request log (-vv): the path as the scenario writes it (a template), never rendered values, headers
    // or bodies, so no token, password or data value reaches the log.
    if tracing::enabled!(tracing::Level::DEBUG) {
        let step = &shared.plan.steps[idx];
        tracing::debug!(
            "user {id} {}: {} {} -> {} in {:.3} ms{}",
            step.name,
            step.method,
            step.path.source(),
            status.map_or_else(|| "no answer".to_string(), |s| s.to_string()),
            end.saturating_duration_since(start).as_secs_f64() * 1000.0,
            failure.map_or_else(String::new, |(kind, msg)| format!(
                " FAILED ({}: {msg})",
                kind.as_str()
            ))
        );
    }
    shared.recorder.record(
        id,
        idx,
        &Outcome {
            delay,
            latency: Some(end.saturating_duration_since(start)),
            ttfb,
            status,
            bytes,
            failure,
        },
    );
    ok
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
