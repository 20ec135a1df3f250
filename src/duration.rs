//! Durations as a user writes them, read one way everywhere: the command line's flags (`-t 30s`,
//! `--metrics-grace`, serve-demo's `--latency`), the scenario file's values (`duration = "5m"`, timeouts,
//! stages, waits) and serve-demo's `--jitter` and `--stall`.
//!
//! Accepted: a number with units as [humantime](https://docs.rs/humantime) reads them (`250ms`, `30s`, `5m`,
//! `1h30m`, `1h 30m`, `2days`), or a bare number, which is seconds (`30`, `1.5`), as Locust's `-t` and
//! `--run-time` read it; from zero up to [`MAX`]. Surrounding spaces do not count. Each caller phrases the
//! error its own way (a usage error for a flag, a located one for a file); [`DurationError`] says what was
//! wrong.

use std::time::Duration;

/// The longest duration accepted anywhere (run time, timeouts, waits): a year.
pub const MAX: Duration = Duration::from_secs(365 * 24 * 3600);

/// Why a text is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Neither a number of seconds nor a number with units; humantime's reason.
    #[error("{0}")]
    Unreadable(String),
    /// A bare number that is not a number of seconds: negative, not finite, or past what a duration holds.
    #[error("not a number of seconds from 0 up")]
    BadSeconds,
    /// Longer than [`MAX`].
    #[error("over the maximum of 365 days")]
    TooLong,
}

/// Reads `text` as a duration: humantime's forms, or a bare number of seconds; at most [`MAX`].
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    let d = match text.parse::<f64>() {
        Ok(secs) => Duration::try_from_secs_f64(secs).map_err(|_| DurationError::BadSeconds)?,
        Err(_) => {
            humantime::parse_duration(text).map_err(|e| DurationError::Unreadable(e.to_string()))?
        }
    };
    if d > MAX {
        return Err(DurationError::TooLong);
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_bare_seconds() {
        let ms = Duration::from_millis;
        for (text, want) in [
            ("30", ms(30_000)),
            (" 30 ", ms(30_000)),
            ("1.5", ms(1_500)),
            ("0", ms(0)),
            ("30s", ms(30_000)),
            ("250ms", ms(250)),
            ("5m", ms(300_000)),
            ("1h30m", ms(5_400_000)),
            ("1h 30m", ms(5_400_000)),
            ("365days", MAX),
        ] {
            assert_eq!(parse(text), Ok(want), "{text:?}");
        }
    }

    #[test]
    fn what_is_refused_and_why() {
        for text in ["", "soon", "5 minutes please", "30 s s", "-5ms"] {
            assert!(
                matches!(parse(text), Err(DurationError::Unreadable(_))),
                "{text:?}: {:?}",
                parse(text)
            );
        }
        for text in ["-1", "1e300", "inf", "NaN"] {
            assert_eq!(parse(text), Err(DurationError::BadSeconds), "{text:?}");
        }
        for text in ["366d", "31536001", "500000000000y"] {
            assert!(
                matches!(
                    parse(text),
                    Err(DurationError::TooLong | DurationError::Unreadable(_))
                ),
                "{text:?}"
            );
            assert!(parse(text).is_err());
        }
        assert_eq!(parse("366d"), Err(DurationError::TooLong));
        assert_eq!(parse("31536001"), Err(DurationError::TooLong));
    }
}
