//! A latency histogram as the results hold it in memory: decoded, compact, and encoded only when written.
//!
//! [`Hist`] is an HdrHistogram (`Histogram<u64>`, µs) kept as its layout (lowest discernible value, highest
//! trackable value, significant digits) and its non-zero buckets as LEB128 pairs, which is what it takes to
//! rebuild the very same histogram. It is compact on purpose: a dense `Histogram<u64>` is at least 16 KiB of
//! counters (about 100 KiB for latencies of a second), and a run's time series holds one per request name per
//! point, up to [`crate::metrics::series::MAX_SERIES_POINTS`] points. An hour of 7 request names at 2,000
//! requests a second holds about 36 MB this way (19 MB as the encoded strings kept before, 2.4 GB dense; see
//! the test `an_hours_series_of_histograms_stays_small`).
//!
//! Histograms are added by [`HistSum`] (a dense sum, for the few a window, a row or a merged point needs at
//! once; [`Hist::sum`] and [`Hist::merge`] for a handful), the one adding used by the series compaction, the
//! window gates and `loadgen merge`: the layout of a sum, and so its encoding, is that of adding the histograms
//! into a fresh [`super::stats::new_histogram`] in order, as loadgen always has, whatever their number.
//!
//! In JSON a histogram is a string of [`hdr`]'s encoding (HdrHistogram's V2 deflate form in base64), written by
//! [`Serialize`] and read, with every limit of [`hdr::decode_within`], by [`Deserialize`]: within the budget
//! of the file being read when [`reading_a_file`] is around it (the results readers), within each histogram's
//! own limits otherwise.

use std::cell::RefCell;

use hdrhistogram::Histogram;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::hdr;
use super::stats::new_histogram;

/// A latency histogram, µs (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hist {
    low: u64,
    high: u64,
    digits: u8,
    /// How many values it counts.
    len: u64,
    /// The non-empty buckets, lowest first, as LEB128 pairs: the highest value equivalent to the bucket's
    /// (the difference from the previous bucket's), and its count. Two to four bytes a bucket where a dense
    /// histogram takes eight for every bucket, empty or not.
    buckets: Box<[u8]>,
}

impl Hist {
    /// `h` as a [`Hist`].
    pub fn of(h: &Histogram<u64>) -> Hist {
        let mut buckets = Vec::new();
        let mut prev = 0;
        for v in h.iter_recorded() {
            let value = v.value_iterated_to();
            leb128(&mut buckets, value - prev);
            leb128(&mut buckets, v.count_at_value());
            prev = value;
        }
        Hist {
            low: h.low(),
            high: h.high(),
            digits: h.sigfig(),
            len: h.len(),
            buckets: buckets.into_boxed_slice(),
        }
    }

    /// The non-empty buckets, lowest first: a value of the bucket and its count.
    fn buckets(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let mut at = 0;
        let mut value = 0u64;
        std::iter::from_fn(move || {
            let delta = read_leb128(&self.buckets, &mut at)?;
            let count = read_leb128(&self.buckets, &mut at)?;
            value = value.saturating_add(delta);
            Some((value, count))
        })
    }

    /// The bytes it holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.buckets.len()
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
        for (value, count) in self.buckets() {
            // Values of the histogram's own buckets: within its range (auto-resizing otherwise).
            let _ = h.record_n(value, count);
        }
        h
    }

    /// Whether it counts nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many values it counts.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// The sum of `parts`, added into a fresh histogram in order; `None` when they count nothing. Refuses a sum
    /// past [`hdr::MAX_TOTAL`] values (files read back are within it each, but any number may be added).
    pub fn sum<'a>(
        parts: impl IntoIterator<Item = &'a Hist>,
    ) -> Result<Option<Hist>, hdr::DecodeError> {
        let mut all = HistSum::default();
        for p in parts {
            all.add(Some(p))?;
        }
        Ok(all.hist())
    }

    /// Adds `other` into `self` (as [`Hist::sum`] of the two does).
    pub fn merge(&mut self, other: &Hist) -> Result<(), hdr::DecodeError> {
        if let Some(sum) = Hist::sum([&*self, other])? {
            *self = sum;
        }
        Ok(())
    }
}

/// A sum of histograms being added up ([`Hist::sum`] one part at a time): a dense histogram, for the few sums
/// a window, a row or a merged point needs at once; nothing until a histogram is added.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistSum(Option<Histogram<u64>>);

impl HistSum {
    /// Adds `h` (nothing for `None`), refusing a sum past [`hdr::MAX_TOTAL`] values.
    pub fn add(&mut self, h: Option<&Hist>) -> Result<(), hdr::DecodeError> {
        match h {
            Some(h) => self.add_histogram(&h.histogram()),
            None => Ok(()),
        }
    }

    /// Adds `h`, refusing a sum past [`hdr::MAX_TOTAL`] values.
    pub fn add_histogram(&mut self, h: &Histogram<u64>) -> Result<(), hdr::DecodeError> {
        hdr::add(self.0.get_or_insert_with(new_histogram), h)
    }

    /// Adds another sum.
    pub fn merge(&mut self, other: &HistSum) -> Result<(), hdr::DecodeError> {
        match &other.0 {
            Some(h) => self.add_histogram(h),
            None => Ok(()),
        }
    }

    /// The sum so far, `None` when it counts nothing.
    pub fn histogram(&self) -> Option<&Histogram<u64>> {
        self.0.as_ref().filter(|h| !h.is_empty())
    }

    /// The sum so far as results hold it, `None` when it counts nothing.
    pub fn hist(&self) -> Option<Hist> {
        self.histogram().map(Hist::of)
    }
}

/// Appends `n` to `out` as unsigned LEB128.
fn leb128(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// The unsigned LEB128 number at `*at` in `bytes` (written by [`leb128`]), moving `*at` past it.
fn read_leb128(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        n |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(n);
        }
    }
    None
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
        let coded = hdr::CODED.with(|c| c.get());
        let text = serde_json::to_string(&x).unwrap();
        let read: Hist = serde_json::from_str(&text).unwrap();
        assert_eq!(read, x);
        // Encoded when written, decoded when read: the counter the compaction tests rely on counts both.
        assert_eq!(hdr::CODED.with(|c| c.get()), coded + 2);
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

    /// The time series of a one-hour run of 7 request names at 2,000 requests a second (3,600 points, each with
    /// a histogram per name and one of all of them) in this form, against the encoded strings kept before.
    #[test]
    fn an_hours_series_of_histograms_stays_small() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut uniform = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        // A tenth of the hour's points, measured, and counted ten times (the points are alike).
        let (names, per_second, points) = (7u64, 2_000u64, 360);
        let (mut held, mut encoded, mut dense) = (0usize, 0usize, 0usize);
        for second in 0..points {
            let mut all = new_histogram();
            for name in 0..names {
                let mut h = new_histogram();
                // Log-normal-ish latencies around 20 ms to 140 ms, by name.
                let median = 20_000.0 * (name + 1) as f64;
                for _ in 0..per_second / names {
                    let z: f64 = (0..4).map(|_| uniform()).sum::<f64>() - 2.0;
                    h.record((median * (z * 1.2).exp()) as u64 + 1).unwrap();
                }
                all.add(&h).unwrap();
                held += 10 * (Hist::of(&h).heap_bytes() + std::mem::size_of::<Hist>());
                dense += 10 * h.distinct_values() * 8;
                if second % 10 == 0 {
                    encoded += 100 * hdr::encode(&h).unwrap().len();
                }
            }
            held += 10 * (Hist::of(&all).heap_bytes() + std::mem::size_of::<Hist>());
            dense += 10 * all.distinct_values() * 8;
            if second % 10 == 0 {
                encoded += 100 * hdr::encode(&all).unwrap().len();
            }
        }
        let mb = |b: usize| b as f64 / 1e6;
        eprintln!(
            "an hour of 7 names: {:.1} MB held, {:.1} MB as encoded strings, {:.1} MB as dense histograms",
            mb(held),
            mb(encoded),
            mb(dense)
        );
        assert!(held < 3 * encoded, "{held} bytes held, {encoded} encoded");
        assert!(held < 40_000_000, "{held} bytes held");
        assert!(held * 10 < dense, "{held} bytes held, {dense} dense");
    }
}
