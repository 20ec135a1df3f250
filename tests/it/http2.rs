//! HTTP/2 (issue 17, item 6), checked from the server's side: the real binary against `serve-demo` (which serves
//! HTTP/1.1 and h2c and counts requests and connections by version at `GET /api/debug/versions`), and against
//! a hyper server over TLS in the test (a CA made with rcgen), whose ALPN offer decides what `auto` speaks.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;

use crate::util::{Demo, loadgen, request, results, write};

/// `GET /api/debug/versions` of a demo server (over HTTP/1.0: it counts as one HTTP/1.x request).
fn versions(url: &str) -> serde_json::Value {
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect to serve-demo");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    s.write_all(format!("GET /api/debug/versions HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .expect("send the request");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read the answer");
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("versions answered {text:?}: {e}"))
}

fn scenario(dir: &std::path::Path, host: &str, target: &str) -> std::path::PathBuf {
    write(
        dir,
        "h2.toml",
        &format!(
            r#"
[target]
host = "{host}"
{target}
[load]
users = 16
duration = "20s"

[[task]]
name = "health"
path = "/health"

[[task]]
name = "register"
method = "POST"
path = "/api/auth/register"
json = {{ username = "u-{{{{uuid}}}}", password = "pw", email = "u@example.com" }}
expect = {{ status = [201] }}
capture = {{ id = "$.id", ct = {{ header = "content-type" }} }}
"#
        ),
    )
}

fn total(r: &serde_json::Value) -> u64 {
    ["health", "register"]
        .iter()
        .map(|n| {
            assert_eq!(request(r, n)["failures"], 0, "{r}");
            request(r, n)["requests"].as_u64().expect("requests")
        })
        .sum()
}

#[test]
fn http2_with_prior_knowledge_reaches_the_server_as_http2_over_a_bounded_set_of_connections() {
    let demo = Demo::start(&["--rate-limit", "0"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let file = scenario(dir.path(), &demo.url, "http = \"2\"\nhttp2_connections = 2");
    let json = dir.path().join("h2.json");
    loadgen([
        "run",
        &file.to_string_lossy(),
        "-q",
        "--iterations",
        "400",
        "--json",
        &json.to_string_lossy(),
    ])
    .expect_code(0);
    let r = results(&json);
    assert_eq!(total(&r), 400, "{r}");
    let v = versions(&demo.url);
    // Every request of the run came as HTTP/2; the only HTTP/1.x one is this test's own question.
    assert_eq!(v["http2"]["requests"], 400, "{v}");
    assert_eq!(v["http1"]["requests"], 1, "{v}");
    // 16 users, at most 2 connections per worker thread (one worker per core loadgen may use).
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let conns = v["http2"]["connections"].as_u64().expect("connections");
    assert!((1..=2 * cores).contains(&conns), "{conns} connections: {v}");
}

#[test]
fn http_1_1_stays_the_default_and_auto_over_plain_http_is_http_1_1() {
    let demo = Demo::start(&["--rate-limit", "0"]);
    let dir = tempfile::tempdir().expect("temp dir");
    for (setting, asked) in [("", 100u64), ("http = \"auto\"", 100)] {
        let file = scenario(dir.path(), &demo.url, setting);
        let json = dir.path().join("h2.json");
        loadgen([
            "run",
            &file.to_string_lossy(),
            "-q",
            "--iterations",
            &asked.to_string(),
            "--json",
            &json.to_string_lossy(),
        ])
        .expect_code(0);
        assert_eq!(total(&results(&json)), asked);
    }
    let v = versions(&demo.url);
    assert_eq!(v["http2"]["requests"], 0, "{v}");
    assert_eq!(v["http1"]["requests"], 201, "{v}");
}

/// A CA, and a certificate it issued for 127.0.0.1 and localhost with its key, in PEM.
fn pki() -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).expect("self-sign the CA");
    let issuer = rcgen::Issuer::from_params(&ca, &ca_key);
    let key = rcgen::KeyPair::generate().expect("server key");
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".into()])
        .expect("server parameters")
        .signed_by(&key, &issuer)
        .expect("sign the server certificate");
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

/// Requests a server saw, by version.
#[derive(Default)]
struct Seen {
    http1: AtomicU64,
    http2: AtomicU64,
    handshakes: AtomicU64,
}

/// An HTTPS server (hyper, HTTP/1.1 and HTTP/2) offering `alpn` in its TLS handshake; answers every request
/// with 200 and a small JSON body. Runs on its own thread until dropped.
struct H2Server {
    addr: SocketAddr,
    seen: Arc<Seen>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl H2Server {
    fn start(cert_pem: &str, key_pem: &str, alpn: &[&[u8]]) -> H2Server {
        let certs = rustls::pki_types::CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("certificate PEM");
        let key =
            rustls::pki_types::PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("key");
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("certificate and key");
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("non-blocking");
        let addr = listener.local_addr().expect("address");
        let seen = Arc::new(Seen::default());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let s = seen.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let accept = async {
                    loop {
                        let Ok((tcp, _)) = listener.accept().await else {
                            continue;
                        };
                        let (acceptor, s) = (acceptor.clone(), s.clone());
                        tokio::spawn(async move {
                            let Ok(tls) = acceptor.accept(tcp).await else {
                                return;
                            };
                            s.handshakes.fetch_add(1, Ordering::Relaxed);
                            let service = hyper::service::service_fn(
                                move |req: hyper::Request<hyper::body::Incoming>| {
                                    let s = s.clone();
                                    async move {
                                        let counter = if req.version() == hyper::Version::HTTP_2 {
                                            &s.http2
                                        } else {
                                            &s.http1
                                        };
                                        counter.fetch_add(1, Ordering::Relaxed);
                                        let mut resp =
                                            hyper::Response::new(http_body_util::Full::new(
                                                bytes::Bytes::from_static(b"{\"id\":1}"),
                                            ));
                                        resp.headers_mut().insert(
                                            "content-type",
                                            hyper::header::HeaderValue::from_static(
                                                "application/json",
                                            ),
                                        );
                                        Ok::<_, std::convert::Infallible>(resp)
                                    }
                                },
                            );
                            let builder = hyper_util::server::conn::auto::Builder::new(
                                hyper_util::rt::TokioExecutor::new(),
                            );
                            let _ = builder
                                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                                .await;
                        });
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stopped => {}
                }
            });
        });
        H2Server {
            addr,
            seen,
            _stop: stop,
        }
    }

    fn count(&self, f: impl Fn(&Seen) -> &AtomicU64) -> u64 {
        f(&self.seen).load(Ordering::Relaxed)
    }
}

fn tls_scenario(dir: &std::path::Path, url: &str, http: &str) -> std::path::PathBuf {
    write(
        dir,
        "tls.toml",
        &format!(
            "[target]\nhost = \"{url}\"\nca_file = \"ca.pem\"\n{http}\n[load]\nusers = 4\nduration = \"20s\"\n\
             [[task]]\nname = \"one\"\npath = \"/one\"\n[[task]]\nname = \"post\"\nmethod = \"POST\"\npath = \"/p\"\n\
             json = {{ a = 1 }}\ncapture = {{ id = \"$.id\", ct = {{ header = \"content-type\" }} }}\n"
        ),
    )
}

#[test]
fn auto_over_tls_speaks_what_alpn_chose_and_1_1_never_offers_h2() {
    let (ca, cert, key) = pki();
    let dir = tempfile::tempdir().expect("temp dir");
    write(dir.path(), "ca.pem", &ca);
    let both = H2Server::start(&cert, &key, &[b"h2", b"http/1.1"]);
    let url = format!("https://{}", both.addr);

    // auto: the server picks h2.
    let r = run_results_n(&tls_scenario(dir.path(), &url, "http = \"auto\""), 60);
    let sent: u64 = ["one", "post"]
        .iter()
        .map(|n| request(&r, n)["requests"].as_u64().expect("requests"))
        .sum();
    assert_eq!(sent, 60);
    assert_eq!(both.count(|s| &s.http2), 60);
    assert_eq!(both.count(|s| &s.http1), 0);
    // 1.1 (the default): no ALPN offered, HTTP/1.1 it is.
    run_results_n(&tls_scenario(dir.path(), &url, ""), 40);
    assert_eq!(both.count(|s| &s.http1), 40);
    assert_eq!(both.count(|s| &s.http2), 60);

    // A server that offers only http/1.1: auto falls back to it; "2" is a connect failure that says why.
    let old = H2Server::start(&cert, &key, &[b"http/1.1"]);
    let url = format!("https://{}", old.addr);
    run_results_n(&tls_scenario(dir.path(), &url, "http = \"auto\""), 30);
    assert_eq!(old.count(|s| &s.http1), 30);
    assert_eq!(old.count(|s| &s.http2), 0);
    let file = tls_scenario(dir.path(), &url, "http = \"2\"");
    let out = loadgen(["run", &file.to_string_lossy(), "--iterations", "3"]).expect_code(1);
    out.stdout_has("[connect]").stdout_has("ALPN");
    assert_eq!(old.count(|s| &s.http2), 0);
}

/// Runs `file` for `n` iterations and returns its results (exit 0).
fn run_results_n(file: &std::path::Path, n: u64) -> serde_json::Value {
    let json = file.with_extension("json");
    loadgen([
        "run",
        &file.to_string_lossy(),
        "-q",
        "--iterations",
        &n.to_string(),
        "--json",
        &json.to_string_lossy(),
    ])
    .expect_code(0);
    results(&json)
}

/// HTTP/2 over TLS through an http proxy (`https_proxy`): a CONNECT tunnel (tinyproxy's log shows only
/// CONNECT lines), ALPN h2 inside it, the requests reaching the server as HTTP/2; and h2c through one refused.
#[test]
fn http2_over_tls_goes_through_a_proxys_connect_tunnel() {
    let Some(proxy) = crate::proxy::Tinyproxy::start("") else {
        return;
    };
    let (ca, cert, key) = pki();
    let dir = tempfile::tempdir().expect("temp dir");
    write(dir.path(), "ca.pem", &ca);
    let server = H2Server::start(&cert, &key, &[b"h2"]);
    let file = tls_scenario(
        dir.path(),
        &format!("https://{}", server.addr),
        "http = \"2\"",
    );
    let json = file.with_extension("json");
    let out = loadgen(["run", &file.to_string_lossy(), "-q", "--iterations", "20"])
        .arg("--json")
        .arg(&json)
        .env("https_proxy", &proxy.url())
        .expect_code(0);
    let r = results(&json);
    assert_eq!(r["totals"]["requests"], 20, "{}", out.dump());
    assert_eq!(server.count(|s| &s.http2), 20);
    assert_eq!(server.count(|s| &s.http1), 0);
    let seen = proxy.requests();
    let host = server.addr.to_string();
    let tunnels = seen
        .iter()
        .filter(|l| l.contains(&format!("CONNECT {host} HTTP/1.1")))
        .count();
    assert!(tunnels >= 1, "{seen:?}");
    assert_eq!(tunnels, seen.len(), "nothing but tunnels: {seen:?}");
    assert_eq!(tunnels as u64, server.count(|s| &s.handshakes), "{seen:?}");

    // h2c cannot go through an http proxy (it forwards HTTP/1.1): said, never a silent bypass.
    let plain = write(
        dir.path(),
        "h2c.toml",
        "[target]\nhost = \"http://127.0.0.1:9\"\nhttp = \"2\"\n[load]\nusers = 1\nduration = \"20s\"\n\
         [[task]]\nname = \"one\"\npath = \"/\"\n",
    );
    let json = plain.with_extension("json");
    let out = loadgen(["run", &plain.to_string_lossy(), "-q", "--iterations", "2"])
        .arg("--json")
        .arg(&json)
        .env("http_proxy", &proxy.url())
        .expect_code(1);
    let r = results(&json);
    let message = r["failures"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("h2c") && message.contains("proxy"),
        "{}",
        out.dump()
    );
    assert_eq!(
        proxy.requests().len(),
        seen.len(),
        "the proxy saw nothing more"
    );
}
