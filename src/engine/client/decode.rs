//! Compressed bodies decoded (issue 17, item 5): what `Content-Encoding` says (gzip, deflate as zlib or raw —
//! browsers accept both —, br; several in the order they were applied), decoded with flate2 and
//! brotli-decompressor before captures and checks read the body.
//!
//! Only a body that is kept (a capture or an `expect.json` reads it) is decoded: the others are counted as they
//! arrive and never held, and decoding them would spend the load generator's CPU on bytes nobody reads. The
//! decoded size counts against `max_body` as the received size does: decoding stops one byte past it, so a
//! decompression bomb (a few KiB that inflate to gigabytes) never holds more than `max_body` in memory; the body
//! is then dropped and the capture fails as for a long plain body. An unknown coding or broken data is an
//! error that says which, never a panic.

use std::io::Read;

/// A decoded body.
#[derive(Debug)]
pub struct Decoded {
    /// Empty when `oversize`.
    pub body: Vec<u8>,
    /// Decoding went past `max`: the body was dropped.
    pub oversize: bool,
    /// Bytes decoded (up to `max + 1` when it stopped there).
    pub bytes: u64,
}

/// Decodes `data`, sent with `Content-Encoding: encoding`, to at most `max` bytes.
pub fn decode(encoding: &str, data: Vec<u8>, max: u64) -> Result<Decoded, String> {
    let mut body = data;
    // Applied in the order listed: undone from the last.
    for coding in encoding.rsplit(',').map(str::trim) {
        let out = match coding.to_ascii_lowercase().as_str() {
            "" | "identity" => continue,
            "gzip" | "x-gzip" => bounded(flate2::read::GzDecoder::new(&body[..]), max),
            "deflate" => inflate(&body, max),
            "br" => bounded(brotli_decompressor::Decompressor::new(&body[..], 4096), max),
            other => {
                return Err(format!(
                    "the answer's Content-Encoding `{}` is not one loadgen decodes (gzip, deflate, br)",
                    other.escape_debug()
                ));
            }
        };
        body = out.map_err(|e| format!("the {coding} body could not be decoded: {e}"))?;
        if body.len() as u64 > max {
            return Ok(Decoded {
                body: Vec::new(),
                oversize: true,
                bytes: body.len() as u64,
            });
        }
    }
    Ok(Decoded {
        bytes: body.len() as u64,
        body,
        oversize: false,
    })
}

/// Reads `r` to its end or to `max + 1` bytes, whichever comes first.
fn bounded(r: impl Read, max: u64) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    r.take(max.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

/// `deflate`: a zlib stream (RFC 1950) as the specification says, or a raw deflate stream (RFC 1951) as some
/// servers send; to its end (a stream cut short is an error) or to `max + 1` bytes.
fn inflate(data: &[u8], max: u64) -> Result<Vec<u8>, String> {
    let zlib = data.len() >= 2
        && data[0] & 0x0f == 8
        && (u16::from(data[0]) << 8 | u16::from(data[1])) % 31 == 0;
    let mut d = flate2::Decompress::new(zlib);
    let limit = usize::try_from(max.saturating_add(1)).unwrap_or(usize::MAX);
    let mut out: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 16 << 10];
    loop {
        let (in_before, out_before) = (d.total_in(), d.total_out());
        let at = usize::try_from(in_before)
            .unwrap_or(data.len())
            .min(data.len());
        let status = d
            .decompress(&data[at..], &mut chunk, flate2::FlushDecompress::None)
            .map_err(|e| e.to_string())?;
        let made = usize::try_from(d.total_out() - out_before).unwrap_or(0);
        out.extend_from_slice(&chunk[..made.min(limit - out.len())]);
        if status == flate2::Status::StreamEnd || out.len() >= limit {
            return Ok(out);
        }
        if d.total_in() == in_before && made == 0 {
            return Err("the stream ends before its end mark (truncated)".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn every_coding_decodes_and_garbage_is_an_error() {
        let text = b"{\"token\":\"abc\"}".repeat(50);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&text).unwrap();
        let zlib = z.finish().unwrap();
        let mut r = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        r.write_all(&text).unwrap();
        let raw = r.finish().unwrap();
        for (enc, data) in [
            ("gzip", gzip(&text)),
            ("x-gzip", gzip(&text)),
            ("deflate", zlib.clone()),
            ("deflate", raw),
            ("identity", text.clone()),
            ("gzip, identity", gzip(&text)),
        ] {
            let d = decode(enc, data, 1 << 20).unwrap();
            assert_eq!(
                (d.body, d.oversize, d.bytes),
                (text.clone(), false, 750),
                "{enc}"
            );
        }
        // Two codings, undone from the last.
        let d = decode("deflate, gzip", gzip(&zlib), 1 << 20).unwrap();
        assert_eq!(d.body, text);

        let cut = gzip(&text);
        let e = decode("gzip", cut[..cut.len() / 2].to_vec(), 1 << 20).unwrap_err();
        assert!(e.starts_with("the gzip body could not be decoded"), "{e}");
        let e = decode("deflate", zlib[..zlib.len() / 2].to_vec(), 1 << 20).unwrap_err();
        assert!(e.contains("truncated"), "{e}");
        assert!(decode("gzip", b"not gzip at all".to_vec(), 1 << 20).is_err());
        assert!(decode("br", b"\xff\xff\xff garbage".to_vec(), 1 << 20).is_err());
        let e = decode("zstd", text.clone(), 1 << 20).unwrap_err();
        assert!(e.contains("`zstd` is not one loadgen decodes"), "{e}");
    }

    #[test]
    fn a_bomb_stops_one_byte_past_the_limit() {
        let zeros = vec![0u8; 50 << 20];
        let bomb = gzip(&zeros);
        assert!(bomb.len() < 100 << 10, "{} bytes", bomb.len());
        let d = decode("gzip", bomb, 1 << 20).unwrap();
        assert!(d.oversize && d.body.is_empty());
        assert_eq!(d.bytes, (1 << 20) + 1);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&zeros).unwrap();
        let d = decode("deflate", z.finish().unwrap(), 1 << 20).unwrap();
        assert!(d.oversize);
        assert_eq!(d.bytes, (1 << 20) + 1);
    }
}
