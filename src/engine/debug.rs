//! `loadgen run FILE --debug N` (issue 18 item 6): ONE user of the plan, on the engine's own request path, with
//! each request printed as it went on the wire and each answer as the client read it, secrets masked — what
//! k6's `--http-debug` shows, for finding out why a scenario fails before loading anything with it.
//!
//! [`debug`] runs the user: its class's `on_start`, `N` tasks picked by weight as in a run (without the wait
//! between them: nobody wants to watch a 5 s think time), then `on_stop`. Nothing is recorded for any report.
//!
//! The request path calls into a [`Tap`] (`Shared::debug`, `None` in a run, so a run pays one check per request):
//! the bytes rendered into the user's send buffer (for HTTP/2, a proxy or a redirect, the HTTP/1.1 form that the
//! client reads back and sends in its own form), the final answer's head and body (kept whatever the step needs,
//! decoded here when compressed), and the outcome. An exchange is printed once its step is over and its
//! captures applied (so that a value captured from this very answer is masked in it too): when the next request
//! is rendered, at the session loop's marks ([`debug`]), or when the user is dropped (`Tap::ended`). Printing
//! there rather than at the end of `http::exec` keeps the user's future the size it was (a hook after the
//! request's `.await` kept a reference alive across it: 8 bytes more per user).
//!
//! Masking (everything here, on the text to print; what is sent is never touched), unless `--debug-secrets`:
//! - the values of `Authorization` and `Proxy-Authorization` (the scheme word kept: `Bearer ***`), `Cookie` and
//!   `Set-Cookie` (cookie names and attributes kept), and of headers named like a secret (`X-Api-Key`,
//!   `X-Auth-Token`);
//! - JSON fields (at any depth, whole objects and lists under such a name), form fields and query parameters
//!   named like a secret ([`secret_name`]: password, passwd, secret, api_key, apikey, or ending in token);
//! - every value the user has captured so far, and the values of its data-file row in columns whose name
//!   contains pass, secret, token or key, wherever they appear (as is, form-encoded or JSON-escaped), if they are
//!   at least [`MIN_MASKED`] characters long.

use std::borrow::Cow;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::client::decode::decode;
use super::client::{Answer, Client, Origin};
use super::shared::{Captured, Shared, State, Tap};
use super::user::Vu;
use super::walk::Start;
use crate::metrics::{FailureKind, Recorder};
use crate::plan::{Mix, RunPlan};

/// What replaces a masked value.
pub const MASK: &str = "***";

/// Values shorter than this are not replaced wherever they appear: a captured "1", "ok" or "200" occurs by
/// chance all over a transcript (status codes, lengths, ids), so masking it would garble everything and protect
/// nothing (a secret of three characters is none). Header, JSON and form fields named like a secret are masked
/// whatever their length.
pub const MIN_MASKED: usize = 4;

/// The longest body excerpt printed, in bytes.
pub const EXCERPT: usize = 1024;

/// How a `--debug` session went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Requests printed (sent, or failed before they could be).
    pub requests: u64,
    /// Those that did not meet their expectation.
    pub failed: u64,
    /// Task iterations run.
    pub iterations: u64,
}

/// Runs one user of `plan` for `iterations` tasks (after its `on_start`, then its `on_stop`), printing every
/// exchange to `out`; masked unless `show_secrets`. `Err` when the plan's target is unusable (nothing sent).
pub async fn debug(
    plan: &RunPlan,
    iterations: u64,
    show_secrets: bool,
    out: Box<dyn Write + Send>,
) -> Result<Summary, String> {
    let plan = Arc::new(plan.clone());
    let recorder = Arc::new(Recorder::new(plan.steps.len(), 1));
    let mut shared = Shared::new(
        plan.clone(),
        recorder,
        super::new_run_id(),
        CancellationToken::new(),
    )?;
    let printer = Arc::new(Printer {
        plan: plan.clone(),
        show_secrets,
        requests: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        pending: Mutex::new(Pending {
            out: Some(out),
            ..Pending::default()
        }),
    });
    shared.debug = Some(Box::new(printer.clone()));
    // The first user a run would start: the heaviest class, user number 1 (its `{{vu}}` and data row).
    let class = Mix::new(plan.classes.iter().map(|c| c.weight)).next_class();
    let start = Start {
        local: 1,
        number: 1,
        class,
    };
    let mut user = Vu::new(
        start,
        Arc::new(shared),
        Client::default(),
        CancellationToken::new(),
    );
    user.take_row();
    let class_name = plan.classes.get(class).map_or("", |c| c.name.as_str());
    printer.note(
        None,
        &format!(
            "=== one user (class {class_name}) of {} against {}, {iterations} task iteration{}{}",
            plan.name,
            plan.host_display(),
            if iterations == 1 { "" } else { "s" },
            if show_secrets {
                "; SECRETS SHOWN (--debug-secrets)"
            } else {
                "; secrets masked"
            }
        ),
    );
    let has_on_start = plan
        .classes
        .get(class)
        .is_some_and(|c| !c.on_start.is_empty());
    let mut done = 0;
    while done < iterations {
        if !user.turn.open {
            // The exchange before is printed now, before a new session clears the captures that mask it.
            printer.flush(&user.state);
            if has_on_start {
                printer.note(
                    None,
                    &format!("=== on_start (session {})", user.state.session + 1),
                );
            }
            if !user.open_session().await {
                printer.note(
                    Some(&user.state),
                    "=== on_start failed: no task runs without a session",
                );
                break;
            }
        }
        done += 1;
        printer.note(
            Some(&user.state),
            &format!("=== iteration {done} of {iterations}"),
        );
        user.task().await;
    }
    if user.turn.open
        && plan
            .classes
            .get(class)
            .is_some_and(|c| !c.on_stop.is_empty())
    {
        printer.note(Some(&user.state), "=== on_stop");
    }
    // Its last exchange is printed when it is dropped (`Tap::ended`), with its values then.
    user.finish().await;
    drop(user);
    let summary = Summary {
        requests: printer.requests.load(Ordering::Relaxed),
        failed: printer.failed.load(Ordering::Relaxed),
        iterations: done,
    };
    printer.note(
        None,
        &format!(
            "=== {} request{}, {} failed; {} of {iterations} iteration{} run",
            summary.requests,
            if summary.requests == 1 { "" } else { "s" },
            summary.failed,
            done,
            if iterations == 1 { "" } else { "s" },
        ),
    );
    Ok(summary)
}

/// Prints each exchange of the `--debug` user as its step ends.
struct Printer {
    plan: Arc<RunPlan>,
    show_secrets: bool,
    requests: AtomicU64,
    failed: AtomicU64,
    pending: Mutex<Pending>,
}

/// The step under way: what the request path has reported of it so far.
#[derive(Default)]
struct Pending {
    out: Option<Box<dyn Write + Send>>,
    sent: Option<Sent>,
    answer: Option<Seen>,
    /// `Some` once the outcome is known; `Some(None)`: it met its expectation.
    outcome: Option<Option<(FailureKind, String)>>,
}

/// A request as rendered.
struct Sent {
    step: usize,
    /// `http://host:port`, for the headline.
    origin: String,
    wire: Vec<u8>,
}

/// An answer as read.
struct Seen {
    status: u16,
    headers: Vec<(String, String)>,
    body: Body,
    elapsed: Duration,
    redirects: u32,
}

/// An answer's body as it can be shown.
enum Body {
    Bytes(Vec<u8>),
    /// Longer than `max_body`: counted, not kept.
    Oversize(u64),
    Undecodable(String),
}

impl std::fmt::Debug for Printer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Printer")
            .field("show_secrets", &self.show_secrets)
            .finish_non_exhaustive()
    }
}

impl Printer {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A line of the transcript of its own, after the exchange under way (printed with `state`'s values).
    fn note(&self, state: Option<&State>, line: &str) {
        if let Some(state) = state {
            self.flush(state);
        }
        let mut p = self.lock();
        write_out(&mut p.out, &format!("{line}\n"));
    }

    /// Prints the exchange under way, if any, masked with the values `state` holds (every capture so far).
    fn flush(&self, state: &State) {
        let mut p = self.lock();
        let (sent, answer, outcome) = (p.sent.take(), p.answer.take(), p.outcome.take());
        if sent.is_none() && outcome.is_none() {
            return;
        }
        let secrets = if self.show_secrets {
            Secrets::default()
        } else {
            Secrets::of(&self.plan, state)
        };
        let text = exchange(
            &self.plan,
            &secrets,
            self.show_secrets,
            sent.as_ref(),
            answer.as_ref(),
            outcome.flatten(),
        );
        write_out(&mut p.out, &text);
    }
}

/// Writes to the transcript; a closed pipe (`| head`) is not an error.
fn write_out(out: &mut Option<Box<dyn Write + Send>>, text: &str) {
    if let Some(o) = out {
        let _ = o.write_all(text.as_bytes()).and_then(|()| o.flush());
    }
}

impl Tap for Arc<Printer> {
    fn sent(&self, idx: usize, origin: &Origin, wire: &[u8], state: &State) {
        // The step before is over: its captures are in `state`.
        self.flush(state);
        self.lock().sent = Some(Sent {
            step: idx,
            origin: origin.key.clone(),
            wire: wire.to_vec(),
        });
    }

    fn answer(&self, answer: &Answer, elapsed: Duration, redirects: u32) {
        let headers: Vec<(String, String)> = answer
            .head
            .fields()
            .map(|(n, v)| {
                (
                    String::from_utf8_lossy(n).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect();
        let body = if answer.oversize {
            Body::Oversize(answer.bytes)
        } else {
            match answer.head.get("content-encoding") {
                Some(coding) => match decode(coding, answer.body.clone(), self.plan.max_body) {
                    Ok(d) if d.oversize => Body::Oversize(d.bytes),
                    Ok(d) => Body::Bytes(d.body),
                    Err(e) => Body::Undecodable(e),
                },
                None => Body::Bytes(answer.body.clone()),
            }
        };
        self.lock().answer = Some(Seen {
            status: answer.head.status,
            headers,
            body,
            elapsed,
            redirects,
        });
    }

    fn outcome(&self, failure: Option<(FailureKind, &str)>) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if failure.is_some() {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        self.lock().outcome = Some(failure.map(|(k, m)| (k, m.to_string())));
    }

    fn ended(&self, state: &State) {
        self.flush(state);
    }
}

/// The user's captured values, as text, for masking (each item of a list on its own, which also masks the
/// list as a template renders it, joined with `,`). The ONE place that reads `State::captures`.
fn captured(state: &State) -> impl Iterator<Item = &str> {
    state
        .captures
        .iter()
        .flat_map(|c| match c {
            Captured::Unset => &[][..],
            Captured::One(v) => std::slice::from_ref(v),
            Captured::List(items) => &items[..],
        })
        .map(String::as_str)
}

/// The values to mask wherever they appear.
#[derive(Debug, Default)]
pub struct Secrets {
    /// Each value and its encoded forms, longest first (so a value containing another is masked whole).
    values: Vec<String>,
}

impl Secrets {
    /// The user's captured values and its data row's values in secret-looking columns.
    fn of(plan: &RunPlan, state: &State) -> Secrets {
        let mut raw: Vec<&str> = captured(state).collect();
        if let (Some(row), Some(data)) = (state.row, &plan.data) {
            for (col, name) in data.set.columns().iter().enumerate() {
                if secret_column(name) {
                    raw.push(data.set.value(row, col));
                }
            }
        }
        Secrets::new(raw)
    }

    /// Secrets of these values (those shorter than [`MIN_MASKED`] left out), with their form-encoded and
    /// JSON-escaped forms.
    pub fn new<'a>(raw: impl IntoIterator<Item = &'a str>) -> Secrets {
        let mut values: Vec<String> = Vec::new();
        for v in raw {
            if v.chars().count() < MIN_MASKED {
                continue;
            }
            let form: String = url::form_urlencoded::byte_serialize(v.as_bytes()).collect();
            let json = serde_json::to_string(v).unwrap_or_default();
            let json = json
                .strip_prefix('"')
                .and_then(|j| j.strip_suffix('"'))
                .unwrap_or("");
            for form in [v, form.as_str(), json] {
                if form.chars().count() >= MIN_MASKED && !values.iter().any(|x| x == form) {
                    values.push(form.to_string());
                }
            }
        }
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        Secrets { values }
    }

    /// `text` with every secret value replaced by [`MASK`].
    pub fn mask<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut out = Cow::Borrowed(text);
        for v in &self.values {
            if out.contains(v.as_str()) {
                out = Cow::Owned(out.replace(v.as_str(), MASK));
            }
        }
        out
    }
}

/// A data-file column whose values are masked: its name contains pass, secret, token or key (any case).
pub fn secret_column(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["pass", "secret", "token", "key"]
        .iter()
        .any(|w| n.contains(w))
}

/// A JSON field, form field or query parameter whose value is masked: its name (any case, `-` read as `_`)
/// contains password, passwd, secret, api_key or apikey, or ends in token or tokens (`access_token`,
/// `refreshToken`, `csrf_token`; not `token_type`).
pub fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase().replace('-', "_");
    ["password", "passwd", "secret", "api_key", "apikey"]
        .iter()
        .any(|w| n.contains(w))
        || n.ends_with("token")
        || n.ends_with("tokens")
}

/// A header's value as printed: credentials and cookie values masked, the rest as is.
pub fn mask_header(name: &str, value: &str) -> String {
    let n = name.to_ascii_lowercase();
    match n.as_str() {
        "authorization" | "proxy-authorization" => match value.split_once(' ') {
            Some((scheme, _)) => format!("{scheme} {MASK}"),
            None => MASK.to_string(),
        },
        "cookie" => value
            .split(';')
            .map(|pair| mask_cookie_pair(pair.trim()))
            .collect::<Vec<_>>()
            .join("; "),
        "set-cookie" => match value.split_once(';') {
            Some((pair, attributes)) => format!("{};{attributes}", mask_cookie_pair(pair.trim())),
            None => mask_cookie_pair(value.trim()),
        },
        _ if secret_name(&n) || n.contains("api-key") || n.contains("apikey") => MASK.to_string(),
        _ => value.to_string(),
    }
}

/// `name=value` → `name=***` (an empty value stays empty: nothing to hide, and it shows a cookie cleared).
fn mask_cookie_pair(pair: &str) -> String {
    match pair.split_once('=') {
        Some((name, "")) => format!("{name}="),
        Some((name, _)) => format!("{name}={MASK}"),
        None => pair.to_string(),
    }
}

/// A form body (or a query string): the values of fields named like a secret masked.
pub fn mask_form(text: &str) -> String {
    text.split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if !value.is_empty() => {
                let decoded: String = url::form_urlencoded::parse(name.as_bytes())
                    .next()
                    .map(|(n, _)| n.into_owned())
                    .unwrap_or_default();
                if secret_name(&decoded) {
                    format!("{name}={MASK}")
                } else {
                    pair.to_string()
                }
            }
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A JSON text with the values of fields named like a secret masked, at any depth (every value inside an
/// object or list under such a name), the rest of the text as it was (its order and spacing); `None` when the
/// text does not start like JSON (an object or a list). Read token by token, so it needs no valid JSON: a
/// truncated or odd body is masked as far as it can be read.
pub fn mask_json(text: &str) -> Option<String> {
    let t = text.trim_start();
    if !t.starts_with('{') && !t.starts_with('[') {
        return None;
    }
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut i = 0;
    let mut depth = 0usize;
    // Inside an object or list under a secret name: its depth.
    let mut inside: Option<usize> = None;
    // The next value belongs to a secret name.
    let mut next = false;
    let mask = |out: &mut String, last: &mut usize, from: usize, to: usize, quoted: bool| {
        out.push_str(&text[*last..from]);
        if quoted {
            out.push('"');
            out.push_str(MASK);
            out.push('"');
        } else {
            out.push_str(MASK);
        }
        *last = to;
    };
    while i < b.len() {
        match b[i] {
            b'"' => {
                let end = string_end(b, i);
                let mut j = end;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                if j < b.len() && b[j] == b':' {
                    // A name.
                    if inside.is_none() {
                        let name = text.get(i + 1..end.saturating_sub(1)).unwrap_or("");
                        next = secret_name(name);
                    }
                } else if next || inside.is_some() {
                    mask(&mut out, &mut last, i, end, true);
                    next = false;
                }
                i = end;
            }
            b'{' | b'[' => {
                if next && inside.is_none() {
                    inside = Some(depth);
                }
                next = false;
                depth += 1;
                i += 1;
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if inside == Some(depth) {
                    inside = None;
                }
                i += 1;
            }
            c if c == b'-' || c.is_ascii_digit() => {
                let from = i;
                while i < b.len() && matches!(b[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                {
                    i += 1;
                }
                if next || inside.is_some() {
                    mask(&mut out, &mut last, from, i, false);
                }
                next = false;
            }
            c if c.is_ascii_alphabetic() => {
                // true, false, null: shown (they say nothing secret).
                while i < b.len() && b[i].is_ascii_alphabetic() {
                    i += 1;
                }
                next = false;
            }
            _ => i += 1,
        }
    }
    out.push_str(&text[last..]);
    Some(out)
}

/// The index just past the JSON string starting at `start` (a `"`), or the end of the text if it is not closed.
fn string_end(b: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

/// A body as printed: masked by its kind (`content_type`), then every secret value; cut to [`EXCERPT`] bytes;
/// `[N bytes of binary]` when it is not text.
pub fn body_text(body: &[u8], content_type: Option<&str>, secrets: &Secrets, raw: bool) -> String {
    let text = match std::str::from_utf8(body) {
        Ok(t) if !t.contains('\0') => t,
        _ => return format!("[{} bytes of binary]", body.len()),
    };
    let masked: Cow<str> = if raw {
        Cow::Borrowed(text)
    } else {
        let form =
            content_type.is_some_and(|c| c.to_ascii_lowercase().contains("x-www-form-urlencoded"));
        let fields = if form {
            Some(mask_form(text))
        } else {
            mask_json(text)
        };
        match fields {
            Some(f) => Cow::Owned(secrets.mask(&f).into_owned()),
            None => secrets.mask(text),
        }
    };
    if masked.len() <= EXCERPT {
        return masked.into_owned();
    }
    let mut cut = EXCERPT;
    while !masked.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(
        "{}\n[... the first {cut} of {} bytes shown]",
        &masked[..cut],
        masked.len()
    )
}

/// One exchange as printed: the headline, the request as sent, the answer as read, what failed.
fn exchange(
    plan: &RunPlan,
    secrets: &Secrets,
    raw: bool,
    sent: Option<&Sent>,
    answer: Option<&Seen>,
    outcome: Option<(FailureKind, String)>,
) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let header = |name: &str, value: &str| -> String {
        if raw {
            value.to_string()
        } else {
            secrets.mask(&mask_header(name, value)).into_owned()
        }
    };
    match sent {
        Some(sent) => {
            let step = plan.steps.get(sent.step);
            let name = step.map_or("", |s| s.name.as_str());
            let (head, body) = split_head(&sent.wire);
            let head = String::from_utf8_lossy(head);
            let mut lines = head.split("\r\n");
            let request_line = lines.next().unwrap_or("");
            let mut words = request_line.splitn(3, ' ');
            let (method, target, version) = (
                words.next().unwrap_or(""),
                words.next().unwrap_or(""),
                words.next().unwrap_or(""),
            );
            let target = if raw {
                target.to_string()
            } else {
                let t = match target.split_once('?') {
                    Some((path, query)) => format!("{path}?{}", mask_form(query)),
                    None => target.to_string(),
                };
                secrets.mask(&t).into_owned()
            };
            let _ = writeln!(s, "--> {name}  {method} {}{target}", sent.origin);
            let _ = writeln!(s, "{method} {target} {version}");
            let mut content_type = None;
            for line in lines.filter(|l| !l.is_empty()) {
                let (n, v) = line.split_once(':').unwrap_or((line, ""));
                let v = v.trim();
                if n.eq_ignore_ascii_case("content-type") {
                    content_type = Some(v.to_string());
                }
                let _ = writeln!(s, "{n}: {}", header(n, v));
            }
            if !body.is_empty() {
                let _ = writeln!(
                    s,
                    "\n{}",
                    body_text(body, content_type.as_deref(), secrets, raw)
                );
            }
        }
        None => {
            let _ = writeln!(s, "--> (not sent)");
        }
    }
    match answer {
        Some(a) => {
            let reason = http::StatusCode::from_u16(a.status)
                .ok()
                .and_then(|c| c.canonical_reason())
                .unwrap_or("");
            let _ = write!(
                s,
                "<-- {} {reason}  {:.1} ms",
                a.status,
                a.elapsed.as_secs_f64() * 1000.0
            );
            if a.redirects > 0 {
                let _ = write!(
                    s,
                    "  (after {} redirect{})",
                    a.redirects,
                    if a.redirects == 1 { "" } else { "s" }
                );
            }
            s.push('\n');
            let mut content_type = None;
            for (n, v) in &a.headers {
                if n.eq_ignore_ascii_case("content-type") {
                    content_type = Some(v.as_str());
                }
                let _ = writeln!(s, "{n}: {}", header(n, v));
            }
            match &a.body {
                Body::Bytes(b) if b.is_empty() => {}
                Body::Bytes(b) => {
                    let _ = writeln!(s, "\n{}", body_text(b, content_type, secrets, raw));
                }
                Body::Oversize(n) => {
                    let _ = writeln!(s, "\n[{n} bytes, over max_body: not kept]");
                }
                Body::Undecodable(e) => {
                    let _ = writeln!(s, "\n[the body could not be decoded: {e}]");
                }
            }
        }
        None if sent.is_some() => {
            let _ = writeln!(s, "<-- no answer");
        }
        None => {}
    }
    if let Some((kind, msg)) = outcome {
        let _ = writeln!(s, "!!! FAILED ({}): {}", kind.as_str(), secrets.mask(&msg));
    }
    s.push('\n');
    s
}

/// A rendered request's head (without the blank line) and body.
fn split_head(wire: &[u8]) -> (&[u8], &[u8]) {
    match wire.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => (&wire[..i], &wire[i + 4..]),
        None => (wire, &[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_fields_named_like_secrets_are_masked_at_any_depth_and_the_rest_kept() {
        let body = r#"{"username": "ann", "password":"p\"w", "nested": {"api_key": 12.5e3, "ok": true,
            "client_secret": null}, "access_token":"abc.def", "token_type":"bearer", "expires_in":900,
            "refreshTokens": ["a", {"x": "b"}, 3], "after": "shown"}"#;
        let masked = mask_json(body).unwrap();
        assert_eq!(
            masked,
            r#"{"username": "ann", "password":"***", "nested": {"api_key": ***, "ok": true,
            "client_secret": null}, "access_token":"***", "token_type":"bearer", "expires_in":900,
            "refreshTokens": ["***", {"x": "***"}, ***], "after": "shown"}"#
        );
        // A list at the top, and text that is not JSON.
        assert_eq!(
            mask_json(r#"[{"token":"t1"},{"name":"n"}]"#).unwrap(),
            r#"[{"token":"***"},{"name":"n"}]"#
        );
        assert_eq!(mask_json("password=x"), None);
        // Cut short (an excerpt, a broken body): masked as far as it goes.
        assert_eq!(
            mask_json(r#"{"password":"abc"#).unwrap(),
            r#"{"password":"***""#
        );
    }

    #[test]
    fn form_fields_and_query_parameters_named_like_secrets_are_masked() {
        assert_eq!(
            mask_form(
                "username=ann&password=p%40ss+word&csrf_token=xyz&page=2&Pass%77ord=q&empty="
            ),
            "username=ann&password=***&csrf_token=***&page=2&Pass%77ord=***&empty="
        );
        assert_eq!(mask_form("q=a+b"), "q=a+b");
    }

    #[test]
    fn credentials_and_cookie_values_are_masked_with_their_scheme_and_names_kept() {
        assert_eq!(mask_header("Authorization", "Bearer eyJ.x.y"), "Bearer ***");
        assert_eq!(
            mask_header("proxy-authorization", "Basic dXNlcjpw"),
            "Basic ***"
        );
        assert_eq!(mask_header("authorization", "opaque"), "***");
        assert_eq!(
            mask_header("Cookie", "sid=abc123; theme=dark; flag"),
            "sid=***; theme=***; flag"
        );
        assert_eq!(
            mask_header("set-cookie", "sid=abc123; Path=/; HttpOnly"),
            "sid=***; Path=/; HttpOnly"
        );
        assert_eq!(
            mask_header("Set-Cookie", "sid=; Max-Age=0"),
            "sid=; Max-Age=0"
        );
        assert_eq!(mask_header("X-Api-Key", "k-123"), "***");
        assert_eq!(mask_header("X-CSRF-Token", "k-123"), "***");
        assert_eq!(
            mask_header("content-type", "application/json"),
            "application/json"
        );
    }

    #[test]
    fn secret_values_are_masked_in_every_form_and_short_ones_left() {
        let s = Secrets::new(["p@ss word", "tok\"en", "42", "abc"]);
        assert_eq!(s.mask("u=p%40ss+word"), "u=***");
        assert_eq!(s.mask(r#"{"t":"tok\"en"}"#), r#"{"t":"***"}"#);
        assert_eq!(s.mask("p@ss word and tok\"en"), "*** and ***");
        // Shorter than MIN_MASKED: shown.
        assert_eq!(s.mask("id 42, abc"), "id 42, abc");
        // A value containing another is masked whole.
        let s = Secrets::new(["secret", "secret-and-more"]);
        assert_eq!(s.mask("x secret-and-more y"), "x *** y");
    }

    #[test]
    fn names_and_columns_that_count_as_secret() {
        for n in [
            "password",
            "newPassword",
            "passwd",
            "client_secret",
            "api_key",
            "apiKey",
            "x-api-key",
            "access_token",
            "refreshToken",
            "token",
            "csrftoken",
        ] {
            assert!(secret_name(n), "{n}");
        }
        for n in ["username", "token_type", "key", "id", "tokenizer"] {
            assert!(!secret_name(n), "{n}");
        }
        for c in ["password", "api_key", "Token", "secret", "passphrase"] {
            assert!(secret_column(c), "{c}");
        }
        assert!(!secret_column("username"));
    }

    #[test]
    fn bodies_are_excerpted_and_binary_is_named() {
        let none = Secrets::default();
        assert_eq!(
            body_text(&[0, 159, 146, 150], None, &none, false),
            "[4 bytes of binary]"
        );
        let long = "é".repeat(EXCERPT);
        let shown = body_text(long.as_bytes(), None, &none, false);
        assert!(shown.starts_with("éé"));
        assert!(shown.ends_with(&format!(
            "[... the first {EXCERPT} of {} bytes shown]",
            2 * EXCERPT
        )));
        // A form body by its content type; masking is skipped with --debug-secrets.
        let form = b"username=a&password=b";
        let ct = Some("application/x-www-form-urlencoded");
        assert_eq!(body_text(form, ct, &none, false), "username=a&password=***");
        assert_eq!(body_text(form, ct, &none, true), "username=a&password=b");
    }

    #[test]
    fn an_exchange_reads_as_sent_and_answered() {
        let s = Secrets::new(["s3cr3t-token"]);
        let sent = Sent {
            step: 0,
            origin: "http://127.0.0.1:8000".into(),
            wire: b"POST /api/login?api_key=k1&page=2 HTTP/1.1\r\nhost: 127.0.0.1:8000\r\nauthorization: Bearer s3cr3t-token\r\ncontent-type: application/json\r\ncontent-length: 20\r\n\r\n{\"password\":\"hunter2\"}".to_vec(),
        };
        let seen = Seen {
            status: 401,
            headers: vec![("set-cookie".into(), "sid=zz; Path=/".into())],
            body: Body::Bytes(b"{\"detail\":\"s3cr3t-token is bad\"}".to_vec()),
            elapsed: Duration::from_micros(3200),
            redirects: 0,
        };
        let plan_text = "[target]\nhost = \"http://127.0.0.1:8000\"\n[load]\nusers = 1\nduration = \"1s\"\n[[task]]\nname = \"login\"\nmethod = \"POST\"\npath = \"/api/login\"\n";
        let dir = std::env::temp_dir().join(format!("loadgen-debug-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("s.toml");
        std::fs::write(&file, plan_text).unwrap();
        let loaded = crate::scenario::load(&file).unwrap();
        let plan = crate::plan::resolve(&loaded, &Default::default()).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let text = exchange(
            &plan,
            &s,
            false,
            Some(&sent),
            Some(&seen),
            Some((
                FailureKind::Status,
                "unexpected status 401 (expected 200)".into(),
            )),
        );
        assert_eq!(
            text,
            "--> login  POST http://127.0.0.1:8000/api/login?api_key=***&page=2\n\
             POST /api/login?api_key=***&page=2 HTTP/1.1\n\
             host: 127.0.0.1:8000\n\
             authorization: Bearer ***\n\
             content-type: application/json\n\
             content-length: 20\n\
             \n\
             {\"password\":\"***\"}\n\
             <-- 401 Unauthorized  3.2 ms\n\
             set-cookie: sid=***; Path=/\n\
             \n\
             {\"detail\":\"*** is bad\"}\n\
             !!! FAILED (status): unexpected status 401 (expected 200)\n\n"
        );
    }
}
