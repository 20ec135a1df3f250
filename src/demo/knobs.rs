//! Fault-injection knobs of the demo server: [`Jitter`] (random extra latency)
//! and [`Stall`] (periodic whole-server pauses), plus their string syntax.
//!
//! They live apart from the HTTP code because the CLI parses them from flags
//! (`--jitter uniform:5ms..50ms`, `--stall 1s/5s`) without needing a server,
//! and because sampling/scheduling is pure arithmetic that is easy to test in
//! isolation. Both types are `Copy` and implement `FromStr` + `Display` so a
//! parsed value prints back in the same syntax.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::Rng;

/// Why a [`Jitter`] or [`Stall`] string was rejected. The message quotes the
/// input and shows the accepted syntax, so it can be shown to users verbatim.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseKnobError {
    /// The input does not match `uniform:LO..HI` or `exp:MEAN`.
    #[error(
        "invalid jitter {input:?}: {reason}; expected \"uniform:LO..HI\" (e.g. uniform:5ms..50ms) or \"exp:MEAN\" (e.g. exp:20ms)"
    )]
    Jitter {
        /// The rejected input.
        input: String,
        /// What exactly is wrong with it.
        reason: String,
    },
    /// The input does not match `PAUSE/EVERY`.
    #[error(
        "invalid stall {input:?}: {reason}; expected \"PAUSE/EVERY\" with 0 < PAUSE < EVERY (e.g. 1s/5s)"
    )]
    Stall {
        /// The rejected input.
        input: String,
        /// What exactly is wrong with it.
        reason: String,
    },
}

/// A random extra delay added to every response (on top of the fixed
/// `DemoConfig::latency`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// Uniformly distributed in `[lo, hi]`. Syntax: `uniform:5ms..50ms`.
    Uniform {
        /// Smallest extra delay.
        lo: Duration,
        /// Largest extra delay (`>= lo`).
        hi: Duration,
    },
    /// Exponentially distributed with the given mean (a long tail, like real
    /// queueing delay). Syntax: `exp:20ms` (`exponential:20ms` also accepted).
    /// Samples are naturally capped at about 37x the mean by `f64` precision.
    Exponential {
        /// Mean extra delay.
        mean: Duration,
    },
}

impl Jitter {
    /// Draws one extra delay from this distribution.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        match *self {
            Jitter::Uniform { lo, hi } => {
                if hi <= lo {
                    return lo;
                }
                let span = u64::try_from((hi - lo).as_nanos()).unwrap_or(u64::MAX);
                lo.saturating_add(Duration::from_nanos(rng.random_range(0..=span)))
            }
            Jitter::Exponential { mean } => {
                // Inverse CDF; `1 - u` lies in (0, 1], so `ln` is finite and <= 0.
                let u: f64 = rng.random();
                let factor = -(1.0 - u).ln();
                Duration::try_from_secs_f64(mean.as_secs_f64() * factor).unwrap_or(Duration::MAX)
            }
        }
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("missing duration".to_owned());
    }
    crate::duration::parse(s).map_err(|e| format!("bad duration {s:?} ({e})"))
}

impl FromStr for Jitter {
    type Err = ParseKnobError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| ParseKnobError::Jitter {
            input: input.to_owned(),
            reason,
        };
        let (kind, rest) = input
            .trim()
            .split_once(':')
            .ok_or_else(|| err("missing \"KIND:\" prefix".to_owned()))?;
        match kind.trim().to_ascii_lowercase().as_str() {
            "uniform" => {
                let (lo, hi) = rest
                    .split_once("..")
                    .ok_or_else(|| err("uniform needs a range \"LO..HI\"".to_owned()))?;
                let lo = parse_duration(lo).map_err(err)?;
                let hi = parse_duration(hi).map_err(err)?;
                if lo > hi {
                    return Err(err("LO must not exceed HI".to_owned()));
                }
                Ok(Jitter::Uniform { lo, hi })
            }
            "exp" | "exponential" => {
                let mean = parse_duration(rest).map_err(err)?;
                Ok(Jitter::Exponential { mean })
            }
            other => Err(err(format!("unknown kind {other:?}"))),
        }
    }
}

impl fmt::Display for Jitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use humantime::format_duration as hd;
        match *self {
            Jitter::Uniform { lo, hi } => write!(f, "uniform:{}..{}", hd(lo), hd(hi)),
            Jitter::Exponential { mean } => write!(f, "exp:{}", hd(mean)),
        }
    }
}

/// A periodic whole-server pause: the timeline (measured from server start)
/// is cut into cycles of length `every`, and during the last `pause` of each
/// cycle no response is sent. Requests that arrive (or finish processing)
/// inside a pause are held until it ends, then answered. This mimics a GC or
/// failover hiccup and makes coordinated omission visible in a load test.
///
/// Syntax: `PAUSE/EVERY`, e.g. `1s/5s` = responses stop during seconds 4–5,
/// 9–10, 14–15, … after start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stall {
    /// How long each pause lasts (`0 < pause < every`).
    pub pause: Duration,
    /// Length of one cycle (normal service followed by the pause).
    pub every: Duration,
}

impl Stall {
    /// How long a response that is ready `elapsed` after server start must
    /// still wait; zero outside a pause. Invalid values (`pause == 0` or
    /// `pause >= every`) never stall rather than stalling forever.
    pub fn remaining_pause(&self, elapsed: Duration) -> Duration {
        let every = self.every.as_nanos();
        let pause = self.pause.as_nanos();
        if pause == 0 || every <= pause {
            return Duration::ZERO;
        }
        let phase = elapsed.as_nanos() % every;
        if phase >= every - pause {
            // `every - phase <= pause`, which came from a Duration, so it fits.
            Duration::from_nanos((every - phase) as u64)
        } else {
            Duration::ZERO
        }
    }

    /// Checks `0 < pause < every`.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.pause.is_zero() {
            Err("PAUSE must be greater than zero".to_owned())
        } else if self.pause >= self.every {
            Err("PAUSE must be shorter than EVERY".to_owned())
        } else {
            Ok(())
        }
    }
}

impl FromStr for Stall {
    type Err = ParseKnobError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| ParseKnobError::Stall {
            input: input.to_owned(),
            reason,
        };
        let (pause, every) = input
            .split_once('/')
            .ok_or_else(|| err("missing '/' between PAUSE and EVERY".to_owned()))?;
        let stall = Stall {
            pause: parse_duration(pause).map_err(err)?,
            every: parse_duration(every).map_err(err)?,
        };
        stall.check().map_err(err)?;
        Ok(stall)
    }
}

impl fmt::Display for Stall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use humantime::format_duration as hd;
        write!(f, "{}/{}", hd(self.pause), hd(self.every))
    }
}
