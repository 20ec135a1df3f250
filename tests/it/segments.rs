//! `run --segment I/N` on four processes started together, and `loadgen merge` of their results.

use std::time::{Duration, SystemTime};

use crate::schema::schema_errors;
use crate::segmenting::assert_merged_percentiles;
use crate::util::{Demo, loadgen, results, wait_bounded, write};

/// Each user registers a fixed prefix plus its `{{vu}}`: a user number used by two segments would be a 409.
fn scenario(host: &str, name: &str) -> String {
    format!(
        r#"name = "{name}"
[target]
host = "{host}"
[load]
users = 10
spawn_rate = 100
duration = "2s"
[user]
wait = "50ms"
[[user.on_start]]
name = "register"
method = "POST"
path = "/api/auth/register"
json = {{ username = "segtest_{{{{vu}}}}", password = "pw-123456", email = "x@t.local" }}
expect = {{ status = [201] }}
[[task]]
name = "health"
path = "/health"
[gates]
success_rate = 100
"#
    )
}

#[test]
fn four_segments_run_together_and_merge_into_the_whole_plan() {
    let demo = Demo::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "seg.toml", &scenario(&demo.url, "segments"));
    let at = SystemTime::now() + Duration::from_secs(2);
    let at = humantime::format_rfc3339_seconds(at + Duration::from_secs(1)).to_string();
    let children: Vec<_> = (0..4)
        .map(|i| {
            loadgen(["run", &file.to_string_lossy(), "-q"])
                .arg("--segment")
                .arg(format!("{i}/4"))
                .arg("--start-at")
                .arg(&at)
                .arg("--json")
                .arg(dir.path().join(format!("seg-{i}.json")))
                .spawn()
        })
        .collect();
    for (child, shown) in children {
        let out = wait_bounded(child, shown, Duration::from_secs(30));
        assert_eq!(out.code, Some(0), "{}", out.dump());
    }
    let segs: Vec<_> = (0..4)
        .map(|i| results(&dir.path().join(format!("seg-{i}.json"))))
        .collect();
    // 10 users over 4 segments: 3, 3, 2, 2.
    let users: Vec<u64> = segs
        .iter()
        .map(|r| r["settings"]["users"].as_u64().unwrap())
        .collect();
    assert_eq!(users, [3, 3, 2, 2]);
    for (i, r) in segs.iter().enumerate() {
        assert_eq!(r["settings"]["segment"]["index"], i as u64);
        assert_eq!(r["settings"]["segment"]["count"], 4);
        assert!(schema_errors(r).is_empty(), "{:?}", schema_errors(r));
    }

    let merged = dir.path().join("merged.json");
    let mut args: Vec<String> = vec!["merge".into(), "-q".into()];
    args.extend((0..4).map(|i| {
        dir.path()
            .join(format!("seg-{i}.json"))
            .display()
            .to_string()
    }));
    args.extend(["--json".into(), merged.display().to_string()]);
    loadgen(&args).expect_code(0);
    let m = results(&merged);
    assert!(schema_errors(&m).is_empty(), "{:?}", schema_errors(&m));
    assert_eq!(m["settings"]["users"], 10);
    assert_eq!(m["merged"]["complete"], true);
    let register = crate::util::request(&m, "register");
    // Every user registered once, and no two segments shared a user number (that would be a 409).
    assert_eq!(register["requests"], 10, "{register}");
    assert_eq!(register["status_codes"]["201"], 10, "{register}");
    assert!(register["status_codes"].get("409").is_none(), "{register}");
    let total: u64 = segs
        .iter()
        .map(|r| r["totals"]["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(m["totals"]["requests"], total);
    assert_eq!(m["gates"]["passed"], true);

    // The merged percentiles are exactly those of the four histograms added together.
    assert_merged_percentiles(&segs, &m);

    // Refusals: the same segment twice, and a different scenario.
    let seg0 = dir.path().join("seg-0.json");
    loadgen(["merge", "-q"])
        .arg(&seg0)
        .arg(&seg0)
        .expect_code(2)
        .stderr_has("each segment may be given once");
    let other = write(dir.path(), "other.toml", &scenario(&demo.url, "other"));
    let other_json = dir.path().join("other-1.json");
    loadgen([
        "run",
        &other.to_string_lossy(),
        "-q",
        "-t",
        "1s",
        "--segment",
        "1/4",
    ])
    .arg("--json")
    .arg(&other_json)
    // Its users 2 and 6 were registered by the first run's segment 1: 409, and the gate fails.
    .expect_code(1);
    loadgen(["merge", "-q"])
        .arg(&seg0)
        .arg(&other_json)
        .expect_code(2)
        .stderr_has("merge only the segments of one scenario");
}

#[test]
fn segment_and_start_at_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "s.toml", &scenario("http://127.0.0.1:1", "s"));
    let f = file.to_string_lossy().to_string();
    loadgen(["check", &f, "--segment", "4/4"]).expect_code(2);
    loadgen(["run", &f, "--start-at", "yesterday"]).expect_code(2);
    loadgen(["run", &f, "--start-at", "2001-01-01T00:00:00Z"])
        .expect_code(2)
        .stderr_has("in the past");
    // More segments than users: one would have none.
    loadgen(["check", &f, "--segment", "10/11"])
        .expect_code(2)
        .stderr_has("no users");
    loadgen(["check", &f, "--segment", "1/4"])
        .expect_code(0)
        .stdout_has("segment    1/4: users 2, 6");
}
