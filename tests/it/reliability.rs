//! Runs that survive: a target killed and restarted mid-run, targets that hang (accept and never answer, or
//! answer a byte a second), and bodies over `max_body`. Every run ends on time and writes its results.
//!
//! Every server here listens on 127.0.0.1 only, every load is a few users for a few seconds, and every server
//! thread stops when its test ends.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::schema::schema_errors;
use crate::util::{
    BUSY_MACHINE_VALIDITY, Demo, Out, Running, csv_rows, loadgen, request, results, wait_bounded,
    wait_for_rows, write,
};

/// A run of `scenario` started in the background with `--json OUT` and `--csv DIR/live` (whose history gets a
/// row for each second the run has recorded, see [`history`]), once it has printed its start line.
struct Started {
    running: Running,
    json: PathBuf,
    /// When the start line came: the wall time of the run is measured from it, not from the process's start,
    /// which a busy machine can delay.
    t0: Instant,
}

fn start_run(dir: &Path, scenario: &str) -> Started {
    let name = scenario
        .lines()
        .find_map(|l| l.strip_prefix("name = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("the scenario has a name");
    let file = write(dir, "scenario.toml", scenario);
    let json = dir.join("out.json");
    let running = loadgen([
        "run",
        file.to_str().expect("UTF-8 path"),
        "--json",
        json.to_str().expect("UTF-8 path"),
        "--csv",
        dir.join("live").to_str().expect("UTF-8 path"),
    ])
    .start();
    running.wait_for_stderr(&format!("loadgen {name}:"), Duration::from_secs(30));
    Started {
        running,
        json,
        t0: Instant::now(),
    }
}

/// The live history of a run started in `dir` by [`start_run`].
fn history(dir: &Path) -> PathBuf {
    dir.join("live_stats_history.csv")
}

impl Started {
    /// Waits for the run to end; returns what it printed, the results (checked against the schema), and the
    /// wall time from its start line to its exit.
    fn finish(self) -> (Out, Value, Duration) {
        let out = self.running.finish(Duration::from_secs(30));
        let wall = self.t0.elapsed();
        assert!(self.json.exists(), "no results file\n{}", out.dump());
        let r = results(&self.json);
        let errors = schema_errors(&r);
        assert!(errors.is_empty(), "{}", errors.join("\n"));
        (out, r, wall)
    }
}

/// Runs `scenario` to its end: [`start_run`], then [`Started::finish`].
fn run_timed(dir: &Path, scenario: &str) -> (Out, Value, Duration) {
    start_run(dir, scenario).finish()
}

/// The failures of request `name`: (kind, message, occurrences).
fn failures_of(r: &Value, name: &str) -> Vec<(String, String, u64)> {
    r["failures"]
        .as_array()
        .expect("failures")
        .iter()
        .filter(|f| f["name"] == name)
        .map(|f| {
            (
                f["kind"].as_str().expect("kind").to_string(),
                f["message"].as_str().expect("message").to_string(),
                f["occurrences"].as_u64().expect("occurrences"),
            )
        })
        .collect()
}

/// Each point of the time series as (end of interval, requests, failures) for request `index`.
fn series_of(r: &Value, index: usize) -> Vec<(f64, u64, u64)> {
    r["time_series"]
        .as_array()
        .expect("time_series")
        .iter()
        .map(|p| {
            let q = &p["by_request"][index];
            (
                p["elapsed_s"].as_f64().expect("elapsed_s"),
                q["requests"].as_u64().expect("requests"),
                q["failures"].as_u64().expect("failures"),
            )
        })
        .collect()
}

/// The server is killed once the run has recorded two seconds, and restarted once it has recorded two more:
/// the moments are the run's own seconds (rows of its live history), so a busy machine that starts loadgen
/// late, or takes a while to restart the server, moves them without breaking what is asserted.
#[test]
fn a_target_killed_and_restarted_mid_run_shows_the_outage_and_the_recovery() {
    // A free loopback port, for the server and its restart.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let demo = Demo::start_at(&addr, &[]);
    let url = demo.url.clone();
    let scenario = format!(
        r#"
name = "outage"
[target]
host = "{url}"
timeout = "500ms"
[load]
users = 4
spawn_rate = 100
duration = "8s"
stop_timeout = "2s"
[user]
wait = "50ms"
[[task]]
name = "health"
path = "/health"
{BUSY_MACHINE_VALIDITY}"#
    );
    let dir = tempfile::tempdir().unwrap();
    let run = start_run(dir.path(), &scenario);
    let history = history(dir.path());
    wait_for_rows(&history, 2, Duration::from_secs(30));
    // Seconds of the run recorded before the kill, and before and after the restart.
    let before_kill = csv_rows(&history);
    demo.kill();
    wait_for_rows(&history, before_kill + 2, Duration::from_secs(30));
    let before_restart = csv_rows(&history);
    let demo = Demo::start_at(&addr, &[]);
    let after_restart = csv_rows(&history);
    let (out, r, wall) = run.finish();
    drop(demo);
    let series = series_of(&r, 0);
    eprintln!(
        "killed after {before_kill} s, restarted after {before_restart}-{after_restart} s of the run, which took \
         {wall:?}; series (end s, requests, failures): {series:?}; failures: {:?}",
        failures_of(&r, "health")
    );
    // No gates, and the failures this test provokes fail the run (exit 1), as Locust's would.
    assert_eq!(out.code, Some(1), "{}", out.dump());
    // On time by its own clock: the duration and the stop timeout (requests end by their 500 ms timeout).
    let took = r["duration_s"].as_f64().unwrap();
    assert!(took < 8.0 + 2.0, "the run took {took} s\n{}", out.dump());
    assert!(
        after_restart + 1 < series.len(),
        "the run ended before the restart: {series:?}"
    );

    // Failures, by kind, for the request name: refused connects while the server was down, and resets of the
    // connections it had open when it was killed. Nothing else.
    let health = request(&r, "health");
    let failures = failures_of(&r, "health");
    let total: u64 = failures.iter().map(|f| f.2).sum();
    assert_eq!(Some(total), health["failures"].as_u64(), "{failures:?}");
    assert!(total > 0, "no failures during the outage");
    assert!(
        failures
            .iter()
            .all(|(kind, ..)| kind == "connect" || kind == "connection"),
        "{failures:?}"
    );
    assert!(
        failures
            .iter()
            .any(|(kind, msg, _)| kind == "connect" && msg == "connection refused"),
        "{failures:?}"
    );

    // The time series (point i is second i + 1 of the run): successes only in the seconds recorded before the
    // kill; seconds with failures and no success during the outage, and only then; successes only in the
    // seconds that began after the restart, and enough of them.
    let ok = |&(_, req, fail): &(f64, u64, u64)| req - fail;
    let (up, rest) = series.split_at(before_kill);
    assert!(
        up.iter().all(|p| p.2 == 0) && up.iter().map(ok).sum::<u64>() > 0,
        "the seconds before the kill: {series:?}"
    );
    let outage: Vec<usize> = (0..series.len())
        .filter(|&i| series[i].2 > 0 && ok(&series[i]) == 0)
        .collect();
    assert!(!outage.is_empty(), "no second of outage: {series:?}");
    assert!(
        outage
            .iter()
            .all(|&i| i >= before_kill && i <= after_restart),
        "outage seconds {outage:?} outside the kill-restart window: {series:?}"
    );
    let recovered = &rest[after_restart + 1 - before_kill..];
    assert!(
        recovered.iter().all(|p| p.2 == 0),
        "failures after the restart: {series:?}"
    );
    let after: u64 = recovered.iter().map(ok).sum();
    assert!(after > 10, "no recovery after the restart: {series:?}");
}

/// How a hanging [`RawServer`] treats a connection.
#[derive(Clone, Copy)]
enum Hanging {
    /// Accepts it and never reads or answers.
    Silent,
    /// Reads the request, then answers one byte a second.
    Trickle,
}

/// A server on 127.0.0.1 that runs `handle` on a thread of its own for each connection, telling it to stop
/// through the flag; stopped (its threads joined) when dropped.
struct RawServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl RawServer {
    fn start(handle: impl Fn(TcpStream, &AtomicBool) + Send + Sync + 'static) -> RawServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (stop2, accepted2) = (stop.clone(), accepted.clone());
        let handle = Arc::new(handle);
        let thread = std::thread::spawn(move || {
            let mut conns: Vec<JoinHandle<()>> = Vec::new();
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => {
                        accepted2.fetch_add(1, Ordering::Relaxed);
                        let _ = s.set_nonblocking(false);
                        let (handle, stop) = (handle.clone(), stop2.clone());
                        conns.push(std::thread::spawn(move || handle(s, &stop)));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            for c in conns {
                let _ = c.join();
            }
        });
        RawServer {
            addr,
            stop,
            accepted,
            thread: Some(thread),
        }
    }

    /// A server that never answers in time: it holds each connection silent, or trickles an answer.
    fn hanging(how: Hanging) -> RawServer {
        match how {
            Hanging::Silent => RawServer::start(hold),
            Hanging::Trickle => RawServer::start(trickle),
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Keeps the connection open, reading and answering nothing, until the server stops.
fn hold(s: TcpStream, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(s);
}

/// Reads a request, then writes a response one byte a second until the client goes or the server stops.
fn trickle(mut s: TcpStream, stop: &AtomicBool) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 4096];
    if !matches!(s.read(&mut buf), Ok(n) if n > 0) {
        return;
    }
    for b in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" {
        if s.write_all(&[*b]).is_err() {
            return;
        }
        for _ in 0..20 {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// 4 users for 4 s against `url`, with a stop timeout of 2 s and the given request timeout.
fn hang_scenario(url: &str, timeout: &str) -> String {
    format!(
        r#"
name = "hang"
[target]
host = "{url}"
timeout = "{timeout}"
[load]
users = 4
spawn_rate = 100
duration = "4s"
stop_timeout = "2s"
[[task]]
name = "hang"
path = "/"
{BUSY_MACHINE_VALIDITY}"#
    )
}

/// Duration + stop timeout + a margin for starting the process and writing the results.
const HANG_DEADLINE: Duration = Duration::from_millis(4_000 + 2_000 + 1_500);

#[test]
fn a_target_that_never_answers_or_answers_a_byte_a_second_times_out_and_the_run_ends_on_time() {
    for how in [Hanging::Silent, Hanging::Trickle] {
        let server = RawServer::hanging(how);
        let dir = tempfile::tempdir().unwrap();
        let (out, r, wall) = run_timed(dir.path(), &hang_scenario(&server.url(), "1s"));
        let accepted = server.accepted.load(Ordering::Relaxed);
        drop(server);
        let hang = request(&r, "hang");
        let failures = failures_of(&r, "hang");
        let label = match how {
            Hanging::Silent => "silent",
            Hanging::Trickle => "trickle",
        };
        eprintln!(
            "{label}: run took {wall:?}; {} requests, {} failures {failures:?}; p50 {} ms, max {} ms; \
             {accepted} connections accepted",
            hang["requests"], hang["failures"], hang["percentiles_ms"]["p50"], hang["max_ms"]
        );
        // No gates, and the failures this test provokes fail the run (exit 1), as Locust's would.
        assert_eq!(out.code, Some(1), "{}", out.dump());
        assert!(
            wall < HANG_DEADLINE,
            "{label}: the run took {wall:?}\n{}",
            out.dump()
        );
        // Every request ended as a timeout after about a second: about 4 per user, each on a new connection.
        let requests = hang["requests"].as_u64().unwrap();
        assert!(requests >= 12, "{label}: {requests} requests");
        assert_eq!(hang["failures"].as_u64(), Some(requests), "{label}");
        assert_eq!(
            failures,
            [(
                "timeout".to_string(),
                "request timed out".to_string(),
                requests
            )],
            "{label}"
        );
        let (p50, max) = (
            hang["percentiles_ms"]["p50"].as_f64().unwrap(),
            hang["max_ms"].as_f64().unwrap(),
        );
        assert!(
            (950.0..1_500.0).contains(&p50) && max < 1_800.0,
            "{label}: p50 {p50} ms, max {max} ms"
        );
        assert_eq!(
            r["totals"]["aborted_users"], 0,
            "{label}: all ended in time"
        );
        assert!(
            accepted as u64 >= requests,
            "{label}: a timed-out connection is never reused ({accepted} connections for {requests} requests)"
        );
    }
}

#[test]
fn requests_hanging_past_the_stop_timeout_are_aborted_and_the_run_ends_on_time() {
    // The request timeout (30 s) outlasts the stop timeout (2 s): the stop timeout ends the run.
    let server = RawServer::hanging(Hanging::Silent);
    let dir = tempfile::tempdir().unwrap();
    let (out, r, wall) = run_timed(dir.path(), &hang_scenario(&server.url(), "30s"));
    drop(server);
    let failures = failures_of(&r, "hang");
    eprintln!("run took {wall:?}; failures {failures:?}");
    // No gates, and the failures this test provokes fail the run (exit 1), as Locust's would.
    assert_eq!(out.code, Some(1), "{}", out.dump());
    assert!(
        wall < HANG_DEADLINE,
        "the run took {wall:?}\n{}",
        out.dump()
    );
    assert_eq!(r["totals"]["aborted_users"], 4);
    assert_eq!(
        failures,
        [(
            "aborted".to_string(),
            "still in flight at the stop timeout".to_string(),
            4
        )]
    );
    // Each was stopped after the 4 s of the run and the 2 s of the stop timeout.
    let min = request(&r, "hang")["min_ms"].as_f64().unwrap();
    assert!(min >= 5_900.0, "min latency {min} ms");
}

/// A server whose every answer is a 200 with a JSON body of `size` bytes (a token, then padding).
fn big_json(size: usize) -> RawServer {
    let prefix = br#"{"token":"t0k3n","pad":""#;
    let mut body = prefix.to_vec();
    body.resize(size - 2, b'x');
    body.extend_from_slice(b"\"}");
    let mut answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
    )
    .into_bytes();
    answer.extend_from_slice(&body);
    RawServer::start(move |s, stop| serve(s, &answer, stop))
}

/// Answers each request (a GET: its head ends the read) with `answer`, until the client goes or the server
/// stops.
fn serve(mut s: TcpStream, answer: &[u8], stop: &AtomicBool) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        match s.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(_) => return,
        }
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.drain(..end + 4);
            if s.write_all(answer).is_err() {
                return;
            }
        }
    }
}

#[test]
fn a_body_over_max_body_fails_the_capture_but_is_still_counted() {
    const SIZE: usize = 200_000;
    let server = big_json(SIZE);
    let scenario = format!(
        r#"
name = "big"
[target]
host = "http://{}"
timeout = "2s"
max_body = "100KB"
[load]
users = 2
spawn_rate = 100
duration = "2s"
stop_timeout = "2s"
[user]
wait = "100ms"
[[task]]
name = "capture_big"
path = "/big"
capture = {{ token = "$.token" }}
[[task]]
name = "count_big"
path = "/big"
{BUSY_MACHINE_VALIDITY}"#,
        server.addr
    );
    let dir = tempfile::tempdir().unwrap();
    let (out, r, wall) = run_timed(dir.path(), &scenario);
    drop(server);
    let (capture, count) = (request(&r, "capture_big"), request(&r, "count_big"));
    eprintln!(
        "run took {wall:?}; capture_big: {} requests, failures {:?}, avg {} bytes; count_big: {} requests, {} \
         failures, avg {} bytes",
        capture["requests"],
        failures_of(&r, "capture_big"),
        capture["avg_content_bytes"],
        count["requests"],
        count["failures"],
        count["avg_content_bytes"]
    );
    // No gates, and the failures this test provokes fail the run (exit 1), as Locust's would.
    assert_eq!(out.code, Some(1), "{}", out.dump());
    assert_eq!(r["settings"]["max_body_bytes"], 100_000);
    let n = capture["requests"].as_u64().unwrap();
    assert!(n > 0);
    assert_eq!(
        failures_of(&r, "capture_big"),
        [(
            "capture".to_string(),
            "body larger than max_body (100000 bytes)".to_string(),
            n
        )]
    );
    // Read to the end and counted, for both; the one without a capture never needed the body and passes.
    assert_eq!(capture["avg_content_bytes"].as_f64(), Some(SIZE as f64));
    assert_eq!(count["avg_content_bytes"].as_f64(), Some(SIZE as f64));
    assert!(count["requests"].as_u64().unwrap() > 0);
    assert_eq!(count["failures"], 0);
    assert_eq!(capture["status_codes"]["200"].as_u64(), Some(n));
}

/// Per user, what a run against a server killed after the run's first second and restarted two seconds later
/// (by the run's own clock, its live history) did: the series of `verify` (end s, requests, failures), the
/// results, and how many seconds of the run had been recorded when the server was back.
fn auth_through_a_restart(restart_on: &str) -> (Vec<(f64, u64, u64)>, Value, usize) {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let demo = Demo::start_at(&addr, &[]);
    let url = demo.url.clone();
    let steps = crate::util::auth_steps("rs_{{run_id}}_{{vu}}_{{session}}", "Secret123!");
    let scenario = format!(
        r#"
name = "sessions"
[target]
host = "{url}"
timeout = "500ms"
[load]
users = 3
spawn_rate = 100
duration = "7s"
stop_timeout = "2s"
[user]
wait = "50ms"
{restart_on}
{steps}
[[task]]
name = "verify"
path = "/api/auth/verify"
headers = {{ Authorization = "Bearer {{{{token}}}}" }}
{BUSY_MACHINE_VALIDITY}"#
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let run = start_run(dir.path(), &scenario);
    let history = history(dir.path());
    wait_for_rows(&history, 1, Duration::from_secs(30));
    let killed = csv_rows(&history);
    demo.kill();
    wait_for_rows(&history, killed + 2, Duration::from_secs(30));
    let demo = Demo::start_at(&addr, &[]);
    let restarted = csv_rows(&history);
    let (out, r, _) = run.finish();
    drop(demo);
    // No gates, and the outage's failed requests fail the run (exit 1), as Locust's would.
    assert_eq!(out.code, Some(1), "{}", out.dump());
    let index = r["requests"]
        .as_array()
        .and_then(|a| a.iter().position(|q| q["name"] == "verify"))
        .expect("verify in the results");
    (series_of(&r, index), r, restarted)
}

#[test]
fn users_whose_session_a_restarted_server_forgot_start_a_new_one() {
    // With restart_session_on = [401]: after the restart, the first 401 sends each user back through
    // register and login, and verify succeeds again.
    let (series, r, restarted) = auth_through_a_restart("restart_session_on = [401]");
    eprintln!("with restart_session_on: verify {series:?}, restarted after {restarted} s");
    // The seconds from the second after the restart's on.
    fn late(series: &[(f64, u64, u64)], restarted: usize) -> &[(f64, u64, u64)] {
        series.get(restarted + 1..).unwrap_or_default()
    }
    let late_ok: u64 = late(&series, restarted).iter().map(|(_, n, f)| n - f).sum();
    assert!(
        late_ok > 20,
        "verify should recover after the restart: {series:?}"
    );
    let registers = request(&r, "register")["requests"].as_u64().unwrap();
    assert!(
        (6..=12).contains(&registers),
        "each of 3 users registered once, then again after the restart: {registers}"
    );
    let unauthorized = request(&r, "verify")["status_codes"]["401"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        (1..=6).contains(&unauthorized),
        "about one 401 per user, then a new session: {unauthorized}"
    );

    // Without it, the users keep their dead tokens and fail until the end.
    let (series, _, restarted) = auth_through_a_restart("");
    eprintln!("without: verify {series:?}, restarted after {restarted} s");
    // (The last point, the stop phase, may hold no request.)
    let late: Vec<_> = late(&series, restarted)
        .iter()
        .filter(|(_, n, _)| *n > 0)
        .collect();
    assert!(
        late.len() >= 2,
        "the run ended too soon after the restart: {series:?}"
    );
    assert!(
        late.iter().all(|(_, n, f)| n == f),
        "without restart_session_on every later verify fails: {series:?}"
    );
}

#[test]
fn running_out_of_descriptors_mid_run_is_counted_as_resources_not_a_crash() {
    // A hard open-files limit of 48 that loadgen cannot raise: without CAP_SYS_RESOURCE (dropped by setpriv,
    // since the tests may run as root) and under prlimit. 100 users need about 164.
    let Some(_) = crate::util::external_tool(
        "setpriv and prlimit (util-linux)",
        &[&[
            "setpriv",
            "--bounding-set=-sys_resource",
            "--inh-caps=-sys_resource",
            "prlimit",
            "--nofile=48:48",
            "true",
        ]],
    ) else {
        return;
    };
    let demo = Demo::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "fd.toml",
        &format!(
            "name = \"fd\"\n[target]\nhost = \"{}\"\n[load]\nusers = 100\nspawn_rate = 1000\nduration = \"2s\"\n\
             [user]\nwait = \"10ms\"\n[[task]]\nname = \"h\"\npath = \"/health\"\n",
            demo.url
        ),
    );
    let json = dir.path().join("fd.json");
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args([
        "--bounding-set=-sys_resource",
        "--inh-caps=-sys_resource",
        "prlimit",
        "--nofile=48:48",
        crate::util::BIN,
        "run",
        file.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ])
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let out = wait_bounded(
        child,
        "setpriv … loadgen run fd.toml".into(),
        Duration::from_secs(30),
    );
    // No gates, and the failures this test provokes fail the run (exit 1), as Locust's would.
    assert_eq!(out.code, Some(1), "{}", out.dump());
    // Said up front, with the numbers and how to raise the limit.
    out.stderr_has("100 users need about 164 open files, but the limit is 48")
        .stderr_has("ulimit -n");
    let r = results(&json);
    let failures = failures_of(&r, "h");
    assert!(
        failures.iter().any(|(kind, msg, n)| kind == "resources"
            && msg.starts_with("too many open files")
            && *n > 0),
        "{failures:?}"
    );
    // The users that got a descriptor kept working.
    let ok = request(&r, "h")["requests"].as_u64().unwrap()
        - request(&r, "h")["failures"].as_u64().unwrap();
    assert!(ok > 100, "{ok} successful requests");
}
