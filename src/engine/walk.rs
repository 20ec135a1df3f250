//! The walk of a ramp's or stages' users: which user to start or stop as the plan's target moves.
//!
//! Users form a stack: a ramp-up pushes new users, a ramp-down stops the newest first. The user at position
//! p takes its class from the [`Mix`] (so the classes of any number of users are as close to the weights as
//! whole users can be) and its number, which `{{vu}}` renders and which picks its data row, from a counter of
//! every user the plan has started (never reused, so a user started after a ramp-down is a new user).
//!
//! Under `--segment I/N` the walk is the whole plan's: every segment pushes and pops the same users at the
//! same moments, and starts or stops only those [`Deal`]t to it, so the N segments together run, user by
//! user, the users of one run.
//!
//! [`Schedule`] is the scheduler's timing around the walk: when to look at the plan's target again and how far
//! to move at once. It takes the time from tokio's clock, so its tests run it under paused time: the shape of
//! a ramp or of stages is checked to the millisecond without depending on how busy the machine is.

use std::time::Duration;

use tokio::time::Instant;

use crate::plan::{Deal, Mix, RunPlan};

/// A user to start: its number in this process (from 1, which spreads users over the workers), its number in
/// the whole plan (what `{{vu}}` renders) and its class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Start {
    pub local: u64,
    pub number: u64,
    pub class: usize,
}

/// The users of a ramp or stages, each running one a `T` (its stop handle) when it is this process's.
pub struct UserWalk<T> {
    mix: Mix,
    deal: Deal,
    /// Each position's class, and its handle when this process runs it.
    stack: Vec<(usize, Option<T>)>,
    /// Users the whole plan has started.
    numbered: u64,
    /// Users this process has started.
    started: u64,
    /// Users of the stack this process runs.
    ours: u64,
}

impl<T> UserWalk<T> {
    pub fn new(plan: &RunPlan) -> UserWalk<T> {
        UserWalk {
            mix: Mix::new(plan.classes.iter().map(|c| c.weight)),
            deal: Deal::new(plan.segment, plan.classes.len()),
            stack: Vec::new(),
            numbered: 0,
            started: 0,
            ours: 0,
        }
    }

    /// Moves toward `target` users of the whole plan: pops the newest users past it (calling `stop` with the
    /// handles of this process's), and pushes users up to it, calling `start` for this process's, at most
    /// `budget` of them. Returns true once the stack is at `target`.
    pub fn toward(
        &mut self,
        target: u64,
        budget: u64,
        mut start: impl FnMut(Start) -> T,
        mut stop: impl FnMut(T),
    ) -> bool {
        while self.stack.len() as u64 > target {
            let Some((class, handle)) = self.stack.pop() else {
                break;
            };
            self.mix.undo(class);
            self.deal.undo(class);
            if let Some(h) = handle {
                self.ours -= 1;
                stop(h);
            }
        }
        let mut spent = 0;
        while (self.stack.len() as u64) < target {
            let class = self.mix.next_class();
            if self.deal.peek(class) && spent == budget {
                self.mix.undo(class);
                return false;
            }
            self.numbered += 1;
            let handle = self.deal.deal(class).then(|| {
                spent += 1;
                self.started += 1;
                self.ours += 1;
                start(Start {
                    local: self.started,
                    number: self.numbered,
                    class,
                })
            });
            self.stack.push((class, handle));
        }
        true
    }

    /// The users of this process among the first `target` of the whole plan: its own target.
    pub fn own_target(&self, target: u64) -> u64 {
        let len = self.stack.len() as u64;
        if target <= len {
            return self.stack[..target as usize]
                .iter()
                .filter(|(_, h)| h.is_some())
                .count() as u64;
        }
        let (mut mix, mut deal) = (self.mix.clone(), self.deal.clone());
        self.ours
            + (len..target)
                .filter(|_| deal.deal(mix.next_class()))
                .count() as u64
    }

    /// Users of this process running now.
    #[cfg(test)]
    pub fn running(&self) -> u64 {
        self.ours
    }
}

/// When the users of a ramp or stages move, and moving them: the scheduler wakes at [`Schedule::next`] and calls
/// [`Schedule::step`].
pub struct Schedule<T> {
    users: UserWalk<T>,
    started: Instant,
    next: Option<Instant>,
    /// Issue 19 item 2: a change made from the live UI, which replaces the plan's target from then on.
    manual: Option<ManualMove>,
}

/// A move to `users` at `spawn_rate` users per second, from `from` users at `at`, held once reached.
#[derive(Debug, Clone, Copy)]
struct ManualMove {
    at: Instant,
    from: u64,
    stage: crate::plan::Stage,
}

impl ManualMove {
    fn target(&self, now: Instant) -> u64 {
        let tau = now.saturating_duration_since(self.at);
        self.stage.users_at(self.from as f64, tau).floor().max(0.0) as u64
    }

    /// When the target next moves by a user after `now` (`None` once it is reached).
    fn next_change(&self, now: Instant) -> Option<Instant> {
        let target = self.target(now);
        if target == self.stage.users {
            return None;
        }
        let rate = self.stage.spawn_rate.unwrap_or(1.0);
        let moved = target.abs_diff(self.from) + 1;
        Duration::try_from_secs_f64(moved as f64 / rate)
            .ok()
            .map(|d| (self.at + d).max(now))
    }
}

impl<T> Schedule<T> {
    /// Users started per step at most, so that the deadline and interrupts are seen between batches.
    pub const BATCH: u64 = 256;

    /// The schedule of `plan`'s users for a run started at `started`; its first step is due at once.
    pub fn new(plan: &RunPlan, started: Instant) -> Schedule<T> {
        Schedule {
            users: UserWalk::new(plan),
            started,
            next: Some(started),
            manual: None,
        }
    }

    /// From `now` on, moves to `users` at `spawn_rate` users per second (above 0) from the users the walk
    /// holds, and holds there: the plan's target no longer counts. The next step is due at once.
    pub fn steer(&mut self, now: Instant, users: u64, spawn_rate: f64) {
        self.manual = Some(ManualMove {
            at: now,
            from: self.users.stack.len() as u64,
            stage: crate::plan::Stage {
                duration: Duration::MAX,
                users,
                spawn_rate: Some(spawn_rate),
            },
        });
        self.next = Some(now);
    }

    /// When the next step is due; `None` once the plan's target no longer changes.
    pub fn next(&self) -> Option<Instant> {
        self.next
    }

    /// Moves the users toward the plan's target at `now`, a batch at most (see [`UserWalk::toward`]): a step
    /// late because the runtime was busy catches up on the users due by now. Returns this process's target.
    /// The next step is due at once if the batch did not get there, else when the target may next change.
    pub fn step(
        &mut self,
        plan: &RunPlan,
        now: Instant,
        start: impl FnMut(Start) -> T,
        stop: impl FnMut(T),
    ) -> u64 {
        let t = now.saturating_duration_since(self.started);
        let target = match &self.manual {
            Some(m) => m.target(now),
            None => plan.target_users(t),
        };
        let reached = self.users.toward(target, Self::BATCH, start, stop);
        self.next = match (&self.manual, reached) {
            (_, false) => Some(now),
            (Some(m), true) => m.next_change(now),
            (None, true) => plan.next_change(t).map(|d| self.started + d),
        };
        self.users.own_target(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Load, Segment};
    use std::collections::BTreeMap;
    use std::time::Duration;

    /// A plan of stages with classes of `weights`, up and down and up again.
    fn plan(weights: &[u32], segment: Option<Segment>) -> RunPlan {
        let classes: String = weights
            .iter()
            .enumerate()
            .map(|(i, w)| {
                format!(
                    "[classes.c{i}]\nweight = {w}\n[[classes.c{i}.task]]\nname = \"t{i}\"\npath = \"/{i}\"\n"
                )
            })
            .collect();
        let text = format!(
            "[target]\nhost = \"http://127.0.0.1:1\"\n[load]\nduration = \"40s\"\nstages = [\n\
             {{ duration = \"10s\", users = 23 }}, {{ duration = \"5s\", users = 7 }},\n\
             {{ duration = \"0s\", users = 31 }}, {{ duration = \"10s\", users = 31 }},\n\
             {{ duration = \"10s\", users = 0 }}, {{ duration = \"5s\", users = 12 }} ]\n{classes}"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("walk.toml");
        std::fs::write(&file, text).unwrap();
        let loaded = crate::scenario::load(&file).unwrap();
        let plan = crate::plan::resolve(&loaded, &Default::default()).unwrap();
        assert!(matches!(plan.load, Load::Stages(ref s) if s.len() == 6));
        match segment {
            Some(s) => plan.for_segment(s).unwrap(),
            None => plan,
        }
    }

    /// The users (number → class) running at each 100 ms of the plan, with a small budget per step.
    fn walk(plan: &RunPlan) -> Vec<BTreeMap<u64, usize>> {
        let mut walk: UserWalk<u64> = UserWalk::new(plan);
        let mut running = BTreeMap::new();
        let mut locals = Vec::new();
        let mut out = Vec::new();
        for tick in 0..=400u64 {
            let target = plan.target_users(Duration::from_millis(tick * 100));
            // A budget of 3 per call: several calls to get there, as the scheduler's batches.
            let (mut started, mut stopped) = (Vec::new(), Vec::new());
            while !walk.toward(
                target,
                3,
                |s| {
                    started.push(s);
                    s.number
                },
                |n| stopped.push(n),
            ) {}
            for n in stopped {
                running.remove(&n);
            }
            for s in started {
                running.insert(s.number, s.class);
                locals.push(s.local);
            }
            assert_eq!(walk.running(), running.len() as u64);
            assert_eq!(walk.own_target(target), running.len() as u64);
            out.push(running.clone());
        }
        // This process's users are numbered 1, 2, 3, … in the order it started them.
        assert_eq!(locals, (1..=locals.len() as u64).collect::<Vec<_>>());
        out
    }

    #[test]
    fn segments_together_run_the_users_of_one_run_user_by_user() {
        for weights in [vec![1u32], vec![3, 1], vec![5, 3, 2]] {
            let whole = walk(&plan(&weights, None));
            for n in [2u64, 3, 4, 7] {
                let parts: Vec<_> = (0..n)
                    .map(|i| {
                        let plan = plan(&weights, Some(Segment { index: i, count: n }));
                        let part = walk(&plan);
                        // The users the segment reports are the most it runs.
                        assert_eq!(
                            part.iter().map(BTreeMap::len).max(),
                            Some(plan.users as usize)
                        );
                        part
                    })
                    .collect();
                for (tick, want) in whole.iter().enumerate() {
                    let mut union = BTreeMap::new();
                    for part in &parts {
                        for (number, class) in &part[tick] {
                            assert!(
                                union.insert(*number, *class).is_none(),
                                "user {number} in two segments"
                            );
                        }
                    }
                    assert_eq!(&union, want, "{weights:?}, N={n}, at {tick}00 ms");
                    // Each segment runs its share of every class, within one user.
                    for c in 0..weights.len() {
                        let all = want.values().filter(|&&k| k == c).count() as f64;
                        for part in &parts {
                            let mine = part[tick].values().filter(|&&k| k == c).count() as f64;
                            assert!(
                                (mine - all / n as f64).abs() < 1.0,
                                "{weights:?} N={n} at {tick}00 ms: class {c} has {mine} of {all}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_ramp_down_stops_the_newest_and_a_ramp_up_starts_new_numbers() {
        let whole = walk(&plan(&[1], None));
        // 23 users at 10 s, down to 7 at 15 s, then 31 at once (at 15 s): users 1-7 and 24-47.
        assert_eq!(
            whole[100].keys().copied().collect::<Vec<_>>(),
            (1..=23).collect::<Vec<_>>()
        );
        assert_eq!(
            whole[149].keys().copied().collect::<Vec<_>>(),
            (1..=7).collect::<Vec<_>>()
        );
        let want: Vec<u64> = (1..=7).chain(24..=47).collect();
        assert_eq!(whole[150].keys().copied().collect::<Vec<_>>(), want);
    }

    /// A plan of `load` (a `[load]` table's lines) with one task.
    fn plan_of(load: &str) -> RunPlan {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("schedule.toml");
        std::fs::write(
            &file,
            format!(
                "[target]\nhost = \"http://127.0.0.1:1\"\n[load]\n{load}\n[[task]]\nname = \"t\"\npath = \"/\"\n"
            ),
        )
        .unwrap();
        crate::plan::resolve(&crate::scenario::load(&file).unwrap(), &Default::default()).unwrap()
    }

    /// What a schedule did: every change of the users running, as (time into the run, users running), the
    /// users stopped, the steps taken, and when the schedule stopped waking (`None`: it never did).
    #[derive(Debug)]
    struct Timeline {
        changes: Vec<(Duration, u64)>,
        stopped: u64,
        steps: usize,
        done_at: Option<Duration>,
    }

    impl Timeline {
        /// The users running `secs` into the run.
        fn at(&self, secs: f64) -> u64 {
            let t = Duration::from_secs_f64(secs);
            self.changes
                .iter()
                .take_while(|(at, _)| *at <= t)
                .last()
                .map_or(0, |(_, n)| *n)
        }
    }

    /// Runs `plan`'s schedule for its duration as the engine's scheduler does (sleep until the next step is
    /// due, step), on tokio's clock: under paused time, every step happens exactly when the schedule asks.
    async fn run_schedule(plan: &RunPlan) -> Timeline {
        let started = Instant::now();
        let deadline = started + plan.duration;
        let mut schedule: Schedule<()> = Schedule::new(plan, started);
        let (mut running, mut stopped) = (0u64, 0u64);
        let mut timeline = Timeline {
            changes: Vec::new(),
            stopped: 0,
            steps: 0,
            done_at: None,
        };
        loop {
            let Some(next) = schedule.next() else {
                timeline.done_at = Some(Instant::now() - started);
                break;
            };
            tokio::select! {
                biased;
                _ = tokio::time::sleep_until(deadline) => break,
                _ = tokio::time::sleep_until(next) => {
                    let (mut up, mut down) = (0, 0);
                    schedule.step(plan, Instant::now(), |_| up += 1, |()| down += 1);
                    running = running + up - down;
                    stopped += down;
                    timeline.steps += 1;
                    assert!(timeline.steps < 100_000, "the schedule spins: {timeline:?}");
                    if up + down > 0 {
                        timeline.changes.push((Instant::now() - started, running));
                    }
                }
            }
        }
        timeline.stopped = stopped;
        timeline
    }

    /// The stages of the integration test `run::stages_ramp_up_step_and_ramp_down_in_the_time_series`, to the
    /// millisecond: a 2 s ramp to 6 users (one every 1/3 s), a step to 12, a 1 s ramp down to 2.
    #[tokio::test(start_paused = true)]
    async fn stages_ramp_up_step_and_ramp_down_on_time() {
        let plan = plan_of(
            "stages = [\n{ duration = \"2s\", users = 6 }, { duration = \"2s\", users = 6 },\n\
             { duration = \"0s\", users = 12 }, { duration = \"2s\", users = 12 },\n\
             { duration = \"1s\", users = 2 }, { duration = \"2s\", users = 2 } ]",
        );
        let t = run_schedule(&plan).await;
        // The ramp: user k is due at k/3 s and starts at the first 10 ms step from then.
        assert_eq!(
            [
                t.at(0.0),
                t.at(0.33),
                t.at(0.35),
                t.at(1.0),
                t.at(1.32),
                t.at(1.35),
                t.at(1.99)
            ],
            [0, 0, 1, 3, 3, 4, 5],
            "{t:?}"
        );
        let first = t.changes.first().unwrap().0;
        assert!(
            first >= Duration::from_secs_f64(1.0 / 3.0) && first < Duration::from_millis(344),
            "{t:?}"
        );
        // The hold, the step at 4 s (all six at once), the hold.
        assert_eq!([t.at(2.0), t.at(3.99)], [6, 6], "{t:?}");
        assert_eq!([t.at(4.0), t.at(5.99)], [12, 12], "{t:?}");
        assert!(t.changes.contains(&(Duration::from_secs(4), 12)), "{t:?}");
        // Down from 12 to 2 over 6-7 s: a user every 100 ms, from the first step below 12 (6.01 s).
        assert_eq!(t.changes[7], (Duration::from_millis(6010), 11), "{t:?}");
        assert_eq!([t.at(6.5), t.at(6.92), t.at(8.99)], [7, 2, 2], "{t:?}");
        assert_eq!(t.stopped, 10, "{t:?}");
        // A step every 10 ms through the stages (0-8.99 s), and nothing else.
        assert_eq!(t.steps, 900, "{t:?}");
        assert_eq!(t.changes.len(), 6 + 1 + 10, "{t:?}");
    }

    /// A ramp: user 1 at once, then one every 1/spawn_rate s (within tokio's 1 ms timer resolution), and no
    /// wake-up between users.
    #[tokio::test(start_paused = true)]
    async fn a_ramp_starts_a_user_every_one_over_spawn_rate_seconds() {
        for (users, rate) in [(20u64, 10.0), (7, 3.0), (5, 0.7)] {
            let plan = plan_of(&format!(
                "users = {users}\nspawn_rate = {rate}\nduration = \"60s\""
            ));
            let t = run_schedule(&plan).await;
            let want: Vec<(Duration, u64)> = (1..=users)
                .map(|k| (Duration::from_secs_f64((k - 1) as f64 / rate), k))
                .collect();
            assert_eq!(t.changes.len(), want.len(), "{users} at {rate}/s: {t:?}");
            for ((at, n), (want_at, want_n)) in t.changes.iter().zip(&want) {
                assert_eq!(n, want_n, "{t:?}");
                assert!(
                    *at >= *want_at && *at - *want_at <= Duration::from_millis(1),
                    "user {n} at {at:?}, due at {want_at:?}"
                );
            }
            assert_eq!(t.steps, users as usize, "one step per user: {t:?}");
            assert_eq!(t.done_at, Some(t.changes.last().unwrap().0), "{t:?}");
        }
    }
}
