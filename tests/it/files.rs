//! Outputs written to what a root user may point them at: device nodes, FIFOs, symlinks, stdout, an existing step
//! summary. Each test makes its own nodes in a temporary directory (mknod, as root); none touches the real /dev.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::util::{loadgen, root};

/// A results file of a short real run, made once for the tests that `report` from it.
fn results() -> &'static Path {
    static RESULTS: OnceLock<PathBuf> = OnceLock::new();
    RESULTS.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("loadgen-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let json = dir.join("results.json");
        loadgen([
            "run",
            "scenarios/baseline.toml",
            "--demo",
            "-t",
            "1s",
            "-u",
            "2",
            "-r",
            "10",
            "-q",
        ])
        .arg("--json")
        .arg(&json)
        .expect_code(0);
        json
    })
}

fn mknod(path: &Path, major: u32, minor: u32) {
    let st = std::process::Command::new("mknod")
        .arg(path)
        .arg("c")
        .arg(major.to_string())
        .arg(minor.to_string())
        .status()
        .expect("mknod");
    assert!(st.success(), "mknod {}", path.display());
}

fn is_char_device(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_char_device())
}

#[test]
fn outputs_to_devices_and_symlinks_to_them_are_written_in_place_never_replaced() {
    if let Some(why) = crate::util::no_device_nodes() {
        eprintln!("SKIPPED: device nodes: {why}");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let null = dir.path().join("null");
    let link = dir.path().join("stdout-like");
    mknod(&null, 1, 3);
    std::os::unix::fs::symlink(&null, &link).expect("symlink");
    loadgen(["report"])
        .arg(results())
        .arg("--junit")
        .arg(&null)
        .arg("--markdown")
        .arg(&link)
        .arg("--html")
        .arg(&link)
        .arg("-q")
        .expect_code(0);
    assert!(is_char_device(&null), "the device node was replaced");
    assert!(
        std::fs::symlink_metadata(&link).is_ok_and(|m| m.file_type().is_symlink()),
        "the symlink was replaced"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read_dir")
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    assert_eq!(leftovers.len(), 2, "files left behind: {leftovers:?}");
}

#[test]
fn a_full_device_is_exit_2_naming_the_path_and_the_other_outputs_are_still_written() {
    if let Some(why) = crate::util::no_device_nodes() {
        eprintln!("SKIPPED: device nodes: {why}");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let full = dir.path().join("full");
    mknod(&full, 1, 7);
    let junit = dir.path().join("junit.xml");
    let out = loadgen(["report"])
        .arg(results())
        .arg("--markdown")
        .arg(&full)
        .arg("--junit")
        .arg(&junit)
        .arg("-q")
        .expect_code(2);
    out.stderr_has(&format!("cannot write {}", full.display()))
        .stderr_has("No space left on device");
    assert!(is_char_device(&full));
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    assert!(xml.starts_with("<?xml"), "{xml}");
}

#[test]
fn a_fifo_output_is_written_to_its_reader() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("pipe");
    let st = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(st.success());
    let reader = {
        let fifo = fifo.clone();
        // Opening a FIFO for reading waits for its writer: loadgen, which opens it at the end.
        std::thread::spawn(move || std::fs::read_to_string(fifo).expect("read the fifo"))
    };
    loadgen(["report"])
        .arg(results())
        .arg("--junit")
        .arg(&fifo)
        .arg("-q")
        .expect_code(0);
    let xml = reader.join().expect("reader");
    assert!(
        xml.starts_with("<?xml") && xml.contains("</testsuites>"),
        "{xml}"
    );
    assert!(std::fs::symlink_metadata(&fifo).is_ok_and(|m| m.file_type().is_fifo()));
}

#[test]
fn dash_writes_a_format_to_stdout_and_the_summary_to_stderr() {
    let out = loadgen(["report"])
        .arg(results())
        .args(["--junit", "-"])
        .expect_code(0);
    assert!(out.stdout.starts_with("<?xml"), "{}", out.dump());
    assert!(
        !out.stdout.contains("Response time percentiles"),
        "{}",
        out.dump()
    );
    out.stderr_has("Response time percentiles");

    let dir = tempfile::tempdir().expect("tempdir");
    // Run from an empty directory, so nothing could be written beside the scenario by mistake.
    let out = loadgen(["run"])
        .arg(root().join("scenarios/baseline.toml"))
        .args(["--demo", "-t", "1s", "-u", "1", "-r", "10", "--json", "-"])
        .current_dir(dir.path())
        .expect_code(0);
    let v: serde_json::Value =
        serde_json::from_str(&out.stdout).expect("stdout is the results JSON");
    assert_eq!(v["schema_version"], 1);
    assert_eq!(std::fs::read_dir(dir.path()).expect("read_dir").count(), 0);
}

#[test]
fn a_symlinked_results_file_is_replaced_behind_its_link() {
    let dir = tempfile::tempdir().expect("tempdir");
    let real = dir.path().join("real.md");
    let link = dir.path().join("summary.md");
    std::fs::write(&real, "old").expect("write");
    std::os::unix::fs::symlink("real.md", &link).expect("symlink");
    loadgen(["report"])
        .arg(results())
        .arg("--markdown")
        .arg(&link)
        .arg("-q")
        .expect_code(0);
    assert!(std::fs::symlink_metadata(&link).is_ok_and(|m| m.file_type().is_symlink()));
    let md = std::fs::read_to_string(&real).expect("read");
    assert!(md.starts_with('#') && !md.contains("old"), "{md}");
}

#[test]
fn markdown_appends_to_the_step_summary_and_with_markdown_append() {
    let dir = tempfile::tempdir().expect("tempdir");
    let summary = dir.path().join("step_summary.md");
    std::fs::write(&summary, "## an earlier step\n").expect("write");
    loadgen(["report"])
        .arg(results())
        .arg("--markdown")
        .arg(&summary)
        .env("GITHUB_STEP_SUMMARY", &summary.display().to_string())
        .arg("-q")
        .expect_code(0);
    let once = std::fs::read_to_string(&summary).expect("read");
    assert!(once.starts_with("## an earlier step\n"), "{once}");
    assert!(once.len() > "## an earlier step\n".len() + 100, "{once}");

    let other = dir.path().join("other.md");
    std::fs::write(&other, "kept\n").expect("write");
    loadgen(["report"])
        .arg(results())
        .args(["--markdown-append", "--markdown"])
        .arg(&other)
        .arg("-q")
        .expect_code(0);
    assert!(
        std::fs::read_to_string(&other)
            .expect("read")
            .starts_with("kept\n")
    );

    // Without either, the file is replaced.
    loadgen(["report"])
        .arg(results())
        .arg("--markdown")
        .arg(&other)
        .arg("-q")
        .expect_code(0);
    assert!(
        !std::fs::read_to_string(&other)
            .expect("read")
            .contains("kept")
    );
}

#[test]
fn a_bad_output_fails_before_any_traffic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = loadgen(["run", "scenarios/baseline.toml", "--demo", "-t", "30s"])
        .arg("--json")
        .arg(dir.path())
        .expect_code(2);
    out.stderr_has("it is a directory");
    assert!(
        !out.stderr.contains("loadgen baseline"),
        "the run started:\n{}",
        out.dump()
    );
}
