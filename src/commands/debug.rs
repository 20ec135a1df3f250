//! `loadgen run FILE --debug N` (issue 18 item 6): the plan resolved as for a run (every located error
//! applies; `--host` and `--demo` work), then ONE user's exchanges printed on stdout by [`engine::debug`]:
//! no load, no results files, no gates, no pre-flight, no progress line. Exit 0 when every request met its
//! expectation, 1 when one did not, 2 on bad input.

use std::io::Write;

use super::demo_child::DemoChild;
use super::load_plan;
use super::run::{DEMO_PLACEHOLDER, demo_target};
use crate::cli::RunArgs;
use crate::engine;
use crate::error::Error;
use crate::exit::ExitStatus;

/// `loadgen run FILE --debug N`.
pub async fn debug(args: RunArgs, iterations: u64) -> Result<ExitStatus, Error> {
    let demo_placeholder = args.demo.then(|| DEMO_PLACEHOLDER.to_string());
    let mut plan = load_plan(&args.scenario, &args.overrides, demo_placeholder)?;
    let demo = if args.demo {
        let server = DemoChild::start().await?;
        demo_target(&mut plan, server.url());
        Some(server)
    } else {
        None
    };
    if args.debug_secrets {
        eprintln!(
            "warning: --debug-secrets: passwords, tokens and cookies are printed as they are"
        );
    }
    let out: Box<dyn Write + Send> = Box::new(std::io::stdout());
    let summary = engine::debug(&plan, iterations, args.debug_secrets, out).await;
    if let Some(server) = demo {
        server.stop().await;
    }
    let summary = summary.map_err(Error::Usage)?;
    Ok(if summary.failed == 0 {
        ExitStatus::Pass
    } else {
        ExitStatus::GatesFailed
    })
}
