//! Whether a run kept its plan: the verdict on loadgen itself, apart from the gates' verdict on the server.
//!
//! A load generator that falls behind its own plan measures something other than what was asked: with too
//! few iterations started, the server saw less load than planned; with the scheduler late, latencies
//! include loadgen's own delay. Such a run is *invalid*: its figures are still written, but it exits with its
//! own code (3) instead of passing or failing the gates, so CI does not take a generator problem for a
//! server verdict. The bounds are in [`crate::plan::Validity`].

use crate::plan::{Load, RunPlan};
pub use crate::results::Validity;
use crate::results::{Iterations, RunResults, SeriesPoint};

/// The validity of merged segments (`loadgen merge`): valid when every segment was and none of the `count` is
/// missing; each segment's reasons are kept, prefixed with the segment, and the missing ones are a reason.
pub fn of_segments(segments: &[&RunResults], missing: &[u64], count: u64) -> Validity {
    let mut reasons: Vec<String> = segments
        .iter()
        .flat_map(|r| {
            let seg = r
                .settings
                .segment
                .map_or_else(String::new, |s| s.to_string());
            r.validity
                .reasons
                .iter()
                .map(move |w| format!("segment {seg}: {w}"))
        })
        .collect();
    if !missing.is_empty() {
        reasons.push(format!(
            "segments {} of {count} are missing: these results cover only part of the plan; merge every \
             segment's results",
            segment_list(missing)
        ));
    }
    Validity {
        valid: missing.is_empty() && segments.iter().all(|r| r.validity.valid),
        reasons,
    }
}

/// Segment indexes as a message shows them: the first 20, then how many more.
pub fn segment_list(indexes: &[u64]) -> String {
    let mut s = indexes
        .iter()
        .take(20)
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if indexes.len() > 20 {
        s.push_str(&format!(" and {} more", indexes.len() - 20));
    }
    s
}

/// Whether `bad` of `of` seconds is past the tolerated share: a single bad second is a blip, not a verdict.
fn too_many(bad: usize, of: usize) -> bool {
    bad >= 2 && bad as f64 > crate::plan::Validity::LATE_SHARE * of as f64
}

/// Judges `results` against `plan`'s validity bounds.
pub fn assess(plan: &RunPlan, results: &RunResults) -> Validity {
    judge(
        plan,
        &results.time_series,
        results.totals.iterations.as_ref(),
    )
}

/// Judges a part of a run, its seconds `series` (none of them the stop phase) and its arrival rate's
/// `iterations`, by the same rules: a step of a limit search (`crate::limit`).
pub fn of_part(
    plan: &RunPlan,
    series: &[SeriesPoint],
    iterations: Option<&Iterations>,
) -> Validity {
    judge_seconds(plan, series, iterations)
}

fn judge(plan: &RunPlan, series: &[SeriesPoint], iterations: Option<&Iterations>) -> Validity {
    // The last point covers the stop phase (users waking to stop, on_stop): not part of the plan.
    let series = match series {
        [rest @ .., _] if !rest.is_empty() => rest,
        all => all,
    };
    judge_seconds(plan, series, iterations)
}

fn judge_seconds(
    plan: &RunPlan,
    series: &[SeriesPoint],
    iterations: Option<&Iterations>,
) -> Validity {
    let bounds = plan.validity;
    let mut reasons = Vec::new();

    // Points weigh as the seconds they cover (one each, unless a long run's series was merged).
    let weighted: Vec<(usize, &SeriesPoint)> = crate::results::seconds(series).collect();
    let total: usize = weighted.iter().map(|(n, _)| n).sum();
    let max_lag_ms = bounds.max_lag.as_secs_f64() * 1000.0;
    let late: usize = weighted
        .iter()
        .filter(|(_, p)| p.lag_ms > max_lag_ms)
        .map(|(n, _)| n)
        .sum();
    if too_many(late, total) {
        reasons.push(format!(
            "loadgen's scheduler lagged over {max_lag_ms:.0} ms in {late} of {total} s: requests did not start when \
             planned and latencies include loadgen's own delay; run fewer users per machine or give it more cores"
        ));
    }

    match &plan.load {
        Load::Arrival(_) => {
            if let Some(it) = iterations
                && it.due > 0
            {
                let missing = it.due.saturating_sub(it.started);
                let share = missing as f64 / it.due as f64;
                if share > bounds.max_shortfall {
                    reasons.push(format!(
                        "the arrival rate was not reached: {} of {} due iterations started ({:.1}% short, {} \
                         dropped because all {} users were busy); raise max_users (--users) so the rate × the \
                         iteration time fits, or lower the rate",
                        it.started,
                        it.due,
                        100.0 * share,
                        it.dropped,
                        plan.users
                    ));
                }
            }
        }
        Load::Ramp { .. } | Load::Stages(_) => {
            // Users behind the plan: fewer running than it wanted a second before (the gauge lags the target by
            // up to a tick), beyond the allowed shortfall and one user.
            let behind: usize = weighted
                .windows(2)
                .filter(|w| {
                    let want = w[0].1.target_users.min(w[1].1.target_users) as f64;
                    (w[1].1.users as f64) + 1.0 < want * (1.0 - bounds.max_shortfall)
                })
                .map(|w| w[1].0)
                .sum();
            let judged = total.saturating_sub(weighted.first().map_or(0, |(n, _)| *n));
            if too_many(behind, judged) {
                reasons.push(format!(
                    "users did not start on schedule: fewer users ran than planned in {behind} of {judged} s; \
                     loadgen could not start them fast enough (see its CPU use), so the server saw less load \
                     than planned"
                ));
            }
        }
    }
    Validity {
        valid: reasons.is_empty(),
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Overrides, resolve};

    fn plan(load: &str) -> RunPlan {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("v.toml");
        std::fs::write(
            &file,
            format!("[target]\nhost = \"http://h\"\n[load]\n{load}\n[[task]]\nname = \"x\"\npath = \"/\"\n"),
        )
        .unwrap();
        resolve(
            &crate::scenario::load(&file).unwrap(),
            &Overrides::default(),
        )
        .unwrap()
    }

    fn point(users: u64, target: u64, lag_ms: f64) -> SeriesPoint {
        SeriesPoint {
            users,
            target_users: target,
            lag_ms,
            ..crate::results::fixtures::point(1.0)
        }
    }

    #[test]
    fn users_behind_the_plan_make_a_closed_run_invalid() {
        let p = plan("users = 100\nspawn_rate = 100\nduration = \"10s\"");
        let on_time: Vec<SeriesPoint> = (0..11).map(|_| point(100, 100, 1.0)).collect();
        assert!(judge(&p, &on_time, None).valid);
        // One second short (a blip) is tolerated; three of ten are not.
        let mut blip = on_time.clone();
        blip[4].users = 50;
        assert!(judge(&p, &blip, None).valid);
        let mut behind = on_time.clone();
        for p in &mut behind[3..6] {
            p.users = 60;
        }
        let v = judge(&p, &behind, None);
        assert!(!v.valid);
        assert!(
            v.reasons[0].contains(
                "users did not start on schedule: fewer users ran than planned in 3 of 9 s"
            ),
            "{v:?}"
        );
        // Fewer users than the target because it just went up (the gauge lags by up to a tick) is fine, and so
        // are more users than the target (a ramp-down stops users gracefully).
        let mut ramp: Vec<SeriesPoint> = (0..11).map(|i| point(i * 10, i * 10 + 10, 1.0)).collect();
        ramp[10].users = 500;
        assert!(judge(&p, &ramp, None).valid, "{:?}", judge(&p, &ramp, None));
    }

    #[test]
    fn scheduler_lag_and_a_missed_arrival_rate_make_a_run_invalid() {
        let p = plan("arrival_rate = 100\nmax_users = 9\nduration = \"10s\"");
        let lagging: Vec<SeriesPoint> = (0..11)
            .map(|i| point(0, 0, if i % 3 == 0 { 250.0 } else { 1.0 }))
            .collect();
        let v = judge(&p, &lagging, None);
        assert!(!v.valid);
        assert!(
            v.reasons[0].contains("lagged over 100 ms in 4 of 10 s"),
            "{v:?}"
        );
        let calm: Vec<SeriesPoint> = (0..11).map(|_| point(0, 0, 1.0)).collect();
        let it = |started: u64, dropped: u64| Iterations {
            due: 1000,
            started,
            dropped,
            rate: started as f64 / 10.0,
        };
        assert!(judge(&p, &calm, Some(&it(1000, 0))).valid);
        assert!(
            judge(&p, &calm, Some(&it(980, 20))).valid,
            "2 % short is within the bound"
        );
        let v = judge(&p, &calm, Some(&it(900, 100)));
        assert!(!v.valid);
        assert!(
            v.reasons[0].contains("900 of 1000 due iterations started (10.0% short, 100 dropped because all 9 users were busy)"),
            "{v:?}"
        );
    }
}
