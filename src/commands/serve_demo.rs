//! `loadgen serve-demo`: the built-in reference API ([`crate::demo`]) on the address given, until SIGINT or
//! SIGTERM stops it cleanly (exit 0, with a line on stderr saying which); with the hidden
//! `--until-stdin-closes`, also the end of stdin (how `run --demo` runs it as its child: `demo_child`).
//! It raises its open-files soft limit to the hard limit first: each connection is a descriptor.

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
        capacity: args.capacity,
        ..demo::DemoConfig::default()
    };
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        tracing::warn!("cannot read or raise the open-files limit: {e}");
    }
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
    let stdin_closed = stdin_closed(args.until_stdin_closes);
    let shutdown = async move {
        tokio::select! {
            stop = stops.next() => {
                let _ = stop_tx.send(stop);
            }
            _ = stdin_closed => {}
        }
    };
    demo::serve(listener, config, shutdown)
        .await
        .map_err(|e| Error::io("the reference API failed", e))?;
    if !quiet && let Ok(stop) = stop_rx.await {
        eprintln!("{}: the reference API stopped", stop.name());
    }
    Ok(ExitStatus::Pass)
}

/// Resolves when stdin reaches its end (or fails), if `watch`; never otherwise. Read on a thread of its own:
/// a blocking read must not hold up the runtime, and the thread ends with the process.
async fn stdin_closed(watch: bool) {
    if !watch {
        return std::future::pending().await;
    }
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let spawned = std::thread::Builder::new()
        .name("loadgen-demo-stdin".into())
        .spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            let _ = tx.send(());
        });
    match spawned {
        Ok(_) => {
            let _ = rx.await;
        }
        Err(e) => {
            tracing::warn!("cannot watch stdin ({e}): only a signal stops the reference API");
            std::future::pending::<()>().await;
        }
    }
}
