//! Tests of the demo server, run with `cargo test`.
//!
//! `api` exercises the endpoints end-to-end over real HTTP (reqwest against a
//! server on `127.0.0.1:0`), `faults` the injected latency/errors/stalls and
//! the server lifecycle, `units` the pure parts (knob parsing and sampling,
//! tokens, stores). This file holds the shared helpers.
//!
//! Every request has a client timeout and every wait is a fixed sleep, so
//! each test is bounded in time; timing assertions use generous margins.

use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::*;

mod api;
mod faults;
mod shop;
mod shop_units;
mod units;

// ---------------------------------------------------------------- helpers

struct TestServer {
    url: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<io::Result<()>>,
}

impl TestServer {
    fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Triggers graceful shutdown and waits (bounded) for `serve` to return.
    async fn stop(mut self) -> io::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(Duration::from_secs(5), &mut self.task)
            .await
            .expect("serve did not return in time")
            .expect("serve task panicked")
    }
}

async fn spawn(config: DemoConfig) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, config, async {
        let _ = rx.await;
    }));
    TestServer {
        url: format!("http://{addr}"),
        stop: Some(tx),
        task,
    }
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()
        .unwrap()
}

async fn register(c: &Client, s: &TestServer, user: &str, pass: &str) -> reqwest::Response {
    c.post(s.at("/api/auth/register"))
        .json(&json!({"username": user, "password": pass, "email": format!("{user}@example.com")}))
        .send()
        .await
        .unwrap()
}

async fn login(c: &Client, s: &TestServer, user: &str, pass: &str) -> reqwest::Response {
    c.post(s.at("/api/auth/login"))
        .json(&json!({"username": user, "password": pass}))
        .send()
        .await
        .unwrap()
}

/// Registers `user` and returns a fresh access token.
async fn token_for(c: &Client, s: &TestServer, user: &str) -> String {
    assert_eq!(
        register(c, s, user, "pw-123").await.status(),
        StatusCode::CREATED
    );
    let body: Value = login(c, s, user, "pw-123").await.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

async fn verify(c: &Client, s: &TestServer, token: &str) -> (StatusCode, Value) {
    let r = c
        .get(s.at("/api/auth/verify"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

async fn operate(c: &Client, s: &TestServer, token: &str) -> reqwest::Response {
    c.post(s.at("/api/protected/operation"))
        .bearer_auth(token)
        .json(&json!({"action": "test"}))
        .send()
        .await
        .unwrap()
}
