use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::*;

const PATH: &str = "accounts.csv";

fn parse(text: &str) -> Result<DataSet, DataError> {
    DataSet::parse(Path::new(PATH), text)
}

fn parse_ok(text: &str) -> DataSet {
    parse(text).expect("test data should parse")
}

fn parse_err(text: &str) -> String {
    match parse(text) {
        Ok(set) => panic!("expected an error for {text:?}, got {set:?}"),
        Err(e) => e.to_string(),
    }
}

fn rows(set: &DataSet) -> Vec<Vec<&str>> {
    (0..set.len())
        .map(|r| (0..set.columns().len()).map(|c| set.value(r, c)).collect())
        .collect()
}

fn feeder(rows: usize, assign: Assign) -> Feeder {
    let mut text = String::from("id\n");
    for i in 0..rows {
        text.push_str(&format!("{i}\n"));
    }
    Feeder::new(Arc::new(parse_ok(&text)), assign)
}

fn no_draw() -> f64 {
    panic!("only assign = \"random\" may ask for a draw")
}

#[test]
fn assign_names_round_trip() {
    assert_eq!(Assign::NAMES.len(), 3);
    for name in Assign::NAMES {
        let assign = Assign::parse(name).unwrap();
        assert_eq!(assign.as_str(), *name);
        assert_eq!(assign.to_string(), *name);
    }
    assert_eq!(Assign::parse("round_robin"), Some(Assign::RoundRobin));
    assert_eq!(Assign::parse("Unique"), None);
    assert_eq!(Assign::parse("round-robin"), None);
}

#[test]
fn parses_header_and_rows() {
    let set = parse_ok("username,password\nalice,a1\nbob,b2\n");
    assert_eq!(set.columns(), ["username", "password"]);
    assert_eq!(set.column("password"), Some(1));
    assert_eq!(set.column("email"), None);
    assert_eq!(set.len(), 2);
    assert!(!set.is_empty());
    assert_eq!(rows(&set), [["alice", "a1"], ["bob", "b2"]]);
    assert_eq!(set.path(), Path::new(PATH));
}

#[test]
fn quoted_fields_keep_commas_quotes_and_line_breaks() {
    let set = parse_ok("name,note\n\"Doe, Jane\",\"she said \"\"hi\"\"\nand left\"\n\"\",x\n");
    assert_eq!(
        rows(&set),
        [["Doe, Jane", "she said \"hi\"\nand left"], ["", "x"]]
    );
}

#[test]
fn values_are_kept_exactly_but_column_names_are_trimmed() {
    let set = parse_ok(" username ,\tpassword\n  alice , pass word \n");
    assert_eq!(set.columns(), ["username", "password"]);
    assert_eq!(rows(&set), [["  alice ", " pass word "]]);
}

#[test]
fn a_utf8_bom_is_not_part_of_the_first_column_name() {
    let set = parse_ok("\u{feff}username,password\nalice,a1\n");
    assert_eq!(set.columns(), ["username", "password"]);
    assert_eq!(set.column("username"), Some(0));
    // Positions are counted without it too.
    assert!(
        parse_err("\u{feff}1st,b\nx,y\n")
            .starts_with("accounts.csv:1:1: column 1 `1st` starts with a digit"),
    );
}

#[test]
fn crlf_line_ends_work() {
    let set = parse_ok("username,password\r\nalice,a1\r\n\"b\r\nob\",b2\r\n");
    assert_eq!(rows(&set), [["alice", "a1"], ["b\r\nob", "b2"]]);
    assert_eq!(
        parse_err("a,b\r\n1,2\r\n\"x\r\ny\",2\r\n3\r\n"),
        "accounts.csv:5: row has 1 field, the header has 2; give every column a value (an empty value is nothing \
         between two commas)"
    );
}

#[test]
fn empty_lines_are_skipped() {
    let set = parse_ok("a,b\n1,2\n\n3,4\n\n\n");
    assert_eq!(rows(&set), [["1", "2"], ["3", "4"]]);
    let set = parse_ok("a\r\nx\r\n\r\n\r\n");
    assert_eq!(rows(&set), [["x"]]);
}

#[test]
fn fixture_file_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/data/accounts.csv");
    let set = DataSet::load(&path).unwrap();
    assert_eq!(set.columns(), ["username", "password"]);
    assert_eq!(set.len(), 5);
    assert_eq!(set.value(1, 1), "p,ss \"2\"");
    assert_eq!(set.value(4, 0), "erin");
    assert_eq!(set.path(), path);
}

#[test]
fn get_is_none_out_of_range() {
    let set = parse_ok("a,b\n1,2\n3,4\n");
    assert_eq!(set.get(1, 1), Some("4"));
    assert_eq!(set.get(2, 0), None);
    assert_eq!(set.get(0, 2), None);
}

#[test]
fn debug_does_not_dump_the_values() {
    let set = parse_ok("user\nsecret-value\n");
    let debug = format!("{set:?}");
    assert!(debug.contains("rows: 1"), "{debug}");
    assert!(!debug.contains("secret-value"), "{debug}");
}

#[test]
fn empty_file_is_an_error() {
    for text in ["", "\n\n", "\r\n", "\u{feff}"] {
        assert_eq!(
            parse_err(text),
            "accounts.csv:1:1: the data file is empty; expected a header line naming the columns, e.g. \
             `username,password`, then one row of values per line",
            "{text:?}"
        );
    }
}

#[test]
fn header_without_rows_is_an_error() {
    for text in [
        "username,password",
        "username,password\n",
        "username,password\r\n\r\n",
    ] {
        assert_eq!(
            parse_err(text),
            "accounts.csv: has a header (username,password) but no rows; add one line of values per user below \
             the header",
            "{text:?}"
        );
    }
}

#[test]
fn column_names_must_be_identifiers() {
    let cases = [
        (
            "username,user name\n",
            "accounts.csv:1:10: column 2 `user name` contains a space;",
        ),
        (
            "a,  1x\n",
            "accounts.csv:1:5: column 2 `1x` starts with a digit;",
        ),
        (
            "a,\"b-c\"\n",
            "accounts.csv:1:4: column 2 `b-c` contains `-`;",
        ),
        (
            "a,\" b.c\"\n",
            "accounts.csv:1:5: column 2 `b.c` contains `.`;",
        ),
        ("a,,b\n", "accounts.csv:1:3: column 2 has an empty name;"),
        ("a,   ,b\n", "accounts.csv:1:3: column 2 has an empty name;"),
        (
            "a,b,\n",
            "accounts.csv:1:5: column 3 has an empty name (is there a trailing comma?);",
        ),
        (
            "naïve\n",
            "accounts.csv:1:1: column 1 `naïve` contains `ï`;",
        ),
        (
            "ok,\"a\nb\",c\n",
            "accounts.csv:1:5: column 2 `a\nb` contains a line break;",
        ),
        // Columns count the raw text, quotes included.
        (
            "ok,\"a\"\"b\",c d\n",
            "accounts.csv:1:5: column 2 `a\"b` contains `\"`;",
        ),
        (
            "ok,\"a_b\",c d\r\nx,y,z\r\n",
            "accounts.csv:1:10: column 3 `c d` contains a space;",
        ),
        // Empty lines before the header are skipped, and counted.
        (
            "\n\nid,user name\n",
            "accounts.csv:3:4: column 2 `user name` contains a space;",
        ),
    ];
    for (text, want) in cases {
        let got = parse_err(text);
        assert!(got.starts_with(want), "{text:?}\n got: {got}\nwant: {want}");
        assert!(got.ends_with(
            "so each must be a letter or `_` followed by letters, digits or `_` (e.g. `user_name`)"
        ));
        assert!(got.contains("as `{{data.NAME}}`"), "{got}");
    }
    // Leading underscores and digits after the first character are fine.
    assert_eq!(
        parse_ok("_a,b2,C_3\n1,2,3\n").columns(),
        ["_a", "b2", "C_3"]
    );
}

#[test]
fn duplicate_column_names_point_at_the_second() {
    assert_eq!(
        parse_err("id,name,id\n1,2,3\n"),
        "accounts.csv:1:9: duplicate column name `id`, already used at 1:1; column names must be unique"
    );
    assert_eq!(
        parse_err("id,name, name \n1,2,3\n"),
        "accounts.csv:1:10: duplicate column name `name`, already used at 1:4; column names must be unique"
    );
    // Names are case-sensitive, like template references.
    assert_eq!(parse_ok("id,ID\n1,2\n").columns(), ["id", "ID"]);
}

#[test]
fn rows_must_have_as_many_fields_as_the_header() {
    assert_eq!(
        parse_err("a,b\n1,2\n1,2,3\n"),
        "accounts.csv:3: row has 3 fields, the header has 2; quote values that contain a comma, e.g. `\"a,b\"`"
    );
    assert_eq!(
        parse_err("a,b\n1\n"),
        "accounts.csv:2: row has 1 field, the header has 2; give every column a value (an empty value is \
         nothing between two commas)"
    );
    // Lines inside quoted values and skipped empty lines count.
    assert!(
        parse_err("a,b\n\"x\ny\",1\n\n1,2,3\n").starts_with("accounts.csv:5: row has 3 fields")
    );
    assert!(parse_err("a,b\n1,2\n\n\r\n\n3\n").starts_with("accounts.csv:6: row has 1 field,"));
    // A line of spaces is a value, not an empty line.
    assert!(parse_err("a,b\n1,2\n  \n").starts_with("accounts.csv:3: row has 1 field,"));
}

#[test]
fn invalid_utf8_is_located() {
    let err = decode(Path::new(PATH), b"a,b\nok,caf\xe9 x\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "accounts.csv:2:7: the data file is not valid UTF-8 here; save it as UTF-8"
    );
    // Through load, with the path as given.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.csv");
    std::fs::write(&path, b"n\xe4me,b\n1,2\n").unwrap();
    let err = DataSet::load(&path).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}:1:2: the data file is not valid UTF-8 here; save it as UTF-8",
            path.display()
        )
    );
}

#[test]
fn missing_file_names_the_path_and_the_os_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.csv");
    let err = DataSet::load(&path).unwrap_err();
    assert!(
        matches!(&err, DataError::Read { io, .. } if io.kind() == std::io::ErrorKind::NotFound)
    );
    let os = std::fs::read(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}: cannot read the data file: {os}", path.display())
    );
    assert!(err.to_string().contains("os error 2"), "{err}");
    assert!(
        std::error::Error::source(&err).is_none(),
        "the OS error is in the message, not repeated as a cause"
    );
}

#[test]
fn a_million_rows_load_compactly() {
    let mut text = String::from("username,password\n");
    for i in 0..1_000_000 {
        text.push_str(&format!("user{i},pass{i}\n"));
    }
    let set = parse_ok(&text);
    assert_eq!(set.len(), 1_000_000);
    assert_eq!(set.value(999_999, 0), "user999999");
    assert_eq!(set.value(123_456, 1), "pass123456");
    // One string for all values and one offset per value: no per-value allocation.
    assert!(set.text.capacity() < text.len());
    assert_eq!(set.bounds.len(), 2_000_001);
}

#[test]
fn unique_gives_user_n_row_n_minus_1_then_exhausted() {
    let feeder = feeder(3, Assign::Unique);
    assert_eq!(feeder.assign(), Assign::Unique);
    assert_eq!(feeder.set().len(), 3);
    // By number, whatever order the users ask in, and the same row each time a user asks.
    for user in [3u64, 1, 2, 3] {
        assert_eq!(feeder.take(user, no_draw), Ok(user as usize - 1));
    }
    let err = feeder.take(4, no_draw).unwrap_err();
    assert_eq!(
        err,
        Exhausted {
            rows: 3,
            path: PathBuf::from(PATH),
            user: 4
        }
    );
    assert_eq!(feeder.take(u64::MAX, no_draw).unwrap_err().user, u64::MAX);
}

#[test]
fn exhausted_says_what_to_do() {
    let err = Exhausted {
        rows: 100,
        path: PathBuf::from("accounts.csv"),
        user: 101,
    };
    assert_eq!(
        err.to_string(),
        "`accounts.csv` has 100 rows and `assign = \"unique\"` gives each user its own: user 101 has none; add rows \
         to the file, start at most 100 users, or use `assign = \"round_robin\"` to reuse rows"
    );
    let one = Exhausted {
        rows: 1,
        path: PathBuf::from("one.csv"),
        user: 2,
    };
    assert!(
        one.to_string()
            .starts_with("`one.csv` has 1 row and `assign = \"unique\"`"),
        "{one}"
    );
    assert!(
        one.to_string().contains("start at most 1 user, or"),
        "{one}"
    );
}

#[test]
fn round_robin_wraps_by_user_number() {
    let feeder = feeder(3, Assign::RoundRobin);
    let got: Vec<usize> = (1..=7).map(|u| feeder.take(u, no_draw).unwrap()).collect();
    assert_eq!(got, [0, 1, 2, 0, 1, 2, 0]);
    // Segment 1 of 4 runs users 2, 6, 10: the rows one run gives them.
    let got: Vec<usize> = [2u64, 6, 10]
        .iter()
        .map(|&u| feeder.take(u, no_draw).unwrap())
        .collect();
    assert_eq!(got, [1, 2, 0]);
}

#[test]
fn random_covers_every_row_and_stays_in_range() {
    let feeder = feeder(10, Assign::Random);
    let mut rng = SmallRng::seed_from_u64(7);
    let mut seen = [0usize; 10];
    for _ in 0..10_000 {
        let row = feeder.take(1, || rng.random::<f64>()).unwrap();
        assert!(row < 10);
        seen[row] += 1;
    }
    assert!(seen.iter().all(|&n| n > 800 && n < 1_200), "{seen:?}");
    // Draws are mapped by floor(u * len) and clamped.
    for (u, want) in [
        (0.0, 0),
        (0.0999, 0),
        (0.1, 1),
        (0.95, 9),
        (0.999_999_9, 9),
        (1.0, 9),
        (7.5, 9),
        (-0.5, 0),
        (f64::NAN, 0),
        (f64::INFINITY, 9),
    ] {
        assert_eq!(feeder.take(9, || u), Ok(want), "u = {u}");
    }
}

/// `stream` (the way `load` reads a file) accepts exactly what `parse` accepts, with the same values.
mod streamed {
    use super::*;
    use proptest::prelude::*;

    fn same(text: &[u8]) -> Result<(), TestCaseError> {
        let streamed = DataSet::stream(Path::new(PATH), text);
        let parsed = std::str::from_utf8(text).ok().map(parse);
        match (streamed, parsed) {
            (Some(s), Some(Ok(p))) => {
                prop_assert_eq!(s.columns(), p.columns());
                prop_assert_eq!(rows(&s), rows(&p));
            }
            (None, None | Some(Err(_))) => {}
            (s, p) => prop_assert!(
                false,
                "stream {:?}, parse {:?}",
                s,
                p.map(|r| r.map_err(|e| e.to_string()))
            ),
        }
        Ok(())
    }

    fn field() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("a".to_string()),
            Just("user_1".to_string()),
            Just(" b ".to_string()),
            Just("\"x,y\"".to_string()),
            Just("\"q\"\"q\"".to_string()),
            Just(String::new()),
            Just("1x".to_string()),
            Just("\"multi\nline\"".to_string()),
            Just("é".to_string()),
        ]
    }

    proptest! {
        #[test]
        fn stream_and_parse_agree(
            // Mostly a valid header and rows of its width, so that both sides usually accept the file.
            header in prop_oneof![
                3 => Just("username,password".to_string()),
                1 => Just("\"name\", pw ,x".to_string()),
                1 => proptest::collection::vec(field(), 0..4).prop_map(|f| f.join(",")),
            ],
            rows in proptest::collection::vec(
                prop_oneof![
                    3 => proptest::collection::vec(field(), 2..=2),
                    1 => proptest::collection::vec(field(), 0..4),
                ].prop_map(|f| f.join(",")),
                0..6,
            ),
            bom in any::<bool>(),
            crlf in any::<bool>(),
            tail in any::<bool>(),
        ) {
            let mut lines = vec![header];
            lines.extend(rows);
            let mut text = lines.join(if crlf { "\r\n" } else { "\n" });
            if tail {
                text.push('\n');
            }
            if bom {
                text.insert(0, '\u{feff}');
            }
            same(text.as_bytes())?;
        }
    }

    #[test]
    fn a_large_file_loads_streamed_and_a_bad_one_still_points_at_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("many.csv");
        let mut text = String::from("\u{feff}username,password\n");
        for i in 0..50_000 {
            text.push_str(&format!("user{i},\"p,{i}\"\n"));
        }
        std::fs::write(&path, &text).unwrap();
        let set = DataSet::load(&path).unwrap();
        assert_eq!(set.len(), 50_000);
        assert_eq!(set.value(49_999, 1), "p,49999");
        text.push_str("only_one_field\n");
        std::fs::write(&path, &text).unwrap();
        let e = DataSet::load(&path).unwrap_err().to_string();
        assert!(e.contains("many.csv:50002: row has 1 field"), "{e}");
    }
}
