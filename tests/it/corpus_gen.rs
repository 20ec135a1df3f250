//! Generators for the fault corpus ([`crate::corpus`]): inputs a text fixture cannot express (crafted binary
//! encodings, files built from a valid run's results), made at test time by name.

use std::path::Path;

/// Writes the input `name` to `path`.
pub fn generate(name: &str, path: &Path) {
    match name {
        // A file of 4 KiB of bytes that are not UTF-8 after a valid first line.
        "invalid_utf8_line_9" => {
            let mut bytes = Vec::new();
            for i in 1..9 {
                bytes.extend_from_slice(format!("# line {i}\n").as_bytes());
            }
            bytes.extend_from_slice(b"name = \"\xff\xfe\"\n");
            std::fs::write(path, bytes).expect("write");
        }
        other => panic!("no corpus generator named {other:?}"),
    }
}
