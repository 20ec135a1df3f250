//! End-to-end tests of the shop (issue 18, item 7) over real HTTP: the item list (random pages, gzip actually
//! compressed and decodable), items by id, the cart and its count of ids never listed to their user, the CSRF-guarded
//! form login (good token → 303 and the account page; stale, wrong or missing token → 403 and counted), the
//! multipart upload (a binary file part's size and SHA-256), and the debug counters.

use std::collections::HashSet;
use std::io::Read as _;
use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::*;

/// A client that does not follow redirects (the 303s are what is tested).
fn no_redirect() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn items(c: &Client, s: &TestServer, token: &str, query: &str) -> (StatusCode, Value) {
    let r = c
        .get(s.at(&format!("/api/items{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

fn ids(page: &Value) -> Vec<u64> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_u64().unwrap())
        .collect()
}

/// `GET /api/cart` of the user with `token`, as JSON.
async fn cart(c: &Client, s: &TestServer, token: &str) -> Value {
    c.get(s.at("/api/cart"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn counters(c: &Client, s: &TestServer) -> Value {
    c.get(s.at("/api/debug/shop"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn add(c: &Client, s: &TestServer, token: &str, body: Value) -> (StatusCode, Value) {
    let r = c
        .post(s.at("/api/cart"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

#[tokio::test]
async fn item_pages_are_random_subsets_with_next_links_and_items_resolve_by_id() {
    let s = spawn(DemoConfig::default()).await;
    let c = client();
    let token = token_for(&c, &s, "alice").await;

    let r = c.get(s.at("/api/items")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let (status, first) = items(&c, &s, &token, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["page"], 1);
    assert_eq!(first["per_page"], 10);
    assert_eq!(first["total"], 1000);
    assert_eq!(first["next"], "/api/items?page=2&per_page=10");
    let a = ids(&first);
    assert_eq!(a.len(), 10);
    assert_eq!(a.iter().collect::<HashSet<_>>().len(), 10, "distinct ids");
    assert!(a.iter().all(|&id| (10_000..1_000_000).contains(&id)));
    for item in first["items"].as_array().unwrap() {
        assert!(!item["name"].as_str().unwrap().is_empty());
        assert!(item["price"].as_f64().unwrap() > 0.0);
        // Every listed id resolves, to the same item.
        let r = c
            .get(s.at(&format!("/api/items/{}", item["id"])))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(&r.json::<Value>().await.unwrap(), item);
    }
    // Another request draws another subset (the chance of the same 10 of 1000 is negligible).
    let (_, second) = items(&c, &s, &token, "?page=1").await;
    assert_ne!(
        ids(&second).iter().collect::<HashSet<_>>(),
        a.iter().collect()
    );

    let (_, p) = items(&c, &s, &token, "?page=20&per_page=50").await;
    assert_eq!(ids(&p).len(), 50);
    assert_eq!(p["next"], Value::Null);
    let (_, p) = items(&c, &s, &token, "?page=34&per_page=30").await;
    assert_eq!(ids(&p).len(), 10, "the last page holds what is left");
    assert_eq!(p["next"], Value::Null);
    let (_, p) = items(&c, &s, &token, "?page=21&per_page=50").await;
    assert_eq!(ids(&p).len(), 0);
    for bad in [
        "?per_page=51",
        "?per_page=0",
        "?page=0",
        "?page=x",
        "?per_page=-1",
    ] {
        let (status, body) = items(&c, &s, &token, bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(body["error"].is_string());
    }

    for unknown in [
        "/api/items/1",
        "/api/items/abc",
        "/api/items/",
        "/api/items/99999999999",
    ] {
        let r = c.get(s.at(unknown)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{unknown}");
    }
    assert_eq!(
        counters(&c, &s).await["item_lists"],
        5,
        "the 400s are not counted"
    );
    s.stop().await.unwrap();
}

#[tokio::test]
async fn item_list_is_gzip_compressed_when_accepted_and_decodes() {
    let s = spawn(DemoConfig::default()).await;
    let c = client();
    let token = token_for(&c, &s, "alice").await;
    let get = |enc: Option<&'static str>| {
        let mut req = c.get(s.at("/api/items?per_page=50")).bearer_auth(&token);
        if let Some(enc) = enc {
            req = req.header("accept-encoding", enc);
        }
        req.send()
    };

    for enc in [
        "gzip",
        "gzip, deflate, br",
        "br;q=1, gzip;q=0.5",
        "*",
        "x-gzip",
    ] {
        let r = get(Some(enc)).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-encoding"], "gzip", "{enc}");
        assert_eq!(r.headers()["vary"], "Accept-Encoding");
        assert_eq!(r.headers()["content-type"], "application/json");
        let raw = r.bytes().await.unwrap();
        assert_eq!(&raw[..2], &[0x1f, 0x8b], "gzip magic");
        let mut text = String::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_string(&mut text)
            .unwrap();
        assert!(
            raw.len() < text.len(),
            "{} compressed vs {} plain",
            raw.len(),
            text.len()
        );
        let page: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(ids(&page).len(), 50);
    }
    for enc in [
        None,
        Some("identity"),
        Some("br"),
        Some("gzip;q=0"),
        Some("*;q=0"),
    ] {
        let r = get(enc).await.unwrap();
        assert!(r.headers().get("content-encoding").is_none(), "{enc:?}");
        assert_eq!(r.headers()["vary"], "Accept-Encoding");
        let page: Value = r.json().await.unwrap();
        assert_eq!(ids(&page).len(), 50);
    }
    s.stop().await.unwrap();
}

#[tokio::test]
async fn cart_counts_adds_and_those_of_ids_never_listed_to_the_user() {
    let s = spawn(DemoConfig::default()).await;
    let c = client();
    let alice = token_for(&c, &s, "alice").await;
    let bob = token_for(&c, &s, "bob").await;
    let (_, page) = items(&c, &s, &alice, "").await;
    let listed = ids(&page);
    // An id of the catalog that alice was never shown: one of bob's pages not on hers.
    let (_, bobs) = items(&c, &s, &bob, "?per_page=50").await;
    let unlisted = *ids(&bobs).iter().find(|id| !listed.contains(id)).unwrap();

    let (status, body) = add(&c, &s, &alice, json!({"item_id": listed[0]})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body, json!({"cart_size": 1}));
    // A template renders a captured id as a string: accepted too. The same item again adds to its quantity.
    let (status, body) = add(
        &c,
        &s,
        &alice,
        json!({"item_id": listed[0].to_string(), "quantity": "2"}),
    )
    .await;
    assert_eq!(
        (status, body),
        (StatusCode::CREATED, json!({"cart_size": 1}))
    );
    let (status, body) = add(
        &c,
        &s,
        &alice,
        json!({"item_id": listed[1], "quantity": 99}),
    )
    .await;
    assert_eq!(
        (status, body),
        (StatusCode::CREATED, json!({"cart_size": 2}))
    );
    let c0 = counters(&c, &s).await;
    assert_eq!(
        (c0["cart_adds"].as_u64(), c0["cart_adds_unlisted"].as_u64()),
        (Some(3), Some(0))
    );

    // In the catalog but never listed to alice: added, and counted.
    let (status, _) = add(&c, &s, &alice, json!({"item_id": unlisted})).await;
    assert_eq!(status, StatusCode::CREATED);
    // Not in the catalog: 404, and counted.
    let (status, body) = add(&c, &s, &alice, json!({"item_id": 5})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].is_string());
    let c1 = counters(&c, &s).await;
    assert_eq!(
        (c1["cart_adds"].as_u64(), c1["cart_adds_unlisted"].as_u64()),
        (Some(5), Some(2))
    );

    // Bad bodies: 400 and not counted.
    for bad in [
        json!({}),
        json!({"item_id": "abc"}),
        json!({"item_id": 1.5}),
        json!({"item_id": -3}),
        json!({"item_id": listed[2], "quantity": 0}),
        json!({"item_id": listed[2], "quantity": 100}),
        json!({"item_id": listed[2], "quantity": "many"}),
        json!([1, 2]),
    ] {
        let (status, body) = add(&c, &s, &alice, bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(body["error"].is_string());
    }
    let r = c
        .post(s.at("/api/cart"))
        .bearer_auth(&alice)
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(counters(&c, &s).await["cart_adds"], 5);

    let alices_cart: Value = cart(&c, &s, &alice).await;
    assert_eq!(
        alices_cart,
        json!({"items": [
            {"item_id": listed[0], "quantity": 3},
            {"item_id": listed[1], "quantity": 99},
            {"item_id": unlisted, "quantity": 1},
        ], "count": 3})
    );
    // Bob's cart is his own.
    let bobs_cart: Value = cart(&c, &s, &bob).await;
    assert_eq!(bobs_cart, json!({"items": [], "count": 0}));

    let r = c
        .delete(s.at("/api/cart"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"items": [], "count": 0})
    );

    let r = c.get(s.at("/api/cart")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = c.put(s.at("/api/cart")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers()["allow"], "GET, POST, DELETE");
    s.stop().await.unwrap();
}

#[tokio::test]
async fn a_cart_holds_at_most_100_items() {
    let s = spawn(DemoConfig::default()).await;
    let c = client();
    let token = token_for(&c, &s, "alice").await;
    let mut listed = Vec::new();
    for page in 1..=3 {
        let (_, p) = items(&c, &s, &token, &format!("?page={page}&per_page=50")).await;
        listed.extend(ids(&p));
    }
    let listed: Vec<u64> = listed
        .into_iter()
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    assert!(listed.len() > 100, "{} distinct ids in 150", listed.len());
    for (n, id) in listed.iter().take(100).enumerate() {
        let (status, body) = add(&c, &s, &token, json!({"item_id": id})).await;
        assert_eq!(
            (status, body),
            (StatusCode::CREATED, json!({"cart_size": n + 1}))
        );
    }
    let (status, body) = add(&c, &s, &token, json!({"item_id": listed[100]})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body["error"].as_str().unwrap().contains("DELETE /api/cart"));
    // An item already in the full cart still adds to its quantity.
    let (status, _) = add(&c, &s, &token, json!({"item_id": listed[0]})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(counters(&c, &s).await["cart_adds_unlisted"], 0);
    s.stop().await.unwrap();
}

/// The `shop_session` cookie a response set, and the CSRF token in its form.
async fn login_page(c: &Client, s: &TestServer, sid: Option<&str>) -> (String, String) {
    let mut req = c.get(s.at("/shop/login"));
    if let Some(sid) = sid {
        req = req.header("cookie", format!("theme=dark; shop_session={sid}"));
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    let rest = set.strip_prefix("shop_session=").unwrap();
    let (sid, attrs) = rest.split_once(';').unwrap();
    assert_eq!(attrs, " Path=/; HttpOnly");
    let html = r.text().await.unwrap();
    assert!(
        html.contains(r#"<form method="post" action="/shop/login">"#),
        "{html}"
    );
    assert!(html.contains(r#"name="username""#) && html.contains(r#"name="password""#));
    let (_, after) = html
        .split_once(r#"<input type="hidden" name="csrf" value=""#)
        .unwrap();
    let (token, _) = after.split_once('"').unwrap();
    (sid.to_owned(), token.to_owned())
}

async fn post_form(c: &Client, s: &TestServer, sid: Option<&str>, form: &str) -> reqwest::Response {
    let mut req = c
        .post(s.at("/shop/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned());
    if let Some(sid) = sid {
        req = req.header("cookie", format!("shop_session={sid}"));
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn form_login_needs_the_token_its_page_gave_and_counts_the_others() {
    let s = spawn(DemoConfig::default()).await;
    let c = no_redirect();
    assert_eq!(
        register(&c, &s, "<b>al&ice</b>", "pw 1&2").await.status(),
        StatusCode::CREATED
    );
    let user = "%3Cb%3Eal%26ice%3C%2Fb%3E";
    let pass = "pw+1%262";

    let (sid, stale) = login_page(&c, &s, None).await;
    assert_eq!(sid.len(), 32);
    // The same session gets a fresh token per page; only the latest is valid.
    let (same, token) = login_page(&c, &s, Some(&sid)).await;
    assert_eq!(same, sid);
    assert_ne!(token, stale);
    // An unknown session id gets a new session.
    let (other, _) = login_page(&c, &s, Some("0123456789abcdef0123456789abcdef")).await;
    assert_ne!(other, sid);

    let forbidden = [
        (
            Some(sid.as_str()),
            format!("username={user}&password={pass}&csrf={stale}"),
        ),
        (
            Some(sid.as_str()),
            format!("username={user}&password={pass}"),
        ),
        (
            None,
            format!("username={user}&password={pass}&csrf={token}"),
        ),
        (
            Some(other.as_str()),
            format!("username={user}&password={pass}&csrf={token}"),
        ),
    ];
    for (cookie, form) in &forbidden {
        let r = post_form(&c, &s, cookie.as_deref(), form).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{cookie:?}");
        assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
        assert!(r.text().await.unwrap().contains("<h1>Forbidden</h1>"));
    }
    // Not a form body: no token could be read.
    let r = c
        .post(s.at("/shop/login"))
        .header("cookie", format!("shop_session={sid}"))
        .json(&json!({"csrf": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // The right token with wrong credentials: 401, not a token failure.
    let r = post_form(
        &c,
        &s,
        Some(&sid),
        &format!("username={user}&password=nope&csrf={token}"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Invalid username or password")
    );

    // Not signed in yet: the account page sends to the sign-in page.
    let r = c
        .get(s.at("/shop/account"))
        .header("cookie", format!("shop_session={sid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/shop/login");

    let r = post_form(
        &c,
        &s,
        Some(&sid),
        &format!("csrf={token}&username={user}&password={pass}"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/shop/account");
    let r = c
        .get(s.at("/shop/account"))
        .header("cookie", format!("shop_session={sid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    let html = r.text().await.unwrap();
    assert!(
        html.contains("<h1>Welcome, &lt;b&gt;al&amp;ice&lt;/b&gt;</h1>"),
        "{html}"
    );
    let r = c.get(s.at("/shop/account")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let n = counters(&c, &s).await;
    assert_eq!(n["login_pages"], 3);
    assert_eq!(n["form_posts"], 7);
    assert_eq!(n["form_posts_bad_token"], 5);
    assert_eq!(n["form_logins"], 1);
    let r = c.delete(s.at("/shop/login")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers()["allow"], "GET, POST");
    s.stop().await.unwrap();
}

/// A multipart body by hand: a text field and a file part.
fn multipart_body(boundary: &str, file: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nHello 7\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"avatar.png\"\r\n\
             Content-Type: image/png\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

#[tokio::test]
async fn upload_reports_each_part_with_its_size_and_sha256() {
    let s = spawn(DemoConfig::default()).await;
    let c = client();
    let token = token_for(&c, &s, "alice").await;
    let boundary = "----loadgen7MA4YWxkTrZu0gW";
    // Every byte value, CRLFs and a near-boundary inside the content, 200 KiB (over the 64 KiB of other bodies).
    let mut file: Vec<u8> = (0..=255u8).cycle().take(200 * 1024).collect();
    file.extend_from_slice(format!("\r\n--{}", &boundary[..10]).as_bytes());
    file.extend_from_slice(b"\r\n\r\n--\x00\xff");
    let upload = |body: Vec<u8>, content_type: &str, token: Option<&str>| {
        let mut req = c
            .post(s.at("/api/upload"))
            .header("content-type", content_type.to_owned())
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    let ct = format!("multipart/form-data; boundary={boundary}");

    let r = upload(multipart_body(boundary, &file), &ct, Some(&token))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    let hex = |data: &[u8]| -> String {
        Sha256::digest(data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    assert_eq!(
        body,
        json!({"parts": [
            {"name": "title", "filename": null, "content_type": null, "bytes": 7, "sha256": hex(b"Hello 7")},
            {"name": "file", "filename": "avatar.png", "content_type": "image/png",
             "bytes": file.len(), "sha256": hex(&file)},
        ]})
    );

    let quoted = format!("multipart/form-data; charset=utf-8; boundary=\"{boundary}\"");
    let r = upload(multipart_body(boundary, b""), &quoted, Some(&token))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.json::<Value>().await.unwrap()["parts"][1]["bytes"], 0);

    let r = upload(multipart_body(boundary, b"x"), &ct, None)
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = upload(b"{}".to_vec(), "application/json", Some(&token))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let mut cut = multipart_body(boundary, b"abc");
    cut.truncate(cut.len() - 12);
    let r = upload(cut, &ct, Some(&token)).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        r.json::<Value>().await.unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("closing delimiter")
    );
    let r = upload(
        multipart_body(boundary, &vec![0u8; 1024 * 1024]),
        &ct,
        Some(&token),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // The other endpoints keep their 64 KiB limit.
    let r = c
        .post(s.at("/api/cart"))
        .bearer_auth(&token)
        .body(vec![b' '; 70 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);

    assert_eq!(counters(&c, &s).await["uploads"], 2);
    s.stop().await.unwrap();
}

#[tokio::test]
async fn debug_shop_reports_every_counter_from_zero() {
    let s = spawn(DemoConfig::default()).await;
    let c = client();
    assert_eq!(
        counters(&c, &s).await,
        json!({"item_lists": 0, "cart_adds": 0, "cart_adds_unlisted": 0, "login_pages": 0,
               "form_posts": 0, "form_posts_bad_token": 0, "form_logins": 0, "uploads": 0})
    );
    s.stop().await.unwrap();
}
