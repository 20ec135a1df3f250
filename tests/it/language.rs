//! The scenario language of issue 18, items 1 to 3, through the real binary against a recording origin on
//! loopback: every kind of check passing and failing (failure kind `assertion`, the check named, no value of
//! the answer in the results), captures by JSON wildcard with each `pick`, by regex group, header and cookie,
//! with and without a `default`, and control flow (`repeat`, `for_each` with `{{item}}` / `{{index}}`, `if`,
//! `stop_if`, `choose` by weight, `think`) doing on the wire what the scenario says, in that order.

use crate::origin_server::{Got, Origin, answer};
use crate::util::{request, run_results, write};

/// A token-like value the answers carry: it must never reach the results.
const SECRET: &str = "tok-s3cr3t-4242";

fn shop(got: &Got) -> Vec<u8> {
    let json = "content-type: application/json\r\n";
    let path = got.target.split('?').next().unwrap_or("");
    match path {
        "/list" => answer(
            200,
            &format!("{json}x-request-id: rid-{}\r\n", got.target.len()),
            format!(
                r#"{{"items":[{{"id":7,"name":"a"}},{{"id":8,"name":"b"}},{{"id":9}}],"user":"u_1","secret":"{SECRET}","n":3}}"#
            )
            .as_bytes(),
        ),
        "/form" => answer(
            200,
            "content-type: text/html\r\nset-cookie: sid=cookie-77; Path=/\r\n",
            br#"<form><input type="hidden" name="csrf" value="csrf-abc123"><input name="user"></form>"#,
        ),
        "/empty" => answer(200, json, br#"{"items":[]}"#),
        "/status404" => answer(404, json, b"{}"),
        _ => answer(200, json, b"{}"),
    }
}

fn scenario(dir: &std::path::Path, host: &str, body: &str) -> std::path::PathBuf {
    write(
        dir,
        "lang.toml",
        &format!(
            "[target]\nhost = \"{host}\"\n[load]\nusers = 1\nduration = \"30s\"\niterations = 1\n{body}"
        ),
    )
}

#[test]
fn every_check_passes_on_a_good_answer_and_fails_as_an_assertion_naming_itself() {
    let origin = Origin::start("127.0.0.1", shop);
    let dir = tempfile::tempdir().unwrap();
    // One flow: the passing checks first (a failure would end it there), then one task per failing check.
    let mut body = String::from(
        "[[user.on_start]]\nname = \"who\"\npath = \"/list\"\ncapture = { user = \"$.user\" }\n\
         [[task]]\nname = \"good\"\n\
         [[task.steps]]\nname = \"all_pass\"\npath = \"/list\"\n\
         expect = { status = [200], body_contains = [\"items\", \"{{user}}\"], body_not_contains = \"error\", \
         body_regex = '\"id\":\\s*\\d+', json = { \"$.user\" = \"{{user}}\", \"$.n\" = 3.0, \"$.items[0].id\" = 7 }, \
         json_exists = [\"$.items[2].id\"], json_absent = [\"$.items[2].name\", \"$.nope\"], \
         json_length = { \"$.items\" = 3, \"$.secret\" = { min = 1 } }, \
         headers = { \"x-request-id\" = { regex = \"^rid-\\\\d+$\" }, \"content-type\" = \"application/json\", \"x-missing\" = false, \"x-request-id \" = true }, \
         max_ms = 60000 }\n",
    );
    body = body.replace("\"x-request-id \" = true", "\"X-Request-Id\" = true");
    let failing = [
        (
            "f_contains",
            "body_contains = \"nothing-like-this\"",
            "expect.body_contains \"nothing-like-this\": not found in the body",
        ),
        (
            "f_not_contains",
            "body_not_contains = \"{{user}}\"",
            "expect.body_not_contains \"{{user}}\": found in the body",
        ),
        (
            "f_regex",
            "body_regex = '^<html'",
            "expect.body_regex \"^<html\": no match in the body",
        ),
        (
            "f_json",
            "json = { \"$.secret\" = \"guess\" }",
            "expect.json $.secret: the value differs (got a string of 15 characters, expected a string of 5 characters; values are not shown)",
        ),
        (
            "f_json_template",
            "json = { \"$.user\" = \"{{user}}x\" }",
            "expect.json $.user: the value differs",
        ),
        (
            "f_exists",
            "json_exists = [\"$.items[5]\"]",
            "expect.json_exists $.items[5]: no value there",
        ),
        (
            "f_absent",
            "json_absent = [\"$.secret\"]",
            "expect.json_absent $.secret: a value is there",
        ),
        (
            "f_length",
            "json_length = { \"$.items\" = { min = 4, max = 9 } }",
            "expect.json_length $.items in 4..=9: the length is out of bounds",
        ),
        (
            "f_header_missing",
            "headers = { \"x-token\" = true }",
            "expect.headers x-token present: missing",
        ),
        (
            "f_header_absent",
            "headers = { \"content-type\" = false }",
            "expect.headers content-type absent: present",
        ),
        (
            "f_header_equals",
            "headers = { \"content-type\" = \"text/plain\" }",
            "expect.headers content-type = \"text/plain\": the value differs",
        ),
        (
            "f_header_regex",
            "headers = { \"x-request-id\" = { regex = \"^x\" } }",
            "expect.headers x-request-id ~ \"^x\": no match",
        ),
        (
            "f_slow",
            "max_ms = 0.000001",
            "expect.max_ms 0.000001: slower than that",
        ),
        (
            "f_not_json",
            "json_exists = [\"$.a\"]",
            "expect.json_exists $.a: the body is not JSON",
        ),
    ];
    for (name, expect, _) in failing {
        let path = if name == "f_not_json" {
            "/form"
        } else {
            "/list"
        };
        body.push_str(&format!(
            "[[task]]\nname = \"{name}\"\npath = \"{path}\"\nexpect = {{ {expect} }}\n"
        ));
    }
    let file = scenario(dir.path(), &origin.url, &body).with_file_name("checks.toml");
    std::fs::write(
        &file,
        std::fs::read_to_string(dir.path().join("lang.toml"))
            .unwrap()
            .replace("iterations = 1", "iterations = 400"),
    )
    .unwrap();
    let r = run_results(&file, 1);
    let good = request(&r, "all_pass");
    assert!(good["requests"].as_u64().unwrap() > 0, "{good}");
    assert_eq!(good["failures"], 0, "{good}");
    let failures = r["failures"].as_array().expect("failures");
    for (name, _, message) in failing {
        let q = request(&r, name);
        assert!(q["requests"].as_u64().unwrap() > 0, "{name} never ran");
        assert_eq!(q["failures"], q["requests"], "{name}: {q}");
        let f = failures
            .iter()
            .find(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("no failure row for {name}: {failures:?}"));
        assert_eq!(f["kind"], "assertion", "{name}: {f}");
        let got = f["message"].as_str().unwrap();
        assert!(
            got.starts_with(message),
            "{name}: {got:?} does not start with {message:?}"
        );
    }
    let text = std::fs::read_to_string(file.with_extension("json")).unwrap();
    for secret in [SECRET, "u_1", "cookie-77"] {
        assert!(!text.contains(secret), "{secret} reached the results");
    }
}

/// The query of the requests the origin got at `path`, in order, as (key, value) pairs.
fn queries(origin: &Origin, path: &str) -> Vec<Vec<(String, String)>> {
    origin
        .got()
        .iter()
        .filter(|g| g.target.split('?').next() == Some(path))
        .map(|g| {
            let q = g.target.split_once('?').map_or("", |(_, q)| q);
            url::form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .collect()
}

fn get<'a>(q: &'a [(String, String)], k: &str) -> &'a str {
    q.iter()
        .find(|(key, _)| key == k)
        .map_or_else(|| panic!("no {k} in {q:?}"), |(_, v)| v.as_str())
}

#[test]
fn captures_pick_from_lists_regex_groups_headers_and_cookies_or_take_their_default() {
    let origin = Origin::start("127.0.0.1", shop);
    let dir = tempfile::tempdir().unwrap();
    let body = "[[task]]\nname = \"f\"\n\
        [[task.steps]]\nname = \"list\"\npath = \"/list\"\n\
        capture = { ids = { json = \"$.items[*].id\", pick = \"all\" }, first = { json = \"$.items[*].id\" }, \
        last = { json = \"$.items[*].id\", pick = \"last\" }, any = { json = \"$.items[*].id\", pick = \"random\" }, \
        names = { json = \"$.items\", pick = \"all\" }, rid = { header = \"X-Request-Id\" }, \
        gone = { json = \"$.nope\", default = \"dflt\" }, none = { json = \"$.nope[*]\", pick = \"all\", default = \"\" } }\n\
        [[task.steps]]\nname = \"form\"\npath = \"/form\"\n\
        capture = { csrf = { regex = 'name=\"csrf\" value=\"([^\"]+)\"' }, whole = { regex = 'csrf-[a-z]+', group = 0 }, sid = { cookie = \"sid\" } }\n\
        [[task.steps]]\nname = \"use\"\npath = \"/use\"\n\
        query = { ids = \"{{ids}}\", first = \"{{first}}\", last = \"{{last}}\", any = \"{{any}}\", rid = \"{{rid}}\", \
        gone = \"{{gone}}\", none = \"{{none}}\", csrf = \"{{csrf}}\", whole = \"{{whole}}\", sid = \"{{sid}}\", n = \"{{names}}\" }\n";
    let file = scenario(dir.path(), &origin.url, body);
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("iterations = 1", "iterations = 30");
    std::fs::write(&file, text).unwrap();
    let r = run_results(&file, 0);
    assert_eq!(request(&r, "use")["requests"], 30, "{r}");
    let uses = queries(&origin, "/use");
    assert_eq!(uses.len(), 30);
    let mut anys = std::collections::BTreeSet::new();
    for q in &uses {
        assert_eq!(get(q, "ids"), "7,8,9");
        assert_eq!(get(q, "first"), "7");
        assert_eq!(get(q, "last"), "9");
        anys.insert(get(q, "any").to_string());
        assert!(get(q, "rid").starts_with("rid-"));
        assert_eq!(get(q, "gone"), "dflt");
        assert_eq!(get(q, "none"), "");
        assert_eq!(get(q, "csrf"), "csrf-abc123");
        assert_eq!(get(q, "whole"), "csrf-abc");
        assert_eq!(get(q, "sid"), "cookie-77");
        // `pick = "all"` on a path that ends at an array keeps its items (objects as JSON text).
        assert!(get(q, "n").starts_with(r#"{"id":7"#), "{q:?}");
    }
    // A random pick over 30 iterations takes more than one value (all three are 1 - 3 * (2/3)^30 likely).
    assert!(
        anys.len() >= 2 && anys.iter().all(|a| ["7", "8", "9"].contains(&a.as_str())),
        "{anys:?}"
    );

    // Without a default, finding nothing fails the request as `capture`, naming the capture.
    let body = "[[task]]\nname = \"miss\"\npath = \"/empty\"\ncapture = { id = { json = \"$.items[*].id\", pick = \"random\" } }\n\
        [[task]]\nname = \"nomatch\"\npath = \"/form\"\ncapture = { t = { regex = 'token=(\\w+)' } }\n\
        [[task]]\nname = \"nocookie\"\npath = \"/list\"\ncapture = { c = { cookie = \"absent\" } }\n";
    let file = scenario(dir.path(), &origin.url, body);
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("iterations = 1", "iterations = 60");
    std::fs::write(&file, text).unwrap();
    let r = run_results(&file, 1);
    for (name, message) in [
        (
            "miss",
            "capture `id` ($.items[*].id): no value at that path",
        ),
        (
            "nomatch",
            "capture `t` (regex \"token=(\\\\w+)\"): no match in the body",
        ),
        ("nocookie", "capture `c` (cookie absent): no such cookie"),
    ] {
        let f = r["failures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("no failure for {name}: {r}"));
        assert_eq!(f["kind"], "capture", "{f}");
        assert_eq!(f["message"], message, "{f}");
    }
}

#[test]
fn control_flow_sends_what_the_scenario_says_in_order() {
    let origin = Origin::start("127.0.0.1", shop);
    let dir = tempfile::tempdir().unwrap();
    let body = "[[task]]\nname = \"f\"\n\
        [[task.steps]]\nname = \"list\"\npath = \"/list\"\ncapture = { ids = { json = \"$.items[*].id\", pick = \"all\" } }\n\
        [[task.steps]]\nname = \"each\"\npath = \"/item/{{item}}\"\nquery = { i = \"{{index}}\" }\nfor_each = \"ids\"\n\
        [[task.steps]]\nname = \"twice\"\nrepeat = 2\nsteps = [ { name = \"r\", path = \"/r\", query = { i = \"{{index}}\" } }, \
        { name = \"inner\", path = \"/in/{{id}}\", query = { outer = \"{{index}}\" }, for_each = \"ids\", as = \"id\", if = \"id != 8\" } ]\n\
        [[task.steps]]\nname = \"skipped\"\npath = \"/skipped\"\nif = \"status == 404 or ids missing\"\n\
        [[task.steps]]\nname = \"nf\"\npath = \"/status404\"\nexpect = { status = [404] }\n\
        [[task.steps]]\nname = \"taken\"\npath = \"/taken\"\nif = \"status == 404 and ids exists\"\n\
        [[task.steps]]\nname = \"pick\"\nchoose = [ { name = \"a\", weight = 3, path = \"/a\" }, { name = \"b\", path = \"/b\" } ]\n\
        [[task.steps]]\nname = \"stop\"\nthink = \"1ms\"\nstop_if = \"status == 200\"\n\
        [[task.steps]]\nname = \"never\"\npath = \"/never\"\n";
    let file = scenario(dir.path(), &origin.url, body);
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("iterations = 1", "iterations = 200");
    std::fs::write(&file, text).unwrap();
    let r = run_results(&file, 0);
    assert_eq!(request(&r, "f")["requests"], 200);
    assert_eq!(request(&r, "f")["failures"], 0, "{r}");
    // One iteration's requests, in order (the first 17 the origin got, before the choice).
    let got: Vec<String> = origin.got().iter().map(|g| g.target.clone()).collect();
    let want = [
        "/list",
        "/item/7?i=0",
        "/item/8?i=1",
        "/item/9?i=2",
        "/r?i=0",
        "/in/7?outer=0",
        "/in/9?outer=2",
        "/r?i=1",
        "/in/7?outer=0",
        "/in/9?outer=2",
        "/status404",
        "/taken",
    ];
    assert_eq!(&got[..want.len()], want, "{got:?}");
    assert!(["/a", "/b"].contains(&got[want.len()].as_str()), "{got:?}");
    assert!(
        !got.iter().any(|t| t == "/skipped" || t == "/never"),
        "{got:?}"
    );
    // `choose` by weight 3:1 over 200 iterations: a in [0.6, 0.9] of them (mean 0.75, sd 0.03).
    let a = request(&r, "a")["requests"].as_u64().unwrap() as f64;
    let b = request(&r, "b")["requests"].as_u64().unwrap() as f64;
    assert_eq!(a + b, 200.0);
    assert!((0.6..=0.9).contains(&(a / 200.0)), "a={a} b={b}");
    assert_eq!(request(&r, "each")["requests"], 600);
    assert_eq!(request(&r, "inner")["requests"], 800);
}

#[test]
fn think_time_is_spent_inside_a_flow() {
    let origin = Origin::start("127.0.0.1", shop);
    let dir = tempfile::tempdir().unwrap();
    let body = "[[task]]\nname = \"f\"\n\
        [[task.steps]]\nname = \"one\"\npath = \"/one\"\nthink = \"150ms\"\n\
        [[task.steps]]\nname = \"two\"\npath = \"/two\"\nthink = { between = [\"100ms\", \"120ms\"] }\n";
    let file = scenario(dir.path(), &origin.url, body);
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("iterations = 1", "iterations = 3");
    std::fs::write(&file, text).unwrap();
    let r = run_results(&file, 0);
    // However busy the machine, the flow cannot take less than its pauses.
    let min = request(&r, "f")["min_ms"].as_f64().unwrap();
    assert!(
        min >= 250.0,
        "a flow with 250 ms of think time took {min} ms"
    );
}
