//! The combined report in Markdown (`suite --markdown`, `report A.json B.json --markdown`), fit for
//! `$GITHUB_STEP_SUMMARY`: the levels side by side, the gates that failed, when each level first crossed its
//! gates, and the slowest and most failing endpoints. Text from scenarios goes through the run summary's
//! [`cell`] escaping.

use std::fmt::Write as _;

use super::{Combined, Crossing, Endpoint};
use crate::report::console::fmt_ms;
use crate::report::markdown::cell;

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "N/A".into(), fmt_ms)
}

fn sign(verdict: &str) -> &'static str {
    match verdict {
        "PASS" => "✅",
        "FAIL" => "❌",
        _ => "⚠️",
    }
}

fn crossing(c: &Crossing, unit: &str) -> String {
    match (&c.threshold, &c.at) {
        (None, _) => "no gate".into(),
        (Some(_), None) => "never".into(),
        (Some(t), Some(a)) => format!(
            "at {:.0} s ({}{unit} vs {t}{unit}), {} users{}{}",
            a.elapsed_s,
            fmt_ms(a.measured),
            a.users,
            a.target_rate
                .map(|r| format!(", {r:.1}/s planned"))
                .unwrap_or_default(),
            if a.generator_saturated {
                format!("; **loadgen saturated** (lag {} ms)", fmt_ms(a.lag_ms))
            } else {
                "; loadgen not saturated".into()
            }
        ),
    }
}

fn endpoints(s: &mut String, rows: &[(Option<&str>, &Endpoint)]) {
    let with_run = rows.iter().any(|(r, _)| r.is_some());
    let _ = writeln!(
        s,
        "| {}endpoint | requests | failures | failure rate | p95 ms | failure kinds |\n|{}---|---:|---:|---:|---:|---|",
        if with_run { "level | " } else { "" },
        if with_run { "---|" } else { "" }
    );
    for (run, e) in rows {
        let kinds = e
            .failure_kinds
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            s,
            "| {}{} {} | {} | {} | {:.2}% | {} | {} |",
            run.map(|r| format!("{} | ", cell(r))).unwrap_or_default(),
            cell(&e.method),
            cell(&e.name),
            e.requests,
            e.failures,
            e.failure_pct,
            ms(e.p95_ms),
            if kinds.is_empty() {
                "—".into()
            } else {
                cell(&kinds)
            }
        );
    }
}

/// The Markdown of `c`.
pub fn render(c: &Combined) -> String {
    let mut s = String::new();
    let names: Vec<&str> = c.runs.iter().map(|r| r.name.as_str()).collect();
    let _ = writeln!(
        s,
        "## loadgen suite: {}\n\n{} of {} run{} passed · exit code {}\n",
        cell(&names.join(" → ")),
        c.runs.len() - c.runs_not_passed,
        c.runs.len(),
        if c.runs.len() == 1 { "" } else { "s" },
        c.exit_code
    );
    s.push_str(
        "| level | verdict | peak users | requests | success | req/s | p50 ms | p95 ms | p99 ms | gates failed |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in &c.runs {
        let _ = writeln!(
            s,
            "| {} | {} {} | {} | {} | {:.2}% | {:.1} | {} | {} | {} | {} of {} |",
            cell(&r.name),
            sign(&r.verdict),
            r.verdict,
            r.peak_users,
            r.requests,
            r.success_rate,
            r.rps,
            ms(r.p50_ms),
            ms(r.p95_ms),
            ms(r.p99_ms),
            r.gates.iter().filter(|g| !g.passed).count(),
            r.gates.len()
        );
    }
    let failed: Vec<_> = c
        .runs
        .iter()
        .flat_map(|r| r.gates.iter().filter(|g| !g.passed).map(move |g| (r, g)))
        .collect();
    if !failed.is_empty() {
        s.push_str("\n### Failed gates\n\n| level | gate | measured |\n|---|---|---:|\n");
        for (r, g) in failed {
            let _ = writeln!(
                s,
                "| {} | {} | {} |",
                cell(&r.name),
                cell(&g.label),
                g.measured.map_or_else(
                    || "—".into(),
                    |m| format!("{}", crate::results::stats::round3(m))
                )
            );
        }
    }
    let a = &c.analysis;
    s.push_str("\n### When the gates were first crossed\n\n| level | failure rate | p95 |\n|---|---|---|\n");
    for x in &a.crossings {
        let _ = writeln!(
            s,
            "| {} | {} | {} |",
            cell(&x.run),
            crossing(&x.failure_rate, "%"),
            crossing(&x.p95, " ms")
        );
    }
    s.push_str("\n### Slowest endpoints by p95 (all levels)\n\n");
    endpoints(
        &mut s,
        &a.slowest.iter().map(|e| (None, e)).collect::<Vec<_>>(),
    );
    s.push_str("\n### Highest failure rates\n\n");
    let per_run: Vec<_> = c
        .runs
        .iter()
        .zip(&a.failing_per_run)
        .flat_map(|(r, e)| e.iter().map(move |e| (Some(r.name.as_str()), e)))
        .collect();
    if per_run.is_empty() {
        s.push_str("No request failed in any level.\n");
    } else {
        endpoints(&mut s, &per_run);
    }
    for r in c.runs.iter().filter(|r| !r.generator.warnings.is_empty()) {
        let _ = writeln!(s, "\n> ⚠️ loadgen's own health in {}:", cell(&r.name));
        for w in &r.generator.warnings {
            let _ = writeln!(s, "> - {}", cell(w));
        }
    }
    s
}
