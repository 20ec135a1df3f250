//! Locust-compatible CSV files (`--csv PREFIX`, `--csv-full-history`).
//!
//! The four files Locust 2.47 writes, with its headers, column order, row conventions and, by default
//! ([`CsvStyle::Locust`]), its value formats, so an analysis or a tool written for Locust's files (pandas, a
//! spreadsheet, `locust-csv2openmetrics`, which reads percentiles with `int()`) runs unchanged on loadgen's:
//!
//! - `PREFIX_stats.csv`: a row per (method, name) that had requests, sorted by name then method, then
//!   `Aggregated` (computed from all requests together, with an empty `Type`). Percentiles are whole ms, from
//!   Locust's buckets (two significant digits, ties to even); the median is the exact min or max when its bucket
//!   falls outside them; other times, sizes and rates are Python's float text (`278.0`), or an int `0` where
//!   Locust has no value yet; `N/A` percentiles for an entry with no request.
//! - `PREFIX_stats_history.csv`: a row per second for `Aggregated`; with `--csv-full-history` first a row per
//!   entry that has had requests. `Timestamp` is Unix seconds; rates have six decimals; the percentiles are the
//!   run's so far, or with full history the last 10 seconds' (Locust's `use_current`).
//! - `PREFIX_failures.csv`: a row per distinct failure; `First Seen` and `Last Seen` in ISO 8601 UTC. An HTTP
//!   error status reads as `requests`' `HTTPError` with the request's name for the URL, as Locust writes it;
//!   any other failure as a `catch_response` failure, `CatchResponseError('KIND: message')`.
//! - `PREFIX_exceptions.csv`: the header only. Locust lists Python exceptions raised in user code there;
//!   loadgen runs no user code, and every failure is in the failures file.
//!
//! With `--csv-exact` ([`CsvStyle::Exact`]) times are exact HDR values in ms with µs resolution (so `99%` never
//! exceeds `100%`), the history's percentiles are that second's, and failures read `KIND: message`. In both, the
//! history's `Requests/s` is that second's (Locust's is a 10-second average ending 2 s earlier), and lines end in
//! CRLF like Python's csv module.
//!
//! While a run goes the files are refreshed every second ([`LiveCsv`]; the history appended), on a thread of
//! their own ([`crate::engine::observe`]) so that a slow disk never delays the run, and a crash or a kill leaves
//! the data up to that second; at the end they are rewritten from the results ([`CsvFiles::write`]),
//! which is also what `loadgen report --csv` does.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hdrhistogram::Histogram;

use crate::engine::observe::{Background, Totals};
use crate::error::Error;
use crate::files::{Mode, OutputFile};
use crate::metrics::{SeriesPoint, hdr, ms, new_histogram, round3};
use crate::plan::RunPlan;
use crate::report::{FailureEntry, RequestStats, Rows, RunResults};
use crate::results::{FailureKind, Hist, Percentiles};

/// Locust's percentile columns, in its order.
const PERCENTILES: [(&str, f64); 11] = [
    ("50%", 0.50),
    ("66%", 0.66),
    ("75%", 0.75),
    ("80%", 0.80),
    ("90%", 0.90),
    ("95%", 0.95),
    ("98%", 0.98),
    ("99%", 0.99),
    ("99.9%", 0.999),
    ("99.99%", 0.9999),
    ("100%", 1.0),
];

const STATS_HEAD: [&str; 11] = [
    "Type",
    "Name",
    "Request Count",
    "Failure Count",
    "Median Response Time",
    "Average Response Time",
    "Min Response Time",
    "Max Response Time",
    "Average Content Size",
    "Requests/s",
    "Failures/s",
];

const HISTORY_HEAD: [&str; 6] = [
    "Timestamp",
    "User Count",
    "Type",
    "Name",
    "Requests/s",
    "Failures/s",
];

const HISTORY_TOTALS_HEAD: [&str; 7] = [
    "Total Request Count",
    "Total Failure Count",
    "Total Median Response Time",
    "Total Average Response Time",
    "Total Min Response Time",
    "Total Max Response Time",
    "Total Average Content Size",
];

const FAILURES_HEAD: [&str; 6] = [
    "Method",
    "Name",
    "Error",
    "Occurrences",
    "First Seen",
    "Last Seen",
];

const EXCEPTIONS_HEAD: [&str; 4] = ["Count", "Message", "Traceback", "Nodes"];

type Row = Vec<String>;

fn stats_header() -> Row {
    STATS_HEAD
        .iter()
        .copied()
        .chain(PERCENTILES.iter().map(|p| p.0))
        .map(String::from)
        .collect()
}

fn history_header() -> Row {
    HISTORY_HEAD
        .iter()
        .copied()
        .chain(PERCENTILES.iter().map(|p| p.0))
        .chain(HISTORY_TOTALS_HEAD)
        .map(String::from)
        .collect()
}

/// How the numbers of the CSV files are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CsvStyle {
    /// As Locust 2.47 writes them (the default): whole-ms percentiles, Python's float text, Locust's windows.
    #[default]
    Locust,
    /// loadgen's exact values (`--csv-exact`): ms with µs resolution, the history's percentiles per second.
    Exact,
}

/// A number as CSV text: whole numbers without a fraction, others as they are (already rounded to µs).
fn num(x: f64) -> String {
    format!("{x}")
}

/// A float as Python's `repr` (and so Locust's csv module) writes it: `278.0`, `0.5553`, `1e-05`, `1e+16`.
fn py_float(x: f64) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "nan".into()
        } else if x > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    let exp = if x == 0.0 {
        0
    } else {
        x.abs().log10().floor() as i32
    };
    if (-4..16).contains(&exp) {
        // Rust's Debug text is the shortest that reads back, with `.0` on whole numbers, as Python's.
        let text = format!("{x:?}");
        if text.contains('e') {
            // Rust may still choose an exponent near the edges; write it positionally.
            return format!("{x}");
        }
        text
    } else {
        let text = format!("{x:e}");
        let (mantissa, e) = text.split_once('e').unwrap_or((text.as_str(), "0"));
        let e: i32 = e.parse().unwrap_or(0);
        let sign = if e < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", e.abs())
    }
}

/// Python's `round(x, ndigits)` to a multiple of `step` (1, 10, 100, 1000): ties to even.
fn round_to(x: f64, step: f64) -> i64 {
    ((x / step).round_ties_even() * step) as i64
}

/// A response time in ms as Locust keeps it: rounded to about two significant digits (147 → 150, 3432 → 3400).
fn bucket(ms: f64) -> i64 {
    if ms < 100.0 {
        round_to(ms, 1.0)
    } else if ms < 1000.0 {
        round_to(ms, 10.0)
    } else if ms < 10_000.0 {
        round_to(ms, 100.0)
    } else {
        round_to(ms, 1000.0)
    }
}

/// Locust's `Median Response Time`: the bucketed median, but the exact min or max when it falls outside them.
fn locust_median(p50: f64, min: f64, max: f64) -> String {
    let median = bucket(p50);
    if median as f64 > max {
        py_float(max)
    } else if (median as f64) < min {
        py_float(min)
    } else {
        median.to_string()
    }
}

fn na_percentiles() -> impl Iterator<Item = String> {
    PERCENTILES.iter().map(|_| "N/A".to_string())
}

fn values(p: &Percentiles) -> [f64; 11] {
    [
        p.p50, p.p66, p.p75, p.p80, p.p90, p.p95, p.p98, p.p99, p.p99_9, p.p99_99, p.p100,
    ]
}

/// The percentile cells of `p`, in the order of [`PERCENTILES`]; N/A without.
fn percentile_cells(p: Option<&Percentiles>) -> Vec<String> {
    match p {
        Some(p) => values(p).map(num).into(),
        None => na_percentiles().collect(),
    }
}

/// Locust's percentile cells: whole ms (its buckets); N/A for an entry without requests, 0 for one whose
/// requests had no time.
fn locust_percentile_cells(requests: u64, p: Option<&Percentiles>) -> Vec<String> {
    match (requests, p) {
        (0, _) => na_percentiles().collect(),
        (_, Some(p)) => values(p).map(|v| bucket(v).to_string()).into(),
        (_, None) => PERCENTILES.iter().map(|_| "0".to_string()).collect(),
    }
}

/// The percentile cells of an interval's histogram.
fn percentiles(h: &Histogram<u64>) -> Vec<String> {
    percentile_cells((!h.is_empty()).then(|| Percentiles::of(h)).as_ref())
}

/// A `_stats.csv` row.
fn stats_row(s: &RequestStats, style: CsvStyle) -> Row {
    let mut row = vec![
        s.method.clone(),
        s.name.clone(),
        s.requests.to_string(),
        s.failures.to_string(),
    ];
    match style {
        CsvStyle::Exact => {
            let zero = |v: Option<f64>| num(v.unwrap_or(0.0));
            row.extend([
                zero(s.percentiles_ms.as_ref().map(|p| p.p50)),
                zero(s.mean_ms),
                zero(s.min_ms),
                zero(s.max_ms),
                num(s.avg_content_bytes),
                num(s.rps),
                num(s.failures_per_s),
            ]);
            row.extend(percentile_cells(s.percentiles_ms.as_ref()));
        }
        CsvStyle::Locust => {
            // Locust's types: an int 0 where it has no value yet, else floats (Python's text).
            let or_int_zero = |v: Option<f64>| v.map_or_else(|| "0".to_string(), py_float);
            let median = match (&s.percentiles_ms, s.min_ms, s.max_ms) {
                (Some(p), Some(min), Some(max)) => locust_median(p.p50, min, max),
                _ => "0".to_string(),
            };
            row.extend([
                median,
                py_float(s.mean_ms.unwrap_or(0.0)),
                or_int_zero(s.min_ms),
                or_int_zero(s.max_ms),
                or_int_zero((s.requests > 0).then_some(s.avg_content_bytes)),
                py_float(s.rps),
                py_float(s.failures_per_s),
            ]);
            row.extend(locust_percentile_cells(
                s.requests,
                s.percentiles_ms.as_ref(),
            ));
        }
    }
    row
}

/// The `_stats.csv` rows: entries sorted by name then method, then Aggregated. In Locust's style, an entry
/// without requests has no row (Locust makes an entry at its first request).
fn stats_rows(requests: &[RequestStats], aggregated: &RequestStats, style: CsvStyle) -> Vec<Row> {
    let mut sorted: Vec<&RequestStats> = requests
        .iter()
        .filter(|r| style == CsvStyle::Exact || r.requests > 0)
        .collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.method.cmp(&b.method)));
    sorted
        .into_iter()
        .chain([aggregated])
        .map(|r| stats_row(r, style))
        .collect()
}

/// Unix seconds as Locust 2.47 writes `First Seen` and `Last Seen`: ISO 8601 in UTC, `2026-12-05T00:41:32Z`.
fn iso_utc(unix_s: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix_s);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Python's `repr` of a string: single quotes unless the text has one and no double quote.
fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// A failure's `Error` text as Locust writes it. An HTTP error status is what `requests`' `raise_for_status`
/// says (`HTTPError('500 Server Error: Internal Server Error for url: NAME')`; Locust puts the request's name
/// in place of the URL); any other failure is what a locustfile's `catch_response` check would record,
/// `CatchResponseError('...')`, with loadgen's kind and message in it.
fn locust_error(f: &FailureEntry) -> String {
    if f.kind == FailureKind::Status
        && let Some(code) = f
            .message
            .strip_prefix("unexpected status ")
            .map(|rest| {
                rest.split(|c: char| !c.is_ascii_digit())
                    .next()
                    .unwrap_or("")
            })
            .and_then(|code| code.parse::<u16>().ok())
            .filter(|c| (400..600).contains(c))
    {
        let class = if code < 500 { "Client" } else { "Server" };
        let reason = http::StatusCode::from_u16(code)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        let text = format!("{code} {class} Error: {reason} for url: {}", f.name);
        return format!("HTTPError({})", py_repr(&text));
    }
    format!(
        "CatchResponseError({})",
        py_repr(&format!("{}: {}", f.kind.as_str(), f.message))
    )
}

/// The `_failures.csv` rows, sorted by name, then method, then most frequent first.
fn failure_rows(failures: &[FailureEntry], style: CsvStyle) -> Vec<Row> {
    let mut sorted: Vec<&FailureEntry> = failures.iter().collect();
    sorted.sort_by(|a, b| {
        (&a.name, &a.method)
            .cmp(&(&b.name, &b.method))
            .then_with(|| b.occurrences.cmp(&a.occurrences))
            .then_with(|| a.message.cmp(&b.message))
    });
    let seen = |v: Option<u64>| v.map_or_else(String::new, iso_utc);
    sorted
        .into_iter()
        .map(|f| {
            vec![
                f.method.clone(),
                f.name.clone(),
                match style {
                    CsvStyle::Locust => locust_error(f),
                    CsvStyle::Exact => format!("{}: {}", f.kind.as_str(), f.message),
                },
                f.occurrences.to_string(),
                seen(f.first_seen),
                seen(f.last_seen),
            ]
        })
        .collect()
}

/// Locust's window for the history's percentiles with `--csv-full-history` (its response-time cache): the
/// last 10 seconds.
const LOCUST_WINDOW_S: usize = 10;

/// One history entry's running totals.
struct Running {
    method: String,
    name: String,
    latency: Histogram<u64>,
    requests: u64,
    failures: u64,
    bytes: u64,
    /// The last [`LOCUST_WINDOW_S`] seconds' histograms (Locust's style with full history only).
    window: std::collections::VecDeque<Histogram<u64>>,
}

impl Running {
    fn new(method: &str, name: &str) -> Self {
        Running {
            method: method.to_string(),
            name: name.to_string(),
            latency: new_histogram(),
            requests: 0,
            failures: 0,
            bytes: 0,
            window: std::collections::VecDeque::new(),
        }
    }

    /// Adds an interval; returns its histogram.
    fn add(
        &mut self,
        requests: u64,
        failures: u64,
        bytes: u64,
        h: Option<&Hist>,
        keep_window: bool,
    ) -> Result<Histogram<u64>, hdr::DecodeError> {
        let interval = h.map_or_else(new_histogram, Hist::histogram);
        let _ = self.latency.add(&interval);
        self.requests += requests;
        self.failures += failures;
        self.bytes += bytes;
        if keep_window {
            if self.window.len() == LOCUST_WINDOW_S {
                self.window.pop_front();
            }
            self.window.push_back(interval.clone());
        }
        Ok(interval)
    }

    fn row(
        &self,
        p: &SeriesPoint,
        (rps, fps): (f64, f64),
        interval: &Histogram<u64>,
        style: CsvStyle,
        full: bool,
    ) -> Row {
        let mut row = vec![
            p.timestamp.to_string(),
            p.users.to_string(),
            self.method.clone(),
            self.name.clone(),
            format!("{rps:.6}"),
            format!("{fps:.6}"),
        ];
        let timed = !self.latency.is_empty();
        match style {
            CsvStyle::Exact => {
                let total = |v: f64| num(if timed { v } else { 0.0 });
                row.extend(percentiles(interval));
                row.extend([
                    self.requests.to_string(),
                    self.failures.to_string(),
                    total(ms(self.latency.value_at_quantile(0.5))),
                    total(round3(self.latency.mean() / 1000.0)),
                    total(ms(self.latency.min())),
                    total(ms(self.latency.max())),
                    num(if self.requests == 0 {
                        0.0
                    } else {
                        round3(self.bytes as f64 / self.requests as f64)
                    }),
                ]);
            }
            CsvStyle::Locust => {
                // Locust's percentiles here: the run's so far, or with full history its last 10 seconds'.
                let window;
                let h = if full {
                    let mut sum = new_histogram();
                    for w in &self.window {
                        let _ = sum.add(w);
                    }
                    window = sum;
                    &window
                } else {
                    &self.latency
                };
                let p = (!h.is_empty()).then(|| Percentiles::of(h));
                row.extend(locust_percentile_cells(self.requests, p.as_ref()));
                let (min, max) = (ms(self.latency.min()), ms(self.latency.max()));
                let int_zero = |v: f64| if timed { py_float(v) } else { "0".to_string() };
                row.extend([
                    self.requests.to_string(),
                    self.failures.to_string(),
                    if timed {
                        locust_median(ms(self.latency.value_at_quantile(0.5)), min, max)
                    } else {
                        "0".to_string()
                    },
                    py_float(if timed {
                        self.latency.mean() / 1000.0
                    } else {
                        0.0
                    }),
                    int_zero(min),
                    int_zero(max),
                    if self.requests == 0 {
                        "0".to_string()
                    } else {
                        py_float(self.bytes as f64 / self.requests as f64)
                    },
                ]);
            }
        }
        row
    }
}

/// Turns time-series points into `_stats_history.csv` rows, keeping each entry's running totals.
struct History {
    full: bool,
    style: CsvStyle,
    /// Entries in scenario order, and the order their rows are written in (name, then method).
    entries: Vec<Running>,
    order: Vec<usize>,
    aggregated: Running,
    last_elapsed: f64,
}

impl History {
    fn new<'a>(
        full: bool,
        style: CsvStyle,
        names: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        let entries: Vec<Running> = names
            .into_iter()
            .map(|(method, name)| Running::new(method, name))
            .collect();
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_by(|a, b| {
            let (a, b) = (&entries[*a], &entries[*b]);
            a.name.cmp(&b.name).then_with(|| a.method.cmp(&b.method))
        });
        History {
            full,
            style,
            entries,
            order,
            aggregated: Running::new("", "Aggregated"),
            last_elapsed: 0.0,
        }
    }

    /// The rows for the next point of the series.
    fn push(&mut self, p: &SeriesPoint) -> Result<Vec<Row>, hdr::DecodeError> {
        let secs = (p.elapsed_s - self.last_elapsed).max(1e-3);
        self.last_elapsed = p.elapsed_s;
        let (full, style) = (self.full, self.style);
        let window = full && style == CsvStyle::Locust;
        let mut rows = Vec::new();
        let mut intervals = Vec::with_capacity(self.entries.len());
        for (e, i) in self.entries.iter_mut().zip(&p.by_request) {
            intervals.push(e.add(i.requests, i.failures, i.bytes, i.hdr.as_ref(), window)?);
        }
        if full {
            for &k in &self.order {
                let (e, i) = (&self.entries[k], p.by_request.get(k));
                // As in Locust, an entry has rows once it has had a request.
                if e.requests == 0 {
                    continue;
                }
                let (r, f) = i.map_or((0, 0), |i| (i.requests, i.failures));
                let none = new_histogram();
                let interval = intervals.get(k).unwrap_or(&none);
                let rates = (r as f64 / secs, f as f64 / secs);
                rows.push(e.row(p, rates, interval, style, full));
            }
        }
        let bytes = p.by_request.iter().map(|i| i.bytes).sum();
        let interval =
            self.aggregated
                .add(p.requests, p.failures, bytes, p.hdr.as_ref(), window)?;
        let rates = (p.rps, p.failures_per_s);
        rows.push(self.aggregated.row(p, rates, &interval, style, full));
        Ok(rows)
    }
}

/// The four files of one `--csv PREFIX`, checked to be writable before the run.
#[derive(Debug, Clone)]
pub struct CsvFiles {
    prefix: PathBuf,
    full_history: bool,
    style: CsvStyle,
    stats: OutputFile,
    history: OutputFile,
    failures: OutputFile,
    exceptions: OutputFile,
}

impl CsvFiles {
    /// Checks that the four files `PREFIX_{stats,stats_history,failures,exceptions}.csv` can be written.
    pub fn prepare(prefix: &Path, full_history: bool, style: CsvStyle) -> Result<CsvFiles, Error> {
        let file = |suffix: &str| {
            let mut name = prefix.as_os_str().to_owned();
            name.push(suffix);
            OutputFile::prepare(Path::new(&name), Mode::Replace)
        };
        Ok(CsvFiles {
            prefix: prefix.to_path_buf(),
            full_history,
            style,
            stats: file("_stats.csv")?,
            history: file("_stats_history.csv")?,
            failures: file("_failures.csv")?,
            exceptions: file("_exceptions.csv")?,
        })
    }

    /// All four are regular files (or new ones), so they can be refreshed while the run goes.
    pub fn is_regular(&self) -> bool {
        [&self.stats, &self.history, &self.failures, &self.exceptions]
            .iter()
            .all(|f| f.is_regular())
    }

    /// How the files are shown to the user: `PREFIX_*.csv`.
    pub fn display(&self) -> String {
        format!("{}_*.csv", self.prefix.display())
    }

    /// Writes all four files from finished results, each atomically.
    pub fn write(&self, r: &RunResults) -> Result<(), Error> {
        write_rows(
            &self.stats,
            stats_header(),
            stats_rows(&r.requests, &r.aggregated, self.style),
        )?;
        let mut history = History::new(
            self.full_history,
            self.style,
            r.requests
                .iter()
                .map(|q| (q.method.as_str(), q.name.as_str())),
        );
        let mut rows = Vec::new();
        for p in &r.time_series {
            rows.extend(history.push(p).map_err(|e| Error::Output {
                path: self.history.path().to_path_buf(),
                source: std::io::Error::other(e),
            })?);
        }
        write_rows(&self.history, history_header(), rows)?;
        write_rows(
            &self.failures,
            to_row(&FAILURES_HEAD),
            failure_rows(&r.failures, self.style),
        )?;
        write_rows(&self.exceptions, to_row(&EXCEPTIONS_HEAD), Vec::new())
    }
}

fn to_row(head: &[&str]) -> Row {
    head.iter().map(|s| (*s).to_string()).collect()
}

/// CSV text of `rows`, lines ending in CRLF as Python's csv module (and so Locust) writes them.
fn csv_bytes(rows: impl IntoIterator<Item = Row>) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    for r in rows {
        w.write_record(&r)?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

fn write_rows(out: &OutputFile, header: Row, rows: Vec<Row>) -> Result<(), Error> {
    let bytes = csv_bytes(std::iter::once(header).chain(rows)).map_err(|e| Error::Output {
        path: out.path().to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    Ok(out.write_all(&bytes)?)
}

/// Keeps the CSV files current while the run goes: every second the stats and failures files are rewritten
/// (atomically) and the history gets its new rows appended.
pub struct LiveCsv {
    files: CsvFiles,
    plan: Arc<RunPlan>,
    history: History,
    history_out: Option<BufWriter<File>>,
    failed: bool,
}

impl LiveCsv {
    /// Writes the headers of the four files, so even a run killed in its first second leaves them.
    pub fn start(files: CsvFiles, plan: Arc<RunPlan>) -> Result<LiveCsv, Error> {
        let history = History::new(
            files.full_history,
            files.style,
            plan.steps
                .iter()
                .map(|s| (s.method_label(), s.name.as_str())),
        );

        write_rows(&files.stats, stats_header(), Vec::new())?;
        write_rows(&files.failures, to_row(&FAILURES_HEAD), Vec::new())?;
        write_rows(&files.exceptions, to_row(&EXCEPTIONS_HEAD), Vec::new())?;
        write_rows(&files.history, history_header(), Vec::new())?;
        let err = |source| Error::Output {
            path: files.history.path().to_path_buf(),
            source,
        };
        let f = File::options()
            .append(true)
            .open(files.history.path())
            .map_err(err)?;
        Ok(LiveCsv {
            files,
            plan,
            history,
            history_out: Some(BufWriter::new(f)),
            failed: false,
        })
    }

    /// The stats and failures files rewritten from `totals`, and the history's rows for `points` appended.
    fn refresh(&mut self, points: &[SeriesPoint], totals: &Totals) -> Result<(), Error> {
        let elapsed_s = points.last().map_or(0.0, |p| p.elapsed_s);
        let rows = Rows::of(
            &self.plan.steps,
            &totals.totals,
            &totals.failures_seen,
            elapsed_s.max(1e-3),
        );
        write_rows(
            &self.files.stats,
            stats_header(),
            stats_rows(&rows.requests, &rows.aggregated, self.files.style),
        )?;
        write_rows(
            &self.files.failures,
            to_row(&FAILURES_HEAD),
            failure_rows(&rows.failures, self.files.style),
        )?;
        let err = |source| Error::Output {
            path: self.files.history.path().to_path_buf(),
            source,
        };
        let mut new = Vec::new();
        for p in points {
            new.extend(
                self.history
                    .push(p)
                    .map_err(|e| err(std::io::Error::other(e)))?,
            );
        }
        if let Some(out) = self.history_out.as_mut() {
            let bytes = csv_bytes(new).map_err(|e| err(std::io::Error::other(e)))?;
            out.write_all(&bytes)
                .and_then(|()| out.flush())
                .map_err(err)?;
        }
        Ok(())
    }
}

/// Runs off the scheduler task: a refresh blocked on the disk delays only the next refresh.
impl Background for LiveCsv {
    fn seconds(&mut self, points: &[SeriesPoint], totals: &Totals) {
        if self.failed {
            return;
        }
        if let Err(e) = self.refresh(points, totals) {
            // The run goes on; the files are written again from the results at the end.
            self.failed = true;
            tracing::warn!("stopped refreshing the CSV files during the run: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{FailureKind, StepInterval};
    use crate::results::fixtures;

    fn text(rows: Vec<Row>) -> String {
        String::from_utf8(csv_bytes(rows).unwrap()).unwrap()
    }

    fn entry(method: &str, name: &str, requests: u64) -> RequestStats {
        let p = Percentiles {
            p50: 1.5,
            p66: 2.0,
            p75: 2.0,
            p80: 3.0,
            p90: 4.0,
            p95: 5.0,
            p98: 6.0,
            p99: 7.25,
            p99_9: 8.0,
            p99_99: 9.0,
            p100: 10.0,
        };
        let timed = requests > 0;
        RequestStats {
            success_rate: 90.0,
            rps: 2.5,
            failures_per_s: 0.25,
            min_ms: timed.then_some(0.5),
            mean_ms: timed.then_some(2.125),
            max_ms: timed.then_some(10.0),
            percentiles_ms: timed.then_some(p),
            avg_content_bytes: if timed { 42.5 } else { 0.0 },
            ..fixtures::row(method, name, requests, requests / 10)
        }
    }

    #[test]
    fn headers_are_locusts_exactly() {
        assert_eq!(
            text(vec![stats_header()]),
            "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,\
             Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,\
             99.99%,100%\r\n"
        );
        assert_eq!(
            text(vec![history_header()]),
            "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,\
             100%,Total Request Count,Total Failure Count,Total Median Response Time,Total Average Response Time,\
             Total Min Response Time,Total Max Response Time,Total Average Content Size\r\n"
        );
        assert_eq!(
            text(vec![to_row(&FAILURES_HEAD)]),
            "Method,Name,Error,Occurrences,First Seen,Last Seen\r\n"
        );
        assert_eq!(
            text(vec![to_row(&EXCEPTIONS_HEAD)]),
            "Count,Message,Traceback,Nodes\r\n"
        );
    }

    #[test]
    fn stats_rows_are_sorted_by_name_then_method_with_aggregated_last_and_na_when_empty() {
        let rows = stats_rows(
            &[
                entry("POST", "b", 10),
                entry("GET", "b", 10),
                entry("DELETE", "a", 0),
            ],
            &entry("", "Aggregated", 20),
            CsvStyle::Exact,
        );
        assert_eq!(
            text(rows),
            "DELETE,a,0,0,0,0,0,0,0,2.5,0.25,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A\r\n\
             GET,b,10,1,1.5,2.125,0.5,10,42.5,2.5,0.25,1.5,2,2,3,4,5,6,7.25,8,9,10\r\n\
             POST,b,10,1,1.5,2.125,0.5,10,42.5,2.5,0.25,1.5,2,2,3,4,5,6,7.25,8,9,10\r\n\
             ,Aggregated,20,2,1.5,2.125,0.5,10,42.5,2.5,0.25,1.5,2,2,3,4,5,6,7.25,8,9,10\r\n"
        );
    }

    #[test]
    fn failures_name_the_kind_and_quote_what_needs_quoting() {
        let f = FailureEntry {
            method: "POST".into(),
            name: "login".into(),
            kind: FailureKind::Status,
            message: "unexpected status 503, \"busy\"".into(),
            occurrences: 3,
            first_seen: Some(100),
            last_seen: Some(160),
        };
        assert_eq!(
            text(failure_rows(std::slice::from_ref(&f), CsvStyle::Exact)),
            "POST,login,\"status: unexpected status 503, \"\"busy\"\"\",3,\
             1970-01-01T00:01:40Z,1970-01-01T00:02:40Z\r\n"
        );
        // Locust's text for an HTTP error status, whatever loadgen's message after the code.
        assert_eq!(
            failure_rows(std::slice::from_ref(&f), CsvStyle::Locust)[0][2],
            "HTTPError('503 Server Error: Service Unavailable for url: login')"
        );
        let client = FailureEntry {
            message: "unexpected status 404 (expected 2xx)".into(),
            ..f.clone()
        };
        assert_eq!(
            failure_rows(&[client], CsvStyle::Locust)[0][2],
            "HTTPError('404 Client Error: Not Found for url: login')"
        );
        // Any other failure is a catch_response failure, its text in Python's quotes.
        let other = FailureEntry {
            kind: FailureKind::Timeout,
            message: "no answer within 10s, it's slow".into(),
            ..f.clone()
        };
        assert_eq!(
            failure_rows(&[other], CsvStyle::Locust)[0][2],
            "CatchResponseError(\"timeout: no answer within 10s, it's slow\")"
        );
        let unexpected_ok = FailureEntry {
            message: "unexpected status 200 (expected 201)".into(),
            ..f
        };
        assert_eq!(
            failure_rows(&[unexpected_ok], CsvStyle::Locust)[0][2],
            "CatchResponseError('status: unexpected status 200 (expected 201)')"
        );
    }

    use crate::results::fixtures::hist;

    fn point(elapsed_s: f64, by_request: Vec<StepInterval>, all: &[u64]) -> SeriesPoint {
        let requests = by_request.iter().map(|i| i.requests).sum::<u64>();
        SeriesPoint {
            timestamp: 1_000 + elapsed_s as u64,
            users: 3,
            target_users: 3,
            requests,
            failures: by_request.iter().map(|i| i.failures).sum(),
            rps: requests as f64,
            hdr: hist(all),
            by_request,
            ..fixtures::point(elapsed_s)
        }
    }

    #[test]
    fn history_rows_show_each_second_and_running_totals() {
        let mut h = History::new(true, CsvStyle::Exact, [("GET", "z"), ("POST", "a")]);
        let step = |requests, failures, values: &[u64]| StepInterval {
            requests,
            failures,
            bytes: 10 * requests,
            hdr: hist(values),
        };
        // Second 1: only "z" had requests, so only it and Aggregated have rows. (Values under 2,048 µs are
        // exact in a 3-digit HDR histogram.)
        let rows = h
            .push(&point(
                1.0,
                vec![step(2, 1, &[1000, 2000]), step(0, 0, &[])],
                &[1000, 2000],
            ))
            .unwrap();
        assert_eq!(
            text(rows),
            "1001,3,GET,z,2.000000,1.000000,1,2,2,2,2,2,2,2,2,2,2,2,1,1,1.5,1,2,10\r\n\
             1001,3,,Aggregated,2.000000,0.000000,1,2,2,2,2,2,2,2,2,2,2,2,1,1,1.5,1,2,10\r\n"
        );
        // Second 2: "a" joins (sorted first); "z" is idle, so N/A for the second but its totals go on.
        let rows = h
            .push(&point(
                2.0,
                vec![step(0, 0, &[]), step(1, 0, &[1500])],
                &[1500],
            ))
            .unwrap();
        assert_eq!(
            text(rows),
            "1002,3,POST,a,1.000000,0.000000,1.5,1.5,1.5,1.5,1.5,1.5,1.5,1.5,1.5,1.5,1.5,1,0,1.5,1.5,1.5,1.5,10\r\n\
             1002,3,GET,z,0.000000,0.000000,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,2,1,1,1.5,1,2,10\r\n\
             1002,3,,Aggregated,1.000000,0.000000,1.5,1.5,1.5,1.5,1.5,1.5,1.5,1.5,1.5,1.5,1.5,3,1,1.5,1.5,1,2,10\r\n"
        );
        // Without full history, only Aggregated.
        let mut agg = History::new(false, CsvStyle::Exact, [("GET", "z")]);
        let rows = agg
            .push(&point(1.0, vec![step(2, 1, &[1000, 2000])], &[1000, 2000]))
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0][3], "Aggregated");
    }

    #[test]
    fn python_floats_read_as_pythons_repr() {
        for (x, text) in [
            (278.0, "278.0"),
            (0.0, "0.0"),
            (0.5553030059672892, "0.5553030059672892"),
            (127.30933333333333, "127.30933333333333"),
            (2.5, "2.5"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1e16, "1e+16"),
            (123456789012345.0, "123456789012345.0"),
        ] {
            assert_eq!(py_float(x), text, "{x}");
        }
    }

    #[test]
    fn locust_buckets_round_to_two_digits_with_ties_to_even() {
        for (ms, b) in [
            (0.4, 0),
            (0.5, 0),
            (1.5, 2),
            (2.5, 2),
            (99.4, 99),
            (147.0, 150),
            (155.0, 160),
            (145.0, 140),
            (3432.0, 3400),
            (58760.0, 59000),
        ] {
            assert_eq!(bucket(ms), b, "{ms}");
        }
        // The median is the exact min or max when its bucket falls outside them (as Locust clamps it).
        assert_eq!(locust_median(1.0, 1.04, 5.2), "1.04");
        assert_eq!(locust_median(9.0, 1.0, 8.68), "8.68");
        assert_eq!(locust_median(5.0, 1.0, 8.68), "5");
    }

    #[test]
    fn locust_stats_rows_have_whole_percentiles_python_floats_and_no_row_without_requests() {
        let rows = stats_rows(
            &[entry("GET", "b", 10), entry("DELETE", "a", 0)],
            &entry("", "Aggregated", 10),
            CsvStyle::Locust,
        );
        // p50 1.5 is bucket 2 (within [0.5, 10]); p99 7.25 is 7; floats keep their point.
        assert_eq!(
            text(rows),
            "GET,b,10,1,2,2.125,0.5,10.0,42.5,2.5,0.25,2,2,2,3,4,5,6,7,8,9,10\r\n\
             ,Aggregated,10,1,2,2.125,0.5,10.0,42.5,2.5,0.25,2,2,2,3,4,5,6,7,8,9,10\r\n"
        );
        // An Aggregated row before any request: Locust's int zeros and N/A.
        let rows = stats_rows(&[], &entry("", "Aggregated", 0), CsvStyle::Locust);
        assert_eq!(
            text(rows),
            ",Aggregated,0,0,0,0.0,0,0,0,2.5,0.25,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A\r\n"
        );
    }

    #[test]
    fn locust_history_has_run_wide_percentiles_or_a_ten_second_window_with_full_history() {
        let step = |requests, values: &[u64]| StepInterval {
            requests,
            failures: 0,
            bytes: 7 * requests,
            hdr: hist(values),
        };
        // Aggregated only: the percentiles are the run's so far (Locust's `use_current=False`).
        let mut agg = History::new(false, CsvStyle::Locust, [("GET", "z")]);
        let first = agg
            .push(&point(1.0, vec![step(1, &[40_000])], &[40_000]))
            .unwrap();
        assert_eq!(first[0][6], "40");
        // (40 ms is 40.0 to 40.031 in a 3-digit histogram.)
        assert_eq!(first[0][18..].join(","), "0,40,40.016,40.0,40.031,7.0");
        let mut last = Vec::new();
        for s in 2..=12 {
            last = agg
                .push(&point(s as f64, vec![step(1, &[1_000])], &[1_000]))
                .unwrap();
        }
        // 11 of 12 requests at 1 ms: the run's p99 (index 13) is still the 40 ms one, its p50 1.
        assert_eq!(last[0][6], "1");
        assert_eq!(last[0][13], "40");
        // With full history the window is the last 10 seconds: the 40 ms request has left it.
        let mut full = History::new(true, CsvStyle::Locust, [("GET", "z")]);
        let mut rows = Vec::new();
        full.push(&point(1.0, vec![step(1, &[40_000])], &[40_000]))
            .unwrap();
        for s in 2..=12 {
            rows = full
                .push(&point(s as f64, vec![step(1, &[1_000])], &[1_000]))
                .unwrap();
        }
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0][3], "z");
        assert_eq!(rows[0][16], "1", "100% of the last 10 s: {:?}", rows[0]);
        // Its totals are still the whole run's.
        assert_eq!(rows[0][17], "12");
        assert_eq!(rows[0][22], "40.031");
    }
}
