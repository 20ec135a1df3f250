//! `--demo`'s reference API in a child process (issue 20 item 8): loadgen runs itself as
//! `loadgen serve-demo --addr 127.0.0.1:0 --until-stdin-closes` and reads the URL from the line it prints.
//!
//! Why a process and not a thread: descriptors. In loadgen's own process every connection counted twice
//! against one open-files limit (the user's end and the server's), so 10,000 users under a hard limit of
//! 20,000 lost registrations as `resources` failures. The child has its own limit (serve-demo raises its soft
//! limit to the hard one) and its own cores' worth of scheduling.
//!
//! Its lifetime is tied to loadgen's through its stdin, a pipe only loadgen holds: closing it is the stop
//! request (the API then stops as on SIGTERM: in-flight requests answered, bounded), and if loadgen dies, even
//! by SIGKILL, the kernel closes the pipe and the child stops itself: no orphan. It runs in a process group
//! of its own so that a Ctrl-C in the terminal reaches loadgen alone, which stops its users gracefully while
//! the API still answers them; the child is stopped after the run.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

use crate::error::Error;

/// How long the child may take to print its URL.
const START_WAIT: Duration = Duration::from_secs(15);
/// How long it may take to stop once asked (its own grace for in-flight requests is 2 s); killed after.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// The reference API running as a child process.
pub(crate) struct DemoChild {
    child: Child,
    url: String,
    /// Held open: the child's banner is its only output, and a closed pipe should not be its problem.
    _stdout: BufReader<ChildStdout>,
}

impl DemoChild {
    /// Starts the API in a child process and waits until it listens. An error says what failed (exit 2).
    pub(crate) async fn start() -> Result<DemoChild, Error> {
        let fail = |what: String| {
            Error::io(
                "cannot start the reference API (--demo)",
                std::io::Error::other(what),
            )
        };
        let exe = std::env::current_exe().map_err(|e| {
            Error::io(
                "cannot start the reference API (--demo): cannot find loadgen's own executable",
                e,
            )
        })?;
        let mut cmd = Command::new(&exe);
        cmd.args([
            "--quiet",
            "serve-demo",
            "--addr",
            "127.0.0.1:0",
            "--until-stdin-closes",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
        #[cfg(unix)]
        cmd.process_group(0);
        let mut child = cmd.spawn().map_err(|e| {
            Error::io(
                format!(
                    "cannot start the reference API (--demo): cannot run {}",
                    exe.display()
                ),
                e,
            )
        })?;
        let Some(stdout) = child.stdout.take() else {
            return Err(fail("its output could not be read".into()));
        };
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        let read = tokio::time::timeout(START_WAIT, stdout.read_line(&mut line)).await;
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .map(str::to_string);
        let url = match (read, url) {
            (Ok(Ok(_)), Some(url)) => url,
            (read, _) => {
                let _ = child.start_kill();
                let status = match tokio::time::timeout(STOP_WAIT, child.wait()).await {
                    Ok(Ok(status)) => status.to_string(),
                    _ => "its status unknown".to_string(),
                };
                let why = match read {
                    Err(_) => format!(
                        "it printed no address within {}",
                        humantime::format_duration(START_WAIT)
                    ),
                    Ok(Err(e)) => format!("its output could not be read: {e}"),
                    Ok(Ok(0)) => format!("it ended ({status}) without printing its address"),
                    Ok(Ok(_)) => format!("it printed {:?}, not its address", line.trim_end()),
                };
                return Err(fail(why));
            }
        };
        tracing::info!(
            "reference API (--demo) in child process pid {} listening on {url}",
            child.id().unwrap_or_default()
        );
        Ok(DemoChild {
            child,
            url,
            _stdout: stdout,
        })
    }

    /// The API's base URL, e.g. `http://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> String {
        self.url.clone()
    }

    /// Stops the child: its stdin closed (it stops as on SIGTERM), waited for at most [`STOP_WAIT`], then
    /// killed and reaped.
    pub(crate) async fn stop(mut self) {
        drop(self.child.stdin.take());
        match tokio::time::timeout(STOP_WAIT, self.child.wait()).await {
            Ok(Ok(status)) if !status.success() => {
                tracing::warn!("the reference API (--demo) exited with {status}");
            }
            Ok(_) => {}
            Err(_) => {
                tracing::warn!(
                    "the reference API (--demo) did not stop within {}: killed",
                    humantime::format_duration(STOP_WAIT)
                );
                let _ = self.child.kill().await;
            }
        }
    }
}
