//! What a run is made of: flows (several requests as one task), user classes by weight, `--iterations`, and
//! `--tags` / `--exclude-tags`, each driven through the real binary against the reference API.

use std::time::{Duration, Instant};

use crate::schema::schema_errors;
use crate::util::{BUSY_MACHINE_VALIDITY, Demo, loadgen, request, results, run_results, write};

fn count(r: &serde_json::Value, name: &str) -> u64 {
    request(r, name)["requests"].as_u64().unwrap_or(0)
}

fn failures(r: &serde_json::Value, name: &str) -> u64 {
    request(r, name)["failures"].as_u64().unwrap_or(0)
}

#[test]
fn a_flow_runs_its_steps_in_order_and_is_timed_as_a_whole() {
    // 20 ms per answer: a four-step flow takes at least 80 ms.
    let demo = Demo::start(&["--latency", "20ms"]);
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "flow.toml",
        &format!(
            r#"
name = "flow"
[target]
host = "{}"
[load]
users = 3
spawn_rate = 100
duration = "2s"
[user]
wait = "10ms"

[[task]]
name = "account"
weight = 3
[[task.steps]]
name = "register"
method = "POST"
path = "/api/auth/register"
json = {{ username = "f_{{{{uuid}}}}", password = "Secret123!", email = "f@t.local" }}
expect = {{ status = [201] }}
capture = {{ user = "$.username" }}
[[task.steps]]
name = "login"
method = "POST"
path = "/api/auth/login"
json = {{ username = "{{{{user}}}}", password = "Secret123!" }}
capture = {{ token = "$.access_token" }}
[[task.steps]]
name = "verify"
path = "/api/auth/verify"
headers = {{ Authorization = "Bearer {{{{token}}}}" }}
[[task.steps]]
name = "logout"
method = "POST"
path = "/api/auth/logout"
headers = {{ Authorization = "Bearer {{{{token}}}}" }}

[[task]]
name = "broken"
[[task.steps]]
name = "broken_health"
path = "/health"
expect = {{ status = [418] }}
[[task.steps]]
name = "never_reached"
path = "/health"
{BUSY_MACHINE_VALIDITY}"#,
            demo.url
        ),
    );
    // No gates and failed requests by design: the run fails (exit 1), as Locust's would.
    let r = run_results(&file, 1);
    assert_eq!(schema_errors(&r), Vec::<String>::new());

    // The steps run in order and all the way through: as many of each as flows.
    let flows = count(&r, "account");
    assert!(flows >= 5, "{flows} flows in 2 s with 3 users");
    for step in ["register", "login", "verify", "logout"] {
        assert_eq!(count(&r, step), flows, "{step}: one per flow");
        assert_eq!(failures(&r, step), 0, "{step} failed: {r}");
    }
    let account = request(&r, "account");
    assert_eq!(account["method"], "FLOW");
    assert_eq!(account["failures"], 0);
    // Timed as a whole: at least the four answers' latency, and at least the sum of its steps' means.
    let mean = |name: &str| request(&r, name)["mean_ms"].as_f64().unwrap();
    let steps_sum: f64 = ["register", "login", "verify", "logout"]
        .iter()
        .map(|s| mean(s))
        .sum();
    assert!(mean("account") >= 80.0, "flow mean {}", mean("account"));
    assert!(
        mean("account") >= steps_sum * 0.99,
        "flow mean {} < its steps' {steps_sum}",
        mean("account")
    );

    // A failing step ends its flow: the flow fails with the step's name, the next step never runs.
    let broken = count(&r, "broken");
    assert!(broken >= 1);
    assert_eq!(failures(&r, "broken"), broken);
    assert_eq!(count(&r, "broken_health"), broken);
    assert_eq!(count(&r, "never_reached"), 0);
    let messages: Vec<&str> = r["failures"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["name"] == "broken")
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages, ["step `broken_health` failed"]);

    // The totals count requests, not flows.
    let requests: u64 = ["register", "login", "verify", "logout", "broken_health"]
        .iter()
        .map(|s| count(&r, s))
        .sum();
    assert_eq!(r["totals"]["requests"], requests);
    let defs = r["settings"]["requests"].as_array().unwrap();
    let verify = defs.iter().find(|d| d["name"] == "verify").unwrap();
    assert_eq!(verify["flow"], "account");
    let flow_def = defs.iter().find(|d| d["name"] == "account").unwrap();
    assert_eq!(flow_def["kind"], "flow");
}

/// Two classes with their own on_start, tasks and wait, 3:1.
fn classes_scenario(dir: &std::path::Path, host: &str, load: &str) -> std::path::PathBuf {
    write(
        dir,
        "classes.toml",
        &format!(
            r#"
name = "classes"
[target]
host = "{host}"
{load}

[classes.reader]
weight = 3
wait = "50ms"
[[classes.reader.on_start]]
name = "reader_start"
path = "/health"
[[classes.reader.task]]
name = "read"
path = "/health"

[classes.writer]
weight = 1
wait = "50ms"
[[classes.writer.on_start]]
name = "writer_start"
path = "/health"
[[classes.writer.task]]
name = "write"
path = "/health"
{BUSY_MACHINE_VALIDITY}"#
        ),
    )
}

#[test]
fn user_classes_share_the_users_and_the_iterations_by_weight() {
    let demo = Demo::start(&[]);
    let dir = tempfile::tempdir().unwrap();

    // Closed model: 20 users at 3:1 are 15 readers and 5 writers, each running its own on_start once.
    let file = classes_scenario(
        dir.path(),
        &demo.url,
        "[load]\nusers = 20\nspawn_rate = 100\nduration = \"2s\"",
    );
    let r = run_results(&file, 0);
    assert_eq!(schema_errors(&r), Vec::<String>::new());
    assert_eq!(count(&r, "reader_start"), 15);
    assert_eq!(count(&r, "writer_start"), 5);
    // Same wait, so tasks follow the users: 3:1 within 15 %.
    let ratio = count(&r, "read") as f64 / count(&r, "write") as f64;
    assert!((2.55..=3.45).contains(&ratio), "read:write = {ratio}");
    let classes = r["settings"]["classes"].as_array().unwrap();
    assert_eq!(classes.len(), 2);
    assert_eq!(classes[0]["name"], "reader");
    assert_eq!(classes[0]["weight"], 3);
    let defs = r["settings"]["requests"].as_array().unwrap();
    assert!(
        defs.iter()
            .any(|d| d["name"] == "write" && d["class"] == "writer")
    );

    // Open model: iterations take their class in turn, 3:1 (exactly, give or take one per worker).
    let file = classes_scenario(
        dir.path(),
        &demo.url,
        "[load]\narrival_rate = 100\nmax_users = 20\nduration = \"2s\"",
    );
    let r = run_results(&file, 0);
    let (read, write) = (count(&r, "read"), count(&r, "write"));
    assert!(
        read + write >= 190,
        "{read} + {write} iterations at 100/s for 2 s"
    );
    let expected = (read + write) as f64 * 0.75;
    assert!(
        (read as f64 - expected).abs() <= 4.0,
        "{read} reads of {} iterations",
        read + write
    );
}

#[test]
fn iterations_end_the_run_once_that_many_tasks_have_run() {
    // 20 ms answers: the four users have all started (10 ms apart) long before the 50th iteration.
    let demo = Demo::start(&["--latency", "20ms"]);
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "n.toml",
        &format!(
            r#"
name = "n"
[target]
host = "{}"
[load]
users = 4
spawn_rate = 100
duration = "60s"
[[user.on_start]]
name = "start"
path = "/health"
[[task]]
name = "t"
path = "/health"
{BUSY_MACHINE_VALIDITY}"#,
            demo.url
        ),
    );
    let json = dir.path().join("n.json");
    let began = Instant::now();
    loadgen([
        "run",
        &file.to_string_lossy(),
        "-q",
        "--iterations",
        "50",
        "--json",
        &json.to_string_lossy(),
    ])
    .expect_code(0);
    assert!(
        began.elapsed() < Duration::from_secs(20),
        "the run should end at 50 iterations, not at 60 s: {:?}",
        began.elapsed()
    );
    let r = results(&json);
    assert_eq!(count(&r, "t"), 50, "exactly the iterations asked for");
    assert_eq!(count(&r, "start"), 4, "on_start is not an iteration");
    assert_eq!(r["settings"]["max_iterations"], 50);

    // An arrival rate stops scheduling at the limit too.
    let json = dir.path().join("rate.json");
    let began = Instant::now();
    loadgen([
        "run",
        &file.to_string_lossy(),
        "-q",
        "--rate",
        "100",
        "-u",
        "10",
        "--iterations",
        "40",
        "--json",
        &json.to_string_lossy(),
    ])
    .expect_code(0);
    assert!(began.elapsed() < Duration::from_secs(20));
    let r = results(&json);
    assert_eq!(count(&r, "t"), 40);
    assert_eq!(r["totals"]["iterations"]["started"], 40);
}

#[test]
fn tags_pick_the_tasks_that_run() {
    let demo = Demo::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "tags.toml",
        &format!(
            r#"
name = "tags"
[target]
host = "{}"
[load]
users = 2
spawn_rate = 100
duration = "1s"
[user]
wait = "20ms"
[[task]]
name = "read"
path = "/health"
tags = ["read"]
[[task]]
name = "write"
path = "/health"
tags = ["write", "slow"]
[[task]]
name = "untagged"
path = "/health"
"#,
            demo.url
        ),
    );
    let run = |flags: &[&str]| {
        let json = dir.path().join("tags.json");
        let mut args = vec!["run", file.to_str().unwrap(), "-q", "--json"];
        let json_s = json.to_string_lossy().into_owned();
        args.push(&json_s);
        args.extend_from_slice(flags);
        loadgen(args).expect_code(0);
        let r = results(&json);
        let names: Vec<String> = r["requests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|q| q["requests"].as_u64().unwrap() > 0)
            .map(|q| q["name"].as_str().unwrap().to_string())
            .collect();
        names
    };
    assert_eq!(run(&["--tags", "read"]), ["read"]);
    assert_eq!(run(&["--exclude-tags", "slow"]), ["read", "untagged"]);
    assert_eq!(
        run(&["--tags", "read,write", "--exclude-tags", "slow"]),
        ["read"]
    );
    let out = loadgen(["run", file.to_str().unwrap(), "--tags", "reed"]).expect_code(2);
    out.stderr_has("did you mean `read`");
}
