//! The command layer: one module per subcommand, each taking its clap arguments and returning an
//! [`ExitStatus`] (or an [`Error`], exit 2).
//!
//! A command reads its inputs, calls the domain (scenario → plan → engine → results → verdict, or the merge and
//! comparison of saved results), prints and writes what the user asked for, and picks the exit status. The layer
//! is the only one that sees [`crate::cli`] besides the crate root; the domain never imports it.
//!
//! - [`run`]: `loadgen run`: the whole run, from the scenario to the results files and the verdict; with
//!   `--debug N`, [`debug`]: one user's requests and answers printed, no load.
//! - [`check`]: `loadgen check`: the resolved plan, and the `[preflight]` checks with `--preflight`.
//! - [`report`]: `loadgen report`: a saved results file shown and written again in any format.
//! - [`suite`]: `loadgen suite`: scenarios run in order, as `run` runs each, and one combined report.
//! - [`compare`]: `loadgen compare`: two results files and their regressions.
//! - [`merge`]: `loadgen merge`: the segments' results merged ([`crate::merge`]), written and judged.
//! - [`serve_demo`]: `loadgen serve-demo`: the reference API until SIGINT or SIGTERM.
//! - [`init`]: `loadgen init`: a commented starter scenario written.
//! - [`import`]: `loadgen import har|locust`: a scenario written from a HAR recording or a locustfile.
//! - [`completions`] and [`man`]: `loadgen completions SHELL` and `loadgen man`: generated from [`crate::cli`].

pub mod check;
pub mod compare;
// Issue 20 item 5.
pub mod completions;
// Issue 18 item 6: `run --debug N`.
pub mod debug;
// Issue 20 items 2 and 3: `loadgen import har|locust`.
pub mod import;
// Issue 20 item 8: `--demo`'s API in a child process.
mod demo_child;
mod descriptors;
// Issue 20 item 7.
pub mod init;
// Issue 20 item 5.
pub mod man;
pub mod merge;
pub mod report;
pub mod run;
pub mod serve_demo;
// Issue 21 items 1 and 2: `loadgen suite`.
pub mod suite;

use std::io::Write;
use std::path::Path;

use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::exit::ExitStatus;
use crate::{cli, plan, preflight, report as formats, scenario};

/// The scenario `file` loaded and resolved with the command line's overrides (and `host` in place of
/// `--host`), for the segment `--segment` names. Each command resolves its plan once, here.
pub(crate) fn load_plan(
    file: &Path,
    o: &cli::Overrides,
    host: Option<String>,
) -> Result<plan::RunPlan, Error> {
    let loaded = scenario::load(file)?;
    let overrides = plan::Overrides {
        host: host.or_else(|| o.host.clone()),
        users: o.users,
        spawn_rate: o.spawn_rate,
        rate: o.rate,
        tags: o.tags.clone(),
        exclude_tags: o.exclude_tags.clone(),
        duration: o.duration,
        iterations: o.iterations,
        insecure: o.insecure,
        ca_file: o.ca_file.clone(),
        client_cert: o.client_cert.clone(),
        client_key: o.client_key.clone(),
        proxy_env: plan::PROXY_ENV
            .iter()
            .filter_map(|n| std::env::var(n).ok().map(|v| (n.to_string(), v)))
            .collect(),
        no_fail_on_errors: o.no_fail_on_errors,
        find_limit: o.find_limit,
    };
    let plan = plan::resolve(&loaded, &overrides)?;
    if o.segment.is_some() && plan.search.is_some() {
        return Err(Error::Usage(
            "--segment does not apply to a limit search (--find-limit, [load] search): each step is judged as              it ends, in one process"
                .into(),
        ));
    }
    match o.segment {
        Some(segment) => plan.for_segment(segment),
        None => Ok(plan),
    }
}

/// Prints the console summary: on stdout, or on stderr when a results file goes to stdout (`--json -`), so that
/// stdout holds that file alone.
pub(crate) fn print_summary(outputs: &formats::outputs::Outputs, text: &str) {
    if outputs.uses_stdout() {
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    } else {
        out(text);
    }
}

/// Writes to stdout, ignoring a closed pipe (`loadgen run … | head` is not a crash).
pub(crate) fn out(s: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(s.as_bytes());
    let _ = stdout.flush();
}

/// Runs the plan's `[preflight]` checks, if it has any (`run`, and `check --preflight`): `Pass` when they pass
/// (or there are none), `NotReady` when they still fail at their timeout (the reason is printed), `Interrupted`
/// on a signal meanwhile.
pub(crate) async fn preflight(
    plan: &plan::RunPlan,
    interrupt: &CancellationToken,
    quiet: bool,
) -> ExitStatus {
    let Some(p) = &plan.preflight else {
        return ExitStatus::Pass;
    };
    let verdict = preflight::run(plan, p, interrupt, |n, reason| {
        tracing::info!("preflight attempt {n}: {reason}");
    })
    .await;
    match verdict {
        preflight::Verdict::Ready { attempts, took } => {
            if !quiet {
                eprintln!(
                    "preflight: {} check{} passed{}",
                    p.checks.len(),
                    if p.checks.len() == 1 { "" } else { "s" },
                    if attempts > 1 {
                        format!(" after {attempts} attempts ({:.1} s)", took.as_secs_f64())
                    } else {
                        String::new()
                    }
                );
            }
            ExitStatus::Pass
        }
        preflight::Verdict::NotReady { .. } if interrupt.is_cancelled() => ExitStatus::Interrupted,
        preflight::Verdict::NotReady { attempts, reason } => {
            eprintln!(
                "target not ready: {reason} (still failing after {attempts} attempt{} over {}); no load was sent",
                if attempts == 1 { "" } else { "s" },
                humantime::format_duration(p.timeout)
            );
            ExitStatus::NotReady
        }
    }
}
