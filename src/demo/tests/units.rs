//! Unit tests of the pure parts: `Jitter`/`Stall` parsing, display and
//! sampling, JWT issue/verify, revocation pruning and the rate limiter.

use std::time::{Duration, Instant};

use super::super::store::{RateLimiter, Revoked};
use super::super::token::{MAX_PAYLOAD, Signer, TokenError};
use super::super::{Jitter, Stall};

#[test]
fn jitter_parses_good_strings_and_round_trips() {
    let ms = Duration::from_millis;
    assert_eq!(
        "uniform:5ms..50ms".parse::<Jitter>().unwrap(),
        Jitter::Uniform {
            lo: ms(5),
            hi: ms(50)
        }
    );
    assert_eq!(
        " uniform: 0s .. 1s ".parse::<Jitter>().unwrap(),
        Jitter::Uniform {
            lo: ms(0),
            hi: ms(1000)
        }
    );
    assert_eq!(
        "exp:20ms".parse::<Jitter>().unwrap(),
        Jitter::Exponential { mean: ms(20) }
    );
    assert_eq!(
        "Exponential:1s".parse::<Jitter>().unwrap(),
        Jitter::Exponential { mean: ms(1000) }
    );
    // A bare number is seconds, as everywhere a duration is read (crate::duration).
    assert_eq!(
        "exp:0.02".parse::<Jitter>().unwrap(),
        Jitter::Exponential { mean: ms(20) }
    );
    for j in ["uniform:5ms..50ms", "exp:1s 500ms"] {
        let parsed: Jitter = j.parse().unwrap();
        assert_eq!(parsed.to_string().parse::<Jitter>().unwrap(), parsed);
    }
}

#[test]
fn jitter_rejects_bad_strings_with_clear_message() {
    for bad in [
        "",
        "5ms",
        "uniform:5ms",
        "uniform:50ms..5ms",
        "uniform:..5ms",
        "exp:",
        "exp:abc",
        "gauss:5ms",
        "exp:-5ms",
    ] {
        let err = bad.parse::<Jitter>().unwrap_err().to_string();
        assert!(err.contains("invalid jitter"), "{bad:?}: {err}");
        assert!(err.contains(&format!("{bad:?}")), "{bad:?}: {err}");
        assert!(
            err.contains("uniform:5ms..50ms") && err.contains("exp:20ms"),
            "{err}"
        );
    }
}

#[test]
fn stall_parses_and_rejects() {
    let s: Stall = "1s/5s".parse().unwrap();
    assert_eq!(
        s,
        Stall {
            pause: Duration::from_secs(1),
            every: Duration::from_secs(5)
        }
    );
    assert_eq!(s.to_string().parse::<Stall>().unwrap(), s);
    assert_eq!(
        "250ms / 2s".parse::<Stall>().unwrap().pause,
        Duration::from_millis(250)
    );
    for bad in [
        "", "1s", "5s/1s", "1s/1s", "0s/5s", "x/5s", "1s/", "1s/5s/7s",
    ] {
        let err = bad.parse::<Stall>().unwrap_err().to_string();
        assert!(
            err.contains("invalid stall") && err.contains("PAUSE/EVERY"),
            "{bad:?}: {err}"
        );
    }
}

#[test]
fn stall_schedule_pauses_at_the_end_of_each_cycle() {
    let s: Stall = "1s/5s".parse().unwrap();
    let at = |ms| s.remaining_pause(Duration::from_millis(ms));
    assert_eq!(at(0), Duration::ZERO);
    assert_eq!(at(3999), Duration::ZERO);
    assert_eq!(at(4000), Duration::from_secs(1));
    assert_eq!(at(4500), Duration::from_millis(500));
    assert_eq!(at(5000), Duration::ZERO);
    assert_eq!(at(9750), Duration::from_millis(250));
}

#[test]
fn jitter_samples_follow_their_distribution() {
    use rand::SeedableRng;
    let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
    let u: Jitter = "uniform:5ms..50ms".parse().unwrap();
    let samples: Vec<Duration> = (0..2000).map(|_| u.sample(&mut rng)).collect();
    assert!(
        samples
            .iter()
            .all(|d| (Duration::from_millis(5)..=Duration::from_millis(50)).contains(d))
    );
    assert!(samples.iter().any(|d| *d < Duration::from_millis(10)));
    assert!(samples.iter().any(|d| *d > Duration::from_millis(45)));
    let e: Jitter = "exp:20ms".parse().unwrap();
    let mean = (0..20_000)
        .map(|_| e.sample(&mut rng).as_secs_f64())
        .sum::<f64>()
        / 20_000.0;
    assert!((0.018..0.022).contains(&mean), "mean {mean}");
}

// ---------------------------------------------------------------- unit: token and stores

#[test]
fn token_verification_unit() {
    let signer = Signer::new().unwrap();
    let mut buf = [0u8; MAX_PAYLOAD];
    let t = signer.issue("al\"ice", 1000.5, Duration::from_secs(60));
    let claims = signer.verify(&t, 1000.6, &mut buf).unwrap();
    assert_eq!((claims.sub.as_ref(), claims.exp), ("al\"ice", 1061));
    assert_eq!(
        signer.verify(&t, 1061.0, &mut buf).unwrap_err(),
        TokenError::Expired
    );
    let other = Signer::new().unwrap();
    assert_eq!(
        other.verify(&t, 1000.6, &mut buf).unwrap_err(),
        TokenError::BadSignature
    );
    assert_eq!(
        signer.verify("", 0.0, &mut buf).unwrap_err(),
        TokenError::Malformed
    );
    let jtis: std::collections::HashSet<String> = (0..1000)
        .map(|_| {
            let t = signer.issue("a", 1000.0, Duration::from_secs(60));
            signer
                .verify(&t, 1000.0, &mut buf)
                .unwrap()
                .jti
                .into_owned()
        })
        .collect();
    assert_eq!(jtis.len(), 1000);
}

#[test]
fn revocations_are_pruned_once_expired() {
    let revoked = Revoked::new();
    assert!(revoked.revoke("live", 500, 100));
    assert!(
        !revoked.revoke("live", 500, 100),
        "second revoke must report false"
    );
    for i in 0..20_000 {
        revoked.revoke(&format!("old{i}"), 150, 200); // already expired at now=200
    }
    assert!(
        revoked.len() < 10_000,
        "expired entries not pruned: {}",
        revoked.len()
    );
    assert!(revoked.contains("live"));
    assert!(!revoked.contains("never"));
}

#[test]
fn rate_limiter_fixed_window_unit() {
    let limiter = RateLimiter::new(2, Duration::from_millis(100));
    let t0 = Instant::now();
    assert!(limiter.check("a", t0).is_ok());
    assert!(limiter.check("a", t0).is_ok());
    assert_eq!(
        limiter.check("a", t0 + Duration::from_millis(30)),
        Err(Duration::from_millis(70))
    );
    assert!(limiter.check("b", t0).is_ok());
    assert!(limiter.check("a", t0 + Duration::from_millis(100)).is_ok());
    let off = RateLimiter::new(0, Duration::ZERO);
    assert!((0..100).all(|_| off.check("a", t0).is_ok()));
}
