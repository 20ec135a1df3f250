//! `loadgen import har|locust`: a scenario written from a browser's HAR recording or from a locustfile.
//!
//! The command reads the source, lets [`crate::import`] build the draft scenario, and prints it on stdout or
//! writes it to `-o FILE` (through [`crate::files::OutputFile`], an existing file left alone unless `--force`).

use std::path::Path;

use super::out;
use crate::cli::{ImportArgs, ImportSource};
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::files::{self, Mode, OutputFile};
use crate::import::{self, Draft};

/// `loadgen import`.
pub fn run(args: ImportArgs, quiet: bool) -> Result<ExitStatus, Error> {
    let (file, draft) = match &args.source {
        ImportSource::Har(a) => {
            let text = read(&a.file, files::HAR)?;
            let opts = import::har::HarOptions {
                keep_static: a.keep_static,
            };
            (&a.file, import::har::import(&text, &a.file, &opts))
        }
        ImportSource::Locust(a) => {
            let text = read(&a.file, files::LOCUSTFILE)?;
            (&a.file, import::locust::import(&text, &a.file))
        }
    };
    let draft: Draft = draft.map_err(|e| Error::Usage(e.to_string()))?;
    let text = draft.to_toml();
    match &args.output {
        None => out(&text),
        Some(path) => {
            let to_stdout = path.as_os_str() == "-";
            if !to_stdout && !args.force && std::fs::symlink_metadata(path).is_ok() {
                return Err(Error::Usage(format!(
                    "{} already exists; loadgen import leaves it alone: pass --force to replace it, or name \
                     another file",
                    path.display()
                )));
            }
            let output = OutputFile::prepare(path, Mode::Replace)?;
            output.write_all(text.as_bytes())?;
            if !to_stdout && !quiet {
                let shown = path.display();
                let notes = match draft.notes.len() {
                    0 => String::new(),
                    1 => " (1 part not translated: see the comments at its end)".to_string(),
                    n => format!(" ({n} parts not translated: see the comments at its end)"),
                };
                eprintln!(
                    "wrote {shown} from {}{notes}\n  loadgen check {shown}",
                    file.display()
                );
            }
        }
    }
    Ok(ExitStatus::Pass)
}

/// The source's text: a regular file (a FIFO or a device is refused, never waited on), within `limit`.
fn read(path: &Path, limit: files::Limit) -> Result<String, Error> {
    files::read_text(path, limit).map_err(|e| Error::Usage(format!("{}: {e}", path.display())))
}
