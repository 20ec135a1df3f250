//! The importer on small HARs written here: one behaviour each.

use std::path::Path;

use serde_json::{Value, json};

use super::*;

/// An entry: `at` milliseconds after the first, lasting 10 ms.
fn entry(at: u64, method: &str, url: &str, status: u16, mime: &str) -> Value {
    json!({
        "startedDateTime": format!("2026-01-01T00:00:{:02}.{:03}Z", at / 1000, at % 1000),
        "time": 10,
        "request": {"method": method, "url": url, "headers": [], "httpVersion": "HTTP/1.1", "cookies": []},
        "response": {"status": status, "content": {"mimeType": mime, "size": 0}, "headers": [], "redirectURL": ""},
        "unknown_field": {"is": "ignored"},
    })
}

fn har(entries: Vec<Value>) -> String {
    json!({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"}, "entries": entries}})
        .to_string()
}

fn draft(entries: Vec<Value>) -> Draft {
    import(&har(entries), Path::new("t.har"), &HarOptions::default()).expect("imports")
}

fn all_steps(d: &Draft) -> Vec<&DraftStep> {
    d.user
        .on_start
        .iter()
        .chain(d.user.tasks.iter().flat_map(|t| &t.steps))
        .collect()
}

#[test]
fn static_assets_are_known_by_type_and_by_extension() {
    let u = |s: &str| url::Url::parse(s).expect("url");
    assert!(is_static(&u("http://a/x"), "text/css; charset=utf-8"));
    assert!(is_static(&u("http://a/x"), "image/png"));
    assert!(is_static(&u("http://a/x"), "font/woff2"));
    assert!(is_static(&u("http://a/app.js?v=3"), ""));
    assert!(is_static(&u("http://a/app.js.map"), "application/json"));
    assert!(is_static(&u("http://a/favicon.ico"), "application/json"));
    assert!(!is_static(&u("http://a/api/items"), "application/json"));
    assert!(!is_static(&u("http://a/"), "text/html"));
}

#[test]
fn noise_headers_go_and_meaningful_ones_stay() {
    for (n, v) in [
        ("User-Agent", "x"),
        ("sec-ch-ua", "x"),
        (":authority", "a"),
        ("Cookie", "a=b"),
        ("Referer", "http://a/"),
        ("Accept", "*/*"),
        ("Accept-Encoding", "gzip"),
    ] {
        assert!(dropped_header(n, v), "{n}");
    }
    for (n, v) in [
        ("Authorization", "Bearer x"),
        ("X-Api-Key", "k"),
        ("Accept", "application/vnd.api+json"),
        ("Content-Type", "text/plain"),
    ] {
        assert!(!dropped_header(n, v), "{n}");
    }
}

#[test]
fn bodies_become_json_form_or_text_and_an_implied_content_type_goes() {
    let mut json_post = entry(0, "POST", "http://a/api/j", 200, "application/json");
    json_post["request"]["postData"] =
        json!({"mimeType": "application/json", "text": "{\"a\":[1,2]}"});
    json_post["request"]["headers"] =
        json!([{"name": "Content-Type", "value": "application/json"}]);
    let mut form = entry(50, "POST", "http://a/api/f", 200, "text/html");
    form["request"]["postData"] =
        json!({"mimeType": "application/x-www-form-urlencoded", "text": "a=1&b=x+y"});
    let mut text = entry(60, "PUT", "http://a/api/t", 204, "");
    text["request"]["postData"] = json!({"mimeType": "text/plain", "text": "hello"});
    text["request"]["headers"] = json!([{"name": "Content-Type", "value": "text/plain"}]);
    let d = draft(vec![json_post, form, text]);
    let s = all_steps(&d);
    assert_eq!(s[0].body, Body::Json(json!({"a": [1, 2]})));
    assert!(s[0].headers.is_empty(), "{:?}", s[0].headers);
    assert_eq!(
        s[1].body,
        Body::Form(vec![("a".into(), "1".into()), ("b".into(), "x y".into())])
    );
    assert_eq!(s[2].body, Body::Text("hello".into()));
    assert_eq!(s[2].headers, [("Content-Type".into(), "text/plain".into())]);
    assert_eq!(s[2].expect_status, [204]);
}

#[test]
fn the_most_common_origin_is_the_host_and_others_are_left_out_with_a_note() {
    let d = draft(vec![
        entry(0, "GET", "http://cdn.test/lib", 200, "text/html"),
        entry(10, "GET", "http://app.test:8080/a?x=1", 200, "text/html"),
        entry(20, "GET", "http://app.test:8080/b", 200, "text/html"),
        entry(30, "OPTIONS", "http://app.test:8080/b", 204, ""),
        entry(40, "GET", "data:text/plain,x", 200, "text/plain"),
    ]);
    assert_eq!(d.host.as_deref(), Some("http://app.test:8080"));
    let paths: Vec<&str> = all_steps(&d).iter().map(|s| s.path.as_str()).collect();
    assert_eq!(paths, ["/a?x=1", "/b"]);
    assert!(d.notes[0].text.contains("http://cdn.test"), "{:?}", d.notes);
    let head = d.header.join("\n");
    assert!(head.contains("1 CORS pre-flights"), "{head}");
    assert!(head.contains("1 non-HTTP URLs"), "{head}");
}

#[test]
fn gaps_become_think_times_rounded_and_small_ones_are_ignored() {
    let d = draft(vec![
        entry(0, "GET", "http://a/1", 200, "text/html"),
        entry(60, "GET", "http://a/2", 200, "text/html"),
        // a script loading in between keeps the browser busy: the gap counts from its end
        entry(100, "GET", "http://a/s.js", 200, "text/javascript"),
        entry(1_360, "GET", "http://a/3", 200, "text/html"),
        entry(1_400, "GET", "http://a/4", 200, "text/html"),
    ]);
    let s = all_steps(&d);
    assert_eq!(s[0].think, None, "a 50 ms gap is the browser's");
    assert_eq!(
        d.user.tasks[0].steps[1].think,
        Some(Wait::Constant(Duration::from_millis(1300))),
        "1360 - 110 = 1250 ms, rounded"
    );
    assert_eq!(s.len(), 4);
}

#[test]
fn a_value_from_a_response_sent_later_is_captured_and_replaced() {
    let mut login = entry(0, "POST", "http://a/login", 200, "application/json");
    login["response"]["content"]["text"] =
        json!(r#"{"data":{"session-id":"s3cr3t-abcdef"},"items":[{"id":"item-00042"}]}"#);
    let mut use1 = entry(
        100,
        "GET",
        "http://a/items/item-00042",
        200,
        "application/json",
    );
    use1["request"]["headers"] = json!([{"name": "X-Session", "value": "s3cr3t-abcdef"}]);
    let d = draft(vec![login, use1]);
    let s = all_steps(&d);
    let captures: Vec<(&str, &str)> = s[0]
        .captures
        .iter()
        .map(|(n, p)| (n.as_str(), p.as_str()))
        .collect();
    assert_eq!(
        captures,
        [
            ("session_id", "$.data['session-id']"),
            ("id", "$.items[0].id")
        ]
    );
    assert_eq!(s[1].path, "/items/{{id}}");
    assert_eq!(
        s[1].headers,
        [("X-Session".into(), "{{session_id}}".into())]
    );
    assert!(
        s[1].comments
            .iter()
            .any(|c| c.contains("captured by `post_login`"))
    );
}

#[test]
fn a_value_the_client_sent_first_is_not_a_capture() {
    let mut a = entry(0, "POST", "http://a/echo", 200, "application/json");
    a["request"]["postData"] =
        json!({"mimeType": "application/json", "text": "{\"q\":\"client-chosen\"}"});
    a["response"]["content"]["text"] = json!("{\"q\":\"client-chosen\"}");
    let b = entry(
        10,
        "GET",
        "http://a/find?q=client-chosen",
        200,
        "application/json",
    );
    let d = draft(vec![a, b]);
    assert!(all_steps(&d).iter().all(|s| s.captures.is_empty()));
}

#[test]
fn a_base64_response_body_is_decoded_for_captures() {
    let mut a = entry(0, "GET", "http://a/t", 200, "application/json");
    a["response"]["content"]["text"] = json!("eyJ0b2tlbiI6ImFiY2RlZmdoaWoifQ=="); // {"token":"abcdefghij"}
    a["response"]["content"]["encoding"] = json!("base64");
    let mut b = entry(10, "GET", "http://a/u", 200, "application/json");
    b["request"]["headers"] = json!([{"name": "Authorization", "value": "Bearer abcdefghij"}]);
    let d = draft(vec![a, b]);
    assert_eq!(all_steps(&d)[1].headers[0].1, "Bearer {{token}}");
}

#[test]
fn a_registered_name_is_made_unique_in_the_register_and_after() {
    let mut reg = entry(
        0,
        "POST",
        "http://a/api/users/signup",
        201,
        "application/json",
    );
    reg["request"]["postData"] = json!({"mimeType": "application/x-www-form-urlencoded", "text": "user=bob77&email=bob.x%40ex.com&pw=p"});
    let mut login = entry(10, "POST", "http://a/api/login", 200, "application/json");
    login["request"]["postData"] =
        json!({"mimeType": "application/json", "text": "{\"user\":\"bob77\"}"});
    let d = draft(vec![reg, login]);
    let s = all_steps(&d);
    let Body::Form(f) = &s[0].body else {
        panic!("{:?}", s[0].body)
    };
    assert_eq!(f[0].1, "bob_{{run_id}}_{{vu}}_{{session}}");
    assert_eq!(f[1].1, "bob_{{run_id}}_{{vu}}_{{session}}@ex.com");
    assert_eq!(
        s[1].body,
        Body::Json(json!({"user": "bob_{{run_id}}_{{vu}}_{{session}}"}))
    );
}

#[test]
fn pages_are_flows_and_requests_without_a_page_a_flow_of_their_own() {
    let mut a = entry(0, "GET", "http://a/", 200, "text/html");
    a["pageref"] = json!("p1");
    let mut b = entry(10, "GET", "http://a/api/x", 200, "application/json");
    b["pageref"] = json!("p1");
    let c = entry(20, "GET", "http://a/api/y", 200, "application/json");
    let mut text: Value = serde_json::from_str(&har(vec![a, b, c])).expect("json");
    text["log"]["pages"] =
        json!([{"id": "p1", "title": "Home Page!", "startedDateTime": "2026-01-01T00:00:00Z"}]);
    let d = import(
        &text.to_string(),
        Path::new("t.har"),
        &HarOptions::default(),
    )
    .expect("imports");
    assert!(d.user.on_start.is_empty(), "nothing captured: no setup");
    let names: Vec<&str> = d.user.tasks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["page1_home_page", "page2"]);
    assert_eq!(d.user.tasks[0].steps.len(), 2);
    assert_eq!(d.user.tasks[1].comments[0], "requests outside any page");
    let toml = d.to_toml();
    let _: toml::Table = toml.parse().unwrap_or_else(|e| panic!("{e}\n{toml}"));
}

#[test]
fn a_redirect_is_followed_by_loadgen_so_its_target_is_left_out() {
    let mut post = entry(0, "POST", "http://a/form", 303, "text/html");
    post["response"]["redirectURL"] = json!("/done");
    let d = draft(vec![
        post,
        entry(20, "GET", "http://a/done", 200, "text/html"),
    ]);
    let s = all_steps(&d);
    assert_eq!(s.len(), 1);
    assert!(s[0].expect_status.is_empty(), "3xx: loadgen sees the end");
    assert!(d.header.join("\n").contains("1 requests a redirect led to"));
}

#[test]
fn nothing_to_import_is_an_error() {
    let e = import(
        &har(vec![entry(0, "GET", "http://a/x.css", 200, "text/css")]),
        Path::new("t.har"),
        &HarOptions::default(),
    )
    .expect_err("only a stylesheet");
    assert!(e.message.contains("1 static assets"), "{e}");
}

#[test]
fn cookies_from_before_the_recording_and_a_recorded_template_are_noted() {
    let mut a = entry(0, "GET", "http://a/login", 200, "text/html");
    a["request"]["headers"] = json!([{"name": "Cookie", "value": "old_sid=1; theme=dark"}]);
    a["response"]["headers"] = json!([{"name": "Set-Cookie", "value": "sid=2; Path=/; HttpOnly"}]);
    let mut b = entry(10, "GET", "http://a/q?x={{y}}", 200, "text/html");
    b["request"]["headers"] = json!([{"name": "cookie", "value": "sid=2; theme=dark"}]);
    let d = draft(vec![a, b]);
    let notes: Vec<&str> = d.notes.iter().map(|n| n.text.as_str()).collect();
    assert!(
        notes.iter().any(|n| n.contains("(old_sid, theme)")),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("GET /q?x={{y}} sends `{{`")),
        "{notes:?}"
    );
    assert!(
        all_steps(&d).iter().all(|s| s.headers.is_empty()),
        "cookies are dropped"
    );
}

const FIXTURE: &str = include_str!("../../../tests/fixtures/import/demo_app.har");

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// A recording cut anywhere is an error with its place, never a panic.
    #[test]
    fn a_cut_recording_is_a_located_error(cut in 0..FIXTURE.len()) {
        let cut = (0..=cut).rev().find(|&i| FIXTURE.is_char_boundary(i)).unwrap_or(0);
        let text = FIXTURE[..cut].trim_end();
        let e = import(text, Path::new("t.har"), &HarOptions::default()).expect_err("cut");
        proptest::prop_assert!(e.line.is_some(), "{}", e);
    }

    /// Any JSON value where a field is expected is an error or a draft, never a panic.
    #[test]
    fn odd_values_never_panic(field in 0usize..6, value in proptest::prelude::any::<i64>(), text in ".{0,12}") {
        let mut v: Value = serde_json::from_str(FIXTURE).expect("fixture");
        let odd = [json!(value), json!(text), json!(null), json!([]), json!({}), json!(-1.5)][field % 6].clone();
        v["log"]["entries"][4]["time"] = odd.clone();
        v["log"]["entries"][5]["response"]["content"]["text"] = odd.clone();
        v["log"]["entries"][6]["request"]["postData"]["text"] = odd.clone();
        v["log"]["entries"][7]["pageref"] = odd;
        let _ = import(&v.to_string(), Path::new("t.har"), &HarOptions::default());
    }
}
