//! The fault corpus: hostile inputs of every class issue 15 names (special files, sizes, encodings, numbers at their
//! limits, each results reader), each run through the real binary under an address-space cap, with its expected exit
//! code and message, and never a panic.
//!
//! Cases live in `tests/fixtures/corpus/cases/*.toml` (one file per area); the files they read in
//! `tests/fixtures/corpus/files/`, copied to a fresh temporary directory for each case, where the case's `make`
//! list then creates what a repository cannot hold: FIFOs, device nodes (`mknod`, as root; never the real `/dev`),
//! symlinks, very large files and generated binary inputs ([`crate::corpus_gen`]). `{dir}` in a case's arguments is
//! that directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::util::{loadgen_via, root};

/// The most stdout or stderr a case may print: a hostile input must not make loadgen echo it back at length.
const MAX_OUTPUT: usize = 256 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    case: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    args: Vec<String>,
    exit: i32,
    #[serde(default)]
    stderr: Vec<String>,
    #[serde(default)]
    stdout: Vec<String>,
    /// Must appear nowhere: stdout, stderr, or any file the run wrote.
    #[serde(default)]
    not_stderr: Vec<String>,
    #[serde(default)]
    make: Vec<Make>,
    #[serde(default = "default_memory")]
    memory_mb: u64,
    #[serde(default = "default_timeout")]
    timeout_s: u64,
    /// Environment variables for the run.
    #[serde(default)]
    env: std::collections::BTreeMap<String, String>,
}

fn default_memory() -> u64 {
    1024
}

fn default_timeout() -> u64 {
    30
}

/// Something a case needs made in its directory before the run.
#[derive(Debug, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
enum Make {
    Fifo {
        fifo: String,
    },
    CharDev {
        chardev: String,
        major: u32,
        minor: u32,
    },
    /// Only ever looked at, never opened, by a passing case.
    BlockDev {
        blockdev: String,
        major: u32,
        minor: u32,
    },
    Symlink {
        symlink: String,
        to: String,
    },
    Repeat {
        repeat: String,
        text: String,
        times: usize,
        #[serde(default)]
        prefix: String,
        #[serde(default)]
        suffix: String,
    },
    Dir {
        dir: String,
    },
    /// A sparse file of `size` bytes (takes no disk): for size limits.
    Sparse {
        sparse: String,
        size: u64,
    },
    Generate {
        generate: String,
        file: String,
    },
}

fn corpus() -> PathBuf {
    root().join("tests/fixtures/corpus")
}

fn cases() -> Vec<(String, Case)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus().join("cases"))
        .expect("tests/fixtures/corpus/cases")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let mut all = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("case file");
        let parsed: CaseFile =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let area = f.file_stem().map(|s| s.to_string_lossy().into_owned());
        for c in parsed.case {
            all.push((area.clone().unwrap_or_default(), c));
        }
    }
    all
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

fn make(dir: &Path, m: &Make) {
    let run = |cmd: &mut std::process::Command| {
        let st = cmd.status().expect("run a maker");
        assert!(st.success(), "{cmd:?} failed");
    };
    let parent = |p: &Path| {
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).expect("mkdir");
        }
    };
    match m {
        Make::Fifo { fifo } => {
            let p = dir.join(fifo);
            parent(&p);
            run(std::process::Command::new("mkfifo").arg(&p));
        }
        Make::CharDev {
            chardev,
            major,
            minor,
        } => {
            let p = dir.join(chardev);
            parent(&p);
            run(std::process::Command::new("mknod")
                .arg(&p)
                .arg("c")
                .arg(major.to_string())
                .arg(minor.to_string()));
        }
        Make::BlockDev {
            blockdev,
            major,
            minor,
        } => {
            let p = dir.join(blockdev);
            parent(&p);
            run(std::process::Command::new("mknod")
                .arg(&p)
                .arg("b")
                .arg(major.to_string())
                .arg(minor.to_string()));
        }
        Make::Symlink { symlink, to } => {
            let p = dir.join(symlink);
            parent(&p);
            std::os::unix::fs::symlink(to, &p).expect("symlink");
        }
        Make::Repeat {
            repeat,
            text,
            times,
            prefix,
            suffix,
        } => {
            let p = dir.join(repeat);
            parent(&p);
            let mut bytes = Vec::with_capacity(prefix.len() + text.len() * times + suffix.len());
            bytes.extend_from_slice(prefix.as_bytes());
            for _ in 0..*times {
                bytes.extend_from_slice(text.as_bytes());
            }
            bytes.extend_from_slice(suffix.as_bytes());
            std::fs::write(&p, bytes).expect("write");
        }
        Make::Dir { dir: d } => std::fs::create_dir_all(dir.join(d)).expect("mkdir"),
        Make::Sparse { sparse, size } => {
            let p = dir.join(sparse);
            parent(&p);
            std::fs::File::create(&p)
                .and_then(|f| f.set_len(*size))
                .expect("sparse file");
        }
        Make::Generate { generate, file } => {
            let p = dir.join(file);
            parent(&p);
            crate::corpus_gen::generate(generate, &p);
        }
    }
}

/// Every regular file under `dir`, with its length and modification time, to tell what a run wrote.
fn files_under(dir: &Path, out: &mut Vec<(PathBuf, u64, std::time::SystemTime)>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let Ok(meta) = std::fs::symlink_metadata(e.path()) else {
            continue;
        };
        if meta.is_dir() {
            files_under(&e.path(), out);
        } else if meta.is_file() {
            out.push((
                e.path(),
                meta.len(),
                meta.modified().unwrap_or(std::time::UNIX_EPOCH),
            ));
        }
    }
}

/// Runs one case; returns what went wrong, if anything.
fn check(area: &str, c: &Case) -> Option<String> {
    if c.make
        .iter()
        .any(|m| matches!(m, Make::CharDev { .. } | Make::BlockDev { .. }))
        && let Some(why) = crate::util::no_device_nodes()
    {
        eprintln!("SKIPPED: {area}/{}: device nodes: {why}", c.name);
        return None;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    copy_tree(&corpus().join("files"), dir);
    for m in &c.make {
        make(dir, m);
    }
    let mut before = Vec::new();
    files_under(dir, &mut before);

    let cap = format!("--as={}", c.memory_mb * 1024 * 1024);
    let dir_text = dir.display().to_string();
    let args: Vec<String> = c
        .args
        .iter()
        .map(|a| a.replace("{dir}", &dir_text))
        .collect();
    let mut lg = loadgen_via(&["prlimit", &cap, "--"], &args)
        .timeout(Duration::from_secs(c.timeout_s))
        .env("RUST_BACKTRACE", "0");
    for (k, v) in &c.env {
        lg = lg.env(k, &v.replace("{dir}", &dir_text));
    }
    let out = lg.run();

    let mut problems = Vec::new();
    if out.code != Some(c.exit) {
        problems.push(format!("exit {:?}, expected {}", out.code, c.exit));
    }
    for (stream, text) in [("stderr", &out.stderr), ("stdout", &out.stdout)] {
        if text.contains("panicked") || text.contains("stack backtrace") {
            problems.push(format!("a panic on {stream}"));
        }
        if text.len() > MAX_OUTPUT {
            problems.push(format!("{} bytes on {stream}", text.len()));
        }
    }
    for want in &c.stderr {
        if !out.stderr.contains(want.as_str()) {
            problems.push(format!("stderr lacks {want:?}"));
        }
    }
    for want in &c.stdout {
        if !out.stdout.contains(want.as_str()) {
            problems.push(format!("stdout lacks {want:?}"));
        }
    }
    if !c.not_stderr.is_empty() {
        let mut after = Vec::new();
        files_under(dir, &mut after);
        let written: Vec<&PathBuf> = after
            .iter()
            .filter(|f| !before.contains(f))
            .map(|(p, _, _)| p)
            .collect();
        for secret in &c.not_stderr {
            if out.stderr.contains(secret.as_str()) || out.stdout.contains(secret.as_str()) {
                problems.push(format!("{secret:?} was printed"));
            }
            for f in &written {
                let bytes = std::fs::read(f).unwrap_or_default();
                if String::from_utf8_lossy(&bytes).contains(secret.as_str()) {
                    problems.push(format!("{secret:?} is in {}", f.display()));
                }
            }
        }
    }
    if problems.is_empty() {
        None
    } else {
        let mut stderr: String = out.stderr.chars().take(4000).collect();
        if stderr.len() < out.stderr.len() {
            stderr.push('…');
        }
        Some(format!(
            "{area}/{}: {}\n  command: loadgen {}\n  stderr: {}",
            c.name,
            problems.join("; "),
            args.join(" "),
            stderr.trim_end().replace('\n', "\n          ")
        ))
    }
}

#[test]
fn every_case_of_the_fault_corpus_fails_as_it_should_and_never_panics() {
    let all = cases();
    assert!(!all.is_empty(), "the corpus has no cases");
    let mut names = std::collections::HashSet::new();
    for (area, c) in &all {
        assert!(
            names.insert(c.name.clone()),
            "{area}: case {} twice",
            c.name
        );
    }
    // A few at a time: each case is a short process, and the machine may be busy.
    let failures = std::sync::Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((area, c)) = all.get(i) else { break };
                    if let Some(f) = check(area, c) {
                        failures.lock().unwrap_or_else(|p| p.into_inner()).push(f);
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap_or_else(|p| p.into_inner());
    assert!(
        failures.is_empty(),
        "{} of {} corpus cases failed:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}
