//! Property-based fuzzing (proptest) of the results readers: `report`, `compare` and `merge` given hostile
//! results files.
//!
//! The property: a valid results file with 1-4 mutations — any field set to a value at or past its limits
//! (null, negative, `u64::MAX`, 1e308, a string where a number belongs, an empty array, a crafted histogram
//! declaring a 4 GiB payload or too many counters), a field removed, an array element duplicated — never
//! panics in any reader: the check ([`super::validate::results`]) either refuses it with a message naming a
//! field path, or accepts it, and then every report is rendered from it (console, HTML, Markdown, JUnit, CSV),
//! it is compared with itself (never a regression) and with the original, and merged with another segment.
//! Case counts are small by default; `PROPTEST_CASES=20000 cargo test --lib report::fuzz_tests` runs longer
//! (docs/fuzzing.md).

use std::sync::LazyLock;

use base64::Engine as _;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::validate;
use crate::compare::{Thresholds, compare};
use crate::metrics::{hdr, new_histogram};
use crate::results::fixtures::sample;

fn config(default_cases: u32) -> ProptestConfig {
    let mut c = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = default_cases;
    }
    c
}

/// Histograms at and past the decoder's limits, as results files carry them (base64).
static HISTOGRAMS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let header = |payload: u32, digits: u32, low: u64, high: u64| {
        let mut b = Vec::new();
        b.extend(0x1c84_9313u32.to_be_bytes());
        b.extend(payload.to_be_bytes());
        b.extend(0u32.to_be_bytes());
        b.extend(digits.to_be_bytes());
        b.extend(low.to_be_bytes());
        b.extend(high.to_be_bytes());
        b.extend(1.0f64.to_be_bytes());
        b
    };
    let mut out = vec![
        b64(&header(u32::MAX, 3, 1, 2)),
        b64(&header(16, 5, 1, u64::MAX)),
        b64(&header(0, 3, 1, 2)),
        "AAAA".into(),
        "not base64!".into(),
        String::new(),
    ];
    for (value, count) in [
        (u64::MAX / 4, 1),
        (1, hdr::MAX_TOTAL),
        (1, hdr::MAX_TOTAL + 1),
        (3_600_000_000, 7),
    ] {
        let mut h = new_histogram();
        h.record_n(value, count).unwrap();
        out.extend(hdr::encode(&h));
    }
    let mut wide = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 1 << 33, 5).unwrap();
    wide.record_n(1 << 32, 3).unwrap();
    out.extend(hdr::encode(&wide));
    out
});

/// Values at and past what the checks accept.
fn edge() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            Value::Null,
            json!(-1),
            json!(0),
            json!(-0.0),
            json!(1),
            json!(u64::MAX),
            json!(i64::MIN),
            json!(1e308),
            json!(-1e308),
            json!(5e-324),
            json!(2.5e-323),
            json!(1e-320),
            json!(1e9),
            json!(1e9 + 1.0),
            json!(1e15),
            json!(1e15 + 1.0),
            json!(1_000_000_000_000_001u64),
            json!(1e18),
            json!(100.0),
            json!(100.5),
            json!(4_294_967_295u64),
            json!(100_000),
            json!(100_001),
            json!("NaN"),
            json!("inf"),
            json!(""),
            json!([]),
            json!({}),
            json!(true),
            json!("stage 4294967295"),
            json!("p255_ms"),
            json!("steady"),
        ]),
        any::<f64>()
            .prop_filter("JSON has finite numbers", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        any::<i64>().prop_map(|i| json!(i)),
        any::<u64>().prop_map(|i| json!(i)),
        prop::sample::select(HISTOGRAMS.clone()).prop_map(Value::String),
    ]
}

/// A change to a results document.
#[derive(Debug, Clone)]
enum Mutation {
    Set(prop::sample::Index, Value),
    Remove(prop::sample::Index),
    Duplicate(prop::sample::Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        6 => (any::<prop::sample::Index>(), edge()).prop_map(|(i, v)| Mutation::Set(i, v)),
        1 => any::<prop::sample::Index>().prop_map(Mutation::Remove),
        1 => any::<prop::sample::Index>().prop_map(Mutation::Duplicate),
    ]
}

/// A step into a JSON value.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    At(usize),
}

/// Every path in `v` (the root excluded).
fn paths(v: &Value, here: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                here.push(Step::Key(k.clone()));
                out.push(here.clone());
                paths(x, here, out);
                here.pop();
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                here.push(Step::At(i));
                out.push(here.clone());
                paths(x, here, out);
                here.pop();
            }
        }
        _ => {}
    }
}

/// The parent of the value at `path`, and the last step.
fn parent<'a>(v: &'a mut Value, path: &'a [Step]) -> Option<(&'a mut Value, &'a Step)> {
    let (last, up) = path.split_last()?;
    let mut at = v;
    for s in up {
        at = match s {
            Step::Key(k) => at.get_mut(k.as_str())?,
            Step::At(i) => at.get_mut(*i)?,
        };
    }
    Some((at, last))
}

fn apply(v: &mut Value, m: &Mutation) {
    let mut all = Vec::new();
    paths(v, &mut Vec::new(), &mut all);
    let (index, what) = match m {
        Mutation::Set(i, _) | Mutation::Remove(i) | Mutation::Duplicate(i) => (i, m),
    };
    let path = index.get(&all).clone();
    let Some((up, last)) = parent(v, &path) else {
        return;
    };
    match (what, last, up) {
        (Mutation::Set(_, new), Step::Key(k), Value::Object(o)) => {
            o.insert(k.clone(), new.clone());
        }
        (Mutation::Set(_, new), Step::At(i), Value::Array(a)) => a[*i] = new.clone(),
        (Mutation::Remove(_), Step::Key(k), Value::Object(o)) => {
            o.remove(k);
        }
        (Mutation::Remove(_), Step::At(i), Value::Array(a)) => {
            a.remove(*i);
        }
        (Mutation::Duplicate(_), Step::At(i), Value::Array(a)) => {
            let x = a[*i].clone();
            a.insert(*i, x);
        }
        _ => {}
    }
}

fn thresholds() -> Thresholds {
    Thresholds {
        max_p50_increase: Some(10.0),
        max_p95_increase: Some(10.0),
        max_p99_increase: Some(20.0),
        max_success_drop: Some(0.5),
        min_rps_ratio: Some(0.9),
        min_latency_delta_ms: 0.0,
        min_requests: 0,
    }
}

/// Everything the readers do with `v`: never a panic; an error is a usage error (exit 2) naming a field.
fn read_everything(v: &Value) -> Result<(), TestCaseError> {
    // The readers check the schema version first, then the rest.
    if super::json::check_version(v).is_err() {
        return Ok(());
    }
    let r = match validate::results(v) {
        Ok(r) => r,
        Err(e) => {
            prop_assert!(!e.is_empty());
            return Ok(());
        }
    };
    let _ = super::console::render(&r);
    let _ = super::html::render(&r);
    let _ = super::markdown::render(&r);
    let _ = super::junit::render(&r);
    let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
    if let Ok(csv) =
        super::csv::CsvFiles::prepare(&dir.path().join("r"), true, super::csv::CsvStyle::Locust)
    {
        let _ = csv.write(&r);
    }
    // Compared with itself (never a regression) and with the original, both ways.
    let (mutated, original) = (dir.path().join("m.json"), dir.path().join("o.json"));
    let write = |p: &std::path::Path, v: &Value| std::fs::write(p, v.to_string());
    write(&mutated, v).map_err(|e| TestCaseError::fail(e.to_string()))?;
    write(&original, &sample()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let same = compare(&mutated, &mutated, thresholds())
        .map_err(|e| TestCaseError::fail(format!("compare with itself: {e}")))?;
    prop_assert_eq!(same.regressions, 0, "{:?}", same.rows);
    for (a, b) in [(&mutated, &original), (&original, &mutated)] {
        if let Ok(c) = compare(a, b, thresholds()) {
            for f in [
                crate::compare::Format::Table,
                crate::compare::Format::Markdown,
                crate::compare::Format::Json,
            ] {
                let _ = c.render(f);
            }
        }
    }
    // Merged with segment 0 of the same run (the sample is segment 1 of 2), whatever the mutation left.
    let mut other = sample();
    other["settings"]["segment"]["index"] = json!(0);
    let other = validate::results(&other).map_err(TestCaseError::fail)?;
    let inputs = vec![(original.clone(), other), (mutated.clone(), r)];
    match crate::merge::merge(inputs) {
        Ok(m) => {
            let _ = super::console::render(&m);
            let _ = super::html::render(&m);
            // What merge writes reads back.
            let back = serde_json::to_value(&m).map_err(|e| TestCaseError::fail(e.to_string()))?;
            if let Err(e) = validate::results(&back) {
                return Err(TestCaseError::fail(format!(
                    "merged results do not read back: {e}"
                )));
            }
        }
        Err(e) => prop_assert!(matches!(e, crate::error::Error::Usage(_)), "{e}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn mutated_results_files_never_panic_a_reader(mutations in prop::collection::vec(mutation(), 1..5)) {
        let mut v = sample();
        for m in &mutations {
            apply(&mut v, m);
        }
        read_everything(&v)?;
    }
}

#[test]
fn the_unmutated_sample_goes_through_every_reader() {
    read_everything(&sample()).unwrap();
}

#[test]
fn subnormal_latencies_and_rates_draw_charts() {
    // Found by hand: 2.5e-323 made a tick step of 0 and a format precision of usize::MAX (a panic).
    let mut v = sample();
    for p in v["time_series"].as_array_mut().unwrap() {
        for k in [
            "p50_ms", "p95_ms", "p99_ms", "max_ms", "rps", "lag_ms", "cpu_pct",
        ] {
            p[k] = json!(2.5e-323);
        }
    }
    for k in ["rps", "failures_per_s", "mean_ms", "min_ms", "max_ms"] {
        v["aggregated"][k] = json!(2.5e-323);
    }
    let r = validate::results(&v).unwrap();
    let html = super::html::render(&r);
    assert!(html.len() < 10_000_000, "{}", html.len());
}
