//! Latency histograms as text, so the results JSON can carry them whole.
//!
//! The encoding is HdrHistogram's own "V2 compressed" format (deflate) in base64: the one HdrHistogram interval
//! logs use, so the histograms loadgen writes can be read by HdrHistogram in Java, Python (`hdrh`), Go or Rust,
//! any percentile recomputed, and runs merged exactly by adding histograms.

use std::io::Read as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{
    DeserializeError, Deserializer, Serializer, V2DeflateSerializer,
};

/// A histogram that could not be read back: what is wrong with it, in words (the caller names the file and the
/// field).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(String);

/// The most bytes a histogram's counts may take inflated (the V2 payload its header declares): a full-range
/// histogram at 5 significant digits needs under 9 bytes per counter of [`MAX_COUNTERS`].
pub const MAX_PAYLOAD_BYTES: usize = 16 << 20;

/// The most counters the range and precision of a histogram may imply (16 MiB of counters), checked before they
/// are allocated. loadgen's own histograms (3 significant digits, 1 µs up to any value) need at most 57,344;
/// 5 significant digits fit up to about 2^33 units (2 hours in µs).
pub const MAX_COUNTERS: usize = 1 << 21;

/// The most values one histogram may count, and merged histograms together: a million requests a second for 30
/// years, and far enough below `u64::MAX` that adding histograms never overflows.
pub const MAX_TOTAL: u64 = 1_000_000_000_000_000;

/// What decoding the histograms of one file may cost together, in counters allocated plus bytes inflated: each
/// histogram is bounded on its own, but a 256 MiB file holds millions of small ones. A long run's file (3,600
/// points of 50 request names, each at loadgen's widest 57,344 counters) needs under a third of it.
pub const FILE_BUDGET: u64 = 1 << 33;

/// What decoding may still cost ([`FILE_BUDGET`] for one file's histograms).
#[derive(Debug)]
pub struct Budget {
    total: u64,
    left: u64,
}

impl Budget {
    /// `units` counters and bytes.
    pub fn of(units: u64) -> Budget {
        Budget {
            total: units,
            left: units,
        }
    }

    /// The budget of one file's histograms.
    pub fn file() -> Budget {
        Budget::of(FILE_BUDGET)
    }

    /// No budget beyond each histogram's own limits (histograms already checked once).
    pub fn unlimited() -> Budget {
        Budget::of(u64::MAX)
    }

    fn spend(&mut self, n: u64) -> Result<(), DecodeError> {
        match self.left.checked_sub(n) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => Err(DecodeError(format!(
                "with the histograms before it, more than {} counters and bytes to decode (at most that for all \
                 the histograms of a file)",
                self.total
            ))),
        }
    }
}

#[cfg(test)]
thread_local! {
    /// How many histograms this thread has encoded or decoded: tests check that the work that should do
    /// neither (a run's series compaction, window gates) does not.
    pub static CODED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// HdrHistogram's V2 cookies: plain and deflate-compressed.
const V2_COOKIE: u32 = 0x1c84_9313;
const V2_COMPRESSED_COOKIE: u32 = 0x1c84_9314;
/// A V2 header: cookie, payload length, normalizing offset, significant digits, lowest and highest trackable
/// values, integer-to-double ratio.
const V2_HEADER_BYTES: usize = 40;

/// Encodes `h` (values in µs); `None` for an empty histogram, which has nothing worth storing.
pub fn encode(h: &Histogram<u64>) -> Option<String> {
    if h.is_empty() {
        return None;
    }
    encode_any(h)
}

/// Encodes `h`, empty or not; `None` only if it cannot be serialised.
pub fn encode_any(h: &Histogram<u64>) -> Option<String> {
    #[cfg(test)]
    CODED.with(|c| c.set(c.get() + 1));
    let mut bytes = Vec::new();
    // Serialising into a Vec fails only on an internal inconsistency of the histogram; say nothing rather
    // than write something unreadable.
    V2DeflateSerializer::new().serialize(h, &mut bytes).ok()?;
    Some(STANDARD.encode(bytes))
}

/// Decodes what [`encode`] wrote (or HdrHistogram's uncompressed V2 form), trusting nothing in it: the declared
/// payload, the counters its range and precision imply and the inflated size are checked against
/// [`MAX_PAYLOAD_BYTES`] and [`MAX_COUNTERS`] before anything is allocated, and the values it counts against
/// [`MAX_TOTAL`]. The histogram grows to fit whatever is added to it later.
pub fn decode(text: &str) -> Result<Histogram<u64>, DecodeError> {
    decode_within(text, &mut Budget::unlimited())
}

/// [`decode`], charging what the histogram costs to decode (its counters and inflated bytes) to `budget` before
/// anything is allocated.
pub fn decode_within(text: &str, budget: &mut Budget) -> Result<Histogram<u64>, DecodeError> {
    #[cfg(test)]
    CODED.with(|c| c.set(c.get() + 1));
    let bad = |m: String| DecodeError(m);
    let bytes = STANDARD
        .decode(text.trim())
        .map_err(|e| bad(format!("not base64 ({e})")))?;
    let v2 = match be_u32(&bytes, 0) {
        Some(V2_COMPRESSED_COOKIE) => inflate(&bytes, budget)?,
        Some(V2_COOKIE) => {
            check_header(&bytes, budget)?;
            bytes
        }
        Some(c) => {
            return Err(bad(format!(
                "not an HdrHistogram: it starts with {c:#010x}, not the V2 cookie {V2_COMPRESSED_COOKIE:#010x}"
            )));
        }
        None => {
            return Err(bad(format!(
                "{} bytes: too short for an HdrHistogram",
                bytes.len()
            )));
        }
    };
    let mut h: Histogram<u64> = Deserializer::new()
        .deserialize(&mut v2.as_slice())
        .map_err(|e| match e {
            DeserializeError::IoError(_) => bad(format!(
                "truncated: the histogram declares a {}-byte payload but fewer bytes follow its header",
                be_u32(&v2, 4).unwrap_or(0)
            )),
            e => bad(format!("not a readable HdrHistogram: {e}")),
        })?;
    if h.len() > MAX_TOTAL {
        return Err(bad(format!(
            "the histogram counts {} values (at most {MAX_TOTAL})",
            if h.len() == u64::MAX {
                "more than 2^64".to_string()
            } else {
                h.len().to_string()
            }
        )));
    }
    h.auto(true);
    Ok(h)
}

/// The big-endian u32 at `at`, if `bytes` holds one there.
fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

fn be_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let b: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_be_bytes(b))
}

/// The V2 form inside a compressed histogram, inflated no further than its checked header declares.
fn inflate(bytes: &[u8], budget: &mut Budget) -> Result<Vec<u8>, DecodeError> {
    let bad = |m: String| DecodeError(m);
    let declared = be_u32(bytes, 4).ok_or_else(|| {
        bad(format!(
            "{} bytes: too short for a compressed HdrHistogram",
            bytes.len()
        ))
    })?;
    let have = bytes.len() - 8;
    if declared as usize > have {
        return Err(bad(format!(
            "truncated: the histogram declares {declared} compressed bytes but only {have} follow"
        )));
    }
    let compressed = &bytes[8..8 + declared as usize];
    let mut z = flate2::read::ZlibDecoder::new(compressed);
    let mut out = vec![0u8; V2_HEADER_BYTES];
    z.read_exact(&mut out)
        .map_err(|e| bad(format!("its compressed header cannot be inflated ({e})")))?;
    if be_u32(&out, 0) != Some(V2_COOKIE) {
        return Err(bad(
            "not an HdrHistogram: the inflated data does not start with the V2 cookie".into(),
        ));
    }
    let payload = check_header(&out, budget)?;
    // At most one byte more than the header declares is inflated, whatever the stream would grow to (a deflate
    // bomb): HdrHistogram's encoders compress exactly the header and its payload.
    let read = z
        .take(payload as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| bad(format!("its compressed counts cannot be inflated ({e})")))?;
    if read < payload {
        return Err(bad(format!(
            "truncated: the histogram declares a {payload}-byte payload but inflates to {read} bytes"
        )));
    }
    if read > payload {
        return Err(bad(format!(
            "the histogram inflates to more than the {payload}-byte payload its header declares"
        )));
    }
    Ok(out)
}

/// Checks a V2 header (at the start of `v2`) against the limits, and charges its counters and payload to
/// `budget`; the payload length it declares.
fn check_header(v2: &[u8], budget: &mut Budget) -> Result<usize, DecodeError> {
    let bad = |m: String| DecodeError(m);
    let (Some(payload), Some(digits), Some(low), Some(high)) = (
        be_u32(v2, 4),
        be_u32(v2, 12),
        be_u64(v2, 16),
        be_u64(v2, 24),
    ) else {
        return Err(bad(format!(
            "{} bytes: too short for an HdrHistogram header ({V2_HEADER_BYTES} bytes)",
            v2.len()
        )));
    };
    let payload = payload as usize;
    if payload > MAX_PAYLOAD_BYTES {
        return Err(bad(format!(
            "the histogram declares a {payload}-byte payload (at most {} MiB)",
            MAX_PAYLOAD_BYTES >> 20
        )));
    }
    let counters = counters(low, high, digits).ok_or_else(|| {
        bad(format!(
            "the histogram's range and precision are not valid (lowest {low}, highest {high}, {digits} \
             significant digits)"
        ))
    })?;
    if counters > MAX_COUNTERS {
        return Err(bad(format!(
            "the histogram's range and precision (lowest {low}, highest {high}, {digits} significant digits) \
             need {counters} counters (at most {MAX_COUNTERS})"
        )));
    }
    budget.spend(counters as u64 + payload as u64)?;
    Ok(payload)
}

/// How many counters `Histogram::new_with_bounds(low, high, digits)` allocates (its own arithmetic), or `None`
/// for bounds it refuses.
fn counters(low: u64, high: u64, digits: u32) -> Option<usize> {
    if !(1..=u64::MAX / 2).contains(&low) || high < 2 * low || digits > 5 {
        return None;
    }
    // Single-unit resolution up to 2 * 10^digits, rounded up to a power of two sub-buckets.
    let largest = 2 * 10u64.pow(digits);
    let sub_bucket_magnitude = u64::BITS - (largest - 1).leading_zeros();
    let unit_magnitude = u64::BITS - 1 - low.leading_zeros();
    if unit_magnitude + sub_bucket_magnitude > 63 {
        return None;
    }
    let mut smallest_untrackable = 1u64 << (unit_magnitude + sub_bucket_magnitude);
    let mut buckets = 1u64;
    while smallest_untrackable <= high {
        if smallest_untrackable > u64::MAX / 2 {
            buckets += 1;
            break;
        }
        smallest_untrackable <<= 1;
        buckets += 1;
    }
    usize::try_from((buckets + 1) * (1u64 << (sub_bucket_magnitude - 1))).ok()
}

/// Decodes and adds every histogram of `texts` together (an empty histogram when there are none).
pub fn merge<'a>(texts: impl IntoIterator<Item = &'a str>) -> Result<Histogram<u64>, DecodeError> {
    let mut all = super::stats::new_histogram();
    for t in texts {
        add(&mut all, &decode(t)?)?;
    }
    Ok(all)
}

/// Adds `h` into `all`, refusing a sum past [`MAX_TOTAL`] values (so that no later sum overflows).
pub fn add(all: &mut Histogram<u64>, h: &Histogram<u64>) -> Result<(), DecodeError> {
    // Both sides auto-resize, so adding cannot fail for lack of range; counts add saturating.
    let _ = all.add(h);
    if all.len() > MAX_TOTAL {
        return Err(DecodeError(format!(
            "the histograms added up count more than {MAX_TOTAL} values"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_survives_the_round_trip_exactly() {
        let mut h = crate::results::stats::new_histogram();
        for v in [1u64, 7, 950, 1_000, 12_345, 3_600_000_000] {
            h.record_n(v, v % 5 + 1).unwrap();
        }
        let text = encode(&h).unwrap();
        let back = decode(&text).unwrap();
        assert_eq!(back.len(), h.len());
        assert_eq!(back.max(), h.max());
        assert_eq!(back.min(), h.min());
        for q in [0.5, 0.9, 0.99, 0.999] {
            assert_eq!(back.value_at_quantile(q), h.value_at_quantile(q), "q={q}");
        }
        // And it can be added to later, past its recorded range.
        let mut grown = back;
        grown.record(u64::MAX / 4).unwrap();
        assert_eq!(grown.len(), h.len() + 1);
    }

    #[test]
    fn merging_encoded_histograms_equals_recording_everything_in_one() {
        let (mut a, mut b, mut all) = (
            crate::results::stats::new_histogram(),
            crate::results::stats::new_histogram(),
            crate::results::stats::new_histogram(),
        );
        for v in 1..2_000u64 {
            let h = if v % 3 == 0 { &mut a } else { &mut b };
            h.record(v * 37).unwrap();
            all.record(v * 37).unwrap();
        }
        let merged = merge([encode(&a).unwrap().as_str(), &encode(&b).unwrap()]).unwrap();
        assert_eq!(merged, all);
    }

    /// A V2 histogram as HdrHistogram lays it out: a header declaring `declared` payload bytes, then `payload`.
    fn v2(declared: u32, digits: u32, low: u64, high: u64, payload: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(V2_COOKIE.to_be_bytes());
        b.extend(declared.to_be_bytes());
        b.extend(0u32.to_be_bytes());
        b.extend(digits.to_be_bytes());
        b.extend(low.to_be_bytes());
        b.extend(high.to_be_bytes());
        b.extend(1.0f64.to_be_bytes());
        b.extend(payload);
        b
    }

    /// `inner` deflated behind the compressed cookie, declaring `len` compressed bytes (`None`: the true length).
    fn compressed(inner: impl std::io::Read, len: Option<u32>) -> Vec<u8> {
        let mut z = flate2::read::ZlibEncoder::new(inner, flate2::Compression::best());
        let mut deflated = Vec::new();
        z.read_to_end(&mut deflated).unwrap();
        let mut b = Vec::new();
        b.extend(V2_COMPRESSED_COOKIE.to_be_bytes());
        b.extend(len.unwrap_or(deflated.len() as u32).to_be_bytes());
        b.extend(deflated);
        b
    }

    fn error(bytes: &[u8]) -> String {
        decode(&STANDARD.encode(bytes)).unwrap_err().to_string()
    }

    #[test]
    fn a_declared_payload_past_the_limit_is_refused_before_anything_is_allocated() {
        let huge = v2(u32::MAX, 3, 1, 2, &[]);
        for bytes in [huge.clone(), compressed(huge.as_slice(), None)] {
            assert_eq!(
                error(&bytes),
                "the histogram declares a 4294967295-byte payload (at most 16 MiB)"
            );
        }
        // Just past the limit, too; at the limit the header is accepted (and the missing payload is reported).
        let past = v2(MAX_PAYLOAD_BYTES as u32 + 1, 3, 1, 2, &[]);
        assert!(
            error(&past).contains("payload (at most 16 MiB)"),
            "{}",
            error(&past)
        );
        let at = v2(MAX_PAYLOAD_BYTES as u32, 3, 1, 2, &[]);
        assert!(error(&at).starts_with("truncated"), "{}", error(&at));
    }

    #[test]
    fn a_range_and_precision_needing_too_many_counters_is_refused() {
        let e = error(&v2(0, 5, 1, u64::MAX, &[]));
        assert!(e.contains("need 6291456 counters (at most 2097152)"), "{e}");
        for (digits, low, high) in [(6, 1, 2), (3, 0, 2), (3, 10, 19), (3, u64::MAX, u64::MAX)] {
            let e = error(&v2(0, digits, low, high, &[]));
            assert!(e.contains("range and precision are not valid"), "{e}");
        }
        // The counter arithmetic is the crate's own: what it allocates for loadgen's and the widest histograms.
        for (digits, low, high) in [
            (3, 1, 2),
            (3, 1, u64::MAX),
            (0, 1, u64::MAX),
            (4, 1, 1 << 40),
            (5, 7, 1 << 33),
        ] {
            let h = Histogram::<u64>::new_with_bounds(low, high, digits as u8).unwrap();
            assert_eq!(
                counters(low, high, digits),
                Some(h.distinct_values()),
                "{digits} {low} {high}"
            );
        }
    }

    #[test]
    fn a_deflate_bomb_inflates_no_further_than_its_header_declares() {
        // 1000 bytes of counts declared, then 64 MiB of zeros: the stream is 64 KiB, inflating stops at 1041.
        let header = v2(1000, 3, 1, 2, &[]);
        let zeros = std::io::repeat(0).take(64 << 20);
        let bomb = compressed(header.as_slice().chain(zeros), None);
        assert!(bomb.len() < 100_000, "{}", bomb.len());
        assert_eq!(
            error(&bomb),
            "the histogram inflates to more than the 1000-byte payload its header declares"
        );
        // The same 1000 bytes of zero counters without the rest: an empty histogram.
        let exact = compressed(header.as_slice().chain(std::io::repeat(0).take(1000)), None);
        assert_eq!(
            inflate(&exact, &mut Budget::unlimited()).unwrap().len(),
            V2_HEADER_BYTES + 1000
        );
        assert!(decode(&STANDARD.encode(&exact)).unwrap().is_empty());
    }

    #[test]
    fn truncated_histograms_and_wrong_cookies_are_refused() {
        let mut h = crate::results::stats::new_histogram();
        h.record_n(1234, 5).unwrap();
        let good = STANDARD.decode(encode(&h).unwrap()).unwrap();
        assert_eq!(decode(&STANDARD.encode(&good)).unwrap(), h);
        // Cut anywhere: an error, never a panic or a different histogram.
        for cut in 0..good.len() {
            assert!(
                decode(&STANDARD.encode(&good[..cut])).is_err(),
                "cut at {cut}"
            );
        }
        let e = error(&good[..good.len() - 3]);
        assert!(e.starts_with("truncated: the histogram declares"), "{e}");
        // The compressed stream holds less than the header declares.
        let short = compressed(v2(100, 3, 1, 2, &[0; 10]).as_slice(), None);
        assert_eq!(
            error(&short),
            "truncated: the histogram declares a 100-byte payload but inflates to 10 bytes"
        );
        let mut wrong = good.clone();
        wrong[3] ^= 0xff;
        assert!(
            error(&wrong).contains("not an HdrHistogram: it starts with 0x1c8493eb"),
            "{}",
            error(&wrong)
        );
        let inner_wrong = compressed(
            v2(0, 3, 1, 2, &[])
                .iter()
                .map(|b| b ^ 1)
                .collect::<Vec<_>>()
                .as_slice(),
            None,
        );
        assert!(error(&inner_wrong).contains("does not start with the V2 cookie"));
        assert!(error(&[0x1c]).contains("too short"));
        assert!(error(&[]).contains("too short"));
        // A header only, uncompressed: its counts are missing.
        assert!(error(&v2(5, 3, 1, 2, &[])).starts_with("truncated"));
    }

    #[test]
    fn the_histograms_of_one_file_share_a_budget() {
        // Each within its own bounds; together past a budget of three (the file's is FILE_BUDGET).
        let one = STANDARD.encode(v2(0, 3, 1, 1 << 20, &[]));
        let each = counters(1, 1 << 20, 3).unwrap() as u64;
        let mut budget = Budget::of(3 * each);
        for _ in 0..3 {
            decode_within(&one, &mut budget).unwrap();
        }
        let e = decode_within(&one, &mut budget).unwrap_err().to_string();
        assert!(
            e.contains(&format!("more than {} counters and bytes", 3 * each)),
            "{e}"
        );
        // Without a budget (histograms already checked), each is decoded on its own.
        assert!(decode(&one).is_ok());
    }

    #[test]
    fn counts_past_the_total_limit_are_refused_and_sums_stop_there() {
        let mut h = crate::results::stats::new_histogram();
        h.record_n(10, MAX_TOTAL + 1).unwrap();
        let e = decode(&encode(&h).unwrap()).unwrap_err().to_string();
        assert!(
            e.contains("counts 1000000000000001 values (at most 1000000000000000)"),
            "{e}"
        );
        // Two halves are each readable; their sum is refused rather than overflowing later.
        let mut half = crate::results::stats::new_histogram();
        half.record_n(10, MAX_TOTAL / 2 + 1).unwrap();
        let text = encode(&half).unwrap();
        let e = merge([text.as_str(), &text]).unwrap_err().to_string();
        assert!(e.contains("added up count more than"), "{e}");
        // A histogram whose counters add up past u64 (each alone is fine for the crate) is refused too.
        let mut payload = Vec::new();
        for _ in 0..4 {
            // zig-zag of 2^62: 2^63, as a 9-byte varint.
            payload.extend([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80]);
        }
        let e = error(&v2(payload.len() as u32, 3, 1, 2, &payload));
        assert!(e.contains("more than 2^64"), "{e}");
    }

    #[test]
    fn empty_histograms_are_not_stored_and_garbage_is_refused() {
        assert_eq!(encode(&crate::results::stats::new_histogram()), None);
        assert!(decode("not base64!").is_err());
        assert!(
            decode("aGVsbG8gd29ybGQ=").is_err(),
            "base64, but not a histogram"
        );
    }
}
