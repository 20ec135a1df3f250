//! The HTML report (`--html FILE`): one self-contained page (inline CSS and SVG, no script, no fetch of any
//! kind) with the verdict, the run, the gate verdicts, loadgen's own warnings, per-request statistics, status
//! codes, failures, charts over time and each request's latency distribution.
//!
//! The page is a pure function of [`RunResults`] (same results, same bytes), so `loadgen report` rebuilds the
//! very page `loadgen run` wrote. Every text that comes from the scenario or the target (names, paths, host,
//! failure messages) goes through [`escape`]; a Content-Security-Policy that allows no script and no load from
//! anywhere is a second line of defence. The `chart` submodule draws the charts; the style sheet is
//! `html/style.css`. The page opens offline and prints (a `@media print` sheet keeps charts and tables whole).

pub(crate) mod chart;
// Issue 21 item 3.
mod limit;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use crate::error::Error;
use crate::files::OutputFile;
use crate::gates::GateResult;
use crate::report::console::fmt_ms;
use crate::report::{RequestStats, RunResults};
use crate::results::Hist;

use chart::{Chart, Series, XAxis, YAxis};

/// Colours of the lines, chosen to stay apart for the common colour-vision deficiencies.
const BLUE: &str = "#2563eb";
const RED: &str = "#dc2626";
const ORANGE: &str = "#d97706";
const PURPLE: &str = "#7c3aed";
const GREEN: &str = "#059669";
const GREY: &str = "#64748b";

/// The style sheet, inlined in the page: no `url()`, no `@import`, no web font.
pub(crate) const CSS: &str = include_str!("html/style.css");

/// Renders the report page for `r`.
/// The page's head (and the opening of its body): the style sheet, and the Content-Security-Policy that allows no
/// script and no load from anywhere. `title` is HTML already escaped; `version` is escaped here.
pub(crate) fn head(s: &mut String, title: &str, version: &str) {
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n\
         <meta name=\"generator\" content=\"loadgen {}\">\n\
         <link rel=\"icon\" href=\"data:,\">\n\
         <title>{title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n",
        escape(version),
    );
}

pub fn render(r: &RunResults) -> String {
    let mut s = String::with_capacity(64 * 1024);
    let (word, class) = verdict(r);
    head(
        &mut s,
        &format!("{word} · {} · loadgen report", escape(&r.scenario.name)),
        &r.loadgen_version,
    );
    banner(&mut s, r, word, class);
    alerts(&mut s, r);
    tiles(&mut s, r);
    run_section(&mut s, r);
    gates_section(&mut s, r);
    if let Some(l) = &r.limit {
        limit::section(&mut s, l);
    }
    over_time(&mut s, r);
    monitor_section(&mut s, r);
    requests_table(&mut s, r);
    distributions(&mut s, r);
    status_codes(&mut s, r);
    failures(&mut s, r);
    scenario_requests(&mut s, r);
    let _ = write!(
        s,
        "<footer>loadgen {} · run <code>{}</code> · schema {} · a self-contained page: it loads nothing from \
         anywhere and runs no script. <code>loadgen report RESULTS.json --html FILE</code> rebuilds it.</footer>\n\
         </main>\n</body>\n</html>\n",
        escape(&r.loadgen_version),
        escape(&r.run_id),
        r.schema_version
    );
    s
}

/// Escapes text for HTML element content and attribute values. Control characters, which HTML does not allow
/// (tab and line breaks aside), become U+FFFD.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Writes the report for `results` to `out`, atomically.
pub fn write(out: &OutputFile, results: &RunResults) -> Result<(), Error> {
    Ok(out.write_all(render(results).as_bytes())?)
}

/// The verdict ([`crate::verdict`]) and its CSS class.
fn verdict(r: &RunResults) -> (&'static str, &'static str) {
    use crate::verdict::Outcome;
    let v = crate::verdict::Verdict::of(r).result;
    let class = match v {
        Outcome::Pass => "pass",
        Outcome::Fail => "fail",
        Outcome::Invalid | Outcome::Interrupted => "interrupted",
    };
    (v.word(), class)
}

fn failed_gates(r: &RunResults) -> usize {
    r.gates
        .results
        .iter()
        .filter(|g| g.skipped.is_none() && !g.passed)
        .count()
}

/// Seconds as people read them: `2.5 s`, `5m`, `1h 2m 3s`.
fn fmt_secs(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return "N/A".into();
    }
    if s < 60.0 {
        format!("{s:.1} s")
    } else {
        humantime::format_duration(Duration::from_secs(s.round() as u64)).to_string()
    }
}

fn opt_ms(v: Option<f64>) -> String {
    v.map_or_else(|| "<span class=\"na\">N/A</span>".into(), fmt_ms)
}

fn pct_of(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

/// The start of the run in Unix seconds, when `started_at` can be read.
fn start_unix(r: &RunResults) -> Option<u64> {
    humantime::parse_rfc3339_weak(&r.started_at)
        .ok()?
        .duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

fn banner(s: &mut String, r: &RunResults, word: &str, class: &str) {
    let gates = crate::verdict::Verdict::of(r).reason;
    let _ = writeln!(
        s,
        "<header class=\"verdict {class}\" role=\"banner\"><div class=\"word\">{word}</div>\
         <div class=\"what\"><h1>{}</h1><div class=\"sub\">{} · {} users against <code>{}</code> · {}{}</div></div>\
         </header>",
        escape(&r.scenario.name),
        escape(&gates),
        r.settings.users,
        escape(&r.settings.host),
        fmt_secs(r.duration_s),
        if r.interrupted {
            format!(
                " of {} planned (stopped early)",
                fmt_secs(r.settings.duration_s)
            )
        } else {
            String::new()
        },
    );
}

fn alerts(s: &mut String, r: &RunResults) {
    if r.interrupted {
        let _ = writeln!(
            s,
            "<section class=\"alert bad\" id=\"interrupted\"><h2>The run was interrupted</h2><p>It was stopped \
             (SIGINT/SIGTERM) after {} of the planned {}: every figure below covers only that part, and the \
             verdict is INTERRUPTED whatever the gates say.</p></section>",
            fmt_secs(r.duration_s),
            fmt_secs(r.settings.duration_s)
        );
    }
    if let Some(a) = &r.aborted {
        let _ = writeln!(
            s,
            "<section class=\"alert bad\" id=\"aborted\"><h2>The run was ended early by a gate</h2><p>Gate {} \
             failed at {} (measured {}) and the scenario says <code>abort_on_fail</code>: the users were stopped \
             then, and every figure below covers the {} that ran of the planned {}.</p></section>",
            escape(&a.gate.label()),
            fmt_secs(a.at_s),
            escape(&a.gate.measured_text()),
            fmt_secs(r.duration_s),
            fmt_secs(r.settings.duration_s)
        );
    }
    if !r.validity.valid {
        s.push_str(
            "<section class=\"alert bad\" id=\"invalid\"><h2>The run is invalid: loadgen could not keep its \
             plan</h2><ul>",
        );
        for w in &r.validity.reasons {
            let _ = write!(s, "<li>{}</li>", escape(w));
        }
        s.push_str("</ul><p>The figures below are what was measured, but the gates are not a verdict on the server.</p></section>\n");
    }
    if let Some(it) = &r.totals.iterations {
        let _ = writeln!(
            s,
            "<section class=\"alert{}\" id=\"iterations\"><h2>Arrival rate</h2><p>{} iterations due, {} started \
             ({:.1}/s), {} dropped. Latencies count from when each iteration was due; the uncorrected \
             percentiles (from when each request was sent) are in the results file.</p></section>",
            if it.dropped > 0 { "" } else { " info" },
            it.due,
            it.started,
            it.rate,
            it.dropped
        );
    }
    if !r.generator.warnings.is_empty() {
        s.push_str(
            "<section class=\"alert\" id=\"warnings\"><h2>Warning: loadgen itself may have distorted these \
             measurements</h2><ul>",
        );
        for w in &r.generator.warnings {
            let _ = write!(s, "<li>{}</li>", escape(w));
        }
        s.push_str("</ul></section>\n");
    }
}

fn tiles(s: &mut String, r: &RunResults) {
    let t = &r.totals;
    let p = r.aggregated.percentiles_ms.as_ref();
    let ms = |v: Option<f64>| {
        v.map_or_else(
            || "N/A".to_string(),
            |v| format!("{}<small>ms</small>", fmt_ms(v)),
        )
    };
    let tiles = [
        ("Requests", t.requests.to_string()),
        (
            "Failures",
            format!(
                "{}<small>{:.2}%</small>",
                t.failures,
                pct_of(t.failures, t.requests)
            ),
        ),
        ("Throughput", format!("{:.1}<small>req/s</small>", t.rps)),
        ("Median (p50)", ms(p.map(|p| p.p50))),
        ("p95", ms(p.map(|p| p.p95))),
        ("p99", ms(p.map(|p| p.p99))),
        ("Peak users", t.peak_users.to_string()),
    ];
    s.push_str("<section class=\"summary\" aria-label=\"Summary\"><div class=\"tiles\">");
    for (k, v) in tiles {
        let _ = write!(s, "<div class=\"tile\"><span>{k}</span><b>{v}</b></div>");
    }
    s.push_str("</div></section>\n");
}

fn run_section(s: &mut String, r: &RunResults) {
    let st = &r.settings;
    let g = &r.generator;
    let wait = match st.wait.mode.as_str() {
        "none" => "none".to_string(),
        "constant" => format!("constant {}", fmt_secs(st.wait.min_s)),
        _ => format!(
            "between {} and {}",
            fmt_secs(st.wait.min_s),
            fmt_secs(st.wait.max_s)
        ),
    };
    let cpu = match (g.cpu_pct_mean, g.cpu_pct_max) {
        (Some(mean), Some(max)) => format!("{mean:.0}% mean, {max:.0}% max of {} core(s)", g.cores),
        _ => format!("not measured ({} core(s))", g.cores),
    };
    let rows: [(&str, String); 17] = [
        ("Scenario", escape(&r.scenario.name)),
        ("File", format!("<code>{}</code>", escape(&r.scenario.file))),
        ("Target", format!("<code>{}</code>", escape(&st.host))),
        (
            "Users",
            format!("{} (peak {})", st.users, r.totals.peak_users),
        ),
        ("Load", escape(&st.load_summary())),
        ("Planned", fmt_secs(st.duration_s)),
        ("Measured", fmt_secs(r.duration_s)),
        ("Started", escape(&r.started_at)),
        ("Ended", escape(&r.ended_at)),
        (
            "Interrupted",
            if r.interrupted {
                "<strong class=\"c5\">yes — stopped before the planned duration</strong>".into()
            } else {
                "no".into()
            },
        ),
        ("Run id", format!("<code>{}</code>", escape(&r.run_id))),
        ("loadgen", escape(&r.loadgen_version)),
        (
            "Timeouts",
            format!(
                "request {}, stop {}",
                fmt_secs(st.timeout_s),
                fmt_secs(st.stop_timeout_s)
            ),
        ),
        ("Think time", wait),
        ("Connections", escape(&st.connections)),
        ("loadgen CPU", cpu),
        (
            "Scheduler lag",
            format!(
                "{} ms max{}",
                fmt_ms(g.lag_ms_max),
                if r.totals.aborted_users > 0 {
                    format!(" · {} users aborted at stop", r.totals.aborted_users)
                } else {
                    String::new()
                }
            ),
        ),
    ];
    s.push_str("<section id=\"run\"><h2>Run</h2><dl class=\"run\">");
    for (k, v) in rows {
        let _ = write!(s, "<div><dt>{k}</dt><dd>{v}</dd></div>");
    }
    s.push_str("</dl></section>\n");
}

fn gate_row(s: &mut String, g: &GateResult) {
    let (class, word) = match &g.skipped {
        Some(_) => ("skip", "SKIP"),
        None if g.passed => ("pass", "PASS"),
        None => ("fail", "FAIL"),
    };
    let _ = write!(
        s,
        "<tr{}><td><span class=\"badge {class}\">{word}</span></td><td>{}</td><td>{}</td>\
         <td class=\"n\">{} {}</td><td class=\"n\">{}</td></tr>",
        if g.passed { "" } else { " class=\"failed\"" },
        escape(&g.scope_text()),
        escape(&g.metric.key()),
        escape(&g.op),
        escape(&g.threshold_text()),
        escape(&match &g.skipped {
            Some(why) => format!("skipped: {why}"),
            None => g.measured_text(),
        }),
    );
}

fn gates_section(s: &mut String, r: &RunResults) {
    s.push_str("<section id=\"gates\"><h2>Quality gates</h2>");
    if r.gates.results.is_empty() {
        let _ = writeln!(
            s,
            "<p>No gates defined: {}.</p></section>",
            if r.gates.fail_on_errors {
                "any failed request fails the run"
            } else {
                "failed requests do not fail the run (fail_on_errors is off)"
            }
        );
        return;
    }
    let failed = failed_gates(r);
    let judged = r
        .gates
        .results
        .iter()
        .filter(|g| g.skipped.is_none())
        .count();
    let _ = write!(
        s,
        "<p>{}</p><div class=\"scroll\"><table class=\"gates\"><thead><tr><th>Result</th><th>Scope</th>\
         <th>Metric</th><th class=\"n\">Target</th><th class=\"n\">Measured</th></tr></thead><tbody>",
        if failed == 0 {
            format!("All {judged} gates passed.")
        } else {
            format!(
                "<strong class=\"c5\">{failed} of {judged} gates failed</strong> (listed first)."
            )
        }
    );
    for g in r.gates.results.iter().filter(|g| !g.passed) {
        gate_row(s, g);
    }
    for g in r
        .gates
        .results
        .iter()
        .filter(|g| g.passed && g.skipped.is_none())
    {
        gate_row(s, g);
    }
    for g in r.gates.results.iter().filter(|g| g.skipped.is_some()) {
        gate_row(s, g);
    }
    s.push_str("</tbody></table></div></section>\n");
}

/// The end of the x axis of the charts over time: the run's measured duration, or the last point if later.
fn elapsed_max(r: &RunResults) -> f64 {
    r.time_series
        .iter()
        .map(|p| p.elapsed_s)
        .filter(|x| x.is_finite())
        .fold(r.duration_s, f64::max)
}

fn figure(s: &mut String, heading: &str, chart: &Chart, caption: &str) {
    let _ = write!(s, "<figure><h3>{}</h3>{}", escape(heading), chart.render());
    if !caption.is_empty() {
        let _ = write!(s, "<figcaption>{caption}</figcaption>");
    }
    s.push_str("</figure>\n");
}

fn over_time(s: &mut String, r: &RunResults) {
    let ts = &r.time_series;
    let x = XAxis::Elapsed {
        max_s: elapsed_max(r),
    };
    let line =
        |label: &str, color, dashed, f: &dyn Fn(&crate::metrics::SeriesPoint) -> Option<f64>| {
            Series {
                label: label.into(),
                color,
                dashed,
                points: ts.iter().map(|p| (p.elapsed_s, f(p))).collect(),
            }
        };
    let n = ts.len();
    // Points a second, unless a run longer than the series' cap had its older points merged.
    let widest = crate::metrics::series::seconds(ts)
        .map(|(secs, _)| secs)
        .max()
        .unwrap_or(1);
    let span = if widest <= 2 {
        format!("{n} one-second intervals over {}", fmt_secs(r.duration_s))
    } else {
        format!(
            "{n} intervals of one to {widest} seconds (older seconds merged) over {}",
            fmt_secs(r.duration_s)
        )
    };
    let marks = stage_marks(r);
    let charts = [
        (
            "Requests and failures per second",
            Chart {
                id: "ts-rps".into(),
                title: "Requests and failures per second over time".into(),
                desc: format!(
                    "Line chart of requests per second and failures per second, {span}; mean {:.1} req/s, {:.2} failures/s.",
                    r.totals.rps, r.totals.failures_per_s
                ),
                width: 1100.0,
                height: 230.0,
                x,
                y: YAxis::PerSecond,
                series: vec![
                    line("requests/s", BLUE, false, &|p| Some(p.rps)),
                    line("failures/s", RED, false, &|p| Some(p.failures_per_s)),
                ],
                empty: "no data points",
                marks: Vec::new(),
            },
        ),
        (
            "Response time percentiles",
            Chart {
                id: "ts-latency".into(),
                title: "Response time p50, p95 and p99 over time, in milliseconds".into(),
                desc: format!(
                    "Line chart of the p50, p95 and p99 response times of each interval, {span}; intervals without requests are gaps."
                ),
                width: 1100.0,
                height: 230.0,
                x,
                y: YAxis::Ms,
                series: vec![
                    line("p50", GREEN, false, &|p| p.p50_ms),
                    line("p95", ORANGE, false, &|p| p.p95_ms),
                    line("p99", PURPLE, false, &|p| p.p99_ms),
                ],
                empty: "no timed requests",
                marks: Vec::new(),
            },
        ),
        (
            "Users",
            Chart {
                id: "ts-users".into(),
                title: "Running and planned users over time".into(),
                desc: format!(
                    "Line chart of the users running at the end of each interval and of the users the load plan \
                     wanted then (dashed), {span}; peak {}.",
                    r.totals.peak_users
                ),
                width: 1100.0,
                height: 230.0,
                x,
                y: YAxis::Count,
                series: {
                    let mut lines = vec![line("users", GREY, false, &|p| Some(p.users as f64))];
                    // What the load plan (ramp or stages) wanted; files written before it existed have 0.
                    // An arrival rate plans iterations, not users: no planned line (nor legend) then.
                    if r.settings.arrival.is_none() {
                        lines.push(line("planned", BLUE, true, &|p| {
                            (p.target_users > 0 || p.users == 0).then_some(p.target_users as f64)
                        }));
                    }
                    lines
                },
                empty: "no data points",
                marks: Vec::new(),
            },
        ),
    ];
    let mut charts = charts.to_vec();
    if let Some(a) = &r.settings.arrival {
        // Per interval: iterations started and dropped over the interval's length, against the plan.
        let per_s = |f: &dyn Fn(&crate::metrics::SeriesPoint) -> u64| {
            let mut prev = 0.0;
            ts.iter()
                .map(|p| {
                    let secs = (p.elapsed_s - prev).max(1e-3);
                    prev = p.elapsed_s;
                    (p.elapsed_s, Some(f(p) as f64 / secs))
                })
                .collect::<Vec<_>>()
        };
        let peak = a.stages.iter().map(|s| s.rate).fold(0.0, f64::max);
        charts.push((
            "Iterations per second",
            Chart {
                id: "ts-iterations".into(),
                title: "Iterations started, planned and dropped per second over time".into(),
                desc: format!(
                    "Line chart of the arrival rate's iterations started per second, the planned rate (dashed,                      peak {peak}/s) and the iterations dropped per second, {span}."
                ),
                width: 1100.0,
                height: 230.0,
                x,
                y: YAxis::PerSecond,
                series: vec![
                    Series {
                        label: "started/s".into(),
                        color: GREEN,
                        dashed: false,
                        points: per_s(&|p| p.iterations),
                    },
                    line("planned", BLUE, true, &|p| p.target_rate),
                    Series {
                        label: "dropped/s".into(),
                        color: RED,
                        dashed: false,
                        points: per_s(&|p| p.dropped),
                    },
                ],
                empty: "no data points",
                marks: Vec::new(),
            },
        ));
    }
    s.push_str("<section id=\"over-time\"><h2>Over time</h2><div class=\"charts\">\n");
    for (heading, chart) in &mut charts {
        chart.marks.clone_from(&marks);
        figure(s, heading, chart, "");
    }
    let _ = writeln!(
        s,
        "</div><p class=\"na\">{}</p></section>",
        if n > chart::MAX_POINTS {
            format!(
                "{n} intervals, drawn as the lowest and highest value of each group of about {} so spikes stay visible.",
                n.div_ceil(chart::MAX_POINTS / 2)
            )
        } else {
            format!("One point per interval of about a second ({n} points).")
        }
    );
}

/// Issue 21 item 4: the target's own metrics (`[monitor]`), one chart per kept series on the load charts' time
/// axis, under them; the scrapes' warnings listed. Nothing without `[monitor]`.
fn monitor_section(s: &mut String, r: &RunResults) {
    let Some(m) = &r.monitor else {
        return;
    };
    let x = XAxis::Elapsed {
        max_s: elapsed_max(r),
    };
    let marks = stage_marks(r);
    s.push_str(
        "<section id=\"monitor\"><h2>Target metrics</h2><p class=\"na\">Scraped from the system under test by \
         <code>[monitor]</code>",
    );
    for e in &m.endpoints {
        let _ = write!(
            s,
            " · <b>{}</b> <code>{}</code>: {} scrapes, {} failed",
            escape(&e.name),
            escape(&e.url),
            e.scrapes,
            e.failed_scrapes
        );
    }
    s.push_str(".</p>\n");
    if !m.warnings.is_empty() {
        s.push_str("<ul class=\"warnings\">");
        for w in &m.warnings {
            let _ = write!(
                s,
                "<li>{} at {}: {}</li>",
                escape(&w.endpoint),
                fmt_secs(w.t_s),
                escape(&w.message)
            );
        }
        s.push_str("</ul>\n");
    }
    s.push_str("<div class=\"charts\">\n");
    for (i, series) in m.series.iter().enumerate() {
        let values = || series.points.iter().map(|p| p.value);
        let (lo, hi) = values().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
        let range = if series.points.is_empty() {
            "no value scraped".to_string()
        } else {
            format!("{} values from {lo:.4} to {hi:.4}", series.points.len())
        };
        let chart = Chart {
            id: format!("mon-{i}"),
            title: format!("{} over time", series.key),
            desc: format!(
                "Line chart of the target's series {} ({}) over the run: {range}.",
                series.key, series.query
            ),
            width: 1100.0,
            height: 200.0,
            x,
            y: YAxis::Value,
            series: vec![Series {
                label: series.key.clone(),
                color: PURPLE,
                dashed: false,
                points: series
                    .points
                    .iter()
                    .map(|p| (p.t_s, Some(p.value)))
                    .collect(),
            }],
            empty: "no value scraped",
            marks: marks.clone(),
        };
        figure(s, &format!("{} · {}", series.key, series.query), &chart, "");
    }
    s.push_str("</div></section>\n");
}

/// Where each stage after the first starts, labelled "stage N", and each change made from the live UI
/// ("manual N"), for the charts over time.
fn stage_marks(r: &RunResults) -> Vec<(f64, String)> {
    let durations: Vec<f64> = match &r.settings.arrival {
        Some(a) => a.stages.iter().map(|s| s.duration_s).collect(),
        None => r.settings.stages.iter().map(|s| s.duration_s).collect(),
    };
    let mut at = 0.0;
    let mut marks = Vec::new();
    for (i, d) in durations.iter().enumerate() {
        if i > 0 {
            // A 0 s stage (a step) and the one after it start at the same time: one mark for both.
            match marks.last_mut() {
                Some((x, label)) if *x == at => *label = format!("{label}/{}", i + 1),
                _ => marks.push((at, format!("stage {}", i + 1))),
            }
        }
        at += d;
    }
    // Issue 19: the changes made from the live UI, where they were made.
    for (i, m) in r.manual.iter().enumerate() {
        marks.push((m.at_s, format!("manual {}", i + 1)));
    }
    marks.sort_by(|a, b| a.0.total_cmp(&b.0));
    marks
}

fn stats_row(s: &mut String, q: &RequestStats, total: bool) {
    let p = q.percentiles_ms.as_ref();
    let _ = write!(
        s,
        "<tr{}><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n{}\">{} ({:.2}%)</td><td class=\"n\">{:.2}</td>",
        if total { " class=\"total\"" } else { "" },
        escape(&q.method),
        escape(&q.name),
        q.requests,
        if q.failures > 0 { " c5" } else { "" },
        q.failures,
        pct_of(q.failures, q.requests),
        q.rps
    );
    for v in [
        q.min_ms,
        q.mean_ms,
        q.max_ms,
        p.map(|p| p.p50),
        p.map(|p| p.p90),
        p.map(|p| p.p95),
        p.map(|p| p.p99),
        p.map(|p| p.p99_9),
    ] {
        let _ = write!(s, "<td class=\"n\">{}</td>", opt_ms(v));
    }
    s.push_str("</tr>");
}

fn requests_table(s: &mut String, r: &RunResults) {
    s.push_str(
        "<section id=\"requests\"><h2>Requests</h2><div class=\"scroll\"><table class=\"stats\">\
         <caption>Response times in ms; N/A where a request name had no timed requests. Aggregated counts every \
         request together (percentiles of all of them, not an average of the rows).</caption>\
         <thead><tr><th>Type</th><th>Name</th><th class=\"n\">Requests</th><th class=\"n\">Failures</th>\
         <th class=\"n\">req/s</th><th class=\"n\">Min</th><th class=\"n\">Avg</th><th class=\"n\">Max</th>\
         <th class=\"n\">p50</th><th class=\"n\">p90</th><th class=\"n\">p95</th><th class=\"n\">p99</th>\
         <th class=\"n\">p99.9</th></tr></thead><tbody>",
    );
    for q in &r.requests {
        stats_row(s, q, false);
    }
    stats_row(s, &r.aggregated, true);
    s.push_str("</tbody></table></div></section>\n");
}

/// One figure: the percentile spectrum of `q`, or why there is none.
fn distribution(s: &mut String, q: &RequestStats, id: &str) {
    let heading = if q.method.is_empty() {
        q.name.clone()
    } else {
        format!("{} {}", q.method, q.name)
    };
    let no_chart = |s: &mut String, why: &str| {
        let _ = writeln!(
            s,
            "<figure><h3>{}</h3><div class=\"nodata\">{why}</div></figure>",
            escape(&heading)
        );
    };
    if q.requests == 0 {
        return no_chart(s, "no requests");
    }
    let full = q.hdr.as_ref().map(Hist::histogram);
    let ttfb = q.ttfb_hdr.as_ref().map(Hist::histogram);
    let (nines, mut series, source) = match (&full, &q.percentiles_ms) {
        (Some(h), _) if !h.is_empty() => {
            let nines = chart::nines_for(h.len());
            let mut series = vec![Series {
                label: "response time".into(),
                color: BLUE,
                dashed: false,
                points: chart::spectrum(h, nines),
            }];
            if let Some(t) = ttfb.filter(|t| !t.is_empty()) {
                series.push(Series {
                    label: "time to headers".into(),
                    color: ORANGE,
                    dashed: true,
                    points: chart::spectrum(&t, nines),
                });
            }
            (nines, series, "")
        }
        (_, Some(p)) => (
            4,
            vec![Series {
                label: "response time".into(),
                color: BLUE,
                dashed: false,
                points: chart::spectrum_of_percentiles(p),
            }],
            " Drawn through the reported percentiles only (the results carry no readable histogram).",
        ),
        _ => {
            return no_chart(
                s,
                "no timed requests (every request failed before it was sent)",
            );
        }
    };
    series.retain(|se| !se.points.is_empty());
    let p = q.percentiles_ms.as_ref();
    let plain = |v: Option<f64>| v.map_or_else(|| "N/A".to_string(), fmt_ms);
    let facts = format!(
        "{} requests · p50 {} · p99 {} · p99.9 {} · max {} ms.",
        q.requests,
        plain(p.map(|p| p.p50)),
        plain(p.map(|p| p.p99)),
        plain(p.map(|p| p.p99_9)),
        plain(q.max_ms)
    );
    let chart = Chart {
        id: id.into(),
        title: format!("Latency distribution of {heading}, in milliseconds"),
        desc: format!(
            "Percentile spectrum: response time in ms against the percentile on a logarithmic axis from 0% to {}. {}",
            chart::nines_label(nines),
            facts
        ),
        width: 540.0,
        height: 250.0,
        x: XAxis::Nines { nines },
        y: YAxis::Ms,
        series,
        empty: "no timed requests",
        marks: Vec::new(),
    };
    figure(s, &heading, &chart, &format!("{facts}{source}"));
}

fn distributions(s: &mut String, r: &RunResults) {
    s.push_str(
        "<section id=\"distribution\"><h2>Latency distribution</h2><p class=\"na\">Each request's percentile \
         spectrum, as HdrHistogram plots it: the response time (ms) below which a percentile of the requests \
         finished, on a logarithmic axis that gives 90%, 99%, 99.9%… equal room, so the tail is visible.</p>\
         <div class=\"charts small\">\n",
    );
    for (i, q) in r.requests.iter().enumerate() {
        distribution(s, q, &format!("dist-{i}"));
    }
    distribution(s, &r.aggregated, "dist-all");
    s.push_str("</div></section>\n");
}

fn status_codes(s: &mut String, r: &RunResults) {
    let codes: BTreeSet<&str> = r
        .requests
        .iter()
        .chain(std::iter::once(&r.aggregated))
        .flat_map(|q| q.status_codes.keys().map(String::as_str))
        .collect();
    let unanswered = |q: &RequestStats| q.requests.saturating_sub(q.status_codes.values().sum());
    let any_unanswered = unanswered(&r.aggregated) > 0;
    s.push_str("<section id=\"status-codes\"><h2>Status codes</h2>");
    if codes.is_empty() && !any_unanswered {
        s.push_str("<p>No responses.</p></section>\n");
        return;
    }
    s.push_str(
        "<div class=\"scroll\"><table class=\"codes\"><thead><tr><th>Type</th><th>Name</th>",
    );
    for c in &codes {
        let class = c.chars().next().filter(|d| ('2'..='5').contains(d));
        let _ = write!(
            s,
            "<th class=\"n{}\">{}</th>",
            class.map_or_else(String::new, |d| format!(" c{d}")),
            escape(c)
        );
    }
    if any_unanswered {
        s.push_str("<th class=\"n\">no answer</th>");
    }
    s.push_str("</tr></thead><tbody>");
    for (q, total) in r
        .requests
        .iter()
        .map(|q| (q, false))
        .chain(std::iter::once((&r.aggregated, true)))
    {
        let _ = write!(
            s,
            "<tr{}><td>{}</td><td>{}</td>",
            if total { " class=\"total\"" } else { "" },
            escape(&q.method),
            escape(&q.name)
        );
        for c in &codes {
            match q.status_codes.get(*c) {
                Some(n) => {
                    let _ = write!(s, "<td class=\"n\">{n}</td>");
                }
                None => s.push_str("<td class=\"n na\">·</td>"),
            }
        }
        if any_unanswered {
            let _ = write!(s, "<td class=\"n\">{}</td>", unanswered(q));
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table></div>");
    if any_unanswered {
        s.push_str(
            "<p class=\"na\">\"no answer\" counts requests that got no status at all (could not connect, timed \
             out, broken connection).</p>",
        );
    }
    s.push_str("</section>\n");
}

/// A Unix time as `HH:MM:SS` (UTC) with its offset from the start of the run.
fn seen(t: Option<u64>, start: Option<u64>) -> String {
    let Some(t) = t else {
        return "<span class=\"na\">N/A</span>".into();
    };
    // humantime formats up to the year 9999 (a results file is checked to stay there; never a panic here).
    let stamp = match UNIX_EPOCH.checked_add(Duration::from_secs(t)) {
        Some(at) if t < 253_402_300_800 => humantime::format_rfc3339_seconds(at).to_string(),
        _ => format!("Unix time {t}"),
    };
    let clock = stamp.get(11..19).unwrap_or(&stamp);
    match start {
        Some(st) => format!(
            "<span title=\"{stamp}\">{clock} <span class=\"na\">+{}</span></span>",
            chart::elapsed_label(t.saturating_sub(st))
        ),
        None => format!("<span title=\"{stamp}\">{clock}</span>"),
    }
}

fn failures(s: &mut String, r: &RunResults) {
    s.push_str("<section id=\"failures\"><h2>Failures</h2>");
    if r.failures.is_empty() {
        s.push_str("<p>No failures.</p></section>\n");
        return;
    }
    let start = start_unix(r);
    let mut rows: Vec<_> = r.failures.iter().collect();
    // Most frequent first; a stable sort keeps the results' order among equals.
    rows.sort_by_key(|f| std::cmp::Reverse(f.occurrences));
    let _ = write!(
        s,
        "<p>{} distinct failures, {} in all.</p><div class=\"scroll\"><table class=\"failures\"><thead><tr>\
         <th class=\"n\">Occurrences</th><th>Type</th><th>Name</th><th>Kind</th><th>Message</th>\
         <th>First seen (UTC)</th><th>Last seen (UTC)</th></tr></thead><tbody>",
        r.failures.len(),
        r.failures.iter().map(|f| f.occurrences).sum::<u64>()
    );
    for f in rows {
        let _ = write!(
            s,
            "<tr><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"msg\">{}</td><td>{}</td><td>{}</td></tr>",
            f.occurrences,
            escape(&f.method),
            escape(&f.name),
            f.kind.as_str(),
            escape(&f.message),
            seen(f.first_seen, start),
            seen(f.last_seen, start),
        );
    }
    s.push_str("</tbody></table></div></section>\n");
}

fn scenario_requests(s: &mut String, r: &RunResults) {
    let defs = &r.settings.requests;
    if defs.is_empty() {
        return;
    }
    s.push_str(
        "<section id=\"scenario\"><h2>Scenario requests</h2><div class=\"scroll\"><table class=\"defs\">\
         <caption>As the scenario defines them: paths are templates, header values and bodies are never \
         included.</caption><thead><tr><th>Name</th><th>Phase</th><th>Method</th><th>Path</th>\
         <th class=\"n\">Weight</th><th>Expected status</th><th>Captures</th><th>Headers</th></tr></thead><tbody>",
    );
    for d in defs {
        let list = |v: &[String]| {
            if v.is_empty() {
                "<span class=\"na\">—</span>".to_string()
            } else {
                escape(&v.join(", "))
            }
        };
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td class=\"n\">{}</td><td>{}</td>\
             <td>{}</td><td>{}</td></tr>",
            escape(&d.name),
            escape(&{
                let mut phase = match &d.flow {
                    Some(f) => format!("step of {f}"),
                    None => d.kind.clone(),
                };
                if let Some(c) = &d.class {
                    phase.push_str(&format!(" ({c})"));
                }
                phase
            }),
            escape(&d.method),
            escape(&d.path),
            d.weight,
            d.expect_status.as_ref().map_or_else(
                || "any 2xx".to_string(),
                |v| v.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
            ),
            list(&d.captures),
            list(&d.header_names),
        );
    }
    s.push_str("</tbody></table></div></section>\n");
}
