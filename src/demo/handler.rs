//! Request handling: routing, the endpoint logic and JSON responses, plus the
//! per-request fault injection (errors, latency, stalls).
//!
//! Shape: [`App`] is the whole server state behind one `Arc`; each request is
//! handled by [`App::respond`], which reads the (size-limited) body, dispatches
//! synchronously to an endpoint function, and only then awaits the injected
//! delays — so no lock is ever held across an `.await`. Random decisions are
//! drawn by the caller from a per-connection RNG ([`App::sample`]) so there is
//! no shared RNG to contend on. Fixed error bodies are `&'static` bytes, the
//! token is verified into a stack buffer, and request JSON is deserialized
//! borrowing from the body, so a typical authenticated request allocates little
//! beyond its response body.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Method, Request, Response, StatusCode};
use rand::Rng;
use rand::rngs::SmallRng;
use serde::{Deserialize, Serialize};

use super::DemoConfig;
use super::app;
use super::shop::{MAX_UPLOAD, Shop, UPLOAD_PATH};
use super::store::{RateLimiter, Revoked, Users};
use super::token::{Claims, MAX_PAYLOAD, Signer, TokenError};

/// Response type of every endpoint.
pub(crate) type Resp = Response<Full<Bytes>>;

/// Largest accepted request body.
pub(crate) const MAX_BODY: usize = 64 * 1024;
/// Longest accepted username, in bytes (keeps tokens small; see `token`).
pub(crate) const MAX_USERNAME: usize = 64;

/// A JSON response with a fixed `{"error": MSG}` body and no allocation.
macro_rules! error_resp {
    ($status:expr, $msg:literal) => {
        json_bytes(
            $status,
            Bytes::from_static(concat!("{\"error\":\"", $msg, "\"}").as_bytes()),
        )
    };
}

fn json_bytes(status: StatusCode, body: Bytes) -> Resp {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Resp {
    match serde_json::to_vec(value) {
        Ok(body) => json_bytes(status, Bytes::from(body)),
        Err(_) => error_resp!(StatusCode::INTERNAL_SERVER_ERROR, "serialization failed"),
    }
}

/// Why a JSON request body was rejected.
enum BadBody {
    NotObject,
    Json(serde_json::Error),
}

/// Deserializes a JSON object body (serde would also accept an array for a
/// struct, which an API must not), borrowing strings from `body`.
fn parse_object<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, BadBody> {
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(BadBody::NotObject);
    }
    serde_json::from_slice(body).map_err(BadBody::Json)
}

fn bad_body(err: BadBody) -> Resp {
    #[derive(Serialize)]
    struct E {
        error: String,
    }
    match err {
        BadBody::NotObject => error_resp!(
            StatusCode::BAD_REQUEST,
            "request body must be a JSON object"
        ),
        BadBody::Json(err) => json(
            StatusCode::BAD_REQUEST,
            &E {
                error: format!("invalid JSON body: {err}"),
            },
        ),
    }
}

fn unauthorized(err: AuthError) -> Resp {
    let mut resp = match err {
        AuthError::Missing => error_resp!(StatusCode::UNAUTHORIZED, "missing bearer token"),
        AuthError::Token(TokenError::Malformed) => {
            error_resp!(StatusCode::UNAUTHORIZED, "malformed token")
        }
        AuthError::Token(TokenError::BadSignature) => {
            error_resp!(StatusCode::UNAUTHORIZED, "invalid token signature")
        }
        AuthError::Token(TokenError::Expired) => {
            error_resp!(StatusCode::UNAUTHORIZED, "token expired")
        }
        AuthError::Revoked => error_resp!(StatusCode::UNAUTHORIZED, "token revoked"),
    };
    resp.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    resp
}

/// Why a request could not be authenticated.
#[derive(Debug, Clone, Copy)]
enum AuthError {
    Missing,
    Token(TokenError),
    Revoked,
}

/// Current wall-clock time as Unix seconds (token timestamps).
fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Whole seconds, rounded up (`expires_in`, `Retry-After`).
fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Body of register and login.
#[derive(Deserialize)]
struct Credentials<'a> {
    #[serde(borrow, default)]
    username: Cow<'a, str>,
    #[serde(borrow, default)]
    password: Cow<'a, str>,
    #[serde(borrow, default)]
    email: Cow<'a, str>,
}

/// Body of the protected operation.
#[derive(Deserialize)]
struct Operation<'a> {
    #[serde(borrow, default)]
    action: Cow<'a, str>,
}

#[derive(Serialize)]
struct TokenResponse<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: u64,
}

/// The endpoints, as matched on the path alone.
#[derive(Debug, Clone, Copy)]
enum Route {
    Health,
    Register,
    Login,
    Verify,
    Refresh,
    Logout,
    Protected,
    Versions,
    /// Issue 21 item 4: the API's own metrics.
    Metrics,
    // Issue 18, item 7: the shop (`shop`).
    Items,
    Item,
    Cart,
    ShopLogin,
    ShopAccount,
    Upload,
    ShopDebug,
    // Issue 20 item 2: the browser app a HAR is recorded from (`app`).
    App,
}

impl Route {
    fn find(path: &str) -> Option<Route> {
        Some(match path {
            "/health" => Route::Health,
            "/api/auth/register" => Route::Register,
            "/api/auth/login" => Route::Login,
            "/api/auth/verify" => Route::Verify,
            "/api/auth/refresh" => Route::Refresh,
            "/api/auth/logout" => Route::Logout,
            "/api/protected/operation" => Route::Protected,
            "/api/debug/versions" => Route::Versions,
            "/metrics" => Route::Metrics,
            "/api/items" => Route::Items,
            "/api/cart" => Route::Cart,
            "/shop/login" => Route::ShopLogin,
            "/shop/account" => Route::ShopAccount,
            UPLOAD_PATH => Route::Upload,
            "/api/debug/shop" => Route::ShopDebug,
            p if p.starts_with("/api/items/") => Route::Item,
            p if app::owns(p) => Route::App,
            _ => return None,
        })
    }

    /// The methods the route answers, as the `Allow` header lists them.
    fn allow(self) -> &'static str {
        match self {
            Route::Register
            | Route::Login
            | Route::Refresh
            | Route::Logout
            | Route::Protected
            | Route::Upload => "POST",
            Route::Cart => "GET, POST, DELETE",
            Route::ShopLogin => "GET, POST",
            Route::Health
            | Route::Verify
            | Route::Versions
            | Route::Metrics
            | Route::Items
            | Route::Item
            | Route::ShopAccount
            | Route::ShopDebug
            | Route::App => "GET",
        }
    }

    /// Whether the route answers `method` (as [`Route::allow`] lists).
    fn allows(self, method: &Method) -> bool {
        match self {
            Route::Register
            | Route::Login
            | Route::Refresh
            | Route::Logout
            | Route::Protected
            | Route::Upload => method == Method::POST,
            Route::Cart => {
                method == Method::GET || method == Method::POST || method == Method::DELETE
            }
            Route::ShopLogin => method == Method::GET || method == Method::POST,
            _ => method == Method::GET,
        }
    }
}

/// All server state, shared by every connection.
pub(crate) struct App {
    config: DemoConfig,
    started: Instant,
    signer: Signer,
    users: Users,
    revoked: Revoked,
    limiter: RateLimiter,
    /// Issue 18, item 7: the shop's catalog, carts, form sessions and counters.
    shop: Shop,
    /// Requests and connections by HTTP version.
    pub versions: Versions,
    /// Requests being served now, for `capacity`.
    in_flight: AtomicU64,
    /// Issue 21 item 4: what `/metrics` counts.
    counters: super::metrics::Counters,
}

/// One request counted as in flight while it lives (`capacity`); `None` inside when it is not counted.
struct InFlight<'a>(Option<&'a AtomicU64>);

impl<'a> InFlight<'a> {
    /// Counts a request in; `None` when the server is at its `capacity` already. Without a capacity nothing
    /// is counted, and `/health` is always served and never counted: a probe must not be shed.
    fn enter(app: &'a App, path: &str) -> Option<InFlight<'a>> {
        let cap = app.config.capacity;
        if cap == 0 || path == "/health" {
            return Some(InFlight(None));
        }
        let before = app.in_flight.fetch_add(1, Ordering::AcqRel);
        // Dropped at once when refused, which takes the count back.
        let held = InFlight(Some(&app.in_flight));
        (before < cap).then_some(held)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(n) = self.0 {
            n.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Requests and connections served, by HTTP version: what a test reads to see how a client spoke.
#[derive(Default)]
pub(crate) struct Versions {
    http1_requests: AtomicU64,
    http1_connections: AtomicU64,
    http2_requests: AtomicU64,
    http2_connections: AtomicU64,
}

impl Versions {
    /// Counts a request (and its connection, when it is the connection's first).
    pub fn request(&self, version: hyper::Version, first_on_connection: bool) {
        let (requests, connections) = if version == hyper::Version::HTTP_2 {
            (&self.http2_requests, &self.http2_connections)
        } else {
            (&self.http1_requests, &self.http1_connections)
        };
        requests.fetch_add(1, Ordering::Relaxed);
        if first_on_connection {
            connections.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl App {
    /// Validates `config` and sets up empty state with a fresh token secret.
    pub fn new(config: DemoConfig) -> std::io::Result<App> {
        config.validate()?;
        Ok(App {
            signer: Signer::new()?,
            users: Users::new(),
            revoked: Revoked::new(),
            limiter: RateLimiter::new(config.rate_limit, config.rate_window),
            shop: Shop::new(config.seed),
            versions: Versions::default(),
            counters: super::metrics::Counters::default(),
            started: Instant::now(),
            in_flight: AtomicU64::new(0),
            config,
        })
    }

    /// The RNG for connection number `index`: derived from the configured
    /// seed (reproducible per connection) or from OS entropy.
    pub fn connection_rng(&self, index: u64) -> SmallRng {
        use rand::SeedableRng;
        match self.config.seed {
            Some(seed) => SmallRng::seed_from_u64(seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            None => SmallRng::from_rng(&mut rand::rng()),
        }
    }

    /// Draws this request's random faults: whether to answer with an injected
    /// 500 (never for `/health`) and the extra delay before responding.
    pub fn sample(&self, rng: &mut SmallRng, path: &str) -> (bool, Duration) {
        let c = &self.config;
        // `/metrics` (issue 21 item 4) is never delayed nor failed: the target's figures stay readable.
        if path == "/metrics" {
            return (false, Duration::ZERO);
        }
        let fail = c.error_rate > 0.0
            && path != "/health"
            && (c.error_rate >= 1.0 || rng.random::<f64>() < c.error_rate);
        let mut delay = c.latency;
        if let Some(jitter) = &c.latency_jitter {
            delay = delay.saturating_add(jitter.sample(rng));
        }
        (fail, delay)
    }

    /// Handles one request: reads the body, answers it (or injects a
    /// failure), then waits out the injected delay and any stall.
    pub async fn respond(
        self: Arc<Self>,
        req: Request<Incoming>,
        fail: bool,
        delay: Duration,
    ) -> Resp {
        let _in_flight = super::metrics::InFlight::new(&self.counters);
        let (parts, body) = req.into_parts();
        let _held = match InFlight::enter(&self, parts.uri.path()) {
            Some(held) => held,
            None => return error_resp!(StatusCode::SERVICE_UNAVAILABLE, "over capacity"),
        };
        // Always drain the body (bounded) so the connection can be reused. Uploads may be larger.
        let limit = if parts.uri.path() == UPLOAD_PATH {
            MAX_UPLOAD
        } else {
            MAX_BODY
        };
        let resp = match Limited::new(body, limit).collect().await {
            Err(e) if e.is::<LengthLimitError>() => {
                error_resp!(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
            }
            Err(_) => error_resp!(StatusCode::BAD_REQUEST, "could not read request body"),
            Ok(_) if fail => {
                error_resp!(StatusCode::INTERNAL_SERVER_ERROR, "injected failure")
            }
            Ok(body) => self.dispatch(&parts, &body.to_bytes()),
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if let Some(stall) = &self.config.stall {
            let wait = stall.remaining_pause(self.started.elapsed());
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
        resp
    }

    fn dispatch(&self, parts: &Parts, body: &[u8]) -> Resp {
        let Some(route) = Route::find(parts.uri.path()) else {
            return error_resp!(StatusCode::NOT_FOUND, "not found");
        };
        if !route.allows(&parts.method) {
            let mut resp = error_resp!(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(route.allow()));
            return resp;
        }
        match route {
            Route::Health => self.health(),
            Route::Register => self.register(body),
            Route::Login => self.login(body),
            Route::Verify => self.verify(parts),
            Route::Refresh => self.refresh(parts),
            Route::Logout => self.logout(parts),
            Route::Protected => self.protected(parts, body),
            Route::Versions => self.versions(),
            Route::Metrics => self.metrics(),
            Route::Items => self.as_user(parts, |user| self.shop.items(parts, user)),
            Route::Item => self.shop.item(parts.uri.path()),
            Route::Cart => self.as_user(parts, |user| match parts.method {
                Method::POST => self.shop.cart_add(user, body),
                Method::DELETE => self.shop.cart_clear(user),
                _ => self.shop.cart(user),
            }),
            Route::ShopLogin if parts.method == Method::POST => {
                self.shop.login_post(parts, body, &self.users)
            }
            Route::ShopLogin => self.shop.login_page(parts),
            Route::ShopAccount => self.shop.account(parts),
            Route::Upload => self.as_user(parts, |_| self.shop.upload(parts, body)),
            Route::ShopDebug => self.shop.debug(),
            Route::App => app::serve(parts.uri.path()),
        }
    }

    /// Answers with `f(username)` when the request's Bearer token is valid, else 401.
    fn as_user(&self, parts: &Parts, f: impl FnOnce(&str) -> Resp) -> Resp {
        let mut buf = [0u8; MAX_PAYLOAD];
        match self.authenticate(parts, now_unix(), &mut buf) {
            Ok(claims) => f(&claims.sub),
            Err(e) => unauthorized(e),
        }
    }

    fn versions(&self) -> Resp {
        let v = &self.versions;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        json(
            StatusCode::OK,
            &serde_json::json!({
                "http1": {"requests": get(&v.http1_requests), "connections": get(&v.http1_connections)},
                "http2": {"requests": get(&v.http2_requests), "connections": get(&v.http2_connections)},
            }),
        )
    }

    fn health(&self) -> Resp {
        #[derive(Serialize)]
        struct Health {
            status: &'static str,
            users: usize,
            uptime_s: f64,
        }
        let starting = self.started.elapsed() < self.config.unhealthy_for;
        json(
            if starting {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::OK
            },
            &Health {
                status: if starting { "starting" } else { "healthy" },
                users: self.users.len(),
                uptime_s: self.started.elapsed().as_secs_f64(),
            },
        )
    }

    fn register(&self, body: &[u8]) -> Resp {
        let c: Credentials = match parse_object(body) {
            Ok(c) => c,
            Err(e) => return bad_body(e),
        };
        if c.username.is_empty() {
            return error_resp!(StatusCode::BAD_REQUEST, "missing or empty field: username");
        }
        if c.password.is_empty() {
            return error_resp!(StatusCode::BAD_REQUEST, "missing or empty field: password");
        }
        if c.email.is_empty() {
            return error_resp!(StatusCode::BAD_REQUEST, "missing or empty field: email");
        }
        if c.username.len() > MAX_USERNAME {
            return error_resp!(StatusCode::BAD_REQUEST, "username longer than 64 bytes");
        }
        if !self.users.register(&c.username, &c.password) {
            return error_resp!(StatusCode::CONFLICT, "username already taken");
        }
        #[derive(Serialize)]
        struct Registered<'a> {
            id: String,
            username: &'a str,
        }
        let id = uuid::Uuid::new_v4().to_string();
        json(
            StatusCode::CREATED,
            &Registered {
                id,
                username: &c.username,
            },
        )
    }

    fn login(&self, body: &[u8]) -> Resp {
        let c: Credentials = match parse_object(body) {
            Ok(c) => c,
            Err(e) => return bad_body(e),
        };
        if c.username.is_empty() {
            return error_resp!(StatusCode::BAD_REQUEST, "missing or empty field: username");
        }
        if c.password.is_empty() {
            return error_resp!(StatusCode::BAD_REQUEST, "missing or empty field: password");
        }
        if !self.users.check_password(&c.username, &c.password) {
            return error_resp!(StatusCode::UNAUTHORIZED, "invalid username or password");
        }
        self.token_response(&c.username, now_unix())
    }

    /// `GET /metrics`: the text exposition format (issue 21 item 4).
    fn metrics(&self) -> Resp {
        let page = super::metrics::render(
            &self.counters,
            self.users.len(),
            self.revoked.len(),
            self.started.elapsed().as_secs_f64(),
        );
        let mut resp = Response::new(Full::new(Bytes::from(page)));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        resp
    }

    fn token_response(&self, username: &str, now: f64) -> Resp {
        self.counters.tokens_issued.fetch_add(1, Ordering::Relaxed);
        let token = self.signer.issue(username, now, self.config.token_ttl);
        json(
            StatusCode::OK,
            &TokenResponse {
                access_token: &token,
                token_type: "bearer",
                expires_in: ceil_secs(self.config.token_ttl),
            },
        )
    }

    /// Checks the `Authorization: Bearer` token: signature, expiry and
    /// revocation. The claims borrow from `buf`.
    fn authenticate<'b>(
        &self,
        parts: &Parts,
        now: f64,
        buf: &'b mut [u8; MAX_PAYLOAD],
    ) -> Result<Claims<'b>, AuthError> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(AuthError::Missing)?;
        let (scheme, token) = value.trim().split_once(' ').ok_or(AuthError::Missing)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::Missing);
        }
        let claims = self
            .signer
            .verify(token.trim(), now, buf)
            .map_err(AuthError::Token)?;
        if self.revoked.contains(&claims.jti) {
            return Err(AuthError::Revoked);
        }
        Ok(claims)
    }

    fn verify(&self, parts: &Parts) -> Resp {
        let mut buf = [0u8; MAX_PAYLOAD];
        let claims = match self.authenticate(parts, now_unix(), &mut buf) {
            Ok(c) => c,
            Err(e) => return unauthorized(e),
        };
        #[derive(Serialize)]
        struct Valid<'a> {
            valid: bool,
            username: &'a str,
        }
        json(
            StatusCode::OK,
            &Valid {
                valid: true,
                username: &claims.sub,
            },
        )
    }

    /// Revokes the presented token; `Err` if it is invalid or was already
    /// revoked (a concurrent logout/refresh won the race).
    fn revoke_presented<'b>(
        &self,
        parts: &Parts,
        now: f64,
        buf: &'b mut [u8; MAX_PAYLOAD],
    ) -> Result<Claims<'b>, AuthError> {
        let claims = self.authenticate(parts, now, buf)?;
        if !self.revoked.revoke(&claims.jti, claims.exp, now as u64) {
            return Err(AuthError::Revoked);
        }
        Ok(claims)
    }

    fn refresh(&self, parts: &Parts) -> Resp {
        let now = now_unix();
        let mut buf = [0u8; MAX_PAYLOAD];
        match self.revoke_presented(parts, now, &mut buf) {
            Ok(claims) => self.token_response(&claims.sub, now),
            Err(e) => unauthorized(e),
        }
    }

    fn logout(&self, parts: &Parts) -> Resp {
        let mut buf = [0u8; MAX_PAYLOAD];
        match self.revoke_presented(parts, now_unix(), &mut buf) {
            Ok(_) => json_bytes(StatusCode::OK, Bytes::from_static(b"{\"ok\":true}")),
            Err(e) => unauthorized(e),
        }
    }

    fn protected(&self, parts: &Parts, body: &[u8]) -> Resp {
        let mut buf = [0u8; MAX_PAYLOAD];
        let claims = match self.authenticate(parts, now_unix(), &mut buf) {
            Ok(c) => c,
            Err(e) => return unauthorized(e),
        };
        if let Err(retry) = self.limiter.check(&claims.sub, Instant::now()) {
            let mut resp = error_resp!(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded");
            let secs = ceil_secs(retry).max(1);
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            return resp;
        }
        let op: Operation = match parse_object(body) {
            Ok(op) => op,
            Err(e) => return bad_body(e),
        };
        if op.action.is_empty() {
            return error_resp!(StatusCode::BAD_REQUEST, "missing or empty field: action");
        }
        #[derive(Serialize)]
        struct Done<'a> {
            ok: bool,
            action: &'a str,
        }
        json(
            StatusCode::OK,
            &Done {
                ok: true,
                action: &op.action,
            },
        )
    }
}
