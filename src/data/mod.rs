//! Test data from a CSV file: loading it, and handing one row to each virtual user.
//!
//! A scenario's `[data]` table names a CSV file whose header gives the column names (used in templates as
//! `{{data.NAME}}`) and whose rows are handed out to users as they start, by an [`Assign`] policy. This module
//! owns the file format and its errors ([`DataSet`], [`DataError`]) and the hand-out ([`Feeder`]); it knows
//! nothing of scenarios or templates, so the scenario layer only resolves the path and wires the result in.
//!
//! It is shaped by two needs. Users start on several worker threads at once, so [`Feeder::take`] is one atomic
//! counter increment and never locks; it takes the random draw from its caller so that it needs no RNG of its
//! own. And data files can be large (a million accounts), so a [`DataSet`] keeps every value in one string with
//! an offset table instead of one allocation per value.
//!
//! Every bad input is an error that starts with where it is (`accounts.csv:3:7: …`, the path as given) and says
//! what was expected; nothing in here panics on input.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How rows are handed out to users, by the users' numbers (`{{vu}}`, the same in one run and across
/// `--segment`s): the same user always has the same row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Assign {
    /// User n (from 1) gets row n−1; users past the last row get [`Exhausted`].
    Unique,
    /// User n gets row n−1 modulo the number of rows.
    RoundRobin,
    /// Each user gets a row drawn uniformly at random (rows may repeat).
    Random,
}

impl Assign {
    /// The spellings accepted by [`Assign::parse`], in declaration order (for "did you mean" and help texts).
    pub const NAMES: &'static [&'static str] = &["unique", "round_robin", "random"];

    /// The policy spelled `name` in a scenario, if any.
    pub fn parse(name: &str) -> Option<Assign> {
        match name {
            "unique" => Some(Assign::Unique),
            "round_robin" => Some(Assign::RoundRobin),
            "random" => Some(Assign::Random),
            _ => None,
        }
    }

    /// The spelling used in scenarios.
    pub fn as_str(self) -> &'static str {
        match self {
            Assign::Unique => "unique",
            Assign::RoundRobin => "round_robin",
            Assign::Random => "random",
        }
    }
}

impl fmt::Display for Assign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A loaded CSV data file: named columns and at least one row, every value kept exactly as written.
pub struct DataSet {
    path: PathBuf,
    columns: Vec<String>,
    /// Every value, row-major, concatenated.
    text: String,
    /// Value `i` is `text[bounds[i]..bounds[i + 1]]`; `bounds` has one more entry than there are values.
    bounds: Vec<usize>,
}

impl DataSet {
    /// Reads and parses the CSV file at `path` (see [`DataSet::parse`]), a regular file of at most
    /// [`crate::files::DATA`] bytes.
    ///
    /// The file is streamed: only the values are kept, not the file's text beside them. A file with any problem
    /// is read again whole, and parsed by [`DataSet::parse`] for the error's line and column (errors are rare;
    /// large files are not).
    pub fn load(path: &Path) -> Result<DataSet, DataError> {
        let read_error = |e| DataError::Read {
            path: path.to_path_buf(),
            io: match e {
                crate::files::ReadError::Io(io) => io,
                other => std::io::Error::other(other.to_string()),
            },
        };
        let file = crate::files::open_regular(path, crate::files::DATA).map_err(read_error)?;
        let limited = std::io::Read::take(file, crate::files::DATA.bytes);
        if let Some(set) =
            DataSet::stream(path, std::io::BufReader::with_capacity(1 << 16, limited))
        {
            return Ok(set);
        }
        let bytes = crate::files::read_bytes(path, crate::files::DATA).map_err(read_error)?;
        let text = decode(path, &bytes)?;
        DataSet::parse(path, text)
    }

    /// The data set of the CSV text `reader` gives, read record by record, when it is valid; `None` on any
    /// problem (the caller parses the text again for a located error). Accepts exactly what [`DataSet::parse`]
    /// accepts, with the same values.
    fn stream(path: &Path, mut reader: impl std::io::BufRead) -> Option<DataSet> {
        // A leading UTF-8 BOM is skipped, before the CSV reader sees it (as `parse` strips it from the text).
        const BOM: &[u8] = "\u{feff}".as_bytes();
        if reader.fill_buf().ok()?.starts_with(BOM) {
            reader.consume(BOM.len());
        }
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::None)
            .from_reader(reader);
        let mut record = csv::ByteRecord::new();
        if !reader.read_byte_record(&mut record).ok()? {
            return None;
        }
        let mut columns: Vec<String> = Vec::with_capacity(record.len());
        for raw in &record {
            let name = std::str::from_utf8(raw).ok()?.trim();
            if identifier_problem(name).is_some() || columns.iter().any(|c| c == name) {
                return None;
            }
            columns.push(name.to_string());
        }
        let mut values = String::new();
        let mut bounds = vec![0];
        while reader.read_byte_record(&mut record).ok()? {
            if record.len() != columns.len() {
                return None;
            }
            for value in &record {
                values.push_str(std::str::from_utf8(value).ok()?);
                bounds.push(values.len());
            }
        }
        if bounds.len() == 1 {
            return None;
        }
        values.shrink_to_fit();
        bounds.shrink_to_fit();
        Some(DataSet {
            path: path.to_path_buf(),
            columns,
            text: values,
            bounds,
        })
    }

    /// Parses CSV `text`; `path` is only used in error messages.
    ///
    /// The first record is the header: trimmed column names, each an identifier (`[A-Za-z_][A-Za-z0-9_]*`) and
    /// unique. Every other record must have as many fields as the header. Values are kept exactly, spaces
    /// included; quoted fields may hold commas, `""` and line breaks. A leading UTF-8 BOM is ignored, CRLF and LF
    /// line ends both work, and empty lines are skipped. A header with no rows is an error.
    pub fn parse(path: &Path, text: &str) -> Result<DataSet, DataError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::None)
            .from_reader(text.as_bytes());
        let mut record = csv::StringRecord::new();

        let read = |reader: &mut csv::Reader<&[u8]>, record: &mut csv::StringRecord| {
            reader
                .read_record(record)
                .map_err(|e| csv_error(path, text, &e))
        };

        if !read(&mut reader, &mut record)? {
            return Err(DataError::Empty {
                path: path.to_path_buf(),
            });
        }
        let header_start = record_start(text, record.position());
        let columns = header(path, text, header_start, &record)?;

        let mut values = String::with_capacity(text.len());
        let mut bounds = Vec::with_capacity(columns.len() * 16 + 1);
        bounds.push(0);
        while read(&mut reader, &mut record)? {
            if record.len() != columns.len() {
                return Err(DataError::FieldCount {
                    path: path.to_path_buf(),
                    line: line_column(text, record_start(text, record.position())).0,
                    fields: record.len(),
                    expected: columns.len(),
                });
            }
            for value in &record {
                values.push_str(value);
                bounds.push(values.len());
            }
        }
        if bounds.len() == 1 {
            return Err(DataError::NoRows {
                path: path.to_path_buf(),
                columns: columns.join(","),
            });
        }
        values.shrink_to_fit();
        bounds.shrink_to_fit();
        Ok(DataSet {
            path: path.to_path_buf(),
            columns,
            text: values,
            bounds,
        })
    }

    /// The file this data came from, as given to [`DataSet::load`] or [`DataSet::parse`].
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The column names, in file order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The index of the column called `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The number of rows (the header not counted); never 0 for a parsed data set.
    pub fn len(&self) -> usize {
        (self.bounds.len() - 1) / self.columns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value in `row` (0-based, header not counted) and `column` (an index from [`DataSet::column`]).
    ///
    /// # Panics
    /// If `row >= self.len()` or `column >= self.columns().len()`, like slice indexing; use [`DataSet::get`]
    /// for indices that are not known to be in range.
    pub fn value(&self, row: usize, column: usize) -> &str {
        match self.get(row, column) {
            Some(v) => v,
            None => panic!(
                "data value ({row}, {column}) out of range: {} rows, {} columns",
                self.len(),
                self.columns.len()
            ),
        }
    }

    /// The value in `row` and `column`, or `None` when either is out of range.
    pub fn get(&self, row: usize, column: usize) -> Option<&str> {
        if column >= self.columns.len() || row >= self.len() {
            return None;
        }
        let i = row * self.columns.len() + column;
        Some(&self.text[self.bounds[i]..self.bounds[i + 1]])
    }
}

impl fmt::Debug for DataSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataSet")
            .field("path", &self.path)
            .field("columns", &self.columns)
            .field("rows", &self.len())
            .finish_non_exhaustive()
    }
}

/// Hands rows of a shared [`DataSet`] to users as they start, from any number of threads.
#[derive(Debug)]
pub struct Feeder {
    set: Arc<DataSet>,
    assign: Assign,
}

impl Feeder {
    pub fn new(set: Arc<DataSet>, assign: Assign) -> Feeder {
        Feeder { set, assign }
    }

    /// The row of user `user` (its number in the whole plan, from 1).
    ///
    /// `uniform` is a caller-supplied draw in `[0, 1)`, called only by [`Assign::Random`], so the feeder needs
    /// no RNG of its own; values out of range (or NaN) are clamped to the first or last row. With
    /// [`Assign::Unique`], a user numbered past the last row gets [`Exhausted`].
    pub fn take(&self, user: u64, uniform: impl FnOnce() -> f64) -> Result<usize, Exhausted> {
        let rows = self.set.len();
        let exhausted = || Exhausted {
            rows,
            path: self.set.path.clone(),
            user,
        };
        let n = user.saturating_sub(1);
        if rows == 0 {
            return Err(exhausted());
        }
        match self.assign {
            Assign::Unique => match usize::try_from(n) {
                Ok(row) if row < rows => Ok(row),
                _ => Err(exhausted()),
            },
            // `n % rows < rows`, so the conversion back to usize cannot truncate.
            Assign::RoundRobin => Ok((n % rows as u64) as usize),
            // Float-to-int `as` saturates (NaN and negatives become 0).
            Assign::Random => Ok(((uniform() * rows as f64) as usize).min(rows - 1)),
        }
    }

    pub fn set(&self) -> &DataSet {
        &self.set
    }

    pub fn assign(&self) -> Assign {
        self.assign
    }
}

/// A user asked for a row with `assign = "unique"` after every row had been handed out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{path}` has {rows} row{s} and `assign = \"unique\"` gives each user its own: user {user} has none; add rows \
     to the file, start at most {rows} user{s}, or use `assign = \"round_robin\"` to reuse rows",
    s = plural(*.rows)
)]
pub struct Exhausted {
    /// The number of rows in the file.
    pub rows: usize,
    pub path: PathBuf,
    /// The number of the user (from 1) that found no row.
    pub user: u64,
}

/// A data file that cannot be read or does not parse. Each message starts with the location.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file is missing or unreadable. The OS error is part of the message (deliberately not a `source`, so
    /// that it is not printed twice), so the message is complete wherever it is shown.
    #[error("{path}: cannot read the data file: {io}")]
    Read { path: PathBuf, io: std::io::Error },
    #[error("{path}:{line}:{column}: the data file is not valid UTF-8 here; save it as UTF-8")]
    NotUtf8 {
        path: PathBuf,
        line: u64,
        column: u64,
    },
    #[error(
        "{path}:1:1: the data file is empty; expected a header line naming the columns, e.g. `username,password`, \
         then one row of values per line"
    )]
    Empty { path: PathBuf },
    #[error(
        "{path}: has a header ({columns}) but no rows; add one line of values per user below the header"
    )]
    NoRows { path: PathBuf, columns: String },
    /// A header name that cannot be used as `{{data.NAME}}`.
    #[error(
        "{path}:{line}:{column}: column {index} {problem}; column names are used in templates as `{{{{data.NAME}}}}`, \
         so each must be a letter or `_` followed by letters, digits or `_` (e.g. `user_name`)"
    )]
    BadColumn {
        path: PathBuf,
        line: u64,
        column: u64,
        /// 1-based position of the field in the header.
        index: usize,
        /// What is wrong, e.g. "`user name` contains ` `".
        problem: String,
    },
    #[error(
        "{path}:{line}:{column}: duplicate column name `{name}`, already used at {first_line}:{first_column}; \
         column names must be unique"
    )]
    DuplicateColumn {
        path: PathBuf,
        line: u64,
        column: u64,
        name: String,
        first_line: u64,
        first_column: u64,
    },
    #[error(
        "{path}:{line}: row has {fields} field{s}, the header has {expected}; {hint}",
        s = plural(*.fields),
        hint = field_count_hint(*.fields, *.expected),
    )]
    FieldCount {
        path: PathBuf,
        line: u64,
        fields: usize,
        expected: usize,
    },
    /// Any other error the CSV reader reports.
    #[error("{path}:{line}: cannot read CSV: {message}")]
    Csv {
        path: PathBuf,
        line: u64,
        message: String,
    },
}

fn field_count_hint(fields: usize, expected: usize) -> &'static str {
    if fields > expected {
        "quote values that contain a comma, e.g. `\"a,b\"`"
    } else {
        "give every column a value (an empty value is nothing between two commas)"
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `bytes` as UTF-8, or an error at the first invalid byte.
fn decode<'a>(path: &Path, bytes: &'a [u8]) -> Result<&'a str, DataError> {
    std::str::from_utf8(bytes).map_err(|e| {
        // The prefix up to the error is valid UTF-8 by definition.
        let valid = String::from_utf8_lossy(&bytes[..e.valid_up_to()]);
        let (line, column) = line_column(&valid, valid.len());
        DataError::NotUtf8 {
            path: path.to_path_buf(),
            line,
            column,
        }
    })
}

/// The 1-based line and column (in characters) of byte `at` of `text`.
fn line_column(text: &str, at: usize) -> (u64, u64) {
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line as u64, column as u64)
}

/// The byte where the record the csv reader reports at `position` starts in `text`.
///
/// The reader's position is where it began reading, before the empty lines it skips, and its line number does
/// not count those lines; so the start and the line are worked out from the text (only on the way to an error
/// or for the header, which keeps parsing linear).
fn record_start(text: &str, position: Option<&csv::Position>) -> usize {
    let from = position.map_or(0, |p| usize::try_from(p.byte()).unwrap_or(usize::MAX));
    let from = from.min(text.len());
    text[from..]
        .find(|c| c != '\n' && c != '\r')
        .map_or(text.len(), |i| from + i)
}

fn csv_error(path: &Path, text: &str, e: &csv::Error) -> DataError {
    let line = line_column(text, record_start(text, e.position())).0;
    DataError::Csv {
        path: path.to_path_buf(),
        line,
        message: e.to_string(),
    }
}

/// Validates the header record (which starts at byte `start` of `text`) and returns the trimmed column names.
fn header(
    path: &Path,
    text: &str,
    start: usize,
    record: &csv::StringRecord,
) -> Result<Vec<String>, DataError> {
    let starts = field_starts(text, start);
    let mut columns: Vec<String> = Vec::with_capacity(record.len());
    let mut positions: Vec<(u64, u64)> = Vec::with_capacity(record.len());
    for (i, raw) in record.iter().enumerate() {
        let name = raw.trim();
        let (field_start, name_start) = starts.get(i).copied().unwrap_or((start, start));
        let at = if name.is_empty() {
            field_start
        } else {
            name_start
        };
        let (line, column) = line_column(text, at);
        if let Some(problem) = identifier_problem(name) {
            return Err(DataError::BadColumn {
                path: path.to_path_buf(),
                line,
                column,
                index: i + 1,
                problem: if name.is_empty() && i + 1 == record.len() && i > 0 {
                    format!("{problem} (is there a trailing comma?)")
                } else {
                    problem
                },
            });
        }
        if let Some(first) = columns.iter().position(|c| c == name) {
            let (first_line, first_column) = positions[first];
            return Err(DataError::DuplicateColumn {
                path: path.to_path_buf(),
                line,
                column,
                name: name.to_string(),
                first_line,
                first_column,
            });
        }
        columns.push(name.to_string());
        positions.push((line, column));
    }
    Ok(columns)
}

/// Why `name` is not an identifier, or `None` when it is one.
fn identifier_problem(name: &str) -> Option<String> {
    let mut chars = name.chars();
    let first = match chars.next() {
        None => return Some("has an empty name".to_string()),
        Some(c) => c,
    };
    if first.is_ascii_digit() {
        return Some(format!("`{name}` starts with a digit"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
    {
        return Some(format!("`{name}` contains {}", describe(bad)));
    }
    None
}

fn describe(c: char) -> String {
    match c {
        ' ' => "a space".to_string(),
        '\t' => "a tab".to_string(),
        '\n' | '\r' => "a line break".to_string(),
        c if c.is_control() => format!("the control character {}", c.escape_unicode()),
        c => format!("`{c}`"),
    }
}

/// For each field of the CSV record starting at byte `start` of `text`: the byte where the field starts, and
/// where its name starts (past an opening quote and leading blanks). Follows the csv crate's default dialect:
/// `,` separates, a `"` opens a quoted field only as a field's first byte, `""` inside one is a quote, and an
/// unquoted `\n` or `\r` ends the record.
fn field_starts(text: &str, start: usize) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = start;
    loop {
        let field_start = i;
        let mut name_start = i;
        if b.get(i) == Some(&b'"') {
            i += 1;
            name_start = i;
            loop {
                match b.get(i) {
                    None => break,
                    Some(b'"') if b.get(i + 1) == Some(&b'"') => i += 2,
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(_) => i += 1,
                }
            }
        }
        while matches!(b.get(name_start), Some(b' ' | b'\t')) {
            name_start += 1;
        }
        out.push((field_start, name_start));
        loop {
            match b.get(i) {
                None | Some(b'\n' | b'\r') => return out,
                Some(b',') => {
                    i += 1;
                    break;
                }
                Some(_) => i += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests;
