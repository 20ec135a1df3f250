//! The values that make a recording replayable by many users: captures and run-unique values.
//!
//! - **Captures.** A string from a JSON response (found by walking the body; 8 to 8192 characters without
//!   spaces, as tokens and ids are) that the browser sent back later (in a header, the path or query, or the
//!   body), and had not sent itself before, was given by the server: the first response that has it gets
//!   `capture = { NAME = "$.path" }` (NAME from the JSON key), and every later use becomes `{{NAME}}`, with a
//!   comment on the step.
//! - **Run-unique values.** A username or email sent to a register-like endpoint (a POST whose path says
//!   register or sign up) would be taken on the second session: the recorded value becomes
//!   `PREFIX{{run_id}}_{{vu}}_{{session}}` in that request and every later one (the login that sends it again),
//!   with a comment. An email keeps its domain (its local part is what is replaced).

use std::collections::HashSet;

use super::{Body, DraftStep, Kept};

/// Names made unique by a numeric suffix: `get_api`, `get_api_2`...
#[derive(Default)]
pub(super) struct Names {
    used: HashSet<String>,
}

impl Names {
    pub(super) fn unique(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut n = 1;
        while !self.used.insert(name.clone()) {
            n += 1;
            name = format!("{base}_{n}");
        }
        name
    }
}

const MIN_CAPTURE: usize = 8;
const MAX_CAPTURE: usize = 8192;

/// Proposes the captures (see the module doc), and returns which page group made each used capture and which
/// used it: `(made, used)` per use.
pub(super) fn captures(kept: &mut [Kept]) -> Vec<(usize, usize)> {
    let mut names = Names::default();
    for b in crate::import::reserved_names() {
        names.unique(b);
    }
    let mut uses = Vec::new();
    let mut taken: HashSet<String> = HashSet::new();
    for i in 0..kept.len() {
        let Some(response) = kept[i].response.take() else {
            continue;
        };
        let mut found = Vec::new();
        walk(&response, "$".to_string(), 0, &mut found);
        for (path, key, value) in found {
            if value.len() < MIN_CAPTURE
                || value.len() > MAX_CAPTURE
                || value.chars().any(|c| c.is_whitespace() || c.is_control())
                || value.contains("{{")
                || taken.contains(&value)
                || kept[..=i].iter().any(|k| sends(&k.step, &value))
            {
                continue;
            }
            let later: Vec<usize> = (i + 1..kept.len())
                .filter(|&j| sends(&kept[j].step, &value))
                .collect();
            if later.is_empty() {
                continue;
            }
            taken.insert(value.clone());
            let mut base = super::slug(&key, 40);
            if base.is_empty() || base.starts_with(|c: char| c.is_ascii_digit()) {
                base = format!("v_{base}").trim_end_matches('_').to_string();
            }
            let name = names.unique(&base);
            kept[i].step.captures.push((name.clone(), path));
            let from = kept[i].step.name.clone();
            let template = format!("{{{{{name}}}}}");
            for j in later {
                replace(&mut kept[j].step, &value, &template);
                kept[j].step.comments.push(format!(
                    "{template} replaces the recorded value `{name}` captured by `{from}`"
                ));
                uses.push((kept[i].group, kept[j].group));
            }
        }
    }
    uses
}

/// Makes the values sent to a register-like endpoint unique per run, user and session (see the module doc).
pub(super) fn unique_per_run(kept: &mut [Kept]) {
    for r in 0..kept.len() {
        let step = &kept[r].step;
        if !step.method.eq_ignore_ascii_case("POST") || !is_register(&step.path) {
            continue;
        }
        let mut values: Vec<(String, String)> = Vec::new();
        let mut add = |field: &str, v: &str| {
            let f = field.to_ascii_lowercase();
            let identity = matches!(
                f.as_str(),
                "username"
                    | "user"
                    | "user_name"
                    | "login"
                    | "email"
                    | "mail"
                    | "name"
                    | "nickname"
                    | "handle"
            );
            let v = v.split_once('@').map(|(local, _)| local).unwrap_or(v);
            if !identity || v.len() < 3 || v.contains("{{") {
                return;
            }
            match values.iter_mut().find(|(_, x)| x == v) {
                Some((fields, _)) => *fields = format!("{fields}`, `{field}"),
                None => values.push((field.to_string(), v.to_string())),
            }
        };
        match &step.body {
            Body::Json(serde_json::Value::Object(map)) => {
                for (k, v) in map {
                    if let Some(s) = v.as_str() {
                        add(k, s);
                    }
                }
            }
            Body::Form(fields) => {
                for (k, v) in fields {
                    add(k, v);
                }
            }
            _ => continue,
        }
        // The longest first, so a username inside an email is replaced whole.
        values.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
        for (field, value) in values {
            let prefix: String = value
                .chars()
                .take_while(char::is_ascii_alphabetic)
                .take(8)
                .collect();
            let prefix = if prefix.is_empty() {
                "u".to_string()
            } else {
                prefix
            };
            let template = format!("{prefix}_{{{{run_id}}}}_{{{{vu}}}}_{{{{session}}}}");
            let mut count = 0;
            for k in kept[r..].iter_mut() {
                if sends(&k.step, &value) {
                    replace(&mut k.step, &value, &template);
                    count += 1;
                }
            }
            kept[r].step.comments.push(format!(
                "`{field}`: the recorded `{value}` becomes `{template}` here and in {} later request(s): unique \
                 per run, user and session (a registered name is taken after the first session)",
                count - 1
            ));
        }
    }
}

fn is_register(path: &str) -> bool {
    let p = path.split('?').next().unwrap_or("").to_ascii_lowercase();
    ["register", "signup", "sign-up", "sign_up"]
        .iter()
        .any(|w| p.contains(w))
}

/// Every string of a JSON value with its JSON path and its key: `("$.a[0].b", "b", value)`.
fn walk(
    v: &serde_json::Value,
    path: String,
    depth: usize,
    out: &mut Vec<(String, String, String)>,
) {
    use serde_json::Value as J;
    if depth > 32 || out.len() > 10_000 {
        return;
    }
    match v {
        J::Object(map) => {
            for (k, v) in map {
                let p = if !k.is_empty()
                    && !k.starts_with(|c: char| c.is_ascii_digit())
                    && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    format!("{path}.{k}")
                } else if !k.contains(['\'', ']', '\\']) {
                    format!("{path}['{k}']")
                } else {
                    continue;
                };
                if let J::String(s) = v {
                    out.push((p, k.clone(), s.clone()));
                } else {
                    walk(v, p, depth + 1, out);
                }
            }
        }
        J::Array(items) => {
            for (i, v) in items.iter().enumerate().take(50) {
                let p = format!("{path}[{i}]");
                if let J::String(s) = v {
                    let key = path.rsplit(['.', '[']).next().unwrap_or("").to_string();
                    out.push((p, key, s.clone()));
                } else {
                    walk(v, p, depth + 1, out);
                }
            }
        }
        _ => {}
    }
}

/// Whether the request sends `value` somewhere: path, query, a header, the body.
pub(super) fn sends(step: &DraftStep, value: &str) -> bool {
    step.path.contains(value)
        || step.headers.iter().any(|(_, v)| v.contains(value))
        || match &step.body {
            Body::None => false,
            Body::Json(j) => json_has(j, value),
            Body::Form(fields) => fields.iter().any(|(_, v)| v.contains(value)),
            Body::Text(t) => t.contains(value),
        }
}

fn json_has(v: &serde_json::Value, value: &str) -> bool {
    use serde_json::Value as J;
    match v {
        J::String(s) => s.contains(value),
        J::Array(items) => items.iter().any(|v| json_has(v, value)),
        J::Object(map) => map.values().any(|v| json_has(v, value)),
        _ => false,
    }
}

/// `value` replaced by `with` wherever the request sends it.
fn replace(step: &mut DraftStep, value: &str, with: &str) {
    step.path = step.path.replace(value, with);
    for (_, v) in &mut step.headers {
        *v = v.replace(value, with);
    }
    match &mut step.body {
        Body::None => {}
        Body::Json(j) => json_replace(j, value, with),
        Body::Form(fields) => {
            for (_, v) in fields {
                *v = v.replace(value, with);
            }
        }
        Body::Text(t) => *t = t.replace(value, with),
    }
}

fn json_replace(v: &mut serde_json::Value, value: &str, with: &str) {
    use serde_json::Value as J;
    match v {
        J::String(s) => *s = s.replace(value, with),
        J::Array(items) => items.iter_mut().for_each(|v| json_replace(v, value, with)),
        J::Object(map) => map.values_mut().for_each(|v| json_replace(v, value, with)),
        _ => {}
    }
}
