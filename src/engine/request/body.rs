//! Issue 18, items 4 and 5 on the request path: the bodies beyond `json` and `body` (`form`, `multipart`,
//! `body_file`) and the default headers sent only once their captures exist.
//!
//! A body that is all text is written into the send buffer's `wire` like any other (built once when constant);
//! only a body with content that is not UTF-8 (a binary file) is written as bytes, into the buffer's `bytes`,
//! behind its head (see [`super::super::client::SendBuf`]). A scenario without these keys never reaches this
//! module: the renderer checks one field of the prepared step.

use crate::plan::{Body, Piece, Step};
use crate::scenario::template::{Context, Var};

/// The body when nothing in it varies and it is text (`form`, and `multipart` / `body_file` without binary
/// content); `None` otherwise.
pub(super) fn constant_text(body: &Body) -> Option<String> {
    match body {
        Body::Form(fields) => fields.iter().all(|(_, t)| t.is_constant()).then(|| {
            let mut out = String::new();
            write_form(fields, &mut super::NoVars, &mut out, &mut String::new());
            out
        }),
        Body::Pieces(p) => p
            .pieces
            .iter()
            .map(|piece| match piece {
                Piece::Text(t) if t.is_constant() => Some(t.literals().collect::<String>()),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// The body when nothing in it varies and some of it is not UTF-8.
pub(super) fn constant_bytes(body: &Body) -> Option<Vec<u8>> {
    let Body::Pieces(p) = body else { return None };
    let mut out = Vec::new();
    for piece in &p.pieces {
        match piece {
            Piece::Text(t) if t.is_constant() => out.extend(t.literals().flat_map(str::bytes)),
            Piece::Text(_) => return None,
            Piece::Bytes(b) => out.extend_from_slice(b),
        }
    }
    Some(out)
}

/// `a=1&b=x+y`: each name as encoded at load, each value rendered (into `scratch`) and encoded (spaces as `+`,
/// everything but `*-._` and letters and digits as `%XX` of its UTF-8 bytes).
fn write_form(
    fields: &[(String, crate::scenario::template::Template)],
    ctx: &mut dyn Context,
    out: &mut String,
    scratch: &mut String,
) {
    for (i, (name, t)) in fields.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        scratch.clear();
        t.render_into(ctx, scratch);
        out.extend(url::form_urlencoded::byte_serialize(scratch.as_bytes()));
    }
}

/// Renders a `form` body, or a text `multipart` / `body_file` body with variables, into `w`.
pub(super) fn write_text(
    body: &Body,
    ctx: &mut dyn Context,
    w: &mut String,
    scratch: &mut String,
) -> Result<(), String> {
    match body {
        Body::Form(fields) => write_form(fields, ctx, w, scratch),
        Body::Pieces(p) => {
            for piece in &p.pieces {
                if let Piece::Text(t) = piece {
                    let start = w.len();
                    t.render_into(ctx, w);
                    check_boundary(
                        p.boundary.as_deref(),
                        t.is_constant(),
                        &w.as_bytes()[start..],
                    )?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Renders a body with binary content into `out` (cleared first).
pub(super) fn write_bytes(
    body: &Body,
    constant: Option<&[u8]>,
    ctx: &mut dyn Context,
    out: &mut Vec<u8>,
    scratch: &mut String,
) -> Result<(), String> {
    out.clear();
    if let Some(c) = constant {
        out.extend_from_slice(c);
        return Ok(());
    }
    let Body::Pieces(p) = body else {
        return Ok(());
    };
    for piece in &p.pieces {
        match piece {
            Piece::Bytes(b) => out.extend_from_slice(b),
            Piece::Text(t) => {
                scratch.clear();
                t.render_into(ctx, scratch);
                check_boundary(p.boundary.as_deref(), t.is_constant(), scratch.as_bytes())?;
                out.extend_from_slice(scratch.as_bytes());
            }
        }
    }
    Ok(())
}

/// A value rendered into a multipart body must not hold its boundary (it would end its part there); the
/// constant ones were checked when the boundary was chosen.
fn check_boundary(boundary: Option<&str>, constant: bool, rendered: &[u8]) -> Result<(), String> {
    match boundary {
        Some(b) if !constant && contains(rendered, b.as_bytes()) => {
            Err("a multipart value holds the body's boundary; the request is not sent".into())
        }
        _ => Ok(()),
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Whether header `i` of `step` goes out: a default header that uses captures does once the user has them all.
pub(super) fn header_wanted(step: &Step, i: usize, ctx: &dyn Context) -> bool {
    step.header_needs
        .iter()
        .find(|(h, _)| *h == i)
        .is_none_or(|(_, slots)| slots.iter().all(|&s| ctx.is_set(Var::Capture(s))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Pieces;
    use crate::scenario::template::Template;

    struct Vals;
    impl Context for Vals {
        fn write_var(&mut self, _: Var, out: &mut String) {
            out.push_str("a b&c=d é+");
        }
    }

    fn var() -> Template {
        Template::compile(
            "{{x}}",
            |_| Ok::<_, ()>(crate::scenario::template::Resolved::Var(Var::Capture(0))),
            |_| (),
        )
        .unwrap()
    }

    #[test]
    fn form_values_are_encoded_as_browsers_do() {
        let body = Body::Form(vec![
            ("q".into(), var()),
            ("k%26".into(), Template::literal("1 2")),
        ]);
        let mut w = String::new();
        write_text(&body, &mut Vals, &mut w, &mut String::new()).unwrap();
        assert_eq!(w, "q=a+b%26c%3Dd+%C3%A9%2B&k%26=1+2");
        assert_eq!(constant_text(&body), None);
        let fixed = Body::Form(vec![("a".into(), Template::literal("x y"))]);
        assert_eq!(constant_text(&fixed).as_deref(), Some("a=x+y"));
    }

    #[test]
    fn a_value_holding_the_boundary_is_refused() {
        let body = Body::Pieces(Pieces {
            content_type: "multipart/form-data; boundary=b&c".into(),
            pieces: vec![
                Piece::Text(Template::literal("--b&c\r\n")),
                Piece::Text(var()),
            ],
            boundary: Some("b&c".into()),
        });
        let e = write_text(&body, &mut Vals, &mut String::new(), &mut String::new()).unwrap_err();
        assert!(e.contains("boundary"), "{e}");
        let mut out = Vec::new();
        let e = write_bytes(&body, None, &mut Vals, &mut out, &mut String::new()).unwrap_err();
        assert!(e.contains("boundary"), "{e}");
    }

    #[test]
    fn binary_bodies_keep_their_bytes() {
        let all: Vec<u8> = (0..=255).collect();
        let body = Body::Pieces(Pieces {
            content_type: "application/octet-stream".into(),
            pieces: vec![
                Piece::Text(Template::literal("<")),
                Piece::Bytes(all.clone().into()),
                Piece::Text(var()),
            ],
            boundary: None,
        });
        assert_eq!(constant_bytes(&body), None);
        let mut out = vec![1, 2];
        write_bytes(&body, None, &mut Vals, &mut out, &mut String::new()).unwrap();
        let mut want = b"<".to_vec();
        want.extend_from_slice(&all);
        want.extend_from_slice("a b&c=d é+".as_bytes());
        assert_eq!(out, want);
    }
}
