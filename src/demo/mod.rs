//! The built-in reference authentication API served by `loadgen serve-demo`
//! and `loadgen run FILE --demo`: a small but realistic target for load tests,
//! with knobs to inject latency, errors and stalls, and a small shop (items,
//! cart, an HTML form login with a CSRF token, uploads) whose counters let a
//! test check from the server's side what a scenario did.
//!
//! # Endpoints
//!
//! All bodies are JSON (`Content-Type: application/json`) except the shop's
//! HTML pages (`/shop/...`); every JSON error is `{"error": "<message>"}`.
//! Request bodies are limited to 64 KiB (413 beyond), uploads to 1 MiB.
//!
//! | Method & path | Request | Success | Failures |
//! |---|---|---|---|
//! | `GET /health` | – | 200 `{"status":"healthy","users":N,"uptime_s":F}` | – |
//! | `POST /api/auth/register` | `{"username","password","email"}` | 201 `{"id","username"}` | 400 missing/empty field, username > 64 bytes, invalid JSON; 409 username taken |
//! | `POST /api/auth/login` | `{"username","password"}` | 200 `{"access_token","token_type":"bearer","expires_in":SECS}` | 400 as register; 401 unknown user or wrong password |
//! | `GET /api/auth/verify` | Bearer | 200 `{"valid":true,"username"}` | 401 |
//! | `POST /api/auth/refresh` | Bearer | 200 new token, same shape as login; the old token is revoked | 401 |
//! | `POST /api/protected/operation` | Bearer, `{"action":"test"}` | 200 `{"ok":true,"action"}` | 401; 429 `{"error":"rate limit exceeded"}` + `Retry-After` (seconds); 400 missing `action` |
//! | `POST /api/auth/logout` | Bearer | 200 `{"ok":true}`; the token is revoked | 401 |
//! | `GET /api/debug/versions` | – | 200 `{"http1":{"requests":N,"connections":N},"http2":{...}}`: what was served by HTTP version (this request included) | – |
//! | `GET /api/items?page=N&per_page=M` | Bearer; `page` ≥ 1 (default 1), `per_page` 1..=50 (default 10) | 200 `{"items":[{"id","name","price"}...],"page","per_page","total":1000,"next":"/api/items?page=N+1&per_page=M" or null}`: `min(M, what is left)` distinct items drawn at random from the catalog, recorded as listed to the user; gzip-compressed (`Content-Encoding: gzip`) when `Accept-Encoding` allows gzip; always `Vary: Accept-Encoding` | 401; 400 bad `page` / `per_page` |
//! | `GET /api/items/{id}` | – | 200 `{"id","name","price"}` | 404 unknown id |
//! | `POST /api/cart` | Bearer, `{"item_id":N,"quantity":Q}` (numbers or strings of digits; `quantity` 1..=99, default 1) | 201 `{"cart_size":K}` (distinct items in the cart; the same item again adds to its quantity, capped at 99) | 401; 400 bad body; 404 unknown item; 409 cart full (100 items) |
//! | `GET /api/cart` | Bearer | 200 `{"items":[{"item_id","quantity"}...],"count":K}` in order of first addition | 401 |
//! | `DELETE /api/cart` | Bearer | 200 `{"items":[],"count":0}`: the cart emptied | 401 |
//! | `GET /shop/login` | cookie `shop_session` (optional) | 200 `text/html; charset=utf-8`: `<form method="post" action="/shop/login">` with `<input type="hidden" name="csrf" value="TOKEN">`, `username` and `password` inputs; `Set-Cookie: shop_session=SID; Path=/; HttpOnly` (the same SID for a known session, else a new one); each page issues a fresh TOKEN, the session's only valid one | – |
//! | `POST /shop/login` | cookie `shop_session`, form-urlencoded `username`, `password`, `csrf` | 303, `Location: /shop/account`: the session is signed in as that user (registered with `/api/auth/register`) | 403 HTML: the token is not the one last issued to this session (stale, wrong, missing, no/unknown session, not a form body); 401 HTML: bad credentials |
//! | `GET /shop/account` | cookie `shop_session` | 200 HTML with `<h1>Welcome, USERNAME</h1>` (HTML-escaped) | 303 `Location: /shop/login` when the session is not signed in |
//! | `POST /api/upload` | Bearer, `multipart/form-data; boundary=...`, ≤ 1 MiB | 201 `{"parts":[{"name","filename" or null,"content_type" or null,"bytes":N,"sha256":"hex"}...]}` | 401; 415 not multipart or no boundary; 400 malformed body (says what); 413 |
//! | `GET /app/`, `/app/account`, `/app/bye` | – | 200 HTML pages of a small browser app (with `/app/app.js`, `/app/app.css`, `/app/logo.svg`) whose script registers a unique user, logs in, verifies, refreshes, lists items, runs the protected operation and logs out across the three pages: what a HAR recording for `loadgen import har` is made from (`app`) | 404 other `/app/...` paths |
//! | `GET /api/debug/shop` | – | 200 `{"item_lists","cart_adds","cart_adds_unlisted","login_pages","form_posts","form_posts_bad_token","form_logins","uploads"}` | – |
//!
//! The shop's counters: `item_lists` pages served (200), `cart_adds` cart adds
//! with a valid body (201, 404 and 409 alike), `cart_adds_unlisted` those whose
//! `item_id` was never in a page listed to that user (an unknown id included),
//! `login_pages` forms served, `form_posts` every `POST /shop/login`,
//! `form_posts_bad_token` those answered 403, `form_logins` those answered 303,
//! `uploads` uploads answered 201. The catalog's 1000 ids are random numbers in
//! `10000..1000000` (drawn from `seed` when it is set), so a scenario knows
//! them only by capturing them. Memory stays bounded: a user's shop state is a
//! 128-byte bitset of the ids ever listed to them and a cart of at most 100
//! lines; form sessions are capped at 50,000 (the idle, then the least
//! recently seen, go first).
//!
//! Every endpoint is served over HTTP/1.1 and over HTTP/2 with prior knowledge (h2c); the server tells them
//! apart by the client's first bytes.
//!
//! "Bearer" means an `Authorization: Bearer <token>` header. A 401 (with
//! `WWW-Authenticate: Bearer`) is returned for a missing header, a malformed
//! token, a bad signature, an expired token or a revoked token; the error
//! message says which. Any other path is 404; a known path with the wrong
//! method is 405 with an `Allow` header.
//!
//! Tokens are HS256 JWTs (`header.payload.signature`, base64url without
//! padding) signed with a random per-process secret, carrying `sub`
//! (username), `jti` (unique id), `iat` and `exp` (Unix seconds; `exp` is
//! rounded up to a whole second). Passwords are stored as salted SHA-256 —
//! deliberately cheap so the target measures the server, not a password hash;
//! emails are validated but not kept. The rate limit is a fixed window per
//! user, checked after authentication. The protected operation is checked in
//! the order authentication (401), rate limit (429), body (400).
//!
//! # Knobs ([`DemoConfig`])
//!
//! | Field | Default | Effect |
//! |---|---|---|
//! | `latency` | 0 | fixed delay added before every response |
//! | `latency_jitter` | none | extra random delay, [`Jitter`]: `uniform:5ms..50ms` or `exp:20ms` |
//! | `error_rate` | 0.0 | fraction (0..=1) of requests, except `/health`, answered 500 `{"error":"injected failure"}` without side effects |
//! | `stall` | none | [`Stall`] `PAUSE/EVERY`, e.g. `1s/5s`: the last PAUSE of every EVERY-long cycle since start, no response leaves the server; they are held until the pause ends |
//! | `rate_limit` / `rate_window` | 10 / 1 s | per-user limit of the protected operation; `rate_limit = 0` disables it |
//! | `token_ttl` | 15 min | token lifetime |
//! | `unhealthy_for` | 0 | for this long after start, `/health` answers 503 `{"status":"starting"}` (a service still starting, for pre-flight checks) |
//! | `capacity` | 0 (none) | the most requests in flight at once (`/health` aside): one more is answered 503 `{"error":"over capacity"}` at once, without delay or side effects; a limit a load test can find (`run --find-limit`) |
//! | `seed` | none | seeds the jitter/error RNG (per connection: seed mixed with the connection's accept order), for reproducible runs |
//!
//! Latency, jitter and stalls apply to every response including `/health`.
//!
//! # Running it
//!
//! [`serve`] runs on a caller-provided listener and runtime until a shutdown
//! future resolves; [`DemoServer::start`] runs it in the background on its
//! own thread and runtime and is stopped by [`DemoServer::shutdown`] or drop.
//!
//! # Module layout
//!
//! `knobs` (Jitter/Stall parsing and sampling), `token` (JWT), `store`
//! (sharded users / revocations / rate limits), `handler` (routing and
//! endpoints), `shop` (the shop's endpoints), `shop_store` (catalog, carts,
//! form sessions, counters), `app` (the browser app's pages), `multipart` (the upload's parser), `server`
//! (accept loop, graceful shutdown, background server).

use std::io;
use std::time::Duration;

mod app;
mod handler;
mod knobs;
mod metrics;
mod multipart;
mod server;
mod shop;
mod shop_store;
mod store;
mod token;

#[cfg(test)]
mod tests;

pub use knobs::{Jitter, ParseKnobError, Stall};
pub use server::{DemoServer, SHUTDOWN_GRACE, serve};

/// Behaviour of the demo server. `Default` gives a well-behaved server
/// (no injected faults, 10 requests/s per user, 15-minute tokens).
#[derive(Debug, Clone, PartialEq)]
pub struct DemoConfig {
    /// Fixed latency added to every response (default 0).
    pub latency: Duration,
    /// Random extra latency on top of `latency` (default none).
    pub latency_jitter: Option<Jitter>,
    /// Fraction of requests (except `/health`) answered with an injected
    /// 500 error, in `0.0..=1.0` (default 0).
    pub error_rate: f64,
    /// Periodic whole-server pause (default none).
    pub stall: Option<Stall>,
    /// Protected-operation requests allowed per user per `rate_window`;
    /// 0 disables rate limiting (default 10).
    pub rate_limit: u32,
    /// Length of the rate-limit window (default 1 s).
    pub rate_window: Duration,
    /// Lifetime of issued tokens (default 15 min).
    pub token_ttl: Duration,
    /// For this long after start, `/health` answers 503 `{"status":"starting"}` (default 0).
    pub unhealthy_for: Duration,
    /// Seed for the RNG behind jitter and injected errors; `None` draws
    /// from OS entropy (default none).
    pub seed: Option<u64>,
    /// Issue 21: the most requests served at once (`/health` aside); one
    /// beyond them is answered 503 at once, as a server shedding load does.
    /// 0 means no limit (default 0).
    pub capacity: u64,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            latency: Duration::ZERO,
            latency_jitter: None,
            error_rate: 0.0,
            stall: None,
            rate_limit: 10,
            rate_window: Duration::from_secs(1),
            token_ttl: Duration::from_secs(15 * 60),
            unhealthy_for: Duration::ZERO,
            seed: None,
            capacity: 0,
        }
    }
}

impl DemoConfig {
    /// Checks the values [`serve`] and [`DemoServer::start`] rely on:
    /// `error_rate` within `0..=1`, a non-zero `rate_window` when rate
    /// limiting is on, a `token_ttl` between 1 ms and 100 years, and a stall
    /// with `0 < pause < every`. Fails with `ErrorKind::InvalidInput`.
    pub fn validate(&self) -> io::Result<()> {
        let invalid = |msg: String| Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        if !(0.0..=1.0).contains(&self.error_rate) {
            return invalid(format!(
                "demo error_rate must be within 0..=1, got {}",
                self.error_rate
            ));
        }
        if self.rate_limit > 0 && self.rate_window.is_zero() {
            return invalid("demo rate_window must be greater than zero".to_owned());
        }
        const MAX_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
        if self.token_ttl < Duration::from_millis(1) || self.token_ttl > MAX_TTL {
            return invalid(format!(
                "demo token_ttl must be between 1ms and 100 years, got {:?}",
                self.token_ttl
            ));
        }
        if let Some(stall) = &self.stall {
            stall.check().map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("demo stall {stall}: {e}"),
                )
            })?;
        }
        Ok(())
    }
}
