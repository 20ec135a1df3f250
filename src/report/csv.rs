//! Locust-compatible CSV files (`--csv PREFIX`, `--csv-full-history`).
//!
//! The four files Locust 2.x writes, with its headers, column order and row conventions, so an analysis written
//! for Locust's files (pandas, a spreadsheet, a dashboard import) runs unchanged on loadgen's:
//!
//! - `PREFIX_stats.csv`: a row per (method, name), sorted by name then method, then `Aggregated` (computed from
//!   all requests together, with an empty `Type`); `N/A` percentile cells for an entry with no timed request.
//! - `PREFIX_stats_history.csv`: a row per second for `Aggregated`; with `--csv-full-history` first a row per
//!   entry that has had requests. `Timestamp` is Unix seconds.
//! - `PREFIX_failures.csv`: a row per distinct failure. Locust's four columns, then `First Seen` and `Last Seen`
//!   (Unix seconds), which Locust does not have; readers by column name are not affected.
//! - `PREFIX_exceptions.csv`: the header only. Locust lists Python exceptions raised in user code there;
//!   loadgen runs no user code, and every failure is in the failures file.
//!
//! Where loadgen differs on purpose: times are exact HDR values in ms with microsecond resolution (Locust rounds
//! response times to about two significant digits before computing percentiles, and writes whole ms), so
//! `99%` never exceeds `100%`; the history's percentile and rate columns describe that second (Locust's window is
//! the last 10 seconds, and its Aggregated row without full history shows run-wide percentiles); lines end in
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
use crate::results::{Hist, Percentiles};

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

/// A number as CSV text: whole numbers without a fraction, others as they are (already rounded to µs).
fn num(x: f64) -> String {
    format!("{x}")
}

fn na_percentiles() -> impl Iterator<Item = String> {
    PERCENTILES.iter().map(|_| "N/A".to_string())
}

/// The percentile cells of `p`, in the order of [`PERCENTILES`]; N/A without.
fn percentile_cells(p: Option<&Percentiles>) -> Vec<String> {
    match p {
        Some(p) => [
            p.p50, p.p66, p.p75, p.p80, p.p90, p.p95, p.p98, p.p99, p.p99_9, p.p99_99, p.p100,
        ]
        .map(num)
        .into(),
        None => na_percentiles().collect(),
    }
}

/// The percentile cells of an interval's histogram.
fn percentiles(h: &Histogram<u64>) -> Vec<String> {
    percentile_cells((!h.is_empty()).then(|| Percentiles::of(h)).as_ref())
}

/// A `_stats.csv` row.
fn stats_row(s: &RequestStats) -> Row {
    let zero = |v: Option<f64>| num(v.unwrap_or(0.0));
    let mut row = vec![
        s.method.clone(),
        s.name.clone(),
        s.requests.to_string(),
        s.failures.to_string(),
        zero(s.percentiles_ms.as_ref().map(|p| p.p50)),
        zero(s.mean_ms),
        zero(s.min_ms),
        zero(s.max_ms),
        num(s.avg_content_bytes),
        num(s.rps),
        num(s.failures_per_s),
    ];
    row.extend(percentile_cells(s.percentiles_ms.as_ref()));
    row
}

/// The `_stats.csv` rows: entries sorted by name then method, then Aggregated.
fn stats_rows(requests: &[RequestStats], aggregated: &RequestStats) -> Vec<Row> {
    let mut sorted: Vec<&RequestStats> = requests.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.method.cmp(&b.method)));
    sorted
        .into_iter()
        .chain([aggregated])
        .map(stats_row)
        .collect()
}

/// The `_failures.csv` rows, sorted by name, then method, then most frequent first.
fn failure_rows(failures: &[FailureEntry]) -> Vec<Row> {
    let mut sorted: Vec<&FailureEntry> = failures.iter().collect();
    sorted.sort_by(|a, b| {
        (&a.name, &a.method)
            .cmp(&(&b.name, &b.method))
            .then_with(|| b.occurrences.cmp(&a.occurrences))
            .then_with(|| a.message.cmp(&b.message))
    });
    let opt = |v: Option<u64>| v.map_or_else(String::new, |v| v.to_string());
    sorted
        .into_iter()
        .map(|f| {
            vec![
                f.method.clone(),
                f.name.clone(),
                format!("{}: {}", f.kind.as_str(), f.message),
                f.occurrences.to_string(),
                opt(f.first_seen),
                opt(f.last_seen),
            ]
        })
        .collect()
}

/// One history entry's running totals.
struct Running {
    method: String,
    name: String,
    latency: Histogram<u64>,
    requests: u64,
    failures: u64,
    bytes: u64,
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
        }
    }

    /// Adds an interval; returns its histogram.
    fn add(
        &mut self,
        requests: u64,
        failures: u64,
        bytes: u64,
        h: Option<&Hist>,
    ) -> Result<Histogram<u64>, hdr::DecodeError> {
        let interval = h.map_or_else(new_histogram, Hist::histogram);
        let _ = self.latency.add(&interval);
        self.requests += requests;
        self.failures += failures;
        self.bytes += bytes;
        Ok(interval)
    }

    fn row(&self, p: &SeriesPoint, rps: f64, fps: f64, interval: &Histogram<u64>) -> Row {
        let timed = !self.latency.is_empty();
        let total = |v: f64| num(if timed { v } else { 0.0 });
        let mut row = vec![
            p.timestamp.to_string(),
            p.users.to_string(),
            self.method.clone(),
            self.name.clone(),
            format!("{rps:.6}"),
            format!("{fps:.6}"),
        ];
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
        row
    }
}

/// Turns time-series points into `_stats_history.csv` rows, keeping each entry's running totals.
struct History {
    full: bool,
    /// Entries in scenario order, and the order their rows are written in (name, then method).
    entries: Vec<Running>,
    order: Vec<usize>,
    aggregated: Running,
    last_elapsed: f64,
}

impl History {
    fn new<'a>(full: bool, names: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
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
        let mut rows = Vec::new();
        let mut intervals = Vec::with_capacity(self.entries.len());
        for (e, i) in self.entries.iter_mut().zip(&p.by_request) {
            intervals.push(e.add(i.requests, i.failures, i.bytes, i.hdr.as_ref())?);
        }
        if self.full {
            for &k in &self.order {
                let (e, i) = (&self.entries[k], p.by_request.get(k));
                // As in Locust, an entry has rows once it has had a request.
                if e.requests == 0 {
                    continue;
                }
                let (r, f) = i.map_or((0, 0), |i| (i.requests, i.failures));
                let none = new_histogram();
                let interval = intervals.get(k).unwrap_or(&none);
                rows.push(e.row(p, r as f64 / secs, f as f64 / secs, interval));
            }
        }
        let bytes = p.by_request.iter().map(|i| i.bytes).sum();
        let interval = self
            .aggregated
            .add(p.requests, p.failures, bytes, p.hdr.as_ref())?;
        rows.push(self.aggregated.row(p, p.rps, p.failures_per_s, &interval));
        Ok(rows)
    }
}

/// The four files of one `--csv PREFIX`, checked to be writable before the run.
#[derive(Debug, Clone)]
pub struct CsvFiles {
    prefix: PathBuf,
    full_history: bool,
    stats: OutputFile,
    history: OutputFile,
    failures: OutputFile,
    exceptions: OutputFile,
}

impl CsvFiles {
    /// Checks that the four files `PREFIX_{stats,stats_history,failures,exceptions}.csv` can be written.
    pub fn prepare(prefix: &Path, full_history: bool) -> Result<CsvFiles, Error> {
        let file = |suffix: &str| {
            let mut name = prefix.as_os_str().to_owned();
            name.push(suffix);
            OutputFile::prepare(Path::new(&name), Mode::Replace)
        };
        Ok(CsvFiles {
            prefix: prefix.to_path_buf(),
            full_history,
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
            stats_rows(&r.requests, &r.aggregated),
        )?;
        let mut history = History::new(
            self.full_history,
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
            failure_rows(&r.failures),
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
            stats_rows(&rows.requests, &rows.aggregated),
        )?;
        write_rows(
            &self.files.failures,
            to_row(&FAILURES_HEAD),
            failure_rows(&rows.failures),
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
            text(failure_rows(&[f])),
            "POST,login,\"status: unexpected status 503, \"\"busy\"\"\",3,100,160\r\n"
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
        let mut h = History::new(true, [("GET", "z"), ("POST", "a")]);
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
        let mut agg = History::new(false, [("GET", "z")]);
        let rows = agg
            .push(&point(1.0, vec![step(2, 1, &[1000, 2000])], &[1000, 2000]))
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0][3], "Aggregated");
    }
}
