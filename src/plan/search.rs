//! Issue 21 item 3: a search for the breaking point (`run --find-limit`, `[load] search`), resolved into the
//! one [`Load`] the scheduler already follows: each level a stage of its own, so the results hold every step
//! as a stage and `report`, `compare` and `merge` read them unchanged.
//!
//! Users (a closed model): step `k` is one stage that moves to its users at the spawn rate (the scenario's,
//! `--spawn-rate`, or one step's worth per second) and then holds them for `hold`; the held part is what is
//! judged. An arrival rate: step `k` is a stage of 0 s (a jump to the rate) and a stage of `hold` at it.
//!
//! Each step is held 30 s unless `hold` says otherwise: at a few requests per user per second that is
//! thousands of requests per step, enough for a p95 that moves by a few percent between two holds of the same
//! load, and long enough for queues at the target to fill (a shorter hold judges the start of the queue, not
//! its steady state). The watch that judges the steps is `crate::limit`.

use std::time::Duration;

use super::load::{MAX_ARRIVAL_RATE, MIN_ARRIVAL_RATE};
use super::values::{MAX_USERS, duration_value};
use super::*;
use crate::error::Error;
use crate::scenario::{At, Loaded, RawLoad, RawSearch};

type Result<T> = std::result::Result<T, Error>;

/// How long each step is held when `hold` is not given (see the module's documentation).
pub const DEFAULT_HOLD: Duration = Duration::from_secs(30);
/// The most steps a search may plan.
pub const MAX_STEPS: usize = 1000;
/// Without `start` and `step`, the search climbs to `max` in this many steps.
const DEFAULT_STEPS: f64 = 10.0;

/// A search for the breaking point: the levels it tries, in order, and where each is in the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    /// The levels are iterations per second (an arrival rate); else users.
    pub rate: bool,
    pub start: f64,
    pub step: f64,
    pub max: f64,
    pub hold: Duration,
    pub steps: Vec<SearchStep>,
}

/// One level of a [`Search`] and its place in the run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchStep {
    /// Users, or iterations per second.
    pub level: f64,
    /// The stage (from 1) that holds the level.
    pub stage: usize,
    /// From the start of the run: when the step begins, when the level is reached and held (what is judged
    /// starts there), and when it ends.
    pub start: Duration,
    pub hold_from: Duration,
    pub end: Duration,
}

impl Search {
    /// "users" or "iterations/s".
    pub fn unit(&self) -> &'static str {
        if self.rate { "iterations/s" } else { "users" }
    }

    /// The planned length of the whole search.
    pub fn duration(&self) -> Duration {
        self.steps.last().map_or(Duration::ZERO, |s| s.end)
    }
}

/// The levels from `start` by `step` up to `max` (inclusive, within rounding).
pub fn levels(start: f64, step: f64, max: f64) -> Vec<f64> {
    let mut out = Vec::new();
    let mut k = 0.0;
    loop {
        let l = start + k * step;
        if l > max * (1.0 + 1e-9) || out.len() >= MAX_STEPS {
            return out;
        }
        out.push(l);
        k += 1.0;
    }
}

/// The stages of a users search moving at `spawn_rate` users per second: one per level.
pub fn user_steps(
    levels: &[f64],
    spawn_rate: f64,
    hold: Duration,
) -> (Vec<Stage>, Vec<SearchStep>) {
    let (mut stages, mut steps) = (Vec::new(), Vec::new());
    let (mut at, mut from) = (Duration::ZERO, 0.0);
    for &level in levels {
        // Whole seconds, so that the judged part holds whole points of the per-second series.
        let ramp = Duration::from_secs(((level - from).max(0.0) / spawn_rate).ceil() as u64);
        stages.push(Stage {
            duration: ramp + hold,
            users: level as u64,
            spawn_rate: Some(spawn_rate),
        });
        steps.push(SearchStep {
            level,
            stage: stages.len(),
            start: at,
            hold_from: at + ramp,
            end: at + ramp + hold,
        });
        at += ramp + hold;
        from = level;
    }
    (stages, steps)
}

/// The stages of an arrival-rate search: a jump to each level (a stage of 0 s), then the hold.
pub fn rate_steps(levels: &[f64], hold: Duration) -> (Vec<RateStage>, Vec<SearchStep>) {
    let (mut stages, mut steps) = (Vec::new(), Vec::new());
    let mut at = Duration::ZERO;
    for &rate in levels {
        stages.push(RateStage {
            duration: Duration::ZERO,
            rate,
        });
        stages.push(RateStage {
            duration: hold,
            rate,
        });
        steps.push(SearchStep {
            level: rate,
            stage: stages.len(),
            start: at,
            hold_from: at,
            end: at + hold,
        });
        at += hold;
    }
    (stages, steps)
}

/// Whether the plan is a search: `--find-limit`, or `[load] search` in the scenario.
pub(super) fn wanted(load: Option<&At<RawLoad>>, overrides: &Overrides) -> bool {
    overrides.find_limit || load.is_some_and(|l| l.value.search.is_some())
}

/// The search, its load and the most users it runs at once.
pub(super) fn resolve_search(
    loaded: &Loaded,
    load: Option<&At<RawLoad>>,
    overrides: &Overrides,
    timeout: Duration,
) -> Result<(Search, Load, u64)> {
    let file = load.map_or(0, |l| l.file);
    let raw = load.map(|l| &l.value);
    let none = RawSearch::default();
    let search = raw
        .and_then(|r| r.search.as_ref())
        .map_or(&none, |s| s.get_ref());
    if let Some(st) = raw.and_then(|r| r.stages.as_ref()) {
        return Err(loaded
            .error(
                file,
                st.span(),
                "`stages` cannot be used with a limit search (`--find-limit`, `[load] search`): the search \
                 makes its own steps",
            )
            .with_help("remove `stages`, and give the steps as [load] search = { start, step, max, hold }")
            .into());
    }
    let rate = overrides.rate.is_some() || raw.is_some_and(|r| r.arrival_rate.is_some());
    // The scenario's own level is the default top of the search.
    let level = if rate {
        overrides
            .rate
            .or(raw.and_then(|r| r.arrival_rate.as_ref().map(|v| *v.get_ref())))
    } else {
        overrides
            .users
            .map(|u| u as f64)
            .or(raw.and_then(|r| r.users.as_ref().map(|v| *v.get_ref() as f64)))
    };
    let (lo, hi) = if rate {
        (MIN_ARRIVAL_RATE, MAX_ARRIVAL_RATE)
    } else {
        (1.0, MAX_USERS as f64)
    };
    let unit = if rate {
        "iterations per second"
    } else {
        "users"
    };
    let value = |v: &Option<toml::Spanned<f64>>, what: &str| -> Result<Option<f64>> {
        let Some(v) = v else { return Ok(None) };
        let n = *v.get_ref();
        let whole = rate || n.fract() == 0.0;
        if !(lo..=hi).contains(&n) || !whole {
            return Err(loaded
                .error(
                    file,
                    v.span(),
                    format!(
                        "`search.{what}` must be {}from {lo} to {hi} {unit}, got {n}",
                        if rate { "" } else { "a whole number " }
                    ),
                )
                .into());
        }
        Ok(Some(n))
    };
    let max = match (value(&search.max, "max")?, level) {
        (Some(m), _) => m,
        (None, Some(l)) => l,
        (None, None) => {
            return Err(crate::scenario::ScenarioError::file(
                loaded.root(),
                format!("a limit search needs a highest level: `[load] search.max` ({unit})"),
            )
            .with_help("[load] search = { start = 10, step = 10, max = 200 }")
            .into());
        }
    };
    let tenth = if rate {
        max / DEFAULT_STEPS
    } else {
        (max / DEFAULT_STEPS).ceil()
    };
    let step = value(&search.step, "step")?.unwrap_or(tenth);
    let start = value(&search.start, "start")?.unwrap_or(step);
    if start > max {
        return Err(Error::Usage(format!(
            "the limit search starts above its highest level: start {start} > max {max} {unit}"
        )));
    }
    let hold = match &search.hold {
        Some(h) => {
            let d = duration_value(loaded, file, h, "search.hold")?;
            if d < Duration::from_secs(1) {
                return Err(loaded
                    .error(
                        file,
                        h.span(),
                        "`search.hold` must be at least 1s: a step is judged on whole seconds",
                    )
                    .into());
            }
            d
        }
        None => DEFAULT_HOLD,
    };
    let levels = levels(start, step, max);
    if levels.len() >= MAX_STEPS {
        return Err(Error::Usage(format!(
            "the limit search from {start} to {max} by {step} {unit} has more than {MAX_STEPS} steps: raise \
             `search.step`"
        )));
    }
    let top = levels.last().copied().unwrap_or(start);
    let (load, users, steps) = if rate {
        let (stages, steps) = rate_steps(&levels, hold);
        let users = match (overrides.users, raw.and_then(|r| r.max_users.as_ref())) {
            (Some(u), _) => u,
            (None, Some(m)) => (*m.get_ref()).clamp(1, MAX_USERS as i64) as u64,
            (None, None) => (top.ceil() as u64).clamp(1, MAX_USERS),
        };
        let queue_timeout = match raw.and_then(|r| r.queue_timeout.as_ref()) {
            Some(v) => duration_value(loaded, file, v, "queue_timeout")?,
            None => timeout,
        };
        let load = Load::Arrival(Arrival {
            stages,
            queue_timeout,
        });
        (load, users, steps)
    } else {
        let spawn_rate = overrides
            .spawn_rate
            .or(raw.and_then(|r| r.spawn_rate.as_ref().map(|v| *v.get_ref())))
            .unwrap_or(step)
            .clamp(super::MIN_SPAWN_RATE, super::MAX_SPAWN_RATE);
        let (stages, steps) = user_steps(&levels, spawn_rate, hold);
        (Load::Stages(stages), top as u64, steps)
    };
    let search = Search {
        rate,
        start,
        step,
        max,
        hold,
        steps,
    };
    Ok((search, load, users))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_climb_by_step_up_to_max() {
        assert_eq!(levels(10.0, 10.0, 50.0), [10.0, 20.0, 30.0, 40.0, 50.0]);
        assert_eq!(levels(5.0, 10.0, 30.0), [5.0, 15.0, 25.0]);
        assert_eq!(levels(0.3, 0.1, 0.5).len(), 3, "within rounding");
        assert_eq!(levels(1.0, 1.0, 1e9).len(), MAX_STEPS);
    }

    /// Each users step ramps at the spawn rate in whole seconds, then holds; the judged part is the hold.
    #[test]
    fn user_steps_ramp_then_hold() {
        let hold = Duration::from_secs(3);
        let (stages, steps) = user_steps(&[10.0, 20.0, 30.0], 4.0, hold);
        let secs = |d: Duration| d.as_secs();
        assert_eq!(
            stages
                .iter()
                .map(|s| (secs(s.duration), s.users))
                .collect::<Vec<_>>(),
            [(6, 10), (6, 20), (6, 30)],
            "10 users at 4/s take 2.5 s, rounded up to 3"
        );
        assert_eq!(
            steps
                .iter()
                .map(|s| (s.stage, secs(s.start), secs(s.hold_from), secs(s.end)))
                .collect::<Vec<_>>(),
            [(1, 0, 3, 6), (2, 6, 9, 12), (3, 12, 15, 18)]
        );
        // The scheduler's own walk agrees: the level is reached when the hold starts.
        let load = Load::Stages(stages);
        for s in &steps {
            assert_eq!(load.target_users(30, s.hold_from), s.level as u64);
            assert!(load.target_users(30, s.start) < s.level as u64);
        }
    }

    #[test]
    fn rate_steps_jump_then_hold() {
        let (stages, steps) = rate_steps(&[50.0, 100.0], Duration::from_secs(2));
        let a = Arrival {
            stages,
            queue_timeout: Duration::from_secs(1),
        };
        assert_eq!(steps[1].stage, 4);
        assert_eq!(a.rate_at(Duration::from_millis(1999)), 50.0);
        assert_eq!(a.rate_at(Duration::from_secs(2)), 100.0);
        assert!((a.due_by(Duration::from_secs(4)) - 300.0).abs() < 1e-6);
    }
}
