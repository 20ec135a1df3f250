//! `--segment I/N`: the I-th of N equal parts of a plan, so N machines (or Kubernetes pods, I being
//! `JOB_COMPLETION_INDEX`) together run exactly the plan, as k6's execution segments do.
//!
//! The partition makes every count add up exactly and keeps user numbers apart:
//! - users (a ramp or stages): every segment walks the *whole* plan's users, at the whole plan's moments, with
//!   the whole plan's numbers and classes, and starts (or stops) only the users dealt to it ([`super::Deal`]:
//!   the n-th user of class c goes to segment (n + c) mod N). So the users of the N segments are, user by
//!   user, the users of one run: the same `{{vu}}` numbers, classes and start times. Each segment holds its
//!   share of every class within one user (⌊(U+N−1−I)/N⌋ of U users without classes); its reported users and
//!   stage targets are those it is dealt, and its spawn rates 1/N of the whole plan's;
//! - an arrival rate: every segment walks the whole schedule and starts the iterations dealt to it the same
//!   way (the n-th iteration of class c to segment (n + c) mod N; without classes, the k ≡ I mod N), at their
//!   global times, with the classes of one run; its `max_users` splits as ⌊(U+N−1−I)/N⌋, its users numbered
//!   I+1, I+1+N, …, and its rate is 1/N of the whole;
//! - `--iterations M`: segment I runs those of the first M dealt to it (⌊(M+N−1−I)/N⌋ without classes);
//! - test data: a user takes its row by its number (`unique`: user n has row n−1; `round_robin`: row
//!   (n−1) mod rows), so the segments use the rows one run would, and never the same `unique` row.

use std::str::FromStr;

pub use crate::results::Segment;

use super::mix::dealt;
use super::{Load, RunPlan};
use crate::error::Error;

/// Under a segment, the whole plan's load: its profile, most users at once and `--iterations`.
#[derive(Debug, Clone, PartialEq)]
pub struct WholeLoad {
    pub load: Load,
    pub users: u64,
    pub iterations: Option<u64>,
}

/// The most segments a plan may be cut into.
pub const MAX_SEGMENTS: u64 = 100_000;

impl FromStr for Segment {
    type Err = String;

    fn from_str(s: &str) -> Result<Segment, String> {
        let bad = || {
            format!(
                "`{s}` is not a segment: write I/N with 0 <= I < N, e.g. 0/4 (the first of four)"
            )
        };
        let (i, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let index: u64 = i.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        if count > MAX_SEGMENTS {
            return Err(format!("`{s}`: at most {MAX_SEGMENTS} segments"));
        }
        Ok(Segment { index, count })
    }
}

impl Segment {
    /// This segment's share of `total` things numbered 0..total taken in turn: how many k < total have
    /// k ≡ index (mod count). The shares of all segments add up to `total`.
    pub fn share(self, total: u64) -> u64 {
        (total + (self.count - 1 - self.index)) / self.count
    }

    /// The whole plan's number (from 1) of this segment's `local`-th user (from 1).
    pub fn global_user(self, local: u64) -> u64 {
        self.index + 1 + local.saturating_sub(1).saturating_mul(self.count)
    }

    /// The whole segment (`0/1`), the same as no segment.
    pub fn is_whole(self) -> bool {
        self.count == 1
    }
}

impl RunPlan {
    /// This plan's part `segment` (see the module documentation).
    pub fn for_segment(mut self, segment: Segment) -> Result<RunPlan, Error> {
        if segment.is_whole() {
            return Ok(self);
        }
        let n = segment.count as f64;
        let empty = |what: String| {
            Error::Usage(format!(
                "segment {segment} would have no users: {what} cannot be split into {} segments (use fewer)",
                segment.count
            ))
        };
        self.whole = Some(WholeLoad {
            load: self.load.clone(),
            users: self.users,
            iterations: self.max_iterations,
        });
        let weights: Vec<u32> = self.classes.iter().map(|c| c.weight).collect();
        let dealt_users = |users: u64| dealt(segment, &weights, users);
        match &mut self.load {
            Load::Ramp { spawn_rate } => {
                let users = dealt_users(self.users);
                if users == 0 {
                    return Err(empty(format!("{} users", self.users)));
                }
                *spawn_rate /= n;
                self.users = users;
            }
            Load::Stages(stages) => {
                for s in stages.iter_mut() {
                    s.users = dealt_users(s.users);
                    s.spawn_rate = s.spawn_rate.map(|r| r / n);
                }
                let users = stages.iter().map(|s| s.users).max().unwrap_or(0);
                if users == 0 {
                    return Err(empty(format!("stages up to {} users", self.users)));
                }
                self.users = users;
            }
            Load::Arrival(_) => {
                let users = segment.share(self.users);
                if users == 0 {
                    return Err(empty(format!("max_users = {}", self.users)));
                }
                self.users = users;
            }
        }
        self.max_iterations = self.max_iterations.map(|m| dealt(segment, &weights, m));
        self.segment = Some(segment);
        Ok(self)
    }

    /// The number `{{vu}}` renders for the `local`-th user of this process's arrival rate: the whole plan's
    /// number under a segment. (A ramp's or stages' users take theirs from the walk of the whole plan.)
    pub fn global_user(&self, local: u64) -> u64 {
        self.segment.map_or(local, |s| s.global_user(local))
    }

    /// The numbers of the first `n` users this process starts (the whole plan's numbers under a segment).
    pub fn first_users(&self, n: usize) -> Vec<u64> {
        match (&self.load, self.segment) {
            (_, None) => (1..=n as u64).collect(),
            (Load::Arrival(_), Some(seg)) => (1..=n as u64).map(|l| seg.global_user(l)).collect(),
            (_, Some(seg)) => {
                let mut mix = super::Mix::new(self.classes.iter().map(|c| c.weight));
                let mut deal = super::Deal::new(Some(seg), self.classes.len());
                (1..=self.whole.as_ref().map_or(self.users, |w| w.users))
                    .filter(|_| deal.deal(mix.next_class()))
                    .take(n)
                    .collect()
            }
        }
    }

    /// The share of the whole plan's arrival rate this process starts (1 without a segment).
    pub fn rate_share(&self) -> f64 {
        self.segment.map_or(1.0, |s| 1.0 / s.count as f64)
    }

    /// This process's share of the whole schedule's first `total` iterations (`total` without a segment):
    /// those dealt to its segment.
    pub fn iteration_share(&self, total: u64) -> u64 {
        match self.segment {
            Some(s) => {
                let weights: Vec<u32> = self.classes.iter().map(|c| c.weight).collect();
                dealt(s, &weights, total)
            }
            None => total,
        }
    }

    /// The whole plan's `--iterations` (this process's own without a segment).
    pub fn whole_iterations(&self) -> Option<u64> {
        self.whole
            .as_ref()
            .map_or(self.max_iterations, |w| w.iterations)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn seg(index: u64, count: u64) -> Segment {
        Segment { index, count }
    }

    #[test]
    fn segments_parse_and_refuse_nonsense() {
        assert_eq!("0/4".parse::<Segment>(), Ok(seg(0, 4)));
        assert_eq!(" 3 / 4 ".parse::<Segment>(), Ok(seg(3, 4)));
        for bad in ["4/4", "1/0", "-1/4", "a/4", "3", "", "1/2/3"] {
            assert!(bad.parse::<Segment>().is_err(), "{bad}");
        }
        assert_eq!(seg(2, 5).to_string(), "2/5");
    }

    #[test]
    fn shares_add_up_exactly_and_user_numbers_cover_one_to_u_once() {
        for users in [1u64, 2, 3, 7, 10, 99, 100, 101, 1000] {
            for n in [1u64, 2, 3, 4, 7, 10, 16] {
                let shares: Vec<u64> = (0..n).map(|i| seg(i, n).share(users)).collect();
                assert_eq!(shares.iter().sum::<u64>(), users, "U={users} N={n}");
                // Each share is floor((U+N-1-I)/N), and they differ by at most one.
                for (i, s) in shares.iter().enumerate() {
                    assert_eq!(*s, (users + n - 1 - i as u64) / n);
                }
                let (lo, hi) = (shares.iter().min(), shares.iter().max());
                assert!(hi.unwrap() - lo.unwrap() <= 1);
                let mut seen = BTreeSet::new();
                for i in 0..n {
                    let s = seg(i, n);
                    for local in 1..=s.share(users) {
                        assert!(seen.insert(s.global_user(local)), "user twice");
                    }
                }
                assert_eq!(seen, (1..=users).collect::<BTreeSet<_>>());
            }
        }
    }
}
