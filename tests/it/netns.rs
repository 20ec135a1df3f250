//! Segments as separate hosts: four `run --segment I/4` processes, each in a network namespace of its own, against
//! the reference API in another namespace, then `loadgen merge`.
//!
//! The test builds its own little network, apart from the machine's: a server namespace holding the service
//! address 10.231.100.1 (on its loopback), and per segment I a namespace joined to the server's by a veth pair,
//! 10.231.I.2/30 on the segment's end and 10.231.I.1/30 on the server's, with one route, to the service address
//! through that link. Nothing is added to the host's own namespace (the veths are created inside the
//! namespaces), so the fixed addresses do not clash with a parallel run; the names carry the test's pid. A guard
//! deletes the veths and namespaces however the test ends. It needs root and iproute2 (`ip`, `ss`): without
//! them the test is skipped, except in CI (`LOADGEN_CI=1`), where it fails; `LOADGEN_SKIP_NETNS=why` skips it
//! even there (`.ci/run` sets it only on a machine where it has neither root nor passwordless sudo).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::schema::schema_errors;
use crate::segmenting::{assert_merged_percentiles, merge, start_at};
use crate::util::{Demo, external_tool, loadgen_via, request, results, unavailable, write};

const SEGMENTS: usize = 4;
/// The reference API's address, in the server namespace.
const SERVICE: Ipv4Addr = Ipv4Addr::new(10, 231, 100, 1);

/// Segment I's address (its end of the veth pair).
fn segment_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 231, i as u8, 2)
}

/// Runs `ip ARGS`; the error is the command and what it printed.
fn ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "ip {}: {} ({})",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim(),
            out.status
        ))
    }
}

/// The namespaces and veths of one test, deleted on drop (or by [`Net::cleanup`]) in reverse order of creation.
struct Net {
    server: String,
    segments: Vec<String>,
    /// Each server-side veth (deleting one end deletes the pair at once; a namespace's deletion is asynchronous).
    links: Vec<String>,
    /// What was created, to delete: `(namespace, Some(veth))` or `(namespace, None)` for the namespace itself.
    created: Vec<(String, Option<String>)>,
}

impl Net {
    /// Creates the server namespace, or says why it cannot (not root, no `ip netns`).
    fn probe() -> Result<Net, String> {
        let server = format!("lgit{}-srv", std::process::id());
        ip(&["netns", "add", &server])?;
        Ok(Net {
            server: server.clone(),
            segments: Vec::new(),
            links: Vec::new(),
            created: vec![(server, None)],
        })
    }

    /// Builds the rest of the network: the service address, and the segments' namespaces and links.
    fn build(&mut self, segments: usize) -> Result<(), String> {
        let pid = std::process::id();
        let srv = self.server.clone();
        let service = format!("{SERVICE}/32");
        ip(&["-n", &srv, "link", "set", "lo", "up"])?;
        ip(&["-n", &srv, "addr", "add", &service, "dev", "lo"])?;
        for i in 0..segments {
            let ns = format!("lgit{pid}-s{i}");
            ip(&["netns", "add", &ns])?;
            self.created.push((ns.clone(), None));
            self.segments.push(ns.clone());
            let (near, far) = (format!("lgc{pid}s{i}"), format!("lgv{pid}s{i}"));
            // Created inside the namespaces: the host's namespace never holds them.
            ip(&[
                "link", "add", &near, "netns", &ns, "type", "veth", "peer", "name", &far, "netns",
                &srv,
            ])?;
            self.created.push((srv.clone(), Some(far.clone())));
            self.links.push(far.clone());
            let gateway = Ipv4Addr::new(10, 231, i as u8, 1);
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{}/30", segment_ip(i)),
                "dev",
                &near,
            ])?;
            ip(&[
                "-n",
                &srv,
                "addr",
                "add",
                &format!("{gateway}/30"),
                "dev",
                &far,
            ])?;
            ip(&["-n", &ns, "link", "set", &near, "up"])?;
            ip(&["-n", &srv, "link", "set", &far, "up"])?;
            ip(&[
                "-n",
                &ns,
                "route",
                "add",
                &service,
                "via",
                &gateway.to_string(),
            ])?;
        }
        Ok(())
    }

    /// Packets received by the server's end of segment `i`'s link.
    fn rx_packets(&self, i: usize) -> u64 {
        let text = ip(&[
            "-n",
            &self.server,
            "-j",
            "-s",
            "link",
            "show",
            "dev",
            &self.links[i],
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let v: serde_json::Value = serde_json::from_str(&text).expect("ip -j prints JSON");
        v[0]["stats64"]["rx"]["packets"]
            .as_u64()
            .unwrap_or_else(|| panic!("no rx packets in {text}"))
    }

    /// Deletes what was created, newest first; returns what could not be deleted.
    fn cleanup(&mut self) -> Vec<String> {
        let mut errors = Vec::new();
        while let Some((ns, link)) = self.created.pop() {
            let done = match &link {
                Some(dev) => ip(&["-n", &ns, "link", "del", dev]),
                None => ip(&["netns", "del", &ns]),
            };
            if let Err(e) = done {
                errors.push(e);
            }
        }
        errors
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for e in self.cleanup() {
            eprintln!("cleanup: {e}");
        }
    }
}

/// The server namespace, or `None` (the test is skipped) when this machine cannot make one, or when
/// `LOADGEN_SKIP_NETNS` says why it must not try (`.ci/run` sets it where it has neither root nor sudo).
fn network() -> Option<Net> {
    if let Some(why) = std::env::var_os("LOADGEN_SKIP_NETNS") {
        eprintln!("SKIPPED: network namespaces: {}", why.to_string_lossy());
        return None;
    }
    external_tool("ip (iproute2)", &[&["ip", "-V"]])?;
    external_tool("ss (iproute2)", &[&["ss", "-V"]])?;
    match Net::probe() {
        Ok(net) => Some(net),
        Err(e) => {
            unavailable(&format!(
                "cannot create a network namespace (needs root): {e}"
            ));
            None
        }
    }
}

/// Sets its flag when dropped, so the watcher stops even when the test fails first.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The peers of the TCP connections established in namespace `ns`, polled until `stop`: who connected to the
/// server, by source address.
fn watch_peers(ns: String, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<BTreeSet<IpAddr>> {
    std::thread::spawn(move || {
        let mut peers = BTreeSet::new();
        while !stop.load(Ordering::Relaxed) {
            let out = Command::new("ss")
                .args(["-N", &ns, "-H", "-t", "-n", "state", "established"])
                .output();
            if let Ok(out) = out {
                for line in String::from_utf8_lossy(&out.stdout).lines() {
                    let addrs: Vec<SocketAddr> = line
                        .split_whitespace()
                        .filter_map(|w| w.parse().ok())
                        .collect();
                    // Local address, then peer: the server's side is the one on the service port.
                    if let [local, peer] = addrs[..]
                        && local.ip() == IpAddr::V4(SERVICE)
                    {
                        peers.insert(peer.ip());
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        peers
    })
}

/// 8 users registering `seg_{{vu}}` (a user number used twice is a 409), then 80 `/health` iterations in
/// all: about two seconds at 200 ms a user.
fn scenario(host: &str) -> String {
    crate::segmenting::registering(
        "netns",
        host,
        "users = 8\nspawn_rate = 100\nduration = \"20s\"\niterations = 80",
        "200ms",
    )
}

#[test]
fn four_segments_in_their_own_network_namespaces_merge_into_the_whole_plan() {
    let Some(mut net) = network() else {
        return;
    };
    if let Err(e) = net.build(SEGMENTS) {
        panic!("building the test network: {e}");
    }
    let in_ns = |ns: &str| ["ip".to_string(), "netns".into(), "exec".into(), ns.into()];
    let srv_prefix = in_ns(&net.server);
    let srv_prefix: Vec<&str> = srv_prefix.iter().map(String::as_str).collect();
    let demo = Demo::start_via(&srv_prefix, &format!("{SERVICE}:0"), &[]);
    let port = demo.url.rsplit(':').next().expect("a port in the URL");
    assert_eq!(demo.url, format!("http://{SERVICE}:{port}"));

    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "netns.toml", &scenario(&demo.url));
    let seg_json = |i: usize| dir.path().join(format!("seg-{i}.json"));
    let stop = StopOnDrop(Arc::new(AtomicBool::new(false)));
    let watcher = watch_peers(net.server.clone(), stop.0.clone());
    let (_, at) = start_at(Duration::from_secs(2));
    let children: Vec<_> = net
        .segments
        .iter()
        .enumerate()
        .map(|(i, ns)| {
            let prefix = in_ns(ns);
            let prefix: Vec<&str> = prefix.iter().map(String::as_str).collect();
            loadgen_via(&prefix, ["run", &file.to_string_lossy(), "-q"])
                .arg("--segment")
                .arg(format!("{i}/{SEGMENTS}"))
                .arg("--start-at")
                .arg(&at)
                .arg("--json")
                .arg(seg_json(i))
                .spawn()
        })
        .collect();
    let outs: Vec<_> = children
        .into_iter()
        .map(|(child, shown)| crate::util::wait_bounded(child, shown, Duration::from_secs(40)))
        .collect();
    drop(stop);
    let peers = watcher.join().expect("the ss watcher");
    for out in &outs {
        assert_eq!(out.code, Some(0), "{}", out.dump());
    }

    let segs: Vec<_> = (0..SEGMENTS).map(|i| results(&seg_json(i))).collect();
    for (i, r) in segs.iter().enumerate() {
        assert_eq!(r["settings"]["segment"]["index"], i as u64);
        assert_eq!(r["settings"]["segment"]["count"], SEGMENTS as u64);
        assert_eq!(r["settings"]["users"], 2, "segment {i}");
        assert_eq!(schema_errors(r), Vec::<String>::new());
    }
    // Each segment's connections came from its own namespace's address, and no other address connected.
    let expected: BTreeSet<IpAddr> = (0..SEGMENTS).map(|i| segment_ip(i).into()).collect();
    assert_eq!(peers, expected, "the server's peers");
    // And every request of segment I crossed link I (at least one packet a request).
    for (i, r) in segs.iter().enumerate() {
        let sent = r["totals"]["requests"].as_u64().unwrap();
        let rx = net.rx_packets(i);
        eprintln!("segment {i}: {sent} requests, {rx} packets in on its link");
        assert!(
            rx >= sent,
            "segment {i}: {sent} requests, {rx} packets on its link"
        );
    }

    let files: Vec<PathBuf> = (0..SEGMENTS).map(seg_json).collect();
    let m = merge(dir.path(), &files, 0);
    assert_eq!(schema_errors(&m), Vec::<String>::new());
    assert_eq!(m["merged"]["complete"], true);
    assert_eq!(m["settings"]["users"], 8);
    assert_eq!(m["gates"]["passed"], true);
    // The whole plan: 8 users registered once each (no user number in two segments: no 409), 80 iterations.
    let register = request(&m, "register");
    assert_eq!(register["requests"], 8, "{register}");
    assert_eq!(register["status_codes"]["201"], 8, "{register}");
    assert!(register["status_codes"].get("409").is_none(), "{register}");
    assert_eq!(request(&m, "health")["requests"], 80);
    assert_eq!(m["totals"]["requests"], 88);
    let total: u64 = segs
        .iter()
        .map(|r| r["totals"]["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 88);
    assert_merged_percentiles(&segs, &m);

    // Nothing left behind: the server gone, then the links and namespaces.
    demo.kill();
    let errors = net.cleanup();
    assert_eq!(errors, Vec::<String>::new());
    let left = ip(&["netns", "list"]).unwrap_or_else(|e| panic!("{e}"));
    let ours = format!("lgit{}-", std::process::id());
    assert!(!left.contains(&ours), "namespaces left: {left}");
}
