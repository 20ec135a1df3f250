//! Compression (issue 17, item 5), through the real binary: `Accept-Encoding` only when asked for, gzip,
//! deflate (zlib and raw) and br bodies decoded before captures and checks, the bytes counted as received and as
//! decoded, and broken, unknown and explosive bodies failing with a clear kind.

use std::io::Write;

use crate::origin_server::{Origin, answer};
use crate::util::{request, run_results, write};

/// The JSON every coding carries; a capture and an `expect.json` can only pass on it decoded.
const JSON: &str = r#"{"token":"tok-123","n":7,"pad":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}"#;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("compress");
    e.finish().expect("compress")
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("compress");
    e.finish().expect("compress")
}

fn raw_deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("compress");
    e.finish().expect("compress")
}

fn br(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 9, 22);
        w.write_all(data).expect("compress");
    }
    out
}

/// The body and coding each path answers with.
fn encoded(path: &str) -> Option<(&'static str, Vec<u8>)> {
    let json = JSON.as_bytes();
    Some(match path {
        "/gzip" => ("gzip", gzip(json)),
        "/zlib" => ("deflate", zlib(json)),
        "/raw" => ("deflate", raw_deflate(json)),
        "/br" => ("br", br(json)),
        "/cut" => {
            let g = gzip(json);
            ("gzip", g[..g.len() - 12].to_vec())
        }
        "/garbage" => ("gzip", b"this is not gzip".to_vec()),
        "/zstd" => ("zstd", json.to_vec()),
        // 64 MiB of zeros, a few dozen KiB on the wire.
        "/bomb" => ("gzip", gzip(&vec![0u8; 64 << 20])),
        _ => return None,
    })
}

fn server() -> Origin {
    Origin::start("127.0.0.1", |got| match encoded(&got.target) {
        Some((coding, body)) => answer(
            200,
            &format!("content-type: application/json\r\ncontent-encoding: {coding}\r\n"),
            &body,
        ),
        None => answer(200, "content-type: application/json\r\n", JSON.as_bytes()),
    })
}

#[test]
fn compressed_bodies_are_decoded_before_captures_and_checks_and_counted_both_ways() {
    let s = server();
    let dir = tempfile::tempdir().unwrap();
    let step = |name: &str| {
        format!(
            r#"  {{ name = "{name}", path = "/{name}", capture = {{ t = "$.token" }}, expect = {{ json = {{ "$.n" = 7 }} }} }},"#
        )
    };
    let steps: Vec<String> = ["gzip", "zlib", "raw", "br"]
        .iter()
        .map(|n| step(n))
        .collect();
    let file = write(
        dir.path(),
        "compressed.toml",
        &format!(
            r#"
[target]
host = "{url}"
compression = true
[load]
users = 1
duration = "20s"
iterations = 1
[[task]]
name = "flow"
steps = [
{steps}
  {{ name = "plain", path = "/plain", compression = false }},
  {{ name = "own", path = "/plain", headers = {{ Accept-Encoding = "identity" }} }},
  {{ name = "echo", path = "/echo/{{{{t}}}}" }},
]
"#,
            url = s.url,
            steps = steps.join("\n")
        ),
    );
    let r = run_results(&file, 0);
    for (name, coding) in [
        ("gzip", "gzip"),
        ("zlib", "zlib"),
        ("raw", "raw"),
        ("br", "br"),
    ] {
        let q = request(&r, name);
        let sent = encoded(&format!("/{coding}")).unwrap().1.len();
        assert_eq!(q["failures"], 0, "{q}");
        assert_eq!(q["decoded_bodies"], 1, "{name}: {q}");
        assert_eq!(q["encoded_body_bytes"], sent, "{name}: {q}");
        assert_eq!(q["decoded_body_bytes"], JSON.len(), "{name}: {q}");
        assert_eq!(
            q["avg_content_bytes"], sent as f64,
            "bytes on the wire: {q}"
        );
    }
    for name in ["plain", "own", "echo"] {
        assert!(request(&r, name).get("decoded_bodies").is_none());
    }
    let got = s.got();
    let header = |target: &str| {
        got.iter()
            .find(|g| g.target == target)
            .unwrap_or_else(|| panic!("{target} not received"))
            .header("accept-encoding")
            .map(str::to_string)
    };
    assert_eq!(header("/gzip").as_deref(), Some("gzip, deflate, br"));
    // The capture came from the decoded body.
    assert_eq!(
        header("/echo/tok-123").as_deref(),
        Some("gzip, deflate, br")
    );
    let plain: Vec<_> = got.iter().filter(|g| g.target == "/plain").collect();
    assert_eq!(plain.len(), 2);
    assert_eq!(
        plain[0].header("accept-encoding"),
        None,
        "compression = false"
    );
    assert_eq!(
        plain[1].header("accept-encoding"),
        Some("identity"),
        "its own wins"
    );
}

#[test]
fn broken_unknown_and_explosive_bodies_fail_clearly_within_max_body() {
    let s = server();
    let dir = tempfile::tempdir().unwrap();
    for (path, kind, message) in [
        ("/cut", "decode", "the gzip body could not be decoded"),
        ("/garbage", "decode", "the gzip body could not be decoded"),
        (
            "/zstd",
            "decode",
            "Content-Encoding `zstd` is not one loadgen decodes",
        ),
        (
            "/bomb",
            "capture",
            "body larger than max_body (1000000 bytes)",
        ),
    ] {
        let name = &path[1..];
        let file = write(
            dir.path(),
            &format!("{name}.toml"),
            &format!(
                r#"
[target]
host = "{url}"
compression = true
max_body = "1MB"
[load]
users = 1
duration = "20s"
iterations = 1
[[task]]
name = "{name}"
path = "{path}"
capture = {{ t = "$.token" }}
"#,
                url = s.url
            ),
        );
        let r = run_results(&file, 1);
        let f = r["failures"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["name"] == name))
            .unwrap_or_else(|| panic!("no failure for {name}: {r}"));
        assert_eq!(f["kind"], kind, "{f}");
        assert!(
            f["message"].as_str().unwrap_or("").contains(message),
            "{name}: {f}"
        );
        let q = request(&r, name);
        assert_eq!(q["status_codes"]["200"], 1, "{q}");
        if name == "bomb" {
            // Decoding stopped one byte past max_body.
            assert_eq!(q["decoded_body_bytes"], 1_000_001, "{q}");
            assert!(q["encoded_body_bytes"].as_u64().unwrap() < 1_000_000, "{q}");
        }
    }
}
