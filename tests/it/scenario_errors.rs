//! Every broken scenario in tests/fixtures/bad gives exit code 2 and one message naming file, line and column,
//! with a hint where one helps, and never a panic.

use crate::util::loadgen;

/// (file, "line:column", message fragment, hint fragment)
const CASES: &[(&str, &str, &str, Option<&str>)] = &[
    ("invalid_toml.toml", "1:15", "invalid basic string", None),
    (
        "wrong_type.toml",
        "4:9",
        "invalid type: string \"ten\", expected an integer",
        None,
    ),
    (
        "unknown_key.toml",
        "4:1",
        "unknown field `usres`",
        Some("did you mean `users`?"),
    ),
    (
        "unknown_section.toml",
        "7:2",
        "unknown field `gate`",
        Some("did you mean `gates`?"),
    ),
    (
        "unknown_key_in_step.toml",
        "11:1",
        "unknown field `statuses`",
        Some("did you mean `status`?"),
    ),
    (
        "missing_path.toml",
        "8:8",
        "request `home` has no `path`",
        None,
    ),
    (
        "missing_users.toml",
        "1:1",
        "missing `[load] users`",
        Some("users = 100"),
    ),
    ("no_tasks.toml", "1:1", "missing `[[task]]`", None),
    (
        "include_missing.toml",
        "1:11",
        "cannot include `parts/nope.toml`",
        None,
    ),
    (
        "unknown_variable.toml",
        "16:37",
        "unknown template variable `tokn`",
        Some("did you mean `token`?"),
    ),
    ("unclosed_template.toml", "9:12", "unclosed `{{`", None),
    (
        "unset_env.toml",
        "9:13",
        "environment variable `LOADGEN_TEST_SURELY_UNSET` is not set",
        None,
    ),
    (
        "bad_json_path.toml",
        "11:22",
        "bad JSON path `access_token`",
        Some("$.access_token"),
    ),
    (
        "invalid_url.toml",
        "2:8",
        "`127.0.0.1:8000` is not a valid URL",
        None,
    ),
    (
        "invalid_method.toml",
        "9:10",
        "unknown HTTP method `GETT`",
        Some("did you mean `GET`?"),
    ),
    (
        "relative_path.toml",
        "9:8",
        "`path` must start with `/`",
        None,
    ),
    (
        "zero_users.toml",
        "4:9",
        "`users` must be at least 1, got 0",
        None,
    ),
    (
        "negative_users.toml",
        "4:9",
        "`users` must be at least 1, got -5",
        None,
    ),
    (
        "zero_spawn_rate.toml",
        "5:14",
        "`spawn_rate` must be above 0",
        None,
    ),
    (
        "bad_duration.toml",
        "6:12",
        "cannot parse `5 minutes please` as a duration",
        Some("\"30s\""),
    ),
    (
        "gate_out_of_range.toml",
        "8:16",
        "`success_rate` is a percentage from 0 to 100, got 120",
        None,
    ),
    (
        "gate_unknown_request.toml",
        "7:17",
        "gate for unknown request name `hme`",
        Some("did you mean `home`?"),
    ),
    (
        "duplicate_task.toml",
        "12:8",
        "duplicate request name `home`",
        Some("first defined at"),
    ),
    (
        "zero_weight.toml",
        "10:10",
        "`weight` must be between 1 and 1000000, got 0",
        None,
    ),
    (
        "bad_status.toml",
        "10:27",
        "`700` is not an HTTP status code",
        None,
    ),
    (
        "unknown_wait_mode.toml",
        "8:8",
        "unknown wait mode `betwen`",
        Some("did you mean `between`?"),
    ),
    (
        "wait_min_above_max.toml",
        "8:8",
        "the minimum is above the maximum",
        None,
    ),
    (
        "json_and_body.toml",
        "11:8",
        "either `json` or `body`",
        None,
    ),
    (
        "capture_builtin_name.toml",
        "10:18",
        "capture name `vu` is a built-in variable",
        None,
    ),
    (
        "weight_on_start.toml",
        "10:10",
        "`weight` applies to [[task]] entries",
        None,
    ),
    (
        "zero_duration.toml",
        "6:12",
        "`duration` must be above zero",
        None,
    ),
    (
        "huge_duration.toml",
        "5:12",
        "`duration` must be at most 365 days",
        None,
    ),
    (
        "huge_users.toml",
        "4:9",
        "`users` must be at most 10000000",
        None,
    ),
    (
        "tiny_spawn_rate.toml",
        "5:14",
        "`spawn_rate` must be between 0.001 and 1000000 users per second, got 1e-300",
        None,
    ),
    (
        "include_directory.toml",
        "1:11",
        "cannot include `parts`",
        None,
    ),
    (
        "header_control_char.toml",
        "9:22",
        "header `X-Test`: the value contains the control character '\\n'",
        None,
    ),
    (
        "unknown_connections_mode.toml",
        "6:15",
        "unknown `connections` mode `shraed`",
        Some("did you mean `shared`?"),
    ),
    (
        "missing_host.toml",
        "1:1",
        "missing `[target] host`",
        Some("host = \"http://127.0.0.1:8000\""),
    ),
    (
        "ca_file_missing.toml",
        "3:11",
        "`ca_file`: cannot read the CA file `tests/fixtures/bad/parts/missing.pem`",
        Some("PEM file of CA certificates"),
    ),
    (
        "ca_file_empty.toml",
        "3:11",
        "`ca_file`: `tests/fixtures/bad/parts/empty.pem` holds no PEM certificate",
        None,
    ),
    (
        "ca_file_not_a_cert.toml",
        "3:11",
        "certificate 1 of 1 is not a valid X.509 certificate (BadEncoding)",
        None,
    ),
];

#[test]
fn each_bad_scenario_names_file_line_and_column() {
    for (file, at, message, help) in CASES {
        let path = format!("tests/fixtures/bad/{file}");
        for cmd in ["check", "run"] {
            let out = loadgen([cmd, &path]).expect_code(2);
            let first = out.stderr.lines().next().unwrap_or_default();
            let want = format!("error: {path}:{at}: ");
            assert!(
                first.starts_with(&want),
                "{file}: expected {want:?} at the start of\n{}",
                out.dump()
            );
            assert!(
                first.contains(message),
                "{file}: expected {message:?}\n{}",
                out.dump()
            );
            if let Some(h) = help {
                let hint = out
                    .stderr
                    .lines()
                    .find(|l| l.trim_start().starts_with("= help: "));
                assert!(
                    hint.is_some_and(|l| l.contains(h)),
                    "{file}: expected a hint with {h:?}\n{}",
                    out.dump()
                );
            }
            assert!(!out.stderr.contains("panicked"), "{}", out.dump());
            assert_eq!(
                out.stderr.matches("error:").count(),
                1,
                "one error, printed once\n{}",
                out.dump()
            );
        }
    }
}

#[test]
fn the_corpus_has_no_untested_file() {
    let dir = crate::util::root().join("tests/fixtures/bad");
    for entry in std::fs::read_dir(dir).expect("fixtures") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        // include_cycle.toml reports its error in the included file: it has its own test below.
        if name.ends_with(".toml") && name != "include_cycle.toml" {
            assert!(
                CASES.iter().any(|c| c.0 == name),
                "{name} is in the corpus but not in CASES"
            );
        }
    }
}

#[test]
fn include_cycle_names_the_cycle_in_the_included_file() {
    let out = loadgen(["check", "tests/fixtures/bad/include_cycle.toml"]).expect_code(2);
    out.stderr_has("error: tests/fixtures/bad/parts/cycle_b.toml:1:11: include cycle: cycle_a.toml -> cycle_b.toml -> cycle_a.toml");
}

#[test]
fn a_missing_file_and_bad_overrides_are_usage_errors() {
    loadgen(["check", "tests/fixtures/does_not_exist.toml"])
        .expect_code(2)
        .stderr_has("cannot read the scenario file");
    loadgen(["check", "scenarios/baseline.toml", "-u", "0"])
        .expect_code(2)
        .stderr_has("`0` is out of range; give from 1 to 10000000 users");
    loadgen(["check", "scenarios/baseline.toml", "--host", "ftp://x"])
        .expect_code(2)
        .stderr_has("scheme must be http or https");
    loadgen(["run", "scenarios/baseline.toml", "-t", "soon"])
        .expect_code(2)
        .stderr_has("is not a duration");
    loadgen(["run", "scenarios/baseline.toml", "-t", "1e300"])
        .expect_code(2)
        .stderr_has("is not a duration");
    loadgen([
        "run",
        "scenarios/baseline.toml",
        "-u",
        "18446744073709551615",
    ])
    .expect_code(2)
    .stderr_has("give from 1 to 10000000 users");
    loadgen(["run", "scenarios/baseline.toml", "-r", "inf"])
        .expect_code(2)
        .stderr_has("'--spawn-rate <RATE>': `inf` is out of range; give from 0.001 to 1000000 users per second");
}

/// `-t 30` and `duration = "30"` are both 30 seconds, and both refuse what is not a duration, the file with its
/// location.
#[test]
fn a_bare_number_of_seconds_is_a_duration_on_the_command_line_and_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = crate::util::write(
        dir.path(),
        "bare.toml",
        "[target]\nhost = \"http://127.0.0.1:9\"\n[load]\nusers = 2\nduration = \"30\"\n[[task]]\nname = \"x\"\n\
         path = \"/\"\n",
    );
    let file = file.to_str().unwrap();
    loadgen(["check", file])
        .expect_code(0)
        .stdout_has("for 30s;");
    loadgen(["check", file, "-t", "45"])
        .expect_code(0)
        .stdout_has("for 45s;");
    let bad = crate::util::write(
        dir.path(),
        "bad.toml",
        &std::fs::read_to_string(file)
            .unwrap()
            .replace("\"30\"", "\"-30\""),
    );
    loadgen(["check", bad.to_str().unwrap()])
        .expect_code(2)
        .stderr_has("bad.toml:5:12: `duration`: cannot parse `-30` as a duration");
    loadgen(["check", file, "-t=-30"])
        .expect_code(2)
        .stderr_has("is not a duration");
}

/// Every scenario shipped in scenarios/ is valid (the shared auth_flow.toml is an include, not a scenario).
#[test]
fn every_shipped_scenario_passes_check() {
    let dir = crate::util::root().join("scenarios");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("scenarios") {
        let path = entry.expect("entry").path();
        // auth_flow.toml is included by the levels; shop/ holds shop.toml's files.
        if path.file_name().is_some_and(|n| n == "auth_flow.toml")
            || path.extension().is_none_or(|e| e != "toml")
        {
            continue;
        }
        // levels.toml is a suite file (`loadgen suite`, issue 21), which tests/it/suite.rs checks.
        if crate::scenario_schema::is_suite_file(&path) {
            continue;
        }
        crate::util::loadgen(["check", &path.to_string_lossy()])
            .expect_code(0)
            .stdout_has("scenario OK");
        checked += 1;
    }
    assert!(checked >= 6, "{checked} scenarios checked");
}

/// The migration guides' examples (issue 18, item 8) are complete scenarios that `check` accepts as they are.
#[test]
fn every_migration_example_passes_check() {
    let dir = crate::util::root().join("docs/examples/migrating");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("docs/examples/migrating") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        crate::util::loadgen(["check", &path.to_string_lossy()])
            .expect_code(0)
            .stdout_has("scenario OK");
        checked += 1;
    }
    assert!(checked >= 12, "{checked} examples checked");
}
