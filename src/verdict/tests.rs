//! The verdict rules, one case each, on a small results document.

use super::*;
use crate::results::fixtures::{results, two_gates};
use serde_json::json;

fn gate(passed: bool, skipped: Option<&str>) -> serde_json::Value {
    json!({ "scope": "home", "metric": "p95_ms", "op": "<", "threshold": 500.0,
            "measured": if skipped.is_some() { json!(null) } else { json!(100.0) },
            "passed": passed, "skipped": skipped })
}

#[test]
fn without_gates_a_failed_request_fails_the_run_unless_allowed() {
    // The fixture has 10 failures in 1,500 requests.
    let mut r = results("shop", json!([]), false);
    let v = Verdict::of(&r);
    assert_eq!((v.result, v.exit_code), (Outcome::Fail, 1));
    assert_eq!(
        v.line(),
        "Result: FAIL (no gates; 10 of 1,500 requests failed)"
    );

    r.gates.fail_on_errors = false;
    let v = Verdict::of(&r);
    assert_eq!((v.result, v.exit_code), (Outcome::Pass, 0));
    assert!(v.reason.contains("allowed: fail_on_errors is off"), "{v:?}");

    r.gates.fail_on_errors = true;
    r.totals.failures = 0;
    assert_eq!(
        Verdict::of(&r).line(),
        "Result: PASS (no gates; all 1,500 requests succeeded)"
    );
    // Nothing measured is not a pass.
    r.totals.requests = 0;
    assert_eq!(
        Verdict::of(&r).line(),
        "Result: FAIL (no gates; no request was made)"
    );
}

#[test]
fn the_gates_decide_when_there_are_any_and_skipped_ones_do_not_count() {
    let r = results("shop", two_gates(), false);
    assert_eq!(Verdict::of(&r).line(), "Result: FAIL (1 of 2 gates failed)");
    // Gates passing with failed requests: the gates (a success rate below 100) allow them.
    let r = results(
        "shop",
        json!([gate(true, None), gate(true, Some("request not run"))]),
        false,
    );
    assert_eq!(
        Verdict::of(&r).line(),
        "Result: PASS (the gate passed, 1 gate skipped)"
    );
    // Only skipped gates: as without gates.
    let r = results("shop", json!([gate(true, Some("request not run"))]), false);
    assert_eq!(
        Verdict::of(&r).line(),
        "Result: FAIL (no gate judged, 1 skipped; 10 of 1,500 requests failed)"
    );
}

#[test]
fn interrupted_then_invalid_then_aborted_win_over_the_gates() {
    let mut r = results("shop", two_gates(), true);
    let v = Verdict::of(&r);
    assert_eq!((v.result, v.exit_code), (Outcome::Interrupted, 130));
    assert_eq!(
        v.reason,
        "stopped after 4.5 s of 10 s; the figures cover what ran; 1 of 2 gates failed"
    );

    r.interrupted = false;
    r.validity.valid = false;
    let v = Verdict::of(&r);
    assert_eq!((v.result, v.exit_code), (Outcome::Invalid, 3));
    assert!(
        v.line()
            .starts_with("Result: INVALID (loadgen could not keep the plan")
    );

    r.validity.valid = true;
    let mut g: GateResult = serde_json::from_value(two_gates()[0].clone()).unwrap();
    g.measured = Some(812.0);
    r.aborted = Some(Aborted {
        gate: g,
        at_s: 12.0,
    });
    assert_eq!(
        Verdict::of(&r).line(),
        "Result: FAIL (aborted at 12 s: gate p95_ms < 500 ms for all requests failed (measured 812 ms))"
    );
}

#[test]
fn thousands_are_grouped() {
    assert_eq!(thousands(0), "0");
    assert_eq!(thousands(999), "999");
    assert_eq!(thousands(1000), "1,000");
    assert_eq!(thousands(1234567), "1,234,567");
}
