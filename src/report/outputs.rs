//! The result files a command writes (`--json`, `--junit`, `--markdown`, `--html`, `--csv`): each checked to be
//! writable before a run starts, so a typo fails at once rather than after the run, and each written from the
//! one [`RunResults`] afterwards. Every file is attempted even if another fails, so one bad path does not cost
//! the others.

use std::path::Path;

use crate::cli;
use crate::error::Error;
use crate::report::csv::CsvFiles;
use crate::report::json::OutputFile;
use crate::report::{RunResults, html, json, junit, markdown};

/// A writer of one single-file format.
type Writer = fn(&OutputFile, &RunResults) -> Result<(), Error>;

/// The files asked for, checked to be writable.
#[derive(Debug, Default)]
pub struct Outputs {
    files: Vec<(OutputFile, Writer)>,
    pub csv: Option<CsvFiles>,
}

impl Outputs {
    /// Checks every path of `o` (and `json`, which only `run` has).
    pub fn prepare(json: Option<&Path>, o: &cli::Outputs) -> Result<Outputs, Error> {
        let mut files = Vec::new();
        let single: [(Option<&Path>, Writer); 4] = [
            (json, json::write),
            (o.junit.as_deref(), junit::write),
            (o.markdown.as_deref(), markdown::write),
            (o.html.as_deref(), html::write),
        ];
        for (path, write) in single {
            if let Some(path) = path {
                files.push((OutputFile::prepare(path)?, write));
            }
        }
        let csv = o
            .csv
            .as_deref()
            .map(|prefix| CsvFiles::prepare(prefix, o.csv_full_history))
            .transpose()?;
        Ok(Outputs { files, csv })
    }

    /// Writes every file; returns what was written, and the first error if any failed.
    pub fn write(&self, results: &RunResults) -> (Vec<String>, Option<Error>) {
        let mut written = Vec::new();
        let mut first_error = None;
        for (file, write) in &self.files {
            match write(file, results) {
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
