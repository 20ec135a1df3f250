//! `loadgen report`: the summary of a saved results file, and any report written from it (the same files
//! `run` writes with the same flags).

use super::print_summary;
use crate::cli::ReportArgs;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::report;

/// `loadgen report`.
pub fn run(args: ReportArgs, quiet: bool) -> Result<ExitStatus, Error> {
    let results = report::json::read(&args.results)?;
    let outputs = report::outputs::Outputs::prepare(&args.outputs.requested(None))?;
    let (written, first_error) = outputs.write(&results);
    if !quiet {
        print_summary(&outputs, &report::console::render(&results));
        if !written.is_empty() {
            eprintln!("written: {}", written.join(", "));
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(ExitStatus::Pass),
    }
}
