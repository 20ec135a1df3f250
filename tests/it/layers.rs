//! The module graph of `src/` follows docs/architecture.md: no import cycles, and no module imports one from a
//! layer above its own. The imports are read from the source text (`crate::a::b`, `crate::{a, b}`, `super::x`),
//! leaving out test code (`tests.rs`, `fuzz_tests`, and everything after a file's `#[cfg(test)]` module).
//! `LOADGEN_PRINT_GRAPH=1 cargo test --test it layers -- --nocapture` prints the graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::util::root;

/// Modules whose submodules are nodes of their own (the cycles the architecture rules out are inside them).
const SPLIT: &[&str] = &["engine", "plan"];

/// The layers, lowest first: a module may import its own layer's modules (without a cycle) and lower ones. Every
/// module of `src/` must be listed, so a new one is placed on purpose. Kept in step with docs/architecture.md.
const LAYERS: &[(&str, &[&str])] = &[
    ("foundations", &["exit", "shown", "files", "duration"]),
    ("model", &["results"]),
    ("scenario", &["scenario", "data"]),
    ("errors", &["error"]),
    (
        "plan",
        &[
            "plan",
            "plan::checks",
            "plan::cond",
            "plan::data",
            "plan::describe",
            "plan::flow",
            "plan::load",
            "plan::mix",
            "plan::monitor",
            "plan::net",
            "plan::request_checks",
            "plan::resolve",
            "plan::search",
            "plan::segment",
            "plan::tls",
            "plan::protocol",
            "plan::values",
        ],
    ),
    ("measure", &["metrics"]),
    ("judge", &["gates", "validity", "verdict"]),
    (
        "engine",
        &[
            "engine",
            "engine::answer",
            "engine::arrival",
            "engine::bench",
            "engine::client",
            "engine::debug",
            "engine::http",
            "engine::io_error",
            "engine::observe",
            "engine::probe",
            "engine::request",
            "engine::shared",
            "engine::steer",
            "engine::tls",
            "engine::user",
            "engine::walk",
            "engine::workers",
            "preflight",
            "monitor",
            "monitor::expo",
            "monitor::http",
        ],
    ),
    (
        "outputs",
        &["report", "watch", "limit", "compare", "merge", "ui"],
    ),
    ("apps", &["demo", "import"]),
    ("commands", &["cli", "commands", "signals", "crate"]),
];

fn layer_of(node: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, mods)| mods.contains(&node))
}

/// The module path of a source file: `src/engine/client.rs` → `["engine", "client"]`; `None` for test files.
fn module_of(src: &Path, file: &Path) -> Option<Vec<String>> {
    let rel = file.strip_prefix(src).ok()?;
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop()?;
    let stem = last.strip_suffix(".rs")?;
    if parts
        .iter()
        .any(|p| p == "tests" || p.ends_with("fuzz_tests"))
        || stem == "tests"
        || stem.ends_with("fuzz_tests")
    {
        return None;
    }
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_string());
    }
    Some(parts)
}

/// The graph node a module path belongs to.
fn node(src: &Path, path: &[String]) -> String {
    match path {
        [] => "crate".into(),
        [top, sub, ..] if SPLIT.contains(&top.as_str()) => {
            let dir = src.join(top);
            if dir.join(format!("{sub}.rs")).is_file() || dir.join(sub).join("mod.rs").is_file() {
                format!("{top}::{sub}")
            } else {
                top.clone()
            }
        }
        [top, ..] => top.clone(),
    }
}

/// The code of a file without its test module(s).
fn code(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]"
            && lines
                .peek()
                .is_some_and(|l| l.trim_start().starts_with("mod ") && l.trim_end().ends_with('{'))
        {
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The module paths `text` (in module `me`) refers to: `crate::a::b`, `crate::{a, b::{c, d}}`, `super::x`.
fn references(text: &str, me: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or("");
        for (key, base) in [
            ("crate::", Vec::new()),
            ("super::", me[..me.len().saturating_sub(1)].to_vec()),
        ] {
            let mut rest = line;
            while let Some(i) = rest.find(key) {
                let before_ok = i == 0 || {
                    let c = rest.as_bytes()[i - 1];
                    !(c.is_ascii_alphanumeric() || c == b'_' || c == b':')
                };
                let after = &rest[i + key.len()..];
                if before_ok && !(key == "super::" && me.is_empty()) {
                    use_tree(after, base.clone(), &mut out);
                }
                rest = after;
            }
        }
    }
    out
}

/// Reads a path or use tree (`a::b`, `a::{b, c::{d}}`) after `crate::`, adding every module path it names
/// (the lowercase segments; `self` is the path so far).
fn use_tree(s: &str, mut prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut rest = s.trim_start();
    loop {
        let seg: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if seg.is_empty() || seg == "self" || !seg.starts_with(|c: char| c.is_lowercase()) {
            break;
        }
        prefix.push(seg.clone());
        rest = &rest[seg.len()..];
        match rest.strip_prefix("::") {
            Some(r) => rest = r,
            None => break,
        }
    }
    if let Some(group) = rest.strip_prefix('{') {
        let (mut depth, mut item_start) = (0usize, 0usize);
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    use_tree(&group[item_start..i], prefix.clone(), out);
                    return;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    use_tree(&group[item_start..i], prefix.clone(), out);
                    item_start = i + 1;
                }
                _ => {}
            }
        }
        use_tree(&group[item_start..], prefix.clone(), out);
        return;
    }
    if !prefix.is_empty() {
        out.push(prefix);
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src").flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Edges `from → to` between nodes, with one file that makes each.
fn graph() -> BTreeMap<(String, String), String> {
    let src = root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut edges = BTreeMap::new();
    for f in files {
        let Some(me) = module_of(&src, &f) else {
            continue;
        };
        let from = node(&src, &me);
        let text = std::fs::read_to_string(&f).expect("read a source file");
        for r in references(&code(&text), &me) {
            let to = node(&src, &r);
            if to != from && !r.is_empty() {
                let shown = f.strip_prefix(&src).unwrap_or(&f).display().to_string();
                edges.entry((from.clone(), to)).or_insert(shown);
            }
        }
    }
    edges
}

/// Every cycle's nodes (strongly connected components of more than one node).
fn cycles(edges: &BTreeMap<(String, String), String>) -> Vec<BTreeSet<String>> {
    let nodes: BTreeSet<&String> = edges.keys().flat_map(|(a, b)| [a, b]).collect();
    let reach = |start: &String| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![start.clone()];
        while let Some(n) = todo.pop() {
            for (a, b) in edges.keys() {
                if *a == n && seen.insert(b.clone()) {
                    todo.push(b.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&String, BTreeSet<String>> =
        nodes.iter().map(|n| (*n, reach(n))).collect();
    let mut out: Vec<BTreeSet<String>> = Vec::new();
    for n in &nodes {
        let scc: BTreeSet<String> = nodes
            .iter()
            .filter(|m| reaches[*n].contains(**m) && reaches[**m].contains(*n))
            .map(|m| (*m).clone())
            .collect();
        if scc.len() > 1 && !out.contains(&scc) {
            out.push(scc);
        }
    }
    out
}

#[test]
fn the_module_graph_has_no_cycles_and_no_arrows_up() {
    let edges = graph();
    assert!(
        edges.len() > 20,
        "the import reader found too few imports: {edges:?}"
    );
    if std::env::var_os("LOADGEN_PRINT_GRAPH").is_some() {
        for ((a, b), f) in &edges {
            println!("{a} -> {b}    ({f})");
        }
    }
    let mut problems = Vec::new();
    for scc in cycles(&edges) {
        problems.push(format!("an import cycle: {scc:?}"));
    }
    for ((a, b), f) in &edges {
        match (layer_of(a), layer_of(b)) {
            (Some(la), Some(lb)) if lb > la => problems.push(format!(
                "{a} ({}) imports {b} ({}), a layer above it ({f})",
                LAYERS[la].0, LAYERS[lb].0
            )),
            (None, _) => problems.push(format!("{a} is in no layer of tests/it/layers.rs")),
            (_, None) => problems.push(format!("{b} is in no layer of tests/it/layers.rs")),
            _ => {}
        }
    }
    problems.sort();
    problems.dedup();
    assert!(
        problems.is_empty(),
        "the module graph breaks docs/architecture.md's rules:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_import_reader_sees_what_it_should() {
    let me = vec!["engine".to_string(), "http".to_string()];
    let refs = references(
        "use crate::{metrics::{self, hdr}, plan::Step};\nuse super::client::Origin; // crate::nope\nlet x = crate::files::read(p);",
        &me,
    );
    assert!(
        refs.contains(&vec!["metrics".to_string(), "hdr".to_string()]),
        "{refs:?}"
    );
    assert!(refs.contains(&vec!["plan".to_string()]), "{refs:?}");
    assert!(
        refs.contains(&vec!["engine".to_string(), "client".to_string()]),
        "{refs:?}"
    );
    assert!(
        refs.contains(&vec!["files".to_string(), "read".to_string()]),
        "{refs:?}"
    );
    assert!(
        !refs.iter().any(|r| r.first().is_some_and(|s| s == "nope")),
        "{refs:?}"
    );
    assert_eq!(
        code("fn a() {}\n#[cfg(test)]\nmod tests {\n    use crate::x;\n}\n"),
        "fn a() {}\n"
    );
    let edges: BTreeMap<(String, String), String> =
        [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]
            .into_iter()
            .map(|(a, b)| ((a.to_string(), b.to_string()), String::new()))
            .collect();
    let c = cycles(&edges);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].len(), 3);
}
