//! The bounds and the duration reader that every part of resolution shares: resolve.rs (the run, steps, gates)
//! and load.rs (`[load]`) both use them, so they live below both and neither imports the other.

use std::time::Duration;

use toml::Spanned;

use crate::duration::DurationError;
use crate::error::Error;
use crate::scenario::Loaded;

type Result<T> = std::result::Result<T, Error>;

/// The longest duration accepted anywhere (run time, timeouts, waits): a year.
pub const MAX_DURATION: Duration = crate::duration::MAX;
/// The most users a run may start (`--users`, `users`, `max_users`, a stage's `users`).
pub const MAX_USERS: u64 = 10_000_000;

/// A duration from the scenario ("500ms", "1h 30m", a bare number of seconds; read by [`crate::duration`]), at
/// most [`MAX_DURATION`]; an error points at `v`.
pub(super) fn duration_value(
    loaded: &Loaded,
    file: usize,
    v: &Spanned<String>,
    what: &str,
) -> Result<Duration> {
    crate::duration::parse(v.get_ref()).map_err(|e| -> Error {
        match e {
            DurationError::TooLong => loaded.error(
                file,
                v.span(),
                format!("`{what}` must be at most 365 days, got `{}`", v.get_ref()),
            ),
            DurationError::Unreadable(_) | DurationError::BadSeconds => loaded
                .error(
                    file,
                    v.span(),
                    format!(
                        "`{what}`: cannot parse `{}` as a duration ({e})",
                        v.get_ref()
                    ),
                )
                .with_help(
                    "write a number and a unit, e.g. \"500ms\", \"30s\", \"5m\", \"1h 30m\" (a bare number \
                     is seconds)",
                ),
        }
        .into()
    })
}

/// A [`duration_value`] above zero.
pub(super) fn positive_duration(
    loaded: &Loaded,
    file: usize,
    v: &Spanned<String>,
    what: &str,
) -> Result<Duration> {
    let d = duration_value(loaded, file, v, what)?;
    if d.is_zero() {
        return Err(loaded
            .error(file, v.span(), format!("`{what}` must be above zero"))
            .into());
    }
    Ok(d)
}

/// Redirects a request may follow at most (`follow_redirects`).
pub const MAX_FOLLOW_REDIRECTS: i64 = 100;
/// Redirects followed when nothing says otherwise: as k6 (and close to Locust's requests, which allows 30), so a
/// test ported from either behaves as it did there (issue 17, item 4).
pub const DEFAULT_FOLLOW_REDIRECTS: u32 = 10;

/// A `follow_redirects` value: 0 (do not follow) to [`MAX_FOLLOW_REDIRECTS`]; an error points at `v`.
pub(super) fn follow_value(loaded: &Loaded, file: usize, v: &Spanned<i64>) -> Result<u32> {
    match u32::try_from(*v.get_ref()) {
        Ok(n) if i64::from(n) <= MAX_FOLLOW_REDIRECTS => Ok(n),
        _ => Err(loaded
            .error(
                file,
                v.span(),
                format!(
                    "`follow_redirects` must be between 0 and {MAX_FOLLOW_REDIRECTS}, got {}",
                    v.get_ref()
                ),
            )
            .with_help("0 answers a redirect as it is; 10 (the default) follows up to ten hops")
            .into()),
    }
}
