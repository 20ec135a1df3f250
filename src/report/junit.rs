//! The JUnit XML report (`--junit FILE`): one test suite per run, one test case per quality gate, so CI systems
//! (GitHub test reporters, GitLab, Jenkins) show gate failures as failing tests.
//!
//! A failing gate is a `<failure type="GateFailed">`; an interrupted run adds a failing "run completed" case
//! (`type="Interrupted"`); a run without gates gets one passing "run completed" case so the suite is never
//! empty. Generator warnings go to the suite's `<system-out>`. All text is XML-escaped by [`escape`].
//!
//! A failing gate's details show the requests and failures it was judged on, as the gate recorded them
//! ([`GateResult::requests`]): for a `steady` or stage gate, its window's, never the whole run's.

use std::fmt::Write as _;

use crate::error::Error;
use crate::files::OutputFile;
use crate::gates::GateResult;
use crate::report::RunResults;

/// Escapes `s` for XML 1.0 text and attribute values.
///
/// `&`, `<`, `>`, `"` and `'` become entities; tab, newline and carriage return become character references
/// (so attribute values keep them instead of having them normalised to spaces); other control characters and
/// the non-characters U+FFFE/U+FFFF, which XML 1.0 cannot carry at all, become U+FFFD.
pub fn escape(s: &str) -> String {
    escape_with(s, true)
}

/// Like [`escape`] for element text, where tabs and line breaks may stay as they are (a `\r` is still
/// referenced, since a parser would turn it into a newline).
fn escape_text(s: &str) -> String {
    escape_with(s, false)
}

fn escape_with(s: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' if !attribute => out.push(c),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn scope(g: &GateResult) -> String {
    g.scope_text()
}

/// The suite timestamp as the JUnit schema has it: an ISO 8601 date-time without fraction or zone
/// (`2025-01-02T03:04:05`; loadgen's is UTC). CI tools that validate the report refuse `.678Z`.
fn junit_timestamp(rfc3339: &str) -> &str {
    rfc3339.get(..19).unwrap_or(rfc3339)
}

/// The requests and failures a gate was judged on: those the gate recorded (its window's, for a `steady` or
/// stage gate). A results file from an older loadgen has none; its whole-run gates fall back to the scope's
/// row, and its windowed gates show no counts rather than the whole run's.
fn gate_counts(r: &RunResults, g: &GateResult) -> Option<(u64, u64)> {
    if let (Some(requests), Some(failures)) = (g.requests, g.failures) {
        return Some((requests, failures));
    }
    if g.during != crate::results::Window::Run {
        return None;
    }
    let row = match &g.scope {
        None => Some(&r.aggregated),
        Some(n) => r.requests.iter().find(|q| &q.name == n),
    };
    row.map(|q| (q.requests, q.failures))
}

/// The whole report as a JUnit XML document.
pub fn render(r: &RunResults) -> String {
    let scenario = escape(&r.scenario.name);
    let time = format!("{:.3}", r.duration_s);
    let gates = &r.gates.results;
    let skipped = gates.iter().filter(|g| g.skipped.is_some()).count();
    // "run completed" is a case of its own when the run was cut short (a signal, or a gate with
    // abort_on_fail), or when no gate was judged: then it carries the verdict on the failed requests.
    let judged = gates.len() - skipped;
    let verdict = crate::verdict::Verdict::of(r);
    let unjudged_failure = judged == 0 && verdict.result == crate::verdict::Outcome::Fail;
    let completion_failed = verdict.result == crate::verdict::Outcome::Interrupted
        || r.aborted.is_some()
        || unjudged_failure;
    let completion_case = completion_failed || judged == 0;
    let invalid = !r.validity.valid;
    let tests = gates.len() + usize::from(completion_case) + usize::from(invalid);
    let failures = gates.iter().filter(|g| !g.passed).count()
        + usize::from(completion_failed)
        + usize::from(invalid);

    let mut s = String::new();
    s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        s,
        "<testsuites name=\"loadgen\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" time=\"{time}\">"
    );
    let _ = writeln!(
        s,
        "  <testsuite name=\"loadgen: {scenario}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" \
         skipped=\"{skipped}\" time=\"{time}\" timestamp=\"{}\">",
        escape(junit_timestamp(&r.started_at))
    );
    let classname = format!("loadgen.{scenario}");
    for g in gates {
        let name = format!("{} {} {} {}", scope(g), g.metric, g.op, g.threshold);
        let _ = write!(
            s,
            "    <testcase classname=\"{classname}\" name=\"{}\" time=\"0\"",
            escape(&name)
        );
        if let Some(why) = &g.skipped {
            let _ = writeln!(
                s,
                ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                escape(why)
            );
            continue;
        }
        if g.passed {
            s.push_str("/>\n");
            continue;
        }
        let message = format!(
            "{} measured {} (target {} {})",
            g.metric,
            g.measured_text(),
            g.op,
            g.threshold_text()
        );
        let counts = gate_counts(r, g);
        let mut details = format!(
            "scope: {}\nmetric: {}\ntarget: {} {}\nmeasured: {}",
            scope(g),
            g.metric,
            g.op,
            g.threshold_text(),
            g.measured_text()
        );
        if let Some((requests, failures)) = counts {
            let _ = write!(details, "\nrequests: {requests}, failures: {failures}");
        }
        let _ = writeln!(
            s,
            ">\n      <failure message=\"{}\" type=\"GateFailed\">{}</failure>\n    </testcase>",
            escape(&message),
            escape_text(&details)
        );
    }
    if completion_case {
        let _ = write!(
            s,
            "    <testcase classname=\"{classname}\" name=\"run completed\" time=\"{time}\""
        );
        if r.interrupted {
            let message = format!(
                "run interrupted after {:.1}s of {:.1}s",
                r.duration_s, r.settings.duration_s
            );
            let details = format!(
                "The run was stopped by a signal before its planned duration; the results cover {:.1}s \
                 ({} requests, {} failures).",
                r.duration_s, r.totals.requests, r.totals.failures
            );
            let _ = writeln!(
                s,
                ">\n      <failure message=\"{}\" type=\"Interrupted\">{}</failure>\n    </testcase>",
                escape(&message),
                escape_text(&details)
            );
        } else if r.aborted.is_some() || unjudged_failure {
            let kind = if r.aborted.is_some() {
                "Aborted"
            } else {
                "RequestsFailed"
            };
            let _ = writeln!(
                s,
                ">\n      <failure message=\"{}\" type=\"{kind}\">{}</failure>\n    </testcase>",
                escape(&verdict.reason),
                escape_text(&format!(
                    "{} requests, {} failures",
                    r.totals.requests, r.totals.failures
                ))
            );
        } else {
            s.push_str("/>\n");
        }
    }
    if invalid {
        let _ = writeln!(
            s,
            "    <testcase classname=\"{classname}\" name=\"run valid\" time=\"0\">\n      <failure \
             message=\"the run is invalid: loadgen could not keep its plan\" type=\"InvalidRun\">{}</failure>\n    \
             </testcase>",
            escape_text(&r.validity.reasons.join("\n"))
        );
    }
    if !r.generator.warnings.is_empty() {
        let text: Vec<String> = r
            .generator
            .warnings
            .iter()
            .map(|w| format!("warning: {w}"))
            .collect();
        let _ = writeln!(
            s,
            "    <system-out>{}</system-out>",
            escape_text(&text.join("\n"))
        );
    }
    s.push_str("  </testsuite>\n</testsuites>\n");
    s
}

/// Writes the JUnit report of `r` to `out`, atomically.
pub fn write(out: &OutputFile, r: &RunResults) -> Result<(), Error> {
    Ok(out.write_all(render(r).as_bytes())?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    use crate::results::fixtures::{results, two_gates};

    /// Checks that `xml` is well formed as far as tags go: every opened element is closed, in order, and
    /// there is exactly one root. Returns the element names in document order.
    fn check_balanced(xml: &str) -> Vec<String> {
        let body = xml
            .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
            .expect("XML declaration first");
        let mut stack: Vec<String> = Vec::new();
        let mut names = Vec::new();
        let mut roots = 0;
        let mut rest = body;
        while let Some(i) = rest.find('<') {
            assert!(
                !rest[..i].contains('>'),
                "stray '>' in text: {:?}",
                &rest[..i]
            );
            let end = rest[i..].find('>').expect("unterminated tag") + i;
            let tag = &rest[i + 1..end];
            assert!(!tag.contains('<'), "'<' inside tag {tag:?}");
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
            } else {
                let name: String = tag
                    .chars()
                    .take_while(|c| !c.is_whitespace() && *c != '/')
                    .collect();
                // Attribute values must be quoted and hold no raw quotes of their own (they are escaped).
                assert_eq!(
                    tag.matches('"').count() % 2,
                    0,
                    "unbalanced quotes in {tag:?}"
                );
                if stack.is_empty() {
                    roots += 1;
                }
                names.push(name.clone());
                if !tag.ends_with('/') {
                    stack.push(name);
                }
            }
            rest = &rest[end + 1..];
        }
        assert!(stack.is_empty(), "unclosed: {stack:?}");
        assert_eq!(roots, 1, "one root element");
        // Every '&' starts an entity or a character reference.
        for (i, _) in xml.match_indices('&') {
            let ent = &xml[i..xml[i..].find(';').map_or(xml.len(), |j| i + j + 1)];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].contains(&ent)
                    || (ent.starts_with("&#") && ent[2..ent.len() - 1].parse::<u32>().is_ok()),
                "bad entity {ent:?}"
            );
        }
        names
    }

    #[test]
    fn escape_handles_markup_quotes_and_control_characters() {
        assert_eq!(
            escape(r#"a<b&"c"'d'>"#),
            "a&lt;b&amp;&quot;c&quot;&apos;d&apos;&gt;"
        );
        assert_eq!(escape("x\ty\nz\r"), "x&#9;y&#10;z&#13;");
        assert_eq!(
            escape("bell\u{7}nul\u{0}\u{FFFF}"),
            "bell\u{FFFD}nul\u{FFFD}\u{FFFD}"
        );
        assert_eq!(escape_text("x\ty\nz\r<"), "x\ty\nz&#13;&lt;");
        assert_eq!(escape("plain ünïcode ✓"), "plain ünïcode ✓");
    }

    #[test]
    fn failing_and_passing_gates_are_counted_and_only_the_failing_one_fails() {
        let xml = render(&results("shop", two_gates(), false));
        let names = check_balanced(&xml);
        assert_eq!(names.iter().filter(|n| *n == "testcase").count(), 2);
        assert_eq!(names.iter().filter(|n| *n == "failure").count(), 1);
        assert!(xml.contains(
            r#"<testsuites name="loadgen" tests="2" failures="1" errors="0" time="10.000">"#
        ));
        assert!(xml.contains(
            r#"<testsuite name="loadgen: shop" tests="2" failures="1" errors="0" skipped="0" time="10.000" timestamp="2025-01-02T03:04:05""#
        ));
        // The failure sits inside the p95 case; the success-rate case is self-closing.
        let failing = xml.find(r#"name="all requests p95_ms &lt; 500""#).unwrap();
        let failure = xml.find("<failure ").unwrap();
        let passing = xml
            .find(r#"<testcase classname="loadgen.shop" name="home success_rate &gt;= 99" time="0"/>"#)
            .unwrap();
        assert!(failing < failure && failure < passing, "{xml}");
        assert!(
            xml.contains(
                r#"message="p95_ms measured 612 ms (target &lt; 500 ms)" type="GateFailed""#
            ),
            "{xml}"
        );
        assert!(
            xml.contains(">scope: all requests\nmetric: p95_ms\ntarget: &lt; 500 ms\n"),
            "{xml}"
        );
        assert!(!xml.contains("run completed"), "{xml}");
        assert!(
            xml.contains("<system-out>warning: loadgen&apos;s own CPU"),
            "{xml}"
        );
    }

    #[test]
    fn a_gate_without_requests_says_so() {
        let gates = serde_json::json!([{ "scope": "login", "metric": "p99_ms", "op": "<",
            "threshold": 100.0, "measured": null, "passed": false }]);
        let xml = render(&results("shop", gates, false));
        check_balanced(&xml);
        assert!(
            xml.contains(r#"message="p99_ms measured no requests (target &lt; 100 ms)""#),
            "{xml}"
        );
    }

    /// A `steady` gate reports the requests and failures of its window, which it recorded, not the whole run's
    /// (1500 requests, 10 failures in the fixture); one from an older results file, without them, shows no counts
    /// rather than the whole run's, while a whole-run gate still falls back to its row.
    #[test]
    fn a_windowed_gate_reports_its_windows_counts() {
        let gates = serde_json::json!([
            { "scope": null, "during": "steady", "metric": "p95_ms", "op": "<", "threshold": 500.0,
              "measured": 612.4, "passed": false, "requests": 700, "failures": 0 },
            { "scope": "cart|add", "during": "stage 2", "metric": "success_rate", "op": ">=",
              "threshold": 99.9, "measured": 99.0, "passed": false },
            { "scope": "cart|add", "during": null, "metric": "success_rate", "op": ">=",
              "threshold": 99.9, "measured": 98.0, "passed": false }
        ]);
        let xml = render(&results("shop", gates, false));
        check_balanced(&xml);
        let case = |name: &str| {
            let start = xml
                .find(&format!("name=\"{name}\""))
                .unwrap_or_else(|| panic!("no case {name}\n{xml}"));
            let end = xml[start..].find("</testcase>").unwrap() + start;
            xml[start..end].to_string()
        };
        let steady = case("all requests (steady) p95_ms &lt; 500");
        assert!(steady.contains("\nrequests: 700, failures: 0<"), "{steady}");
        assert!(!steady.contains("1500"), "{steady}");
        let old = case("cart|add (stage 2) success_rate &gt;= 99.9");
        assert!(!old.contains("requests:"), "{old}");
        let whole = case("cart|add success_rate &gt;= 99.9");
        assert!(whole.contains("\nrequests: 500, failures: 10<"), "{whole}");
    }

    #[test]
    fn scenario_names_are_escaped() {
        let xml = render(&results(r#"a<b&"c""#, two_gates(), false));
        check_balanced(&xml);
        assert!(
            xml.contains(r#"<testsuite name="loadgen: a&lt;b&amp;&quot;c&quot;""#),
            "{xml}"
        );
        assert!(xml.contains(r#"classname="loadgen.a&lt;b&amp;&quot;c&quot;""#));
        assert!(!xml.contains(r#"a<b"#));
    }

    #[test]
    fn an_interrupted_run_adds_a_failing_run_completed_case() {
        let xml = render(&results("shop", two_gates(), true));
        let names = check_balanced(&xml);
        assert_eq!(names.iter().filter(|n| *n == "testcase").count(), 3);
        assert!(xml.contains(r#"tests="3" failures="2""#), "{xml}");
        let case = xml.find(r#"name="run completed""#).unwrap();
        let failure = xml[case..].find("<failure ").unwrap() + case;
        assert!(
            xml[failure..].starts_with(
                r#"<failure message="run interrupted after 4.5s of 10.0s" type="Interrupted">"#
            ),
            "{xml}"
        );
    }

    #[test]
    fn a_run_without_gates_has_one_passing_case() {
        let mut r = results("shop", serde_json::json!([]), false);
        r.totals.failures = 0;
        let xml = render(&r);
        let names = check_balanced(&xml);
        assert_eq!(names.iter().filter(|n| *n == "testcase").count(), 1);
        assert!(!names.contains(&"failure".to_string()));
        assert!(xml.contains(r#"tests="1" failures="0""#));
        assert!(
            xml.contains(r#"name="run completed" time="10.000"/>"#),
            "{xml}"
        );
    }

    #[test]
    fn without_gates_failed_requests_fail_the_run_completed_case() {
        let xml = render(&results("shop", serde_json::json!([]), false));
        check_balanced(&xml);
        assert!(xml.contains(r#"tests="1" failures="1""#), "{xml}");
        assert!(
            xml.contains(
                r#"<failure message="no gates; 10 of 1,500 requests failed" type="RequestsFailed">"#
            ),
            "{xml}"
        );
    }

    #[test]
    fn a_skipped_gate_is_a_skipped_case() {
        let gates = serde_json::json!([
            { "scope": "home", "metric": "p95_ms", "op": "<", "threshold": 500.0, "measured": 100.0,
              "passed": true },
            { "scope": "admin", "metric": "p95_ms", "op": "<", "threshold": 500.0, "measured": null,
              "passed": true, "skipped": "request not run: left out by --exclude-tags admin" }
        ]);
        let xml = render(&results("shop", gates, false));
        let names = check_balanced(&xml);
        assert!(names.contains(&"skipped".to_string()), "{xml}");
        assert!(
            xml.contains(r#"tests="2" failures="0" errors="0" skipped="1""#),
            "{xml}"
        );
        assert!(
            xml.contains(
                "<skipped message=\"request not run: left out by --exclude-tags admin\"/>"
            ),
            "{xml}"
        );
    }

    #[test]
    fn write_puts_the_document_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let out = OutputFile::prepare(&dir.path().join("junit.xml"), crate::files::Mode::Replace)
            .unwrap();
        let r = results("shop", two_gates(), false);
        write(&out, &r).unwrap();
        assert_eq!(std::fs::read_to_string(out.path()).unwrap(), render(&r));
    }
}
