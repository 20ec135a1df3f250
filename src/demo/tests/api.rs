//! End-to-end tests of every endpoint: status codes, bodies, token life
//! cycle (verify, expiry, refresh, logout), rate limiting, routing errors and
//! many concurrent connections.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::*;

#[tokio::test]
async fn health_reports_users_and_uptime() {
    let s = spawn(DemoConfig::default()).await;
    let c = client();
    let r = c.get(s.at("/health")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["users"], 0);
    assert!(body["uptime_s"].as_f64().unwrap() >= 0.0);
    register(&c, &s, "alice", "pw").await;
    let body: Value = c
        .get(s.at("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["users"], 1);
    s.stop().await.unwrap();
}

#[tokio::test]
async fn register_created_duplicate_and_bad_input() {
    let s = spawn(DemoConfig::default()).await;
    let c = client();
    let r = register(&c, &s, "alice", "secret").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["username"], "alice");
    assert!(!body["id"].as_str().unwrap().is_empty());

    let r = register(&c, &s, "alice", "other").await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.json::<Value>().await.unwrap()["error"].is_string());

    let url = s.at("/api/auth/register");
    let bad = [
        json!({"password": "p", "email": "e@x"}),
        json!({"username": "bob", "email": "e@x"}),
        json!({"username": "bob", "password": "p"}),
        json!({"username": "", "password": "p", "email": "e@x"}),
        json!({"username": "bob", "password": 5, "email": "e@x"}),
        json!({"username": "x".repeat(65), "password": "p", "email": "e@x"}),
        json!(["not", "an", "object"]),
    ];
    for body in bad {
        let r = c.post(&url).json(&body).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "body {body}");
        assert!(r.json::<Value>().await.unwrap()["error"].is_string());
    }
    let r = c.post(&url).body("not json").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = c
        .post(&url)
        .body(vec![b'x'; 70 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // None of the rejected requests created a user.
    let health: Value = c
        .get(s.at("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["users"], 1);
    s.stop().await.unwrap();
}

#[tokio::test]
async fn login_issues_decodable_jwt_and_rejects_bad_credentials() {
    let s = spawn(DemoConfig::default()).await;
    let c = client();
    register(&c, &s, "alice", "secret").await;
    let r = login(&c, &s, "alice", "secret").await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 900);
    let token = body["access_token"].as_str().unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "HS256");
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(claims["sub"], "alice");
    assert!(claims["jti"].is_string());
    let ttl = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
    assert!((900..=901).contains(&ttl), "exp - iat = {ttl}");
    assert_eq!(URL_SAFE_NO_PAD.decode(parts[2]).unwrap().len(), 32);

    assert_eq!(
        login(&c, &s, "alice", "wrong").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&c, &s, "nobody", "secret").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let r = c
        .post(s.at("/api/auth/login"))
        .json(&json!({"username": "alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    s.stop().await.unwrap();
}

#[tokio::test]
async fn verify_accepts_valid_and_rejects_missing_garbage_tampered() {
    let s = spawn(DemoConfig::default()).await;
    let c = client();
    let token = token_for(&c, &s, "alice").await;
    let (status, body) = verify(&c, &s, &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"valid": true, "username": "alice"}));

    let r = c.get(s.at("/api/auth/verify")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "missing bearer token"
    );
    let r = c
        .get(s.at("/api/auth/verify"))
        .header("authorization", format!("Basic {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    for garbage in ["garbage", "a.b", "a.b.c.d", "..", "x.y.!!!"] {
        let (status, body) = verify(&c, &s, garbage).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{garbage}");
        assert_eq!(body["error"], "malformed token", "{garbage}");
    }

    // Flip one character in the middle of the signature.
    let mut bytes = token.clone().into_bytes();
    let i = bytes.len() - 10;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    let (status, body) = verify(&c, &s, &tampered).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid token signature");

    // Swap in a forged payload claiming another user, keeping the signature.
    let parts: Vec<&str> = token.split('.').collect();
    let forged_claims = r#"{"sub":"mallory","jti":"x","iat":0,"exp":99999999999}"#;
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(forged_claims),
        parts[2]
    );
    let (status, body) = verify(&c, &s, &forged).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid token signature");
    s.stop().await.unwrap();
}

#[tokio::test]
async fn expired_token_is_rejected() {
    let config = DemoConfig {
        token_ttl: Duration::from_secs(1),
        ..DemoConfig::default()
    };
    let s = spawn(config).await;
    let c = client();
    let token = token_for(&c, &s, "alice").await;
    assert_eq!(verify(&c, &s, &token).await.0, StatusCode::OK);
    // exp is rounded up to a whole second, so the token lives 1-2 s.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, body) = verify(&c, &s, &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "token expired");
    s.stop().await.unwrap();
}

#[tokio::test]
async fn refresh_issues_new_token_and_revokes_old() {
    let s = spawn(DemoConfig::default()).await;
    let c = client();
    let old = token_for(&c, &s, "alice").await;
    let r = c
        .post(s.at("/api/auth/refresh"))
        .bearer_auth(&old)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    let new = body["access_token"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(
        verify(&c, &s, &new).await,
        (StatusCode::OK, json!({"valid": true, "username": "alice"}))
    );
    let (status, body) = verify(&c, &s, &old).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "token revoked");
    let r = c
        .post(s.at("/api/auth/refresh"))
        .bearer_auth(&old)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = c.post(s.at("/api/auth/refresh")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    s.stop().await.unwrap();
}

#[tokio::test]
async fn logout_revokes_only_that_token() {
    let s = spawn(DemoConfig::default()).await;
    let c = client();
    let token = token_for(&c, &s, "alice").await;
    let body: Value = login(&c, &s, "alice", "pw-123").await.json().await.unwrap();
    let other = body["access_token"].as_str().unwrap().to_owned();
    let r = c
        .post(s.at("/api/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(verify(&c, &s, &token).await.0, StatusCode::UNAUTHORIZED);
    let r = c
        .post(s.at("/api/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        operate(&c, &s, &token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // A second session of the same user is unaffected.
    assert_eq!(verify(&c, &s, &other).await.0, StatusCode::OK);
    s.stop().await.unwrap();
}

#[tokio::test]
async fn protected_operation_is_rate_limited_per_user() {
    let config = DemoConfig {
        rate_limit: 3,
        rate_window: Duration::from_secs(1),
        ..DemoConfig::default()
    };
    let s = spawn(config).await;
    let c = client();
    let alice = token_for(&c, &s, "alice").await;
    let bob = token_for(&c, &s, "bob").await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = operate(&c, &s, &alice).await;
        let status = r.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            let retry: u64 = r.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(retry, 1);
            assert_eq!(
                r.json::<Value>().await.unwrap(),
                json!({"error": "rate limit exceeded"})
            );
        } else {
            assert_eq!(
                r.json::<Value>().await.unwrap(),
                json!({"ok": true, "action": "test"})
            );
        }
        statuses.push(status);
    }
    assert_eq!(&statuses[..3], &[StatusCode::OK; 3]);
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    // Limits are per user.
    assert_eq!(operate(&c, &s, &bob).await.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(operate(&c, &s, &alice).await.status(), StatusCode::OK);
    // Authentication comes before the limit, validation after it.
    assert_eq!(
        operate(&c, &s, "bad").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let r = c
        .post(s.at("/api/protected/operation"))
        .bearer_auth(&bob)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    s.stop().await.unwrap();
}

#[tokio::test]
async fn unknown_path_404_and_wrong_method_405() {
    let s = spawn(DemoConfig::default()).await;
    let c = client();
    let r = c.get(s.at("/nope")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "not found");
    let r = c.get(s.at("/api/auth/login")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers()["allow"], "POST");
    let r = c.post(s.at("/health")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers()["allow"], "GET");
    s.stop().await.unwrap();
}

#[tokio::test]
async fn many_concurrent_connections_are_served() {
    let s = spawn(DemoConfig {
        rate_limit: 0,
        ..DemoConfig::default()
    })
    .await;
    let c = client();
    let token = token_for(&c, &s, "alice").await;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..300 {
        // A client per task forces a connection per task.
        let (c, url, token) = (client(), s.at("/api/protected/operation"), token.clone());
        set.spawn(async move {
            let mut ok = 0;
            for _ in 0..5 {
                let r = c
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({"action": "x"}))
                    .send()
                    .await
                    .unwrap();
                ok += usize::from(r.status() == StatusCode::OK);
            }
            ok
        });
    }
    let total: usize = set.join_all().await.into_iter().sum();
    assert_eq!(total, 1500);
    s.stop().await.unwrap();
}
