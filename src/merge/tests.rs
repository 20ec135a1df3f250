//! Merging results: exact histograms, wall-clock alignment, and the refusals.

use super::*;
use crate::metrics::{ms, new_histogram};
use crate::results::{Hist, fixtures};
use hdrhistogram::Histogram;

/// A results file as segment `index` of `count` would write it, with `latencies` (µs) for its one request,
/// each in the second `timestamp0 + position % 3`.
fn segment_results(index: u64, count: u64, latencies: &[u64], timestamp0: u64) -> RunResults {
    let mut whole = new_histogram();
    let mut per_second: BTreeMap<u64, Histogram<u64>> = BTreeMap::new();
    for (i, v) in latencies.iter().enumerate() {
        whole.record(*v).unwrap();
        per_second
            .entry(timestamp0 + i as u64 % 3)
            .or_insert_with(new_histogram)
            .record(*v)
            .unwrap();
    }
    let mut st = crate::metrics::StepStats::default();
    st.latency.add(&whole).unwrap();
    st.requests = latencies.len() as u64;
    st.statuses.insert(200, latencies.len() as u64);
    let row = crate::report::stats("GET", "home", &st, 3.0);
    let mut agg = row.clone();
    agg.method = String::new();
    agg.name = "Aggregated".into();
    let series: Vec<SeriesPoint> = per_second
        .iter()
        .map(|(t, h)| SeriesPoint {
            timestamp: *t,
            by_request: vec![fixtures::interval(h.len(), 0, h)],
            ..fixtures::timed(fixtures::point((t - timestamp0 + 1) as f64), h)
        })
        .collect();
    let json = serde_json::json!({
        "schema_version": crate::report::SCHEMA_VERSION,
        "loadgen_version": "0.1.0",
        "run_id": format!("run{index}"),
        "scenario": {"name": "s", "file": "/scenario/s.toml"},
        "settings": {
            "host": "http://h", "users": 1, "spawn_rate": 1.0, "duration_s": 3.0, "timeout_s": 1.0,
            "stop_timeout_s": 1.0, "connections": "per_user",
            "wait": {"mode": "none", "min_s": 0.0, "max_s": 0.0},
            "segment": {"index": index, "count": count},
            "requests": [{"name": "home", "kind": "task", "method": "GET", "path": "/", "weight": 1,
                "expect_status": null, "captures": [], "header_names": [], "restart_session": false,
                "timeout_s": null}]
        },
        "started_at": "2026-01-01T00:00:00.000Z", "ended_at": "2026-01-01T00:00:03.000Z",
        "duration_s": 3.0, "interrupted": false,
        "totals": {"requests": latencies.len(), "failures": 0, "success_rate": 100.0, "rps": 1.0,
            "failures_per_s": 0.0, "peak_users": 1, "aborted_users": 0},
        "requests": [row], "aggregated": agg,
        "failures": [{"method": "GET", "name": "home", "kind": "status", "message": "HTTP 500",
            "occurrences": 1 + index, "first_seen": 100 + index, "last_seen": 200 + index}],
        "time_series": series,
        "gates": {"passed": true, "results": [{"scope": null, "metric": "p95_ms", "op": "<",
            "threshold": 1000.0, "measured": 1.0, "passed": true}]},
        "generator": {"cores": 2, "cpu_pct_mean": null, "cpu_pct_max": null, "lag_ms_max": 0.0,
            "warnings": []}
    });
    serde_json::from_value(json).unwrap()
}

fn inputs(rs: Vec<RunResults>) -> Vec<(PathBuf, RunResults)> {
    rs.into_iter()
        .enumerate()
        .map(|(i, r)| (PathBuf::from(format!("seg-{i}.json")), r))
        .collect()
}

#[test]
fn merged_histograms_equal_recording_every_request_in_one() {
    let parts: Vec<Vec<u64>> = (0..4u64)
        .map(|s| (1..500u64).map(|v| v * (s + 1) * 37 + s).collect())
        .collect();
    let mut all = new_histogram();
    for v in parts.iter().flatten() {
        all.record(*v).unwrap();
    }
    let rs = parts
        .iter()
        .enumerate()
        .map(|(i, p)| segment_results(i as u64, 4, p, 1_700_000_000))
        .collect();
    let m = merge(inputs(rs)).unwrap();
    let merged = m.requests[0].hdr.as_ref().unwrap().histogram();
    assert_eq!(merged, all);
    assert_eq!(m.requests[0].percentiles_ms, Some(Percentiles::of(&all)));
    assert_eq!(m.aggregated.percentiles_ms, Some(Percentiles::of(&all)));
    assert_eq!(m.requests[0].max_ms, Some(ms(all.max())));
    assert_eq!(m.requests[0].min_ms, Some(ms(all.min())));
    assert_eq!(m.totals.requests, all.len());
    assert_eq!(m.requests[0].status_codes["200"], all.len());
    assert_eq!(m.settings.users, 4);
    assert_eq!(m.settings.segment, None);
    let info = m.merged.as_ref().unwrap();
    assert!(info.complete && info.missing.is_empty());
    assert_eq!(info.segments, [0, 1, 2, 3]);
    // Failures: one entry, counts added, first and last seen widened.
    assert_eq!(m.failures.len(), 1);
    assert_eq!(m.failures[0].occurrences, 1 + 2 + 3 + 4);
    assert_eq!(
        (m.failures[0].first_seen, m.failures[0].last_seen),
        (Some(100), Some(203))
    );
    assert!(m.gates.passed && m.validity.valid);
}

#[test]
fn time_series_are_aligned_on_wall_clock_seconds() {
    // Segment 1 started a second later than segment 0: its seconds are t0+1.. .
    let a = segment_results(0, 2, &[1000, 2000, 3000], 1_700_000_000);
    let b = segment_results(1, 2, &[5000, 6000, 7000], 1_700_000_001);
    let m = merge(inputs(vec![b, a])).unwrap();
    let stamps: Vec<u64> = m.time_series.iter().map(|p| p.timestamp).collect();
    assert_eq!(
        stamps,
        [1_700_000_000, 1_700_000_001, 1_700_000_002, 1_700_000_003]
    );
    let counts: Vec<u64> = m.time_series.iter().map(|p| p.requests).collect();
    assert_eq!(counts, [1, 2, 2, 1]);
    // The second both share holds 2000 µs and 5000 µs, merged into one histogram.
    let h = m.time_series[1].hdr.as_ref().unwrap().histogram();
    assert_eq!(
        (h.len(), h.min(), h.max()),
        (2, 2000, h.highest_equivalent(5000))
    );
    assert_eq!(m.time_series[1].by_request[0].requests, 2);
    assert_eq!(m.time_series[1].users, 2);
}

#[test]
fn mismatched_inputs_are_refused() {
    let one = |i, n| segment_results(i, n, &[1000], 1_700_000_000);
    let msg = |r: Result<RunResults, Error>| r.unwrap_err().to_string();

    let e = msg(merge(inputs(vec![one(0, 2), one(0, 2)])));
    assert!(e.contains("both segment 0/2"), "{e}");

    let e = msg(merge(inputs(vec![one(0, 2), one(1, 3)])));
    assert!(e.contains("segment counts disagree"), "{e}");

    let mut other = one(1, 2);
    other.scenario.name = "other".into();
    let e = msg(merge(inputs(vec![one(0, 2), other])));
    assert!(e.contains("one scenario"), "{e}");

    let mut other = one(1, 2);
    other.settings.requests[0].path = "/else".into();
    let e = msg(merge(inputs(vec![one(0, 2), other])));
    assert!(e.contains("requests differ"), "{e}");

    let mut other = one(1, 2);
    other.schema_version += 1;
    let e = msg(merge(inputs(vec![one(0, 2), other])));
    assert!(e.contains("schema version"), "{e}");

    let mut whole = one(1, 2);
    whole.settings.segment = None;
    let e = msg(merge(inputs(vec![one(0, 2), whole])));
    assert!(e.contains("not a segment"), "{e}");

    assert!(merge(Vec::new()).is_err());
}

#[test]
fn missing_segments_make_the_result_incomplete_and_invalid() {
    let m = merge(inputs(vec![
        segment_results(0, 3, &[1000], 1_700_000_000),
        segment_results(2, 3, &[1000], 1_700_000_000),
    ]))
    .unwrap();
    let info = m.merged.unwrap();
    assert_eq!(
        (info.segments, info.missing, info.complete),
        (vec![0, 2], vec![1], false)
    );
    assert!(!m.validity.valid);
}

#[test]
fn uncorrected_latencies_merge_exactly_from_their_histograms() {
    // An arrival rate's segments: each request also has its uncorrected (from-send) histogram.
    let mut all = new_histogram();
    let rs = (0..3u64)
        .map(|s| {
            let mut r = segment_results(s, 3, &[1_000, 2_000, 3_000], 1_700_000_000);
            let mut h = new_histogram();
            for v in 1..200u64 {
                let x = v * (s + 2) * 11;
                h.record(x).unwrap();
                all.record(x).unwrap();
            }
            r.requests[0].uncorrected_hdr = Hist::of_some(&h);
            r.requests[0].uncorrected_percentiles_ms = Some(Percentiles::of(&h));
            r
        })
        .collect();
    let m = merge(inputs(rs)).unwrap();
    let q = &m.requests[0];
    assert_eq!(q.uncorrected_hdr.as_ref().unwrap().histogram(), all);
    assert_eq!(q.uncorrected_percentiles_ms, Some(Percentiles::of(&all)));
}

#[test]
fn segment_counts_and_indexes_are_bounded_before_anything_is_allocated() {
    let one = |i, n| segment_results(i, n, &[1000], 1_700_000_000);
    let msg = |r: Result<RunResults, Error>| r.unwrap_err().to_string();
    // Two files claiming 4,294,967,295 segments: refused at once (the list of missing ones is never built).
    let e = msg(merge(inputs(vec![
        one(0, 4_294_967_295),
        one(1, 4_294_967_295),
    ])));
    assert!(
        e.contains("seg-0.json: settings.segment: segment 0 of 4294967295 is not a segment"),
        "{e}"
    );
    let e = msg(merge(inputs(vec![one(0, 2), one(2, 2)])));
    assert!(
        e.contains("seg-1.json: settings.segment: segment 2 of 2"),
        "{e}"
    );
    let e = msg(merge(inputs(vec![one(0, 0)])));
    assert!(e.contains("segment 0 of 0"), "{e}");
    // At the limit: one of MAX_SEGMENTS, all the others reported missing.
    let m = merge(inputs(vec![one(7, MAX_SEGMENTS)])).unwrap();
    assert_eq!(m.merged.unwrap().missing.len() as u64, MAX_SEGMENTS - 1);
}

/// Histograms are decoded when a segment's file is read, so one that cannot be is refused there, naming the
/// file and the field, before anything is merged.
#[test]
fn an_unreadable_histogram_fails_the_merge_naming_its_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("seg-1.json");
    for (field, pointer) in [
        ("requests[0].ttfb_hdr", "/requests/0/ttfb_hdr"),
        ("aggregated.hdr", "/aggregated/hdr"),
        (
            "time_series[1].by_request[0].hdr",
            "/time_series/1/by_request/0/hdr",
        ),
        ("time_series[0].hdr", "/time_series/0/hdr"),
    ] {
        let mut bad =
            serde_json::to_value(segment_results(1, 2, &[1000, 2000], 1_700_000_000)).unwrap();
        *bad.pointer_mut(pointer).unwrap() = "AAAA".into();
        std::fs::write(&file, serde_json::to_vec(&bad).unwrap()).unwrap();
        let e = crate::report::json::read(&file).unwrap_err().to_string();
        assert!(
            e.contains(&format!("seg-1.json: {field}: ")),
            "{field}: {e}"
        );
    }
}

#[test]
fn counts_add_up_without_overflowing() {
    let mut a = segment_results(0, 2, &[1000], 1_700_000_000);
    let mut b = segment_results(1, 2, &[1000], 1_700_000_000);
    for r in [&mut a, &mut b] {
        r.requests[0].requests = u64::MAX - 1;
        r.requests[0].failures = u64::MAX - 1;
        r.requests[0].status_codes.insert("200".into(), u64::MAX);
        r.time_series[0].users = u64::MAX;
        r.time_series[0].by_request[0].requests = u64::MAX;
        r.failures[0].occurrences = u64::MAX;
        r.settings.users = u64::MAX;
        r.generator.cores = usize::MAX;
    }
    // Added up saturating (no overflow panic), then refused as results that could not be read back.
    let e = merge(inputs(vec![a.clone(), b.clone()]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(
            "the merged results are out of range: settings.users: 18446744073709551615 is more"
        ),
        "{e}"
    );
    // Each at the limit: their sum is past it.
    for r in [&mut a, &mut b] {
        *r = segment_results(r.settings.segment.unwrap().index, 2, &[1000], 1_700_000_000);
        r.requests[0].requests = crate::report::validate::MAX_COUNT;
    }
    let e = merge(inputs(vec![a, b])).unwrap_err().to_string();
    assert!(
        e.contains("out of range: requests[0].requests: 2000000000000000 is more"),
        "{e}"
    );
}

#[test]
fn histograms_adding_up_past_the_limit_are_refused() {
    let mut big = new_histogram();
    big.record_n(1000, hdr::MAX_TOTAL / 2 + 1).unwrap();
    let mut a = segment_results(0, 2, &[1000], 1_700_000_000);
    let mut b = segment_results(1, 2, &[1000], 1_700_000_000);
    a.requests[0].hdr = Hist::of_some(&big);
    b.requests[0].hdr = Hist::of_some(&big);
    let e = merge(inputs(vec![a, b])).unwrap_err().to_string();
    assert!(
        e.contains(
            "requests[0].hdr of seg-0.json, seg-1.json: the histograms added up count more than"
        ),
        "{e}"
    );
}

#[test]
fn a_merged_run_id_is_derived_from_its_segments_ids() {
    let id = merged_run_id(["7c4b6fd3", "0a1b2c3d"].into_iter());
    assert_eq!(id, merged_run_id(["7c4b6fd3", "0a1b2c3d"].into_iter()));
    assert_eq!(id.len(), 8);
    assert!(
        id.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    assert_ne!(id, merged_run_id(["0a1b2c3d", "7c4b6fd3"].into_iter()));
    assert_ne!(id, merged_run_id(["7c4b6fd", "30a1b2c3d"].into_iter()));
}
