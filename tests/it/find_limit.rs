//! Issue 21 items 3 and 5: `run --find-limit` against the built-in API with its `--capacity` knob, which puts
//! the breaking point at a known number of users; and loadgen itself as the limit (an arrival rate one user
//! cannot keep up with).

use std::time::Duration;

use crate::schema::schema_errors;
use crate::util::{Demo, loadgen, results, write};

/// Loadgen's own timing is not judged in the users test (a busy machine can delay its scheduler past the
/// default 100 ms); whether the users were started is, with the default bound.
const LAG_NOT_JUDGED: &str = "[validity]\nmax_lag = \"5s\"";

/// One task against `host` (held 50 ms by the API, so a user always has one request in flight), `load` as
/// its `[load]` and `rest` after it.
fn scenario(host: &str, load: &str, rest: &str) -> String {
    format!(
        r#"
name = "find-limit"
[target]
host = "{host}"
timeout = "5s"
[load]
{load}
[[task]]
name = "item"
method = "GET"
path = "/api/items/1"
expect = {{ status = [200, 404] }}
{rest}
"#
    )
}

/// The API serves 20 requests at once (each held 50 ms) and sheds the rest with 503: up to 20 users nothing
/// fails, from 25 most requests do. The search, 5 users more every step, finds it within one step, stops
/// there, and says what failed; the results hold each step as a stage, match the schema, and `report` reads
/// them back.
#[test]
fn the_limit_is_found_within_one_step_of_the_servers_capacity() {
    let demo = Demo::start(&["--capacity", "20", "--latency", "50ms"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(
        dir.path(),
        "search.toml",
        &scenario(
            &demo.url,
            r#"search = { start = 5, step = 5, max = 40, hold = "2s" }"#,
            &format!("[gates]\nsuccess_rate = 99\n{LAG_NOT_JUDGED}"),
        ),
    );
    let json = dir.path().join("out.json");
    let out = loadgen([
        "run",
        &file.to_string_lossy(),
        "--json",
        &json.to_string_lossy(),
    ])
    .timeout(Duration::from_secs(120))
    .expect_code(0);
    out.stdout_has("Limit search (users from 5 by 5 to 40, each held 2 s)")
        .stdout_has("=> the limit is between")
        .stderr_has("find-limit: step 1 of 8, 5 users: passed");

    let r = results(&json);
    assert_eq!(schema_errors(&r), Vec::<String>::new());
    let limit = &r["limit"];
    assert_eq!(limit["unit"], "users");
    assert_eq!(limit["stopped_because"], "gate");
    let failing = limit["first_failing"]["level"]
        .as_f64()
        .expect("a failing step");
    let passing = limit["highest_passing"]["level"]
        .as_f64()
        .expect("a passing step");
    assert!(
        (20.0..=30.0).contains(&failing),
        "the capacity is 20 users: the first failing step is 25, give or take a step; got {failing}"
    );
    assert_eq!(passing, failing - 5.0, "{limit}");
    // What failed: the gate, on the one endpoint, with 503s (status failures).
    assert_eq!(limit["failed_gates"][0]["metric"], "success_rate");
    assert_eq!(limit["failed_gates"][0]["passed"], false);
    assert_eq!(limit["endpoints"][0]["name"], "item");
    assert!(
        limit["failure_kinds"]["status"].as_u64().unwrap_or(0) > 0,
        "{limit}"
    );
    assert!(r["aggregated"]["status_codes"]["503"].as_u64().unwrap_or(0) > 0);

    // Every step is a stage of the results (all planned; the run stopped after the failing one), and each
    // judged step names its stage, in order, with its own requests.
    let stages = r["settings"]["stages"].as_array().expect("stages");
    assert_eq!(stages.len(), 8);
    assert_eq!(stages[3]["users"], 20);
    let steps = limit["steps"].as_array().expect("steps");
    assert_eq!(steps.len() as f64, failing / 5.0, "{limit}");
    for (i, s) in steps.iter().enumerate() {
        assert_eq!(s["stage"], i + 1);
        assert_eq!(s["level"].as_f64(), Some(5.0 * (i + 1) as f64));
        assert!(s["requests"].as_u64().unwrap_or(0) > 0, "{s}");
        assert_eq!(s["passed"], i + 1 < steps.len(), "{s}");
    }
    // It stopped at the failing step, not at the end of the plan (8 steps of 3 s).
    let ran = r["duration_s"].as_f64().unwrap_or(f64::MAX);
    assert!(ran < 3.0 * steps.len() as f64 + 3.0, "ran {ran} s");
    assert_eq!(r["verdict"]["result"], "pass");

    // `report` reads the file back: the same section and verdict, and the HTML report's section.
    let html = dir.path().join("out.html");
    loadgen([
        "report",
        &json.to_string_lossy(),
        "--html",
        &html.to_string_lossy(),
    ])
    .expect_code(0)
    .stdout_has("Limit search")
    .stdout_has(&format!("at {failing}, gate success_rate"));
    let page = std::fs::read_to_string(&html).expect("the HTML report");
    assert!(page.contains("<section id=\"limit\"><h2>Limit search</h2>"));
    assert!(page.contains(&format!(
        "the limit is between {passing} and {failing} users"
    )));
}

/// An arrival rate one user cannot keep (each iteration takes 50 ms: 20 per second at most): the second step
/// is short of its iterations, and the search says loadgen, not the target, is the limit (exit 3).
#[test]
fn loadgen_short_of_its_load_is_the_limit_not_the_target() {
    let demo = Demo::start(&["--latency", "50ms"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(
        dir.path(),
        "rate.toml",
        &scenario(
            &demo.url,
            "arrival_rate = 40\nmax_users = 1\nqueue_timeout = \"100ms\"\n\
             search = { start = 4, step = 36, hold = \"2s\" }",
            "[gates]\nsuccess_rate = 99",
        ),
    );
    let json = dir.path().join("rate.json");
    loadgen([
        "run",
        &file.to_string_lossy(),
        "-q",
        "--json",
        &json.to_string_lossy(),
    ])
    .timeout(Duration::from_secs(60))
    .expect_code(3);
    let r = results(&json);
    assert_eq!(schema_errors(&r), Vec::<String>::new());
    let limit = &r["limit"];
    assert_eq!(limit["unit"], "iterations/s");
    assert_eq!(limit["max"], 40.0, "the scenario's rate is the top");
    assert_eq!(limit["stopped_because"], "generator", "{limit}");
    assert_eq!(limit["highest_passing"]["level"], 4.0);
    assert_eq!(limit["first_failing"]["level"], 40.0);
    let why = limit["generator"][0].as_str().unwrap_or_default();
    assert!(why.contains("arrival rate was not reached"), "{why}");
    // Each level is a jump (a stage of 0 s) and a hold: the judged one is the hold.
    assert_eq!(limit["first_failing"]["stage"], 4);
    assert_eq!(r["verdict"]["result"], "invalid");
}

/// What a search cannot be: stages of its own, no level to climb to, a segment of a run, a hold too short
/// to judge. Each is an error before any traffic (exit 2) that says what to do.
#[test]
fn a_search_that_cannot_be_run_is_refused_before_any_traffic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = "http://127.0.0.1:1";
    let cases: [(&str, &[&str], &str); 5] = [
        (
            "stages = [{ duration = \"5s\", users = 5 }]",
            &["--find-limit"],
            "`stages` cannot be used with a limit search",
        ),
        (
            "duration = \"5s\"",
            &["--find-limit"],
            "a limit search needs a highest level",
        ),
        (
            "users = 10",
            &["--find-limit", "--segment", "0/2"],
            "--segment does not apply to a limit search",
        ),
        (
            "search = { max = 10, hold = \"100ms\" }",
            &[],
            "`search.hold` must be at least 1s",
        ),
        (
            "search = { start = 2.5, max = 10 }",
            &[],
            "`search.start` must be a whole number",
        ),
    ];
    for (i, (load, args, says)) in cases.iter().enumerate() {
        let file = write(
            dir.path(),
            &format!("bad{i}.toml"),
            &scenario(host, load, ""),
        );
        loadgen(["run", &file.to_string_lossy()])
            .args(*args)
            .expect_code(2)
            .stderr_has(says);
    }
    // `check` shows the steps a search plans, without running them.
    let file = write(
        dir.path(),
        "ok.toml",
        &scenario(host, "users = 30", "[gates]\np95_ms = 200"),
    );
    loadgen(["check", &file.to_string_lossy(), "--find-limit"])
        .expect_code(0)
        .stdout_has("search     find the limit: 3, 6, 9, 12, 15, 18, 21, 24, 27, 30 users in turn, each held 30s");
}
