//! Live metrics scraped by a real Prometheus (`--metrics-addr`), the Grafana dashboard's queries against what a run
//! serves, and the endpoint's start-up errors.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{BUSY_MACHINE_VALIDITY, Demo, external_tool, loadgen, root, wait_bounded, write};

/// A port the OS reports free now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// `GET path` on `127.0.0.1:port` over HTTP/1.0 (no chunking, the server closes): (status, body).
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}

/// A Prometheus server on loopback scraping `target` every second; killed on drop.
struct Prometheus {
    child: Child,
    port: u16,
}

impl Prometheus {
    fn start(prog: &str, dir: &Path, target: u16) -> Prometheus {
        let config = write(
            dir,
            "prometheus.yml",
            &format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: loadgen\n    \
                 scrape_interval: 1s\n    scrape_timeout: 1s\n    honor_labels: true\n    static_configs:\n      - \
                 targets: ['127.0.0.1:{target}']\n"
            ),
        );
        let port = free_port();
        let log = std::fs::File::create(dir.join("prometheus.log")).expect("prometheus log file");
        let child = Command::new(prog)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn prometheus");
        let p = Prometheus { child, port };
        let start = Instant::now();
        while http_get(port, "/-/ready").map(|r| r.0) != Some(200) {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "prometheus not ready after 30 s:\n{}",
                std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // Prometheus hands discovered targets to its scrapers after about 5 s: wait for that, so the whole run is
        // scraped.
        while !http_get(port, "/api/v1/targets?state=active")
            .is_some_and(|(_, body)| body.contains(&format!("127.0.0.1:{target}")))
        {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "prometheus has no target after 30 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        p
    }

    /// The value of a query that yields one sample, `None` while it yields none.
    fn query(&self, q: &str) -> Option<f64> {
        let q: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
        let (status, body) = http_get(self.port, &format!("/api/v1/query?query={q}"))?;
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("prometheus answers JSON");
        assert_eq!(v["status"], "success", "{body}");
        let result = v["data"]["result"].as_array()?;
        assert!(result.len() <= 1, "{body}");
        result.first()?["value"][1].as_str()?.parse().ok()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn prometheus_scrapes_the_counters_during_the_run_and_the_final_count_after_it() {
    let Some(prog) = external_tool("prometheus", &[&["prometheus", "--version"]]) else {
        return;
    };
    let demo = Demo::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "live.toml",
        &format!(
            r#"
name = "live \"metrics\""
[target]
host = "{}"
[load]
arrival_rate = 100
max_users = 20
duration = "6s"
[[task]]
name = "health"
path = "/health"
{BUSY_MACHINE_VALIDITY}"#,
            demo.url
        ),
    );
    let metrics = free_port();
    let prom = Prometheus::start(&prog[0], dir.path(), metrics);
    let json = dir.path().join("live.json");
    let (mut child, shown) = loadgen([
        "run",
        &file.to_string_lossy(),
        "-q",
        "--json",
        &json.to_string_lossy(),
        "--metrics-addr",
        &format!("127.0.0.1:{metrics}"),
        // The default grace period, 5 s, is what the last scrapes below have.
    ])
    .spawn();

    // During the run: the counter, as Prometheus stored it, grows.
    let requests = "sum(loadgen_requests_total{job=\"loadgen\",scenario=\"live \\\"metrics\\\"\"})";
    let start = Instant::now();
    let mut seen: Vec<f64> = Vec::new();
    while seen.len() < 2 || seen[0] >= seen[seen.len() - 1] {
        assert!(
            child.try_wait().unwrap().is_none(),
            "loadgen ended before the counter was seen growing: {seen:?}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "no growing counter within 15 s: {seen:?}"
        );
        if let Some(v) = prom.query(requests).filter(|v| *v > 0.0) {
            seen.push(v);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(
        prom.query("max(loadgen_running{job=\"loadgen\"})"),
        Some(1.0)
    );

    // After the run (the results file is written before the grace period): the last scrape has the final count.
    let results = loop {
        assert!(start.elapsed() < Duration::from_secs(30), "no results file");
        if let Some(r) = std::fs::read_to_string(&json)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        {
            break r;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let total = results["totals"]["requests"].as_u64().unwrap() as f64;
    assert!(total > 400.0, "100/s for 6 s: {total}");
    let grace = Instant::now();
    while prom.query("max(loadgen_running{job=\"loadgen\"})") != Some(0.0) {
        assert!(
            grace.elapsed() < Duration::from_secs(8),
            "the grace period was not scraped"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The snapshot of the finished run is published before `loadgen_running` turns 0: the count is final.
    let last = prom.query(requests).unwrap();
    assert!(
        (last - total).abs() < 1.0,
        "Prometheus has {last}, the results {total}"
    );
    let count = prom
        .query("sum(loadgen_request_duration_seconds_count{job=\"loadgen\"})")
        .unwrap();
    assert_eq!(count, total, "every /health request has a latency");
    let p95 = prom
        .query("histogram_quantile(0.95, sum by (le) (loadgen_request_duration_seconds_bucket{job=\"loadgen\"}))")
        .unwrap();
    assert!(p95 > 0.0 && p95 < 1.0, "p95 {p95} s");

    // The grace period ends on its own and the run's verdict is the exit code.
    let out = wait_bounded(child, shown, Duration::from_secs(20));
    assert_eq!(out.code, Some(0), "{}", out.dump());
    drop(prom);
}

#[test]
fn a_metrics_port_in_use_is_an_error_before_any_traffic() {
    let demo = Demo::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "busy.toml",
        &format!(
            "name = \"busy\"\n[target]\nhost = \"{}\"\n[load]\nusers = 1\nduration = \"30s\"\n[[task]]\nname = \
             \"health\"\npath = \"/health\"\n",
            demo.url
        ),
    );
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let json = dir.path().join("busy.json");
    let started = Instant::now();
    let out = loadgen([
        "run",
        &file.to_string_lossy(),
        "--json",
        &json.to_string_lossy(),
        "--metrics-addr",
        &addr,
    ])
    .expect_code(2);
    out.stderr_has("cannot serve metrics on")
        .stderr_has("--metrics-addr");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "failed at once, not after the run"
    );
    assert!(
        std::fs::read_to_string(&json).map_or(true, |t| t.is_empty()),
        "no results: nothing ran"
    );

    loadgen([
        "run",
        &file.to_string_lossy(),
        "--metrics-addr",
        "localhost",
    ])
    .expect_code(2)
    .stderr_has("--metrics-addr");
    loadgen(["run", &file.to_string_lossy(), "--metrics-grace", "1s"])
        .expect_code(2)
        .stderr_has("--metrics-addr");
}

/// The label names of a sample line of the text format (`name{a="x",b="y\"z"} 1`).
fn sample_labels(line: &str) -> (&str, BTreeSet<String>) {
    let Some((name, mut rest)) = line.split_once('{') else {
        return (line.split(' ').next().unwrap_or(line), BTreeSet::new());
    };
    let mut labels = BTreeSet::new();
    while let Some((label, value)) = rest.split_once("=\"") {
        labels.insert(label.trim_start_matches(',').to_string());
        // The value ends at the first quote that is not escaped.
        let mut escaped = false;
        let end = value
            .char_indices()
            .find(|&(_, c)| {
                let closes = c == '"' && !escaped;
                escaped = c == '\\' && !escaped;
                closes
            })
            .map_or(value.len(), |(i, _)| i);
        rest = value.get(end + 1..).unwrap_or("");
        if rest.starts_with('}') {
            break;
        }
    }
    (name, labels)
}

/// Every `expr` of the dashboard's panels.
fn panel_queries(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match v.as_str() {
                    Some(q) if k == "expr" => out.push(q.to_string()),
                    _ => panel_queries(v, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| panel_queries(v, out)),
        _ => {}
    }
}

/// The `loadgen_…` names of a query.
fn query_metrics(q: &str) -> Vec<&str> {
    q.match_indices("loadgen_")
        .map(|(i, _)| {
            let tail = &q[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            &tail[..end]
        })
        .collect()
}

/// The labels of a query's `by (…)` clauses.
fn grouped_labels(q: &str) -> Vec<&str> {
    q.match_indices("by (")
        .filter_map(|(i, m)| q[i + m.len()..].split_once(')'))
        .flat_map(|(labels, _)| labels.split(','))
        .map(str::trim)
        .collect()
}

/// The dashboard's panels query what loadgen serves, checked on a real run with a flow (whose families are only
/// served when a scenario has flows), an arrival rate (likewise its gauges) and a failing step: every metric a panel
/// queries is served, with every label the panel groups by.
#[test]
fn the_dashboard_panels_query_what_a_run_with_a_flow_serves() {
    let demo = Demo::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "flows.toml",
        &format!(
            r#"
name = "flows"
[target]
host = "{}"
[load]
arrival_rate = 20
max_users = 5
duration = "2s"
[[task]]
name = "health"
path = "/health"
[[task]]
name = "check"
[[task.steps]]
name = "check_health"
path = "/health"
[[task.steps]]
name = "check_created"
path = "/health"
expect = {{ status = [201] }}
{BUSY_MACHINE_VALIDITY}"#,
            demo.url
        ),
    );
    let port = free_port();
    let (child, shown) = loadgen([
        "run",
        &file.to_string_lossy(),
        "-q",
        "--metrics-addr",
        &format!("127.0.0.1:{port}"),
    ])
    .spawn();
    // The final figures, served in the grace period after the run (5 s by default).
    let start = Instant::now();
    let text = loop {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no final figures on /metrics"
        );
        if let Some((200, body)) = http_get(port, "/metrics")
            && body
                .lines()
                .any(|l| l.starts_with("loadgen_running{") && l.ends_with(" 0"))
        {
            break body;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = wait_bounded(child, shown, Duration::from_secs(20));
    // No gates, and a request that fails by design: the run fails (exit 1).
    assert_eq!(out.code, Some(1), "{}", out.dump());

    let mut served: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (name, labels) = sample_labels(line);
        served.entry(name).or_default().extend(labels);
    }
    for flow in ["loadgen_flows_total", "loadgen_flow_failures_total"] {
        assert!(
            served.contains_key(flow),
            "the run serves no {flow}:\n{text}"
        );
    }

    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("deploy/grafana/loadgen-dashboard.json")).unwrap(),
    )
    .unwrap();
    let mut queries = Vec::new();
    panel_queries(&dashboard["panels"], &mut queries);
    let mut used = BTreeSet::new();
    for q in &queries {
        for metric in query_metrics(q) {
            // The CPU gauge is measured on Linux only.
            if metric == "loadgen_cpu_ratio" && !cfg!(target_os = "linux") {
                continue;
            }
            let labels = served.get(metric).unwrap_or_else(|| {
                panic!("a panel queries {metric}, which the run does not serve: {q}")
            });
            for label in grouped_labels(q) {
                assert!(
                    labels.contains(label),
                    "a panel groups {metric} by {label}, a label it does not have ({labels:?}): {q}"
                );
            }
            used.insert(metric);
        }
    }
    for flow in [
        "loadgen_flows_total",
        "loadgen_flow_failures_total",
        "loadgen_flow_duration_seconds_bucket",
    ] {
        assert!(used.contains(flow), "no panel shows {flow}");
    }
}
