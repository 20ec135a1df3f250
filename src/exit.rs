//! How a command ended: [`ExitStatus`], each variant a documented exit code.
//!
//! Its own module, below the commands and the domain, so that whatever decides an outcome (the verdict, the
//! comparison) can name it without importing the crate root or the command layer; `loadgen::ExitStatus` is a
//! re-export.

/// How a command ended; each is a documented exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Every gate passed; without gates, no request failed: 0.
    Pass,
    /// A gate failed, or ended the run (`abort_on_fail`); without gates, a request failed: 1. See
    /// [`crate::verdict`].
    GatesFailed,
    /// Invalid scenario, bad usage, or a failure to start or write results: 2.
    Error,
    /// The run is invalid: loadgen could not keep its plan (arrival rate not reached, users not started on
    /// schedule, its scheduler lagging), so the figures say nothing certain about the server: 3.
    Invalid,
    /// The `[preflight]` checks still failed at their timeout: the target is not ready, no load was sent: 4.
    NotReady,
    /// Stopped by SIGINT or SIGTERM before the end; results are still written: 130.
    Interrupted,
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Pass => 0,
            ExitStatus::GatesFailed => 1,
            ExitStatus::Error => 2,
            ExitStatus::Invalid => 3,
            ExitStatus::NotReady => 4,
            ExitStatus::Interrupted => 130,
        }
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(s: ExitStatus) -> Self {
        std::process::ExitCode::from(s.code())
    }
}
