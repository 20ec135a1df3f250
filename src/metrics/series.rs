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
//! A merged point is what the collector would have recorded over the longer interval ([`SeriesPoint::then`],
//! the results model's one merge of neighbouring points): counts and bytes are summed, histograms added (so
//! percentiles over it are exact), rates recomputed over its span, the scheduler lag is the larger one and the
//! CPU use the time-weighted mean; users, targets and `elapsed_s`/`timestamp` are those at its end. Histograms
//! are held decoded ([`crate::results::Hist`]), so merging them decodes and encodes nothing. Consumers take a point's span from the previous point's `elapsed_s` (0 for the
//! first); [`seconds`] weighs points by it where they count seconds.

pub use crate::results::seconds;

use super::SeriesPoint;

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
        // Only a sum past hdr::MAX_TOTAL values fails, which no run reaches; the later point then stands for
        // both rather than the series growing past its cap.
        series[i] = series[i].then(&later, start).unwrap_or(later);
        levels.remove(i + 1);
        levels[i] = levels[i].saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::new_histogram;
    use crate::results::fixtures::{interval, point, timed};

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
        let mut by_request = vec![interval(s, 0, &h0), interval(fail, fail, &h1)];
        by_request[0].bytes = 100 * s;
        SeriesPoint {
            timestamp: 1_700_000_000 + s,
            users: s,
            target_users: s + 1,
            requests: s + fail,
            failures: fail,
            rps: (s + fail) as f64,
            failures_per_s: fail as f64,
            cpu_pct: Some(10.0),
            lag_ms: s as f64 / 100.0,
            by_request,
            iterations: 1,
            dropped: s % 2,
            ..timed(point(s as f64), &all)
        }
    }

    #[test]
    fn merging_two_points_is_the_point_of_their_joint_interval() {
        let (a, b) = (second(3), second(4));
        let m = a.then(&b, 2.0).unwrap();
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
        let h = m.by_request[0].hdr.as_ref().unwrap();
        assert_eq!(h.len(), 7);
        // 3 requests of 3 ms and 4 of 4 ms, plus the 0.5 ms failure: p50 is the 4th of 8 (3 ms), the max 4 ms.
        assert!((m.p50_ms.unwrap() - 3.0).abs() < 0.01, "{:?}", m.p50_ms);
        assert!((m.max_ms.unwrap() - 4.0).abs() < 0.01, "{:?}", m.max_ms);
        assert_eq!(m.hdr.as_ref().unwrap().len(), 8);
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
        let timed: u64 = series.iter().map(|p| p.hdr.as_ref().unwrap().len()).sum();
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
