//! The Prometheus text exposition format (version 0.0.4), read just enough to pick samples: `# HELP` and
//! `# TYPE` lines and comments skipped, each sample line read as `name{label="value",...} value [timestamp]`
//! (label values with `\\`, `\"` and `\n` escapes; `NaN`, `+Inf`, `-Inf` as values). A line that cannot be read
//! is skipped (one bad line of an exporter must not hide the rest); how many were is counted.

/// One sample: metric name, labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// The samples of a scrape, and how many lines could not be read.
pub fn parse(text: &str) -> (Vec<Sample>, usize) {
    let mut samples = Vec::new();
    let mut bad = 0;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match sample(line) {
            Some(s) => samples.push(s),
            None => bad += 1,
        }
    }
    (samples, bad)
}

fn is_name_char(c: char, first: bool) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':' || (!first && c.is_ascii_digit())
}

fn sample(line: &str) -> Option<Sample> {
    let end = line
        .char_indices()
        .find(|&(i, c)| !is_name_char(c, i == 0))
        .map_or(line.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    let name = line[..end].to_string();
    let mut rest = &line[end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        rest = r;
        loop {
            rest = rest.trim_start();
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let lend = rest
                .char_indices()
                .find(|&(i, c)| {
                    !(c.is_ascii_alphabetic() || c == '_' || (i > 0 && c.is_ascii_digit()))
                })
                .map_or(rest.len(), |(i, _)| i);
            if lend == 0 {
                return None;
            }
            let label = rest[..lend].to_string();
            rest = rest[lend..]
                .trim_start()
                .strip_prefix('=')?
                .trim_start()
                .strip_prefix('"')?;
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let close = loop {
                let (i, c) = chars.next()?;
                match c {
                    '\\' => {
                        let (_, e) = chars.next()?;
                        value.push(if e == 'n' { '\n' } else { e });
                    }
                    '"' => break i,
                    c => value.push(c),
                }
            };
            labels.push((label, value));
            rest = rest[close + 1..].trim_start();
            if let Some(r) = rest.strip_prefix(',') {
                rest = r;
            }
        }
    }
    let mut fields = rest.split_whitespace();
    let value = number(fields.next()?)?;
    // An optional timestamp, then nothing.
    if let Some(ts) = fields.next() {
        ts.parse::<i64>().ok()?;
    }
    if fields.next().is_some() {
        return None;
    }
    Some(Sample {
        name,
        labels,
        value,
    })
}

fn number(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        s => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_samples_labels_escapes_and_special_values() {
        let text = "# HELP x A help line.\n# TYPE x counter\nx 12.5\n\
                    http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n\
                    weird{path=\"/a\\\"b\\\\c\\nd\", } +Inf\n\
                    h_bucket{le=\"0.5\"} 3e2\nnan_one NaN\n\n  # a comment\nbroken{a=\"x} 1\n{} 2\nx 1 2 3\n";
        let (s, bad) = parse(text);
        assert_eq!(bad, 3, "{s:?}");
        assert_eq!(s.len(), 5);
        assert_eq!(
            s[0],
            Sample {
                name: "x".into(),
                labels: vec![],
                value: 12.5
            }
        );
        assert_eq!(
            s[1].labels,
            [
                ("method".into(), "post".into()),
                ("code".into(), "200".into())
            ]
        );
        assert_eq!(s[1].value, 1027.0);
        assert_eq!(s[2].labels, [("path".into(), "/a\"b\\c\nd".into())]);
        assert!(s[2].value.is_infinite());
        assert_eq!(s[3].value, 300.0);
        assert!(s[4].value.is_nan());
    }
}
