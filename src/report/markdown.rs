//! The Markdown summary (`--markdown FILE`), fit for `$GITHUB_STEP_SUMMARY` and pull-request comments: the
//! verdict, the run, the gate table, per-request statistics with the aggregated row last, status codes, the
//! most frequent failures and loadgen's own warnings.
//!
//! Text from the scenario (request names, failure messages) is escaped by [`cell`] so it cannot break a table.

use std::fmt::Write as _;

use crate::error::Error;
use crate::files::OutputFile;
use crate::gates::GateResult;
use crate::report::console::fmt_ms;
use crate::report::{RequestStats, RunResults};

/// How many failure kinds the summary lists.
const TOP_FAILURES: usize = 10;

/// Makes `s` safe inside a table cell: `|` is escaped, line breaks become `<br>`, and `<`, `>` and `&` become
/// entities so a name is shown as written rather than read as HTML.
pub fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '|' => out.push_str("\\|"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push_str("<br>");
                }
            }
            '\n' => out.push_str("<br>"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The verdict ([`crate::verdict`]) with its sign.
fn verdict(r: &RunResults) -> String {
    use crate::verdict::Outcome;
    let v = crate::verdict::Verdict::of(r);
    let sign = match v.result {
        Outcome::Pass => "✅",
        Outcome::Fail => "❌",
        Outcome::Invalid | Outcome::Interrupted => "⚠️",
    };
    format!("{sign} {}", v.result.word())
}

fn target(g: &GateResult) -> String {
    format!("{} {}", g.op, g.threshold_text())
}

fn pct(q: &RequestStats, f: impl Fn(&crate::report::Percentiles) -> f64) -> String {
    q.percentiles_ms
        .as_ref()
        .map_or_else(|| "N/A".into(), |p| fmt_ms(f(p)))
}

/// The whole summary as Markdown.
pub fn render(r: &RunResults) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "## {} — loadgen: {}\n",
        verdict(r),
        cell(&r.scenario.name)
    );
    let _ = writeln!(
        s,
        "**{}** · {} · {:.1}s{} · `{}` · started {}\n",
        cell(&r.scenario.name),
        cell(&r.settings.load_summary()),
        r.duration_s,
        if r.interrupted {
            format!(" of {:.1}s (interrupted)", r.settings.duration_s)
        } else {
            String::new()
        },
        r.settings.host.replace('`', "'"),
        r.started_at
    );
    let _ = writeln!(
        s,
        "{} requests, {} failures ({:.2}% success), {:.1} req/s\n",
        r.totals.requests, r.totals.failures, r.totals.success_rate, r.totals.rps
    );

    let v = crate::verdict::Verdict::of(r);
    let _ = writeln!(s, "**Result: {}** ({})\n", v.result.word(), cell(&v.reason));

    s.push_str("### Quality gates\n\n");
    if r.gates.results.is_empty() {
        s.push_str("No gates defined.\n\n");
    } else {
        s.push_str("| gate | target | measured | result |\n|---|---|---|---|\n");
        for g in &r.gates.results {
            let _ = writeln!(
                s,
                "| {} {} | {} | {} | {} |",
                cell(&g.scope_text()),
                g.metric,
                target(g),
                match &g.skipped {
                    Some(_) => "—".to_string(),
                    None => g.measured_text(),
                },
                match &g.skipped {
                    Some(why) => format!("⏭️ skipped: {}", cell(why)),
                    None if g.passed => "✅ pass".into(),
                    None => "❌ fail".into(),
                }
            );
        }
        s.push('\n');
    }

    s.push_str("### Requests\n\n");
    s.push_str(
        "| name | method | requests | failures | rps | p50 | p95 | p99 |\n\
         |---|---|--:|--:|--:|--:|--:|--:|\n",
    );
    let row = |s: &mut String, q: &RequestStats, bold: bool| {
        let b = if bold { "**" } else { "" };
        let _ = writeln!(
            s,
            "| {b}{}{b} | {} | {b}{}{b} | {b}{}{b} | {b}{:.1}{b} | {b}{}{b} | {b}{}{b} | {b}{}{b} |",
            cell(&q.name),
            cell(&q.method),
            q.requests,
            q.failures,
            q.rps,
            pct(q, |p| p.p50),
            pct(q, |p| p.p95),
            pct(q, |p| p.p99),
        );
    };
    for q in &r.requests {
        row(&mut s, q, false);
    }
    row(&mut s, &r.aggregated, true);
    s.push_str("\nLatencies in ms.\n\n");

    if !r.aggregated.status_codes.is_empty() {
        let codes: Vec<String> = r
            .aggregated
            .status_codes
            .iter()
            .map(|(c, n)| format!("`{c}`: {n}"))
            .collect();
        let _ = writeln!(s, "**Status codes:** {}\n", codes.join(", "));
    }

    if !r.failures.is_empty() {
        s.push_str("### Failures\n\n");
        s.push_str("| occurrences | method | name | kind | message |\n|--:|---|---|---|---|\n");
        for f in r.failures.iter().take(TOP_FAILURES) {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                f.occurrences,
                cell(&f.method),
                cell(&f.name),
                f.kind.as_str(),
                cell(&f.message)
            );
        }
        if r.failures.len() > TOP_FAILURES {
            let _ = writeln!(
                s,
                "\n… and {} more kinds (see the JSON results).",
                r.failures.len() - TOP_FAILURES
            );
        }
        s.push('\n');
    }

    if !r.generator.warnings.is_empty() {
        for w in &r.generator.warnings {
            let _ = writeln!(s, "> ⚠️ **warning:** {}", w.replace('\n', " "));
            s.push_str(">\n");
        }
        // Drop the trailing empty quote line.
        s.truncate(s.len() - 2);
        s.push('\n');
    }
    s
}

/// Writes the Markdown summary of `r` to `out`, atomically.
pub fn write(out: &OutputFile, r: &RunResults) -> Result<(), Error> {
    Ok(out.write_all(render(r).as_bytes())?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::results::fixtures::{results, two_gates};

    #[test]
    fn cell_escapes_pipes_and_line_breaks() {
        assert_eq!(cell("a|b"), "a\\|b");
        assert_eq!(
            cell("one\ntwo\r\nthree\rfour"),
            "one<br>two<br>three<br>four"
        );
        assert_eq!(cell("<b>&"), "&lt;b&gt;&amp;");
    }

    #[test]
    fn gate_table_and_aggregated_row_are_present() {
        let md = render(&results("shop", two_gates(), false));
        assert!(
            md.contains("| gate | target | measured | result |\n|---|---|---|---|\n"),
            "{md}"
        );
        assert!(
            md.contains("| all requests p95_ms | < 500 ms | 612 ms | ❌ fail |"),
            "{md}"
        );
        assert!(
            md.contains("| home success_rate | >= 99% | 100.00% | ✅ pass |"),
            "{md}"
        );
        // Aggregated is the last row of the request table, in bold.
        let agg = md
            .find("| **Aggregated** |  | **1500** | **10** | **150.0** | **12.0** | **612** | **812** |")
            .unwrap();
        let post = md.find("| POST |").unwrap();
        assert!(post < agg, "{md}");
        assert!(
            md[agg..].split("\n\n").next().unwrap().lines().count() == 1,
            "{md}"
        );
        assert!(
            md.contains("**Status codes:** `200`: 1490, `500`: 10"),
            "{md}"
        );
        assert!(md.contains("> ⚠️ **warning:** loadgen's own CPU"), "{md}");
    }

    #[test]
    fn a_pipe_in_a_request_name_is_escaped() {
        let md = render(&results("shop", two_gates(), false));
        assert!(md.contains("| cart\\|add | POST |"), "{md}");
        assert!(md.contains("| 10 | POST | cart\\|add | status |"), "{md}");
        assert!(!md.contains(" cart|add"), "{md}");
    }

    #[test]
    fn the_verdict_follows_the_gates_and_the_interrupt() {
        let fail = render(&results("shop", two_gates(), false));
        assert!(fail.starts_with("## ❌ FAIL — loadgen: shop\n"), "{fail}");
        assert!(
            fail.contains("**Result: FAIL** (1 of 2 gates failed)"),
            "{fail}"
        );

        let passing = serde_json::json!([{ "scope": null, "metric": "p95_ms", "op": "<",
            "threshold": 1000.0, "measured": 612.4, "passed": true }]);
        let pass = render(&results("shop", passing, false));
        assert!(pass.starts_with("## ✅ PASS — loadgen: shop\n"), "{pass}");
        assert!(
            pass.contains("**Result: PASS** (the gate passed)"),
            "{pass}"
        );

        // Without gates, the failed requests decide (fail_on_errors).
        let none = render(&results("shop", serde_json::json!([]), false));
        assert!(none.starts_with("## ❌ FAIL"), "{none}");
        assert!(none.contains("No gates defined."));
        assert!(
            none.contains("(no gates; 10 of 1,500 requests failed)"),
            "{none}"
        );

        let cut = render(&results("shop", two_gates(), true));
        assert!(
            cut.starts_with("## ⚠️ INTERRUPTED — loadgen: shop\n"),
            "{cut}"
        );
        assert!(cut.contains("4.5s of 10.0s (interrupted)"), "{cut}");
    }

    #[test]
    fn only_the_top_failures_are_listed() {
        let mut r = results("shop", two_gates(), false);
        let f = r.failures[0].clone();
        r.failures = (0..13)
            .map(|i| {
                let mut f = f.clone();
                f.message = format!("reason {i}");
                f
            })
            .collect();
        let md = render(&r);
        assert!(md.contains("reason 9 |"));
        assert!(!md.contains("reason 10 |"), "{md}");
        assert!(md.contains("… and 3 more kinds"), "{md}");
    }
}
