//! Redirects (issue 17, item 4), through the real binary: each status's method and body rule, a relative and an
//! absolute `Location`, cookies set on a hop, a hop to another origin that gets no credential of the first, a
//! loop and a chain longer than `follow_redirects` failing as `redirect`, and a step that expects a 302 and
//! checks it rather than following it.

use crate::origin_server::{Got, Origin, answer};
use crate::util::{request, run_results, write};

/// What the first origin answers: redirects by path, and `/echo` saying what it received (as JSON).
fn first(got: &Got, other: &str) -> Vec<u8> {
    let to =
        |status: u16, location: &str| answer(status, &format!("location: {location}\r\n"), b"");
    let t = got.target.split('?').next().unwrap_or("");
    match t {
        "/301" => to(301, "/echo"),
        "/302" => to(302, "echo?from=302"),
        "/303" => to(
            303,
            "http://127.0.0.2:PORT/echo"
                .replace("PORT", &port_of(got))
                .as_str(),
        ),
        "/307" => to(307, "/echo"),
        "/308" => to(308, "/echo"),
        "/login" => answer(
            302,
            "location: /echo\r\nset-cookie: sid=a-secret; Path=/; HttpOnly\r\n",
            b"",
        ),
        "/away" => to(302, &format!("{other}/landing")),
        // A token in the URL, as some APIs put one: it must not reach the results.
        "/loop" => to(302, "/loop?token=secret-in-url"),
        "/checked" => to(302, "/never"),
        _ if t.starts_with("/chain/") => {
            let n: u32 = t["/chain/".len()..].parse().unwrap_or(0);
            if n == 0 {
                answer(200, "", b"{}")
            } else {
                to(302, &format!("/chain/{}", n - 1))
            }
        }
        _ => {
            let body = serde_json::json!({
                "method": got.method,
                "target": got.target,
                "body": String::from_utf8_lossy(&got.body),
                "content_type": got.header("content-type").unwrap_or(""),
                "cookie": got.header("cookie").unwrap_or(""),
                "authorization": got.header("authorization").unwrap_or(""),
            })
            .to_string();
            answer(200, "content-type: application/json\r\n", body.as_bytes())
        }
    }
}

/// The port the request was sent to, from its `Host` header.
fn port_of(got: &Got) -> String {
    got.header("host")
        .and_then(|h| h.rsplit_once(':'))
        .map(|(_, p)| p.to_string())
        .unwrap_or_default()
}

fn origins() -> (Origin, Origin) {
    let b = Origin::start("127.0.0.3", |_| answer(200, "", b"{}"));
    let other = b.url.clone();
    let a = Origin::start("127.0.0.2", move |got| first(got, &other));
    (a, b)
}

#[test]
fn redirects_are_followed_by_the_rules_of_each_status() {
    let (a, b) = origins();
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "follow.toml",
        &format!(
            r#"
[target]
host = "{a}"
[load]
users = 1
duration = "20s"
iterations = 1
[[task]]
name = "flow"
steps = [
  {{ name = "get_301", path = "/301", expect = {{ json = {{ "$.method" = "GET", "$.target" = "/echo" }} }} }},
  {{ name = "post_302", method = "POST", path = "/302", json = {{ a = 1 }}, expect = {{ json = {{ "$.method" = "GET", "$.body" = "", "$.content_type" = "", "$.target" = "/echo?from=302" }} }} }},
  {{ name = "put_303", method = "PUT", path = "/303", body = "x", expect = {{ json = {{ "$.method" = "GET", "$.body" = "" }} }} }},
  {{ name = "head_302", method = "HEAD", path = "/302" }},
  {{ name = "post_307", method = "POST", path = "/307", json = {{ a = 1 }}, expect = {{ json = {{ "$.method" = "POST", "$.body" = '{{"a":1}}', "$.content_type" = "application/json" }} }} }},
  {{ name = "patch_308", method = "PATCH", path = "/308", body = "p", expect = {{ json = {{ "$.method" = "PATCH", "$.body" = "p" }} }} }},
  {{ name = "login", path = "/login", headers = {{ Cookie = "mine=1" }}, expect = {{ json = {{ "$.cookie" = "mine=1; sid=a-secret" }} }} }},
  {{ name = "away", path = "/away", headers = {{ Authorization = "Bearer a-token", Cookie = "mine=1" }} }},
  {{ name = "chain", path = "/chain/3" }},
  {{ name = "checked", path = "/checked", expect = {{ status = [302] }} }},
]
"#,
            a = a.url
        ),
    );
    let r = run_results(&file, 0);
    for (name, hops) in [
        ("get_301", 1),
        ("post_302", 1),
        ("put_303", 1),
        ("head_302", 1),
        ("post_307", 1),
        ("patch_308", 1),
        ("login", 1),
        ("away", 1),
        ("chain", 3),
    ] {
        let q = request(&r, name);
        assert_eq!(q["requests"], 1, "{name}: {q}");
        assert_eq!(q["failures"], 0, "{name}: {q}");
        assert_eq!(q["redirects"], hops, "{name}: {q}");
        assert_eq!(
            q["status_codes"]["200"], 1,
            "{name}: one request, the final answer: {q}"
        );
    }
    // The step that expects the redirect gets it, and nothing follows it.
    let checked = request(&r, "checked");
    assert_eq!(checked["status_codes"]["302"], 1, "{checked}");
    assert!(checked.get("redirects").is_none(), "{checked}");
    let got_a = a.got();
    assert!(got_a.iter().all(|g| g.target != "/never"));
    // HEAD stays HEAD.
    assert!(
        got_a
            .iter()
            .any(|g| g.method == "HEAD" && g.target == "/echo?from=302")
    );
    // The hop to the other origin: no Authorization, no cookie of the first origin nor the step's own.
    let got_b = b.got();
    assert_eq!(got_b.len(), 1);
    let landing = &got_b[0];
    assert_eq!(landing.target, "/landing");
    assert_eq!(landing.header("authorization"), None, "{}", landing.head);
    assert_eq!(landing.header("cookie"), None, "{}", landing.head);
    assert_eq!(
        landing.header("host"),
        Some(b.url.trim_start_matches("http://")),
        "{}",
        landing.head
    );
}

#[test]
fn a_loop_and_a_chain_past_the_limit_fail_as_redirect() {
    let (a, _b) = origins();
    let dir = tempfile::tempdir().unwrap();
    // [target] follow_redirects is every request's default; a request's own wins.
    for (name, path, own, limit, sent) in [
        ("loop", "/loop", "", 4, 5),
        ("long", "/chain/3", "follow_redirects = 2", 2, 3),
    ] {
        let file = write(
            dir.path(),
            &format!("{name}.toml"),
            &format!(
                r#"
[target]
host = "{a}"
follow_redirects = 4
[load]
users = 1
duration = "20s"
iterations = 1
[[task]]
name = "{name}"
path = "{path}"
{own}
"#,
                a = a.url
            ),
        );
        let before = a.got().len();
        let r = run_results(&file, 1);
        let text = r.to_string();
        assert!(!text.contains("secret-in-url"), "a URL reached the results");
        let q = request(&r, name);
        assert_eq!(
            (&q["requests"], &q["failures"]),
            (&1.into(), &1.into()),
            "{q}"
        );
        let f = r["failures"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["name"] == name))
            .unwrap_or_else(|| panic!("no failure for {name}: {text}"));
        assert_eq!(f["kind"], "redirect", "{f}");
        assert_eq!(f["message"], format!("more than {limit} redirects"), "{f}");
        // The first request and `limit` hops were sent, no more.
        assert_eq!(a.got().len() - before, sent, "{name}");
    }
}
