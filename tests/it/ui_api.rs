//! The live UI's server, driven as the page drives it (issue 19): its event stream from the start, its
//! actions (steer, stop, start), and its refusals (wrong method, another site, another Host, no token). The
//! page itself, in a real browser, is `ui.rs`.
//!
//! A tiny HTTP/1.1 client on std's TcpStream, to 127.0.0.1 only: the requests are written as a browser would
//! (Host, Origin, Content-Type), and the event stream is read line by line with a bounded wait.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{Running, loadgen, results, root, write};

/// How long any one wait may take on a busy machine.
const WAIT: Duration = Duration::from_secs(60);

/// `host:port` of the UI, from the line loadgen prints.
fn ui_addr(run: &Running) -> String {
    run.wait_for_stderr("live UI on http://", WAIT);
    let text = run.stderr_so_far();
    let line = text
        .lines()
        .find(|l| l.contains("live UI on http://"))
        .expect("the UI line");
    let url = line.split("http://").nth(1).expect("a URL");
    url.split('/').next().expect("host:port").to_string()
}

/// One request; the status, the headers (lowercase names) and the body.
fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).expect("connect to the UI");
    s.set_read_timeout(Some(WAIT)).expect("set a read timeout");
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).expect("send the request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read the answer");
    let raw = String::from_utf8_lossy(&raw).to_string();
    let (head, rest) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    // Bodies here are small: hyper sends them with a Content-Length (chunked only for the event stream).
    (status, head.to_lowercase(), rest.to_string())
}

/// An action as the page sends it.
fn post(addr: &str, path: &str, json: &str) -> (u16, Value) {
    let origin = format!("http://{addr}");
    let (status, _, body) = http(
        addr,
        "POST",
        path,
        &[("Content-Type", "application/json"), ("Origin", &origin)],
        json,
    );
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// An open event stream.
struct Events {
    reader: BufReader<TcpStream>,
    /// Every event's text as received, to check nothing secret went out.
    pub seen: String,
}

impl Events {
    fn open(addr: &str, query: &str) -> Events {
        let mut s = TcpStream::connect(addr).expect("connect to the UI");
        s.set_read_timeout(Some(WAIT)).expect("set a read timeout");
        write!(
            s,
            "GET /events{query} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
        )
        .expect("send the request");
        let mut reader = BufReader::new(s);
        let head = crate::util::read_head(&mut reader).expect("the stream's head");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.to_lowercase().contains("text/event-stream"), "{head}");
        Events {
            reader,
            seen: String::new(),
        }
    }

    /// The next event (name, data), skipping pings; the body is chunked, so chunk-size lines are skipped too.
    fn next(&mut self) -> Option<(String, Value)> {
        let mut name = String::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).ok()? == 0 {
                return None;
            }
            let line = line.trim_end();
            if let Some(n) = line.strip_prefix("event: ") {
                name = n.to_string();
            } else if let Some(d) = line.strip_prefix("data: ") {
                self.seen.push_str(d);
                let data = serde_json::from_str(d).expect("JSON data");
                return Some((std::mem::take(&mut name), data));
            }
        }
    }

    /// Reads events until `found` returns something; fails past [`WAIT`].
    fn until<T>(&mut self, what: &str, mut found: impl FnMut(&str, &Value) -> Option<T>) -> T {
        let start = Instant::now();
        while start.elapsed() < WAIT {
            let Some((name, data)) = self.next() else {
                panic!("the stream ended while waiting for {what}");
            };
            if let Some(t) = found(&name, &data) {
                return t;
            }
        }
        panic!("waited {WAIT:?} for {what}");
    }
}

fn requests_of(view: &Value) -> u64 {
    view["totals"]["requests"].as_u64().unwrap_or(0)
}

/// A page that connects late is sent the run from its start; the users change when the page says so, the run
/// stops when it says so, and the last view equals the results file.
#[test]
fn the_live_ui_shows_the_run_from_its_start_and_steers_and_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.json");
    let run = loadgen([
        "run",
        "scenarios/baseline.toml",
        "--demo",
        "-u",
        "4",
        "-r",
        "100",
        "-t",
        "2m",
        "--ui",
        "127.0.0.1:0",
        "--ui-linger",
        "0s",
    ])
    .arg("--json")
    .arg(&out)
    .current_dir(root())
    .start();
    let addr = ui_addr(&run);

    // The page: self-contained, allowed to load nothing and to connect to this server only.
    let (status, head, page) = http(&addr, "GET", "/", &[], "");
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(
        head.contains("content-security-policy: default-src 'none'"),
        "{head}"
    );
    assert!(page.contains("<html"), "{page}");

    let mut first = Events::open(&addr, "");
    let mut last = 0;
    for _ in 0..2 {
        last = first.until("the requests to grow", |name, data| {
            (name == "tick" && requests_of(&data["view"]) > last)
                .then(|| requests_of(&data["view"]))
        });
    }
    // Late: the history holds every second from the first.
    let mut late = Events::open(&addr, "");
    let (name, hello) = late.next().expect("hello");
    assert_eq!(name, "hello");
    assert_eq!(hello["state"], "running");
    assert_eq!(hello["planned_users"], 4);
    let (name, history) = late.next().expect("history");
    assert_eq!(name, "history");
    let points = history["points"].as_array().expect("points");
    assert!(points.len() >= 2, "{history}");
    assert!(points[0]["t"].as_f64().unwrap() < 1.5, "{history}");
    assert!(requests_of(&history["view"]) >= last, "{history}");

    // Refusals: the wrong method, another site, another Host, not JSON, a change that does not fit.
    assert_eq!(http(&addr, "GET", "/api/stop", &[], "").0, 405);
    let (status, ..) = http(
        &addr,
        "POST",
        "/api/stop",
        &[
            ("Content-Type", "application/json"),
            ("Origin", "http://evil.example"),
        ],
        "{}",
    );
    assert_eq!(status, 403, "a cross-site stop is refused");
    let (status, ..) = http(&addr, "GET", "/", &[("Host", "evil.example:80")], "");
    assert_eq!(status, 403, "another Host (DNS rebinding) is refused");
    let (status, ..) = http(
        &addr,
        "POST",
        "/api/stop",
        &[("Content-Type", "text/plain")],
        "{}",
    );
    assert_eq!(status, 415);
    let (status, body) = post(&addr, "/api/steer", r#"{"rate": 5}"#);
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("users"), "{body}");
    let (status, body) = post(&addr, "/api/steer", r#"{"users": 99999999}"#);
    assert_eq!(status, 400, "{body}");
    // More users than open files: refused up front rather than failing as "too many open files".
    let (status, body) = post(&addr, "/api/steer", r#"{"users": 9000000}"#);
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("open files"),
        "{body}"
    );
    let (status, body) = post(&addr, "/api/start", "{}");
    assert_eq!(status, 409, "{body}");

    // Down to 2 users: the manual change arrives, and the users follow.
    let (status, body) = post(&addr, "/api/steer", r#"{"users": 2, "spawn_rate": 100}"#);
    assert_eq!((status, &body["ok"]), (200, &Value::Bool(true)), "{body}");
    let manual = first.until("the manual event", |name, data| {
        (name == "manual").then(|| data.clone())
    });
    assert_eq!(
        (manual["n"].as_u64(), manual["users"].as_u64()),
        (Some(1), Some(2))
    );
    let mut seconds = 0;
    first.until("2 users running for two seconds", |name, data| {
        seconds += u32::from(name == "tick" && data["view"]["totals"]["users"] == 2);
        (seconds >= 3).then_some(())
    });

    let (status, body) = post(&addr, "/api/stop", "{}");
    assert_eq!(status, 202, "{body}");
    let end = first.until("the end", |name, data| {
        (name == "end").then(|| data.clone())
    });
    assert_eq!(end["result"], "INTERRUPTED", "{end}");
    assert_eq!(end["stopped_from_ui"], true, "{end}");
    assert!(
        end["reason"]
            .as_str()
            .unwrap()
            .starts_with("stopped from the live UI"),
        "{end}"
    );
    assert_eq!(end["links"][0]["href"], "report.html");

    let done = run.finish(WAIT);
    assert_eq!(done.code, Some(130), "{}", done.dump());
    let r = results(&out);
    let errors = crate::schema::schema_errors(&r);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(r["stopped_by"], "ui");
    assert_eq!(r["manual"][0]["users"], 2);
    // The page ends on the results' figures.
    assert_eq!(
        end["view"]["totals"]["requests"],
        r["aggregated"]["requests"]
    );
    assert_eq!(
        end["view"]["totals"]["failures"],
        r["aggregated"]["failures"]
    );
    for (row, want) in end["view"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .zip(r["requests"].as_array().unwrap())
    {
        assert_eq!(row["name"], want["name"]);
        assert_eq!(row["requests"], want["requests"]);
        assert_eq!(row["p95_ms"], want["percentiles_ms"]["p95"]);
    }
    // The manual stage is judged by the run's gates as a window of its own.
    let manual_gates = r["gates"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["during"] == "manual 1")
        .count();
    assert_eq!(manual_gates, 4, "{}", r["gates"]);
    // After the change, 2 users ran (the last point is the stop phase).
    let series = r["time_series"].as_array().unwrap();
    let at = r["manual"][0]["at_s"].as_f64().unwrap();
    let after: Vec<u64> = series[..series.len() - 1]
        .iter()
        .filter(|p| p["elapsed_s"].as_f64().unwrap() > at + 1.0)
        .map(|p| p["users"].as_u64().unwrap())
        .collect();
    assert!(
        !after.is_empty() && after.iter().all(|u| *u == 2),
        "{after:?}"
    );
    // The report and the summary made from the results show the change where it was made.
    let html = dir.path().join("report.html");
    let shown = loadgen(["report"])
        .arg(&out)
        .arg("--html")
        .arg(&html)
        .expect_code(0);
    shown.stdout_has("manual 1: at ");
    shown.stdout_has("changed from the live UI to 2 users at 100/s");
    let report = std::fs::read_to_string(&html).expect("the HTML report");
    assert!(report.contains("manual 1"), "the charts mark the change");
    // Nothing secret went to the page: no password from the scenario, no token.
    for seen in [&first.seen, &late.seen] {
        assert!(
            !seen.contains("LoadTest123!"),
            "a password reached the page"
        );
        assert!(
            !seen.to_lowercase().contains("bearer"),
            "a token reached the page"
        );
    }
}

/// An arrival rate is changed from the page: the plan's rate is replaced from then on.
#[test]
fn the_live_ui_changes_an_arrival_rate() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = write(
        dir.path(),
        "rate.toml",
        "[target]\nhost = \"http://127.0.0.1:1\"\n[load]\narrival_rate = 5\nmax_users = 50\nduration = \"2m\"\n\
         [[task]]\nname = \"health\"\npath = \"/health\"\n",
    );
    let out = dir.path().join("out.json");
    let run = loadgen(["run"])
        .arg(&scenario)
        .args([
            "--demo",
            "--ui",
            "127.0.0.1:0",
            "--ui-linger",
            "0s",
            "--json",
        ])
        .arg(&out)
        .start();
    let addr = ui_addr(&run);
    let mut events = Events::open(&addr, "");
    let (_, hello) = events.next().unwrap();
    assert_eq!(hello["model"], "open");
    events.until("a second", |name, _| (name == "tick").then_some(()));
    let (status, body) = post(&addr, "/api/steer", r#"{"users": 3}"#);
    assert_eq!(status, 400, "{body}");
    let (status, body) = post(&addr, "/api/steer", r#"{"rate": 40}"#);
    assert_eq!(status, 200, "{body}");
    // Two whole seconds at the new rate: at least 30 iterations each (40 planned; the first may be partial).
    let mut full = 0;
    events.until("two seconds at the new rate", |name, data| {
        if name != "tick" || data["point"]["target_rate"] != 40.0 {
            return None;
        }
        full += u64::from(data["point"]["rps"].as_f64().unwrap() >= 30.0);
        (full >= 2).then_some(())
    });
    assert_eq!(post(&addr, "/api/stop", "{}").0, 202);
    let done = run.finish(WAIT);
    assert_eq!(done.code, Some(130), "{}", done.dump());
    let r = results(&out);
    assert_eq!(r["manual"][0]["rate"], 40.0);
    assert!(r["manual"][0]["users"].is_null());
}

/// `loadgen ui`: the start form decides the run; a value the plan refuses is answered, and the form asked again.
#[test]
fn the_start_form_starts_the_run_with_its_values() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.json");
    let run = loadgen([
        "ui",
        "scenarios/baseline.toml",
        "--demo",
        "--ui",
        "127.0.0.1:0",
        "--ui-linger",
        "0s",
    ])
    .arg("--json")
    .arg(&out)
    .current_dir(root())
    .start();
    let addr = ui_addr(&run);
    let mut events = Events::open(&addr, "");
    let (_, hello) = events.next().unwrap();
    assert_eq!(hello["state"], "waiting");
    assert_eq!(hello["form"]["users"], 100);
    assert!(hello["form"]["host"].is_null(), "--demo: no host to ask");
    assert_eq!(post(&addr, "/api/stop", "{}").0, 409, "nothing to stop yet");
    let (status, body) = post(&addr, "/api/start", r#"{"users": 3, "duration": "soon"}"#);
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("duration"),
        "{body}"
    );
    let (status, body) = post(&addr, "/api/start", r#"{"users": 0}"#);
    assert_eq!(status, 400, "{body}");
    let (status, body) = post(
        &addr,
        "/api/start",
        r#"{"users": 3, "spawn_rate": 30, "duration": "3s"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let hello = events.until("the run's hello", |name, data| {
        (name == "hello").then(|| data.clone())
    });
    assert_eq!(hello["state"], "running");
    assert_eq!(hello["planned_users"], 3);
    let end = events.until("the end", |name, data| {
        (name == "end").then(|| data.clone())
    });
    assert_eq!(end["stopped_from_ui"], false);
    let done = run.finish(WAIT);
    let r = results(&out);
    assert_eq!(r["settings"]["users"], 3, "{}", done.dump());
    assert_eq!(r["settings"]["duration_s"], 3.0);
    assert_eq!(end["exit_code"].as_i64(), done.code.map(i64::from));
}

/// Another address than loopback needs --ui-remote (with a warning), and then the token on every request.
#[test]
fn a_remote_address_needs_the_flag_and_then_the_token() {
    let refused = loadgen([
        "run",
        "scenarios/baseline.toml",
        "--demo",
        "-t",
        "1s",
        "--ui",
        "0.0.0.0:0",
    ])
    .current_dir(root())
    .expect_code(2);
    refused.stderr_has("--ui-remote");
    let token = "abcdefghij-0123456789";
    let run = loadgen([
        "run",
        "scenarios/baseline.toml",
        "--demo",
        "-u",
        "1",
        "-t",
        "2m",
        "--ui",
        "0.0.0.0:0",
        "--ui-remote",
        "--ui-token",
        token,
        "--ui-linger",
        "0s",
    ])
    .current_dir(root())
    .start();
    run.wait_for_stderr("warning: the live UI listens on 0.0.0.0", WAIT);
    let port = ui_addr(&run).rsplit(':').next().unwrap().to_string();
    // Only loopback traffic: the server listens on every address, the test talks to 127.0.0.1.
    let addr = format!("127.0.0.1:{port}");
    assert_eq!(http(&addr, "GET", "/", &[], "").0, 401);
    assert_eq!(
        http(&addr, "GET", "/?token=wrong-token-0000000", &[], "").0,
        401
    );
    assert_eq!(
        http(&addr, "GET", &format!("/?token={token}"), &[], "").0,
        200
    );
    let mut events = Events::open(&addr, &format!("?token={token}"));
    events.until("a second", |name, _| (name == "tick").then_some(()));
    let (status, ..) = http(
        &addr,
        "POST",
        "/api/stop",
        &[
            ("Content-Type", "application/json"),
            ("X-Loadgen-Token", token),
        ],
        "{}",
    );
    assert_eq!(status, 202);
    let done = run.finish(WAIT);
    assert_eq!(done.code, Some(130), "{}", done.dump());
    assert!(
        !done.stderr.contains(token) || done.stderr.contains(&format!("?token={token}")),
        "the token is printed only in the page's URL"
    );
}

/// A segment of a distributed run is watched, not steered: the other segments would not follow a change.
#[test]
fn a_segment_is_watched_but_not_steered() {
    let run = loadgen([
        "run",
        "scenarios/baseline.toml",
        "--demo",
        "-u",
        "2",
        "-t",
        "2m",
        "--segment",
        "0/2",
        "--ui",
        "127.0.0.1:0",
        "--ui-linger",
        "0s",
    ])
    .current_dir(root())
    .start();
    let addr = ui_addr(&run);
    let mut events = Events::open(&addr, "");
    let (_, hello) = events.next().expect("hello");
    assert_eq!(hello["steerable"], false, "{hello}");
    assert!(
        hello["steer_off_reason"]
            .as_str()
            .is_some_and(|r| r.contains("segment 1/2")),
        "{hello}"
    );
    events.until("a second", |name, _| (name == "tick").then_some(()));
    let (status, body) = post(&addr, "/api/steer", r#"{"users": 1}"#);
    assert_eq!(status, 409, "{body}");
    // Stopping is still allowed: it ends this segment's run as Ctrl-C would.
    assert_eq!(post(&addr, "/api/stop", "{}").0, 202);
    let done = run.finish(WAIT);
    assert_eq!(done.code, Some(130), "{}", done.dump());
}
