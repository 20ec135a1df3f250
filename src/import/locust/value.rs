//! Python expressions as scenario values: string literals, f-strings and variables become templates
//! (`f"Bearer {self.token}"` → `"Bearer {{token}}"`), dict and list literals become JSON, and the few calls that
//! make a value unique (`uuid.uuid4()`, counters, `time.time()`) become loadgen's own unique templates.
//!
//! Values are `serde_json::Value`s whose strings are templates: one type for a header, a form field, a JSON body
//! or a variable holding any of them. What has no translation is an [`Untranslated`] naming the expression, so
//! the caller can write a note at its line.

use std::collections::HashMap;

use rustpython_parser::ast::{self, Constant, Expr, Ranged};
use serde_json::Value as J;

use super::Source;

/// What makes a value unique per user and session, as Locust files do with `uuid.uuid4()` or a counter.
pub const UNIQUE: &str = "{{run_id}}_{{vu}}_{{session}}";

/// An expression that has no translation: its source text, where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Untranslated {
    pub line: usize,
    pub text: String,
}

/// A value replaced by a template the user should review (a unique id, a random number): where and what.
#[derive(Debug, Clone, PartialEq)]
pub struct Replaced {
    pub line: usize,
    pub text: String,
    pub with: &'static str,
}

/// The names an expression can read: the module's constants, the user's `self.X`, the method's locals.
#[derive(Debug, Default, Clone)]
pub struct Scope {
    pub module: HashMap<String, J>,
    /// `self.X`, as known so far (class attributes, assignments already translated).
    pub user: HashMap<String, J>,
    /// `self.X` assigned somewhere from a response (captured): `{{X}}` even before the assignment is seen.
    pub captured: HashMap<String, String>,
    pub locals: HashMap<String, J>,
}

/// Evaluates expressions against a [`Scope`], remembering the replacements it made.
pub struct Eval<'a> {
    pub src: &'a Source<'a>,
    pub scope: &'a Scope,
    pub replaced: Vec<Replaced>,
    /// The value is kept in a variable: it must be the same at each use, so a random number becomes the
    /// unique template (stable within a session) rather than `{{random}}` (new at each use).
    pub stable: bool,
}

impl<'a> Eval<'a> {
    pub fn new(src: &'a Source<'a>, scope: &'a Scope) -> Self {
        Eval {
            src,
            scope,
            replaced: Vec::new(),
            stable: false,
        }
    }

    fn untranslated(&self, e: &Expr) -> Untranslated {
        Untranslated {
            line: self.src.line(e.start().to_usize()),
            text: self.src.snippet(e.range()),
        }
    }

    /// The expression as a value (strings are templates).
    pub fn value(&mut self, e: &Expr) -> Result<J, Untranslated> {
        match e {
            Expr::Constant(c) => constant(&c.value).ok_or_else(|| self.untranslated(e)),
            Expr::UnaryOp(u) if matches!(u.op, ast::UnaryOp::USub) => {
                match self.value(&u.operand)? {
                    J::Number(n) => {
                        if let Some(i) = n.as_i64() {
                            Ok(J::from(-i))
                        } else {
                            n.as_f64()
                                .map(|f| J::from(-f))
                                .ok_or_else(|| self.untranslated(e))
                        }
                    }
                    _ => Err(self.untranslated(e)),
                }
            }
            Expr::Dict(d) => {
                let mut map = serde_json::Map::new();
                for (k, v) in d.keys.iter().zip(&d.values) {
                    let Some(k) = k else {
                        return Err(self.untranslated(e));
                    };
                    let key = match self.value(k)? {
                        J::String(s) if !s.contains("{{") => s,
                        J::Number(n) => n.to_string(),
                        _ => return Err(self.untranslated(k)),
                    };
                    map.insert(key, self.value(v)?);
                }
                Ok(J::Object(map))
            }
            Expr::List(l) => l.elts.iter().map(|x| self.value(x)).collect(),
            Expr::Tuple(t) => t.elts.iter().map(|x| self.value(x)).collect(),
            Expr::JoinedStr(j) => {
                let mut s = String::new();
                for part in &j.values {
                    let text = self.text(part)?;
                    // `f"u_{uuid4()}_{time.time()}"`: one unique part is enough.
                    if !(text == UNIQUE && s.contains(UNIQUE)) {
                        s.push_str(&text);
                    }
                }
                Ok(J::String(s))
            }
            Expr::FormattedValue(f) => self.text(&f.value).map(J::String),
            Expr::BinOp(b) if matches!(b.op, ast::Operator::Add) => {
                match (self.value(&b.left)?, self.value(&b.right)?) {
                    (J::String(l), J::String(r)) => Ok(J::String(l + &r)),
                    _ => Err(self.untranslated(e)),
                }
            }
            Expr::Name(n) => {
                let id = n.id.as_str();
                self.scope
                    .locals
                    .get(id)
                    .or_else(|| self.scope.module.get(id))
                    .cloned()
                    .ok_or_else(|| self.untranslated(e))
            }
            Expr::Attribute(a) if is_self(&a.value) => {
                let attr = a.attr.as_str();
                if let Some(v) = self.scope.user.get(attr) {
                    return Ok(v.clone());
                }
                match self.scope.captured.get(attr) {
                    Some(name) => Ok(J::String(format!("{{{{{name}}}}}"))),
                    None => Err(self.untranslated(e)),
                }
            }
            Expr::Call(c) if dotted(&c.func).as_deref() == Some("str") && c.args.len() == 1 => {
                self.text(&c.args[0]).map(J::String)
            }
            _ => match unique(e) {
                Some(with) => {
                    let with = if self.stable { UNIQUE } else { with };
                    self.replaced.push(Replaced {
                        line: self.src.line(e.start().to_usize()),
                        text: self.src.snippet(e.range()),
                        with,
                    });
                    Ok(J::String(with.to_string()))
                }
                None => Err(self.untranslated(e)),
            },
        }
    }

    /// The expression as text (a template), as Python's `str()` would write it.
    pub fn text(&mut self, e: &Expr) -> Result<String, Untranslated> {
        match self.value(e)? {
            J::String(s) => Ok(s),
            J::Number(n) => Ok(n.to_string()),
            J::Bool(true) => Ok("True".into()),
            J::Bool(false) => Ok("False".into()),
            _ => Err(self.untranslated(e)),
        }
    }

    /// A dict of strings (headers, form fields, query parameters), in the source's order.
    pub fn pairs(&mut self, e: &Expr) -> Result<Vec<(String, String)>, Untranslated> {
        if let Expr::Dict(d) = e {
            let mut out = Vec::new();
            for (k, v) in d.keys.iter().zip(&d.values) {
                let Some(k) = k else {
                    return Err(self.untranslated(e));
                };
                let key = self.text(k)?;
                if key.contains("{{") {
                    return Err(self.untranslated(k));
                }
                out.push((key, self.text(v)?));
            }
            return Ok(out);
        }
        match self.value(e)? {
            J::Object(map) => map
                .into_iter()
                .map(|(k, v)| match v {
                    J::String(s) => Ok((k, s)),
                    J::Number(n) => Ok((k, n.to_string())),
                    _ => Err(self.untranslated(e)),
                })
                .collect(),
            _ => Err(self.untranslated(e)),
        }
    }

    /// A number of seconds (`between(0.1, 0.5)`'s arguments).
    pub fn seconds(&mut self, e: &Expr) -> Result<f64, Untranslated> {
        match self.value(e)? {
            J::Number(n) => n
                .as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .ok_or_else(|| self.untranslated(e)),
            _ => Err(self.untranslated(e)),
        }
    }
}

/// A Python constant as a value.
fn constant(c: &Constant) -> Option<J> {
    Some(match c {
        Constant::None => J::Null,
        Constant::Bool(b) => J::Bool(*b),
        Constant::Str(s) => J::String(s.clone()),
        Constant::Int(i) => J::from(i.to_string().parse::<i64>().ok()?),
        Constant::Float(f) => J::from(*f),
        Constant::Tuple(items) => J::Array(items.iter().map(constant).collect::<Option<_>>()?),
        _ => return None,
    })
}

/// `self`.
pub fn is_self(e: &Expr) -> bool {
    matches!(e, Expr::Name(n) if n.id.as_str() == "self")
}

/// A dotted name: `a`, `a.b.c`; `None` for anything else.
pub fn dotted(e: &Expr) -> Option<String> {
    match e {
        Expr::Name(n) => Some(n.id.to_string()),
        Expr::Attribute(a) => Some(format!("{}.{}", dotted(&a.value)?, a.attr.as_str())),
        _ => None,
    }
}

/// The template a call that makes a value unique or random becomes, looking through `.hex`, slices and `str()`.
fn unique(e: &Expr) -> Option<&'static str> {
    match e {
        Expr::Call(c) => {
            let name = dotted(&c.func)?;
            let last = name.rsplit('.').next().unwrap_or(&name);
            match last {
                "uuid4" | "uuid1" | "time" | "time_ns" | "monotonic_ns" | "token_hex"
                | "token_urlsafe" => Some(UNIQUE),
                "next" if c.args.len() == 1 => Some(UNIQUE),
                "randint" | "getrandbits" | "randrange" => Some("{{random}}"),
                "str" | "int" if c.args.len() == 1 => unique(&c.args[0]),
                _ => None,
            }
        }
        Expr::Attribute(a) if a.attr.as_str() == "hex" => unique(&a.value),
        Expr::Subscript(s) if matches!(*s.slice, Expr::Slice(_)) => unique(&s.value),
        _ => None,
    }
}

/// The JSON path a response expression reads: `response.json()["a"][0]` → `$.a[0]`,
/// `r.json().get("x")` → `$.x`; `None` when `e` does not read `resp`'s JSON body.
pub fn json_path(e: &Expr, resp: &str) -> Option<String> {
    match e {
        Expr::Call(c) => match &*c.func {
            Expr::Attribute(a) if a.attr.as_str() == "json" && c.args.is_empty() => {
                matches!(&*a.value, Expr::Name(n) if n.id.as_str() == resp).then(|| "$".to_string())
            }
            Expr::Attribute(a) if a.attr.as_str() == "get" && !c.args.is_empty() => {
                let base = json_path(&a.value, resp)?;
                Some(base + &path_key(&c.args[0])?)
            }
            _ => None,
        },
        Expr::Subscript(s) => Some(json_path(&s.value, resp)? + &path_key(&s.slice)?),
        _ => None,
    }
}

/// `["a"]` → `.a`, `["odd key"]` → `['odd key']`, `[0]` → `[0]`.
fn path_key(e: &Expr) -> Option<String> {
    let Expr::Constant(c) = e else { return None };
    match &c.value {
        Constant::Str(s)
            if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            Some(format!(".{s}"))
        }
        Constant::Str(s) if !s.contains('\'') && !s.contains('\\') => Some(format!("['{s}']")),
        Constant::Int(i) => Some(format!("[{i}]")),
        _ => None,
    }
}

/// The name a response expression belongs to: `response` in `response.json()["x"]`.
pub fn response_of(e: &Expr) -> Option<&str> {
    match e {
        Expr::Name(n) => Some(n.id.as_str()),
        Expr::Call(c) => response_of(&c.func),
        Expr::Attribute(a) => response_of(&a.value),
        Expr::Subscript(s) => response_of(&s.value),
        _ => None,
    }
}
