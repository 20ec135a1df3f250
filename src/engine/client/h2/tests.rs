//! HTTP/2 tests: the request and response conversions, and the exchange against an `h2` server on loopback
//! (multiplexing, refused streams, GOAWAY, dropped connections, timeouts).

use super::*;
use crate::engine::client::Client;

fn origin(url: &str) -> Origin {
    Origin::of(&url::Url::parse(url).unwrap()).unwrap()
}

#[test]
fn a_rendered_request_becomes_fields_without_its_connection_headers() {
    let wire = b"POST /api/x?a=1 HTTP/1.1\r\nHost: api.test:8443\r\nConnection: keep-alive\r\n\
        Keep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\nUpgrade: h2c\r\nTE: gzip\r\n\
        Authorization: Bearer t\r\ncookie: s=1\r\nX-Two: a\r\nx-two: b\r\ncontent-length: 2\r\n\r\n{}";
    let w = WireRequest::parse(wire).unwrap();
    let (r, body) = request_of(&w, &origin("https://other.test:8443")).unwrap();
    assert_eq!(r.method(), http::Method::POST);
    assert_eq!(r.uri().scheme_str(), Some("https"));
    // `:authority` is the Host header's value.
    assert_eq!(r.uri().authority().unwrap().as_str(), "api.test:8443");
    assert_eq!(r.uri().path_and_query().unwrap().as_str(), "/api/x?a=1");
    assert_eq!(r.version(), http::Version::HTTP_2);
    let h = r.headers();
    for gone in [
        "host",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "upgrade",
        "te",
    ] {
        assert!(!h.contains_key(gone), "{gone} kept");
    }
    assert_eq!(h["authorization"], "Bearer t");
    assert_eq!(h["cookie"], "s=1");
    assert_eq!(h["content-length"], "2");
    let twos: Vec<_> = h.get_all("x-two").iter().collect();
    assert_eq!(twos, ["a", "b"]);
    assert_eq!(body, b"{}");

    // TE: trailers is the one TE allowed; no Host: the origin's authority; plain http.
    let w = WireRequest::parse(b"GET / HTTP/1.1\r\nte: trailers\r\n\r\n").unwrap();
    let (r, body) = request_of(&w, &origin("http://127.0.0.1:8080/")).unwrap();
    assert_eq!(r.uri().to_string(), "http://127.0.0.1:8080/");
    assert_eq!(r.headers()["te"], "trailers");
    assert!(body.is_empty());
}

#[test]
fn a_repeated_request_reuses_its_fields_and_a_changed_one_does_not() {
    let o = origin("http://127.0.0.1:8080/");
    let one = b"GET /a HTTP/1.1\r\nhost: h:1\r\nauthorization: Bearer 1\r\n\r\n";
    let two =
        b"POST /b HTTP/1.1\r\nhost: h:1\r\nauthorization: Bearer 2\r\ncontent-length: 2\r\n\r\n{}";
    let mut p = Prepared::default();
    let fields = |r: &http::Request<()>| {
        (
            r.method().clone(),
            r.uri().to_string(),
            r.headers()["authorization"].clone(),
        )
    };
    // Built, then built and kept, then reused: the same fields each time.
    for _ in 0..3 {
        let (r, body) = p.prepare(one, &o).unwrap();
        assert_eq!(
            fields(&r),
            (
                http::Method::GET,
                "http://h:1/a".into(),
                "Bearer 1".parse().unwrap()
            )
        );
        assert!(body.is_empty());
    }
    assert!(p.request.is_some());
    // A different request right after is its own, body included, and so is the first one again.
    for _ in 0..3 {
        let (r, body) = p.prepare(two, &o).unwrap();
        assert_eq!(
            fields(&r),
            (
                http::Method::POST,
                "http://h:1/b".into(),
                "Bearer 2".parse().unwrap()
            )
        );
        assert_eq!(body, b"{}");
        let (r, _) = p.prepare(one, &o).unwrap();
        assert_eq!(fields(&r).2, "Bearer 1");
    }
    // A request too large to keep is built every time.
    let big = format!(
        "GET /c HTTP/1.1\r\nx-big: {}\r\n\r\n",
        "v".repeat(PREPARED_MAX)
    );
    for _ in 0..2 {
        let (r, _) = p.prepare(big.as_bytes(), &o).unwrap();
        assert_eq!(r.uri().path(), "/c");
    }
    assert!(p.wire.len() <= PREPARED_MAX);
}

#[test]
fn a_request_that_cannot_be_fields_is_an_error_not_a_panic() {
    let w = WireRequest::parse(b"GET /a b HTTP/1.1\r\n\r\n");
    if let Ok(w) = w {
        assert!(request_of(&w, &origin("http://h/")).is_err());
    }
    let w = WireRequest::parse(b"GET / HTTP/1.1\r\nhost: a b\r\n\r\n").unwrap();
    let e = request_of(&w, &origin("http://h/")).unwrap_err();
    assert!(e.contains("invalid target"), "{e}");
}

#[test]
fn response_fields_read_like_an_http1_head() {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.append("set-cookie", HeaderValue::from_static("a=1"));
    headers.append("set-cookie", HeaderValue::from_static("b=2; Path=/"));
    let head = head_of(http::StatusCode::CREATED, &headers);
    assert_eq!(head.status, 201);
    assert_eq!(head.get("Content-Type"), Some("application/json"));
    let cookies: Vec<_> = head.get_all("set-cookie").collect();
    assert_eq!(cookies, [&b"a=1"[..], &b"b=2; Path=/"[..]]);
    assert_eq!(head.get("location"), None);
    assert!(head.has_token("content-type", "application/json"));
    let empty = head_of(http::StatusCode::NO_CONTENT, &HeaderMap::new());
    assert_eq!((empty.status, empty.headers.len()), (204, 0));
}

#[test]
fn only_refusals_and_goaways_prove_a_request_unprocessed() {
    let refused = H2Failure::Proto(::h2::Error::from(Reason::REFUSED_STREAM));
    // Built from a reason, the error is a library one (not the server's): not proof.
    assert!(!refused.unprocessed());
    // A GOAWAY the client itself sent (a protocol error it found): the connection is gone.
    let (kind, msg) = refused.describe();
    assert_eq!(kind, FailureKind::Connection);
    assert!(msg.contains("REFUSED_STREAM"), "{msg}");
    let (kind, msg) = H2Failure::NotOffered.describe();
    assert_eq!(kind, FailureKind::Connect);
    assert!(msg.contains("ALPN") && msg.contains("\"auto\""), "{msg}");
}

/// What the test server does with the request streams of one connection.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Act {
    /// 200 with a small JSON body.
    Answer,
    /// RST_STREAM REFUSED_STREAM: not processed.
    Refuse,
    /// GOAWAY with last stream id 0 before reading any request: none processed.
    GoAwayFirst,
    /// Reads the request, then drops the connection without answering.
    Drop,
    /// Reads the request and never answers it (the next ones are answered).
    Hold,
}

/// An HTTP/2 (h2c) server on loopback: connection number `i` behaves as `acts[i]` (the last one for the
/// rest). Returns the origin, the connections accepted and the requests the server received, as
/// `METHOD PATH`.
async fn h2_server(acts: Vec<Act>) -> (Origin, Arc<AtomicUsize>, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let o = origin(&format!("http://{}/", listener.local_addr().unwrap()));
    let conns = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (c, s) = (conns.clone(), seen.clone());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let i = c.fetch_add(1, Ordering::SeqCst);
            let act = acts[i.min(acts.len() - 1)];
            let seen = s.clone();
            tokio::spawn(async move {
                let Ok(mut conn) = ::h2::server::handshake(tcp).await else {
                    return;
                };
                if act == Act::GoAwayFirst {
                    conn.abrupt_shutdown(Reason::NO_ERROR);
                    while conn.accept().await.is_some() {}
                    return;
                }
                let mut held = Vec::new();
                let mut first = true;
                while let Some(Ok((req, mut respond))) = conn.accept().await {
                    let line = format!("{} {}", req.method(), req.uri().path());
                    let version = req.version();
                    let mut body = req.into_body();
                    while let Some(Ok(_)) = body.data().await {}
                    match act {
                        Act::Refuse if first => {
                            respond.send_reset(Reason::REFUSED_STREAM);
                            first = false;
                            continue;
                        }
                        Act::Drop => {
                            seen.lock().unwrap().push(line);
                            return;
                        }
                        Act::Hold if first => {
                            first = false;
                            seen.lock().unwrap().push(line);
                            held.push(respond);
                            continue;
                        }
                        _ => {}
                    }
                    assert_eq!(version, http::Version::HTTP_2);
                    seen.lock().unwrap().push(line);
                    let resp = http::Response::builder()
                        .status(200)
                        .header("content-type", "application/json")
                        .header("set-cookie", "sid=s2; Path=/")
                        .body(())
                        .unwrap();
                    if let Ok(mut stream) = respond.send_response(resp, false) {
                        let _ = stream.send_data(Bytes::from_static(b"{\"ok\":true}"), true);
                    }
                }
            });
        }
    });
    (o, conns, seen)
}

fn h2_net() -> Net {
    Net::new().with_protocol(crate::plan::Protocol {
        http: HttpVersion::Http2,
        http2_connections: 1,
    })
}

async fn h2_send(
    c: &mut Client,
    net: &Net,
    o: &Origin,
    method: &http::Method,
) -> Result<Answer, SendError> {
    let (buf, _) = c.send_buffer();
    buf.wire = format!(
        "{method} /p HTTP/1.1\r\nhost: {}\r\nconnection: keep-alive\r\ncontent-length: 2\r\n\r\n{{}}",
        o.authority
    );
    let req = Outgoing {
        method,
        close: false,
        keep_body: true,
        max_body: 1 << 20,
    };
    c.exchange(net, o, &req).await
}

#[tokio::test]
async fn users_multiplex_their_requests_on_one_connection() {
    let (o, conns, seen) = h2_server(vec![Act::Answer]).await;
    let net = Arc::new(h2_net());
    let pool = Arc::new(H2Pool::new(1));
    let mut users = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (net, o, pool) = (net.clone(), o.clone(), pool.clone());
        users.spawn(async move {
            let mut c = Client::default().with_h2(pool);
            for _ in 0..5 {
                let a = h2_send(&mut c, &net, &o, &http::Method::GET).await.unwrap();
                assert_eq!(a.head.status, 200);
                assert_eq!(a.head.get("content-type"), Some("application/json"));
                assert_eq!((a.bytes, a.body.as_slice()), (11, &b"{\"ok\":true}"[..]));
            }
        });
    }
    while let Some(r) = users.join_next().await {
        r.unwrap();
    }
    assert_eq!(seen.lock().unwrap().len(), 40);
    assert_eq!(
        conns.load(Ordering::SeqCst),
        1,
        "one connection for 8 users"
    );
    assert_eq!(pool.open(), 1);
}

#[tokio::test]
async fn a_refused_stream_goes_again_even_for_a_post() {
    let (o, conns, seen) = h2_server(vec![Act::Refuse]).await;
    let net = h2_net();
    let mut c = Client::default();
    let a = h2_send(&mut c, &net, &o, &http::Method::POST)
        .await
        .unwrap();
    assert_eq!(a.head.status, 200);
    // Refused, then processed once: the same connection may be used again (a refusal is the stream's).
    assert_eq!(*seen.lock().unwrap(), ["POST /p"]);
    assert_eq!(conns.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_goaway_below_the_stream_sends_it_again_on_a_new_connection() {
    let (o, conns, seen) = h2_server(vec![Act::GoAwayFirst, Act::Answer]).await;
    let net = h2_net();
    let mut c = Client::default();
    let a = h2_send(&mut c, &net, &o, &http::Method::POST)
        .await
        .unwrap();
    assert_eq!(a.head.status, 200);
    assert_eq!(*seen.lock().unwrap(), ["POST /p"]);
    assert_eq!(conns.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_post_whose_connection_drops_after_it_arrived_is_never_sent_again() {
    let (o, conns, seen) = h2_server(vec![Act::Drop, Act::Answer]).await;
    let net = h2_net();
    let mut c = Client::default();
    let e = h2_send(&mut c, &net, &o, &http::Method::POST)
        .await
        .unwrap_err();
    let (kind, _) = e.describe();
    assert_eq!(kind, FailureKind::Connection);
    assert_eq!(*seen.lock().unwrap(), ["POST /p"]);
    // The dead connection is replaced for the next request; a GET in the same plight is sent again.
    let a = h2_send(&mut c, &net, &o, &http::Method::GET).await.unwrap();
    assert_eq!(a.head.status, 200);
    assert_eq!(conns.load(Ordering::SeqCst), 2);
    let (o, conns, seen) = h2_server(vec![Act::Drop, Act::Answer]).await;
    let a = h2_send(&mut c, &net, &o, &http::Method::GET).await.unwrap();
    assert_eq!(a.head.status, 200);
    assert_eq!(*seen.lock().unwrap(), ["GET /p", "GET /p"]);
    assert_eq!(conns.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_timed_out_stream_does_not_wedge_its_connection() {
    let (o, conns, seen) = h2_server(vec![Act::Hold]).await;
    let net = h2_net();
    let mut c = Client::default();
    let cut = tokio::time::timeout(
        std::time::Duration::from_millis(100),
        h2_send(&mut c, &net, &o, &http::Method::GET),
    )
    .await;
    assert!(cut.is_err(), "the held request timed out");
    c.close();
    for _ in 0..3 {
        let a = h2_send(&mut c, &net, &o, &http::Method::GET).await.unwrap();
        assert_eq!(a.head.status, 200);
    }
    assert_eq!(seen.lock().unwrap().len(), 4);
    assert_eq!(conns.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn http2_only_over_tls_fails_to_connect_to_a_server_without_it() {
    // A TLS server that offers no ALPN protocol.
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let der = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.der().clone()], der)
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let _ = acceptor.accept(tcp).await;
        }
    });
    let tls = crate::plan::Tls {
        insecure: true,
        ..crate::plan::Tls::default()
    };
    let o = origin(&format!("https://localhost:{port}/"));
    let net = Net::with_tls(&tls).with_protocol(crate::plan::Protocol {
        http: HttpVersion::Http2,
        http2_connections: 1,
    });
    let mut c = Client::default();
    let e = h2_send(&mut c, &net, &o, &http::Method::GET)
        .await
        .unwrap_err();
    let (kind, msg) = e.describe();
    assert_eq!(kind, FailureKind::Connect);
    assert!(msg.contains("ALPN"), "{msg}");
}
