//! Generators for the scenario properties: text that means something to TOML and to the scenario model, byte
//! mutations of a file, and structural edits of a parsed file that keep it valid TOML (so they reach the resolver).

use proptest::prelude::*;

/// One change to a file's bytes; positions are taken modulo the length when applied.
#[derive(Debug, Clone)]
pub(super) enum Mutation {
    Truncate(usize),
    Flip(usize, u8),
    Insert(usize, String),
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    /// Replaces the value after the `n`th `=` with `value`.
    ReplaceValue(usize, String),
}

/// Text that means something to TOML, to the scenario model or to templates, and some that means nothing.
pub(super) fn junk() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "[",
            "]",
            "[[",
            "]]",
            "=",
            "\"",
            "'",
            "{",
            "}",
            "{{",
            "}}",
            ",",
            "#",
            "\\",
            "\"\"\"",
            "'''",
            "\n",
            "\r\n",
            "\t",
            ".",
            "0",
            "-1",
            "1e400",
            "-0.0",
            "nan",
            "inf",
            "true",
            "9223372036854775807",
            "-9223372036854775808",
            "18446744073709551616",
            "1979-05-27T07:32:00Z",
            "[load]",
            "[target]",
            "[gates]",
            "[gates.steady]",
            "[gates.stages.1]",
            "[[task]]",
            "[[user.on_start]]",
            "[data]",
            "[user]",
            "include = \"baseline.toml\"",
            "include = \"auth_flow.toml\"",
            "include = [1]",
            "include = \".\"",
            "users = 0",
            "users = -1",
            "spawn_rate = 0",
            "duration = \"0s\"",
            "duration = \"366d\"",
            "stages = []",
            "stages = [{ duration = \"1s\", users = 5 }, { duration = \"0s\", rate = 1 }]",
            "stages = [{ duration = \"1s\", rate = 1e300 }]",
            "arrival_rate = 1e308",
            "arrival_rate = 0",
            "max_users = 0",
            "queue_timeout = \"1y\"",
            "wait = {}",
            "wait = { between = [\"2s\", \"1s\"] }",
            "wait = { constant_throughput = 0 }",
            "path = \"{{\"",
            "path = \"/{{vu}\"",
            "path = \"/{{ nope }}\"",
            "path = \"{{env.HOME}}\"",
            "capture = { x = \"$\" }",
            "capture = { x = \"$..a[\" }",
            "capture = { vu = \"$.a\" }",
            "headers = { \"a b\" = \"x\" }",
            "json = { a = \"{{vu}}\" }",
            "body = \"{{\"",
            "expect = { status = [] }",
            "expect = { status = [0] }",
            "weight = 0",
            "weight = 4294967297",
            "name = \"\"",
            "method = \"\"",
            "timeout = \"\"",
            "[gates.requests.\"\"]",
            "p95_ms = -1",
            "success_rate = 1e999",
            "dropped_iterations = -1",
            "connections = \"\"",
            "ca_file = \"\"",
            "ca_file = \".\"",
            "insecure = 1",
            "\u{feff}",
            "é",
            "🦀",
            "\u{0}",
            "\u{7f}",
        ])
        .prop_map(str::to_string),
        "\\PC{0,12}",
        any::<String>().prop_map(|s| s.chars().take(16).collect()),
    ]
}

pub(super) fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), junk()).prop_map(|(i, s)| Mutation::Insert(i, s)),
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<usize>(), junk()).prop_map(|(i, s)| Mutation::ReplaceValue(i, s)),
    ]
}

pub(super) fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let at = |i: usize, len: usize| if len == 0 { 0 } else { i % (len + 1) };
    let lines =
        |b: &[u8]| -> Vec<Vec<u8>> { b.split(|&c| c == b'\n').map(<[u8]>::to_vec).collect() };
    match m {
        Mutation::Truncate(i) => {
            let n = at(*i, bytes.len());
            bytes.truncate(n);
        }
        Mutation::Flip(i, x) => {
            if !bytes.is_empty() {
                let n = i % bytes.len();
                bytes[n] ^= x | 1;
            }
        }
        Mutation::Insert(i, s) => {
            let n = at(*i, bytes.len());
            bytes.splice(n..n, s.bytes());
        }
        Mutation::DeleteLine(i) | Mutation::DuplicateLine(i) => {
            let mut ls = lines(bytes);
            let n = i % ls.len();
            if matches!(m, Mutation::DeleteLine(_)) {
                ls.remove(n);
            } else {
                let l = ls[n].clone();
                ls.insert(n, l);
            }
            *bytes = ls.join(&b'\n');
        }
        Mutation::SwapLines(a, b) => {
            let mut ls = lines(bytes);
            let len = ls.len();
            ls.swap(a % len, b % len);
            *bytes = ls.join(&b'\n');
        }
        Mutation::ReplaceValue(i, s) => {
            let eqs: Vec<usize> = bytes
                .iter()
                .enumerate()
                .filter(|(_, c)| **c == b'=')
                .map(|(p, _)| p)
                .collect();
            if let Some(&eq) = eqs.get(i % eqs.len().max(1)) {
                let end = bytes[eq..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(bytes.len(), |p| eq + p);
                let value = format!(" {s}");
                bytes.splice(eq + 1..end, value.bytes());
            }
        }
    }
}

/// Integers near the edges of what the resolver accepts.
const INTS: &[i64] = &[
    0,
    1,
    -1,
    2,
    100,
    599,
    600,
    1_000_000,
    1_000_001,
    10_000_000,
    10_000_001,
    i64::MAX,
    i64::MIN,
];
/// Floats near the edges of what the resolver accepts.
const FLOATS: &[f64] = &[
    0.0,
    -0.0,
    1e-300,
    1e-20,
    3e-8,
    0.0005,
    0.001,
    1e6,
    1e7,
    1.1e7,
    1e300,
    f64::MAX,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    100.0,
    100.5,
];
/// Strings the resolver reads as durations, templates, URLs, JSON paths, modes, methods, file names.
const STRINGS: &[&str] = &[
    "",
    " ",
    "0s",
    "0",
    "1ms",
    "1s",
    "5m",
    "1h 30m",
    "365d",
    "366d",
    "1y",
    "-1s",
    "nan",
    "1e400s",
    "18446744073709551615s",
    "soon",
    "{{vu}}",
    "{{",
    "}}",
    "{{ token }}",
    "{{nope}}",
    "{{env.HOME}}",
    "{{env.LOADGEN_FUZZ_UNSET}}",
    "{{data.x}}",
    "/",
    "/a?b=c",
    "//x",
    "http://",
    "http://x",
    "https://x:99999",
    "http://[::1]:8000",
    "ftp://x",
    "http://user:pw@host",
    "$",
    "$.a",
    "$.a[0].b",
    "$..",
    "$[",
    "a",
    "per_user",
    "shared",
    "unique",
    "round_robin",
    "random",
    "get",
    "GET",
    "GETT",
    "steady",
    "1",
    "99",
    "auth_flow.toml",
    "baseline.toml",
    "nope.toml",
    ".",
    "..",
    "/dev/null",
    "ca.pem",
    "a\nb",
    "\u{7}",
    "é🦀",
];

/// A value for a key: numbers, strings and shapes near the edges of what the resolver accepts.
fn toml_value() -> impl Strategy<Value = toml::Value> {
    use toml::Value as V;
    let leaf = prop_oneof![
        any::<i64>().prop_map(V::Integer),
        prop::sample::select(INTS).prop_map(V::Integer),
        any::<f64>().prop_map(V::Float),
        prop::sample::select(FLOATS).prop_map(V::Float),
        any::<bool>().prop_map(V::Boolean),
        prop::sample::select(STRINGS).prop_map(|s| V::String(s.to_string())),
        "\\PC{0,10}".prop_map(V::String),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(toml::Value::Array),
            prop::collection::vec((key(), inner), 0..4)
                .prop_map(|kv| toml::Value::Table(kv.into_iter().collect())),
        ]
    })
}

/// Every key the scenario format has, read from its JSON Schema (`docs/scenario.schema.json`, which a test holds
/// equal to the loader's fields), so a key added to the format reaches the mutator without a list to keep up;
/// then names a table of names may hold (stages, classes).
fn known_keys() -> Vec<String> {
    fn collect(v: &serde_json::Value, keys: &mut std::collections::BTreeSet<String>) {
        match v {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::Object(props)) = map.get("properties") {
                    keys.extend(props.keys().cloned());
                }
                map.values().for_each(|x| collect(x, keys));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|x| collect(x, keys)),
            _ => {}
        }
    }
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../../docs/scenario.schema.json"))
            .expect("docs/scenario.schema.json is JSON");
    let mut keys = std::collections::BTreeSet::new();
    collect(&schema, &mut keys);
    keys.extend(["1", "2", "home", "api"].map(String::from));
    keys.into_iter().collect()
}

/// A key the scenario model knows (somewhere), or another.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        9 => prop::sample::select(known_keys()),
        1 => "\\PC{0,6}",
    ]
}

#[test]
fn the_mutator_knows_the_newest_keys() {
    let keys = known_keys();
    for k in [
        "users",
        "arrival_rate",
        "iterations",
        "search",
        "monitor",
        "endpoint",
        "series",
        "choose",
        "between",
    ] {
        assert!(keys.iter().any(|x| x == k), "{k} not in {keys:?}");
    }
}

/// A change to a parsed scenario: the result is valid TOML, so it reaches the resolver.
#[derive(Debug, Clone)]
pub(super) enum Edit {
    /// Another value of the same type: from the lists above, or any (selected by the seed).
    Tweak(usize, u64, i64, f64),
    Set(usize, toml::Value),
    Remove(usize),
    Add(usize, String, toml::Value),
}

pub(super) fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<usize>(), any::<u64>(), any::<i64>(), any::<f64>())
            .prop_map(|(i, seed, n, x)| Edit::Tweak(i, seed, n, x)),
        1 => (any::<usize>(), toml_value()).prop_map(|(i, v)| Edit::Set(i, v)),
        1 => any::<usize>().prop_map(Edit::Remove),
        1 => (any::<usize>(), key(), toml_value()).prop_map(|(i, k, v)| Edit::Add(i, k, v)),
    ]
}

/// One step of a path into a TOML document.
#[derive(Debug, Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

/// The paths of every value under `v` (depth first, `v` itself first).
fn paths(v: &toml::Value, prefix: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    out.push(prefix.clone());
    match v {
        toml::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                prefix.push(Seg::Index(i));
                paths(x, prefix, out);
                prefix.pop();
            }
        }
        toml::Value::Table(t) => {
            for (k, x) in t {
                prefix.push(Seg::Key(k.clone()));
                paths(x, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn at_mut<'a>(v: &'a mut toml::Value, path: &[Seg]) -> Option<&'a mut toml::Value> {
    path.iter().try_fold(v, |v, seg| match (v, seg) {
        (toml::Value::Array(a), Seg::Index(i)) => a.get_mut(*i),
        (toml::Value::Table(t), Seg::Key(k)) => t.get_mut(k),
        _ => None,
    })
}

pub(super) fn apply_edit(doc: &mut toml::Value, e: &Edit) {
    let mut all = Vec::new();
    paths(doc, &mut Vec::new(), &mut all);
    match e {
        Edit::Tweak(i, seed, n, x) => {
            let pick = |len: usize| (*seed % len as u64) as usize;
            if let Some(v) = at_mut(doc, &all[i % all.len()]) {
                match v {
                    toml::Value::String(s) => *s = STRINGS[pick(STRINGS.len())].to_string(),
                    toml::Value::Integer(v) if seed % 2 == 0 => *v = INTS[pick(INTS.len())],
                    toml::Value::Integer(v) => *v = *n,
                    toml::Value::Float(v) if seed % 2 == 0 => *v = FLOATS[pick(FLOATS.len())],
                    toml::Value::Float(v) => *v = *x,
                    toml::Value::Boolean(b) => *b = !*b,
                    toml::Value::Array(a) if !a.is_empty() && seed % 2 == 0 => {
                        let dup = a[pick(a.len())].clone();
                        a.push(dup);
                    }
                    toml::Value::Array(a) => a.clear(),
                    toml::Value::Table(_) | toml::Value::Datetime(_) => {}
                }
            }
        }
        Edit::Set(i, value) => {
            // The root stays a table.
            let path = &all[i % all.len()];
            if !path.is_empty()
                && let Some(v) = at_mut(doc, path)
            {
                *v = value.clone();
            }
        }
        Edit::Remove(i) => {
            let path = &all[i % all.len()];
            if let Some((last, parent)) = path.split_last()
                && let Some(p) = at_mut(doc, parent)
            {
                match (p, last) {
                    (toml::Value::Table(t), Seg::Key(k)) => {
                        t.remove(k);
                    }
                    (toml::Value::Array(a), Seg::Index(i)) if *i < a.len() => {
                        a.remove(*i);
                    }
                    _ => {}
                }
            }
        }
        Edit::Add(i, key, value) => {
            let tables: Vec<&Vec<Seg>> = all
                .iter()
                .filter(|p| {
                    let mut d = doc.clone();
                    matches!(at_mut(&mut d, p), Some(toml::Value::Table(_)))
                })
                .collect();
            let path = tables[i % tables.len()].clone();
            if let Some(toml::Value::Table(t)) = at_mut(doc, &path) {
                t.insert(key.clone(), value.clone());
            }
        }
    }
}
