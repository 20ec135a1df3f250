//! The results file (`run --json FILE`) is a versioned contract: a real run's file must validate against
//! `docs/results.schema.json`, the schema must be strict enough to reject a missing, unknown or mistyped field,
//! and its top-level `required` list must name exactly the fields loadgen writes (so a field added to
//! `RunResults` without the schema fails here).

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_loadgen");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// A 3-second run takes about 4 s; this only bounds a hang.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

fn schema() -> Value {
    let path = Path::new(ROOT).join("docs/results.schema.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()))
}

/// The schema as a draft 2020-12 validator that also checks `format` (date-time).
fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(schema)
        .unwrap_or_else(|e| panic!("docs/results.schema.json does not compile: {e}"))
}

/// Every way `doc` breaks docs/results.schema.json, for tests elsewhere that check their results file.
pub fn schema_errors(doc: &Value) -> Vec<String> {
    errors(&validator(&schema()), doc)
}

/// Every validation error of `doc`, one per line, with the JSON pointer of the offending value.
fn errors(validator: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    validator
        .iter_errors(doc)
        .map(|e| format!("at `{}`: {e}", e.instance_path()))
        .collect()
}

/// The results file of one real run against the built-in reference API, shared by the tests of this module
/// (the first test to ask runs it; the others wait for it).
fn real_results() -> &'static Value {
    static RESULTS: OnceLock<Value> = OnceLock::new();
    RESULTS.get_or_init(run_baseline)
}

fn run_baseline() -> Value {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let out: PathBuf = dir.path().join("out.json");
    let stdout = File::create(dir.path().join("stdout.txt")).expect("create stdout file");
    let stderr = File::create(dir.path().join("stderr.txt")).expect("create stderr file");
    let baseline = crate::util::shipped_scenario(dir.path(), "baseline.toml");
    let args = [
        "run",
        baseline.to_str().expect("UTF-8 path"),
        "--demo",
        "-t",
        "3s",
        "-u",
        "5",
        "-r",
        "5",
        "-q",
        "--json",
    ];
    let shown = format!("loadgen {} {}", args.join(" "), out.display());
    let mut child = Command::new(BIN)
        .args(args)
        .arg(&out)
        .current_dir(ROOT)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("spawn loadgen");
    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for loadgen") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`{shown}` did not finish within {RUN_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let streams = || {
        let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap_or_default();
        format!(
            "--- stdout\n{}\n--- stderr\n{}",
            read("stdout.txt"),
            read("stderr.txt")
        )
    };
    assert_eq!(
        status.code(),
        Some(0),
        "`{shown}` exited with {status}\n{}",
        streams()
    );
    let text = std::fs::read_to_string(&out)
        .unwrap_or_else(|e| panic!("`{shown}` wrote no {}: {e}\n{}", out.display(), streams()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}\n{text}", out.display()))
}

#[test]
fn schema_is_a_valid_draft_2020_12_schema() {
    let schema = schema();
    if let Err(e) = jsonschema::draft202012::meta::validate(&schema) {
        panic!(
            "docs/results.schema.json violates the 2020-12 meta-schema at `{}`: {e}",
            e.instance_path()
        );
    }
}

#[test]
fn a_real_results_file_matches_the_schema() {
    let schema = schema();
    let validator = validator(&schema);
    let doc = real_results();
    let errs = errors(&validator, doc);
    assert!(
        errs.is_empty(),
        "the results file does not match docs/results.schema.json ({} errors):\n{}\n--- document\n{}",
        errs.len(),
        errs.join("\n"),
        serde_json::to_string_pretty(doc).unwrap_or_default()
    );
    // The run did something, so the non-null branches of the schema were exercised too.
    assert!(doc["totals"]["requests"].as_u64().unwrap_or(0) > 0);
    assert!(
        !doc["gates"]["results"]
            .as_array()
            .expect("gates.results")
            .is_empty()
    );
    assert_eq!(doc["verdict"]["result"], "pass", "{}", doc["verdict"]);
    assert_eq!(doc["verdict"]["exit_code"], 0);
}

/// A way to break a valid document, and the JSON pointer the schema must complain about.
type Mutation = (&'static str, fn(&mut Value), &'static str);

const MUTATIONS: &[Mutation] = &[
    (
        "missing `gates`",
        |d| {
            d.as_object_mut().expect("object").remove("gates");
        },
        "",
    ),
    ("unknown top-level field", |d| d["surprise"] = json!(1), ""),
    (
        "string in totals.requests",
        |d| d["totals"]["requests"] = json!("57"),
        "/totals/requests",
    ),
    (
        "fraction in totals.requests",
        |d| d["totals"]["requests"] = json!(57.5),
        "/totals/requests",
    ),
    (
        "schema_version 2",
        |d| d["schema_version"] = json!(2),
        "/schema_version",
    ),
    (
        "unknown field in a request row",
        |d| d["requests"][0]["surprise"] = json!(true),
        "/requests/0",
    ),
    (
        "null where a value is always present",
        |d| d["aggregated"]["rps"] = Value::Null,
        "/aggregated/rps",
    ),
    (
        "status code key that is not 3 digits",
        |d| d["aggregated"]["status_codes"]["2xx"] = json!(1),
        "/aggregated/status_codes",
    ),
    (
        "unknown wait mode",
        |d| d["settings"]["wait"]["mode"] = json!("sometimes"),
        "/settings/wait/mode",
    ),
    (
        "unknown request kind",
        |d| d["settings"]["requests"][0]["kind"] = json!("setup"),
        "/settings/requests/0/kind",
    ),
    (
        "unknown gate op",
        |d| d["gates"]["results"][0]["op"] = json!("<="),
        "/gates/results/0/op",
    ),
    (
        "unknown verdict",
        |d| d["verdict"]["result"] = json!("maybe"),
        "/verdict",
    ),
    (
        "missing verdict reason",
        |d| {
            d["verdict"]
                .as_object_mut()
                .expect("verdict object")
                .remove("reason");
        },
        "/verdict",
    ),
    (
        "fail_on_errors not a boolean",
        |d| d["gates"]["fail_on_errors"] = json!("yes"),
        "/gates/fail_on_errors",
    ),
    (
        "skipped reason not a string",
        |d| d["gates"]["results"][0]["skipped"] = json!(true),
        "/gates/results/0/skipped",
    ),
    (
        "aborted without its gate",
        |d| d["aborted"] = json!({ "at_s": 3.0 }),
        "/aborted",
    ),
    (
        "timestamp not in UTC",
        |d| d["started_at"] = json!("2025-01-31T10:00:00.000+01:00"),
        "/started_at",
    ),
    (
        "unknown failure kind",
        |d| {
            d["failures"] = json!([{
                "method": "GET",
                "name": "verify_token",
                "kind": "Timeout",
                "message": "timed out",
                "occurrences": 1
            }]);
        },
        "/failures/0/kind",
    ),
];

#[test]
fn the_schema_rejects_broken_documents() {
    let schema = schema();
    let validator = validator(&schema);
    let doc = real_results();
    assert!(
        validator.is_valid(doc),
        "the unmodified results file must be valid first:\n{}",
        errors(&validator, doc).join("\n")
    );
    let mut accepted = Vec::new();
    for (what, mutate, pointer) in MUTATIONS {
        let mut broken = doc.clone();
        mutate(&mut broken);
        let errs: Vec<_> = validator
            .iter_errors(&broken)
            .map(|e| (e.instance_path().as_str().to_string(), e.to_string()))
            .collect();
        if !errs.iter().any(|(at, _)| at == pointer) {
            accepted.push(format!(
                "{what}: expected an error at `{pointer}`, got {errs:?}"
            ));
        }
    }
    assert!(
        accepted.is_empty(),
        "the schema let broken documents through:\n{}",
        accepted.join("\n")
    );
}

fn key_set(v: &Value) -> BTreeSet<String> {
    match v {
        Value::Object(m) => m.keys().cloned().collect(),
        Value::Array(a) => a
            .iter()
            .map(|k| k.as_str().expect("a field name").to_string())
            .collect(),
        _ => panic!("expected an object or an array of names, got {v}"),
    }
}

/// Top-level fields written only when they have something to say (`skip_serializing_if`), so files and
/// renderings from before them are unchanged. Issue 17 item 3: `addresses`; issue 19: `manual`, `stopped_by`;
/// issue 21: `limit` (a limit search's, checked against the schema in tests/it/find_limit.rs) and `monitor`.
const OPTIONAL: &[&str] = &["addresses", "manual", "stopped_by", "limit", "monitor"];

#[test]
fn the_schema_requires_exactly_the_fields_loadgen_writes() {
    let schema = schema();
    let required = key_set(&schema["required"]);
    let mut written = key_set(real_results());
    for o in OPTIONAL {
        assert!(
            schema["properties"].get(*o).is_some(),
            "optional field `{o}` is not in the schema"
        );
        written.remove(*o);
    }
    let missing: Vec<_> = written.difference(&required).collect();
    let extra: Vec<_> = required.difference(&written).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "top-level `required` in docs/results.schema.json differs from the results file: \
         written but not required {missing:?}; required but not written {extra:?}"
    );
}

/// Fields the model writes only when they hold something, so results files written before them (and the
/// goldens) read and render the same: the client's counts of issue 17 (redirects followed, bodies decoded).
const OMITTED_WHEN_EMPTY: &[&str] = &[
    "redirects",
    "decoded_bodies",
    "encoded_body_bytes",
    "decoded_body_bytes",
];

/// Every object with fixed keys (`additionalProperties: false`) lists all its properties in `required`, since
/// the Rust model always writes every field (null for an absent option) — but for [`OMITTED_WHEN_EMPTY`].
#[test]
fn every_fixed_object_in_the_schema_requires_all_its_properties() {
    fn walk(at: &str, v: &Value, problems: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if m.get("additionalProperties") == Some(&Value::Bool(false)) {
                    let mut props = m.get("properties").map(key_set).unwrap_or_default();
                    let omitted = |p: &str| {
                        OMITTED_WHEN_EMPTY.contains(&p) || (at == "#" && OPTIONAL.contains(&p))
                    };
                    props.retain(|p| !omitted(p));
                    let required = m.get("required").map(key_set).unwrap_or_default();
                    if props != required {
                        problems.push(format!(
                            "{at}: properties {props:?} but required {required:?}"
                        ));
                    }
                }
                for (k, child) in m {
                    walk(&format!("{at}/{k}"), child, problems);
                }
            }
            Value::Array(a) => {
                for (i, child) in a.iter().enumerate() {
                    walk(&format!("{at}/{i}"), child, problems);
                }
            }
            _ => {}
        }
    }
    let mut problems = Vec::new();
    walk("#", &schema(), &mut problems);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
