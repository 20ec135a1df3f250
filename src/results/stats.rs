//! Every statistic of the results, computed here and nowhere else: a row's figures from its counts and
//! histograms ([`Tally::stats`]), percentiles ([`Percentiles::of`]), the success rate, rates over a span, and a
//! time-series interval's latency figures.
//!
//! [`Tally`] is what a row of statistics is made of before it is figures: counts, bytes, status codes and the
//! three histograms. A window's rows are tallied from the time series' per-name intervals
//! ([`Tally::add_interval`]) and `loadgen merge`'s from the segments' rows ([`Tally::add_row`]), their
//! aggregates from the rows ([`Tally::merge`]); each then becomes a [`RequestStats`] by [`RequestStats::of`],
//! as the run's rows do from its recorded totals.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use super::hdr::DecodeError;
use super::{Hist, HistSum, Percentiles, RequestStats, StepInterval};

/// A latency histogram in microseconds with 3 significant digits; it grows to fit what is recorded.
pub fn new_histogram() -> Histogram<u64> {
    // `new` only fails for sigfig > 5.
    Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant digits is valid"))
}

/// Microseconds to milliseconds.
pub fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Rounded to 3 decimals, as the results write figures.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Percent of `requests` that met their expectation, rounded to 3 decimals; 100 when there were none.
pub fn success_rate(requests: u64, failures: u64) -> f64 {
    success_pct(requests, failures).map_or(100.0, round3)
}

/// Percent of `requests` that met their expectation, unrounded (the gates compare it exactly: rounded, 99.9996
/// would pass as 100); `None` when there were none.
pub fn success_pct(requests: u64, failures: u64) -> Option<f64> {
    (requests > 0).then(|| 100.0 * requests.saturating_sub(failures) as f64 / requests as f64)
}

/// Percent of `requests` that failed, unrounded; 0 when there were none.
pub fn failure_pct(requests: u64, failures: u64) -> f64 {
    if requests == 0 {
        0.0
    } else {
        100.0 * failures as f64 / requests as f64
    }
}

/// `n` per second over `secs` (at least a millisecond), rounded to 3 decimals.
pub fn rate(n: u64, secs: f64) -> f64 {
    round3(n as f64 / secs.max(1e-3))
}

/// Milliseconds with precision that suits their size.
pub fn fmt_ms(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2}")
    } else if v < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

/// The latency figures a point of the time series carries, ms; all `None` for an empty histogram.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntervalLatency {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

/// The latency figures of an interval's histogram (µs).
pub fn interval_latency(h: &Histogram<u64>) -> IntervalLatency {
    let timed = !h.is_empty();
    let q = |q: f64| timed.then(|| ms(h.value_at_quantile(q)));
    IntervalLatency {
        p50: q(0.50),
        p95: q(0.95),
        p99: q(0.99),
        max: timed.then(|| ms(h.max())),
    }
}

impl Percentiles {
    /// The percentiles of `h` (µs), in ms.
    pub fn of(h: &Histogram<u64>) -> Self {
        let q = |p: f64| ms(h.value_at_quantile(p));
        Percentiles {
            p50: q(0.50),
            p66: q(0.66),
            p75: q(0.75),
            p80: q(0.80),
            p90: q(0.90),
            p95: q(0.95),
            p98: q(0.98),
            p99: q(0.99),
            p99_9: q(0.999),
            p99_99: q(0.9999),
            p100: ms(h.max()),
        }
    }
}

/// One row's counts and histograms, before they are statistics (see the module docs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub requests: u64,
    pub failures: u64,
    /// Answer body bytes (a float: rows read back carry only their mean).
    pub bytes: f64,
    /// Count per HTTP status code.
    pub statuses: BTreeMap<String, u64>,
    pub latency: HistSum,
    pub ttfb: HistSum,
    pub uncorrected: HistSum,
    /// Redirects followed, bodies decoded (issue 17).
    pub client: super::ClientCounts,
}

/// A sum of histograms past [`super::hdr::MAX_TOTAL`] values, and which of a row's histograms it is (`hdr`,
/// `ttfb_hdr` or `uncorrected_hdr`).
pub type TallyError = (&'static str, DecodeError);

impl Tally {
    /// Adds a row of results (a segment's, to merge them).
    pub fn add_row(&mut self, r: &RequestStats) -> Result<(), TallyError> {
        self.add_counts(
            r.requests,
            r.failures,
            r.avg_content_bytes * r.requests as f64,
        );
        self.add_statuses(&r.status_codes);
        self.client.add(&r.client());
        self.latency.add(r.hdr.as_ref()).map_err(|e| ("hdr", e))?;
        self.ttfb
            .add(r.ttfb_hdr.as_ref())
            .map_err(|e| ("ttfb_hdr", e))?;
        self.uncorrected
            .add(r.uncorrected_hdr.as_ref())
            .map_err(|e| ("uncorrected_hdr", e))
    }

    /// Adds one name's interval of the time series (to rebuild a window).
    pub fn add_interval(&mut self, i: &StepInterval) -> Result<(), TallyError> {
        self.add_counts(i.requests, i.failures, i.bytes as f64);
        self.latency.add(i.hdr.as_ref()).map_err(|e| ("hdr", e))
    }

    /// Adds another tally (rows into their aggregate).
    pub fn merge(&mut self, other: &Tally) -> Result<(), TallyError> {
        self.add_counts(other.requests, other.failures, other.bytes);
        self.add_statuses(&other.statuses);
        self.client.add(&other.client);
        self.latency.merge(&other.latency).map_err(|e| ("hdr", e))?;
        self.ttfb.merge(&other.ttfb).map_err(|e| ("ttfb_hdr", e))?;
        self.uncorrected
            .merge(&other.uncorrected)
            .map_err(|e| ("uncorrected_hdr", e))
    }

    /// Saturating: a results file's counts are bounded, but not how many are added up.
    fn add_counts(&mut self, requests: u64, failures: u64, bytes: f64) {
        self.requests = self.requests.saturating_add(requests);
        self.failures = self.failures.saturating_add(failures);
        self.bytes += bytes;
    }

    fn add_statuses(&mut self, statuses: &BTreeMap<String, u64>) {
        for (k, v) in statuses {
            let n = self.statuses.entry(k.clone()).or_insert(0);
            *n = n.saturating_add(*v);
        }
    }

    /// The row's statistics over `secs` seconds.
    pub fn stats(&self, method: &str, name: &str, secs: f64) -> RequestStats {
        RequestStats::of(
            method,
            name,
            (self.requests, self.failures, self.bytes),
            [
                self.latency.histogram(),
                self.ttfb.histogram(),
                self.uncorrected.histogram(),
            ],
            self.statuses.clone(),
            secs,
        )
        .with_client(&self.client)
    }
}

impl RequestStats {
    /// A row's statistics: `counts` (requests, failures, body bytes), the latency, time-to-first-byte and
    /// uncorrected histograms (µs; `None` or empty when there are none), status codes, over `secs` seconds.
    pub fn of(
        method: &str,
        name: &str,
        (requests, failures, bytes): (u64, u64, f64),
        [latency, ttfb, uncorrected]: [Option<&Histogram<u64>>; 3],
        status_codes: BTreeMap<String, u64>,
        secs: f64,
    ) -> RequestStats {
        fn some(h: Option<&Histogram<u64>>) -> Option<&Histogram<u64>> {
            h.filter(|h| !h.is_empty())
        }
        let (latency, ttfb, uncorrected) = (some(latency), some(ttfb), some(uncorrected));
        RequestStats {
            method: method.to_string(),
            name: name.to_string(),
            requests,
            failures,
            success_rate: success_rate(requests, failures),
            rps: rate(requests, secs),
            failures_per_s: rate(failures, secs),
            min_ms: latency.map(|h| ms(h.min())),
            mean_ms: latency.map(|h| round3(h.mean() / 1000.0)),
            max_ms: latency.map(|h| ms(h.max())),
            percentiles_ms: latency.map(Percentiles::of),
            ttfb_percentiles_ms: ttfb.map(Percentiles::of),
            uncorrected_percentiles_ms: uncorrected.map(Percentiles::of),
            hdr: latency.map(Hist::of),
            ttfb_hdr: ttfb.map(Hist::of),
            uncorrected_hdr: uncorrected.map(Hist::of),
            avg_content_bytes: if requests > 0 {
                round3(bytes / requests as f64)
            } else {
                0.0
            },
            status_codes,
            redirects: None,
            decoded_bodies: None,
            encoded_body_bytes: None,
            decoded_body_bytes: None,
        }
    }
}
