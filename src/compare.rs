//! `loadgen compare BASE.json NEW.json`: the change between two runs of the same scenario, per request name and
//! for all requests, and whether it is a regression by the thresholds given.
//!
//! Each file is first checked through as every results file read is ([`crate::report::validate`]: a missing
//! field, a null or negative count, a percentage past 100, an unreadable histogram is exit 2 naming the file and
//! the field, never "no regression"); the thresholds are checked by their flags' parsers (NaN, infinite or
//! negative: a usage error, never a check switched off). The figures are then compared as JSON values (fields
//! are only ever added within a `schema_version`, with defaults, so another loadgen version's file compares). A
//! latency is a regression when it grew by more than its threshold *and* by more than `min_latency_delta_ms`
//! (so 0.10 → 0.12 ms is not "+20 %" worth failing a build over); rows with fewer than `min_requests` requests
//! on either side are shown but not judged.
//!
//! The comparison is a verdict only when it rests on something: when either run is invalid (loadgen could not
//! keep its plan, or a merge missed segments) or when too few requests were made to judge the totals, it says
//! so and exits 3 ([`Comparison::exit_status`]), never "no regression". An interrupted or aborted run is
//! compared, with a note saying that its figures cover only part of the plan.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::error::Error;

/// What counts as a regression.
#[derive(Debug, Clone, Serialize)]
pub struct Thresholds {
    /// Largest accepted increase of p50 / p95 / p99, in percent (`None`: not judged).
    pub max_p50_increase: Option<f64>,
    pub max_p95_increase: Option<f64>,
    pub max_p99_increase: Option<f64>,
    /// Largest accepted drop of the success rate, in percentage points.
    pub max_success_drop: Option<f64>,
    /// Smallest accepted ratio new rps / base rps.
    pub min_rps_ratio: Option<f64>,
    /// A latency change smaller than this (ms) is never a regression.
    pub min_latency_delta_ms: f64,
    /// Rows with fewer requests (on either side) are not judged.
    pub min_requests: u64,
}

/// One compared figure of one request name.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Row {
    pub name: String,
    pub metric: &'static str,
    pub base: Option<f64>,
    pub new: Option<f64>,
    pub change: Option<f64>,
    /// Relative change in percent (for rps and latencies).
    pub change_pct: Option<f64>,
    /// False when the row was not judged (no threshold, too few requests, missing on one side).
    pub judged: bool,
    pub regression: bool,
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub scenario: String,
    pub base: RunInfo,
    pub new: RunInfo,
    pub thresholds: Thresholds,
    pub rows: Vec<Row>,
    pub regressions: usize,
    /// `no regression`, `regression`, or `no verdict` (see `problems`).
    pub verdict: &'static str,
    /// Why the comparison is no verdict (an invalid run, too few requests to judge); empty when it is one.
    pub problems: Vec<String>,
    /// What a reader should know that does not stop the comparison (an interrupted or aborted run).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub file: String,
    pub run_id: String,
    pub started_at: String,
}

/// Output formats of `compare`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Markdown,
    Json,
}

fn load(path: &Path) -> Result<Value, Error> {
    let bad = |m: String| Error::Usage(format!("{}: {m}", path.display()));
    let text =
        crate::files::read_text(path, crate::files::RESULTS).map_err(|e| bad(e.to_string()))?;
    let v: Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("not a results file: {e}")))?;
    crate::report::json::check_version(&v).map_err(bad)?;
    // Checked through like any results file read, though compared as a JSON value.
    crate::report::validate::results(&v).map_err(bad)?;
    Ok(v)
}

fn text(v: &Value, path: &[&str]) -> String {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// Compares the results in `base` and `new`.
pub fn compare(base: &Path, new: &Path, t: Thresholds) -> Result<Comparison, Error> {
    let (b, n) = (load(base)?, load(new)?);
    let (bs, ns) = (
        text(&b, &["scenario", "name"]),
        text(&n, &["scenario", "name"]),
    );
    if bs != ns {
        return Err(Error::Usage(format!(
            "these are runs of different scenarios (`{bs}` in {}, `{ns}` in {}): compare runs of one scenario",
            base.display(),
            new.display()
        )));
    }
    let stats = |v: &Value| -> Vec<(String, Value)> {
        let mut out: Vec<(String, Value)> = v["requests"]
            .as_array()
            .map(|a| a.iter().map(|q| (text(q, &["name"]), q.clone())).collect())
            .unwrap_or_default();
        out.push(("Aggregated".into(), v["aggregated"].clone()));
        out
    };
    let (bq, nq) = (stats(&b), stats(&n));
    let mut names: Vec<String> = bq.iter().map(|(k, _)| k.clone()).collect();
    for (k, _) in &nq {
        if !names.contains(k) {
            names.insert(names.len() - 1, k.clone());
        }
    }
    let mut rows = Vec::new();
    for name in names {
        let find = |list: &[(String, Value)]| {
            list.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        };
        let (bv, nv) = (find(&bq), find(&nq));
        let count =
            |v: &Option<Value>| v.as_ref().and_then(|v| v["requests"].as_u64()).unwrap_or(0);
        let enough = count(&bv) >= t.min_requests && count(&nv) >= t.min_requests;
        let num = |v: &Option<Value>, path: &[&str]| {
            v.as_ref()
                .and_then(|v| path.iter().try_fold(v, |v, k| v.get(k)))
                .and_then(Value::as_f64)
        };
        // rps: lower is worse.
        let (br, nr) = (num(&bv, &["rps"]), num(&nv, &["rps"]));
        let mut row = new_row(&name, "rps", br, nr);
        if let (Some(min), Some(b), Some(n)) = (t.min_rps_ratio, br, nr)
            && enough
            && b > 0.0
        {
            row.judged = true;
            row.regression = n / b < min;
        }
        rows.push(row);
        for (metric, key, limit) in [
            ("p50_ms", "p50", t.max_p50_increase),
            ("p95_ms", "p95", t.max_p95_increase),
            ("p99_ms", "p99", t.max_p99_increase),
        ] {
            let (b, n) = (
                num(&bv, &["percentiles_ms", key]),
                num(&nv, &["percentiles_ms", key]),
            );
            let mut row = new_row(&name, metric, b, n);
            if let (Some(limit), Some(b), Some(n)) = (limit, b, n)
                && enough
            {
                row.judged = true;
                let grew_pct = if b > 0.0 {
                    100.0 * (n - b) / b
                } else {
                    f64::INFINITY
                };
                row.regression = grew_pct > limit && n - b > t.min_latency_delta_ms;
            }
            rows.push(row);
        }
        let (b, n) = (num(&bv, &["success_rate"]), num(&nv, &["success_rate"]));
        let mut row = new_row(&name, "success_rate", b, n);
        row.change_pct = None;
        if let (Some(max), Some(b), Some(n)) = (t.max_success_drop, b, n)
            && enough
        {
            row.judged = true;
            row.regression = b - n > max;
        }
        rows.push(row);
    }
    let regressions = rows.iter().filter(|r| r.regression).count();
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    for (side, v, p) in [("base", &b, base), ("new", &n, new)] {
        if v["validity"]["valid"] == Value::Bool(false) {
            let reasons: Vec<&str> = v["validity"]["reasons"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            problems.push(format!(
                "the {side} run ({}) is invalid, so its figures say nothing certain about the server: {}",
                p.display(),
                if reasons.is_empty() {
                    "no reason given".to_string()
                } else {
                    reasons.join("; ")
                }
            ));
        }
        if v["interrupted"] == Value::Bool(true) {
            notes.push(format!(
                "the {side} run ({}) was interrupted: its figures cover only part of its plan",
                p.display()
            ));
        }
        if v["aborted"].is_object() {
            notes.push(format!(
                "the {side} run ({}) was ended early by a failed gate (abort_on_fail): its figures cover only part \
                 of its plan",
                p.display()
            ));
        }
    }
    if !rows.iter().any(|r| r.name == "Aggregated" && r.judged) {
        let total = |v: &Value| v["aggregated"]["requests"].as_u64().unwrap_or(0);
        problems.push(format!(
            "nothing was judged: the totals need at least {} requests on each side (--min-requests), and the base \
             run made {} and the new run {}",
            t.min_requests,
            total(&b),
            total(&n)
        ));
    }
    let verdict = if !problems.is_empty() {
        "no verdict"
    } else if regressions > 0 {
        "regression"
    } else {
        "no regression"
    };
    let info = |v: &Value, p: &Path| RunInfo {
        file: p.display().to_string(),
        run_id: text(v, &["run_id"]),
        started_at: text(v, &["started_at"]),
    };
    Ok(Comparison {
        scenario: bs,
        base: info(&b, base),
        new: info(&n, new),
        thresholds: t,
        rows,
        regressions,
        verdict,
        problems,
        notes,
    })
}

fn new_row(name: &str, metric: &'static str, base: Option<f64>, new: Option<f64>) -> Row {
    let change = base.zip(new).map(|(b, n)| n - b);
    let change_pct = base
        .zip(new)
        .and_then(|(b, n)| (b != 0.0).then(|| 100.0 * (n - b) / b));
    Row {
        name: name.to_string(),
        metric,
        base,
        new,
        change,
        change_pct,
        judged: false,
        regression: false,
    }
}

fn num(v: Option<f64>) -> String {
    v.map_or_else(
        || "-".into(),
        |x| {
            if x.abs() >= 100.0 {
                format!("{x:.1}")
            } else {
                format!("{x:.3}")
            }
        },
    )
}

fn change(r: &Row) -> String {
    match (r.change, r.change_pct) {
        (Some(c), Some(p)) => format!("{c:+.3} ({p:+.1}%)"),
        (Some(c), None) => format!("{c:+.3}"),
        _ => "-".into(),
    }
}

fn verdict(r: &Row) -> &'static str {
    match (r.judged, r.regression) {
        (_, true) => "REGRESSION",
        (true, false) => "ok",
        (false, false) => "",
    }
}

impl Comparison {
    /// The comparison in the chosen format.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Table => self.table(),
            Format::Markdown => self.markdown(),
            Format::Json => serde_json::to_string_pretty(self).unwrap_or_default() + "\n",
        }
    }

    fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{}: base {} (run {}) -> new {} (run {})\n",
            self.scenario, self.base.file, self.base.run_id, self.new.file, self.new.run_id
        );
        let w = self
            .rows
            .iter()
            .map(|r| r.name.len())
            .max()
            .unwrap_or(4)
            .clamp(4, 40);
        let _ = writeln!(
            s,
            "{:<w$}  {:<12} {:>12} {:>12}  {:<24}",
            "name", "metric", "base", "new", "change"
        );
        let mut last = "";
        for r in &self.rows {
            let name = if r.name == last { "" } else { r.name.as_str() };
            last = &r.name;
            let _ = writeln!(
                s,
                "{:<w$}  {:<12} {:>12} {:>12}  {:<24} {}",
                name,
                r.metric,
                num(r.base),
                num(r.new),
                change(r),
                verdict(r)
            );
        }
        for note in &self.notes {
            let _ = writeln!(s, "\nnote: {note}");
        }
        let _ = writeln!(s, "\nResult: {}", self.result_line());
        s
    }

    /// The final line: the verdict and what it rests on.
    fn result_line(&self) -> String {
        match self.verdict {
            "no verdict" => format!("NO VERDICT ({})", self.problems.join("; ")),
            "regression" => format!("{} regression(s)", self.regressions),
            v => v.to_string(),
        }
    }

    /// 0 no regression, 1 a regression, 3 no verdict (an invalid run, or nothing to judge).
    pub fn exit_status(&self) -> crate::exit::ExitStatus {
        match self.verdict {
            "no verdict" => crate::exit::ExitStatus::Invalid,
            "regression" => crate::exit::ExitStatus::GatesFailed,
            _ => crate::exit::ExitStatus::Pass,
        }
    }

    fn markdown(&self) -> String {
        let mut s = String::new();
        let icon = match self.verdict {
            "no verdict" => "⚠️ no verdict",
            "regression" => "❌ regression",
            _ => "✅ no regression",
        };
        let _ = writeln!(
            s,
            "### loadgen compare: {} — {icon}\n\nbase `{}` (run `{}`) → new `{}` (run `{}`)\n",
            self.scenario, self.base.file, self.base.run_id, self.new.file, self.new.run_id
        );
        let _ = writeln!(
            s,
            "| name | metric | base | new | change | |\n|---|---|---:|---:|---:|---|"
        );
        for r in &self.rows {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                r.name.replace('|', "\\|"),
                r.metric,
                num(r.base),
                num(r.new),
                change(r),
                if r.regression {
                    "**REGRESSION**"
                } else {
                    verdict(r)
                }
            );
        }
        for note in self.problems.iter().chain(&self.notes) {
            let _ = writeln!(s, "\n> {}", note.replace('\n', " "));
        }
        s
    }
}

/// Parses `10%` or `10` as 10 (percent).
pub fn parse_percent(s: &str) -> Result<f64, String> {
    let v = s.trim().trim_end_matches('%').trim();
    v.parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x >= 0.0)
        .ok_or_else(|| format!("`{s}` is not a percentage; write e.g. 10% or 10"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A complete results file of scenario `name`, its one request `verify` and the aggregate with these figures.
    fn results(name: &str, rps: f64, p95: f64, success: f64, requests: u64) -> Value {
        let q = |n: &str| {
            let mut q = crate::results::fixtures::sample()["aggregated"].clone();
            let (lo, hi) = (p95 / 2.0, p95 * 1.5);
            q["name"] = json!(n);
            q["requests"] = json!(requests);
            q["failures"] = json!(0);
            q["rps"] = json!(rps);
            q["success_rate"] = json!(success);
            q["percentiles_ms"] = json!({"p50": lo, "p66": lo, "p75": lo, "p80": lo, "p90": lo, "p95": p95,
                "p98": p95, "p99": hi, "p99_9": hi, "p99_99": hi, "p100": hi});
            q
        };
        let mut v = crate::results::fixtures::sample();
        v["scenario"]["name"] = json!(name);
        v["requests"] = json!([q("verify")]);
        v["aggregated"] = q("Aggregated");
        v
    }

    fn files(
        base: Value,
        new: Value,
    ) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let (b, n) = (dir.path().join("b.json"), dir.path().join("n.json"));
        std::fs::write(&b, base.to_string()).unwrap();
        std::fs::write(&n, new.to_string()).unwrap();
        (dir, b, n)
    }

    fn thresholds() -> Thresholds {
        Thresholds {
            max_p50_increase: None,
            max_p95_increase: Some(10.0),
            max_p99_increase: None,
            max_success_drop: Some(0.5),
            min_rps_ratio: Some(0.9),
            min_latency_delta_ms: 1.0,
            min_requests: 100,
        }
    }

    #[test]
    fn flags_latency_success_and_rps_regressions_only_past_their_thresholds() {
        let (_d, b, n) = files(
            results("s", 100.0, 20.0, 100.0, 1000),
            results("s", 85.0, 23.0, 99.0, 1000),
        );
        let c = compare(&b, &n, thresholds()).unwrap();
        let get = |name: &str, metric: &str| {
            c.rows
                .iter()
                .find(|r| r.name == name && r.metric == metric)
                .unwrap()
        };
        assert!(get("verify", "p95_ms").regression, "+15% and +3 ms");
        assert!(get("verify", "success_rate").regression, "-1 point");
        assert!(get("verify", "rps").regression, "ratio 0.85");
        assert!(!get("verify", "p50_ms").judged, "no p50 threshold given");
        assert_eq!(c.regressions, 6, "three per row, verify and Aggregated");
        assert!(c.render(Format::Table).contains("REGRESSION"));
        assert!(c.render(Format::Markdown).contains("**REGRESSION**"));
        let j: Value = serde_json::from_str(&c.render(Format::Json)).unwrap();
        assert_eq!(j["regressions"], 6);
    }

    #[test]
    fn same_figures_tiny_changes_and_small_samples_pass() {
        let (_d, b, n) = files(
            results("s", 100.0, 0.10, 100.0, 1000),
            results("s", 99.0, 0.12, 100.0, 1000),
        );
        assert_eq!(
            compare(&b, &n, thresholds()).unwrap().regressions,
            0,
            "+20% but only +0.02 ms"
        );
        let (_d, b, n) = files(
            results("s", 100.0, 20.0, 100.0, 10),
            results("s", 10.0, 90.0, 50.0, 10),
        );
        let c = compare(&b, &n, thresholds()).unwrap();
        assert_eq!(c.regressions, 0, "10 requests are too few to judge");
        assert!(c.rows.iter().all(|r| !r.judged));
        assert_eq!(c.verdict, "no verdict", "nothing judged is not a pass");
        assert_eq!(c.exit_status(), crate::ExitStatus::Invalid);
        let table = c.render(Format::Table);
        assert!(
            table.contains("Result: NO VERDICT (nothing was judged")
                && table.contains("base run made 10 and the new run 10"),
            "{table}"
        );
        assert!(!table.contains("no regression"), "{table}");
    }

    #[test]
    fn an_invalid_run_gives_no_verdict_and_a_partial_one_a_note() {
        let mut invalid = results("s", 100.0, 20.0, 100.0, 1000);
        invalid["validity"] =
            json!({"valid": false, "reasons": ["the arrival rate was not reached"]});
        let (_d, b, n) = files(results("s", 100.0, 20.0, 100.0, 1000), invalid);
        let c = compare(&b, &n, thresholds()).unwrap();
        assert_eq!((c.verdict, c.regressions), ("no verdict", 0));
        assert_eq!(c.exit_status(), crate::ExitStatus::Invalid);
        let table = c.render(Format::Table);
        assert!(
            table.contains("the new run (")
                && table.contains("is invalid")
                && table.contains("arrival rate"),
            "{table}"
        );
        let md = c.render(Format::Markdown);
        assert!(
            md.contains("no verdict") && md.contains("arrival rate"),
            "{md}"
        );
        let j: Value = serde_json::from_str(&c.render(Format::Json)).unwrap();
        assert_eq!(j["verdict"], "no verdict");

        let mut interrupted = results("s", 100.0, 20.0, 100.0, 1000);
        interrupted["interrupted"] = json!(true);
        let (_d, b, n) = files(interrupted, results("s", 100.0, 20.0, 100.0, 1000));
        let c = compare(&b, &n, thresholds()).unwrap();
        assert_eq!(c.verdict, "no regression");
        assert_eq!(c.exit_status(), crate::ExitStatus::Pass);
        assert!(
            c.render(Format::Table).contains("note: the base run (")
                && c.notes[0].contains("interrupted"),
            "{:?}",
            c.notes
        );
    }

    #[test]
    fn refuses_different_scenarios_and_schema_versions() {
        let (_d, b, n) = files(
            results("a", 1.0, 1.0, 100.0, 1),
            results("b", 1.0, 1.0, 100.0, 1),
        );
        let e = compare(&b, &n, thresholds()).unwrap_err().to_string();
        assert!(e.contains("different scenarios"), "{e}");
        let mut v2 = results("a", 1.0, 1.0, 100.0, 1);
        v2["schema_version"] = json!(2);
        let (_d, b, n) = files(results("a", 1.0, 1.0, 100.0, 1), v2);
        let e = compare(&b, &n, thresholds()).unwrap_err().to_string();
        assert!(e.contains("schema version 2"), "{e}");
        assert_eq!(parse_percent("10%"), Ok(10.0));
        assert!(parse_percent("ten").is_err());
    }
}
