//! loadgen: a single-binary HTTP load generator with declarative TOML scenarios, HDR latency statistics and
//! quality gates whose verdict is the exit code.
//!
//! # Layout
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
//! - [`report`]: the results model and its formats (console, JSON, CSV, HTML, JUnit, Markdown, progress line),
//!   and the live `/metrics` endpoint for Prometheus.
//! - [`files`]: every path a user names, read bounded and typed, written without replacing devices or symlinks.
//! - [`gates`]: quality gates evaluated on the results (whole run, steady part or one stage).
//! - [`validity`]: whether loadgen kept its plan (an invalid run exits 3).
//! - [`verdict`]: pass, fail, invalid or interrupted, and why: the one decision every format and exit code
//!   shows.
//! - [`watch`]: judgments during the run: `abort_on_fail` gates, and the warning for an unreachable target.
//! - [`compare`]: run-to-run comparison with regression thresholds.
//! - [`merge`]: the results of the segments of one run (`--segment I/N`) combined into one.
//! - [`demo`]: the built-in reference authentication API (`serve-demo`, `run --demo`).
//!
//! [`run`] is the whole program behind `main`: it returns an [`ExitStatus`] that `main` turns into the process
//! exit code.

pub mod cli;
pub mod compare;
pub mod data;
pub mod demo;
pub mod engine;
pub mod error;
pub mod files;
pub mod gates;
pub mod merge;
pub mod metrics;
pub mod plan;
pub mod preflight;
pub mod report;
pub mod results;
pub mod scenario;
pub mod shown;
pub mod validity;
pub mod verdict;
pub mod watch;

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use cli::{Cli, Command, DemoArgs, ReportArgs, RunArgs};
use error::Error;
use tokio_util::sync::CancellationToken;

/// How a command ended; each is a documented exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Every gate passed; without gates, no request failed: 0.
    Pass,
    /// A gate failed, or ended the run (`abort_on_fail`); without gates, a request failed: 1. See
    /// [`verdict`].
    GatesFailed,
    /// Invalid scenario, bad usage, or a failure to start or write results: 2.
    Error,
    /// The run is invalid: loadgen could not keep its plan (arrival rate not reached, users not started on
    /// schedule, its scheduler lagging), so the figures say nothing certain about the server: 3.
    Invalid,
    /// The `[preflight]` checks still failed at their timeout: the target is not ready, no load was sent: 4.
    NotReady,
    /// Stopped by SIGINT or SIGTERM before the end; results are still written: 130.
    Interrupted,
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Pass => 0,
            ExitStatus::GatesFailed => 1,
            ExitStatus::Error => 2,
            ExitStatus::Invalid => 3,
            ExitStatus::NotReady => 4,
            ExitStatus::Interrupted => 130,
        }
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(s: ExitStatus) -> Self {
        std::process::ExitCode::from(s.code())
    }
}

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

/// Runs the command `cli` describes.
pub async fn run(cli: Cli) -> ExitStatus {
    let quiet = cli.quiet;
    match dispatch(cli).await {
        Ok(status) => status,
        Err(e) => {
            print_error(&e);
            let _ = quiet;
            ExitStatus::Error
        }
    }
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

async fn dispatch(cli: Cli) -> Result<ExitStatus, Error> {
    match cli.command {
        Command::Check(args) => {
            let plan = load_plan(&args.scenario, &args.overrides, None)?;
            out(&plan.describe());
            if !args.preflight {
                out("\nscenario OK: no traffic was sent\n");
                return Ok(ExitStatus::Pass);
            }
            let signals = engine::Signals::default();
            let signal_task = tokio::spawn(watch_signals(
                signals.interrupt.clone(),
                signals.abort.clone(),
            ));
            let status = preflight(&plan, &signals.interrupt, cli.quiet).await;
            signal_task.abort();
            if status == ExitStatus::Pass {
                out("\nscenario OK; the target passed the preflight checks (no load was sent)\n");
            }
            Ok(status)
        }
        Command::Run(args) => run_scenario(*args, cli.quiet).await,
        Command::Report(args) => report_saved(args, cli.quiet),
        Command::Merge(args) => merge::run(args, cli.quiet),
        Command::ServeDemo(args) => serve_demo(args).await,
        Command::Compare(args) => {
            let thresholds = compare::Thresholds {
                max_p50_increase: args.max_p50_increase,
                max_p95_increase: Some(args.max_p95_increase),
                max_p99_increase: Some(args.max_p99_increase),
                max_success_drop: Some(args.max_success_drop),
                min_rps_ratio: args.min_rps_ratio,
                min_latency_delta_ms: args.min_latency_delta_ms,
                min_requests: args.min_requests,
            };
            let c = compare::compare(&args.base, &args.new, thresholds)?;
            out(&c.render(args.format));
            Ok(c.exit_status())
        }
    }
}

fn load_plan(
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
        no_fail_on_errors: o.no_fail_on_errors,
    };
    let plan = plan::resolve(&loaded, &overrides)?;
    match o.segment {
        Some(segment) => plan.for_segment(segment),
        None => Ok(plan),
    }
}

/// Prints the console summary: on stdout, or on stderr when a results file goes to stdout (`--json -`), so that
/// stdout holds that file alone.
pub(crate) fn print_summary(outputs: &report::outputs::Outputs, text: &str) {
    if outputs.uses_stdout() {
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    } else {
        out(text);
    }
}

/// Writes to stdout, ignoring a closed pipe (`loadgen run … | head` is not a crash).
fn out(s: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(s.as_bytes());
    let _ = stdout.flush();
}

async fn run_scenario(args: RunArgs, quiet: bool) -> Result<ExitStatus, Error> {
    // Validate before starting anything, so a bad scenario costs nothing.
    let demo_placeholder = args.demo.then(|| "http://127.0.0.1:1".to_string());
    load_plan(&args.scenario, &args.overrides, demo_placeholder)?;
    if let Some(at) = args.start_at {
        check_start_at(at)?;
    }
    let outputs = report::outputs::Outputs::prepare(args.json.as_deref(), &args.outputs)?;
    // Bound before any traffic, so a port in use fails at once; served until the end of the grace period.
    let published = report::prometheus::Published::default();
    let metrics = match args.metrics_addr {
        Some(addr) => {
            let server = report::prometheus::MetricsServer::start(addr, published.clone()).await?;
            if !quiet {
                eprintln!("serving metrics on http://{}/metrics", server.local_addr());
            }
            Some(server)
        }
        None => None,
    };

    let demo = if args.demo {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let server = demo::DemoServer::start(addr, demo::DemoConfig::default())
            .map_err(|e| Error::io("cannot start the reference API (--demo)", e))?;
        tracing::info!("reference API listening on {}", server.url());
        Some(server)
    } else {
        None
    };
    let plan = Arc::new(load_plan(
        &args.scenario,
        &args.overrides,
        demo.as_ref().map(demo::DemoServer::url),
    )?);
    if !quiet {
        let load = match &plan.load {
            plan::Load::Ramp { spawn_rate } => format!("{} users at {spawn_rate}/s", plan.users),
            plan::Load::Stages(s) => format!("{} stages up to {} users", s.len(), plan.users),
            plan::Load::Arrival(a) => format!(
                "{} iterations/s (at most {} users)",
                plan::fmt_rate(a.peak_rate()),
                plan.users
            ),
        };
        eprintln!(
            "loadgen {}: {load} for {} against {}",
            plan.name,
            humantime::format_duration(plan.duration),
            plan.host_display()
        );
    }

    if plan.tls.insecure && !quiet {
        eprintln!(
            "warning: TLS certificates are not verified (--insecure or [target] insecure = true): any server \
             certificate is accepted, so the server is not authenticated"
        );
    }
    check_descriptors(plan.users, args.demo);

    let signals = engine::Signals::default();
    let signal_task = tokio::spawn(watch_signals(
        signals.interrupt.clone(),
        signals.abort.clone(),
    ));
    // The checks first, then the common start: segments that wait for --start-at begin together whatever
    // their checks took.
    let mut ready = preflight(&plan, &signals.interrupt, quiet).await;
    if ready == ExitStatus::Pass
        && let Some(at) = args.start_at
        && wait_for_start(at, quiet, &signals.interrupt).await
    {
        ready = ExitStatus::Interrupted;
    }
    if ready != ExitStatus::Pass {
        signal_task.abort();
        if let Some(server) = demo {
            let _ = tokio::task::spawn_blocking(move || server.shutdown()).await;
        }
        return Ok(ready);
    }
    // Refreshed every second only where they are regular files: a device or FIFO gets them once, at the end.
    let live_csv = outputs
        .csv
        .clone()
        .filter(report::csv::CsvFiles::is_regular)
        .map(|files| report::csv::LiveCsv::start(files, plan.clone()))
        .transpose()?;
    let run_id = engine::new_run_id();
    let live_metrics = metrics.as_ref().map(|_| {
        report::prometheus::LiveMetrics::new(plan.clone(), run_id.clone(), published.clone())
    });
    let watches = (
        watch::GateWatch::new(plan.clone(), quiet),
        (!quiet).then(|| watch::TargetWatch::new(plan.host_display(), !args.demo)),
    );
    let mut observers = (
        report::progress::Progress::new(plan.duration, plan.users, !quiet, args.progress_interval),
        ((live_csv, live_metrics), watches),
    );
    let outcome = engine::run(plan.clone(), run_id, signals, &mut observers).await?;
    let (progress, ((live_csv, _), (gate_watch, _))) = observers;
    progress.finish();
    // The live files are rewritten from the results below.
    drop(live_csv);
    signal_task.abort();
    if let Some(server) = demo {
        // shutdown() joins the server's thread: keep it off the async workers.
        let _ = tokio::task::spawn_blocking(move || server.shutdown()).await;
    }

    let results = report::RunResults::build(
        &plan,
        &outcome,
        gate_watch.and_then(watch::GateWatch::aborted),
    );
    let verdict = verdict::Verdict::of(&results);
    let (written, first_error) = outputs.write(&results);
    if !quiet {
        print_summary(&outputs, &report::console::render(&results));
        if !written.is_empty() {
            eprintln!("results written to {}", written.join(", "));
        }
    }
    if let Some(server) = metrics {
        serve_final_metrics(server, &published, args.metrics_grace, quiet).await;
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    Ok(verdict.exit_status())
}

/// Serves the final figures for `grace` after the run, so the last scrape sees them; an interrupt (Ctrl-C or
/// SIGTERM, which loadgen handles itself since the run began) cuts it short.
async fn serve_final_metrics(
    server: report::prometheus::MetricsServer,
    published: &report::prometheus::Published,
    grace: std::time::Duration,
    quiet: bool,
) {
    published.finish();
    if !quiet {
        eprintln!(
            "serving the final metrics on http://{}/metrics for {}",
            server.local_addr(),
            humantime::format_duration(grace)
        );
    }
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let term = async {
        #[cfg(unix)]
        if let Some(t) = term.as_mut() {
            t.recv().await;
            return;
        }
        std::future::pending::<()>().await
    };
    tokio::select! {
        _ = tokio::time::sleep(grace) => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
    server.shutdown().await;
}

/// How far in the past `--start-at` may be (clocks of machines in sync differ a little, and pods start late).
const START_AT_SLACK: std::time::Duration = std::time::Duration::from_secs(5);

/// Refuses a `--start-at` already past by more than [`START_AT_SLACK`] (exit 2, before any traffic).
fn check_start_at(at: std::time::SystemTime) -> Result<(), Error> {
    let now = std::time::SystemTime::now();
    match now.duration_since(at) {
        Ok(late) if late > START_AT_SLACK => Err(Error::Usage(format!(
            "--start-at {} is {} in the past (now {}); give a time ahead, e.g. a minute from now",
            humantime::format_rfc3339_seconds(at),
            humantime::format_duration(std::time::Duration::from_secs(late.as_secs())),
            humantime::format_rfc3339_seconds(now)
        ))),
        _ => Ok(()),
    }
}

/// Holds the start until `--start-at`; true when interrupted meanwhile.
async fn wait_for_start(
    at: std::time::SystemTime,
    quiet: bool,
    interrupt: &CancellationToken,
) -> bool {
    let Ok(wait) = at.duration_since(std::time::SystemTime::now()) else {
        return false;
    };
    if !quiet {
        eprintln!(
            "waiting {} for --start-at {}",
            humantime::format_duration(std::time::Duration::from_millis(wait.as_millis() as u64)),
            humantime::format_rfc3339_seconds(at)
        );
    }
    tokio::select! {
        _ = tokio::time::sleep(wait) => false,
        _ = interrupt.cancelled() => true,
    }
}

/// `loadgen report`: the summary of a saved results file, and any report written from it.
fn report_saved(args: ReportArgs, quiet: bool) -> Result<ExitStatus, Error> {
    let results = report::json::read(&args.results)?;
    let outputs = report::outputs::Outputs::prepare(None, &args.outputs)?;
    let (written, first_error) = outputs.write(&results);
    if !quiet {
        print_summary(&outputs, &report::console::render(&results));
        if !written.is_empty() {
            eprintln!("written: {}", written.join(", "));
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(ExitStatus::Pass),
    }
}

/// Raises the open-files soft limit to the hard limit, and warns up front when the planned users (one connection
/// each, two descriptors each with `--demo`, which serves in the same process) will not fit.
fn check_descriptors(users: u64, demo: bool) {
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!("cannot read or raise the open-files limit: {e}");
            return;
        }
    };
    let per_user = if demo { 2 } else { 1 };
    let needed = users.saturating_mul(per_user).saturating_add(64);
    let mut limit = limit;
    if needed > limit {
        // With the privilege (root, CAP_SYS_RESOURCE) the hard limit can go up to the kernel's fs.nr_open.
        let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(0);
        let want = needed.next_power_of_two().min(nr_open);
        if want > limit && rlimit::Resource::NOFILE.set(want, want).is_ok() {
            tracing::info!("raised the open-files limit from {limit} to {want}");
            limit = want;
        }
    }
    if needed > limit {
        eprintln!(
            "warning: {users} users need about {needed} open files{}, but the limit is {limit}; connections past it \
             will fail with \"too many open files\". Raise it first, e.g. `ulimit -n {}` (or LimitNOFILE= in a \
             systemd unit){}",
            if demo {
                " (client and --demo server in one process)"
            } else {
                ""
            },
            needed.next_power_of_two(),
            if demo {
                ", or run the target as its own process with `loadgen serve-demo`"
            } else {
                ""
            }
        );
    }
}

/// Runs the plan's `[preflight]` checks, if it has any: `Pass` when they pass (or there are none), `NotReady`
/// when they still fail at their timeout (the reason is printed), `Interrupted` on a signal meanwhile.
async fn preflight(plan: &plan::RunPlan, interrupt: &CancellationToken, quiet: bool) -> ExitStatus {
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

/// First SIGINT/SIGTERM: graceful stop. Second: stop now.
async fn watch_signals(interrupt: CancellationToken, abort: CancellationToken) {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    for token in [&interrupt, &abort] {
        #[cfg(unix)]
        {
            let term_recv = async {
                match term.as_mut() {
                    Some(t) => {
                        t.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term_recv => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        if token.is_cancelled() {
            continue;
        }
        if std::ptr::eq(token, &interrupt) {
            eprintln!("\ninterrupted: stopping users (press Ctrl-C again to stop at once)");
        }
        token.cancel();
    }
}

async fn serve_demo(args: DemoArgs) -> Result<ExitStatus, Error> {
    if !(0.0..=1.0).contains(&args.error_rate) {
        return Err(Error::Usage(format!(
            "--error-rate must be between 0 and 1, got {}",
            args.error_rate
        )));
    }
    let latency_jitter = args
        .jitter
        .as_deref()
        .map(str::parse::<demo::Jitter>)
        .transpose()
        .map_err(|e| Error::Usage(format!("--jitter: {e}")))?;
    let stall = args
        .stall
        .as_deref()
        .map(str::parse::<demo::Stall>)
        .transpose()
        .map_err(|e| Error::Usage(format!("--stall: {e}")))?;
    let config = demo::DemoConfig {
        latency: args.latency,
        latency_jitter,
        error_rate: args.error_rate,
        stall,
        rate_limit: args.rate_limit,
        rate_window: args.rate_window,
        token_ttl: args.token_ttl,
        unhealthy_for: args.unhealthy_for,
        ..demo::DemoConfig::default()
    };
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| Error::io(format!("cannot listen on {}", args.addr), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::io("cannot read the listening address", e))?;
    out(&format!(
        "loadgen reference API listening on http://{addr}\n"
    ));
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    demo::serve(listener, config, shutdown)
        .await
        .map_err(|e| Error::io("the reference API failed", e))?;
    Ok(ExitStatus::Pass)
}
