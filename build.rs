//! Build script: records the git commit loadgen is built from, for `loadgen --version` (issue 20 item 4).
//!
//! `LOADGEN_COMMIT` is, in order: the variable of that name when the build environment sets it (a release build from
//! a source archive, a container build without `.git`); `git rev-parse --short=12 HEAD`, with `-dirty` when the
//! working tree has changes to tracked files; or `unknown` (no git, not a checkout). The script runs again when HEAD
//! moves (a commit, a checkout) and when the index changes (`git add`, a commit), not on every edit: a `-dirty` seen
//! at the last of those is what a build between them says.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    println!("cargo:rerun-if-env-changed=LOADGEN_COMMIT");
    let commit = match std::env::var("LOADGEN_COMMIT") {
        Ok(c) if !c.trim().is_empty() => c.trim().to_string(),
        _ => match git(&["rev-parse", "--short=12", "HEAD"]) {
            Some(head) => {
                // Paths inside the git directory (a worktree's `.git` is a file pointing elsewhere).
                for p in ["HEAD", "index", "packed-refs"] {
                    if let Some(path) = git(&["rev-parse", "--git-path", p]) {
                        println!("cargo:rerun-if-changed={path}");
                    }
                }
                if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"])
                    && let Some(path) = git(&["rev-parse", "--git-path", &r])
                {
                    println!("cargo:rerun-if-changed={path}");
                }
                let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some();
                if dirty { format!("{head}-dirty") } else { head }
            }
            None => "unknown".to_string(),
        },
    };
    println!("cargo:rustc-env=LOADGEN_COMMIT={commit}");
}
