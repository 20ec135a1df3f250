//! What makes a request the one the scenario file describes: checks of the host URL, request paths and
//! headers done once, when the plan is resolved, so that `loadgen check` refuses what would otherwise be sent
//! differently from what is written (a line break that a URL parser drops, a header that loadgen also writes).
//!
//! The rules (docs/scenario-format.md, "What loadgen writes itself"):
//! - the host is an `http(s)://` URL with a host name and a port other than 0, no query or fragment, and no
//!   control character (a URL parser silently drops tabs and line breaks, so `exa\nmple.com` would reach
//!   `example.com`);
//! - a path has no control character; a relative path none of the characters a request line cannot hold
//!   (space, `<`, `>`, `` ` ``); a constant absolute URL follows the host's rules;
//! - a header name is given once (names are case-insensitive, so `Host` and `host` are the same header);
//!   `Content-Length` and `Transfer-Encoding` are loadgen's to write (it frames every body with its length), so a
//!   scenario cannot set them; `Host` replaces the one loadgen derives from the target; `Cookie` is sent as one
//!   header together with the cookies the user's jar holds (see `crate::engine::client`).
//!
//! Messages quote a URL with its password masked ([`mask_userinfo`]).

use std::borrow::Cow;

use http::header::{self, HeaderName};

/// The part of `url` that [`mask_userinfo`] masks: the password of its user info, or the whole user info when it
/// has no password.
pub fn userinfo_secret(url: &str) -> Option<&str> {
    let auth_start = url.find("://")? + 3;
    let auth_end = url[auth_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| auth_start + i);
    let at = url[auth_start..auth_end].rfind('@')?;
    let userinfo = &url[auth_start..auth_start + at];
    let secret = userinfo.split_once(':').map_or(userinfo, |(_, p)| p);
    (!secret.is_empty()).then_some(secret)
}

/// `url` with the password of its user info masked (`http://user:***@host`); a user info without a password
/// (`https://TOKEN@host`, a common way to pass a token) is masked whole. Works on any text, so an invalid URL
/// is masked too.
pub fn mask_userinfo(url: &str) -> Cow<'_, str> {
    match userinfo_secret(url) {
        Some(secret) => {
            // `secret` is a slice of `url`: replace exactly that range.
            let start = secret.as_ptr() as usize - url.as_ptr() as usize;
            let end = start + secret.len();
            Cow::Owned(format!("{}***{}", &url[..start], &url[end..]))
        }
        None => Cow::Borrowed(url),
    }
}

/// `url` as a message quotes it: password masked ([`mask_userinfo`]) and control characters escaped, so a line
/// break in a `--host` value cannot start a line of its own on the terminal.
pub fn shown_url(url: &str) -> String {
    crate::shown::escape_all(&mask_userinfo(url)).into_owned()
}

/// The first control character of `s` (C0, DEL or C1), as it is written in a message (`'\n'`).
fn control_char(s: &str) -> Option<String> {
    s.chars().find(|c| c.is_control()).map(|c| format!("{c:?}"))
}

/// Checks a base URL (`[target] host`, `--host`) or a constant absolute request URL; `what` names it in the
/// messages. Returns it parsed.
pub fn check_url(h: &str, what: &str) -> Result<url::Url, String> {
    let shown = shown_url(h);
    if let Some(c) = control_char(h) {
        return Err(format!(
            "`{shown}`: {what} contains the control character {c}, which a URL cannot hold (a URL parser would drop \
             it silently, and the request would go elsewhere than written)"
        ));
    }
    let url = url::Url::parse(h).map_err(|e| {
        format!("`{shown}` is not a valid URL ({e}); expected e.g. \"http://127.0.0.1:8000\"")
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "`{shown}`: the scheme must be http or https, not `{}`",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{shown}` has no host name"));
    }
    if url.port() == Some(0) {
        return Err(format!(
            "`{shown}`: port 0 is not a port a server listens on; give the target's port, e.g. \":8000\""
        ));
    }
    Ok(url)
}

/// Checks the target's base URL: [`check_url`], and no query or fragment (loadgen joins request paths to the
/// host's path, so a query there would be dropped). Returns it without a trailing `/`.
pub fn check_host(h: &str) -> Result<String, String> {
    let url = check_url(h, "the host")?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "`{}`: the host is a base URL (scheme, host, port and an optional path prefix) and cannot have a query \
             (`?...`) or a fragment (`#...`); put query parameters on the requests: query = {{ key = \"value\" }}",
            shown_url(h)
        ));
    }
    Ok(h.trim_end_matches('/').to_string())
}

/// What is wrong with the literal text `s` of a request path, if anything: a control character anywhere, and
/// in a relative path (`absolute` false) a character a request line cannot hold.
pub fn path_problem(s: &str, absolute: bool) -> Option<String> {
    if let Some(c) = control_char(s) {
        return Some(format!(
            "the path contains the control character {c}, which a request path cannot hold"
        ));
    }
    if absolute {
        return None;
    }
    s.chars()
        .find(|c| matches!(c, ' ' | '<' | '>' | '`'))
        .map(|c| {
            let name = if c == ' ' {
                "a space".to_string()
            } else {
                format!("`{c}`")
            };
            format!(
                "the path contains {name}, which a request line cannot hold; write it percent-encoded (`%{:02X}`)",
                c as u32
            )
        })
}

/// Why a scenario may not set header `name`, if it may not: loadgen frames every body itself.
pub fn reserved_header(name: &HeaderName) -> Option<&'static str> {
    if *name == header::CONTENT_LENGTH {
        Some(
            "loadgen writes `content-length` itself, from the body it sends (a second or different length would \
             make the server read the body wrongly); remove this header",
        )
    } else if *name == header::TRANSFER_ENCODING {
        Some(
            "loadgen sends every body with a `content-length`, never chunked, so a `transfer-encoding` header would \
             make the server misread the request; remove this header",
        )
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked_even_in_invalid_urls() {
        assert_eq!(mask_userinfo("http://a:pw@h:1/x"), "http://a:***@h:1/x");
        assert_eq!(mask_userinfo("http://a:p@w@h/"), "http://a:***@h/");
        assert_eq!(mask_userinfo("https://TOKEN@h"), "https://***@h");
        assert_eq!(mask_userinfo("http://a:pw@h:99999"), "http://a:***@h:99999");
        assert_eq!(mask_userinfo("http://h/a@b"), "http://h/a@b");
        assert_eq!(mask_userinfo("h:pw@x"), "h:pw@x");
        let e = check_host("http://admin:hunter2@h:99999").unwrap_err();
        assert!(!e.contains("hunter2") && e.contains("admin:***@"), "{e}");
        let e = check_host("ftp://admin:hunter2@h").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn hosts_are_what_they_say() {
        assert!(
            check_host("http://exa\nmple.com")
                .unwrap_err()
                .contains("'\\n'")
        );
        assert!(check_host("http://h\r/").unwrap_err().contains("'\\r'"));
        // The URL a message quotes is escaped too: a `--host` value cannot break the terminal's line.
        let e = check_host("http://u:pw@exa\nmple.com").unwrap_err();
        assert!(
            e.contains("`http://u:***@exa\\x0ample.com`") && !e.contains('\n'),
            "{e}"
        );
        assert!(check_host("http://h\0").unwrap_err().contains("'\\0'"));
        assert!(check_host("http://h\t").unwrap_err().contains("'\\t'"));
        assert!(check_host("http://h:0").unwrap_err().contains("port 0"));
        assert!(check_host("http://h/?a=1").unwrap_err().contains("query"));
        assert!(check_host("http://h/#x").unwrap_err().contains("fragment"));
        assert_eq!(
            check_host("http://h:8000/api/").unwrap(),
            "http://h:8000/api"
        );
    }

    #[test]
    fn paths_hold_no_control_character() {
        assert!(path_problem("/a\r\nX: 1", false).unwrap().contains("'\\r'"));
        assert!(
            path_problem("http://h/a\n", true)
                .unwrap()
                .contains("'\\n'")
        );
        assert!(path_problem("/a b", false).unwrap().contains("%20"));
        assert!(path_problem("/a<b", false).unwrap().contains("%3C"));
        assert_eq!(path_problem("http://h/a b", true), None);
        assert_eq!(path_problem("/a/b?c=d&e=%20", false), None);
    }
}
