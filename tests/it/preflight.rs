//! Pre-flight checks: a target that is not ready gets no load and exit code 4; one that becomes ready while
//! the checks retry gets its run.

use std::time::{Duration, Instant};

use crate::util::{Demo, loadgen, write};

/// A scenario whose [preflight] checks /health (status 200 and `$.status` equal to `want`), retried every
/// 250 ms for `timeout`, before a 1 s run of 2 users.
fn scenario(host: &str, want: &str, timeout: &str) -> String {
    format!(
        r#"
name = "pre"
[target]
host = "{host}"
timeout = "1s"
[load]
users = 2
spawn_rate = 100
duration = "1s"
[preflight]
timeout = "{timeout}"
interval = "250ms"
[[preflight.check]]
name = "health"
path = "/health"
expect = {{ status = [200], json = {{ "$.status" = "{want}" }} }}
[[task]]
name = "t"
path = "/health"
"#
    )
}

#[test]
fn a_healthy_target_passes_the_checks_and_gets_its_run() {
    let demo = Demo::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "ok.toml", &scenario(&demo.url, "healthy", "5s"));
    let json = dir.path().join("ok.json");
    let out = loadgen([
        "run",
        file.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ])
    .expect_code(0);
    out.stderr_has("preflight: 1 check passed");
    let r = crate::util::results(&json);
    // The checks are not part of the run's statistics.
    let names: Vec<&str> = r["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["t"]);
    loadgen(["check", file.to_str().unwrap(), "--preflight"])
        .expect_code(0)
        .stdout_has("passed the preflight checks");
}

#[test]
fn a_target_that_is_not_ready_gets_no_load_and_exit_4() {
    // /health answers 503 {"status":"starting"} for the first minute.
    let demo = Demo::start(&["--unhealthy-for", "60s"]);
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "down.toml",
        &scenario(&demo.url, "healthy", "1s"),
    );
    let json = dir.path().join("down.json");
    let began = Instant::now();
    let out = loadgen([
        "run",
        file.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ])
    .expect_code(4);
    assert!(
        began.elapsed() < Duration::from_secs(6),
        "{:?}",
        began.elapsed()
    );
    out.stderr_has("target not ready: check `health`: unexpected status 503 (expected 200)")
        .stderr_has("no load was sent");
    assert!(!json.exists(), "no run, no results");
    assert!(
        !out.stdout.contains("Aggregated"),
        "no statistics: {}",
        out.stdout
    );

    // A body that says something else fails the check's JSON expectation.
    let demo = Demo::start(&[]);
    let file = write(
        dir.path(),
        "wrong.toml",
        &scenario(&demo.url, "ready", "500ms"),
    );
    // The message says how the value differs, never what it is (a response value may be a secret).
    let out = loadgen(["run", file.to_str().unwrap()]).expect_code(4);
    out.stderr_has("check `health`: expect.json $.status: the value differs (got a string of 7 characters, expected a string of 5 characters");
    assert!(!out.stderr.contains("healthy"), "{}", out.stderr);
    loadgen(["check", file.to_str().unwrap(), "--preflight"]).expect_code(4);
}

#[test]
fn a_target_that_becomes_healthy_while_the_checks_retry_gets_its_run() {
    // Starting for 3 s from the server's start: the first checks see 503, a later one 200 "healthy". (The run
    // starts when the server is up; 3 s is ample for a busy machine to start loadgen in.)
    let demo = Demo::start(&["--unhealthy-for", "3s"]);
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "starting.toml",
        &scenario(&demo.url, "healthy", "15s"),
    );
    loadgen(["run", file.to_str().unwrap()])
        .expect_code(0)
        .stderr_has("preflight: 1 check passed after");
}

#[test]
fn a_target_that_comes_up_while_the_checks_retry_gets_its_run() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "late.toml",
        &scenario(&format!("http://{addr}"), "healthy", "15s"),
    );
    // -v logs each failed attempt.
    let running = loadgen(["run", file.to_str().unwrap(), "-v"]).start();
    // Nothing listens until a check has been refused: the server comes up while the checks retry.
    running.wait_for_stderr("preflight attempt 1:", Duration::from_secs(20));
    let _demo = Demo::start_at(&addr, &[]);
    let out = running.finish(Duration::from_secs(30));
    assert_eq!(out.code, Some(0), "{}", out.dump());
    out.stderr_has("preflight: 1 check passed after");
}
