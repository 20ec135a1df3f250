//! Quality gates, evaluated on finished results.
//!
//! A gate compares one measured value with its threshold: the success rate passes when measured >= threshold,
//! a latency percentile passes when measured < threshold (the plan says "p95 < 500 ms"). A gate whose scope saw
//! no requests fails: no evidence is not a pass.
//!
//! A gate may look at part of the run (its `during`: the steady part after the ramp-up, or one stage), whose
//! statistics are rebuilt from the time series' per-second histograms, so a window is as exact as the whole
//! run at one-second resolution (coarser on a run longer than the series' cap, whose older points are merged:
//! see [`crate::metrics::series`]). `dropped_iterations` (arrival rate) passes when measured <= threshold.

use crate::plan::{Gate, GateMetric, Window};
pub use crate::results::GateResult;
use crate::results::RequestStats;
use crate::results::stats::success_pct;

/// Statistics of one part of the run: per request, and all together.
pub type Evidence = (Vec<RequestStats>, RequestStats);

/// Evaluates `gates` (all over the whole run) against per-request and aggregated statistics.
pub fn evaluate(
    gates: &[Gate],
    requests: &[RequestStats],
    aggregated: &RequestStats,
) -> Vec<GateResult> {
    let whole = (requests.to_vec(), aggregated.clone());
    evaluate_with(gates, &whole, &|_| None, None)
}

/// A gate not judged (`why` says so): it passes, with nothing measured.
fn skipped(g: &Gate, why: String) -> GateResult {
    GateResult {
        scope: g.scope.clone(),
        during: g.window,
        metric: g.metric,
        op: g.metric.op().into(),
        threshold: g.threshold,
        measured: None,
        passed: true,
        skipped: Some(why),
        requests: None,
        failures: None,
    }
}

/// Evaluates `gates`: `whole` is the whole run's evidence, `window` builds a part's, and `dropped` is the
/// arrival rate's dropped iterations.
pub fn evaluate_with(
    gates: &[Gate],
    whole: &Evidence,
    window: &dyn Fn(Window) -> Option<Evidence>,
    dropped: Option<u64>,
) -> Vec<GateResult> {
    let mut parts: Vec<(Window, Option<Evidence>)> = Vec::new();
    gates
        .iter()
        .map(|g| {
            if let Some(why) = &g.skip {
                return skipped(g, why.clone());
            }
            let evidence = match g.window {
                Window::Run => Some(whole),
                w => {
                    if !parts.iter().any(|(x, _)| *x == w) {
                        parts.push((w, window(w)));
                    }
                    parts
                        .iter()
                        .find(|(x, _)| *x == w)
                        .and_then(|(_, e)| e.as_ref())
                }
            };
            let stats = evidence.and_then(|(requests, aggregated)| match &g.scope {
                None => Some(aggregated),
                Some(name) => requests.iter().find(|r| &r.name == name),
            });
            let counts = stats.map(|s| (s.requests, s.failures));
            let stats = stats.filter(|s| s.requests > 0);
            let (measured, passed) = match g.metric {
                GateMetric::SuccessRate => {
                    // Compared exactly: the rounded figure of the report could turn 99.9996 into 100.
                    let m = stats.and_then(|s| success_pct(s.requests, s.failures));
                    (m, m.is_some_and(|m| m >= g.threshold))
                }
                GateMetric::Percentile(p) => {
                    let m = stats
                        .and_then(|s| s.percentiles_ms.as_ref())
                        .and_then(|pc| pc.get(p));
                    (m, m.is_some_and(|m| m < g.threshold))
                }
                GateMetric::DroppedIterations => {
                    let m = dropped.map(|d| d as f64);
                    (m, m.is_some_and(|m| m <= g.threshold))
                }
                // Judged on the scraped values by [`judge_monitor`] once the run is over.
                GateMetric::MonitorMax | GateMetric::MonitorMin => {
                    return skipped(g, MONITOR_PENDING.into());
                }
            };
            GateResult {
                scope: g.scope.clone(),
                during: g.window,
                metric: g.metric,
                op: g.metric.op().into(),
                threshold: g.threshold,
                measured,
                passed,
                skipped: None,
                requests: counts.map(|c| c.0),
                failures: counts.map(|c| c.1),
            }
        })
        .collect()
}

/// Why a `[monitor]` gate is not judged yet: during the run (the live UI, `abort_on_fail`), before
/// [`judge_monitor`].
pub const MONITOR_PENDING: &str = "judged on the target's metrics at the end of the run";

/// Judges the `[monitor]` gates among `results` (`monitor_max`, `monitor_min`; scope `ENDPOINT:NAME`) on the
/// values scraped, each over its window (`span` gives a window's seconds; the whole run takes every value).
/// A series without a value in the window is skipped, not failed: an endpoint that stops answering is a
/// warning, never a failed run by itself.
pub fn judge_monitor(
    results: &mut [GateResult],
    monitor: Option<&crate::results::MonitorResults>,
    span: &dyn Fn(Window) -> (f64, f64),
) {
    for g in results.iter_mut() {
        let max = match g.metric {
            GateMetric::MonitorMax => true,
            GateMetric::MonitorMin => false,
            _ => continue,
        };
        let series = monitor.and_then(|m| {
            m.series
                .iter()
                .find(|s| Some(s.key.as_str()) == g.scope.as_deref())
        });
        let (from, to) = match g.during {
            Window::Run => (f64::NEG_INFINITY, f64::INFINITY),
            w => span(w),
        };
        let measured = series.and_then(|s| {
            s.within(from, to)
                .reduce(if max { f64::max } else { f64::min })
        });
        g.measured = measured;
        g.requests = None;
        g.failures = None;
        match measured {
            Some(m) => {
                g.passed = if max {
                    m <= g.threshold
                } else {
                    m >= g.threshold
                };
                g.skipped = None;
            }
            None => {
                g.passed = true;
                g.skipped = Some(if series.is_some() {
                    "no value of this series was scraped in this window".into()
                } else {
                    "this series was not scraped (no [monitor] values in these results)".into()
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Percentiles;

    fn stats(name: &str, requests: u64, failures: u64, p95: f64) -> RequestStats {
        RequestStats {
            percentiles_ms: (requests > 0).then_some(Percentiles {
                p50: 1.0,
                p66: 1.0,
                p75: 1.0,
                p80: 1.0,
                p90: 1.0,
                p95,
                p98: p95,
                p99: p95,
                p99_9: p95,
                p99_99: p95,
                p100: p95,
            }),
            ..crate::results::fixtures::row("GET", name, requests, failures)
        }
    }

    #[test]
    fn thresholds_compare_the_documented_way() {
        let agg = stats("Aggregated", 100, 5, 200.0);
        let g = |metric, threshold| Gate {
            scope: None,
            window: Window::Run,
            metric,
            threshold,
            skip: None,
        };
        let r = evaluate(
            &[
                g(GateMetric::SuccessRate, 95.0),
                g(GateMetric::SuccessRate, 95.1),
                g(GateMetric::Percentile(95), 200.0),
                g(GateMetric::Percentile(95), 200.5),
            ],
            &[],
            &agg,
        );
        let passed: Vec<bool> = r.iter().map(|x| x.passed).collect();
        assert_eq!(passed, [true, false, false, true]);
        assert_eq!(r[0].measured, Some(95.0));
    }

    #[test]
    fn success_rate_is_compared_unrounded() {
        let agg = stats("Aggregated", 250_001, 1, 1.0);
        let r = evaluate(
            &[Gate {
                scope: None,
                window: Window::Run,
                metric: GateMetric::SuccessRate,
                threshold: 100.0,
                skip: None,
            }],
            &[],
            &agg,
        );
        assert!(!r[0].passed, "one failure in 250,001 is not 100%");
    }

    /// A windowed gate records the counts of its window's evidence; a whole-run gate the whole run's.
    #[test]
    fn each_gate_records_the_counts_it_was_judged_on() {
        let whole: Evidence = (
            vec![stats("x", 90, 9, 1.0)],
            stats("Aggregated", 90, 9, 1.0),
        );
        let window = |w: Window| {
            (w == Window::Steady).then(|| {
                (
                    vec![stats("x", 40, 0, 1.0)],
                    stats("Aggregated", 40, 0, 1.0),
                )
            })
        };
        let g = |window, scope: Option<&str>| Gate {
            scope: scope.map(Into::into),
            window,
            metric: GateMetric::SuccessRate,
            threshold: 99.0,
            skip: None,
        };
        let r = evaluate_with(
            &[
                g(Window::Run, None),
                g(Window::Steady, None),
                g(Window::Steady, Some("x")),
                g(Window::Stage(2), None),
            ],
            &whole,
            &window,
            None,
        );
        let counts: Vec<_> = r
            .iter()
            .map(|g| (g.requests, g.failures, g.passed))
            .collect();
        assert_eq!(
            counts,
            [
                (Some(90), Some(9), false),
                (Some(40), Some(0), true),
                (Some(40), Some(0), true),
                (None, None, false),
            ]
        );
    }

    #[test]
    fn a_scope_without_requests_fails() {
        let agg = stats("Aggregated", 10, 0, 1.0);
        let reqs = [stats("login", 0, 0, 0.0)];
        let r = evaluate(
            &[Gate {
                scope: Some("login".into()),
                window: Window::Run,
                metric: GateMetric::SuccessRate,
                threshold: 0.0,
                skip: None,
            }],
            &reqs,
            &agg,
        );
        assert!(!r[0].passed);
        assert_eq!(r[0].measured, None);
        assert_eq!(r[0].scope.as_deref(), Some("login"));
    }
}
