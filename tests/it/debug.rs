//! `loadgen run FILE --debug N` (issue 18 item 6), through the real binary: one user's requests and answers on
//! stdout, secrets masked unless `--debug-secrets`, exit 0/1 by the expectations, 2 on bad input, no results
//! files. Against the built-in API (`--demo` and `serve-demo`) and a recording origin whose secrets the test
//! chose, so it can tell that each one never appears.

use std::io::Write as _;

use crate::origin_server::{Origin, answer};
use crate::util::{Demo, auth_steps, loadgen, write};

/// The header of every HS256 JWT the built-in API issues (`{"alg":"HS256","typ":"JWT"}`): the start of every
/// real token, whatever its random part.
const JWT_HEAD: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.";

/// The shipped auth flow's steps (register and log in, then tasks with the token), one task of weight 1
/// besides a rare one, so that N iterations are N `-->` lines after on_start.
fn auth_flow(password: &str) -> String {
    format!(
        r#"
[load]
users = 1
duration = "10s"
{}
[[task]]
name = "verify_token"
weight = 1000000
method = "GET"
path = "/api/auth/verify"
headers = {{ Authorization = "Bearer {{{{token}}}}" }}
expect = {{ status = [200] }}

[[user.on_stop]]
name = "logout"
method = "POST"
path = "/api/auth/logout"
headers = {{ Authorization = "Bearer {{{{token}}}}" }}
"#,
        auth_steps("dbg_{{run_id}}_{{vu}}_{{session}}", password)
    )
}

fn arrows(stdout: &str) -> Vec<&str> {
    stdout.lines().filter(|l| l.starts_with("--> ")).collect()
}

#[test]
fn the_transcript_shows_each_step_with_the_password_token_and_authorization_masked() {
    let dir = tempfile::tempdir().unwrap();
    let password = "Pw-for-debug-9731";
    let file = write(dir.path(), "auth.toml", &auth_flow(password));
    let out = loadgen(["run", &file.to_string_lossy(), "--demo", "--debug", "3"]).expect_code(0);
    let s = &out.stdout;
    // on_start (register, login), 3 tasks, on_stop: each with its request line and answer.
    let lines = arrows(s);
    assert_eq!(lines.len(), 6, "{}", out.dump());
    for (line, step) in lines.iter().zip([
        "register",
        "login",
        "verify_token",
        "verify_token",
        "verify_token",
        "logout",
    ]) {
        assert!(line.starts_with(&format!("--> {step}  ")), "{line}");
    }
    out.stdout_has("POST /api/auth/register HTTP/1.1\n")
        .stdout_has("POST /api/auth/login HTTP/1.1\n")
        .stdout_has("GET /api/auth/verify HTTP/1.1\n")
        .stdout_has("<-- 201 Created  ")
        .stdout_has("<-- 200 OK  ")
        .stdout_has("authorization: Bearer ***\n")
        .stdout_has(r#""password":"***""#)
        .stdout_has(r#""access_token":"***""#)
        .stdout_has(r#""token_type":"bearer""#)
        .stdout_has("=== 6 requests, 0 failed; 3 of 3 iterations run");
    assert_eq!(s.matches("=== iteration ").count(), 3, "{s}");
    assert!(!s.contains(password), "the password leaked:\n{s}");
    assert!(!s.contains(JWT_HEAD), "a token leaked:\n{s}");
    // No results file of any kind was written beside the scenario.
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(files.len(), 1, "{files:?}");

    // --debug-secrets shows them: the same places hold the real values.
    let out = loadgen([
        "run",
        &file.to_string_lossy(),
        "--demo",
        "--debug",
        "1",
        "--debug-secrets",
    ])
    .expect_code(0);
    let s = &out.stdout;
    assert!(s.contains(&format!(r#""password":"{password}""#)), "{s}");
    assert!(s.contains(&format!(r#""access_token":"{JWT_HEAD}"#)), "{s}");
    assert!(
        s.contains(&format!("authorization: Bearer {JWT_HEAD}")),
        "{s}"
    );
    out.stderr_has("--debug-secrets");
}

/// With the built-in API in a process of its own (`--host`), a recording origin is not needed: the captured
/// token from the JSON the server sent is the one masked, wherever it shows.
#[test]
fn debug_works_with_host_and_counts_n_task_iterations() {
    let demo = Demo::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "auth.toml", &auth_flow("LoadTest123!"));
    for n in [1, 4] {
        let out = loadgen([
            "run",
            &file.to_string_lossy(),
            "--host",
            &demo.url,
            "--debug",
            &n.to_string(),
        ])
        .expect_code(0);
        let tasks = arrows(&out.stdout)
            .iter()
            .filter(|l| l.starts_with("--> verify_token "))
            .count();
        assert_eq!(tasks, n, "{}", out.dump());
        assert!(
            out.stdout.contains(&format!(
                "--> verify_token  GET {}/api/auth/verify\n",
                demo.url
            )),
            "{}",
            out.dump()
        );
    }
}

#[test]
fn a_failed_expectation_is_shown_after_its_answer_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "bad.toml",
        r#"
[load]
users = 1
duration = "10s"
[[task]]
name = "no_token"
method = "GET"
path = "/api/auth/verify"
expect = { status = [200] }
"#,
    );
    let out = loadgen(["run", &file.to_string_lossy(), "--demo", "--debug", "2"]).expect_code(1);
    let s = &out.stdout;
    assert_eq!(arrows(s).len(), 2, "{s}");
    // The failure follows the answer it is about.
    let answer = s.find("<-- 401 Unauthorized").expect("the answer");
    let failed = s
        .find("!!! FAILED (status): unexpected status 401 (expected 200)")
        .expect("the failure");
    assert!(answer < failed, "{s}");
    out.stdout_has("=== 2 requests, 2 failed");
}

#[test]
fn a_bad_scenario_is_a_located_error_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "typo.toml",
        "[load]\nusers = 1\nduration = \"1s\"\n[[task]]\nname = \"t\"\npath = \"/{{tokn}}\"\n",
    );
    let out = loadgen(["run", &file.to_string_lossy(), "--demo", "--debug", "1"]).expect_code(2);
    assert!(
        out.stderr.contains("typo.toml:6:"),
        "not located: {}",
        out.dump()
    );
    assert!(!out.stdout.contains("-->"), "{}", out.dump());
}

#[test]
fn run_flags_that_mean_load_or_results_are_refused_with_debug() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "auth.toml", &auth_flow("LoadTest123!"));
    let f = file.to_string_lossy().to_string();
    let json = dir.path().join("out.json");
    for extra in [
        vec!["--json", json.to_str().unwrap()],
        vec!["--html", "r.html"],
        vec!["-u", "5"],
        vec!["-t", "5s"],
        vec!["--iterations", "3"],
        vec!["--rate", "10"],
        vec!["--segment", "0/2"],
    ] {
        let out = loadgen(["run", &f, "--demo", "--debug", "1"])
            .args(&extra)
            .expect_code(2);
        assert!(
            out.stderr.contains("cannot be used with"),
            "{extra:?}: {}",
            out.dump()
        );
    }
    assert!(!json.exists());
    loadgen(["run", &f, "--demo", "--debug", "0"]).expect_code(2);
    loadgen(["run", &f, "--demo", "--debug-secrets"]).expect_code(2);
}

/// Every kind of secret, chosen by the test so it can tell that none appears: a captured value in a field of
/// no secret name (masked by its value wherever it shows: in a query, echoed in an answer), a Set-Cookie and
/// the Cookie sent back, a data-file column named like a key, a form password; and a gzip answer decoded.
#[test]
fn every_secret_is_masked_wherever_it_shows_and_shown_with_debug_secrets() {
    const CAPTURED: &str = "cap-5e3f8a1b77";
    const COOKIE: &str = "ck-90817263";
    const API_KEY: &str = "ak-44d1c9e2";
    const PASSWORD: &str = "hunter2-secret";
    // Captured by the user's very last step, from its own answer: printed when the user ends.
    const RECEIPT: &str = "rcpt-7a7a7a7a";
    let origin = Origin::start("127.0.0.1", |got| {
        if got.target == "/bye" {
            let body = format!(r#"{{"receipt":"{RECEIPT}"}}"#);
            return answer(200, "content-type: application/json\r\n", body.as_bytes());
        }
        if got.target == "/login" {
            let body = format!(r#"{{"data":{{"handle":"{CAPTURED}"}},"user":"ann"}}"#);
            return answer(
                200,
                &format!(
                    "content-type: application/json\r\nset-cookie: sid={COOKIE}; Path=/; HttpOnly\r\n"
                ),
                body.as_bytes(),
            );
        }
        // Echoes the query back, gzip-compressed.
        let echo = format!(r#"{{"echo":"{}"}}"#, got.target);
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(echo.as_bytes()).unwrap();
        let gz = e.finish().unwrap();
        answer(
            200,
            "content-type: application/json\r\ncontent-encoding: gzip\r\n",
            &gz,
        )
    });
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "users.csv",
        &format!("username,api_key\nann,{API_KEY}\n"),
    );
    let file = write(
        dir.path(),
        "all.toml",
        &format!(
            r#"
[target]
host = "{url}"
compression = true
[load]
users = 1
duration = "10s"
[data]
file = "users.csv"
[[user.on_start]]
name = "login"
method = "POST"
path = "/login"
headers = {{ "Content-Type" = "application/x-www-form-urlencoded", "X-Key" = "{{{{data.api_key}}}}" }}
body = "username={{{{data.username}}}}&password={PASSWORD}"
capture = {{ handle = "$.data.handle" }}
[[task]]
name = "me"
method = "GET"
path = "/me"
query = {{ h = "{{{{handle}}}}" }}
[[user.on_stop]]
name = "bye"
method = "POST"
path = "/bye"
capture = {{ receipt = "$.receipt" }}
"#,
            url = origin.url
        ),
    );
    let f = file.to_string_lossy().to_string();
    let out = loadgen(["run", &f, "--debug", "1"]).expect_code(0);
    let s = &out.stdout;
    for secret in [CAPTURED, COOKIE, API_KEY, PASSWORD, RECEIPT] {
        assert!(!s.contains(secret), "{secret} leaked:\n{s}");
    }
    // The last exchange comes before the closing line.
    let bye = s
        .find(r#"{"receipt":"***"}"#)
        .expect("the last answer, masked");
    assert!(
        bye < s.find("=== 3 requests, 0 failed").expect("the end"),
        "{s}"
    );
    out.stdout_has("username=ann&password=***")
        .stdout_has("set-cookie: sid=***; Path=/; HttpOnly")
        .stdout_has("cookie: sid=***")
        .stdout_has(r#"{"data":{"handle":"***"},"user":"ann"}"#)
        .stdout_has("GET /me?h=*** HTTP/1.1")
        .stdout_has(r#"{"echo":"/me?h=***"}"#);
    // What went on the wire is untouched by the masking.
    let got = origin.got();
    assert_eq!(got.len(), 3);
    assert_eq!(
        got[0].body,
        format!("username=ann&password={PASSWORD}").as_bytes()
    );
    assert_eq!(got[0].header("x-key"), Some(API_KEY));
    assert_eq!(got[1].target, format!("/me?h={CAPTURED}"));
    assert_eq!(
        got[1].header("cookie"),
        Some(format!("sid={COOKIE}").as_str())
    );

    let out = loadgen(["run", &f, "--debug", "1", "--debug-secrets"]).expect_code(0);
    for secret in [CAPTURED, COOKIE, API_KEY, PASSWORD, RECEIPT] {
        assert!(
            out.stdout.contains(secret),
            "{secret} not shown:\n{}",
            out.stdout
        );
    }
    out.stdout_has(&format!(r#"{{"echo":"/me?h={CAPTURED}"}}"#));
}
