//! The template and JSON-path properties: no panic, and every offset reported inside the string.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::config;
use crate::scenario::template::{self, RawVar, Resolved, Template, Var};

/// A render context that writes something for every variable.
struct Values;
impl template::Context for Values {
    fn write_var(&mut self, var: Var, out: &mut String) {
        match var {
            Var::Capture(i) | Var::Data(i) => template::write_num(out, i as u64),
            other => out.push_str(&format!("{other:?}")),
        }
    }
}

/// Resolves the built-ins, two captures, two data columns and `env.*` (to a fixed value); anything else is an
/// error carrying the reference's offset.
fn resolve_var(v: &RawVar<'_>) -> Result<Resolved, (String, usize)> {
    Ok(match v.name {
        "vu" => Resolved::Var(Var::Vu),
        "session" => Resolved::Var(Var::Session),
        "run_id" => Resolved::Var(Var::RunId),
        "seq" => Resolved::Var(Var::Seq),
        "uuid" => Resolved::Var(Var::Uuid),
        "random" => Resolved::Var(Var::Random),
        "timestamp_ms" => Resolved::Var(Var::TimestampMs),
        "token" => Resolved::Var(Var::Capture(0)),
        "id" => Resolved::Var(Var::Capture(1)),
        "data.user" => Resolved::Var(Var::Data(0)),
        name if name.starts_with("env.") => Resolved::Value(format!("<{name}>")),
        _ => return Err((v.text.to_string(), v.at)),
    })
}

/// Template text: arbitrary, or built from pieces that matter to the template syntax.
fn template_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        prop::sample::select(vec![
            "{{",
            "}}",
            "{",
            "}",
            "{{vu}}",
            "{{ token }}",
            "{{env.X}}",
            "{{data.user}}",
            "{{nope}}",
            "{{a b}}",
            "{{}}",
            "{{{",
            "}}}",
            "{{ ",
            ".",
            "_",
            "é",
            "🦀",
            "\u{0}",
            "\n",
            "/",
            "x",
            " ",
            "vu",
            "env.",
            "data.",
            "token",
        ])
        .prop_map(str::to_string),
        "\\PC{0,6}",
    ];
    prop_oneof![
        any::<String>(),
        prop::collection::vec(piece, 0..20).prop_map(|v| v.concat()),
    ]
}

/// Checks a reference or error text reported at `at`: inside `s`, on a char boundary, where `text` is.
fn check_offset(s: &str, at: usize, text: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        at <= s.len() && s.is_char_boundary(at),
        "offset {} in {:?}",
        at,
        s
    );
    prop_assert!(
        s[at..].starts_with(text),
        "{:?} is not at {} in {:?}",
        text,
        at,
        s
    );
    Ok(())
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn templates_compile_and_render_without_panics(s in template_text()) {
        if let Ok(refs) = Template::references(&s) {
            for r in &refs {
                check_offset(&s, r.at, r.text)?;
                prop_assert!(r.text.starts_with("{{") && r.text.ends_with("}}"));
            }
        }
        match Template::compile(&s, resolve_var, |e| (e.text, e.at)) {
            Ok(t) => {
                let out = t.render(&mut Values);
                prop_assert_eq!(t.source(), s.as_str());
                if !s.contains("{{") {
                    prop_assert_eq!(&out, &s);
                }
                let mut again = String::new();
                t.render_into(&mut Values, &mut again);
                prop_assert_eq!(out, again);
            }
            Err((text, at)) => check_offset(&s, at, &text)?,
        }
    }
}

proptest! {
    #![proptest_config(config(1024))]

    /// Capture paths are parsed from scenario text too: never a panic, errors at an offset inside the path,
    /// and a parsed path can be followed in any JSON document.
    #[test]
    fn json_paths_parse_and_find_without_panics(
        s in prop_oneof![
            any::<String>(),
            prop::collection::vec(
                prop::sample::select(vec!["$", ".", "[", "]", "'", "\"", "0", "18446744073709551616", "a", "é", " "]),
                0..12,
            )
            .prop_map(|v| v.concat()),
        ]
    ) {
        match crate::scenario::jsonpath::JsonPath::parse(&s) {
            Ok(p) => {
                let doc = serde_json::json!({"a": [{"b": 1}, "x"], "é": {"0": null}, "": true});
                let _ = p.find(&doc);
                prop_assert_eq!(p.as_str(), s.as_str());
            }
            Err((at, _)) => prop_assert!(at <= s.len() && s.is_char_boundary(at), "offset {} in {:?}", at, s),
        }
    }
}
