//! `loadgen suite` and `loadgen report A.json B.json ...` (issue 21 items 1, 2 and 5): the three shipped levels,
//! shortened, against the built-in API, with the stress level pointed at a second API that answers 30 % of its
//! requests with 500 so it fails. The combined JSON, Markdown and HTML show every level and the failing one; the
//! exit code is the worst; `--stop-on-failure` stops after the failing level; `report` rebuilds the same
//! combined JSON from the saved results; the analysis agrees with the runs' own results files; the page
//! renders in headless Chromium without errors.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::util::{Demo, loadgen, results, shipped_scenario, write};

/// The three shipped levels copied into `dir`, baseline and ultimate against `good`, stress against `bad`, and
/// a suite file listing them in order.
fn levels(dir: &Path, good: &str, bad: &str) -> PathBuf {
    for (name, host) in [
        ("baseline.toml", good),
        ("stress.toml", bad),
        ("ultimate.toml", good),
    ] {
        let file = shipped_scenario(dir, name);
        let text = std::fs::read_to_string(&file).expect("read copy");
        assert!(text.contains("http://127.0.0.1:8000"), "{name}'s host");
        write(dir, name, &text.replace("http://127.0.0.1:8000", host));
    }
    write(
        dir,
        "levels.toml",
        "[suite]\nscenarios = [\"baseline.toml\", \"stress.toml\", \"ultimate.toml\"]\n",
    )
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The request of `results` with the highest p95 (the first of equals, in scenario order).
fn slowest(results: &Value) -> (String, f64) {
    let mut best: Option<(String, f64)> = None;
    for q in results["requests"].as_array().expect("requests") {
        let Some(p95) = q["percentiles_ms"]["p95"].as_f64() else {
            continue;
        };
        if best.as_ref().is_none_or(|(_, b)| p95 > *b) {
            best = Some((q["name"].as_str().expect("name").to_string(), p95));
        }
    }
    best.expect("a timed request")
}

/// The first point of `results`' time series whose failure percentage is above `limit`, and its elapsed_s.
fn first_failure_crossing(results: &Value, limit: f64) -> Option<f64> {
    results["time_series"]
        .as_array()
        .expect("time_series")
        .iter()
        .find(|p| {
            let (n, f) = (
                p["requests"].as_u64().unwrap_or(0),
                p["failures"].as_u64().unwrap_or(0),
            );
            n > 0 && f as f64 * 100.0 / n as f64 > limit
        })
        .and_then(|p| p["elapsed_s"].as_f64())
}

#[test]
fn a_suite_of_the_three_levels_reports_each_and_exits_with_the_worst() {
    let good = Demo::start(&[]);
    let bad = Demo::start(&["--error-rate", "0.3"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let suite = levels(dir.path(), &good.url, &bad.url);
    let out_dir = dir.path().join("out");
    let (json, md, html) = (
        dir.path().join("suite.json"),
        dir.path().join("suite.md"),
        dir.path().join("suite.html"),
    );
    let out = loadgen([
        "suite",
        s(&suite),
        "-t",
        "3s",
        "-u",
        "20",
        "--out-dir",
        s(&out_dir),
        "--per-run",
        "html,junit",
        "--json",
        s(&json),
        "--markdown",
        s(&md),
        "--html",
        s(&html),
    ])
    .timeout(Duration::from_secs(120))
    .expect_code(1);
    out.stdout_has("Suite result: 2 of 3 run(s) passed (exit 1)");

    let c = results(&json);
    assert_eq!(c["kind"], "loadgen-suite");
    assert_eq!(c["exit_code"], 1);
    // The document is docs/suite-report.schema.json's: every object there lists all its fields as required and
    // allows no other, so a field added or dropped on either side fails here.
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(crate::util::root().join("docs/suite-report.schema.json"))
            .expect("schema"),
    )
    .expect("JSON");
    let v = jsonschema::draft7::new(&schema).expect("a draft 7 schema");
    let errors: Vec<String> = v
        .iter_errors(&c)
        .map(|e| format!("{} {e}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let runs = c["runs"].as_array().expect("runs");
    let names: Vec<&str> = runs
        .iter()
        .map(|r| r["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["baseline", "stress", "ultimate"]);
    let verdicts: Vec<&str> = runs
        .iter()
        .map(|r| r["verdict"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(verdicts, ["PASS", "FAIL", "PASS"], "{}", out.dump());

    // Each run written as `run` writes it, with the per-run formats asked for.
    let per_run: Vec<Value> = names
        .iter()
        .map(|n| {
            for ext in ["html", "junit.xml"] {
                assert!(out_dir.join(format!("{n}.{ext}")).is_file(), "{n}.{ext}");
            }
            results(&out_dir.join(format!("{n}.json")))
        })
        .collect();
    for (summary, r) in runs.iter().zip(&per_run) {
        assert_eq!(summary["run_id"], r["run_id"]);
        assert_eq!(summary["requests"], r["totals"]["requests"]);
        assert_eq!(summary["p95_ms"], r["aggregated"]["percentiles_ms"]["p95"]);
        assert_eq!(
            summary["verdict"],
            r["verdict"]["result"]
                .as_str()
                .map(str::to_uppercase)
                .unwrap_or_default()
        );
    }

    // The analysis, against the runs' own results.
    let a = &c["analysis"];
    for (i, r) in per_run.iter().enumerate() {
        let (name, p95) = slowest(r);
        let top = &a["slowest_per_run"][i][0];
        assert_eq!(top["name"], name.as_str(), "run {i}");
        assert_eq!(top["p95_ms"].as_f64(), Some(p95), "run {i}");
    }
    let failing = a["failing_per_run"][1].as_array().expect("stress failing");
    assert!(!failing.is_empty());
    let highest = per_run[1]["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .map(|q| {
            q["failures"].as_f64().unwrap_or(0.0) * 100.0
                / q["requests"].as_f64().unwrap_or(1.0).max(1.0)
        })
        .fold(0.0, f64::max);
    let top = failing[0]["failure_pct"].as_f64().expect("failure_pct");
    assert!((top - highest).abs() < 0.01, "{top} vs {highest}");
    assert!(
        failing[0]["failure_kinds"]["status"].as_u64().unwrap_or(0) > 0,
        "{}",
        failing[0]
    );
    // Stress allows 5 % of failures; the first second above that in its own series is the crossing.
    let cross = &a["crossings"][1]["failure_rate"];
    assert_eq!(cross["threshold"], 5.0);
    let at = cross["at"]["elapsed_s"].as_f64().expect("crossed");
    assert_eq!(Some(at), first_failure_crossing(&per_run[1], 5.0));
    assert!(cross["at"]["measured"].as_f64().expect("measured") > 5.0);
    assert!(cross["at"]["users"].as_u64().expect("users") > 0);
    assert!(cross["at"]["generator_saturated"].is_boolean());
    // Baseline and ultimate against the healthy API: never, as their series say.
    for (i, limit) in [(0, 1.0), (2, 10.0)] {
        assert_eq!(a["crossings"][i]["failure_rate"]["threshold"], limit);
        assert_eq!(
            a["crossings"][i]["failure_rate"]["at"].is_null(),
            first_failure_crossing(&per_run[i], limit).is_none()
        );
    }

    let md = std::fs::read_to_string(&md).expect("markdown");
    for n in &names {
        assert!(md.contains(&format!("| {n} |")), "{n} in\n{md}");
    }
    assert!(md.contains("| stress | ❌ FAIL |"), "{md}");
    assert!(md.contains("### When the gates were first crossed"), "{md}");
    assert!(md.contains("status "), "failure kinds in\n{md}");
    let page = std::fs::read_to_string(&html).expect("html");
    for n in &names {
        assert!(page.contains(&format!("<td>{n}</td>")), "{n}");
    }
    assert!(page.contains("<span class=\"badge fail\">FAIL</span>"));
    assert!(page.contains("aria-labelledby=\"suite-p95-t suite-p95-d\""));

    // `report` rebuilds the same combined JSON from the saved results.
    let again = dir.path().join("again.json");
    let files: Vec<PathBuf> = names
        .iter()
        .map(|n| out_dir.join(format!("{n}.json")))
        .collect();
    let mut args = vec!["report".to_string()];
    args.extend(files.iter().map(|f| s(f).to_string()));
    args.extend(["--json".into(), s(&again).into(), "-q".into()]);
    loadgen(&args).expect_code(0);
    assert_eq!(
        std::fs::read_to_string(&again).expect("again"),
        std::fs::read_to_string(&json).expect("suite json")
    );

    // The page renders in a browser, shows the levels, and says nothing on its console.
    if let Some(chromium) = crate::html::chromium() {
        let p = crate::html::open(&chromium, &html);
        assert!(p.problems.is_empty(), "{:?}\n{}", p.problems, p.stderr);
        for n in &names {
            assert!(p.dom.contains(&format!("<td>{n}</td>")), "{n} rendered");
        }
        assert!(p.dom.contains("<svg"), "charts rendered");
    }
}

#[test]
fn stop_on_failure_stops_after_the_failing_level() {
    let good = Demo::start(&[]);
    let bad = Demo::start(&["--error-rate", "0.3"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let suite = levels(dir.path(), &good.url, &bad.url);
    let out_dir = dir.path().join("out");
    let json = dir.path().join("suite.json");
    let out = loadgen([
        "suite",
        s(&suite),
        "-t",
        "2s",
        "-u",
        "10",
        "--stop-on-failure",
        "--out-dir",
        s(&out_dir),
        "--json",
        s(&json),
    ])
    .timeout(Duration::from_secs(90))
    .expect_code(1);
    out.stderr_has("stopping after stress (--stop-on-failure); 1 not run");
    let c = results(&json);
    let names: Vec<&str> = c["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["baseline", "stress"]);
    assert!(out_dir.join("stress.json").is_file());
    assert!(!out_dir.join("ultimate.json").exists());
}

#[test]
fn a_bad_scenario_in_a_suite_stops_it_before_any_run() {
    let good = Demo::start(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let suite = levels(dir.path(), &good.url, &good.url);
    write(
        dir.path(),
        "ultimate.toml",
        "name = \"broken\"\n[load]\nusers = \"many\"\n",
    );
    let out_dir = dir.path().join("out");
    let out = loadgen(["suite", s(&suite), "--out-dir", s(&out_dir)]).expect_code(2);
    out.stderr_has("ultimate.toml");
    assert!(!out_dir.join("baseline.json").exists(), "no run started");
    // A typo in the suite file is located.
    let typo = write(
        dir.path(),
        "typo.toml",
        "[suite]\nscenarios = [\"baseline.toml\"]\npuase = \"1s\"\n",
    );
    loadgen(["suite", s(&typo)])
        .expect_code(2)
        .stderr_has("puase");
    // `report` with several results files refuses the per-run formats.
    loadgen(["report", s(&typo), s(&typo), "--junit", "x.xml"])
        .expect_code(2)
        .stderr_has("--junit and --csv take one results file");
}

#[test]
fn an_interrupted_suite_writes_what_ran_and_exits_130() {
    let good = Demo::start(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let suite = levels(dir.path(), &good.url, &good.url);
    let json = dir.path().join("suite.json");
    let running = loadgen([
        "suite",
        s(&suite),
        "-t",
        "60s",
        "-u",
        "5",
        "--progress-interval",
        "1s",
        "--json",
        s(&json),
    ])
    .start();
    // Once the first level's run reports its second second (its own signal handling is in place by then).
    running.wait_for_stderr("[00:02/01:00] users", Duration::from_secs(30));
    running.signal("INT");
    let out = running.finish(Duration::from_secs(30));
    assert_eq!(out.code, Some(130), "{}", out.dump());
    let c = results(&json);
    assert_eq!(c["exit_code"], 130);
    let runs = c["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1, "no level after the interrupt");
    assert_eq!(runs[0]["verdict"], "INTERRUPTED");
}

#[test]
fn the_shipped_suite_file_is_valid_against_its_schema_and_the_schema_catches_what_the_loader_refuses()
 {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(crate::util::root().join("docs/suite.schema.json"))
            .expect("schema"),
    )
    .expect("JSON");
    let v = jsonschema::draft7::new(&schema).expect("a draft 7 schema");
    let d4 = jsonschema::draft4::new(&schema).expect("a draft 4 schema too (taplo)");
    let as_json = |text: &str| -> Value {
        serde_json::to_value(toml::from_str::<toml::Table>(text).expect("TOML")).expect("JSON")
    };
    let shipped = crate::util::root().join("scenarios/levels.toml");
    assert!(crate::scenario_schema::is_suite_file(&shipped));
    let doc = as_json(&std::fs::read_to_string(&shipped).expect("levels.toml"));
    assert!(v.is_valid(&doc) && d4.is_valid(&doc));
    // Each of these the loader refuses (exit 2), and the schema too.
    let dir = tempfile::tempdir().expect("tempdir");
    for bad in [
        "[suite]\nscenarios = [\"a.toml\"]\npuase = \"1s\"\n",
        "[suite]\nscenarios = []\n",
        "[suite]\nscenarios = [\"a.toml\"]\nstop_on_failure = \"yes\"\n",
        "[suite]\nscenarios = [\"a.toml\"]\n[load]\nusers = 1\n",
    ] {
        assert!(!v.is_valid(&as_json(bad)), "schema accepts {bad}");
        let f = write(dir.path(), "bad.toml", bad);
        loadgen(["suite", s(&f)]).expect_code(2);
    }
}

#[test]
fn a_signal_during_the_pause_ends_the_suite_there() {
    let good = Demo::start(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let suite = levels(dir.path(), &good.url, &good.url);
    let json = dir.path().join("suite.json");
    let running = loadgen([
        "suite",
        s(&suite),
        "-t",
        "1s",
        "-u",
        "2",
        "--pause",
        "10m",
        "--json",
        s(&json),
    ])
    .start();
    running.wait_for_stderr("suite: pausing 10m", Duration::from_secs(30));
    running.signal("TERM");
    let out = running.finish(Duration::from_secs(30));
    assert_eq!(out.code, Some(130), "{}", out.dump());
    let c = results(&json);
    let runs = c["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1, "only the level before the pause");
    assert_eq!(runs[0]["name"], "baseline");
    assert_eq!(
        c["exit_code"], runs[0]["exit_code"],
        "the document's runs decide its code"
    );
}
