//! https targets: a TLS HTTP/1.1 server in the test, with a CA and a server certificate generated at test time
//! (rcgen), driven by the real binary trusting it through `ca_file`, not trusting it, and with `--insecure`.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rustls::pki_types::pem::PemObject;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::util::{Demo, loadgen, results, write};

/// A CA and a server certificate it issued for 127.0.0.1 and localhost, in PEM; the CA can issue more.
pub struct Pki {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

/// A certificate and its key, in PEM.
struct Issued {
    cert_pem: String,
    key_pem: String,
}

pub fn pki() -> Pki {
    pki_named("loadgen test CA")
}

/// A CA named `name` (a CA of the same name would be taken for the issuer, and its signature found bad).
fn pki_named(name: &str) -> Pki {
    let ca_key = rcgen::KeyPair::generate().expect("generate the CA key");
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name.push(rcgen::DnType::CommonName, name);
    ca.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).expect("self-sign the CA");
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let mut pki = Pki {
        ca_pem: ca_cert.pem(),
        cert_pem: String::new(),
        key_pem: String::new(),
        issuer,
    };
    let server = pki.issue(&["127.0.0.1", "localhost"], |_| {});
    pki.cert_pem = server.cert_pem;
    pki.key_pem = server.key_pem;
    pki
}

impl Pki {
    /// A certificate for `names` issued by this CA, `edit` changing its parameters first.
    fn issue(&self, names: &[&str], edit: impl FnOnce(&mut rcgen::CertificateParams)) -> Issued {
        let key = rcgen::KeyPair::generate().expect("generate a key");
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(names).expect("certificate parameters");
        edit(&mut params);
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("sign the certificate");
        Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// A client certificate (for TLS client authentication) issued by this CA.
    fn client(&self) -> Issued {
        self.issue(&[], |p| {
            p.distinguished_name
                .push(rcgen::DnType::CommonName, "loadgen test client");
            p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        })
    }
}

/// What the server saw.
#[derive(Default)]
pub struct Counts {
    pub connections: AtomicU64,
    pub handshakes_failed: AtomicU64,
    pub requests: AtomicU64,
    /// Connections on which the client showed a certificate.
    pub client_certs: AtomicU64,
}

/// A keep-alive HTTP/1.1 server over TLS on a loopback port the OS picks, answering every request with
/// `200 OK` and a small body; it runs on its own thread and stops with the test.
pub struct TlsServer {
    addr: SocketAddr,
    counts: Arc<Counts>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl TlsServer {
    pub fn start(pki: &Pki) -> TlsServer {
        Self::serving(&pki.cert_pem, &pki.key_pem, None)
    }

    /// Serving `cert_pem` (signed with `key_pem`); with `client_ca`, requiring a client certificate it issued.
    fn serving(cert_pem: &str, key_pem: &str, client_ca: Option<&str>) -> TlsServer {
        let certs = rustls::pki_types::CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("server certificate PEM");
        let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .expect("server key PEM");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("TLS versions");
        let builder = match client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for c in rustls::pki_types::CertificateDer::pem_slice_iter(ca.as_bytes()) {
                    roots.add(c.expect("CA PEM")).expect("CA certificate");
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .expect("client verifier");
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder
            .with_single_cert(certs, key)
            .expect("server certificate and key");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let std_listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        std_listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = std_listener.local_addr().expect("listening address");
        let counts = Arc::new(Counts::default());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let c = counts.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("server runtime");
            rt.block_on(async move {
                let listener = TcpListener::from_std(std_listener).expect("tokio listener");
                let accept = async {
                    loop {
                        let Ok((tcp, _)) = listener.accept().await else {
                            continue;
                        };
                        c.connections.fetch_add(1, Ordering::Relaxed);
                        let (acceptor, c) = (acceptor.clone(), c.clone());
                        tokio::spawn(async move {
                            match acceptor.accept(tcp).await {
                                Ok(tls) => {
                                    if tls.get_ref().1.peer_certificates().is_some() {
                                        c.client_certs.fetch_add(1, Ordering::Relaxed);
                                    }
                                    let _ = serve(tls, &c).await;
                                }
                                Err(_) => {
                                    c.handshakes_failed.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        });
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stopped => {}
                }
            });
        });
        TlsServer {
            addr,
            counts,
            _stop: stop,
        }
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub fn count(&self, f: impl Fn(&Counts) -> &AtomicU64) -> u64 {
        f(&self.counts).load(Ordering::Relaxed)
    }
}

/// Answers each request head (the tests send no bodies) until the client closes the connection.
async fn serve<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut s: S,
    c: &Counts,
) -> io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.drain(..end + 4);
            c.requests.fetch_add(1, Ordering::Relaxed);
            s.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n",
            )
            .await?;
            s.flush().await?;
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A scenario with two users requesting `/` every 20 ms for a second, gated on every request succeeding;
/// `target_extra` goes into `[target]`.
fn scenario(dir: &Path, host: &str, target_extra: &str) -> PathBuf {
    write(
        dir,
        "tls.toml",
        &format!(
            r#"
name = "tls"
[target]
host = "{host}"
timeout = "5s"
{target_extra}
[load]
users = 2
spawn_rate = 100
duration = "1s"
[user]
wait = "20ms"
[[task]]
name = "home"
path = "/"
[gates]
success_rate = 100
"#
        ),
    )
}

fn run(file: &Path, extra: &[&str], code: i32) -> (serde_json::Value, crate::util::Out) {
    let json = file.with_extension("json");
    let mut cmd = loadgen([
        "run",
        &file.to_string_lossy(),
        "--json",
        &json.to_string_lossy(),
    ]);
    for a in extra {
        cmd = cmd.arg(a);
    }
    let out = cmd.expect_code(code);
    assert!(!out.stderr.contains("panicked"), "{}", out.dump());
    (results(&json), out)
}

#[test]
fn a_ca_file_makes_the_server_trusted_and_connections_are_kept_alive() {
    let pki = pki();
    let server = TlsServer::start(&pki);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ca.pem", &pki.ca_pem);
    let file = scenario(dir.path(), &server.url(), "ca_file = \"ca.pem\"");
    let (r, out) = run(&file, &[], 0);
    assert!(!out.stderr.contains("warning"), "{}", out.dump());
    let requests = r["totals"]["requests"].as_u64().unwrap();
    assert!(requests >= 10, "{requests} requests\n{}", out.dump());
    assert_eq!(r["totals"]["failures"], 0, "{}", out.dump());
    assert_eq!(
        server.count(|c| &c.requests),
        requests,
        "the server answered every request"
    );
    // Keep-alive over TLS: one connection (one handshake) per user, reused for every request.
    let conns = server.count(|c| &c.connections);
    assert!((1..=2).contains(&conns), "{conns} connections for 2 users");
    assert!(
        requests > 5 * conns,
        "{requests} requests on {conns} connections"
    );
    assert_eq!(server.count(|c| &c.handshakes_failed), 0);
    // `check` shows what is trusted.
    loadgen(["check", &file.to_string_lossy()])
        .expect_code(0)
        .stdout_has("tls        built-in roots and 1 certificate(s) from");
}

#[test]
fn the_ca_file_on_the_command_line_is_used_too() {
    let pki = pki();
    let server = TlsServer::start(&pki);
    let dir = tempfile::tempdir().unwrap();
    let ca = write(dir.path(), "ca.pem", &pki.ca_pem);
    let file = scenario(dir.path(), &server.url(), "");
    let (r, out) = run(&file, &["--ca-file", &ca.to_string_lossy(), "-q"], 0);
    assert_eq!(r["totals"]["failures"], 0, "{}", out.dump());
}

#[test]
fn an_untrusted_certificate_fails_every_request_and_says_what_to_do() {
    let pki = pki();
    let server = TlsServer::start(&pki);
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), &server.url(), "");
    let (r, out) = run(&file, &[], 1);
    assert_eq!(r["totals"]["requests"], r["totals"]["failures"]);
    assert!(r["totals"]["requests"].as_u64().unwrap() > 0);
    let failures = r["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "one reason: {failures:?}");
    let f = &failures[0];
    assert_eq!(f["kind"], "connect", "{f}");
    let message = f["message"].as_str().unwrap();
    assert!(
        message.starts_with("TLS: the server's certificate is not trusted (unknown issuer"),
        "{message}"
    );
    assert!(
        message.contains("--ca-file") && message.contains("--insecure"),
        "{message}"
    );
    // What the user sees in the summary.
    out.stdout_has("the server's certificate is not trusted");
    assert!(server.count(|c| &c.handshakes_failed) > 0);
    assert_eq!(server.count(|c| &c.requests), 0);
}

#[test]
fn insecure_accepts_the_certificate_and_warns() {
    let pki = pki();
    let server = TlsServer::start(&pki);
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), &server.url(), "");
    let (r, out) = run(&file, &["--insecure"], 0);
    assert_eq!(r["totals"]["failures"], 0, "{}", out.dump());
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning: TLS certificates are not verified"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", out.dump());
    // The scenario's key does the same.
    let file = scenario(dir.path(), &server.url(), "insecure = true");
    let (r, out) = run(&file, &[], 0);
    assert_eq!(r["totals"]["failures"], 0, "{}", out.dump());
    out.stderr_has("warning: TLS certificates are not verified");
    loadgen(["check", &file.to_string_lossy()])
        .expect_code(0)
        .stdout_has("tls        insecure");
}

#[test]
fn a_bad_ca_file_is_an_error_before_any_traffic() {
    let pki = pki();
    let server = TlsServer::start(&pki);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "empty.pem", "");
    write(dir.path(), "key.pem", &pki.key_pem);
    let cut = &pki.ca_pem[..pki.ca_pem.len() / 2];
    write(dir.path(), "cut.pem", cut);
    for (name, message) in [
        ("missing.pem", "cannot read the CA file"),
        ("empty.pem", "holds no PEM certificate"),
        ("key.pem", "holds no PEM certificate"),
        ("cut.pem", "is not a valid PEM file"),
    ] {
        let file = scenario(dir.path(), &server.url(), &format!("ca_file = \"{name}\""));
        let out = loadgen(["run", &file.to_string_lossy()]).expect_code(2);
        // ca_file is on line 6, its value at column 11.
        let first = out.stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with(&format!("error: {}:6:11: `ca_file`: ", file.display())),
            "{}",
            out.dump()
        );
        assert!(first.contains(message), "{name}: {}", out.dump());
        let path = dir.path().join(name);
        let out = loadgen([
            "run",
            &scenario(dir.path(), &server.url(), "").to_string_lossy(),
        ])
        .arg("--ca-file")
        .arg(&path)
        .expect_code(2);
        out.stderr_has(&format!("error: --ca-file {}: ", path.display()))
            .stderr_has(message);
    }
    assert_eq!(server.count(|c| &c.connections), 0, "no traffic was sent");
}

#[test]
fn a_plain_http_server_behind_an_https_url_says_so() {
    let demo = Demo::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), &demo.url.replace("http://", "https://"), "");
    let (r, out) = run(&file, &["-q"], 1);
    let message = r["failures"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("TLS handshake failed: ") && message.contains("not plain http"),
        "{message}\n{}",
        out.dump()
    );
}

/// The failure message of a run where every request failed for one reason, checked to be of kind `connect`.
fn only_failure(r: &serde_json::Value, out: &crate::util::Out) -> String {
    assert!(
        r["totals"]["requests"].as_u64().unwrap_or(0) > 0,
        "{}",
        out.dump()
    );
    assert_eq!(
        r["totals"]["requests"],
        r["totals"]["failures"],
        "{}",
        out.dump()
    );
    let failures = r["failures"].as_array().expect("failures");
    assert_eq!(failures.len(), 1, "one reason: {failures:?}");
    assert_eq!(failures[0]["kind"], "connect", "{}", failures[0]);
    assert!(!out.stderr.contains("panicked"), "{}", out.dump());
    failures[0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn an_expired_certificate_fails_every_request_and_says_so() {
    let pki = pki();
    let expired = pki.issue(&["127.0.0.1"], |p| {
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    });
    let server = TlsServer::serving(&expired.cert_pem, &expired.key_pem, None);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ca.pem", &pki.ca_pem);
    let file = scenario(dir.path(), &server.url(), "ca_file = \"ca.pem\"");
    let (r, out) = run(&file, &["-q"], 1);
    let message = only_failure(&r, &out);
    assert!(
        message.starts_with("TLS: the server's certificate has expired"),
        "{message}"
    );
    assert!(message.contains("--insecure"), "{message}");
    assert_eq!(server.count(|c| &c.requests), 0);
    // --insecure accepts it.
    let (r, out) = run(&file, &["-q", "--insecure"], 0);
    assert_eq!(r["totals"]["failures"], 0, "{}", out.dump());
}

#[test]
fn a_certificate_for_another_name_fails_every_request_and_says_so() {
    let pki = pki();
    let other = pki.issue(&["other.example"], |_| {});
    let server = TlsServer::serving(&other.cert_pem, &other.key_pem, None);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ca.pem", &pki.ca_pem);
    let file = scenario(dir.path(), &server.url(), "ca_file = \"ca.pem\"");
    let (r, out) = run(&file, &["-q"], 1);
    let message = only_failure(&r, &out);
    assert!(
        message.starts_with("TLS: the server's certificate is not valid for this host name"),
        "{message}"
    );
    assert_eq!(server.count(|c| &c.requests), 0);
    let (r, out) = run(&file, &["-q", "-k"], 0);
    assert_eq!(r["totals"]["failures"], 0, "{}", out.dump());
}

#[test]
fn a_server_that_requires_a_client_certificate_is_shown_one() {
    let pki = pki();
    let server = TlsServer::serving(&pki.cert_pem, &pki.key_pem, Some(&pki.ca_pem));
    let client = pki.client();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ca.pem", &pki.ca_pem);
    std::fs::create_dir(dir.path().join("id")).unwrap();
    let cert = write(&dir.path().join("id"), "client.pem", &client.cert_pem);
    let key = write(&dir.path().join("id"), "client.key", &client.key_pem);
    let file = scenario(
        dir.path(),
        &server.url(),
        "ca_file = \"ca.pem\"\nclient_cert = \"id/client.pem\"\nclient_key = \"id/client.key\"",
    );
    let (r, out) = run(&file, &[], 0);
    assert_eq!(r["totals"]["failures"], 0, "{}", out.dump());
    let requests = r["totals"]["requests"].as_u64().unwrap();
    assert!(requests > 0, "{}", out.dump());
    assert_eq!(server.count(|c| &c.requests), requests);
    // Every connection showed the certificate.
    let conns = server.count(|c| &c.connections);
    assert!(conns > 0);
    assert_eq!(server.count(|c| &c.client_certs), conns);
    assert_eq!(server.count(|c| &c.handshakes_failed), 0);
    loadgen(["check", &file.to_string_lossy()])
        .expect_code(0)
        .stdout_has("tls        client certificate from ")
        .stdout_has("client.pem");
    // The same from the command line.
    let file = scenario(dir.path(), &server.url(), "ca_file = \"ca.pem\"");
    let (r, out) = run(
        &file,
        &[
            "-q",
            "--client-cert",
            &cert.to_string_lossy(),
            "--client-key",
            &key.to_string_lossy(),
        ],
        0,
    );
    assert_eq!(r["totals"]["failures"], 0, "{}", out.dump());
    assert_eq!(
        server.count(|c| &c.client_certs),
        server.count(|c| &c.connections)
    );
}

#[test]
fn a_server_that_requires_a_client_certificate_refuses_none_or_an_unknown_one_and_the_failure_says_so()
 {
    let pki = pki();
    let server = TlsServer::serving(&pki.cert_pem, &pki.key_pem, Some(&pki.ca_pem));
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ca.pem", &pki.ca_pem);
    let file = scenario(dir.path(), &server.url(), "ca_file = \"ca.pem\"");
    let (r, out) = run(&file, &["-q"], 1);
    let message = only_failure(&r, &out);
    assert!(
        message.contains("the server requires a client certificate")
            && message.contains("client_cert"),
        "{message}"
    );
    assert_eq!(server.count(|c| &c.requests), 0);
    assert_eq!(server.count(|c| &c.client_certs), 0);
    // A certificate from a CA the server does not trust.
    let stranger = pki_client_of_another_ca();
    write(dir.path(), "c.pem", &stranger.cert_pem);
    write(dir.path(), "c.key", &stranger.key_pem);
    let file = scenario(
        dir.path(),
        &server.url(),
        "ca_file = \"ca.pem\"\nclient_cert = \"c.pem\"\nclient_key = \"c.key\"",
    );
    let (r, out) = run(&file, &["-q"], 1);
    let message = only_failure(&r, &out);
    assert!(
        message.contains("the server rejected the client certificate"),
        "{message}"
    );
    assert_eq!(server.count(|c| &c.requests), 0);
}

fn pki_client_of_another_ca() -> Issued {
    pki_named("another CA").client()
}

#[test]
fn bad_client_certificate_settings_are_located_errors_before_any_traffic() {
    let pki = pki();
    let server = TlsServer::serving(&pki.cert_pem, &pki.key_pem, Some(&pki.ca_pem));
    let client = pki.client();
    let other = pki.client();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "c.pem", &client.cert_pem);
    write(dir.path(), "c.key", &client.key_pem);
    write(dir.path(), "other.key", &other.key_pem);
    write(dir.path(), "text.txt", "password: hunter2\n");
    write(
        dir.path(),
        "cut.pem",
        &client.cert_pem[..client.cert_pem.len() / 2],
    );
    write(
        dir.path(),
        "enc.key",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\naGVsbG8=\n-----END ENCRYPTED PRIVATE KEY-----\n",
    );
    // The key's base64 body: it must never be printed.
    let secret: String = client
        .key_pem
        .lines()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    assert!(secret.len() > 20);
    for (target, at, message) in [
        (
            "client_cert = \"missing.pem\"\nclient_key = \"c.key\"",
            "6:15: `client_cert`",
            "cannot read the certificate file",
        ),
        (
            "client_cert = \"text.txt\"\nclient_key = \"c.key\"",
            "6:15: `client_cert`",
            "holds no PEM certificate",
        ),
        (
            "client_cert = \"c.key\"\nclient_key = \"c.key\"",
            "6:15: `client_cert`",
            "holds no PEM certificate",
        ),
        (
            "client_cert = \"cut.pem\"\nclient_key = \"c.key\"",
            "6:15: `client_cert`",
            "is not a valid PEM file",
        ),
        (
            "client_cert = \"c.pem\"\nclient_key = \"c.pem\"",
            "7:14: `client_key`",
            "holds no PEM private key",
        ),
        (
            "client_cert = \"c.pem\"\nclient_key = \"enc.key\"",
            "7:14: `client_key`",
            "encrypted private key",
        ),
        (
            "client_cert = \"c.pem\"\nclient_key = \"other.key\"",
            "7:14: `client_key`",
            "does not match the certificate",
        ),
        (
            "client_cert = \"c.pem\"",
            "6:15: `client_cert`",
            "needs its private key",
        ),
        (
            "client_key = \"c.key\"",
            "6:14: `client_key`",
            "needs its certificate",
        ),
    ] {
        let file = scenario(dir.path(), &server.url(), target);
        let out = loadgen(["run", &file.to_string_lossy()]).expect_code(2);
        let first = out.stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with(&format!("error: {}:{at}: ", file.display())),
            "{target}: {}",
            out.dump()
        );
        assert!(first.contains(message), "{target}: {}", out.dump());
        assert!(
            !out.stderr.contains(&secret) && !out.stdout.contains(&secret),
            "{}",
            out.dump()
        );
        assert!(!out.stderr.contains("hunter2"), "{}", out.dump());
    }
    // The command line's flags, located by the flag.
    let file = scenario(dir.path(), &server.url(), "");
    let key = dir.path().join("other.key");
    let out = loadgen(["run", &file.to_string_lossy()])
        .arg("--client-cert")
        .arg(dir.path().join("c.pem"))
        .arg("--client-key")
        .arg(&key)
        .expect_code(2);
    out.stderr_has(&format!("error: --client-key {}: ", key.display()))
        .stderr_has("does not match the certificate");
    let out = loadgen(["run", &file.to_string_lossy()])
        .arg("--client-cert")
        .arg(dir.path().join("c.pem"))
        .expect_code(2);
    out.stderr_has("error: --client-cert ")
        .stderr_has("needs its private key");
    assert_eq!(server.count(|c| &c.connections), 0, "no traffic was sent");
}
