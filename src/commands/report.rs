//! `loadgen report`: the summary of a saved results file, and any report written from it (the same files
//! `run` writes with the same flags); with several results files, the combined report of `loadgen suite`
//! ([`crate::report::suite`]) built from them.

use super::print_summary;
use crate::cli::ReportArgs;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::report;

/// `loadgen report`.
pub fn run(args: ReportArgs, quiet: bool) -> Result<ExitStatus, Error> {
    if args.results.len() > 1 {
        return combined(args, quiet);
    }
    let Some(path) = args.results.first() else {
        return Err(Error::Usage("give a results file".into()));
    };
    let results = report::json::read(path)?;
    let outputs = report::outputs::Outputs::prepare(&args.outputs.requested(args.json.as_deref()))?;
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

/// Several results files: the combined report (issue 21 item 2).
fn combined(args: ReportArgs, quiet: bool) -> Result<ExitStatus, Error> {
    let o = &args.outputs;
    if o.junit.is_some() || o.csv.is_some() {
        return Err(Error::Usage(
            "with several results files, `report` writes the combined report: --json, --markdown and --html \
             (--junit and --csv take one results file)"
                .into(),
        ));
    }
    let outputs = report::suite::CombinedOutputs::prepare(
        args.json.as_deref(),
        o.markdown.as_deref(),
        o.markdown_append,
        o.html.as_deref(),
    )?;
    let runs = args
        .results
        .iter()
        .map(|p| report::json::read(p))
        .collect::<Result<Vec<_>, _>>()?;
    let c = report::suite::Combined::of(&runs);
    let (written, first_error) = outputs.write(&c, &runs);
    if !quiet {
        let text = super::suite::console(&c);
        if outputs.uses_stdout() {
            eprint!("{text}");
        } else {
            super::out(&text);
        }
        if !written.is_empty() {
            eprintln!("written: {}", written.join(", "));
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(ExitStatus::Pass),
    }
}
