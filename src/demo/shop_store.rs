//! The shop's state (issue 18, item 7): the catalog, each user's listed ids and cart, the form sessions and the
//! counters `GET /api/debug/shop` reports.
//!
//! Shape and bounds (the demo runs in-process with `--demo` at 10,000 users): the catalog is fixed at start
//! ([`CATALOG_SIZE`] items, ids drawn at random so that a scenario can only know them by capturing them); a user's
//! shop state is a fixed 128-byte bitset of the catalog indexes ever listed to them (exact, not a recent window) and
//! a cart of at most [`MAX_CART_LINES`] lines of 3 bytes each, created on the user's first shop request (only
//! registered users get tokens, so their number is the number of users). Form sessions can be opened by anyone
//! without an account, so they are capped ([`MAX_SESSIONS`], spread over the shards): a full shard first drops the
//! sessions idle for [`SESSION_IDLE`], then, when that frees too little, its least recently seen quarter — amortised
//! O(1) per new session. Locks are the `store` module's shards: held for one map operation, never across an await.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::store::{SHARDS, Sharded};

/// Items in the catalog.
pub(crate) const CATALOG_SIZE: usize = 1000;
/// Distinct items one cart may hold (409 beyond).
pub(crate) const MAX_CART_LINES: usize = 100;
/// Form sessions kept at most (all shards together).
pub(crate) const MAX_SESSIONS: usize = 50_000;
/// A session not seen for this long is the first to go when its shard is full.
pub(crate) const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);

const WORDS: usize = CATALOG_SIZE.div_ceil(64);

/// One item of the catalog.
pub(crate) struct Item {
    pub id: u32,
    pub name: String,
    pub price_cents: u32,
}

/// The fixed catalog: items by index, and the index of each id.
pub(crate) struct Catalog {
    pub items: Vec<Item>,
    index: HashMap<u32, u16>,
}

impl Catalog {
    /// [`CATALOG_SIZE`] items with distinct random ids in `10_000..1_000_000`, seeded when the server is.
    pub fn new(seed: Option<u64>) -> Catalog {
        const ADJECTIVES: [&str; 10] = [
            "Red", "Blue", "Green", "Small", "Large", "Vintage", "Wooden", "Steel", "Silent",
            "Bright",
        ];
        const NOUNS: [&str; 10] = [
            "Lamp", "Chair", "Kettle", "Notebook", "Backpack", "Clock", "Mug", "Speaker",
            "Blanket", "Bicycle",
        ];
        let mut rng = match seed {
            Some(seed) => SmallRng::seed_from_u64(seed ^ 0x5EED_5409),
            None => SmallRng::from_rng(&mut rand::rng()),
        };
        let mut index = HashMap::with_capacity(CATALOG_SIZE);
        let mut items = Vec::with_capacity(CATALOG_SIZE);
        while items.len() < CATALOG_SIZE {
            let id = rng.random_range(10_000..1_000_000u32);
            if index.contains_key(&id) {
                continue;
            }
            let i = items.len();
            index.insert(id, i as u16);
            items.push(Item {
                id,
                name: format!("{} {} #{}", ADJECTIVES[i % 10], NOUNS[(i / 10) % 10], i + 1),
                price_cents: rng.random_range(99..20_000),
            });
        }
        Catalog { items, index }
    }

    /// The catalog index of item `id`.
    pub fn find(&self, id: u32) -> Option<usize> {
        self.index.get(&id).map(|&i| usize::from(i))
    }
}

/// One user's shop state.
#[derive(Default)]
struct Shopper {
    /// Bit `i` set: catalog index `i` was listed to this user.
    listed: [u64; WORDS],
    /// (catalog index, quantity), in order of first addition.
    cart: Vec<(u16, u8)>,
}

/// What adding to a cart came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Added {
    /// Added; the cart now has this many lines, and whether the item had been listed to the user.
    Ok { lines: usize, listed: bool },
    /// The cart already has [`MAX_CART_LINES`] other items; whether the item had been listed to the user.
    Full { listed: bool },
}

/// Every user's shop state, keyed by username.
pub(crate) struct Shoppers {
    map: Sharded<HashMap<Box<str>, Shopper>>,
}

impl Shoppers {
    pub fn new() -> Shoppers {
        Shoppers {
            map: Sharded::new(),
        }
    }

    /// Notes that the catalog indexes `listed` were shown to `user`.
    pub fn listed(&self, user: &str, listed: impl IntoIterator<Item = usize>) {
        let mut shard = self.map.lock(user);
        let s = entry(&mut shard, user);
        for i in listed {
            s.listed[i / 64] |= 1 << (i % 64);
        }
    }

    /// Adds `quantity` of catalog index `item` to `user`'s cart (a line already there grows, up to 99).
    pub fn add(&self, user: &str, item: usize, quantity: u8) -> Added {
        let mut shard = self.map.lock(user);
        let s = entry(&mut shard, user);
        let listed = s.listed[item / 64] & (1 << (item % 64)) != 0;
        if let Some(line) = s.cart.iter_mut().find(|l| usize::from(l.0) == item) {
            line.1 = line.1.saturating_add(quantity).min(99);
        } else if s.cart.len() >= MAX_CART_LINES {
            return Added::Full { listed };
        } else {
            s.cart.push((item as u16, quantity));
        }
        Added::Ok {
            lines: s.cart.len(),
            listed,
        }
    }

    /// `user`'s cart: (catalog index, quantity) per line.
    pub fn cart(&self, user: &str) -> Vec<(usize, u8)> {
        let shard = self.map.lock(user);
        shard.get(user).map_or_else(Vec::new, |s| {
            s.cart.iter().map(|&(i, q)| (usize::from(i), q)).collect()
        })
    }

    /// Empties `user`'s cart.
    pub fn clear_cart(&self, user: &str) {
        if let Some(s) = self.map.lock(user).get_mut(user) {
            s.cart = Vec::new();
        }
    }
}

fn entry<'m>(map: &'m mut HashMap<Box<str>, Shopper>, user: &str) -> &'m mut Shopper {
    if !map.contains_key(user) {
        map.insert(user.into(), Shopper::default());
    }
    // Inserted just above under the same lock.
    map.get_mut(user).unwrap_or_else(|| unreachable!())
}

/// A form session (`shop_session` cookie).
struct Session {
    /// The CSRF token of the latest login page served to this session.
    csrf: u128,
    /// Who logged in through the form, if anyone.
    user: Option<Box<str>>,
    last_seen: Instant,
}

/// Form sessions by id, bounded (see the module docs).
pub(crate) struct Sessions {
    map: Sharded<SessionShard>,
}

#[derive(Default)]
struct SessionShard {
    map: HashMap<u128, Session>,
}

const SHARD_CAP: usize = MAX_SESSIONS / SHARDS;

/// A session id or token as the 32 lowercase hex digits it is sent as.
pub(crate) fn hex128(v: u128) -> String {
    format!("{v:032x}")
}

/// The value of 32 lowercase hex digits (as [`hex128`] writes them, so that one id has one shard), `None` for
/// anything else.
pub(crate) fn parse_hex128(s: &str) -> Option<u128> {
    if s.len() != 32 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    u128::from_str_radix(s, 16).ok()
}

impl Sessions {
    pub fn new() -> Sessions {
        Sessions {
            map: Sharded::new(),
        }
    }

    /// Issues a fresh CSRF token to session `sid` (as sent in the cookie), opening a new session when `sid` is
    /// none or unknown. Returns (session id, token).
    pub fn issue(&self, sid: Option<&str>, now: Instant) -> (u128, u128) {
        let mut rng = rand::rng();
        let token: u128 = rng.random();
        if let Some(key) = sid
            && let Some(id) = parse_hex128(key)
            && let Some(s) = self.map.lock(key).map.get_mut(&id)
        {
            s.csrf = token;
            s.last_seen = now;
            return (id, token);
        }
        let id: u128 = rng.random();
        let key = hex128(id);
        let mut shard = self.map.lock(&key);
        if shard.map.len() >= SHARD_CAP {
            shard.make_room(now);
        }
        shard.map.insert(
            id,
            Session {
                csrf: token,
                user: None,
                last_seen: now,
            },
        );
        (id, token)
    }

    /// Whether `token` is the one last issued to session `sid` (`false` for an unknown session).
    pub fn token_ok(&self, sid: &str, token: &str, now: Instant) -> bool {
        let (Some(id), Some(token)) = (parse_hex128(sid), parse_hex128(token)) else {
            return false;
        };
        match self.map.lock(sid).map.get_mut(&id) {
            Some(s) => {
                s.last_seen = now;
                s.csrf == token
            }
            None => false,
        }
    }

    /// Logs `user` in on session `sid` (nothing if the session has gone meanwhile).
    pub fn log_in(&self, sid: &str, user: &str) {
        if let Some(id) = parse_hex128(sid)
            && let Some(s) = self.map.lock(sid).map.get_mut(&id)
        {
            s.user = Some(user.into());
        }
    }

    /// Who is logged in on session `sid`.
    pub fn user(&self, sid: &str, now: Instant) -> Option<Box<str>> {
        let id = parse_hex128(sid)?;
        let mut shard = self.map.lock(sid);
        let s = shard.map.get_mut(&id)?;
        s.last_seen = now;
        s.user.clone()
    }

    /// Sessions kept now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map
            .shards()
            .iter()
            .map(|s| {
                s.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .map
                    .len()
            })
            .sum()
    }
}

impl SessionShard {
    /// Drops the sessions idle for [`SESSION_IDLE`]; if that leaves the shard more than three quarters full, drops
    /// the least recently seen until it is three quarters full.
    fn make_room(&mut self, now: Instant) {
        self.map
            .retain(|_, s| now.saturating_duration_since(s.last_seen) < SESSION_IDLE);
        let keep = SHARD_CAP * 3 / 4;
        if self.map.len() > keep {
            let mut seen: Vec<Instant> = self.map.values().map(|s| s.last_seen).collect();
            let drop = seen.len() - keep;
            let (_, &mut cut, _) = seen.select_nth_unstable(drop - 1);
            let mut dropped = 0;
            self.map.retain(|_, s| {
                if dropped < drop && s.last_seen <= cut {
                    dropped += 1;
                    false
                } else {
                    true
                }
            });
        }
    }
}

/// What the shop served, for `GET /api/debug/shop`: what a test reads to check a scenario from the server's side.
#[derive(Default)]
pub(crate) struct ShopCounters {
    pub item_lists: AtomicU64,
    pub cart_adds: AtomicU64,
    pub cart_adds_unlisted: AtomicU64,
    pub login_pages: AtomicU64,
    pub form_posts: AtomicU64,
    pub form_posts_bad_token: AtomicU64,
    pub form_logins: AtomicU64,
    pub uploads: AtomicU64,
}

/// Adds one to a counter.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}
