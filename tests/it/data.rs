//! Test data: rows of a CSV file handed to users, unique, round-robin or random, used in templates.

use crate::util::{Demo, auth_steps, loadgen, run_results, write};

/// Six accounts, and a scenario where each user registers and logs in as its row's account.
fn setup(dir: &std::path::Path, host: &str, users: u32, assign: &str) -> std::path::PathBuf {
    let mut csv = String::from("username,password\n");
    for i in 1..=6 {
        csv.push_str(&format!("acct{i}_{{RUN}},pw-{i}-secret\n"));
    }
    // Unique names per test run, so two runs against one server do not collide.
    let run = format!("{:x}", rand_suffix());
    write(dir, "accounts.csv", &csv.replace("{RUN}", &run));
    let steps = auth_steps("{{data.username}}", "{{data.password}}").replace(
        "expect = { status = [201] }",
        "expect = { status = [201, 409] }",
    );
    write(
        dir,
        "data.toml",
        &format!(
            r#"
name = "data"
[target]
host = "{host}"
[load]
users = {users}
spawn_rate = 100
duration = "1s"
[data]
file = "accounts.csv"
assign = "{assign}"
[user]
wait = "100ms"
{steps}
[[task]]
name = "verify"
path = "/api/auth/verify"
headers = {{ Authorization = "Bearer {{{{token}}}}" }}
"#
        ),
    )
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn statuses(r: &serde_json::Value, name: &str) -> (u64, u64) {
    let codes = &crate::util::request(r, name)["status_codes"];
    (
        codes["201"].as_u64().unwrap_or(0),
        codes["409"].as_u64().unwrap_or(0),
    )
}

#[test]
fn unique_rows_give_every_user_its_own_account() {
    let demo = Demo::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let file = setup(dir.path(), &demo.url, 6, "unique");
    let r = run_results(&file, 0);
    assert_eq!(
        statuses(&r, "register"),
        (6, 0),
        "six users, six distinct accounts"
    );
    let login = crate::util::request(&r, "login");
    assert_eq!(
        (login["requests"].as_u64(), login["failures"].as_u64()),
        (Some(6), Some(0))
    );
    assert_eq!(r["settings"]["data"]["rows"], 6);
    assert_eq!(r["settings"]["data"]["assign"], "unique");
    // The values (passwords) never reach the results.
    let text = std::fs::read_to_string(file.with_extension("json")).unwrap();
    assert!(
        !text.contains("-secret"),
        "a data value leaked into the results"
    );
}

#[test]
fn round_robin_shares_rows_in_turn_and_random_stays_within_them() {
    let demo = Demo::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    // Twelve users over six rows in turn: each account is registered once, then taken (409) once.
    let r = run_results(&setup(dir.path(), &demo.url, 12, "round_robin"), 0);
    assert_eq!(statuses(&r, "register"), (6, 6));
    assert_eq!(crate::util::request(&r, "login")["failures"], 0);
    let dir = tempfile::tempdir().unwrap();
    let r = run_results(&setup(dir.path(), &demo.url, 12, "random"), 0);
    let (created, taken) = statuses(&r, "register");
    assert_eq!(created + taken, 12);
    assert!(
        (1..=6).contains(&created),
        "{created} distinct accounts from six rows"
    );
}

#[test]
fn data_mistakes_are_located() {
    let dir = tempfile::tempdir().unwrap();
    let file = setup(dir.path(), "http://127.0.0.1:9", 7, "unique");
    loadgen(["check", &file.to_string_lossy()])
        .expect_code(2)
        .stderr_has("data.toml:11:10")
        .stderr_has("has 6 rows, but the load starts up to 7 users");
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("users = 7", "users = 6");
    write(
        dir.path(),
        "data.toml",
        &text.replace("data.password", "data.pasword"),
    );
    loadgen(["check", &file.to_string_lossy()])
        .expect_code(2)
        .stderr_has("has no column `pasword`")
        .stderr_has("did you mean `data.password`?");
    write(
        dir.path(),
        "data.toml",
        &text.replace("assign = \"unique\"", "assign = \"roundrobin\""),
    );
    loadgen(["check", &file.to_string_lossy()])
        .expect_code(2)
        .stderr_has("unknown `assign` mode `roundrobin`")
        .stderr_has("round_robin");
    write(
        dir.path(),
        "accounts.csv",
        "username,password\nonly-one-field\n",
    );
    write(
        dir.path(),
        "data.toml",
        &text.replace("users = 6", "users = 1"),
    );
    loadgen(["check", &file.to_string_lossy()])
        .expect_code(2)
        .stderr_has("accounts.csv:2: row has 1 field, the header has 2");
    std::fs::remove_file(dir.path().join("accounts.csv")).unwrap();
    loadgen(["check", &file.to_string_lossy()])
        .expect_code(2)
        .stderr_has("data.toml:10:8")
        .stderr_has("cannot read the data file");
}
