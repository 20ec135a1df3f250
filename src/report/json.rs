//! The results JSON file (`--json FILE`), written atomically.
//!
//! The path is checked before the run starts ([`OutputFile::prepare`]), so a typo fails in a second rather
//! than after a five-minute run; the file is written to a temporary sibling and renamed into place, so a reader
//! never sees half a file.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::report::RunResults;

/// An output file whose directory has been checked to be writable.
#[derive(Debug, Clone)]
pub struct OutputFile {
    path: PathBuf,
}

impl OutputFile {
    /// Checks now that `path` can be written (by creating and removing a temporary sibling).
    pub fn prepare(path: &Path) -> Result<OutputFile, Error> {
        if path.is_dir() {
            return Err(Error::Output {
                path: path.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::IsADirectory,
                    "it is a directory; name a file",
                ),
            });
        }
        let out = OutputFile {
            path: path.to_path_buf(),
        };
        let tmp = out.temp_path();
        std::fs::File::create(&tmp).map_err(|source| Error::Output {
            path: path.to_path_buf(),
            source,
        })?;
        let _ = std::fs::remove_file(&tmp);
        Ok(out)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn temp_path(&self) -> PathBuf {
        let name = self
            .path
            .file_name()
            .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
        self.path
            .with_file_name(format!(".{name}.{}.tmp", std::process::id()))
    }

    /// Writes `bytes` to a temporary file and renames it over the target.
    pub fn write_atomic(&self, bytes: &[u8]) -> Result<(), Error> {
        let err = |source| Error::Output {
            path: self.path.clone(),
            source,
        };
        let tmp = self.temp_path();
        let mut f = std::fs::File::create(&tmp).map_err(err)?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .map_err(err)?;
        std::fs::rename(&tmp, &self.path).map_err(err)
    }
}

/// Reads a results file written by `--json`: a loadgen results document of this `schema_version`.
pub fn read(path: &Path) -> Result<RunResults, Error> {
    let bad = |m: String| Error::Usage(format!("{}: {m}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    check_version(&value).map_err(bad)?;
    super::validate::results(&value).map_err(bad)
}

/// Checks that `v` is a loadgen results document this version reads.
pub fn check_version(v: &serde_json::Value) -> Result<(), String> {
    match v.get("schema_version").and_then(serde_json::Value::as_u64) {
        Some(n) if n == u64::from(crate::report::SCHEMA_VERSION) => Ok(()),
        Some(n) => Err(format!(
            "results schema version {n}, but this loadgen reads version {}",
            crate::report::SCHEMA_VERSION
        )),
        None => Err("not a loadgen results file (no schema_version)".into()),
    }
}

/// Writes `results` as pretty JSON.
pub fn write(out: &OutputFile, results: &RunResults) -> Result<(), Error> {
    let mut bytes = serde_json::to_vec_pretty(results).map_err(|e| Error::Output {
        path: out.path.clone(),
        source: std::io::Error::other(e),
    })?;
    bytes.push(b'\n');
    out.write_atomic(&bytes)
}
