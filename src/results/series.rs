//! The time series of the results: a point per second (or per merged interval) and per request name, and the
//! two ways points are merged, written once: [`SeriesPoint::then`] (two neighbouring intervals of one run, as
//! the series compaction merges them) and [`SeriesPoint::alongside`] (the same second on several machines, as
//! `loadgen merge` aligns them). Both add counts and histograms the same way (histograms as [`Hist::sum`] does)
//! and take the latency figures from the sum with [`stats::interval_latency`].

use serde::{Deserialize, Serialize};

use super::hdr::DecodeError;
use super::stats::round3;
use super::stats::{self, rate};
use super::{Hist, HistSum};

/// One second (or the last partial second) of the run; on a run longer than [`crate::metrics::series::MAX_SERIES_POINTS`]
/// seconds, older points cover several seconds each (see [`crate::metrics::series`]). A point's interval runs from the previous
/// point's `elapsed_s` (0 for the first) to its own.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SeriesPoint {
    /// Seconds since the run started, at the end of this interval.
    pub elapsed_s: f64,
    /// Unix time in seconds at the end of this interval.
    pub timestamp: u64,
    pub users: u64,
    /// The users the load plan wanted running at the end of this interval (the stages, or the ramp).
    #[serde(default)]
    pub target_users: u64,
    pub requests: u64,
    pub failures: u64,
    pub rps: f64,
    pub failures_per_s: f64,
    /// Latency percentiles of the requests completed in this interval (absent when there were none).
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// loadgen's own CPU use in this interval, percent of the cores it may run on (Linux only).
    pub cpu_pct: Option<f64>,
    /// The largest delay of loadgen's scheduler in this interval, ms: how late a task woke compared with when
    /// it asked to. Latencies measured while it is high include up to that much of loadgen's own delay.
    pub lag_ms: f64,
    /// The latency histogram of this interval's requests, all names together ([`crate::metrics::hdr`] encoding); absent when
    /// there were none. Any percentile of the interval can be recomputed from it.
    #[serde(default)]
    pub hdr: Option<Hist>,
    /// This interval per request name, in the order of the results' `requests`.
    #[serde(default)]
    pub by_request: Vec<StepInterval>,
    /// Arrival rate only: the iterations per second the plan wanted at the end of this interval.
    #[serde(default)]
    pub target_rate: Option<f64>,
    /// Arrival rate only: iterations started in this interval, and those dropped (due, but no user was free
    /// within the queue timeout, or still waiting when the run ended).
    #[serde(default)]
    pub iterations: u64,
    #[serde(default)]
    pub dropped: u64,
}

/// One request name over one interval of the time series.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StepInterval {
    pub requests: u64,
    pub failures: u64,
    /// Answer body bytes received.
    pub bytes: u64,
    /// Latency histogram ([`crate::metrics::hdr`] encoding); absent when no request was timed.
    pub hdr: Option<Hist>,
}

impl SeriesPoint {
    /// The sum of `points` (at least one): counts, iterations and bytes added (saturating: a results file's
    /// counts are bounded, but not how many are added up), histograms added (all names, and per name), the
    /// highest lag, the latency figures from the summed histogram; everything else as in the first point.
    fn sum(points: &[&SeriesPoint]) -> Result<SeriesPoint, DecodeError> {
        let mut m = points[0].clone();
        let names = points.iter().map(|p| p.by_request.len()).max().unwrap_or(0);
        m.by_request.resize(names, StepInterval::default());
        let (mut all, mut by_name) = (HistSum::default(), vec![HistSum::default(); names]);
        for (k, p) in points.iter().enumerate() {
            if k > 0 {
                m.requests = m.requests.saturating_add(p.requests);
                m.failures = m.failures.saturating_add(p.failures);
                m.iterations = m.iterations.saturating_add(p.iterations);
                m.dropped = m.dropped.saturating_add(p.dropped);
                m.lag_ms = m.lag_ms.max(p.lag_ms);
                for (mine, theirs) in m.by_request.iter_mut().zip(&p.by_request) {
                    mine.requests = mine.requests.saturating_add(theirs.requests);
                    mine.failures = mine.failures.saturating_add(theirs.failures);
                    mine.bytes = mine.bytes.saturating_add(theirs.bytes);
                }
            }
            all.add(p.hdr.as_ref())?;
            for (sum, i) in by_name.iter_mut().zip(&p.by_request) {
                sum.add(i.hdr.as_ref())?;
            }
        }
        m.hdr = all.hist();
        for (i, sum) in m.by_request.iter_mut().zip(&by_name) {
            i.hdr = sum.hist();
        }
        match all.histogram() {
            Some(h) => {
                let l = stats::interval_latency(h);
                (m.p50_ms, m.p95_ms, m.p99_ms, m.max_ms) = (l.p50, l.p95, l.p99, l.max);
            }
            // Points written without histograms: the highest of each, which overstates rather than hides.
            None => {
                let max = |f: fn(&SeriesPoint) -> Option<f64>| {
                    points.iter().filter_map(|p| f(p)).reduce(f64::max)
                };
                m.p50_ms = max(|p| p.p50_ms);
                m.p95_ms = max(|p| p.p95_ms);
                m.p99_ms = max(|p| p.p99_ms);
                m.max_ms = max(|p| p.max_ms);
            }
        }
        Ok(m)
    }

    /// `self` and the point after it, `next`, as one point over both intervals (the series compaction);
    /// `self`'s interval began at `start_s` (seconds from the start of the run).
    ///
    /// What the collector would have recorded over the longer interval: counts and bytes summed, histograms
    /// added, rates over the joint span, the higher lag, the time-weighted mean CPU use; users, targets and
    /// `elapsed_s`/`timestamp` those at its end.
    pub fn then(&self, next: &SeriesPoint, start_s: f64) -> Result<SeriesPoint, DecodeError> {
        let span_a = (self.elapsed_s - start_s).max(0.0);
        let span_b = (next.elapsed_s - self.elapsed_s).max(0.0);
        let mut m = SeriesPoint::sum(&[self, next])?;
        let secs = span_a + span_b;
        m.rps = rate(m.requests, secs);
        m.failures_per_s = rate(m.failures, secs);
        m.cpu_pct = match (self.cpu_pct, next.cpu_pct) {
            (Some(x), Some(y)) if secs > 0.0 => Some(round3((x * span_a + y * span_b) / secs)),
            (x, y) => y.or(x),
        };
        m.elapsed_s = next.elapsed_s;
        m.timestamp = next.timestamp;
        m.users = next.users;
        m.target_users = next.target_users;
        m.target_rate = next.target_rate;
        Ok(m)
    }

    /// The points of one second on several machines as one (`loadgen merge`): counts, users, rates and targets
    /// summed, histograms added, the busiest machine's CPU use and the highest lag; `elapsed_s` the latest.
    /// `None` without points.
    pub fn alongside<'a>(
        points: impl IntoIterator<Item = &'a SeriesPoint>,
    ) -> Result<Option<SeriesPoint>, DecodeError> {
        let points: Vec<&SeriesPoint> = points.into_iter().collect();
        if points.is_empty() {
            return Ok(None);
        }
        let mut m = SeriesPoint::sum(&points)?;
        let total =
            |f: fn(&SeriesPoint) -> u64| points.iter().map(|p| f(p)).fold(0, u64::saturating_add);
        m.users = total(|p| p.users);
        m.target_users = total(|p| p.target_users);
        m.rps = round3(points.iter().map(|p| p.rps).sum());
        m.failures_per_s = round3(points.iter().map(|p| p.failures_per_s).sum());
        m.cpu_pct = points.iter().filter_map(|p| p.cpu_pct).reduce(f64::max);
        let rates: Vec<f64> = points.iter().filter_map(|p| p.target_rate).collect();
        m.target_rate = (!rates.is_empty()).then(|| round3(rates.iter().sum()));
        m.elapsed_s = points.iter().map(|p| p.elapsed_s).fold(0.0, f64::max);
        if m.hdr.is_none() {
            (m.p50_ms, m.p95_ms, m.p99_ms, m.max_ms) = (None, None, None, None);
        }
        Ok(Some(m))
    }
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
