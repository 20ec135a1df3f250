//! Golden outputs: fixed results files (`tests/fixtures/golden/`, made once by a real run, see `golden.toml`)
//! rendered by `report`, `merge` and `compare` into every format, compared byte for byte with the files in
//! `tests/fixtures/golden/expected/`. A change to any output shows here as the first line that differs; when the
//! change is meant, `LOADGEN_BLESS=1 cargo test --test it golden` rewrites the expected files (review the diff
//! in git before committing it).

use std::path::{Path, PathBuf};

use crate::util::{loadgen, root};

fn fixtures() -> PathBuf {
    root().join("tests/fixtures/golden")
}

/// Runs `args` in a fresh directory holding copies of the fixtures, and checks its exit code, stdout, stderr and
/// every file it wrote against `expected/NAME/`.
fn golden(name: &str, args: &[&str]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let inputs = ["run.json", "seg0.json", "seg1.json"];
    for f in inputs {
        std::fs::copy(fixtures().join(f), dir.path().join(f)).expect("copy a fixture");
    }
    let out = loadgen(args).current_dir(dir.path()).run();
    let mut got: Vec<(String, Vec<u8>)> = vec![
        ("exit".into(), format!("{:?}\n", out.code).into_bytes()),
        ("stdout".into(), out.stdout.clone().into_bytes()),
        ("stderr".into(), out.stderr.clone().into_bytes()),
    ];
    let mut written: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .expect("read the run's directory")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| !inputs.iter().any(|i| p.ends_with(i)))
        .collect();
    written.sort();
    for p in written {
        let file = p
            .file_name()
            .expect("a name")
            .to_string_lossy()
            .into_owned();
        got.push((file, std::fs::read(&p).expect("read an output")));
    }
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let expected = fixtures().join("expected").join(name);
    if std::env::var_os("LOADGEN_BLESS").is_some() {
        let _ = std::fs::remove_dir_all(&expected);
        std::fs::create_dir_all(&expected).expect("create the expected directory");
        for (file, bytes) in &got {
            std::fs::write(expected.join(file), bytes).expect("write an expected file");
        }
        return;
    }
    let mut problems = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(&expected)
        .unwrap_or_else(|e| panic!("{}: {e} (make it with LOADGEN_BLESS=1)", expected.display()))
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    let got_names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    if names.iter().map(String::as_str).collect::<Vec<_>>() != got_names {
        problems.push(format!(
            "files differ: expected {names:?}, got {got_names:?}"
        ));
    }
    for (file, bytes) in &got {
        let Ok(want) = std::fs::read(expected.join(file)) else {
            continue;
        };
        if let Some(d) = first_difference(&want, bytes) {
            problems.push(format!("{file}: {d}"));
        }
    }
    assert!(
        problems.is_empty(),
        "`{}` no longer writes what tests/fixtures/golden/expected/{name}/ holds:\n{}\n(if the change is meant: \
         LOADGEN_BLESS=1 cargo test --test it golden, then review `git diff`)\n--- stderr ---\n{}",
        args.join(" "),
        problems.join("\n"),
        out.stderr
    );
}

/// The first line where `got` differs from `want`, both shown.
fn first_difference(want: &[u8], got: &[u8]) -> Option<String> {
    if want == got {
        return None;
    }
    let (w, g) = (String::from_utf8_lossy(want), String::from_utf8_lossy(got));
    let (wl, gl): (Vec<&str>, Vec<&str>) = (w.split('\n').collect(), g.split('\n').collect());
    let line = (0..wl.len().max(gl.len()))
        .find(|&i| wl.get(i) != gl.get(i))
        .unwrap_or(0);
    let cut = |s: Option<&&str>| s.map_or("<none>".to_string(), |s| s.chars().take(300).collect());
    Some(format!(
        "line {}:\n  expected: {}\n  got:      {}",
        line + 1,
        cut(wl.get(line)),
        cut(gl.get(line))
    ))
}

#[test]
fn report_writes_the_same_console_html_junit_markdown_and_csv() {
    golden(
        "report",
        &[
            "report",
            "run.json",
            "--html",
            "report.html",
            "--junit",
            "junit.xml",
            "--markdown",
            "summary.md",
            "--csv",
            "locust",
            "--csv-full-history",
        ],
    );
}

#[test]
fn merge_writes_the_same_json_and_reports() {
    golden(
        "merge",
        &[
            "merge",
            "seg0.json",
            "seg1.json",
            "--json",
            "merged.json",
            "--html",
            "merged.html",
            "--junit",
            "merged.xml",
            "--markdown",
            "merged.md",
            "--csv",
            "merged",
        ],
    );
}

#[test]
fn compare_writes_the_same_table_markdown_and_json() {
    for (name, format) in [
        ("compare_table", "table"),
        ("compare_markdown", "markdown"),
        ("compare_json", "json"),
    ] {
        golden(
            name,
            &[
                "compare",
                "seg0.json",
                "run.json",
                "--min-requests",
                "10",
                "--format",
                format,
            ],
        );
    }
}

/// The fixtures stay what `golden.toml` says: a run that failed a gate, with a skipped gate and a steady window.
#[test]
fn the_golden_fixtures_hold_what_they_are_for() {
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("run.json")).expect("run.json"))
            .expect("run.json is JSON");
    let results = run["gates"]["results"].as_array().expect("gate results");
    assert!(results.iter().any(|g| g["passed"] == false));
    assert!(results.iter().any(|g| g["skipped"].is_string()));
    assert!(results.iter().any(|g| g["during"] == "steady"));
    assert!(run["aggregated"]["failures"].as_u64() > Some(0));
    assert!(Path::new(&fixtures().join("golden.toml")).is_file());
}
