//! `loadgen compare`: two results files of one scenario compared ([`crate::compare`]), the table printed, and
//! the exit status its verdict: 0 no regression, 1 a regression, 3 no verdict.

use super::out;
use crate::cli::CompareArgs;
use crate::compare;
use crate::error::Error;
use crate::exit::ExitStatus;

/// `loadgen compare`.
pub fn run(args: CompareArgs) -> Result<ExitStatus, Error> {
    let thresholds = compare::Thresholds {
        max_p50_increase: args.max_p50_increase,
        max_p95_increase: Some(args.max_p95_increase),
        max_p99_increase: Some(args.max_p99_increase),
        max_success_drop: Some(args.max_success_drop),
        min_rps_ratio: args.min_rps_ratio,
        min_latency_delta_ms: args.min_latency_delta_ms,
        min_requests: args.min_requests,
    };
    let c = compare::compare(&args.base, &args.new, thresholds)?;
    out(&c.render(args.format));
    Ok(c.exit_status())
}
