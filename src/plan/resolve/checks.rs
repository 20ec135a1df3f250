//! Resolution of a request's `expect` (status and checks, issue 18 item 1) and `capture` (issue 18 item 2):
//! JSON paths parsed, regexes compiled, templates compiled against the names that exist, each error located.

use super::*;
use crate::plan::checks::{Check, HeaderCheck, Length, Pick, Regex};
use crate::scenario::RawExpect;

/// The largest compiled size of one regex (the regex crate's default is 10 MiB per regex; scenarios need far less).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Compiles `source` (found in the value at `span`) into a regex, or a located error with the regex crate's reason.
pub(super) fn regex(
    loaded: &Loaded,
    file: usize,
    span: Range<usize>,
    source: &str,
    what: &str,
) -> Result<Regex> {
    regex::bytes::RegexBuilder::new(source)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map(|re| Regex {
            re,
            source: source.to_string(),
        })
        .map_err(|e| {
            // The regex crate's message spans several lines with a caret; its last line says what is wrong.
            let why = e.to_string();
            let why = why
                .lines()
                .rev()
                .find(|l| l.starts_with("error:"))
                .map_or(why.as_str(), |l| l.trim_start_matches("error:").trim())
                .to_string();
            loaded
                .error_in(file, span, source, format!("{what}: invalid regex `{source}`: {why}"))
                .with_help("regexes use Rust's syntax (https://docs.rs/regex); in TOML, write them in single quotes: '\\d+'")
                .into()
        })
}

/// A string or a list of strings, each with the span it is found in.
fn strings<'v>(
    loaded: &Loaded,
    file: usize,
    v: &'v Spanned<toml::Value>,
    what: &str,
) -> Result<Vec<&'v str>> {
    let bad = || -> Error {
        loaded
            .error(
                file,
                v.span(),
                format!("`{what}` takes a string or a list of strings"),
            )
            .into()
    };
    match v.get_ref() {
        toml::Value::String(s) => Ok(vec![s.as_str()]),
        toml::Value::Array(items) if !items.is_empty() => {
            items.iter().map(|i| i.as_str().ok_or_else(bad)).collect()
        }
        _ => Err(bad()),
    }
}

fn path(loaded: &Loaded, file: usize, span: Range<usize>, p: &str, what: &str) -> Result<JsonPath> {
    JsonPath::parse(p).map_err(|(_, m)| {
        loaded
            .error_in(file, span, p, format!("{what}: bad JSON path `{p}`: {m}"))
            .with_help("a JSON path is written like \"$.access_token\", \"$.items[0].id\", \"$.items[*].id\" or \"$['odd key']\"")
            .into()
    })
}

/// The status list and the checks of `expect`.
pub(super) fn resolve_expect(
    loaded: &Loaded,
    file: usize,
    e: &RawExpect,
    names: &Names,
) -> Result<(Option<Vec<u16>>, Vec<Check>)> {
    let status = e
        .status
        .as_ref()
        .map(|list| status_list(loaded, file, list, "expect.status"))
        .transpose()?;
    let mut checks = Vec::new();
    let tpl = |span: Range<usize>, s: &str| compile(loaded, file, span, s, names);
    for (key, value) in [
        ("body_contains", &e.body_contains),
        ("body_not_contains", &e.body_not_contains),
    ] {
        let Some(v) = value else { continue };
        for s in strings(loaded, file, v, &format!("expect.{key}"))? {
            if s.is_empty() {
                return Err(loaded
                    .error(
                        file,
                        v.span(),
                        format!("`expect.{key}`: an empty text always occurs"),
                    )
                    .into());
            }
            let t = tpl(v.span(), s)?;
            checks.push(if key == "body_contains" {
                Check::BodyContains(t)
            } else {
                Check::BodyNotContains(t)
            });
        }
    }
    if let Some(v) = &e.body_regex {
        for s in strings(loaded, file, v, "expect.body_regex")? {
            checks.push(Check::BodyRegex(regex(
                loaded,
                file,
                v.span(),
                s,
                "expect.body_regex",
            )?));
        }
    }
    for (p, value) in e.json.iter().flatten() {
        let jp = path(loaded, file, value.span(), p, "`expect.json`")?;
        let want = json_template(loaded, file, value.span(), value.get_ref(), names)?;
        checks.push(Check::Json(jp, want));
    }
    for (key, list) in [
        ("json_exists", &e.json_exists),
        ("json_absent", &e.json_absent),
    ] {
        for p in list.iter().flat_map(|l| l.get_ref()) {
            let jp = path(
                loaded,
                file,
                p.span(),
                p.get_ref(),
                &format!("`expect.{key}`"),
            )?;
            checks.push(if key == "json_exists" {
                Check::JsonExists(jp)
            } else {
                Check::JsonAbsent(jp)
            });
        }
    }
    for (p, value) in e.json_length.iter().flatten() {
        let jp = path(loaded, file, value.span(), p, "`expect.json_length`")?;
        let help =
            "write a length (\"$.items\" = 10) or bounds (\"$.items\" = { min = 1, max = 50 })";
        let bad =
            |m: String| -> Error { loaded.error(file, value.span(), m).with_help(help).into() };
        let count = |v: &toml::Value, what: &str| -> Result<u64> {
            match v.as_integer() {
                Some(n) if n >= 0 => Ok(n as u64),
                _ => Err(bad(format!(
                    "`expect.json_length` {p}: `{what}` must be a whole number >= 0"
                ))),
            }
        };
        let length = match value.get_ref() {
            toml::Value::Integer(_) => {
                let n = count(value.get_ref(), "length")?;
                Length { min: n, max: n }
            }
            toml::Value::Table(t) => {
                if let Some(k) = t.keys().find(|k| *k != "min" && *k != "max") {
                    return Err(loaded
                        .error(file, value.span(), format!("`expect.json_length` {p}: unknown key `{k}`, expected `min` or `max`"))
                        .suggest(k, ["min", "max"])
                        .into());
                }
                let min = t
                    .get("min")
                    .map(|v| count(v, "min"))
                    .transpose()?
                    .unwrap_or(0);
                let max = t
                    .get("max")
                    .map(|v| count(v, "max"))
                    .transpose()?
                    .unwrap_or(u64::MAX);
                if t.is_empty() || min > max {
                    return Err(bad(format!(
                        "`expect.json_length` {p}: give `min` <= `max`"
                    )));
                }
                Length { min, max }
            }
            _ => return Err(bad(format!("`expect.json_length` {p}: not a length"))),
        };
        checks.push(Check::JsonLength(jp, length));
    }
    for (h, value) in e.headers.iter().flatten() {
        let name = HeaderName::from_bytes(h.as_bytes()).map_err(|_| {
            loaded.error(
                file,
                value.span(),
                format!("`expect.headers`: `{h}` is not a valid header name"),
            )
        })?;
        let help = "a header check is true (present), false (absent), a text it equals, or { regex = \"...\" }";
        let check = match value.get_ref() {
            toml::Value::Boolean(true) => HeaderCheck::Present,
            toml::Value::Boolean(false) => HeaderCheck::Absent,
            toml::Value::String(s) => HeaderCheck::Equals(tpl(value.span(), s)?),
            toml::Value::Table(t) if t.len() == 1 && t.contains_key("regex") => {
                match t.get("regex") {
                    Some(toml::Value::String(r)) => HeaderCheck::Matches(regex(
                        loaded,
                        file,
                        value.span(),
                        r,
                        "expect.headers",
                    )?),
                    _ => {
                        return Err(loaded
                            .error(
                                file,
                                value.span(),
                                format!("`expect.headers` {h}: `regex` takes a string"),
                            )
                            .into());
                    }
                }
            }
            toml::Value::Table(t) => {
                let k = t.keys().find(|k| *k != "regex").map_or("", String::as_str);
                return Err(loaded
                    .error(
                        file,
                        value.span(),
                        format!("`expect.headers` {h}: unknown key `{k}`"),
                    )
                    .with_help(help)
                    .suggest(k, ["regex"])
                    .into());
            }
            _ => {
                return Err(loaded
                    .error(
                        file,
                        value.span(),
                        format!("`expect.headers` {h}: not a header check"),
                    )
                    .with_help(help)
                    .into());
            }
        };
        checks.push(Check::Header(name, check));
    }
    if let Some(v) = &e.max_ms {
        let ms = match v.get_ref() {
            toml::Value::Integer(i) => *i as f64,
            toml::Value::Float(f) => *f,
            _ => -1.0,
        };
        if !(ms > 0.0 && ms <= MAX_DURATION.as_secs_f64() * 1000.0) {
            return Err(loaded
                .error(
                    file,
                    v.span(),
                    "`expect.max_ms` must be a number of milliseconds above 0, e.g. max_ms = 500",
                )
                .into());
        }
        checks.push(Check::MaxTime(Duration::from_secs_f64(ms / 1000.0), ms));
    }
    Ok((status, checks))
}

/// One capture: `name = "$.path"` or `name = { json | header | regex | cookie = "...", pick, default, group }`.
pub(super) fn resolve_capture(
    loaded: &Loaded,
    file: usize,
    name: &str,
    slot: usize,
    v: &Spanned<toml::Value>,
) -> Result<Capture> {
    const SOURCES: [&str; 4] = ["json", "header", "regex", "cookie"];
    const KEYS: [&str; 7] = [
        "json", "header", "regex", "cookie", "pick", "default", "group",
    ];
    let help = "write token = \"$.access_token\", or a table: { json = \"$.items[*].id\", pick = \"random\" }, { regex = 'name=\"csrf\" value=\"([^\"]+)\"' }, { header = \"X-Request-Id\" }, { cookie = \"session\" }; with default = \"...\" when it may find nothing";
    let span = v.span();
    let err = |m: String| -> Error { loaded.error(file, span.clone(), m).with_help(help).into() };
    let table = match v.get_ref() {
        toml::Value::String(p) => {
            return Ok(Capture {
                name: name.to_string(),
                slot,
                source: CaptureSource::Json(path(
                    loaded,
                    file,
                    span.clone(),
                    p,
                    &format!("capture `{name}`"),
                )?),
                pick: Pick::First,
                default: None,
            });
        }
        toml::Value::Table(t) => t,
        _ => {
            return Err(err(format!(
                "capture `{name}`: a capture is a JSON path or a table"
            )));
        }
    };
    if let Some(k) = table.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(loaded
            .error(
                file,
                span.clone(),
                format!(
                    "capture `{name}`: unknown key `{k}`; expected one of {}",
                    KEYS.join(", ")
                ),
            )
            .with_help(help)
            .suggest(k, KEYS)
            .into());
    }
    let given: Vec<&str> = SOURCES
        .iter()
        .copied()
        .filter(|s| table.contains_key(*s))
        .collect();
    let source_key = match given.as_slice() {
        [one] => *one,
        [] => {
            return Err(err(format!(
                "capture `{name}`: say where from, with one of {}",
                SOURCES.join(", ")
            )));
        }
        _ => {
            return Err(err(format!(
                "capture `{name}`: one source only, not {}",
                given.join(" and ")
            )));
        }
    };
    let Some(text) = table.get(source_key).and_then(toml::Value::as_str) else {
        return Err(err(format!(
            "capture `{name}`: `{source_key}` takes a string"
        )));
    };
    let group = match table.get("group") {
        None => None,
        Some(g) if source_key != "regex" => {
            let _ = g;
            return Err(err(format!(
                "capture `{name}`: `group` applies to a regex capture"
            )));
        }
        Some(g) => match g.as_integer() {
            Some(n) if n >= 0 => Some(n as usize),
            _ => {
                return Err(err(format!(
                    "capture `{name}`: `group` is a group number (0: the whole match)"
                )));
            }
        },
    };
    let source = match source_key {
        "json" => CaptureSource::Json(path(
            loaded,
            file,
            span.clone(),
            text,
            &format!("capture `{name}`"),
        )?),
        "header" => {
            CaptureSource::Header(HeaderName::from_bytes(text.as_bytes()).map_err(|_| {
                err(format!(
                    "capture `{name}`: `{text}` is not a valid header name"
                ))
            })?)
        }
        "cookie" => {
            if text.is_empty() || text.contains([';', '=', ' ', ',']) {
                return Err(err(format!(
                    "capture `{name}`: `{text}` is not a cookie name"
                )));
            }
            CaptureSource::Cookie(text.to_string())
        }
        _ => {
            let re = regex(
                loaded,
                file,
                span.clone(),
                text,
                &format!("capture `{name}`"),
            )?;
            let groups = re.re.captures_len() - 1;
            let group = group.unwrap_or(usize::from(groups > 0));
            if group > groups {
                return Err(err(format!(
                    "capture `{name}`: the regex has {groups} group(s), so there is no group {group}"
                )));
            }
            CaptureSource::Regex(re, group)
        }
    };
    let pick = match table.get("pick") {
        None => Pick::First,
        Some(p) => {
            let s = p.as_str().unwrap_or("");
            Pick::parse(s).ok_or_else(|| -> Error {
                loaded
                    .error(
                        file,
                        span.clone(),
                        format!(
                            "capture `{name}`: unknown pick `{s}`; expected one of {}",
                            Pick::NAMES.join(", ")
                        ),
                    )
                    .suggest(s, Pick::NAMES)
                    .into()
            })?
        }
    };
    let default = match table.get("default") {
        None => None,
        Some(toml::Value::String(s)) => Some(s.clone()),
        Some(toml::Value::Integer(i)) => Some(i.to_string()),
        Some(toml::Value::Float(f)) => Some(f.to_string()),
        Some(toml::Value::Boolean(b)) => Some(b.to_string()),
        Some(_) => {
            return Err(err(format!(
                "capture `{name}`: `default` is a text or a number"
            )));
        }
    };
    Ok(Capture {
        name: name.to_string(),
        slot,
        source,
        pick,
        default,
    })
}
