use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use super::*;
use crate::metrics::{Outcome, Shard};

/// Statistics of one request name after recording `latencies_ms` (status 200) and `extra` outcomes.
fn stats(latencies_ms: &[f64], extra: &[Outcome<'_>]) -> StepStats {
    let mut shard = Shard::new(1);
    for ms in latencies_ms {
        shard.record(
            0,
            &Outcome {
                latency: Some(Duration::from_secs_f64(ms / 1000.0)),
                ttfb: None,
                status: Some(200),
                bytes: 0,
                failure: None,
                client: Default::default(),
                delay: None,
            },
        );
    }
    for o in extra {
        shard.record(0, o);
    }
    shard.steps.remove(0)
}

fn snapshot(requests: Vec<RequestSnapshot>) -> Snapshot {
    Snapshot {
        scenario: "auth \"v2\"".into(),
        run_id: "0badf00d".into(),
        running: true,
        elapsed_s: 3.0,
        users: 10,
        target_users: 20,
        request_rate: 123.5,
        arrival: None,
        iterations: 0,
        dropped: 0,
        lag_s: 0.002,
        cpu_ratio: Some(0.25),
        requests,
        flows: Vec::new(),
    }
}

/// A parsed sample: name, labels, value.
type Sample = (String, Vec<(String, String)>, f64);

/// A sample line: name, labels, value. Panics on anything the 0.0.4 text format does not allow.
fn parse_sample(line: &str) -> Sample {
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or_else(|| panic!("no value: {line}"));
    let name = &line[..name_end];
    assert!(
        name.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_'),
        "{line}"
    );
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        rest = r;
        loop {
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let eq = rest
                .find('=')
                .unwrap_or_else(|| panic!("label without =: {line}"));
            let label = &rest[..eq];
            assert!(
                label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{line}"
            );
            rest = rest[eq + 1..]
                .strip_prefix('"')
                .unwrap_or_else(|| panic!("{line}"));
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let end = loop {
                let (i, c) = chars
                    .next()
                    .unwrap_or_else(|| panic!("unterminated: {line}"));
                match c {
                    '\\' => match chars.next().map(|(_, c)| c) {
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('n') => value.push('\n'),
                        other => panic!("bad escape {other:?}: {line}"),
                    },
                    '"' => break i,
                    '\n' => panic!("raw line feed: {line}"),
                    c => value.push(c),
                }
            };
            labels.push((label.to_string(), value));
            rest = &rest[end + 1..];
            rest = rest.strip_prefix(',').unwrap_or(rest);
        }
    }
    let v = rest.strip_prefix(' ').unwrap_or_else(|| panic!("{line}"));
    let v = match v {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v
            .parse()
            .unwrap_or_else(|_| panic!("bad value {v:?}: {line}")),
    };
    (name.to_string(), labels, v)
}

fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(parse_sample)
        .collect()
}

fn label<'a>(labels: &'a [(String, String)], k: &str) -> Option<&'a str> {
    labels.iter().find(|(l, _)| l == k).map(|(_, v)| v.as_str())
}

#[test]
fn text_is_valid_exposition_with_one_help_and_type_per_family() {
    let s = stats(&[2.0, 30.0], &[]);
    let text = render(&snapshot(vec![RequestSnapshot::of("login", "POST", &s)]));
    assert!(text.ends_with('\n'));
    let mut typed = HashMap::new();
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let mut parts = line.split(' ').skip(2);
        let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
        assert!(
            typed.insert(name.to_string(), kind.to_string()).is_none(),
            "{name} typed twice"
        );
    }
    for (name, labels, _) in samples(&text) {
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| typed.get(*f).is_some_and(|k| k == "histogram"))
            })
            .unwrap_or(&name);
        assert!(typed.contains_key(family), "{name} has no TYPE line");
        assert_eq!(label(&labels, "scenario"), Some("auth \"v2\""), "{name}");
        assert_eq!(label(&labels, "run_id"), Some("0badf00d"), "{name}");
    }
    // The families without an arrival rate or flows: all but the two arrival gauges and the flow families.
    for m in METRICS {
        let absent =
            m.name.starts_with("loadgen_arrival_rate") || m.name.starts_with("loadgen_flow");
        assert_eq!(typed.contains_key(m.name), !absent, "{}", m.name);
    }
    assert!(text.contains(
        "loadgen_requests_total{scenario=\"auth \\\"v2\\\"\",run_id=\"0badf00d\",name=\"login\",method=\"POST\",status=\"200\"} 2\n"
    ));
    assert!(
        text.contains("loadgen_cpu_ratio{scenario=\"auth \\\"v2\\\"\",run_id=\"0badf00d\"} 0.25\n")
    );
    assert!(text.contains("# TYPE loadgen_request_duration_seconds histogram\n"));
}

#[test]
fn label_values_are_escaped() {
    assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
    assert_eq!(escape_label("line\nbreak"), "line\\nbreak");
    assert_eq!(escape_label("plain / ünïcode"), "plain / ünïcode");
    let s = stats(&[1.0], &[]);
    let name = "get \"user\"\n\\profile";
    let text = render(&snapshot(vec![RequestSnapshot::of(name, "GET", &s)]));
    let parsed = samples(&text);
    let req = parsed
        .iter()
        .find(|(n, _, _)| n == "loadgen_requests_total")
        .unwrap();
    assert_eq!(
        label(&req.1, "name"),
        Some(name),
        "round-trips through the escapes"
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.contains("get \\\"user\\\"\\n\\\\profile"))
            .count(),
        20
    );
}

#[test]
fn buckets_are_cumulative_and_inf_is_the_count() {
    let failed = Outcome {
        latency: Some(Duration::from_millis(40_000)),
        ttfb: None,
        status: None,
        bytes: 0,
        failure: Some((FailureKind::Timeout, "timed out")),
        client: Default::default(),
        delay: None,
    };
    let never_sent = Outcome {
        latency: None,
        ttfb: None,
        status: None,
        bytes: 0,
        failure: Some((FailureKind::Other, "cannot build the request")),
        client: Default::default(),
        delay: None,
    };
    let s = stats(
        &[0.5, 0.9, 3.0, 49.0, 150.0, 150.0, 999.0],
        &[failed, never_sent],
    );
    let r = RequestSnapshot::of("search", "GET", &s);
    assert_eq!(r.count, 8, "the request never sent has no latency");
    let text = render(&snapshot(vec![r.clone()]));
    let buckets: Vec<(String, f64)> = samples(&text)
        .into_iter()
        .filter(|(n, _, _)| n == "loadgen_request_duration_seconds_bucket")
        .map(|(_, l, v)| (label(&l, "le").unwrap().to_string(), v))
        .collect();
    assert_eq!(buckets.len(), BUCKETS.len() + 1);
    assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{buckets:?}");
    let bounds: Vec<f64> = buckets
        .iter()
        .map(|(le, _)| le.parse::<f64>().unwrap())
        .collect();
    assert!(bounds.windows(2).all(|w| w[0] < w[1]), "{bounds:?}");
    assert_eq!(buckets.last().unwrap(), &("+Inf".to_string(), 8.0));
    let at = |le: &str| buckets.iter().find(|(l, _)| l == le).unwrap().1;
    assert_eq!(at("0.001"), 2.0);
    assert_eq!(at("0.005"), 3.0);
    assert_eq!(at("0.05"), 4.0);
    assert_eq!(at("0.2"), 6.0);
    assert_eq!(at("1"), 7.0);
    assert_eq!(at("30"), 7.0, "the 40 s timeout is only under +Inf");
    let sum = samples(&text)
        .into_iter()
        .find(|(n, _, _)| n == "loadgen_request_duration_seconds_sum")
        .unwrap()
        .2;
    let exact = (0.5 + 0.9 + 3.0 + 49.0 + 150.0 + 150.0 + 999.0 + 40_000.0) / 1000.0;
    assert!((sum - exact).abs() < exact * 0.001, "{sum} vs {exact}");
    assert!(text.contains(",status=\"200\"} 7\n"));
    assert!(text.contains(",status=\"none\"} 2\n"), "{text}");
    assert!(text.contains(",reason=\"other\"} 1\n"));
    assert!(text.contains(",reason=\"timeout\"} 1\n"));
}

#[test]
fn arrival_gauges_only_with_an_arrival_rate() {
    let mut s = snapshot(vec![]);
    s.arrival = Some((200.0, 198.5));
    s.dropped = 3;
    s.running = false;
    let text = render(&s);
    assert!(text.contains(
        "loadgen_arrival_rate_target{scenario=\"auth \\\"v2\\\"\",run_id=\"0badf00d\"} 200\n"
    ));
    assert!(text.contains("} 198.5\n"));
    assert!(text.contains(
        "loadgen_dropped_iterations_total{scenario=\"auth \\\"v2\\\"\",run_id=\"0badf00d\"} 3\n"
    ));
    assert!(text.contains("loadgen_running{scenario=\"auth \\\"v2\\\"\",run_id=\"0badf00d\"} 0\n"));
    assert_eq!(value(f64::INFINITY), "+Inf");
    assert_eq!(value(f64::NAN), "NaN");
    assert_eq!(value(0.0025), "0.0025");
}

/// Every `loadgen_…` name in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("loadgen_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

/// Every PromQL query of the dashboard: panel targets and variable queries.
fn dashboard_queries(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("expr", serde_json::Value::String(q)) => out.push(q.clone()),
                    ("query", serde_json::Value::String(q)) => out.push(q.clone()),
                    ("query", serde_json::Value::Object(q)) => {
                        if let Some(q) = q.get("query").and_then(|q| q.as_str()) {
                            out.push(q.to_string());
                        }
                    }
                    _ => dashboard_queries(v, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| dashboard_queries(v, out)),
        _ => {}
    }
}

#[test]
fn the_dashboard_queries_only_metrics_loadgen_exports() {
    let text = include_str!("../../../deploy/grafana/loadgen-dashboard.json");
    let dashboard: serde_json::Value = serde_json::from_str(text).unwrap();
    let mut queries = Vec::new();
    dashboard_queries(&dashboard, &mut queries);
    let exported: BTreeSet<String> = series_names().into_iter().collect();
    let mut used = BTreeSet::new();
    for q in &queries {
        for name in metric_names(q) {
            assert!(
                exported.contains(&name),
                "the dashboard queries {name}, which loadgen does not export: {q}"
            );
            used.insert(name);
        }
    }
    for needed in [
        "loadgen_users",
        "loadgen_target_users",
        "loadgen_requests_total",
        "loadgen_failures_total",
        "loadgen_request_duration_seconds_bucket",
        "loadgen_flows_total",
        "loadgen_flow_failures_total",
        "loadgen_flow_duration_seconds_bucket",
        "loadgen_dropped_iterations_total",
        "loadgen_scheduler_lag_seconds",
        "loadgen_cpu_ratio",
    ] {
        assert!(
            used.contains(needed),
            "the dashboard does not show {needed}"
        );
    }
    // Both variables, and every panel filtered by them.
    let vars: Vec<&str> = dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    for v in ["datasource", "scenario", "run_id"] {
        assert!(vars.contains(&v), "{vars:?}");
    }
    for q in queries
        .iter()
        .filter(|q| q.contains("loadgen_") && !q.starts_with("label_values"))
    {
        assert!(
            q.contains("run_id=~\"$run_id\"") && q.contains("scenario=~\"$scenario\""),
            "{q}"
        );
    }
}

#[test]
fn the_docs_list_every_metric() {
    let doc = include_str!("../../../docs/monitoring.md");
    for m in METRICS {
        assert!(
            doc.contains(&format!("`{}`", m.name)),
            "docs/monitoring.md lacks {}",
            m.name
        );
    }
    let exported: BTreeSet<String> = series_names().into_iter().collect();
    for name in metric_names(doc) {
        assert!(
            exported.contains(&name),
            "docs/monitoring.md names {name}, which loadgen does not export"
        );
    }
}

#[tokio::test]
async fn the_server_serves_the_published_snapshot_and_a_port_in_use_is_an_error() {
    let published = Published::default();
    let server = MetricsServer::start("127.0.0.1:0".parse().unwrap(), published.clone())
        .await
        .unwrap();
    let url = format!("http://{}/metrics", server.local_addr());
    let client = reqwest::Client::new();
    let before = client.get(&url).send().await.unwrap();
    assert_eq!(before.status(), 200);
    assert_eq!(
        before.text().await.unwrap(),
        "",
        "no samples before the run's first snapshot"
    );
    published.set(snapshot(vec![]));
    let resp = client.get(&url).send().await.unwrap();
    assert_eq!(resp.headers()["content-type"], CONTENT_TYPE);
    assert!(resp.text().await.unwrap().contains("loadgen_users{"));
    let other = client
        .get(format!("http://{}/", server.local_addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);

    let taken = MetricsServer::start(server.local_addr(), Published::default()).await;
    let e = taken.unwrap_err();
    assert!(e.to_string().contains("--metrics-addr"), "{e}");
    server.shutdown().await;
}

#[test]
fn flows_have_families_of_their_own_without_a_method() {
    let failed = Outcome {
        latency: Some(Duration::from_millis(400)),
        ttfb: None,
        status: None,
        bytes: 0,
        failure: Some((FailureKind::Status, "step `read` failed")),
        client: Default::default(),
        delay: None,
    };
    let mut s = snapshot(vec![RequestSnapshot::of(
        "read",
        "GET",
        &stats(&[5.0], &[]),
    )]);
    s.flows = vec![RequestSnapshot::of(
        "crud",
        "FLOW",
        &stats(&[20.0, 30.0, 250.0], &[failed]),
    )];
    let text = render(&s);
    let all = samples(&text);
    let one = |name: &str, le: Option<&str>| {
        all.iter()
            .find(|(n, l, _)| n == name && label(l, "le") == le)
            .unwrap_or_else(|| panic!("no {name} {le:?} in\n{text}"))
    };
    let (_, labels, runs) = one("loadgen_flows_total", None);
    assert_eq!(
        (label(labels, "name"), label(labels, "method"), *runs),
        (Some("crud"), None, 4.0)
    );
    let (_, labels, n) = one("loadgen_flow_failures_total", None);
    assert_eq!((label(labels, "reason"), *n), (Some("status"), 1.0));
    assert_eq!(
        one("loadgen_flow_duration_seconds_bucket", Some("0.05")).2,
        2.0
    );
    assert_eq!(
        one("loadgen_flow_duration_seconds_bucket", Some("0.3")).2,
        3.0
    );
    assert_eq!(one("loadgen_flow_duration_seconds_count", None).2, 4.0);
    // The flow is not a request: the request families do not list it.
    assert!(
        all.iter()
            .filter(|(n, ..)| n.starts_with("loadgen_request"))
            .all(|(_, l, _)| label(l, "name") != Some("crud"))
    );
    // Without flows, no flow family at all.
    s.flows.clear();
    assert!(!render(&s).contains("loadgen_flow"));
}
