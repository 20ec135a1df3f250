//! Issue 19 item 5: the live page of a real run in a real browser. `tests/python/ui_browser.py` drives headless
//! Chromium with Selenium against `loadgen run … --ui` and `loadgen ui …` on the built-in API: the numbers grow,
//! the running users follow a change made on the page, the stop button ends the run, the final table equals the
//! JSON results, the start form starts a run; no console error, nothing loaded from another origin. This test
//! runs the script with this build's binary, bounded in time, and fails with everything it printed.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::{BIN, external_tool, root, wait_bounded};

/// The script's own waits are bounded; this bounds the whole (two runs, each stopped or ended in well under a
/// minute, plus a browser start each).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);

#[test]
fn the_live_page_in_a_real_browser() {
    let Some(python) = external_tool(
        "python3 with selenium (the live page's browser test)",
        &[&["python3", "-c", "import selenium"]],
    ) else {
        return;
    };
    let Some(driver) = external_tool(
        "chromedriver (Debian's chromium-driver)",
        &[&["chromedriver", "--version"]],
    ) else {
        return;
    };
    let Some(chromium) = external_tool(
        "chromium (headless, for the live page)",
        &[
            &["chromium", "--version"],
            &["chromium-browser", "--version"],
            &["google-chrome", "--version"],
        ],
    ) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let shot = dir.path().join("ui.png");
    let script = root().join("tests/python/ui_browser.py");
    let mut cmd = Command::new(&python[0]);
    cmd.arg(&script)
        .arg("--loadgen")
        .arg(BIN)
        .arg("--chromium")
        .arg(&chromium[0])
        .arg("--chromedriver")
        .arg(&driver[0])
        .arg("--screenshot")
        .arg(&shot)
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let shown = format!("{cmd:?}");
    let out = wait_bounded(cmd.spawn().expect("spawn python3"), shown, SCRIPT_TIMEOUT);
    assert_eq!(out.code, Some(0), "the browser test failed\n{}", out.dump());
    assert!(out.stdout.contains("all checks passed"), "{}", out.dump());
    assert!(shot.is_file(), "no screenshot in {}", shot.display());
}
