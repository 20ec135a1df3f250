//! `GET /metrics` of the built-in API (issue 21 item 4): its own figures in the Prometheus text exposition
//! format, so the shipped scenarios can `[monitor]` it: process CPU seconds and resident memory (read from
//! `/proc/self`, Linux only; absent elsewhere), requests in flight and served, and the store's size (users,
//! tokens issued, tokens revoked). The endpoint itself is never delayed nor failed by the fault knobs.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// The counters the handler keeps for `/metrics`.
#[derive(Default)]
pub(crate) struct Counters {
    pub in_flight: AtomicU64,
    pub served: AtomicU64,
    pub tokens_issued: AtomicU64,
}

/// Counts a request in flight until dropped, then as served.
pub(crate) struct InFlight<'a>(&'a Counters);

impl<'a> InFlight<'a> {
    pub fn new(c: &'a Counters) -> InFlight<'a> {
        c.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(c)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.served.fetch_add(1, Ordering::Relaxed);
    }
}

/// The process's CPU time (user + system) in seconds, from `/proc/self/stat` (in USER_HZ, 100 on Linux).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces: the fields start after its closing parenthesis.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// The resident set size in bytes, from `/proc/self/status` (`VmRSS`, in kB).
fn resident_bytes() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0)
}

/// The page: `users` registered and `revoked` tokens held in the store.
pub(crate) fn render(c: &Counters, users: usize, revoked: usize, uptime_s: f64) -> String {
    let mut s = String::with_capacity(2048);
    let mut metric = |name: &str, kind: &str, help: &str, value: f64| {
        let _ = write!(
            s,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        );
    };
    if let Some(v) = cpu_seconds() {
        metric(
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            v,
        );
    }
    if let Some(v) = resident_bytes() {
        metric(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            v,
        );
    }
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
    metric(
        "demo_uptime_seconds",
        "gauge",
        "Seconds since the API started.",
        uptime_s,
    );
    metric(
        "demo_http_requests_in_flight",
        "gauge",
        "Requests being answered now (this scrape included).",
        get(&c.in_flight),
    );
    metric(
        "demo_http_requests_total",
        "counter",
        "Requests answered.",
        get(&c.served),
    );
    metric(
        "demo_users",
        "gauge",
        "Users registered in the store.",
        users as f64,
    );
    metric(
        "demo_tokens_issued_total",
        "counter",
        "Access tokens issued (login and refresh).",
        get(&c.tokens_issued),
    );
    metric(
        "demo_tokens_revoked",
        "gauge",
        "Revoked tokens held until they expire.",
        revoked as f64,
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_the_text_format_with_the_process_figures() {
        let c = Counters::default();
        {
            let _a = InFlight::new(&c);
            let page = render(&c, 3, 1, 2.5);
            let (samples, bad) = crate::monitor::expo::parse(&page);
            assert_eq!(bad, 0);
            let v = |n: &str| samples.iter().find(|s| s.name == n).map(|s| s.value);
            assert_eq!(v("demo_http_requests_in_flight"), Some(1.0));
            assert_eq!(v("demo_users"), Some(3.0));
            assert_eq!(v("demo_tokens_revoked"), Some(1.0));
            if cfg!(target_os = "linux") {
                assert!(v("process_cpu_seconds_total").is_some_and(|x| x >= 0.0));
                assert!(v("process_resident_memory_bytes").is_some_and(|x| x > 1e6));
            }
        }
        assert_eq!(c.served.load(Ordering::Relaxed), 1);
        assert_eq!(c.in_flight.load(Ordering::Relaxed), 0);
    }
}
