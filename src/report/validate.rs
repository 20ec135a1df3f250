//! Results files are untrusted input: what `report`, `compare` and `merge` check in one before using it.
//!
//! A results file may have been edited, truncated, written by another tool, or made to break loadgen. Each one
//! read is checked here once, after its schema version: every field of [`RunResults`] present with its type
//! (a serde error is located at its field path, e.g. `requests[2].percentiles_ms.p95`), then what the types
//! cannot say: counts within [`MAX_COUNT`] and failures within requests, rates and latencies non-negative,
//! percentages within 0..=100, durations within [`MAX_SECONDS`], percentiles in order, segments within
//! [`MAX_SEGMENTS`] with their index below their count, and every histogram readable within [`hdr`]'s limits,
//! each on its own and all of them together ([`hdr::FILE_BUDGET`]; histograms are decoded as the file is read,
//! by [`crate::results::Hist`], within [`crate::results::reading_a_file`]'s budget). The first problem found is the error,
//! naming the field; nothing is dropped or repaired, so results written from a file are never marked valid
//! after part of it was left out.

use serde::Deserialize as _;
use serde_json::Value;

use super::{Percentiles, RequestStats, RunResults, Settings, WaitInfo};
use crate::metrics::{SeriesPoint, hdr};
use crate::plan::MAX_SEGMENTS;

/// The largest count (requests, failures, users, iterations...) a results file may hold: [`hdr::MAX_TOTAL`], a
/// million requests a second for 30 years.
pub const MAX_COUNT: u64 = hdr::MAX_TOTAL;

/// The longest duration (seconds) a results file may hold: about 31 years.
pub const MAX_SECONDS: f64 = 1e9;

/// The largest rate, latency (ms) or size a results file may hold (`u64::MAX` µs is 1.8e16 ms).
pub const MAX_VALUE: f64 = 1e18;

/// The latest Unix time (seconds) a results file may hold: the last second of the year 9999, the last one
/// RFC 3339 can write.
pub const MAX_UNIX_SECONDS: u64 = 253_402_300_799;

/// Issue 21 item 4: `monitor` within the bounds a run keeps (series, values a series, warnings), its times
/// durations and its values within [`MAX_VALUE`] either way.
fn monitor(m: &crate::results::MonitorResults) -> Result {
    use crate::plan::monitor::{MAX_MONITOR_ENDPOINTS, MAX_MONITOR_SERIES};
    use crate::results::{MAX_MONITOR_POINTS, MAX_MONITOR_WARNINGS};
    seconds("monitor.interval_s", m.interval_s)?;
    let most = |at: &str, n: usize, max: usize| {
        if n > max {
            Err(format!("{at}: {n} entries (a run keeps at most {max})"))
        } else {
            Ok(())
        }
    };
    most(
        "monitor.endpoints",
        m.endpoints.len(),
        MAX_MONITOR_ENDPOINTS,
    )?;
    most("monitor.series", m.series.len(), MAX_MONITOR_SERIES)?;
    most("monitor.warnings", m.warnings.len(), MAX_MONITOR_WARNINGS)?;
    for (i, s) in m.series.iter().enumerate() {
        most(
            &format!("monitor.series[{i}].points"),
            s.points.len(),
            MAX_MONITOR_POINTS,
        )?;
        for (j, p) in s.points.iter().enumerate() {
            seconds(&format!("monitor.series[{i}].points[{j}].t_s"), p.t_s)?;
            if !(p.value.is_finite() && p.value.abs() <= MAX_VALUE) {
                return Err(format!(
                    "monitor.series[{i}].points[{j}].value: {} is out of range (at most {MAX_VALUE} either way)",
                    p.value
                ));
            }
        }
    }
    for (i, w) in m.warnings.iter().enumerate() {
        seconds(&format!("monitor.warnings[{i}].t_s"), w.t_s)?;
    }
    Ok(())
}

/// A problem at a field path.
type Result<T = ()> = std::result::Result<T, String>;

/// The results in `value` (a document of the current schema version, already checked), checked through.
/// The error names the field path and what is wrong with it.
pub fn results(value: &Value) -> Result<RunResults> {
    // Histograms are decoded as they are read (crate::results::Hist), within one budget for the file.
    let r = match crate::results::reading_a_file(|| RunResults::deserialize(value)) {
        (Ok(r), _) => r,
        // A histogram's own error says what is wrong with it.
        (Err(e), true) => return Err(locate(value, &e)),
        (Err(e), false) => {
            return Err(format!(
                "{} (not a complete loadgen results file: it was probably edited, or written by another tool)",
                locate(value, &e)
            ));
        }
    };
    check(&r)?;
    Ok(r)
}

/// `e`, a serde error from reading `value` into [`RunResults`], prefixed with the path of the field it is about.
///
/// serde_json says where an error is only as a line and column of text, so `value` is printed again
/// (pretty, one field a line), read again, and the line of the error mapped back to the field it holds.
fn locate(value: &Value, e: &serde_json::Error) -> String {
    let message = |e: &serde_json::Error| {
        let text = e.to_string();
        match text.rfind(" at line ") {
            Some(i) => text[..i].to_string(),
            None => text,
        }
    };
    let Ok(pretty) = serde_json::to_string_pretty(value) else {
        return message(e);
    };
    let (Err(again), _) =
        crate::results::reading_a_file(|| serde_json::from_str::<RunResults>(&pretty))
    else {
        return message(e);
    };
    let mut lines = vec![String::new()];
    line_paths(value, "", &mut lines);
    match lines.get(again.line().saturating_sub(1)) {
        Some(path) if !path.is_empty() => format!("{path}: {}", message(&again)),
        _ => message(&again),
    }
}

/// The path of each line of `serde_json::to_string_pretty` after the one where `v` (at `path`) starts: a
/// line per member and element, and one for the closing bracket (which belongs to `v`, where a missing field
/// is reported).
fn line_paths(v: &Value, path: &str, lines: &mut Vec<String>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                lines.push(p.clone());
                line_paths(x, &p, lines);
            }
            lines.push(path.to_string());
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, x) in a.iter().enumerate() {
                let p = format!("{path}[{i}]");
                lines.push(p.clone());
                line_paths(x, &p, lines);
            }
            lines.push(path.to_string());
        }
        _ => {}
    }
}

/// What the types of [`RunResults`] cannot say (also run on what `merge` is about to write, so that it never
/// writes results loadgen cannot read back).
pub fn check(r: &RunResults) -> Result {
    seconds("duration_s", r.duration_s)?;
    settings(&r.settings)?;
    let t = &r.totals;
    requests_failures("totals", t.requests, t.failures)?;
    percent("totals.success_rate", t.success_rate)?;
    value("totals.rps", t.rps)?;
    value("totals.failures_per_s", t.failures_per_s)?;
    count("totals.peak_users", t.peak_users)?;
    count("totals.aborted_users", t.aborted_users)?;
    if let Some(it) = &t.iterations {
        count("totals.iterations.due", it.due)?;
        count("totals.iterations.started", it.started)?;
        count("totals.iterations.dropped", it.dropped)?;
        value("totals.iterations.rate", it.rate)?;
    }
    for (i, q) in r.requests.iter().enumerate() {
        request(&format!("requests[{i}]"), q)?;
    }
    request("aggregated", &r.aggregated)?;
    for (i, f) in r.failures.iter().enumerate() {
        count(&format!("failures[{i}].occurrences"), f.occurrences)?;
        unix_time(&format!("failures[{i}].first_seen"), f.first_seen)?;
        unix_time(&format!("failures[{i}].last_seen"), f.last_seen)?;
    }
    for (i, p) in r.time_series.iter().enumerate() {
        point(&format!("time_series[{i}]"), p)?;
    }
    if let Some(m) = &r.monitor {
        monitor(m)?;
    }
    if let Some(a) = &r.aborted {
        seconds("aborted.at_s", a.at_s)?;
    }
    let g = &r.generator;
    opt_value("generator.cpu_pct_mean", g.cpu_pct_mean)?;
    opt_value("generator.cpu_pct_max", g.cpu_pct_max)?;
    value("generator.lag_ms_max", g.lag_ms_max)?;
    if let Some(m) = &r.merged {
        segment_count("merged.count", m.count)?;
        for (what, list) in [("segments", &m.segments), ("missing", &m.missing)] {
            if list.len() as u64 > m.count {
                return Err(format!(
                    "merged.{what}: {} entries for {} segments",
                    list.len(),
                    m.count
                ));
            }
            for (i, s) in list.iter().enumerate() {
                if *s >= m.count {
                    return Err(format!(
                        "merged.{what}[{i}]: segment {s} of {} (an index is below the count)",
                        m.count
                    ));
                }
            }
        }
    }
    Ok(())
}

fn settings(s: &Settings) -> Result {
    count("settings.users", s.users)?;
    opt_value("settings.spawn_rate", s.spawn_rate)?;
    if let Some(a) = &s.arrival {
        for (i, st) in a.stages.iter().enumerate() {
            seconds(
                &format!("settings.arrival.stages[{i}].duration_s"),
                st.duration_s,
            )?;
            value(&format!("settings.arrival.stages[{i}].rate"), st.rate)?;
        }
        seconds("settings.arrival.queue_timeout_s", a.queue_timeout_s)?;
        count("settings.arrival.planned_iterations", a.planned_iterations)?;
    }
    if let Some(d) = &s.data {
        count("settings.data.rows", d.rows)?;
    }
    seconds("settings.duration_s", s.duration_s)?;
    seconds("settings.timeout_s", s.timeout_s)?;
    seconds("settings.stop_timeout_s", s.stop_timeout_s)?;
    for (i, st) in s.stages.iter().enumerate() {
        seconds(&format!("settings.stages[{i}].duration_s"), st.duration_s)?;
        count(&format!("settings.stages[{i}].users"), st.users)?;
        opt_value(&format!("settings.stages[{i}].spawn_rate"), st.spawn_rate)?;
    }
    wait("settings.wait", &s.wait)?;
    for (i, c) in s.classes.iter().enumerate() {
        wait(&format!("settings.classes[{i}].wait"), &c.wait)?;
    }
    if let Some(n) = s.max_iterations {
        count("settings.max_iterations", n)?;
    }
    if let Some(seg) = s.segment {
        segment_count("settings.segment.count", seg.count)?;
        if seg.index >= seg.count {
            return Err(format!(
                "settings.segment.index: segment {} of {} (the index is from 0 to the count - 1)",
                seg.index, seg.count
            ));
        }
    }
    for (i, q) in s.requests.iter().enumerate() {
        if let Some(t) = q.timeout_s {
            seconds(&format!("settings.requests[{i}].timeout_s"), t)?;
        }
    }
    Ok(())
}

fn wait(at: &str, w: &WaitInfo) -> Result {
    seconds(&format!("{at}.min_s"), w.min_s)?;
    seconds(&format!("{at}.max_s"), w.max_s)?;
    if w.min_s > w.max_s {
        return Err(format!(
            "{at}: min_s {} is above max_s {}",
            w.min_s, w.max_s
        ));
    }
    Ok(())
}

fn request(at: &str, q: &RequestStats) -> Result {
    requests_failures(at, q.requests, q.failures)?;
    percent(&format!("{at}.success_rate"), q.success_rate)?;
    value(&format!("{at}.rps"), q.rps)?;
    value(&format!("{at}.failures_per_s"), q.failures_per_s)?;
    opt_value(&format!("{at}.min_ms"), q.min_ms)?;
    opt_value(&format!("{at}.mean_ms"), q.mean_ms)?;
    opt_value(&format!("{at}.max_ms"), q.max_ms)?;
    if let (Some(min), Some(max)) = (q.min_ms, q.max_ms)
        && min > max
    {
        return Err(format!("{at}: min_ms {min} is above max_ms {max}"));
    }
    for (name, p) in [
        ("percentiles_ms", &q.percentiles_ms),
        ("ttfb_percentiles_ms", &q.ttfb_percentiles_ms),
        ("uncorrected_percentiles_ms", &q.uncorrected_percentiles_ms),
    ] {
        if let Some(p) = p {
            percentiles(&format!("{at}.{name}"), p)?;
        }
    }
    value(&format!("{at}.avg_content_bytes"), q.avg_content_bytes)?;
    for (code, n) in &q.status_codes {
        count(&format!("{at}.status_codes.{code}"), *n)?;
    }
    Ok(())
}

/// Percentiles each within range and in order (p50 <= p66 <= ... <= p100).
fn percentiles(at: &str, p: &Percentiles) -> Result {
    let all = [
        ("p50", p.p50),
        ("p66", p.p66),
        ("p75", p.p75),
        ("p80", p.p80),
        ("p90", p.p90),
        ("p95", p.p95),
        ("p98", p.p98),
        ("p99", p.p99),
        ("p99_9", p.p99_9),
        ("p99_99", p.p99_99),
        ("p100", p.p100),
    ];
    ordered(at, &all)
}

/// Each of `all` non-negative and at least the one before it.
fn ordered(at: &str, all: &[(&str, f64)]) -> Result {
    for (name, v) in all {
        value(&format!("{at}.{name}"), *v)?;
    }
    for pair in all.windows(2) {
        let ((a, x), (b, y)) = (pair[0], pair[1]);
        if x > y {
            return Err(format!(
                "{at}.{b}: {y} is below {a} ({x}): percentiles out of order"
            ));
        }
    }
    Ok(())
}

fn point(at: &str, p: &SeriesPoint) -> Result {
    seconds(&format!("{at}.elapsed_s"), p.elapsed_s)?;
    unix_time(&format!("{at}.timestamp"), Some(p.timestamp))?;
    count(&format!("{at}.users"), p.users)?;
    count(&format!("{at}.target_users"), p.target_users)?;
    requests_failures(at, p.requests, p.failures)?;
    value(&format!("{at}.rps"), p.rps)?;
    value(&format!("{at}.failures_per_s"), p.failures_per_s)?;
    let quantiles: Vec<(&str, f64)> = [
        ("p50_ms", p.p50_ms),
        ("p95_ms", p.p95_ms),
        ("p99_ms", p.p99_ms),
        ("max_ms", p.max_ms),
    ]
    .into_iter()
    .filter_map(|(k, v)| Some((k, v?)))
    .collect();
    ordered(at, &quantiles)?;
    opt_value(&format!("{at}.cpu_pct"), p.cpu_pct)?;
    value(&format!("{at}.lag_ms"), p.lag_ms)?;
    for (k, s) in p.by_request.iter().enumerate() {
        let at = format!("{at}.by_request[{k}]");
        requests_failures(&at, s.requests, s.failures)?;
        count(&format!("{at}.bytes"), s.bytes)?;
    }
    opt_value(&format!("{at}.target_rate"), p.target_rate)?;
    count(&format!("{at}.iterations"), p.iterations)?;
    count(&format!("{at}.dropped"), p.dropped)
}

fn count(at: &str, n: u64) -> Result {
    if n > MAX_COUNT {
        return Err(format!(
            "{at}: {n} is more than any run counts (at most {MAX_COUNT})"
        ));
    }
    Ok(())
}

/// `requests` and `failures` of `at`: each a count, and no more failures than requests.
fn requests_failures(at: &str, requests: u64, failures: u64) -> Result {
    count(&format!("{at}.requests"), requests)?;
    count(&format!("{at}.failures"), failures)?;
    if failures > requests {
        return Err(format!(
            "{at}.failures: {failures} failures of {requests} requests (at most as many as the requests)"
        ));
    }
    Ok(())
}

fn within(at: &str, v: f64, max: f64, what: &str) -> Result {
    if !(0.0..=max).contains(&v) {
        return Err(format!(
            "{at}: {} is not within 0 and {} ({what})",
            num(v),
            num(max)
        ));
    }
    Ok(())
}

/// `v` as a person reads it: 1e300 rather than 301 digits.
fn num(v: f64) -> String {
    if v != 0.0 && !(1e-6..1e15).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

fn value(at: &str, v: f64) -> Result {
    within(at, v, MAX_VALUE, "a rate, latency or size")
}

fn opt_value(at: &str, v: Option<f64>) -> Result {
    v.map_or(Ok(()), |v| value(at, v))
}

fn seconds(at: &str, v: f64) -> Result {
    within(at, v, MAX_SECONDS, "a duration in seconds")
}

fn percent(at: &str, v: f64) -> Result {
    within(at, v, 100.0, "a percentage")
}

fn unix_time(at: &str, t: Option<u64>) -> Result {
    match t {
        Some(t) if t > MAX_UNIX_SECONDS => Err(format!(
            "{at}: {t} is not a Unix time up to the year 9999 (at most {MAX_UNIX_SECONDS})"
        )),
        _ => Ok(()),
    }
}

fn segment_count(at: &str, n: u64) -> Result {
    if !(1..=MAX_SEGMENTS).contains(&n) {
        return Err(format!(
            "{at}: {n} segments (from 1 to at most {MAX_SEGMENTS})"
        ));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
