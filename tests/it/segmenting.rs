//! Helpers shared by the tests that run a plan as segments (`run --segment I/N --start-at T`) and merge them: a
//! common start time, the merge itself, and the check that merged percentiles are those of the segments'
//! histograms added together.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::util::{BUSY_MACHINE_VALIDITY, loadgen, results};

/// A whole second at least `lead` from now, as `--start-at` takes it (RFC 3339, UTC), and as a time.
pub fn start_at(lead: Duration) -> (SystemTime, String) {
    let after = SystemTime::now() + lead;
    let secs = after
        .duration_since(UNIX_EPOCH)
        .expect("the clock is past 1970")
        .as_secs()
        + 1;
    let at = UNIX_EPOCH + Duration::from_secs(secs);
    (at, humantime::format_rfc3339_seconds(at).to_string())
}

/// Runs `loadgen merge -q FILES --json DIR/merged.json`, checks the exit code, and returns the merged results.
pub fn merge(dir: &Path, files: &[PathBuf], code: i32) -> serde_json::Value {
    let merged = dir.join("merged.json");
    loadgen(["merge", "-q"])
        .args(files)
        .arg("--json")
        .arg(&merged)
        .expect_code(code);
    results(&merged)
}

/// A results file's `hdr` field (base64 of a serialized HdrHistogram).
pub fn decode_hdr(text: &str) -> hdrhistogram::Histogram<u64> {
    use base64::Engine as _;
    use hdrhistogram::serialization::Deserializer;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("the hdr field is base64");
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .expect("the hdr field is an HdrHistogram")
}

/// Checks that each of `merged`'s request rows (and `aggregated`) has the count, p50, p95, p99 and max of the
/// segments' histograms of that name added together: exact equality, not a tolerance.
pub fn assert_merged_percentiles(segs: &[serde_json::Value], merged: &serde_json::Value) {
    let rows = merged["requests"]
        .as_array()
        .expect("merged results have requests");
    assert!(!rows.is_empty(), "no requests in the merged results");
    let named = |r: &serde_json::Value, name: &str| -> Option<serde_json::Value> {
        if name == "Aggregated" {
            return Some(r["aggregated"].clone());
        }
        r["requests"]
            .as_array()?
            .iter()
            .find(|q| q["name"] == name)
            .cloned()
    };
    let names = rows
        .iter()
        .map(|q| {
            q["name"]
                .as_str()
                .expect("a request has a name")
                .to_string()
        })
        .chain(["Aggregated".to_string()]);
    for name in names {
        let mut all = hdrhistogram::Histogram::<u64>::new(3).expect("a histogram");
        for r in segs {
            if let Some(text) = named(r, &name).and_then(|q| q["hdr"].as_str().map(String::from)) {
                all.add(decode_hdr(&text))
                    .expect("histograms of one precision");
            }
        }
        let row = named(merged, &name).expect("the merged row");
        assert_eq!(row["requests"].as_u64(), Some(all.len()), "{name} count");
        let p = &row["percentiles_ms"];
        for (key, q) in [("p50", 0.5), ("p95", 0.95), ("p99", 0.99)] {
            let expected = all.value_at_quantile(q) as f64 / 1000.0;
            assert_eq!(p[key].as_f64(), Some(expected), "{name} {key}");
        }
        assert_eq!(
            row["max_ms"].as_f64(),
            Some(all.max() as f64 / 1000.0),
            "{name} max"
        );
    }
}

/// A scenario named `name` whose users each register `seg_{{vu}}`, whatever the name (a user number run by two
/// segments, or by two runs against one server, is a 409, and the gate of 100 % success fails), then call
/// `/health`; `load` is its `[load]` body and `wait` the users' wait.
pub fn registering(name: &str, host: &str, load: &str, wait: &str) -> String {
    format!(
        r#"name = "{name}"
[target]
host = "{host}"
[load]
{load}
[user]
wait = "{wait}"
[[user.on_start]]
name = "register"
method = "POST"
path = "/api/auth/register"
json = {{ username = "seg_{{{{vu}}}}", password = "pw-123456", email = "x@t.local" }}
expect = {{ status = [201] }}
[[task]]
name = "health"
path = "/health"
[gates]
success_rate = 100
{BUSY_MACHINE_VALIDITY}"#
    )
}
