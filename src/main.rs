//! The `loadgen` binary: parse the command line, build the runtime, run, turn the outcome into an exit code.
//!
//! The allocator is the libc's (glibc, or musl in the static container image) unless the build asks for mimalloc
//! with `RUSTFLAGS="--cfg loadgen_mimalloc"`: benches/README.md ("The musl build") measured musl's malloc at a few %
//! more CPU per request on allocation-heavy flows with two worker threads, and mimalloc at 7-14 MiB more peak RSS.

use clap::Parser;

#[cfg(loadgen_mimalloc)]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = loadgen::cli::Cli::parse();
    loadgen::init_logging(cli.verbose, cli.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return loadgen::ExitStatus::Error.into();
        }
    };
    let status = runtime.block_on(loadgen::run(cli));
    // Users aborted at the stop timeout may leave connections behind; don't wait for them.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    status.into()
}
