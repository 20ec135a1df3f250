//! Results files checked through: located type errors, values out of range, unreadable histograms.

use serde_json::{Value, json};

use super::*;

pub(crate) use crate::results::fixtures::sample;

/// A change to the sample.
type Edit = Box<dyn FnOnce(&mut Value)>;

/// The error for `sample()` changed by `edit`.
fn error(edit: impl FnOnce(&mut Value)) -> String {
    let mut v = sample();
    edit(&mut v);
    results(&v).unwrap_err()
}

#[test]
fn the_sample_is_a_valid_results_file() {
    let r = results(&sample()).unwrap();
    assert_eq!(r.requests.len(), 2);
}

/// A judged gate as results carry it, over `during`, measuring `metric`.
fn gate(during: &str, metric: &str) -> Value {
    json!({"scope": null, "during": during, "metric": metric, "op": "<", "threshold": 1.0,
        "measured": 2.0, "passed": false})
}

#[test]
fn type_errors_name_the_field_path() {
    let cases: Vec<(Edit, &str)> = vec![
        (
            Box::new(|v| v["requests"][1]["rps"] = Value::Null),
            "requests[1].rps: invalid type: null, expected f64",
        ),
        (
            Box::new(|v| v["requests"][0]["requests"] = json!(-3)),
            "requests[0].requests: invalid value: integer `-3`, expected u64",
        ),
        (
            Box::new(|v| v["totals"]["failures"] = json!("NaN")),
            "totals.failures: invalid type: string \"NaN\", expected u64",
        ),
        (
            Box::new(|v| v["aggregated"]["percentiles_ms"]["p95"] = json!("Infinity")),
            "aggregated.percentiles_ms.p95: invalid type: string \"Infinity\"",
        ),
        (
            Box::new(|v| {
                v["requests"][1]
                    .as_object_mut()
                    .unwrap()
                    .remove("success_rate");
            }),
            "requests[1]: missing field `success_rate`",
        ),
        (
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("totals");
            }),
            "missing field `totals`",
        ),
        (
            Box::new(|v| v["time_series"][1]["by_request"][0]["bytes"] = json!(1.5)),
            "time_series[1].by_request[0].bytes: invalid type: floating point `1.5`, expected u64",
        ),
        (
            Box::new(|v| v["failures"][0]["kind"] = json!("bogus")),
            "failures[0].kind: unknown variant `bogus`",
        ),
        (
            Box::new(|v| v["settings"]["segment"]["count"] = json!(1e30)),
            "settings.segment.count: invalid type: floating point",
        ),
        (
            Box::new(|v| v["requests"] = json!({})),
            "requests: invalid type: map, expected a sequence",
        ),
        // A gate's window and metric are read into their types, never kept as unknown strings.
        (
            Box::new(|v| v["gates"]["results"] = json!([gate("warmup", "p95_ms")])),
            "gates.results[0].during: `warmup` is not a gate window",
        ),
        (
            Box::new(|v| v["gates"]["results"] = json!([gate("stage 2", "p95")])),
            "gates.results[0].metric: `p95` is not a gate metric",
        ),
    ];
    for (edit, want) in cases {
        let e = error(edit);
        assert!(e.starts_with(want), "want {want:?}\n got {e:?}");
        assert!(e.contains("not a complete loadgen results file"), "{e}");
    }
}

#[test]
fn values_out_of_range_name_the_field_path() {
    let cases: Vec<(Edit, &str)> = vec![
        (
            Box::new(|v| v["requests"][0]["failures"] = json!(101)),
            "requests[0].failures: 101 failures of 100 requests",
        ),
        (
            Box::new(|v| v["totals"]["requests"] = json!(u64::MAX)),
            "totals.requests: 18446744073709551615 is more than any run counts",
        ),
        (
            Box::new(|v| v["aggregated"]["success_rate"] = json!(100.5)),
            "aggregated.success_rate: 100.5 is not within 0 and 100",
        ),
        (
            Box::new(|v| v["requests"][1]["rps"] = json!(-1.0)),
            "requests[1].rps: -1 is not within 0 and",
        ),
        (
            Box::new(|v| v["duration_s"] = json!(1e300)),
            "duration_s: 1e300 is not within 0 and 1000000000 (a duration in seconds)",
        ),
        (
            Box::new(|v| v["settings"]["stages"][0]["duration_s"] = json!(-0.5)),
            "settings.stages[0].duration_s: -0.5",
        ),
        (
            Box::new(|v| v["settings"]["wait"]["min_s"] = json!(2.0)),
            "settings.wait: min_s 2 is above max_s 1",
        ),
        (
            Box::new(|v| v["requests"][0]["percentiles_ms"]["p99"] = json!(0.5)),
            "requests[0].percentiles_ms.p99: 0.5 is below p98",
        ),
        (
            Box::new(|v| v["time_series"][0]["p95_ms"] = json!(0.5)),
            "time_series[0].p95_ms: 0.5 is below p50_ms (1)",
        ),
        (
            Box::new(|v| v["requests"][0]["min_ms"] = json!(99.0)),
            "requests[0]: min_ms 99 is above max_ms",
        ),
        (
            Box::new(|v| v["time_series"][1]["by_request"][0]["failures"] = json!(1000)),
            "time_series[1].by_request[0].failures: 1000 failures of 100",
        ),
        (
            Box::new(|v| v["settings"]["segment"] = json!({"index": 2, "count": 2})),
            "settings.segment.index: segment 2 of 2",
        ),
        (
            Box::new(|v| v["settings"]["segment"] = json!({"index": 0, "count": 4_294_967_295u64})),
            "settings.segment.count: 4294967295 segments (from 1 to at most 100000)",
        ),
        (
            Box::new(|v| v["settings"]["segment"] = json!({"index": 0, "count": 0})),
            "settings.segment.count: 0 segments",
        ),
        (
            Box::new(
                |v| v["merged"] = json!({"count": 2, "segments": [0, 7], "missing": [], "complete": true, "run_ids": []}),
            ),
            "merged.segments[1]: segment 7 of 2",
        ),
        (
            Box::new(|v| v["failures"][0]["last_seen"] = json!(u64::MAX)),
            "failures[0].last_seen: 18446744073709551615 is not a Unix time",
        ),
        (
            Box::new(|v| v["time_series"][1]["timestamp"] = json!(253_402_300_800u64)),
            "time_series[1].timestamp: 253402300800 is not a Unix time",
        ),
        (
            Box::new(|v| v["requests"][0]["status_codes"]["200"] = json!(u64::MAX)),
            "requests[0].status_codes.200: 18446744073709551615 is more",
        ),
    ];
    for (edit, want) in cases {
        let e = error(edit);
        assert!(e.starts_with(want), "want {want:?}\n got {e:?}");
    }
}

#[test]
fn an_unreadable_histogram_is_an_error_naming_its_field() {
    let e = error(|v| v["requests"][1]["ttfb_hdr"] = json!("bm90IGEgaGlzdG9ncmFt"));
    assert!(
        e.starts_with("requests[1].ttfb_hdr: not an HdrHistogram"),
        "{e}"
    );
    let e = error(|v| v["time_series"][1]["by_request"][0]["hdr"] = json!("!!"));
    assert!(
        e.starts_with("time_series[1].by_request[0].hdr: not base64"),
        "{e}"
    );
    // A header declaring a 4 GiB payload (the V2 cookie 0x1c849313, then u32::MAX).
    let mut huge = vec![0x1c, 0x84, 0x93, 0x13, 0xff, 0xff, 0xff, 0xff];
    huge.extend([0u8; 32]);
    use base64::Engine as _;
    let text = base64::engine::general_purpose::STANDARD.encode(&huge);
    let e = error(|v| v["aggregated"]["hdr"] = json!(text));
    assert_eq!(
        e,
        "aggregated.hdr: the histogram declares a 4294967295-byte payload (at most 16 MiB)"
    );
}

#[test]
fn line_paths_follow_the_pretty_printer_line_for_line() {
    let v = sample();
    let pretty = serde_json::to_string_pretty(&v).unwrap();
    let mut lines = vec![String::new()];
    line_paths(&v, "", &mut lines);
    assert_eq!(lines.len(), pretty.lines().count());
    for (path, line) in lines.iter().zip(pretty.lines()) {
        let key = path.rsplit(['.', '[']).next().unwrap_or("");
        let trimmed = line.trim_start();
        if trimmed.starts_with('"') && !path.ends_with(']') {
            assert!(
                trimmed.starts_with(&format!("\"{key}\"")),
                "{path} / {line}"
            );
        }
    }
}
