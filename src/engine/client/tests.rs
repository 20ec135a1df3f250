//! Client tests: origins, heads, cookies, body framing, connection reuse and pooling, broken answers and
//! resource errors, mostly against scripted servers on loopback.

use super::conn::Stream;
use super::h1::MAX_HEADERS;
use super::*;
use bytes::Bytes;
use std::sync::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[test]
fn origins_name_host_and_default_ports() {
    let o = Origin::of(&url::Url::parse("http://127.0.0.1:8000/x").unwrap()).unwrap();
    assert_eq!(
        (o.key.as_str(), o.port, o.https),
        ("http://127.0.0.1:8000", 8000, false)
    );
    assert_eq!(o.authority, "127.0.0.1:8000");
    let o = Origin::of(&url::Url::parse("https://example.test/").unwrap()).unwrap();
    assert_eq!((o.port, o.https), (443, true));
    assert_eq!(o.authority, "example.test");
    assert!(Origin::of(&url::Url::parse("ftp://x/").unwrap()).is_err());
    // An IPv6 literal: bare for the lookup and TLS, in brackets in Host.
    let o = Origin::of(&url::Url::parse("http://[::1]:8080/").unwrap()).unwrap();
    assert_eq!((o.host.as_str(), o.port), ("::1", 8080));
    assert_eq!(o.authority, "[::1]:8080");
    assert_eq!(o.key, "http://[::1]:8080");
}

fn head(raw: &str) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut r = httparse::Response::new(&mut headers);
    assert!(r.parse(raw.as_bytes()).unwrap().is_complete());
    let base = raw.as_ptr() as usize;
    let headers = r
        .headers
        .iter()
        .map(|h| {
            let ns = h.name.as_ptr() as usize - base;
            let vs = h.value.as_ptr() as usize - base;
            (ns, ns + h.name.len(), vs, vs + h.value.len())
        })
        .collect();
    Head {
        status: r.code.unwrap(),
        raw: Bytes::copy_from_slice(raw.as_bytes()),
        headers,
    }
}

#[test]
fn head_lookup_ignores_case_and_reads_tokens() {
    let h = head("HTTP/1.1 200 OK\r\nX-Session: s1\r\nConnection: Keep-Alive, Close\r\n\r\n");
    assert_eq!(h.status, 200);
    assert_eq!(h.get("x-session"), Some("s1"));
    assert!(h.has_token("connection", "close"));
    assert!(!h.has_token("transfer-encoding", "chunked"));
}

fn origin(url: &str) -> Origin {
    Origin::of(&url::Url::parse(url).unwrap()).unwrap()
}

#[test]
fn cookie_jar_sets_replaces_and_expires() {
    let o = origin("http://api.test:8080");
    let mut c = Client::default();
    assert!(c.cookies.is_empty());
    c.cookies.store(
        &head("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        &o,
        || "/",
    );
    assert!(
        c.cookies.is_empty(),
        "an answer without Set-Cookie makes no store"
    );
    c.cookies.store(&head("HTTP/1.1 200 OK\r\nSet-Cookie: sid=abc; Path=/; HttpOnly\r\nset-cookie: theme=dark\r\n\r\n"), &o, || "/login");
    assert_eq!(
        c.cookies.matching(&o, "/x"),
        [("sid", "abc"), ("theme", "dark")]
    );
    c.cookies.store(
        &head("HTTP/1.1 200 OK\r\nSet-Cookie: sid=def\r\nSet-Cookie: theme=; Max-Age=0\r\n\r\n"),
        &o,
        || "/",
    );
    assert_eq!(c.cookies.matching(&o, "/"), [("sid", "def")]);
}

#[test]
fn cookie_jar_follows_rfc_6265() {
    let (a, www, b) = (
        origin("http://a.test"),
        origin("http://www.a.test"),
        origin("http://b.test"),
    );
    let store = |jar: &mut Jar, o: &Origin, target: &str, set: &str| {
        jar.store(
            &head(&format!("HTTP/1.1 200 OK\r\nSet-Cookie: {set}\r\n\r\n")),
            o,
            || target,
        )
    };
    let names = |jar: &Jar, o: &Origin, target: &str| -> Vec<String> {
        jar.matching(o, target)
            .iter()
            .map(|(n, _)| n.to_string())
            .collect()
    };

    // Host-only (no Domain): that host alone, not its subdomains, not another host.
    let mut jar = Jar::default();
    store(&mut jar, &a, "/", "host=1");
    assert_eq!(names(&jar, &a, "/"), ["host"]);
    assert!(names(&jar, &www, "/").is_empty());
    assert!(names(&jar, &b, "/").is_empty());
    // Domain: the host and its subdomains; a Domain the host is not in is refused.
    store(&mut jar, &www, "/", "dom=1; Domain=a.test");
    store(&mut jar, &www, "/", "evil=1; Domain=b.test");
    assert_eq!(names(&jar, &a, "/"), ["host", "dom"]);
    assert_eq!(names(&jar, &www, "/"), ["dom"]);
    assert!(names(&jar, &b, "/").is_empty());

    // Path: the path and below, not a sibling that only shares a prefix; the default path is the request's
    // directory.
    let mut jar = Jar::default();
    store(&mut jar, &a, "/", "p=1; Path=/api");
    store(&mut jar, &a, "/shop/cart", "d=1");
    assert_eq!(names(&jar, &a, "/api"), ["p"]);
    assert_eq!(names(&jar, &a, "/api/v1?x=1"), ["p"]);
    assert!(names(&jar, &a, "/apis").is_empty());
    assert_eq!(names(&jar, &a, "/shop/other"), ["d"]);
    assert!(names(&jar, &a, "/").is_empty());

    // Secure: stored from https, sent over https only.
    let (https, http) = (origin("https://a.test"), origin("http://a.test"));
    let mut jar = Jar::default();
    store(&mut jar, &https, "/", "s=1; Secure");
    store(&mut jar, &https, "/", "plain=1");
    assert_eq!(names(&jar, &https, "/"), ["s", "plain"]);
    assert_eq!(names(&jar, &http, "/"), ["plain"]);

    // Deletion: Max-Age=0, or Expires in the past; a Max-Age in the future keeps it.
    let mut jar = Jar::default();
    store(&mut jar, &a, "/", "m=1");
    store(&mut jar, &a, "/", "e=1");
    store(&mut jar, &a, "/", "k=1; Max-Age=3600");
    assert_eq!(names(&jar, &a, "/"), ["m", "e", "k"]);
    store(&mut jar, &a, "/", "m=; Max-Age=0");
    store(
        &mut jar,
        &a,
        "/",
        "e=; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
    );
    assert_eq!(names(&jar, &a, "/"), ["k"]);
    // An expired cookie set fresh is not stored at all.
    store(
        &mut jar,
        &a,
        "/",
        "old=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
    );
    assert_eq!(names(&jar, &a, "/"), ["k"]);
}

/// A server that answers each connection's requests with the given raw responses, in order, then closes
/// the connection; one list per accepted connection.
async fn scripted(conns: Vec<Vec<&'static str>>) -> (Origin, tokio::task::JoinHandle<Vec<String>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let mut seen = Vec::new();
        for answers in conns {
            let (mut s, _) = listener.accept().await.unwrap();
            for answer in answers {
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).await.unwrap();
                seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                s.write_all(answer.as_bytes()).await.unwrap();
            }
        }
        seen
    });
    (Origin::of(&url::Url::parse(&url).unwrap()).unwrap(), server)
}

/// Puts a request in the client's send buffer as loadgen renders it: the request line, `host`, the jar's
/// cookies, then `headers` (each line ending in CRLF).
fn put(c: &mut Client, o: &Origin, method: &http::Method, target: &str, headers: &str) {
    let (buf, jar) = c.send_buffer();
    let jar = jar.matching(o, target);
    let w = &mut buf.wire;
    w.clear();
    w.push_str(&format!(
        "{method} {target} HTTP/1.1\r\nhost: {}\r\n",
        o.authority
    ));
    if !jar.is_empty() {
        let cookies: Vec<String> = jar.iter().map(|(n, v)| format!("{n}={v}")).collect();
        w.push_str(&format!("cookie: {}\r\n", cookies.join("; ")));
    }
    w.push_str(headers);
    w.push_str("\r\n");
}

async fn send(
    c: &mut Client,
    net: &Net,
    o: &Origin,
    method: &http::Method,
    keep: bool,
) -> Result<Answer, SendError> {
    put(c, o, method, "/p", "");
    let req = Outgoing {
        method,
        close: false,
        keep_body: keep,
        max_body: 1 << 20,
    };
    c.exchange(net, o, &req).await
}

/// A request that sends `Connection: close` is not followed by another on the same connection, even when the
/// server does not close it.
#[tokio::test]
async fn a_request_asking_to_close_gets_a_connection_of_its_own() {
    let ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let (o, server) = scripted(vec![vec![ok], vec![ok]]).await;
    let (net, mut c) = (Net::new(), Client::default());
    for _ in 0..2 {
        put(
            &mut c,
            &o,
            &http::Method::GET,
            "/p",
            "connection: close\r\n",
        );
        let req = Outgoing {
            method: &http::Method::GET,
            close: true,
            keep_body: false,
            max_body: 1 << 20,
        };
        c.exchange(&net, &o, &req).await.unwrap();
        assert!(c.conns.is_empty(), "the connection was kept");
    }
    let seen = server.await.unwrap();
    assert!(
        seen.iter().all(|r| r.contains("connection: close\r\n")),
        "{seen:?}"
    );
}

#[tokio::test]
async fn reads_length_chunked_and_to_close_bodies_and_reuses_the_connection() {
    let (o, server) = scripted(vec![
        vec![
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=1\r\nwiki\r\n5\r\npedia\r\n0\r\nTrailer: t\r\n\r\n",
            "HTTP/1.1 204 No Content\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
            "HTTP/1.0 200 OK\r\n\r\nuntil close",
        ],
    ])
    .await;
    let (net, mut c) = (Net::new(), Client::default());
    let a = send(&mut c, &net, &o, &http::Method::GET, true)
        .await
        .unwrap();
    assert_eq!(
        (a.head.status, a.bytes, a.body.as_slice()),
        (200, 5, &b"hello"[..])
    );
    let a = send(&mut c, &net, &o, &http::Method::GET, true)
        .await
        .unwrap();
    assert_eq!((a.bytes, a.body.as_slice()), (9, &b"wikipedia"[..]));
    let a = send(&mut c, &net, &o, &http::Method::GET, true)
        .await
        .unwrap();
    assert_eq!((a.head.status, a.bytes), (204, 0));
    // HEAD: a Content-Length but no body follows.
    let a = send(&mut c, &net, &o, &http::Method::HEAD, true)
        .await
        .unwrap();
    assert_eq!(a.bytes, 0);
    let a = send(&mut c, &net, &o, &http::Method::GET, false)
        .await
        .unwrap();
    assert_eq!((a.bytes, a.body.len()), (11, 0), "counted, not kept");
    assert!(
        c.conns.is_empty(),
        "an answer without length ends the connection"
    );
    let seen = server.await.unwrap();
    assert_eq!(seen.len(), 5, "all five requests on one connection");
    assert!(
        seen[0].starts_with("GET /p HTTP/1.1\r\nhost: 127.0.0.1:"),
        "{}",
        seen[0]
    );
}

#[tokio::test]
async fn a_stale_keep_alive_connection_is_replaced_once() {
    // The first connection answers once and then closes: the second request retries on a new connection.
    let (o, server) = scripted(vec![
        vec!["HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"],
        vec!["HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb"],
    ])
    .await;
    let (net, mut c) = (Net::new(), Client::default());
    assert_eq!(
        send(&mut c, &net, &o, &http::Method::GET, true)
            .await
            .unwrap()
            .body,
        b"a"
    );
    assert_eq!(
        send(&mut c, &net, &o, &http::Method::GET, true)
            .await
            .unwrap()
            .body,
        b"b"
    );
    assert_eq!(server.await.unwrap().len(), 2);
}

#[tokio::test]
async fn connection_close_and_broken_answers() {
    let (o, _server) = scripted(vec![
        vec!["HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"],
        vec!["HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"],
        vec!["NOT HTTP\r\n\r\n"],
    ])
    .await;
    let (net, mut c) = (Net::new(), Client::default());
    assert_eq!(
        send(&mut c, &net, &o, &http::Method::GET, true)
            .await
            .unwrap()
            .body,
        b"ok"
    );
    assert!(c.conns.is_empty(), "Connection: close is honoured");
    let e = send(&mut c, &net, &o, &http::Method::GET, true)
        .await
        .unwrap_err();
    assert!(matches!(e, SendError::Closed), "a body cut short: {e:?}");
    assert_eq!(e.describe().0, FailureKind::Connection);
    let e = send(&mut c, &net, &o, &http::Method::GET, true)
        .await
        .unwrap_err();
    assert!(matches!(e, SendError::Invalid(_)), "{e:?}");
}

#[test]
fn running_out_of_descriptors_or_local_ports_is_a_resources_failure() {
    let cases = [
        (
            io::Error::from_raw_os_error(24),
            "too many open files (loadgen's",
        ),
        (
            io::Error::from_raw_os_error(23),
            "too many open files in the system",
        ),
        (
            io::Error::from(io::ErrorKind::AddrNotAvailable),
            "no free local port",
        ),
    ];
    for (e, msg) in cases {
        let (kind, text) = describe_io(&e, FailureKind::Connect);
        assert_eq!(kind, FailureKind::Resources, "{e}");
        assert!(text.starts_with(msg), "{e}: {text}");
        // The same whether it happens while connecting or mid-exchange.
        assert_eq!(SendError::Connect(e).describe().0, FailureKind::Resources);
    }
    // EADDRNOTAVAIL as the kernel reports it (99 on Linux: "Cannot assign requested address").
    #[cfg(target_os = "linux")]
    assert_eq!(
        describe_io(&io::Error::from_raw_os_error(99), FailureKind::Connect),
        (
            FailureKind::Resources,
            "no free local port (the ephemeral ports are used up, e.g. by connections in TIME_WAIT)"
                .to_string()
        )
    );
    // A refused connection is still the target's doing.
    let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
    assert_eq!(
        describe_io(&refused, FailureKind::Connect),
        (FailureKind::Connect, "connection refused".to_string())
    );
    assert_eq!(FailureKind::Resources.as_str(), "resources");
}

/// A server that answers the requests of one connection with `answers`, raw bytes of any size.
async fn serve_bytes(answers: Vec<Vec<u8>>) -> (Origin, tokio::task::JoinHandle<usize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut served = 0;
        for answer in answers {
            let mut buf = vec![0u8; 4096];
            if s.read(&mut buf).await.unwrap() == 0 {
                break;
            }
            s.write_all(&answer).await.unwrap();
            served += 1;
        }
        served
    });
    (Origin::of(&url::Url::parse(&url).unwrap()).unwrap(), server)
}

#[tokio::test]
async fn large_bodies_stream_through_and_are_kept_only_up_to_max_body() {
    const BIG: usize = 3 << 20;
    const LIMIT: u64 = 1 << 20;
    let with_length = |n: usize| {
        let mut a = format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n").into_bytes();
        a.resize(a.len() + n, b'x');
        a
    };
    let mut chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let chunk = vec![b'y'; 64 << 10];
    for _ in 0..BIG / chunk.len() {
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(&chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let mut to_close = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
    to_close.resize(to_close.len() + BIG, b'z');
    let (o, server) = serve_bytes(vec![
        with_length(BIG),
        chunked,
        with_length(BIG),
        with_length(LIMIT as usize),
        to_close,
    ])
    .await;
    let (net, mut c) = (Net::new(), Client::default());
    put(&mut c, &o, &http::Method::GET, "/big", "");
    let req = |keep_body| Outgoing {
        method: &http::Method::GET,
        close: false,
        keep_body,
        max_body: LIMIT,
    };
    // A declared length over the limit: read to the end and counted, not kept.
    let a = c.exchange(&net, &o, &req(true)).await.unwrap();
    assert_eq!(
        (a.bytes, a.body.capacity(), a.oversize),
        (BIG as u64, 0, true)
    );
    // Chunked: found over the limit as it streams; what was kept so far is let go.
    let a = c.exchange(&net, &o, &req(true)).await.unwrap();
    assert_eq!(
        (a.bytes, a.body.capacity(), a.oversize),
        (BIG as u64, 0, true)
    );
    // Not asked for: counted, never kept, not oversize; and the read buffer stayed small throughout.
    let a = c.exchange(&net, &o, &req(false)).await.unwrap();
    assert_eq!((a.bytes, a.body.len(), a.oversize), (BIG as u64, 0, false));
    let buffered = c.conns.iter().map(|(_, k)| k.buf.capacity()).max().unwrap();
    assert!(buffered <= 64 << 10, "read buffer of {buffered} bytes");
    // Exactly the limit is kept.
    let a = c.exchange(&net, &o, &req(true)).await.unwrap();
    assert_eq!((a.body.len(), a.oversize), (LIMIT as usize, false));
    // No length (to the end of the connection): found over the limit as it streams.
    let a = c.exchange(&net, &o, &req(true)).await.unwrap();
    assert_eq!(
        (a.bytes, a.body.capacity(), a.oversize),
        (BIG as u64, 0, true)
    );
    assert_eq!(server.await.unwrap(), 5, "all on one kept-alive connection");
}

#[tokio::test]
async fn users_sharing_a_pool_share_one_connection_but_not_cookies() {
    let (o, server) = scripted(vec![vec![
        "HTTP/1.1 200 OK\r\nSet-Cookie: who=a\r\nContent-Length: 1\r\n\r\na",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb",
    ]])
    .await;
    let net = Net::new();
    let pool = std::sync::Arc::new(Pool::default());
    let (mut a, mut b) = (Client::shared(pool.clone()), Client::shared(pool.clone()));
    send(&mut a, &net, &o, &http::Method::GET, true)
        .await
        .unwrap();
    assert_eq!(pool.len(), 1, "the connection went back to the pool");
    send(&mut b, &net, &o, &http::Method::GET, true)
        .await
        .unwrap();
    let seen = server.await.unwrap();
    assert_eq!(
        seen.len(),
        2,
        "both users' requests came on the one connection"
    );
    assert!(
        !seen[1].contains("cookie"),
        "user b does not send user a's cookie: {}",
        seen[1]
    );
}

/// A server that answers a GET on its first connection, then reads the next request on it and closes without
/// answering; any later connection is answered 200. It counts the POSTs it received, over all connections.
async fn drops_the_second_request() -> (Origin, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        let mut first = true;
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let mut buf = vec![0u8; 4096];
            let mut requests = 0;
            loop {
                let n = match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                record
                    .lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
                requests += 1;
                if first && requests == 2 {
                    // Read, then closed without an answer: was it processed? The client cannot know.
                    break;
                }
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .await
                    .unwrap();
            }
            first = false;
        }
    });
    (Origin::of(&url::Url::parse(&url).unwrap()).unwrap(), seen)
}

#[tokio::test]
async fn a_post_whose_connection_closes_after_it_was_written_is_never_sent_again() {
    let (o, seen) = drops_the_second_request().await;
    let (net, mut c) = (Net::new(), Client::default());
    send(&mut c, &net, &o, &http::Method::GET, false)
        .await
        .unwrap();
    let e = send(&mut c, &net, &o, &http::Method::POST, false)
        .await
        .unwrap_err();
    assert!(matches!(e, SendError::Closed), "{e:?}");
    let posts = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.starts_with("POST "))
        .count();
    assert_eq!(posts, 1, "the server received the POST {posts} times");

    // The same break under a GET, which is idempotent, is retried on a new connection.
    let (o, seen) = drops_the_second_request().await;
    let mut c = Client::default();
    send(&mut c, &net, &o, &http::Method::GET, false)
        .await
        .unwrap();
    let a = send(&mut c, &net, &o, &http::Method::GET, false)
        .await
        .unwrap();
    assert_eq!(a.head.status, 200);
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_post_on_a_connection_already_closed_goes_on_a_new_one_once() {
    // The first connection answers once and closes; the POST after it must go, once, on a second connection.
    let (o, server) = scripted(vec![
        vec!["HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"],
        vec!["HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nb"],
    ])
    .await;
    let (net, mut c) = (Net::new(), Client::default());
    send(&mut c, &net, &o, &http::Method::GET, false)
        .await
        .unwrap();
    // Wait until the close has arrived (what a connection idle for a while looks like), without a fixed sleep.
    match &c.conns[0].1.stream {
        Stream::Plain(s) => s.readable().await.unwrap(),
        Stream::Tls(_) => unreachable!("plain http"),
    }
    let a = send(&mut c, &net, &o, &http::Method::POST, false)
        .await
        .unwrap();
    assert_eq!(a.head.status, 201);
    let seen = server.await.unwrap();
    assert_eq!(seen.len(), 2);
    assert!(seen[1].starts_with("POST /p "), "{}", seen[1]);
}

/// The next hop's request, as [`Client::rewrite`] makes it from `wire` (the step's own cookie value being the
/// first `own_cookie` bytes of its `cookie` header).
fn hop(c: &mut Client, wire: &str, own_cookie: usize, to: &str, status: u16) -> String {
    c.send.wire = wire.to_string();
    c.send.own_cookie = own_cookie;
    let from = origin("http://a.test");
    let next = url::Url::parse("http://a.test/start")
        .unwrap()
        .join(to)
        .unwrap();
    let to = Origin::of(&next).unwrap();
    let mut target = next.path().to_string();
    if let Some(q) = next.query() {
        target = format!("{target}?{q}");
    }
    let keep = matches!(status, 307 | 308);
    let method = if keep {
        http::Method::POST
    } else {
        http::Method::GET
    };
    c.rewrite(&from, &to, &target, &method, keep, from.key != to.key)
        .unwrap();
    c.send.wire.clone()
}

#[test]
fn a_redirect_hop_is_the_sent_request_edited() {
    let sent = "POST /start HTTP/1.1\r\nhost: a.test\r\ncookie: mine=1; sid=jar\r\n\
                authorization: Bearer t\r\ncontent-type: application/json\r\nx-trace: 7\r\n\
                content-length: 7\r\n\r\n{\"a\":1}";
    let mut c = Client::default();
    c.cookies.store(
        &head("HTTP/1.1 200 OK\r\nSet-Cookie: sid=jar; Path=/\r\n\r\n"),
        &origin("http://a.test"),
        || "/",
    );
    // 303, same origin, relative: a GET without body or Content-Type; the credentials stay.
    assert_eq!(
        hop(&mut c, sent, 6, "next?x=1", 303),
        "GET /next?x=1 HTTP/1.1\r\nhost: a.test\r\ncookie: mine=1; sid=jar\r\n\
         authorization: Bearer t\r\nx-trace: 7\r\n\r\n"
    );
    assert_eq!(c.send.own_cookie, 6);
    // 307: the method and body as sent.
    assert_eq!(
        hop(&mut c, sent, 6, "/other", 307),
        "POST /other HTTP/1.1\r\nhost: a.test\r\ncookie: mine=1; sid=jar\r\n\
         authorization: Bearer t\r\ncontent-type: application/json\r\nx-trace: 7\r\n\
         content-length: 7\r\n\r\n{\"a\":1}"
    );
    // Another origin (and scheme): no Authorization, no cookie of a.test nor the step's own, its own Host.
    assert_eq!(
        hop(&mut c, sent, 6, "https://b.test:8443/in", 302),
        "GET /in HTTP/1.1\r\nhost: b.test:8443\r\nx-trace: 7\r\n\r\n"
    );
    assert_eq!(c.send.own_cookie, 0);
    // Back to a.test from b.test would carry the jar's cookie for a.test again (chosen per hop's URL).
    let from_b = "GET /in HTTP/1.1\r\nhost: b.test:8443\r\nx-trace: 7\r\n\r\n";
    c.send.wire = from_b.to_string();
    c.send.own_cookie = 0;
    let (b, a) = (origin("https://b.test:8443"), origin("http://a.test"));
    c.rewrite(&b, &a, "/back", &http::Method::GET, false, true)
        .unwrap();
    assert_eq!(
        c.send.wire,
        "GET /back HTTP/1.1\r\nhost: a.test\r\ncookie: sid=jar\r\nx-trace: 7\r\n\r\n"
    );
}

/// A connection's read buffer never grows past its first size over many small answers (each head split off its
/// front is taken back in place), and grows for an answer larger than it: 10,000 users each hold one.
#[tokio::test]
async fn the_read_buffer_keeps_its_size_over_small_answers_and_grows_for_a_large_one() {
    const SMALL: &str = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Request-Id: 0123456789abcdef0123456789abcdef\r\nContent-Length: 11\r\n\r\n{\"ok\":true}";
    let large: &'static str = Box::leak(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: 6000\r\n\r\n{}",
            "x".repeat(6000)
        )
        .into_boxed_str(),
    );
    let mut answers = vec![SMALL; 60];
    answers.push(large);
    let (o, server) = scripted(vec![answers]).await;
    let (net, mut c) = (Net::new(), Client::default());
    let capacity = |c: &Client| c.conns.first().map(|(_, conn)| conn.buf.capacity());
    for _ in 0..60 {
        let a = send(&mut c, &net, &o, &http::Method::GET, true)
            .await
            .unwrap();
        assert_eq!(a.body, b"{\"ok\":true}");
        drop(a);
        let cap = capacity(&c).unwrap();
        assert!(cap <= super::conn::READ_BUF, "capacity {cap}");
    }
    let a = send(&mut c, &net, &o, &http::Method::GET, false)
        .await
        .unwrap();
    assert_eq!(a.bytes, 6000);
    assert!(capacity(&c).unwrap() > super::conn::READ_BUF);
    assert_eq!(server.await.unwrap().len(), 61);
}
