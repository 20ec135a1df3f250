//! A small builder for running the real binary, with every run bounded in time, and a fixture that serves the
//! reference API from the real binary on a port the OS picks.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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
