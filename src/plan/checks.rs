//! What a request checks in its answer (`expect`) and what it captures from it (`capture`), as the engine runs
//! them: JSON paths parsed, regexes compiled and templates compiled when the plan is resolved (issue 18, items 1
//! and 2), so checking an answer is a walk over these values with no parsing.
//!
//! A check that fails is a failure of kind `assertion` whose message is [`Check::label`]: the check as the scenario
//! writes it (a template's source, never a rendered value nor anything from the answer).

use std::time::Duration;

use http::header::HeaderName;

use super::JsonTemplate;
use crate::scenario::jsonpath::JsonPath;
use crate::scenario::template::Template;

/// One check of an answer, besides its status.
#[derive(Debug, Clone)]
pub enum Check {
    /// The body contains this text (rendered per request).
    BodyContains(Template),
    /// The body does not contain this text.
    BodyNotContains(Template),
    /// The body matches this regex.
    BodyRegex(Regex),
    /// The JSON body holds this value at this path (strings are templates; numbers compare by value).
    Json(JsonPath, JsonTemplate),
    /// The JSON body has a value (not `null`) at this path.
    JsonExists(JsonPath),
    /// The JSON body has no value (or `null`) at this path.
    JsonAbsent(JsonPath),
    /// The length of the array, string or object at this path is within these bounds.
    JsonLength(JsonPath, Length),
    /// A response header.
    Header(HeaderName, HeaderCheck),
    /// The response time (to the end of the body) is at most this; the milliseconds as written.
    MaxTime(Duration, f64),
}

/// A regex compiled at load, with its source for messages.
#[derive(Debug, Clone)]
pub struct Regex {
    pub re: regex::bytes::Regex,
    pub source: String,
}

/// Bounds of a length, both inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Length {
    pub min: u64,
    pub max: u64,
}

impl Length {
    pub fn holds(&self, n: u64) -> bool {
        (self.min..=self.max).contains(&n)
    }
}

/// What a header check asks of a response header.
#[derive(Debug, Clone)]
pub enum HeaderCheck {
    Present,
    Absent,
    /// Equal to this rendered template (the whole value, case-sensitively).
    Equals(Template),
    Matches(Regex),
}

impl Check {
    /// True when the check reads the body.
    pub fn needs_body(&self) -> bool {
        !matches!(self, Check::Header(..) | Check::MaxTime(..))
    }

    /// The check as `loadgen check` shows it: its label, with the value an `expect.json` check expects (a
    /// template as its source).
    pub fn shown(&self) -> String {
        match self {
            Check::Json(p, JsonTemplate::Literal(v)) => format!("{} = {v}", self.label_of(p)),
            Check::Json(p, JsonTemplate::String(t)) => {
                format!("{} = {:?}", self.label_of(p), t.source())
            }
            _ => self.label(),
        }
    }

    fn label_of(&self, p: &JsonPath) -> String {
        format!("expect.json {}", p.as_str())
    }

    /// The check as the scenario writes it, to name it in a failure message: `expect.body_regex 'a+'`. A
    /// template appears as its source; nothing from an answer appears.
    pub fn label(&self) -> String {
        match self {
            Check::BodyContains(t) => format!("expect.body_contains {:?}", t.source()),
            Check::BodyNotContains(t) => format!("expect.body_not_contains {:?}", t.source()),
            Check::BodyRegex(r) => format!("expect.body_regex {:?}", r.source),
            Check::Json(p, _) => format!("expect.json {}", p.as_str()),
            Check::JsonExists(p) => format!("expect.json_exists {}", p.as_str()),
            Check::JsonAbsent(p) => format!("expect.json_absent {}", p.as_str()),
            Check::JsonLength(p, l) => match (l.min, l.max) {
                (a, b) if a == b => format!("expect.json_length {} = {a}", p.as_str()),
                (a, u64::MAX) => format!("expect.json_length {} >= {a}", p.as_str()),
                (a, b) => format!("expect.json_length {} in {a}..={b}", p.as_str()),
            },
            Check::Header(h, c) => match c {
                HeaderCheck::Present => format!("expect.headers {h} present"),
                HeaderCheck::Absent => format!("expect.headers {h} absent"),
                HeaderCheck::Equals(t) => format!("expect.headers {h} = {:?}", t.source()),
                HeaderCheck::Matches(r) => format!("expect.headers {h} ~ {:?}", r.source),
            },
            Check::MaxTime(_, ms) => format!("expect.max_ms {ms}"),
        }
    }
}

/// Which of the values a capture finds it keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    First,
    Last,
    /// One at random, for each request.
    Random,
    /// All of them, as a list (`for_each` walks it; a template renders it joined with `,`).
    All,
}

impl Pick {
    pub const NAMES: [&'static str; 4] = ["first", "last", "random", "all"];

    pub fn parse(s: &str) -> Option<Pick> {
        Some(match s {
            "first" => Pick::First,
            "last" => Pick::Last,
            "random" => Pick::Random,
            "all" => Pick::All,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        Pick::NAMES[self as usize]
    }
}
