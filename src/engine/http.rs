//! One request of one virtual user: build it from the step (what is constant was built once, in
//! [`super::request::Prepared`]), send it over the user's connection, read the answer, check the expectation, apply captures,
//! record the outcome.
//!
//! Two times are measured from just before the request is sent (connecting included, when the user has no open
//! connection): the time to the response headers (TTFB) and the full response time to the end of the body, as
//! Locust measures it. A request that follows redirects is one request, timed over the whole chain: its
//! response time ends with the final answer's body, and its TTFB is the time to the final answer's headers
//! (what the step waited for before it had its answer); the redirects followed are counted per request name. JSON parsing for captures happens after the clock stops. Bodies that nothing captures
//! from are counted chunk by chunk, never buffered; a body a capture needs is kept up to `[target] max_body`,
//! and a longer one is read to its end but dropped, and fails the capture. With `compression`, a kept body is
//! decoded (after the clock stops) before captures and checks, its decoded size bounded by the same limit
//! ([`super::client::decode`]). The request timeout covers the whole exchange, redirects included.

use std::time::Instant;

use tokio::time::timeout_at;

use super::answer::{Answer as Answered, check_and_capture};
use super::client::decode::decode;
use super::client::{Client, Outgoing};
use super::request::render;
use super::shared::{Ctx, Shared, State};
use crate::metrics::FailureKind;
use crate::metrics::{ClientCounts, Outcome};

/// What a user keeps about the request it is making, besides its template values.
#[derive(Debug, Default)]
pub struct Turn {
    /// The request being waited for (step, start): recorded as aborted if the user is dropped mid-request.
    pub in_flight: Option<(usize, Instant)>,
    /// When the arrival-rate iteration about to run its task was due: its request is measured from then.
    pub due: Option<Instant>,
    /// A session is open: `on_start` has run and succeeded, and `on_stop` is owed. A status in the step's
    /// `restart_session_on` closes it.
    pub open: bool,
}

/// Runs step `idx` for the user whose values are `state`, over its `client`; `Ok` when it met its expectation
/// (and its captures were found), else why not.
pub async fn exec(
    shared: &Shared,
    state: &mut State,
    client: &mut Client,
    turn: &mut Turn,
    idx: usize,
) -> Result<(), FailureKind> {
    let Turn {
        in_flight,
        due,
        open,
    } = turn;
    let id = state.id;
    let step = &shared.plan.steps[idx];
    let prep = &shared.prepared[idx];
    let mut ctx = Ctx { state, shared };

    // Rendered straight into the user's send buffer: the step's constant parts as prepared, the rest from
    // the user's values.
    let default_origin = prep.origin.as_ref().unwrap_or(&shared.origin);
    let (buf, jar) = client.send_buffer();
    let rendered = match render(
        step,
        prep,
        &shared.base_path,
        default_origin,
        &mut ctx,
        jar,
        buf,
    ) {
        Ok(r) => r,
        Err(msg) => return unsent(shared, id, idx, &msg),
    };
    let origin = rendered.origin.as_ref().unwrap_or(default_origin);
    // Issue 18 item 6: `--debug` sees the bytes as rendered, and keeps every answer's body.
    if let Some(d) = &shared.debug {
        d.sent(idx, origin, buf.as_bytes(), ctx.state);
    }

    // Send it and read the answer, all within the request timeout.
    let needs_body = step.needs_body();
    let out = Outgoing {
        method: &step.method,
        close: rendered.close,
        keep_body: needs_body || shared.debug.is_some(),
        max_body: shared.plan.max_body,
    };
    let start = Instant::now();
    *in_flight = Some((idx, start));
    let delay = due.take().map(|d| start.saturating_duration_since(d));
    let deadline =
        tokio::time::Instant::from_std(start + step.timeout.unwrap_or(shared.plan.timeout));
    let fetched = client.fetch(&shared.net, origin, &out, step.follow_redirects);
    let (answer, redirects) = match timeout_at(deadline, fetched).await {
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
                ClientCounts::default(),
                Some((kind, &msg)),
            );
        }
    };
    let end = Instant::now();
    // Issue 18 item 6.
    if let Some(d) = &shared.debug {
        d.answer(&answer, end.saturating_duration_since(start), redirects);
    }
    let ttfb = answer.head_at.saturating_duration_since(start);
    let status = answer.head.status;
    ctx.state.status = status;
    if step.restart_on.contains(&status) {
        // The session is no longer valid (an expired token, a restarted server): the next task starts a
        // new one.
        *open = false;
    }
    let bytes = answer.bytes;
    let counts = ClientCounts {
        redirects: u64::from(redirects),
        ..ClientCounts::default()
    };
    let accepted = step.accepts(status);
    let needs_body = accepted && needs_body;
    let mut kept = answer.body;
    let mut oversize = answer.oversize;
    // A compressed body that a capture or check reads is decoded first, within max_body (issue 17, item 5).
    let mut counts = counts;
    let mut undecodable = None;
    if step.compression
        && needs_body
        && !oversize
        && let Some(coding) = answer.head.get("content-encoding")
    {
        match decode(coding, std::mem::take(&mut kept), shared.plan.max_body) {
            Ok(d) => {
                counts.decoded = 1;
                counts.encoded_bytes = bytes;
                counts.decoded_bytes = d.bytes;
                oversize = d.oversize;
                kept = d.body;
            }
            Err(msg) => undecodable = Some(msg),
        }
    }
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
            counts,
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
    if step.checks.is_empty() && step.captures.is_empty() {
        return record(None);
    }
    if let Some(msg) = undecodable {
        return record(Some((FailureKind::Decode, &msg)));
    }
    if needs_body && oversize {
        let msg = format!("body larger than max_body ({} bytes)", shared.plan.max_body);
        return record(Some((FailureKind::Capture, &msg)));
    }
    // Checks, then captures (issue 18, items 1 and 2).
    let seen = Answered {
        head: &answer.head,
        body: &kept,
        latency: end.saturating_duration_since(start),
        jar: client.jar(),
    };
    match check_and_capture(step, &mut ctx, &seen) {
        Ok(()) => record(None),
        Err((kind, msg)) => record(Some((kind, &msg))),
    }
}

/// A request that could not even be built: counted as a failure, with no latency.
fn unsent(shared: &Shared, id: u64, idx: usize, msg: &str) -> Result<(), FailureKind> {
    // Issue 18 item 6.
    if let Some(d) = &shared.debug {
        d.outcome(Some((FailureKind::Other, msg)));
    }
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
            client: Default::default(),
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
    client: ClientCounts,
    failure: Option<(FailureKind, &str)>,
) -> Result<(), FailureKind> {
    *in_flight = None;
    let ok = failure.map_or(Ok(()), |(kind, _)| Err(kind));
    // Issue 18 item 6.
    if let Some(d) = &shared.debug {
        d.outcome(failure);
    }
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
            client,
        },
    );
    ok
}
