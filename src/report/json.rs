//! The results JSON file (`--json FILE`): written through [`OutputFile`] (checked before the run, replaced
//! atomically), and read back, bounded, by `report`, `compare` and `merge`.

use std::path::Path;

use crate::error::Error;
use crate::files::{self, OutputFile};
use crate::report::RunResults;

/// Reads a results file written by `--json`: a loadgen results document of this `schema_version`.
pub fn read(path: &Path) -> Result<RunResults, Error> {
    let bad = |m: String| Error::Usage(format!("{}: {m}", path.display()));
    let text = files::read_text(path, files::RESULTS).map_err(|e| bad(e.to_string()))?;
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
        path: out.path().to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    bytes.push(b'\n');
    Ok(out.write_all(&bytes)?)
}
