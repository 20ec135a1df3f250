//! The combined report as one self-contained HTML page (`suite --html`, `report A.json B.json --html`): the
//! levels side by side (verdict, gates, success rate, p50/p95/p99, requests/s, failures by endpoint), the
//! analysis, and charts comparing the levels (p95, requests/s and failures/s over each run's time, and each
//! level's latency distribution), drawn by the run report's chart engine with its style sheet.
//!
//! As the run report: no script, no fetch of any kind (the same Content-Security-Policy), every text from a
//! scenario or a target escaped, the page a pure function of its inputs.

use std::fmt::Write as _;

use super::{Combined, Crossing, Endpoint, RunSummary};
use crate::report::RunResults;
use crate::report::console::fmt_ms;
use crate::report::html::chart::{self, Chart, Series, XAxis, YAxis};
use crate::report::html::{self, escape};
use crate::results::Hist;

/// One colour per level, in order (repeated past eight), apart for the common colour-vision deficiencies.
const PALETTE: [&str; 8] = [
    "#2563eb", "#d97706", "#dc2626", "#059669", "#7c3aed", "#64748b", "#db2777", "#0891b2",
];

fn color(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// Renders the page for `c`, with the charts drawn from `runs` (the results `c` was built from, in order).
pub fn render(c: &Combined, runs: &[RunResults]) -> String {
    let mut s = String::with_capacity(64 * 1024);
    let worst = c
        .runs
        .iter()
        .max_by_key(|r| super::severity(super::status_of(r.exit_code)))
        .map_or("NO RUNS", |r| r.verdict.as_str());
    let class = match worst {
        "PASS" => "pass",
        "INTERRUPTED" => "interrupted",
        _ => "fail",
    };
    let names: Vec<String> = c.runs.iter().map(|r| r.name.clone()).collect();
    html::head(
        &mut s,
        &format!(
            "{worst} · {} · loadgen suite report",
            escape(&names.join(", "))
        ),
        &c.loadgen_version,
    );
    let _ = writeln!(
        s,
        "<header class=\"verdict {class}\"><div class=\"word\">{worst}</div><div class=\"what\"><h1>Suite: {}</h1>\
         <div class=\"sub\">{} run{}, {} not passed · exit code {}</div></div></header>",
        escape(&names.join(" → ")),
        c.runs.len(),
        if c.runs.len() == 1 { "" } else { "s" },
        c.runs_not_passed,
        c.exit_code
    );
    levels(&mut s, c);
    charts(&mut s, runs);
    analysis(&mut s, c);
    for (i, r) in c.runs.iter().enumerate() {
        level(&mut s, i, r);
    }
    let _ = write!(
        s,
        "<footer>loadgen {} · a self-contained page: it loads nothing from anywhere and runs no script. \
         <code>loadgen report A.json B.json … --html FILE</code> rebuilds it from the runs' results.</footer>\n\
         </main>\n</body>\n</html>\n",
        escape(&c.loadgen_version)
    );
    s
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "N/A".into(), fmt_ms)
}

fn badge(verdict: &str) -> String {
    let class = if verdict == "PASS" { "pass" } else { "fail" };
    format!("<span class=\"badge {class}\">{}</span>", escape(verdict))
}

/// The levels side by side.
fn levels(s: &mut String, c: &Combined) {
    s.push_str(
        "<section id=\"levels\"><h2>Levels</h2><div class=\"scroll\"><table><thead><tr><th>level</th>\
         <th>verdict</th><th class=\"n\">peak users</th><th class=\"n\">requests</th><th class=\"n\">success</th>\
         <th class=\"n\">req/s</th><th class=\"n\">p50 ms</th><th class=\"n\">p95 ms</th><th class=\"n\">p99 ms</th>\
         <th class=\"n\">gates failed</th><th>loadgen</th></tr></thead><tbody>\n",
    );
    for r in &c.runs {
        let failed = r.gates.iter().filter(|g| !g.passed).count();
        let health = if !r.generator.valid {
            "<strong class=\"c5\">invalid run</strong>".to_string()
        } else if r.generator.warnings.is_empty() {
            "ok".to_string()
        } else {
            format!(
                "<span class=\"c4\">{} warning(s)</span>",
                r.generator.warnings.len()
            )
        };
        let _ = writeln!(
            s,
            "<tr{}><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.2}%</td>\
             <td class=\"n\">{:.1}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{failed} of {}</td><td>{health}</td></tr>",
            if r.exit_code != 0 {
                " class=\"failed\""
            } else {
                ""
            },
            escape(&r.name),
            badge(&r.verdict),
            r.peak_users,
            r.requests,
            r.success_rate,
            r.rps,
            ms(r.p50_ms),
            ms(r.p95_ms),
            ms(r.p99_ms),
            r.gates.len(),
        );
    }
    s.push_str("</tbody></table></div></section>\n");
}

fn endpoint_rows(s: &mut String, e: &[Endpoint], run: Option<&str>) {
    for x in e {
        let kinds = x
            .failure_kinds
            .iter()
            .map(|(k, n)| format!("{} {n}", escape(k)))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            s,
            "<tr>{}<td>{} {}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.2}%</td>\
             <td class=\"n\">{}</td><td>{}</td></tr>",
            run.map(|r| format!("<td>{}</td>", escape(r)))
                .unwrap_or_default(),
            escape(&x.method),
            escape(&x.name),
            x.requests,
            x.failures,
            x.failure_pct,
            ms(x.p95_ms),
            if kinds.is_empty() {
                "—".into()
            } else {
                kinds
            }
        );
    }
}

fn table_head(s: &mut String, with_run: bool, caption: &str) {
    let _ = writeln!(
        s,
        "<div class=\"scroll\"><table><caption>{caption}</caption><thead><tr>{}<th>endpoint</th>\
         <th class=\"n\">requests</th><th class=\"n\">failures</th><th class=\"n\">failure rate</th>\
         <th class=\"n\">p95 ms</th><th>failure kinds</th></tr></thead><tbody>",
        if with_run { "<th>level</th>" } else { "" }
    );
}

fn crossing_text(c: &Crossing, unit: &str) -> String {
    match (&c.threshold, &c.at) {
        (None, _) => "<span class=\"na\">no gate</span>".into(),
        (Some(_), None) => "never".into(),
        (Some(t), Some(a)) => {
            let load = match a.target_rate {
                Some(rate) => format!("{} users, {rate:.1} iterations/s planned", a.users),
                None => format!("{} users", a.users),
            };
            format!(
                "<strong class=\"c5\">at {:.0} s</strong> ({}{unit} against {t}{unit}) with {load}; loadgen {}",
                a.elapsed_s,
                fmt_ms(a.measured),
                if a.generator_saturated {
                    format!(
                        "<strong class=\"c5\">saturated</strong> then (lag {} ms{})",
                        fmt_ms(a.lag_ms),
                        a.cpu_pct
                            .map(|c| format!(", CPU {c:.0}%"))
                            .unwrap_or_default()
                    )
                } else {
                    format!(
                        "not saturated then (lag {} ms{})",
                        fmt_ms(a.lag_ms),
                        a.cpu_pct
                            .map(|c| format!(", CPU {c:.0}%"))
                            .unwrap_or_default()
                    )
                }
            )
        }
    }
}

fn analysis(s: &mut String, c: &Combined) {
    let a = &c.analysis;
    s.push_str(
        "<section id=\"analysis\"><h2>Analysis</h2>\n<h3>When the gates were first crossed</h3>",
    );
    s.push_str(
        "<div class=\"scroll\"><table><thead><tr><th>level</th><th>failure rate</th><th>p95</th></tr></thead><tbody>\n",
    );
    for x in &a.crossings {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td class=\"msg\">{}</td><td class=\"msg\">{}</td></tr>",
            escape(&x.run),
            crossing_text(&x.failure_rate, "%"),
            crossing_text(&x.p95, " ms")
        );
    }
    s.push_str("</tbody></table></div>\n<h3>Slowest endpoints by p95</h3>");
    table_head(
        s,
        false,
        "All levels together: each endpoint's latency histograms of every level merged.",
    );
    endpoint_rows(s, &a.slowest, None);
    s.push_str("</tbody></table></div>");
    table_head(s, true, "Per level, slowest first.");
    for (r, e) in c.runs.iter().zip(&a.slowest_per_run) {
        endpoint_rows(s, e, Some(&r.name));
    }
    s.push_str("</tbody></table></div>\n<h3>Endpoints with the highest failure rates</h3>");
    if a.failing.is_empty() {
        s.push_str("<p>No request failed in any level.</p>");
    } else {
        table_head(s, false, "All levels together.");
        endpoint_rows(s, &a.failing, None);
        s.push_str("</tbody></table></div>");
        table_head(s, true, "Per level.");
        for (r, e) in c.runs.iter().zip(&a.failing_per_run) {
            endpoint_rows(s, e, Some(&r.name));
        }
        s.push_str("</tbody></table></div>");
    }
    s.push_str("</section>\n");
}

/// The charts comparing the levels: one line per level.
fn charts(s: &mut String, runs: &[RunResults]) {
    let max_s = runs
        .iter()
        .flat_map(|r| r.time_series.iter().map(|p| p.elapsed_s))
        .filter(|x| x.is_finite())
        .fold(
            runs.iter().map(|r| r.duration_s).fold(0.0, f64::max),
            f64::max,
        );
    let x = XAxis::Elapsed { max_s };
    let lines = |f: &dyn Fn(&crate::results::SeriesPoint) -> Option<f64>| -> Vec<Series> {
        runs.iter()
            .enumerate()
            .map(|(i, r)| Series {
                label: r.scenario.name.clone(),
                color: color(i),
                dashed: false,
                points: r.time_series.iter().map(|p| (p.elapsed_s, f(p))).collect(),
            })
            .collect()
    };
    let over_time = [
        (
            "p95 response time by level",
            "suite-p95",
            YAxis::Ms,
            lines(&|p| p.p95_ms),
        ),
        (
            "Requests per second by level",
            "suite-rps",
            YAxis::PerSecond,
            lines(&|p| Some(p.rps)),
        ),
        (
            "Failures per second by level",
            "suite-fps",
            YAxis::PerSecond,
            lines(&|p| Some(p.failures_per_s)),
        ),
        (
            "Users by level",
            "suite-users",
            YAxis::Count,
            lines(&|p| Some(p.users as f64)),
        ),
    ];
    s.push_str(
        "<section id=\"charts\"><h2>The levels compared</h2><p class=\"na\">Each line is one level, over the \
         seconds since its own start.</p><div class=\"charts small\">\n",
    );
    for (heading, id, y, series) in over_time {
        let chart = Chart {
            id: id.into(),
            title: heading.into(),
            desc: format!(
                "Line chart of {heading}, one line per level, against the seconds since each run started."
            ),
            width: 540.0,
            height: 250.0,
            x,
            y,
            series,
            empty: "no data points",
            marks: Vec::new(),
        };
        let _ = writeln!(
            s,
            "<figure><h3>{}</h3>{}</figure>",
            escape(heading),
            chart.render()
        );
    }
    // Each level's whole latency distribution, on one percentile axis.
    let hists: Vec<_> = runs
        .iter()
        .map(|r| r.aggregated.hdr.as_ref().map(Hist::histogram))
        .collect();
    let most = hists.iter().flatten().map(|h| h.len()).max().unwrap_or(0);
    let nines = chart::nines_for(most);
    let series = runs
        .iter()
        .zip(&hists)
        .enumerate()
        .filter_map(|(i, (r, h))| {
            let h = h.as_ref().filter(|h| !h.is_empty())?;
            Some(Series {
                label: r.scenario.name.clone(),
                color: color(i),
                dashed: false,
                points: chart::spectrum(h, nines),
            })
        })
        .collect();
    let chart = Chart {
        id: "suite-dist".into(),
        title: "Latency distribution by level, in milliseconds".into(),
        desc: format!(
            "Percentile spectrum of all requests of each level: response time in ms against the percentile on a \
             logarithmic axis from 0% to {}.",
            chart::nines_label(nines)
        ),
        width: 540.0,
        height: 250.0,
        x: XAxis::Nines { nines },
        y: YAxis::Ms,
        series,
        empty: "no timed requests",
        marks: Vec::new(),
    };
    let _ = write!(
        s,
        "<figure><h3>Latency distribution by level</h3>{}</figure>\n</div></section>\n",
        chart.render()
    );
}

/// One level in detail: its gates and its endpoints.
fn level(s: &mut String, i: usize, r: &RunSummary) {
    let _ = write!(
        s,
        "<section class=\"level\" id=\"level-{i}\"><h2>{} {}</h2><p>{} · <code>{}</code> · {:.1} s · run \
         <code>{}</code></p>",
        escape(&r.name),
        badge(&r.verdict),
        escape(&r.reason),
        escape(&r.scenario_file),
        r.duration_s,
        escape(&r.run_id)
    );
    if !r.generator.warnings.is_empty() {
        s.push_str("<div class=\"alert\"><strong>loadgen's own health</strong><ul>");
        for w in &r.generator.warnings {
            let _ = write!(s, "<li>{}</li>", escape(w));
        }
        s.push_str("</ul></div>");
    }
    if r.gates.is_empty() {
        s.push_str("<p class=\"na\">No gates.</p>");
    } else {
        s.push_str(
            "<div class=\"scroll\"><table><thead><tr><th>result</th><th>gate</th><th class=\"n\">measured</th>\
             </tr></thead><tbody>",
        );
        for g in &r.gates {
            let (class, word) = match (g.skipped, g.passed) {
                (true, _) => ("skip", "SKIP"),
                (false, true) => ("pass", "PASS"),
                (false, false) => ("fail", "FAIL"),
            };
            let _ = write!(
                s,
                "<tr{}><td><span class=\"badge {class}\">{word}</span></td><td>{}</td><td class=\"n\">{}</td></tr>",
                if class == "fail" {
                    " class=\"failed\""
                } else {
                    ""
                },
                escape(&g.label),
                g.measured.map_or_else(
                    || "—".into(),
                    |m| format!("{}", crate::results::stats::round3(m))
                )
            );
        }
        s.push_str("</tbody></table></div>");
    }
    s.push_str("<h3>Endpoints</h3>");
    table_head(s, false, "Failures by endpoint, with their kinds.");
    endpoint_rows(s, &r.endpoints, None);
    s.push_str("</tbody></table></div></section>\n");
}
