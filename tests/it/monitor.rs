//! `[monitor]` (issue 21 items 4 and 5): the target's own Prometheus metrics scraped during a run, against the
//! built-in API's `/metrics` and against a real exporter (Prometheus's own `/metrics`), checked against a direct
//! scrape; an endpoint that dies mid-run (a warning, a passing run); gates on monitored series; the report's
//! charts; located errors.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::util::{
    BUSY_MACHINE_VALIDITY, Demo, external_tool, loadgen, results, wait_until, write,
};

/// `GET path` on `base` (`http://host:port`) over HTTP/1.0: the body of a 200.
fn scrape(base: &str, path: &str) -> Option<String> {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.split_whitespace()
        .nth(1)
        .is_some_and(|c| c == "200")
        .then(|| body.to_string())
}

/// The value of the first sample line of `name` (with `labels` in it) in a metrics page.
fn sample(page: &str, name: &str, labels: &str) -> Option<f64> {
    page.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.split([' ', '{']).next() == Some(name) && l.contains(labels))?
        .rsplit(' ')
        .next()?
        .parse()
        .ok()
}

/// A monitored series of a results document, by key: its values.
fn values(r: &Value, key: &str) -> Vec<f64> {
    let s = r["monitor"]["series"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["key"] == key))
        .unwrap_or_else(|| panic!("no monitor series {key} in {}", r["monitor"]));
    s["points"]
        .as_array()
        .expect("points")
        .iter()
        .map(|p| p["value"].as_f64().expect("a value"))
        .collect()
}

fn scenario(host: &str, duration: &str, monitor: &str, gates: &str) -> String {
    format!(
        r#"
name = "monitored"
[target]
host = "{host}"
[load]
users = 3
spawn_rate = 10
duration = "{duration}"
[[task]]
name = "health"
path = "/health"
[gates]
success_rate = 90
{gates}
{monitor}
{BUSY_MACHINE_VALIDITY}"#
    )
}

const DEMO_MONITOR: &str = r#"
[monitor]
interval = "1s"
[[monitor.endpoint]]
name = "api"
path = "/metrics"
series = { requests = "demo_http_requests_total", memory = "process_resident_memory_bytes", cpu = "rate(process_cpu_seconds_total) * 100", in_flight = "demo_http_requests_in_flight", users = "demo_users" }
"#;

fn run_json(dir: &Path, file: &Path, code: i32, extra: &[&str]) -> (Value, crate::util::Out) {
    let json = dir.join("out.json");
    let out = loadgen([
        "run",
        &file.to_string_lossy(),
        "--json",
        &json.to_string_lossy(),
    ])
    .args(extra)
    .expect_code(code);
    (results(&json), out)
}

#[test]
fn the_demo_api_metrics_are_kept_and_agree_with_a_direct_scrape() {
    let demo = Demo::start(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(
        dir.path(),
        "m.toml",
        &scenario(&demo.url, "3s", DEMO_MONITOR, ""),
    );
    let html = dir.path().join("r.html");
    let (r, _) = run_json(
        dir.path(),
        &file,
        0,
        &["-q", "--html", &html.to_string_lossy()],
    );
    let direct = scrape(&demo.url, "/metrics").expect("the demo answers /metrics");

    let m = &r["monitor"];
    assert_eq!(m["endpoints"][0]["url"], format!("{}/metrics", demo.url));
    assert!(m["endpoints"][0]["scrapes"].as_u64() >= Some(3), "{m}");
    assert_eq!(m["endpoints"][0]["failed_scrapes"], 0, "{m}");
    assert_eq!(m["warnings"].as_array().map(Vec::len), Some(0), "{m}");
    // A counter: never down, the last stored value at most the one read after the run, which counts every
    // request loadgen sent (each answered before the run ended).
    let requests = values(&r, "api:requests");
    assert!(requests.len() >= 3, "{requests:?}");
    assert!(requests.windows(2).all(|w| w[0] <= w[1]), "{requests:?}");
    let now = sample(&direct, "demo_http_requests_total", "").expect("the counter");
    assert!(
        *requests.last().expect("a value") <= now,
        "{requests:?} then {now}"
    );
    assert!(
        now >= r["totals"]["requests"].as_f64().expect("requests"),
        "{now}"
    );
    // Memory: a plausible resident size, within a factor of the direct reading.
    let memory = values(&r, "api:memory");
    let mem_now = sample(&direct, "process_resident_memory_bytes", "").expect("memory");
    assert!(
        memory
            .iter()
            .all(|&v| v > 1e6 && v < mem_now * 4.0 && v > mem_now / 4.0),
        "{memory:?} vs {mem_now}"
    );
    // CPU percent from a rate: one value less than the scrapes (the first has nothing to compare with).
    let cpu = values(&r, "api:cpu");
    assert!(
        !cpu.is_empty() && cpu.iter().all(|&v| (0.0..=100.0 * 64.0).contains(&v)),
        "{cpu:?}"
    );
    // The scrape itself is in flight when it reads the gauge.
    assert!(values(&r, "api:in_flight").iter().all(|&v| v >= 1.0));
    assert_eq!(
        values(&r, "api:users").iter().copied().fold(0.0, f64::max),
        0.0,
        "no user registers here"
    );

    // The report charts each series under the load's charts.
    let page = std::fs::read_to_string(&html).expect("the report");
    let (load, target) = (
        page.find("id=\"over-time\"").expect("the load charts"),
        page.find("id=\"monitor\"").expect("the monitor section"),
    );
    assert!(load < target);
    for (i, key) in [
        "api:cpu",
        "api:in_flight",
        "api:memory",
        "api:requests",
        "api:users",
    ]
    .iter()
    .enumerate()
    {
        assert!(
            page.contains(&format!("aria-labelledby=\"mon-{i}-t mon-{i}-d\"")),
            "chart {i}"
        );
        assert!(page.contains(&format!("{key} over time")), "{key}");
    }
}

/// A port the OS reports free now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Prometheus on loopback with a configuration that scrapes nothing, its data in `dir`; killed on drop.
struct Prometheus(Child, String);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_real_exporter_prometheus_itself_is_read_as_a_direct_scrape_reads_it() {
    let Some(prog) = external_tool("prometheus", &[&["prometheus", "--version"]]) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write(
        dir.path(),
        "prometheus.yml",
        "global:\n  scrape_interval: 1m\nscrape_configs: []\n",
    );
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log file");
    let child = Command::new(&prog[0])
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn prometheus");
    let prom = Prometheus(child, format!("http://127.0.0.1:{port}"));
    wait_until("prometheus is ready", Duration::from_secs(30), || {
        scrape(&prom.1, "/-/ready").is_some()
    });
    let demo = Demo::start(&[]);
    let monitor = format!(
        r#"
[monitor]
[[monitor.endpoint]]
name = "prom"
url = "{}/metrics"
series = {{ build = 'prometheus_build_info{{version=~".+"}}', memory = "process_resident_memory_bytes", scrapes = 'prometheus_http_requests_total{{handler="/metrics"}}', cpu = "rate(process_cpu_seconds_total)" }}
"#,
        prom.1
    );
    let file = write(
        dir.path(),
        "m.toml",
        &scenario(&demo.url, "3s", &monitor, ""),
    );
    let (r, _) = run_json(dir.path(), &file, 0, &["-q"]);
    let direct = scrape(&prom.1, "/metrics").expect("prometheus answers /metrics");

    assert_eq!(
        r["monitor"]["endpoints"][0]["failed_scrapes"], 0,
        "{}",
        r["monitor"]
    );
    assert!(values(&r, "prom:build").iter().all(|&v| v == 1.0));
    // Prometheus counts the scrapes of its /metrics: loadgen's, each counted after it was answered.
    let scrapes = values(&r, "prom:scrapes");
    assert!(
        scrapes.len() >= 3 && scrapes.windows(2).all(|w| w[0] < w[1]),
        "{scrapes:?}"
    );
    let now = sample(
        &direct,
        "prometheus_http_requests_total",
        "handler=\"/metrics\"",
    )
    .expect("the counter");
    assert!(
        *scrapes.last().expect("a value") < now,
        "{scrapes:?} then {now}"
    );
    let memory = values(&r, "prom:memory");
    let mem_now = sample(&direct, "process_resident_memory_bytes", "").expect("memory");
    assert!(
        memory
            .iter()
            .all(|&v| v > mem_now / 4.0 && v < mem_now * 4.0),
        "{memory:?} vs {mem_now}"
    );
    assert!(
        values(&r, "prom:cpu")
            .iter()
            .all(|&v| (0.0..64.0).contains(&v))
    );
}

#[test]
fn an_endpoint_that_dies_mid_run_is_a_warning_and_the_run_passes() {
    let target = Demo::start(&[]);
    let side = Demo::start(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let monitor = format!(
        "[monitor]\n[[monitor.endpoint]]\nname = \"side\"\nurl = \"{}/metrics\"\nseries = [\"demo_http_requests_total\"]\n",
        side.url
    );
    let file = write(
        dir.path(),
        "m.toml",
        &scenario(&target.url, "5s", &monitor, ""),
    );
    let json = dir.path().join("out.json");
    let run = loadgen([
        "run",
        &file.to_string_lossy(),
        "--json",
        &json.to_string_lossy(),
    ])
    .start();
    // Killed once loadgen has scraped it twice (its counter counts the scrapes).
    let side_url = side.url.clone();
    wait_until(
        "two scrapes of the side endpoint",
        Duration::from_secs(20),
        || {
            scrape(&side_url, "/metrics")
                .and_then(|p| sample(&p, "demo_http_requests_total", ""))
                .is_some_and(|n| n >= 2.0)
        },
    );
    side.kill();
    let out = run.finish(Duration::from_secs(60));
    assert_eq!(out.code, Some(0), "{}", out.dump());
    assert!(
        out.stderr.contains("warning: monitor `side`"),
        "{}",
        out.dump()
    );
    let r = results(&json);
    let m = &r["monitor"];
    assert!(
        m["endpoints"][0]["failed_scrapes"].as_u64() >= Some(1),
        "{m}"
    );
    let warning = &m["warnings"][0];
    assert_eq!(warning["endpoint"], "side");
    assert!(
        warning["message"]
            .as_str()
            .is_some_and(|w| w.contains("no answer")),
        "{m}"
    );
    assert!(!values(&r, "side:demo_http_requests_total").is_empty());
    assert_eq!(r["verdict"]["result"], "pass", "{}", r["verdict"]);
}

#[test]
fn gates_on_monitored_series_pass_and_fail_as_they_should() {
    let demo = Demo::start(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let passing = "[gates.monitor]\n\"api:memory\" = { min = 1000000, max = 100000000000 }\n\
                   [gates.steady]\nsuccess_rate = 90\n[gates.steady.monitor]\n\"api:in_flight\" = { max = 1000 }\n";
    let file = write(
        dir.path(),
        "pass.toml",
        &scenario(&demo.url, "2s", DEMO_MONITOR, passing),
    );
    let (r, _) = run_json(dir.path(), &file, 0, &["-q"]);
    let gates: Vec<&Value> = r["gates"]["results"]
        .as_array()
        .expect("gates")
        .iter()
        .filter(|g| {
            g["metric"]
                .as_str()
                .is_some_and(|m| m.starts_with("monitor_"))
        })
        .collect();
    assert_eq!(gates.len(), 3, "{}", r["gates"]);
    assert!(
        gates
            .iter()
            .all(|g| g["passed"] == true && g["measured"].is_number()),
        "{}",
        r["gates"]
    );
    assert_eq!(gates[2]["during"], "steady");

    let failing = "[gates.monitor]\n\"api:memory\" = { max = 1 }\n";
    let file = write(
        dir.path(),
        "fail.toml",
        &scenario(&demo.url, "2s", DEMO_MONITOR, failing),
    );
    let (r, out) = run_json(dir.path(), &file, 1, &[]);
    let g = &r["gates"]["results"][1];
    assert_eq!(
        (
            g["scope"].as_str(),
            g["metric"].as_str(),
            g["passed"].as_bool()
        ),
        (Some("api:memory"), Some("monitor_max"), Some(false)),
        "{g}"
    );
    assert!(g["measured"].as_f64() > Some(1e6), "{g}");
    out.stdout_has("api:memory")
        .stdout_has("Target metrics ([monitor])");
}

#[test]
fn monitor_mistakes_are_located_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (monitor, gates, message) in [
        (
            DEMO_MONITOR.replace("\"1s\"", "\"500ms\""),
            "",
            "`monitor.interval` must be from 1s",
        ),
        (
            DEMO_MONITOR.replace("demo_users\"", "demo_users{a=1}\""),
            "",
            "expected a quoted value",
        ),
        (
            DEMO_MONITOR.replace("path = \"/metrics\"", "url = \"https://x/metrics\""),
            "",
            "only http://",
        ),
        (
            DEMO_MONITOR.to_string(),
            "[gates.monitor]\n\"api:cpuu\" = { max = 1 }\n",
            "did you mean `api:cpu`",
        ),
        (
            DEMO_MONITOR.to_string(),
            "[gates.monitor]\n\"api:cpu\" = {}\n",
            "neither `max` nor `min`",
        ),
        (
            String::new(),
            "[gates.monitor]\n\"api:cpu\" = { max = 1 }\n",
            "unknown monitor series",
        ),
    ] {
        let file = write(
            dir.path(),
            "bad.toml",
            &scenario("http://127.0.0.1:1", "1s", &monitor, gates),
        );
        let out = loadgen(["check", &file.to_string_lossy()]).expect_code(2);
        assert!(out.stderr.contains("bad.toml:"), "{}", out.dump());
        assert!(out.stderr.contains(message), "{message}\n{}", out.dump());
    }
}

#[test]
fn the_shipped_scenarios_monitor_the_target_they_run_against() {
    let demo = Demo::start(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let base = crate::util::root().join("scenarios/baseline.toml");
    let json = dir.path().join("b.json");
    loadgen([
        "run",
        &base.to_string_lossy(),
        "--host",
        &demo.url,
        "-u",
        "2",
        "-t",
        "2s",
        "-q",
        "--json",
        &json.to_string_lossy(),
    ])
    .run();
    let r = results(&json);
    assert_eq!(
        r["monitor"]["endpoints"][0]["url"],
        format!("{}/metrics", demo.url)
    );
    assert!(!values(&r, "api:memory").is_empty(), "{}", r["monitor"]);
}
