//! What a user who installed loadgen without Rust can check (issue 20 item 4): `loadgen --version` names the commit
//! it was built from.

use std::process::Command;

use crate::util::{loadgen, root};

/// `loadgen X.Y.Z (commit <12 hex>[-dirty])`, and in a git checkout the commit is HEAD's (build.rs runs again when
/// HEAD moves, so the binary under test is always built from it).
#[test]
fn the_version_names_the_commit() {
    let out = loadgen(["--version"]).expect_code(0);
    let line = out.stdout.trim();
    let rest = line
        .strip_prefix(&format!("loadgen {} (commit ", env!("CARGO_PKG_VERSION")))
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("unexpected --version: {line:?}"));
    let commit = rest.strip_suffix("-dirty").unwrap_or(rest);
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match head {
        Some(head) => assert_eq!(commit, head, "{line}"),
        // Not a checkout (a source archive): the build says so.
        None => assert_eq!(commit, "unknown", "{line}"),
    }
}
