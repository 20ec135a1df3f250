//! End-to-end runs of the real binary against the reference API served by the real binary.

use std::time::Duration;

use crate::util::{
    BUSY_MACHINE_VALIDITY, Demo, auth_steps, loadgen, request, results, run_results, wait_for_rows,
    write,
};

/// The auth flow with a fast task mix, so every user logs out (and logs in again) many times in a short run.
fn relogin_scenario(host: &str) -> String {
    format!(
        r#"
name = "relogin"
[target]
host = "{host}"
[load]
users = 5
spawn_rate = 50
duration = "3s"
stop_timeout = "2s"
[user]
wait = "20ms"
{auth}
[[task]]
name = "verify_token"
weight = 3
path = "/api/auth/verify"
headers = {{ Authorization = "Bearer {{{{token}}}}" }}
[[task]]
name = "logout"
method = "POST"
path = "/api/auth/logout"
headers = {{ Authorization = "Bearer {{{{token}}}}" }}
restart_session = true
[[user.on_stop]]
name = "final_verify"
path = "/api/auth/verify"
headers = {{ Authorization = "Bearer {{{{token}}}}" }}
[gates]
success_rate = 100
{BUSY_MACHINE_VALIDITY}"#,
        auth = auth_steps("t_{{run_id}}_{{vu}}_{{session}}", "Secret-Pass-1")
    )
}

#[test]
fn token_is_captured_used_and_sessions_restart_after_logout() {
    let demo = Demo::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "relogin.toml", &relogin_scenario(&demo.url));
    let json = dir.path().join("out.json");
    let out = loadgen([
        "run",
        file.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ])
    .expect_code(0);
    let r = results(&json);

    // verify_token only succeeds with the token captured at login: any stale or missing token is a 401 failure.
    let verify = request(&r, "verify_token");
    assert!(verify["requests"].as_u64().unwrap() > 20, "{verify}");
    assert_eq!(verify["failures"], 0, "{verify}");
    assert_eq!(verify["status_codes"]["200"], verify["requests"]);
    // Every logout restarts the session: register runs again, with a fresh {{session}} name (else 409).
    let logouts = request(&r, "logout")["requests"].as_u64().unwrap();
    let registers = request(&r, "register");
    assert!(logouts >= 5, "expected several logouts, got {logouts}");
    assert!(registers["requests"].as_u64().unwrap() > 5, "{registers}");
    assert_eq!(registers["failures"], 0, "{registers}");
    assert_eq!(request(&r, "login")["failures"], 0);
    // on_stop ran for users that had a session open at the end.
    assert!(request(&r, "final_verify")["requests"].as_u64().unwrap() >= 1);
    assert_eq!(r["gates"]["passed"], true);
    assert_eq!(r["interrupted"], false);

    // Secrets: neither the password nor any JWT appears in the results or on the console. Every token the
    // reference API issues starts with its header `{"alg":"HS256",` in base64url: `eyJhbGciOiJIUzI1NiIs`. (A
    // shorter prefix such as `eyJ` turns up by chance in the base64 of the stored histograms.)
    let text = std::fs::read_to_string(&json).unwrap();
    for secret in ["Secret-Pass-1", "eyJhbGciOiJIUzI1NiIs"] {
        assert!(!text.contains(secret), "results contain {secret}");
        assert!(
            !out.stdout.contains(secret) && !out.stderr.contains(secret),
            "console shows {secret}"
        );
    }

    // The request log (-vv) shows every request by its template, and no secret either.
    let out = loadgen(["run", file.to_str().unwrap(), "-vv", "-t", "1s"]).expect_code(0);
    assert!(
        out.stderr
            .contains("verify_token: GET /api/auth/verify -> 200 in"),
        "{}",
        out.dump()
    );
    assert!(out.stderr.contains("login: POST /api/auth/login -> 200 in"));
    for secret in ["Secret-Pass-1", "eyJhbGciOiJIUzI1NiIs"] {
        assert!(
            !out.stderr.contains(secret),
            "the request log shows {secret}"
        );
    }
}

fn rate_limited(host: &str, expect: &str) -> String {
    format!(
        r#"
name = "limited"
[target]
host = "{host}"
[load]
users = 2
spawn_rate = 10
duration = "2s"
[user]
wait = "10ms"
{auth}
[[task]]
name = "operation"
method = "POST"
path = "/api/protected/operation"
headers = {{ Authorization = "Bearer {{{{token}}}}" }}
json = {{ action = "test" }}
{expect}
[gates]
success_rate = 99
{BUSY_MACHINE_VALIDITY}"#,
        auth = auth_steps("r_{{run_id}}_{{vu}}_{{session}}", "pw-123456")
    )
}

#[test]
fn accepted_429s_are_counted_separately_and_unaccepted_ones_fail() {
    let demo = Demo::start(&["--rate-limit", "3", "--rate-window", "10s"]);
    let dir = tempfile::tempdir().unwrap();

    let accepted = write(
        dir.path(),
        "a.toml",
        &rate_limited(&demo.url, "expect = { status = [200, 429] }"),
    );
    let json = dir.path().join("a.json");
    loadgen([
        "run",
        accepted.to_str().unwrap(),
        "-q",
        "--json",
        json.to_str().unwrap(),
    ])
    .expect_code(0);
    let op = request(&results(&json), "operation").clone();
    assert!(op["status_codes"]["429"].as_u64().unwrap() > 10, "{op}");
    assert!(op["status_codes"]["200"].as_u64().unwrap() >= 3, "{op}");
    assert_eq!(op["failures"], 0, "429 was declared acceptable: {op}");

    let strict = write(dir.path(), "s.toml", &rate_limited(&demo.url, ""));
    let json = dir.path().join("s.json");
    let out = loadgen([
        "run",
        strict.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ])
    .expect_code(1);
    let r = results(&json);
    let op = request(&r, "operation");
    assert_eq!(op["failures"], op["status_codes"]["429"], "{op}");
    let failure = r["failures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "operation")
        .unwrap();
    assert_eq!(failure["kind"], "status");
    assert!(
        failure["message"]
            .as_str()
            .unwrap()
            .contains("unexpected status 429"),
        "{failure}"
    );
    out.stdout_has("FAIL  all").stdout_has("Result: FAIL");
}

fn simple(host: &str, users: u32, rate: u32, duration: &str, wait: &str, gates: &str) -> String {
    format!(
        r#"
name = "simple"
[target]
host = "{host}"
[load]
users = {users}
spawn_rate = {rate}
duration = "{duration}"
[user]
wait = "{wait}"
[[task]]
name = "health"
path = "/health"
[gates]
{gates}
{BUSY_MACHINE_VALIDITY}"#
    )
}

#[test]
fn gates_decide_the_exit_code() {
    let demo = Demo::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let pass = write(
        dir.path(),
        "p.toml",
        &simple(
            &demo.url,
            3,
            10,
            "1s",
            "50ms",
            "success_rate = 99\np95_ms = 5000",
        ),
    );
    loadgen(["run", pass.to_str().unwrap()])
        .expect_code(0)
        .stdout_has("Result: PASS");
    // No server answers below a microsecond: this gate must fail.
    let fail = write(
        dir.path(),
        "f.toml",
        &simple(&demo.url, 3, 10, "1s", "50ms", "p50_ms = 0.0001"),
    );
    loadgen(["run", fail.to_str().unwrap()])
        .expect_code(1)
        .stdout_has("FAIL  all")
        .stdout_has("p50_ms");
    // Per-request gates.
    let per = write(
        dir.path(),
        "r.toml",
        &simple(
            &demo.url,
            3,
            10,
            "1s",
            "50ms",
            "[gates.requests.health]\nsuccess_rate = 100\np99_ms = 0.0001",
        ),
    );
    let out = loadgen(["run", per.to_str().unwrap()]).expect_code(1);
    out.stdout_has("PASS  health").stdout_has("FAIL  health");
}

/// A ramp end to end, coarsely: the schedule itself is checked to the millisecond under paused time
/// (`engine::walk` tests); here each once-a-second sample, which a busy machine can delay, is judged by the
/// plan at its own time.
#[test]
fn users_spawn_at_the_spawn_rate() {
    let demo = Demo::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "spawn.toml",
        &simple(&demo.url, 20, 10, "4s", "100ms", ""),
    );
    let r = run_results(&file, 0);
    let series = r["time_series"].as_array().unwrap();
    // 10 users/s: users 1..10 start in the first second (at 0.0, 0.1, ... 0.9 s), all 20 by 1.9 s.
    let planned = |t: f64| ((10.0 * t.max(0.0)).floor() as u64 + 1).min(20);
    for p in &series[..series.len() - 1] {
        let t = p["elapsed_s"].as_f64().unwrap();
        let (users, target) = (
            p["users"].as_u64().unwrap(),
            p["target_users"].as_u64().unwrap(),
        );
        // The target of the scheduler's last step, up to half a second late on a busy machine.
        assert!(
            (planned(t - 0.5)..=planned(t)).contains(&target),
            "target {target} at {t} s: {series:?}"
        );
        assert!(
            users.abs_diff(target) <= 1,
            "{users} users for {target} at {t} s: {series:?}"
        );
    }
    let first = &series[0];
    assert!(
        (5..=11).contains(&first["users"].as_u64().unwrap()),
        "about 10 users after the first second: {first}"
    );
    assert!(
        series[..series.len() - 1]
            .iter()
            .filter(|p| p["users"] == 20)
            .count()
            >= 2,
        "20 users held from 1.9 s: {series:?}"
    );
    assert_eq!(r["totals"]["peak_users"], 20);
}

#[test]
fn one_command_demo_run_works() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("demo.json");
    let stress = crate::util::shipped_scenario(dir.path(), "stress.toml");
    let out = loadgen([
        "run",
        stress.to_str().unwrap(),
        "--demo",
        "-u",
        "20",
        "-r",
        "20",
        "-t",
        "3s",
        "--json",
        json.to_str().unwrap(),
    ])
    .expect_code(0);
    out.stdout_has("verify_token").stdout_has("Result: PASS");
    let r = results(&json);
    assert_eq!(r["scenario"]["name"], "stress");
    assert!(
        r["settings"]["host"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    assert_eq!(request(&r, "verify_token")["failures"], 0);
    // The override of the included task took effect: 429 is accepted in stress.
    let op = r["settings"]["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "rate_limited_operation")
        .unwrap();
    assert_eq!(op["expect_status"], serde_json::json!([200, 429]));
}

#[test]
fn an_interrupted_run_still_writes_its_results() {
    let demo = Demo::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "long.toml",
        &simple(&demo.url, 5, 50, "60s", "50ms", "success_rate = 99"),
    );
    let json = dir.path().join("long.json");
    let running = loadgen([
        "run",
        file.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--progress-interval",
        "1s",
    ])
    .start();
    // Interrupted once it has printed the status line of its second second (stderr is not a terminal: plain
    // lines), however long a busy machine took to start it.
    running.wait_for_stderr("[00:02/01:00] users", Duration::from_secs(30));
    running.signal("INT");
    let out = running.finish(Duration::from_secs(20));
    assert_eq!(out.code, Some(130), "{}", out.dump());
    let r = results(&json);
    assert_eq!(r["interrupted"], true);
    let d = r["duration_s"].as_f64().unwrap();
    assert!((2.0..20.0).contains(&d), "duration {d} of the planned 60 s");
    assert!(request(&r, "health")["requests"].as_u64().unwrap() > 10);
    out.stdout_has("interrupted");
}

#[test]
fn sigterm_stops_the_run_and_every_output_is_written_whole() {
    // What a CI runner does at its timeout: SIGTERM. Every requested file is written, complete, and says
    // the run was interrupted.
    let demo = Demo::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "term.toml",
        &simple(&demo.url, 4, 50, "60s", "20ms", "success_rate = 99"),
    );
    let path = |name: &str| dir.path().join(name);
    let running = loadgen([
        "run",
        file.to_str().unwrap(),
        "--json",
        path("r.json").to_str().unwrap(),
        "--csv",
        path("r").to_str().unwrap(),
        "--html",
        path("r.html").to_str().unwrap(),
        "--junit",
        path("r.xml").to_str().unwrap(),
        "--markdown",
        path("r.md").to_str().unwrap(),
    ])
    .start();
    // Once a second of the run is recorded in the live history.
    wait_for_rows(&path("r_stats_history.csv"), 1, Duration::from_secs(30));
    running.signal("TERM");
    let out = running.finish(Duration::from_secs(20));
    assert_eq!(out.code, Some(130), "{}", out.dump());
    let r = results(&path("r.json"));
    assert_eq!(r["interrupted"], true);
    assert!(crate::schema::schema_errors(&r).is_empty());
    let d = r["duration_s"].as_f64().unwrap();
    assert!(
        (1.0..20.0).contains(&d),
        "the real run time, not the planned 60 s: {d}"
    );
    let stats = std::fs::read_to_string(path("r_stats.csv")).unwrap();
    assert!(
        stats.contains("\"health\"") || stats.contains(",health,"),
        "{stats}"
    );
    assert!(
        stats
            .trim_end()
            .lines()
            .last()
            .unwrap()
            .contains("Aggregated")
    );
    let junit = std::fs::read_to_string(path("r.xml")).unwrap();
    assert!(
        junit.trim_end().ends_with("</testsuites>") && junit.contains("interrupted"),
        "{junit}"
    );
    let html = std::fs::read_to_string(path("r.html")).unwrap();
    assert!(html.trim_end().ends_with("</html>") && html.contains("Interrupted"));
    let md = std::fs::read_to_string(path("r.md")).unwrap();
    assert!(md.to_lowercase().contains("interrupted"), "{md}");
    // Written atomically: no temporary file is left beside them.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");
}

#[test]
fn a_password_in_the_host_url_is_never_shown() {
    let demo = Demo::start(&[]);
    let host = demo.url.replace("http://", "http://admin:hunter2@");
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "h.toml",
        &simple(&host, 1, 10, "1s", "100ms", ""),
    );
    let json = dir.path().join("h.json");
    let out = loadgen([
        "run",
        file.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ])
    .expect_code(0);
    let text = std::fs::read_to_string(&json).unwrap();
    assert!(
        !text.contains("hunter2")
            && !out.stdout.contains("hunter2")
            && !out.stderr.contains("hunter2")
    );
    assert!(text.contains("admin:***@"), "the host is shown, masked");
}

#[test]
fn check_sends_no_traffic() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let host = format!("http://{}", listener.local_addr().unwrap());
    let out = loadgen(["check", "scenarios/baseline.toml", "--host", &host]).expect_code(0);
    out.stdout_has("100 users")
        .stdout_has("verify_token")
        .stdout_has("no traffic was sent");
    assert!(listener.accept().is_err(), "check connected to the target");
}

#[test]
fn a_bad_output_path_fails_before_the_run() {
    let start = std::time::Instant::now();
    loadgen([
        "run",
        "scenarios/baseline.toml",
        "--demo",
        "--json",
        "/nonexistent-dir/out.json",
    ])
    .expect_code(2)
    .stderr_has("cannot write /nonexistent-dir/out.json");
    let dir = tempfile::tempdir().unwrap();
    loadgen([
        "run",
        "scenarios/baseline.toml",
        "--demo",
        "--json",
        dir.path().to_str().unwrap(),
    ])
    .expect_code(2)
    .stderr_has("it is a directory");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "it ran before checking the path"
    );
}

#[test]
fn a_dead_target_is_measured_as_connection_failures() {
    // Bind then drop: nothing listens on this port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "dead.toml",
        &simple(
            &format!("http://127.0.0.1:{port}"),
            2,
            10,
            "1s",
            "50ms",
            "success_rate = 50",
        ),
    );
    let r = run_results(&file, 1);
    let f = &r["failures"][0];
    assert_eq!(f["kind"], "connect", "{f}");
    assert_eq!(f["message"], "connection refused");
    assert_eq!(r["totals"]["failures"], r["totals"]["requests"]);
}

#[test]
fn serve_demo_stops_cleanly_on_sigterm_and_sigint() {
    for (signal, name) in [("TERM", "SIGTERM"), ("INT", "SIGINT")] {
        let running = loadgen(["serve-demo", "--addr", "127.0.0.1:0"]).start();
        // Its handlers are installed before the URL is printed: signalling at once is safe.
        running.wait_for_stdout("listening on http://127.0.0.1:", Duration::from_secs(20));
        running.signal(signal);
        let out = running.finish(Duration::from_secs(20));
        assert_eq!(out.code, Some(0), "{}", out.dump());
        out.stderr_has(&format!("{name}: the reference API stopped"));
    }
}

#[test]
fn every_command_has_help_with_an_example() {
    for cmd in [
        vec!["--help"],
        vec!["run", "--help"],
        vec!["check", "--help"],
        vec!["serve-demo", "--help"],
    ] {
        loadgen(cmd).expect_code(0).stdout_has("Example");
    }
}

#[test]
fn requests_stuck_at_the_stop_timeout_are_recorded_as_aborted() {
    // The reference API answers nothing during the last 3 s of every 5 s: a 3 s run ends inside a stall.
    let demo = Demo::start(&["--stall", "3s/5s"]);
    let dir = tempfile::tempdir().unwrap();
    let text = simple(
        &demo.url,
        5,
        50,
        "3s",
        "50ms",
        "success_rate = 99\np99_ms = 500",
    )
    .replace(
        "duration = \"3s\"",
        "duration = \"3s\"\nstop_timeout = \"1s\"",
    );
    let file = write(dir.path(), "stall.toml", &text);
    let json = dir.path().join("stall.json");
    let out = loadgen([
        "run",
        file.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ])
    .expect_code(1);
    let r = results(&json);
    assert_eq!(r["totals"]["aborted_users"], 5, "{}", out.dump());
    let aborted = r["failures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "aborted")
        .unwrap();
    assert_eq!(aborted["occurrences"], 5);
    // The stuck requests count in the latencies: each had waited over a second when it was stopped.
    let p100 = request(&r, "health")["percentiles_ms"]["p100"]
        .as_f64()
        .unwrap();
    assert!(p100 >= 1000.0, "max latency {p100} ms");
    out.stdout_has("FAIL  all");
}

/// 3 users of a run of `duration` with a 60 s stop timeout against a target that stalls, started with `--json`
/// and `--csv`; returned once the live history has `rows` rows (the users are then stuck in the stall).
fn stalled_run(
    demo: &Demo,
    duration: &str,
    rows: usize,
) -> (tempfile::TempDir, std::path::PathBuf, crate::util::Running) {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = simple(&demo.url, 3, 50, duration, "50ms", "").replace(
        &format!("duration = \"{duration}\""),
        &format!("duration = \"{duration}\"\nstop_timeout = \"60s\""),
    );
    let file = write(dir.path(), "stalled.toml", &text);
    let json = dir.path().join("stalled.json");
    let running = loadgen([
        "run",
        file.to_str().expect("a UTF-8 path"),
        "--json",
        json.to_str().expect("a UTF-8 path"),
        "--csv",
        dir.path().join("stalled").to_str().expect("a UTF-8 path"),
    ])
    .start();
    wait_for_rows(
        &dir.path().join("stalled_stats_history.csv"),
        rows,
        Duration::from_secs(30),
    );
    (dir, json, running)
}

#[test]
fn a_second_sigterm_ends_a_graceful_stop_at_once() {
    // The reference API answers for a second, then nothing for a minute: users stopping gracefully would wait
    // for their stuck requests up to the 60 s stop timeout.
    let demo = Demo::start(&["--stall", "60s/61s"]);
    // Three seconds recorded: the users are stuck in the stall.
    let (_dir, json, running) = stalled_run(&demo, "60s", 3);
    running.signal("TERM");
    running.wait_for_stderr("interrupted: stopping users", Duration::from_secs(20));
    running.signal("TERM");
    let start = std::time::Instant::now();
    let out = running.finish(Duration::from_secs(30));
    assert_eq!(out.code, Some(130), "{}", out.dump());
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?} to stop after the second signal",
        start.elapsed()
    );
    let r = results(&json);
    assert_eq!(r["interrupted"], true);
    assert_eq!(r["totals"]["aborted_users"], 3, "{}", out.dump());
}

#[test]
fn an_interrupt_during_the_stop_phase_stops_at_once() {
    let demo = Demo::start(&["--stall", "9s/10s"]);
    // The live history gets a row each second of the stop phase too: with three, the 2 s run is in its stop
    // phase, waiting on requests the stalled target does not answer.
    let (_dir, json, running) = stalled_run(&demo, "2s", 3);
    running.signal("INT");
    let start = std::time::Instant::now();
    let out = running.finish(Duration::from_secs(20));
    assert_eq!(out.code, Some(130), "{}", out.dump());
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?} to stop",
        start.elapsed()
    );
    let r = results(&json);
    assert_eq!(r["interrupted"], true);
    assert_eq!(r["totals"]["aborted_users"], 3);
}

#[test]
fn reported_latency_includes_the_server_delay_and_ttfb_is_within_it() {
    // The server waits 50 ms before every answer: no correct measurement can be below that.
    let demo = Demo::start(&["--latency", "50ms"]);
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "lat.toml",
        &simple(&demo.url, 4, 20, "2s", "20ms", ""),
    );
    let r = run_results(&file, 0);
    let q = request(&r, "health");
    let full = &q["percentiles_ms"];
    let ttfb = &q["ttfb_percentiles_ms"];
    let (full50, ttfb50) = (full["p50"].as_f64().unwrap(), ttfb["p50"].as_f64().unwrap());
    assert!(
        ttfb50 >= 50.0 && full50 >= ttfb50,
        "ttfb p50 {ttfb50}, full p50 {full50}"
    );
    assert!(q["min_ms"].as_f64().unwrap() >= 50.0, "{q}");
    // Generous upper bound: the point is that the delay is measured, not added to several times.
    assert!(full50 < 150.0, "full p50 {full50}");
    assert!(r["generator"]["lag_ms_max"].as_f64().is_some());
    assert!(r["time_series"][0]["lag_ms"].as_f64().is_some());
}

#[test]
fn the_auth_flow_works_with_shared_connections() {
    // Users share their worker's connections, but tokens (captures) and sessions stay per user.
    let demo = Demo::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let text = relogin_scenario(&demo.url).replace(
        "stop_timeout = \"2s\"",
        "stop_timeout = \"2s\"\nconnections = \"shared\"",
    );
    let file = write(dir.path(), "shared.toml", &text);
    let r = run_results(&file, 0);
    assert_eq!(r["settings"]["connections"], "shared");
    let verify = request(&r, "verify_token");
    assert!(verify["requests"].as_u64().unwrap() > 20, "{verify}");
    assert_eq!(
        verify["failures"], 0,
        "each user still uses its own token: {verify}"
    );
    assert_eq!(request(&r, "register")["failures"], 0);
}

#[test]
fn compare_passes_the_same_setup_and_flags_injected_latency() {
    let dir = tempfile::tempdir().unwrap();
    let run = |demo: &Demo, name: &str| {
        let file = write(
            dir.path(),
            &format!("{name}.toml"),
            &simple(&demo.url, 4, 40, "2s", "20ms", ""),
        );
        run_results(&file, 0);
        file.with_extension("json")
    };
    let fast = Demo::start(&[]);
    let (base, same) = (run(&fast, "base"), run(&fast, "same"));
    let slow = Demo::start(&["--latency", "300ms"]);
    let slower = run(&slow, "slower");
    let arg = |p: &std::path::Path| p.to_str().unwrap().to_string();

    // On a loaded test machine two identical runs can differ by 10-15 ms at p95/p99 with parallel builds, and
    // by 52 ms at p99 with `stress-ng --cpu 2` beside the suite: a 200 ms floor separates that noise from the
    // 300 ms the server adds. The slow run has about 25 requests, under the default 100 that rows need to be
    // judged (15 here).
    let judge = |new: &std::path::Path, extra: &[&str]| {
        let mut args = vec!["compare".to_string(), arg(&base), arg(new)];
        args.extend(
            ["--min-latency-delta-ms", "200", "--min-requests", "15"]
                .iter()
                .chain(extra)
                .map(|a| a.to_string()),
        );
        loadgen(&args)
    };
    judge(&same, &[]).expect_code(0).stdout_has("no regression");
    let out = judge(&slower, &[]).expect_code(1);
    out.stdout_has("REGRESSION").stdout_has("regression(s)");
    let out = judge(&slower, &["--format", "json"]).expect_code(1);
    let j: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let p95 = j["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "health" && r["metric"] == "p95_ms")
        .unwrap();
    assert_eq!(p95["regression"], true, "{p95}");
    assert!(p95["new"].as_f64().unwrap() >= 300.0);
    judge(&slower, &["--format", "markdown"])
        .expect_code(1)
        .stdout_has("| health | p95_ms |");
    // Bad input is exit 2 with the file named.
    loadgen(["compare", &arg(&base), "Cargo.toml"])
        .expect_code(2)
        .stderr_has("Cargo.toml: not a results file");
}

#[test]
fn junit_and_markdown_outputs_carry_the_gate_verdicts() {
    let demo = Demo::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "ci.toml",
        &simple(
            &demo.url,
            2,
            20,
            "1s",
            "50ms",
            "success_rate = 99\np50_ms = 0.0001",
        ),
    );
    let (junit, md) = (dir.path().join("gates.xml"), dir.path().join("summary.md"));
    loadgen([
        "run",
        file.to_str().unwrap(),
        "-q",
        "--junit",
        junit.to_str().unwrap(),
        "--markdown",
        md.to_str().unwrap(),
    ])
    .expect_code(1);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert_eq!(
        xml.matches("<testcase ").count(),
        2,
        "one test case per gate\n{xml}"
    );
    assert_eq!(
        xml.matches("<failure ").count(),
        1,
        "only the p50 gate fails\n{xml}"
    );
    assert!(xml.contains("tests=\"2\" failures=\"1\""), "{xml}");
    validate_junit(&junit);
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(
        md.contains("FAIL") && md.contains("| gate | target | measured | result |"),
        "{md}"
    );
    assert!(md.contains("**Aggregated**"), "{md}");
    // A bad path for either is caught before the run.
    loadgen([
        "run",
        file.to_str().unwrap(),
        "--junit",
        "/nonexistent-dir/x.xml",
    ])
    .expect_code(2)
    .stderr_has("cannot write /nonexistent-dir/x.xml");
}

/// A `steady` gate's JUnit case reports the requests and failures of the steady part, not the whole run's. The
/// steady part starts after a 3 s ramp whose requests are outside it, and the reference API fails half of them
/// (`--error-rate 0.5`; the endpoint answers 401 without a token, which the task expects), so both counts of the
/// window are smaller than the run's whatever the load on the machine: the ramp sends dozens of requests.
#[test]
fn junit_shows_a_windowed_gates_own_counts() {
    let demo = Demo::start(&["--error-rate", "0.5"]);
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "steady.toml",
        &format!(
            r#"
name = "steady-junit"
[target]
host = "{}"
[load]
stages = [{{ duration = "3s", users = 2 }}, {{ duration = "2s", users = 2 }}]
[user]
wait = "50ms"
[[task]]
name = "verify"
path = "/api/auth/verify"
expect = {{ status = [401] }}
[gates.steady]
success_rate = 99
{BUSY_MACHINE_VALIDITY}"#,
            demo.url
        ),
    );
    let (json, junit) = (dir.path().join("r.json"), dir.path().join("r.xml"));
    loadgen([
        "run",
        file.to_str().unwrap(),
        "-q",
        "--json",
        json.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ])
    .expect_code(1);
    let r = results(&json);
    let gate = &r["gates"]["results"][0];
    assert_eq!(
        (gate["during"].as_str(), gate["passed"].as_bool()),
        (Some("steady"), Some(false)),
        "{gate}"
    );
    let count =
        |v: &serde_json::Value, k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k}: {v}"));
    let (window, window_failures) = (count(gate, "requests"), count(gate, "failures"));
    let (total, total_failures) = (
        count(&r["totals"], "requests"),
        count(&r["totals"], "failures"),
    );
    eprintln!(
        "steady: {window} requests, {window_failures} failures; run: {total}, {total_failures}"
    );
    // The window is the series' seconds from 3 s on (a point counts by the middle of the interval it covers).
    let (mut prev, mut in_window) = (0.0, (0, 0));
    for p in r["time_series"].as_array().unwrap() {
        let end = p["elapsed_s"].as_f64().unwrap();
        if (3.0..=5.0).contains(&((prev + end) / 2.0)) {
            in_window.0 += count(p, "requests");
            in_window.1 += count(p, "failures");
        }
        prev = end;
    }
    assert_eq!((window, window_failures), in_window, "{gate}");
    assert!(
        0 < window_failures && window_failures < total_failures && window < total,
        "window {window} requests, {window_failures} failures; run {total}, {total_failures}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains(&format!(
            "\nrequests: {window}, failures: {window_failures}<"
        )),
        "expected the steady window's counts\n{xml}"
    );
    assert!(!xml.contains(&format!("requests: {total},")), "{xml}");
    validate_junit(&junit);
}

/// Validates a JUnit file against the schema shape CI tools accept (tests/fixtures/junit.xsd) with xmllint.
fn validate_junit(file: &std::path::Path) {
    let Some(xmllint) = crate::util::external_tool("xmllint", &[&["xmllint", "--version"]]) else {
        return;
    };
    let xsd = crate::util::root().join("tests/fixtures/junit.xsd");
    let check = |f: &std::path::Path| {
        std::process::Command::new(&xmllint[0])
            .args(["--noout", "--schema"])
            .arg(&xsd)
            .arg(f)
            .output()
            .expect("run xmllint")
    };
    let out = check(file);
    assert!(
        out.status.success(),
        "JUnit XML does not validate:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The check can fail: a timestamp with milliseconds and a zone (what loadgen wrote before) does not pass.
    let xml = std::fs::read_to_string(file).expect("read the JUnit file");
    let bad = file.with_extension("bad.xml");
    let start = xml.find(" timestamp=\"").expect("a timestamp") + 12;
    std::fs::write(
        &bad,
        format!(
            "{}2025-01-02T03:04:05.678Z{}",
            &xml[..start],
            &xml[start + 19..]
        ),
    )
    .expect("write the broken copy");
    assert!(
        !check(&bad).status.success(),
        "a zoned timestamp must not validate"
    );
}

#[test]
fn pacing_starts_tasks_on_a_fixed_interval_whatever_they_take() {
    // Each request takes 300 ms. With a 400 ms pacing a user starts a task every 400 ms (2.5/s); with a
    // 400 ms constant wait, every 700 ms (1.43/s). Two users for 4 s: about 20 against about 11.
    let demo = Demo::start(&["--latency", "300ms"]);
    let dir = tempfile::tempdir().unwrap();
    let count = |wait: &str| {
        let file = write(
            dir.path(),
            "pacing.toml",
            &simple(&demo.url, 2, 100, "4s", "0s", "").replace("wait = \"0s\"", wait),
        );
        let r = crate::util::run_results(&file, 0);
        r["totals"]["requests"].as_u64().unwrap()
    };
    let paced = count("wait = { constant_pacing = \"400ms\" }");
    let throughput = count("wait = { constant_throughput = 2.5 }");
    let constant = count("wait = \"400ms\"");
    for n in [paced, throughput] {
        assert!(
            (17..=23).contains(&n),
            "paced users made {n} requests, expected about 20"
        );
    }
    assert!(
        (9..=13).contains(&constant),
        "constant wait made {constant}, expected about 11"
    );
}

/// Stages end to end: the shape the time series shows, coarsely. The schedule itself is checked to the
/// millisecond under paused time (`engine::walk` tests); here the users are sampled by a once-a-second tick that
/// a busy machine can delay, so each sample is judged by the plan's target at its own time, with a user of
/// tolerance for one starting or stopping as the tick samples.
#[test]
fn stages_ramp_up_step_and_ramp_down_in_the_time_series() {
    let demo = Demo::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "stages.toml",
        &format!(
            r#"
name = "stages"
[target]
host = "{}"
[load]
stages = [
  {{ duration = "2s", users = 6 }},
  {{ duration = "2s", users = 6 }},
  {{ duration = "0s", users = 12 }},
  {{ duration = "2s", users = 12 }},
  {{ duration = "1s", users = 2 }},
  {{ duration = "2s", users = 2 }},
]
[user]
wait = "50ms"
[[task]]
name = "health"
path = "/health"
[[user.on_stop]]
name = "bye"
path = "/health"
{}"#,
            demo.url, BUSY_MACHINE_VALIDITY
        ),
    );
    let r = crate::util::run_results(&file, 0);
    assert_eq!(r["settings"]["users"], 12);
    assert_eq!(r["settings"]["stages"].as_array().unwrap().len(), 6);
    assert_eq!(r["totals"]["peak_users"], 12);
    let series = r["time_series"].as_array().unwrap();
    // The plan's users `t` seconds into the run.
    let planned = |t: f64| -> u64 {
        match t {
            t if t < 2.0 => (3.0 * t).floor() as u64,
            t if t < 4.0 => 6,
            t if t < 6.0 => 12,
            t if t < 7.0 => (12.0 - 10.0 * (t - 6.0)).floor() as u64,
            _ => 2,
        }
    };
    let mut seen = Vec::new();
    for p in &series[..series.len() - 1] {
        let t = p["elapsed_s"].as_f64().unwrap();
        let (users, target) = (
            p["users"].as_u64().unwrap(),
            p["target_users"].as_u64().unwrap(),
        );
        seen.push((t, users, target));
        // The target is the plan's at the time of the scheduler's last step, which a busy machine may have
        // delayed: the plan's between half a second before the sample and the sample.
        let (a, b) = (planned((t - 0.5).max(0.0)), planned(t));
        assert!(
            (a.min(b)..=a.max(b)).contains(&target),
            "target {target} at {t} s: {series:?}"
        );
        assert!(
            users.abs_diff(target) <= 1,
            "{users} users for {target} at {t} s: {series:?}"
        );
    }
    // Each part of the plan was seen: the holds at 6 and 12, and 2 after the ramp-down.
    for want in [6, 12, 2] {
        assert!(
            seen.iter()
                .any(|&(_, users, target)| target == want && users == want),
            "{want} users never seen: {seen:?}"
        );
    }
    // Users stopped by the ramp-down stopped gracefully: each ran on_stop.
    let byes = crate::util::request(&r, "bye")["requests"]
        .as_u64()
        .unwrap();
    assert_eq!(
        byes, 12,
        "every user that ran said goodbye once (10 at the ramp-down, 2 at the end)"
    );
}

#[test]
fn an_ipv6_loopback_target_works() {
    let demo = crate::util::Demo::start_at("[::1]:0", &[]);
    assert!(demo.url.starts_with("http://[::1]:"), "{}", demo.url);
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "v6.toml",
        &simple(&demo.url, 2, 10, "1s", "10ms", "success_rate = 100"),
    );
    let r = crate::util::run_results(&file, 0);
    assert!(request(&r, "health")["requests"].as_u64().unwrap() > 10);
    assert_eq!(request(&r, "health")["failures"], 0);
}
