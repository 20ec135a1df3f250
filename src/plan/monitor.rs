//! `[monitor]` resolved (issue 21 item 4): the Prometheus endpoints of the system under test, the series kept
//! from each (parsed selectors), the scrape interval and timeout, and the gates on those series.
//!
//! A series is written as a PromQL-like query: a metric name with optional label matchers (`=`, `!=`, `=~`,
//! `!~`; regexes anchored as in PromQL), optionally inside `rate(...)` (per second, from one scrape to the next,
//! a counter reset counted as a restart from zero) and optionally scaled (`* 100`). A selector that matches
//! several samples stands for their sum (`sum(...)` in PromQL): add labels to pick one. An endpoint is named
//! by its `url` (http only) or by a `path` on the target's host, which follows `--host` and `--demo`; nothing
//! else is ever scraped.

use std::time::Duration;

use toml::Spanned;

use super::values::positive_duration;
use super::{Gate, GateMetric, Window};
use crate::error::Error;
use crate::scenario::{Loaded, RawMonitorGates, ScenarioError};

type Result<T> = std::result::Result<T, Error>;

/// Series kept at most, over every endpoint.
pub const MAX_MONITOR_SERIES: usize = 64;
/// Endpoints at most (each is scraped from a thread of its own).
pub const MAX_MONITOR_ENDPOINTS: usize = 16;
/// The shortest scrape interval: the results keep one value per series per second.
pub const MIN_MONITOR_INTERVAL: Duration = Duration::from_secs(1);
/// The longest scrape interval.
pub const MAX_MONITOR_INTERVAL: Duration = Duration::from_secs(3600);

/// What `[monitor]` scrapes.
#[derive(Debug, Clone)]
pub struct MonitorPlan {
    pub interval: Duration,
    /// Shorter than the interval.
    pub timeout: Duration,
    pub endpoints: Vec<MonitorEndpoint>,
}

/// One endpoint and the series kept from it.
#[derive(Debug, Clone)]
pub struct MonitorEndpoint {
    pub name: String,
    pub at: EndpointAt,
    pub series: Vec<Query>,
}

/// Where an endpoint is.
#[derive(Debug, Clone, PartialEq)]
pub enum EndpointAt {
    /// `url = "http://host:port/metrics"`.
    Url(String),
    /// `path = "/metrics"`: on the target's host (known only when the run starts, with `--demo`).
    Path(String),
}

impl EndpointAt {
    /// The URL scraped, for a run against `host` (the plan's, without a trailing slash).
    pub fn url(&self, host: &str) -> String {
        match self {
            EndpointAt::Url(u) => u.clone(),
            EndpointAt::Path(p) => format!("{host}{p}"),
        }
    }
}

/// One kept series: `rate(selector) * factor`, or `selector * factor`.
#[derive(Debug, Clone)]
pub struct Query {
    /// `ENDPOINT:NAME`: how the results and the gates name it.
    pub key: String,
    /// As written.
    pub text: String,
    pub selector: Selector,
    pub rate: bool,
    pub factor: f64,
}

/// A metric name and label matchers.
#[derive(Debug, Clone)]
pub struct Selector {
    pub name: String,
    pub matchers: Vec<Matcher>,
}

/// `label OP "value"`.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub label: String,
    pub op: MatchOp,
    pub value: String,
    /// For `=~` and `!~`: the value anchored at both ends, as PromQL does.
    pub regex: Option<regex::Regex>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MatchOp {
    Eq,
    Ne,
    Re,
    NotRe,
}

impl Selector {
    /// Whether a sample of metric `name` with `labels` is one this selector keeps.
    pub fn matches(&self, name: &str, labels: &[(String, String)]) -> bool {
        name == self.name
            && self.matchers.iter().all(|m| {
                let v = labels
                    .iter()
                    .find(|(l, _)| *l == m.label)
                    .map_or("", |(_, v)| v.as_str());
                match (m.op, &m.regex) {
                    (MatchOp::Eq, _) => v == m.value,
                    (MatchOp::Ne, _) => v != m.value,
                    (MatchOp::Re, Some(r)) => r.is_match(v),
                    (MatchOp::NotRe, Some(r)) => !r.is_match(v),
                    _ => false,
                }
            })
    }
}

/// Parses a query; an error is (byte offset in `text`, message).
pub fn parse_query(text: &str) -> std::result::Result<(Selector, bool, f64), (usize, String)> {
    let mut p = Parser { s: text, i: 0 };
    p.ws();
    let start = p.i;
    let word = p.name();
    let (selector, rate) = if word == "rate" && p.peek_after_ws() == Some('(') {
        p.ws();
        p.i += 1;
        p.ws();
        let sel = p.selector()?;
        p.ws();
        if !p.eat(')') {
            return Err((p.i, "expected `)` closing `rate(`".into()));
        }
        (sel, true)
    } else {
        p.i = start;
        (p.selector()?, false)
    };
    p.ws();
    let mut factor = 1.0;
    if p.eat('*') {
        p.ws();
        let at = p.i;
        let num: String = p.s[p.i..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
            .collect();
        p.i += num.len();
        factor = match num.parse::<f64>() {
            Ok(f) if f.is_finite() => f,
            _ => return Err((at, "expected a number after `*`, e.g. `* 100`".into())),
        };
        p.ws();
    }
    if p.i < p.s.len() {
        return Err((
            p.i,
            "unexpected text: a series is `name`, `name{label=\"value\"}`, `rate(name)`, each optionally `* N`"
                .into(),
        ));
    }
    Ok((selector, rate, factor))
}

struct Parser<'a> {
    s: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.s[self.i..].starts_with([' ', '\t']) {
            self.i += 1;
        }
    }
    fn peek_after_ws(&self) -> Option<char> {
        self.s[self.i..]
            .trim_start_matches([' ', '\t'])
            .chars()
            .next()
    }
    fn eat(&mut self, c: char) -> bool {
        if self.s[self.i..].starts_with(c) {
            self.i += c.len_utf8();
            true
        } else {
            false
        }
    }
    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`, possibly empty.
    fn name(&mut self) -> String {
        let n: String = self.s[self.i..]
            .char_indices()
            .take_while(|&(k, c)| {
                c.is_ascii_alphabetic() || c == '_' || c == ':' || (k > 0 && c.is_ascii_digit())
            })
            .map(|(_, c)| c)
            .collect();
        self.i += n.len();
        n
    }
    fn selector(&mut self) -> std::result::Result<Selector, (usize, String)> {
        let at = self.i;
        let name = self.name();
        if name.is_empty() {
            return Err((
                at,
                "expected a metric name, e.g. `process_cpu_seconds_total`".into(),
            ));
        }
        let mut matchers = Vec::new();
        self.ws();
        if self.eat('{') {
            loop {
                self.ws();
                if self.eat('}') {
                    break;
                }
                let at = self.i;
                let label = self.name();
                if label.is_empty() || label.contains(':') {
                    return Err((at, "expected a label name".into()));
                }
                self.ws();
                let rest = &self.s[self.i..];
                let op = if rest.starts_with("=~") {
                    MatchOp::Re
                } else if rest.starts_with("!~") {
                    MatchOp::NotRe
                } else if rest.starts_with("!=") {
                    MatchOp::Ne
                } else if rest.starts_with('=') {
                    MatchOp::Eq
                } else {
                    return Err((self.i, "expected `=`, `!=`, `=~` or `!~`".into()));
                };
                self.i += if op == MatchOp::Eq { 1 } else { 2 };
                self.ws();
                let at = self.i;
                let value = self.string()?;
                let regex = match op {
                    MatchOp::Re | MatchOp::NotRe => {
                        Some(regex::Regex::new(&format!("^(?:{value})$")).map_err(|e| {
                            let why = e.to_string();
                            let why = why.lines().last().unwrap_or("").trim().to_string();
                            (at, format!("not a valid regex ({why})"))
                        })?)
                    }
                    _ => None,
                };
                matchers.push(Matcher {
                    label,
                    op,
                    value,
                    regex,
                });
                self.ws();
                if self.eat(',') {
                    continue;
                }
                if self.eat('}') {
                    break;
                }
                return Err((self.i, "expected `,` or `}`".into()));
            }
        }
        Ok(Selector { name, matchers })
    }
    /// A `"..."` or `'...'` string with `\` escapes.
    fn string(&mut self) -> std::result::Result<String, (usize, String)> {
        let at = self.i;
        let Some(q) = self.s[self.i..]
            .chars()
            .next()
            .filter(|c| matches!(c, '"' | '\''))
        else {
            return Err((
                at,
                "expected a quoted value, e.g. \"/api/auth/login\"".into(),
            ));
        };
        self.i += 1;
        let mut out = String::new();
        let mut chars = self.s[self.i..].chars();
        while let Some(c) = chars.next() {
            self.i += c.len_utf8();
            match c {
                '\\' => {
                    let Some(e) = chars.next() else { break };
                    self.i += e.len_utf8();
                    out.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        other => other,
                    });
                }
                c if c == q => return Ok(out),
                c => out.push(c),
            }
        }
        Err((at, "this quoted value is not closed".into()))
    }
}

/// Endpoint and series names: letters, digits, `_`, `-` and `.`.
fn plain_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// `[monitor]` resolved, or `None` without one.
pub(super) fn resolve_monitor(loaded: &Loaded) -> Result<Option<MonitorPlan>> {
    let Some(m) = &loaded.monitor else {
        return Ok(None);
    };
    let file = m.file;
    let raw = &m.value;
    let err = |span: std::ops::Range<usize>, msg: String| -> Error {
        loaded.error(file, span, msg).into()
    };
    let interval = match &raw.interval {
        Some(v) => {
            let d = positive_duration(loaded, file, v, "monitor.interval")?;
            if !(MIN_MONITOR_INTERVAL..=MAX_MONITOR_INTERVAL).contains(&d) {
                return Err(err(
                    v.span(),
                    format!(
                        "`monitor.interval` must be from 1s to 1h (one value per series per second is kept), got `{}`",
                        v.get_ref()
                    ),
                ));
            }
            d
        }
        None => MIN_MONITOR_INTERVAL,
    };
    let timeout = match &raw.timeout {
        Some(v) => {
            let d = positive_duration(loaded, file, v, "monitor.timeout")?;
            if d >= interval {
                return Err(err(
                    v.span(),
                    format!(
                        "`monitor.timeout` must be shorter than the interval ({}), got `{}`",
                        humantime::format_duration(interval),
                        v.get_ref()
                    ),
                ));
            }
            d
        }
        None => interval.mul_f64(0.8),
    };
    if raw.endpoint.is_empty() {
        return Err(ScenarioError::file(&loaded.files[file].path, "`[monitor]` has no endpoint")
            .with_help("add one: [[monitor.endpoint]] name = \"api\" path = \"/metrics\" series = [\"process_cpu_seconds_total\"]")
            .into());
    }
    if raw.endpoint.len() > MAX_MONITOR_ENDPOINTS {
        return Err(err(
            raw.endpoint[MAX_MONITOR_ENDPOINTS].name.span(),
            format!("at most {MAX_MONITOR_ENDPOINTS} monitor endpoints"),
        ));
    }
    let mut endpoints: Vec<MonitorEndpoint> = Vec::new();
    let mut count = 0;
    for e in &raw.endpoint {
        let name = e.name.get_ref();
        if !plain_name(name) {
            return Err(err(
                e.name.span(),
                format!(
                    "endpoint name `{name}`: use letters, digits, `_`, `-` and `.` (at most 64)"
                ),
            ));
        }
        if endpoints.iter().any(|x| x.name == *name) {
            return Err(err(
                e.name.span(),
                format!("a second monitor endpoint named `{name}`"),
            ));
        }
        let at = match (&e.url, &e.path) {
            (Some(u), None) => EndpointAt::Url(endpoint_url(loaded, file, u)?),
            (None, Some(p)) => {
                if !p.get_ref().starts_with('/') || p.get_ref().contains(char::is_whitespace) {
                    return Err(err(
                        p.span(),
                        format!(
                            "`path` must start with `/` and hold no space, got `{}`",
                            p.get_ref()
                        ),
                    ));
                }
                EndpointAt::Path(p.get_ref().clone())
            }
            _ => {
                return Err(loaded
                    .error(file, e.name.span(), format!("monitor endpoint `{name}` needs either `url` or `path` (not both)"))
                    .with_help("`path = \"/metrics\"` scrapes the target's host; `url = \"http://127.0.0.1:9100/metrics\"` another one")
                    .into());
            }
        };
        let mut series: Vec<Query> = Vec::new();
        let entries: Vec<(String, std::ops::Range<usize>, String, std::ops::Range<usize>)> =
            match e.series.get_ref() {
                toml::Value::Array(items) => items
                    .iter()
                    .map(|v| match v {
                        toml::Value::String(s) => Ok((s.trim().to_string(), e.series.span(), s.clone(), e.series.span())),
                        _ => Err(err(e.series.span(), "`series` entries are strings, e.g. \"process_cpu_seconds_total\"".into())),
                    })
                    .collect::<Result<_>>()?,
                toml::Value::Table(t) => t
                    .iter()
                    .map(|(k, v)| match v {
                        toml::Value::String(s) => {
                            if !plain_name(k) {
                                return Err(err(e.series.span(), format!("series name `{k}`: use letters, digits, `_`, `-` and `.`")));
                            }
                            Ok((k.clone(), e.series.span(), s.clone(), e.series.span()))
                        }
                        _ => Err(err(e.series.span(), format!("series `{k}`: a query string, e.g. \"rate(process_cpu_seconds_total) * 100\""))),
                    })
                    .collect::<Result<_>>()?,
                _ => {
                    return Err(err(
                        e.series.span(),
                        "`series` is a list of queries, or a table of names to queries".into(),
                    ));
                }
            };
        if entries.is_empty() {
            return Err(err(
                e.series.span(),
                format!("monitor endpoint `{name}` keeps no series"),
            ));
        }
        for (short, span, text, _) in entries {
            let (selector, rate, factor) = parse_query(&text).map_err(|(at, msg)| {
                let (file_text, needle) = (&loaded.files[file].text, &text);
                // Point inside the string when it is written as is.
                let pos = file_text
                    .get(span.clone())
                    .and_then(|s| s.find(needle.as_str()))
                    .map_or(span.start, |i| span.start + i + at);
                let _ = file_text;
                Error::from(loaded.error(file, pos..pos, format!("series `{text}`: {msg}")))
            })?;
            let key = format!("{name}:{short}");
            if series.iter().any(|q| q.key == key) {
                return Err(err(span, format!("series `{short}` is listed twice")));
            }
            series.push(Query {
                key,
                text,
                selector,
                rate,
                factor,
            });
        }
        count += series.len();
        if count > MAX_MONITOR_SERIES {
            return Err(err(
                e.series.span(),
                format!("at most {MAX_MONITOR_SERIES} monitor series in all"),
            ));
        }
        endpoints.push(MonitorEndpoint {
            name: name.clone(),
            at,
            series,
        });
    }
    Ok(Some(MonitorPlan {
        interval,
        timeout,
        endpoints,
    }))
}

/// An endpoint's `url`: `http://host[:port]/path` (https is not scraped).
fn endpoint_url(loaded: &Loaded, file: usize, u: &Spanned<String>) -> Result<String> {
    let text = u.get_ref();
    let bad = |msg: String| -> Error { loaded.error(file, u.span(), msg).into() };
    let parsed = url::Url::parse(text)
        .map_err(|e| bad(format!("`url`: cannot read `{text}` as a URL ({e})")))?;
    if parsed.scheme() != "http" {
        return Err(loaded
            .error(file, u.span(), format!("`url`: only http:// endpoints are scraped, got `{text}`"))
            .with_help("Prometheus exporters of a system under test usually speak plain HTTP on a private port")
            .into());
    }
    if parsed.host_str().is_none_or(str::is_empty)
        || !parsed.username().is_empty()
        || parsed.password().is_some()
    {
        return Err(bad(format!(
            "`url`: `{text}` needs a host and no user or password"
        )));
    }
    Ok(text.trim_end_matches('#').to_string())
}

/// The gates of one window's `monitor` table: `"api:cpu" = { max = 80, min = 1 }`.
pub(super) fn push_monitor_gates(
    loaded: &Loaded,
    file: usize,
    window: Window,
    raw: Option<&RawMonitorGates>,
    monitor: Option<&MonitorPlan>,
    gates: &mut Vec<Gate>,
) -> Result<()> {
    let keys: Vec<&str> = monitor
        .iter()
        .flat_map(|m| {
            m.endpoints
                .iter()
                .flat_map(|e| e.series.iter().map(|q| q.key.as_str()))
        })
        .collect();
    for (key, g) in raw.into_iter().flatten() {
        if !keys.contains(&key.get_ref().as_str()) {
            let e = loaded.error(
                file,
                key.span(),
                format!("gate on unknown monitor series `{}`", key.get_ref()),
            );
            let e = if monitor.is_none() {
                e.with_help(
                    "a monitor gate names a series of `[monitor]` as ENDPOINT:NAME: add the section, e.g. \
                     [[monitor.endpoint]] name = \"api\" path = \"/metrics\" series = { cpu = \"rate(process_cpu_seconds_total) * 100\" }",
                )
            } else if crate::scenario::error::did_you_mean(key.get_ref(), keys.iter().copied())
                .is_some()
            {
                e.suggest(key.get_ref(), keys.iter().copied())
            } else {
                e.with_help(format!("the monitored series are: {}", keys.join(", ")))
            };
            return Err(e.into());
        }
        let v = g.get_ref();
        if v.max.is_none() && v.min.is_none() {
            return Err(loaded
                .error(
                    file,
                    g.span(),
                    format!(
                        "monitor gate `{}` sets neither `max` nor `min`",
                        key.get_ref()
                    ),
                )
                .with_help("e.g. \"api:cpu\" = { max = 80 }")
                .into());
        }
        for (limit, metric) in [
            (&v.max, GateMetric::MonitorMax),
            (&v.min, GateMetric::MonitorMin),
        ] {
            let Some(limit) = limit else { continue };
            let t = *limit.get_ref();
            if !t.is_finite() || t < 0.0 {
                return Err(loaded
                    .error(
                        file,
                        limit.span(),
                        format!("a monitor gate's limit is a number at least 0, got {t}"),
                    )
                    .into());
            }
            gates.push(Gate {
                scope: Some(key.get_ref().clone()),
                window,
                metric,
                threshold: t,
                skip: None,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_parse_names_matchers_rates_and_factors() {
        let (s, rate, f) = parse_query("process_cpu_seconds_total").expect("plain");
        assert_eq!(
            (s.name.as_str(), rate, f, s.matchers.len()),
            ("process_cpu_seconds_total", false, 1.0, 0)
        );
        let (s, rate, f) = parse_query(
            r#" rate( http_requests_total{route="/a\"b", code!='500',method=~"GET|POST"} ) * 100 "#,
        )
        .expect("rate");
        assert!(rate);
        assert_eq!(f, 100.0);
        assert_eq!(s.matchers.len(), 3);
        assert_eq!(s.matchers[0].value, "/a\"b");
        assert_eq!(s.matchers[1].op, MatchOp::Ne);
        let l = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert!(s.matches(
            "http_requests_total",
            &l(&[("route", "/a\"b"), ("code", "200"), ("method", "GET")])
        ));
        assert!(!s.matches(
            "http_requests_total",
            &l(&[("route", "/a\"b"), ("code", "500"), ("method", "GET")])
        ));
        // Regexes are anchored: `GET|POST` does not match `GETX`.
        assert!(!s.matches(
            "http_requests_total",
            &l(&[("route", "/a\"b"), ("method", "GETX")])
        ));
        assert!(!s.matches("other", &l(&[("route", "/a\"b"), ("method", "GET")])));
        // A metric named `rate` is a metric, not a function.
        assert!(!parse_query("rate").expect("a name").1);
    }

    #[test]
    fn bad_queries_say_where() {
        for (q, at, word) in [
            ("", 0, "metric name"),
            ("x{a=1}", 4, "quoted"),
            ("x{a=\"1\"", 7, "`,` or `}`"),
            ("rate(x", 6, "`)`"),
            ("x * abc", 4, "number"),
            ("x{a=~\"(\"}", 5, "regex"),
            ("x y", 2, "unexpected"),
            ("x{a>\"1\"}", 3, "`=`"),
        ] {
            let (pos, msg) = parse_query(q).expect_err(q);
            assert_eq!(pos, at, "{q}: {msg}");
            assert!(msg.contains(word), "{q}: {msg}");
        }
    }
}

#[cfg(test)]
mod resolve_tests {
    use super::*;
    use crate::plan::{Overrides, RunPlan, resolve};

    const BASE: &str = "name = \"m\"\n[target]\nhost = \"http://127.0.0.1:9\"\n[load]\nusers = 4\nspawn_rate = 1\n\
                        duration = \"10s\"\n[[task]]\nname = \"a\"\npath = \"/\"\n";

    fn plan(text: &str) -> std::result::Result<RunPlan, String> {
        let loaded =
            crate::scenario::load_str(std::path::Path::new("m.toml"), format!("{BASE}{text}"))
                .map_err(|e| e.to_string())?;
        resolve(&loaded, &Overrides::default()).map_err(|e| e.to_string())
    }

    #[test]
    fn endpoints_series_and_gates_resolve() {
        let p = plan(
            "[monitor]\ninterval = \"2s\"\n[[monitor.endpoint]]\nname = \"api\"\npath = \"/metrics\"\n\
             series = [\"up\", \"rate(x_total)\"]\n[[monitor.endpoint]]\nname = \"redis\"\n\
             url = \"http://127.0.0.1:9121/metrics\"\nseries = { clients = \"redis_connected_clients\" }\n\
             [gates.monitor]\n\"redis:clients\" = { max = 50, min = 1 }\n[gates.steady.monitor]\n\"api:up\" = { min = 1 }\n",
        )
        .expect("a plan");
        let m = p.monitor.as_ref().expect("monitor");
        assert_eq!(
            (m.interval, m.timeout),
            (Duration::from_secs(2), Duration::from_millis(1600))
        );
        assert_eq!(m.endpoints[0].at.url("http://h:1"), "http://h:1/metrics");
        assert_eq!(
            m.endpoints[1].at.url("http://h:1"),
            "http://127.0.0.1:9121/metrics"
        );
        let keys: Vec<&str> = m
            .endpoints
            .iter()
            .flat_map(|e| e.series.iter().map(|q| q.key.as_str()))
            .collect();
        assert_eq!(keys, ["api:up", "api:rate(x_total)", "redis:clients"]);
        let gates: Vec<(Option<&str>, Window, GateMetric, f64)> = p
            .gates
            .iter()
            .map(|g| (g.scope.as_deref(), g.window, g.metric, g.threshold))
            .collect();
        assert_eq!(
            gates,
            [
                (
                    Some("redis:clients"),
                    Window::Run,
                    GateMetric::MonitorMax,
                    50.0
                ),
                (
                    Some("redis:clients"),
                    Window::Run,
                    GateMetric::MonitorMin,
                    1.0
                ),
                (Some("api:up"), Window::Steady, GateMetric::MonitorMin, 1.0),
            ]
        );
    }

    #[test]
    fn mistakes_are_located() {
        let ep = |body: &str| format!("[monitor]\n[[monitor.endpoint]]\nname = \"api\"\n{body}\n");
        for (text, line, message) in [
            (
                ep("path = \"/m\"\nurl = \"http://x/m\"\nseries = [\"up\"]"),
                13,
                "either `url` or `path`",
            ),
            (
                ep("path = \"m\"\nseries = [\"up\"]"),
                14,
                "must start with `/`",
            ),
            (ep("path = \"/m\"\nseries = []"), 15, "keeps no series"),
            (
                ep("path = \"/m\"\nseries = [\"up\", \"up\"]"),
                15,
                "listed twice",
            ),
            (ep("path = \"/m\"\nseries = 3"), 15, "a list of queries"),
            (
                format!("{}timeout = \"1s\"\n", "[monitor]\n"),
                12,
                "shorter than the interval",
            ),
            ("[monitor]\n".to_string(), 0, "has no endpoint"),
        ] {
            let e = plan(&text).expect_err(&text);
            assert!(e.contains(message), "{text}\n{e}");
            if line > 0 {
                assert!(e.contains(&format!("m.toml:{line}:")), "{text}\n{e}");
            }
        }
    }
}
