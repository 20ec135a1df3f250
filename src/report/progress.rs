//! The live progress on stderr: on a terminal, a progress bar (elapsed / duration, users, requests/s, p95,
//! failure %) redrawn every second; when stderr is not a terminal (a CI log, a file), a plain status line every
//! `--progress-interval` (10 s by default, 0 for none), so a long run's log is not silent:
//!
//! `[00:40/05:00] users 100/100 · 412 req/s · p95 23 ms · failures 0.0 %`
//!
//! The plain line's rate, p95 and failure share are over the interval since the previous line.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::time::Duration;

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use std::io::Write;

use crate::engine::Observer;
use crate::engine::observe::{Background, OffTask, Totals};
use crate::metrics::{Collector, SeriesPoint, ms, new_histogram};
use crate::results::stats::failure_pct;

pub struct Progress {
    bar: ProgressBar,
    target_users: u64,
    /// The plain status line (stderr is not a terminal), written by a thread of its own: a CI log on a pipe
    /// that stops being read blocks that thread, never the scheduler.
    plain: Option<OffTask>,
    /// The run is stopping: no status line for the stop phase (the seconds queued before still come out).
    stopping: bool,
}

/// The plain status lines' writer, off the scheduler.
struct PlainLines<W: Write + Send + 'static> {
    plain: Plain,
    target_users: u64,
    out: W,
}

impl<W: Write + Send + 'static> Background for PlainLines<W> {
    fn seconds(&mut self, points: &[SeriesPoint], _: &Totals) {
        for p in points {
            if let Some(line) = self.plain.tick(p, self.target_users) {
                let _ = writeln!(self.out, "{line}");
            }
        }
    }
}

/// Starts the plain status lines' thread, writing to `out`.
fn plain_lines(
    plain: Plain,
    target_users: u64,
    out: impl Write + Send + 'static,
) -> Option<OffTask> {
    let sink = PlainLines {
        plain,
        target_users,
        out,
    };
    match OffTask::start("progress", sink) {
        Ok(off) => Some(off),
        Err(e) => {
            tracing::warn!("no progress lines: cannot start their thread ({e})");
            None
        }
    }
}

/// The plain status lines: what the interval since the last line saw.
struct Plain {
    every: f64,
    duration: Duration,
    /// Elapsed seconds at the last line.
    last: f64,
    requests: u64,
    failures: u64,
    latency: Histogram<u64>,
}

impl Progress {
    /// The progress for a run of `duration`: a bar when `enabled` and stderr is a terminal, plain lines every
    /// `every` when enabled and it is not (none when `every` is 0).
    pub fn new(duration: Duration, target_users: u64, enabled: bool, every: Duration) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let target = if enabled && terminal {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(duration.as_secs().max(1)), target);
        let style = ProgressStyle::with_template("{elapsed_precise} / {prefix} [{bar:24}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(humantime::format_duration(duration).to_string());
        let plain = (enabled && !terminal && !every.is_zero()).then(|| Plain {
            every: every.as_secs_f64(),
            duration,
            last: 0.0,
            requests: 0,
            failures: 0,
            latency: new_histogram(),
        });
        Progress {
            bar,
            target_users,
            plain: plain.and_then(|p| plain_lines(p, target_users, std::io::stderr())),
            stopping: false,
        }
    }

    /// Clears the bar, and waits for the status lines still queued (so none comes after the summary).
    pub async fn finish(self) {
        self.bar.finish_and_clear();
        if let Some(off) = self.plain {
            off.finish().await;
        }
    }
}

/// `mm:ss`, or `h:mm:ss` from an hour.
fn clock(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{:02}:{:02}", s / 60, s % 60)
    }
}

impl Plain {
    /// Adds a second to the interval; the line when the interval is complete.
    fn tick(&mut self, p: &SeriesPoint, target_users: u64) -> Option<String> {
        self.requests += p.requests;
        self.failures += p.failures;
        if let Some(h) = &p.hdr {
            let _ = self.latency.add(h.histogram());
        }
        // A little slack: ticks land a few ms either side of the whole second.
        if p.elapsed_s - self.last + 0.05 < self.every {
            return None;
        }
        let span = (p.elapsed_s - self.last).max(1e-3);
        let mut line = format!(
            "[{}/{}] users {}/{} · {:.0} req/s · p95 ",
            clock(p.elapsed_s),
            clock(self.duration.as_secs_f64()),
            p.users,
            target_users,
            self.requests as f64 / span
        );
        if self.latency.is_empty() {
            line.push('-');
        } else {
            let _ = write!(
                line,
                "{} ms",
                crate::report::console::fmt_ms(ms(self.latency.value_at_quantile(0.95)))
            );
        }
        let _ = write!(
            line,
            " · failures {:.1} %",
            failure_pct(self.requests, self.failures)
        );
        self.last = p.elapsed_s;
        self.requests = 0;
        self.failures = 0;
        self.latency.reset();
        Some(line)
    }
}

impl Observer for Progress {
    fn tick(&mut self, p: &SeriesPoint, totals: &Collector) {
        if let Some(off) = &mut self.plain {
            if !self.stopping {
                off.tick(p, totals);
            }
            return;
        }
        let (requests, failures) = totals.running_totals();
        let fail_pct = failure_pct(requests, failures);
        self.bar.set_position(p.elapsed_s as u64);
        self.bar.set_message(format!(
            "users {}/{}  {:.0} req/s  p95 {}  failures {:.2}%",
            p.users,
            self.target_users,
            p.rps,
            p.p95_ms.map_or_else(|| "-".into(), |v| format!("{v:.1}ms")),
            fail_pct
        ));
    }

    fn stopping(&mut self) {
        // The stop phase (users finishing, on_stop) is not part of the plan: no status line for it.
        self.stopping = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(elapsed_s: f64, requests: u64, failures: u64, latency_us: u64) -> SeriesPoint {
        let mut h = new_histogram();
        h.record_n(latency_us, requests).unwrap();
        SeriesPoint {
            timestamp: 0,
            users: 10,
            target_users: 10,
            requests,
            failures,
            rps: requests as f64,
            failures_per_s: failures as f64,
            hdr: crate::results::Hist::of_some(&h),
            ..crate::results::fixtures::point(elapsed_s)
        }
    }

    /// A writer stuck in its first write until released, then keeping every line.
    struct Stuck {
        release: std::sync::mpsc::Receiver<()>,
        entered: std::sync::mpsc::Sender<()>,
        lines: std::sync::Arc<std::sync::Mutex<String>>,
        first: bool,
    }
    impl Write for Stuck {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.first {
                self.first = false;
                let _ = self.entered.send(());
                let _ = self.release.recv();
            }
            self.lines
                .lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(buf));
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A CI log that stops being read (stderr a pipe nobody drains) blocks the status lines' thread, never the
    /// scheduler's ticks; the lines come out in order once it is read again, none for the stop phase.
    #[tokio::test]
    async fn a_blocked_log_never_delays_the_ticks() {
        let (release, released) = std::sync::mpsc::channel();
        let (entered_tx, entered) = std::sync::mpsc::channel();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let plain = Plain {
            every: 1.0,
            duration: Duration::from_secs(300),
            last: 0.0,
            requests: 0,
            failures: 0,
            latency: new_histogram(),
        };
        let writer = Stuck {
            release: released,
            entered: entered_tx,
            lines: lines.clone(),
            first: true,
        };
        let mut progress = Progress {
            bar: ProgressBar::hidden(),
            target_users: 10,
            plain: plain_lines(plain, 10, writer),
            stopping: false,
        };
        let collector = Collector::new(1, std::time::Instant::now());
        progress.tick(&point(1.0, 10, 0, 1_000), &collector);
        entered
            .recv_timeout(Duration::from_secs(10))
            .expect("the first line reached the writer");
        // The ticks run on a thread of their own so that, were they to wait for the writer, this test fails
        // instead of hanging.
        let (done_tx, done) = std::sync::mpsc::channel();
        let ticker = std::thread::spawn(move || {
            for s in 2..=100 {
                progress.tick(&point(s as f64, 10, 0, 1_000), &collector);
            }
            progress.stopping();
            progress.tick(&point(101.0, 10, 0, 1_000), &collector);
            let _ = done_tx.send(());
            progress
        });
        done.recv_timeout(Duration::from_secs(10))
            .expect("100 ticks went through while the log was blocked");
        let progress = ticker.join().unwrap();
        release.send(()).unwrap();
        progress.finish().await;
        let lines = lines.lock().unwrap();
        let seconds: Vec<&str> = lines
            .lines()
            .map(|l| l.split(']').next().unwrap_or(""))
            .collect();
        assert_eq!(seconds.first(), Some(&"[00:01/05:00"), "{lines}");
        assert!(
            seconds.len() == 100 && !lines.contains("01:41"),
            "in order, none for the stop phase: {lines}"
        );
        assert!(seconds.windows(2).all(|w| w[0] < w[1]), "{lines}");
    }

    #[test]
    fn a_plain_line_sums_up_each_interval() {
        let mut plain = Plain {
            every: 2.0,
            duration: Duration::from_secs(300),
            last: 0.0,
            requests: 0,
            failures: 0,
            latency: new_histogram(),
        };
        assert_eq!(plain.tick(&point(1.001, 100, 0, 5_000), 10), None);
        assert_eq!(
            plain.tick(&point(1.998, 300, 4, 20_000), 10).as_deref(),
            Some("[00:02/05:00] users 10/10 · 200 req/s · p95 20.0 ms · failures 1.0 %")
        );
        // The next interval starts empty.
        assert_eq!(plain.tick(&point(3.0, 0, 0, 1), 10), None);
        assert_eq!(
            plain.tick(&point(4.0, 0, 0, 1), 10).as_deref(),
            Some("[00:04/05:00] users 10/10 · 0 req/s · p95 - · failures 0.0 %")
        );
        assert_eq!(clock(3725.0), "1:02:05");
    }
}
