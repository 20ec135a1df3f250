//! Locust-exact CSV files (issue 20 item 1): real Locust 2.47 (`tests/locust/auth_locustfile.py`) and loadgen
//! (`scenarios/baseline.toml`, the same flow) run against the same built-in API, which fails a share of requests
//! with a 500. Their four files must have the same headers and the same row sets, and every cell of both must be
//! in the format Locust 2.47's code writes for its column ([`SPEC`]: whole-ms percentiles, Python's float text,
//! int zeros, `%.6f` rates, ISO 8601 First/Last Seen, `HTTPError('500 Server Error: ...')` failure texts), so
//! the spec is checked against Locust itself as well as against loadgen. `locust-csv2openmetrics` (from PyPI,
//! which parses the percentiles with `int()`) and the pandas analysis read loadgen's files.
//!
//! Locust, locust-csv2openmetrics and pandas are installed by .ci/run; elsewhere the test is skipped when they
//! are missing (it fails when `LOADGEN_CI` is set).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::{Demo, external_tool, loadgen, root, wait_bounded};

/// What a cell can look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Format {
    /// `0`, `375`.
    Int,
    /// Python's `repr` of a float: `0.0`, `278.0`, `3.403088135323865`, `1e-05`.
    Float,
    /// `f"{x:2f}"`: six decimals, `46.000000`.
    Fixed6,
    NotAvailable,
    Empty,
    /// `2026-12-05T00:41:32Z`.
    IsoUtc,
    /// Python's repr of an exception: `HTTPError('...')`, `CatchResponseError('...')`.
    Exception,
    /// Anything else (a method, a name).
    Text,
}

use Format::*;

/// The formats a cell has (a cell may read as several: `0` is an int, `0.000000` a float and fixed).
fn formats(cell: &str) -> BTreeSet<Format> {
    let mut f = BTreeSet::new();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let unsigned = cell.strip_prefix('-').unwrap_or(cell);
    if digits(unsigned) {
        f.insert(Int);
    }
    let (mantissa, exponent) = match unsigned.split_once('e') {
        Some((m, e)) => (m, Some(e)),
        None => (unsigned, None),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        (e.starts_with('+') || e.starts_with('-')) && e.len() >= 3 && digits(&e[1..])
    });
    match mantissa.split_once('.') {
        Some((a, b)) if digits(a) && digits(b) && exponent_ok => {
            f.insert(Float);
            if b.len() == 6 && exponent.is_none() {
                f.insert(Fixed6);
            }
        }
        None if digits(mantissa) && exponent.is_some() && exponent_ok => {
            f.insert(Float);
        }
        _ => {}
    }
    if cell == "N/A" {
        f.insert(NotAvailable);
    }
    if cell.is_empty() {
        f.insert(Empty);
    }
    if humantime::parse_rfc3339(cell).is_ok() && cell.len() == 20 && cell.ends_with('Z') {
        f.insert(IsoUtc);
    }
    if let Some((name, rest)) = cell.split_once('(')
        && !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric())
        && rest.ends_with(')')
    {
        f.insert(Exception);
    }
    if f.is_empty() {
        f.insert(Text);
    }
    f
}

const PERCENTILE: &[Format] = &[Int, NotAvailable];
/// Locust writes an int 0 before it has a value (`min_response_time or 0`, `max_response_time = 0`,
/// `avg_content_length` on no requests), a float after.
const ZERO_OR_FLOAT: &[Format] = &[Int, Float];

/// A column's name and the formats it may hold.
type Column = (&'static str, &'static [Format]);

/// Each file's columns, with the formats Locust 2.47's `StatsCSV` writes in them.
const SPEC: &[(&str, &[Column])] = &[
    (
        "stats",
        &[
            ("Type", &[Text, Empty]),
            ("Name", &[Text]),
            ("Request Count", &[Int]),
            ("Failure Count", &[Int]),
            // The bucketed median (an int), or the exact min or max when it falls outside them.
            ("Median Response Time", ZERO_OR_FLOAT),
            ("Average Response Time", &[Float]),
            ("Min Response Time", ZERO_OR_FLOAT),
            ("Max Response Time", ZERO_OR_FLOAT),
            ("Average Content Size", ZERO_OR_FLOAT),
            ("Requests/s", &[Float]),
            ("Failures/s", &[Float]),
            ("50%", PERCENTILE),
            ("66%", PERCENTILE),
            ("75%", PERCENTILE),
            ("80%", PERCENTILE),
            ("90%", PERCENTILE),
            ("95%", PERCENTILE),
            ("98%", PERCENTILE),
            ("99%", PERCENTILE),
            ("99.9%", PERCENTILE),
            ("99.99%", PERCENTILE),
            ("100%", PERCENTILE),
        ],
    ),
    (
        "stats_history",
        &[
            ("Timestamp", &[Int]),
            ("User Count", &[Int]),
            ("Type", &[Text, Empty]),
            ("Name", &[Text]),
            ("Requests/s", &[Fixed6]),
            ("Failures/s", &[Fixed6]),
            ("50%", PERCENTILE),
            ("66%", PERCENTILE),
            ("75%", PERCENTILE),
            ("80%", PERCENTILE),
            ("90%", PERCENTILE),
            ("95%", PERCENTILE),
            ("98%", PERCENTILE),
            ("99%", PERCENTILE),
            ("99.9%", PERCENTILE),
            ("99.99%", PERCENTILE),
            ("100%", PERCENTILE),
            ("Total Request Count", &[Int]),
            ("Total Failure Count", &[Int]),
            ("Total Median Response Time", ZERO_OR_FLOAT),
            ("Total Average Response Time", &[Float]),
            ("Total Min Response Time", ZERO_OR_FLOAT),
            ("Total Max Response Time", ZERO_OR_FLOAT),
            ("Total Average Content Size", ZERO_OR_FLOAT),
        ],
    ),
    (
        "failures",
        &[
            ("Method", &[Text]),
            ("Name", &[Text]),
            ("Error", &[Exception]),
            ("Occurrences", &[Int]),
            ("First Seen", &[IsoUtc]),
            ("Last Seen", &[IsoUtc]),
        ],
    ),
    (
        "exceptions",
        &[
            ("Count", &[Int]),
            ("Message", &[Text]),
            ("Traceback", &[Text]),
            ("Nodes", &[Text]),
        ],
    ),
];

struct CsvFile {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn read(prefix: &Path, suffix: &str) -> CsvFile {
    let path = format!("{}_{suffix}.csv", prefix.display());
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let header = reader
        .headers()
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .iter()
        .map(String::from)
        .collect();
    let rows = reader
        .records()
        .map(|r| {
            r.unwrap_or_else(|e| panic!("{path}: {e}"))
                .iter()
                .map(String::from)
                .collect()
        })
        .collect();
    CsvFile { header, rows }
}

/// Every cell of `file` (written by `who`) is in a format its column allows.
fn check_formats(who: &str, suffix: &str, file: &CsvFile, columns: &[Column]) {
    let names: Vec<&str> = columns.iter().map(|c| c.0).collect();
    assert_eq!(file.header, names, "{who}'s {suffix} header");
    for row in &file.rows {
        assert_eq!(row.len(), columns.len(), "{who}'s {suffix} row {row:?}");
        for (cell, (column, allowed)) in row.iter().zip(columns) {
            let has = formats(cell);
            assert!(
                allowed.iter().any(|a| has.contains(a)),
                "{who}'s {suffix}.csv, column {column:?}: {cell:?} reads as {has:?}, Locust writes {allowed:?} \
                 there\nrow: {row:?}"
            );
        }
    }
}

/// The (first, second) cells of each row: (Type, Name) or (Method, Name).
fn keys(file: &CsvFile) -> BTreeSet<(String, String)> {
    file.rows
        .iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect()
}

#[test]
fn csv_files_match_real_locusts_column_by_column() {
    let Some(_) = external_tool(
        "Locust 2.47 (pip install 'locust==2.47.*')",
        &[&[
            "python3",
            "-c",
            "import locust, sys; sys.exit(not locust.__version__.startswith('2.47'))",
        ]],
    ) else {
        return;
    };
    // A share of the requests fail with a 500, so both failures files have rows.
    let demo = Demo::start(&["--error-rate", "0.1"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let (ours, theirs) = (dir.path().join("loadgen"), dir.path().join("locust"));

    let mut cmd = Command::new("python3");
    cmd.args(["-m", "locust", "-f"])
        .arg(root().join("tests/locust/auth_locustfile.py"))
        .args([
            "--headless",
            "-u",
            "10",
            "-r",
            "10",
            "-t",
            "5s",
            "--host",
            &demo.url,
            "--csv-full-history",
            "--only-summary",
            "--loglevel",
            "ERROR",
            "--csv",
        ])
        .arg(&theirs)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("start locust");
    // Exit 1 is Locust's for a run with failures; anything else is a broken run.
    let locust = wait_bounded(child, "locust".into(), Duration::from_secs(120));
    assert!(
        matches!(locust.code, Some(0 | 1)),
        "locust failed: {}",
        locust.dump()
    );

    let run = loadgen([
        "run",
        &root().join("scenarios/baseline.toml").to_string_lossy(),
        "--host",
        &demo.url,
        "-u",
        "10",
        "-r",
        "10",
        "-t",
        "5s",
        "-q",
        "--csv-full-history",
        "--csv",
        &ours.to_string_lossy(),
    ])
    .timeout(Duration::from_secs(60))
    .run();
    // The failing requests fail the baseline's gates: exit 1, as Locust's.
    assert!(matches!(run.code, Some(0 | 1)), "{}", run.dump());

    for (suffix, columns) in SPEC {
        let (a, b) = (read(&ours, suffix), read(&theirs, suffix));
        check_formats("Locust", suffix, &b, columns);
        check_formats("loadgen", suffix, &a, columns);
    }

    // The same rows: every request name in the stats (sorted by name, Aggregated last) and in the full history.
    let (a, b) = (read(&ours, "stats"), read(&theirs, "stats"));
    assert_eq!(keys(&a), keys(&b), "stats rows");
    let names = |f: &CsvFile| f.rows.iter().map(|r| r[1].clone()).collect::<Vec<_>>();
    assert_eq!(names(&a), names(&b), "stats row order");
    assert_eq!(
        a.rows.len(),
        7,
        "six requests and Aggregated: {:?}",
        names(&a)
    );
    let history = |p: &Path| {
        let f = read(p, "stats_history");
        f.rows
            .iter()
            .map(|r| (r[2].clone(), r[3].clone()))
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(history(&ours), history(&theirs), "history rows");

    // Failures: an HTTP 500 reads the same in both, word for word, where both saw one on the same request.
    let (fa, fb) = (read(&ours, "failures"), read(&theirs, "failures"));
    let server_errors = |f: &CsvFile| {
        f.rows
            .iter()
            .filter(|r| r[2].starts_with("HTTPError('500 "))
            .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
            .collect::<BTreeSet<_>>()
    };
    let (ours_500, theirs_500) = (server_errors(&fa), server_errors(&fb));
    let same_request: Vec<_> = theirs_500
        .iter()
        .filter(|(m, n, _)| ours_500.iter().any(|(m2, n2, _)| m == m2 && n == n2))
        .collect();
    assert!(
        !same_request.is_empty(),
        "no request failed with a 500 in both runs:\nloadgen {ours_500:?}\nlocust {theirs_500:?}"
    );
    for row in same_request {
        assert!(
            ours_500.contains(row),
            "Locust wrote {row:?}; loadgen {ours_500:?}"
        );
    }

    // locust-csv2openmetrics (int() on the percentile columns) reads loadgen's stats file.
    let metrics = dir.path().join("metrics.txt");
    let out = Command::new("python3")
        .args(["-m", "locust_csv2openmetrics"])
        .arg(format!("{}_stats.csv", ours.display()))
        .arg("-o")
        .arg(&metrics)
        .output()
        .expect("run locust_csv2openmetrics");
    assert!(
        out.status.success(),
        "locust-csv2openmetrics failed on loadgen's file: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&metrics).expect("metrics written");
    let aggregated = a.rows.last().expect("Aggregated row");
    let p95: f64 = aggregated[16].parse().expect("95% is a number");
    assert!(
        text.contains(&format!(
            "locust_response_time_p95_seconds {:?}",
            p95 / 1000.0
        )),
        "{text}"
    );

    // The pandas analysis written for Locust's files runs on loadgen's default ones.
    if external_tool(
        "python3 with pandas",
        &[&["python3", "-c", "import pandas"]],
    )
    .is_some()
    {
        let out = Command::new("python3")
            .arg(root().join("tests/python/locust_analysis.py"))
            .arg(&ours)
            .output()
            .expect("run the pandas analysis");
        assert!(
            out.status.success(),
            "pandas analysis failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn cell_formats_read_as_locust_writes_them() {
    assert_eq!(formats("375"), [Int].into());
    assert_eq!(formats("278.0"), [Float].into());
    assert_eq!(formats("1e-05"), [Float].into());
    assert_eq!(formats("46.000000"), [Float, Fixed6].into());
    assert_eq!(formats("0.067"), [Float].into());
    assert_eq!(formats("N/A"), [NotAvailable].into());
    assert_eq!(formats("2026-12-05T00:41:32Z"), [IsoUtc].into());
    assert_eq!(formats("1796431304"), [Int].into());
    assert_eq!(
        formats("HTTPError('500 Server Error: Internal Server Error for url: login')"),
        [Exception].into()
    );
    assert_eq!(formats("status: unexpected status 500"), [Text].into());
    // loadgen's old exact percentile cell is not what Locust writes in a percentile column.
    assert!(!PERCENTILE.iter().any(|f| formats("0.067").contains(f)));
}
