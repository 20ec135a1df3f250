//! The library's error type: what went wrong, phrased so a user can act on it.
//!
//! Each variant maps to exit code 2 in the binary (invalid scenario, bad usage, unusable output path, runtime
//! set-up failure); gate failures and interrupts are not errors but [`crate::ExitStatus`] values.

use std::path::PathBuf;

use crate::scenario::ScenarioError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A scenario file that cannot be loaded or does not validate.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// A test-data file that cannot be used (its own location is in the message).
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// A command-line value that does not make sense.
    #[error("{0}")]
    Usage(String),
    /// An output file that cannot be created or written.
    #[error("cannot write {path}")]
    Output {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Anything else that stops a run from starting or finishing (the runtime, the demo server...).
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl From<crate::files::WriteError> for Error {
    fn from(e: crate::files::WriteError) -> Self {
        Error::Output {
            path: e.path,
            source: e.source,
        }
    }
}

impl Error {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
