//! `loadgen init [FILE]`: a commented starter scenario (`loadgen.toml` by default) that runs as it is against the
//! built-in reference API (`GET /health`, with the auth flow commented out beside it), for a team's first test.
//!
//! An existing path is never replaced without `--force` (exit 2, saying so); the file is written through
//! [`crate::files::OutputFile`], as the results are: a temporary file renamed over the path, a directory or
//! block device refused, `-` for stdout. The starter itself is `starter.toml` beside this file, and a test runs
//! `check` and `run --demo` on what `init` writes.

use std::path::Path;

use super::out;
use crate::cli::InitArgs;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::files::{Mode, OutputFile};

/// The starter scenario as shipped, with `DEFAULT_HOST` and `DEFAULT_FILE` in it.
pub const STARTER: &str = include_str!("starter.toml");
/// The host the starter targets: where `loadgen serve-demo` listens by default.
const DEFAULT_HOST: &str = "http://127.0.0.1:8000";
/// The file `init` writes when none is named, also named in the starter's comments.
const DEFAULT_FILE: &str = "loadgen.toml";

/// `loadgen init`.
pub fn run(args: InitArgs, quiet: bool) -> Result<ExitStatus, Error> {
    let host = match &args.host {
        Some(h) => checked_host(h)?,
        None => DEFAULT_HOST.to_string(),
    };
    let file = &args.file;
    let to_stdout = file.as_os_str() == "-";
    if !to_stdout && !args.force && std::fs::symlink_metadata(file).is_ok() {
        return Err(Error::Usage(format!(
            "{} already exists; loadgen init leaves it alone: pass --force to replace it, or name another file \
             (loadgen init other.toml)",
            file.display()
        )));
    }
    let text = starter(&host, file);
    let output = OutputFile::prepare(file, Mode::Replace)?;
    output.write_all(text.as_bytes())?;
    if !to_stdout && !quiet {
        let shown = file.display();
        out(&format!(
            "wrote {shown}: a starter scenario against {host}\n  loadgen check {shown}\n  loadgen run {shown} --demo -t 10s   # against the built-in reference API\n"
        ));
    }
    Ok(ExitStatus::Pass)
}

/// The starter with `host` as its target, and `file` in its comments when it is a plain path.
pub fn starter(host: &str, file: &Path) -> String {
    let quoted = toml::Value::String(host.to_string()).to_string();
    let line = STARTER
        .lines()
        .find(|l| l.starts_with("host = "))
        .unwrap_or_default();
    let text = if host == DEFAULT_HOST {
        STARTER.to_string()
    } else {
        STARTER.replacen(
            line,
            &format!("host = {quoted}                # --host overrides it"),
            1,
        )
    };
    let name = file.to_string_lossy();
    let plain = !name.is_empty()
        && name != "-"
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/-".contains(c));
    if plain {
        text.replace(DEFAULT_FILE, &name)
    } else {
        text
    }
}

/// `--host`: an http or https URL with a host.
fn checked_host(host: &str) -> Result<String, Error> {
    let host = host.trim();
    let bad = |why: &str| {
        Error::Usage(format!(
            "--host `{host}`: {why}; give a base URL such as http://127.0.0.1:8000 or https://staging.example.com"
        ))
    };
    let url = url::Url::parse(host).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("not an http or https URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host in it"));
    }
    Ok(host.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_is_replaced_once_and_quoted() {
        let text = starter("http://example.com:9000", Path::new("api.toml"));
        assert!(
            text.contains("host = \"http://example.com:9000\""),
            "{text}"
        );
        let hosts: Vec<_> = text.lines().filter(|l| l.starts_with("host")).collect();
        assert_eq!(hosts.len(), 1, "{hosts:?}");
        let parsed: toml::Table = text.parse().expect("still TOML");
        assert_eq!(
            parsed["target"]["host"].as_str(),
            Some("http://example.com:9000")
        );
        // A quote in it stays inside the string.
        let odd: toml::Table = starter("http://a/\"x\\", Path::new("a.toml"))
            .parse()
            .expect("still TOML");
        assert_eq!(odd["target"]["host"].as_str(), Some("http://a/\"x\\"));
        assert!(text.contains("loadgen check api.toml"), "{text}");
        assert!(!text.contains(DEFAULT_FILE), "{text}");
    }

    #[test]
    fn the_starter_has_one_host_line_the_default_one() {
        let hosts: Vec<_> = STARTER
            .lines()
            .filter(|l| l.starts_with("host = "))
            .collect();
        assert_eq!(hosts.len(), 1, "{hosts:?}");
        assert!(hosts[0].starts_with(&format!("host = \"{DEFAULT_HOST}\"")));
        assert_eq!(starter(DEFAULT_HOST, Path::new(DEFAULT_FILE)), STARTER);
    }

    #[test]
    fn an_odd_file_name_is_not_put_in_the_comments() {
        let text = starter(DEFAULT_HOST, Path::new("my file;rm.toml"));
        assert!(text.contains("loadgen check loadgen.toml"), "{text}");
    }

    #[test]
    fn hosts_that_are_not_http_urls_are_refused() {
        for bad in ["localhost:8000", "ftp://x", "http://", "not a url", ""] {
            assert!(checked_host(bad).is_err(), "{bad}");
        }
        assert_eq!(
            checked_host(" https://a.example/ ").ok().as_deref(),
            Some("https://a.example/")
        );
    }
}
