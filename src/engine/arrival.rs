//! The open model: iterations start on the arrival rate's schedule, whatever the response times.
//!
//! Each worker runs one *lane* of the schedule: the iterations are dealt to the lanes (and, under
//! `--segment`, first to the segments) class by class, as [`LaneIterations`] says, so the lanes together keep the
//! whole rate with no message per iteration crossing a
//! thread. A lane owns its users (a share of `max_users`): an iteration due now goes to an idle user, or to a
//! new one while the lane is under its share; otherwise it waits in the lane's queue for the next user to
//! finish, at most `queue_timeout`, after which it is dropped. Its task's latency includes that wait (see
//! [`Vu::iteration`]), so time spent waiting for a user — because the server is slow and every user is busy —
//! shows in the percentiles instead of vanishing (coordinated omission, corrected as wrk2 does). The lane's
//! own lateness (a timer wakes up to a millisecond late; a saturated loadgen falls further behind) is not
//! added: it is loadgen's scheduler lag, reported in the time series and judged by the run's validity.
//!
//! With user classes, iteration k of the whole schedule takes its class in turn by weight ([`Mix`]), the same in
//! every lane and segment, and runs on a user of that class: the lane keeps a pool per class (idle users, queue,
//! and a share of the lane's users by weight, at least one), as k6 gives each scenario its own users.
//!
//! At the stop (end of the duration, or an interrupt) the lane starts nothing more, counts what is still
//! queued as dropped, lets running iterations finish, and runs `on_stop` for every user with an open session.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use tokio::task::JoinSet;
use tokio::time::sleep_until;
use tokio_util::sync::CancellationToken;

use super::client::Client;
use super::shared::Shared;
use super::user::Vu;
use super::walk::Start;
use crate::plan::{Arrival, Deal, Load, Mix, Segment};

/// Iterations started per wake-up at most, so the stop and the users' returns are seen between batches.
const BATCH: usize = 256;

/// One lane of an arrival rate.
pub struct Lane {
    pub index: u64,
    pub lanes: u64,
    /// The most users this lane may have.
    pub users: u64,
    /// The run's start: iteration times count from here.
    pub started: Instant,
}

impl Lane {
    /// This lane's share of `users` when they are spread over `lanes`.
    pub fn share(users: u64, lanes: u64, index: u64) -> u64 {
        users / lanes + u64::from(index < users % lanes)
    }
}

/// `users` split by `weights` (largest remainders), at least one each.
pub fn split(users: u64, weights: &[u32]) -> Vec<u64> {
    let total: u64 = weights.iter().map(|&w| u64::from(w)).sum::<u64>().max(1);
    let mut out: Vec<u64> = weights
        .iter()
        .map(|&w| users * u64::from(w) / total)
        .collect();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(users * u64::from(weights[i]) % total));
    let given: u64 = out.iter().sum();
    for &i in order.iter().take(users.saturating_sub(given) as usize) {
        out[i] += 1;
    }
    out.iter_mut().for_each(|n| *n = (*n).max(1));
    out
}

/// The iterations of the whole schedule (numbered from 0) that one lane starts, with their classes: each takes
/// its class in turn by weight ([`Mix`]), is dealt to a segment ([`Deal`]: the n-th of class c to segment
/// (n + c) mod N), and within the segment to a lane the same way. So the lanes of all the segments together start
/// every iteration once, with the classes of one run, and each lane has its share of every class within two.
pub struct LaneIterations {
    mix: Mix,
    segment: Deal,
    lane: Deal,
    /// The next iteration of the whole schedule, and the first past its end.
    k: u64,
    end: u64,
}

impl LaneIterations {
    pub fn new(weights: &[u32], segment: Option<Segment>, lane: Segment, end: u64) -> Self {
        LaneIterations {
            mix: Mix::new(weights.iter().copied()),
            segment: Deal::new(segment, weights.len()),
            lane: Deal::new(Some(lane), weights.len()),
            k: 0,
            end,
        }
    }
}

impl Iterator for LaneIterations {
    type Item = (u64, usize);

    fn next(&mut self) -> Option<(u64, usize)> {
        while self.k < self.end {
            let k = self.k;
            self.k += 1;
            let class = self.mix.next_class();
            if self.segment.deal(class) && self.lane.deal(class) {
                return Some((k, class));
            }
        }
        None
    }
}

/// One class's users and waiting iterations in a lane.
struct Pool {
    idle: Vec<Vu>,
    queue: VecDeque<Instant>,
    created: u64,
    cap: u64,
}

/// Removes the iterations at the front of `queue` that have waited `timeout` or longer; returns how many.
fn expire(queue: &mut VecDeque<Instant>, timeout: std::time::Duration) -> u64 {
    let now = Instant::now();
    let mut dropped = 0;
    while queue
        .front()
        .is_some_and(|q| now.saturating_duration_since(*q) >= timeout)
    {
        queue.pop_front();
        dropped += 1;
    }
    dropped
}

/// Runs `lane` until the stop, then until its users have finished; returns how many users were aborted.
pub async fn run(
    shared: Arc<Shared>,
    lane: Lane,
    client: impl Fn() -> Client,
    stop: CancellationToken,
    abort: CancellationToken,
) -> usize {
    let Load::Arrival(arrival) = &shared.plan.load else {
        return 0;
    };
    let arrival: &Arrival = arrival;
    let recorder = shared.recorder.clone();
    let deadline = lane.started + shared.plan.duration;
    let queue_timeout = arrival.queue_timeout;
    // Every lane walks the whole schedule and starts the iterations dealt to its segment, then to it.
    let weights: Vec<u32> = shared.plan.classes.iter().map(|c| c.weight).collect();
    let whole = arrival
        .due_by(shared.plan.duration)
        .ceil()
        .min(u64::MAX as f64) as u64;
    let lane_segment = Segment {
        index: lane.index,
        count: lane.lanes,
    };
    let cap = |whole: u64| {
        shared
            .plan
            .whole_iterations()
            .map_or(whole, |m| m.min(whole))
    };
    // The schedule the lane follows: the plan's, from the start; after a change from the live UI (issue 19),
    // the new constant rate from the moment it was made, walked from its own iteration 0.
    let mut schedule = (
        arrival.clone(),
        lane.started,
        LaneIterations::new(&weights, shared.plan.segment, lane_segment, cap(whole)),
    );
    let due_next = |(arrival, base, iterations): &mut (Arrival, Instant, LaneIterations)| {
        iterations.next().and_then(|(k, class)| {
            arrival
                .start_of(k)
                .map(|d| (*base + d, class))
                .filter(|(t, _)| *t < deadline)
        })
    };
    let mut manual = shared.manual_rate.subscribe();
    let mut next = due_next(&mut schedule);
    let mut pools: Vec<Pool> = split(lane.users, &weights)
        .into_iter()
        .map(|cap| Pool {
            idle: Vec::new(),
            queue: VecDeque::new(),
            created: 0,
            cap,
        })
        .collect();
    // An iteration returns its user; a finishing user returns nothing.
    let mut busy: JoinSet<Option<Vu>> = JoinSet::new();
    let mut created = 0u64;
    let mut stopping = false;
    let dropped = |n: u64| {
        recorder.dropped(n);
        shared.iterations_finished(n);
    };

    let start = |busy: &mut JoinSet<Option<Vu>>, mut vu: Vu, due: Instant| {
        recorder.iteration_started();
        busy.spawn(async move {
            vu.iteration(due).await;
            Some(vu)
        });
    };
    let finish = |busy: &mut JoinSet<Option<Vu>>, mut vu: Vu| {
        busy.spawn(async move {
            vu.finish().await;
            None
        });
    };

    loop {
        if stopping && busy.is_empty() {
            break;
        }
        let next_sleep = next.map(|(t, _)| tokio::time::Instant::from_std(t));
        let expiry = pools
            .iter()
            .filter_map(|p| p.queue.front())
            .min()
            .map(|q| tokio::time::Instant::from_std(*q + queue_timeout));
        tokio::select! {
            biased;
            _ = abort.cancelled() => {
                let aborted = busy.len();
                busy.abort_all();
                while busy.join_next().await.is_some() {}
                return aborted;
            }
            _ = stop.cancelled(), if !stopping => {
                stopping = true;
                next = None;
                for pool in &mut pools {
                    dropped(pool.queue.len() as u64);
                    pool.queue.clear();
                    for vu in pool.idle.drain(..) {
                        finish(&mut busy, vu);
                    }
                }
            }
            Some(res) = busy.join_next(), if !busy.is_empty() => {
                let vu = match res {
                    Ok(Some(vu)) => vu,
                    Ok(None) => continue,
                    Err(e) => {
                        if e.is_panic() {
                            tracing::error!("a virtual user panicked: {e}");
                        }
                        continue;
                    }
                };
                if stopping {
                    finish(&mut busy, vu);
                    continue;
                }
                // The oldest waiting iteration of its class still within its queue timeout takes this user.
                let pool = &mut pools[vu.class];
                dropped(expire(&mut pool.queue, queue_timeout));
                match pool.queue.pop_front() {
                    Some(due) => start(&mut busy, vu, due),
                    None => pool.idle.push(vu),
                }
            }
            Ok(()) = manual.changed(), if !stopping => {
                let change = *manual.borrow_and_update();
                if let Some((at, rate)) = change {
                    let rest = deadline.saturating_duration_since(at).as_secs_f64();
                    schedule = (
                        Arrival {
                            stages: vec![crate::plan::RateStage { duration: std::time::Duration::ZERO, rate }],
                            queue_timeout,
                        },
                        at,
                        LaneIterations::new(
                            &weights,
                            shared.plan.segment,
                            lane_segment,
                            cap((rate * rest).ceil().min(u64::MAX as f64) as u64),
                        ),
                    );
                    next = due_next(&mut schedule);
                }
            }
            _ = sleep_until(expiry.unwrap_or_else(tokio::time::Instant::now)), if expiry.is_some() => {
                for pool in &mut pools {
                    dropped(expire(&mut pool.queue, queue_timeout));
                }
            }
            _ = sleep_until(next_sleep.unwrap_or_else(tokio::time::Instant::now)), if next_sleep.is_some() => {
                let now = Instant::now();
                let mut batch = 0;
                while let Some((_, class)) = next.filter(|(d, _)| *d <= now) {
                    if batch == BATCH {
                        break;
                    }
                    batch += 1;
                    // In line from now: a timer wakes up to a millisecond late, and a lane that falls further
                    // behind is loadgen's own lag (reported, and judged by the run's validity), not the server's.
                    let due = now;
                    let pool = &mut pools[class];
                    if let Some(vu) = pool.idle.pop() {
                        start(&mut busy, vu, due);
                    } else if pool.created < pool.cap {
                        pool.created += 1;
                        created += 1;
                        // Lane l's users are l+1, l+1+k, l+1+2k, …: numbered 1..=max_users across the lanes.
                        let id = lane.index + 1 + (created - 1) * lane.lanes;
                        let user = Start {
                            local: id,
                            number: shared.plan.global_user(id),
                            class,
                        };
                        let vu = Vu::new(user, shared.clone(), client(), stop.clone());
                        start(&mut busy, vu, due);
                    } else {
                        pool.queue.push_back(due);
                    }
                    next = due_next(&mut schedule);
                }
            }
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_of_all_segments_start_every_iteration_once_with_the_classes_of_one_run() {
        for weights in [vec![1u32], vec![1, 1], vec![3, 1], vec![5, 3, 2]] {
            let mut mix = Mix::new(weights.iter().copied());
            let whole: Vec<usize> = (0..500).map(|_| mix.next_class()).collect();
            for (segments, lanes) in [(1u64, 1u64), (1, 2), (2, 2), (3, 2), (4, 3)] {
                let mut seen = vec![None; whole.len()];
                for s in 0..segments {
                    for l in 0..lanes {
                        let segment = (segments > 1).then_some(Segment {
                            index: s,
                            count: segments,
                        });
                        let lane = Segment {
                            index: l,
                            count: lanes,
                        };
                        let mine: Vec<(u64, usize)> =
                            LaneIterations::new(&weights, segment, lane, 500).collect();
                        for &(k, class) in &mine {
                            assert_eq!(class, whole[k as usize], "iteration {k}'s class");
                            assert!(seen[k as usize].replace((s, l)).is_none(), "{k} twice");
                        }
                        // Every prefix of the lane's iterations has its share of each class, within two (dealt twice).
                        let total: u32 = weights.iter().sum();
                        for (c, &w) in weights.iter().enumerate() {
                            let mut count = 0.0;
                            for (i, &(_, class)) in mine.iter().enumerate() {
                                count += f64::from(u8::from(class == c));
                                let exact = (i + 1) as f64 * f64::from(w) / f64::from(total);
                                assert!(
                                    (count - exact).abs() < 2.0,
                                    "{weights:?} {segments}x{lanes}: lane {s}/{l} class {c}: {count} vs {exact}"
                                );
                            }
                        }
                    }
                }
                assert!(
                    seen.iter().all(Option::is_some),
                    "an iteration was not started"
                );
            }
        }
    }

    #[test]
    fn users_split_by_weight_with_at_least_one_each() {
        assert_eq!(split(20, &[3, 1]), [15, 5]);
        assert_eq!(split(10, &[1, 1, 1]), [4, 3, 3]);
        assert_eq!(split(7, &[1]), [7]);
        // Too few users for the weights: every class still gets one.
        assert_eq!(split(2, &[9, 1]), [2, 1]);
        assert_eq!(split(1, &[1, 1, 1]), [1, 1, 1]);
    }
}
