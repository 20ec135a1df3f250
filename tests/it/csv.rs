//! `--csv PREFIX`: Locust's four files, their layout, their agreement with the results JSON, the live refresh,
//! `loadgen report --csv` reproducing them, and a pandas analysis written for Locust running on them.

use std::path::Path;
use std::time::{Duration, Instant};

use loadgen::metrics::hdr;

use crate::util::{BUSY_MACHINE_VALIDITY, Demo, external_tool, loadgen, results, write};

fn scenario(host: &str, duration: &str) -> String {
    format!(
        r#"
name = "csv"
[target]
host = "{host}"
[load]
users = 4
spawn_rate = 20
duration = "{duration}"
[user]
wait = "20ms"
[[task]]
name = "zeta_health"
path = "/health"
weight = 3
[[task]]
name = "alpha_wrong_status"
path = "/health"
expect = {{ status = [201] }}
{BUSY_MACHINE_VALIDITY}"#
    )
}

type Table = Vec<Vec<String>>;

fn read_csv(path: &Path) -> (String, Table) {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut lines = text.split("\r\n");
    let header = lines.next().unwrap_or_default().to_string();
    let rows = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.expect("a CSV record").iter().map(String::from).collect())
        .collect();
    (header, rows)
}

fn col(header: &str, name: &str) -> usize {
    header
        .split(',')
        .position(|c| c == name)
        .unwrap_or_else(|| panic!("no column {name} in {header}"))
}

fn f(cell: &str) -> f64 {
    cell.parse()
        .unwrap_or_else(|_| panic!("not a number: {cell:?}"))
}

fn ms_at(h: &hdrhistogram::Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

#[test]
fn csv_files_have_locusts_layout_agree_with_the_results_and_are_reproduced_by_report() {
    let demo = Demo::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "csv.toml", &scenario(&demo.url, "3s"));
    let (prefix, json) = (dir.path().join("run"), dir.path().join("run.json"));
    loadgen([
        "run",
        file.to_str().unwrap(),
        "-q",
        "--json",
        json.to_str().unwrap(),
        "--csv",
        prefix.to_str().unwrap(),
        "--csv-full-history",
        // loadgen's exact values, so they can be checked against the histograms (the default, Locust's
        // formats, is compared with real Locust's files in tests/it/locust_csv.rs).
        "--csv-exact",
    ])
    // No gates and a request that fails by design: the run fails (exit 1), as Locust's would.
    .expect_code(1);
    let r = results(&json);
    let path = |suffix: &str| dir.path().join(format!("run_{suffix}.csv"));

    // stats: Locust's header, entries sorted by name, Aggregated last with an empty Type.
    let (head, stats) = read_csv(&path("stats"));
    assert_eq!(
        head,
        "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,\
         Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,\
         99.99%,100%"
    );
    let names: Vec<&str> = stats.iter().map(|row| row[1].as_str()).collect();
    assert_eq!(names, ["alpha_wrong_status", "zeta_health", "Aggregated"]);
    assert_eq!(stats[2][0], "", "Aggregated has an empty Type");
    assert_eq!(stats[0][0], "GET");
    let (count, fails, p95, p99, max) = (
        col(&head, "Request Count"),
        col(&head, "Failure Count"),
        col(&head, "95%"),
        col(&head, "99%"),
        col(&head, "100%"),
    );
    let agg = &stats[2];
    assert_eq!(
        f(&agg[count]) as u64,
        r["totals"]["requests"].as_u64().unwrap()
    );
    assert!(f(&agg[count]) > 50.0, "{agg:?}");
    assert_eq!(
        f(&stats[0][fails]),
        f(&stats[0][count]),
        "every alpha fails"
    );
    assert_eq!(f(&stats[1][fails]), 0.0);
    for row in &stats {
        assert!(f(&row[p99]) <= f(&row[max]), "p99 above max: {row:?}");
    }

    // The Aggregated row is computed from all requests together: it equals the percentiles of the merged
    // per-request histograms stored in the JSON, and the interval histograms add up to the same.
    let per_request = r["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["hdr"].as_str().unwrap());
    let all = hdr::merge(per_request).unwrap();
    assert_eq!(all.len(), r["totals"]["requests"].as_u64().unwrap());
    assert_eq!(f(&agg[p95]), ms_at(&all, 0.95));
    assert_eq!(f(&agg[p99]), ms_at(&all, 0.99));
    let intervals = r["time_series"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["hdr"].as_str());
    assert_eq!(hdr::merge(intervals).unwrap(), all);

    // history: Locust's header; every second an Aggregated row, after one row per entry seen so far.
    let (head, history) = read_csv(&path("stats_history"));
    assert_eq!(
        head,
        "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,\
         100%,Total Request Count,Total Failure Count,Total Median Response Time,Total Average Response Time,\
         Total Min Response Time,Total Max Response Time,Total Average Content Size"
    );
    let aggregated: Vec<&Vec<String>> = history
        .iter()
        .filter(|row| row[3] == "Aggregated")
        .collect();
    assert_eq!(aggregated.len(), r["time_series"].as_array().unwrap().len());
    assert!(
        history.len() > aggregated.len(),
        "full history has entry rows"
    );
    let last = aggregated.last().unwrap();
    assert_eq!(last[col(&head, "Total Request Count")], agg[count]);
    assert_eq!(
        last[col(&head, "Total Median Response Time")],
        agg[4],
        "= stats Median"
    );
    let timestamps: Vec<u64> = aggregated
        .iter()
        .map(|row| row[0].parse().unwrap())
        .collect();
    assert!(
        timestamps.windows(2).all(|w| w[0] <= w[1]),
        "{timestamps:?}"
    );
    let summed: f64 = history
        .iter()
        .filter(|row| row[3] == "zeta_health")
        .map(|row| f(&row[col(&head, "Requests/s")]))
        .sum();
    assert!(summed > 0.0);

    // failures: Locust 2.47's columns, First/Last Seen in ISO 8601 UTC; the occurrences add up to the failures.
    let (head, failures) = read_csv(&path("failures"));
    assert_eq!(head, "Method,Name,Error,Occurrences,First Seen,Last Seen");
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0][1], "alpha_wrong_status");
    assert!(failures[0][2].starts_with("status: "), "{failures:?}");
    assert_eq!(failures[0][3], stats[0][fails]);
    let unix = |iso: &str| {
        humantime::parse_rfc3339(iso)
            .unwrap_or_else(|e| panic!("{iso:?} is not ISO 8601 UTC: {e}"))
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let (first, last) = (unix(&failures[0][4]), unix(&failures[0][5]));
    assert!(first <= last && last >= timestamps[0], "{failures:?}");
    let (head, exceptions) = read_csv(&path("exceptions"));
    assert_eq!(head, "Count,Message,Traceback,Nodes");
    assert!(exceptions.is_empty());

    // `loadgen report` regenerates the same four files from the JSON, byte for byte.
    let again = dir.path().join("again");
    loadgen([
        "report",
        json.to_str().unwrap(),
        "-q",
        "--csv",
        again.to_str().unwrap(),
        "--csv-full-history",
        "--csv-exact",
    ])
    .expect_code(0);
    for suffix in ["stats", "stats_history", "failures", "exceptions"] {
        let a = std::fs::read(path(suffix)).unwrap();
        let b = std::fs::read(dir.path().join(format!("again_{suffix}.csv"))).unwrap();
        assert!(a == b, "{suffix} differs between run and report");
    }

    // An analysis written for Locust's files runs unchanged on these.
    let Some(python) = external_tool(
        "python3 with pandas",
        &[&["python3", "-c", "import pandas"]],
    ) else {
        return;
    };
    let out = std::process::Command::new(&python[0])
        .arg(crate::util::root().join("tests/python/locust_analysis.py"))
        .arg(&prefix)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pandas analysis failed\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["requests"], r["totals"]["requests"]);
    assert_eq!(summary["failures"], r["totals"]["failures"]);
    assert_eq!(
        summary["p95_ms"].as_f64().unwrap(),
        r["aggregated"]["percentiles_ms"]["p95"].as_f64().unwrap()
    );
    assert_eq!(summary["failure_occurrences"], r["totals"]["failures"]);
    assert_eq!(summary["peak_users"], 4);
    assert_eq!(summary["exception_rows"], 0);
}

#[test]
fn csv_files_are_current_while_the_run_goes_and_survive_a_kill() {
    let demo = Demo::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "csv.toml", &scenario(&demo.url, "60s"));
    let prefix = dir.path().join("live");
    let (mut child, _) = loadgen([
        "run",
        file.to_str().unwrap(),
        "-q",
        "--csv",
        prefix.to_str().unwrap(),
    ])
    .spawn();
    let history = dir.path().join("live_stats_history.csv");
    let started = Instant::now();
    // Wait (bounded) for three seconds of history, then kill the run without letting it finish.
    let rows = loop {
        let rows = std::fs::read_to_string(&history)
            .map(|t| t.matches("\r\n").count().saturating_sub(1))
            .unwrap_or(0);
        if rows >= 3 || started.elapsed() > Duration::from_secs(20) {
            break rows;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(rows >= 3, "history rows after 20 s: {rows}");
    let (head, stats) = read_csv(&dir.path().join("live_stats.csv"));
    let agg = stats.last().expect("an Aggregated row");
    assert_eq!(agg[1], "Aggregated");
    assert!(f(&agg[col(&head, "Request Count")]) > 0.0, "{agg:?}");
    let (_, failures) = read_csv(&dir.path().join("live_failures.csv"));
    assert_eq!(failures.len(), 1, "the failing request is already listed");
}
