//! The JSON path subset used by captures and checks: `$.a.b`, `$.items[0].id`, `$['odd key']`, and the
//! wildcards `$.items[*].id` (every item of an array) and `$.prices.*` (every value of an object), which select
//! a list.
//!
//! Paths are parsed when the plan is resolved, so a malformed path is a scenario error with a location, and
//! following one on the request path is a loop over pre-split segments.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
    /// `[*]` or `.*`: every item of an array, every value of an object.
    Wildcard,
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
                    if &s[start..end] == "*" {
                        segments.push(Segment::Wildcard);
                    } else {
                        segments.push(Segment::Key(s[start..end].to_string()));
                    }
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
                    } else if inner == "*" {
                        segments.push(Segment::Wildcard);
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

    /// True when the path has a wildcard, so it selects a list of values.
    pub fn is_wildcard(&self) -> bool {
        self.segments.contains(&Segment::Wildcard)
    }

    /// The value at this path, if there is one (for a wildcard path: the first value it selects).
    pub fn find<'v>(&self, mut value: &'v Value) -> Option<&'v Value> {
        if self.is_wildcard() {
            let mut first = None;
            self.walk(value, 0, &mut |v| {
                first = Some(v);
                false
            });
            return first;
        }
        for seg in &self.segments {
            value = match seg {
                Segment::Key(k) => value.get(k.as_str())?,
                Segment::Index(i) => value.get(*i)?,
                Segment::Wildcard => return None,
            };
        }
        Some(value)
    }

    /// Every value the path selects, in document order (one at most without a wildcard).
    pub fn find_all<'v>(&self, value: &'v Value) -> Vec<&'v Value> {
        let mut all = Vec::new();
        self.walk(value, 0, &mut |v| {
            all.push(v);
            true
        });
        all
    }

    /// Calls `found` with each value selected from segment `at` on; stops when it returns false. Returns false
    /// once stopped.
    fn walk<'v>(
        &self,
        value: &'v Value,
        at: usize,
        found: &mut dyn FnMut(&'v Value) -> bool,
    ) -> bool {
        let Some(seg) = self.segments.get(at) else {
            return found(value);
        };
        match seg {
            Segment::Key(k) => value
                .get(k.as_str())
                .is_none_or(|v| self.walk(v, at + 1, found)),
            Segment::Index(i) => value.get(*i).is_none_or(|v| self.walk(v, at + 1, found)),
            Segment::Wildcard => match value {
                Value::Array(items) => items.iter().all(|v| self.walk(v, at + 1, found)),
                Value::Object(map) => map.values().all(|v| self.walk(v, at + 1, found)),
                _ => true,
            },
        }
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
    fn wildcards_select_every_item_in_order() {
        let v = json!({"items": [{"id": 3}, {"id": 1}, {"name": "no id"}, {"id": "x"}],
                       "prices": {"a": 1, "b": 2}, "nested": [[1, 2], [3]]});
        let p = |s| JsonPath::parse(s).unwrap();
        let ids = p("$.items[*].id");
        assert!(ids.is_wildcard());
        assert_eq!(ids.find_all(&v), vec![&json!(3), &json!(1), &json!("x")]);
        assert_eq!(ids.find(&v), Some(&json!(3)));
        assert_eq!(p("$.prices.*").find_all(&v), vec![&json!(1), &json!(2)]);
        assert_eq!(p("$.nested[*][*]").find_all(&v).len(), 3);
        assert!(p("$.missing[*]").find_all(&v).is_empty());
        assert_eq!(p("$.missing[*]").find(&v), None);
        assert_eq!(p("$.items[1].id").find_all(&v), vec![&json!(1)]);
        assert!(!p("$.items[1].id").is_wildcard());
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
