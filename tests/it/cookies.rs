//! Cookies by origin (issue 17, item 2), end to end: a session cookie set by one host is sent back to it and
//! never to another host the same user talks to.

use crate::origin_server::{Origin, answer};
use crate::util::{request, run_results, write};

#[test]
fn a_session_cookie_goes_back_to_its_host_only() {
    // Two hosts to a cookie (RFC 6265 does not tell ports apart, so two ports of 127.0.0.1 would be one).
    let a = Origin::start("127.0.0.2", |got| match got.target.as_str() {
        "/login" => answer(200, "set-cookie: sid=secret-a; Path=/; HttpOnly\r\n", b"{}"),
        _ => answer(200, "", b"{}"),
    });
    let b = Origin::start("127.0.0.3", |_| answer(200, "", b"{}"));
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "two.toml",
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
  {{ name = "login", path = "{a}/login" }},
  {{ name = "other_host", path = "{b}/x" }},
  {{ name = "own_host", path = "{a}/me" }},
]
"#,
            a = a.url,
            b = b.url
        ),
    );
    let r = run_results(&file, 0);
    for name in ["login", "other_host", "own_host"] {
        assert_eq!(request(&r, name)["requests"], 1, "{name}");
    }
    let (got_a, got_b) = (a.got(), b.got());
    assert_eq!(got_b.len(), 1);
    assert_eq!(got_b[0].method, "GET");
    assert_eq!(got_b[0].header("cookie"), None, "{}", got_b[0].head);
    let me = got_a
        .iter()
        .find(|g| g.target == "/me")
        .expect("/me reached a");
    assert_eq!(me.header("cookie"), Some("sid=secret-a"), "{}", me.head);
}
