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

/// How many of the first `total` users (or iterations) of a plan whose classes have `weights` are dealt to
/// `segment`: what the segment runs while the whole plan runs `total` users (ramp-downs undo the deal, so this
/// holds at any time), or its part of the whole schedule's first `total` iterations. The shares of all the
/// segments add up to `total`.
///
/// The [`Mix`] repeats itself every Σweights picks, each class c picked `weights[c]` times in a round, so the
/// count of each class needs only the picks of the last, partial round.
pub fn dealt(segment: Segment, weights: &[u32], total: u64) -> u64 {
    let round: u64 = weights.iter().map(|&w| u64::from(w)).sum::<u64>().max(1);
    let mut of_class: Vec<u64> = weights
        .iter()
        .map(|&w| total / round * u64::from(w))
        .collect();
    let mut mix = Mix::new(weights.iter().copied());
    for _ in 0..total % round {
        if let Some(n) = of_class.get_mut(mix.next_class()) {
            *n += 1;
        }
    }
    let n = segment.count;
    if of_class.is_empty() {
        return segment.share(total);
    }
    of_class
        .iter()
        .enumerate()
        .map(|(c, &users)| {
            // The n-th of class c is dealt to segment (n + c) mod N: segment I has the n ≡ I − c (mod N).
            let index = (segment.index + n - c as u64 % n) % n;
            Segment { index, count: n }.share(users)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_repeats_every_round_of_the_weights() {
        for weights in [
            vec![1u32],
            vec![3, 1],
            vec![5, 3, 2],
            vec![2, 2],
            vec![7, 1, 1, 4],
        ] {
            let round: u32 = weights.iter().sum();
            let mut mix = Mix::new(weights.iter().copied());
            let first: Vec<usize> = (0..round).map(|_| mix.next_class()).collect();
            for (c, &w) in weights.iter().enumerate() {
                assert_eq!(first.iter().filter(|&&k| k == c).count() as u32, w);
            }
            for _ in 0..5 {
                let again: Vec<usize> = (0..round).map(|_| mix.next_class()).collect();
                assert_eq!(again, first, "{weights:?}");
            }
        }
    }

    #[test]
    fn dealt_counts_what_dealing_one_by_one_gives_and_the_segments_add_up() {
        for weights in [vec![1u32], vec![3, 1], vec![5, 3, 2], vec![1, 1, 1, 1, 1]] {
            for n in [1u64, 2, 3, 4, 7] {
                let mut deals: Vec<(Mix, Deal)> = (0..n)
                    .map(|i| {
                        (
                            Mix::new(weights.iter().copied()),
                            Deal::new(Some(Segment { index: i, count: n }), weights.len()),
                        )
                    })
                    .collect();
                let mut by_hand = vec![0u64; n as usize];
                for total in 0..=120u64 {
                    let shares: Vec<u64> = (0..n)
                        .map(|i| dealt(Segment { index: i, count: n }, &weights, total))
                        .collect();
                    assert_eq!(shares, by_hand, "{weights:?} N={n} total={total}");
                    assert_eq!(shares.iter().sum::<u64>(), total);
                    for (i, (mix, deal)) in deals.iter_mut().enumerate() {
                        by_hand[i] += u64::from(deal.deal(mix.next_class()));
                    }
                }
            }
        }
    }
}
