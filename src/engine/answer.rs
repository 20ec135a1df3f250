//! What a request checks in its answer and captures from it (issue 18, items 1 and 2), once the clock has
//! stopped: the step's [`Check`]s in order, then its [`Capture`]s. The JSON body is parsed at most once, and only
//! when a check or capture reads it; texts and regexes were compiled with the plan.
//!
//! A failure message names the check or the capture as the scenario writes it, never a value from the answer
//! or a rendered template (which may be a token or personal data, and goes to every report): at most the kind
//! and size of a JSON value. Messages do not carry measured values either (a response time, a length), so a
//! failing check is one row of the failures table, not one per request.

use std::time::Duration;

use rand::Rng;
use serde_json::Value;

use super::client::{Head, Jar};
use super::shared::{Captured, Ctx};
use crate::metrics::FailureKind;
use crate::plan::{Capture, CaptureSource, Check, HeaderCheck, JsonTemplate, Pick, Step};

/// An answer as the checks see it.
pub struct Answer<'a> {
    pub head: &'a Head,
    /// The body as kept (decoded when compressed); empty when nothing needed it.
    pub body: &'a [u8],
    /// The response time, to the end of the body.
    pub latency: Duration,
    pub jar: &'a Jar,
}

/// A failure: its kind and message.
pub type Failed = (FailureKind, String);

/// The JSON body, parsed on first use.
struct Json<'a> {
    body: &'a [u8],
    parsed: Option<Option<Value>>,
}

impl Json<'_> {
    fn get(&mut self) -> Option<&Value> {
        let body = self.body;
        self.parsed
            .get_or_insert_with(|| serde_json::from_slice(body).ok())
            .as_ref()
    }
}

/// Runs `step`'s checks, then its captures, against `answer`; the first that fails says why.
pub fn check_and_capture(
    step: &Step,
    ctx: &mut Ctx<'_>,
    answer: &Answer<'_>,
) -> Result<(), Failed> {
    let mut json = Json {
        body: answer.body,
        parsed: None,
    };
    let mut scratch = String::new();
    for check in &step.checks {
        if let Err((kind, why)) = run_check(check, ctx, answer, &mut json, &mut scratch) {
            return Err((kind, format!("{}: {why}", check.label())));
        }
    }
    for c in &step.captures {
        capture(c, ctx, answer, &mut json)?;
    }
    Ok(())
}

fn run_check(
    check: &Check,
    ctx: &mut Ctx<'_>,
    answer: &Answer<'_>,
    json: &mut Json<'_>,
    scratch: &mut String,
) -> Result<(), (FailureKind, String)> {
    let fail = |why: &str| Err((FailureKind::Assertion, why.to_string()));
    let not_json = || Err((FailureKind::Assertion, "the body is not JSON".to_string()));
    match check {
        Check::MaxTime(max, _) => {
            if answer.latency > *max {
                return fail("slower than that");
            }
        }
        Check::BodyContains(t) | Check::BodyNotContains(t) => {
            scratch.clear();
            t.render_into(ctx, scratch);
            let found = memchr::memmem::find(answer.body, scratch.as_bytes()).is_some();
            match (check, found) {
                (Check::BodyContains(_), false) => return fail("not found in the body"),
                (Check::BodyNotContains(_), true) => return fail("found in the body"),
                _ => {}
            }
        }
        Check::BodyRegex(r) => {
            if !r.re.is_match(answer.body) {
                return fail("no match in the body");
            }
        }
        Check::Json(path, want) => {
            let Some(j) = json.get() else {
                return not_json();
            };
            match path.find(j) {
                None => {
                    return fail(&format!(
                        "no value there (expected {})",
                        kind_of_template(want)
                    ));
                }
                Some(v) if !matches(v, want, ctx, scratch) => {
                    return fail(&format!(
                        "the value differs (got {}, expected {}; values are not shown)",
                        kind_of(v),
                        kind_of_template(want)
                    ));
                }
                Some(_) => {}
            }
        }
        Check::JsonExists(path) | Check::JsonAbsent(path) => {
            let Some(j) = json.get() else {
                return not_json();
            };
            let there = path.find(j).is_some_and(|v| !v.is_null());
            match (check, there) {
                (Check::JsonExists(_), false) => return fail("no value there"),
                (Check::JsonAbsent(_), true) => return fail("a value is there"),
                _ => {}
            }
        }
        Check::JsonLength(path, bounds) => {
            let Some(j) = json.get() else {
                return not_json();
            };
            let len = match path.find(j) {
                None => return fail("no value there"),
                Some(Value::Array(a)) => a.len(),
                Some(Value::Object(o)) => o.len(),
                Some(Value::String(s)) => s.chars().count(),
                Some(other) => return fail(&format!("{} has no length", kind_of(other))),
            };
            if !bounds.holds(len as u64) {
                return fail("the length is out of bounds");
            }
        }
        Check::Header(name, want) => {
            let value = answer.head.get(name.as_str());
            match (want, value) {
                (HeaderCheck::Present, None) => return fail("missing"),
                (HeaderCheck::Absent, Some(_)) => return fail("present"),
                (HeaderCheck::Equals(_) | HeaderCheck::Matches(_), None) => return fail("missing"),
                (HeaderCheck::Equals(t), Some(v)) => {
                    scratch.clear();
                    t.render_into(ctx, scratch);
                    if scratch != v {
                        return fail("the value differs (values are not shown)");
                    }
                }
                (HeaderCheck::Matches(r), Some(v)) if !r.re.is_match(v.as_bytes()) => {
                    return fail("no match");
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Whether `found` equals `want` (its strings rendered for this user; numbers compared by value).
fn matches(found: &Value, want: &JsonTemplate, ctx: &mut Ctx<'_>, scratch: &mut String) -> bool {
    match (want, found) {
        (JsonTemplate::Literal(w), f) => json_eq(f, w),
        (JsonTemplate::String(t), Value::String(s)) => {
            scratch.clear();
            t.render_into(ctx, scratch);
            scratch == s
        }
        // A captured id is text: `"{{id}}"` matches the number 42 when it renders as 42 (or 42.0).
        (JsonTemplate::String(t), Value::Number(n)) => {
            scratch.clear();
            t.render_into(ctx, scratch);
            scratch.trim().parse::<f64>().ok() == n.as_f64()
        }
        (JsonTemplate::String(t), Value::Bool(b)) => {
            scratch.clear();
            t.render_into(ctx, scratch);
            scratch == if *b { "true" } else { "false" }
        }
        (JsonTemplate::String(_), _) => false,
        (JsonTemplate::Array(items), Value::Array(values)) => {
            items.len() == values.len()
                && items
                    .iter()
                    .zip(values)
                    .all(|(w, v)| matches(v, w, ctx, scratch))
        }
        (JsonTemplate::Object(fields), Value::Object(map)) => {
            fields.len() == map.len()
                && fields
                    .iter()
                    .all(|(k, w)| map.get(k).is_some_and(|v| matches(v, w, ctx, scratch)))
        }
        _ => false,
    }
}

/// JSON equality where numbers compare by value (a TOML `1` matches a JSON `1.0`).
fn json_eq(a: &Value, b: &Value) -> bool {
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

/// Fills the capture's slot from `answer`, or says why it found nothing.
fn capture(
    c: &Capture,
    ctx: &mut Ctx<'_>,
    answer: &Answer<'_>,
    json: &mut Json<'_>,
) -> Result<(), Failed> {
    let mut found: Vec<String> = Vec::new();
    let why = match &c.source {
        CaptureSource::Json(path) => match json.get() {
            None => "body is not JSON",
            Some(j) => {
                let values = if path.is_wildcard() {
                    path.find_all(j)
                } else {
                    match path.find(j) {
                        // Picking among an array's items (any pick but the first, which keeps the whole array).
                        Some(Value::Array(items)) if c.pick != Pick::First => {
                            items.iter().collect()
                        }
                        Some(v) => vec![v],
                        None => Vec::new(),
                    }
                };
                found.extend(values.into_iter().filter_map(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Null => None,
                    other => Some(other.to_string()),
                }));
                "no value at that path"
            }
        },
        CaptureSource::Header(h) => {
            found.extend(
                answer
                    .head
                    .get_all(h.as_str())
                    .filter_map(|v| std::str::from_utf8(v).ok())
                    .map(str::to_string),
            );
            "response header missing"
        }
        CaptureSource::Regex(r, group) => {
            for caps in r.re.captures_iter(answer.body) {
                if let Some(m) = caps.get(*group) {
                    found.push(String::from_utf8_lossy(m.as_bytes()).into_owned());
                }
            }
            "no match in the body"
        }
        CaptureSource::Cookie(name) => {
            for v in answer.head.get_all("set-cookie") {
                let Ok(v) = std::str::from_utf8(v) else {
                    continue;
                };
                let pair = v.split(';').next().unwrap_or("");
                if let Some((n, value)) = pair.split_once('=')
                    && n.trim() == name
                {
                    found.push(value.trim().to_string());
                }
            }
            if found.is_empty()
                && let Some(v) = answer.jar.value(name)
            {
                found.push(v.to_string());
            }
            "no such cookie"
        }
    };
    let value = match (c.pick, found.len()) {
        (Pick::All, n) if n > 0 => Captured::List(found),
        (_, 0) => match &c.default {
            Some(d) if c.pick == Pick::All => Captured::List(if d.is_empty() {
                Vec::new()
            } else {
                vec![d.clone()]
            }),
            Some(d) => Captured::One(d.clone()),
            None => {
                let what = match &c.source {
                    CaptureSource::Header(_) => format!("capture `{}`", c.name),
                    other => format!("capture `{}` ({})", c.name, other.label()),
                };
                return Err((FailureKind::Capture, format!("{what}: {why}")));
            }
        },
        (Pick::First, _) => Captured::One(found.swap_remove(0)),
        (Pick::Last, _) => Captured::One(found.pop().unwrap_or_default()),
        (Pick::Random, n) => {
            let i = ctx.state.rng.random_range(0..n);
            Captured::One(found.swap_remove(i))
        }
        (Pick::All, _) => Captured::List(found),
    };
    if let Some(slot) = ctx.state.captures.get_mut(c.slot) {
        *slot = value;
    }
    Ok(())
}

/// What a message says of a JSON value instead of the value: its kind and size ("a string of 36 characters").
pub fn kind_of(v: &Value) -> String {
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

/// The kind of an expected value (a template string's length is not known before rendering).
fn kind_of_template(t: &JsonTemplate) -> String {
    match t {
        JsonTemplate::Literal(v) => kind_of(v),
        JsonTemplate::String(_) => "a string".into(),
        JsonTemplate::Array(items) => kind_of(&Value::Array(vec![Value::Null; items.len()])),
        JsonTemplate::Object(fields) => {
            let map: serde_json::Map<String, Value> = fields
                .iter()
                .map(|(k, _)| (k.clone(), Value::Null))
                .collect();
            kind_of(&Value::Object(map))
        }
    }
}
