//! `loadgen merge`: the segments' results files read, merged by [`crate::merge`], written and judged by their
//! gates; the exit status is the merged results' verdict.

use super::print_summary;
use crate::cli::MergeArgs;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::{merge, report, verdict};

/// `loadgen merge`: reads, merges, writes and judges.
pub fn run(args: MergeArgs, quiet: bool) -> Result<ExitStatus, Error> {
    let outputs = report::outputs::Outputs::prepare(&args.outputs.requested(args.json.as_deref()))?;
    let mut inputs = Vec::with_capacity(args.results.len());
    for path in &args.results {
        inputs.push((path.clone(), report::json::read(path)?));
    }
    let merged = merge::merge(inputs)?;
    if let Some(m) = &merged.merged
        && !m.missing.is_empty()
    {
        eprintln!(
            "warning: segment{} {} of {} missing: the merged results cover only part of the plan (marked \
             incomplete and invalid)",
            if m.missing.len() == 1 { "" } else { "s" },
            merge::shown(&m.missing),
            m.count
        );
    }
    let verdict = verdict::Verdict::of(&merged);
    let (written, first_error) = outputs.write(&merged);
    if !quiet {
        print_summary(&outputs, &report::console::render(&merged));
        if !written.is_empty() {
            eprintln!("merged results written to {}", written.join(", "));
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    Ok(verdict.exit_status())
}
