//! One request of one virtual user: build it from the step's templates, send it, read the answer, check the
//! expectation, apply captures, record the outcome.
//!
//! Latency is measured from just before the request is sent to the end of the response body (as Locust does),
//! and excludes the JSON parsing done for captures. Bodies that nothing captures from are read chunk by chunk
//! and only counted, never buffered.

use std::error::Error as _;
use std::time::Instant;

use reqwest::header::{CONTENT_TYPE, HeaderValue};

use crate::metrics::{FailureKind, Outcome};
use crate::plan::{Body, CaptureSource, Step};

use super::user::Vu;

impl Vu {
    /// Runs step `idx`; true when it met its expectation (and its captures were found).
    pub async fn exec(&mut self, idx: usize) -> bool {
        let plan = self.shared.plan.clone();
        let step = &plan.steps[idx];
        let url = match self.url(step, &plan.host) {
            Ok(u) => u,
            Err(msg) => {
                return self.record_unsent(idx, &msg);
            }
        };
        let mut req = self.client.request(step.method.clone(), url);
        for (name, tpl) in &step.headers {
            let value = tpl.render(self);
            match HeaderValue::from_str(&value) {
                Ok(v) => req = req.header(name, v),
                Err(_) => {
                    let msg = format!("header `{name}` rendered to an invalid value");
                    return self.record_unsent(idx, &msg);
                }
            }
        }
        match &step.body {
            Body::None => {}
            Body::Json(t) => {
                let value = t.render(self);
                let bytes = serde_json::to_vec(&value).unwrap_or_default();
                req = req
                    .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                    .body(bytes);
            }
            Body::Text(t) => req = req.body(t.render(self)),
        }
        if let Some(t) = step.timeout {
            req = req.timeout(t);
        }

        let start = Instant::now();
        self.in_flight = Some((idx, start));
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                let (kind, msg) = describe(&e);
                return self.record(idx, start, None, 0, Some((kind, &msg)));
            }
        };
        let status = resp.status().as_u16();
        let mut header_caps: Vec<(usize, Option<String>)> = Vec::new();
        for c in &step.captures {
            if let CaptureSource::Header(h) = &c.source {
                let v = resp
                    .headers()
                    .get(h)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                header_caps.push((c.slot, v));
            }
        }
        let needs_body = step.needs_body() && step.accepts(status);
        let mut resp = resp;
        let mut body = Vec::new();
        let mut bytes = 0u64;
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    bytes += chunk.len() as u64;
                    if needs_body {
                        body.extend_from_slice(&chunk);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let (kind, msg) = describe(&e);
                    return self.record(idx, start, Some(status), bytes, Some((kind, &msg)));
                }
            }
        }
        let latency_end = Instant::now();

        if !step.accepts(status) {
            let expected = match &step.expect_status {
                Some(list) => list
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join("|"),
                None => "2xx".into(),
            };
            let msg = format!("unexpected status {status} (expected {expected})");
            return self.record_at(
                idx,
                start,
                latency_end,
                Some(status),
                bytes,
                Some((FailureKind::Status, &msg)),
            );
        }
        // Captures: header values first, then JSON paths into the body.
        for (slot, value) in header_caps {
            match value {
                Some(v) => self.captures[slot] = Some(v),
                None => {
                    let name = &plan.captures[slot];
                    let msg = format!("capture `{name}`: response header missing");
                    return self.record_at(
                        idx,
                        start,
                        latency_end,
                        Some(status),
                        bytes,
                        Some((FailureKind::Capture, &msg)),
                    );
                }
            }
        }
        if needs_body {
            let json: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
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
                    Some(v) => self.captures[c.slot] = Some(v),
                    None => {
                        let why = if json.is_none() {
                            "body is not JSON"
                        } else {
                            "no value at that path"
                        };
                        let msg = format!("capture `{}` ({}): {why}", c.name, path.as_str());
                        return self.record_at(
                            idx,
                            start,
                            latency_end,
                            Some(status),
                            bytes,
                            Some((FailureKind::Capture, &msg)),
                        );
                    }
                }
            }
        }
        self.record_at(idx, start, latency_end, Some(status), bytes, None)
    }

    fn url(&mut self, step: &Step, host: &str) -> Result<reqwest::Url, String> {
        let mut s = String::with_capacity(host.len() + step.path.source().len() + 16);
        let path = step.path.render(self);
        if !(path.starts_with("http://") || path.starts_with("https://")) {
            s.push_str(host);
        }
        s.push_str(&path);
        let mut url = reqwest::Url::parse(&s).map_err(|e| {
            format!(
                "invalid URL from path template `{}`: {e}",
                step.path.source()
            )
        })?;
        if !step.query.is_empty() {
            let pairs: Vec<(String, String)> = step
                .query
                .iter()
                .map(|(k, t)| (k.clone(), t.render(self)))
                .collect();
            url.query_pairs_mut().extend_pairs(pairs);
        }
        Ok(url)
    }

    /// A request that could not even be built: counted as a failure, with no latency.
    fn record_unsent(&mut self, idx: usize, msg: &str) -> bool {
        self.shared.recorder.record(
            self.id,
            idx,
            &Outcome {
                latency: None,
                status: None,
                bytes: 0,
                failure: Some((FailureKind::Other, msg)),
            },
        );
        false
    }

    fn record(
        &mut self,
        idx: usize,
        start: Instant,
        status: Option<u16>,
        bytes: u64,
        failure: Option<(FailureKind, &str)>,
    ) -> bool {
        self.record_at(idx, start, Instant::now(), status, bytes, failure)
    }

    fn record_at(
        &mut self,
        idx: usize,
        start: Instant,
        end: Instant,
        status: Option<u16>,
        bytes: u64,
        failure: Option<(FailureKind, &str)>,
    ) -> bool {
        let ok = failure.is_none();
        self.in_flight = None;
        self.shared.recorder.record(
            self.id,
            idx,
            &Outcome {
                latency: Some(end.saturating_duration_since(start)),
                status,
                bytes,
                failure,
            },
        );
        ok
    }
}

/// A failure category and a short message that holds no URL (URLs may carry tokens).
pub fn describe(e: &reqwest::Error) -> (FailureKind, String) {
    if e.is_timeout() {
        return (FailureKind::Timeout, "request timed out".into());
    }
    // Look for an I/O error underneath: its kind names the cause best.
    let mut source = e.source();
    let mut innermost = None;
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            let (kind, msg) = match io.kind() {
                ConnectionRefused => (FailureKind::Connect, "connection refused"),
                ConnectionReset => (FailureKind::Connection, "connection reset by peer"),
                ConnectionAborted => (FailureKind::Connection, "connection aborted"),
                BrokenPipe => (FailureKind::Connection, "broken pipe"),
                UnexpectedEof => (
                    FailureKind::Connection,
                    "connection closed before the response completed",
                ),
                TimedOut => (FailureKind::Timeout, "request timed out"),
                AddrNotAvailable => (FailureKind::Connect, "no local address/port available"),
                AddrInUse => (FailureKind::Connect, "local address in use"),
                HostUnreachable | NetworkUnreachable => (FailureKind::Connect, "host unreachable"),
                _ => (
                    if e.is_connect() {
                        FailureKind::Connect
                    } else {
                        FailureKind::Connection
                    },
                    "",
                ),
            };
            if !msg.is_empty() {
                return (kind, msg.into());
            }
            return (kind, io.to_string());
        }
        innermost = Some(s);
        source = s.source();
    }
    // reqwest's own message names the URL, which may carry a token in its query: use the cause's instead.
    let text = innermost.map_or_else(|| "request failed".to_string(), |s| s.to_string());
    if e.is_connect() {
        (FailureKind::Connect, text)
    } else if e.is_body() || e.is_decode() || e.is_request() {
        (FailureKind::Connection, text)
    } else {
        (FailureKind::Other, text)
    }
}
