//! Inputs at the edges of the location code, checked directly (the generators reach them only by chance).
//! No property has failed so far (20,000 and 100,000 cases per property); failures found later go here too.

use std::path::Path;

use super::check_error;
use crate::error::Error;
use crate::plan::{Overrides, resolve};
use crate::scenario::load_str;

fn located(text: &str) -> (usize, usize, String) {
    let path = Path::new("edge.toml");
    let e = match load_str(path, text.to_string()) {
        Err(e) => e,
        Ok(l) => match resolve(&l, &Overrides::default()) {
            Err(Error::Scenario(e)) => e,
            other => panic!("expected a scenario error, got {other:?}"),
        },
    };
    check_error(&Error::Scenario(e.clone()), path, text).unwrap();
    (e.line, e.column, e.message)
}

#[test]
fn an_error_at_the_end_of_a_file_without_a_final_newline() {
    let (line, column, _) = located("[load]\nusers = ");
    assert_eq!((line, column), (2, 9));
}

#[test]
fn crlf_line_ends_and_a_byte_order_mark() {
    let (line, _, m) = located("\u{feff}[load]\r\nusres = 1\r\n");
    assert_eq!(line, 2, "{m}");
    located("\u{feff}");
    located("\r");
}

#[test]
fn an_error_after_multibyte_characters_counts_characters() {
    let (line, column, _) = located("name = \"é🦀\" x");
    assert_eq!((line, column), (1, 13));
}

#[test]
fn an_error_in_an_included_file_is_located_in_that_file() {
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join("part.toml");
    std::fs::write(&part, "[[task]]\nname = \"a\"\npath = \"/x/{{ tokn }}\"\n").unwrap();
    let root = dir.path().join("main.toml");
    let text = "include = \"part.toml\"\n[target]\nhost = \"http://x\"\n[load]\nusers = 1\nduration = \"1s\"\n";
    let loaded = load_str(&root, text.to_string()).unwrap();
    let Err(e) = resolve(&loaded, &Overrides::default()) else {
        panic!("an unknown variable resolved");
    };
    check_error(&e, &root, text).unwrap();
    let Error::Scenario(e) = e else {
        panic!("{e:?}")
    };
    assert_eq!(
        (e.file.as_path(), e.line, e.column),
        (part.as_path(), 3, 12)
    );
}

#[test]
fn a_throughput_too_small_for_a_duration_is_a_located_error_not_a_panic() {
    let base = "[target]\nhost = \"http://x\"\n[load]\nusers = 1\nduration = \"1s\"\n[[task]]\nname = \"a\"\npath = \"/\"\n";
    for n in ["1e-20", "1e-300", "3e-8", "5e-324"] {
        let text = format!("{base}[user]\nwait = {{ constant_throughput = {n} }}\n");
        let (line, _, m) = located(&text);
        assert_eq!(line, 10, "{n}: {m}");
        assert!(m.contains("over the maximum of 365 days"), "{n}: {m}");
    }
    // Just slow enough: one task a day.
    let text = format!("{base}[user]\nwait = {{ constant_throughput = 1.2e-5 }}\n");
    let loaded = load_str(Path::new("ok.toml"), text).unwrap();
    resolve(&loaded, &Overrides::default()).unwrap();
}
