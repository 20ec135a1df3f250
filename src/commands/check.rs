//! `loadgen check`: the scenario resolved with the command line's overrides and its plan printed, without any
//! traffic; with `--preflight`, the `[preflight]` checks run against the target too (exit 4 when it is not
//! ready).

use super::{load_plan, out, preflight};
use crate::cli::CheckArgs;
use crate::engine;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::signals::Stops;

/// `loadgen check`.
pub async fn run(args: CheckArgs, quiet: bool) -> Result<ExitStatus, Error> {
    let plan = load_plan(&args.scenario, &args.overrides, None)?;
    out(&plan.describe());
    if !args.preflight {
        out("\nscenario OK: no traffic was sent\n");
        return Ok(ExitStatus::Pass);
    }
    let signals = engine::Signals::default();
    let signal_task =
        tokio::spawn(Stops::listen().watch_run(signals.interrupt.clone(), signals.abort.clone()));
    let status = preflight(&plan, &signals.interrupt, quiet).await;
    signal_task.abort();
    if status == ExitStatus::Pass {
        out("\nscenario OK; the target passed the preflight checks (no load was sent)\n");
    }
    Ok(status)
}
