//! `{{variable}}` templates in paths, query values, headers and bodies.
//!
//! A template is parsed once, when the plan is resolved, into literal pieces and typed variable references
//! ([`Var`]); rendering on the request path is a walk over those pieces with no parsing and no map look-ups
//! (captured values live in a per-user slot vector indexed by [`Var::Capture`]). Environment variables are
//! resolved at load time and become literals.

use std::fmt::Write as _;

/// Built-in per-user and per-run variables, with what they expand to.
pub const BUILTINS: &[(&str, &str)] = &[
    ("vu", "the virtual user's number, 1..=users"),
    (
        "session",
        "the user's session number, 1 at start, +1 after each session restart",
    ),
    (
        "run_id",
        "a short random id for this run, the same for every user",
    ),
    (
        "seq",
        "a counter unique across the whole run, +1 at each use",
    ),
    ("uuid", "a random UUID v4"),
    ("random", "a random integer in 0..=2^32-1"),
    ("timestamp_ms", "Unix time in milliseconds"),
];

/// What a variable reference resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    Vu,
    Session,
    RunId,
    Seq,
    Uuid,
    Random,
    TimestampMs,
    /// A value captured from a response; index into the user's capture slots.
    Capture(usize),
    /// A column of the user's row of the `[data]` file.
    Data(usize),
    /// The current item of a `for_each` loop (issue 18, item 3); index into the user's loop frames.
    Item(usize),
    /// The 0-based iteration number of a `for_each` or `repeat` loop.
    Index(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Var(Var),
}

/// A compiled template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
    source: String,
}

/// A variable reference as written, before it is resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawVar<'a> {
    /// The name inside the braces, trimmed (`token`, `env.HOME`).
    pub name: &'a str,
    /// The whole reference as written, braces included (`{{ token }}`).
    pub text: &'a str,
    /// Where `text` starts in the template, in bytes.
    pub at: usize,
}

/// A syntax error in a template: what is wrong and the text it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub message: String,
    /// The start of the offending text (at most 20 characters of it for an unclosed `{{`).
    pub text: String,
    /// Where `text` starts in the template, in bytes.
    pub at: usize,
}

enum Piece<'a> {
    Lit(&'a str),
    Var(RawVar<'a>),
}

fn split(s: &str) -> Result<Vec<Piece<'_>>, SyntaxError> {
    let mut pieces = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find("{{") {
        // `rest` is always a suffix of `s`.
        let at = s.len() - rest.len() + open;
        if open > 0 {
            pieces.push(Piece::Lit(&rest[..open]));
        }
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            return Err(SyntaxError {
                message: "unclosed `{{`: a variable is written `{{name}}`".into(),
                text: rest[open..].chars().take(20).collect(),
                at,
            });
        };
        let text = &rest[open..open + 2 + close + 2];
        let name = after[..close].trim();
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if !valid {
            return Err(SyntaxError {
                message: format!(
                    "`{text}` is not a variable reference: names use letters, digits, `_` and `.`"
                ),
                text: text.to_string(),
                at,
            });
        }
        pieces.push(Piece::Var(RawVar { name, text, at }));
        rest = &rest[open + 2 + close + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Lit(rest));
    }
    Ok(pieces)
}

/// How a name resolved: a variable, or a value known now (an environment variable).
pub enum Resolved {
    Var(Var),
    Value(String),
}

impl Template {
    /// The variable references in `s`, in order.
    pub fn references(s: &str) -> Result<Vec<RawVar<'_>>, SyntaxError> {
        Ok(split(s)?
            .into_iter()
            .filter_map(|p| match p {
                Piece::Var(v) => Some(v),
                Piece::Lit(_) => None,
            })
            .collect())
    }

    /// Compiles `s`, resolving each reference with `resolve`; the first error is returned with its reference.
    pub fn compile<E>(
        s: &str,
        mut resolve: impl FnMut(&RawVar<'_>) -> Result<Resolved, E>,
        syntax: impl FnOnce(SyntaxError) -> E,
    ) -> Result<Template, E> {
        let pieces = split(s).map_err(syntax)?;
        let mut parts: Vec<Part> = Vec::with_capacity(pieces.len());
        for piece in pieces {
            let lit = match piece {
                Piece::Lit(l) => l.to_string(),
                Piece::Var(v) => match resolve(&v)? {
                    Resolved::Var(var) => {
                        parts.push(Part::Var(var));
                        continue;
                    }
                    Resolved::Value(value) => value,
                },
            };
            match parts.last_mut() {
                Some(Part::Lit(prev)) => prev.push_str(&lit),
                _ => parts.push(Part::Lit(lit)),
            }
        }
        Ok(Template {
            parts,
            source: s.to_string(),
        })
    }

    /// A template that is only text.
    pub fn literal(s: &str) -> Template {
        Template {
            parts: vec![Part::Lit(s.to_string())],
            source: s.to_string(),
        }
    }

    /// The template as written in the scenario (never the rendered value: it is safe to show).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The literal text between the variables (environment variables already resolved into it), in order.
    pub fn literals(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Lit(l) => Some(l.as_str()),
            Part::Var(_) => None,
        })
    }

    /// True when rendering always gives the same text.
    pub fn is_constant(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Lit(_)))
    }

    /// Appends the rendered template to `out`.
    pub fn render_into(&self, ctx: &mut dyn Context, out: &mut String) {
        for part in &self.parts {
            match part {
                Part::Lit(l) => out.push_str(l),
                Part::Var(v) => ctx.write_var(*v, out),
            }
        }
    }

    /// The rendered template as a new string.
    pub fn render(&self, ctx: &mut dyn Context) -> String {
        if let [Part::Lit(l)] = self.parts.as_slice() {
            return l.clone();
        }
        let mut out = String::with_capacity(self.source.len() + 16);
        self.render_into(ctx, &mut out);
        out
    }
}

/// Supplies variable values at render time (a virtual user implements it).
pub trait Context {
    fn write_var(&mut self, var: Var, out: &mut String);
}

/// Writes a number without going through `format!`'s allocation.
pub fn write_num(out: &mut String, n: u64) {
    let _ = write!(out, "{n}");
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;
    impl Context for Fixed {
        fn write_var(&mut self, var: Var, out: &mut String) {
            match var {
                Var::Vu => write_num(out, 7),
                Var::Capture(i) => out.push_str(["tok", "other"][i]),
                _ => out.push('?'),
            }
        }
    }

    fn resolve(v: &RawVar<'_>) -> Result<Resolved, String> {
        match v.name {
            "vu" => Ok(Resolved::Var(Var::Vu)),
            "token" => Ok(Resolved::Var(Var::Capture(0))),
            "env.X" => Ok(Resolved::Value("x!".into())),
            other => Err(format!("unknown {other}")),
        }
    }

    #[test]
    fn renders_literals_variables_and_env() {
        let t =
            Template::compile("u_{{vu}}/{{ token }}-{{env.X}}.", resolve, |e| e.message).unwrap();
        assert_eq!(t.render(&mut Fixed), "u_7/tok-x!.");
        assert!(!t.is_constant());
        let c = Template::compile("a{{env.X}}b", resolve, |e| e.message).unwrap();
        assert!(c.is_constant());
        assert_eq!(c.render(&mut Fixed), "ax!b");
    }

    #[test]
    fn reports_unknown_and_malformed_references() {
        let e = Template::compile("x{{nope}}", resolve, |e| e.message).unwrap_err();
        assert_eq!(e, "unknown nope");
        let e = Template::compile("x{{vu", resolve, |e| e.message).unwrap_err();
        assert!(e.contains("unclosed"), "{e}");
        let e = Template::compile("x{{a b}}", resolve, |e| e.message).unwrap_err();
        assert!(e.contains("not a variable reference"), "{e}");
    }

    #[test]
    fn lists_references_with_their_text() {
        let refs = Template::references("a {{ vu }} b {{token}}").unwrap();
        assert_eq!(refs.len(), 2);
        assert_eq!(refs[0].name, "vu");
        assert_eq!(refs[0].text, "{{ vu }}");
        assert_eq!((refs[0].at, refs[1].at), (2, 13));
    }
}
