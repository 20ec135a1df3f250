//! `loadgen import har FILE.har`: a scenario from a browser's recording (HTTP Archive 1.2).
//!
//! (Being written for issue 20 item 2.)

use std::path::Path;

use super::{Draft, ImportError};

/// What `import har` keeps and leaves out.
#[derive(Debug, Clone, Default)]
pub struct HarOptions {
    /// Keep static assets (scripts, styles, images, fonts), which are left out by default.
    pub keep_static: bool,
}

/// The HAR file `text` (read from `path`, named in errors) as a draft scenario.
pub fn import(text: &str, path: &Path, opts: &HarOptions) -> Result<Draft, ImportError> {
    let _ = (text, opts);
    Err(ImportError {
        path: path.to_path_buf(),
        line: None,
        column: None,
        message: "importing HAR files is not built yet".into(),
    })
}
