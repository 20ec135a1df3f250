//! Proxies (issue 17 item 7), through a real one: Debian's tinyproxy, started by each test on a loopback port
//! with a configuration and log file of its own (`.ci/run` installs it; without it the tests are skipped with
//! a SKIPPED line, except in CI). What went through the proxy is read from its log, one `Request` line per
//! request (`GET http://host:port/ HTTP/1.1`, or `CONNECT host:port HTTP/1.1` for a tunnel); the origin
//! servers count what reached them.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::dns::Http;
use crate::tls::{TlsServer, pki};
use crate::util::{Lg, external_tool, loadgen, results, write};

/// A tinyproxy on a loopback port, stopped on drop.
pub(crate) struct Tinyproxy {
    addr: SocketAddr,
    log: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Tinyproxy {
    /// Started with `extra` configuration lines (e.g. `BasicAuth user password`); `None` when tinyproxy is not
    /// installed (skipped, outside CI).
    pub(crate) fn start(extra: &str) -> Option<Tinyproxy> {
        external_tool("tinyproxy", &[&["tinyproxy", "-v"]])?;
        let dir = tempfile::tempdir().expect("temporary directory");
        let log = dir.path().join("tinyproxy.log");
        for _ in 0..10 {
            // A port the OS picks, freed for tinyproxy (retried if another program takes it meanwhile).
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let conf = write(
                dir.path(),
                "tinyproxy.conf",
                &format!(
                    "Port {port}\nListen 127.0.0.1\nTimeout 30\nLogFile \"{}\"\nLogLevel Info\nMaxClients 64\n\
                     Allow 127.0.0.1\nDisableViaHeader Yes\n{extra}\n",
                    log.display()
                ),
            );
            let mut child = Command::new("tinyproxy")
                .arg("-d")
                .arg("-c")
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start tinyproxy");
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
            let mut up = false;
            for _ in 0..100 {
                if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                    up = true;
                    break;
                }
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if up {
                return Some(Tinyproxy {
                    addr,
                    log,
                    child,
                    _dir: dir,
                });
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("tinyproxy did not start listening");
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The request lines the proxy logged (`GET http://… HTTP/1.1`, `CONNECT host:port HTTP/1.1`).
    pub(crate) fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once("Request (file descriptor ").map(|(_, r)| r))
            .filter_map(|r| r.split_once("): ").map(|(_, line)| line.to_string()))
            .collect()
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Ten iterations of `GET /` from one user; `target_extra` goes into `[target]`.
fn scenario(dir: &Path, host: &str, target_extra: &str) -> PathBuf {
    write(
        dir,
        "proxy.toml",
        &format!(
            r#"
name = "proxy"
[target]
host = "{host}"
timeout = "5s"
{target_extra}
[load]
users = 1
spawn_rate = 10
duration = "60s"
iterations = 10
[[task]]
name = "home"
path = "/"
"#
        ),
    )
}

/// Runs `cmd` (a `run` of `file` to which the results path is added) and returns its results.
fn run(cmd: Lg, file: &Path, code: i32) -> (serde_json::Value, crate::util::Out) {
    let json = file.with_extension("json");
    let out = cmd.arg("--json").arg(&json).expect_code(code);
    assert!(!out.stderr.contains("panicked"), "{}", out.dump());
    (results(&json), out)
}

fn lines_with(lines: &[String], needle: &str) -> usize {
    lines.iter().filter(|l| l.contains(needle)).count()
}

#[test]
fn plain_http_goes_through_the_proxy_of_http_proxy_in_absolute_form() {
    let Some(proxy) = Tinyproxy::start("") else {
        return;
    };
    let origin = Http::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), &format!("http://{}", origin.addr), "");
    let cmd = loadgen(["run", &file.to_string_lossy()]).env("HTTP_PROXY", &proxy.url());
    let (r, out) = run(cmd, &file, 0);
    assert_eq!(r["totals"]["requests"], 10, "{}", out.dump());
    assert_eq!(r["totals"]["failures"], 0, "{}", out.dump());
    let seen = proxy.requests();
    assert_eq!(
        lines_with(&seen, &format!("GET http://{}/ HTTP/1.1", origin.addr)),
        10,
        "{seen:?}"
    );
    assert_eq!(origin.count().1, 10);
    // The results' addresses are the proxy's: that is where the connections went.
    assert_eq!(
        r["addresses"][0]["addresses"][0]["address"],
        proxy.addr.to_string()
    );
    loadgen(["check", &file.to_string_lossy()])
        .env("http_proxy", &proxy.url())
        .expect_code(0)
        .stdout_has(&format!(
            "proxy      http via {}, https via direct (from http_proxy)",
            proxy.url()
        ));
}

#[test]
fn https_goes_through_a_connect_tunnel_with_tls_to_the_origin_inside() {
    let Some(proxy) = Tinyproxy::start("") else {
        return;
    };
    let pki = pki();
    let server = TlsServer::start(&pki);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ca.pem", &pki.ca_pem);
    let file = scenario(dir.path(), &server.url(), "ca_file = \"ca.pem\"");
    let cmd = loadgen(["run", &file.to_string_lossy()]).env("https_proxy", &proxy.url());
    let (r, out) = run(cmd, &file, 0);
    assert_eq!(r["totals"]["failures"], 0, "{}", out.dump());
    assert_eq!(server.count(|c| &c.requests), 10);
    let host = server.url().replace("https://", "");
    let seen = proxy.requests();
    let tunnels = lines_with(&seen, &format!("CONNECT {host} HTTP/1.1"));
    // One tunnel per connection: kept alive, so as many as the server saw connections.
    assert!(tunnels >= 1, "{seen:?}");
    assert_eq!(tunnels as u64, server.count(|c| &c.connections), "{seen:?}");
    assert_eq!(seen.len(), tunnels, "nothing but tunnels: {seen:?}");
    // The certificate is still checked inside the tunnel: without the CA, every request fails.
    let file = scenario(dir.path(), &server.url(), "");
    let cmd = loadgen(["run", &file.to_string_lossy(), "-q"]).env("https_proxy", &proxy.url());
    let (r, out) = run(cmd, &file, 1);
    let message = r["failures"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("not trusted"), "{}", out.dump());
}

#[test]
fn no_proxy_and_proxy_none_bypass_the_proxy() {
    let Some(proxy) = Tinyproxy::start("") else {
        return;
    };
    let origin = Http::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = origin.addr.port();
    let dir = tempfile::tempdir().unwrap();
    for (no_proxy, extra) in [
        ("127.0.0.1".to_string(), ""),
        (format!("example.com, 127.0.0.0/8:{port}"), ""),
        ("*".to_string(), ""),
        (String::new(), "proxy = \"none\""),
        ("127.0.0.2".to_string(), "no_proxy = \"127.0.0.1\""),
    ] {
        let file = scenario(dir.path(), &format!("http://{}", origin.addr), extra);
        let cmd = loadgen(["run", &file.to_string_lossy(), "-q"])
            .env("HTTP_PROXY", &proxy.url())
            .env("NO_PROXY", &no_proxy);
        let (r, out) = run(cmd, &file, 0);
        assert_eq!(
            r["totals"]["failures"],
            0,
            "{no_proxy} {extra}: {}",
            out.dump()
        );
    }
    assert_eq!(origin.count().1, 50);
    assert_eq!(proxy.requests(), Vec::<String>::new());
    // Listed for another port, or another address: through the proxy.
    let file = scenario(dir.path(), &format!("http://{}", origin.addr), "");
    let cmd = loadgen(["run", &file.to_string_lossy(), "-q"])
        .env("HTTP_PROXY", &proxy.url())
        .env("NO_PROXY", "127.0.0.1:1,127.0.0.2,localhost");
    let (r, out) = run(cmd, &file, 0);
    assert_eq!(r["totals"]["failures"], 0, "{}", out.dump());
    assert_eq!(proxy.requests().len(), 10);
}

#[test]
fn proxy_credentials_are_sent_and_never_shown_and_a_refusal_names_the_status() {
    let Some(proxy) = Tinyproxy::start("BasicAuth alice s3cr3t-pw") else {
        return;
    };
    let origin = Http::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let pki = pki();
    let server = TlsServer::start(&pki);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ca.pem", &pki.ca_pem);
    let with_auth = format!(
        "proxy = \"http://alice:s3cr3t-pw@{}\"\nca_file = \"ca.pem\"",
        proxy.addr
    );
    // base64("alice:s3cr3t-pw")
    let secrets = ["s3cr3t-pw", "YWxpY2U6czNjcjN0LXB3"];
    for host in [format!("http://{}", origin.addr), server.url()] {
        let file = scenario(dir.path(), &host, &with_auth);
        // [target] proxy wins over the environment's (a port nothing listens on).
        let cmd = loadgen(["run", &file.to_string_lossy(), "-vv"])
            .env("HTTP_PROXY", "http://127.0.0.1:1")
            .env("HTTPS_PROXY", "http://127.0.0.1:1");
        let (r, out) = run(cmd, &file, 0);
        assert_eq!(r["totals"]["failures"], 0, "{host}: {}", out.dump());
        let json = std::fs::read_to_string(file.with_extension("json")).unwrap();
        for s in secrets {
            assert!(
                !out.stdout.contains(s) && !out.stderr.contains(s) && !json.contains(s),
                "{s} shown: {}",
                out.dump()
            );
        }
        let check = loadgen(["check", &file.to_string_lossy()]).expect_code(0);
        check.stdout_has(&format!("via http://{}", proxy.addr));
        assert!(!check.stdout.contains("s3cr3t"), "{}", check.dump());
    }
    assert_eq!(origin.count().1, 10);
    assert_eq!(server.count(|c| &c.requests), 10);
    // Without credentials: https's CONNECT is refused with 407, a connect failure that names it.
    let file = scenario(
        dir.path(),
        &server.url(),
        &format!("proxy = \"{}\"\nca_file = \"ca.pem\"", proxy.url()),
    );
    let (r, out) = run(loadgen(["run", &file.to_string_lossy(), "-q"]), &file, 1);
    let failures = r["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0]["kind"], "connect");
    let message = failures[0]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with(&format!(
            "the proxy {} refused the tunnel to the target: 407 ",
            proxy.url()
        )) && message.contains("credentials in the proxy URL"),
        "{message}\n{}",
        out.dump()
    );
    // Plain http: the proxy's 407 is the answer, checked like any status.
    let file = scenario(
        dir.path(),
        &format!("http://{}", origin.addr),
        &format!("proxy = \"{}\"", proxy.url()),
    );
    let (r, out) = run(loadgen(["run", &file.to_string_lossy(), "-q"]), &file, 1);
    let message = r["failures"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("407"), "{message}\n{}", out.dump());
}

#[test]
fn a_proxy_that_is_down_is_a_connect_failure_naming_it() {
    let origin = Http::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        &format!("http://{}", origin.addr),
        &format!("proxy = \"http://{dead}\""),
    );
    let (r, out) = run(loadgen(["run", &file.to_string_lossy(), "-q"]), &file, 1);
    let f = &r["failures"][0];
    assert_eq!(f["kind"], "connect", "{}", out.dump());
    assert_eq!(
        f["message"],
        format!("cannot connect to the proxy http://{dead}: connection refused")
    );
    assert_eq!(origin.count().0, 0);
}

#[test]
fn bad_proxy_settings_are_errors_before_any_traffic() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, at, message) in [
        (
            "proxy = \"socks5://127.0.0.1:1080\"",
            "6:9",
            "`proxy`: a socks5 proxy is not supported",
        ),
        (
            "proxy = \"http://user:hunter2@\"",
            "6:9",
            "`proxy`: cannot parse the proxy URL",
        ),
        (
            "proxy = \"https://p.test:3128\"",
            "6:9",
            "an https proxy (TLS to the proxy itself) is not supported",
        ),
        (
            "no_proxy = \"10.0.0.0/40\"",
            "6:12",
            "`no_proxy`: `10.0.0.0/40`: `/40` is not a prefix length",
        ),
    ] {
        let file = scenario(dir.path(), "http://127.0.0.1:1", extra);
        let out = loadgen(["check", &file.to_string_lossy()]).expect_code(2);
        let first = out.stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with(&format!("error: {}:{at}: ", file.display()))
                && first.contains(message),
            "{extra}: {}",
            out.dump()
        );
        assert!(!out.stderr.contains("hunter2"), "{}", out.dump());
    }
    let file = scenario(dir.path(), "http://127.0.0.1:1", "");
    let out = loadgen(["run", &file.to_string_lossy()])
        .env("HTTPS_PROXY", "socks5h://127.0.0.1:1080")
        .expect_code(2);
    out.stderr_has("error: environment variable HTTPS_PROXY: a socks5h proxy is not supported")
        .stderr_has("proxy = \"none\"");
    let out = loadgen(["run", &file.to_string_lossy()])
        .env("no_proxy", "[::1")
        .expect_code(2);
    out.stderr_has("error: environment variable no_proxy: `[::1`");
}

#[test]
fn a_proxy_that_forbids_the_tunnel_is_a_connect_failure_naming_403() {
    // tinyproxy allows CONNECT to the listed ports only, and answers others with 403.
    let Some(proxy) = Tinyproxy::start("ConnectPort 443") else {
        return;
    };
    let pki = pki();
    let server = TlsServer::start(&pki);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ca.pem", &pki.ca_pem);
    let file = scenario(dir.path(), &server.url(), "ca_file = \"ca.pem\"");
    let cmd = loadgen(["run", &file.to_string_lossy(), "-q"]).env("HTTPS_PROXY", &proxy.url());
    let (r, out) = run(cmd, &file, 1);
    let failures = r["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0]["kind"], "connect");
    let message = failures[0]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with(&format!(
            "the proxy {} refused the tunnel to the target: 403 ",
            proxy.url()
        )) && message.contains("does not allow tunnels to this host or port"),
        "{message}\n{}",
        out.dump()
    );
    assert_eq!(server.count(|c| &c.connections), 0);
}
