//! `loadgen completions SHELL`: a completion script for bash, zsh, fish, PowerShell or elvish on stdout, generated
//! by clap_complete from [`crate::cli`] itself, so it never lists a flag the binary does not take.
//!
//! The script is built in memory and written at once; a closed pipe (`loadgen completions bash | head`) is not
//! an error.

use clap::CommandFactory;

use super::out;
use crate::cli::{Cli, CompletionsArgs};
use crate::error::Error;
use crate::exit::ExitStatus;

/// `loadgen completions`.
pub fn run(args: CompletionsArgs) -> Result<ExitStatus, Error> {
    out(&script(args.shell));
    Ok(ExitStatus::Pass)
}

/// The completion script for `shell`, for a binary called `loadgen`.
pub fn script(shell: clap_complete::Shell) -> String {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "loadgen", &mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}
