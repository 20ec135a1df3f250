//! Issue 20 item 8: `run --demo` serves the reference API from a child process with its own open-files limit
//! (so 400 users fit a limit of 600 that client and server in one process would not), gone after the run; and
//! the descriptor warning counts what holds the connections (per-user users warned, shared users that wait
//! not). The limits are set with util-linux's `prlimit` on loadgen's process only.

use std::time::Duration;

use crate::util::{BUSY_MACHINE_VALIDITY, external_tool, loadgen_via, results, write};

/// `prlimit --nofile=N:N` (soft and hard), if the machine has prlimit.
fn prlimit(n: u32) -> Option<Vec<String>> {
    let mut argv = external_tool("prlimit (util-linux)", &[&["prlimit", "--version"]])?;
    argv.push(format!("--nofile={n}:{n}"));
    Some(argv)
}

/// `users` users asking for /health every 100 ms; `load` added to `[load]`.
fn health(users: u32, load: &str) -> String {
    format!(
        "name = \"fd\"\n[target]\nhost = \"http://127.0.0.1:1\"\n[load]\nusers = {users}\nspawn_rate = {users}\n\
         duration = \"3s\"\n{load}\n[user]\nwait = \"100ms\"\n[[task]]\nname = \"health\"\npath = \"/health\"\n\
         {BUSY_MACHINE_VALIDITY}"
    )
}

#[test]
fn demo_users_fit_a_limit_an_api_in_loadgens_own_process_would_not() {
    let Some(prefix) = prlimit(600) else { return };
    let prefix: Vec<&str> = prefix.iter().map(String::as_str).collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "fd.toml", &health(400, ""));
    let json = dir.path().join("fd.json");
    // 400 users are 400 connections: 800 descriptors if the API served them from loadgen's process.
    let out = loadgen_via(&prefix, ["-v", "run"])
        .arg(&file)
        .args(["--demo", "--json"])
        .arg(&json)
        .timeout(Duration::from_secs(60))
        .expect_code(0);
    assert!(
        !out.stderr.contains("open files"),
        "no descriptor warning for 400 users under 600\n{}",
        out.dump()
    );
    let r = results(&json);
    let failures = r["failures"].as_array().expect("failures");
    assert!(
        failures.iter().all(|f| f["kind"] != "resources"),
        "no resources failures: {failures:?}"
    );
    assert_eq!(r["totals"]["failures"], 0, "{}", r["totals"]);
    assert_eq!(r["totals"]["peak_users"], 400, "{}", r["totals"]);
    assert!(
        r["totals"]["requests"].as_u64().expect("requests") >= 400,
        "{}",
        r["totals"]
    );
    // The child that served them is gone: loadgen stopped it and reaped it.
    let pid = out
        .stderr
        .split("child process pid ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|p| p.parse::<u32>().ok())
        .unwrap_or_else(|| panic!("no child pid at -v\n{}", out.dump()));
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert!(
        !String::from_utf8_lossy(&cmdline).contains("serve-demo"),
        "the reference API (pid {pid}) outlived the run"
    );
}

#[test]
fn shared_users_that_wait_are_not_warned_per_user_users_are() {
    let Some(prefix) = prlimit(1024) else { return };
    let prefix: Vec<&str> = prefix.iter().map(String::as_str).collect();
    let dir = tempfile::tempdir().expect("tempdir");
    // 5,000 users at one a second for a second: the warning is said before the run, for the planned users.
    let run = |name: &str, load: &str| {
        let file = write(dir.path(), name, &health(5000, load));
        loadgen_via(&prefix, ["-v", "run"])
            .arg(&file)
            .args(["--demo", "-r", "1", "-t", "1s"])
            .timeout(Duration::from_secs(60))
            .expect_code(0)
    };
    let shared = run("shared.toml", "connections = \"shared\"");
    assert!(
        !shared.stderr.contains("warning: 5000 users need")
            && !shared.stderr.contains("raised the open-files limit"),
        "shared users that wait need no descriptor each\n{}",
        shared.dump()
    );
    let per_user = run("per_user.toml", "");
    // Warned, or (with the privilege to raise the hard limit) raised to fit the same count.
    assert!(
        per_user.stderr.contains(
            "warning: 5000 users need about 5064 open files, but the limit is 1024 (one connection per user)"
        ) || per_user
            .stderr
            .contains("raised the open-files limit from 1024 to 8192"),
        "{}",
        per_user.dump()
    );
}
