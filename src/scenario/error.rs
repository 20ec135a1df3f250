//! Scenario errors that point at the offending text.
//!
//! Every problem found while loading or validating a scenario becomes a [`ScenarioError`] carrying the file, the
//! 1-based line and column, the source line itself and an optional hint ("did you mean `users`?"), so that the
//! binary can print it the way compilers do and exit with code 2.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A located problem in a scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// The full source line the error points into (empty when the file could not be read).
    pub source_line: String,
    pub help: Option<String>,
}

impl ScenarioError {
    /// An error at byte offset `at` of `source`.
    pub fn at(file: &Path, source: &str, at: usize, message: impl Into<String>) -> Self {
        let at = at.min(source.len());
        let before = &source[..floor_char_boundary(source, at)];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        let line_end = source[line_start..]
            .find('\n')
            .map_or(source.len(), |i| line_start + i);
        ScenarioError {
            file: file.to_path_buf(),
            line,
            column,
            message: message.into(),
            source_line: source[line_start..line_end]
                .trim_end_matches('\r')
                .to_string(),
            help: None,
        }
    }

    /// An error covering `span` (reported at its start).
    pub fn span(file: &Path, source: &str, span: Range<usize>, message: impl Into<String>) -> Self {
        Self::at(file, source, span.start, message)
    }

    /// An error about a whole file that has no position (it could not be read, say).
    pub fn file(file: &Path, message: impl Into<String>) -> Self {
        ScenarioError {
            file: file.to_path_buf(),
            line: 1,
            column: 1,
            message: message.into(),
            source_line: String::new(),
            help: None,
        }
    }

    /// A scenario file that could not be read: at 1:1, or where its first invalid UTF-8 byte is.
    pub fn read(file: &Path, what: &str, e: crate::files::ReadError) -> Self {
        let mut err = ScenarioError::file(file, format!("{what}: {e}"));
        if let crate::files::ReadError::NotUtf8 { line, column } = e {
            err.line = usize::try_from(line).unwrap_or(usize::MAX);
            err.column = usize::try_from(column).unwrap_or(usize::MAX);
        }
        err
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds "did you mean `x`?" when one of `candidates` is close to `word`.
    pub fn suggest<'a>(self, word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Self {
        match did_you_mean(word, candidates) {
            Some(best) => self.with_help(format!("did you mean `{best}`?")),
            None => self,
        }
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )?;
        if !self.source_line.is_empty() {
            let gutter = self.line.to_string().len();
            write!(f, "\n{:gutter$} |", "")?;
            write!(f, "\n{} | {}", self.line, self.source_line)?;
            let pad: String = self
                .source_line
                .chars()
                .take(self.column.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            write!(f, "\n{:gutter$} | {pad}^", "")?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n  = help: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioError {}

/// The closest candidate to `word`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Turns a TOML parse or type error into a located error, with a hint for unknown fields.
pub fn from_toml(file: &Path, source: &str, err: &toml::de::Error) -> ScenarioError {
    let at = err.span().map_or(0, |s| s.start);
    let message = plain_types(err.message().trim());
    let e = ScenarioError::at(file, source, at, message.clone());
    // serde's wording: "unknown field `usres`, expected one of `users`, `spawn_rate`"
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((word, expected)) = rest.split_once('`')
    {
        let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        return e.suggest(word, candidates);
    }
    e
}

/// serde names Rust types ("expected i64"); say what to write instead.
fn plain_types(message: &str) -> String {
    let mut m = message.to_string();
    for (rust, plain) in [
        ("expected i64", "expected an integer"),
        ("expected u64", "expected a non-negative integer"),
        ("expected u32", "expected a non-negative integer"),
        ("expected f64", "expected a number"),
        ("expected a boolean", "expected true or false"),
        ("expected a sequence", "expected an array"),
        ("expected a map", "expected a table"),
    ] {
        m = m.replace(rust, plain);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_line_and_column() {
        let src = "a = 1\nbb = 2\n";
        let e = ScenarioError::at(Path::new("f.toml"), src, 9, "bad");
        assert_eq!((e.line, e.column), (2, 4));
        assert_eq!(e.source_line, "bb = 2");
        let shown = e.to_string();
        assert!(shown.starts_with("f.toml:2:4: bad"), "{shown}");
        assert!(shown.contains("2 | bb = 2"), "{shown}");
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(did_you_mean("usres", ["users", "duration"]), Some("users"));
        assert_eq!(did_you_mean("zzz", ["users", "duration"]), None);
    }
}
