//! A small browser app on the demo API (`GET /app/...`): three pages whose scripts walk the auth flow (each page says `done`, then its `Next` link leads on), so a real
//! browser's recording of it (a HAR file) holds what `loadgen import har` must handle: page loads with static
//! assets (a script, a stylesheet, an image), a registration with a unique username, a token captured from the
//! login and sent back as `Authorization: Bearer`, a refresh, and pages that reuse the token.
//!
//! The pages are fixed text compiled in (`app/*.html`, `app.js`, `app.css`, `logo.svg`); the script does the
//! work with `fetch` and passes the token between pages in `sessionStorage`:
//! `/app/` registers, logs in, verifies and refreshes; `/app/account` verifies, lists items and runs the
//! protected operation; `/app/bye` logs out and shows `done`. Only GET is served here; the API is `handler`'s.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use super::handler::Resp;

/// The app's files: path, content type, body.
const FILES: &[(&str, &str, &str)] = &[
    (
        "/app/",
        "text/html; charset=utf-8",
        include_str!("app/index.html"),
    ),
    (
        "/app/account",
        "text/html; charset=utf-8",
        include_str!("app/account.html"),
    ),
    (
        "/app/bye",
        "text/html; charset=utf-8",
        include_str!("app/bye.html"),
    ),
    (
        "/app/app.js",
        "text/javascript; charset=utf-8",
        include_str!("app/app.js"),
    ),
    (
        "/app/app.css",
        "text/css; charset=utf-8",
        include_str!("app/app.css"),
    ),
    (
        "/app/logo.svg",
        "image/svg+xml",
        include_str!("app/logo.svg"),
    ),
];

/// Whether `path` is one of the app's (`/app` itself redirects to `/app/`).
pub(crate) fn owns(path: &str) -> bool {
    path == "/app" || path.starts_with("/app/")
}

/// The app's answer to `GET path`: the file, a redirect from `/app`, or 404.
pub(crate) fn serve(path: &str) -> Resp {
    if path == "/app" {
        let mut resp = Response::new(Full::new(Bytes::new()));
        *resp.status_mut() = StatusCode::MOVED_PERMANENTLY;
        resp.headers_mut()
            .insert(header::LOCATION, HeaderValue::from_static("/app/"));
        return resp;
    }
    let (status, kind, body) = match FILES.iter().find(|(p, _, _)| *p == path) {
        Some((_, kind, body)) => (StatusCode::OK, *kind, *body),
        None => (
            StatusCode::NOT_FOUND,
            "application/json",
            "{\"error\":\"not found\"}",
        ),
    };
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pages_and_assets_are_served_with_their_types() {
        for (path, kind) in [
            ("/app/", "text/html; charset=utf-8"),
            ("/app/app.js", "text/javascript; charset=utf-8"),
            ("/app/app.css", "text/css; charset=utf-8"),
        ] {
            let resp = serve(path);
            assert_eq!(resp.status(), StatusCode::OK, "{path}");
            assert_eq!(resp.headers()[header::CONTENT_TYPE], kind, "{path}");
        }
        assert_eq!(serve("/app").status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(serve("/app/nope").status(), StatusCode::NOT_FOUND);
        assert!(owns("/app/x") && owns("/app") && !owns("/apple"));
    }
}
