//! The end-of-run summary on stdout: request statistics and percentiles laid out as Locust prints them, status
//! codes, failures by reason, the gate table, and the verdict ([`crate::verdict`]) on one final line.

use std::fmt::Write as _;

use crate::report::{RequestStats, RunResults};
use crate::results::stats::failure_pct;

pub use crate::results::stats::fmt_ms;

fn opt_ms(v: Option<f64>) -> String {
    v.map_or_else(|| "N/A".into(), fmt_ms)
}

/// The whole summary as text.
pub fn render(r: &RunResults) -> String {
    let mut s = String::new();
    let w = r
        .requests
        .iter()
        .map(|q| q.name.len())
        .chain(std::iter::once(10))
        .max()
        .unwrap_or(10)
        .min(48);
    let _ = writeln!(
        s,
        "\n{} — {}, {:.1}s against {}{}",
        r.scenario.name,
        r.settings.load_summary(),
        r.duration_s,
        r.settings.host,
        if r.interrupted {
            " (interrupted)"
        } else if r.aborted.is_some() {
            " (ended early by a gate)"
        } else {
            ""
        }
    );
    // Issue 19: the load changed from the live UI.
    for (i, m) in r.manual.iter().enumerate() {
        let to = match (m.users, m.spawn_rate, m.rate) {
            (_, _, Some(rate)) => format!("{} iterations/s", crate::plan::fmt_rate(rate)),
            (Some(u), Some(sr), _) => format!("{u} users at {sr}/s"),
            (Some(u), None, _) => format!("{u} users"),
            _ => "?".into(),
        };
        let _ = writeln!(
            s,
            "manual {}: at {:.1} s, changed from the live UI to {to}",
            i + 1,
            m.at_s
        );
    }
    let _ = writeln!(
        s,
        "{:<8} {:<w$} {:>9} {:>16} | {:>8} {:>8} {:>8} {:>8} | {:>9} {:>10}",
        "Type", "Name", "# reqs", "# fails", "Avg", "Min", "Max", "Med", "req/s", "failures/s"
    );
    let rule = format!("{}\n", "-".repeat(8 + 1 + w + 10 + 17 + 3 + 36 + 3 + 20));
    s.push_str(&rule);
    let row = |s: &mut String, q: &RequestStats| {
        let fail_pct = failure_pct(q.requests, q.failures);
        let _ = writeln!(
            s,
            "{:<8} {:<w$} {:>9} {:>16} | {:>8} {:>8} {:>8} {:>8} | {:>9.2} {:>10.2}",
            q.method,
            truncate(&q.name, w),
            q.requests,
            format!("{}({:.2}%)", q.failures, fail_pct),
            opt_ms(q.mean_ms),
            opt_ms(q.min_ms),
            opt_ms(q.max_ms),
            opt_ms(q.percentiles_ms.as_ref().map(|p| p.p50)),
            q.rps,
            q.failures_per_s
        );
    };
    for q in &r.requests {
        row(&mut s, q);
    }
    s.push_str(&rule);
    row(&mut s, &r.aggregated);

    let _ = writeln!(s, "\nResponse time percentiles (ms)");
    let heads = [
        "50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%",
    ];
    let _ = write!(s, "{:<8} {:<w$}", "Type", "Name");
    for h in heads {
        let _ = write!(s, " {h:>7}");
    }
    let _ = writeln!(s, " {:>9}", "# reqs");
    s.push_str(&rule);
    let prow = |s: &mut String, q: &RequestStats| {
        let _ = write!(s, "{:<8} {:<w$}", q.method, truncate(&q.name, w));
        match &q.percentiles_ms {
            Some(p) => {
                for v in [
                    p.p50, p.p66, p.p75, p.p80, p.p90, p.p95, p.p98, p.p99, p.p99_9, p.p99_99,
                    p.p100,
                ] {
                    let _ = write!(s, " {:>7}", fmt_ms(v));
                }
            }
            None => {
                for _ in heads {
                    let _ = write!(s, " {:>7}", "N/A");
                }
            }
        }
        let _ = writeln!(s, " {:>9}", q.requests);
    };
    for q in &r.requests {
        prow(&mut s, q);
    }
    s.push_str(&rule);
    prow(&mut s, &r.aggregated);

    if !r.aggregated.status_codes.is_empty() {
        let codes: Vec<String> = r
            .aggregated
            .status_codes
            .iter()
            .map(|(c, n)| format!("{c}: {n}"))
            .collect();
        let _ = writeln!(s, "\nStatus codes: {}", codes.join(", "));
    }
    // Issue 17 item 3: shown when a name's connections went to several addresses.
    for o in r.addresses.iter().filter(|o| o.addresses.len() > 1) {
        let spread: Vec<String> = o
            .addresses
            .iter()
            .map(|a| format!("{}: {}", a.address, a.connections))
            .collect();
        let _ = writeln!(
            s,
            "Connections to {} by address: {}",
            o.origin,
            spread.join(", ")
        );
    }
    if !r.failures.is_empty() {
        let _ = writeln!(s, "\nFailures");
        for f in r.failures.iter().take(20) {
            let _ = writeln!(
                s,
                "{:>9}  {:<7} {:<w$}  [{}] {}",
                f.occurrences,
                f.method,
                truncate(&f.name, w),
                f.kind.as_str(),
                f.message
            );
        }
        if r.failures.len() > 20 {
            let _ = writeln!(
                s,
                "           ... {} more kinds (see --json)",
                r.failures.len() - 20
            );
        }
    }

    if let Some(it) = &r.totals.iterations {
        let _ = writeln!(
            s,
            "\nIterations: {} due, {} started ({:.1}/s), {} dropped (no free user within the queue timeout)",
            it.due, it.started, it.rate, it.dropped
        );
        if let (Some(c), Some(u)) = (
            r.aggregated.percentiles_ms.as_ref(),
            r.aggregated.uncorrected_percentiles_ms.as_ref(),
        ) {
            let _ = writeln!(
                s,
                "Latency from when each iteration was due (above) vs. from when it was sent: \
                 p50 {} / {} ms, p95 {} / {} ms, p99 {} / {} ms",
                fmt_ms(c.p50),
                fmt_ms(u.p50),
                fmt_ms(c.p95),
                fmt_ms(u.p95),
                fmt_ms(c.p99),
                fmt_ms(u.p99)
            );
        }
    }

    // Issue 21 item 4: the target's own metrics, each series' range over the run.
    if let Some(m) = &r.monitor {
        let _ = writeln!(s, "\nTarget metrics ([monitor])");
        for e in &m.endpoints {
            let _ = writeln!(
                s,
                "  {} {}: {} scrapes, {} failed",
                e.name, e.url, e.scrapes, e.failed_scrapes
            );
        }
        for series in &m.series {
            let values = series.points.iter().map(|p| p.value);
            let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(v), b.max(v))
            });
            let range = match series.points.last() {
                Some(last) => format!(
                    "min {}  max {}  last {}",
                    compact(lo),
                    compact(hi),
                    compact(last.value)
                ),
                None => "no value".into(),
            };
            let _ = writeln!(s, "  {:<w$}  {range}", truncate(&series.key, w));
        }
    }
    for w in &r.generator.warnings {
        let _ = writeln!(s, "\nwarning: {w}");
    }
    for reason in &r.validity.reasons {
        let _ = writeln!(s, "\ninvalid run: {reason}");
    }

    if !r.gates.results.is_empty() {
        let _ = writeln!(s, "\nQuality gates");
        for g in &r.gates.results {
            let (measured, threshold) = (g.measured_text(), g.threshold_text());
            let (word, note) = match &g.skipped {
                Some(why) => ("SKIP", format!("skipped: {why}")),
                None if g.passed => ("PASS", format!("measured {measured}")),
                None => ("FAIL", format!("measured {measured}")),
            };
            let _ = writeln!(
                s,
                "  {word}  {:<28} {:<18} {:>2} {:<10} {note}",
                truncate(&g.scope_text(), 28),
                g.metric,
                g.op,
                threshold,
            );
        }
    }
    if let Some(l) = &r.limit {
        limit(&mut s, l);
    }
    // The one verdict line, whatever the run came to.
    let _ = writeln!(s, "\n{}", crate::verdict::Verdict::of(r).line());
    s
}

/// Issue 21 item 3: a limit search's steps and what failed at the last.
fn limit(s: &mut String, l: &crate::results::limit::Limit) {
    use crate::results::limit::fmt_level;
    let _ = writeln!(
        s,
        "\nLimit search ({} from {} by {} to {}, each held {:.0} s)",
        l.unit,
        fmt_level(l.start),
        fmt_level(l.step),
        fmt_level(l.max),
        l.hold_s
    );
    for st in &l.steps {
        let _ = writeln!(
            s,
            "  {}  stage {:<3} {:>10} {:<12} {:>9} reqs {:>7} fails {:>9.1} req/s  p95 {} ms",
            if st.passed { "PASS" } else { "FAIL" },
            st.stage,
            fmt_level(st.level),
            l.unit,
            st.requests,
            st.failures,
            st.rps,
            opt_ms(st.p95_ms)
        );
    }
    for g in &l.failed_gates {
        let _ = writeln!(
            s,
            "  failed gate: {} (measured {})",
            g.label(),
            g.measured_text()
        );
    }
    for e in l.endpoints.iter().take(10) {
        let _ = writeln!(
            s,
            "  failing endpoint: {} ({} of {} requests failed)",
            e.name, e.failures, e.requests
        );
    }
    if !l.failure_kinds.is_empty() {
        let kinds: Vec<String> = l
            .failure_kinds
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect();
        let _ = writeln!(s, "  failures by kind: {}", kinds.join(", "));
    }
    for g in &l.generator {
        let _ = writeln!(s, "  generator: {g}");
    }
    let _ = writeln!(s, "  => {}", l.line());
}

fn truncate(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(w.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// A monitored value in few characters: whole above 1000, else up to 4 decimals without trailing zeros.
fn compact(v: f64) -> String {
    if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else {
        let t = format!("{v:.4}");
        t.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}
