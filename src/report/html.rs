//! The HTML report (`--html FILE`): one self-contained page (inline CSS and SVG, no script from anywhere else,
//! no network fetch of any kind) with the run, the gate verdicts, per-request statistics and charts over time.

use crate::error::Error;
use crate::report::RunResults;
use crate::report::json::OutputFile;

/// Renders the report page for `r` (the run's name only, until the full report lands).
pub fn render(r: &RunResults) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>loadgen</title></head><body><h1>{}</h1></body></html>\n",
        escape(&r.scenario.name)
    )
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Writes the report for `results` to `out`, atomically.
pub fn write(out: &OutputFile, results: &RunResults) -> Result<(), Error> {
    out.write_atomic(render(results).as_bytes())
}
