//! Issue 18, items 4 and 5: what a request takes from defaults and the bodies beyond `json` and `body`.
//!
//! Defaults: `headers` at `[target]`, `[user]` and `[classes.NAME]`, checked as a request's own headers are, and
//! merged into every request at load (a request's own header wins over its class's or user's, which wins over the
//! target's; names compare case-insensitively). A default header whose template uses a capture is sent only once
//! the user has that capture: the plan lists, per request, such headers and the capture slots they use
//! ([`Step::header_needs`]), so the engine checks a slot, never a name. `{{env.NAME:-default}}` and env templates
//! in `[target] host` are resolved here, at load.
//!
//! Bodies: `form` (names encoded once, values templates), `multipart` (a random boundary per run, checked against
//! every constant part) and `body_file` (read once, with `crate::files`' kind and size checks). Everything is
//! compiled into [`Body`] pieces: text stays text, and only content that is not UTF-8 becomes bytes, so the engine
//! writes a request as bytes only when it has to.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use rand::distr::Alphanumeric;
use rand::{Rng, SeedableRng};

use super::*;
use crate::plan::request_checks;
use crate::scenario::{HeaderTable, RawClass, SourceFile};

/// The largest file a `body_file` or a `multipart` part reads.
pub(super) const BODY_FILE: crate::files::Limit = crate::files::Limit {
    what: "body file",
    bytes: 10 << 20,
};

/// `{{env.NAME}}` or `{{env.NAME:-default}}` (`spec` is what follows `env.`): its value now, or the default when
/// it is unset or empty; unset without a default is an error.
pub(super) fn env_value(
    loaded: &Loaded,
    file: usize,
    span: Range<usize>,
    v: &RawVar<'_>,
    spec: &str,
) -> Result<Resolved> {
    let (env, default) = match spec.split_once(":-") {
        Some((e, d)) => (e, Some(d)),
        None => (spec, None),
    };
    match (std::env::var(env), default) {
        (Ok(value), Some(d)) if value.is_empty() => Ok(Resolved::Value(d.to_string())),
        (Ok(value), _) => Ok(Resolved::Value(value)),
        (Err(std::env::VarError::NotPresent), Some(d)) => Ok(Resolved::Value(d.to_string())),
        (Err(std::env::VarError::NotUnicode(_)), _) => Err(loaded
            .error_in(
                file,
                span,
                v.text,
                format!("environment variable `{env}` is not valid UTF-8"),
            )
            .into()),
        (Err(_), None) => Err(loaded
            .error_in(
                file,
                span,
                v.text,
                format!("environment variable `{env}` is not set"),
            )
            .with_help(format!(
                "set it before the run: {env}=... loadgen run ..., or give a default: {{{{env.{env}:-value}}}}"
            ))
            .into()),
    }
}

/// `[target] host` as written, its `{{env.NAME}}` (and `{{env.NAME:-default}}`) resolved: no other variable.
pub(super) fn host_text(loaded: &Loaded, file: usize, h: &Spanned<String>) -> Result<String> {
    let span = h.span();
    let t = Template::compile(
        h.get_ref(),
        |v: &RawVar<'_>| {
            match v.name.strip_prefix("env.") {
            Some(spec) => env_value(loaded, file, span.clone(), v, spec),
            None => Err(loaded
                .error_in(
                    file,
                    span.clone(),
                    v.text,
                    format!(
                        "`host` is resolved once, at load: it takes environment variables (`{{{{env.NAME}}}}`, \
                         `{{{{env.NAME:-default}}}}`) but not `{}`",
                        v.text
                    ),
                )
                .into()),
        }
        },
        |e| {
            loaded
                .error_in(file, span.clone(), &e.text, e.message)
                .into()
        },
    )?;
    Ok(t.literals().collect())
}

/// A request's `query`, in key order: a string (a template), a number or a boolean, or a list of them, which
/// repeats the key once per item (`tag = ["a", "b"]` → `tag=a&tag=b`). Values are encoded as they are rendered.
pub(super) fn query(
    loaded: &Loaded,
    file: usize,
    raw: &RawStep,
    names: &Names,
) -> Result<Vec<(String, Template)>> {
    let mut out = Vec::new();
    for (k, v) in raw.query.iter().flatten() {
        let one = |item: &toml::Value| -> Result<Template> {
            match item {
                toml::Value::String(s) => compile(loaded, file, v.span(), s, names),
                toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => {
                    Ok(Template::literal(&item.to_string()))
                }
                other => Err(loaded
                    .error(
                        file,
                        v.span(),
                        format!(
                            "query `{k}`: expected a string, a number, a boolean or a list of them, found {}",
                            other.type_str()
                        ),
                    )
                    .with_help("write query = { page = \"{{n}}\", tag = [\"a\", \"b\"] }")
                    .into()),
            }
        };
        match v.get_ref() {
            toml::Value::Array(items) => {
                for item in items {
                    out.push((k.clone(), one(item)?));
                }
            }
            item => out.push((k.clone(), one(item)?)),
        }
    }
    Ok(out)
}

/// A table of headers as written (a request's own, or a default one), checked: valid names, none that loadgen
/// writes itself, no control character, no name twice (names are case-insensitive).
pub(super) fn header_table(
    loaded: &Loaded,
    file: usize,
    table: &HeaderTable,
    names: &Names,
) -> Result<Vec<(HeaderName, Template)>> {
    let mut out: Vec<(HeaderName, Template)> = Vec::with_capacity(table.len());
    let mut written: Vec<&str> = Vec::with_capacity(table.len());
    for (k, v) in table {
        let h = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
            loaded.error(file, v.span(), format!("`{k}` is not a valid header name"))
        })?;
        if let Some(why) = request_checks::reserved_header(&h) {
            return Err(loaded
                .error(file, v.span(), format!("header `{k}` cannot be set: {why}"))
                .into());
        }
        if let Some(bad) = v.get_ref().chars().find(|c| c.is_control() && *c != '\t') {
            return Err(loaded
                .error(
                    file,
                    v.span(),
                    format!("header `{k}`: the value contains the control character {bad:?}, which HTTP does not allow"),
                )
                .into());
        }
        // Header names are case-insensitive: `Host` and `host` are two TOML keys but one header.
        if let Some(i) = out.iter().position(|(n, _)| *n == h) {
            return Err(loaded
                .error(
                    file,
                    v.span(),
                    format!(
                        "header `{k}` is given twice (also as `{}`): header names are case-insensitive",
                        written[i]
                    ),
                )
                .with_help("keep one of them")
                .into());
        }
        let t = compile(loaded, file, v.span(), v.get_ref(), names)?;
        out.push((h, t));
        written.push(k);
    }
    Ok(out)
}

/// A class's default headers: its own (`[classes.NAME] headers`, or `[user] headers` without classes) over the
/// target's.
pub(super) fn default_headers(
    loaded: &Loaded,
    class: Option<(usize, &HeaderTable)>,
    names: &Names,
) -> Result<Vec<(HeaderName, Template)>> {
    let mut out = match class {
        Some((file, table)) => header_table(loaded, file, table, names)?,
        None => Vec::new(),
    };
    if let Some(t) = &loaded.target
        && let Some(table) = &t.value.headers
    {
        for (name, tpl) in header_table(loaded, t.file, table, names)? {
            if !out.iter().any(|(n, _)| *n == name) {
                out.push((name, tpl));
            }
        }
    }
    Ok(out)
}

/// `[classes.NAME] headers`, where a class source is built.
pub(super) fn class_headers(file: usize, raw: &RawClass) -> Option<(usize, &HeaderTable)> {
    raw.headers.as_ref().map(|h| (file, h))
}

/// Adds `defaults` to a request's headers, except those it sets itself (and a default `Content-Type` when its
/// body has a type of its own: `json`, `form`, `multipart`, `body_file`), noting which need captures.
pub(super) fn merge_default_headers(step: &mut Step, defaults: &[(HeaderName, Template)]) {
    if step.kind == StepKind::Flow || defaults.is_empty() {
        return;
    }
    let own = step.headers.len();
    for (name, t) in defaults {
        if step.headers[..own].iter().any(|(n, _)| n == name)
            || (*name == http::header::CONTENT_TYPE && step.body.content_type().is_some())
        {
            continue;
        }
        let mut needs: Vec<usize> = t
            .vars()
            .filter_map(|v| match v {
                Var::Capture(slot) => Some(slot),
                _ => None,
            })
            .collect();
        needs.dedup();
        if !needs.is_empty() {
            step.header_needs.push((step.headers.len(), needs));
        }
        step.headers.push((name.clone(), t.clone()));
    }
}

/// A request's body: at most one of `json`, `body`, `form`, `multipart` and `body_file`.
pub(super) fn body(loaded: &Loaded, file: usize, raw: &RawStep, names: &Names) -> Result<Body> {
    let given: Vec<(&str, Range<usize>)> = [
        ("json", raw.json.as_ref().map(Spanned::span)),
        ("body", raw.body.as_ref().map(Spanned::span)),
        (
            "form",
            raw.form
                .as_ref()
                .map(|f| f.values().next().map_or(raw.name.span(), Spanned::span)),
        ),
        ("multipart", raw.multipart.as_ref().map(Spanned::span)),
        ("body_file", raw.body_file.as_ref().map(Spanned::span)),
    ]
    .into_iter()
    .filter_map(|(k, s)| s.map(|s| (k, s)))
    .collect();
    if let [(first, span), (second, _), ..] = given.as_slice() {
        return Err(loaded
            .error(
                file,
                span.clone(),
                format!("a request has either `{first}` or `{second}`, not both"),
            )
            .with_help("keep one of json, body, form, multipart and body_file")
            .into());
    }
    if let Some(j) = &raw.json {
        return Ok(Body::Json(json_template(
            loaded,
            file,
            j.span(),
            j.get_ref(),
            names,
        )?));
    }
    if let Some(b) = &raw.body {
        return Ok(Body::Text(compile(
            loaded,
            file,
            b.span(),
            b.get_ref(),
            names,
        )?));
    }
    if let Some(form) = &raw.form {
        return form_body(loaded, file, form, names);
    }
    if let Some(parts) = &raw.multipart {
        return multipart_body(loaded, file, parts, names);
    }
    if let Some(f) = &raw.body_file {
        return file_body(loaded, file, f, names);
    }
    Ok(Body::None)
}

fn form_body(
    loaded: &Loaded,
    file: usize,
    form: &BTreeMap<String, Spanned<String>>,
    names: &Names,
) -> Result<Body> {
    let fields = form
        .iter()
        .map(|(k, v)| {
            let name: String = url::form_urlencoded::byte_serialize(k.as_bytes()).collect();
            Ok((name, compile(loaded, file, v.span(), v.get_ref(), names)?))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Body::Form(fields))
}

/// The `Content-Type` of a file by its extension (`body_file`, a multipart file part without `content_type`).
pub(super) fn content_type_of(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("json") => "application/json",
        Some("xml") => "application/xml",
        Some("txt") => "text/plain",
        _ => "application/octet-stream",
    }
}

/// Reads a file a request sends, relative to the scenario file `file`, with a located error.
fn read_body_file(
    loaded: &Loaded,
    file: usize,
    span: Range<usize>,
    name: &str,
    key: &str,
) -> Result<(std::path::PathBuf, Vec<u8>)> {
    let dir = loaded.files[file].path.parent().unwrap_or(Path::new("."));
    let path = dir.join(name);
    let bytes = crate::files::read_bytes(&path, BODY_FILE).map_err(|e| {
        loaded.error(
            file,
            span,
            format!("`{key}`: cannot read `{}`: {e}", path.display()),
        )
    })?;
    Ok((path, bytes))
}

/// Text as a piece: a literal template, or bytes when it is not UTF-8.
fn literal_piece(bytes: Vec<u8>) -> Piece {
    match String::from_utf8(bytes) {
        Ok(s) => Piece::Text(Template::literal(&s)),
        Err(e) => Piece::Bytes(Arc::from(e.into_bytes())),
    }
}

fn file_body(
    loaded: &Loaded,
    file: usize,
    v: &Spanned<toml::Value>,
    names: &Names,
) -> Result<Body> {
    let help = "write body_file = \"payload.json\" or body_file = { path = \"payload.json\", template = true }";
    let bad = |m: String| -> Error { loaded.error(file, v.span(), m).with_help(help).into() };
    let (name, templated) = match v.get_ref() {
        toml::Value::String(s) => (s.as_str(), false),
        toml::Value::Table(t) => {
            if let Some(k) = t
                .keys()
                .find(|k| !["path", "template"].contains(&k.as_str()))
            {
                return Err(loaded
                    .error(
                        file,
                        v.span(),
                        format!("unknown `body_file` key `{k}`; expected `path` or `template`"),
                    )
                    .suggest(k, ["path", "template"])
                    .into());
            }
            let path = match t.get("path") {
                Some(toml::Value::String(s)) => s.as_str(),
                Some(other) => {
                    return Err(bad(format!(
                        "`body_file.path` is a file name, found {}",
                        other.type_str()
                    )));
                }
                None => return Err(bad("`body_file` needs a `path`".into())),
            };
            let templated = match t.get("template") {
                None => false,
                Some(toml::Value::Boolean(b)) => *b,
                Some(other) => {
                    return Err(bad(format!(
                        "`body_file.template` is true or false, found {}",
                        other.type_str()
                    )));
                }
            };
            (path, templated)
        }
        other => {
            return Err(bad(format!(
                "`body_file` is a file name or a table, found {}",
                other.type_str()
            )));
        }
    };
    if name.trim().is_empty() {
        return Err(bad("`body_file` needs a file name".into()));
    }
    let (path, bytes) = read_body_file(loaded, file, v.span(), name, "body_file")?;
    let content_type = content_type_of(&path).to_string();
    let piece = if templated {
        let text = crate::files::utf8(bytes).map_err(|e| {
            bad(format!(
                "`body_file`: `{}` cannot be a template: {e} (or send it as is: template = false)",
                path.display()
            ))
        })?;
        // Errors in the payload's own variables are located in the payload file.
        let payload = Loaded {
            files: vec![SourceFile {
                path: path.clone(),
                text: text.clone(),
            }],
            ..Loaded::default()
        };
        Piece::Text(compile(&payload, 0, 0..text.len(), &text, names)?)
    } else {
        literal_piece(bytes)
    };
    Ok(Body::Pieces(Pieces {
        content_type,
        pieces: vec![piece],
        boundary: None,
    }))
}

/// One part as read at load: its head (the part's header lines), and its content.
struct PartContent {
    head: String,
    content: PartValue,
}

enum PartValue {
    Template(Template),
    Bytes(Vec<u8>),
}

fn multipart_body(
    loaded: &Loaded,
    file: usize,
    parts: &Spanned<Vec<crate::scenario::RawPart>>,
    names: &Names,
) -> Result<Body> {
    if parts.get_ref().is_empty() {
        return Err(loaded
            .error(file, parts.span(), "`multipart` has no parts")
            .with_help("write multipart = [{ name = \"title\", value = \"Hello\" }, { name = \"file\", file = \"a.png\" }]")
            .into());
    }
    // A quoted parameter of Content-Disposition holds no quote, backslash or control character.
    let quoted = |what: &str, s: &Spanned<String>| -> Result<()> {
        match s
            .get_ref()
            .chars()
            .find(|c| c.is_control() || *c == '"' || *c == '\\')
        {
            Some(c) => Err(loaded
                .error(
                    file,
                    s.span(),
                    format!("multipart `{what}` cannot hold {c:?} (it is written in quotes in the part's header)"),
                )
                .into()),
            None => Ok(()),
        }
    };
    let mut read: Vec<PartContent> = Vec::with_capacity(parts.get_ref().len());
    for p in parts.get_ref() {
        if p.name.get_ref().is_empty() {
            return Err(loaded
                .error(
                    file,
                    p.name.span(),
                    "a multipart part's `name` must not be empty",
                )
                .into());
        }
        quoted("name", &p.name)?;
        let mut head = format!(
            "Content-Disposition: form-data; name=\"{}\"",
            p.name.get_ref()
        );
        let (content, file_type) = match (&p.value, &p.file) {
            (Some(v), None) => (
                PartValue::Template(compile(loaded, file, v.span(), v.get_ref(), names)?),
                None,
            ),
            (None, Some(f)) => {
                let (path, bytes) =
                    read_body_file(loaded, file, f.span(), f.get_ref(), "multipart")?;
                let base = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                (
                    PartValue::Bytes(bytes),
                    Some((base, content_type_of(&path))),
                )
            }
            (Some(_), Some(f)) => {
                return Err(loaded
                    .error(
                        file,
                        f.span(),
                        format!(
                            "multipart part `{}` has both `value` and `file`: give one",
                            p.name.get_ref()
                        ),
                    )
                    .into());
            }
            (None, None) => {
                return Err(loaded
                    .error(
                        file,
                        p.name.span(),
                        format!(
                            "multipart part `{}` has neither `value` nor `file`",
                            p.name.get_ref()
                        ),
                    )
                    .with_help("a field: { name = \"title\", value = \"...\" }; a file: { name = \"avatar\", file = \"avatar.png\" }")
                    .into());
            }
        };
        let filename = match &p.filename {
            Some(f) => {
                quoted("filename", f)?;
                Some(f.get_ref().clone())
            }
            None => file_type
                .as_ref()
                .map(|(base, _)| base.replace(['"', '\\'], "_")),
        };
        if let Some(f) = filename.filter(|f| !f.chars().any(char::is_control)) {
            head.push_str("; filename=\"");
            head.push_str(&f);
            head.push('"');
        }
        let content_type = match &p.content_type {
            Some(ct) => {
                if ct.get_ref().trim().is_empty() || ct.get_ref().chars().any(|c| c.is_control()) {
                    return Err(loaded
                        .error(
                            file,
                            ct.span(),
                            "multipart `content_type` must be a media type such as \"image/png\", on one line",
                        )
                        .into());
                }
                Some(ct.get_ref().as_str())
            }
            None => file_type.as_ref().map(|(_, ct)| *ct),
        };
        if let Some(ct) = content_type {
            head.push_str("\r\nContent-Type: ");
            head.push_str(ct);
        }
        read.push(PartContent { head, content });
    }
    let boundary = pick_boundary(&read, run_random(&read)).ok_or_else(|| -> Error {
        loaded
            .error(
                file,
                parts.span(),
                "no multipart boundary could be found that the parts do not hold",
            )
            .into()
    })?;
    Ok(Body::Pieces(multipart_pieces(read, boundary)))
}

/// Random letters and digits for a boundary: drawn from a seed made once per process and the parts' content,
/// so a boundary differs from run to run but a scenario resolved twice in one run (`run --demo` resolves its
/// plan again for the API's address) gets the same plan.
fn run_random(parts: &[PartContent]) -> impl FnMut(usize) -> String {
    use std::hash::{Hash, Hasher};
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let seed = *SEED.get_or_init(|| rand::rng().random());
    let mut h = std::hash::DefaultHasher::new();
    seed.hash(&mut h);
    for p in parts {
        p.head.hash(&mut h);
        match &p.content {
            PartValue::Bytes(b) => b.hash(&mut h),
            PartValue::Template(t) => t.source().hash(&mut h),
        }
    }
    let mut rng = rand::rngs::SmallRng::seed_from_u64(h.finish());
    move |len| {
        (&mut rng)
            .sample_iter(Alphanumeric)
            .take(len)
            .map(char::from)
            .collect()
    }
}

/// A boundary (`loadgen-` and random letters and digits) that no constant text of the parts holds; `None` after
/// many tries (parts made to hold every candidate, which random candidates make practically impossible).
fn pick_boundary(parts: &[PartContent], mut random: impl FnMut(usize) -> String) -> Option<String> {
    (0..32).find_map(|_| {
        let b = format!("loadgen-{}", random(24));
        let held = parts.iter().any(|p| {
            contains(p.head.as_bytes(), b.as_bytes())
                || match &p.content {
                    PartValue::Bytes(bytes) => contains(bytes, b.as_bytes()),
                    PartValue::Template(t) => t.literals().any(|l| l.contains(b.as_str())),
                }
        });
        (!held).then_some(b)
    })
}

/// Whether `needle` occurs in `hay`.
pub(crate) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// The multipart body as pieces: constant text merged, a value with variables a template of its own, content
/// that is not UTF-8 as bytes.
fn multipart_pieces(parts: Vec<PartContent>, boundary: String) -> Pieces {
    let mut pieces = Vec::new();
    let mut lit: Vec<u8> = Vec::new();
    let flush = |lit: &mut Vec<u8>, pieces: &mut Vec<Piece>| {
        if !lit.is_empty() {
            pieces.push(literal_piece(std::mem::take(lit)));
        }
    };
    for p in parts {
        lit.extend_from_slice(b"--");
        lit.extend_from_slice(boundary.as_bytes());
        lit.extend_from_slice(b"\r\n");
        lit.extend_from_slice(p.head.as_bytes());
        lit.extend_from_slice(b"\r\n\r\n");
        match p.content {
            PartValue::Template(t) if t.is_constant() => {
                lit.extend(t.literals().flat_map(str::bytes));
            }
            PartValue::Template(t) => {
                flush(&mut lit, &mut pieces);
                pieces.push(Piece::Text(t));
            }
            PartValue::Bytes(b) => lit.extend_from_slice(&b),
        }
        lit.extend_from_slice(b"\r\n");
    }
    lit.extend_from_slice(b"--");
    lit.extend_from_slice(boundary.as_bytes());
    lit.extend_from_slice(b"--\r\n");
    flush(&mut lit, &mut pieces);
    Pieces {
        content_type: format!("multipart/form-data; boundary={boundary}"),
        pieces,
        boundary: Some(boundary),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(head: &str, content: PartValue) -> PartContent {
        PartContent {
            head: head.into(),
            content,
        }
    }

    #[test]
    fn a_boundary_is_never_one_the_parts_hold() {
        let parts = vec![part("h", PartValue::Bytes(b"xx loadgen-AAAA yy".to_vec()))];
        let mut tries = ["AAAA", "AAAA", "BBBB"].into_iter();
        let b = pick_boundary(&parts, |_| tries.next().unwrap_or("CCCC").to_string());
        assert_eq!(b.as_deref(), Some("loadgen-BBBB"));
        assert_eq!(pick_boundary(&parts, |_| "AAAA".into()), None);
    }

    #[test]
    fn multipart_pieces_keep_binary_content_as_bytes() {
        let all: Vec<u8> = (0..=255).collect();
        let p = multipart_pieces(
            vec![
                part("A", PartValue::Template(Template::literal("v"))),
                part("B", PartValue::Bytes(all.clone())),
            ],
            "X".into(),
        );
        assert_eq!(p.content_type, "multipart/form-data; boundary=X");
        let [Piece::Bytes(b)] = p.pieces.as_slice() else {
            panic!("one binary piece: {:?}", p.pieces)
        };
        let mut want = b"--X\r\nA\r\n\r\nv\r\n--X\r\nB\r\n\r\n".to_vec();
        want.extend_from_slice(&all);
        want.extend_from_slice(b"\r\n--X--\r\n");
        assert_eq!(&b[..], &want[..]);
        assert!(p.is_binary());
        let text = multipart_pieces(
            vec![part("A", PartValue::Template(Template::literal("v")))],
            "X".into(),
        );
        assert!(!text.is_binary());
    }

    #[test]
    fn content_types_by_extension() {
        assert_eq!(content_type_of(Path::new("a/b.JSON")), "application/json");
        assert_eq!(content_type_of(Path::new("b.xml")), "application/xml");
        assert_eq!(content_type_of(Path::new("b.txt")), "text/plain");
        assert_eq!(
            content_type_of(Path::new("b.png")),
            "application/octet-stream"
        );
        assert_eq!(content_type_of(Path::new("b")), "application/octet-stream");
    }
}
