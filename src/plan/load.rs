//! Resolution of `[load]` (and of `--users`, `--spawn-rate` and `--rate`) into the one [`Load`] profile the
//! scheduler follows: a ramp to a number of users, stages of users, or an arrival rate (constant or staged).

use std::time::Duration;

use toml::Spanned;

use super::values::{MAX_USERS, duration_value};
use super::*;
use crate::error::Error;
use crate::scenario::{At, Loaded, RawLoad, RawStage, ScenarioError};

type Result<T> = std::result::Result<T, Error>;

pub const MIN_SPAWN_RATE: f64 = 0.001;
pub const MAX_SPAWN_RATE: f64 = 1_000_000.0;
/// Iterations per second, at most.
pub const MAX_ARRIVAL_RATE: f64 = 10_000_000.0;
/// A constant arrival rate's iterations per second, at least (one every ~17 minutes; a rate of 1e-300 would
/// schedule its first iteration past the end of any run). A stage's `rate` may still be 0, a ramp's end.
pub const MIN_ARRIVAL_RATE: f64 = 0.001;

/// The load profile and the most users it runs at once.
pub(super) fn resolve_load(
    loaded: &Loaded,
    load: Option<&At<RawLoad>>,
    overrides: &Overrides,
    timeout: Duration,
) -> Result<(Load, u64)> {
    let file = load.map_or(0, |l| l.file);
    let raw = load.map(|l| &l.value);
    let staged_rate = raw
        .and_then(|r| r.stages.as_ref())
        .is_some_and(|st| st.get_ref().iter().any(|s| s.rate.is_some()));

    let open_model =
        overrides.rate.is_some() || raw.is_some_and(|r| r.arrival_rate.is_some()) || staged_rate;
    if open_model && overrides.spawn_rate.is_some() {
        return Err(Error::Usage(
            "--spawn-rate does not apply to an arrival rate: it starts users as iterations need them \
             (--users sets the most users at once)"
                .into(),
        ));
    }

    // --rate replaces whatever load model the scenario has with a constant arrival rate.
    if let Some(rate) = overrides.rate {
        if !(MIN_ARRIVAL_RATE..=MAX_ARRIVAL_RATE).contains(&rate) {
            return Err(Error::Usage(format!(
                "--rate must be from {MIN_ARRIVAL_RATE} to {MAX_ARRIVAL_RATE} iterations per second, got {rate:?}"
            )));
        }
        let stages = vec![RateStage {
            duration: Duration::ZERO,
            rate,
        }];
        return arrival(loaded, file, raw, overrides, timeout, stages);
    }

    if let Some(rate) = raw.and_then(|r| r.arrival_rate.as_ref()) {
        let conflict = raw.and_then(|r| {
            r.users
                .as_ref()
                .map(|u| (u.span(), "users"))
                .or(r.spawn_rate.as_ref().map(|s| (s.span(), "spawn_rate")))
                .or(r.stages.as_ref().map(|s| (s.span(), "stages")))
        });
        if let Some((span, what)) = conflict {
            return Err(loaded
                .error(
                    file,
                    span,
                    format!("`{what}` cannot be used with `arrival_rate`: the rate decides when iterations start"),
                )
                .with_help(
                    "use `max_users` for the most users at once, and stages = [{ duration, rate }] for a rate \
                     that changes",
                )
                .into());
        }
        let r = *rate.get_ref();
        if !(MIN_ARRIVAL_RATE..=MAX_ARRIVAL_RATE).contains(&r) {
            return Err(loaded
                .error(
                    file,
                    rate.span(),
                    format!(
                        "`arrival_rate` must be from {MIN_ARRIVAL_RATE} to {MAX_ARRIVAL_RATE} iterations per second, got {r:?}"
                    ),
                )
                .into());
        }
        let stages = vec![RateStage {
            duration: Duration::ZERO,
            rate: r,
        }];
        return arrival(loaded, file, raw, overrides, timeout, stages);
    }

    if staged_rate {
        let Some(list) = raw.and_then(|r| r.stages.as_ref()) else {
            unreachable!("staged_rate implies stages")
        };
        let stages = rate_stages(loaded, file, list, raw)?;
        return arrival(loaded, file, raw, overrides, timeout, stages);
    }

    // Closed models: the arrival-rate keys have no meaning.
    let stray = raw.and_then(|r| {
        r.max_users.as_ref().map(|v| (v.span(), "max_users")).or(r
            .queue_timeout
            .as_ref()
            .map(|v| (v.span(), "queue_timeout")))
    });
    if let Some((span, what)) = stray {
        return Err(loaded
            .error(
                file,
                span,
                format!("`{what}` only applies to an arrival rate (`arrival_rate`, or stages with `rate`)"),
            )
            .with_help("remove it, or set `arrival_rate` for an open-model load")
            .into());
    }
    match raw.and_then(|r| r.stages.as_ref()) {
        Some(list) => {
            let stages = user_stages(loaded, file, list, raw, overrides)?;
            let users = stages.iter().map(|s| s.users).max().unwrap_or(1);
            Ok((Load::Stages(stages), users))
        }
        None => {
            let (users, spawn_rate) = users_and_rate(loaded, load, overrides)?;
            Ok((Load::Ramp { spawn_rate }, users))
        }
    }
}

/// An arrival-rate load over `stages`, with `max_users` (or `--users`) and `queue_timeout`.
fn arrival(
    loaded: &Loaded,
    file: usize,
    raw: Option<&RawLoad>,
    overrides: &Overrides,
    timeout: Duration,
    stages: Vec<RateStage>,
) -> Result<(Load, u64)> {
    let a = Arrival {
        stages,
        queue_timeout: Duration::ZERO,
    };
    let users = match (overrides.users, raw.and_then(|r| r.max_users.as_ref())) {
        (Some(u), _) if !(1..=MAX_USERS).contains(&u) => {
            return Err(Error::Usage(format!(
                "--users must be between 1 and {MAX_USERS}, got {u}"
            )));
        }
        (Some(u), _) => u,
        (None, Some(m)) => {
            let n = *m.get_ref();
            if n < 1 || n as u64 > MAX_USERS {
                return Err(loaded
                    .error(
                        file,
                        m.span(),
                        format!("`max_users` must be between 1 and {MAX_USERS}, got {n}"),
                    )
                    .into());
            }
            n as u64
        }
        // Enough users for iterations of up to a second at the peak rate.
        (None, None) => (a.peak_rate().ceil() as u64).clamp(1, MAX_USERS),
    };
    let queue_timeout = match raw.and_then(|r| r.queue_timeout.as_ref()) {
        Some(v) => duration_value(loaded, file, v, "queue_timeout")?,
        None => timeout,
    };
    Ok((Load::Arrival(Arrival { queue_timeout, ..a }), users))
}

/// Stages with `rate`: every stage must have one (and no `users`).
fn rate_stages(
    loaded: &Loaded,
    file: usize,
    list: &Spanned<Vec<RawStage>>,
    raw: Option<&RawLoad>,
) -> Result<Vec<RateStage>> {
    if let Some(span) = raw.and_then(|r| r.spawn_rate.as_ref().map(|s| s.span())) {
        return Err(loaded
            .error(
                file,
                span,
                "`spawn_rate` cannot be used with rate stages: the stages set the rate over time",
            )
            .into());
    }
    if let Some(span) = raw.and_then(|r| r.users.as_ref().map(|s| s.span())) {
        return Err(loaded
            .error(
                file,
                span,
                "`users` cannot be used with rate stages: use `max_users` for the most users at once",
            )
            .into());
    }
    let mut stages = Vec::new();
    for st in list.get_ref() {
        let duration = duration_value(loaded, file, &st.duration, "stages.duration")?;
        let rate = match (&st.rate, &st.users) {
            (Some(r), None) => r,
            (_, Some(u)) => {
                return Err(loaded
                    .error(
                        file,
                        u.span(),
                        "a stage has `users` while others have `rate`: a load is either users (closed model) \
                         or an arrival rate (open model)",
                    )
                    .with_help("give every stage a `rate`, or every stage `users`")
                    .into());
            }
            (None, None) => {
                return Err(loaded
                    .error(file, st.duration.span(), "this stage has no `rate`")
                    .with_help("stages = [{ duration = \"30s\", rate = 100 }]")
                    .into());
            }
        };
        let r = *rate.get_ref();
        if !(0.0..=MAX_ARRIVAL_RATE).contains(&r) {
            return Err(loaded
                .error(
                    file,
                    rate.span(),
                    format!(
                        "a stage's `rate` must be between 0 and {MAX_ARRIVAL_RATE} iterations per second, got {r:?}"
                    ),
                )
                .into());
        }
        stages.push(RateStage { duration, rate: r });
    }
    if stages.iter().all(|s| s.rate == 0.0) {
        return Err(loaded
            .error(
                file,
                list.span(),
                "every stage has a rate of 0: nothing would run",
            )
            .into());
    }
    Ok(stages)
}

fn users_and_rate(
    loaded: &Loaded,
    load: Option<&At<RawLoad>>,
    overrides: &Overrides,
) -> Result<(u64, f64)> {
    let users = match (
        overrides.users,
        load.and_then(|l| l.value.users.as_ref().map(|v| (l.file, v))),
    ) {
        (Some(u), _) if !(1..=MAX_USERS).contains(&u) => {
            return Err(Error::Usage(format!(
                "--users must be between 1 and {MAX_USERS}, got {u}"
            )));
        }
        (Some(u), _) => u,
        (None, Some((file, u))) => {
            let n = *u.get_ref();
            if n < 1 {
                return Err(loaded
                    .error(
                        file,
                        u.span(),
                        format!("`users` must be at least 1, got {n}"),
                    )
                    .into());
            }
            if n as u64 > MAX_USERS {
                return Err(loaded
                    .error(
                        file,
                        u.span(),
                        format!("`users` must be at most {MAX_USERS}, got {n}"),
                    )
                    .into());
            }
            n as u64
        }
        (None, None) => {
            return Err(
                ScenarioError::file(loaded.root(), "missing `[load] users`".to_string())
                    .with_help("add it to the scenario, e.g. [load] users = 100, or [load] stages")
                    .into(),
            );
        }
    };
    let spawn_rate = match (
        overrides.spawn_rate,
        load.and_then(|l| l.value.spawn_rate.as_ref().map(|v| (l.file, v))),
    ) {
        (Some(r), _) if !(MIN_SPAWN_RATE..=MAX_SPAWN_RATE).contains(&r) => {
            return Err(Error::Usage(format!(
                "--spawn-rate must be between {MIN_SPAWN_RATE} and {MAX_SPAWN_RATE} users per second, got {r:?}"
            )));
        }
        (Some(r), _) => r,
        (None, Some((file, r))) => {
            let v = *r.get_ref();
            if v.is_nan() || v <= 0.0 {
                return Err(loaded
                    .error(
                        file,
                        r.span(),
                        format!("`spawn_rate` must be above 0 users per second, got {v}"),
                    )
                    .into());
            }
            if !(MIN_SPAWN_RATE..=MAX_SPAWN_RATE).contains(&v) {
                return Err(loaded
                    .error(
                        file,
                        r.span(),
                        format!("`spawn_rate` must be between {MIN_SPAWN_RATE} and {MAX_SPAWN_RATE} users per second, got {v:?}"),
                    )
                    .into());
            }
            v
        }
        (None, None) => (users as f64).min(MAX_SPAWN_RATE), // all at once within a second
    };
    Ok((users, spawn_rate))
}

/// `[load] stages`: each stage's duration and target users; they replace `users` and `spawn_rate`.
fn user_stages(
    loaded: &Loaded,
    file: usize,
    list: &Spanned<Vec<RawStage>>,
    raw: Option<&RawLoad>,
    overrides: &Overrides,
) -> Result<Vec<Stage>> {
    if overrides.users.is_some() || overrides.spawn_rate.is_some() {
        return Err(Error::Usage(
            "--users and --spawn-rate do not apply to a scenario with [load] stages: the stages set the users \
             over time (edit them, or use --duration to cut the run short)"
                .into(),
        ));
    }
    if let Some(l) = raw {
        let conflict = l
            .users
            .as_ref()
            .map(|u| u.span())
            .or(l.spawn_rate.as_ref().map(|r| r.span()));
        if let Some(span) = conflict {
            return Err(loaded
                .error(
                    file,
                    span,
                    "`users` and `spawn_rate` cannot be used with `stages`: the stages set the users over time",
                )
                .with_help("remove them, or remove `stages` for a ramp to `users` at `spawn_rate`")
                .into());
        }
    }
    if list.get_ref().is_empty() {
        return Err(loaded
            .error(file, list.span(), "`stages` is empty")
            .with_help("stages = [{ duration = \"30s\", users = 100 }, { duration = \"5m\", users = 100 }]")
            .into());
    }
    let mut stages = Vec::with_capacity(list.get_ref().len());
    for raw in list.get_ref() {
        let duration = duration_value(loaded, file, &raw.duration, "stages.duration")?;
        let Some(users) = &raw.users else {
            return Err(loaded
                .error(file, raw.duration.span(), "this stage has no `users`")
                .with_help("stages = [{ duration = \"30s\", users = 100 }] (or `rate` in every stage for an arrival rate)")
                .into());
        };
        let n = *users.get_ref();
        if n < 0 || n as u64 > MAX_USERS {
            return Err(loaded
                .error(
                    file,
                    users.span(),
                    format!("a stage's `users` must be between 0 and {MAX_USERS}, got {n}"),
                )
                .into());
        }
        let spawn_rate = match &raw.spawn_rate {
            None => None,
            Some(r) => {
                let v = *r.get_ref();
                if !(MIN_SPAWN_RATE..=MAX_SPAWN_RATE).contains(&v) {
                    return Err(loaded
                        .error(
                            file,
                            r.span(),
                            format!(
                                "a stage's `spawn_rate` must be between {MIN_SPAWN_RATE} and {MAX_SPAWN_RATE} users \
                                 per second, got {v}"
                            ),
                        )
                        .into());
                }
                if duration.is_zero() {
                    return Err(loaded
                        .error(
                            file,
                            r.span(),
                            "a stage of 0 s is a step to its users at once: it has no time to spawn them at a rate",
                        )
                        .with_help("give the stage a duration, or remove its `spawn_rate`")
                        .into());
                }
                Some(v)
            }
        };
        stages.push(Stage {
            duration,
            users: n as u64,
            spawn_rate,
        });
    }
    if stages.iter().all(|s| s.users == 0) {
        return Err(loaded
            .error(
                file,
                list.span(),
                "every stage has 0 users: nothing would run",
            )
            .into());
    }
    Ok(stages)
}
