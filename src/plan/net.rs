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
