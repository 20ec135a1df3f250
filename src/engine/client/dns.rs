//! Host names to addresses, shared by every user of a run (issue 17 item 3).
//!
//! Every address a name resolves to is used: new connections to an origin take its addresses in turn (one
//! round-robin counter per origin, across the whole run and every worker), falling back to the next ones when
//! an address refuses. A name is looked up again once its addresses are older than `[target] dns_ttl`, but
//! never on a request's way: the connection that finds them stale still uses them and starts one lookup in the
//! background (at most one per origin at a time), whose answer the next connections use (stale while
//! revalidating, as browsers' resolvers do). A failed re-lookup keeps the old addresses for another TTL.
//! `[target] resolve` answers names with fixed addresses, and IP literals need no lookup: neither expires.
//!
//! Lookups go through `tokio::net::lookup_host` (`getaddrinfo` on tokio's blocking pool), so `/etc/hosts`,
//! `nsswitch` and the system's resolver configuration apply, and no worker thread ever waits on DNS. The first
//! lookup of an origin is made by one user while the others wait for it, not by every user at once.
//!
//! Each origin's entry counts the connections opened to each of its addresses (atomics, no lock: a connection
//! is opened far less often than a request is sent, and never with a lock held); entries replaced by a
//! re-lookup are kept for the count, which the results show ([`Resolver::used`]).

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Origin;

/// One origin's addresses as last looked up, with the connections opened to each.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) addrs: Box<[SocketAddr]>,
    opened: Box<[AtomicU64]>,
    /// When they were looked up; `None`: they never expire (fixed by `resolve`, or an IP literal).
    at: Option<Instant>,
    refreshing: AtomicBool,
    /// The next address a new connection starts with; carried over to the entry a re-lookup makes.
    turn: Arc<AtomicUsize>,
}

impl Entry {
    fn new(addrs: Vec<SocketAddr>, at: Option<Instant>, turn: Arc<AtomicUsize>) -> Entry {
        Entry {
            turn,
            opened: addrs.iter().map(|_| AtomicU64::new(0)).collect(),
            addrs: addrs.into(),
            at,
            refreshing: AtomicBool::new(false),
        }
    }

    /// A connection was opened to `addrs[i]`.
    pub(super) fn opened(&self, i: usize) {
        if let Some(c) = self.opened.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[derive(Debug, Default)]
struct Table {
    current: HashMap<String, Arc<Entry>>,
    /// Entries a re-lookup replaced, kept for their counts.
    retired: Vec<(String, Arc<Entry>)>,
}

/// The run's resolver.
#[derive(Debug)]
pub(super) struct Resolver {
    ttl: Option<Duration>,
    fixed: BTreeMap<String, Vec<IpAddr>>,
    table: Arc<Mutex<Table>>,
    /// Held by the user making an origin's first lookup, so the others wait for its answer.
    first: tokio::sync::Mutex<()>,
}

impl Default for Resolver {
    fn default() -> Self {
        Self::new(&crate::plan::Dns::default())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

async fn lookup(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "the host name has no address",
        ));
    }
    Ok(addrs)
}

impl Resolver {
    pub(super) fn new(dns: &crate::plan::Dns) -> Resolver {
        Resolver {
            ttl: dns.ttl,
            fixed: dns.resolve.clone(),
            table: Arc::default(),
            first: tokio::sync::Mutex::new(()),
        }
    }

    /// The addresses to connect to for `origin`, and where in them this connection starts (the round-robin
    /// turn).
    pub(super) async fn pick(&self, origin: &Origin) -> io::Result<(Arc<Entry>, usize)> {
        let entry = match self.cached(origin) {
            Some(e) => e,
            None => self.first_lookup(origin).await?,
        };
        let start = entry.turn.fetch_add(1, Ordering::Relaxed) % entry.addrs.len().max(1);
        Ok((entry, start))
    }

    /// The cached entry, starting a background re-lookup if it is stale (it is still returned).
    fn cached(&self, origin: &Origin) -> Option<Arc<Entry>> {
        let entry = lock(&self.table).current.get(&origin.key).cloned()?;
        if let (Some(ttl), Some(at)) = (self.ttl, entry.at)
            && at.elapsed() >= ttl
            && !entry.refreshing.swap(true, Ordering::AcqRel)
        {
            self.refresh(origin, ttl);
        }
        Some(entry)
    }

    fn refresh(&self, origin: &Origin, ttl: Duration) {
        let table = self.table.clone();
        let (key, host, port) = (origin.key.clone(), origin.host.clone(), origin.port);
        tokio::spawn(async move {
            let found = lookup(&host, port).await;
            let mut t = lock(&table);
            let Some(old) = t.current.get(&key).cloned() else {
                return;
            };
            let fresh = match found {
                Ok(addrs) => Entry::new(addrs, Some(Instant::now()), old.turn.clone()),
                Err(e) => {
                    tracing::warn!(
                        "looking up {host} again failed ({e}); its addresses are kept for another {}s",
                        ttl.as_secs()
                    );
                    Entry::new(old.addrs.to_vec(), Some(Instant::now()), old.turn.clone())
                }
            };
            t.current.insert(key.clone(), Arc::new(fresh));
            t.retired.push((key, old));
        });
    }

    async fn first_lookup(&self, origin: &Origin) -> io::Result<Arc<Entry>> {
        let fixed = match origin.host.parse::<IpAddr>() {
            Ok(ip) => Some(vec![ip]),
            Err(_) => self.fixed.get(&origin.host.to_ascii_lowercase()).cloned(),
        };
        let entry = match fixed {
            Some(ips) => Entry::new(
                ips.into_iter()
                    .map(|ip| SocketAddr::new(ip, origin.port))
                    .collect(),
                None,
                Arc::default(),
            ),
            None => {
                let _one_at_a_time = self.first.lock().await;
                if let Some(e) = lock(&self.table).current.get(&origin.key) {
                    return Ok(e.clone());
                }
                Entry::new(
                    lookup(&origin.host, origin.port).await?,
                    Some(Instant::now()),
                    Arc::default(),
                )
            }
        };
        let mut t = lock(&self.table);
        Ok(t.current
            .entry(origin.key.clone())
            .or_insert_with(|| Arc::new(entry))
            .clone())
    }

    /// Per origin, the addresses connections were opened to and how many, in order; origins and addresses
    /// with none are left out.
    pub(super) fn used(&self) -> Vec<(String, Vec<(SocketAddr, u64)>)> {
        let t = lock(&self.table);
        let mut by_origin: BTreeMap<&str, BTreeMap<SocketAddr, u64>> = BTreeMap::new();
        for (key, e) in t
            .current
            .iter()
            .chain(t.retired.iter().map(|(k, e)| (k, e)))
        {
            for (addr, n) in e.addrs.iter().zip(e.opened.iter()) {
                let n = n.load(Ordering::Relaxed);
                if n > 0 {
                    *by_origin.entry(key).or_default().entry(*addr).or_default() += n;
                }
            }
        }
        by_origin
            .into_iter()
            .map(|(k, a)| (k.to_string(), a.into_iter().collect()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(url: &str) -> Origin {
        Origin::of(&url::Url::parse(url).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn new_connections_take_every_address_in_turn_and_are_counted() {
        let mut dns = crate::plan::Dns::default();
        dns.resolve.insert(
            "api.test".into(),
            vec!["127.0.0.2".parse().unwrap(), "::1".parse().unwrap()],
        );
        let r = Resolver::new(&dns);
        let o = origin("http://API.test:8080/");
        let mut starts = Vec::new();
        for _ in 0..5 {
            let (e, start) = r.pick(&o).await.unwrap();
            e.opened(start);
            starts.push(start);
        }
        assert_eq!(starts, [0, 1, 0, 1, 0]);
        // An IP literal needs no lookup; addresses with no connection are not listed.
        let (_, _) = r.pick(&origin("http://127.0.0.9:1/")).await.unwrap();
        assert_eq!(
            r.used(),
            vec![(
                "http://api.test:8080".to_string(),
                vec![
                    ("127.0.0.2:8080".parse().unwrap(), 3),
                    ("[::1]:8080".parse().unwrap(), 2)
                ]
            )]
        );
    }

    #[test]
    fn counts_of_replaced_entries_are_kept() {
        let r = Resolver::default();
        let a: SocketAddr = "127.0.0.2:80".parse().unwrap();
        let b: SocketAddr = "127.0.0.3:80".parse().unwrap();
        let old = Arc::new(Entry::new(vec![a], Some(Instant::now()), Arc::default()));
        old.opened(0);
        let new = Arc::new(Entry::new(
            vec![a, b],
            Some(Instant::now()),
            old.turn.clone(),
        ));
        new.opened(0);
        new.opened(1);
        {
            let mut t = lock(&r.table);
            t.current.insert("http://x".into(), new);
            t.retired.push(("http://x".into(), old));
        }
        assert_eq!(
            r.used(),
            vec![("http://x".to_string(), vec![(a, 2), (b, 1)])]
        );
    }
}
