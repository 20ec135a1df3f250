//! Property-based fuzzing (proptest) of the scenario loader, the plan resolver and the template engine.
//!
//! The properties: whatever text a scenario file holds — arbitrary strings, or the shipped scenarios truncated,
//! with bytes flipped, junk inserted, lines deleted, duplicated or swapped — loading and resolving it never
//! panics, and every error points at a line and column that exist in the file it names; whatever a template
//! string is, compiling it never panics, a compiled template renders without panicking, and every error or
//! reference it reports is at an offset inside the string. A plan that resolves is also described (`loadgen
//! check`), which must not panic either.
//!
//! Case counts are small by default so `cargo test` stays fast; `PROPTEST_CASES=20000 cargo test --lib
//! fuzz_tests` runs longer (see docs/fuzzing.md). Failing inputs are saved under `proptest-regressions/` and
//! replayed first on every later run; a failure found also gets a plain test in [`pinned`].
//!
//! - this file: the scenario properties and the location check;
//! - [`mutate`]: the generators of scenario text, byte mutations and structural edits;
//! - [`templates`]: the template and JSON-path properties;
//! - [`pinned`]: edge cases and regressions as plain tests.

mod mutate;
mod pinned;
mod templates;

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::error::Error;
use crate::plan::{Overrides, resolve};
use crate::scenario::load_str;
use mutate::{apply, apply_edit, edit, junk, mutation};

/// proptest's configuration with `default_cases` cases unless `PROPTEST_CASES` says otherwise.
fn config(default_cases: u32) -> ProptestConfig {
    let mut c = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = default_cases;
    }
    c
}

/// The shipped scenarios, with their real paths so that their includes resolve.
static SHIPPED: LazyLock<Vec<(PathBuf, String)>> = LazyLock::new(|| {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<(PathBuf, String)> = std::fs::read_dir(&dir)
        .expect("read scenarios/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("read a shipped scenario");
            (p, text)
        })
        .collect();
    files.sort();
    assert!(files.len() >= 6, "found {} scenarios", files.len());
    files
});

/// Checks that `e` is located inside the file it names (`root` holds `root_text`; other files are read from disk).
fn check_error(e: &Error, root: &Path, root_text: &str) -> Result<(), TestCaseError> {
    let shown = e.to_string();
    let se = match e {
        Error::Scenario(se) => se,
        // A data file's errors carry their own location, in the CSV file.
        Error::Data(_) => return Ok(()),
        other => {
            return Err(TestCaseError::fail(format!(
                "an error from a scenario file without a location: {other:?}"
            )));
        }
    };
    let text = if se.file == root {
        root_text.to_string()
    } else {
        match std::fs::read_to_string(&se.file) {
            Ok(t) => t,
            // An unreadable file has no position: 1:1.
            Err(_) => {
                prop_assert_eq!((se.line, se.column), (1, 1), "{}", shown);
                return Ok(());
            }
        }
    };
    let lines: Vec<&str> = text.split('\n').collect();
    prop_assert!(
        (1..=lines.len()).contains(&se.line),
        "line {} outside the {} lines of {}: {}",
        se.line,
        lines.len(),
        se.file.display(),
        shown
    );
    let line = lines[se.line - 1];
    prop_assert!(
        (1..=line.chars().count() + 1).contains(&se.column),
        "column {} outside line {} ({:?}): {}",
        se.column,
        se.line,
        line,
        shown
    );
    prop_assert!(
        se.source_line.is_empty() || se.source_line == line.trim_end_matches('\r'),
        "the quoted line {:?} is not line {} ({:?})",
        se.source_line,
        se.line,
        line
    );
    Ok(())
}

/// Loads and resolves `text` as if it were the file at `path`; never panics, errors are located.
fn load_and_resolve(path: &Path, text: &str) -> Result<(), TestCaseError> {
    let loaded = match load_str(path, text.to_string()) {
        Ok(l) => l,
        Err(e) => return check_error(&Error::Scenario(e), path, text),
    };
    match resolve(&loaded, &Overrides::default()) {
        Ok(plan) => {
            let _ = plan.describe();
            Ok(())
        }
        Err(e) => check_error(&e, path, text),
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arbitrary_text_never_panics_and_errors_are_located(text in any::<String>()) {
        load_and_resolve(Path::new("fuzz.toml"), &text)?;
    }

    #[test]
    fn toml_like_text_never_panics_and_errors_are_located(
        parts in prop::collection::vec(junk(), 0..40)
    ) {
        let text: String = parts.join(" ");
        load_and_resolve(Path::new("fuzz.toml"), &text)?;
    }

    #[test]
    fn edited_shipped_scenarios_never_panic_and_errors_are_located(
        file in 0..SHIPPED.len(),
        edits in prop::collection::vec(edit(), 1..5),
    ) {
        let (path, text) = &SHIPPED[file];
        let mut doc = toml::Value::Table(toml::from_str(text).expect("a shipped scenario is TOML"));
        for e in &edits {
            apply_edit(&mut doc, e);
        }
        // Some documents have no TOML text (a table inside an array after values): nothing to test then.
        if let Ok(text) = toml::to_string(&doc) {
            load_and_resolve(path, &text)?;
        }
    }

    #[test]
    fn mutated_shipped_scenarios_never_panic_and_errors_are_located(
        file in 0..SHIPPED.len(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let (path, text) = &SHIPPED[file];
        let mut bytes = text.clone().into_bytes();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        load_and_resolve(path, &text)?;
    }
}
