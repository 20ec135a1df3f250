//! A latency histogram as the results hold it in memory: decoded, compact, and encoded only when written.
//!
//! [`Hist`] is an HdrHistogram (`Histogram<u64>`, µs) kept as its layout (lowest discernible value, highest
//! trackable value, significant digits) and its non-zero counts, which is what it takes to rebuild the very same
//! histogram. It is compact on purpose: a full `Histogram<u64>` is at least 16 KiB of counters (about 100 KiB
//! for latencies of a second), and a run's time series holds one per request name per point, up to
//! [`crate::metrics::series::MAX_SERIES_POINTS`] points; a second's non-zero counts are a few hundred.
//!
//! Histograms are added by [`Hist::sum`] (and [`Hist::merge`]), the one adding used by the series compaction,
//! the window gates and `loadgen merge`: the layout of a sum, and so its encoding, is that of adding the
//! histograms into a fresh [`crate::metrics::new_histogram`], whatever their number.
//!
//! In JSON a histogram is a string of [`hdr`]'s encoding (HdrHistogram's V2 deflate form in base64), written by
//! [`Serialize`] and read, with every limit of [`hdr::decode_within`], by [`Deserialize`]: within the budget
//! of the file being read when [`reading_a_file`] is around it (the results readers), within each histogram's
//! own limits otherwise.

use std::cell::RefCell;

use hdrhistogram::Histogram;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::metrics::{hdr, new_histogram};

/// A latency histogram, µs (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hist {
    low: u64,
    high: u64,
    digits: u8,
    /// The non-empty buckets, lowest first: the highest value equivalent to the bucket's, and its count.
    counts: Vec<(u64, u64)>,
}

impl Hist {
    /// `h` as a [`Hist`].
    pub fn of(h: &Histogram<u64>) -> Hist {
        Hist {
            low: h.low(),
            high: h.high(),
            digits: h.sigfig(),
            counts: h
                .iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect(),
        }
    }

    /// `h`, or `None` when it counts nothing (results write no histogram then).
    pub fn of_some(h: &Histogram<u64>) -> Option<Hist> {
        (!h.is_empty()).then(|| Hist::of(h))
    }

    /// The histogram itself, as it was: same layout, same counts, so the same encoding.
    pub fn histogram(&self) -> Histogram<u64> {
        let mut h = Histogram::new_with_bounds(self.low, self.high, self.digits)
            .unwrap_or_else(|_| new_histogram());
        h.auto(true);
        for &(value, count) in &self.counts {
            // Values of the histogram's own buckets: within its range (auto-resizing otherwise).
            let _ = h.record_n(value, count);
        }
        h
    }

    /// Whether it counts nothing.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// How many values it counts.
    pub fn len(&self) -> u64 {
        self.counts
            .iter()
            .fold(0u64, |n, (_, c)| n.saturating_add(*c))
    }

    /// The sum of `parts`, added into a fresh histogram in order; `None` when they count nothing. Refuses a sum
    /// past [`hdr::MAX_TOTAL`] values (files read back are within it each, but any number may be added).
    pub fn sum<'a>(
        parts: impl IntoIterator<Item = &'a Hist>,
    ) -> Result<Option<Hist>, hdr::DecodeError> {
        let mut all = new_histogram();
        for p in parts {
            hdr::add(&mut all, &p.histogram())?;
        }
        Ok(Hist::of_some(&all))
    }

    /// Adds `other` into `self` (as [`Hist::sum`] of the two does).
    pub fn merge(&mut self, other: &Hist) -> Result<(), hdr::DecodeError> {
        if let Some(sum) = Hist::sum([&*self, other])? {
            *self = sum;
        }
        Ok(())
    }
}

/// Adds two optional histograms ([`Hist::sum`]).
pub fn merged(a: Option<&Hist>, b: Option<&Hist>) -> Result<Option<Hist>, hdr::DecodeError> {
    Hist::sum(a.into_iter().chain(b))
}

impl Serialize for Hist {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = hdr::encode_any(&self.histogram())
            .ok_or_else(|| serde::ser::Error::custom("a histogram could not be encoded"))?;
        s.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for Hist {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Hist, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let decoded = READING.with(|r| {
            let mut r = r.borrow_mut();
            let decoded = match r.as_mut() {
                Some(read) => hdr::decode_within(&text, &mut read.budget),
                None => hdr::decode(&text),
            };
            if let (Err(_), Some(read)) = (&decoded, r.as_mut()) {
                read.histogram_failed = true;
            }
            decoded
        });
        decoded
            .map(|h| Hist::of(&h))
            .map_err(serde::de::Error::custom)
    }
}

/// What reading one file's histograms has cost so far, and whether one of them could not be read.
struct Reading {
    budget: hdr::Budget,
    histogram_failed: bool,
}

thread_local! {
    static READING: RefCell<Option<Reading>> = const { RefCell::new(None) };
}

/// Runs `read` (deserialising one results file) with one [`hdr::Budget::file`] for all its histograms; also
/// says whether the error `read` may return is a histogram's (which is then its whole message).
pub fn reading_a_file<T>(read: impl FnOnce() -> T) -> (T, bool) {
    let before = READING.with(|r| {
        r.borrow_mut().replace(Reading {
            budget: hdr::Budget::file(),
            histogram_failed: false,
        })
    });
    let out = read();
    let failed = READING.with(|r| {
        let mut r = r.borrow_mut();
        let failed = r.as_ref().is_some_and(|x| x.histogram_failed);
        *r = before;
        failed
    });
    (out, failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_comes_back_as_it_was_with_the_same_encoding() {
        let mut h = new_histogram();
        for v in [1u64, 7, 950, 1_000, 12_345, 2_000_000] {
            h.record_n(v, v % 7 + 1).unwrap();
        }
        let x = Hist::of(&h);
        let back = x.histogram();
        assert_eq!(back, h);
        assert_eq!(hdr::encode(&back), hdr::encode(&h));
        assert_eq!(x.len(), h.len());
        // Through JSON, and the sum is the sum of the histograms added into a fresh one.
        let text = serde_json::to_string(&x).unwrap();
        let read: Hist = serde_json::from_str(&text).unwrap();
        assert_eq!(read, x);
        let mut all = new_histogram();
        all.add(&h).unwrap();
        all.add(&h).unwrap();
        let mut twice = x.clone();
        twice.merge(&x).unwrap();
        assert_eq!(twice.histogram(), all);
        assert_eq!(hdr::encode(&twice.histogram()), hdr::encode(&all));
    }

    #[test]
    fn a_bad_histogram_is_a_located_error_and_counts_against_the_file() {
        let (r, failed) = reading_a_file(|| serde_json::from_str::<Hist>("\"AAAA\""));
        assert!(failed);
        assert!(r.unwrap_err().to_string().contains("HdrHistogram"));
        let (r, failed) = reading_a_file(|| serde_json::from_str::<Vec<u8>>("[1]"));
        assert!(!failed && r.is_ok());
    }
}
