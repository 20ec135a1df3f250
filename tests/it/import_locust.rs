//! Issue 20 item 3: `loadgen import locust FILE.py` on three locustfiles kept in tests/locust/ (the auth test this
//! project replaces, a shop with three user classes, one with parts that are not translated): the scenario written
//! says what it should, `loadgen check` accepts it, and a short run of it against the built-in API passes with
//! the requests named as in the locustfile. Bad input exits 2 with a located message. Real Locust runs the two
//! extra locustfiles against the built-in API too, to prove they are real (skipped without Locust, except in CI).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::util::*;

fn locustfile(name: &str) -> PathBuf {
    root().join("tests/locust").join(name)
}

/// `loadgen import locust FILE -o DIR/NAME.toml`, exit 0: the scenario's text and path.
fn import(dir: &Path, file: &str) -> (String, PathBuf) {
    let out_file = dir.join(Path::new(file).with_extension("toml"));
    let out = loadgen(["import", "locust"])
        .arg(locustfile(file))
        .arg("-o")
        .arg(&out_file)
        .expect_code(0);
    out.stderr_has("loadgen check");
    let text = std::fs::read_to_string(&out_file).expect("the scenario is written");
    (text, out_file)
}

fn toml(text: &str) -> toml::Table {
    text.parse()
        .unwrap_or_else(|e| panic!("not TOML: {e}\n{text}"))
}

/// `loadgen check FILE` accepts it, and `loadgen run FILE --demo -u N -t 3s` passes: the results.
fn checks_and_runs(file: &Path, users: &str) -> serde_json::Value {
    loadgen(["check"])
        .arg(file)
        .expect_code(0)
        .stdout_has("scenario OK");
    let text = std::fs::read_to_string(file).expect("scenario");
    std::fs::write(file, text + BUSY_MACHINE_VALIDITY).expect("rewrite");
    let json = file.with_extension("json");
    loadgen(["run"])
        .arg(file)
        .args([
            "--demo", "-u", users, "-r", users, "-t", "3s", "-q", "--json",
        ])
        .arg(&json)
        .expect_code(0);
    results(&json)
}

/// Each of `names` was sent and none failed.
fn sent_and_passed(r: &serde_json::Value, names: &[&str]) {
    for name in names {
        let q = request(r, name);
        assert!(q["requests"].as_u64() > Some(0), "{name} never sent: {q}");
        assert_eq!(q["failures"].as_u64(), Some(0), "{name} failed: {q}");
    }
}

#[test]
fn the_auth_locustfile_imports_as_the_shipped_scenario_and_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (text, file) = import(dir.path(), "auth_locustfile.py");
    let t = toml(&text);
    assert_eq!(t["target"]["host"].as_str(), Some("http://127.0.0.1:8000"));
    assert_eq!(t["user"]["wait"]["between"][0].as_str(), Some("100ms"));
    assert_eq!(t["user"]["wait"]["between"][1].as_str(), Some("500ms"));
    let start = t["user"]["on_start"].as_array().expect("on_start");
    assert_eq!(start[0]["name"].as_str(), Some("register"));
    assert_eq!(
        start[0]["json"]["username"].as_str(),
        Some("locust_{{run_id}}_{{vu}}_{{session}}"),
        "uuid4 became a unique template"
    );
    assert_eq!(
        start[0]["json"]["email"].as_str(),
        Some("locust_{{run_id}}_{{vu}}_{{session}}@loadtest.local")
    );
    assert_eq!(start[1]["name"].as_str(), Some("login"));
    assert_eq!(start[1]["method"].as_str(), Some("POST"));
    assert_eq!(start[1]["expect"]["status"][0].as_integer(), Some(200));
    assert_eq!(
        start[1]["capture"]["token"].as_str(),
        Some("$.access_token")
    );
    let tasks = t["task"].as_array().expect("tasks");
    let summary: Vec<(&str, i64)> = tasks
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap_or(""),
                t["weight"].as_integer().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("verify_token", 10),
            ("refresh_token", 5),
            ("rate_limited_operation", 2),
            ("logout", 1)
        ]
    );
    for task in tasks {
        assert_eq!(
            task["headers"]["Authorization"].as_str(),
            Some("Bearer {{token}}"),
            "{task}"
        );
    }
    assert_eq!(
        tasks[1]["capture"]["token"].as_str(),
        Some("$.access_token"),
        "refresh keeps the new token"
    );
    assert!(
        tasks[1].get("expect").is_none(),
        "no failure branch: {text}"
    );
    assert_eq!(tasks[2]["json"]["action"].as_str(), Some("test"));
    assert_eq!(tasks[3]["restart_session"].as_bool(), Some(true));
    assert!(
        text.contains("# - line 18: `uuid.uuid4().hex[:12]` (a unique value) became"),
        "{text}"
    );
    assert_eq!(text.matches("\n# - line").count(), 1, "one note:\n{text}");

    let r = checks_and_runs(&file, "5");
    sent_and_passed(&r, &["register", "login", "verify_token", "refresh_token"]);
    for name in ["rate_limited_operation", "logout"] {
        assert_eq!(request(&r, name)["failures"].as_u64(), Some(0), "{name}");
    }
}

#[test]
fn three_user_classes_with_weights_flows_forms_params_and_a_sequence_import_and_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (text, file) = import(dir.path(), "shop_locustfile.py");
    let t = toml(&text);
    assert!(t.get("user").is_none() && t.get("task").is_none(), "{text}");
    let shopper = &t["classes"]["Shopper"];
    let visitor = &t["classes"]["Visitor"];
    assert_eq!(shopper["weight"].as_integer(), Some(3));
    assert_eq!(visitor["weight"].as_integer(), Some(1));
    assert_eq!(shopper["wait"]["constant_pacing"].as_str(), Some("500ms"));
    assert_eq!(visitor["wait"]["between"][0].as_str(), Some("200ms"));
    // self.client.headers.update(...) in on_start: a header for every later request of the class.
    assert_eq!(
        shopper["headers"]["Authorization"].as_str(),
        Some("Bearer {{token}}")
    );
    let start = shopper["on_start"].as_array().expect("on_start");
    assert_eq!(
        start[0]["json"]["password"].as_str(),
        Some("ShopTest123!"),
        "a module constant"
    );
    assert_eq!(
        start[1]["capture"]["token"].as_str(),
        Some("$.access_token"),
        "response.json().get(...)"
    );
    assert_eq!(
        start[2]["capture"]["item_id"].as_str(),
        Some("$.items[0].id")
    );
    let tasks = shopper["task"].as_array().expect("tasks");
    let browse = &tasks[0];
    assert_eq!(browse["name"].as_str(), Some("browse"));
    assert_eq!(browse["weight"].as_integer(), Some(3));
    assert_eq!(browse["tags"][0].as_str(), Some("browse"));
    let steps = browse["steps"].as_array().expect("a flow of two requests");
    assert_eq!(steps.len(), 2);
    assert_eq!(
        steps[0]["path"].as_str(),
        Some("/api/items?page=2&per_page=5"),
        "params="
    );
    assert_eq!(
        steps[0]["expect"]["status"][0].as_integer(),
        Some(200),
        "`!= 200` then failure()"
    );
    assert_eq!(steps[1]["path"].as_str(), Some("/api/items/{{item_id}}"));
    assert_eq!(tasks[1]["name"].as_str(), Some("add_to_cart"));
    assert_eq!(tasks[1]["tags"][0].as_str(), Some("cart"));
    assert_eq!(tasks[1]["json"]["quantity"].as_integer(), Some(2));
    let form = &tasks[2];
    assert_eq!(form["form"]["username"].as_str(), Some("nobody"));
    assert_eq!(
        form["expect"]["status"][0].as_integer(),
        Some(403),
        "`== 403` then success(), else failure()"
    );
    assert_eq!(shopper["on_stop"][0]["method"].as_str(), Some("DELETE"));
    let vtasks = visitor["task"].as_array().expect("visitor tasks");
    assert_eq!(vtasks[0]["weight"].as_integer(), Some(2));
    assert_eq!(vtasks[1]["path"].as_str(), Some("/api/debug/versions"));
    assert!(
        text.contains("# - line 53: `self.client.put`: not translated"),
        "{text}"
    );
    // A SequentialTaskSet in `tasks`: one flow of its tasks' requests in order; `self.interrupt()` at the end
    // of its last task is its normal exit, not a note.
    let buyer = &t["classes"]["Buyer"];
    assert_eq!(buyer["weight"].as_integer(), Some(1));
    assert_eq!(
        buyer["headers"]["Authorization"].as_str(),
        Some("Bearer {{token}}"),
        "self.client.headers[...] = ..."
    );
    let checkout = &buyer["task"][0];
    assert_eq!(checkout["name"].as_str(), Some("Checkout"));
    let names: Vec<&str> = checkout["steps"]
        .as_array()
        .expect("a flow")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["view_cart", "buyer_items", "buyer_add", "empty_cart"]
    );
    assert_eq!(
        checkout["steps"][1]["capture"]["item_value"].as_str(),
        Some("$.items[0].id"),
        "`self.item`: `item` is loadgen's own template name"
    );
    assert_eq!(
        checkout["steps"][2]["json"]["item_id"].as_str(),
        Some("{{item_value}}")
    );
    assert_eq!(text.matches("\n# - line").count(), 3, "{text}");

    let r = checks_and_runs(&file, "10");
    sent_and_passed(
        &r,
        &[
            "shop_register",
            "shop_login",
            "first_items",
            "list_items",
            "item",
            "health",
            "buyer_login",
            "view_cart",
            "buyer_add",
            "empty_cart",
        ],
    );
    for name in ["add_to_cart", "form_without_csrf", "versions", "clear_cart"] {
        assert_eq!(request(&r, name)["failures"].as_u64(), Some(0), "{name}");
    }
}

#[test]
fn what_is_not_translated_is_noted_at_its_line_and_the_rest_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (text, file) = import(dir.path(), "notes_locustfile.py");
    let notes: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("# - line "))
        .collect();
    let expected = [
        "# - line 16: `def announce(environment, **kwargs): ...`: a decorated function",
        "# - line 20: `class Health(TaskSet): ...`: a TaskSet",
        "# - line 35: `random.randint(0, 1000000)` (a unique value) became `{{run_id}}_{{vu}}_{{session}}`",
        "# - line 35: `time.time_ns()` (a unique value) became",
        "# - line 43: `for page in range(1, 3): ...`: not translated",
        "# - line 45: `timeout=5`: `timeout=` is not translated",
        "# - line 49: `if random.random() < 0.5: ...`: a condition",
        "# - line 53: `print(self.environment.runner.user_count)`: not translated",
        "# - line 60: `if response.elapsed.total_seconds() > 2: ...`: a condition",
        "# - line 65: the request name `health` is used before",
    ];
    assert_eq!(notes.len(), expected.len(), "{text}");
    for (note, want) in notes.iter().zip(expected) {
        assert!(note.starts_with(want), "{note:?} is not {want:?}\n{text}");
    }
    // The lines noted are the ones the notes quote.
    let source = std::fs::read_to_string(locustfile("notes_locustfile.py")).expect("source");
    let lines: Vec<&str> = source.lines().collect();
    assert!(
        lines[42]
            .trim_start()
            .starts_with("for page in range(1, 3):")
    );
    assert!(lines[52].trim_start().starts_with("print(self.environment"));

    let t = toml(&text);
    assert_eq!(
        t["user"]["wait"]["constant_throughput"].as_float(),
        Some(5.0)
    );
    let start = t["user"]["on_start"]
        .as_array()
        .expect("on_start (from the helper on_start calls)");
    assert_eq!(
        start[0]["json"]["username"].as_str(),
        start[1]["json"]["username"].as_str(),
        "a random name kept in a variable is the same at each use"
    );
    let tasks = t["task"].as_array().expect("tasks");
    assert_eq!(
        tasks[0]["name"].as_str(),
        Some("items"),
        "the loop left out"
    );
    assert_eq!(tasks[1]["think"].as_str(), Some("100ms"), "time.sleep(0.1)");
    assert_eq!(tasks[3]["name"].as_str(), Some("health_2"));

    let r = checks_and_runs(&file, "4");
    sent_and_passed(&r, &["register", "login", "items"]);
}

#[test]
fn bad_input_exits_2_saying_where_and_what() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broken = write(
        dir.path(),
        "broken.py",
        "from locust import HttpUser, task\n\nclass U(HttpUser):\n    @task\n    def t(self)\n        self.client.get(\"/\")\n",
    );
    let out = loadgen(["import", "locust"]).arg(&broken).expect_code(2);
    out.stderr_has("broken.py:5:")
        .stderr_has("not valid Python");
    assert!(out.stdout.is_empty(), "{}", out.dump());

    let no_user = write(
        dir.path(),
        "plain.py",
        "from locust import TaskSet, task\n\nclass T(TaskSet):\n    @task\n    def t(self):\n        pass\n",
    );
    loadgen(["import", "locust"])
        .arg(&no_user)
        .expect_code(2)
        .stderr_has("plain.py: no User class");

    let binary = dir.path().join("binary.py");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x01]).expect("write");
    loadgen(["import", "locust"]).arg(&binary).expect_code(2);
}

/// Real Locust runs the two extra locustfiles against the built-in API without a failure: they are real
/// locustfiles, not ones written to suit the importer.
#[test]
fn real_locust_runs_the_extra_locustfiles() {
    let Some(python) = external_tool(
        "Locust (pip install locust==2.47.*)",
        &[&["python3", "-c", "import locust"]],
    ) else {
        return;
    };
    let demo = Demo::start(&[]);
    for file in ["shop_locustfile.py", "notes_locustfile.py"] {
        let csv = tempfile::tempdir().expect("tempdir");
        let prefix = csv.path().join("out");
        let child = std::process::Command::new(&python[0])
            .args(["-m", "locust", "-f"])
            .arg(locustfile(file))
            .args([
                "--headless",
                "-u",
                "4",
                "-r",
                "4",
                "-t",
                "3s",
                "--host",
                &demo.url,
            ])
            .args(["--only-summary", "--csv"])
            .arg(&prefix)
            .current_dir(csv.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start locust");
        let out = wait_bounded(child, format!("locust -f {file}"), Duration::from_secs(60));
        assert_eq!(out.code, Some(0), "{}", out.dump());
        let stats = std::fs::read_to_string(csv.path().join("out_stats.csv")).expect("stats CSV");
        let aggregated = stats
            .lines()
            .find(|l| l.contains(",Aggregated,"))
            .unwrap_or_else(|| panic!("no Aggregated row:\n{stats}"));
        let cells: Vec<&str> = aggregated.split(',').collect();
        assert_ne!(cells[2], "0", "no request sent:\n{stats}");
        assert_eq!(cells[3], "0", "failures:\n{stats}");
    }
}
