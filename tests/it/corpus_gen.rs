//! Generators for the fault corpus ([`crate::corpus`]): inputs a text fixture cannot express (crafted binary
//! encodings, files built from a valid run's results), made at test time by name.

use std::path::Path;

/// Writes the input `name` to `path`.
pub fn generate(name: &str, path: &Path) {
    match name {
        // A file of 4 KiB of bytes that are not UTF-8 after a valid first line.
        "invalid_utf8_line_9" => {
            let mut bytes = Vec::new();
            for i in 1..9 {
                bytes.extend_from_slice(format!("# line {i}\n").as_bytes());
            }
            bytes.extend_from_slice(b"name = \"\xff\xfe\"\n");
            std::fs::write(path, bytes).expect("write");
        }
        other => {
            if !results_readers(other, path) {
                panic!("no corpus generator named {other:?}")
            }
        }
    }
}

/// A results file of `tests/fixtures/corpus/files/results-readers/` as JSON.
fn results(file: &str) -> serde_json::Value {
    let p = crate::util::root()
        .join("tests/fixtures/corpus/files/results-readers")
        .join(file);
    serde_json::from_str(&std::fs::read_to_string(&p).expect("read a results fixture"))
        .expect("JSON")
}

fn write_json(path: &Path, v: &serde_json::Value) {
    std::fs::write(path, serde_json::to_vec_pretty(v).expect("JSON")).expect("write");
}

/// An HdrHistogram V2 header (HdrHistogram's layout): cookie, payload length, normalizing offset, significant
/// digits, lowest and highest trackable values, integer-to-double ratio.
fn hdr_header(payload: u32, digits: u32, low: u64, high: u64) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(0x1c84_9313u32.to_be_bytes());
    b.extend(payload.to_be_bytes());
    b.extend(0u32.to_be_bytes());
    b.extend(digits.to_be_bytes());
    b.extend(low.to_be_bytes());
    b.extend(high.to_be_bytes());
    b.extend(1.0f64.to_be_bytes());
    b
}

/// `inner` deflated behind the V2 compressed cookie, as a results file carries it (base64).
fn hdr_compressed(inner: impl std::io::Read) -> String {
    use base64::Engine as _;
    use std::io::Read as _;
    let mut deflated = Vec::new();
    flate2::read::ZlibEncoder::new(inner, flate2::Compression::fast())
        .read_to_end(&mut deflated)
        .expect("deflate");
    let mut b = Vec::new();
    b.extend(0x1c84_9314u32.to_be_bytes());
    b.extend((deflated.len() as u32).to_be_bytes());
    b.extend(deflated);
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// The results-readers generators: hostile results files made from the valid ones (`run.json`, a whole run;
/// `seg0.json` and `seg1.json`, the two segments of one). False for a name that is not one of them.
fn results_readers(name: &str, path: &Path) -> bool {
    use serde_json::json;
    use std::io::Read as _;
    let edit = |file: &str, f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = results(file);
        f(&mut v);
        write_json(path, &v);
    };
    match name {
        // Histograms.
        "rr_hdr_huge_payload" => edit("run.json", &|v| {
            let b64 = base64::engine::general_purpose::STANDARD;
            use base64::Engine as _;
            v["requests"][0]["hdr"] = json!(b64.encode(hdr_header(u32::MAX, 3, 1, 2)));
        }),
        // 1000 bytes of counts declared, 64 MiB of zeros behind them (a 64 KiB stream).
        "rr_hdr_deflate_bomb" => edit("run.json", &|v| {
            let zeros = std::io::repeat(0).take(64 << 20);
            v["aggregated"]["hdr"] = json!(hdr_compressed(
                hdr_header(1000, 3, 1, 2).as_slice().chain(zeros)
            ));
        }),
        // A 1 GiB payload declared inside the compressed stream.
        "rr_hdr_declared_gigabyte" => edit("run.json", &|v| {
            v["aggregated"]["ttfb_hdr"] =
                json!(hdr_compressed(hdr_header(1 << 30, 3, 1, 2).as_slice()));
        }),
        // Significant digits and a range that need 6 million counters.
        "rr_hdr_too_many_counters" => edit("run.json", &|v| {
            v["requests"][1]["hdr"] =
                json!(hdr_compressed(hdr_header(0, 5, 1, u64::MAX).as_slice()));
        }),
        "rr_hdr_truncated" => edit("run.json", &|v| {
            let h = v["requests"][0]["hdr"]
                .as_str()
                .expect("a histogram")
                .to_string();
            let cut = &h[..h.len() / 2 / 4 * 4];
            v["requests"][0]["hdr"] = json!(cut);
        }),
        "rr_hdr_wrong_cookie" => edit("run.json", &|v| {
            v["time_series"][0]["hdr"] = json!("AAAAAAAAAAAAAAAA");
        }),
        "rr_hdr_bad_in_segment_series" => edit("seg1.json", &|v| {
            v["time_series"][0]["by_request"][0]["hdr"] = json!("bm90IGEgaGlzdG9ncmFt");
        }),
        // Fields: missing, null, negative, not numbers, out of range, out of order.
        "rr_invalid_run" => edit("run.json", &|v| {
            v["validity"] =
                json!({"valid": false, "reasons": ["the arrival rate was not reached"]});
        }),
        "rr_null_rps" => edit("run.json", &|v| v["requests"][0]["rps"] = json!(null)),
        "rr_negative_count" => edit("run.json", &|v| v["totals"]["requests"] = json!(-5)),
        "rr_nan_string" => edit("run.json", &|v| {
            v["aggregated"]["percentiles_ms"]["p95"] = json!("NaN");
        }),
        "rr_missing_field" => edit("run.json", &|v| {
            v["aggregated"]
                .as_object_mut()
                .expect("object")
                .remove("success_rate");
        }),
        "rr_percentiles_out_of_order" => edit("run.json", &|v| {
            v["requests"][1]["percentiles_ms"]["p99"] = json!(0.0001);
        }),
        "rr_more_failures_than_requests" => edit("seg0.json", &|v| {
            let requests = v["requests"][0]["requests"].as_u64().expect("a count");
            v["requests"][0]["failures"] = json!(requests + 1);
        }),
        "rr_duration_1e300" => edit("run.json", &|v| v["duration_s"] = json!(1e300)),
        "rr_success_rate_150" => edit("run.json", &|v| v["totals"]["success_rate"] = json!(150.0)),
        "rr_time_after_9999" => edit("run.json", &|v| {
            v["failures"][0]["last_seen"] = json!(u64::MAX)
        }),
        "rr_counts_at_the_limit_0" | "rr_counts_at_the_limit_1" => {
            let file = if name.ends_with('0') {
                "seg0.json"
            } else {
                "seg1.json"
            };
            edit(file, &|v| {
                v["requests"][0]["requests"] = json!(1_000_000_000_000_000u64)
            });
        }
        // A number JSON cannot hold as a float.
        "rr_number_1e400" => {
            let text = serde_json::to_string_pretty(&results("run.json")).expect("JSON");
            let text = text.replacen("\"duration_s\": ", "\"duration_s\": 1e400, \"x\": ", 1);
            std::fs::write(path, text).expect("write");
        }
        // Segments.
        "rr_segments_4294967295_0" | "rr_segments_4294967295_1" => {
            let (file, index) = if name.ends_with('0') {
                ("seg0.json", 0)
            } else {
                ("seg1.json", 1)
            };
            edit(file, &|v| {
                v["settings"]["segment"] = json!({"index": index, "count": 4_294_967_295u64});
            });
        }
        "rr_segment_index_past_count" => edit("seg1.json", &|v| {
            v["settings"]["segment"] = json!({"index": 5, "count": 2});
        }),
        _ => return false,
    }
    true
}
