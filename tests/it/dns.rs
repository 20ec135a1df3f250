//! DNS (issue 17 item 3): every address a name resolves to gets new connections, IPv6 works, names are looked up
//! again after `dns_ttl`, and the results list the addresses used.
//!
//! The servers listen on loopback addresses of their own (127.0.0.2, 127.0.0.3: Linux answers the whole
//! 127.0.0.0/8 on `lo`) on one port, so one origin reaches both. Names come from `[target] resolve` (the
//! resolver hook), or from the system resolver with a private `/etc/hosts`: loadgen is started in a mount
//! namespace of its own (`unshare -m`) with a temporary file bind-mounted over `/etc/hosts` (root only; skipped
//! with a SKIPPED line otherwise, failing in CI). Requests say `Connection: close`, so each opens a connection.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::util::{loadgen, loadgen_via, no_device_nodes, results, unavailable, wait_until, write};

/// A tiny HTTP/1.1 server on a thread: `200 ok` to every request, counting connections and requests, and
/// recording each request line (proxies are told apart by what they send).
pub struct Http {
    pub addr: SocketAddr,
    pub connections: Arc<AtomicU64>,
    pub requests: Arc<AtomicU64>,
    pub lines: Arc<std::sync::Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Http {
    pub fn bind(addr: SocketAddr) -> std::io::Result<Http> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let http = Http {
            addr,
            connections: Arc::default(),
            requests: Arc::default(),
            lines: Arc::default(),
            stop: Arc::default(),
        };
        let (conns, reqs, lines, stop) = (
            http.connections.clone(),
            http.requests.clone(),
            http.lines.clone(),
            http.stop.clone(),
        );
        std::thread::spawn(move || {
            for s in listener.incoming() {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(s) = s else { continue };
                conns.fetch_add(1, Ordering::Relaxed);
                let (reqs, lines) = (reqs.clone(), lines.clone());
                std::thread::spawn(move || serve(s, &reqs, &lines));
            }
        });
        Ok(http)
    }

    pub fn count(&self) -> (u64, u64) {
        (
            self.connections.load(Ordering::Relaxed),
            self.requests.load(Ordering::Relaxed),
        )
    }
}

impl Drop for Http {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// Answers requests (heads only: the tests send no bodies) until the client closes or asks to.
fn serve(s: TcpStream, reqs: &AtomicU64, lines: &std::sync::Mutex<Vec<String>>) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(mut w) = s.try_clone() else { return };
    let mut r = BufReader::new(s);
    loop {
        let mut first = String::new();
        if r.read_line(&mut first).unwrap_or(0) == 0 {
            return;
        }
        let mut close = false;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h.trim().is_empty() {
                break;
            }
            let l = h.to_ascii_lowercase();
            if l.starts_with("connection:") && l.contains("close") {
                close = true;
            }
        }
        reqs.fetch_add(1, Ordering::Relaxed);
        lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(first.trim_end().to_string());
        let c = if close { "close" } else { "keep-alive" };
        let answer = format!("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: {c}\r\n\r\nok");
        if w.write_all(answer.as_bytes()).is_err() || close {
            return;
        }
    }
}

/// Servers on `ips`, all on the same port (the first one's, picked by the OS; tried a few times, as another
/// program may hold that port on the other addresses).
fn same_port(ips: &[&str]) -> Vec<Http> {
    for _ in 0..20 {
        let first: IpAddr = ips[0].parse().expect("an IP address");
        let Ok(a) = Http::bind(SocketAddr::new(first, 0)) else {
            continue;
        };
        let port = a.addr.port();
        let mut all = vec![a];
        for ip in &ips[1..] {
            match Http::bind(SocketAddr::new(ip.parse().expect("an IP address"), port)) {
                Ok(h) => all.push(h),
                Err(_) => break,
            }
        }
        if all.len() == ips.len() {
            return all;
        }
    }
    panic!("no port free on all of {ips:?}");
}

/// A scenario requesting `/` with `Connection: close` from 2 users until `iterations` are done (a minute at most).
fn scenario(dir: &Path, host: &str, target_extra: &str, iterations: u64) -> std::path::PathBuf {
    write(
        dir,
        "dns.toml",
        &format!(
            r#"
name = "dns"
[target]
host = "{host}"
timeout = "5s"
{target_extra}
[load]
users = 2
spawn_rate = 100
duration = "60s"
iterations = {iterations}
[[task]]
name = "home"
path = "/"
headers = {{ Connection = "close" }}
"#
        ),
    )
}

/// The results' addresses for the one origin, as (address, connections).
fn addresses(r: &serde_json::Value) -> Vec<(String, u64)> {
    let origins = r["addresses"].as_array().expect("an addresses list");
    assert_eq!(origins.len(), 1, "{origins:?}");
    origins[0]["addresses"]
        .as_array()
        .expect("addresses")
        .iter()
        .map(|a| {
            (
                a["address"].as_str().unwrap_or_default().to_string(),
                a["connections"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

#[test]
fn a_name_with_two_addresses_spreads_new_connections_over_both() {
    let servers = same_port(&["127.0.0.2", "127.0.0.3"]);
    let port = servers[0].addr.port();
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        &format!("http://api.test:{port}"),
        r#"resolve = { "API.test" = ["127.0.0.2", "127.0.0.3"] }"#,
        40,
    );
    let json = dir.path().join("r.json");
    let out = loadgen([
        "run",
        &file.to_string_lossy(),
        "--json",
        &json.to_string_lossy(),
    ])
    .expect_code(0);
    let r = results(&json);
    assert_eq!(r["totals"]["requests"], 40, "{}", out.dump());
    assert_eq!(r["totals"]["failures"], 0, "{}", out.dump());
    // Round-robin over both: each got half of the 40 connections.
    let (a, b) = (servers[0].count(), servers[1].count());
    assert_eq!((a.1, b.1), (20, 20), "requests per server: {a:?} {b:?}");
    assert_eq!(
        addresses(&r),
        vec![
            (format!("127.0.0.2:{port}"), 20),
            (format!("127.0.0.3:{port}"), 20)
        ]
    );
    assert_eq!(
        r["addresses"][0]["origin"],
        format!("http://api.test:{port}")
    );
    out.stdout_has(&format!(
        "Connections to http://api.test:{port} by address: 127.0.0.2:{port}: 20, 127.0.0.3:{port}: 20"
    ));
    loadgen(["check", &file.to_string_lossy()])
        .expect_code(0)
        .stdout_has(
            "dns        names looked up again every 5m; fixed: api.test → 127.0.0.2, 127.0.0.3",
        );
}

#[test]
fn ipv6_works_by_literal_and_by_name() {
    let Ok(server) = Http::bind("[::1]:0".parse().unwrap()) else {
        unavailable("this machine has no IPv6 loopback (::1)");
        return;
    };
    let port = server.addr.port();
    let dir = tempfile::tempdir().unwrap();
    for (host, extra) in [
        (format!("http://[::1]:{port}"), ""),
        (
            format!("http://six.test:{port}"),
            r#"resolve = { "six.test" = ["::1"] }"#,
        ),
    ] {
        let file = scenario(dir.path(), &host, extra, 6);
        let json = dir.path().join("r.json");
        let out = loadgen([
            "run",
            &file.to_string_lossy(),
            "--json",
            &json.to_string_lossy(),
        ])
        .expect_code(0);
        let r = results(&json);
        assert_eq!(r["totals"]["failures"], 0, "{}", out.dump());
        assert_eq!(addresses(&r), vec![(format!("[::1]:{port}"), 6)], "{host}");
    }
    assert_eq!(server.count().1, 12);
}

/// Runs `loadgen ARGS` in a private mount namespace where `hosts` is `/etc/hosts`; `None` (after a SKIPPED
/// line) when this machine cannot.
fn with_hosts(hosts: &Path) -> Option<Vec<String>> {
    if let Some(why) = no_device_nodes() {
        unavailable(&format!("a private /etc/hosts needs root: {why}"));
        return None;
    }
    let ok = std::process::Command::new("unshare")
        .args(["-m", "sh", "-c", "mount --bind \"$0\" /etc/hosts"])
        .arg(hosts)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        unavailable("unshare -m with a bind mount over /etc/hosts does not work here");
        return None;
    }
    Some(vec![
        "unshare".into(),
        "-m".into(),
        "sh".into(),
        "-c".into(),
        "mount --bind \"$0\" /etc/hosts && exec \"$@\"".into(),
        hosts.to_string_lossy().into_owned(),
    ])
}

#[test]
fn the_system_resolver_gives_every_address_of_a_name() {
    let servers = same_port(&["127.0.0.2", "127.0.0.3"]);
    let port = servers[0].addr.port();
    let dir = tempfile::tempdir().unwrap();
    let hosts = write(
        dir.path(),
        "hosts",
        "127.0.0.1 localhost\n127.0.0.2 rr.loadgen.test\n127.0.0.3 rr.loadgen.test\n",
    );
    let Some(prefix) = with_hosts(&hosts) else {
        return;
    };
    let prefix: Vec<&str> = prefix.iter().map(String::as_str).collect();
    let file = scenario(
        dir.path(),
        &format!("http://rr.loadgen.test:{port}"),
        "",
        40,
    );
    let json = dir.path().join("r.json");
    let out = loadgen_via(
        &prefix,
        [
            "run",
            &file.to_string_lossy(),
            "--json",
            &json.to_string_lossy(),
        ],
    )
    .expect_code(0);
    let r = results(&json);
    assert_eq!(r["totals"]["failures"], 0, "{}", out.dump());
    let used = addresses(&r);
    assert_eq!(used.len(), 2, "{used:?}");
    assert_eq!(used.iter().map(|u| u.1).sum::<u64>(), 40);
    assert!(used.iter().all(|u| u.1 == 20), "{used:?}");
    assert_eq!((servers[0].count().1, servers[1].count().1), (20, 20));
}

#[test]
fn a_name_is_looked_up_again_after_its_ttl() {
    let servers = same_port(&["127.0.0.2", "127.0.0.3"]);
    let port = servers[0].addr.port();
    let dir = tempfile::tempdir().unwrap();
    let hosts = write(dir.path(), "hosts", "127.0.0.2 moving.loadgen.test\n");
    let Some(prefix) = with_hosts(&hosts) else {
        return;
    };
    let prefix: Vec<&str> = prefix.iter().map(String::as_str).collect();
    let file = scenario(
        dir.path(),
        &format!("http://moving.loadgen.test:{port}"),
        "dns_ttl = \"1s\"",
        1_000_000,
    );
    // Paced: a request every 20 ms per user.
    let text = std::fs::read_to_string(&file).unwrap() + "[user]\nwait = \"20ms\"\n";
    std::fs::write(&file, text).unwrap();
    let json = dir.path().join("r.json");
    let running = loadgen_via(
        &prefix,
        [
            "run",
            &file.to_string_lossy(),
            "--json",
            &json.to_string_lossy(),
        ],
    )
    .start();
    wait_until(
        "the first server to get requests",
        Duration::from_secs(20),
        || servers[0].count().1 >= 5,
    );
    assert_eq!(
        servers[1].count().0,
        0,
        "nothing went to the new address yet"
    );
    // The name moves, written in place (the bind mount holds the file's inode).
    std::fs::write(&hosts, "127.0.0.3 moving.loadgen.test\n").unwrap();
    wait_until(
        "new connections to follow the name to its new address",
        Duration::from_secs(20),
        || servers[1].count().1 >= 5,
    );
    // Once moved, all new connections go there.
    let before = servers[0].count().1;
    let moved = servers[1].count().1;
    wait_until(
        "more requests at the new address",
        Duration::from_secs(20),
        || servers[1].count().1 >= moved + 10,
    );
    assert!(
        servers[0].count().1 <= before + 2,
        "the old address still gets requests: {} then {}",
        before,
        servers[0].count().1
    );
    running.signal("INT");
    let out = running.finish(Duration::from_secs(30));
    let r = results(&json);
    let used = addresses(&r);
    assert_eq!(used.len(), 2, "{used:?}\n{}", out.dump());
    assert_eq!(used[0].0, format!("127.0.0.2:{port}"));
    assert_eq!(used[1].0, format!("127.0.0.3:{port}"));
}

#[test]
fn bad_dns_settings_are_located_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, at, message) in [
        ("dns_ttl = \"0s\"", "6:11", "`dns_ttl` must be above zero"),
        (
            "dns_ttl = \"soon\"",
            "6:11",
            "`dns_ttl`: cannot parse `soon`",
        ),
        (
            "resolve = { \"a.test\" = [\"127.0.0.300\"] }",
            "6:25",
            "`resolve`: `127.0.0.300` is not an IP address",
        ),
        (
            "resolve = { \"a.test\" = [] }",
            "6:24",
            "`resolve`: `a.test` has no address",
        ),
        (
            "resolve = { \"a.test:80\" = [\"127.0.0.2\"] }",
            "6:13",
            "`resolve`: `a.test:80` is not a host name",
        ),
    ] {
        let file = scenario(dir.path(), "http://a.test:1", extra, 1);
        let out = loadgen(["check", &file.to_string_lossy()]).expect_code(2);
        let first = out.stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with(&format!("error: {}:{at}: ", file.display()))
                && first.contains(message),
            "{extra}: {}",
            out.dump()
        );
    }
}
