//! Issue 20 item 7: `loadgen init` writes a starter that checks and runs as it is (and with its commented login
//! flow switched on), never replaces a file without `--force`; and the README's smallest scenario runs as shown.

use std::path::Path;

use crate::util::*;

fn init_in(dir: &Path, args: &[&str]) -> Out {
    loadgen(["init"].iter().chain(args)).current_dir(dir).run()
}

/// `loadgen run FILE --demo -t 2s --json`, exit 0; the results.
fn runs_against_demo(file: &Path) -> serde_json::Value {
    let json = file.with_extension("json");
    loadgen([
        "run",
        &file.to_string_lossy(),
        "--demo",
        "-t",
        "2s",
        "-q",
        "--json",
        &json.to_string_lossy(),
    ])
    .expect_code(0);
    results(&json)
}

#[test]
fn the_starter_checks_and_runs_against_the_built_in_api() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = init_in(dir.path(), &[]);
    assert_eq!(out.code, Some(0), "{}", out.dump());
    out.stdout_has("wrote loadgen.toml");
    let file = dir.path().join("loadgen.toml");
    let text = std::fs::read_to_string(&file).expect("loadgen.toml written");
    assert!(text.contains("host = \"http://127.0.0.1:8000\""), "{text}");
    assert!(
        text.lines().filter(|l| l.starts_with('#')).count() > 10,
        "not commented:\n{text}"
    );
    loadgen(["check", &file.to_string_lossy()])
        .expect_code(0)
        .stdout_has("health");

    // As written, but judged on a busy machine's terms.
    std::fs::write(&file, text.clone() + BUSY_MACHINE_VALIDITY).expect("rewrite");
    let r = runs_against_demo(&file);
    assert!(
        request(&r, "health")["requests"].as_u64() > Some(0),
        "{}",
        r["requests"]
    );

    // The login flow commented out in it runs too, once uncommented.
    let start = text
        .find("# [[user.on_start]]")
        .expect("the commented login flow");
    let block_end = start + text[start..].find("\n\n").expect("the end of the block");
    let uncommented: String = text[start..block_end]
        .lines()
        .map(|l| l.strip_prefix("# ").unwrap_or(l.trim_start_matches('#')))
        .collect::<Vec<_>>()
        .join("\n");
    let with_login = format!(
        "{}{uncommented}\n{}{BUSY_MACHINE_VALIDITY}",
        &text[..start],
        &text[block_end..]
    );
    let file = write(dir.path(), "login.toml", &with_login);
    let r = runs_against_demo(&file);
    for name in ["register", "login", "verify_token", "health"] {
        assert!(
            request(&r, name)["requests"].as_u64() > Some(0),
            "{name}: {}",
            r["requests"]
        );
    }
}

#[test]
fn an_existing_file_is_replaced_only_with_force() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "mine.toml", "name = \"mine\"\n");
    let out = init_in(dir.path(), &["mine.toml"]);
    assert_eq!(out.code, Some(2), "{}", out.dump());
    out.stderr_has("mine.toml already exists")
        .stderr_has("--force");
    assert_eq!(
        std::fs::read_to_string(&file).expect("kept"),
        "name = \"mine\"\n"
    );

    // A dangling symlink is a path that exists too.
    std::os::unix::fs::symlink(dir.path().join("nowhere"), dir.path().join("link.toml"))
        .expect("symlink");
    init_in(dir.path(), &["link.toml"]).stderr_has("link.toml already exists");
    assert!(!dir.path().join("nowhere").exists());

    let out = init_in(
        dir.path(),
        &[
            "mine.toml",
            "--force",
            "--host",
            "https://staging.example.com",
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.dump());
    let text = std::fs::read_to_string(&file).expect("replaced");
    assert!(
        text.contains("host = \"https://staging.example.com\""),
        "{text}"
    );
    assert!(text.contains("loadgen check mine.toml"), "{text}");
    assert!(!dir.path().read_dir().expect("ls").any(|e| {
        e.expect("entry")
            .file_name()
            .to_string_lossy()
            .ends_with(".tmp")
    }));

    // A directory is refused even with --force; so is a host that is not an http URL.
    std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
    init_in(dir.path(), &["sub", "--force"]).stderr_has("it is a directory");
    let out = init_in(dir.path(), &["new.toml", "--host", "localhost:8000"]);
    assert_eq!(out.code, Some(2), "{}", out.dump());
    out.stderr_has("--host `localhost:8000`: not an http or https URL");
    assert!(!dir.path().join("new.toml").exists());
}

#[test]
fn init_to_stdout_writes_the_starter_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = init_in(dir.path(), &["-", "--host", "http://10.0.0.1:9000"]);
    assert_eq!(out.code, Some(0), "{}", out.dump());
    assert!(
        out.stdout.starts_with("# A starter scenario"),
        "{}",
        out.dump()
    );
    assert!(out.stdout.contains("host = \"http://10.0.0.1:9000\""));
    assert!(!out.stdout.contains("wrote"));
    assert_eq!(dir.path().read_dir().expect("ls").count(), 0);
}

/// The first fenced block of `lang` after `marker` in the README.
fn readme_block(readme: &str, marker: &str, lang: &str) -> String {
    let from = readme
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker:?} in README.md"));
    let fence = format!("```{lang}\n");
    let start = from + readme[from..].find(&fence).expect("the block") + fence.len();
    let len = readme[start..].find("```").expect("the block's end");
    readme[start..start + len].to_string()
}

#[test]
fn the_readmes_smallest_scenario_runs_as_shown() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let marker = "**The smallest scenario**";
    let toml = readme_block(&readme, marker, "toml");
    assert_eq!(toml.lines().count(), 3, "no longer three lines:\n{toml}");
    assert!(
        readme.find(marker) < readme.find("/api/auth/login"),
        "the smallest scenario comes after the auth flow"
    );
    let command = readme_block(&readme, marker, "sh");
    let line = command
        .lines()
        .find(|l| l.starts_with("loadgen run small.toml"))
        .expect("the command line");
    let demo = Demo::start(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "small.toml", &(toml + BUSY_MACHINE_VALIDITY));
    let mut args: Vec<String> = line.split_whitespace().skip(1).map(String::from).collect();
    for flag in ["--host", "-u", "-t"] {
        assert!(args.iter().any(|a| a == flag), "{flag} not in {line:?}");
    }
    let host = args.iter().position(|a| a == "--host").expect("--host") + 1;
    args[host] = demo.url.clone();
    args.extend(["--json".into(), "out.json".into()]);
    loadgen(&args).current_dir(dir.path()).expect_code(0);
    let r = results(&dir.path().join("out.json"));
    assert_eq!(r["settings"]["users"], 5, "{}", r["settings"]);
    assert!(
        request(&r, "health")["requests"].as_u64() > Some(0),
        "{}",
        r["requests"]
    );
}
