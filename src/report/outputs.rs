//! The result files a command writes (`--json`, `--junit`, `--markdown`, `--html`, `--csv`): each checked before a
//! run starts ([`crate::files::OutputFile`]: a typo, a directory or a block device fails at once rather than after
//! the run; a device, FIFO or `-` is written in place), and each written from the one [`RunResults`] afterwards.
//! Every file is attempted even if another fails, so one bad path does not cost the others.

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::files::{Mode, OutputFile};
use crate::report::csv::{CsvFiles, CsvStyle};
use crate::report::{RunResults, html, json, junit, markdown};

/// A writer of one single-file format.
type Writer = fn(&OutputFile, &RunResults) -> Result<(), Error>;

/// The output paths a command was given (the command line fills it in; `json` is absent for `report`).
#[derive(Debug, Default, Clone)]
pub struct Requested {
    pub json: Option<PathBuf>,
    pub junit: Option<PathBuf>,
    pub markdown: Option<PathBuf>,
    /// Append to the Markdown file instead of replacing it (also when it is `$GITHUB_STEP_SUMMARY`).
    pub markdown_append: bool,
    pub html: Option<PathBuf>,
    /// The prefix of the Locust-style CSV files.
    pub csv: Option<PathBuf>,
    pub csv_full_history: bool,
    /// loadgen's exact values in the CSV files instead of Locust's formats (`--csv-exact`).
    pub csv_exact: bool,
}

/// The files asked for, checked to be writable.
#[derive(Debug, Default)]
pub struct Outputs {
    files: Vec<(OutputFile, Writer)>,
    pub csv: Option<CsvFiles>,
}

impl Outputs {
    /// Checks every path of `o`.
    pub fn prepare(o: &Requested) -> Result<Outputs, Error> {
        let markdown_mode = match &o.markdown {
            Some(path) if o.markdown_append || is_step_summary(path) => Mode::Append,
            _ => Mode::Replace,
        };
        let mut files = Vec::new();
        let single: [(&str, Option<&Path>, Mode, Writer); 4] = [
            ("--json", o.json.as_deref(), Mode::Replace, json::write),
            ("--junit", o.junit.as_deref(), Mode::Replace, junit::write),
            (
                "--markdown",
                o.markdown.as_deref(),
                markdown_mode,
                markdown::write,
            ),
            ("--html", o.html.as_deref(), Mode::Replace, html::write),
        ];
        let mut seen: Vec<(&str, PathBuf)> = Vec::new();
        let mut stdout: Option<&str> = None;
        for (flag, path, mode, write) in single {
            let Some(path) = path else { continue };
            let file = OutputFile::prepare(path, mode)?;
            match file.identity() {
                None => {
                    if let Some(other) = stdout {
                        return Err(Error::Usage(format!(
                            "{other} and {flag} both write to `-` (stdout); give one of them a file"
                        )));
                    }
                    stdout = Some(flag);
                }
                Some(id) if !file.is_regular() => seen.push((flag, id)),
                Some(id) => {
                    if let Some((other, _)) = seen.iter().find(|(_, s)| *s == id) {
                        return Err(Error::Usage(format!(
                            "{other} and {flag} both write to {}; give each its own file",
                            path.display()
                        )));
                    }
                    seen.push((flag, id));
                }
            }
            files.push((file, write));
        }
        let csv = o
            .csv
            .as_deref()
            .map(|prefix| {
                let style = if o.csv_exact {
                    CsvStyle::Exact
                } else {
                    CsvStyle::Locust
                };
                CsvFiles::prepare(prefix, o.csv_full_history, style)
            })
            .transpose()?;
        Ok(Outputs { files, csv })
    }

    /// One of the files is stdout (`-`): the console summary then goes to stderr.
    pub fn uses_stdout(&self) -> bool {
        self.files.iter().any(|(f, _)| f.is_stdout())
    }

    /// Writes every file; returns what was written, and the first error if any failed.
    pub fn write(&self, results: &RunResults) -> (Vec<String>, Option<Error>) {
        let mut written = Vec::new();
        let mut first_error = None;
        for (file, write) in &self.files {
            match write(file, results) {
                Ok(()) if file.is_stdout() => written.push("stdout".to_string()),
                Ok(()) => written.push(file.path().display().to_string()),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(csv) = &self.csv {
            match csv.write(results) {
                Ok(()) => written.push(csv.display()),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        (written, first_error)
    }
}

/// `path` is GitHub Actions' step summary file (`$GITHUB_STEP_SUMMARY`), which other steps append to too.
pub(crate) fn is_step_summary(path: &Path) -> bool {
    let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY") else {
        return false;
    };
    let summary = Path::new(&summary);
    summary == path
        || matches!((summary.canonicalize(), path.canonicalize()), (Ok(a), Ok(b)) if a == b)
}
