//! The command line: `run`, `check`, `report`, `compare`, `serve-demo` and the helpers (`init`, `completions`,
//! `man`), with Locust's letters (and `--csv`) for the load overrides and outputs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// `loadgen --version`: the package version and the commit it was built from (`build.rs`).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("LOADGEN_COMMIT"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "loadgen",
    version = VERSION,
    about = "Load-test HTTP APIs from declarative TOML scenarios, with HDR latency statistics and quality gates.",
    after_help = "Examples:\n  loadgen run scenarios/baseline.toml --demo -t 20s\n  loadgen run scenarios/stress.toml --json out.json && echo pass\n  loadgen check scenarios/stress.toml\n\nExit codes (run and merge):\n  0    passed: every gate passed; without gates, no request failed\n  1    failed: a gate failed or ended the run (abort_on_fail); without gates,\n       a request failed (unless --no-fail-on-errors)\n  2    invalid scenario or usage, bad input, or results not written\n  3    invalid run: loadgen could not keep its plan\n  4    target not ready ([preflight] still failing); no load was sent\n  130  interrupted (SIGINT/SIGTERM); the results are still written"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors on stderr; no progress line and no summary on stdout.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario and judge it against its gates.
    #[command(
        after_help = "Examples:\n  loadgen run scenarios/baseline.toml --demo -t 30s\n  loadgen run scenarios/stress.toml --host http://127.0.0.1:8000 -u 200 -r 20 --json out.json"
    )]
    Run(Box<RunArgs>),
    /// Validate a scenario and print its resolved plan, without sending any traffic.
    #[command(after_help = "Example:\n  loadgen check scenarios/stress.toml -u 50")]
    Check(CheckArgs),
    /// Compare two results files of one scenario and flag regressions (exit 1 when there is one).
    #[command(
        after_help = "Examples:\n  loadgen compare main.json branch.json\n  loadgen compare main.json branch.json --max-p95-increase 5% --min-rps-ratio 0.95 --format markdown\n\nA latency is a regression when it grew by more than its threshold and by more than --min-latency-delta-ms; rows with fewer than --min-requests requests on either side are shown but not judged. Exit codes: 0 no regression, 1 regression, 2 bad input, 3 no verdict (a run is invalid, or too few requests to judge the totals)."
    )]
    Compare(CompareArgs),
    /// Print the summary of a saved results file and write any report from it (HTML, CSV, JUnit, Markdown).
    #[command(
        after_help = "Examples:\n  loadgen report out.json --html report.html\n  loadgen report out.json --csv results --csv-full-history --junit junit.xml\n  loadgen report baseline.json stress.json ultimate.json --html suite.html --json suite.json\n\nWith several results files, the combined report of `loadgen suite` (docs/suite.md). The results JSON is the source of truth: the files written here are the ones `loadgen run` writes with the same flags. Exit codes: 0 written, 2 unreadable results or unwritable output."
    )]
    Report(ReportArgs),
    /// Combine the results of the segments of one run (`run --segment I/N`) into one, and judge it by its gates.
    #[command(
        after_help = "Examples:\n  loadgen merge seg-0.json seg-1.json seg-2.json seg-3.json --json merged.json --html report.html\n\nCounts are added, latency histograms merged exactly (percentiles are those of all requests together), time series aligned on wall-clock seconds, and the gates evaluated on the merged results. Exit codes: 0 passed, 1 failed (a gate failed, a segment was ended by a gate, or without gates a request failed), 2 inputs that do not belong together (different scenarios, schema versions, segment counts, or a segment given twice) or unreadable, 3 a segment's run was invalid or a segment is missing, 130 a segment was interrupted. Missing segments are reported and the result is marked incomplete."
    )]
    Merge(MergeArgs),
    /// Open the live web UI with a start form (users, rate, duration, host), then run the scenario from it.
    #[command(
        after_help = "Examples:\n  loadgen ui scenarios/stress.toml --demo\n  loadgen ui scenarios/stress.toml --host http://127.0.0.1:8000 --ui 127.0.0.1:8089\n\nThe page is at http://127.0.0.1:8089/ unless --ui says otherwise; every `run` option applies (the form's values override the scenario's, as -u/-r/--rate/-t/--host do). Exit codes: those of `run`."
    )]
    Ui(Box<RunArgs>),
    /// Serve the built-in reference authentication API (the target of the shipped scenarios).
    #[command(
        after_help = "Examples:\n  loadgen serve-demo --addr 127.0.0.1:8000\n  loadgen serve-demo --latency 5ms --jitter exp:20ms --error-rate 0.01"
    )]
    ServeDemo(DemoArgs),
    // Issue 20 item 7: `loadgen init`.
    /// Write a commented starter scenario (default loadgen.toml) that runs against the built-in API as it is.
    #[command(
        after_help = "Examples:\n  loadgen init && loadgen run loadgen.toml --demo -t 10s\n  loadgen init api.toml --host https://staging.example.com\n\nAn existing file is left alone (exit 2) unless --force. Exit codes: 0 written, 2 not written."
    )]
    Init(InitArgs),
    // Issue 20 item 5: shell completions and the man page.
    /// Print a shell completion script on stdout (bash, zsh, fish, powershell or elvish).
    #[command(
        after_help = "Examples:\n  loadgen completions bash > ~/.local/share/bash-completion/completions/loadgen\n  loadgen completions zsh > ~/.zfunc/_loadgen        # with fpath+=(~/.zfunc) before compinit\n  loadgen completions fish > ~/.config/fish/completions/loadgen.fish"
    )]
    Completions(CompletionsArgs),
    /// Print the man page (roff) on stdout, or write one page per command into a directory.
    #[command(
        after_help = "Examples:\n  loadgen man | man -l -\n  loadgen man --dir /usr/local/share/man/man1"
    )]
    Man(ManArgs),
    // Issue 21 item 1: `loadgen suite`.
    /// Run several scenarios in order (the levels) and write one combined report comparing them.
    #[command(
        after_help = "Examples:\n  loadgen suite scenarios/levels.toml --demo -t 30s --out-dir results --html suite.html\n  loadgen suite baseline.toml stress.toml --host http://127.0.0.1:8000 --pause 30s --stop-on-failure --markdown \"$GITHUB_STEP_SUMMARY\"\n\nA FILE with a [suite] table (scenarios = [...], pause, stop_on_failure) lists the scenarios, relative to it. Every run option applies to each run. Exit code: the worst of the runs, 130 (interrupted) > 2 > 4 > 3 > 1 > 0; see docs/suite.md."
    )]
    Suite(Box<SuiteArgs>),
    // Issue 20 items 2 and 3: `loadgen import har|locust`.
    /// Write a scenario from a browser's HAR recording or from a locustfile.
    #[command(
        after_help = "Examples:\n  loadgen import har recording.har -o checkout.toml\n  loadgen import locust locustfile.py -o auth.toml && loadgen check auth.toml\n\nThe scenario is printed on stdout unless -o names a file (an existing one is left alone unless --force). What could not be translated is listed as comments at the end of the scenario, with its line in the source. Exit codes: 0 written, 2 unreadable or unparsable source, or not written."
    )]
    Import(ImportArgs),
}

/// `loadgen import`'s arguments.
#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub source: ImportSource,
    /// Write the scenario to this file instead of stdout.
    #[arg(short, long, value_name = "FILE", global = true)]
    pub output: Option<PathBuf>,
    /// Replace the output file if it exists.
    #[arg(long, global = true)]
    pub force: bool,
}

/// What `loadgen import` reads.
#[derive(Debug, Subcommand)]
pub enum ImportSource {
    /// A HAR file recorded by a browser's developer tools (one flow per page).
    Har(ImportHarArgs),
    /// A locustfile (its common subset: HttpUser, @task, wait_time, on_start, self.client calls).
    Locust(ImportLocustArgs),
}

/// `loadgen import har`'s arguments.
#[derive(Debug, Args)]
pub struct ImportHarArgs {
    /// The HAR file.
    #[arg(value_name = "FILE.har")]
    pub file: PathBuf,
    /// Keep static assets (scripts, styles, images, fonts), left out by default.
    #[arg(long)]
    pub keep_static: bool,
}

/// `loadgen import locust`'s arguments.
#[derive(Debug, Args)]
pub struct ImportLocustArgs {
    /// The locustfile.
    #[arg(value_name = "LOCUSTFILE.py")]
    pub file: PathBuf,
}

/// `loadgen init`'s arguments.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The scenario file to write.
    #[arg(default_value = "loadgen.toml", value_name = "FILE")]
    pub file: PathBuf,
    /// The target's base URL written into the scenario (default http://127.0.0.1:8000, where
    /// `loadgen serve-demo` listens).
    #[arg(long, value_name = "URL")]
    pub host: Option<String>,
    /// Replace FILE if it exists.
    #[arg(long)]
    pub force: bool,
}

/// `loadgen completions`' arguments.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `loadgen man`'s arguments.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write loadgen.1 and a page per command (loadgen-run.1, ...) into this existing directory instead.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Values that override the scenario's.
#[derive(Debug, Clone, Args)]
pub struct Overrides {
    /// Target base URL, e.g. http://127.0.0.1:8000 (overrides target.host in the scenario).
    #[arg(long, value_name = "URL")]
    pub host: Option<String>,
    /// Number of concurrent users (overrides load.users; with an arrival rate, load.max_users).
    #[arg(short = 'u', long, value_parser = parse_users)]
    pub users: Option<u64>,
    /// Users started per second (overrides load.spawn_rate).
    #[arg(short = 'r', long, value_name = "RATE", value_parser = parse_spawn_rate)]
    pub spawn_rate: Option<f64>,
    /// Start iterations at this constant rate per second whatever the response times (an open-model load,
    /// like wrk2's -R), replacing the scenario's load model; -u then sets the most users at once.
    #[arg(
        long = "rate",
        value_name = "PER_SECOND",
        conflicts_with = "spawn_rate",
        value_parser = parse_rate
    )]
    pub rate: Option<f64>,
    /// Run only the tasks tagged with one of these (comma-separated); on_start and on_stop always run.
    #[arg(long, value_name = "TAG,...", value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Leave out the tasks tagged with one of these (comma-separated).
    #[arg(long, value_name = "TAG,...", value_delimiter = ',')]
    pub exclude_tags: Vec<String>,
    /// Run time, e.g. 30s, 5m, 1h30m (overrides load.duration).
    #[arg(short = 't', long = "duration", visible_alias = "run-time", value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Stop after N task iterations in all (across users), or at the duration if that comes first (overrides
    /// load.iterations).
    #[arg(long, value_name = "N", value_parser = parse_iterations)]
    pub iterations: Option<u64>,
    /// Accept any https server certificate (self-signed test servers); the handshake is still encrypted and
    /// signed, but the server is not authenticated. Same as target.insecure = true.
    #[arg(long, short = 'k')]
    pub insecure: bool,
    /// Trust the CA certificates in this PEM file besides the built-in roots, for servers with a private or
    /// self-signed CA (overrides target.ca_file).
    #[arg(long, value_name = "PEM_FILE")]
    pub ca_file: Option<PathBuf>,
    /// Show this certificate (PEM, the client's own first, then its chain) to https servers that ask for one
    /// (mutual TLS); needs --client-key (overrides target.client_cert).
    #[arg(long, value_name = "PEM_FILE")]
    pub client_cert: Option<PathBuf>,
    /// The private key of --client-cert (PEM, unencrypted) (overrides target.client_key).
    #[arg(long, value_name = "PEM_FILE")]
    pub client_key: Option<PathBuf>,
    /// Run only the I-th of N equal parts of the plan (I from 0 to N-1, e.g. a Kubernetes Job's
    /// JOB_COMPLETION_INDEX): its share of the users, spawn rate, arrival rate, iterations and unique data
    /// rows, with user numbers that never collide with another segment's. Combine the results with
    /// `loadgen merge`.
    #[arg(long, value_name = "I/N")]
    pub segment: Option<crate::plan::Segment>,
    /// Without gates, failed requests do not fail the run (by default any failed request then exits 1, as in
    /// Locust; Locust's --exit-code-on-error 0). Same as `[gates] fail_on_errors = false`. With gates, the gates
    /// alone decide.
    #[arg(long)]
    pub no_fail_on_errors: bool,
    /// Search for the breaking point: raise the users (or the arrival rate) in steps, each held and judged by
    /// the scenario's gates, and stop at the first that fails (`[load] search` sets the steps). See
    /// docs/find-limit.md.
    #[arg(long)]
    pub find_limit: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The scenario file (TOML).
    pub scenario: PathBuf,
    #[command(flatten)]
    pub overrides: Overrides,
    /// Write the results as JSON to FILE (checked before the run, written atomically after it); `-` is stdout
    /// (the summary then goes to stderr).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub outputs: Outputs,
    /// Start the built-in reference API on a loopback port and run against it.
    #[arg(long, conflicts_with = "host")]
    pub demo: bool,
    /// Hold the start until this time (RFC 3339 in UTC, e.g. 2026-11-23T15:00:00Z), so that segments on
    /// several machines begin together. A time more than a few seconds past is an error.
    #[arg(long, value_name = "TIME", value_parser = parse_start_at)]
    pub start_at: Option<std::time::SystemTime>,
    /// Serve live metrics for Prometheus at http://ADDR/metrics during the run, e.g. 127.0.0.1:9464 (port 0
    /// picks a free port, printed on stderr). See docs/monitoring.md.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// With --metrics-addr: keep serving the final figures this long after the run, so the last scrape sees
    /// them.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5s", requires = "metrics_addr")]
    pub metrics_grace: Duration,
    /// When stderr is not a terminal (a CI log), print a plain status line this often (0 turns it off); on a
    /// terminal the live progress bar is drawn instead.
    #[arg(
        long,
        value_name = "DURATION",
        value_parser = parse_duration,
        default_value = "10s",
        env = "LOADGEN_PROGRESS_INTERVAL"
    )]
    pub progress_interval: Duration,
    // Issue 19: the live web UI.
    /// Serve a live page of the run at ADDR (default 127.0.0.1:8089, Locust's port): the statistics, charts,
    /// gates and failures as they stand, a Stop button, and the users (or arrival rate) changed while it runs.
    /// After the run the page stays up with the verdict and links to the report for --ui-linger.
    #[arg(
        long,
        value_name = "ADDR",
        num_args = 0..=1,
        default_missing_value = crate::ui::DEFAULT_ADDR,
        require_equals = false
    )]
    pub ui: Option<SocketAddr>,
    /// Allow --ui on an address other than loopback (reachable from other machines): every request then needs
    /// the access token, which is printed in the page's URL.
    #[arg(long)]
    pub ui_remote: bool,
    /// The access token for --ui (at least 16 letters, digits, - or _); one is made when --ui-remote has none.
    /// Setting it makes every request need it, on loopback too.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "LOADGEN_UI_TOKEN",
        hide_env_values = true
    )]
    pub ui_token: Option<String>,
    /// With --ui: how long the page stays up after the run, with the verdict and the links to the report and
    /// the results (Ctrl-C ends it sooner; the exit status is the run's).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5m")]
    pub ui_linger: Duration,
    // Issue 18 item 6: `--debug N`.
    /// Send no load: run ONE user (its on_start, N tasks picked as usual, its on_stop) and print each request
    /// as sent and each answer as received (headers, body excerpts up to 1 KiB) on stdout, secrets masked.
    /// Exit 0 when every request met its expectation, 1 otherwise. No results files, gates or progress.
    #[arg(
        long,
        value_name = "N",
        value_parser = parse_debug,
        conflicts_with_all = [
            "users", "spawn_rate", "rate", "duration", "iterations", "segment", "no_fail_on_errors",
            "json", "junit", "markdown", "html", "csv", "start_at", "metrics_addr", "ui",
        ]
    )]
    pub debug: Option<u64>,
    /// With --debug: show the values that are masked by default (Authorization and cookie values, captured
    /// values, passwords and tokens). Do not use where the output is kept (CI logs).
    #[arg(long, requires = "debug")]
    pub debug_secrets: bool,
}

/// `--debug`: task iterations, 1 to [`MAX_DEBUG_ITERATIONS`].
pub fn parse_debug(s: &str) -> Result<u64, String> {
    whole(
        s,
        1..=MAX_DEBUG_ITERATIONS,
        &format!("give from 1 to {MAX_DEBUG_ITERATIONS} task iterations"),
    )
}

/// The most task iterations `--debug` runs: a transcript is read by a person.
pub const MAX_DEBUG_ITERATIONS: u64 = 1000;

/// `merge`'s inputs and outputs.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The results files of the segments (`loadgen run --segment I/N --json FILE`), in any order.
    #[arg(required = true, value_name = "RESULTS")]
    pub results: Vec<PathBuf>,
    /// Write the merged results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub outputs: Outputs,
}

/// The report files `run` and `report` write.
#[derive(Debug, Clone, Default, Args)]
pub struct Outputs {
    /// Write the gate results as JUnit XML to FILE (one test case per gate), for CI test reports; `-` is stdout.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a Markdown summary (verdict, gates, requests) to FILE, e.g. "$GITHUB_STEP_SUMMARY" (appended to, as
    /// `>>` does, when it is that file); `-` is stdout.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// With --markdown: append to FILE instead of replacing it.
    #[arg(long, requires = "markdown")]
    pub markdown_append: bool,
    /// Write a self-contained HTML report (tables and charts, no network needed to open it) to FILE; `-` is
    /// stdout.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write Locust-compatible PREFIX_stats.csv, PREFIX_stats_history.csv, PREFIX_failures.csv and
    /// PREFIX_exceptions.csv (refreshed every second during a run).
    #[arg(long, value_name = "PREFIX")]
    pub csv: Option<PathBuf>,
    /// With --csv: a history row per request name every second, not only the Aggregated one.
    #[arg(long, requires = "csv")]
    pub csv_full_history: bool,
    /// With --csv: loadgen's exact values (ms with µs resolution, the history's percentiles per second)
    /// instead of Locust's formats (whole-ms percentiles, Python's number text, Locust's windows).
    #[arg(long, requires = "csv")]
    pub csv_exact: bool,
}

impl Outputs {
    /// The paths to write, with `--json` where the command has it.
    pub fn requested(&self, json: Option<&std::path::Path>) -> crate::report::outputs::Requested {
        crate::report::outputs::Requested {
            json: json.map(std::path::Path::to_path_buf),
            junit: self.junit.clone(),
            markdown: self.markdown.clone(),
            markdown_append: self.markdown_append,
            html: self.html.clone(),
            csv: self.csv.clone(),
            csv_full_history: self.csv_full_history,
            csv_exact: self.csv_exact,
        }
    }
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A results file written by `loadgen run --json`; several (e.g. a suite's levels) build the combined
    /// report of `loadgen suite` instead (--json, --markdown and --html only).
    #[arg(required = true, value_name = "RESULTS")]
    pub results: Vec<PathBuf>,
    #[command(flatten)]
    pub outputs: Outputs,
    /// Write the results as JSON to FILE; with several results files, the combined document.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// `loadgen suite`'s arguments (issue 21 item 1).
#[derive(Debug, Args)]
pub struct SuiteArgs {
    /// The scenario files, run in this order; or a suite file (`[suite] scenarios = [...]`).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub overrides: Overrides,
    /// Start the built-in reference API on a loopback port for each run and run against it.
    #[arg(long, conflicts_with = "host")]
    pub demo: bool,
    /// Wait this long between two runs (default 0, or the suite file's `pause`).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub pause: Option<Duration>,
    /// Stop after the first run that does not pass (the rest are not run).
    #[arg(long)]
    pub stop_on_failure: bool,
    /// Write each run's results here as DIR/NAME.json (NAME: the scenario's name), and the --per-run formats.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// With --out-dir: also write each run's own report in these formats (DIR/NAME.html, .md, .junit.xml, and
    /// NAME_*.csv).
    #[arg(
        long,
        value_name = "FORMAT,...",
        value_delimiter = ',',
        requires = "out_dir"
    )]
    pub per_run: Vec<PerRun>,
    /// Write the combined report as JSON to FILE (each run's summary and the analysis).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the combined report as Markdown to FILE, e.g. "$GITHUB_STEP_SUMMARY" (appended to when it is).
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// With --markdown: append to FILE instead of replacing it.
    #[arg(long, requires = "markdown")]
    pub markdown_append: bool,
    /// Write the combined report as one self-contained HTML page to FILE (tables, analysis, charts comparing
    /// the levels).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// As `run --progress-interval`.
    #[arg(
        long,
        value_name = "DURATION",
        value_parser = parse_duration,
        default_value = "10s",
        env = "LOADGEN_PROGRESS_INTERVAL"
    )]
    pub progress_interval: Duration,
}

/// A run's own report that `suite --per-run` writes beside its results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PerRun {
    Html,
    Markdown,
    Junit,
    Csv,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The scenario file (TOML).
    pub scenario: PathBuf,
    /// Also run the scenario's `[preflight]` checks against the target (exit 4 when it is not ready).
    #[arg(long)]
    pub preflight: bool,
    #[command(flatten)]
    pub overrides: Overrides,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The reference run's results (`--json` of loadgen run).
    pub base: PathBuf,
    /// The run to judge.
    pub new: PathBuf,
    /// Largest accepted p50 increase, in percent (not judged unless given).
    #[arg(long, value_parser = crate::compare::parse_percent, value_name = "PCT")]
    pub max_p50_increase: Option<f64>,
    /// Largest accepted p95 increase, in percent.
    #[arg(long, value_parser = crate::compare::parse_percent, default_value = "10%", value_name = "PCT")]
    pub max_p95_increase: f64,
    /// Largest accepted p99 increase, in percent.
    #[arg(long, value_parser = crate::compare::parse_percent, default_value = "20%", value_name = "PCT")]
    pub max_p99_increase: f64,
    /// Largest accepted success-rate drop, in percentage points (0 to 100).
    #[arg(long, default_value = "0.5", value_name = "POINTS", value_parser = parse_points)]
    pub max_success_drop: f64,
    /// Smallest accepted ratio of new to base requests/s, e.g. 0.95 (not judged unless given).
    #[arg(long, value_name = "RATIO", value_parser = parse_ratio)]
    pub min_rps_ratio: Option<f64>,
    /// Latency changes smaller than this many ms are never regressions.
    #[arg(long, default_value = "1", value_name = "MS", value_parser = parse_delta_ms)]
    pub min_latency_delta_ms: f64,
    /// Rows with fewer requests than this on either side are not judged.
    #[arg(long, default_value_t = 100)]
    pub min_requests: u64,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: crate::compare::Format,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address to listen on (port 0 picks a free port; the URL is printed on stdout).
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub addr: SocketAddr,
    /// Fixed latency added to every response, e.g. 5ms.
    #[arg(long, value_parser = parse_duration, default_value = "0ms")]
    pub latency: Duration,
    /// Random extra latency: uniform:LO..HI or exp:MEAN, e.g. exp:20ms.
    #[arg(long)]
    pub jitter: Option<String>,
    /// Fraction of requests (not /health) answered with 500, 0 to 1.
    #[arg(long, default_value = "0", value_parser = parse_fraction)]
    pub error_rate: f64,
    /// Pause all responses for PAUSE every EVERY, written PAUSE/EVERY, e.g. 1s/5s.
    #[arg(long)]
    pub stall: Option<String>,
    /// Protected operations allowed per user per window before 429.
    #[arg(long, default_value_t = 10)]
    pub rate_limit: u32,
    /// The rate-limit window.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    pub rate_window: Duration,
    /// Lifetime of issued tokens.
    #[arg(long, value_parser = parse_duration, default_value = "15m")]
    pub token_ttl: Duration,
    /// For this long after start, /health answers 503 {"status":"starting"} (a service still starting).
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    pub unhealthy_for: Duration,
    /// The most requests served at once (not /health); one more is answered 503 at once. 0: no limit.
    #[arg(long, default_value_t = 0)]
    pub capacity: u64,
    /// Stop (as on SIGTERM) when stdin reaches its end: how `run --demo` ties its child API to itself.
    #[arg(long, hide = true)]
    pub until_stdin_closes: bool,
}

/// A number flag's value: a finite number within `range` (NaN, infinities and values out of range are usage
/// errors, so no check downstream is switched off by a NaN).
fn number(s: &str, range: std::ops::RangeInclusive<f64>, what: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number; {what}"))?;
    if !v.is_finite() || !range.contains(&v) {
        return Err(format!("`{s}` is out of range; {what}"));
    }
    Ok(v)
}

/// A whole number within `range`.
fn whole(s: &str, range: std::ops::RangeInclusive<u64>, what: &str) -> Result<u64, String> {
    let v: u64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a whole number; {what}"))?;
    if !range.contains(&v) {
        return Err(format!("`{s}` is out of range; {what}"));
    }
    Ok(v)
}

/// `-u`: from 1 to [`crate::plan::MAX_USERS`].
pub fn parse_users(s: &str) -> Result<u64, String> {
    use crate::plan::MAX_USERS;
    whole(
        s,
        1..=MAX_USERS,
        &format!("give from 1 to {MAX_USERS} users"),
    )
}

/// `-r`: users per second, within the plan's limits.
pub fn parse_spawn_rate(s: &str) -> Result<f64, String> {
    use crate::plan::{MAX_SPAWN_RATE, MIN_SPAWN_RATE};
    number(
        s,
        MIN_SPAWN_RATE..=MAX_SPAWN_RATE,
        &format!("give from {MIN_SPAWN_RATE} to {MAX_SPAWN_RATE} users per second"),
    )
}

/// `--rate`: iterations per second, within the plan's limits.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    use crate::plan::{MAX_ARRIVAL_RATE, MIN_ARRIVAL_RATE};
    number(
        s,
        MIN_ARRIVAL_RATE..=MAX_ARRIVAL_RATE,
        &format!("give from {MIN_ARRIVAL_RATE} to {MAX_ARRIVAL_RATE} iterations per second"),
    )
}

/// `--iterations`: at least 1.
pub fn parse_iterations(s: &str) -> Result<u64, String> {
    whole(s, 1..=u64::MAX, "give at least 1 iteration")
}

/// `compare --max-success-drop`: percentage points, 0 to 100.
pub fn parse_points(s: &str) -> Result<f64, String> {
    number(s, 0.0..=100.0, "give from 0 to 100 percentage points")
}

/// `compare --min-rps-ratio`: a non-negative ratio, e.g. 0.95.
pub fn parse_ratio(s: &str) -> Result<f64, String> {
    number(s, 0.0..=f64::MAX, "give a ratio of 0 or more, e.g. 0.95")
}

/// `compare --min-latency-delta-ms`: non-negative ms.
pub fn parse_delta_ms(s: &str) -> Result<f64, String> {
    number(s, 0.0..=f64::MAX, "give 0 or more milliseconds, e.g. 1")
}

/// `serve-demo --error-rate`: a fraction from 0 to 1.
pub fn parse_fraction(s: &str) -> Result<f64, String> {
    number(s, 0.0..=1.0, "give a fraction from 0 to 1, e.g. 0.01")
}

/// Parses `--start-at`: RFC 3339 in UTC, e.g. `2026-11-23T15:00:00Z`.
pub fn parse_start_at(s: &str) -> Result<std::time::SystemTime, String> {
    humantime::parse_rfc3339(s.trim()).map_err(|e| {
        format!("`{s}` is not an RFC 3339 time in UTC ({e}); write e.g. 2026-11-23T15:00:00Z")
    })
}

/// Parses `30s`, `5m`, `1h30m`, `250ms`, or a bare number of seconds, as the scenario file does
/// ([`crate::duration::parse`]).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    use crate::duration::DurationError;
    let s = s.trim();
    crate::duration::parse(s).map_err(|e| match e {
        DurationError::Unreadable(why) => {
            format!("`{s}` is not a duration ({why}); write e.g. 30s, 5m, 1h30m")
        }
        DurationError::BadSeconds => format!("`{s}` is not a duration in seconds"),
        DurationError::TooLong => format!("`{s}` is over the maximum of 365 days"),
    })
}

#[cfg(test)]
mod fuzz_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_app() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_parse_like_locust_run_time() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("1e300").is_err());
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("500000000000y").is_err());
    }
}
