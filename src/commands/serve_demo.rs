//! `loadgen serve-demo`: the built-in reference API ([`crate::demo`]) on the address given, until SIGINT or
//! SIGTERM stops it cleanly (exit 0, with a line on stderr saying which).

use super::out;
use crate::cli::DemoArgs;
use crate::demo;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::signals::Stops;

/// `loadgen serve-demo`.
pub async fn run(args: DemoArgs, quiet: bool) -> Result<ExitStatus, Error> {
    if !(0.0..=1.0).contains(&args.error_rate) {
        return Err(Error::Usage(format!(
            "--error-rate must be between 0 and 1, got {}",
            args.error_rate
        )));
    }
    let latency_jitter = args
        .jitter
        .as_deref()
        .map(str::parse::<demo::Jitter>)
        .transpose()
        .map_err(|e| Error::Usage(format!("--jitter: {e}")))?;
    let stall = args
        .stall
        .as_deref()
        .map(str::parse::<demo::Stall>)
        .transpose()
        .map_err(|e| Error::Usage(format!("--stall: {e}")))?;
    let config = demo::DemoConfig {
        latency: args.latency,
        latency_jitter,
        error_rate: args.error_rate,
        stall,
        rate_limit: args.rate_limit,
        rate_window: args.rate_window,
        token_ttl: args.token_ttl,
        unhealthy_for: args.unhealthy_for,
        ..demo::DemoConfig::default()
    };
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| Error::io(format!("cannot listen on {}", args.addr), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::io("cannot read the listening address", e))?;
    // Before the URL is printed: whoever reads it may signal at once.
    let mut stops = Stops::listen();
    out(&format!(
        "loadgen reference API listening on http://{addr}\n"
    ));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let shutdown = async move {
        let _ = stop_tx.send(stops.next().await);
    };
    demo::serve(listener, config, shutdown)
        .await
        .map_err(|e| Error::io("the reference API failed", e))?;
    if !quiet && let Ok(stop) = stop_rx.await {
        eprintln!("{}: the reference API stopped", stop.name());
    }
    Ok(ExitStatus::Pass)
}
