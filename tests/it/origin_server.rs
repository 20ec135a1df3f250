//! A small HTTP/1.1 origin for the client tests (cookies, redirects, compression): bound to a loopback address
//! of the test's choice (127.0.0.2 and 127.0.0.3 are two hosts to a cookie; two ports of one address are not),
//! it records every request it receives and answers each with what the test's handler returns (a whole raw
//! response), on a kept-alive connection.

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Got {
    pub method: String,
    pub target: String,
    /// The header lines, as sent.
    pub head: String,
    pub body: Vec<u8>,
}

impl Got {
    /// The first header named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

pub type Handler = dyn Fn(&Got) -> Vec<u8> + Send + Sync;

/// A running origin: its `http://ip:port` and what it received.
pub struct Origin {
    pub url: String,
    pub got: Arc<Mutex<Vec<Got>>>,
}

impl Origin {
    /// Starts an origin on `ip` (a port of its own) answering with `handler`.
    pub fn start(ip: &str, handler: impl Fn(&Got) -> Vec<u8> + Send + Sync + 'static) -> Origin {
        let listener = TcpListener::bind((ip, 0)).unwrap_or_else(|e| panic!("bind {ip}:0: {e}"));
        let addr = listener.local_addr().expect("local addr");
        let got: Arc<Mutex<Vec<Got>>> = Arc::default();
        let handler: Arc<Handler> = Arc::new(handler);
        let record = got.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let (record, handler) = (record.clone(), handler.clone());
                std::thread::spawn(move || serve(conn, &record, &*handler));
            }
        });
        Origin {
            url: format!("http://{addr}"),
            got,
        }
    }

    /// What it received so far.
    pub fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

fn serve(conn: TcpStream, record: &Mutex<Vec<Got>>, handler: &Handler) {
    let Ok(mut out) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(conn);
    loop {
        let Some(head) = crate::util::read_head(&mut reader) else {
            return;
        };
        let mut first = head.split(' ');
        let method = first.next().unwrap_or("").to_string();
        let target = first.next().unwrap_or("").to_string();
        let mut got = Got {
            method,
            target,
            head,
            body: Vec::new(),
        };
        let length = got
            .header("content-length")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        got.body = body;
        let answer = handler(&got);
        record.lock().unwrap_or_else(|p| p.into_inner()).push(got);
        if out.write_all(&answer).is_err() {
            return;
        }
    }
}

/// A response with `status`, extra header lines (each ending in CRLF) and `body`.
pub fn answer(status: u16, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\n{headers}\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}
