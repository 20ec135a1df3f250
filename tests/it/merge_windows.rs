//! Gates scoped to a part of the run (`[gates.stages.N]`, `[gates.steady]`) judged on merged segments, and the
//! same verdicts from one process running the whole plan.
//!
//! The controlled cause: the reference API answers `/health` with 503 for its first seconds
//! (`--unhealthy-for`), set so that it turns healthy 2 s into stage 1 (0–3 s), well inside it: stage 1 fails,
//! stage 2 (the steady part, after the ramp) passes. The run starts on a whole second (`--start-at`: segments'
//! series are aligned on wall-clock seconds), and the server's unhealthy period counts from its own start,
//! which a busy machine may delay: the test reads when the server started (its uptime) and starts another one
//! if the change would be more than 300 ms late.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::schema::schema_errors;
use crate::segmenting::{merge, start_at};
use crate::util::{BUSY_MACHINE_VALIDITY, Demo, loadgen, results, wait_bounded, write};

const SEGMENTS: usize = 2;
/// Where in the run the unhealthy period should end (stage 1 is 0–3 s).
const HEALTHY_FROM: Duration = Duration::from_secs(2);

/// Two 3 s stages: a linear ramp to 8 users, then 8 users held (the steady part, from 3 s).
fn scenario(host: &str) -> String {
    format!(
        r#"name = "merge-windows"
[target]
host = "{host}"
[load]
stages = [{{ duration = "3s", users = 8 }}, {{ duration = "3s", users = 8 }}]
[user]
wait = "100ms"
[[task]]
name = "health"
path = "/health"
[gates]
success_rate = 50
[gates.stages.1.requests.health]
success_rate = 90
[gates.stages.2]
success_rate = 100
p95_ms = 1000
[gates.steady]
success_rate = 100
{BUSY_MACHINE_VALIDITY}"#
    )
}

/// The gate result for `during` (`None` for the whole run), `scope` (a request name, `None` for all) and `metric`.
fn gate<'a>(r: &'a Value, during: Option<&str>, scope: Option<&str>, metric: &str) -> &'a Value {
    let all = r["gates"]["results"].as_array().expect("gate results");
    all.iter()
        .find(|g| {
            g["during"].as_str() == during && g["scope"].as_str() == scope && g["metric"] == metric
        })
        .unwrap_or_else(|| panic!("no {during:?} {scope:?} {metric} gate in {all:#?}"))
}

/// Each gate's identity and verdict, in the results' order.
fn verdicts(r: &Value) -> Vec<(Value, Value, Value, Value)> {
    r["gates"]["results"]
        .as_array()
        .expect("gate results")
        .iter()
        .map(|g| {
            (
                g["during"].clone(),
                g["scope"].clone(),
                g["metric"].clone(),
                g["passed"].clone(),
            )
        })
        .collect()
}

#[test]
fn stage_gates_on_merged_segments_fail_and_pass_like_one_process() {
    // The common start, then a server unhealthy until HEALTHY_FROM into the run, by its own clock: one that
    // started late (a busy machine) turns healthy late, and is replaced.
    let mut late = Vec::new();
    let (at, demo) = loop {
        let (at_time, at) = start_at(Duration::from_secs(3));
        let before = SystemTime::now();
        let unhealthy = (at_time + HEALTHY_FROM)
            .duration_since(before)
            .expect("the start is ahead");
        let demo = Demo::start(&["--unhealthy-for", &format!("{}ms", unhealthy.as_millis())]);
        let healthy_at = demo.started_at() + unhealthy;
        let off = healthy_at
            .duration_since(at_time + HEALTHY_FROM)
            .unwrap_or_default();
        if off < Duration::from_millis(300) {
            break (at, demo);
        }
        late.push(off);
        assert!(
            late.len() < 5,
            "each server turned healthy late by {late:?}: the machine is too busy to start one on time"
        );
    };
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "windows.toml", &scenario(&demo.url));
    let json = |name: &str| dir.path().join(format!("{name}.json"));
    let run = |extra: &[String], out: PathBuf| {
        loadgen(["run", &file.to_string_lossy(), "-q", "--start-at", &at])
            .arg("--json")
            .arg(out)
            .args(extra)
            .spawn()
    };
    // The segments and the whole plan in one process, all at the same time against the same server.
    let mut children: Vec<_> = (0..SEGMENTS)
        .map(|i| {
            run(
                &["--segment".into(), format!("{i}/{SEGMENTS}")],
                json(&format!("seg-{i}")),
            )
        })
        .collect();
    children.push(run(&[], json("whole")));
    for (child, shown) in children {
        let out = wait_bounded(child, shown, Duration::from_secs(40));
        // Stage 1's gate fails in every part as in the whole.
        assert_eq!(out.code, Some(1), "{}", out.dump());
    }
    let segs: Vec<Value> = (0..SEGMENTS)
        .map(|i| results(&json(&format!("seg-{i}"))))
        .collect();
    let whole = results(&json("whole"));

    let files: Vec<PathBuf> = (0..SEGMENTS).map(|i| json(&format!("seg-{i}"))).collect();
    let m = merge(dir.path(), &files, 1);
    assert_eq!(schema_errors(&m), Vec::<String>::new());
    assert_eq!(m["merged"]["complete"], true);
    assert_eq!(m["gates"]["passed"], false);

    let overall = gate(&m, None, None, "success_rate");
    let stage1 = gate(&m, Some("stage 1"), Some("health"), "success_rate");
    let stage2 = gate(&m, Some("stage 2"), None, "success_rate");
    let stage2_p95 = gate(&m, Some("stage 2"), None, "p95_ms");
    let steady = gate(&m, Some("steady"), None, "success_rate");
    eprintln!(
        "overall {overall}\nstage 1 {stage1}\nstage 2 {stage2}\n{stage2_p95}\nsteady {steady}"
    );
    let measured = |g: &Value| g["measured"].as_f64().unwrap_or_else(|| panic!("{g}"));
    // Unhealthy for the first 2 s of the 0–3 s ramp (the users started then): about 40 % of stage 1's requests
    // failed (measured 36-40 %), and none after it.
    assert_eq!(stage1["passed"], false, "{stage1}");
    assert!((20.0..=80.0).contains(&measured(stage1)), "{stage1}");
    assert_eq!(stage2["passed"], true, "{stage2}");
    assert_eq!(measured(stage2), 100.0, "{stage2}");
    assert_eq!(stage2_p95["passed"], true, "{stage2_p95}");
    assert!(measured(stage2_p95) > 0.0, "{stage2_p95}");
    assert_eq!(steady["passed"], true, "{steady}");
    assert_eq!(measured(steady), 100.0, "{steady}");
    // The whole run: stage 1's failures diluted by stage 2's successes.
    assert_eq!(overall["passed"], true, "{overall}");
    assert!(
        measured(overall) > measured(stage1) && measured(overall) < 100.0,
        "{overall}"
    );
    assert_eq!(
        verdicts(&m).len(),
        5,
        "the five gates of the scenario: {:#?}",
        m["gates"]
    );

    // Stage 1's figure is that of the segments' requests in the seconds of stage 1, added together: the merged
    // series points whose interval's middle is in 0–3 s, matched to the segments' points by wall-clock second.
    let points = m["time_series"].as_array().expect("a merged series");
    let mut prev = 0.0;
    let mut stage1_seconds = Vec::new();
    for p in points {
        let end = p["elapsed_s"].as_f64().expect("elapsed_s");
        if (0.0..=3.0).contains(&((prev + end) / 2.0)) {
            stage1_seconds.push(p["timestamp"].as_u64().expect("timestamp"));
        }
        prev = end;
    }
    assert_eq!(stage1_seconds.len(), 3, "{stage1_seconds:?} in {points:#?}");
    let (mut sent, mut failed) = (0, 0);
    for r in &segs {
        for p in r["time_series"].as_array().expect("a series") {
            if stage1_seconds.contains(&p["timestamp"].as_u64().expect("timestamp")) {
                sent += p["by_request"][0]["requests"].as_u64().expect("requests");
                failed += p["by_request"][0]["failures"].as_u64().expect("failures");
            }
        }
    }
    let expected = 100.0 * (sent - failed) as f64 / sent as f64;
    assert!(
        (measured(stage1) - expected).abs() < 0.001,
        "stage 1 measured {} but the segments' seconds {stage1_seconds:?} give {sent} requests, {failed} failed",
        measured(stage1)
    );

    // One process running the whole plan reaches the same verdict on every gate.
    assert_eq!(verdicts(&whole), verdicts(&m));
    assert_eq!(whole["gates"]["passed"], false);
}
