//! The HTTP/1.1 client's conformance suite (issue 17, item 9). Raw responses, each with the outcome it must have,
//! go through the real client ([`Client::exchange`]) from a loopback server that writes exactly those bytes; the
//! same bytes go through hyper's HTTP/1.1 client, and the two must agree unless the case says why loadgen
//! deliberately does not (`differs_from_hyper`, checked: a case that says so must really differ). Then a
//! connection closed at every byte boundary of a response, and properties over arbitrary and generated responses.
//!
//! docs/http-client.md describes the behaviour case by case; keep the two together.

use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

mod props;

/// Longer than any case takes on loopback; a client still waiting then is hung.
const LIMIT: Duration = Duration::from_secs(5);

static NET: LazyLock<Net> = LazyLock::new(Net::new);

/// What the server does once it has written the response.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Then {
    /// Keeps the connection open until the client closes it (a client waiting for more bytes hangs).
    Open,
    /// Closes it.
    Close,
}

/// What a client made of a response.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// A complete answer: status, body, and whether the connection was kept for another request.
    Answer {
        status: u16,
        body: Vec<u8>,
        reused: bool,
    },
    /// No answer: the failure kind (hyper's errors have none: `Other`) and message.
    Fail { kind: FailureKind, message: String },
    /// Nothing within [`LIMIT`].
    Hang,
}

impl Outcome {
    /// Whether `self` (loadgen) and `hyper` agree: the same status and body, or both refused; and for an
    /// answer, the same decision about reusing the connection.
    fn agrees_with(&self, hyper: &Outcome) -> bool {
        match (self, hyper) {
            (Outcome::Answer { .. }, Outcome::Answer { .. }) => self == hyper,
            (Outcome::Fail { .. }, Outcome::Fail { .. }) => true,
            _ => false,
        }
    }
}

/// The expected outcome of a case.
#[derive(Debug)]
enum Want {
    Answer {
        status: u16,
        body: Vec<u8>,
        reused: bool,
    },
    /// A failure of this kind whose message contains the text.
    Fail(FailureKind, &'static str),
}

struct Case {
    name: &'static str,
    raw: Vec<u8>,
    head_request: bool,
    then: Then,
    want: Want,
    /// Where loadgen deliberately differs from hyper's client: why.
    differs_from_hyper: Option<&'static str>,
}

fn case(name: &'static str, raw: impl Into<Vec<u8>>, want: Want) -> Case {
    Case {
        name,
        raw: raw.into(),
        head_request: false,
        then: Then::Open,
        want,
        differs_from_hyper: None,
    }
}

impl Case {
    fn head(mut self) -> Case {
        self.head_request = true;
        self
    }
    fn close(mut self) -> Case {
        self.then = Then::Close;
        self
    }
    fn differs(mut self, why: &'static str) -> Case {
        self.differs_from_hyper = Some(why);
        self
    }
}

/// An answer on a connection kept for the next request.
fn kept(status: u16, body: &[u8]) -> Want {
    Want::Answer {
        status,
        body: body.to_vec(),
        reused: true,
    }
}

/// An answer whose connection is not used again.
fn last(status: u16, body: &[u8]) -> Want {
    Want::Answer {
        status,
        body: body.to_vec(),
        reused: false,
    }
}

fn invalid(says: &'static str) -> Want {
    Want::Fail(FailureKind::Other, says)
}

fn closed() -> Want {
    Want::Fail(FailureKind::Connection, "connection closed before")
}

/// A server for one connection: reads one request head, writes `raw` in pieces (split at `cuts`, a pause for
/// the reader between them), then does what `then` says.
async fn serve(
    raw: Vec<u8>,
    cuts: Vec<usize>,
    then: Then,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let Ok((mut s, _)) = listener.accept().await else {
            return;
        };
        let _ = s.set_nodelay(true);
        let mut req = Vec::new();
        let mut buf = [0u8; 4096];
        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => req.extend_from_slice(&buf[..n]),
            }
        }
        let mut at = 0;
        for cut in cuts.into_iter().chain([raw.len()]) {
            let cut = cut.clamp(at, raw.len());
            if s.write_all(&raw[at..cut]).await.is_err() {
                return;
            }
            at = cut;
            tokio::task::yield_now().await;
        }
        match then {
            Then::Close => {
                let _ = s.shutdown().await;
            }
            // Until the client closes (a reused connection is dropped with its client).
            Then::Open => while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {},
        }
    });
    (addr, server)
}

/// `raw` through loadgen's client.
async fn loadgen(raw: &[u8], head_request: bool, cuts: Vec<usize>, then: Then) -> Outcome {
    let (addr, server) = serve(raw.to_vec(), cuts, then).await;
    let origin = Origin::of(&url::Url::parse(&format!("http://{addr}/")).unwrap()).unwrap();
    let method = if head_request {
        http::Method::HEAD
    } else {
        http::Method::GET
    };
    let mut c = Client::default();
    c.send.wire = format!("{method} / HTTP/1.1\r\nhost: {addr}\r\n\r\n");
    let req = Outgoing {
        method: &method,
        close: false,
        keep_body: true,
        max_body: 1 << 20,
    };
    let out = match tokio::time::timeout(LIMIT, c.exchange(&NET, &origin, &req)).await {
        Err(_) => Outcome::Hang,
        Ok(Ok(a)) => {
            assert_eq!(a.bytes, a.body.len() as u64, "bytes counted = body kept");
            Outcome::Answer {
                status: a.head.status,
                body: a.body,
                reused: !c.conns.is_empty(),
            }
        }
        Ok(Err(e)) => {
            let (kind, message) = e.describe();
            Outcome::Fail { kind, message }
        }
    };
    drop(c);
    server.abort();
    out
}

/// `raw` through hyper's HTTP/1.1 client (default settings). "Reused" is hyper's connection still ready for
/// another request once the body was read.
async fn hyper(raw: &[u8], head_request: bool, then: Then) -> Outcome {
    let (addr, server) = serve(raw.to_vec(), vec![], then).await;
    let exchange = async {
        let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
        let driver = tokio::spawn(conn);
        let method = if head_request {
            http::Method::HEAD
        } else {
            http::Method::GET
        };
        let req = http::Request::builder()
            .method(method)
            .uri("/")
            .header(http::header::HOST, addr.to_string())
            .body(http_body_util::Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        let res = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        let body = res
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes()
            .to_vec();
        let reused = matches!(
            tokio::time::timeout(Duration::from_secs(1), sender.ready()).await,
            Ok(Ok(()))
        );
        driver.abort();
        Ok::<_, String>(Outcome::Answer {
            status,
            body,
            reused,
        })
    };
    let out = match tokio::time::timeout(LIMIT, exchange).await {
        Err(_) => Outcome::Hang,
        Ok(Ok(o)) => o,
        Ok(Err(message)) => Outcome::Fail {
            kind: FailureKind::Other,
            message,
        },
    };
    server.abort();
    out
}

const OK_CHUNKED: &str = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

fn with_body(head: &str, body: &str) -> Vec<u8> {
    format!("{head}{body}").into_bytes()
}

fn chunked(body: &str) -> Vec<u8> {
    with_body(OK_CHUNKED, body)
}

/// The table: every case, with what it must do.
fn cases() -> Vec<Case> {
    let many_headers = |n: usize| {
        let mut r = String::from("HTTP/1.1 200 OK\r\n");
        for i in 0..n - 1 {
            r.push_str(&format!("X-H{i}: v\r\n"));
        }
        r.push_str("Content-Length: 2\r\n\r\nok");
        r
    };
    let long_reason = format!(
        "HTTP/1.1 200 {}\r\nContent-Length: 2\r\n\r\nok",
        "R".repeat(60 << 10)
    );
    let huge_head = format!(
        "HTTP/1.1 200 OK\r\nX-Big: {}\r\nContent-Length: 2\r\n\r\nok",
        "a".repeat(65 << 10)
    );
    vec![
        // Chunked framing.
        case(
            "chunked with extensions and trailers",
            chunked("4;name=value;q=\"a;b\"\r\nwiki\r\n5 ; x\r\npedia\r\n0;last\r\nExpires: never\r\nX-Trailer: 1\r\n\r\n"),
            kept(200, b"wikipedia"),
        ),
        case(
            "chunk sizes in upper and lower case with leading zeros",
            chunked("000A\r\n0123456789\r\n0a\r\nabcdefghij\r\n00000\r\n\r\n"),
            kept(200, b"0123456789abcdefghij"),
        ),
        case("an empty chunked body", chunked("0\r\n\r\n"), kept(200, b"")),
        case(
            "Transfer-Encoding in any case, chunked last of several codings",
            with_body("HTTP/1.1 200 OK\r\nTRANSFER-ENCODING: identity\r\ntransfer-encoding: Chunked\r\n\r\n", "3\r\nabc\r\n0\r\n\r\n"),
            kept(200, b"abc"),
        ),
        case(
            "a chunk of u64::MAX bytes cut short",
            chunked("ffffffffffffffff\r\nabc"),
            closed(),
        )
        .close(),
        // Interim answers.
        case(
            "100 Continue before the answer",
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            kept(200, b"ok"),
        ),
        case(
            "103 Early Hints with headers",
            "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            kept(200, b"ok"),
        ),
        case(
            "several interim answers in a row",
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 199 Misc\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            kept(200, b"ok"),
        ),
        // No body.
        case("204 without Content-Length", "HTTP/1.1 204 No Content\r\n\r\n", kept(204, b"")),
        case(
            "204 with a Content-Length",
            "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
            kept(204, b""),
        ),
        case(
            "204 with chunked",
            "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n",
            kept(204, b""),
        ),
        case("304 without Content-Length", "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", kept(304, b"")),
        case(
            "304 with the Content-Length of the full body",
            "HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\n\r\n",
            kept(304, b""),
        ),
        case(
            "HEAD with a Content-Length",
            "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n",
            kept(200, b""),
        )
        .head(),
        case("HEAD with chunked", OK_CHUNKED, kept(200, b"")).head(),
        // Content-Length.
        case(
            "duplicate identical Content-Length",
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
            kept(200, b"abc"),
        ),
        case(
            "Content-Length with leading zeros",
            "HTTP/1.1 200 OK\r\nContent-Length: 003\r\n\r\nabc",
            kept(200, b"abc"),
        ),
        case(
            "a body shorter than its Content-Length",
            "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
            closed(),
        )
        .close(),
        case(
            "no length: the body runs to the close",
            "HTTP/1.1 200 OK\r\n\r\nuntil the end",
            last(200, b"until the end"),
        )
        .close(),
        // The head.
        case(
            "bare LF line endings in the head",
            "HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
            kept(200, b"ok"),
        ),
        case(
            "a long reason phrase (60 KiB)",
            long_reason,
            kept(200, b"ok"),
        ),
        case("an empty reason phrase", "HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\nok", kept(200, b"ok")),
        case("no reason phrase", "HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", kept(200, b"ok")),
        case("a status of 999", "HTTP/1.1 999 Odd\r\nContent-Length: 2\r\n\r\nok", kept(999, b"ok")),
        case(
            "HTTP/1.0 without keep-alive",
            "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
            last(200, b"ok"),
        ),
        case(
            "HTTP/1.0 with keep-alive",
            "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
            kept(200, b"ok"),
        ),
        case(
            "HTTP/1.0 with keep-alive but no length",
            "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nto the end",
            last(200, b"to the end"),
        )
        .close(),
        case(
            "Connection: close",
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
            last(200, b"ok"),
        ),
        case(
            "Connection: keep-alive and close in two fields",
            "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
            last(200, b"ok"),
        ),
        case(
            "a garbage status line",
            "NOT HTTP AT ALL\r\n\r\n",
            invalid("invalid HTTP response: not an HTTP/1.x status line"),
        ),
        case(
            "an HTTP/2 status line",
            "HTTP/2 200\r\n\r\n",
            invalid("invalid HTTP response: not an HTTP/1.x status line"),
        ),
        case(
            "a status code that is not three digits",
            "HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok",
            invalid("invalid HTTP response: invalid status line"),
        ),
        case(
            "a control character in a header value (a secret-looking value is not quoted)",
            "HTTP/1.1 200 OK\r\nX-A: SECRET\u{0}b\r\nContent-Length: 2\r\n\r\nok",
            invalid("invalid HTTP response: invalid header value"),
        ),
        case(
            "a space between a header name and its colon",
            "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok",
            invalid("invalid header name"),
        ),
        case(
            "a head past 64 KiB",
            huge_head,
            invalid("response head over 64 KiB"),
        )
        .differs("loadgen bounds a response head at 64 KiB; hyper's default read buffer allows about 400 KiB"),
        case("96 header fields (the most)", many_headers(96), kept(200, b"ok")),
        case(
            "a Content-Length list of one value",
            "HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc",
            kept(200, b"abc"),
        ),
        case(
            "conflicting Content-Length",
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            invalid("conflicting Content-Length"),
        ),
        case(
            "conflicting Content-Length in one list",
            "HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\nabcd",
            invalid("conflicting Content-Length"),
        ),
        case(
            "a negative Content-Length",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nabc",
            invalid("Content-Length is not a decimal number"),
        ),
        case(
            "a Content-Length with a plus sign",
            "HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc",
            invalid("Content-Length is not a decimal number"),
        ),
        case(
            "a hex-looking Content-Length",
            "HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\nabc",
            invalid("Content-Length is not a decimal number"),
        ),
        case(
            "a Content-Length overflowing u64",
            "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\nabc",
            invalid("Content-Length is not a decimal number"),
        ),
        case(
            "an empty Content-Length",
            "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\nabc",
            invalid("Content-Length is not a decimal number"),
        ),
        case(
            "a Content-Length that is not text (a secret-looking value is not quoted)",
            b"HTTP/1.1 200 OK\r\nContent-Length: SECRET\xff\r\n\r\nabc".to_vec(),
            invalid("Content-Length is not a decimal number"),
        ),
        case(
            "Transfer-Encoding with chunked not last: read to close",
            with_body("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", "3\r\nabc\r\n0\r\n\r\n"),
            last(200, b"3\r\nabc\r\n0\r\n\r\n"),
        )
        .close(),
        case(
            "Transfer-Encoding without chunked overrides Content-Length: read to close",
            with_body("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\n", "abcdef"),
            last(200, b"abcdef"),
        )
        .close(),
        case(
            "Content-Length and chunked: chunked wins, the connection is not reused",
            with_body("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n", "3\r\nabc\r\n0\r\n\r\n"),
            last(200, b"abc"),
        )
        .differs("RFC 9112 §6.1: both is a request-smuggling sign, so the connection is closed after it; hyper reuses it"),
        case(
            "HTTP/1.0 with Transfer-Encoding",
            with_body("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "3\r\nabc\r\n0\r\n\r\n"),
            invalid("Transfer-Encoding in an HTTP/1.0 response"),
        ),
        case(
            "a chunk size with a plus sign",
            chunked("+3\r\nabc\r\n0\r\n\r\n"),
            invalid("invalid chunk size"),
        ),
        case(
            "a chunk size in 0x form",
            chunked("0x3\r\nabc\r\n0\r\n\r\n"),
            invalid("invalid chunk size"),
        ),
        case(
            "a chunk size that is not hex (a secret-looking value is not quoted)",
            chunked("SECRET\r\nabc\r\n0\r\n\r\n"),
            invalid("invalid chunk size"),
        ),
        case(
            "a chunk size overflowing u64",
            chunked("10000000000000000\r\nabc\r\n0\r\n\r\n"),
            invalid("invalid chunk size"),
        ),
        case(
            "chunk data not followed by CRLF",
            chunked("3\r\nabcXY0\r\n\r\n"),
            invalid("chunk data not followed by CRLF"),
        ),
        case(
            "chunked framing with bare LF",
            chunked("3\nabc\n0\n\n"),
            invalid("chunk size line not ended by CRLF"),
        ),
        case(
            "a chunk extension with a bare LF in it",
            chunked("3;a\nb\r\nabc\r\n0\r\n\r\n"),
            invalid("chunk size line not ended by CRLF"),
        ),
        case(
            "a chunk size line over 4 KiB",
            chunked(&format!("3;{}\r\nabc\r\n0\r\n\r\n", "e".repeat(5000))),
            invalid("chunk size line over 4 KiB"),
        )
        .differs("hyper reads chunk extensions of up to 16 KiB per body; loadgen bounds each size line at 4 KiB"),
        case(
            "a trailer section over 64 KiB",
            chunked(&format!("2\r\nok\r\n0\r\nX-Big: {}\r\n\r\n", "a".repeat(70 << 10))),
            invalid("trailer section over 64 KiB"),
        ),
        case(
            "101 Switching Protocols when no upgrade was asked: an answer, no body read, the connection dropped",
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\u{1}\u{5}hello",
            last(101, b""),
        ),
        case(
            "bytes after the end of the body: the connection is not reused",
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA",
            last(200, b"ok"),
        ),
        case(
            "obs-fold: the fold replaced with spaces (RFC 9112 §5.2)",
            "HTTP/1.1 200 OK\r\nX-Folded: a\r\n  b\r\nContent-Length: 2\r\n\r\nok",
            kept(200, b"ok"),
        )
        .differs("RFC 9112 §5.2: a user agent must replace obs-fold with spaces; hyper's client refuses it unless told to allow it"),
        case(
            "a status below 100",
            "HTTP/1.1 099 Low\r\nContent-Length: 2\r\n\r\nok",
            invalid("status code below 100"),
        ),
        case(
            "97 header fields",
            many_headers(97),
            invalid("more than 96 header fields"),
        )
        .differs("loadgen parses at most 96 header fields (a fixed array on the stack), hyper 100"),
        case(
            "HEAD with an invalid Content-Length: no body, so the length is not read",
            "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            kept(200, b""),
        )
        .head(),
        case(
            "an empty line before the status line",
            "\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            kept(200, b"ok"),
        ),
        case(
            "two spaces after the version",
            "HTTP/1.1  200 OK\r\nContent-Length: 2\r\n\r\nok",
            invalid("invalid HTTP response: invalid status line"),
        ),
        case(
            "a field without a value, and trailing spaces after a length",
            "HTTP/1.1 200 OK\r\nX-Empty:\r\nContent-Length: 2  \r\n\r\nok",
            kept(200, b"ok"),
        ),
        case("nothing: closed at once", "", closed()).close(),
        case("a status line, then closed", "HTTP/1.1 200 OK\r\n", closed()).close(),
    ]
}

#[tokio::test]
async fn every_case_of_the_table_has_its_outcome_and_agrees_with_hyper_or_says_why_not() {
    let mut wrong = Vec::new();
    for c in cases() {
        let got = loadgen(&c.raw, c.head_request, vec![], c.then).await;
        let ok = match (&c.want, &got) {
            (
                Want::Answer {
                    status,
                    body,
                    reused,
                },
                Outcome::Answer {
                    status: s,
                    body: b,
                    reused: r,
                },
            ) => (status, body, reused) == (s, b, r),
            (Want::Fail(kind, says), Outcome::Fail { kind: k, message }) => {
                kind == k && message.contains(says)
            }
            _ => false,
        };
        if !ok {
            wrong.push(format!(
                "{}: wanted {:?}, got {}",
                c.name,
                c.want,
                short(&got)
            ));
        }
        if let Outcome::Fail { message, .. } = &got
            && message.to_ascii_lowercase().contains("secret")
        {
            wrong.push(format!(
                "{}: the message quotes the response: {message}",
                c.name
            ));
        }
        let theirs = hyper(&c.raw, c.head_request, c.then).await;
        match (got.agrees_with(&theirs), c.differs_from_hyper) {
            (true, None) | (false, Some(_)) => {}
            (false, None) => wrong.push(format!(
                "{}: loadgen and hyper differ: loadgen {}, hyper {}",
                c.name,
                short(&got),
                short(&theirs)
            )),
            (true, Some(why)) => wrong.push(format!(
                "{}: said to differ from hyper ({why}) but both give {}",
                c.name,
                short(&got)
            )),
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

/// An outcome in one line, bodies cut short.
fn short(o: &Outcome) -> String {
    match o {
        Outcome::Answer {
            status,
            body,
            reused,
        } => {
            let text = String::from_utf8_lossy(&body[..body.len().min(40)]);
            format!(
                "answer {status} {text:?} ({} bytes) reused={reused}",
                body.len()
            )
        }
        Outcome::Fail { kind, message } => format!("{} failure: {message}", kind.as_str()),
        Outcome::Hang => "no outcome within the limit (hung)".into(),
    }
}

/// The answer loadgen's client gives to `raw` (a GET).
async fn answer(raw: &[u8]) -> Result<Answer, SendError> {
    let (addr, server) = serve(raw.to_vec(), vec![], Then::Open).await;
    let origin = Origin::of(&url::Url::parse(&format!("http://{addr}/")).unwrap()).unwrap();
    let mut c = Client::default();
    c.send.wire = format!("GET / HTTP/1.1\r\nhost: {addr}\r\n\r\n");
    let req = Outgoing {
        method: &http::Method::GET,
        close: false,
        keep_body: true,
        max_body: 1 << 20,
    };
    let a = tokio::time::timeout(LIMIT, c.exchange(&NET, &origin, &req))
        .await
        .expect("an answer within the limit");
    server.abort();
    a
}

#[tokio::test]
async fn an_obs_folded_field_reads_with_spaces_for_the_fold() {
    let a = answer(
        b"HTTP/1.1 200 OK\r\nX-Folded: a\r\n  b\r\n \tc\r\nX-Next: n\r\nContent-Length: 0\r\n\r\n",
    )
    .await
    .unwrap();
    assert_eq!(a.head.get("x-folded"), Some("a    b    c"));
    assert_eq!(a.head.get("x-next"), Some("n"));
}

/// Responses cut at every byte: a framed one cut short is `Closed` (a `connection` failure), never a hang, a
/// panic or a shorter body taken as complete; one that runs to the close is complete wherever its body is cut.
/// hyper agrees on every cut. And the same responses written in two pieces split at every byte read whole.
#[tokio::test]
async fn a_connection_closed_at_every_byte_boundary_fails_or_completes_as_it_should() {
    const BODY: &[u8] = b"hello world";
    let length = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-A: b\r\n\r\nhello world";
    let framed = [
        length.to_string(),
        format!("{OK_CHUNKED}5;e=1\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
        format!("{OK_CHUNKED}5\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\nY: 2\r\n\r\n"),
        format!("HTTP/1.1 100 Continue\r\n\r\n{length}"),
    ];
    let to_close = "HTTP/1.1 200 OK\r\nX-A: b\r\n\r\nhello world";
    let to_close_head = to_close.len() - BODY.len();
    let mut wrong = Vec::new();
    let all = framed
        .iter()
        .map(|r| (r.as_bytes(), false))
        .chain([(to_close.as_bytes(), true)]);
    for (raw, runs_to_close) in all {
        for cut in 0..=raw.len() {
            let prefix = &raw[..cut];
            let want = if runs_to_close && cut >= to_close_head {
                Outcome::Answer {
                    status: 200,
                    body: prefix[to_close_head..].to_vec(),
                    reused: false,
                }
            } else if cut == raw.len() {
                Outcome::Answer {
                    status: 200,
                    body: BODY.to_vec(),
                    reused: true,
                }
            } else {
                Outcome::Fail {
                    kind: FailureKind::Connection,
                    message: "connection closed before the response completed".into(),
                }
            };
            let got = loadgen(prefix, false, vec![], Then::Close).await;
            if got != want {
                wrong.push(format!(
                    "{:?} cut after {cut} bytes: {}",
                    String::from_utf8_lossy(raw),
                    short(&got)
                ));
            }
            // hyper's verdict on reuse races with the close here: compare the rest.
            let theirs = hyper(prefix, false, Then::Close).await;
            let same = match (&got, &theirs) {
                (
                    Outcome::Answer { status, body, .. },
                    Outcome::Answer {
                        status: s, body: b, ..
                    },
                ) => (status, body) == (s, b),
                (Outcome::Fail { .. }, Outcome::Fail { .. }) => true,
                _ => false,
            };
            if !same {
                wrong.push(format!(
                    "{:?} cut after {cut} bytes: loadgen {}, hyper {}",
                    String::from_utf8_lossy(raw),
                    short(&got),
                    short(&theirs)
                ));
            }
            // Whole, in two writes split there.
            if !runs_to_close {
                let got = loadgen(raw, false, vec![cut], Then::Open).await;
                if got
                    != (Outcome::Answer {
                        status: 200,
                        body: BODY.to_vec(),
                        reused: true,
                    })
                {
                    wrong.push(format!(
                        "{:?} written in two at {cut}: {}",
                        String::from_utf8_lossy(raw),
                        short(&got)
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

/// The 64 KiB bound on a head holds however the head arrives: here all of it in the first read, into a buffer
/// large enough to hold it (as a connection's buffer can be after a long answer).
#[tokio::test]
async fn a_head_over_64_kib_is_refused_even_when_it_arrives_in_one_read() {
    let raw = format!(
        "HTTP/1.1 200 OK\r\nX-Big: {}\r\nContent-Length: 2\r\n\r\nok",
        "a".repeat(70 << 10)
    );
    let (addr, server) = serve(raw.clone().into_bytes(), vec![], Then::Open).await;
    let tcp = TcpStream::connect(addr).await.unwrap();
    tcp.try_write(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    // Wait until the whole answer is in the socket, so that one read takes it.
    let mut peek = vec![0u8; raw.len()];
    while tcp.peek(&mut peek).await.unwrap() < raw.len() {
        tokio::task::yield_now().await;
    }
    let mut conn = super::conn::Conn {
        stream: super::conn::Stream::Plain(tcp),
        buf: bytes::BytesMut::with_capacity(1 << 20),
        used: 1,
        forward: None,
    };
    let req = Outgoing {
        method: &http::Method::GET,
        close: false,
        keep_body: true,
        max_body: 1 << 20,
    };
    // The request was written above: round_trip writes nothing more.
    let got = super::h1::round_trip(&mut conn, b"", &req).await;
    server.abort();
    match got {
        Err((e, _)) => assert_eq!(
            e.describe().1,
            "invalid HTTP response: response head over 64 KiB"
        ),
        Ok((a, _)) => panic!(
            "a head of {} bytes was taken as an answer",
            a.head.raw.len()
        ),
    }
}
