//! `loadgen import locust locustfile.py`: a scenario from a locustfile's common subset.
//!
//! (Being written for issue 20 item 3.)

use std::path::Path;

use super::{Draft, ImportError};

/// The locustfile `text` (read from `path`, named in errors) as a draft scenario.
pub fn import(text: &str, path: &Path) -> Result<Draft, ImportError> {
    let _ = text;
    Err(ImportError {
        path: path.to_path_buf(),
        line: None,
        column: None,
        message: "importing locustfiles is not built yet".into(),
    })
}
