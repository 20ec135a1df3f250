//! Conditions of the control flow (`if`, `stop_if`; issue 18, item 3): a small grammar, parsed once when the plan
//! is resolved, not a scripting language.
//!
//! ```text
//! condition := term ( "and" term )*  |  term ( "or" term )*      (not both in one condition)
//! term      := [ "not" ] ( operand OP operand  |  name "exists"  |  name "missing" )
//! OP        := == | != | < | <= | > | >=
//! operand   := name | number | 'text' | "text"
//! ```
//! A name is `status` (the user's last HTTP status, 0 before any), a capture, `data.COLUMN`, or a loop variable
//! (`item`, `index`, an `as` name). Two operands compare as numbers when both read as numbers, else as text.

use crate::scenario::template::Var;

/// What an operand names.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// The user's last HTTP status.
    Status,
    /// A capture, a data column or a loop variable.
    Var(Var),
    Number(f64),
    Text(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    Compare(Operand, Cmp, Operand),
    /// `name exists` (true) or `name missing` (false).
    Exists(Operand, bool),
}

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Cond {
    /// Each term, with `not` before it or not.
    pub terms: Vec<(bool, Term)>,
    /// Joined by `or` (else by `and`).
    pub any: bool,
    pub source: String,
}

/// The values a condition reads, at the moment it is judged.
pub trait Values {
    fn status(&self) -> u16;
    /// Writes the value of `var` to `out`; false when it is not set (an uncaptured value, an empty list).
    fn value(&mut self, var: Var, out: &mut String) -> bool;
}

impl Cond {
    /// Parses `s`; `name` resolves a name to an operand (or says why it cannot). Errors carry the byte offset
    /// in `s` they concern.
    pub fn parse(
        s: &str,
        mut name: impl FnMut(&str) -> Result<Operand, String>,
    ) -> Result<Cond, (usize, String)> {
        let tokens = tokenize(s)?;
        let mut terms = Vec::new();
        let mut joiner: Option<&str> = None;
        let mut i = 0;
        let end = s.len();
        let at = |i: usize| tokens.get(i).map_or(end, |t: &Token| t.at);
        loop {
            let mut negated = false;
            if matches!(tokens.get(i), Some(Token { kind: Kind::Word(w), .. }) if w == "not") {
                negated = true;
                i += 1;
            }
            let Some(first) = tokens.get(i) else {
                return Err((at(i), "expected a value or a name here".into()));
            };
            let left = operand(first, &mut name)?;
            i += 1;
            let term = match tokens.get(i).map(|t| &t.kind) {
                Some(Kind::Word(w)) if w == "exists" || w == "missing" => {
                    if !matches!(left, Operand::Var(_) | Operand::Status) {
                        return Err((first.at, format!("`{w}` follows a name, not a literal")));
                    }
                    i += 1;
                    Term::Exists(left, w == "exists")
                }
                Some(Kind::Op(op)) => {
                    let op = *op;
                    i += 1;
                    let Some(t) = tokens.get(i) else {
                        return Err((
                            at(i),
                            "expected a value or a name after the operator".into(),
                        ));
                    };
                    let right = operand(t, &mut name)?;
                    i += 1;
                    Term::Compare(left, op, right)
                }
                _ => {
                    return Err((
                        at(i),
                        "expected an operator (== != < <= > >=), `exists` or `missing`".into(),
                    ));
                }
            };
            terms.push((negated, term));
            match tokens.get(i) {
                None => break,
                Some(Token {
                    kind: Kind::Word(w),
                    at,
                }) if w == "and" || w == "or" => {
                    if joiner.is_some_and(|j| j != w) {
                        return Err((
                            *at,
                            "`and` and `or` cannot be mixed in one condition (there are no parentheses); split it into nested `if`s".into(),
                        ));
                    }
                    joiner = Some(if w == "and" { "and" } else { "or" });
                    i += 1;
                }
                Some(t) => {
                    return Err((
                        t.at,
                        "expected `and`, `or` or the end of the condition".into(),
                    ));
                }
            }
        }
        Ok(Cond {
            terms,
            any: joiner == Some("or"),
            source: s.to_string(),
        })
    }

    /// Whether the condition holds for `values`.
    pub fn holds(&self, values: &mut dyn Values) -> bool {
        let mut one = |(negated, term): &(bool, Term)| term_holds(term, values) != *negated;
        if self.any {
            self.terms.iter().any(&mut one)
        } else {
            self.terms.iter().all(&mut one)
        }
    }
}

fn term_holds(term: &Term, values: &mut dyn Values) -> bool {
    let mut a = String::new();
    match term {
        Term::Exists(op, want) => {
            let set = match op {
                Operand::Status => values.status() != 0,
                Operand::Var(v) => values.value(*v, &mut a),
                _ => true,
            };
            set == *want
        }
        Term::Compare(l, cmp, r) => {
            let mut b = String::new();
            let left = read(l, values, &mut a);
            let right = read(r, values, &mut b);
            let ord = match (left.and_then(number), right.and_then(number)) {
                (Some(x), Some(y)) => x.partial_cmp(&y),
                _ => match (left, right) {
                    (Some(x), Some(y)) => Some(x.cmp(y)),
                    // An unset value equals nothing and compares with nothing.
                    _ => return *cmp == Cmp::Ne,
                },
            };
            let Some(ord) = ord else {
                return *cmp == Cmp::Ne;
            };
            use std::cmp::Ordering::*;
            match cmp {
                Cmp::Eq => ord == Equal,
                Cmp::Ne => ord != Equal,
                Cmp::Lt => ord == Less,
                Cmp::Le => ord != Greater,
                Cmp::Gt => ord == Greater,
                Cmp::Ge => ord != Less,
            }
        }
    }
}

/// The text of an operand (into `buf` for a variable), or `None` when it is not set.
fn read<'a>(op: &'a Operand, values: &mut dyn Values, buf: &'a mut String) -> Option<&'a str> {
    match op {
        Operand::Status => {
            buf.push_str(&values.status().to_string());
            Some(buf.as_str())
        }
        Operand::Var(v) => values.value(*v, buf).then_some(buf.as_str()),
        Operand::Number(n) => {
            buf.push_str(&n.to_string());
            Some(buf.as_str())
        }
        Operand::Text(t) => Some(t.as_str()),
    }
}

fn number(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    t.parse::<f64>().ok().filter(|n| n.is_finite())
}

#[derive(Debug)]
struct Token {
    kind: Kind,
    at: usize,
}

#[derive(Debug)]
enum Kind {
    Word(String),
    Number(f64),
    Text(String),
    Op(Cmp),
}

fn operand(
    t: &Token,
    name: &mut impl FnMut(&str) -> Result<Operand, String>,
) -> Result<Operand, (usize, String)> {
    match &t.kind {
        Kind::Word(w) if ["and", "or", "not", "exists", "missing"].contains(&w.as_str()) => {
            Err((t.at, format!("expected a value or a name, found `{w}`")))
        }
        Kind::Word(w) if w == "status" => Ok(Operand::Status),
        Kind::Word(w) => name(w).map_err(|m| (t.at, m)),
        Kind::Number(n) => Ok(Operand::Number(*n)),
        Kind::Text(s) => Ok(Operand::Text(s.clone())),
        Kind::Op(_) => Err((t.at, "expected a value or a name, found an operator".into())),
    }
}

fn tokenize(s: &str) -> Result<Vec<Token>, (usize, String)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let at = i;
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                i += 1;
            }
            out.push(Token {
                kind: Kind::Word(s[at..i].to_string()),
                at,
            });
        } else if c.is_ascii_digit() || (c == b'-' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            i += 1;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            let n = s[at..i]
                .parse::<f64>()
                .map_err(|_| (at, format!("`{}` is not a number", &s[at..i])))?;
            out.push(Token {
                kind: Kind::Number(n),
                at,
            });
        } else if c == b'\'' || c == b'"' {
            let close = s[i + 1..]
                .find(c as char)
                .ok_or((at, "unclosed quote".to_string()))?;
            out.push(Token {
                kind: Kind::Text(s[i + 1..i + 1 + close].to_string()),
                at,
            });
            i += close + 2;
        } else {
            let two = s.get(i..i + 2).unwrap_or("");
            let (op, len) = match (two, c) {
                ("==", _) => (Cmp::Eq, 2),
                ("!=", _) => (Cmp::Ne, 2),
                ("<=", _) => (Cmp::Le, 2),
                (">=", _) => (Cmp::Ge, 2),
                (_, b'<') => (Cmp::Lt, 1),
                (_, b'>') => (Cmp::Gt, 1),
                (_, b'=') => return Err((at, "`=` compares nothing: write `==`".into())),
                _ => {
                    let ch = s[at..].chars().next().unwrap_or(' ');
                    return Err((at, format!("unexpected `{ch}`")));
                }
            };
            out.push(Token {
                kind: Kind::Op(op),
                at,
            });
            i += len;
        }
    }
    if out.is_empty() {
        return Err((0, "the condition is empty".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct V {
        status: u16,
        vals: Vec<Option<&'static str>>,
    }
    impl Values for V {
        fn status(&self) -> u16 {
            self.status
        }
        fn value(&mut self, var: Var, out: &mut String) -> bool {
            match var {
                Var::Capture(i) => match self.vals.get(i).copied().flatten() {
                    Some(v) => {
                        out.push_str(v);
                        true
                    }
                    None => false,
                },
                _ => false,
            }
        }
    }

    fn names(n: &str) -> Result<Operand, String> {
        match n {
            "count" => Ok(Operand::Var(Var::Capture(0))),
            "role" => Ok(Operand::Var(Var::Capture(1))),
            "token" => Ok(Operand::Var(Var::Capture(2))),
            other => Err(format!("unknown name `{other}`")),
        }
    }

    fn holds(s: &str, status: u16, vals: &[Option<&'static str>]) -> bool {
        let c = Cond::parse(s, names).unwrap_or_else(|e| panic!("{s}: {e:?}"));
        c.holds(&mut V {
            status,
            vals: vals.to_vec(),
        })
    }

    #[test]
    fn compares_numbers_as_numbers_and_text_as_text() {
        let v = [Some("10"), Some("admin"), None];
        assert!(holds("status == 200", 200, &v));
        assert!(!holds("status != 200", 200, &v));
        assert!(holds("count > 9", 0, &v), "10 > 9 as numbers, not as text");
        assert!(holds("count >= 10 and count <= 10", 0, &v));
        assert!(!holds("count < 10", 0, &v));
        assert!(holds("role == 'admin'", 0, &v));
        assert!(holds("role == \"admin\"", 0, &v));
        assert!(holds("role != 'user'", 0, &v));
        assert!(holds("role > 'abc'", 0, &v), "text order");
        assert!(holds("count == 10.0", 0, &v));
        assert!(holds("-1 < count", 0, &v));
    }

    #[test]
    fn exists_missing_not_and_or() {
        let v = [Some("1"), None, Some("tok")];
        assert!(holds("token exists", 0, &v));
        assert!(holds("role missing", 0, &v));
        assert!(holds("not role exists", 0, &v));
        assert!(holds("role exists or token exists", 0, &v));
        assert!(!holds("role exists and token exists", 0, &v));
        assert!(holds("status missing", 0, &v), "no answer yet");
        // An unset value is not equal to anything, and compares with nothing.
        assert!(!holds("role == ''", 0, &v));
        assert!(holds("role != 'x'", 0, &v));
        assert!(!holds("role < 'x'", 0, &v));
    }

    #[test]
    fn errors_say_where() {
        let err = |s: &str| Cond::parse(s, names).unwrap_err();
        assert_eq!(err("count = 3").0, 6);
        assert!(err("count = 3").1.contains("=="));
        assert_eq!(err("nope == 1").0, 0);
        assert!(err("nope == 1").1.contains("unknown name"));
        assert_eq!(err("count ==").0, 8);
        assert!(
            err("count > 1 and count < 3 or token exists")
                .1
                .contains("mixed")
        );
        assert_eq!(err("count > 1 and count < 3 or token exists").0, 24);
        assert!(err("role == 'x").1.contains("unclosed"));
        assert!(err("").1.contains("empty"));
        assert!(err("count 3").1.contains("operator"));
        assert!(err("3 exists").1.contains("follows a name"));
        assert!(err("count > 1 token exists").1.contains("and"));
    }
}
