//! Issue 18 items 4 and 5, seen from the server's side: default headers (and the order they give way in), env
//! defaults and env in `host`, query encoding, and `form`, `multipart` and `body_file` bodies, byte for byte.
//!
//! A raw TCP server on 127.0.0.1:0 records each request's head and body as received; the tests run the real
//! binary for one bounded iteration and read what arrived.

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::util::{loadgen, write};

/// One request as received: its head (raw text) and its body (raw bytes).
#[derive(Debug, Clone)]
struct Got {
    head: String,
    body: Vec<u8>,
}

impl Got {
    fn target(&self) -> &str {
        self.head.split(' ').nth(1).unwrap_or("")
    }

    /// The values of header `name` (any case), in order.
    fn header(&self, name: &str) -> Vec<String> {
        self.head
            .lines()
            .skip(1)
            .filter_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_string())
            })
            .collect()
    }
}

type Seen = Arc<Mutex<Vec<Got>>>;

/// `/login` answers `{"token": "T0K", "v": "x y&z"}`, `/r307` a 307 to `/after307`, anything else `{}`.
fn recording_server() -> (u16, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("local addr").port();
    let seen: Seen = Arc::default();
    let record = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let record = record.clone();
            std::thread::spawn(move || serve(conn, &record));
        }
    });
    (port, seen)
}

fn serve(conn: TcpStream, seen: &Seen) {
    let Ok(mut out) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(conn);
    loop {
        let Some(head) = crate::util::read_head(&mut reader) else {
            return;
        };
        let got = Got {
            head,
            body: Vec::new(),
        };
        let length = got
            .header("content-length")
            .first()
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let got = Got { body, ..got };
        let target = got.target().to_string();
        seen.lock().unwrap_or_else(|p| p.into_inner()).push(got);
        let response = match target.as_str() {
            "/login" => json_answer(r#"{"token":"T0K","v":"x y&z"}"#),
            "/r307" => "HTTP/1.1 307 Temporary Redirect\r\nlocation: /after307\r\ncontent-length: 0\r\n\r\n"
                .to_string(),
            _ => json_answer("{}"),
        };
        if out.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

fn json_answer(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Runs `file` for one iteration (env `env` set); every request must have met its expectation.
fn run_once(file: &Path, env: &[(&str, &str)]) -> crate::util::Out {
    let json = file.with_extension("json");
    let mut lg = loadgen([
        "run",
        file.to_str().expect("a UTF-8 path"),
        "--json",
        json.to_str().expect("a UTF-8 path"),
        "-q",
    ]);
    for (k, v) in env {
        lg = lg.env(k, v);
    }
    let out = lg.run();
    assert_eq!(out.code, Some(0), "{}", out.dump());
    out
}

fn by_target(seen: &Seen, target: &str) -> Got {
    let all = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
    all.iter()
        .find(|g| g.target() == target)
        .cloned()
        .unwrap_or_else(|| panic!("no request to {target}; got {all:#?}"))
}

/// The parts of a multipart body: (headers, content) each, split on `--boundary` as RFC 7578 frames them.
fn multipart_parts(body: &[u8], boundary: &str) -> Vec<(String, Vec<u8>)> {
    let delimiter = format!("--{boundary}");
    let d = delimiter.as_bytes();
    let mut at: Vec<usize> = Vec::new();
    let mut i = 0;
    while i + d.len() <= body.len() {
        if &body[i..i + d.len()] == d {
            at.push(i);
            i += d.len();
        } else {
            i += 1;
        }
    }
    assert!(
        body.starts_with(d),
        "the body starts with the first delimiter"
    );
    assert!(
        body.ends_with(format!("--{boundary}--\r\n").as_bytes()),
        "the body ends with the close delimiter"
    );
    at.windows(2)
        .map(|w| {
            // `--b\r\n` head `\r\n\r\n` content `\r\n` (before the next delimiter).
            let part = &body[w[0] + d.len() + 2..w[1] - 2];
            let split = part
                .windows(4)
                .position(|x| x == b"\r\n\r\n")
                .expect("a part's head ends with a blank line");
            (
                String::from_utf8(part[..split].to_vec()).expect("a text head"),
                part[split + 4..].to_vec(),
            )
        })
        .collect()
}

#[test]
fn form_multipart_and_file_bodies_arrive_byte_for_byte() {
    let (port, seen) = recording_server();
    let dir = tempfile::tempdir().unwrap();
    let all: Vec<u8> = (0..=255u8).collect();
    std::fs::write(dir.path().join("all.bin"), &all).unwrap();
    write(
        dir.path(),
        "order.json",
        "{\"vu\": {{vu}}, \"tok\": \"{{token}}\", \"é\": 1}\n",
    );
    let file = write(
        dir.path(),
        "bodies.toml",
        &format!(
            r#"
[target]
host = "http://127.0.0.1:{port}"
[load]
users = 1
duration = "20s"
iterations = 1
[[user.on_start]]
name = "login"
method = "POST"
path = "/login"
capture = {{ token = "$.token" }}
[[task]]
name = "flow"
steps = [
  {{ name = "form", method = "POST", path = "/form", form = {{ "user name" = "a b", "x&y" = "1=2", "é" = "ü+{{{{vu}}}}", tok = "{{{{token}}}}" }} }},
  {{ name = "form_constant", method = "POST", path = "/form-constant", form = {{ a = "1 2" }} }},
  {{ name = "own_type", method = "POST", path = "/own", form = {{ a = "1" }}, headers = {{ content-type = "text/x-mine" }} }},
  {{ name = "multipart", method = "POST", path = "/mp", multipart = [
      {{ name = "title", value = "Hello {{{{vu}}}} é" }},
      {{ name = "file", file = "all.bin", filename = "avatar.png", content_type = "image/png" }},
      {{ name = "doc", file = "order.json" }},
  ] }},
  {{ name = "file_as_is", method = "POST", path = "/raw", body_file = "order.json" }},
  {{ name = "file_templated", method = "PUT", path = "/tpl", body_file = {{ path = "order.json", template = true }} }},
  {{ name = "file_binary", method = "POST", path = "/bin", body_file = "all.bin" }},
  {{ name = "binary_redirected", method = "POST", path = "/r307", body_file = "all.bin" }},
  {{ name = "after_binary", method = "POST", path = "/after-binary", json = {{ a = 1 }} }},
]
"#
        ),
    );
    run_once(&file, &[]);

    let form = by_target(&seen, "/form");
    assert_eq!(
        String::from_utf8_lossy(&form.body),
        "tok=T0K&user+name=a+b&x%26y=1%3D2&%C3%A9=%C3%BC%2B1"
    );
    assert_eq!(
        form.header("content-type"),
        ["application/x-www-form-urlencoded"]
    );
    assert_eq!(by_target(&seen, "/form-constant").body, b"a=1+2");
    let own = by_target(&seen, "/own");
    assert_eq!(own.header("content-type"), ["text/x-mine"], "{}", own.head);

    let mp = by_target(&seen, "/mp");
    let ct = mp.header("content-type");
    let boundary = ct[0]
        .strip_prefix("multipart/form-data; boundary=")
        .unwrap_or_else(|| panic!("{ct:?}"));
    assert!(boundary.len() >= 24, "{boundary}");
    let parts = multipart_parts(&mp.body, boundary);
    assert_eq!(parts.len(), 3, "{parts:?}");
    assert_eq!(
        parts[0],
        (
            "Content-Disposition: form-data; name=\"title\"".to_string(),
            "Hello 1 é".as_bytes().to_vec()
        )
    );
    assert_eq!(
        parts[1].0,
        "Content-Disposition: form-data; name=\"file\"; filename=\"avatar.png\"\r\nContent-Type: image/png"
    );
    assert_eq!(parts[1].1, all, "every byte value arrives unchanged");
    assert_eq!(
        parts[2].0,
        "Content-Disposition: form-data; name=\"doc\"; filename=\"order.json\"\r\nContent-Type: application/json"
    );
    assert_eq!(
        parts[2].1,
        "{\"vu\": {{vu}}, \"tok\": \"{{token}}\", \"é\": 1}\n".as_bytes()
    );

    let raw = by_target(&seen, "/raw");
    assert_eq!(
        raw.body,
        "{\"vu\": {{vu}}, \"tok\": \"{{token}}\", \"é\": 1}\n".as_bytes(),
        "sent as is"
    );
    assert_eq!(raw.header("content-type"), ["application/json"]);
    let tpl = by_target(&seen, "/tpl");
    assert_eq!(
        String::from_utf8_lossy(&tpl.body),
        "{\"vu\": 1, \"tok\": \"T0K\", \"é\": 1}\n"
    );
    let bin = by_target(&seen, "/bin");
    assert_eq!(bin.body, all);
    assert_eq!(bin.header("content-type"), ["application/octet-stream"]);
    assert_eq!(bin.header("content-length"), ["256"]);
    // A 307 sends the same binary body again, to the new location.
    assert_eq!(by_target(&seen, "/r307").body, all);
    let again = by_target(&seen, "/after307");
    assert_eq!(again.body, all, "{}", again.head);
    assert_eq!(again.header("content-type"), ["application/octet-stream"]);
    // A text request after a binary one is text again (the binary buffer is not sent twice).
    assert_eq!(by_target(&seen, "/after-binary").body, b"{\"a\":1}");
}

#[test]
fn default_headers_give_way_in_order_and_wait_for_their_captures() {
    let (port, seen) = recording_server();
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "defaults.toml",
        &format!(
            r#"
[target]
host = "{{{{env.LG_TEST_SCHEME:-ftp}}}}://127.0.0.1:{{{{env.LG_TEST_UNSET_PORT:-{port}}}}}"
headers = {{ User-Agent = "lg-test/1", X-Level = "target", Content-Type = "text/plain", X-Env = "{{{{env.LG_TEST_EMPTY:-empty-default}}}}|{{{{env.LG_TEST_SET:-no}}}}|{{{{env.LG_TEST_UNSET:-unset-default}}}}" }}
[user]
headers = {{ Authorization = "Bearer {{{{token}}}}", x-level = "user" }}
[load]
users = 1
duration = "20s"
iterations = 1
[[user.on_start]]
name = "before"
path = "/before"
[[user.on_start]]
name = "login"
method = "POST"
path = "/login"
capture = {{ token = "$.token", v = "$.v" }}
[[task]]
name = "flow"
steps = [
  {{ name = "after", path = "/after" }},
  {{ name = "own", path = "/own", headers = {{ X-LEVEL = "request", authorization = "Basic x" }} }},
  {{ name = "json", method = "POST", path = "/json", json = {{ a = 1 }} }},
  {{ name = "query", path = "/q", query = {{ q = "a b&c=d", u = "ü/é", c = "{{{{v}}}}", tag = ["x", "y z"], n = 2 }} }},
]
"#
        ),
    );
    run_once(
        &file,
        &[
            ("LG_TEST_SCHEME", "http"),
            ("LG_TEST_EMPTY", ""),
            ("LG_TEST_SET", "yes"),
        ],
    );
    let before = by_target(&seen, "/before");
    assert!(
        before.header("authorization").is_empty(),
        "no token yet: no Authorization\n{}",
        before.head
    );
    assert_eq!(before.header("user-agent"), ["lg-test/1"]);
    assert_eq!(
        before.header("x-level"),
        ["user"],
        "the user's over the target's"
    );
    assert_eq!(before.header("x-env"), ["empty-default|yes|unset-default"]);
    let after = by_target(&seen, "/after");
    assert_eq!(after.header("authorization"), ["Bearer T0K"]);
    assert_eq!(after.header("x-level"), ["user"]);
    let own = by_target(&seen, "/own");
    assert_eq!(own.header("x-level"), ["request"], "{}", own.head);
    assert_eq!(own.header("authorization"), ["Basic x"]);
    assert_eq!(own.header("user-agent"), ["lg-test/1"]);
    // A default Content-Type does not replace the one a JSON body has.
    let json = by_target(&seen, "/json");
    assert_eq!(
        json.header("content-type"),
        ["application/json"],
        "{}",
        json.head
    );
    assert_eq!(
        by_target(&seen, "/after").header("content-type"),
        ["text/plain"]
    );
    // Query values encoded on the wire, a captured one too (keys in name order).
    let q = seen
        .lock()
        .unwrap()
        .iter()
        .find(|g| g.target().starts_with("/q?"))
        .cloned()
        .expect("the query request");
    assert_eq!(
        q.target(),
        "/q?c=x+y%26z&n=2&q=a+b%26c%3Dd&tag=x&tag=y+z&u=%C3%BC%2F%C3%A9"
    );
}

#[test]
fn class_headers_replace_the_targets_per_class() {
    let (port, seen) = recording_server();
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "classes.toml",
        &format!(
            r#"
[target]
host = "http://127.0.0.1:{port}"
headers = {{ X-Who = "target", X-Both = "t" }}
[load]
users = 2
spawn_rate = 100
duration = "2s"
[classes.a]
wait = "200ms"

headers = {{ x-who = "a" }}
[[classes.a.task]]
name = "a"
path = "/a"
[classes.b]
wait = "200ms"
[[classes.b.task]]
name = "b"
path = "/b"
"#
        ),
    );
    run_once(&file, &[]);
    let a = by_target(&seen, "/a");
    assert_eq!(a.header("x-who"), ["a"]);
    assert_eq!(a.header("x-both"), ["t"]);
    let b = by_target(&seen, "/b");
    assert_eq!(b.header("x-who"), ["target"]);
}
