//! Shared mutable state of the demo server: registered users, revoked token
//! ids and per-user rate-limit windows.
//!
//! Shape: every map is split into [`SHARDS`] independently locked
//! `std::sync::Mutex<HashMap>`s chosen by key hash, so concurrent requests for
//! different users rarely contend. All methods are synchronous and hold a lock
//! only for a hash-map operation — never across an `.await`, never while
//! hashing a password. Lookups take `&str` and allocate nothing; keys are
//! copied only on first insertion. Memory is bounded: users are never removed
//! but only grow by registration, revoked ids are pruned once their token has
//! expired, and rate-limit windows exist only for registered users.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rand::Rng;
use sha2::{Digest, Sha256};

/// Number of lock shards per map (a power of two).
pub(crate) const SHARDS: usize = 32;

/// A set of `Mutex<T>` shards addressed by the hash of a string key (the shop's state uses it too).
pub(super) struct Sharded<T> {
    shards: Box<[Mutex<T>]>,
    hasher: RandomState,
}

impl<T: Default> Sharded<T> {
    pub(super) fn new() -> Self {
        Sharded {
            shards: (0..SHARDS).map(|_| Mutex::new(T::default())).collect(),
            hasher: RandomState::new(),
        }
    }

    /// Every shard, for tests that add up sizes.
    #[cfg(test)]
    pub(super) fn shards(&self) -> &[Mutex<T>] {
        &self.shards
    }

    /// Locks the shard owning `key`. A poisoned lock is recovered: every
    /// critical section leaves its map consistent, so the data is still valid.
    pub(super) fn lock(&self, key: &str) -> MutexGuard<'_, T> {
        let i = self.hasher.hash_one(key) as usize & (SHARDS - 1);
        self.shards[i]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// A stored account. The clear-text password is never kept.
struct User {
    salt: [u8; 16],
    hash: [u8; 32],
}

fn hash_password(salt: &[u8; 16], password: &str) -> [u8; 32] {
    Sha256::new()
        .chain_update(salt)
        .chain_update(password.as_bytes())
        .finalize()
        .into()
}

/// Equality that does not stop at the first differing byte.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Registered accounts, keyed by username.
pub(crate) struct Users {
    map: Sharded<HashMap<Box<str>, User>>,
    count: AtomicUsize,
}

impl Users {
    pub fn new() -> Self {
        Users {
            map: Sharded::new(),
            count: AtomicUsize::new(0),
        }
    }

    /// Number of registered users.
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Adds a user; `false` if the username is taken. The password is
    /// salted and hashed before the lock is taken.
    pub fn register(&self, username: &str, password: &str) -> bool {
        let salt: [u8; 16] = rand::rng().random();
        let user = User {
            hash: hash_password(&salt, password),
            salt,
        };
        let mut shard = self.map.lock(username);
        if shard.contains_key(username) {
            return false;
        }
        shard.insert(username.into(), user);
        drop(shard);
        self.count.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Whether `username` exists and `password` is its password. Unknown
    /// users cost the same hashing work, so timing does not reveal them.
    pub fn check_password(&self, username: &str, password: &str) -> bool {
        let stored = self
            .map
            .lock(username)
            .get(username)
            .map(|u| (u.salt, u.hash));
        match stored {
            Some((salt, hash)) => constant_time_eq(&hash_password(&salt, password), &hash),
            None => {
                let _ = hash_password(&[0; 16], password);
                false
            }
        }
    }
}

#[derive(Default)]
struct RevokedShard {
    /// jti -> exp (Unix seconds) of the revoked token.
    map: HashMap<Box<str>, u64>,
    /// Prune expired entries when the map reaches this size.
    prune_at: usize,
}

/// Smallest pruning threshold per shard.
const MIN_PRUNE_AT: usize = 256;

/// Revoked token ids (logout / refresh). An entry is only needed until its
/// token expires, after which signature checking rejects the token anyway.
pub(crate) struct Revoked {
    map: Sharded<RevokedShard>,
}

impl Revoked {
    pub fn new() -> Self {
        Revoked {
            map: Sharded::new(),
        }
    }

    /// Revokes `jti` (expiring at `exp`); `false` if it was already revoked,
    /// which makes concurrent logout/refresh of one token succeed only once.
    /// Expired entries of the shard are pruned whenever the shard has doubled
    /// since the last prune, so memory stays proportional to live revocations.
    pub fn revoke(&self, jti: &str, exp: u64, now: u64) -> bool {
        let mut shard = self.map.lock(jti);
        if shard.map.contains_key(jti) {
            return false;
        }
        if shard.map.len() >= shard.prune_at {
            shard.map.retain(|_, e| *e > now);
            shard.prune_at = (shard.map.len() * 2).max(MIN_PRUNE_AT);
        }
        shard.map.insert(jti.into(), exp);
        true
    }

    /// Whether `jti` has been revoked.
    pub fn contains(&self, jti: &str) -> bool {
        self.map.lock(jti).map.contains_key(jti)
    }

    /// Number of stored entries (including expired ones not yet pruned); `/metrics` shows it.
    pub fn len(&self) -> usize {
        self.map
            .shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).map.len())
            .sum()
    }
}

struct Window {
    start: Instant,
    count: u32,
}

/// Fixed-window request counter per user: at most `limit` requests per
/// `window`; `limit == 0` disables limiting.
pub(crate) struct RateLimiter {
    limit: u32,
    window: Duration,
    map: Sharded<HashMap<Box<str>, Window>>,
}

impl RateLimiter {
    pub fn new(limit: u32, window: Duration) -> Self {
        RateLimiter {
            limit,
            window,
            map: Sharded::new(),
        }
    }

    /// Counts one request by `user` at `now`. `Err(retry_after)` if it is
    /// over the limit, with the time until the user's window resets.
    pub fn check(&self, user: &str, now: Instant) -> Result<(), Duration> {
        if self.limit == 0 {
            return Ok(());
        }
        let mut shard = self.map.lock(user);
        if !shard.contains_key(user) {
            let fresh = Window {
                start: now,
                count: 0,
            };
            shard.insert(user.into(), fresh);
        }
        let Some(w) = shard.get_mut(user) else {
            return Ok(()); // unreachable: inserted just above under the same lock
        };
        let elapsed = now.saturating_duration_since(w.start);
        if elapsed >= self.window {
            w.start = now;
            w.count = 0;
        }
        if w.count >= self.limit {
            return Err(self.window.saturating_sub(elapsed));
        }
        w.count += 1;
        Ok(())
    }
}
