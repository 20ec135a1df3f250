//! Who gets which user: classes handed out by weight ([`Mix`]), and a plan's users dealt to its segments
//! ([`Deal`]), so that the users of N segments together are exactly the users of one run.

use super::Segment;

/// Hands out user classes by weight so that any number of picks is as close to the weights as whole users
/// can be (each class within one of its exact share): nginx's smooth weighted round robin.
#[derive(Debug, Clone)]
pub struct Mix {
    weights: Vec<i64>,
    current: Vec<i64>,
}

impl Mix {
    pub fn new(weights: impl IntoIterator<Item = u32>) -> Mix {
        let weights: Vec<i64> = weights.into_iter().map(i64::from).collect();
        Mix {
            current: vec![0; weights.len()],
            weights,
        }
    }

    /// The next class (its index).
    pub fn next_class(&mut self) -> usize {
        if self.weights.is_empty() {
            return 0;
        }
        let total: i64 = self.weights.iter().sum();
        for (c, w) in self.current.iter_mut().zip(&self.weights) {
            *c += w;
        }
        // The first of the largest, so ties go in class order.
        let mut best = 0;
        for (i, c) in self.current.iter().enumerate() {
            if *c > self.current[best] {
                best = i;
            }
        }
        self.current[best] -= total;
        best
    }

    /// Takes back the last class handed out (`class`), as if it had not been: picks undone newest first
    /// leave the mix as it was.
    pub fn undo(&mut self, class: usize) {
        let total: i64 = self.weights.iter().sum();
        if let Some(c) = self.current.get_mut(class) {
            *c += total;
        }
        for (c, w) in self.current.iter_mut().zip(&self.weights) {
            *c -= w;
        }
    }
}

/// Deals the whole plan's users to the segments of `--segment I/N` class by class, as cards: the n-th user
/// (from 0) of class c goes to segment (n + c) mod N. Every segment walks the same plan and deals the same
/// way, so each user belongs to exactly one segment, and each segment holds its share of every class
/// (within one user) at any number of users; the offset c spreads the first users of small classes. Taking
/// users back newest first (a ramp-down) undoes the deal, so a later ramp-up deals them as before.
///
/// Without a segment (or with `0/1`) every user is dealt to this process.
#[derive(Debug, Clone)]
pub struct Deal {
    segment: Segment,
    /// Users of each class dealt so far (and not taken back).
    dealt: Vec<u64>,
}

impl Deal {
    pub fn new(segment: Option<Segment>, classes: usize) -> Deal {
        Deal {
            segment: segment.unwrap_or(Segment { index: 0, count: 1 }),
            dealt: vec![0; classes.max(1)],
        }
    }

    /// Whether the next user of `class` would be this segment's, without dealing it.
    pub fn peek(&self, class: usize) -> bool {
        let n = self.dealt.get(class).copied().unwrap_or(0);
        (n + class as u64) % self.segment.count == self.segment.index
    }

    /// Deals the next user of `class`: true when it is this segment's.
    pub fn deal(&mut self, class: usize) -> bool {
        let ours = self.peek(class);
        if let Some(n) = self.dealt.get_mut(class) {
            *n += 1;
        }
        ours
    }

    /// Takes back the newest user dealt of `class`.
    pub fn undo(&mut self, class: usize) {
        if let Some(n) = self.dealt.get_mut(class) {
            *n = n.saturating_sub(1);
        }
    }
}

/// How many of the first `users` users of a plan whose classes have `weights` are dealt to `segment`: what
/// the segment runs while the whole plan runs `users` (ramp-downs undo the deal, so this holds at any time).
pub fn dealt_users(segment: Segment, weights: &[u32], users: u64) -> u64 {
    let mut mix = Mix::new(weights.iter().copied());
    let mut deal = Deal::new(Some(segment), weights.len());
    (0..users).filter(|_| deal.deal(mix.next_class())).count() as u64
}
