//! `loadgen suite` (issue 21 item 1): scenarios run in order as `loadgen run` runs each one, then one combined
//! report ([`crate::report::suite`]).
//!
//! In order: the FILEs expanded (a suite file, one with a `[suite]` table, lists scenarios relative to itself
//! and may set `pause` and `stop_on_failure`; the command line's flags win), every plan resolved and every
//! output path checked before the first run, so a bad scenario or path costs nothing; then each run, through
//! the very function `run` uses (`run::for_suite`) with the command line's overrides, its results
//! written to `--out-dir` as `run --json` writes them; a pause between runs; the combined report written from
//! the runs that ran. A SIGINT or SIGTERM stops the suite: the run going on ends as `run` ends it (results
//! written), no further run starts, the combined report covers what ran, and the exit code is 130. Otherwise
//! the exit code is the worst of the runs' ([`crate::report::suite::severity`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::cli::{Outputs, PerRun, RunArgs, SuiteArgs};
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::report::suite::{Combined, CombinedOutputs, worst};
use crate::report::{self, RunResults};
use crate::signals::Stops;

/// A suite file: `[suite]` and nothing else.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteFile {
    suite: SuiteTable,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteTable {
    /// Scenario files, relative to the suite file.
    scenarios: Vec<String>,
    /// A duration, e.g. "30s".
    #[serde(default)]
    pause: Option<String>,
    #[serde(default)]
    stop_on_failure: Option<bool>,
}

/// The runs to make and how.
#[derive(Debug, Default, PartialEq)]
struct Lineup {
    scenarios: Vec<PathBuf>,
    pause: Option<Duration>,
    stop_on_failure: Option<bool>,
}

/// Reads `file` as a suite file when it has a `[suite]` table; `None` for anything else (a scenario).
fn suite_file(file: &Path) -> Result<Option<Lineup>, Error> {
    let bad = |m: String| Error::Usage(format!("{}: {m}", file.display()));
    let text =
        crate::files::read_text(file, crate::files::SCENARIO).map_err(|e| bad(e.to_string()))?;
    // Not TOML, or no `[suite]`: a scenario, which `run`'s loader reads and reports on.
    let Ok(value) = text.parse::<toml::Table>() else {
        return Ok(None);
    };
    if !value.contains_key("suite") {
        return Ok(None);
    }
    let parsed: SuiteFile = toml::from_str(&text).map_err(|e| bad(format!("{e}")))?;
    let s = parsed.suite;
    if s.scenarios.is_empty() {
        return Err(bad(
            "[suite] scenarios is empty: list the scenario files to run".into(),
        ));
    }
    let dir = file.parent().unwrap_or(Path::new(""));
    let pause = s
        .pause
        .as_deref()
        .map(|p| {
            crate::cli::parse_duration(p).map_err(|e| bad(format!("[suite] pause = {p:?}: {e}")))
        })
        .transpose()?;
    Ok(Some(Lineup {
        scenarios: s.scenarios.iter().map(|p| dir.join(p)).collect(),
        pause,
        stop_on_failure: s.stop_on_failure,
    }))
}

/// The FILEs expanded: suite files into their scenarios (the last suite file's settings kept).
fn lineup(files: &[PathBuf]) -> Result<Lineup, Error> {
    let mut all = Lineup::default();
    for f in files {
        match suite_file(f)? {
            Some(l) => {
                all.scenarios.extend(l.scenarios);
                all.pause = l.pause.or(all.pause);
                all.stop_on_failure = l.stop_on_failure.or(all.stop_on_failure);
            }
            None => all.scenarios.push(f.clone()),
        }
    }
    Ok(all)
}

/// A file name for a run's results: the scenario's name with anything but letters, digits, `.`, `-` and `_`
/// replaced, made unique among `taken` with `-2`, `-3`...
fn file_name(name: &str, taken: &mut Vec<String>) -> String {
    let mut base: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if base.is_empty() || base.starts_with('.') {
        base.insert(0, '_');
    }
    let mut n = 1;
    let mut candidate = base.clone();
    while taken.contains(&candidate) {
        n += 1;
        candidate = format!("{base}-{n}");
    }
    taken.push(candidate.clone());
    candidate
}

/// The run's own report files under `dir`.
fn per_run_outputs(dir: &Path, name: &str, formats: &[PerRun]) -> Outputs {
    let has = |f| formats.contains(&f);
    Outputs {
        junit: has(PerRun::Junit).then(|| dir.join(format!("{name}.junit.xml"))),
        markdown: has(PerRun::Markdown).then(|| dir.join(format!("{name}.md"))),
        markdown_append: false,
        html: has(PerRun::Html).then(|| dir.join(format!("{name}.html"))),
        csv: has(PerRun::Csv).then(|| dir.join(name)),
        csv_full_history: false,
        csv_exact: false,
    }
}

/// The results as `report` reads them back from the file `run` writes (so the suite's combined report and
/// `report A.json B.json ...`'s are the same, to the last digit).
fn as_read_back(r: RunResults) -> RunResults {
    serde_json::to_string(&r)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| report::validate::results(&v).ok())
        .unwrap_or(r)
}

/// `loadgen suite`.
pub async fn run(args: SuiteArgs, quiet: bool) -> Result<ExitStatus, Error> {
    let lineup = lineup(&args.files)?;
    let pause = args.pause.or(lineup.pause).unwrap_or(Duration::ZERO);
    let stop_on_failure = args.stop_on_failure || lineup.stop_on_failure.unwrap_or(false);
    // Every plan resolved first: a bad scenario costs nothing.
    let placeholder = args.demo.then(|| super::run::DEMO_PLACEHOLDER.to_string());
    let mut names = Vec::new();
    let mut taken = Vec::new();
    for s in &lineup.scenarios {
        let plan = super::load_plan(s, &args.overrides, placeholder.clone())?;
        names.push(file_name(&plan.name, &mut taken));
    }
    if let Some(dir) = &args.out_dir {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::Usage(format!(
                "--out-dir {}: cannot create it: {e}",
                dir.display()
            ))
        })?;
    }
    let combined = CombinedOutputs::prepare(
        args.json.as_deref(),
        args.markdown.as_deref(),
        args.markdown_append,
        args.html.as_deref(),
    )?;
    // Heard for the whole suite, beside each run's own handler: a signal between runs stops the suite too.
    let stopped = CancellationToken::new();
    let listener = {
        let stopped = stopped.clone();
        let mut stops = Stops::listen();
        tokio::spawn(async move {
            stops.next().await;
            stopped.cancel();
        })
    };
    // With the combined report on stdout (`-`), the runs print no summary there.
    let run_quiet = quiet || combined.uses_stdout();
    let total = lineup.scenarios.len();
    let mut statuses = Vec::new();
    let mut runs: Vec<RunResults> = Vec::new();
    for (i, (scenario, name)) in lineup.scenarios.iter().zip(&names).enumerate() {
        if stopped.is_cancelled() {
            statuses.push(ExitStatus::Interrupted);
            break;
        }
        if i > 0 && !pause.is_zero() {
            if !quiet {
                eprintln!("suite: pausing {}", humantime::format_duration(pause));
            }
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stopped.cancelled() => {
                    statuses.push(ExitStatus::Interrupted);
                    break;
                }
            }
        }
        if !quiet {
            eprintln!(
                "suite: run {} of {total}: {} ({})",
                i + 1,
                name,
                scenario.display()
            );
        }
        let outputs = match &args.out_dir {
            Some(dir) => per_run_outputs(dir, name, &args.per_run),
            None => Outputs::default(),
        };
        let run_args = RunArgs {
            scenario: scenario.clone(),
            overrides: args.overrides.clone(),
            json: args
                .out_dir
                .as_ref()
                .map(|d| d.join(format!("{name}.json"))),
            outputs,
            demo: args.demo,
            start_at: None,
            metrics_addr: None,
            metrics_grace: Duration::from_secs(5),
            progress_interval: args.progress_interval,
            ui: None,
            ui_remote: false,
            ui_token: None,
            ui_linger: Duration::ZERO,
            debug: None,
            debug_secrets: false,
        };
        let status = match super::run::for_suite(run_args, run_quiet, stopped.clone()).await {
            Ok((status, results)) => {
                runs.extend(results.map(as_read_back));
                status
            }
            Err(e) => {
                eprintln!("error: {name}: {e}");
                ExitStatus::Error
            }
        };
        statuses.push(status);
        if stopped.is_cancelled() {
            statuses.push(ExitStatus::Interrupted);
            break;
        }
        if status == ExitStatus::Interrupted {
            break;
        }
        if status != ExitStatus::Pass && stop_on_failure {
            if !quiet && i + 1 < total {
                eprintln!(
                    "suite: stopping after {name} (--stop-on-failure); {} not run",
                    total - i - 1
                );
            }
            break;
        }
    }
    listener.abort();
    let c = Combined::of(&runs);
    let (written, first_error) = combined.write(&c, &runs);
    if !quiet {
        let text = console(&c);
        if combined.uses_stdout() {
            eprint!("{text}");
        } else {
            super::out(&text);
        }
        if !written.is_empty() {
            eprintln!("suite report written to {}", written.join(", "));
        }
    }
    if let Some(e) = first_error {
        eprintln!("error: {e}");
        statuses.push(ExitStatus::Error);
    }
    Ok(worst(statuses))
}

/// The combined report's few lines on the console: a row per level.
pub(super) fn console(c: &Combined) -> String {
    use std::fmt::Write as _;
    let ms = |v: Option<f64>| v.map_or_else(|| "N/A".into(), report::console::fmt_ms);
    let mut s = String::from("\nSuite\n");
    let _ = writeln!(
        s,
        "  {:<20} {:<12} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "level", "verdict", "requests", "success", "req/s", "p50 ms", "p95 ms", "p99 ms"
    );
    for r in &c.runs {
        let _ = writeln!(
            s,
            "  {:<20} {:<12} {:>10} {:>8.2}% {:>9.1} {:>9} {:>9} {:>9}",
            r.name,
            r.verdict,
            r.requests,
            r.success_rate,
            r.rps,
            ms(r.p50_ms),
            ms(r.p95_ms),
            ms(r.p99_ms)
        );
    }
    let _ = writeln!(
        s,
        "Suite result: {} of {} run(s) passed (exit {})",
        c.runs.len() - c.runs_not_passed,
        c.runs.len(),
        c.exit_code
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_safe_and_unique() {
        let mut taken = Vec::new();
        assert_eq!(file_name("baseline", &mut taken), "baseline");
        assert_eq!(file_name("baseline", &mut taken), "baseline-2");
        assert_eq!(file_name("a/../b c", &mut taken), "a_.._b_c");
        assert_eq!(file_name(".hidden", &mut taken), "_.hidden");
        assert_eq!(file_name("", &mut taken), "_");
    }

    #[test]
    fn a_suite_file_lists_scenarios_relative_to_itself() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("levels.toml");
        std::fs::write(
            &f,
            "[suite]\nscenarios = [\"a.toml\", \"sub/b.toml\"]\npause = \"2s\"\nstop_on_failure = true\n",
        )
        .expect("write");
        let l = lineup(std::slice::from_ref(&f)).expect("lineup");
        assert_eq!(
            l.scenarios,
            vec![dir.path().join("a.toml"), dir.path().join("sub/b.toml")]
        );
        assert_eq!(l.pause, Some(Duration::from_secs(2)));
        assert_eq!(l.stop_on_failure, Some(true));
    }

    #[test]
    fn a_bad_suite_file_is_a_located_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("levels.toml");
        std::fs::write(&f, "[suite]\nscenarios = [\"a.toml\"]\npuase = \"2s\"\n").expect("write");
        let e = lineup(std::slice::from_ref(&f))
            .expect_err("unknown key")
            .to_string();
        assert!(
            e.contains("levels.toml") && e.contains("puase") && e.contains("line 3"),
            "{e}"
        );
        std::fs::write(&f, "[suite]\nscenarios = []\n").expect("write");
        let e = lineup(std::slice::from_ref(&f))
            .expect_err("empty")
            .to_string();
        assert!(e.contains("empty"), "{e}");
        std::fs::write(&f, "[suite]\nscenarios = [\"a.toml\"]\npause = \"soon\"\n").expect("write");
        let e = lineup(std::slice::from_ref(&f))
            .expect_err("pause")
            .to_string();
        assert!(e.contains("pause"), "{e}");
    }
}
