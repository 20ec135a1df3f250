//! Properties over the response reader: any bytes give an outcome (no panic, no hang); bytes glued from HTTP's
//! own pieces give the outcome hyper gives; and generated valid responses (random fields, bodies, chunk splits,
//! interim answers, line ends, the server's writes split at random) read as exactly the body that was encoded.
//!
//! Longer runs: `PROPTEST_CASES=5000 cargo test --lib engine::client::conformance_tests::props`.

use proptest::prelude::*;

use super::*;

/// A runtime per case: the client and the scripted server run on it.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Pieces of HTTP/1.1 responses, glued at random into texts that reach deep into the reader.
const PIECES: &[&str] = &[
    "HTTP/1.1 ",
    "HTTP/1.0 ",
    "HTTP/1.1 200 OK\r\n",
    "HTTP/1.1 100 Continue\r\n\r\n",
    "HTTP/1.1 101 S\r\n",
    "204 ",
    "304 ",
    "200 ",
    "OK",
    "\r\n",
    "\n",
    "\r",
    "\r\n\r\n",
    " ",
    "\t",
    ":",
    ",",
    ";",
    "Content-Length: ",
    "content-length:",
    "Transfer-Encoding: chunked\r\n",
    "Transfer-Encoding: gzip\r\n",
    "Connection: close\r\n",
    "Connection: keep-alive\r\n",
    "X-A: b\r\n",
    " folded\r\n",
    "0",
    "3",
    "5",
    "a",
    "F",
    "ff",
    "18446744073709551616",
    "-1",
    "+3",
    "0x3",
    "0\r\n\r\n",
    "3\r\nabc\r\n",
    ";e=1",
    "hello",
    "\u{0}",
    "\u{7f}",
    "é",
];

fn glued() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(PIECES), 0..24).prop_map(|p| p.concat().into_bytes())
}

/// A response shaped as one (status line, fields, blank line, body) with each part glued from pieces that
/// matter to framing: most are answers or refusals for a reason, not noise.
fn shaped() -> impl Strategy<Value = Vec<u8>> {
    let eol = || prop::sample::select(&["\r\n", "\r\n", "\r\n", "\n"][..]);
    let status = prop::sample::select(
        &[
            "HTTP/1.1 200 OK",
            "HTTP/1.0 200 OK",
            "HTTP/1.1 204 No Content",
            "HTTP/1.1 304 NM",
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK",
            "HTTP/1.1 101 S",
            "HTTP/1.1 200",
            "HTTP/1.1 200 ",
            "HTTP/1.1 999 X",
            "HTTP/1.1 500 E",
        ][..],
    );
    let name = prop::sample::select(
        &[
            "Content-Length",
            "content-length",
            "Transfer-Encoding",
            "Connection",
            "X-A",
        ][..],
    );
    let value = prop::collection::vec(
        prop::sample::select(
            &[
                "0",
                "3",
                "5",
                "a",
                "chunked",
                "gzip",
                "identity",
                "close",
                "keep-alive",
                ",",
                " ",
                "+",
                "-",
                "0x",
                "18446744073709551616",
            ][..],
        ),
        0..4,
    );
    let field = (
        name,
        prop::sample::select(&[":", ": ", ":\t", " :"][..]),
        value,
        eol(),
        any::<bool>(),
    )
        .prop_map(|(n, colon, v, eol, fold)| {
            let fold = if fold { "\r\n folded" } else { "" };
            format!("{n}{colon}{}{fold}{eol}", v.concat())
        });
    let body = prop::collection::vec(
        prop::sample::select(
            &[
                "3\r\n",
                "abc",
                "\r\n",
                "0\r\n",
                "5;e=1\r\n",
                "hello",
                "X: y\r\n",
                "\n",
                "a",
                "F",
                "HTTP/1.1 200 OK\r\n",
                "Content-Length: 0\r\n",
            ][..],
        ),
        0..8,
    );
    (
        status,
        eol(),
        prop::collection::vec(field, 0..5),
        eol(),
        body,
    )
        .prop_map(|(s, e, fields, blank, body)| {
            format!("{s}{e}{}{blank}{}", fields.concat(), body.concat()).into_bytes()
        })
}

fn arbitrary() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        (
            prop::sample::select(
                &[
                    "HTTP/1.1 200 OK\r\n",
                    OK_CHUNKED,
                    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
                ][..]
            ),
            prop::collection::vec(any::<u8>(), 0..300)
        )
            .prop_map(|(head, rest)| [head.as_bytes(), &rest].concat()),
        glued(),
        shaped(),
    ]
}

/// Where the server splits its writes.
fn cuts(max: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0..=max, 0..6).prop_map(|mut c| {
        c.sort_unstable();
        c
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any bytes, closed after: an outcome within the limit, no panic; an answer's body is no longer than
    /// what was sent.
    #[test]
    fn any_bytes_give_an_outcome((raw, cuts, head_request) in arbitrary().prop_flat_map(|r| {
        let n = r.len();
        (Just(r), cuts(n), any::<bool>())
    })) {
        let got = block_on(loadgen(&raw, head_request, cuts, Then::Close));
        prop_assert_ne!(&got, &Outcome::Hang);
        if let Outcome::Answer { body, .. } = &got {
            prop_assert!(body.len() <= raw.len());
        }
    }

    /// Texts glued from HTTP's pieces: loadgen and hyper take or refuse the same ones, with the same status and
    /// body (the documented differences aside: obs-fold, which loadgen unfolds and hyper refuses).
    #[test]
    fn glued_responses_are_read_as_hyper_reads_them(raw in prop_oneof![glued(), shaped()]) {
        let (ours, theirs) = block_on(async {
            (loadgen(&raw, false, vec![], Then::Close).await, hyper(&raw, false, Then::Close).await)
        });
        // A line starting with a space or tab continues a field (obs-fold) wherever it is in the head.
        let folded = raw.windows(2).any(|w| w == b"\n " || w == b"\n\t");
        let same = match (&ours, &theirs) {
            (Outcome::Answer { status, body, .. }, Outcome::Answer { status: s, body: b, .. }) => {
                (status, body) == (s, b)
            }
            (Outcome::Fail { .. }, Outcome::Fail { .. }) => true,
            _ => false,
        };
        prop_assert!(same || folded, "loadgen {}, hyper {}", short(&ours), short(&theirs));
    }
}

/// How a generated body is framed.
#[derive(Debug, Clone)]
enum Frame {
    Length,
    /// Chunk sizes (cycled), hex in upper case, leading zeros, an extension on each chunk, trailer fields.
    Chunked {
        sizes: Vec<usize>,
        upper: bool,
        zeros: usize,
        ext: &'static str,
        trailers: Vec<(String, String)>,
    },
    ToClose,
}

fn frame() -> impl Strategy<Value = Frame> {
    let field = ("x-[a-z0-9-]{0,12}", "[!-~]([ -~]{0,30}[!-~])?");
    prop_oneof![
        Just(Frame::Length),
        (
            prop::collection::vec(1usize..700, 1..6),
            any::<bool>(),
            0usize..3,
            prop::sample::select(&["", ";a=b", ";x", " ;q=\"v;w\"", ";a;b=c"][..]),
            prop::collection::vec(field, 0..3),
        )
            .prop_map(|(sizes, upper, zeros, ext, trailers)| Frame::Chunked {
                sizes,
                upper,
                zeros,
                ext,
                trailers
            }),
        Just(Frame::ToClose),
    ]
}

/// A valid response: its bytes, status and body, and whether its connection stays usable.
#[derive(Debug, Clone)]
struct Valid {
    raw: Vec<u8>,
    status: u16,
    body: Vec<u8>,
    reusable: bool,
}

fn valid() -> impl Strategy<Value = Valid> {
    (
        prop::sample::select(
            &[
                200u16, 201, 202, 206, 299, 301, 400, 404, 418, 500, 503, 599,
            ][..],
        ),
        any::<bool>(),
        prop::collection::vec(prop::sample::select(&[100u16, 102, 103][..]), 0..3),
        prop::collection::vec(("x-[a-z0-9-]{0,12}", "[!-~]([ -~]{0,30}[!-~])?"), 0..8),
        prop::collection::vec(any::<u8>(), 0..3000),
        frame(),
        any::<bool>(),
    )
        .prop_map(|(status, http10, interim, fields, body, frame, bare_lf)| {
            let nl = if bare_lf { "\n" } else { "\r\n" };
            // HTTP/1.0 has no chunked coding.
            let http10 = http10 && !matches!(frame, Frame::Chunked { .. });
            let mut head = String::new();
            for i in interim {
                head.push_str(&format!("HTTP/1.1 {i} Interim{nl}X-I: 1{nl}{nl}"));
            }
            head.push_str(&format!(
                "HTTP/1.{} {status} Reason{nl}",
                if http10 { 0 } else { 1 }
            ));
            if http10 {
                head.push_str(&format!("Connection: keep-alive{nl}"));
            }
            for (n, v) in &fields {
                head.push_str(&format!("{n}: {v}{nl}"));
            }
            let mut raw;
            let reusable = match &frame {
                Frame::Length => {
                    head.push_str(&format!("Content-Length: {}{nl}{nl}", body.len()));
                    raw = head.into_bytes();
                    raw.extend_from_slice(&body);
                    true
                }
                Frame::ToClose => {
                    head.push_str(nl);
                    raw = head.into_bytes();
                    raw.extend_from_slice(&body);
                    false
                }
                Frame::Chunked {
                    sizes,
                    upper,
                    zeros,
                    ext,
                    trailers,
                } => {
                    head.push_str(&format!("Transfer-Encoding: chunked{nl}{nl}"));
                    raw = head.into_bytes();
                    let mut rest = &body[..];
                    let mut i = 0;
                    while !rest.is_empty() {
                        let n = sizes[i % sizes.len()].min(rest.len());
                        let hex = if *upper {
                            format!("{n:X}")
                        } else {
                            format!("{n:x}")
                        };
                        raw.extend_from_slice(
                            format!("{}{hex}{ext}\r\n", "0".repeat(*zeros)).as_bytes(),
                        );
                        raw.extend_from_slice(&rest[..n]);
                        raw.extend_from_slice(b"\r\n");
                        rest = &rest[n..];
                        i += 1;
                    }
                    raw.extend_from_slice(format!("{}0{ext}\r\n", "0".repeat(*zeros)).as_bytes());
                    for (n, v) in trailers {
                        raw.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
                    }
                    raw.extend_from_slice(b"\r\n");
                    true
                }
            };
            Valid {
                raw,
                status,
                body,
                reusable,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A valid response, written in random pieces, reads as exactly its status and body, on a connection kept
    /// exactly when its framing allows; hyper reads the same.
    #[test]
    fn valid_responses_read_as_exactly_their_body((v, cuts) in valid().prop_flat_map(|v| {
        let n = v.raw.len();
        (Just(v), cuts(n))
    })) {
        let then = if v.reusable { Then::Open } else { Then::Close };
        let (ours, theirs) = block_on(async {
            (loadgen(&v.raw, false, cuts, then).await, hyper(&v.raw, false, then).await)
        });
        let want = Outcome::Answer { status: v.status, body: v.body.clone(), reused: v.reusable };
        prop_assert_eq!(&ours, &want, "loadgen: {}", short(&ours));
        prop_assert!(ours.agrees_with(&theirs), "loadgen {}, hyper {}", short(&ours), short(&theirs));
    }
}
