//! Latency histograms as text, so the results JSON can carry them whole.
//!
//! The encoding is HdrHistogram's own "V2 compressed" format (deflate) in base64: the one HdrHistogram interval
//! logs use, so the histograms loadgen writes can be read by HdrHistogram in Java, Python (`hdrh`), Go or Rust,
//! any percentile recomputed, and runs merged exactly by adding histograms.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};

/// A histogram that could not be read back.
#[derive(Debug, thiserror::Error)]
#[error("not an HdrHistogram in base64 V2 compressed form: {0}")]
pub struct DecodeError(String);

/// Encodes `h` (values in µs); `None` for an empty histogram, which has nothing worth storing.
pub fn encode(h: &Histogram<u64>) -> Option<String> {
    if h.is_empty() {
        return None;
    }
    let mut bytes = Vec::new();
    // Serialising into a Vec fails only on an internal inconsistency of the histogram; say nothing rather
    // than write something unreadable.
    V2DeflateSerializer::new().serialize(h, &mut bytes).ok()?;
    Some(STANDARD.encode(bytes))
}

/// Decodes what [`encode`] wrote; the histogram grows to fit whatever is added to it later.
pub fn decode(text: &str) -> Result<Histogram<u64>, DecodeError> {
    let bytes = STANDARD
        .decode(text.trim())
        .map_err(|e| DecodeError(e.to_string()))?;
    let mut h: Histogram<u64> = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| DecodeError(format!("{e:?}")))?;
    h.auto(true);
    Ok(h)
}

/// Decodes and adds every histogram of `texts` together (an empty histogram when there are none).
pub fn merge<'a>(texts: impl IntoIterator<Item = &'a str>) -> Result<Histogram<u64>, DecodeError> {
    let mut all = super::new_histogram();
    for t in texts {
        // Both sides auto-resize, so adding cannot fail for lack of range.
        let _ = all.add(decode(t)?);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_survives_the_round_trip_exactly() {
        let mut h = crate::metrics::new_histogram();
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
            crate::metrics::new_histogram(),
            crate::metrics::new_histogram(),
            crate::metrics::new_histogram(),
        );
        for v in 1..2_000u64 {
            let h = if v % 3 == 0 { &mut a } else { &mut b };
            h.record(v * 37).unwrap();
            all.record(v * 37).unwrap();
        }
        let merged = merge([encode(&a).unwrap().as_str(), &encode(&b).unwrap()]).unwrap();
        assert_eq!(merged, all);
    }

    #[test]
    fn empty_histograms_are_not_stored_and_garbage_is_refused() {
        assert_eq!(encode(&crate::metrics::new_histogram()), None);
        assert!(decode("not base64!").is_err());
        assert!(
            decode("aGVsbG8gd29ybGQ=").is_err(),
            "base64, but not a histogram"
        );
    }
}
