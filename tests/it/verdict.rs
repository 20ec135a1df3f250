//! The verdict: one final `Result:` line, the same in `run`, `merge` and `report`; without gates a failed
//! request fails the run unless allowed; gates on requests left out by `--tags` are skipped; `abort_on_fail`
//! ends a failing run early; the warning for a target that refuses every connection; the plain progress line
//! when stderr is not a terminal.

use std::path::Path;

use crate::util::{loadgen, results, write};

/// A scenario against `host` (or `--demo` when None) with the given load, tasks and gates. These tests judge
/// the verdict on the target, not loadgen's own timing: the validity bounds are loose, so a busy machine does
/// not make a run invalid (exit 3).
fn scenario(host: Option<&str>, load: &str, body: &str) -> String {
    let target = host.map_or_else(String::new, |h| format!("[target]\nhost = \"{h}\"\n"));
    format!(
        "name = \"verdict\"\n{target}[validity]\nmax_lag = \"10s\"\nmax_shortfall_pct = 100\n[load]\n{load}\n{body}\n"
    )
}

const MISSING: &str = "[[task]]\nname = \"missing\"\npath = \"/no/such/path\"\n";

fn result_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("Result:"))
        .collect()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

#[test]
fn without_gates_a_failed_request_fails_the_run_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let load = "users = 2\nspawn_rate = 2\nduration = \"1s\"";
    let file = write(dir.path(), "nogates.toml", &scenario(None, load, MISSING));
    let json = dir.path().join("nogates.json");
    let out = loadgen(["run", path(&file), "--demo", "--json", path(&json)]).expect_code(1);
    let lines = result_lines(&out.stdout);
    assert_eq!(lines.len(), 1, "{}", out.dump());
    assert!(
        lines[0].starts_with("Result: FAIL (no gates; ") && lines[0].ends_with(" requests failed)"),
        "{}",
        out.dump()
    );
    let r = results(&json);
    assert_eq!(r["verdict"]["result"], "fail", "{}", r["verdict"]);
    assert_eq!(r["verdict"]["exit_code"], 1);
    assert_eq!(r["gates"]["fail_on_errors"], true);
    assert_eq!(crate::schema::schema_errors(&r), Vec::<String>::new());

    // `report` prints the same verdict from the file (and exits 0: it only reports).
    let shown = loadgen(["report", path(&json)]).expect_code(0);
    assert_eq!(result_lines(&shown.stdout), lines, "{}", shown.dump());

    // The switch on the command line, or the key in [gates], allows failed requests.
    let out = loadgen(["run", path(&file), "--demo", "--no-fail-on-errors"]).expect_code(0);
    let lines = result_lines(&out.stdout);
    assert_eq!(lines.len(), 1, "{}", out.dump());
    assert!(
        lines[0].starts_with("Result: PASS (no gates; ")
            && lines[0].ends_with(", allowed: fail_on_errors is off)"),
        "{}",
        out.dump()
    );
    let allowed = write(
        dir.path(),
        "allowed.toml",
        &scenario(
            None,
            load,
            &format!("[gates]\nfail_on_errors = false\n{MISSING}"),
        ),
    );
    loadgen(["run", path(&allowed), "--demo", "-q"]).expect_code(0);

    // A run whose requests all succeed passes without gates, and says so.
    let ok = write(
        dir.path(),
        "ok.toml",
        &scenario(
            None,
            load,
            "[[task]]\nname = \"health\"\npath = \"/health\"\n",
        ),
    );
    let out = loadgen(["run", path(&ok), "--demo"]).expect_code(0);
    let lines = result_lines(&out.stdout);
    assert_eq!(lines.len(), 1, "{}", out.dump());
    assert!(
        lines[0].starts_with("Result: PASS (no gates; all ")
            && lines[0].ends_with("requests succeeded)"),
        "{}",
        out.dump()
    );
}

#[test]
fn merge_judges_a_segment_without_gates_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    let load = "users = 2\nspawn_rate = 2\nduration = \"1s\"";
    let file = write(dir.path(), "seg.toml", &scenario(None, load, MISSING));
    let mut parts = Vec::new();
    for i in 0..2 {
        let json = dir.path().join(format!("seg-{i}.json"));
        loadgen([
            "run",
            path(&file),
            "--demo",
            "--segment",
            &format!("{i}/2"),
            "-q",
            "--json",
            path(&json),
        ])
        .expect_code(1);
        parts.push(json);
    }
    let merged = dir.path().join("merged.json");
    let out = loadgen([
        "merge",
        path(&parts[0]),
        path(&parts[1]),
        "--json",
        path(&merged),
    ])
    .expect_code(1);
    let lines = result_lines(&out.stdout);
    assert_eq!(lines.len(), 1, "{}", out.dump());
    assert!(
        lines[0].starts_with("Result: FAIL (no gates; "),
        "{}",
        out.dump()
    );
    assert_eq!(results(&merged)["verdict"]["exit_code"], 1);
}

#[test]
fn help_lists_every_exit_code() {
    let out = loadgen(["--help"]).expect_code(0);
    let codes: Vec<&str> = out
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Exit codes"))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.chars().all(|c| c.is_ascii_digit()))
        .collect();
    assert_eq!(codes, ["0", "1", "2", "3", "4", "130"], "{}", out.dump());
    out.stdout_has("--no-fail-on-errors");
}

#[test]
fn a_gate_on_a_request_left_out_by_tags_is_skipped_in_every_report() {
    let dir = tempfile::tempdir().unwrap();
    let body = r#"
[gates]
success_rate = 99
[gates.requests.admin]
p95_ms = 0.001
[[task]]
name = "health"
path = "/health"
tags = ["public"]
[[task]]
name = "admin"
path = "/no/such/admin"
tags = ["admin"]
"#;
    let file = write(
        dir.path(),
        "tags.toml",
        &scenario(None, "users = 2\nspawn_rate = 2\nduration = \"1s\"", body),
    );
    let (json, junit, md) = (
        dir.path().join("t.json"),
        dir.path().join("t.xml"),
        dir.path().join("t.md"),
    );
    // Without the tag filter the gate is judged (and fails: no answer comes within a microsecond).
    loadgen(["run", path(&file), "--demo", "-q"]).expect_code(1);
    let out = loadgen([
        "run",
        path(&file),
        "--demo",
        "--exclude-tags",
        "admin",
        "--json",
        path(&json),
        "--junit",
        path(&junit),
        "--markdown",
        path(&md),
    ])
    .expect_code(0);
    out.stdout_has("SKIP  admin")
        .stdout_has("skipped: request not run: left out by --exclude-tags admin")
        .stdout_has("Result: PASS (the gate passed, 1 gate skipped)");
    let r = results(&json);
    let skipped: Vec<&serde_json::Value> = r["gates"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| !g["skipped"].is_null())
        .collect();
    assert_eq!(skipped.len(), 1, "{}", r["gates"]);
    assert_eq!(skipped[0]["scope"], "admin");
    assert_eq!(skipped[0]["passed"], true);
    assert!(skipped[0]["measured"].is_null());
    assert_eq!(crate::schema::schema_errors(&r), Vec::<String>::new());
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("skipped=\"1\"")
            && xml.contains(
                "<skipped message=\"request not run: left out by --exclude-tags admin\"/>"
            ),
        "{xml}"
    );
    // The <skipped/> case is what CI tools accept (the schema run.rs checks every JUnit file against).
    if let Some(xmllint) = crate::util::external_tool("xmllint", &[&["xmllint", "--version"]]) {
        let xsd = crate::util::root().join("tests/fixtures/junit.xsd");
        let check = std::process::Command::new(&xmllint[0])
            .args(["--noout", "--schema"])
            .arg(&xsd)
            .arg(&junit)
            .output()
            .expect("run xmllint");
        assert!(
            check.status.success(),
            "{}\n{xml}",
            String::from_utf8_lossy(&check.stderr)
        );
    }
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(
        md.contains("⏭️ skipped: request not run: left out by --exclude-tags admin"),
        "{md}"
    );
    // --tags that does not select the request skips it the same way; `check` shows it before any traffic.
    let out = loadgen([
        "check",
        path(&file),
        "--host",
        "http://127.0.0.1:8000",
        "--tags",
        "public",
    ])
    .expect_code(0);
    out.stdout_has("(skipped: request not run: not selected by --tags public)");
}

#[test]
fn errors_caused_by_rate_replacing_the_stages_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let body = "[gates.stages.2]\np95_ms = 100\n[[task]]\nname = \"h\"\npath = \"/health\"\n";
    let file = write(
        dir.path(),
        "stages.toml",
        &scenario(
            Some("http://127.0.0.1:8000"),
            "stages = [{ duration = \"10s\", users = 5 }, { duration = \"20s\", users = 5 }]",
            body,
        ),
    );
    // The stages gave the run its length: without them, the run needs --duration.
    loadgen(["check", path(&file), "--rate", "10"])
        .expect_code(2)
        .stderr_has("--rate replaces the scenario's [load] stages (which last 30s)")
        .stderr_has("--duration 30s");
    // With a length, the stage gate has no stage to judge.
    loadgen(["check", path(&file), "--rate", "10", "-t", "5s"])
        .expect_code(2)
        .stderr_has("`gates.stages.2`: --rate replaces the scenario's [load] with one constant arrival rate");
}

#[test]
fn a_gate_with_abort_on_fail_ends_a_failing_run_early() {
    let dir = tempfile::tempdir().unwrap();
    // Every request is a 404: the success rate is 0 from the first second. The run is planned for 10 minutes.
    let body = format!(
        "[gates]\nsuccess_rate = 99\nabort_on_fail = true\nabort_grace = \"2s\"\n{MISSING}"
    );
    let file = write(
        dir.path(),
        "abort.toml",
        &scenario(
            None,
            "users = 2\nspawn_rate = 2\nduration = \"10m\"\n[user]\nwait = \"20ms\"",
            &body,
        ),
    );
    let json = dir.path().join("abort.json");
    // Bounded well below the planned 10 minutes: the run must end on its own, through the gate.
    let out = loadgen(["run", path(&file), "--demo", "--json", path(&json)])
        .timeout(std::time::Duration::from_secs(60))
        .expect_code(1);
    out.stderr_has("aborting at ")
        .stderr_has("gate success_rate >= 99% for all requests failed (measured 0.00%)");
    let lines = result_lines(&out.stdout);
    assert_eq!(lines.len(), 1, "{}", out.dump());
    assert!(
        lines[0].starts_with("Result: FAIL (aborted at ")
            && lines[0].contains("gate success_rate >= 99% for all requests failed"),
        "{}",
        out.dump()
    );
    let r = results(&json);
    let at = r["aborted"]["at_s"].as_f64().expect("aborted.at_s");
    // Judged from the grace on, once a second: the first judgment after 2 s fails (a busy machine may tick late).
    assert!(
        (2.0..15.0).contains(&at),
        "aborted at {at} s\n{}",
        out.dump()
    );
    assert_eq!(r["aborted"]["gate"]["metric"], "success_rate");
    assert_eq!(r["aborted"]["gate"]["measured"], 0.0);
    assert_eq!(r["interrupted"], false);
    assert_eq!(r["verdict"]["result"], "fail");
    assert!(
        r["duration_s"].as_f64().unwrap() < 60.0,
        "{}",
        r["duration_s"]
    );
    assert_eq!(crate::schema::schema_errors(&r), Vec::<String>::new());
}

#[test]
fn a_target_that_refuses_every_connection_is_warned_about_once() {
    // A loopback port nobody listens on: bind one, note it, close it.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let host = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "down.toml",
        &scenario(
            Some(&host),
            "users = 2\nspawn_rate = 2\nduration = \"5s\"\n[user]\nwait = \"50ms\"",
            "[[task]]\nname = \"health\"\npath = \"/health\"\n",
        ),
    );
    let out = loadgen(["run", path(&file), "--progress-interval", "0"]).expect_code(1);
    let warning = format!(
        "warning: every request in the first 3 s failed to connect to {host} — is the target up? (check --host \
         URL, or use --demo for the built-in API)"
    );
    assert_eq!(out.stderr.matches(&warning).count(), 1, "{}", out.dump());
    out.stdout_has("[connect]")
        .stdout_has("Result: FAIL (no gates; ");
}

#[test]
fn a_run_logged_to_a_file_prints_a_plain_status_line_each_interval() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "plain.toml",
        &scenario(
            None,
            "users = 2\nspawn_rate = 2\nduration = \"4s\"\n[user]\nwait = \"20ms\"",
            "[[task]]\nname = \"health\"\npath = \"/health\"\n",
        ),
    );
    // The tests' stderr is a pipe, not a terminal: plain lines instead of the bar.
    let out = loadgen(["run", path(&file), "--demo", "--progress-interval", "1s"]).expect_code(0);
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with('[') && l.contains("] users "))
        .collect();
    // Ticks at about 1, 2 and 3 s (and 4 s, unless the end of the run comes first); a busy machine may tick late.
    assert!((2..=4).contains(&lines.len()), "{}", out.dump());
    for l in &lines {
        assert!(
            l.starts_with("[00:0")
                && l.contains("/00:04] users ")
                && l.contains(" req/s · p95 ")
                && l.ends_with(" %"),
            "{l}\n{}",
            out.dump()
        );
    }
    // Off with 0, and through the environment.
    let out = loadgen(["run", path(&file), "--demo"])
        .env("LOADGEN_PROGRESS_INTERVAL", "0")
        .expect_code(0);
    assert!(!out.stderr.contains("] users "), "{}", out.dump());
}
