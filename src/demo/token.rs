//! HS256 JSON Web Tokens: issuing and verifying the demo's bearer tokens.
//!
//! A minimal, dependency-light JWT (RFC 7519) implementation: the header is
//! always `{"alg":"HS256","typ":"JWT"}`, the claims are `sub`, `jti`, `iat`,
//! `exp`, and the signature is HMAC-SHA256 under a random per-process secret,
//! all base64url without padding.
//!
//! Shape: verification sits on every authenticated request, so it does not
//! allocate — the payload is decoded into a caller-provided stack buffer and
//! the claims borrow from it; the keyed HMAC state is computed once and cloned
//! per check; the signature comparison is constant-time. `jti`s come from a
//! random per-process prefix plus a counter, so they are unique without any
//! coordination. Revocation is not handled here (see `store`).

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const HEADER_JSON: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// Largest decoded payload accepted. Our own payloads stay well below it
/// because usernames are capped at `MAX_USERNAME` bytes (JSON-escaped at most
/// 6x), so anything bigger cannot be a token we issued.
pub(crate) const MAX_PAYLOAD: usize = 1024;

/// Why a token was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenError {
    /// Not three base64url parts, bad JSON, unknown header, or too large.
    Malformed,
    /// The HMAC does not match (forged or tampered token).
    BadSignature,
    /// `exp` has passed.
    Expired,
}

/// The claims of a verified token, borrowing from the decode buffer.
#[derive(Debug, Deserialize)]
pub(crate) struct Claims<'a> {
    /// Subject: the username.
    #[serde(borrow)]
    pub sub: Cow<'a, str>,
    /// Unique token id, the key for revocation.
    #[serde(borrow)]
    pub jti: Cow<'a, str>,
    /// Issued-at, Unix seconds.
    #[allow(dead_code)] // part of the format; parsed to reject tokens without it
    pub iat: u64,
    /// Expiry, Unix seconds.
    pub exp: u64,
}

#[derive(Serialize)]
struct ClaimsOut<'a> {
    sub: &'a str,
    jti: &'a str,
    iat: u64,
    exp: u64,
}

/// Issues and verifies tokens with one secret; shared by all connections.
pub(crate) struct Signer {
    /// HMAC already keyed with the secret; cloned for every signature.
    mac: HmacSha256,
    header_b64: String,
    jti_prefix: u64,
    next_jti: AtomicU64,
}

impl Signer {
    /// A signer with a fresh random 256-bit secret.
    pub fn new() -> std::io::Result<Signer> {
        let mut rng = rand::rng();
        let secret: [u8; 32] = rng.random();
        let mac = HmacSha256::new_from_slice(&secret).map_err(std::io::Error::other)?;
        Ok(Signer {
            mac,
            header_b64: URL_SAFE_NO_PAD.encode(HEADER_JSON),
            jti_prefix: rng.random(),
            next_jti: AtomicU64::new(0),
        })
    }

    /// Issues a token for `sub`, valid for at least `ttl` from `now` (Unix
    /// seconds). `exp` is rounded up to a whole second. Returns the compact
    /// JWT `header.payload.signature`.
    pub fn issue(&self, sub: &str, now: f64, ttl: Duration) -> String {
        let n = self.next_jti.fetch_add(1, Ordering::Relaxed);
        let jti = format!("{:016x}{n:016x}", self.jti_prefix);
        let iat = now.max(0.0).floor() as u64;
        let exp = (now.max(0.0) + ttl.as_secs_f64()).ceil() as u64;
        let claims = ClaimsOut {
            sub,
            jti: &jti,
            iat,
            exp,
        };
        // Serializing a struct of strings and integers cannot fail.
        let payload = serde_json::to_vec(&claims).unwrap_or_default();
        let mut token = String::with_capacity(self.header_b64.len() + payload.len() * 4 / 3 + 50);
        token.push_str(&self.header_b64);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let mut mac = self.mac.clone();
        mac.update(token.as_bytes());
        let sig = mac.finalize().into_bytes();
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(sig, &mut token);
        token
    }

    /// Verifies signature and expiry of `token` at `now` (Unix seconds) and
    /// returns its claims, decoded into `buf`.
    pub fn verify<'b>(
        &self,
        token: &str,
        now: f64,
        buf: &'b mut [u8; MAX_PAYLOAD],
    ) -> Result<Claims<'b>, TokenError> {
        let mut parts = token.split('.');
        let (header, payload, sig) = match (parts.next(), parts.next(), parts.next(), parts.next())
        {
            (Some(h), Some(p), Some(s), None) if !h.is_empty() && !p.is_empty() => (h, p, s),
            _ => return Err(TokenError::Malformed),
        };
        let mut sig_buf = [0u8; 64];
        let sig_len = URL_SAFE_NO_PAD
            .decode_slice(sig, &mut sig_buf)
            .map_err(|_| TokenError::Malformed)?;
        let signing_input = &token[..header.len() + 1 + payload.len()];
        let mut mac = self.mac.clone();
        mac.update(signing_input.as_bytes());
        mac.verify_slice(&sig_buf[..sig_len])
            .map_err(|_| TokenError::BadSignature)?;
        // Only we can sign, and we only sign this header; still be strict.
        if header != self.header_b64 {
            return Err(TokenError::Malformed);
        }
        let len = URL_SAFE_NO_PAD
            .decode_slice(payload, &mut buf[..])
            .map_err(|_| TokenError::Malformed)?;
        let buf: &'b [u8; MAX_PAYLOAD] = buf;
        let claims: Claims<'b> =
            serde_json::from_slice(&buf[..len]).map_err(|_| TokenError::Malformed)?;
        if now >= claims.exp as f64 {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}
