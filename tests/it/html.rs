//! The HTML report of a real run, opened in headless Chromium: it renders its tables and charts, prints nothing
//! on the console and loads nothing (no file, no URL) besides itself.
//!
//! What Chromium tells us, and how it is read (Chromium 120+ "new" headless; checked with 156):
//! - `--enable-logging=stderr --v=0`: console messages from the page are logged as
//!   `[pid:tid:MMDD/HHMMSS.micros:INFO:CONSOLE:LINE] "text", source: URL (LINE)` whatever their level
//!   (`console.error` included; older versions wrote `CONSOLE(LINE)`), so any `:CONSOLE` line is a problem.
//!   ERROR lines at that level are the browser's own environment (D-Bus, GPU), not the page, and a failed
//!   load logs nothing, hence the two checks that follow.
//! - `--vmodule=file_url_loader_factory=1`: every `file://` load is logged as `FileURLLoader::Start: URL`; any
//!   but the page itself is a sub-resource the report should not have (`missing.png`).
//! - `--log-net-log=FILE`: every network request as JSON; a `URL_REQUEST_START_JOB` whose `initiator` is not
//!   `"not an origin"` was started by the page (Chromium's own background requests have that initiator).
//!   `--host-resolver-rules=MAP * ~NOTFOUND` makes every such lookup fail at once on this closed network.
//!
//! `the_browser_check_catches_console_errors_and_failed_loads` proves each of the three checks can fail.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::{
    BUSY_MACHINE_VALIDITY, Demo, auth_steps, external_tool, loadgen, results, wait_bounded, write,
};

/// How long one Chromium invocation may take before it is killed and the test fails.
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) fn chromium() -> Option<String> {
    external_tool(
        "chromium (headless, to open the HTML report)",
        &[
            &["chromium", "--version"],
            &["chromium-browser", "--version"],
            &["google-chrome", "--version"],
        ],
    )
    .map(|argv| argv[0].clone())
}

/// A page as Chromium loaded it.
pub(crate) struct Page {
    /// The DOM after load (`--dump-dom`).
    pub(crate) dom: String,
    /// Console messages, loads other than the page itself, requests to the network.
    pub(crate) problems: Vec<String>,
    pub(crate) stderr: String,
}

/// Opens `file` in headless Chromium with a fresh profile and no network.
pub(crate) fn open(chromium: &str, file: &Path) -> Page {
    let dir = tempfile::tempdir().expect("tempdir");
    let netlog = dir.path().join("netlog.json");
    let url = format!("file://{}", file.display());
    let args = [
        "--headless".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-dev-shm-usage".into(),
        "--disable-background-networking".into(),
        "--no-first-run".into(),
        "--no-default-browser-check".into(),
        "--disable-extensions".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--host-resolver-rules=MAP * ~NOTFOUND".into(),
        format!("--user-data-dir={}", dir.path().join("profile").display()),
        "--enable-logging=stderr".into(),
        "--v=0".into(),
        "--vmodule=file_url_loader_factory=1".into(),
        format!("--log-net-log={}", netlog.display()),
        "--virtual-time-budget=5000".into(),
        "--dump-dom".into(),
        url.clone(),
    ];
    let child = Command::new(chromium)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn chromium");
    let out = wait_bounded(
        child,
        format!("{chromium} {}", args.join(" ")),
        CHROMIUM_TIMEOUT,
    );
    assert_eq!(out.code, Some(0), "chromium failed\n{}", out.dump());
    let netlog = std::fs::read_to_string(&netlog).unwrap_or_default();
    let problems = problems(&out.stderr, &netlog, &url);
    Page {
        dom: out.stdout,
        problems,
        stderr: out.stderr,
    }
}

/// Everything the page did wrong, from Chromium's log (`stderr`) and net log, for the page at `url`.
fn problems(stderr: &str, netlog: &str, url: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut page_load_seen = false;
    for line in stderr.lines() {
        if line.contains(":CONSOLE") {
            found.push(format!("console message: {line}"));
        }
        if let Some(i) = line.find("FileURLLoader::Start: ") {
            let loaded = line[i + "FileURLLoader::Start: ".len()..].trim();
            if loaded == url {
                page_load_seen = true;
            } else {
                found.push(format!("loads a file: {loaded}"));
            }
        }
    }
    // The page's own load must be logged, or the file check above would pass without seeing anything.
    if !page_load_seen {
        found.push(format!(
            "no `FileURLLoader::Start: {url}` line: file loads are not logged, the check is blind"
        ));
    }
    match serde_json::from_str::<serde_json::Value>(netlog) {
        Err(e) => found.push(format!("net log unreadable ({e}): {netlog:.200}")),
        Ok(log) => {
            let c = &log["constants"];
            let start = c["logEventTypes"]["URL_REQUEST_START_JOB"].as_u64();
            let begin = c["logEventPhase"]["PHASE_BEGIN"].as_u64();
            assert!(
                start.is_some() && begin.is_some(),
                "net log constants changed"
            );
            let events = log["events"].as_array().cloned().unwrap_or_default();
            if events.is_empty() {
                found.push("the net log has no events: the network check is blind".into());
            }
            for e in events {
                if e["type"].as_u64() == start
                    && e["phase"].as_u64() == begin
                    && e["params"]["initiator"] != "not an origin"
                {
                    found.push(format!(
                        "requests {} (initiator {})",
                        e["params"]["url"], e["params"]["initiator"]
                    ));
                }
            }
        }
    }
    found
}

/// Five users logging in and calling the rate-limited operation (which fails with 429s), and a request whose
/// name is markup.
fn scenario(host: &str) -> String {
    format!(
        r#"
name = "html <report>"
[target]
host = "{host}"
[load]
users = 5
spawn_rate = 5
duration = "3s"
stop_timeout = "2s"
[user]
wait = "50ms"
{auth}[[task]]
name = "<script>alert(1)</script>"
weight = 3
path = "/api/auth/verify"
headers = {{ Authorization = "Bearer {{{{token}}}}" }}
[[task]]
name = "operation"
method = "POST"
path = "/api/protected/operation"
headers = {{ Authorization = "Bearer {{{{token}}}}" }}
json = {{ action = "test" }}
[gates]
success_rate = 99
p99_ms = 10000
{BUSY_MACHINE_VALIDITY}"#,
        auth = auth_steps("h_{{run_id}}_{{vu}}", "Html-Pass-1")
    )
}

#[test]
fn the_report_of_a_real_run_renders_in_a_browser_without_errors() {
    let demo = Demo::start(&["--rate-limit", "3", "--rate-window", "10s"]);
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "html.toml", &scenario(&demo.url));
    let html = dir.path().join("report.html");
    let json = dir.path().join("out.json");
    // The 429s fail the success-rate gate: exit 1, verdict FAIL.
    loadgen([
        "run",
        file.to_str().unwrap(),
        "-q",
        "--json",
        json.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ])
    .expect_code(1);
    let r = results(&json);
    let text = std::fs::read_to_string(&html).unwrap();
    assert!(text.len() < 2_000_000, "{} bytes for a 3 s run", text.len());
    assert!(r["failures"].as_array().is_some_and(|f| !f.is_empty()));

    // `loadgen report` rebuilds the same page from the results.
    let again = dir.path().join("again.html");
    loadgen([
        "report",
        json.to_str().unwrap(),
        "-q",
        "--html",
        again.to_str().unwrap(),
    ])
    .expect_code(0);
    assert!(
        std::fs::read_to_string(&again).unwrap() == text,
        "report --html differs from run --html"
    );

    let Some(chromium) = chromium() else {
        return;
    };
    let page = open(&chromium, &html);
    assert!(
        page.problems.is_empty(),
        "{:#?}\n--- chromium stderr ---\n{}",
        page.problems,
        page.stderr
    );
    let dom = &page.dom;
    let count = |s: &str| dom.matches(s).count();
    assert!(
        dom.contains("<header class=\"verdict fail\""),
        "{dom:.2000}"
    );
    assert!(dom.contains("<h1>html &lt;report&gt;</h1>"));
    // Tables: gates, requests, status codes, failures, scenario requests.
    assert_eq!(count("<table"), 5, "{dom}");
    for class in ["gates", "stats", "codes", "failures", "defs"] {
        assert_eq!(count(&format!("<table class=\"{class}\"")), 1, "{class}");
    }
    // Request rows: four names and Aggregated, in the statistics and status-code tables.
    assert_eq!(count("<tr class=\"total\">"), 2);
    // Charts: three over time, one distribution per request name (4) and one for all of them.
    assert_eq!(count("<svg"), 8, "{dom}");
    assert_eq!(count("<svg class=\"chart\""), 8);
    assert!(count("<polyline") >= 8, "every chart draws a line");
    assert_eq!(count("role=\"img\""), 8);
    // The request named like a script is text, in every place it shows.
    assert_eq!(count("<script"), 0);
    assert!(count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4);
    // The 429 failures are listed.
    assert!(dom.contains("<td>status</td>"), "{dom}");
}

#[test]
fn the_browser_check_catches_console_errors_and_failed_loads() {
    let Some(chromium) = chromium() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "bad.html",
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>bad</title></head><body><p>bad</p>\
         <img src=\"missing.png\" alt=\"missing\"><img src=\"http://cdn.invalid/x.png\" alt=\"remote\">\
         <script>console.error('x')</script></body></html>",
    );
    let page = open(&chromium, &bad);
    let p = &page.problems;
    let has = |what: &str| p.iter().any(|x| x.contains(what));
    assert!(
        has("console message") && has("\"x\", source: file://"),
        "{p:#?}\n{}",
        page.stderr
    );
    assert!(has("loads a file: file://") && has("missing.png"), "{p:#?}");
    assert!(has("requests \"http://cdn.invalid/x.png\""), "{p:#?}");
    assert_eq!(p.len(), 3, "{p:#?}");
    assert!(page.dom.contains("<p>bad</p>"));
}
