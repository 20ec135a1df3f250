//! The shop (issue 18, item 7): what `scenarios/shop.toml` exercises and what its test checks from the server's
//! side. A catalog listed as a random page per request (gzip-compressed when the client accepts it), items by id, a
//! cart per user, an HTML login form guarded by a CSRF token in a cookie session, a multipart upload, and the
//! counters of `GET /api/debug/shop` (how many cart adds used an id never listed to their user, how many form posts
//! carried a token that was not the one their session's page gave).
//!
//! Shape: [`Shop`] holds the state (`shop_store`) and answers one request synchronously, as the other endpoints do;
//! `handler` routes to it and authenticates the Bearer endpoints first, passing the username in. The auth
//! endpoints are untouched: none of this runs for them (their only new work is the route table's few more arms).

use std::borrow::Cow;
use std::io::Write as _;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Response, StatusCode};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::sync::atomic::Ordering;

use super::handler::Resp;
use super::multipart;
use super::shop_store::{
    Added, CATALOG_SIZE, Catalog, Item, Sessions, ShopCounters, Shoppers, bump, hex128,
};
use super::store::Users;

/// Items per page when the query does not say.
pub(crate) const DEFAULT_PER_PAGE: usize = 10;
/// Most items per page.
pub(crate) const MAX_PER_PAGE: usize = 50;
/// The form session's cookie.
pub(crate) const SESSION_COOKIE: &str = "shop_session";
/// The upload endpoint, whose bodies may be larger ([`MAX_UPLOAD`]).
pub(crate) const UPLOAD_PATH: &str = "/api/upload";
/// Largest upload body: room for a real file (an avatar, a small document) while bounding what one request holds.
pub(crate) const MAX_UPLOAD: usize = 1024 * 1024;

/// The shop's state.
pub(crate) struct Shop {
    catalog: Catalog,
    shoppers: Shoppers,
    sessions: Sessions,
    pub counters: ShopCounters,
}

/// A JSON response.
fn json_resp(status: StatusCode, body: Vec<u8>) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Resp {
    match serde_json::to_vec(value) {
        Ok(body) => json_resp(status, body),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "serialization failed"),
    }
}

/// `{"error": MSG}`.
fn error(status: StatusCode, msg: &str) -> Resp {
    json_resp(
        status,
        serde_json::json!({ "error": msg }).to_string().into_bytes(),
    )
}

/// An HTML page.
fn html(status: StatusCode, body: String) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp
}

/// 303 See Other to `location`.
fn see_other(location: &'static str) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::SEE_OTHER;
    resp.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(location));
    resp
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
         <body>\n{body}\n</body>\n</html>\n"
    )
}

/// `text` with the characters that mean something in HTML escaped.
fn escape_html(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k.trim() == name).then(|| v.trim().trim_matches('"'))
        })
}

/// Whether the request's `Accept-Encoding` allows gzip: `gzip` (or `x-gzip`) listed with a non-zero weight, or not
/// listed and `*` with a non-zero weight.
pub(crate) fn accepts_gzip(parts: &Parts) -> bool {
    let mut star = None;
    for value in parts
        .headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
    {
        for coding in value.split(',') {
            let mut params = coding.split(';');
            let name = params.next().unwrap_or("").trim();
            let q = params
                .filter_map(|p| p.trim().split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                .map_or(1.0, |(_, v)| v.trim().parse::<f32>().unwrap_or(0.0));
            if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
                return q > 0.0;
            }
            if name == "*" {
                star = Some(q > 0.0);
            }
        }
    }
    star.unwrap_or(false)
}

/// `body` gzip-compressed (fast level), `None` if compressing failed.
fn gzip(body: &[u8]) -> Option<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 2 + 32),
        flate2::Compression::fast(),
    );
    enc.write_all(body).ok()?;
    enc.finish().ok()
}

/// An integer field: a JSON number or a string of digits (a template renders a captured id as a string).
fn integer(v: &serde_json::Value) -> Option<u64> {
    match v {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[derive(Serialize)]
struct ItemOut<'a> {
    id: u32,
    name: &'a str,
    price: f64,
}

impl<'a> From<&'a Item> for ItemOut<'a> {
    fn from(item: &'a Item) -> Self {
        ItemOut {
            id: item.id,
            name: &item.name,
            price: f64::from(item.price_cents) / 100.0,
        }
    }
}

impl Shop {
    /// An empty shop over a fresh catalog (seeded when the server is).
    pub fn new(seed: Option<u64>) -> Shop {
        Shop {
            catalog: Catalog::new(seed),
            shoppers: Shoppers::new(),
            sessions: Sessions::new(),
            counters: ShopCounters::default(),
        }
    }

    /// `GET /api/items?page=N&per_page=M`: a page of distinct items drawn at random from the catalog, recorded as
    /// listed to `user`; gzip-compressed when the request accepts it.
    pub fn items(&self, parts: &Parts, user: &str) -> Resp {
        let mut page = 1usize;
        let mut per_page = DEFAULT_PER_PAGE;
        for (k, v) in url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes()) {
            match &*k {
                "page" => match v.parse::<usize>() {
                    Ok(n) if n >= 1 => page = n,
                    _ => return error(StatusCode::BAD_REQUEST, "page must be an integer >= 1"),
                },
                "per_page" => match v.parse::<usize>() {
                    Ok(n) if (1..=MAX_PER_PAGE).contains(&n) => per_page = n,
                    _ => {
                        return error(
                            StatusCode::BAD_REQUEST,
                            "per_page must be an integer within 1..=50",
                        );
                    }
                },
                _ => {}
            }
        }
        bump(&self.counters.item_lists);
        let before = (page - 1).saturating_mul(per_page);
        let count = CATALOG_SIZE.saturating_sub(before).min(per_page);
        let picked = rand::seq::index::sample(&mut rand::rng(), CATALOG_SIZE, count);
        self.shoppers.listed(user, picked.iter());
        #[derive(Serialize)]
        struct Page<'a> {
            items: Vec<ItemOut<'a>>,
            page: usize,
            per_page: usize,
            total: usize,
            next: Option<String>,
        }
        let out = Page {
            items: picked
                .iter()
                .map(|i| ItemOut::from(&self.catalog.items[i]))
                .collect(),
            page,
            per_page,
            total: CATALOG_SIZE,
            next: (before + count < CATALOG_SIZE)
                .then(|| format!("/api/items?page={}&per_page={per_page}", page + 1)),
        };
        let Ok(body) = serde_json::to_vec(&out) else {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "serialization failed");
        };
        let compressed = if accepts_gzip(parts) {
            gzip(&body)
        } else {
            None
        };
        let gzipped = compressed.is_some();
        let mut resp = json_resp(StatusCode::OK, compressed.unwrap_or(body));
        let headers = resp.headers_mut();
        headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        if gzipped {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        resp
    }

    /// `GET /api/items/{id}`.
    pub fn item(&self, path: &str) -> Resp {
        let item = path
            .strip_prefix("/api/items/")
            .and_then(|id| id.parse::<u32>().ok())
            .and_then(|id| self.catalog.find(id));
        match item {
            Some(i) => json(StatusCode::OK, &ItemOut::from(&self.catalog.items[i])),
            None => error(StatusCode::NOT_FOUND, "no such item"),
        }
    }

    /// `POST /api/cart` `{"item_id":N,"quantity":Q}`. Every add with a valid body is counted, and apart those
    /// whose id was never listed to `user` (an unknown id included).
    pub fn cart_add(&self, user: &str, body: &[u8]) -> Resp {
        if body.trim_ascii_start().first() != Some(&b'{') {
            return error(
                StatusCode::BAD_REQUEST,
                "request body must be a JSON object",
            );
        }
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
            return error(StatusCode::BAD_REQUEST, "invalid JSON body");
        };
        let Some(item_id) = value.get("item_id").and_then(integer) else {
            return error(
                StatusCode::BAD_REQUEST,
                "item_id must be an integer (a number or a string of digits)",
            );
        };
        let quantity = match value.get("quantity") {
            None | Some(serde_json::Value::Null) => Some(1),
            Some(q) => integer(q).filter(|q| (1..=99).contains(q)),
        };
        let Some(quantity) = quantity else {
            return error(
                StatusCode::BAD_REQUEST,
                "quantity must be an integer within 1..=99",
            );
        };
        bump(&self.counters.cart_adds);
        let Some(item) = u32::try_from(item_id)
            .ok()
            .and_then(|id| self.catalog.find(id))
        else {
            bump(&self.counters.cart_adds_unlisted);
            return error(StatusCode::NOT_FOUND, "no such item");
        };
        let added = self.shoppers.add(user, item, quantity as u8);
        let (Added::Ok { listed, .. } | Added::Full { listed }) = added;
        if !listed {
            bump(&self.counters.cart_adds_unlisted);
        }
        match added {
            Added::Ok { lines, .. } => json(
                StatusCode::CREATED,
                &serde_json::json!({ "cart_size": lines }),
            ),
            Added::Full { .. } => error(
                StatusCode::CONFLICT,
                "the cart is full (100 items): DELETE /api/cart empties it",
            ),
        }
    }

    /// `GET /api/cart` (and the answer of `DELETE /api/cart`).
    pub fn cart(&self, user: &str) -> Resp {
        #[derive(Serialize)]
        struct Line {
            item_id: u32,
            quantity: u8,
        }
        #[derive(Serialize)]
        struct Cart {
            items: Vec<Line>,
            count: usize,
        }
        let items: Vec<Line> = self
            .shoppers
            .cart(user)
            .into_iter()
            .map(|(i, quantity)| Line {
                item_id: self.catalog.items[i].id,
                quantity,
            })
            .collect();
        json(
            StatusCode::OK,
            &Cart {
                count: items.len(),
                items,
            },
        )
    }

    /// `DELETE /api/cart`.
    pub fn cart_clear(&self, user: &str) -> Resp {
        self.shoppers.clear_cart(user);
        self.cart(user)
    }

    /// `GET /shop/login`: the form with a fresh CSRF token, remembered as the session's only valid one.
    pub fn login_page(&self, parts: &Parts) -> Resp {
        bump(&self.counters.login_pages);
        let (sid, token) = self
            .sessions
            .issue(cookie(parts, SESSION_COOKIE), Instant::now());
        let form = format!(
            "<h1>Sign in</h1>\n\
             <form method=\"post\" action=\"/shop/login\">\n\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">\n\
             <label>Username <input type=\"text\" name=\"username\" autocomplete=\"username\"></label>\n\
             <label>Password <input type=\"password\" name=\"password\" autocomplete=\"current-password\"></label>\n\
             <button type=\"submit\">Sign in</button>\n\
             </form>",
            hex128(token)
        );
        let mut resp = html(StatusCode::OK, page("Shop: sign in", &form));
        let set = format!("{SESSION_COOKIE}={}; Path=/; HttpOnly", hex128(sid));
        if let Ok(v) = HeaderValue::from_str(&set) {
            resp.headers_mut().insert(header::SET_COOKIE, v);
        }
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }

    /// `POST /shop/login` (form-urlencoded `username`, `password`, `csrf`, with the session cookie).
    pub fn login_post(&self, parts: &Parts, body: &[u8], users: &Users) -> Resp {
        bump(&self.counters.form_posts);
        let is_form = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        let (mut username, mut password, mut csrf) = (None, None, None);
        if is_form {
            for (k, v) in url::form_urlencoded::parse(body) {
                match &*k {
                    "username" => username = Some(v),
                    "password" => password = Some(v),
                    "csrf" => csrf = Some(v),
                    _ => {}
                }
            }
        }
        let sid = cookie(parts, SESSION_COOKIE);
        let token_ok = match (sid, &csrf) {
            (Some(sid), Some(csrf)) => self.sessions.token_ok(sid, csrf, Instant::now()),
            _ => false,
        };
        let Some(sid) = sid.filter(|_| token_ok) else {
            bump(&self.counters.form_posts_bad_token);
            return html(
                StatusCode::FORBIDDEN,
                page(
                    "Shop: forbidden",
                    "<h1>Forbidden</h1>\n<p>The form's security token is missing, stale or not this \
                     session's: load <a href=\"/shop/login\">the sign-in page</a> again.</p>",
                ),
            );
        };
        let username = username.unwrap_or_default();
        let password = password.unwrap_or_default();
        if username.is_empty() || password.is_empty() || !users.check_password(&username, &password)
        {
            return html(
                StatusCode::UNAUTHORIZED,
                page(
                    "Shop: sign-in failed",
                    "<h1>Sign-in failed</h1>\n<p>Invalid username or password.</p>",
                ),
            );
        }
        self.sessions.log_in(sid, &username);
        bump(&self.counters.form_logins);
        see_other("/shop/account")
    }

    /// `GET /shop/account`: the signed-in user's page, or 303 to the sign-in page.
    pub fn account(&self, parts: &Parts) -> Resp {
        let user =
            cookie(parts, SESSION_COOKIE).and_then(|sid| self.sessions.user(sid, Instant::now()));
        match user {
            Some(user) => html(
                StatusCode::OK,
                page(
                    "Shop: your account",
                    &format!(
                        "<h1>Welcome, {}</h1>\n<p><a href=\"/shop/login\">Sign in as someone else</a></p>",
                        escape_html(&user)
                    ),
                ),
            ),
            None => see_other("/shop/login"),
        }
    }

    /// `POST /api/upload` (multipart/form-data): each part's name, filename, type, size and SHA-256.
    pub fn upload(&self, parts: &Parts, body: &[u8]) -> Resp {
        let boundary = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(multipart::boundary);
        let Some(boundary) = boundary else {
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected Content-Type: multipart/form-data; boundary=...",
            );
        };
        let parsed = match multipart::parse(body, &boundary) {
            Ok(p) => p,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("malformed multipart body: {e}"),
                );
            }
        };
        #[derive(Serialize)]
        struct PartOut<'a> {
            name: &'a str,
            filename: Option<&'a str>,
            content_type: Option<&'a str>,
            bytes: usize,
            sha256: String,
        }
        let out: Vec<PartOut> = parsed
            .iter()
            .map(|p| PartOut {
                name: &p.name,
                filename: p.filename.as_deref(),
                content_type: p.content_type,
                bytes: p.data.len(),
                sha256: Sha256::digest(p.data)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
            })
            .collect();
        bump(&self.counters.uploads);
        json(StatusCode::CREATED, &serde_json::json!({ "parts": out }))
    }

    /// `GET /api/debug/shop`: the counters.
    pub fn debug(&self) -> Resp {
        let c = &self.counters;
        let get = |n: &std::sync::atomic::AtomicU64| n.load(Ordering::Relaxed);
        json(
            StatusCode::OK,
            &serde_json::json!({
                "item_lists": get(&c.item_lists),
                "cart_adds": get(&c.cart_adds),
                "cart_adds_unlisted": get(&c.cart_adds_unlisted),
                "login_pages": get(&c.login_pages),
                "form_posts": get(&c.form_posts),
                "form_posts_bad_token": get(&c.form_posts_bad_token),
                "form_logins": get(&c.form_logins),
                "uploads": get(&c.uploads),
            }),
        )
    }
}
