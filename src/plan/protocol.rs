//! Resolution of which HTTP version the client speaks (issue 17, item 6): `[target] http = "1.1" | "2" | "auto"`
//! and, for HTTP/2, `[target] http2_connections`, the connections per origin each worker thread multiplexes its
//! users' requests over.
//!
//! The default is HTTP/1.1: Locust, whose scenarios loadgen replaces, speaks HTTP/1.1 only, so figures stay
//! comparable with it and a scenario written before HTTP/2 existed here sends exactly what it did. HTTP/2 is
//! asked for by name.

use crate::error::Error;
use crate::scenario::Loaded;

/// The HTTP version a run speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpVersion {
    /// HTTP/1.1 only (the default): over TLS no ALPN is offered.
    #[default]
    Http1,
    /// HTTP/2 only: over TLS ALPN offers `h2` alone (a server that does not pick it is a connect failure);
    /// over plain http, h2c with prior knowledge (RFC 9113 §3.3).
    Http2,
    /// Over TLS, ALPN offers `h2` and `http/1.1` and the server picks; over plain http, HTTP/1.1.
    Auto,
}

impl HttpVersion {
    /// As written in a scenario.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpVersion::Http1 => "1.1",
            HttpVersion::Http2 => "2",
            HttpVersion::Auto => "auto",
        }
    }
}

/// How requests are carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protocol {
    pub http: HttpVersion,
    /// HTTP/2 connections per origin that each worker thread opens at most (lazily); its users' requests are
    /// streams spread over them in turn.
    pub http2_connections: u32,
}

impl Default for Protocol {
    fn default() -> Self {
        Protocol {
            http: HttpVersion::Http1,
            http2_connections: DEFAULT_HTTP2_CONNECTIONS,
        }
    }
}

/// `[target] http2_connections` when unset: one connection per worker thread, every user's request a stream
/// on it, as a browser does with one origin.
pub const DEFAULT_HTTP2_CONNECTIONS: u32 = 1;
/// The most `http2_connections` may be.
pub const MAX_HTTP2_CONNECTIONS: u32 = 10_000;

const VERSIONS: [&str; 3] = ["1.1", "2", "auto"];

pub(super) fn resolve_protocol(loaded: &Loaded) -> Result<Protocol, Error> {
    let Some(target) = loaded.target.as_ref() else {
        return Ok(Protocol::default());
    };
    let file = target.file;
    let http = match &target.value.http {
        None => HttpVersion::Http1,
        Some(v) => match v.get_ref().as_str().unwrap_or_default() {
            "1.1" => HttpVersion::Http1,
            "2" => HttpVersion::Http2,
            "auto" => HttpVersion::Auto,
            _ if !v.get_ref().is_str() => {
                // `http = 2` or `http = 1.1`: a number where the version is a string.
                let shown = v.get_ref().to_string();
                return Err(loaded
                    .error(
                        file,
                        v.span(),
                        format!("`http` is a string, got {}", v.get_ref().type_str()),
                    )
                    .with_help(format!(
                        "write the version in quotes: http = \"{}\" (one of \"1.1\", \"2\", \"auto\")",
                        shown.trim_end_matches(".0")
                    ))
                    .into());
            }
            other => {
                let err = loaded
                    .error(
                        file,
                        v.span(),
                        format!(
                            "unknown `http` version `{other}`; expected \"1.1\", \"2\" or \"auto\""
                        ),
                    )
                    .with_help(
                        "\"1.1\" (the default) speaks HTTP/1.1; \"2\" speaks HTTP/2 (h2c on plain http); \"auto\" \
                         lets a TLS server choose by ALPN",
                    );
                // Common spellings of the versions: "1", "http/2", "h2", "HTTP/1.1".
                let bare = other
                    .trim()
                    .to_ascii_lowercase()
                    .trim_start_matches("http/")
                    .trim_start_matches("http")
                    .trim_start_matches('h')
                    .to_string();
                let err = match bare.as_str() {
                    "1" | "1.0" | "11" => err.with_help("did you mean `1.1`?"),
                    "2.0" | "20" | "2c" => err.with_help("did you mean `2`?"),
                    _ if VERSIONS.contains(&bare.as_str()) => {
                        err.with_help(format!("did you mean `{bare}`?"))
                    }
                    _ => err.suggest(other, VERSIONS),
                };
                return Err(err.into());
            }
        },
    };
    let http2_connections = match &target.value.http2_connections {
        None => DEFAULT_HTTP2_CONNECTIONS,
        Some(v) => {
            let n = *v.get_ref();
            match u32::try_from(n) {
                Ok(n) if (1..=MAX_HTTP2_CONNECTIONS).contains(&n) => n,
                _ => {
                    return Err(loaded
                        .error(
                            file,
                            v.span(),
                            format!(
                                "`http2_connections` must be between 1 and {MAX_HTTP2_CONNECTIONS}, got {n}"
                            ),
                        )
                        .with_help(
                            "the HTTP/2 connections per origin each worker thread opens; their users' requests are \
                             multiplexed over them",
                        )
                        .into());
                }
            }
        }
    };
    Ok(Protocol {
        http,
        http2_connections,
    })
}
