//! The combined report of several runs (issue 21 items 1 and 2): `loadgen suite`'s levels side by side, or
//! `loadgen report A.json B.json ...` rebuilt from saved results.
//!
//! [`Combined::of`] reads the runs' [`RunResults`] (in the order given) and nothing else, so the suite and
//! `report` on the files the suite wrote give the same document. It holds a summary per run (verdict, gates,
//! success rate, p50/p95/p99, requests/s, the endpoints and their failures by kind, loadgen's own health) and
//! an [`Analysis`] computed from the figures, never canned advice: the slowest endpoints by p95 (per run, and
//! overall from the endpoints' histograms merged across the runs), the endpoints with the highest failure
//! rates and their failure kinds, and per run the first second at which the failure rate or the p95 crossed
//! its gate, with the users (or arrival rate) then and whether loadgen itself was saturated then.
//!
//! Its formats are beside it: [`html`] (one self-contained page with charts comparing the levels, drawn with
//! the run report's chart helpers) and [`markdown`] (for `$GITHUB_STEP_SUMMARY`); JSON is this model
//! serialised (`docs/suite.md` documents its shape). The exit code of several runs is the worst of theirs, in
//! the order [`severity`] defines.

pub mod html;
pub mod markdown;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::Error;
use crate::exit::ExitStatus;
use crate::files::OutputFile;
use crate::results::{
    CPU_WARN_PCT, GateMetric, HistSum, LAG_WARN_MS, Percentiles, RunResults, SeriesPoint, stats,
};
use crate::verdict::Verdict;

/// Written in the document's `kind`, so a reader can tell it from a results file.
pub const KIND: &str = "loadgen-suite";
/// The version of the combined document's shape; bumped when a field is removed or changes meaning.
pub const SUITE_SCHEMA_VERSION: u32 = 1;
/// How many endpoints each list of the analysis names.
pub const TOP: usize = 5;

/// How bad an exit status is, for the worst of several runs: interrupted (130, the suite was stopped) >
/// error (2) > target not ready (4) > invalid run (3) > gates failed (1) > passed (0).
pub fn severity(s: ExitStatus) -> u8 {
    match s {
        ExitStatus::Pass => 0,
        ExitStatus::GatesFailed => 1,
        ExitStatus::Invalid => 2,
        ExitStatus::NotReady => 3,
        ExitStatus::Error => 4,
        ExitStatus::Interrupted => 5,
    }
}

/// The worst of `statuses` by [`severity`]; `Pass` for none.
pub fn worst(statuses: impl IntoIterator<Item = ExitStatus>) -> ExitStatus {
    statuses
        .into_iter()
        .max_by_key(|s| severity(*s))
        .unwrap_or(ExitStatus::Pass)
}

/// The combined document.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Combined {
    /// Always [`KIND`].
    pub kind: String,
    pub schema_version: u32,
    /// The loadgen that built this document.
    pub loadgen_version: String,
    /// The worst of the runs' exit codes ([`severity`]'s order).
    pub exit_code: u8,
    /// How many runs failed their gates (or were invalid or interrupted).
    pub runs_not_passed: usize,
    pub runs: Vec<RunSummary>,
    pub analysis: Analysis,
}

/// One run (a level) as the combined report shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunSummary {
    /// The scenario's name (e.g. `baseline`).
    pub name: String,
    pub scenario_file: String,
    pub run_id: String,
    pub started_at: String,
    pub duration_s: f64,
    /// `PASS`, `FAIL`, `INVALID` or `INTERRUPTED`, and why, as [`Verdict::of`] decides.
    pub verdict: String,
    pub reason: String,
    pub exit_code: u8,
    /// `ramp`, `stages` or `arrival_rate`.
    pub load: String,
    /// The most users at once.
    pub peak_users: u64,
    /// The highest planned arrival rate, iterations per second (arrival rate only).
    pub peak_rate: Option<f64>,
    pub requests: u64,
    pub failures: u64,
    pub success_rate: f64,
    pub rps: f64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub gates: Vec<GateLine>,
    /// Every endpoint, in scenario order.
    pub endpoints: Vec<Endpoint>,
    /// loadgen's own health during the run.
    pub generator: Health,
}

/// A gate as judged in one run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GateLine {
    /// e.g. `p95_ms < 200 ms for all requests`.
    pub label: String,
    pub measured: Option<f64>,
    pub passed: bool,
    pub skipped: bool,
}

/// One endpoint (request name) of one run, or of all runs together.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Endpoint {
    pub method: String,
    pub name: String,
    pub requests: u64,
    pub failures: u64,
    /// Percent of the requests that failed.
    pub failure_pct: f64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Failures by kind (`status`, `timeout`, ...): occurrences.
    pub failure_kinds: BTreeMap<String, u64>,
}

/// loadgen's own health in one run: could it keep its plan, and was it saturated.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Health {
    pub valid: bool,
    pub cpu_pct_max: Option<f64>,
    pub lag_ms_max: f64,
    pub warnings: Vec<String>,
}

/// What the figures of the runs say together.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Analysis {
    /// The endpoints with the highest p95 over all runs (each endpoint's histograms of every run merged),
    /// slowest first, at most [`TOP`].
    pub slowest: Vec<Endpoint>,
    /// Per run (in order), its endpoints with the highest p95, slowest first, at most [`TOP`].
    pub slowest_per_run: Vec<Vec<Endpoint>>,
    /// The endpoints with failures over all runs, by failure rate (highest first), with their failure kinds,
    /// at most [`TOP`].
    pub failing: Vec<Endpoint>,
    /// Per run, the same.
    pub failing_per_run: Vec<Vec<Endpoint>>,
    /// Per run (in order), when its failure rate and its p95 first crossed their gates.
    pub crossings: Vec<RunCrossings>,
}

/// When one run's failure rate and p95 first crossed their gates.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunCrossings {
    pub run: String,
    pub failure_rate: Crossing,
    pub p95: Crossing,
}

/// The first interval of the time series at which a metric crossed its gate's threshold (the run's gate on
/// all requests: the highest `success_rate`, the lowest `p95_ms`). `threshold` is null when the run has no
/// such gate; `at` is null when the metric never crossed it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Crossing {
    /// For the failure rate, the highest failure percentage the gate allows (100 - success_rate); for the
    /// p95, its ms.
    pub threshold: Option<f64>,
    pub at: Option<CrossedAt>,
}

/// The interval at which a gate was first crossed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CrossedAt {
    /// Seconds from the start of the run at the end of the interval.
    pub elapsed_s: f64,
    /// The interval's value (failure % or p95 ms).
    pub measured: f64,
    /// Users running then.
    pub users: u64,
    /// The arrival rate the plan wanted then (arrival rate only).
    pub target_rate: Option<f64>,
    /// loadgen's CPU and scheduler lag in that interval, and whether either was past its warning level
    /// ([`CPU_WARN_PCT`], [`LAG_WARN_MS`]): then the crossing may be loadgen's, not the target's.
    pub cpu_pct: Option<f64>,
    pub lag_ms: f64,
    pub generator_saturated: bool,
}

impl Combined {
    /// The combined document of `runs`, in order.
    pub fn of(runs: &[RunResults]) -> Combined {
        let summaries: Vec<RunSummary> = runs.iter().map(summary).collect();
        let exit = worst(runs.iter().map(|r| Verdict::of(r).exit_status()));
        Combined {
            kind: KIND.into(),
            schema_version: SUITE_SCHEMA_VERSION,
            loadgen_version: env!("CARGO_PKG_VERSION").into(),
            exit_code: exit.code(),
            runs_not_passed: summaries.iter().filter(|s| s.exit_code != 0).count(),
            analysis: Analysis {
                slowest: top_slowest(overall(runs)),
                slowest_per_run: summaries
                    .iter()
                    .map(|s| top_slowest(s.endpoints.clone()))
                    .collect(),
                failing: top_failing(overall(runs)),
                failing_per_run: summaries
                    .iter()
                    .map(|s| top_failing(s.endpoints.clone()))
                    .collect(),
                crossings: runs.iter().map(crossings).collect(),
            },
            runs: summaries,
        }
    }

    /// The worst exit status of the runs.
    pub fn exit_status(&self) -> ExitStatus {
        worst(self.runs.iter().map(|r| status_of(r.exit_code)))
    }
}

fn status_of(code: u8) -> ExitStatus {
    match code {
        0 => ExitStatus::Pass,
        1 => ExitStatus::GatesFailed,
        3 => ExitStatus::Invalid,
        4 => ExitStatus::NotReady,
        130 => ExitStatus::Interrupted,
        _ => ExitStatus::Error,
    }
}

/// The run's failures by endpoint (method and name) and kind.
fn kinds(r: &RunResults) -> BTreeMap<(String, String), BTreeMap<String, u64>> {
    let mut by: BTreeMap<(String, String), BTreeMap<String, u64>> = BTreeMap::new();
    for f in &r.failures {
        let e = by
            .entry((f.method.clone(), f.name.clone()))
            .or_default()
            .entry(f.kind.as_str().to_string())
            .or_default();
        *e = e.saturating_add(f.occurrences);
    }
    by
}

fn summary(r: &RunResults) -> RunSummary {
    let v = Verdict::of(r);
    let mut kinds = kinds(r);
    let p = |f: fn(&Percentiles) -> f64| r.aggregated.percentiles_ms.as_ref().map(f);
    RunSummary {
        name: r.scenario.name.clone(),
        scenario_file: r.scenario.file.clone(),
        run_id: r.run_id.clone(),
        started_at: r.started_at.clone(),
        duration_s: r.duration_s,
        verdict: v.result.word().into(),
        reason: v.reason.clone(),
        exit_code: v.exit_code,
        load: r.settings.load.clone(),
        peak_users: r.totals.peak_users,
        peak_rate: r
            .settings
            .arrival
            .as_ref()
            .map(|a| a.stages.iter().map(|s| s.rate).fold(0.0, f64::max)),
        requests: r.totals.requests,
        failures: r.totals.failures,
        success_rate: r.totals.success_rate,
        rps: r.totals.rps,
        p50_ms: p(|p| p.p50),
        p95_ms: p(|p| p.p95),
        p99_ms: p(|p| p.p99),
        gates: r
            .gates
            .results
            .iter()
            .map(|g| GateLine {
                label: g.label(),
                measured: g.measured,
                passed: g.passed,
                skipped: g.skipped.is_some(),
            })
            .collect(),
        endpoints: r
            .requests
            .iter()
            .map(|q| {
                let pq = |f: fn(&Percentiles) -> f64| q.percentiles_ms.as_ref().map(f);
                Endpoint {
                    method: q.method.clone(),
                    name: q.name.clone(),
                    requests: q.requests,
                    failures: q.failures,
                    failure_pct: stats::round3(stats::failure_pct(q.requests, q.failures)),
                    p50_ms: pq(|p| p.p50),
                    p95_ms: pq(|p| p.p95),
                    p99_ms: pq(|p| p.p99),
                    failure_kinds: kinds
                        .remove(&(q.method.clone(), q.name.clone()))
                        .unwrap_or_default(),
                }
            })
            .collect(),
        generator: Health {
            valid: r.validity.valid,
            cpu_pct_max: r.generator.cpu_pct_max,
            lag_ms_max: r.generator.lag_ms_max,
            warnings: r.generator.warnings.clone(),
        },
    }
}

/// Every endpoint over all runs: counts and failure kinds added, histograms merged (a histogram that does
/// not decode leaves that endpoint's percentiles out rather than guessing them).
fn overall(runs: &[RunResults]) -> Vec<Endpoint> {
    struct Acc {
        requests: u64,
        failures: u64,
        hist: Option<HistSum>,
        kinds: BTreeMap<String, u64>,
    }
    let mut order: Vec<(String, String)> = Vec::new();
    let mut by: BTreeMap<(String, String), Acc> = BTreeMap::new();
    for r in runs {
        let mut run_kinds = kinds(r);
        for q in &r.requests {
            let key = (q.method.clone(), q.name.clone());
            let acc = by.entry(key.clone()).or_insert_with(|| {
                order.push(key.clone());
                Acc {
                    requests: 0,
                    failures: 0,
                    hist: Some(HistSum::default()),
                    kinds: BTreeMap::new(),
                }
            });
            acc.requests = acc.requests.saturating_add(q.requests);
            acc.failures = acc.failures.saturating_add(q.failures);
            if let Some(sum) = &mut acc.hist
                && sum.add(q.hdr.as_ref()).is_err()
            {
                acc.hist = None;
            }
            for (k, n) in run_kinds.remove(&key).unwrap_or_default() {
                let e = acc.kinds.entry(k).or_default();
                *e = e.saturating_add(n);
            }
        }
    }
    order
        .into_iter()
        .filter_map(|key| {
            let acc = by.remove(&key)?;
            let h = acc
                .hist
                .as_ref()
                .and_then(|s| s.histogram())
                .filter(|h| !h.is_empty())
                .map(stats::interval_latency);
            Some(Endpoint {
                method: key.0,
                name: key.1,
                requests: acc.requests,
                failures: acc.failures,
                failure_pct: stats::round3(stats::failure_pct(acc.requests, acc.failures)),
                p50_ms: h.and_then(|l| l.p50),
                p95_ms: h.and_then(|l| l.p95),
                p99_ms: h.and_then(|l| l.p99),
                failure_kinds: acc.kinds,
            })
        })
        .collect()
}

/// The endpoints with a p95, highest first (ties in the given order), at most [`TOP`].
fn top_slowest(mut e: Vec<Endpoint>) -> Vec<Endpoint> {
    e.retain(|x| x.p95_ms.is_some());
    e.sort_by(|a, b| b.p95_ms.unwrap_or(0.0).total_cmp(&a.p95_ms.unwrap_or(0.0)));
    e.truncate(TOP);
    e
}

/// The endpoints with failures, highest failure rate first (then the most failures), at most [`TOP`].
fn top_failing(mut e: Vec<Endpoint>) -> Vec<Endpoint> {
    e.retain(|x| x.failures > 0);
    e.sort_by(|a, b| {
        b.failure_pct
            .total_cmp(&a.failure_pct)
            .then(b.failures.cmp(&a.failures))
    });
    e.truncate(TOP);
    e
}

fn crossings(r: &RunResults) -> RunCrossings {
    let all = r.gates.results.iter().filter(|g| g.scope.is_none());
    let success = all
        .clone()
        .filter(|g| g.metric == GateMetric::SuccessRate)
        .map(|g| g.threshold)
        .reduce(f64::max);
    let p95 = all
        .filter(|g| g.metric == GateMetric::Percentile(95))
        .map(|g| g.threshold)
        .reduce(f64::min);
    let failure_limit = success.map(|s| stats::round3(100.0 - s));
    RunCrossings {
        run: r.scenario.name.clone(),
        failure_rate: Crossing {
            threshold: failure_limit,
            // Crossed when the interval's success rate is below the gate's (the gate passes at >=).
            at: success.and_then(|s| {
                first(&r.time_series, |p| {
                    let ok = stats::success_pct(p.requests, p.failures)?;
                    (ok < s).then(|| stats::round3(stats::failure_pct(p.requests, p.failures)))
                })
            }),
        },
        p95: Crossing {
            threshold: p95,
            // Crossed when the interval's p95 is at or above the gate's (the gate passes below it).
            at: p95.and_then(|t| first(&r.time_series, |p| p.p95_ms.filter(|v| *v >= t))),
        },
    }
}

/// The first point for which `crossed` gives a value, with the load and loadgen's health then.
fn first(
    series: &[SeriesPoint],
    crossed: impl Fn(&SeriesPoint) -> Option<f64>,
) -> Option<CrossedAt> {
    series.iter().find_map(|p| {
        let measured = crossed(p)?;
        Some(CrossedAt {
            elapsed_s: p.elapsed_s,
            measured,
            users: p.users,
            target_rate: p.target_rate,
            cpu_pct: p.cpu_pct,
            lag_ms: p.lag_ms,
            generator_saturated: p.lag_ms > LAG_WARN_MS
                || p.cpu_pct.is_some_and(|c| c > CPU_WARN_PCT),
        })
    })
}

/// The combined JSON document, pretty-printed, with a final line break.
pub fn to_json(c: &Combined) -> String {
    let mut s = serde_json::to_string_pretty(c).unwrap_or_default();
    s.push('\n');
    s
}

/// The combined report's files: each written from the one [`Combined`], every one attempted; returns what was
/// written and the first error.
#[derive(Debug, Default)]
pub struct CombinedOutputs {
    pub json: Option<OutputFile>,
    pub markdown: Option<OutputFile>,
    pub html: Option<OutputFile>,
}

impl CombinedOutputs {
    /// Checks the paths before anything runs (a bad path fails at once); Markdown to
    /// `$GITHUB_STEP_SUMMARY` (or with `markdown_append`) is appended to.
    pub fn prepare(
        json: Option<&std::path::Path>,
        markdown: Option<&std::path::Path>,
        markdown_append: bool,
        html: Option<&std::path::Path>,
    ) -> Result<CombinedOutputs, Error> {
        use crate::files::Mode;
        let open =
            |p: Option<&std::path::Path>, mode| p.map(|p| OutputFile::prepare(p, mode)).transpose();
        let md_mode = match markdown {
            Some(p) if markdown_append || super::outputs::is_step_summary(p) => Mode::Append,
            _ => Mode::Replace,
        };
        Ok(CombinedOutputs {
            json: open(json, Mode::Replace)?,
            markdown: open(markdown, md_mode)?,
            html: open(html, Mode::Replace)?,
        })
    }

    /// One of the files is stdout (`-`).
    pub fn uses_stdout(&self) -> bool {
        [&self.json, &self.markdown, &self.html]
            .into_iter()
            .flatten()
            .any(OutputFile::is_stdout)
    }

    /// Writes `c` (built from `runs`, which the HTML charts read).
    pub fn write(&self, c: &Combined, runs: &[RunResults]) -> (Vec<String>, Option<Error>) {
        let mut written = Vec::new();
        let mut first_error = None;
        let parts: [(&Option<OutputFile>, &dyn Fn() -> String); 3] = [
            (&self.json, &|| to_json(c)),
            (&self.markdown, &|| markdown::render(c)),
            (&self.html, &|| html::render(c, runs)),
        ];
        for (file, render) in parts {
            let Some(file) = file else { continue };
            match file.write_all(render().as_bytes()) {
                Ok(()) if file.is_stdout() => written.push("stdout".to_string()),
                Ok(()) => written.push(file.path().display().to_string()),
                Err(e) => {
                    first_error.get_or_insert(e.into());
                }
            }
        }
        (written, first_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::fixtures::{histogram, point, results, row, timed, two_gates};

    #[test]
    fn the_worst_exit_status_follows_the_documented_order() {
        use ExitStatus::*;
        let order = [Pass, GatesFailed, Invalid, NotReady, Error, Interrupted];
        for (i, a) in order.iter().enumerate() {
            for b in &order[i..] {
                assert_eq!(worst([*a, *b]), *b);
                assert_eq!(worst([*b, *a, Pass]), *b);
            }
            assert_eq!(status_of(a.code()), *a);
        }
        assert_eq!(worst([]), Pass);
    }

    #[test]
    fn crossings_are_the_first_interval_past_the_gate_with_the_load_then() {
        let mut r = results("stress", two_gates(), false);
        // p95 < 500 ms (all requests) is a gate; success_rate 99 only for `home`: no failure-rate gate.
        let slow = histogram(&[600_000; 20]);
        let fast = histogram(&[10_000; 20]);
        r.time_series = vec![
            timed(point(1.0), &fast),
            SeriesPoint {
                users: 30,
                lag_ms: 25.0,
                ..timed(point(2.0), &slow)
            },
            timed(point(3.0), &slow),
        ];
        let c = crossings(&r);
        assert_eq!(c.failure_rate.threshold, None);
        assert_eq!(c.failure_rate.at, None);
        assert_eq!(c.p95.threshold, Some(500.0));
        let at = c.p95.at.expect("crossed");
        assert_eq!((at.elapsed_s, at.users), (2.0, 30));
        assert!(at.measured >= 500.0);
        assert!(at.generator_saturated, "lag 25 ms is past {LAG_WARN_MS} ms");

        // A failure-rate gate of 95 %: crossed at the first interval with more than 5 % failed.
        r.gates.results.push(crate::results::GateResult {
            scope: None,
            during: crate::results::Window::Run,
            metric: GateMetric::SuccessRate,
            op: ">=".into(),
            threshold: 95.0,
            measured: Some(99.0),
            passed: true,
            skipped: None,
            requests: None,
            failures: None,
        });
        r.time_series[0].failures = 1; // 5 % of 20: not past
        r.time_series[2].failures = 4; // 20 %
        let c = crossings(&r);
        assert_eq!(c.failure_rate.threshold, Some(5.0));
        let at = c.failure_rate.at.expect("crossed");
        assert_eq!((at.elapsed_s, at.measured), (3.0, 20.0));
        assert!(!at.generator_saturated);
        // Never crossed: null, which the formats show as "never".
        r.time_series[2].failures = 0;
        assert_eq!(crossings(&r).failure_rate.at, None);
    }

    #[test]
    fn the_analysis_ranks_endpoints_across_runs() {
        let mut a = results("baseline", two_gates(), false);
        let mut b = results("stress", two_gates(), false);
        // Overall p95 from the merged histograms: `home` is slow only in b, `cart|add` mid in both.
        let with = |mut q: crate::results::RequestStats, v: &[u64]| {
            q.hdr = crate::results::Hist::of_some(&histogram(v));
            q.percentiles_ms = Some(Percentiles::of(&histogram(v)));
            q
        };
        a.requests = vec![
            with(row("GET", "home", 100, 0), &[1_000; 100]),
            with(row("POST", "cart|add", 100, 10), &[50_000; 100]),
        ];
        b.requests = vec![
            with(row("GET", "home", 100, 0), &[900_000; 100]),
            with(row("POST", "cart|add", 100, 40), &[50_000; 100]),
        ];
        b.failures[0].occurrences = 40;
        let c = Combined::of(&[a, b]);
        let names = |e: &[Endpoint]| e.iter().map(|e| e.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&c.analysis.slowest_per_run[0]), ["cart|add", "home"]);
        assert_eq!(names(&c.analysis.slowest_per_run[1]), ["home", "cart|add"]);
        // Half of `home`'s requests are 900 ms: its overall p95 is that.
        assert_eq!(names(&c.analysis.slowest), ["home", "cart|add"]);
        assert!(c.analysis.slowest[0].p95_ms.expect("p95") > 800.0);
        let failing = &c.analysis.failing[0];
        assert_eq!(
            (failing.name.as_str(), failing.requests, failing.failures),
            ("cart|add", 200, 50)
        );
        assert_eq!(failing.failure_pct, 25.0);
        assert_eq!(failing.failure_kinds.get("status"), Some(&50));
        assert_eq!(c.exit_code, 1);
        assert_eq!(c.runs_not_passed, 2);
    }

    #[test]
    fn the_formats_show_every_level_and_escape_names() {
        let mut r = results("<b>stress</b>", two_gates(), false);
        r.requests[1].name = "a|b<script>".into();
        let c = Combined::of(&[results("baseline", serde_json::json!([]), false), r.clone()]);
        let md = markdown::render(&c);
        assert!(md.contains("| baseline |"), "{md}");
        assert!(md.contains("&lt;b&gt;stress&lt;/b&gt;"), "{md}");
        assert!(md.contains("a\\|b&lt;script&gt;"), "{md}");
        let page = html::render(&c, &[r.clone(), r]);
        assert!(!page.contains("<script>"));
        assert!(page.contains("&lt;b&gt;stress&lt;/b&gt;"));
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "no URL in the page"
        );
    }
}
