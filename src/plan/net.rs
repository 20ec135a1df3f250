//! Resolution of how the target is reached over the network (issue 17 items 3 and 7): how long resolved
//! addresses are kept (`[target] dns_ttl`), fixed addresses for host names (`[target] resolve`, curl's
//! `--resolve`, k6's `hosts`).
//!
//! Everything is checked here, before any traffic, so a bad value is a located error (exit 2); the engine's
//! resolver ([`crate::engine`]'s `client::dns`) only reads the result.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use crate::error::Error;
use crate::scenario::Loaded;

/// `[target] dns_ttl` when the scenario does not set it: five minutes, as k6's default. The system resolver
/// (`getaddrinfo`) does not give the records' own TTLs, so one value serves every name.
pub const DEFAULT_DNS_TTL: Duration = Duration::from_secs(300);

/// How host names become addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dns {
    /// How long a name's addresses are used before it is looked up again; `None` (`dns_ttl = "never"`): looked
    /// up once per run.
    pub ttl: Option<Duration>,
    /// Host names (lower case) answered with these addresses instead of a lookup, for the whole run.
    pub resolve: BTreeMap<String, Vec<IpAddr>>,
}

impl Default for Dns {
    fn default() -> Self {
        Dns {
            ttl: Some(DEFAULT_DNS_TTL),
            resolve: BTreeMap::new(),
        }
    }
}

impl Dns {
    /// Whether it differs from the default (for `loadgen check`).
    pub fn is_default(&self) -> bool {
        *self == Dns::default()
    }
}

pub(super) fn resolve_dns(loaded: &Loaded) -> Result<Dns, Error> {
    let Some(target) = loaded.target.as_ref() else {
        return Ok(Dns::default());
    };
    let file = target.file;
    let mut dns = Dns::default();
    if let Some(v) = &target.value.dns_ttl {
        dns.ttl = if v.get_ref().trim().eq_ignore_ascii_case("never") {
            None
        } else {
            let d = super::values::duration_value(loaded, file, v, "dns_ttl")?;
            if d.is_zero() {
                return Err(loaded
                    .error(file, v.span(), "`dns_ttl` must be above zero")
                    .with_help(
                        "names are looked up again after dns_ttl (default \"5m\"); \"never\" looks each up once \
                         per run",
                    )
                    .into());
            }
            Some(d)
        };
    }
    if let Some(map) = &target.value.resolve {
        for (name, addrs) in map {
            let host = name.get_ref().trim().to_ascii_lowercase();
            let bad_name = host.is_empty()
                || host.parse::<IpAddr>().is_ok()
                || !host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
            if bad_name {
                return Err(loaded
                    .error(
                        file,
                        name.span(),
                        format!(
                            "`resolve`: `{}` is not a host name",
                            name.get_ref().escape_debug()
                        ),
                    )
                    .with_help(
                        "resolve maps host names to addresses: resolve = { \"api.test\" = [\"127.0.0.2\", \"::1\"] }",
                    )
                    .into());
            }
            if addrs.get_ref().is_empty() {
                return Err(loaded
                    .error(
                        file,
                        addrs.span(),
                        format!("`resolve`: `{host}` has no address"),
                    )
                    .with_help("give one address or more: [\"127.0.0.2\", \"127.0.0.3\"]")
                    .into());
            }
            let mut ips = Vec::new();
            for a in addrs.get_ref() {
                let text = a.get_ref().trim();
                let bare = text
                    .strip_prefix('[')
                    .and_then(|t| t.strip_suffix(']'))
                    .unwrap_or(text);
                let ip = bare.parse::<IpAddr>().map_err(|_| -> Error {
                    loaded
                        .error(
                            file,
                            a.span(),
                            format!(
                                "`resolve`: `{}` is not an IP address",
                                a.get_ref().escape_debug()
                            ),
                        )
                        .with_help(
                            "an IPv4 or IPv6 address, without a port: \"127.0.0.2\", \"::1\"",
                        )
                        .into()
                })?;
                if !ips.contains(&ip) {
                    ips.push(ip);
                }
            }
            dns.resolve.insert(host, ips);
        }
    }
    Ok(dns)
}

/// A proxy server: where to connect, and the credentials it gets (never shown).
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyServer {
    /// The host, bare (an IPv6 address without brackets).
    pub host: String,
    pub port: u16,
    /// The `Proxy-Authorization` value (`Basic …`) from the URL's user and password.
    pub authorization: Option<String>,
    /// `http://host:port`, without credentials: what messages and `loadgen check` show.
    pub shown: String,
}

impl std::fmt::Debug for ProxyServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyServer")
            .field("shown", &self.shown)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<hidden>"),
            )
            .finish()
    }
}

/// One `NO_PROXY` entry (curl's rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bypass {
    /// `*`: no proxy at all.
    All,
    /// A host name and its subdomains (`example.com` and `.example.com` both match `example.com` and
    /// `a.example.com`), on any port or on `port`.
    Domain { name: String, port: Option<u16> },
    /// An IP address or network (`10.0.0.0/8`), on any port or on `port`.
    Net {
        ip: IpAddr,
        prefix: u8,
        port: Option<u16>,
    },
}

/// Which proxy each request goes through (issue 17 item 7).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proxies {
    /// For `http://` origins: requests in absolute form.
    pub http: Option<ProxyServer>,
    /// For `https://` origins: a `CONNECT` tunnel, TLS inside it.
    pub https: Option<ProxyServer>,
    /// Origins reached directly.
    pub bypass: Vec<Bypass>,
    /// Where the settings came from, for `loadgen check` (`[target] proxy`, `HTTPS_PROXY`...).
    pub source: String,
}

impl Proxies {
    /// Whether any request may go through a proxy.
    pub fn any(&self) -> bool {
        self.http.is_some() || self.https.is_some()
    }

    /// The proxy for an origin, or `None` to connect directly. `host` is bare (IPv6 without brackets).
    pub fn for_origin(&self, https: bool, host: &str, port: u16) -> Option<&ProxyServer> {
        let proxy = if https { &self.https } else { &self.http };
        let proxy = proxy.as_ref()?;
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let ip = host.parse::<IpAddr>().ok();
        let bypassed = self.bypass.iter().any(|b| match b {
            Bypass::All => true,
            Bypass::Domain { name, port: p } => {
                p.is_none_or(|p| p == port)
                    && (host == *name
                        || host
                            .strip_suffix(name.as_str())
                            .is_some_and(|rest| rest.ends_with('.')))
            }
            Bypass::Net {
                ip: net,
                prefix,
                port: p,
            } => p.is_none_or(|p| p == port) && ip.is_some_and(|ip| in_net(ip, *net, *prefix)),
        });
        (!bypassed).then_some(proxy)
    }
}

fn in_net(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// A proxy URL: `http://[user:password@]host[:port]` (a URL without a scheme is taken as http, as curl does;
/// the port defaults to 1080, as curl's). The error says what is wrong, never quoting a password.
pub fn parse_proxy_url(text: &str) -> Result<ProxyServer, String> {
    let text = text.trim();
    let with_scheme = if text.contains("://") {
        text.to_string()
    } else {
        format!("http://{text}")
    };
    let url = url::Url::parse(&with_scheme).map_err(|e| {
        format!("cannot parse the proxy URL ({e}); write it as http://host:port or http://user:password@host:port")
    })?;
    match url.scheme() {
        "http" => {}
        "https" => {
            return Err(
                "an https proxy (TLS to the proxy itself) is not supported; use http://host:port (https \
                 requests still go through it encrypted, in a CONNECT tunnel)"
                    .into(),
            );
        }
        s if s.starts_with("socks") => {
            return Err(format!(
                "a {s} proxy is not supported; use an http proxy (http://host:port)"
            ));
        }
        s => {
            return Err(format!(
                "unsupported proxy scheme `{s}`; use http://host:port"
            ));
        }
    }
    let (host, shown_host) = match url.host() {
        Some(url::Host::Ipv6(a)) => (a.to_string(), format!("[{a}]")),
        Some(h) => (h.to_string(), h.to_string()),
        None => return Err("the proxy URL has no host; write it as http://host:port".into()),
    };
    let port = url.port().unwrap_or(1080);
    let authorization = if url.username().is_empty() && url.password().is_none() {
        None
    } else {
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let pair = format!(
            "{}:{}",
            decode(url.username()),
            decode(url.password().unwrap_or(""))
        );
        use base64::Engine;
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        ))
    };
    Ok(ProxyServer {
        shown: format!("http://{shown_host}:{port}"),
        host,
        port,
        authorization,
    })
}

/// A `NO_PROXY` list: entries separated by commas or spaces.
pub fn parse_no_proxy(text: &str) -> Result<Vec<Bypass>, String> {
    let mut out = Vec::new();
    for entry in text
        .split([',', ' ', '\t'])
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        if entry == "*" {
            out.push(Bypass::All);
            continue;
        }
        // `[v6]:port`, `[v6]`, `v6`, `v6/prefix`, `host:port`, `host`, `v4/prefix`.
        let (addr, port) = if let Some(rest) = entry.strip_prefix('[') {
            let (a, after) = rest.split_once(']').ok_or_else(|| {
                format!("`{entry}`: an IPv6 address opened with `[` is not closed")
            })?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(format!("`{entry}`: unexpected text after `]`")),
            };
            (a, port)
        } else if entry.matches(':').count() == 1 {
            let (a, p) = entry.split_once(':').unwrap_or((entry, ""));
            (a, Some(p))
        } else {
            (entry, None)
        };
        let port = match port {
            Some(p) => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| format!("`{entry}`: `{p}` is not a port"))?,
            ),
            None => None,
        };
        let (a, prefix) = match addr.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (addr, None),
        };
        if let Ok(ip) = a.parse::<IpAddr>() {
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| {
                    format!("`{entry}`: `/{p}` is not a prefix length (0 to {max})")
                })?,
                None => max,
            };
            out.push(Bypass::Net { ip, prefix, port });
            continue;
        }
        if prefix.is_some() {
            return Err(format!("`{entry}`: a /prefix needs an IP address"));
        }
        let name = a
            .trim_start_matches("*.")
            .trim_start_matches('.')
            .trim_end_matches('.');
        let ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
        if !ok {
            return Err(format!(
                "`{entry}` is not a host name, an IP address or `*`"
            ));
        }
        out.push(Bypass::Domain {
            name: name.to_ascii_lowercase(),
            port,
        });
    }
    Ok(out)
}

/// The proxy variables read from the environment, lower case first as curl reads them (`http_proxy`, then
/// `HTTP_PROXY`); an empty value counts as unset.
pub const PROXY_ENV: [&str; 6] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "no_proxy",
    "NO_PROXY",
];

pub(super) fn resolve_proxies(loaded: &Loaded, env: &[(String, String)]) -> Result<Proxies, Error> {
    let var = |names: [&str; 2]| {
        names.iter().find_map(|n| {
            env.iter()
                .find(|(k, v)| k == n && !v.trim().is_empty())
                .map(|(k, v)| (k.clone(), v.clone()))
        })
    };
    let target = loaded.target.as_ref();
    let no_proxy_key = target.and_then(|t| t.value.no_proxy.as_ref().map(|v| (t.file, v)));
    let bypass = match (&no_proxy_key, var(["no_proxy", "NO_PROXY"])) {
        (Some((file, v)), _) => parse_no_proxy(v.get_ref()).map_err(|m| -> Error {
            loaded
                .error(*file, v.span(), format!("`no_proxy`: {m}"))
                .with_help(
                    "no_proxy lists hosts reached directly, separated by commas: host names (with their \
                     subdomains), IP addresses or networks (10.0.0.0/8), each with an optional :port; `*` for all",
                )
                .into()
        })?,
        (None, Some((name, v))) => parse_no_proxy(&v)
            .map_err(|m| Error::Usage(format!("environment variable {name}: {m}")))?,
        (None, None) => Vec::new(),
    };
    if let Some((file, v)) = target.and_then(|t| t.value.proxy.as_ref().map(|v| (t.file, v))) {
        let text = v.get_ref().trim();
        if text.eq_ignore_ascii_case("none") {
            return Ok(Proxies::default());
        }
        let server = parse_proxy_url(text).map_err(|m| -> Error {
            loaded
                .error(file, v.span(), format!("`proxy`: {m}"))
                // The quoted line shows the URL with its password masked.
                .masking(super::request_checks::userinfo_secret(v.get_ref()))
                .with_help(
                    "proxy = \"http://host:port\" (or \"http://user:password@host:port\") sends every request \
                     through that proxy; proxy = \"none\" ignores HTTP_PROXY and HTTPS_PROXY",
                )
                .into()
        })?;
        return Ok(Proxies {
            http: Some(server.clone()),
            https: Some(server),
            bypass,
            source: "[target] proxy".into(),
        });
    }
    let from_env = |names: [&str; 2]| -> Result<Option<(String, ProxyServer)>, Error> {
        match var(names) {
            Some((name, v)) => parse_proxy_url(&v)
                .map(|p| Some((name.clone(), p)))
                .map_err(|m| {
                    Error::Usage(format!(
                        "environment variable {name}: {m} (or set [target] proxy = \"none\" to ignore it)"
                    ))
                }),
            None => Ok(None),
        }
    };
    let http = from_env(["http_proxy", "HTTP_PROXY"])?;
    let https = from_env(["https_proxy", "HTTPS_PROXY"])?;
    let source = [&http, &https]
        .iter()
        .filter_map(|p| p.as_ref().map(|(n, _)| n.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(Proxies {
        http: http.map(|(_, p)| p),
        https: https.map(|(_, p)| p),
        bypass,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls_parse_and_hide_their_credentials() {
        let p = parse_proxy_url("http://al%40ice:s%3Acret@proxy.test:3128").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("proxy.test", 3128));
        assert_eq!(p.shown, "http://proxy.test:3128");
        // base64("al@ice:s:cret")
        assert_eq!(
            p.authorization.as_deref(),
            Some("Basic YWxAaWNlOnM6Y3JldA==")
        );
        assert!(!format!("{p:?}").contains("YWx"), "{p:?}");
        let p = parse_proxy_url("[::1]:8080").unwrap();
        assert_eq!(
            (p.host.as_str(), p.port, p.shown.as_str()),
            ("::1", 8080, "http://[::1]:8080")
        );
        assert_eq!(parse_proxy_url("proxy.test").unwrap().port, 1080);
        for (bad, says) in [
            ("socks5://h:1", "socks5 proxy is not supported"),
            ("https://h:1", "https proxy"),
            ("ftp://h:1", "unsupported proxy scheme `ftp`"),
            ("http://h:99999", "cannot parse the proxy URL"),
            ("http://user:hunter2@", "cannot parse"),
        ] {
            let e = parse_proxy_url(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn no_proxy_follows_curls_rules() {
        let p = ProxyServer {
            host: "p".into(),
            port: 1,
            authorization: None,
            shown: "http://p:1".into(),
        };
        let with = |list: &str| Proxies {
            http: Some(p.clone()),
            https: Some(p.clone()),
            bypass: parse_no_proxy(list).unwrap(),
            source: String::new(),
        };
        let direct =
            |list: &str, host: &str, port: u16| with(list).for_origin(false, host, port).is_none();
        assert!(direct("example.com", "example.com", 80));
        assert!(direct("example.com", "API.Example.com", 80));
        assert!(direct(".example.com", "example.com", 80));
        assert!(direct("*.example.com", "a.example.com", 80));
        assert!(!direct("example.com", "badexample.com", 80));
        assert!(direct("example.com:8080", "example.com", 8080));
        assert!(!direct("example.com:8080", "example.com", 80));
        assert!(direct("*", "anything", 1));
        assert!(direct("10.0.0.0/8, 192.168.1.1", "10.2.3.4", 80));
        assert!(direct("10.0.0.0/8 192.168.1.1", "192.168.1.1", 80));
        assert!(!direct("10.0.0.0/8", "11.0.0.1", 80));
        assert!(direct("[::1]:8080", "::1", 8080));
        assert!(direct("::1", "::1", 1));
        assert!(direct("fd00::/8", "fd12::1", 1));
        // Loopback is not exempt unless listed (curl's rule).
        assert!(!direct("", "127.0.0.1", 80));
        assert!(!direct("", "localhost", 80));
        for bad in [
            "exa mple.com/8",
            "[::1",
            "host:http",
            "10.0.0.0/33",
            "a/8",
            "ex@mple",
        ] {
            assert!(parse_no_proxy(bad).is_err(), "{bad}");
        }
    }
}
