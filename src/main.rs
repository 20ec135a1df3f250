//! The `loadgen` binary: parse the command line, build the runtime, run, turn the outcome into an exit code.
//!
//! The static musl build (the container image) allocates with mimalloc: musl's own malloc made each request
//! cost more CPU and memory (benches/README.md, "The musl build"). The glibc build keeps glibc's malloc.
//! `RUSTFLAGS="--cfg loadgen_system_malloc"` keeps musl's malloc, to measure it again.

use clap::Parser;

#[cfg(all(target_env = "musl", not(loadgen_system_malloc)))]
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
