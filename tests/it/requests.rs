//! Requests are what the scenario says, seen from the server's side, and secrets stay out of every output.
//!
//! A raw TCP server in the test records every request head it receives: values from a response (captures) and
//! from a data file that hold CR/LF must never end the request line and start a header or a request of their
//! own. An `expect.json` that fails on a token must not copy the token into any report or log.

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use crate::util::{Demo, loadgen, write};

/// What the server received: each request's head, as raw text.
type Seen = Arc<Mutex<Vec<String>>>;

/// A keep-alive HTTP/1.1 server on 127.0.0.1:0 that records each request head before answering it: `/token`
/// gets `token_body`, anything else `{}`.
fn recording_server(token_body: impl Fn(u16) -> String + Send + Sync + 'static) -> (u16, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("local addr").port();
    let seen: Seen = Arc::default();
    let token_body = Arc::new(token_body);
    let record = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let (record, token_body) = (record.clone(), token_body.clone());
            std::thread::spawn(move || serve(conn, port, &record, &*token_body));
        }
    });
    (port, seen)
}

fn serve(conn: TcpStream, port: u16, seen: &Seen, token_body: &dyn Fn(u16) -> String) {
    let mut out = match conn.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    };
    let mut reader = BufReader::new(conn);
    loop {
        let Some(head) = crate::util::read_head(&mut reader) else {
            return;
        };
        let length = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let target = head.split(' ').nth(1).unwrap_or("").to_string();
        seen.lock().unwrap_or_else(|p| p.into_inner()).push(head);
        let answer = if target == "/token" {
            token_body(port)
        } else {
            "{}".to_string()
        };
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
            answer.len()
        );
        if out.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// The value the server hands out for capture: a request line's end, a header, and a second request.
const EVIL: &str = "a\r\nX-Injected: 1\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";

#[test]
fn captured_and_data_values_with_line_breaks_never_inject_headers() {
    let (port, seen) = recording_server(|port| {
        serde_json::json!({ "v": EVIL, "base": format!("http://127.0.0.1:{port}/{EVIL}") })
            .to_string()
    });
    let dir = tempfile::tempdir().unwrap();
    // A quoted CSV field may hold a line break too.
    write(
        dir.path(),
        "rows.csv",
        "name\n\"b\r\nX-From-Data: 1\r\n\r\nGET /smuggled-too HTTP/1.1\"\n",
    );
    let file = write(
        dir.path(),
        "inject.toml",
        &format!(
            r#"
[target]
host = "http://127.0.0.1:{port}"
[load]
users = 1
duration = "20s"
iterations = 1
[data]
file = "rows.csv"
[[user.on_start]]
name = "token"
path = "/token"
capture = {{ v = "$.v", base = "$.base" }}
[[task]]
name = "flow"
steps = [
  {{ name = "relative", path = "/items/{{{{v}}}}" }},
  {{ name = "absolute", path = "{{{{base}}}}/x" }},
  {{ name = "from_data", path = "/d/{{{{data.name}}}}" }},
  {{ name = "in_a_query", path = "/q", query = {{ q = "{{{{v}}}}" }} }},
  {{ name = "in_a_header", path = "/h", headers = {{ X-Value = "{{{{v}}}}" }} }},
]
"#
        ),
    );
    let json = dir.path().join("r.json");
    let out = loadgen([
        "run",
        file.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "-q",
    ])
    .run();
    assert!(
        matches!(out.code, Some(0 | 1)),
        "the run itself went through\n{}",
        out.dump()
    );
    let heads = seen.lock().unwrap().clone();
    let all = heads.join("");
    // Exactly the requests the scenario makes (the header one is refused before it is sent), each a request
    // line and a host header, never a header or a request made from a value.
    let lines: Vec<&str> = heads
        .iter()
        .map(|h| h.lines().next().unwrap_or(""))
        .collect();
    assert_eq!(lines.len(), 5, "{all}");
    assert!(
        all.lines().all(|l| !l.starts_with("X-Injected")
            && !l.starts_with("X-From-Data")
            && !l.starts_with("GET /smuggled")),
        "a value reached the wire as a header or a request:\n{all}"
    );
    for (head, want) in heads.iter().zip([
        "GET /token HTTP/1.1",
        "GET /items/a%0D%0AX-Injected:%201%0D%0A%0D%0AGET%20/smuggled%20HTTP/1.1%0D%0AHost:%20x%0D%0A%0D%0A HTTP/1.1",
        "GET /a%0D%0AX-Injected:%201%0D%0A%0D%0AGET%20/smuggled%20HTTP/1.1%0D%0AHost:%20x%0D%0A%0D%0A/x HTTP/1.1",
        "GET /d/b%0D%0AX-From-Data:%201%0D%0A%0D%0AGET%20/smuggled-too%20HTTP/1.1 HTTP/1.1",
        "GET /q?q=a%0D%0AX-Injected%3A+1%0D%0A%0D%0AGET+%2Fsmuggled+HTTP%2F1.1%0D%0AHost%3A+x%0D%0A%0D%0A HTTP/1.1",
    ]) {
        let mut lines = head.split("\r\n");
        assert_eq!(lines.next(), Some(want), "{all}");
        let headers: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
        assert_eq!(
            headers,
            [format!("host: 127.0.0.1:{port}").as_str()],
            "only loadgen's own header: {all}"
        );
    }
    // The header step failed without being sent, saying why (not with what).
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let text = results.to_string();
    assert!(
        text.contains("header `x-value` rendered to an invalid value"),
        "{text}"
    );
    assert!(!text.contains("X-Injected"), "{text}");
}

/// The reference API's tokens are JWTs whose header is always `{"alg":"HS256","typ":"JWT"}`.
const JWT_HEADER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

#[test]
fn a_failed_expect_json_never_copies_the_value_into_any_output() {
    let demo = Demo::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let secret = format!("tok_9f8e7d6c5b4a_{}", std::process::id());
    let file = write(
        dir.path(),
        "secret.toml",
        &format!(
            r#"
[target]
host = "{host}"
[load]
users = 1
duration = "20s"
iterations = 1
[[task]]
name = "flow"
steps = [
  {{ name = "register", method = "POST", path = "/api/auth/register", json = {{ username = "{secret}", password = "pw-1", email = "a@b.c" }}, expect = {{ status = [201] }} }},
  {{ name = "login", method = "POST", path = "/api/auth/login", json = {{ username = "{secret}", password = "pw-1" }}, expect = {{ json = {{ "$.access_token" = "not-the-token", "$.token_type" = "bearer" }} }} }},
]
[[user.on_stop]]
name = "echo"
method = "POST"
path = "/api/auth/register"
json = {{ username = "{secret}x", password = "pw-1", email = "a@b.c" }}
expect = {{ json = {{ "$.username" = "someone-else" }} }}
"#,
            host = demo.url
        ),
    );
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let out = loadgen([
        "run",
        file.to_str().unwrap(),
        "-vv",
        "--json",
        &path("r.json"),
        "--csv",
        &path("r"),
        "--html",
        &path("r.html"),
        "--markdown",
        &path("r.md"),
        "--junit",
        &path("r.xml"),
    ])
    .run();
    assert!(matches!(out.code, Some(0 | 1)), "{}", out.dump());
    let mut texts = vec![
        ("stdout".to_string(), out.stdout.clone()),
        ("stderr".to_string(), out.stderr.clone()),
    ];
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "toml") {
            continue;
        }
        texts.push((
            p.display().to_string(),
            String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned(),
        ));
    }
    assert!(texts.len() >= 7, "every output was written: {texts:?}");
    for (name, text) in &texts {
        assert!(!text.contains(JWT_HEADER), "{name} holds a token:\n{text}");
        assert!(
            !text.contains(&format!("{secret}x")),
            "{name} holds the echoed value:\n{text}"
        );
    }
    // The failures are there, saying what differed.
    let json = &texts.iter().find(|(n, _)| n.ends_with("r.json")).unwrap().1;
    assert!(
        json.contains("expect.json $.access_token: the value differs (got a string of ")
            && json.contains("expected a string of 13 characters; values are not shown)"),
        "{json}"
    );
    assert!(
        json.contains("expect.json $.username: the value differs (got a string of"),
        "{json}"
    );
}
