//! Issue 20 item 2: `loadgen import har` on a recording made by real headless Chromium against the demo API's
//! browser app (tests/fixtures/import/demo_app.har, recorded by tests/python/record_har.py; not re-recorded here),
//! and on broken input.

use std::path::PathBuf;
use std::time::Duration;

use crate::util::{loadgen, request, results, root, write};

fn fixture() -> PathBuf {
    root().join("tests/fixtures/import/demo_app.har")
}

/// `loadgen import har FIXTURE [extra]`: the scenario's text and its TOML.
fn import(extra: &[&str]) -> (String, toml::Table) {
    let out = loadgen(["import", "har"])
        .arg(fixture())
        .args(extra)
        .expect_code(0);
    let t: toml::Table = out
        .stdout
        .parse()
        .unwrap_or_else(|e| panic!("not TOML: {e}\n{}", out.dump()));
    (out.stdout, t)
}

/// Every request of a scenario: the `on_start` steps, then each task's steps.
fn requests(t: &toml::Table) -> Vec<&toml::Table> {
    let mut out = Vec::new();
    for s in t["user"]["on_start"].as_array().expect("on_start") {
        out.push(s.as_table().expect("step"));
    }
    for task in t["task"].as_array().expect("tasks") {
        for s in task["steps"].as_array().expect("a flow") {
            out.push(s.as_table().expect("step"));
        }
    }
    out
}

fn header<'a>(step: &'a toml::Table, name: &str) -> Option<&'a str> {
    step.get("headers")?.as_table()?.iter().find_map(|(k, v)| {
        k.eq_ignore_ascii_case(name)
            .then(|| v.as_str().unwrap_or(""))
    })
}

#[test]
fn the_recording_becomes_setup_and_a_flow_per_page_with_the_token_captured() {
    let (text, t) = import(&[]);
    // Setup: page 1 (sign up) captures the token later pages send, so it runs once per session.
    let start = t["user"]["on_start"].as_array().expect("on_start");
    let names: Vec<&str> = start.iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "get_app",
            "post_api_auth_register",
            "post_api_auth_login",
            "get_api_auth_verify",
            "post_api_auth_refresh"
        ],
        "{text}"
    );
    assert_eq!(
        start[2]["capture"]["access_token"].as_str(),
        Some("$.access_token"),
        "{text}"
    );
    assert_eq!(
        header(start[3].as_table().expect("verify"), "authorization"),
        Some("Bearer {{access_token}}")
    );
    assert_eq!(
        start[4]["capture"]["access_token_2"].as_str(),
        Some("$.access_token"),
        "the refreshed token is a capture of its own: {text}"
    );
    assert!(
        text.contains("# {{access_token_2}} replaces the recorded value"),
        "{text}"
    );
    // Pages 2 and 3 are flows; the later Authorization headers use the refreshed token.
    let tasks = t["task"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 2, "{text}");
    assert!(
        tasks[0]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("page2_"))
    );
    let account: Vec<&str> = tasks[0]["steps"]
        .as_array()
        .expect("flow")
        .iter()
        .filter_map(|s| s["path"].as_str())
        .collect();
    assert_eq!(
        account,
        [
            "/app/account",
            "/api/auth/verify",
            "/api/items?page=1&per_page=5",
            "/api/protected/operation"
        ]
    );
    for step in &tasks[0]["steps"].as_array().expect("flow")[1..] {
        let step = step.as_table().expect("step");
        assert_eq!(
            header(step, "authorization"),
            Some("Bearer {{access_token_2}}")
        );
    }
    assert_eq!(tasks[1]["restart_session"].as_bool(), Some(true), "logout");
    assert!(
        !text.contains("eyJ"),
        "no recorded token is left in the scenario: {text}"
    );
    // The registered name is unique per run, user and session, in the register and the login alike.
    for s in &start[1..3] {
        let user = s["json"]["username"].as_str().expect("username");
        assert!(
            user.ends_with("_{{run_id}}_{{vu}}_{{session}}"),
            "{user}\n{text}"
        );
    }
    // Static assets and noise headers are gone; the app's own header stays.
    assert!(text.contains("# Left out: 9 static assets"), "{text}");
    let all = requests(&t);
    for step in &all {
        let path = step["path"].as_str().expect("path");
        assert!(
            ![".js", ".css", ".svg", "favicon.ico"]
                .iter()
                .any(|e| path.ends_with(e)),
            "{path}"
        );
        for h in [
            "user-agent",
            "accept-encoding",
            "accept-language",
            "sec-ch-ua",
            "sec-fetch-mode",
            "referer",
            "origin",
            "cookie",
            "host",
            "connection",
            "content-length",
            "content-type",
        ] {
            assert_eq!(header(step, h), None, "{h} in {step:?}");
        }
        if path.starts_with("/api/") {
            assert_eq!(header(step, "x-client"), Some("loadgen-demo-app"));
        }
        assert!(
            step["expect"]["status"][0].as_integer().is_some(),
            "{step:?}"
        );
    }
    // Think times: the recorded pauses (the app waits 600 ms after registering; the recorder 1.2 s per page).
    assert_eq!(start[1]["think"].as_str(), Some("600ms"), "{text}");
    let page_pause = start[4]["think"].as_str().expect("a pause before page 2");
    assert!(page_pause.ends_with("ms") || page_pause.ends_with('s'));
    assert!(
        tasks[0].get("think").is_some(),
        "a pause after page 2: {text}"
    );
}

#[test]
fn keep_static_keeps_the_assets() {
    let (text, t) = import(&["--keep-static"]);
    let paths: Vec<&str> = requests(&t)
        .iter()
        .filter_map(|s| s["path"].as_str())
        .collect();
    for p in [
        "/app/app.js",
        "/app/app.css",
        "/app/logo.svg",
        "/favicon.ico",
    ] {
        assert!(paths.contains(&p), "{p} missing: {text}");
    }
    assert!(text.contains("no static assets (--keep-static)"), "{text}");
}

#[test]
fn the_imported_scenario_checks_and_runs_against_the_demo_api() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("imported.toml");
    loadgen(["import", "har"])
        .arg(fixture())
        .arg("-o")
        .arg(&file)
        .expect_code(0)
        .stderr_has("loadgen check");
    loadgen(["check"])
        .arg(&file)
        .expect_code(0)
        .stdout_has("scenario OK");
    let json = dir.path().join("r.json");
    loadgen(["run"])
        .arg(&file)
        .args(["--demo", "-u", "3", "-t", "3s", "-q", "--json"])
        .arg(&json)
        .timeout(Duration::from_secs(60))
        .expect_code(0);
    let r = results(&json);
    for name in [
        "post_api_auth_register",
        "post_api_auth_login",
        "post_api_auth_refresh",
    ] {
        let q = request(&r, name);
        assert!(q["requests"].as_u64() >= Some(3), "every user: {q}");
        assert_eq!(q["failures"], 0, "{q}");
    }
    let total: u64 = r["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .filter(|q| q["method"] != "FLOW")
        .map(|q| q["failures"].as_u64().unwrap_or(u64::MAX))
        .sum();
    assert_eq!(total, 0, "no request failed");
}

#[test]
fn broken_input_is_an_error_with_its_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let not_json = write(
        dir.path(),
        "bad.har",
        "{\n  \"log\": {\n    \"entries\": [,]\n",
    );
    loadgen(["import", "har"])
        .arg(&not_json)
        .expect_code(2)
        .stderr_has("bad.har:3:")
        .stderr_has("not JSON");
    let no_entries = write(dir.path(), "empty.har", "{\"log\": {\"version\": \"1.2\"}}");
    loadgen(["import", "har"])
        .arg(&no_entries)
        .expect_code(2)
        .stderr_has("missing field `entries`");
    let bad_time = write(
        dir.path(),
        "time.har",
        r#"{"log": {"entries": [{"startedDateTime": "soon", "time": 1,
            "request": {"method": "GET", "url": "http://a.test/"}, "response": {"status": 200}}]}}"#,
    );
    loadgen(["import", "har"])
        .arg(&bad_time)
        .expect_code(2)
        .stderr_has("log.entries[0].startedDateTime");
    loadgen(["import", "har"])
        .arg(dir.path().join("missing.har"))
        .expect_code(2)
        .stderr_has("cannot read");
    loadgen(["import", "har"])
        .arg(dir.path())
        .expect_code(2)
        .stderr_has("it is a directory, not a regular file");
    // A FIFO (made here, never a real /dev entry) is refused at once, not waited on for a writer.
    let fifo = dir.path().join("pipe.har");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    loadgen(["import", "har"])
        .arg(&fifo)
        .timeout(std::time::Duration::from_secs(30))
        .expect_code(2)
        .stderr_has("not a regular file");
}

#[test]
fn an_existing_output_is_replaced_only_with_force() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = write(dir.path(), "mine.toml", "# mine\n");
    loadgen(["import", "har"])
        .arg(fixture())
        .arg("-o")
        .arg(&out)
        .expect_code(2)
        .stderr_has("--force");
    assert_eq!(std::fs::read_to_string(&out).expect("read"), "# mine\n");
    loadgen(["import", "har"])
        .arg(fixture())
        .arg("-o")
        .arg(&out)
        .arg("--force")
        .expect_code(0);
    assert!(
        std::fs::read_to_string(&out)
            .expect("read")
            .contains("[[user.on_start]]")
    );
}
