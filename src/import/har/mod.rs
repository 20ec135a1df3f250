//! `loadgen import har FILE.har`: a scenario from a browser's recording (HTTP Archive 1.2, as Chromium's and
//! Firefox's developer tools save it).
//!
//! The recording is one person's visit; the scenario replays it for many users:
//! - requests are kept in recorded order and grouped by page (`pages[]` and each entry's `pageref`; entries with
//!   no page make a group of their own); each group becomes a flow (`[[task]]` with `steps`). Pages whose captured
//!   values later pages use (a login) are the session's setup: their steps go to `[[user.on_start]]`, so every
//!   session logs in once and the later pages, picked at random as tasks, have what they need. A page that logs out
//!   ends the session (`restart_session = true`): the next one runs `on_start` again.
//! - left out, and counted in the header: static assets (by response type and by extension; `--keep-static` keeps
//!   them), requests to other origins than the most common one (which becomes `[target] host`; third-party hosts
//!   are not the system under test), CORS pre-flights (`OPTIONS`, which loadgen does not need), requests the browser
//!   got no answer to, non-HTTP URLs, and the request a recorded redirect led to (loadgen follows redirects).
//! - think times are the recorded pauses: the time from the end of everything the browser was loading to the next
//!   kept request, rounded to 100 ms, on the step before the pause (on the flow when it ends one); pauses under
//!   100 ms are left out and longer than 30 s are cut to 30 s.
//! - browser noise headers are dropped (`dropped_header`); cookies too, as each loadgen user keeps its own jar.
//! - `expect = { status = [N] }` is the recorded status (3xx aside: loadgen follows redirects and sees the end).
//! - captures and run-unique values: see the `values` module.

mod model;
mod values;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;

use super::{Body, Draft, DraftLoad, DraftStep, DraftTask, ImportError, Note, Wait};
use model::{Entry, HarFile};

/// What `import har` keeps and leaves out.
#[derive(Debug, Clone, Default)]
pub struct HarOptions {
    /// Keep static assets (scripts, styles, images, fonts), which are left out by default.
    pub keep_static: bool,
}

/// Pauses shorter than this are the browser's own pace, not a person's.
const MIN_THINK_MS: f64 = 100.0;
/// Longer pauses (the recording left open) are cut to this.
const MAX_THINK_MS: f64 = 30_000.0;

/// A kept request, as read from its entry.
struct Kept {
    /// Index of its page group.
    group: usize,
    start: f64,
    step: DraftStep,
    /// The response body as JSON, when it is JSON.
    response: Option<serde_json::Value>,
}

/// Why entries were left out, counted for the header.
#[derive(Default)]
struct LeftOut {
    statics: usize,
    preflights: usize,
    unanswered: usize,
    not_http: usize,
    redirected: usize,
    other_hosts: BTreeMap<String, usize>,
}

/// The HAR file `text` (read from `path`, named in errors) as a draft scenario.
pub fn import(text: &str, path: &Path, opts: &HarOptions) -> Result<Draft, ImportError> {
    let err = |line, column, message: String| ImportError {
        path: path.to_path_buf(),
        line,
        column,
        message,
    };
    let har: HarFile = serde_json::from_str(text).map_err(|e| {
        let what = if e.is_syntax() || e.is_eof() {
            "not JSON"
        } else {
            "not a HAR file"
        };
        // serde_json's text ends with the place, which the error shows as file:line:column already.
        let text = e.to_string();
        let text = text
            .rsplit_once(" at line ")
            .map_or(text.as_str(), |(t, _)| t);
        err(Some(e.line()), Some(e.column()), format!("{what}: {text}"))
    })?;
    let log = har.log;
    // Entries in the order they started (a HAR is usually in that order already; the sort is stable).
    let mut timed = Vec::with_capacity(log.entries.len());
    for (i, entry) in log.entries.iter().enumerate() {
        let start = model::parse_time(&entry.started).ok_or_else(|| {
            err(
                None,
                None,
                format!(
                    "log.entries[{i}].startedDateTime: `{}` is not an ISO 8601 date and time",
                    entry.started
                ),
            )
        })?;
        let end = start
            + entry
                .time
                .filter(|t| t.is_finite() && *t > 0.0)
                .unwrap_or(0.0);
        timed.push((start, end, entry));
    }
    timed.sort_by(|a, b| a.0.total_cmp(&b.0));

    let mut left = LeftOut::default();
    let mut draft_notes: Vec<Note> = Vec::new();
    // Candidates: HTTP(S), answered, not pre-flights, not static.
    let mut candidates: Vec<(usize, url::Url)> = Vec::new();
    for (i, (_, _, e)) in timed.iter().enumerate() {
        let Ok(url) = url::Url::parse(&e.request.url) else {
            left.not_http += 1;
            continue;
        };
        if !matches!(url.scheme(), "http" | "https") {
            left.not_http += 1;
        } else if e.request.method.eq_ignore_ascii_case("OPTIONS") {
            left.preflights += 1;
        } else if e.response.status <= 0 {
            left.unanswered += 1;
        } else if !opts.keep_static && is_static(&url, &e.response.content.mime_type) {
            left.statics += 1;
        } else {
            candidates.push((i, url));
        }
    }
    let host = main_origin(&candidates).ok_or_else(|| {
        err(
            None,
            None,
            format!(
                "no request to import: {} entries, of which {} static assets (--keep-static keeps them), {} \
                 pre-flights, {} without an answer, {} not HTTP",
                log.entries.len(),
                left.statics,
                left.preflights,
                left.unanswered,
                left.not_http
            ),
        )
    })?;

    // Page groups, in the order of their first kept request.
    let titles: HashMap<&str, &str> = log
        .pages
        .iter()
        .map(|p| (p.id.as_str(), p.title.as_str()))
        .collect();
    let mut groups: Vec<(Option<String>, String)> = Vec::new();
    let mut kept: Vec<Kept> = Vec::new();
    let mut redirect_to: Option<String> = None;
    let mut set_cookies: HashSet<String> = HashSet::new();
    let mut cookies_from_before: Vec<String> = Vec::new();
    for (i, url) in candidates {
        let (start, _, e) = timed[i];
        if url.origin().ascii_serialization() != host {
            *left
                .other_hosts
                .entry(url.origin().ascii_serialization())
                .or_default() += 1;
            continue;
        }
        if let Some(to) = redirect_to.take()
            && to == url.as_str()
            && e.request.method.eq_ignore_ascii_case("GET")
        {
            left.redirected += 1;
            continue;
        }
        if (300..400).contains(&e.response.status) && !e.response.redirect_url.is_empty() {
            redirect_to = url.join(&e.response.redirect_url).ok().map(String::from);
        }
        let page = e.pageref.clone().filter(|p| !p.is_empty());
        let group = match groups.iter().position(|(p, _)| *p == page) {
            Some(g) => g,
            None => {
                let title = page
                    .as_deref()
                    .and_then(|p| titles.get(p).copied())
                    .unwrap_or("")
                    .to_string();
                groups.push((page, title));
                groups.len() - 1
            }
        };
        // Cookies the browser had before the recording: loadgen's jar gets only those the answers set.
        for name in cookie_names(e, "cookie") {
            if !set_cookies.contains(&name) && !cookies_from_before.contains(&name) {
                cookies_from_before.push(name);
            }
        }
        set_cookies.extend(cookie_names(e, "set-cookie"));
        kept.push(Kept {
            group,
            start,
            step: step(e, &url),
            response: response_json(e),
        });
    }

    // Think times: from the end of everything started before a kept request to its start.
    for k in 1..kept.len() {
        let next = kept[k].start;
        let busy_until = timed
            .iter()
            .filter(|(s, _, _)| *s < next)
            .map(|(_, end, _)| *end)
            .fold(f64::MIN, f64::max);
        let gap = next - busy_until;
        if gap >= MIN_THINK_MS {
            let ms = ((gap.min(MAX_THINK_MS) / 100.0).round() * 100.0) as u64;
            kept[k - 1].step.think = Some(Wait::Constant(Duration::from_millis(ms)));
        }
    }

    // There is no escape for `{{` in a scenario: a recorded one would be read as a template.
    for k in &kept {
        if values::sends(&k.step, "{{") {
            draft_notes.push(Note::general(format!(
                "{} {} sends `{{{{` as recorded, which loadgen reads as a template: edit that value",
                k.step.method, k.step.path
            )));
        }
    }
    if !cookies_from_before.is_empty() {
        draft_notes.push(Note::general(format!(
            "the browser sent cookies no answer in the recording set ({}): loadgen users start with an empty \
             jar, so add them as a `Cookie` header or capture them from the answer that sets them",
            cookies_from_before.join(", ")
        )));
    }
    let mut names = values::Names::default();
    for k in &mut kept {
        k.step.name = names.unique(&step_name(&k.step.method, &k.step.path));
    }
    let uses = values::captures(&mut kept);
    values::unique_per_run(&mut kept);

    // Setup: every page up to the last one whose captures a later page uses.
    let setup_end = uses
        .iter()
        .filter(|(made, used)| made < used)
        .map(|(made, _)| made + 1)
        .max()
        .unwrap_or(0);
    let mut draft = Draft {
        name: path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .filter(|s| !s.is_empty()),
        host: Some(host.clone()),
        load: Some(DraftLoad {
            users: 5,
            spawn_rate: 1.0,
            duration: Duration::from_secs(60),
        }),
        ..Draft::default()
    };
    let mut kept = kept.into_iter().peekable();
    for (g, (page, title)) in groups.iter().enumerate() {
        let mut steps: Vec<DraftStep> = Vec::new();
        while let Some(k) = kept.next_if(|k| k.group == g) {
            steps.push(k.step);
        }
        let about = match (page, title.is_empty()) {
            (Some(id), false) => format!("page {}: {title} ({id})", g + 1),
            (Some(id), true) => format!("page {}: {id}", g + 1),
            (None, _) => "requests outside any page".to_string(),
        };
        if g < setup_end {
            if let Some(first) = steps.first_mut() {
                first.comments.insert(
                    0,
                    format!(
                        "{about}: setup, run once per session (later pages use what it captures)"
                    ),
                );
            }
            draft.user.on_start.extend(steps);
            continue;
        }
        let name = match slug(title, 40) {
            t if t.is_empty() => names.unique(&format!("page{}", g + 1)),
            t => names.unique(&format!("page{}_{t}", g + 1)),
        };
        let mut task = DraftTask {
            name,
            comments: vec![about],
            ..DraftTask::default()
        };
        if let Some(last) = steps.last_mut() {
            task.think = last.think.take();
        }
        if steps.iter().any(|s| is_logout(&s.path)) {
            task.restart_session = true;
            task.comments.push(
                "it logs out: the session restarts after it (on_start runs again)".to_string(),
            );
        }
        task.steps = steps;
        draft.user.tasks.push(task);
    }

    draft.header = header(path, &log, &host, &draft, &left, opts);
    draft.notes = draft_notes;
    for (origin, n) in &left.other_hosts {
        draft.notes.push(Note::general(format!(
            "{n} request(s) to {origin} left out: only {host} is the target (add them by hand with a whole \
             URL as `path` if they are part of the system under test)"
        )));
    }
    if left.unanswered > 0 {
        draft.notes.push(Note::general(format!(
            "{} request(s) the browser got no answer to (blocked or cancelled) left out",
            left.unanswered
        )));
    }
    Ok(draft)
}

/// The comment lines at the top of the scenario.
fn header(
    path: &Path,
    log: &model::Log,
    host: &str,
    draft: &Draft,
    left: &LeftOut,
    opts: &HarOptions,
) -> Vec<String> {
    let requests = draft.user.on_start.len()
        + draft
            .user
            .tasks
            .iter()
            .map(|t| t.steps.len())
            .sum::<usize>();
    let creator = log
        .creator
        .as_ref()
        .map(|c| {
            format!(", written by {} {}", c.name, c.version)
                .trim_end()
                .to_string()
        })
        .unwrap_or_default();
    let mut out = vec![
        format!(
            "Imported by `loadgen import har` from {} ({} entries, {} pages{creator}).",
            path.display(),
            log.entries.len(),
            log.pages.len()
        ),
        format!(
            "Kept: {requests} requests to {host}: setup steps in [[user.on_start]], then a flow per page."
        ),
    ];
    let mut gone = Vec::new();
    if opts.keep_static {
        gone.push("no static assets (--keep-static)".to_string());
    } else {
        gone.push(format!(
            "{} static assets (scripts, styles, images, fonts; --keep-static keeps them)",
            left.statics
        ));
    }
    let other: usize = left.other_hosts.values().sum();
    for (n, what) in [
        (other, "requests to other hosts (see the end)"),
        (left.preflights, "CORS pre-flights (OPTIONS)"),
        (
            left.redirected,
            "requests a redirect led to (loadgen follows redirects)",
        ),
        (left.unanswered, "requests without an answer"),
        (left.not_http, "non-HTTP URLs"),
    ] {
        if n > 0 {
            gone.push(format!("{n} {what}"));
        }
    }
    out.push(format!("Left out: {}.", gone.join(", ")));
    out.push(
        "think = the recorded pauses (rounded to 100 ms); expect = the recorded statuses; browser headers \
         and cookies dropped (each user keeps its own cookie jar)."
            .to_string(),
    );
    out.push(
        "Review the comments, set [load], then: loadgen check FILE.toml && loadgen run FILE.toml"
            .to_string(),
    );
    out.push(String::new());
    out
}

/// The names of the cookies in an entry's `Cookie` request headers (`which` = "cookie") or its `Set-Cookie`
/// response headers (`which` = "set-cookie").
fn cookie_names(e: &Entry, which: &str) -> Vec<String> {
    let headers = if which == "cookie" {
        &e.request.headers
    } else {
        &e.response.headers
    };
    let mut out = Vec::new();
    for h in headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(which))
    {
        let pairs: Vec<&str> = if which == "cookie" {
            h.value.split(';').collect()
        } else {
            // one cookie per header (Chromium joins repeated ones with a newline)
            h.value
                .lines()
                .filter_map(|l| l.split(';').next())
                .collect()
        };
        for pair in pairs {
            if let Some((name, _)) = pair.split_once('=') {
                let name = name.trim();
                if !name.is_empty() {
                    out.push(name.to_string());
                }
            }
        }
    }
    out
}

/// The origin most kept requests go to (the first seen among equals).
fn main_origin(candidates: &[(usize, url::Url)]) -> Option<String> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for (_, url) in candidates {
        let origin = url.origin().ascii_serialization();
        match counts.iter_mut().find(|(o, _)| *o == origin) {
            Some((_, n)) => *n += 1,
            None => counts.push((origin, 1)),
        }
    }
    let best = counts.iter().map(|(_, n)| *n).max()?;
    counts.into_iter().find(|(_, n)| *n == best).map(|(o, _)| o)
}

/// A script, style, image, font, source map or favicon: by the response's type, else the path's extension.
fn is_static(url: &url::Url, mime: &str) -> bool {
    let mime = mime
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime.starts_with("image/")
        || mime.starts_with("font/")
        || mime.starts_with("audio/")
        || mime.starts_with("video/")
        || matches!(
            mime.as_str(),
            "text/css"
                | "text/javascript"
                | "application/javascript"
                | "application/x-javascript"
                | "application/ecmascript"
                | "application/wasm"
                | "application/font-woff"
                | "application/font-woff2"
                | "application/x-font-ttf"
                | "application/vnd.ms-fontobject"
        )
    {
        return true;
    }
    let path = url.path().to_ascii_lowercase();
    let file = path.rsplit('/').next().unwrap_or("");
    if file.starts_with("favicon") {
        return true;
    }
    let ext = file.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    matches!(
        ext,
        "js" | "mjs"
            | "css"
            | "map"
            | "png"
            | "jpg"
            | "jpeg"
            | "gif"
            | "svg"
            | "ico"
            | "webp"
            | "avif"
            | "bmp"
            | "woff"
            | "woff2"
            | "ttf"
            | "otf"
            | "eot"
            | "mp4"
            | "webm"
            | "mp3"
            | "wasm"
    )
}

/// A header a browser adds by itself, or that loadgen sets (cookies from its jar, the length, the host).
pub(crate) fn dropped_header(name: &str, value: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.starts_with(':')
        || n.starts_with("sec-")
        || matches!(
            n.as_str(),
            "user-agent"
                | "accept-encoding"
                | "accept-language"
                | "connection"
                | "keep-alive"
                | "host"
                | "content-length"
                | "transfer-encoding"
                | "origin"
                | "referer"
                | "cookie"
                | "cache-control"
                | "pragma"
                | "upgrade-insecure-requests"
                | "dnt"
                | "priority"
                | "te"
                | "purpose"
                | "if-none-match"
                | "if-modified-since"
        )
        || (n == "accept" && (value.trim() == "*/*" || value.starts_with("text/html")))
}

/// The request of one entry, as a step (its name given later).
fn step(e: &Entry, url: &url::Url) -> DraftStep {
    let mut path = url.path().to_string();
    if let Some(q) = url.query() {
        path.push('?');
        path.push_str(q);
    }
    let body = body(e);
    let mut headers: Vec<(String, String)> = Vec::new();
    for h in &e.request.headers {
        if dropped_header(&h.name, &h.value)
            || headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(&h.name))
        {
            continue;
        }
        if h.name.eq_ignore_ascii_case("content-type") {
            let v = h.value.to_ascii_lowercase();
            let implied = match &body {
                Body::Json(_) => v.contains("json"),
                Body::Form(_) => v.contains("x-www-form-urlencoded"),
                _ => false,
            };
            if implied {
                continue;
            }
        }
        headers.push((h.name.clone(), h.value.clone()));
    }
    let status = e.response.status;
    DraftStep {
        method: e.request.method.to_ascii_uppercase(),
        path,
        headers,
        body,
        expect_status: match u16::try_from(status) {
            Ok(s) if !(300..400).contains(&s) && (100..600).contains(&s) => vec![s],
            _ => Vec::new(),
        },
        ..DraftStep::default()
    }
}

/// The request's body: JSON, a form, or text.
fn body(e: &Entry) -> Body {
    let Some(post) = &e.request.post_data else {
        return Body::None;
    };
    let mime = post.mime_type.to_ascii_lowercase();
    let text = post.text.clone().unwrap_or_default();
    if mime.contains("x-www-form-urlencoded") {
        let fields: Vec<(String, String)> = if post.params.is_empty() {
            url::form_urlencoded::parse(text.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        } else {
            post.params
                .iter()
                .map(|p| (p.name.clone(), p.value.clone().unwrap_or_default()))
                .collect()
        };
        if !fields.is_empty() {
            return Body::Form(fields);
        }
    }
    if (mime.contains("json") || mime.is_empty())
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
        && (v.is_object() || v.is_array())
    {
        return Body::Json(v);
    }
    if text.is_empty() {
        Body::None
    } else {
        Body::Text(text)
    }
}

/// The response body as JSON (decoded from base64 when the HAR says so), when it parses.
fn response_json(e: &Entry) -> Option<serde_json::Value> {
    let c = &e.response.content;
    let text = c.text.as_deref()?;
    let bytes = if c.encoding.as_deref() == Some("base64") {
        base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .ok()?
    } else {
        text.as_bytes().to_vec()
    };
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    (v.is_object() || v.is_array()).then_some(v)
}

/// `post_api_auth_login` from `POST /api/auth/login?x=1`.
fn step_name(method: &str, path: &str) -> String {
    let path = path.split('?').next().unwrap_or("");
    let s = slug(path, 60);
    let s = if s.is_empty() { "root".to_string() } else { s };
    format!("{}_{s}", method.to_ascii_lowercase())
}

/// Lower-case letters, digits and single `_` between words, at most `max` characters.
fn slug(text: &str, max: usize) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            if out.len() >= max {
                break;
            }
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_string()
}

/// A path that ends a session.
fn is_logout(path: &str) -> bool {
    let p = path.split('?').next().unwrap_or("").to_ascii_lowercase();
    [
        "logout", "log-out", "log_out", "signout", "sign-out", "sign_out",
    ]
    .iter()
    .any(|w| p.contains(w))
}

#[cfg(test)]
mod tests;
