//! `run --segment I/N` on four processes started together, and `loadgen merge` of their results.

use std::time::{Duration, SystemTime};

use crate::schema::schema_errors;
use crate::segmenting::assert_merged_percentiles;
use crate::util::{BUSY_MACHINE_VALIDITY, Demo, loadgen, results, wait_bounded, write};

/// 10 users, each registering `seg_{{vu}}`, for 2 s.
fn scenario(host: &str, name: &str) -> String {
    crate::segmenting::registering(
        name,
        host,
        "users = 10\nspawn_rate = 100\nduration = \"2s\"",
        "50ms",
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

/// Runs `file` as `n` segments started together (extra arguments `args`); returns their results.
fn run_segments(file: &std::path::Path, n: u64, args: &[&str]) -> Vec<serde_json::Value> {
    let dir = file.parent().expect("the scenario is in a directory");
    let (_, at) = crate::segmenting::start_at(Duration::from_secs(2));
    let children: Vec<_> = (0..n)
        .map(|i| {
            loadgen(["run", &file.to_string_lossy(), "-q"])
                .args(args)
                .arg("--segment")
                .arg(format!("{i}/{n}"))
                .arg("--start-at")
                .arg(&at)
                .arg("--json")
                .arg(dir.join(format!("seg-{i}.json")))
                .spawn()
        })
        .collect();
    for (child, shown) in children {
        let out = wait_bounded(child, shown, Duration::from_secs(30));
        assert!(matches!(out.code, Some(0 | 1)), "{}", out.dump());
    }
    (0..n)
        .map(|i| results(&dir.join(format!("seg-{i}.json"))))
        .collect()
}

#[test]
fn segments_deal_every_class_and_take_the_data_rows_one_run_would() {
    let demo = Demo::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    // Six accounts for twelve users in turn: one run registers each once (6 x 201) and again (6 x 409).
    let rows: String = (1..=6).map(|i| format!("rr_{i}\n")).collect();
    write(dir.path(), "accounts.csv", &format!("username\n{rows}"));
    let register = |name: &str| {
        format!(
            r#"[[classes.{name}.on_start]]
name = "register_{name}"
method = "POST"
path = "/api/auth/register"
json = {{ username = "{{{{data.username}}}}", password = "pw-123456", email = "x@t.local" }}
expect = {{ status = [201, 409] }}
[[classes.{name}.task]]
name = "health_{name}"
path = "/health"
"#
        )
    };
    let text = format!(
        r#"name = "dealt"
[target]
host = "{}"
[load]
users = 12
spawn_rate = 50
duration = "2s"
[data]
file = "accounts.csv"
assign = "round_robin"
[classes.reader]
weight = 3
wait = "100ms"
{}
[classes.writer]
weight = 1
wait = "100ms"
{}
{BUSY_MACHINE_VALIDITY}"#,
        demo.url,
        register("reader"),
        register("writer")
    );
    let file = write(dir.path(), "dealt.toml", &text);
    let segs = run_segments(&file, 3, &[]);
    let count = |r: &serde_json::Value, name: &str| {
        crate::util::request(r, name)["requests"].as_u64().unwrap()
    };
    // 12 users at 3:1 are 9 readers and 3 writers, dealt 3 + 1 to each of the three segments.
    for r in &segs {
        assert_eq!(r["settings"]["users"], 4, "{}", r["settings"]);
        assert_eq!(
            (count(r, "register_reader"), count(r, "register_writer")),
            (3, 1)
        );
    }
    // Users 1-12 take rows 0-5 twice over, whichever segment runs them: each account is registered once
    // (201), then found taken (409), as in one run.
    let status = |code: &str| -> u64 {
        segs.iter()
            .flat_map(|r| {
                ["register_reader", "register_writer"].map(|n| crate::util::request(r, n))
            })
            .map(|q| q["status_codes"][code].as_u64().unwrap_or(0))
            .sum()
    };
    assert_eq!((status("201"), status("409")), (6, 6));

    // An arrival rate deals its iterations the same way: 60 iterations at 3:1 are 45 reads and 15 writes in
    // one run, and so across the three segments, 20 each (15 + 5).
    let segs = run_segments(&file, 3, &["--rate", "60", "-u", "6", "--iterations", "60"]);
    for r in &segs {
        assert_eq!(r["settings"]["max_iterations"], 20, "{}", r["settings"]);
        assert_eq!(
            (count(r, "health_reader"), count(r, "health_writer")),
            (15, 5)
        );
    }
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
