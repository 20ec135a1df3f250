//! A small builder for running the real binary, with every run bounded in time, and a fixture that serves the
//! reference API from the real binary on a port the OS picks.
//!
//! Tests must hold on a busy machine (CI neighbours, `stress-ng --cpu 2` beside the suite): a test that acts on
//! a running process waits for what the process prints or writes ([`Running::wait_for_stderr`],
//! [`wait_for_rows`]) instead of sleeping a fixed time, and a test that does not judge loadgen's own timing
//! says so in its scenario with [`BUSY_MACHINE_VALIDITY`].

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_loadgen");

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A `loadgen` invocation being built.
pub struct Lg {
    cmd: Command,
    shown: String,
    timeout: Duration,
}

pub fn loadgen<I, S>(args: I) -> Lg
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    loadgen_via(&[], args)
}

/// `loadgen` started through `prefix`, a command that runs the program given after it (e.g. `ip netns exec NAME`).
pub fn loadgen_via<I, S>(prefix: &[&str], args: I) -> Lg
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut cmd = via(prefix);
    cmd.current_dir(root());
    // Issue 17 item 7: loadgen honours the proxy variables, loopback included (curl's rule), so a machine's
    // proxy settings must not reach the tests' runs; the proxy tests set their own with `env`.
    for v in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "no_proxy",
        "NO_PROXY",
    ] {
        cmd.env_remove(v);
    }
    let mut shown = prefix.iter().map(|p| format!("{p} ")).collect::<String>();
    shown.push_str("loadgen");
    for a in args {
        shown.push(' ');
        shown.push_str(&a.as_ref().to_string_lossy());
        cmd.arg(a);
    }
    Lg {
        cmd,
        shown,
        timeout: Duration::from_secs(60),
    }
}

/// What a finished run printed.
pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub shown: String,
}

impl Lg {
    pub fn arg(mut self, a: impl AsRef<std::ffi::OsStr>) -> Self {
        self.shown.push(' ');
        self.shown.push_str(&a.as_ref().to_string_lossy());
        self.cmd.arg(a);
        self
    }

    pub fn args<I, S>(self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        args.into_iter().fold(self, Lg::arg)
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.cmd.env(k, v);
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.cmd.current_dir(dir);
        self
    }

    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// Starts the process without waiting for it.
    pub fn spawn(mut self) -> (Child, String) {
        self.cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        (self.cmd.spawn().expect("spawn loadgen"), self.shown)
    }

    /// Starts the process in the background, its output read as it comes (see [`Running`]).
    pub fn start(self) -> Running {
        let (mut child, shown) = self.spawn();
        let stdout = Stream::read(child.stdout.take().expect("stdout"));
        let stderr = Stream::read(child.stderr.take().expect("stderr"));
        Running {
            child,
            shown,
            stdout: Some(stdout),
            stderr: Some(stderr),
        }
    }

    /// Runs to completion (killed past the timeout, which fails the test).
    pub fn run(self) -> Out {
        let timeout = self.timeout;
        let (child, shown) = self.spawn();
        wait_bounded(child, shown, timeout)
    }

    /// Runs and checks the exit code, printing both streams if it differs.
    pub fn expect_code(self, code: i32) -> Out {
        let out = self.run();
        assert_eq!(out.code, Some(code), "unexpected exit code\n{}", out.dump());
        out
    }
}

/// A command for the binary, run through `prefix` when it is not empty.
fn via(prefix: &[&str]) -> Command {
    match prefix.split_first() {
        Some((prog, rest)) => {
            let mut cmd = Command::new(prog);
            cmd.args(rest).arg(BIN);
            cmd
        }
        None => Command::new(BIN),
    }
}

pub fn wait_bounded(mut child: Child, shown: String, timeout: Duration) -> Out {
    let start = Instant::now();
    // Read both pipes on threads so a chatty child never blocks on a full pipe.
    let mut so = child.stdout.take().expect("stdout");
    let mut se = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut so, &mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut se, &mut s);
        s
    });
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break Some(st);
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = Out {
        code: status.and_then(|s| s.code()),
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
        shown,
    };
    assert!(
        status.is_some(),
        "timed out after {timeout:?}\n{}",
        out.dump()
    );
    out
}

/// What a child has written to one of its pipes so far, shared with the thread that reads it.
struct Stream {
    text: Arc<(Mutex<(String, bool)>, Condvar)>,
    reader: JoinHandle<()>,
}

impl Stream {
    /// Reads `pipe` on a thread of its own until it closes; the text (lossy UTF-8) grows as it comes and the
    /// flag says the pipe has closed.
    fn read(mut pipe: impl Read + Send + 'static) -> Stream {
        let text = Arc::new((Mutex::new((String::new(), false)), Condvar::new()));
        let shared = text.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            let mut pending = Vec::new();
            loop {
                let n = pipe.read(&mut buf).unwrap_or(0);
                let (lock, cvar) = &*shared;
                let mut state = lock.lock().unwrap_or_else(|e| e.into_inner());
                if n == 0 {
                    state.0.push_str(&String::from_utf8_lossy(&pending));
                    state.1 = true;
                    cvar.notify_all();
                    return;
                }
                pending.extend_from_slice(&buf[..n]);
                // Whole UTF-8 sequences only; the rest waits for the next read.
                let valid = match std::str::from_utf8(&pending) {
                    Ok(_) => pending.len(),
                    Err(e) if e.error_len().is_none() => e.valid_up_to(),
                    Err(_) => pending.len(),
                };
                state
                    .0
                    .push_str(&String::from_utf8_lossy(&pending[..valid]));
                pending.drain(..valid);
                cvar.notify_all();
            }
        });
        Stream { text, reader }
    }

    fn snapshot(&self) -> String {
        let state = self.text.0.lock().unwrap_or_else(|e| e.into_inner());
        state.0.clone()
    }

    /// Waits until a whole line (ended by a newline) contains `needle`, the pipe closes, or `deadline` passes;
    /// true if the line came.
    fn wait_for_line(&self, needle: &str, deadline: Instant) -> bool {
        let (lock, cvar) = &*self.text;
        let mut state = lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if state
                .0
                .split_inclusive('\n')
                .any(|line| line.ends_with('\n') && line.contains(needle))
            {
                return true;
            }
            let now = Instant::now();
            if state.1 || now >= deadline {
                return false;
            }
            state = cvar
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn finish(self) -> String {
        let _ = self.reader.join();
        let state = self.text.0.lock().unwrap_or_else(|e| e.into_inner());
        state.0.clone()
    }
}

/// A `loadgen` process running in the background ([`Lg::start`]): the test waits for what it prints, signals
/// it, and collects its output with [`Running::finish`]. Killed if dropped unfinished.
pub struct Running {
    child: Child,
    shown: String,
    /// Taken by [`Running::finish`].
    stdout: Option<Stream>,
    stderr: Option<Stream>,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until the process prints a line containing `text` on stderr. Fails the test, with what it printed,
    /// if the process ends or `timeout` passes first.
    pub fn wait_for_stderr(&self, text: &str, timeout: Duration) {
        let (Some(stdout), Some(stderr)) = (&self.stdout, &self.stderr) else {
            unreachable!("taken only by finish, which consumes self");
        };
        if !stderr.wait_for_line(text, Instant::now() + timeout) {
            panic!(
                "no line with {text:?} on stderr within {timeout:?}\ncommand: {}\n--- stdout so far ---\n{}\n\
                 --- stderr so far ---\n{}",
                self.shown,
                stdout.snapshot(),
                stderr.snapshot()
            );
        }
    }

    /// Waits until the process prints a line containing `text` on stdout. Fails the test, with what it printed,
    /// if the process ends or `timeout` passes first.
    pub fn wait_for_stdout(&self, text: &str, timeout: Duration) {
        let (Some(stdout), Some(stderr)) = (&self.stdout, &self.stderr) else {
            unreachable!("taken only by finish, which consumes self");
        };
        if !stdout.wait_for_line(text, Instant::now() + timeout) {
            panic!(
                "no line with {text:?} on stdout within {timeout:?}\ncommand: {}\n--- stdout so far ---\n{}\n\
                 --- stderr so far ---\n{}",
                self.shown,
                stdout.snapshot(),
                stderr.snapshot()
            );
        }
    }

    /// What the process printed on stderr so far.
    pub fn stderr_so_far(&self) -> String {
        self.stderr
            .as_ref()
            .map(Stream::snapshot)
            .unwrap_or_default()
    }

    /// Sends `signal` (`INT`, `TERM`, …) to the process.
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{signal} {} failed", self.pid());
    }

    /// Waits (bounded) for the process to end and returns what it printed; fails the test past `timeout`.
    pub fn finish(mut self, timeout: Duration) -> Out {
        let start = Instant::now();
        let status = loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                break Some(st);
            }
            if start.elapsed() > timeout {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let out = Out {
            code: status.and_then(|s| s.code()),
            stdout: self.stdout.take().map(Stream::finish).unwrap_or_default(),
            stderr: self.stderr.take().map(Stream::finish).unwrap_or_default(),
            shown: std::mem::take(&mut self.shown),
        };
        assert!(
            status.is_some(),
            "timed out after {timeout:?}\n{}",
            out.dump()
        );
        out
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits, checking every 20 ms, until `ready` holds; fails the test with `what` if `timeout` passes first.
/// For what a process writes to files (a CSV row each second); what it prints is waited for with
/// [`Running::wait_for_stderr`].
pub fn wait_until(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < timeout, "waited {timeout:?} for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The data rows of a CSV file written so far (0 while it does not exist): with `--csv PREFIX`, the rows of
/// `PREFIX_stats_history.csv` say how many seconds of the run loadgen has recorded.
pub fn csv_rows(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.matches("\r\n").count().saturating_sub(1))
        .unwrap_or(0)
}

/// Waits until the `--csv` history at `history` has `n` rows (seconds of the run recorded), or fails the test.
pub fn wait_for_rows(history: &Path, n: usize, timeout: Duration) {
    wait_until(
        &format!("{n} rows in {}", history.display()),
        timeout,
        || csv_rows(history) >= n,
    );
}

/// A `[validity]` table for the scenario of a test that does not judge loadgen's own timing: on a busy machine
/// loadgen's scheduler can wake over 100 ms late in a few seconds (seen at 118 ms with `stress-ng --cpu 4`
/// beside the suite), and users can start late, which makes the run invalid (exit 3) whatever the test is
/// about. The tests of validity itself keep the defaults. Append it to a scenario (a table may follow the
/// `[[task]]` arrays).
pub const BUSY_MACHINE_VALIDITY: &str = "\n[validity]\nmax_lag = \"5s\"\nmax_shortfall_pct = 50\n";

/// A copy in `dir` of the shipped scenario `scenarios/NAME` (and the `auth_flow.toml` they include), with
/// [`BUSY_MACHINE_VALIDITY`] appended: for a test that runs a shipped scenario without judging loadgen's timing.
pub fn shipped_scenario(dir: &Path, name: &str) -> PathBuf {
    let from = root().join("scenarios");
    let read = |n: &str| {
        std::fs::read_to_string(from.join(n)).unwrap_or_else(|e| panic!("read scenarios/{n}: {e}"))
    };
    write(dir, "auth_flow.toml", &read("auth_flow.toml"));
    write(dir, name, &(read(name) + BUSY_MACHINE_VALIDITY))
}

impl Out {
    pub fn dump(&self) -> String {
        format!(
            "command: {}\nexit: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.shown, self.code, self.stdout, self.stderr
        )
    }

    pub fn stdout_has(&self, s: &str) -> &Self {
        assert!(
            self.stdout.contains(s),
            "stdout lacks {s:?}\n{}",
            self.dump()
        );
        self
    }

    pub fn stderr_has(&self, s: &str) -> &Self {
        assert!(
            self.stderr.contains(s),
            "stderr lacks {s:?}\n{}",
            self.dump()
        );
        self
    }
}

/// The reference API served by `loadgen serve-demo` on a free loopback port; killed on drop.
pub struct Demo {
    child: Child,
    pub url: String,
}

impl Demo {
    pub fn start(extra: &[&str]) -> Demo {
        Demo::start_at("127.0.0.1:0", extra)
    }

    /// The reference API on `addr` (a loopback address; port 0 picks a free one), once it is listening.
    pub fn start_at(addr: &str, extra: &[&str]) -> Demo {
        Demo::start_via(&[], addr, extra)
    }

    /// The reference API on `addr`, started through `prefix` (e.g. `ip netns exec NAME`).
    pub fn start_via(prefix: &[&str], addr: &str, extra: &[&str]) -> Demo {
        let mut cmd = via(prefix);
        cmd.args(["serve-demo", "--addr", addr]).args(extra);
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::null())
            .stdin(Stdio::null());
        let mut child = cmd.spawn().expect("spawn serve-demo");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read serve-demo banner");
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in serve-demo banner {line:?}"))
            .to_string();
        Demo { child, url }
    }

    /// When the server started, by its own clock (`/health` says its uptime; its `--unhealthy-for` and
    /// `--stall` periods count from then), to within the time the request took.
    pub fn started_at(&self) -> std::time::SystemTime {
        let addr = self.url.trim_start_matches("http://");
        let before = std::time::SystemTime::now();
        let mut s = std::net::TcpStream::connect(addr).expect("connect to serve-demo");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        std::io::Write::write_all(
            &mut s,
            format!("GET /health HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes(),
        )
        .expect("send GET /health");
        let mut text = String::new();
        s.read_to_string(&mut text).expect("read /health");
        let after = std::time::SystemTime::now();
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let health: serde_json::Value =
            serde_json::from_str(body).unwrap_or_else(|e| panic!("/health answered {text:?}: {e}"));
        let uptime = health["uptime_s"]
            .as_f64()
            .unwrap_or_else(|| panic!("no uptime_s in {health}"));
        let asked = before + after.duration_since(before).unwrap_or_default() / 2;
        asked - Duration::from_secs_f64(uptime)
    }

    /// Kills the server at once (SIGKILL: no graceful shutdown, its connections are reset) and reaps it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `text` as `name` in `dir` and returns its path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write fixture");
    p
}

/// Reads a results file.
pub fn results(path: &Path) -> serde_json::Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("results are JSON")
}

/// The per-request entry called `name` in a results document.
pub fn request<'a>(r: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    r["requests"]
        .as_array()
        .and_then(|a| a.iter().find(|q| q["name"] == name))
        .unwrap_or_else(|| panic!("no request {name} in results"))
}

/// Runs `loadgen run FILE -q --json OUT` (OUT beside FILE), checks the exit code, and returns the results.
pub fn run_results(file: &Path, code: i32) -> serde_json::Value {
    let json = file.with_extension("json");
    loadgen([
        "run",
        &file.to_string_lossy(),
        "-q",
        "--json",
        &json.to_string_lossy(),
    ])
    .expect_code(code);
    results(&json)
}

/// Finds an external program the test needs (chromium, python3 with pandas, xmllint) by trying `candidates`.
/// When none works: in CI (`LOADGEN_CI=1`, set by `.ci/run`, which installs them) the test fails; elsewhere it
/// prints why it is skipped and returns `None`, so `cargo test` still runs on a machine without them.
pub fn external_tool(what: &str, candidates: &[&[&str]]) -> Option<Vec<String>> {
    for argv in candidates {
        let Some((prog, args)) = argv.split_first() else {
            continue;
        };
        let ok = Command::new(prog)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(vec![(*prog).to_string()]);
        }
    }
    unavailable(&format!(
        "{what} is not available (tried {candidates:?}); .ci/run installs it"
    ));
    None
}

/// Something a test needs is missing (`why`): fails in CI (`LOADGEN_CI=1`), else prints why the test is skipped.
pub fn unavailable(why: &str) {
    assert!(std::env::var_os("LOADGEN_CI").is_none(), "{why}");
    eprintln!("SKIPPED: {why}");
}

/// on_start steps that register a user named `user` (a template) and capture its token.
pub fn auth_steps(user: &str, password: &str) -> String {
    format!(
        r#"
[[user.on_start]]
name = "register"
method = "POST"
path = "/api/auth/register"
json = {{ username = "{user}", password = "{password}", email = "x@t.local" }}
expect = {{ status = [201] }}
[[user.on_start]]
name = "login"
method = "POST"
path = "/api/auth/login"
json = {{ username = "{user}", password = "{password}" }}
capture = {{ token = "$.access_token" }}
"#
    )
}

/// Why this machine cannot make device nodes (`mknod` needs root), or `None` when it can. A test that needs one
/// is skipped then, with a line saying so, except in CI (`LOADGEN_CI=1`, where `.ci/run` runs the tests as root
/// or through sudo); `LOADGEN_SKIP_NETNS` (set by `.ci/run` where it has neither root nor sudo) skips it even there.
pub fn no_device_nodes() -> Option<String> {
    if let Some(why) = std::env::var_os("LOADGEN_SKIP_NETNS") {
        return Some(why.to_string_lossy().into_owned());
    }
    let uid = std::process::Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if uid.as_deref() == Some("0") || std::env::var_os("LOADGEN_CI").is_some() {
        return None;
    }
    Some(format!(
        "mknod needs root, and this runs as uid {}",
        uid.unwrap_or_default()
    ))
}

/// The head of an HTTP/1.x message read by a test server, up to and with its empty line; `None` when the
/// connection ends first.
pub fn read_head(reader: &mut impl BufRead) -> Option<String> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let end = line == "\r\n" || line == "\n";
        head.push_str(&line);
        if end {
            return Some(head);
        }
    }
}
