//! End-to-end tests of the fault knobs (error rate, seed, latency, jitter,
//! stall) and of the server lifecycle (graceful shutdown, config validation,
//! `DemoServer` start/shutdown/drop, port in use).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::*;

#[tokio::test]
async fn error_rate_one_fails_everything_but_health() {
    let s = spawn(DemoConfig {
        error_rate: 1.0,
        ..DemoConfig::default()
    })
    .await;
    let c = client();
    let r = register(&c, &s, "alice", "pw").await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": "injected failure"})
    );
    assert_eq!(
        c.get(s.at("/nope")).send().await.unwrap().status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let r = c.get(s.at("/health")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Injected failures have no side effects.
    assert_eq!(r.json::<Value>().await.unwrap()["users"], 0);
    s.stop().await.unwrap();
}

#[tokio::test]
async fn error_rate_zero_never_fails() {
    let s = spawn(DemoConfig::default()).await;
    let c = client();
    for i in 0..50 {
        let r = register(&c, &s, &format!("user{i}"), "pw").await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    s.stop().await.unwrap();
}

/// Statuses of `n` sequential requests over one keep-alive connection.
async fn statuses_with_seed(seed: u64, n: usize) -> Vec<u16> {
    let s = spawn(DemoConfig {
        error_rate: 0.5,
        seed: Some(seed),
        ..DemoConfig::default()
    })
    .await;
    let c = client();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(c.get(s.at("/nope")).send().await.unwrap().status().as_u16());
    }
    s.stop().await.unwrap();
    out
}

#[tokio::test]
async fn seeded_error_injection_is_reproducible() {
    let a = statuses_with_seed(42, 80).await;
    let b = statuses_with_seed(42, 80).await;
    let other = statuses_with_seed(43, 80).await;
    assert_eq!(a, b);
    assert_ne!(a, other);
    let failures = a.iter().filter(|&&s| s == 500).count();
    assert!(
        (20..=60).contains(&failures),
        "{failures} of 80 failed at rate 0.5"
    );
    assert!(a.iter().all(|&s| s == 500 || s == 404));
}

#[tokio::test]
async fn fixed_latency_and_jitter_delay_responses() {
    let s = spawn(DemoConfig {
        latency: Duration::from_millis(100),
        ..DemoConfig::default()
    })
    .await;
    let c = client();
    c.get(s.at("/health")).send().await.unwrap(); // warm the connection
    let t = Instant::now();
    assert_eq!(
        c.get(s.at("/health")).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert!(
        t.elapsed() >= Duration::from_millis(100),
        "{:?}",
        t.elapsed()
    );
    s.stop().await.unwrap();

    let s = spawn(DemoConfig {
        latency_jitter: Some("uniform:50ms..60ms".parse().unwrap()),
        ..DemoConfig::default()
    })
    .await;
    let t = Instant::now();
    assert_eq!(
        c.get(s.at("/health")).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert!(
        t.elapsed() >= Duration::from_millis(50),
        "{:?}",
        t.elapsed()
    );
    s.stop().await.unwrap();
}

#[tokio::test]
async fn stall_holds_responses_until_the_pause_ends() {
    // Cycles of 1 s; the last 400 ms of each (0.6-1.0 s, 1.6-2.0 s, ...) stall.
    let t0 = Instant::now();
    let s = spawn(DemoConfig {
        stall: Some("400ms/1s".parse().unwrap()),
        ..DemoConfig::default()
    })
    .await;
    let c = client();
    let t = Instant::now();
    assert_eq!(
        c.get(s.at("/health")).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert!(
        t.elapsed() < Duration::from_millis(400),
        "not stalled yet: {:?}",
        t.elapsed()
    );

    // The cycle starts when the server does (a little after t0): probing at 800 ms stays inside the first
    // pause even if the start took up to 200 ms.
    tokio::time::sleep_until((t0 + Duration::from_millis(800)).into()).await;
    let t = Instant::now();
    assert_eq!(
        c.get(s.at("/health")).send().await.unwrap().status(),
        StatusCode::OK
    );
    let done = t0.elapsed();
    assert!(
        t.elapsed() >= Duration::from_millis(150),
        "held only {:?}",
        t.elapsed()
    );
    assert!(
        done >= Duration::from_millis(990),
        "answered at {done:?}, inside the pause"
    );
    s.stop().await.unwrap();
}

// ---------------------------------------------------------------- lifecycle

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_request() {
    let s = spawn(DemoConfig {
        latency: Duration::from_millis(300),
        ..DemoConfig::default()
    })
    .await;
    let c = client();
    let url = s.at("/health");
    let in_flight = tokio::spawn({
        let c = c.clone();
        let url = url.clone();
        async move { c.get(&url).send().await.map(|r| r.status()) }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t = Instant::now();
    s.stop().await.unwrap();
    assert!(t.elapsed() < Duration::from_secs(3));
    assert_eq!(in_flight.await.unwrap().unwrap(), StatusCode::OK);
    assert!(
        client().get(&url).send().await.is_err(),
        "still accepting after shutdown"
    );
}

#[tokio::test]
async fn invalid_config_is_rejected() {
    let bad = [
        DemoConfig {
            error_rate: 1.5,
            ..DemoConfig::default()
        },
        DemoConfig {
            error_rate: f64::NAN,
            ..DemoConfig::default()
        },
        DemoConfig {
            rate_window: Duration::ZERO,
            ..DemoConfig::default()
        },
        DemoConfig {
            token_ttl: Duration::ZERO,
            ..DemoConfig::default()
        },
        DemoConfig {
            stall: Some(Stall {
                pause: Duration::from_secs(2),
                every: Duration::from_secs(1),
            }),
            ..DemoConfig::default()
        },
    ];
    for config in bad {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let err = serve(listener, config.clone(), std::future::pending())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{config:?}");
        let err = DemoServer::start("127.0.0.1:0".parse().unwrap(), config).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
    assert!(DemoConfig::default().validate().is_ok());
    assert!(
        DemoConfig {
            rate_limit: 0,
            rate_window: Duration::ZERO,
            ..DemoConfig::default()
        }
        .validate()
        .is_ok()
    );
}

#[tokio::test]
async fn demo_server_starts_serves_and_shuts_down_promptly() {
    let server = DemoServer::start("127.0.0.1:0".parse().unwrap(), DemoConfig::default()).unwrap();
    let addr = server.addr();
    assert_ne!(addr.port(), 0);
    assert_eq!(server.url(), format!("http://127.0.0.1:{}", addr.port()));
    let c = client();
    let url = format!("{}/health", server.url());
    // Leaves an idle keep-alive connection in the client's pool.
    assert_eq!(c.get(&url).send().await.unwrap().status(), StatusCode::OK);
    let t = Instant::now();
    server.shutdown();
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "shutdown took {:?}",
        t.elapsed()
    );
    assert!(
        client().get(&url).send().await.is_err(),
        "still serving after shutdown"
    );
}

#[test]
fn demo_server_reports_port_in_use_and_stops_on_drop() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = DemoServer::start(addr, DemoConfig::default()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    drop(taken);

    let server = DemoServer::start(addr, DemoConfig::default()).unwrap();
    let t = Instant::now();
    drop(server);
    assert!(t.elapsed() < Duration::from_secs(3));
    // The listener is closed, so the port can be bound again.
    std::net::TcpListener::bind(addr).unwrap();

    let wildcard = DemoServer::start("0.0.0.0:0".parse().unwrap(), DemoConfig::default()).unwrap();
    assert!(wildcard.url().starts_with("http://127.0.0.1:"));
}

/// Issue 21: with `capacity`, a request beyond it is answered 503 at once while the others are served; the
/// count goes back down as they finish, and `/health` is never shed.
#[tokio::test]
async fn capacity_sheds_what_is_beyond_it() {
    let s = spawn(DemoConfig {
        capacity: 2,
        latency: Duration::from_millis(1000),
        ..DemoConfig::default()
    })
    .await;
    let c = client();
    let slow =
        |c: reqwest::Client, url: String| async move { c.get(url).send().await.unwrap().status() };
    let a = tokio::spawn(slow(c.clone(), s.at("/nope")));
    let b = tokio::spawn(slow(c.clone(), s.at("/nope")));
    // Bounded wait until both are held by the server: a third is shed, without the latency.
    let mut shed = None;
    for _ in 0..200 {
        let t = Instant::now();
        let r = c.get(s.at("/nope")).send().await.unwrap();
        if r.status() == StatusCode::SERVICE_UNAVAILABLE {
            shed = Some((t.elapsed(), r.json::<Value>().await.unwrap()));
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (took, body) = shed.expect("a third request in flight is shed");
    assert_eq!(body, json!({"error": "over capacity"}));
    assert!(took < Duration::from_millis(700), "{took:?}");
    assert_eq!(
        c.get(s.at("/health")).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(a.await.unwrap(), StatusCode::NOT_FOUND);
    assert_eq!(b.await.unwrap(), StatusCode::NOT_FOUND);
    // Both done: served again (the shed ones took their count back).
    assert_eq!(
        c.get(s.at("/nope")).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    s.stop().await.unwrap();
}
