//! The built-in API's shop (issue 18, item 7) driven by the real binary with the scenario keys loadgen had before
//! issue 18, checked from the server's side (`GET /api/debug/shop`): each user lists a compressed page of items
//! (decoded by the client before its capture), adds the id it captured to its cart, and the server counts every add
//! as one of an id listed to that user; a scenario that guesses an id instead is caught by the same counter.

use std::io::{Read, Write};
use std::time::Duration;

use crate::util::{Demo, auth_steps, request, run_results, write};

/// `GET /api/debug/shop` of a demo server.
fn shop_counters(url: &str) -> serde_json::Value {
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect to serve-demo");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    s.write_all(format!("GET /api/debug/shop HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .expect("send the request");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read the answer");
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("debug/shop answered {text:?}: {e}"))
}

fn scenario(url: &str, item_id: &str) -> String {
    format!(
        r#"
[target]
host = "{url}"
[load]
users = 3
spawn_rate = 1000
duration = "30s"
iterations = 30
{auth}
[[task]]
name = "shop"
[[task.steps]]
name = "list"
path = "/api/items"
query = {{ per_page = "5" }}
compression = true
headers = {{ Authorization = "Bearer {{{{token}}}}" }}
capture = {{ item_id = "$.items[0].id" }}
expect = {{ status = [200] }}
[[task.steps]]
name = "add"
method = "POST"
path = "/api/cart"
headers = {{ Authorization = "Bearer {{{{token}}}}" }}
json = {{ item_id = "{item_id}", quantity = 2 }}
expect = {{ status = [201, 404] }}
"#,
        auth = auth_steps("shop_{{run_id}}_{{vu}}", "Shop-Pass-1"),
    )
}

#[test]
fn every_cart_add_of_a_captured_id_is_one_the_server_listed_to_that_user() {
    let demo = Demo::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "shop.toml", &scenario(&demo.url, "{{item_id}}"));
    let r = run_results(&file, 0);
    assert_eq!(request(&r, "list")["requests"], 30, "{r:#}");
    assert_eq!(request(&r, "add")["requests"], 30);
    assert!(
        request(&r, "login")["requests"].as_u64() > Some(1),
        "more than one user"
    );
    let c = shop_counters(&demo.url);
    assert_eq!(c["item_lists"], 30, "{c}");
    assert_eq!(c["cart_adds"], 30, "{c}");
    assert_eq!(c["cart_adds_unlisted"], 0, "{c}");

    // A scenario that guesses the id: the server counts every add as unlisted (and answers 404: not in the catalog).
    let guess = write(dir.path(), "guess.toml", &scenario(&demo.url, "42"));
    run_results(&guess, 0);
    let c = shop_counters(&demo.url);
    assert_eq!(c["cart_adds"], 60, "{c}");
    assert_eq!(c["cart_adds_unlisted"], 30, "{c}");
}

/// `scenarios/shop.toml` as shipped (issue 18, item 7), against `serve-demo`, for a bounded number of iterations:
/// every request meets its checks, and the server saw what the scenario means to do — every cart add of an id
/// that server had listed to that same user, every form post with the token its page gave, uploads and logins.
#[test]
fn the_shipped_shop_scenario_does_what_it_means_as_the_server_sees_it() {
    let demo = Demo::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("shop.json");
    let scenario = crate::util::root().join("scenarios/shop.toml");
    crate::util::loadgen([
        "run",
        &scenario.to_string_lossy(),
        "--host",
        &demo.url,
        "-u",
        "8",
        "-r",
        "100",
        "--iterations",
        "240",
        "-q",
        "--json",
        &json.to_string_lossy(),
    ])
    .expect_code(0);
    let r = crate::util::results(&json);
    assert_eq!(r["totals"]["failures"], 0, "{r:#}");
    for name in [
        "register",
        "login",
        "shop_login_page",
        "shop_login",
        "list_items",
        "view_item",
        "add_to_cart",
        "add_from_file",
        "view_cart",
        "upload_avatar",
        "account",
        "logout",
    ] {
        assert!(
            request(&r, name)["requests"].as_u64() > Some(0),
            "{name} never ran"
        );
    }
    // Up to three items viewed per page listed.
    let lists = request(&r, "list_items")["requests"].as_u64().unwrap();
    let views = request(&r, "view_item")["requests"].as_u64().unwrap();
    assert_eq!(views, 3 * lists, "{views} views for {lists} pages");
    // The cart is viewed twice (repeat = 2) by every flow that did not stop at emptying it (stop_if).
    let flows = request(&r, "browse_and_buy")["requests"].as_u64().unwrap();
    let emptied = request(&r, "empty_cart")["requests"].as_u64().unwrap();
    let carts = request(&r, "view_cart")["requests"].as_u64().unwrap();
    assert_eq!(
        carts,
        2 * (flows - emptied),
        "{carts} cart views, {flows} flows, {emptied} stopped"
    );
    let c = shop_counters(&demo.url);
    let adds = request(&r, "add_to_cart")["requests"].as_u64().unwrap()
        + request(&r, "add_from_file")["requests"].as_u64().unwrap();
    assert_eq!(c["cart_adds"], adds, "{c}");
    assert_eq!(c["cart_adds_unlisted"], 0, "{c}");
    let logins = request(&r, "shop_login")["requests"].as_u64().unwrap();
    assert_eq!(c["form_posts"], logins, "{c}");
    assert_eq!(c["form_logins"], logins, "{c}");
    assert_eq!(c["form_posts_bad_token"], 0, "{c}");
    assert_eq!(
        c["uploads"],
        request(&r, "upload_avatar")["requests"],
        "{c}"
    );
}

/// The same shop over HTTP/2 (h2c to `serve-demo`): the form login's cookies and CSRF token, the multipart upload
/// of a binary file (the server answers its size and type, which the scenario checks) and the templated body file
/// all go through the HTTP/2 client, and the server sees the same as over HTTP/1.1.
#[test]
fn the_shop_scenario_works_over_http2_binary_upload_included() {
    let demo = Demo::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let shop = crate::util::root().join("scenarios/shop.toml");
    let file = write(
        dir.path(),
        "shop_h2.toml",
        &format!(
            "include = {:?}\n[target]\nhost = \"{}\"\nhttp = \"2\"\n\
             headers = {{ \"User-Agent\" = \"loadgen-shop/1.0\", Accept = \"application/json\" }}\n",
            shop.to_string_lossy(),
            demo.url
        ),
    );
    let json = dir.path().join("shop_h2.json");
    crate::util::loadgen([
        "run",
        &file.to_string_lossy(),
        "-u",
        "4",
        "-r",
        "100",
        "--iterations",
        "80",
        "-q",
        "--json",
        &json.to_string_lossy(),
    ])
    .expect_code(0);
    let r = crate::util::results(&json);
    assert_eq!(r["totals"]["failures"], 0, "{r:#}");
    assert!(request(&r, "shop_login")["requests"].as_u64() > Some(0));
    let c = shop_counters(&demo.url);
    assert_eq!(c["cart_adds_unlisted"], 0, "{c}");
    assert_eq!(c["form_posts_bad_token"], 0, "{c}");
    assert_eq!(
        c["form_logins"],
        request(&r, "shop_login")["requests"],
        "{c}"
    );
    assert_eq!(
        c["uploads"],
        request(&r, "upload_avatar")["requests"],
        "{c}"
    );
    // Every request of the run went over HTTP/2 (only this test's own debug requests are HTTP/1.x).
    let addr = demo.url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.write_all(format!("GET /api/debug/versions HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .expect("send");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let v: serde_json::Value =
        serde_json::from_str(text.split_once("\r\n\r\n").map_or("", |(_, b)| b)).expect("JSON");
    // Each request is one HTTP/2 request, and each redirect it followed (the form login's 303) one more.
    let total = r["totals"]["requests"].as_u64().unwrap();
    let hops: u64 = r["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|q| q["redirects"].as_u64())
        .sum();
    assert!(hops > 0, "the form login's redirect was followed");
    assert_eq!(v["http2"]["requests"], total + hops, "{v}");
    // Over HTTP/1.x: only this test's two requests to the debug endpoints.
    assert_eq!(v["http1"]["requests"], 2, "{v}");
}
