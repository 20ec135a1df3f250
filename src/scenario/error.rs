//! Scenario errors that point at the offending text.
//!
//! Every problem found while loading or validating a scenario becomes a [`ScenarioError`] carrying the file, the
//! 1-based line and column, the source line itself and an optional hint ("did you mean `users`?"), so that the
//! binary can print it the way compilers do and exit with code 2.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::shown;

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

    /// Masks `secret` (a password in a URL, say) where the quoted source line shows it after the caret, so the
    /// snippet does not print what the message masks. The column is unchanged.
    pub fn masking(mut self, secret: Option<&str>) -> Self {
        let Some(secret) = secret.filter(|s| !s.is_empty()) else {
            return self;
        };
        let caret = self
            .source_line
            .char_indices()
            .nth(self.column.saturating_sub(1))
            .map_or(self.source_line.len(), |(i, _)| i);
        let (before, after) = self.source_line.split_at(caret);
        self.source_line = format!("{before}{}", after.replace(secret, "***"));
        self
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
    /// `file:line:column: message`, then the source line with a caret under the column, then the help. What
    /// came from the file is made safe for a terminal: control characters escaped, a long line cut to a window
    /// around the caret, a long message cut in its middle (see [`crate::shown`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = shown::clip(&self.message, shown::MAX_LINE);
        write!(
            f,
            "{}:{}:{}: {}",
            shown::escape_all(&self.file.display().to_string()),
            self.line,
            self.column,
            shown::escape_all(&message)
        )?;
        if !self.source_line.is_empty() {
            let gutter = self.line.to_string().len();
            let (line, pad) = shown::snippet(&self.source_line, self.column);
            write!(f, "\n{:gutter$} |", "")?;
            write!(f, "\n{} | {line}", self.line)?;
            write!(f, "\n{:gutter$} | {pad}^", "")?;
        }
        if let Some(help) = &self.help {
            let help = shown::clip(help, shown::MAX_LINE);
            write!(f, "\n  = help: {}", shown::escape_all(&help))?;
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
///
/// The offending line is quoted only when the file reads as a scenario up to it ([`reads_as_scenario`]): a
/// file that is something else (a password file given to `include`, a `.env` file, a key) gets its line and
/// column but no snippet, and a string value the message would quote is left out, so an error never prints a
/// secret that was never meant to be a scenario.
pub fn from_toml(file: &Path, source: &str, err: &toml::de::Error) -> ScenarioError {
    let at = err.span().map_or(0, |s| s.start);
    let mut message = plain_types(err.message().trim());
    let at = floor_char_boundary(source, at.min(source.len()));
    let line_start = source[..at].rfind('\n').map_or(0, |i| i + 1);
    let hide = !reads_as_scenario(&source[..line_start]);
    if hide {
        message = format!(
            "{}; this does not read as a scenario file, so its text is not shown",
            without_strings(&message)
        );
    }
    let mut e = ScenarioError::at(file, source, at, message.clone());
    if hide {
        e.source_line.clear();
    }
    // serde's wording: "unknown field `usres`, expected one of `users`, `spawn_rate`"
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((word, expected)) = rest.split_once('`')
    {
        let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        return e.suggest(word, candidates);
    }
    e
}

/// Whether `before` (a file's text up to the line of an error) holds a scenario's own key: a line that sets or
/// opens one of the top-level keys (`name = `, `include = `, `[target]`, `[load]`, `[[task]]`, `[classes.x]`,
/// ...). A file whose first statement is already wrong does not: nothing says it was meant as a scenario.
pub fn reads_as_scenario(before: &str) -> bool {
    const KEYS: &[&str] = &[
        "name",
        "include",
        "target",
        "load",
        "gates",
        "data",
        "validity",
        "preflight",
        "user",
        "task",
        "classes",
    ];
    before.lines().any(|line| {
        let l = line.trim_start();
        let (table, rest) = match l.strip_prefix("[[").or_else(|| l.strip_prefix('[')) {
            Some(r) => (true, r.trim_start()),
            None => (false, l),
        };
        let key_end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(rest.len());
        let (key, after) = rest.split_at(key_end);
        let after = after.trim_start();
        KEYS.contains(&key)
            && if table {
                after.starts_with(']') || after.starts_with('.')
            } else {
                after.starts_with('=') || after.starts_with('.')
            }
    })
}

/// `message` with the string values serde quotes (`invalid type: string "…"`) left out.
fn without_strings(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(i) = rest.find("string \"") {
        out.push_str(&rest[..i]);
        out.push_str("a string");
        // Skip the quoted value: serde writes it with Debug escapes, so an inner quote is `\"`.
        let value = &rest[i + "string \"".len()..];
        let mut end = value.len();
        let mut escaped = false;
        for (j, c) in value.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    end = j + 1;
                    break;
                }
                _ => escaped = false,
            }
        }
        rest = &value[end.min(value.len())..];
    }
    out.push_str(rest);
    out
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

    fn toml_error(text: &str) -> ScenarioError {
        let e = toml::from_str::<crate::scenario::RawFile>(text).unwrap_err();
        from_toml(Path::new("f.toml"), text, &e)
    }

    /// A file that is not a scenario (a password file given to `include`, a `.env` file) gets its location but
    /// neither a snippet nor a quoted value; a scenario with a mistake keeps its snippet.
    #[test]
    fn files_that_are_not_scenarios_are_not_quoted() {
        for (text, secret) in [
            ("hunter2\n", "hunter2"),
            ("correct horse battery staple\n", "horse"),
            ("DB_PASSWORD=\"s3cret\"\n", "s3cret"),
            ("target = \"s3cret\"\n", "s3cret"),
            ("[db]\npassword = hunter2\n", "hunter2"),
            ("# secrets\n\napi_key = \"s3cret\"\n", "s3cret"),
        ] {
            let e = toml_error(text);
            let shown = e.to_string();
            assert!(!shown.contains(secret), "{text:?}: {shown}");
            assert!(e.source_line.is_empty(), "{text:?}: {shown}");
            assert!(shown.contains("does not read as a scenario"), "{shown}");
        }
        let e = toml_error("name = \"x\"\n[load]\nusers = \"ten\"\n");
        assert_eq!((e.line, e.source_line.as_str()), (3, "users = \"ten\""));
        assert!(e.to_string().contains("string \"ten\""), "{e}");
        assert!(reads_as_scenario("[[task]]\nname = \"a\"\n"));
        assert!(reads_as_scenario("[classes.reader]\n"));
        assert!(!reads_as_scenario("[database]\nnames = 1\n"));
        assert_eq!(
            without_strings(r#"invalid type: string "a\"b", expected x"#),
            "invalid type: a string, expected x"
        );
    }

    #[test]
    fn a_ten_megabyte_line_prints_a_window() {
        let text = format!(
            "name = \"{}\u{1b}[2J{}",
            "a".repeat(5_000_000),
            "b".repeat(5_000_000)
        );
        let e = ScenarioError::at(Path::new("f.toml"), &text, 5_000_008, "bad");
        let shown = e.to_string();
        assert!(shown.len() < 1000, "{} bytes", shown.len());
        assert!(
            shown.contains("\\x1b[2J") && !shown.contains('\u{1b}'),
            "{shown}"
        );
        // The caret is under the escaped ESC.
        let lines: Vec<&str> = shown.lines().collect();
        let at = lines[3].chars().position(|c| c == '^').unwrap();
        let under: String = lines[2].chars().skip(at).take(4).collect();
        assert_eq!(under, "\\x1b", "{shown}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]

        /// Any text, any offset, any message: no panic, no control character but the line breaks between the
        /// parts, and a bounded size.
        #[test]
        fn rendering_is_bounded_and_clean(
            text in "(\\PC|[\\x00-\\x1f\\x7f-\\u{9f}\\u{202e}]){0,400}",
            repeat in 0usize..3000,
            at in 0usize..2_000_000,
            message in "(\\PC|[\\x00-\\x1f]){0,50}",
        ) {
            let text = text.repeat(repeat.max(1));
            let e = ScenarioError::at(Path::new("f\u{1b}.toml"), &text, at, message)
                .with_help("h\u{0}");
            let shown = e.to_string();
            proptest::prop_assert!(
                shown.chars().all(|c| c == '\n' || crate::shown::escape(c).is_none()),
                "{:?}", shown
            );
            proptest::prop_assert!(shown.lines().count() <= 5);
            proptest::prop_assert!(shown.chars().count() <= 4000, "{}", shown.chars().count());
        }
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(did_you_mean("usres", ["users", "duration"]), Some("users"));
        assert_eq!(did_you_mean("zzz", ["users", "duration"]), None);
    }
}
