//! Issue 20 item 5: `loadgen completions SHELL` and `loadgen man`, checked by the shells and the man tools
//! themselves: bash parses the script and completes a subcommand and a flag from it, groff (or man) renders the
//! page.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::util::*;

/// Every subcommand, as the scripts and the man page must name them.
const SUBCOMMANDS: &[&str] = &[
    "run",
    "check",
    "compare",
    "report",
    "merge",
    "ui",
    "serve-demo",
    "init",
    "completions",
    "man",
];

fn script(shell: &str) -> String {
    let out = loadgen(["completions", shell]).expect_code(0);
    assert!(!out.stdout.trim().is_empty(), "{}", out.dump());
    out.stdout
}

/// What bash's completion function offers for `words` (the last one being completed).
fn bash_complete(script_path: &std::path::Path, words: &[&str]) -> Vec<String> {
    let cword = words.len() - 1;
    let array = words
        .iter()
        .map(|w| format!("'{w}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let prev = if cword > 0 { words[cword - 1] } else { "" };
    let program = format!(
        "source '{}' || exit 9\nCOMP_WORDS=({array}); COMP_CWORD={cword}; COMP_LINE='{}'; COMP_POINT=${{#COMP_LINE}}\n\
         _loadgen loadgen '{}' '{prev}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script_path.display(),
        words.join(" "),
        words[cword],
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "bash failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn the_bash_script_parses_and_completes_subcommands_and_flags() {
    if external_tool("bash", &[&["bash", "-c", "true"]]).is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "loadgen.bash", &script("bash"));
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(&path)
        .output()
        .expect("bash -n");
    assert!(
        syntax.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&syntax.stderr)
    );

    assert_eq!(bash_complete(&path, &["loadgen", "ru"]), ["run"]);
    assert_eq!(
        bash_complete(&path, &["loadgen", "run", "--dur"]),
        ["--duration"]
    );
    let all = bash_complete(&path, &["loadgen", ""]);
    for sub in SUBCOMMANDS {
        assert!(all.iter().any(|w| w == sub), "{sub} not offered: {all:?}");
    }
    // A flag of another subcommand is not offered to `run`.
    assert!(bash_complete(&path, &["loadgen", "run", "--for"]).is_empty());
}

#[test]
fn the_other_shells_scripts_name_every_subcommand() {
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let text = script(shell);
        for sub in SUBCOMMANDS {
            assert!(text.contains(sub), "{shell}'s script lacks {sub}");
        }
        assert!(
            text.contains("duration"),
            "{shell}'s script lacks --duration"
        );
    }
    assert!(script("zsh").starts_with("#compdef loadgen"));
    loadgen(["completions", "tcsh"])
        .expect_code(2)
        .stderr_has("possible values: bash, elvish, fish, powershell, zsh");
}

/// The page rendered as text by groff or man, or `None` (and the test says so) when neither is installed.
fn rendered(page: &str) -> Option<String> {
    let tools: [&[&str]; 2] = [&["groff", "-man", "-Tutf8"], &["man", "-l", "-"]];
    for argv in tools {
        let Ok(mut child) = Command::new(argv[0])
            .args(&argv[1..])
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        else {
            continue;
        };
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(page.as_bytes())
            .expect("feed the page");
        let out = child.wait_with_output().expect("render");
        assert!(
            out.status.success(),
            "{argv:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return Some(plain(&String::from_utf8_lossy(&out.stdout)));
    }
    unavailable("neither groff nor man is installed to render the man page");
    None
}

/// Rendered text without its emphasis: overstrikes (`N\bN` for bold, `_\bx` underlined, as groff writes to a
/// pipe) and SGR escapes.
fn plain(s: &str) -> String {
    let mut out: Vec<char> = Vec::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            // The character before the backspace is replaced by the one after it.
            '\u{8}' => {
                out.pop();
            }
            '\u{1b}' => {
                for e in chars.by_ref() {
                    if e.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            c => out.push(c),
        }
    }
    out.into_iter().collect()
}

#[test]
fn the_man_page_renders_with_its_sections_and_every_subcommand() {
    let page = loadgen(["man"]).expect_code(0).stdout;
    assert!(
        page.lines().any(|l| l.starts_with(".TH loadgen 1 ")),
        "no .TH header:\n{page}"
    );
    for sub in SUBCOMMANDS {
        assert!(
            page.contains(&format!("loadgen\\-{}(1)", sub.replace('-', "\\-"))),
            "the page does not list {sub}"
        );
    }
    assert!(
        !page.contains("loadgen\\-help"),
        "clap's help subcommand is listed"
    );
    let Some(text) = rendered(&page) else { return };
    for heading in ["NAME", "SYNOPSIS", "OPTIONS", "SUBCOMMANDS"] {
        assert!(
            text.lines().any(|l| l.trim() == heading),
            "no {heading} in the rendered page:\n{text}"
        );
    }
    assert!(text.contains("loadgen-run(1)"), "{text}");
    assert!(
        text.contains("Exit codes"),
        "the exit codes are missing:\n{text}"
    );
}

#[test]
fn man_dir_writes_a_page_per_command_and_refuses_what_is_not_a_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_string_lossy().to_string();
    let out = loadgen(["man", "--dir", &d]).expect_code(0);
    for sub in SUBCOMMANDS {
        let page = dir.path().join(format!("loadgen-{sub}.1"));
        let text = std::fs::read_to_string(&page)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", page.display(), out.dump()));
        assert!(
            text.contains(&format!(".TH loadgen-{sub} 1 ")),
            "{sub}: {text}"
        );
    }
    let run = std::fs::read_to_string(dir.path().join("loadgen-run.1")).expect("run page");
    assert!(run.contains("\\-\\-duration"), "{run}");
    assert!(dir.path().join("loadgen.1").is_file());
    assert!(!dir.path().join("loadgen-help.1").exists());

    let file = write(dir.path(), "plain", "x");
    loadgen(["man", "--dir", &file.to_string_lossy()])
        .expect_code(2)
        .stderr_has("not a directory");
    loadgen(["man", "--dir", &format!("{d}/missing")])
        .expect_code(2)
        .stderr_has("cannot use it as the man pages' directory");
}
