//! `docs/scenario.schema.json`, the JSON Schema editors read to complete, explain and check scenario files
//! (issue 20 item 6; Even Better TOML / taplo through a `#:schema` line). It must agree with the loader:
//! - every shipped scenario, and every fixture that is not listed below as a schema error, is valid (the schema
//!   checks shape only, so a file whose mistake is in a value's meaning is valid too);
//! - every fixture listed in [`SCHEMA_ERRORS`] is invalid, at the place the loader reports, and the loader
//!   rejects it (exit 2): the schema is never stricter than `loadgen check`;
//! - every fixture the loader's raw types refuse (unknown key, wrong type, missing key) is listed there;
//! - each object's property names are exactly its raw type's fields (src/scenario/mod.rs), read from serde's
//!   "unknown field `zzz`, expected one of ..." message: a field added to the loader without the schema fails here.
//!
//! The checks run under draft 7 (the schema's own `$schema`) and draft 4, what taplo documents it validates.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{loadgen, root, unavailable};

/// Fixtures (under tests/fixtures) that are schema errors: unknown keys, wrong types, values outside the
/// documented range, and choices that are not among the loader's (methods, `connections`, `http`, wait modes,
/// capture and `body_file` keys). Each with the JSON pointer where the schema must report it.
///
/// Every other fixture is not a schema error, and is checked to be valid: its mistake is in what a
/// well-shaped value means, which only the loader can tell: a duration, URL, path, header value, template,
/// JSON path, regex or condition that does not parse; a file (include, data, CA, certificate, body) that is
/// missing or unreadable; a name used twice or unknown (requests in gates, captures, loop variables); keys
/// that are each well-formed but do not go together (`json` with `body`, a multipart part with both `value`
/// and `file`, `weight` outside `[[task]]`, `as` without `for_each`); a runnable file missing its host, load or
/// tasks; and the environment (an unset variable).
const SCHEMA_ERRORS: &[(&str, &str)] = &[
    ("bad/bad_status.toml", "/task/0/expect/status/1"),
    ("bad/gate_out_of_range.toml", "/gates/success_rate"),
    ("bad/huge_users.toml", "/load/users"),
    ("bad/invalid_method.toml", "/task/0/method"),
    ("bad/negative_users.toml", "/load/users"),
    ("bad/tiny_spawn_rate.toml", "/load/spawn_rate"),
    ("bad/unknown_connections_mode.toml", "/load/connections"),
    ("bad/unknown_key.toml", "/load"),
    ("bad/unknown_key_in_step.toml", "/task/0/expect"),
    ("bad/unknown_section.toml", ""),
    ("bad/unknown_wait_mode.toml", "/user/wait"),
    ("bad/wrong_type.toml", "/load/users"),
    ("bad/zero_spawn_rate.toml", "/load/spawn_rate"),
    ("bad/zero_users.toml", "/load/users"),
    ("bad/zero_weight.toml", "/task/0/weight"),
    (
        "corpus/files/client-follow/class_negative.toml",
        "/classes/reader/follow_redirects",
    ),
    (
        "corpus/files/client-follow/compression_not_a_bool.toml",
        "/target/compression",
    ),
    (
        "corpus/files/client-follow/compression_typo.toml",
        "/task/0",
    ),
    (
        "corpus/files/client-follow/request_too_many.toml",
        "/task/0/follow_redirects",
    ),
    (
        "corpus/files/client-follow/target_negative.toml",
        "/target/follow_redirects",
    ),
    (
        "corpus/files/client-follow/target_not_a_number.toml",
        "/target/follow_redirects",
    ),
    ("corpus/files/client-follow/target_typo.toml", "/target"),
    (
        "corpus/files/client-follow/user_too_many.toml",
        "/user/follow_redirects",
    ),
    (
        "corpus/files/client-h2/conns_zero.toml",
        "/target/http2_connections",
    ),
    ("corpus/files/client-h2/http_h2.toml", "/target/http"),
    ("corpus/files/client-h2/http_http11.toml", "/target/http"),
    ("corpus/files/client-h2/http_number.toml", "/target/http"),
    ("corpus/files/client-h2/http_unknown.toml", "/target/http"),
    ("corpus/files/client-h2/key_typo.toml", "/target"),
    ("corpus/files/inputs-secrets/key_with_escape.toml", ""),
    (
        "corpus/files/lang-bodies/bf_unknown_key.toml",
        "/task/0/body_file",
    ),
    (
        "corpus/files/lang-bodies/bf_wrong_type.toml",
        "/task/0/body_file",
    ),
    (
        "corpus/files/lang-bodies/mp_unknown_key.toml",
        "/task/0/multipart/0",
    ),
    (
        "corpus/files/lang-bodies/query_table.toml",
        "/task/0/query/page",
    ),
    (
        "corpus/files/lang-flow/body_contains_number.toml",
        "/task/0/expect/body_contains",
    ),
    (
        "corpus/files/lang-flow/capture_default_table.toml",
        "/task/0/capture/id",
    ),
    (
        "corpus/files/lang-flow/capture_key_typo.toml",
        "/task/0/capture/id",
    ),
    (
        "corpus/files/lang-flow/capture_pick_unknown.toml",
        "/task/0/capture/id",
    ),
    (
        "corpus/files/lang-flow/choose_weight_zero.toml",
        "/task/0/steps/1/choose/0/weight",
    ),
    ("corpus/files/lang-flow/expect_typo.toml", "/task/0/expect"),
    (
        "corpus/files/lang-flow/header_check_key.toml",
        "/task/0/expect/headers/x-a",
    ),
    (
        "corpus/files/lang-flow/json_length_key.toml",
        "/task/0/expect/json_length/$.items",
    ),
    (
        "corpus/files/lang-flow/repeat_too_many.toml",
        "/task/0/steps/1/repeat",
    ),
    (
        "corpus/files/lang-flow/step_key_typo.toml",
        "/task/0/steps/1",
    ),
    (
        "corpus/files/results-readers/tiny_rate.toml",
        "/load/arrival_rate",
    ),
    (
        "corpus/files/verdict-live/abort_grace_number.toml",
        "/gates/abort_grace",
    ),
    (
        "corpus/files/verdict-live/abort_on_fail_string.toml",
        "/gates/abort_on_fail",
    ),
    (
        "corpus/files/verdict-live/fail_on_errors_int.toml",
        "/gates/fail_on_errors",
    ),
    (
        "corpus/files/verdict-live/fail_on_errors_typo.toml",
        "/gates",
    ),
];

/// Fixtures that are not TOML at all: the schema has nothing to say (taplo reports the syntax error).
const NOT_TOML: &[&str] = &["bad/invalid_toml.toml"];

/// Under tests/fixtures, directories of TOML files that are not scenarios (the fault corpus's case lists).
const NOT_SCENARIOS: &[&str] = &["corpus/cases"];

fn schema() -> Value {
    let path = root().join("docs/scenario.schema.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()))
}

/// The schema compiled as draft 7 (its own dialect) and as draft 4 (taplo's).
fn validators() -> [(&'static str, jsonschema::Validator); 2] {
    let s = schema();
    let d7 = jsonschema::draft7::new(&s)
        .unwrap_or_else(|e| panic!("the schema does not compile as draft 7: {e}"));
    let d4 = jsonschema::draft4::new(&s)
        .unwrap_or_else(|e| panic!("the schema does not compile as draft 4: {e}"));
    [("draft 7", d7), ("draft 4", d4)]
}

/// Every error of `doc`, as (instance pointer, message).
fn errors(validator: &jsonschema::Validator, doc: &Value) -> Vec<(String, String)> {
    validator
        .iter_errors(doc)
        .map(|e| (e.instance_path().to_string(), e.to_string()))
        .collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A TOML document as the JSON value an editor validates; `None` when it is not TOML.
fn as_json(text: &str) -> Option<Value> {
    let table: toml::Table = toml::from_str(text).ok()?;
    Some(serde_json::to_value(table).expect("a TOML table converts to JSON"))
}

/// The `.toml` files under `dir`, recursively, sorted.
fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let entries =
            std::fs::read_dir(&d).unwrap_or_else(|e| panic!("cannot list {}: {e}", d.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|x| x == "toml") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// A suite file (`[suite]`, issue 21): not a scenario; it names docs/suite.schema.json (tests/it/suite.rs).
pub(crate) fn is_suite_file(path: &Path) -> bool {
    as_json(&read(path)).is_some_and(|v| v.get("suite").is_some())
}

fn shipped() -> Vec<PathBuf> {
    let mut files = toml_files(&root().join("scenarios"));
    files.retain(|f| !is_suite_file(f));
    files.extend(toml_files(&root().join("docs/examples")));
    files.push(root().join("src/commands/starter.toml"));
    files
}

/// Every scenario fixture, with its path relative to tests/fixtures.
fn fixtures() -> Vec<(String, PathBuf)> {
    let base = root().join("tests/fixtures");
    toml_files(&base)
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(&base)
                .expect("under tests/fixtures")
                .to_string_lossy()
                .into_owned();
            (rel, p)
        })
        .filter(|(rel, _)| !NOT_SCENARIOS.iter().any(|d| rel.starts_with(d)))
        .collect()
}

#[test]
fn the_schema_is_valid_against_its_metaschemas() {
    let s = schema();
    assert_eq!(
        s["$schema"], "http://json-schema.org/draft-07/schema#",
        "the schema says its dialect"
    );
    if let Err(e) = jsonschema::draft7::meta::validate(&s) {
        panic!("not a valid draft 7 schema: {e}");
    }
    if let Err(e) = jsonschema::draft4::meta::validate(&s) {
        panic!("not a valid draft 4 schema: {e}");
    }
}

#[test]
fn every_shipped_scenario_is_valid() {
    let files = shipped();
    assert!(
        files.len() >= 20,
        "scenarios/, docs/examples/ and the starter: {files:?}"
    );
    for (draft, v) in validators() {
        for path in &files {
            let doc = as_json(&read(path)).unwrap_or_else(|| panic!("{} is TOML", path.display()));
            let errs = errors(&v, &doc);
            assert!(errs.is_empty(), "{draft}: {}: {errs:#?}", path.display());
        }
    }
}

#[test]
fn each_fixture_is_valid_unless_it_is_a_schema_error() {
    let all = fixtures();
    for name in SCHEMA_ERRORS
        .iter()
        .map(|c| c.0)
        .chain(NOT_TOML.iter().copied())
    {
        assert!(
            all.iter().any(|(rel, _)| rel == name),
            "{name} is listed but is not a fixture"
        );
    }
    let mut valid = 0;
    for (draft, v) in validators() {
        for (rel, path) in &all {
            let Some(doc) = as_json(&read(path)) else {
                assert!(NOT_TOML.contains(&rel.as_str()), "{rel} is not TOML");
                continue;
            };
            let errs = errors(&v, &doc);
            match SCHEMA_ERRORS.iter().find(|c| c.0 == rel) {
                Some((_, at)) => assert!(
                    errs.iter().any(|(ptr, _)| ptr == at),
                    "{draft}: {rel} should be invalid at `{at}`, got {errs:#?}"
                ),
                None => {
                    assert!(errs.is_empty(), "{draft}: {rel} should be valid: {errs:#?}");
                    valid += 1;
                }
            }
        }
    }
    assert!(valid > 100, "the good fixtures were checked ({valid})");
}

#[test]
fn the_loader_rejects_each_schema_error_and_the_schema_every_raw_type_error() {
    for (rel, _) in SCHEMA_ERRORS {
        let path = format!("tests/fixtures/{rel}");
        loadgen(["check", &path]).expect_code(2);
    }
    // The converse: what the raw types refuse (before any value is read) is a schema error.
    for (rel, path) in fixtures() {
        let text = read(&path);
        if toml::from_str::<toml::Table>(&text).is_err() {
            continue;
        }
        if let Err(e) = toml::from_str::<loadgen::scenario::RawFile>(&text) {
            assert!(
                SCHEMA_ERRORS.iter().any(|c| c.0 == rel),
                "{rel}: the loader refuses its shape ({}) but it is not in SCHEMA_ERRORS",
                e.message()
            );
        }
    }
}

#[test]
fn a_missing_required_key_is_a_schema_error() {
    // (TOML, where the schema reports it): each refused by the raw types as a missing field.
    let cases = [
        ("[[task]]\npath = \"/\"", "/task/0"),
        ("[user]\non_start = [{ path = \"/\" }]", "/user/on_start/0"),
        (
            "[[task]]\nname = \"f\"\nsteps = [{ choose = [{ path = \"/\" }] }]",
            "/task/0/steps/0",
        ),
        ("[data]\nassign = \"random\"", "/data"),
        ("[load]\nstages = [{ users = 5 }]", "/load/stages/0"),
        (
            "[[task]]\nname = \"u\"\npath = \"/\"\nmultipart = [{ value = \"x\" }]",
            "/task/0/multipart/0",
        ),
    ];
    for (draft, v) in validators() {
        for (text, at) in cases {
            let e = toml::from_str::<loadgen::scenario::RawFile>(text)
                .expect_err("the loader refuses it");
            assert!(e.message().contains("missing field"), "{text}: {e}");
            let doc = as_json(text).expect("TOML");
            let errs = errors(&v, &doc);
            assert!(
                errs.iter()
                    .any(|(ptr, m)| ptr == at && m.contains("required")),
                "{draft}: {text}: expected a missing property at `{at}`, got {errs:#?}"
            );
        }
    }
}

/// serde's list of a raw type's fields, from the error for an unknown key `zzz` placed in it by `text`.
fn loader_fields(text: &str) -> BTreeSet<String> {
    let e =
        toml::from_str::<loadgen::scenario::RawFile>(text).expect_err("`zzz` is an unknown field");
    let message = e.message();
    let list = message
        .strip_prefix("unknown field `zzz`, expected ")
        .unwrap_or_else(|| panic!("{text}: not an unknown-field error: {message}"));
    list.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The property names of the schema object at `pointer`.
fn schema_fields(schema: &Value, pointer: &str) -> BTreeSet<String> {
    let node = schema
        .pointer(pointer)
        .unwrap_or_else(|| panic!("no `{pointer}` in the schema"));
    assert_eq!(
        node["additionalProperties"],
        Value::Bool(false),
        "{pointer}: the loader refuses unknown keys"
    );
    node["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("`{pointer}` has no properties"))
        .keys()
        .cloned()
        .collect()
}

#[test]
fn each_object_has_exactly_the_loaders_fields() {
    let s = schema();
    // (the schema object, TOML that puts an unknown key `zzz` in the raw type it describes)
    let cases = [
        ("", "zzz = 1"),                                          // RawFile
        ("/definitions/target", "[target]\nzzz = 1"),             // RawTarget
        ("/definitions/load", "[load]\nzzz = 1"),                 // RawLoad
        ("/definitions/stage", "[load]\nstages = [{ zzz = 1 }]"), // RawStage
        (
            "/definitions/load/properties/search",
            "[load]\nsearch = { zzz = 1 }",
        ), // RawSearch (issue 21)
        ("/definitions/gates", "[gates]\nzzz = 1"),               // RawGates
        ("/definitions/gate_set", "[gates.requests.a]\nzzz = 1"), // RawGateSet
        ("/definitions/gate_window", "[gates.steady]\nzzz = 1"),  // RawGateWindow
        ("/definitions/data", "[data]\nzzz = 1"),                 // RawData
        ("/definitions/validity", "[validity]\nzzz = 1"),         // RawValidity
        ("/definitions/preflight", "[preflight]\nzzz = 1"),       // RawPreflight
        ("/definitions/monitor", "[monitor]\nzzz = 1"),           // RawMonitor
        (
            "/definitions/monitor_endpoint",
            "[[monitor.endpoint]]\nzzz = 1",
        ), // RawMonitorEndpoint
        (
            "/definitions/monitor_gate",
            "[gates.monitor]\n\"a:b\" = { zzz = 1 }",
        ), // RawMonitorGate
        ("/definitions/user", "[user]\nzzz = 1"),                 // RawUser
        ("/definitions/class", "[classes.a]\nzzz = 1"),           // RawClass
        ("/definitions/step", "[[task]]\nzzz = 1"),               // RawStep
        (
            "/definitions/part",
            "[[task]]\nname = \"a\"\nmultipart = [{ zzz = 1 }]",
        ), // RawPart
        (
            "/definitions/expect",
            "[[task]]\nname = \"a\"\nexpect = { zzz = 1 }",
        ), // RawExpect
    ];
    for (pointer, text) in cases {
        let loader = loader_fields(text);
        assert!(loader.len() >= 2, "{text}: read the field list: {loader:?}");
        assert_eq!(
            schema_fields(&s, pointer),
            loader,
            "the schema's `{pointer}` and the loader's fields differ"
        );
    }
}

/// The choices a loader's error lists after "expected" (`one of GET, POST`, `"1.1", "2" or "auto"`, ...).
fn listed_choices(stderr: &str) -> BTreeSet<String> {
    let first = stderr.lines().next().unwrap_or_default();
    let (_, list) = first
        .rsplit_once("expected ")
        .unwrap_or_else(|| panic!("no list of choices in {first:?}"));
    list.split(|c: char| c == ',' || c == '"' || c == '`' || c.is_whitespace())
        .filter(|w| !w.is_empty() && !["one", "of", "or"].contains(w))
        .map(str::to_string)
        .collect()
}

/// The strings of the schema's `enum` at `pointer`, or its property names when it is an object schema.
fn schema_choices(schema: &Value, pointer: &str) -> BTreeSet<String> {
    let node = schema
        .pointer(pointer)
        .unwrap_or_else(|| panic!("no `{pointer}` in the schema"));
    match (node.get("enum"), node.get("properties")) {
        (Some(Value::Array(values)), _) => values
            .iter()
            .map(|v| v.as_str().expect("a string choice").to_string())
            .collect(),
        (_, Some(Value::Object(props))) => props.keys().cloned().collect(),
        _ => panic!("`{pointer}` is neither an enum nor an object"),
    }
}

#[test]
fn each_choice_is_the_loaders() {
    // (the schema's enum or table of keys, the section where `zzz` is written as a choice, that line); the
    // loader's error for `zzz` lists what it accepts.
    let cases = [
        (
            "/definitions/step/properties/method/anyOf/0",
            "task",
            "method = \"zzz\"",
        ),
        (
            "/definitions/target/properties/http",
            "target",
            "http = \"zzz\"",
        ),
        (
            "/definitions/load/properties/connections",
            "load",
            "connections = \"zzz\"",
        ),
        (
            "/definitions/wait/anyOf/1",
            "user",
            "wait = { zzz = \"1s\" }",
        ),
        (
            "/definitions/capture",
            "task",
            "capture = { c = { zzz = \"$.a\" } }",
        ),
        (
            "/definitions/capture/properties/pick",
            "task",
            "capture = { c = { json = \"$.a\", pick = \"zzz\" } }",
        ),
        (
            "/definitions/step/properties/body_file/anyOf/1",
            "task",
            "body_file = { zzz = \"a\" }",
        ),
        (
            "/definitions/expect/properties/json_length/additionalProperties/anyOf/1",
            "task",
            "expect = { json_length = { \"$.a\" = { zzz = 1 } } }",
        ),
        (
            "/definitions/data/properties/assign",
            "data",
            "assign = \"zzz\"",
        ),
    ];
    let s = schema();
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("d.csv"), "a\n1\n").expect("write d.csv");
    let path = dir.path().join("choice.toml");
    for (pointer, section, line) in cases {
        let at = |name: &str| if name == section { line } else { "" };
        let scenario = format!(
            "[target]\nhost = \"http://127.0.0.1:1\"\n{}\n[load]\nusers = 1\nduration = \"1s\"\n{}\n\
             [data]\nfile = \"d.csv\"\n{}\n[user]\n{}\n[[task]]\nname = \"a\"\npath = \"/\"\n{}\n",
            at("target"),
            at("load"),
            at("data"),
            at("user"),
            at("task"),
        );
        std::fs::write(&path, &scenario).expect("write the scenario");
        let out = loadgen(["check".as_ref(), path.as_os_str()]).expect_code(2);
        assert_eq!(
            schema_choices(&s, pointer),
            listed_choices(&out.stderr),
            "the schema's `{pointer}` and the loader's choices differ\n{scenario}\n{}",
            out.dump()
        );
    }
}

#[test]
fn each_shipped_scenario_names_the_schema_on_its_first_line() {
    // taplo's header directive: `#:schema PATH`, a path relative to the file. The loader reads it as a comment
    // (every_shipped_scenario_is_valid and the golden tests load these files).
    for path in toml_files(&root().join("scenarios")) {
        let schema = if is_suite_file(&path) {
            "docs/suite.schema.json"
        } else {
            "docs/scenario.schema.json"
        };
        let text = read(&path);
        let first = text.lines().next().unwrap_or_default();
        let target = first
            .strip_prefix("#:schema ")
            .unwrap_or_else(|| panic!("{}: first line {first:?}", path.display()));
        let dir = path.parent().expect("a parent directory");
        let resolved = dir
            .join(target)
            .canonicalize()
            .unwrap_or_else(|e| panic!("{}: `{target}`: {e}", path.display()));
        assert_eq!(
            resolved,
            root()
                .join(schema)
                .canonicalize()
                .expect("the schema exists"),
            "{}",
            path.display()
        );
    }
}

#[test]
fn taplo_reads_the_directive_and_checks_with_the_schema() {
    // The editor side: taplo (what Even Better TOML runs) follows each shipped scenario's `#:schema` line.
    // taplo 0.7 (npm) exits 1 even on `--version`, so it is found by what it prints.
    let found = std::process::Command::new("taplo")
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).starts_with("taplo "));
    if !found {
        unavailable("taplo (npm @taplo/cli) is not available; .ci/run installs it");
        return;
    }
    let mut shipped = std::process::Command::new("taplo");
    shipped.current_dir(root()).arg("check");
    for path in toml_files(&root().join("scenarios")) {
        shipped.arg(path);
    }
    let out = shipped.output().expect("run taplo");
    assert!(
        out.status.success(),
        "taplo check scenarios/*.toml\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A schema error, found at its line by taplo through the directive.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let schema = root().join("docs/scenario.schema.json");
    let text = read(&root().join("tests/fixtures/bad/unknown_key.toml"));
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        format!("#:schema file://{}\n{text}", schema.display()),
    )
    .expect("write bad.toml");
    let out = std::process::Command::new("taplo")
        .arg("check")
        .arg(&bad)
        .output()
        .expect("run taplo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "taplo accepted it\n{stderr}");
    assert!(
        stderr.contains("('usres' was unexpected)") && stderr.contains("bad.toml:5:1"),
        "{stderr}"
    );
}

/// Every property schema under `node`, with its JSON pointer.
fn properties<'a>(node: &'a Value, at: String, out: &mut Vec<(String, &'a Value)>) {
    match node {
        Value::Object(map) => {
            for (k, v) in map {
                let here = format!("{at}/{k}");
                if k == "properties" {
                    for (name, prop) in v.as_object().into_iter().flatten() {
                        out.push((format!("{here}/{name}"), prop));
                    }
                }
                properties(v, here, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                properties(v, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_key_has_a_description_an_editor_shows() {
    let s = schema();
    let mut props = Vec::new();
    properties(&s, String::new(), &mut props);
    assert!(props.len() > 100, "{} properties", props.len());
    for (at, prop) in props {
        let own = prop.get("description").and_then(Value::as_str);
        // A bare reference shows its definition's description.
        let referenced = prop
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
            .and_then(|r| s.pointer(r))
            .and_then(|d| d.get("description"))
            .and_then(Value::as_str);
        assert!(
            own.or(referenced).is_some_and(|d| d.len() > 10),
            "`{at}` has no description"
        );
        // taplo ignores keys beside a `$ref` (draft 7 too), and its hover shows a referenced definition's text even
        // through `allOf` (tried with @taplo/lsp): a key with a text of its own writes its type out.
        let wrapped = prop.get("allOf").is_some();
        assert!(
            (prop.get("$ref").is_none() || prop.as_object().map(|m| m.len()) == Some(1))
                && !wrapped,
            "`{at}`: a description beside a reference is not shown; write the type out"
        );
    }
}
