//! The time series of the results: a point per second (or per merged interval) and per request name, and the
//! two ways points are merged, written once: [`SeriesPoint::then`] (two neighbouring intervals of one run, as
//! the series compaction merges them) and [`SeriesPoint::alongside`] (the same second on several machines, as
//! `loadgen merge` aligns them). Both add counts and histograms with [`StepInterval::merge`] / [`Hist::sum`] and
//! take the latency figures from the sum with [`stats::interval_latency`].

use serde::{Deserialize, Serialize};

use super::Hist;
use super::hdr::DecodeError;
use super::stats::round3;
use super::stats::{self, rate};

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

impl StepInterval {
    /// Adds `other` (the same request name over another interval, or on another machine) into `self`.
    pub fn merge(&mut self, other: &StepInterval) -> Result<(), DecodeError> {
        // Saturating: a results file's counts are bounded, but not how many are added up.
        self.requests = self.requests.saturating_add(other.requests);
        self.failures = self.failures.saturating_add(other.failures);
        self.bytes = self.bytes.saturating_add(other.bytes);
        self.hdr = super::hist::merged(self.hdr.as_ref(), other.hdr.as_ref())?;
        Ok(())
    }
}

impl SeriesPoint {
    /// What two points have to add whichever way they are merged: counts, iterations, the histograms (all
    /// names, and per name), the highest lag; the latency figures from the summed histogram.
    fn add(&mut self, other: &SeriesPoint) -> Result<(), DecodeError> {
        let own = (self.p50_ms, self.p95_ms, self.p99_ms, self.max_ms);
        self.requests = self.requests.saturating_add(other.requests);
        self.failures = self.failures.saturating_add(other.failures);
        self.iterations = self.iterations.saturating_add(other.iterations);
        self.dropped = self.dropped.saturating_add(other.dropped);
        self.lag_ms = self.lag_ms.max(other.lag_ms);
        self.hdr = super::hist::merged(self.hdr.as_ref(), other.hdr.as_ref())?;
        if self.by_request.len() < other.by_request.len() {
            self.by_request
                .resize(other.by_request.len(), StepInterval::default());
        }
        for (mine, theirs) in self.by_request.iter_mut().zip(&other.by_request) {
            mine.merge(theirs)?;
        }
        match &self.hdr {
            Some(h) => {
                let l = stats::interval_latency(&h.histogram());
                (self.p50_ms, self.p95_ms, self.p99_ms, self.max_ms) = (l.p50, l.p95, l.p99, l.max);
            }
            // Points written without histograms: the higher of the two, which overstates rather than hides.
            None => {
                let max = |a: Option<f64>, b: Option<f64>| a.into_iter().chain(b).reduce(f64::max);
                self.p50_ms = max(own.0, other.p50_ms);
                self.p95_ms = max(own.1, other.p95_ms);
                self.p99_ms = max(own.2, other.p99_ms);
                self.max_ms = max(own.3, other.max_ms);
            }
        }
        Ok(())
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
        let mut m = self.clone();
        m.add(next)?;
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
    /// summed, histograms added, the busiest machine's CPU use and the highest lag. `None` without points.
    pub fn alongside<'a>(
        points: impl IntoIterator<Item = &'a SeriesPoint>,
    ) -> Result<Option<SeriesPoint>, DecodeError> {
        let mut points = points.into_iter();
        let Some(first) = points.next() else {
            return Ok(None);
        };
        let mut m = first.clone();
        // The sum of one histogram is its own layout in a fresh histogram, as for any other number of them.
        m.hdr = super::hist::merged(first.hdr.as_ref(), None)?;
        for s in &mut m.by_request {
            s.hdr = super::hist::merged(s.hdr.as_ref(), None)?;
        }
        let mut rps = first.rps;
        let mut failures_per_s = first.failures_per_s;
        for p in points {
            m.add(p)?;
            m.users = m.users.saturating_add(p.users);
            m.target_users = m.target_users.saturating_add(p.target_users);
            rps += p.rps;
            failures_per_s += p.failures_per_s;
            m.cpu_pct = m.cpu_pct.into_iter().chain(p.cpu_pct).reduce(f64::max);
            m.target_rate = match (m.target_rate, p.target_rate) {
                (Some(a), Some(b)) => Some(a + b),
                (a, b) => a.or(b),
            };
            m.elapsed_s = m.elapsed_s.max(p.elapsed_s);
        }
        m.rps = round3(rps);
        m.failures_per_s = round3(failures_per_s);
        m.target_rate = m.target_rate.map(round3);
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
