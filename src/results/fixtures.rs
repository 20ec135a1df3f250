//! Results to test with, built in one place: a time-series point, a row of statistics, a whole run.
//!
//! Each builder returns a value with every field at a plain default, so a test says only what it is about
//! (`SeriesPoint { lag_ms: 25.0, ..point(3.0) }`) and a field added to the model later is added here once,
//! not in every test module.

#![allow(clippy::unwrap_used)]

use hdrhistogram::Histogram;

use super::stats::interval_latency;
use super::stats::new_histogram;
use super::{Hist, RequestStats, RunResults, SeriesPoint, StepInterval};

/// A histogram (µs) counting each of `values` once.
pub fn histogram(values: &[u64]) -> Histogram<u64> {
    let mut h = new_histogram();
    for v in values {
        h.record(*v).unwrap();
    }
    h
}

/// The histogram of `values` as the results hold it; `None` when there are none.
pub fn hist(values: &[u64]) -> Option<Hist> {
    Hist::of_some(&histogram(values))
}

/// The point of the time series ending `elapsed_s` seconds into the run (at Unix time `elapsed_s`, whole):
/// one user, no requests, no histogram.
pub fn point(elapsed_s: f64) -> SeriesPoint {
    SeriesPoint {
        elapsed_s,
        timestamp: elapsed_s as u64,
        users: 1,
        target_users: 1,
        requests: 0,
        failures: 0,
        rps: 0.0,
        failures_per_s: 0.0,
        p50_ms: None,
        p95_ms: None,
        p99_ms: None,
        max_ms: None,
        cpu_pct: None,
        lag_ms: 0.0,
        hdr: None,
        by_request: Vec::new(),
        target_rate: None,
        iterations: 0,
        dropped: 0,
    }
}

/// `p` with the latencies of `h` (µs) as its histogram and figures: requests (all successful, unless `p` had
/// failures) and the rate over one second.
pub fn timed(p: SeriesPoint, h: &Histogram<u64>) -> SeriesPoint {
    let l = interval_latency(h);
    SeriesPoint {
        requests: h.len(),
        rps: h.len() as f64,
        p50_ms: l.p50,
        p95_ms: l.p95,
        p99_ms: l.p99,
        max_ms: l.max,
        hdr: Hist::of_some(h),
        ..p
    }
}

/// One request name's interval: `requests` and `failures`, the latencies of `h` (µs), no bytes.
pub fn interval(requests: u64, failures: u64, h: &Histogram<u64>) -> StepInterval {
    StepInterval {
        requests,
        failures,
        bytes: 0,
        hdr: Hist::of_some(h),
    }
}

/// A row of statistics for `method name` with `requests` and `failures` over 1 s and nothing timed; set
/// `percentiles_ms` (and the like) for a row with latencies.
pub fn row(method: &str, name: &str, requests: u64, failures: u64) -> RequestStats {
    RequestStats::of(
        method,
        name,
        (requests, failures, 0.0),
        [None, None, None],
        Default::default(),
        1.0,
    )
}

/// A small but complete run's results: two requests (`GET home`, 1,000 requests; `POST cart|add`, 500 with 10
/// failures), the given gates (as JSON, the way results files carry them), optionally interrupted.
pub fn results(scenario: &str, gates: serde_json::Value, interrupted: bool) -> RunResults {
    let pct = serde_json::json!({
        "p50": 12.0, "p66": 15.0, "p75": 18.0, "p80": 20.0, "p90": 40.0, "p95": 612.4,
        "p98": 700.0, "p99": 812.0, "p99_9": 900.0, "p99_99": 950.0, "p100": 990.0
    });
    let req = |method: &str, name: &str, n: u64, f: u64| {
        serde_json::json!({
            "method": method, "name": name, "requests": n, "failures": f,
            "success_rate": 100.0 * (n - f) as f64 / n as f64, "rps": n as f64 / 10.0,
            "failures_per_s": f as f64 / 10.0, "min_ms": 1.0, "mean_ms": 50.0, "max_ms": 990.0,
            "percentiles_ms": pct, "ttfb_percentiles_ms": null, "avg_content_bytes": 512.0,
            "status_codes": { "200": n - f, "500": f }
        })
    };
    let passed = gates
        .as_array()
        .unwrap()
        .iter()
        .all(|g| g["passed"].as_bool().unwrap());
    serde_json::from_value(serde_json::json!({
        "schema_version": 1,
        "loadgen_version": "0.1.0",
        "run_id": "r-1",
        "scenario": { "name": scenario, "file": "shop.toml" },
        "settings": {
            "host": "http://127.0.0.1:8080", "users": 50, "spawn_rate": 10.0, "duration_s": 10.0,
            "timeout_s": 5.0, "stop_timeout_s": 2.0, "connections": "per_user",
            "wait": { "mode": "none", "min_s": 0.0, "max_s": 0.0 },
            "requests": []
        },
        "started_at": "2025-01-02T03:04:05.678Z",
        "ended_at": "2025-01-02T03:04:15.678Z",
        "duration_s": if interrupted { 4.5 } else { 10.0 },
        "interrupted": interrupted,
        "totals": {
            "requests": 1500, "failures": 10, "success_rate": 99.333, "rps": 150.0,
            "failures_per_s": 1.0, "peak_users": 50, "aborted_users": 0
        },
        "requests": [req("GET", "home", 1000, 0), req("POST", "cart|add", 500, 10)],
        "aggregated": req("", "Aggregated", 1500, 10),
        "failures": [{
            "method": "POST", "name": "cart|add", "kind": "status",
            "message": "status 500 (expected 2xx)", "occurrences": 10
        }],
        "time_series": [],
        "gates": { "passed": passed, "results": gates },
        "generator": {
            "cores": 4, "cpu_pct_mean": 30.0, "cpu_pct_max": 95.0, "lag_ms_max": 1.0,
            "warnings": ["loadgen's own CPU reached 95% of 4 core(s)"]
        }
    }))
    .unwrap()
}

/// A complete results file of two requests, with histograms, a time series and a segment.
pub fn sample() -> serde_json::Value {
    let mut h = new_histogram();
    for v in [900u64, 1_000, 1_200, 5_000] {
        h.record_n(v, 25).unwrap();
    }
    let statuses = [("200".to_string(), 98), ("500".to_string(), 2)];
    let row = |name: &str| {
        RequestStats::of(
            "GET",
            name,
            (100, 2, 0.0),
            [Some(&h), Some(&h), None],
            statuses.iter().cloned().collect(),
            10.0,
        )
    };
    let point = |elapsed: f64| {
        serde_json::json!({"elapsed_s": elapsed, "timestamp": 1_700_000_000u64 + elapsed as u64, "users": 2,
               "target_users": 2, "requests": 100, "failures": 2, "rps": 100.0, "failures_per_s": 2.0,
               "p50_ms": 1.0, "p95_ms": 5.0, "p99_ms": 5.0, "max_ms": 5.0, "cpu_pct": 3.0, "lag_ms": 0.1,
               "hdr": super::hdr::encode(&h),
               "by_request": [{"requests": 100, "failures": 2, "bytes": 1000, "hdr": super::hdr::encode(&h)}],
               "target_rate": null, "iterations": 0, "dropped": 0})
    };
    serde_json::json!({
        "schema_version": super::SCHEMA_VERSION,
        "loadgen_version": "0.1.0",
        "run_id": "r1",
        "scenario": {"name": "s", "file": "s.toml"},
        "settings": {
            "host": "http://h", "users": 2, "spawn_rate": 1.0, "duration_s": 10.0, "timeout_s": 1.0,
            "stop_timeout_s": 1.0, "connections": "per_user",
            "stages": [{"duration_s": 5.0, "users": 2, "spawn_rate": null}],
            "wait": {"mode": "between", "min_s": 0.5, "max_s": 1.0},
            "segment": {"index": 1, "count": 2},
            "requests": [{"name": "home", "kind": "task", "method": "GET", "path": "/", "weight": 1,
                "expect_status": null, "captures": [], "header_names": [], "restart_session": false,
                "timeout_s": 2.0}]
        },
        "started_at": "2026-01-01T00:00:00.000Z", "ended_at": "2026-01-01T00:00:10.000Z",
        "duration_s": 10.0, "interrupted": false,
        "totals": {"requests": 100, "failures": 2, "success_rate": 98.0, "rps": 10.0,
            "failures_per_s": 0.2, "peak_users": 2, "aborted_users": 0},
        "requests": [row("home"), row("about")],
        "aggregated": row("Aggregated"),
        "failures": [{"method": "GET", "name": "home", "kind": "status", "message": "HTTP 500",
            "occurrences": 2, "first_seen": 100, "last_seen": 200}],
        "time_series": [point(1.0), point(2.0)],
        "gates": {"passed": true, "results": []},
        "generator": {"cores": 2, "cpu_pct_mean": 3.0, "cpu_pct_max": 3.0, "lag_ms_max": 0.1, "warnings": []}
    })
}

/// One failing p95 gate on all requests and one passing success-rate gate on "home".
pub fn two_gates() -> serde_json::Value {
    serde_json::json!([
        { "scope": null, "metric": "p95_ms", "op": "<", "threshold": 500.0,
          "measured": 612.4, "passed": false },
        { "scope": "home", "metric": "success_rate", "op": ">=", "threshold": 99.0,
          "measured": 100.0, "passed": true }
    ])
}
