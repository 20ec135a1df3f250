//! loadgen: a single-binary HTTP load generator with declarative TOML scenarios, HDR latency statistics and
//! quality gates whose verdict is the exit code.
//!
//! # Layout
//! The data flow and the layering rules (which module may import which, checked by `tests/it/layers.rs`) are
//! in docs/architecture.md.
//! - [`cli`]: the command line (clap derive); nothing else sees clap.
//! - [`scenario`]: the TOML model as written, includes, located errors, templates, JSON paths.
//! - [`shown`]: outside text made safe to print (control characters escaped, long lines cut).
//! - [`plan`]: scenario + overrides → a validated [`plan::RunPlan`] with one [`plan::Load`] profile (ramp,
//!   stages or arrival rate); the engine only sees this.
//! - [`data`]: test-data CSV files and how their rows go to users.
//! - [`engine`]: the scheduler, the virtual users and their HTTP requests, the arrival-rate lanes, graceful
//!   shutdown.
//! - [`metrics`]: per-shard recording, the per-second collector, the time series (bounded on long runs by
//!   merging older points).
//! - [`results`]: the results model at the bottom of the crate (it imports no other module): the schema's types,
//!   histograms held compact and encoded only when written, merging written once per type, every statistic.
//! - [`report`]: the results built from a run, and their formats (console, JSON, CSV, HTML, JUnit, Markdown,
//!   progress line), and the live `/metrics` endpoint for Prometheus.
//! - [`files`]: every path a user names, read bounded and typed, written without replacing devices or symlinks.
//! - [`gates`]: quality gates evaluated on the results (whole run, steady part or one stage).
//! - [`validity`]: whether loadgen kept its plan (an invalid run exits 3).
//! - [`verdict`]: pass, fail, invalid or interrupted, and why: the one decision every format and exit code
//!   shows.
//! - [`watch`]: judgments during the run: `abort_on_fail` gates, and the warning for an unreachable target.
//! - [`compare`]: run-to-run comparison with regression thresholds.
//! - [`merge`]: the results of the segments of one run (`--segment I/N`) combined into one.
//! - [`demo`]: the built-in reference authentication API (`serve-demo`, `run --demo`).
//! - [`commands`]: one module per subcommand (run, check, report, compare, merge, serve-demo): arguments in,
//!   the domain called, outputs printed and written, an [`ExitStatus`] out. Only the crate root and this layer
//!   see [`cli`].
//! - [`signals`]: SIGINT and SIGTERM (a graceful stop, then an immediate one; serve-demo stops cleanly).
//! - [`duration`]: the one reading of a duration, for flags and scenario files alike.
//! - [`exit`]: [`ExitStatus`], each variant a documented exit code.
//!
//! [`run`] is the whole program behind `main`: it returns an [`ExitStatus`] that `main` turns into the process
//! exit code.

pub mod cli;
pub mod commands;
pub mod compare;
pub mod data;
pub mod demo;
pub mod duration;
pub mod engine;
pub mod error;
pub mod exit;
pub mod files;
pub mod gates;
// Issue 20 items 2 and 3.
pub mod import;
pub mod limit;
pub mod merge;
pub mod metrics;
pub mod monitor;
pub mod plan;
pub mod preflight;
pub mod report;
pub mod results;
pub mod scenario;
pub mod shown;
pub mod signals;
pub mod ui;
pub mod validity;
pub mod verdict;
pub mod watch;

use std::io::Write;

use cli::{Cli, Command};
use error::Error;
pub use exit::ExitStatus;

/// Sets up logging on stderr: warnings by default, `-v` info, `-vv` debug, `-q` errors only.
/// `RUST_LOG` overrides.
pub fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("loadgen={level},warn")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// Runs the command `cli` describes; an error is printed ([`print_error`]) and exits 2.
pub async fn run(cli: Cli) -> ExitStatus {
    let quiet = cli.quiet;
    let result = match cli.command {
        Command::Run(args) => commands::run::run(*args, quiet).await,
        Command::Ui(args) => commands::run::ui(*args, quiet).await,
        Command::Check(args) => commands::check::run(args, quiet).await,
        Command::Report(args) => commands::report::run(args, quiet),
        Command::Compare(args) => commands::compare::run(args),
        Command::Merge(args) => commands::merge::run(args, quiet),
        Command::ServeDemo(args) => commands::serve_demo::run(args, quiet).await,
        Command::Init(args) => commands::init::run(args, quiet),
        Command::Completions(args) => commands::completions::run(args),
        Command::Import(args) => commands::import::run(args, quiet),
        Command::Man(args) => commands::man::run(args),
        Command::Suite(args) => commands::suite::run(*args, quiet).await,
    };
    result.unwrap_or_else(|e| {
        print_error(&e);
        ExitStatus::Error
    })
}

/// Prints `error: …` and each cause on its own line, each line made safe for a terminal (control characters
/// escaped, long lines cut: [`shown::terminal_text`]), whatever file name or value the message quotes.
pub fn print_error(e: &Error) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "error: {}", shown::terminal_text(&e.to_string()));
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let _ = writeln!(err, "  caused by: {}", shown::terminal_text(&s.to_string()));
        source = s.source();
    }
}
