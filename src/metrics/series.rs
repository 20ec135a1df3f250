//! Keeping the time series bounded over long runs.
//!
//! The collector adds a point a second, each with a histogram per request name, so a 24-hour soak would hold
//! 86,400 of them. Past [`MAX_SERIES_POINTS`], each new point is paid for by merging two adjacent older ones
//! into one that covers both intervals: the series keeps covering the whole run, at a resolution that gets
//! coarser as the run gets longer, and its length stays at the cap.
//!
//! Which two: every point has a *level*, how many times it has been merged (a fresh point is level 0, a merged
//! one the level of its halves plus one), and the pair merged is the oldest pair of neighbours of the lowest
//! level that has such a pair. Levels never rise from old to new, so the series stays in two resolutions
//! next to each other (after 24 hours with the cap at 3,600: about 1,800 points of 32 s, then 1,800 of 16 s,
//! then a few finer ones at the end), like a binary counter, rather than halving everything at once. The last
//! point is never merged: the collector may still fold a short final interval into it.
//!
//! A merged point is what the collector would have recorded over the longer interval: counts and bytes are
//! summed, histograms added (so percentiles over it are exact), rates recomputed over its span, the scheduler
//! lag is the larger one and the CPU use the time-weighted mean; users, targets and `elapsed_s`/`timestamp`
//! are those at its end. Consumers take a point's span from the previous point's `elapsed_s` (0 for the
//! first); [`seconds`] weighs points by it where they count seconds.

use hdrhistogram::Histogram;

use super::{SeriesPoint, StepInterval, hdr, ms, round3};

/// The most points the time series holds: an hour at one point a second. Longer runs are merged down to it.
pub const MAX_SERIES_POINTS: usize = 3_600;

/// Merges the points past `cap` (see the module docs); `levels` holds each point's merge level, in step with
/// `series` (a point pushed without one counts as level 0).
pub fn compact(series: &mut Vec<SeriesPoint>, levels: &mut Vec<u8>, cap: usize) {
    levels.resize(series.len(), 0);
    while series.len() > cap.max(2) {
        // Pairs (i, i + 1) that leave the last point alone.
        let last_pair = series.len() - 2;
        let i = (0..last_pair)
            .filter(|&i| levels[i] == levels[i + 1])
            .min_by_key(|&i| (levels[i], i))
            .unwrap_or(0);
        let start = if i == 0 { 0.0 } else { series[i - 1].elapsed_s };
        let later = series.remove(i + 1);
        series[i] = merge(&series[i], &later, start);
        levels.remove(i + 1);
        levels[i] = levels[i].saturating_add(1);
    }
}

/// `a` and the point after it, `b`, as one point over both intervals; `a`'s interval began at `start_s`
/// (seconds from the start of the run).
pub fn merge(a: &SeriesPoint, b: &SeriesPoint, start_s: f64) -> SeriesPoint {
    let span_a = (a.elapsed_s - start_s).max(0.0);
    let span_b = (b.elapsed_s - a.elapsed_s).max(0.0);
    let secs = (span_a + span_b).max(1e-3);
    let requests = a.requests + b.requests;
    let failures = a.failures + b.failures;
    let h = added(&a.hdr, &b.hdr);
    let pct = |q: f64, own: fn(&SeriesPoint) -> Option<f64>| match &h {
        Some(h) if q >= 1.0 => Some(ms(h.max())),
        Some(h) => Some(ms(h.value_at_quantile(q))),
        // Only if a histogram could not be read back: the higher of the two, which overstates rather than hides.
        None => own(a).into_iter().chain(own(b)).reduce(f64::max),
    };
    let cpu_pct = match (a.cpu_pct, b.cpu_pct) {
        (Some(x), Some(y)) if span_a + span_b > 0.0 => {
            Some(round3((x * span_a + y * span_b) / (span_a + span_b)))
        }
        (x, y) => y.or(x),
    };
    let n = a.by_request.len().max(b.by_request.len());
    let by_request = (0..n)
        .map(|k| {
            let none = StepInterval::default();
            let (x, y) = (
                a.by_request.get(k).unwrap_or(&none),
                b.by_request.get(k).unwrap_or(&none),
            );
            StepInterval {
                requests: x.requests + y.requests,
                failures: x.failures + y.failures,
                bytes: x.bytes + y.bytes,
                hdr: added(&x.hdr, &y.hdr)
                    .and_then(|h| hdr::encode(&h))
                    .or_else(|| y.hdr.clone().or_else(|| x.hdr.clone())),
            }
        })
        .collect();
    SeriesPoint {
        elapsed_s: b.elapsed_s,
        timestamp: b.timestamp,
        users: b.users,
        target_users: b.target_users,
        requests,
        failures,
        rps: round3(requests as f64 / secs),
        failures_per_s: round3(failures as f64 / secs),
        p50_ms: pct(0.50, |p| p.p50_ms),
        p95_ms: pct(0.95, |p| p.p95_ms),
        p99_ms: pct(0.99, |p| p.p99_ms),
        max_ms: pct(1.0, |p| p.max_ms),
        cpu_pct,
        lag_ms: a.lag_ms.max(b.lag_ms),
        hdr: h.as_ref().and_then(hdr::encode),
        by_request,
        target_rate: b.target_rate,
        iterations: a.iterations + b.iterations,
        dropped: a.dropped + b.dropped,
    }
}

/// The sum of two encoded histograms; `None` when neither has any value (or one cannot be read back).
fn added(a: &Option<String>, b: &Option<String>) -> Option<Histogram<u64>> {
    let h = hdr::merge(a.iter().chain(b).map(String::as_str)).ok()?;
    (!h.is_empty()).then_some(h)
}

/// Each point with the whole seconds it stands for: its span (from the previous point's `elapsed_s`, or 0),
/// rounded, and at least 1. A point a second counts 1 each; a merged point as many seconds as it covers.
pub fn seconds(series: &[SeriesPoint]) -> impl Iterator<Item = (usize, &SeriesPoint)> + '_ {
    let mut prev = 0.0;
    series.iter().map(move |p| {
        let span = p.elapsed_s - prev;
        prev = p.elapsed_s;
        let whole = if span.is_finite() { span.round() } else { 1.0 };
        (whole.max(1.0) as usize, p)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::new_histogram;

    /// The point for second `s` (ending at `s` s): `s` requests of `s` ms each to request 0, one failure every
    /// third second to request 1, lag `s` ms.
    fn second(s: u64) -> SeriesPoint {
        let mut h0 = new_histogram();
        h0.record_n(s * 1000, s).unwrap();
        let mut all = h0.clone();
        let fail = u64::from(s.is_multiple_of(3));
        let mut h1 = new_histogram();
        if fail > 0 {
            h1.record(500).unwrap();
            all.record(500).unwrap();
        }
        SeriesPoint {
            elapsed_s: s as f64,
            timestamp: 1_700_000_000 + s,
            users: s,
            target_users: s + 1,
            requests: s + fail,
            failures: fail,
            rps: (s + fail) as f64,
            failures_per_s: fail as f64,
            p50_ms: Some(s as f64),
            p95_ms: Some(s as f64),
            p99_ms: Some(s as f64),
            max_ms: Some(s as f64),
            cpu_pct: Some(10.0),
            lag_ms: s as f64 / 100.0,
            hdr: hdr::encode(&all),
            by_request: vec![
                StepInterval {
                    requests: s,
                    failures: 0,
                    bytes: 100 * s,
                    hdr: hdr::encode(&h0),
                },
                StepInterval {
                    requests: fail,
                    failures: fail,
                    bytes: 0,
                    hdr: hdr::encode(&h1),
                },
            ],
            target_rate: None,
            iterations: 1,
            dropped: s % 2,
        }
    }

    #[test]
    fn merging_two_points_is_the_point_of_their_joint_interval() {
        let (a, b) = (second(3), second(4));
        let m = merge(&a, &b, 2.0);
        assert_eq!((m.elapsed_s, m.timestamp, m.users), (4.0, b.timestamp, 4));
        assert_eq!((m.requests, m.failures), (8, 1));
        assert_eq!(
            (m.rps, m.failures_per_s),
            (4.0, 0.5),
            "over the 2 s they span"
        );
        assert_eq!((m.iterations, m.dropped), (2, 1));
        assert_eq!(m.lag_ms, 0.04);
        assert_eq!(m.cpu_pct, Some(10.0));
        assert_eq!(m.by_request[0].requests, 7);
        assert_eq!(m.by_request[0].bytes, 700);
        assert_eq!(m.by_request[1].failures, 1);
        let h = hdr::decode(m.by_request[0].hdr.as_deref().unwrap()).unwrap();
        assert_eq!(h.len(), 7);
        // 3 requests of 3 ms and 4 of 4 ms, plus the 0.5 ms failure: p50 is the 4th of 8 (3 ms), the max 4 ms.
        assert!((m.p50_ms.unwrap() - 3.0).abs() < 0.01, "{:?}", m.p50_ms);
        assert!((m.max_ms.unwrap() - 4.0).abs() < 0.01, "{:?}", m.max_ms);
        assert_eq!(hdr::decode(m.hdr.as_deref().unwrap()).unwrap().len(), 8);
    }

    #[test]
    fn a_long_series_is_merged_down_to_the_cap_and_still_covers_the_run() {
        let cap = 60;
        let (mut series, mut levels) = (Vec::new(), Vec::new());
        let total = 1_000u64;
        for s in 1..=total {
            series.push(second(s));
            compact(&mut series, &mut levels, cap);
            assert!(series.len() <= cap, "{} points at {s} s", series.len());
            assert_eq!(levels.len(), series.len());
        }
        assert_eq!(series.len(), cap);
        // Counts are preserved: every request, failure, byte and iteration of the 1,000 seconds.
        let requests: u64 = (1..=total).map(|s| s + u64::from(s % 3 == 0)).sum();
        assert_eq!(series.iter().map(|p| p.requests).sum::<u64>(), requests);
        assert_eq!(series.iter().map(|p| p.failures).sum::<u64>(), total / 3);
        assert_eq!(
            series.iter().map(|p| p.by_request[0].bytes).sum::<u64>(),
            (1..=total).map(|s| 100 * s).sum::<u64>()
        );
        assert_eq!(series.iter().map(|p| p.iterations).sum::<u64>(), total);
        let timed: u64 = series
            .iter()
            .map(|p| hdr::decode(p.hdr.as_deref().unwrap()).unwrap().len())
            .sum();
        assert_eq!(
            timed, requests,
            "every latency is still in some point's histogram"
        );
        // The series covers the run: from the first second to the last, in order, the last point untouched.
        assert!(series.windows(2).all(|w| w[0].elapsed_s < w[1].elapsed_s));
        assert_eq!(series.last().unwrap(), &second(total));
        let covered: usize = seconds(&series).map(|(n, _)| n).sum();
        assert_eq!(covered, total as usize);
        // Resolution: coarser towards the start, never finer than an older point, and no more than two
        // coarse levels side by side (plus the binary tail at the end).
        assert!(levels.windows(2).all(|w| w[0] >= w[1]), "{levels:?}");
        let (coarse, fine) = (levels[0], levels[cap / 2]);
        assert!(coarse - fine <= 1, "{levels:?}");
        assert!(
            (1u64 << coarse) <= total / cap as u64 * 2,
            "spans of 2^{coarse} s for {total} s in {cap} points"
        );
        // A merged point's rate is over its span.
        let (span, p) = seconds(&series).next().unwrap();
        assert!((p.rps - p.requests as f64 / span as f64).abs() < 0.01);
    }

    #[test]
    fn seconds_weighs_points_by_their_span() {
        let mut series = vec![second(1), second(2), second(5), second(6)];
        series[3].elapsed_s = 6.4;
        let w: Vec<usize> = seconds(&series).map(|(n, _)| n).collect();
        assert_eq!(w, [1, 1, 3, 1]);
    }
}
