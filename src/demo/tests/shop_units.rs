//! Unit tests of the shop's pure parts: the multipart parser (binary content, preamble and epilogue, quoted and
//! extended parameters, each malformed shape), the boundary of a Content-Type, and the bounds of the form sessions.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use super::super::multipart::{MAX_PARTS, MultipartError, Part, boundary, parse};
use super::super::shop_store::{MAX_SESSIONS, SESSION_IDLE, Sessions, hex128, parse_hex128};

#[test]
fn boundary_from_content_type() {
    let b = |ct| boundary(ct).map(Cow::into_owned);
    assert_eq!(
        b("multipart/form-data; boundary=abc").as_deref(),
        Some("abc")
    );
    assert_eq!(
        b("Multipart/Form-Data;charset=utf-8;BOUNDARY=\"a;b c\"").as_deref(),
        Some("a;b c")
    );
    assert_eq!(b("multipart/form-data"), None);
    assert_eq!(b("multipart/form-data; boundary="), None);
    assert_eq!(b("multipart/mixed; boundary=abc"), None);
    assert_eq!(b("application/json"), None);
    let long = format!("multipart/form-data; boundary={}", "x".repeat(71));
    assert_eq!(b(&long), None);
}

#[test]
fn parts_are_binary_safe_and_parameters_decoded() {
    let data: Vec<u8> = (0..=255u8).chain(*b"\r\n--XY\r\n--X\r\n").collect();
    let mut body = b"preamble to ignore\r\n--XYZ \t\r\n".to_vec();
    body.extend_from_slice(
        b"content-disposition: form-data; name=\"up\"; filename=\"a \\\"q\\\";b.bin\"\r\n\
          content-type: application/octet-stream\r\n\r\n",
    );
    body.extend_from_slice(&data);
    body.extend_from_slice(
        b"\r\n--XYZ\r\nContent-Disposition: form-data; name=plain; filename*=UTF-8''na%C3%AFve.txt\r\n\r\n\
          \r\n--XYZ--\r\nepilogue --XYZ junk",
    );
    let parts = parse(&body, "XYZ").unwrap();
    assert_eq!(
        parts,
        vec![
            Part {
                name: "up".into(),
                filename: Some("a \"q\";b.bin".into()),
                content_type: Some("application/octet-stream"),
                data: &data,
            },
            Part {
                name: "plain".into(),
                filename: Some("naïve.txt".into()),
                content_type: None,
                data: b"",
            },
        ]
    );
    // No parts at all: just the closing delimiter.
    assert_eq!(parse(b"--XYZ--\r\n", "XYZ").unwrap(), vec![]);
}

#[test]
fn malformed_bodies_say_what_is_wrong() {
    let part = "Content-Disposition: form-data; name=\"a\"\r\n\r\nvalue";
    let cases: [(String, MultipartError); 7] = [
        (String::new(), MultipartError::NoDelimiter),
        ("no delimiter here".into(), MultipartError::NoDelimiter),
        (format!("--B\r\n{part}"), MultipartError::Unterminated),
        (
            format!("--B\r\n{part}\r\n--B"),
            MultipartError::Unterminated,
        ),
        (
            format!("--Bjunk\r\n{part}\r\n--B--"),
            MultipartError::BadDelimiterLine,
        ),
        (
            "--B\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nv\r\n--B--".into(),
            MultipartError::NoName,
        ),
        (
            "--B\r\nContent-Type: text/plain\r\n\r\nv\r\n--B--".into(),
            MultipartError::NoName,
        ),
    ];
    for (body, want) in cases {
        assert_eq!(parse(body.as_bytes(), "B"), Err(want), "{body:?}");
    }
    assert_eq!(
        parse(b"--B\r\nbad header line\r\n\r\nv\r\n--B--", "B"),
        Err(MultipartError::BadHeaders)
    );
    let many = format!(
        "{}--B--",
        format!("--B\r\n{part}\r\n").repeat(MAX_PARTS + 1)
    );
    assert_eq!(
        parse(many.as_bytes(), "B"),
        Err(MultipartError::TooManyParts)
    );
    let enough = format!("{}--B--", format!("--B\r\n{part}\r\n").repeat(MAX_PARTS));
    assert_eq!(parse(enough.as_bytes(), "B").unwrap().len(), MAX_PARTS);
}

#[test]
fn session_ids_are_lowercase_hex() {
    let v = 0x0123_4567_89ab_cdef_0011_2233_4455_6677u128;
    assert_eq!(parse_hex128(&hex128(v)), Some(v));
    assert_eq!(parse_hex128(&hex128(v).to_uppercase()), None);
    assert_eq!(parse_hex128("12"), None);
    assert_eq!(parse_hex128(&"g".repeat(32)), None);
}

#[test]
fn sessions_stay_bounded_and_the_least_recently_seen_go_first() {
    let sessions = Sessions::new();
    let t0 = Instant::now();
    let (first, first_token) = sessions.issue(None, t0);
    let first = hex128(first);
    let mut last = (0, 0);
    for i in 1..(MAX_SESSIONS + MAX_SESSIONS / 2) {
        last = sessions.issue(None, t0 + Duration::from_micros(i as u64));
    }
    assert!(
        sessions.len() <= MAX_SESSIONS,
        "{} sessions",
        sessions.len()
    );
    assert!(
        sessions.len() >= MAX_SESSIONS / 2,
        "{} sessions",
        sessions.len()
    );
    let now = t0 + Duration::from_secs(1);
    assert!(
        !sessions.token_ok(&first, &hex128(first_token), now),
        "the oldest went"
    );
    assert!(
        sessions.token_ok(&hex128(last.0), &hex128(last.1), now),
        "the newest stays"
    );
    // Sessions idle for SESSION_IDLE are dropped first, whatever their number.
    let later = t0 + SESSION_IDLE + Duration::from_secs(60);
    let kept: Vec<_> = (0..MAX_SESSIONS / 2)
        .map(|_| sessions.issue(None, later))
        .collect();
    assert!(sessions.len() <= MAX_SESSIONS);
    let alive = kept
        .iter()
        .filter(|(id, t)| sessions.token_ok(&hex128(*id), &hex128(*t), later))
        .count();
    // Each shard drops its idle sessions before any fresh one: every fresh one stays.
    assert_eq!(alive, kept.len());
}
