//! The JSON path subset used by captures: `$.a.b`, `$.items[0].id`, `$['odd key']`.
//!
//! Paths are parsed when the plan is resolved, so a malformed path is a scenario error with a location, and
//! following one on the request path is a loop over pre-split segments.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// A parsed JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    segments: Vec<Segment>,
    source: String,
}

impl JsonPath {
    /// Parses `s`; the error says what was expected and at which character offset.
    pub fn parse(s: &str) -> Result<JsonPath, (usize, String)> {
        let bytes = s.as_bytes();
        if bytes.first() != Some(&b'$') {
            return Err((
                0,
                "a JSON path starts with `$`, e.g. `$.access_token`".into(),
            ));
        }
        let mut segments = Vec::new();
        let mut i = 1;
        while i < bytes.len() {
            match bytes[i] {
                b'.' => {
                    let start = i + 1;
                    let mut end = start;
                    while end < bytes.len() && bytes[end] != b'.' && bytes[end] != b'[' {
                        end += 1;
                    }
                    if end == start {
                        return Err((i, "expected a field name after `.`".into()));
                    }
                    segments.push(Segment::Key(s[start..end].to_string()));
                    i = end;
                }
                b'[' => {
                    let close = s[i..]
                        .find(']')
                        .map(|c| i + c)
                        .ok_or((i, "unclosed `[`".to_string()))?;
                    let inner = s[i + 1..close].trim();
                    let quoted = inner.len() >= 2
                        && ((inner.starts_with('\'') && inner.ends_with('\''))
                            || (inner.starts_with('"') && inner.ends_with('"')));
                    if quoted {
                        segments.push(Segment::Key(inner[1..inner.len() - 1].to_string()));
                    } else {
                        let index = inner.parse::<usize>().map_err(|_| {
                            (
                                i,
                                format!("expected an index or a quoted key inside `[{inner}]`"),
                            )
                        })?;
                        segments.push(Segment::Index(index));
                    }
                    i = close + 1;
                }
                _ => {
                    return Err((
                        i,
                        format!(
                            "unexpected `{}`: expected `.field` or `[index]`",
                            &s[i..].chars().next().unwrap_or(' ')
                        ),
                    ));
                }
            }
        }
        if segments.is_empty() {
            return Err((
                0,
                "the path `$` selects the whole body; name a field, e.g. `$.token`".into(),
            ));
        }
        Ok(JsonPath {
            segments,
            source: s.to_string(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The value at this path, if there is one.
    pub fn find<'v>(&self, mut value: &'v Value) -> Option<&'v Value> {
        for seg in &self.segments {
            value = match seg {
                Segment::Key(k) => value.get(k.as_str())?,
                Segment::Index(i) => value.get(*i)?,
            };
        }
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn follows_keys_indexes_and_quoted_keys() {
        let v = json!({"a": {"b": [10, {"c d": "x"}]}, "access_token": "t"});
        let p = |s| JsonPath::parse(s).unwrap();
        assert_eq!(p("$.access_token").find(&v), Some(&json!("t")));
        assert_eq!(p("$.a.b[0]").find(&v), Some(&json!(10)));
        assert_eq!(p("$.a.b[1]['c d']").find(&v), Some(&json!("x")));
        assert_eq!(p("$.a.missing").find(&v), None);
        assert_eq!(p("$.a.b[9]").find(&v), None);
    }

    #[test]
    fn rejects_malformed_paths_with_offsets() {
        assert_eq!(JsonPath::parse("access_token").unwrap_err().0, 0);
        assert_eq!(JsonPath::parse("$..x").unwrap_err().0, 1);
        assert!(JsonPath::parse("$.a[x]").unwrap_err().1.contains("index"));
        assert!(JsonPath::parse("$.a[0").unwrap_err().1.contains("unclosed"));
        assert!(JsonPath::parse("$").is_err());
        assert!(JsonPath::parse("$a").is_err());
    }
}
