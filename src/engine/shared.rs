//! What the users of a run share (the plan, the metrics recorder, what each step could build once, the
//! network state, the data feeder, the `--iterations` count) and what each user holds for templates ([`State`],
//! rendered through [`Ctx`]).
//!
//! It sits below the request path ([`super::http`]) and the session loop ([`super::user`]), which both read it,
//! so neither imports the other's types.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use rand::Rng;
use rand::rngs::SmallRng;
use tokio_util::sync::CancellationToken;

use super::client::{Net, Origin};
use super::request::Prepared;
use crate::metrics::Recorder;
use crate::plan::{RunPlan, Task};
use crate::scenario::template::{self, Var};

/// What every user of a run shares (read-only on the request path, apart from the `seq` counter).
#[derive(Debug)]
pub struct Shared {
    pub plan: Arc<RunPlan>,
    pub recorder: Arc<Recorder>,
    pub run_id: String,
    pub seq: AtomicU64,
    /// Cancelled when users must stop starting tasks.
    pub stop: CancellationToken,
    /// Per class, cumulative task weights, for weighted choice.
    pub cumulative: Vec<Vec<u64>>,
    /// `--iterations`: task iterations claimed, and finished (or dropped); `all_done` is cancelled when the
    /// finished ones reach the limit.
    pub claimed: AtomicU64,
    pub finished: AtomicU64,
    pub all_done: CancellationToken,
    /// Per step, what could be built once (URI, header values, body).
    pub prepared: Vec<Prepared>,
    /// The target's origin and the path prefix of its URL (`http://h/api` → `/api`).
    pub origin: Origin,
    pub base_path: String,
    pub net: Net,
    /// Hands out the rows of the `[data]` file.
    pub feeder: Option<crate::data::Feeder>,
    /// Issue 18 item 6: `--debug`'s view of each request; `None` in a run (one check per request).
    pub debug: Option<Box<dyn Tap>>,
    /// Issue 19 item 2: an arrival rate changed from the live UI (when, and the new whole-run rate); each
    /// lane watches it.
    pub manual_rate: tokio::sync::watch::Sender<Option<(std::time::Instant, f64)>>,
}

// Issue 18 item 6: `--debug N`.
/// What `--debug` sees of each request, from the request path ([`super::http::exec`]); `super::debug`
/// implements it (a trait here, so the request path does not import the printer, which reads [`State`]).
pub trait Tap: Send + Sync + std::fmt::Debug {
    /// Step `idx` was rendered: `wire` is what goes to `origin`; `state` holds the user's values (the previous
    /// step's captures applied).
    fn sent(&self, idx: usize, origin: &Origin, wire: &[u8], state: &State);
    /// Its answer, complete `elapsed` after the request was sent, after `redirects` redirects.
    fn answer(&self, answer: &super::client::Answer, elapsed: std::time::Duration, redirects: u32);
    /// Its outcome, as recorded (`None`: it met its expectation).
    fn outcome(&self, failure: Option<(crate::metrics::FailureKind, &str)>);
    /// The user is gone (dropped): `state` holds its last values.
    fn ended(&self, state: &State);
}

impl Shared {
    pub fn new(
        plan: Arc<RunPlan>,
        recorder: Arc<Recorder>,
        run_id: String,
        stop: CancellationToken,
    ) -> Result<Self, String> {
        let cumulative = plan
            .classes
            .iter()
            .map(|c| {
                let mut acc = 0;
                c.tasks
                    .iter()
                    .map(|t| {
                        acc += u64::from(t.weight);
                        acc
                    })
                    .collect()
            })
            .collect();
        let url = url::Url::parse(&plan.host).map_err(|e| format!("invalid host: {e}"))?;
        let origin = Origin::of(&url)?;
        let base_path = url.path().trim_end_matches('/').to_string();
        let prepared = plan
            .steps
            .iter()
            .map(|s| Prepared::new(s, &base_path))
            .collect();
        let feeder = plan
            .data
            .as_ref()
            .map(|d| crate::data::Feeder::new(d.set.clone(), d.assign));
        let net = Net::with_tls(&plan.tls)
            .with_protocol(plan.protocol)
            .with_dns(&plan.dns)
            .with_proxy(&plan.proxy);
        Ok(Shared {
            plan,
            recorder,
            run_id,
            seq: AtomicU64::new(0),
            stop,
            cumulative,
            claimed: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            all_done: CancellationToken::new(),
            prepared,
            origin,
            base_path,
            net,
            feeder,
            debug: None,
            manual_rate: tokio::sync::watch::channel(None).0,
        })
    }

    /// Class `class`'s task for a number `r` drawn uniformly from `0..its total weight`.
    pub fn task_for(&self, class: usize, r: u64) -> &Task {
        let tasks = &self.plan.classes[class].tasks;
        &tasks[pick(&self.cumulative[class], r).min(tasks.len().saturating_sub(1))]
    }

    /// Claims one of the run's `--iterations` for a closed-model user; false once they are all claimed.
    pub fn claim(&self) -> bool {
        match self.plan.max_iterations {
            Some(max) => self.claimed.fetch_add(1, Ordering::Relaxed) < max,
            None => true,
        }
    }

    /// `n` iterations have finished (or were dropped): the run ends when that makes `--iterations`.
    pub fn iterations_finished(&self, n: u64) {
        if let Some(max) = self.plan.max_iterations
            && n > 0
            && self.finished.fetch_add(n, Ordering::Relaxed) + n >= max
        {
            self.all_done.cancel();
        }
    }
}

/// The position whose weight range holds `r`, given cumulative weights: with weights 10, 5 (cumulative 10, 15),
/// r in 0..10 picks 0 and r in 10..15 picks 1 — each task in proportion to its weight, as Locust's `@task(N)`.
pub fn pick(cumulative: &[u64], r: u64) -> usize {
    cumulative
        .partition_point(|&c| c <= r)
        .min(cumulative.len().saturating_sub(1))
}

/// A user's own values: what templates read.
pub struct State {
    /// This user's number in this process (from 1): which metrics shard it records into.
    pub id: u64,
    /// Its number in the whole plan (from 1; the same under `--segment`): what `{{vu}}` renders, and which
    /// row of the data file it takes.
    pub number: u64,
    /// This user's row of the `[data]` file, if the scenario has one.
    pub row: Option<usize>,
    pub session: u64,
    pub captures: Vec<Captured>,
    pub rng: SmallRng,
    /// The loops running now (`repeat`, `for_each`), by the plan's frame numbers (issue 18, item 3); empty
    /// when the scenario has none.
    pub frames: Vec<Frame>,
    /// The status of the user's last answer (0: none yet, or no answer), which conditions read.
    pub status: u16,
}

/// What a capture slot holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Captured {
    #[default]
    Unset,
    One(String),
    /// `pick = "all"`: every value found (issue 18, item 2).
    List(Vec<String>),
}

impl Captured {
    /// Set to something (a list may be empty).
    pub fn is_set(&self) -> bool {
        !matches!(self, Captured::Unset)
    }

    /// Writes the value (a list joined with `,`) to `out`.
    pub fn write(&self, out: &mut String) {
        match self {
            Captured::Unset => {}
            Captured::One(v) => out.push_str(v),
            Captured::List(items) => {
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(v);
                }
            }
        }
    }
}

/// One running loop: its items (for a `for_each`), the iteration it is at, and how many it runs.
#[derive(Debug, Clone, Default)]
pub struct Frame {
    pub items: Vec<String>,
    pub index: u32,
    pub count: u32,
}

/// What templates render against: the user's own values and the run's shared ones.
pub struct Ctx<'a> {
    pub state: &'a mut State,
    pub shared: &'a Shared,
}

/// Issue 18 item 4: whether the user has made capture `slot` (the one place that asks).
pub fn captured(state: &State, slot: usize) -> bool {
    state.captures.get(slot).is_some_and(Captured::is_set)
}

impl template::Context for Ctx<'_> {
    fn is_set(&self, var: Var) -> bool {
        match var {
            Var::Capture(slot) => captured(self.state, slot),
            _ => true,
        }
    }

    fn write_var(&mut self, var: Var, out: &mut String) {
        match var {
            Var::Vu => template::write_num(out, self.state.number),
            Var::Session => template::write_num(out, self.state.session),
            Var::RunId => out.push_str(&self.shared.run_id),
            Var::Seq => {
                template::write_num(out, self.shared.seq.fetch_add(1, Ordering::Relaxed) + 1)
            }
            Var::Uuid => {
                let bytes: [u8; 16] = self.state.rng.random();
                let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
                out.push_str(
                    id.hyphenated()
                        .encode_lower(&mut uuid::Uuid::encode_buffer()),
                );
            }
            Var::Random => template::write_num(out, u64::from(self.state.rng.random::<u32>())),
            Var::TimestampMs => template::write_num(
                out,
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64),
            ),
            Var::Data(column) => {
                if let (Some(row), Some(feeder)) = (self.state.row, &self.shared.feeder) {
                    out.push_str(feeder.set().value(row, column));
                }
            }
            Var::Capture(slot) => {
                if let Some(c) = self.state.captures.get(slot) {
                    c.write(out);
                }
            }
            Var::Item(frame) => {
                if let Some(f) = self.state.frames.get(frame)
                    && let Some(item) = f.items.get(f.index as usize)
                {
                    out.push_str(item);
                }
            }
            Var::Index(frame) => {
                if let Some(f) = self.state.frames.get(frame) {
                    template::write_num(out, u64::from(f.index));
                }
            }
        }
    }
}

/// What conditions read (issue 18, item 3): the last status, and variables as templates render them.
impl crate::plan::cond::Values for Ctx<'_> {
    fn status(&self) -> u16 {
        self.state.status
    }

    fn value(&mut self, var: Var, out: &mut String) -> bool {
        let set = match var {
            Var::Capture(slot) => match self.state.captures.get(slot) {
                Some(Captured::List(items)) => !items.is_empty(),
                Some(c) => c.is_set(),
                None => false,
            },
            Var::Data(_) => self.state.row.is_some(),
            Var::Item(frame) | Var::Index(frame) => self
                .state
                .frames
                .get(frame)
                .is_some_and(|f| f.index < f.count),
            _ => true,
        };
        if set {
            template::Context::write_var(self, var, out);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn pick_maps_weight_ranges_exactly() {
        let cumulative = [10, 15, 17, 18];
        let picks: Vec<usize> = (0..18).map(|r| pick(&cumulative, r)).collect();
        assert_eq!(picks.iter().filter(|&&p| p == 0).count(), 10);
        assert_eq!(picks.iter().filter(|&&p| p == 1).count(), 5);
        assert_eq!(picks.iter().filter(|&&p| p == 2).count(), 2);
        assert_eq!(picks.iter().filter(|&&p| p == 3).count(), 1);
    }

    /// The shipped task mix (weights 10/5/2/1) drawn 180,000 times: each task's share is within 0.5 percentage
    /// points of its weight's share (the standard error is at most 0.12 points, so this is over 4 sigma).
    #[test]
    fn weighted_choice_follows_the_weights() {
        let weights = [10u64, 5, 2, 1];
        let cumulative: Vec<u64> = weights
            .iter()
            .scan(0, |acc, w| {
                *acc += w;
                Some(*acc)
            })
            .collect();
        let total = *cumulative.last().unwrap();
        let mut rng = SmallRng::seed_from_u64(7);
        let n = 180_000;
        let mut counts = [0u64; 4];
        for _ in 0..n {
            counts[pick(&cumulative, rng.random_range(0..total))] += 1;
        }
        for (i, w) in weights.iter().enumerate() {
            let expected = 100.0 * *w as f64 / total as f64;
            let got = 100.0 * counts[i] as f64 / n as f64;
            assert!(
                (got - expected).abs() < 0.5,
                "task {i}: {got:.2}% vs {expected:.2}%"
            );
        }
    }
}
