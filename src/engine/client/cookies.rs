//! A user's cookie jar, by RFC 6265: what `Set-Cookie` answers stored, sent back with the user's later requests
//! only where they belong (host-only or `Domain` cookies, `Path`, `Secure` only over https, `Expires` and
//! `Max-Age`, deletion by an expired cookie). The rules are the `cookie_store` crate's (the jar of reqwest and
//! ureq), not written here.
//!
//! Shaped for the common case of an API that sets no cookie at all: until a first `Set-Cookie` arrives the jar
//! is `None` — no store, no URL built for a request, nothing allocated — and an answer without `Set-Cookie` never
//! calls into the store. Cookies follow RFC 6265 in not telling ports apart: `127.0.0.1:8080` and
//! `127.0.0.1:9090` are one host to a cookie, as in browsers. No public-suffix list is loaded (a load test talks
//! to the hosts its scenario names, and the list would cost every user memory).

use cookie_store::{CookieStore, RawCookie};

use super::{Head, Origin};

/// The cookies of one user.
#[derive(Debug, Default)]
pub struct Jar(Option<Box<CookieStore>>);

/// The URL a request goes to, as cookies see it: the origin and the request target.
fn url_of(origin: &Origin, target: &str) -> Option<url::Url> {
    let mut s = String::with_capacity(origin.key.len() + target.len());
    s.push_str(&origin.key);
    s.push_str(target);
    url::Url::parse(&s).ok()
}

impl Jar {
    /// No cookie was ever stored.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The (name, value) pairs to send with a request for `target` (origin-form, `/path?query`) at `origin`:
    /// the unexpired cookies whose domain, path and `Secure` flag match. Empty, without allocating, when the jar
    /// is.
    pub fn matching(&self, origin: &Origin, target: &str) -> Vec<(&str, &str)> {
        let Some(store) = &self.0 else {
            return Vec::new();
        };
        let Some(url) = url_of(origin, target) else {
            return Vec::new();
        };
        store.get_request_values(&url).collect()
    }

    /// Stores (or, when expired, deletes) what the `Set-Cookie` headers of `head` say, for the request that was
    /// sent to `target()` at `origin`. An answer without `Set-Cookie` costs one look at its headers.
    pub fn store<'t>(&mut self, head: &Head, origin: &Origin, target: impl FnOnce() -> &'t str) {
        if head.get_all("set-cookie").next().is_none() {
            return;
        }
        let Some(url) = url_of(origin, target()) else {
            return;
        };
        let cookies = head.get_all("set-cookie").filter_map(|v| {
            let s = std::str::from_utf8(v).ok()?;
            RawCookie::parse(s.to_string()).ok()
        });
        self.0
            .get_or_insert_with(Box::default)
            .store_response_cookies(cookies, &url);
    }

    /// The value of an unexpired cookie named `name`, for any domain and path (a `cookie` capture, issue 18 item 2).
    pub fn value(&self, name: &str) -> Option<&str> {
        self.0
            .as_ref()?
            .iter_unexpired()
            .find(|c| c.name() == name)
            .map(|c| c.value())
    }

    /// A jar holding `pairs` as host-only cookies of `origin` for every path (tests of what is rendered).
    #[cfg(test)]
    pub fn of_pairs(origin: &Origin, pairs: &[(String, String)]) -> Jar {
        let mut jar = Jar::default();
        if let Some(url) = url_of(origin, "/") {
            for (n, v) in pairs {
                let store = jar.0.get_or_insert_with(Box::default);
                let _ = store.parse(&format!("{n}={v}; Path=/"), &url);
            }
        }
        jar
    }
}
