//! Plan resolution tests: includes, overrides, templates, waits.

use super::*;
use crate::scenario;
use crate::scenario::template::Var;
use http::Method;

fn plan_of(files: &[(&str, &str)], overrides: &Overrides) -> Result<RunPlan, crate::error::Error> {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let loaded = scenario::load(&dir.path().join(files[0].0))?;
    resolve(&loaded, overrides)
}

const SHARED: &str = r#"
[target]
host = "http://127.0.0.1:9"
[user]
wait = { between = ["100ms", "500ms"] }
[[user.on_start]]
name = "login"
method = "post"
path = "/login"
json = { user = "u{{vu}}", n = 3, tags = ["a", "{{run_id}}"] }
capture = { token = "$.access_token", sid = { header = "x-session" } }
[[task]]
name = "a"
weight = 3
path = "/a?t={{token}}"
[[task]]
name = "b"
path = "/b"
"#;

#[test]
fn includes_merge_and_a_same_named_task_overrides() {
    let main = r#"
name = "main"
include = "shared.toml"
[load]
users = 4
duration = "1m"
[[task]]
name = "b"
path = "/b2"
expect = { status = [200, 429] }
[[task]]
name = "c"
path = "/c"
"#;
    let p = plan_of(
        &[("main.toml", main), ("shared.toml", SHARED)],
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(p.name, "main");
    assert_eq!(p.host, "http://127.0.0.1:9");
    assert_eq!(p.users, 4);
    assert_eq!(
        p.load,
        Load::Ramp { spawn_rate: 4.0 },
        "default spawn rate starts everyone within a second"
    );
    assert_eq!(p.duration, Duration::from_secs(60));
    assert_eq!(
        p.classes[0].wait,
        Wait::Between(Duration::from_millis(100), Duration::from_millis(500))
    );
    let names: Vec<&str> = p.classes[0]
        .tasks
        .iter()
        .map(|t| p.steps[t.head].name.as_str())
        .collect();
    assert_eq!(names, ["a", "b", "c"], "b replaced in place, c appended");
    let b = &p.steps[p.classes[0].tasks[1].head];
    assert_eq!(b.path.source(), "/b2");
    assert!(b.accepts(429) && b.accepts(200) && !b.accepts(201));
    assert_eq!(p.classes[0].total_weight(), 5);
    assert_eq!(
        p.captures,
        ["sid", "token"],
        "capture names in table order (TOML tables are sorted)"
    );
    let login = &p.steps[p.classes[0].on_start[0]];
    assert_eq!(login.method, Method::POST);
    assert!(login.needs_body());
    assert!(p.describe().contains("weight 3 (60.0%)"));
}

#[test]
fn command_line_overrides_win() {
    let main = "include = \"shared.toml\"\n[load]\nusers = 4\nspawn_rate = 2\nduration = \"1m\"\n";
    let o = Overrides {
        host: Some("http://localhost:1234/".into()),
        users: Some(9),
        spawn_rate: Some(3.5),
        duration: Some(Duration::from_secs(5)),
        ..Overrides::default()
    };
    let p = plan_of(&[("main.toml", main), ("shared.toml", SHARED)], &o).unwrap();
    assert_eq!(
        (p.host.as_str(), p.users, &p.load, p.duration),
        (
            "http://localhost:1234",
            9,
            &Load::Ramp { spawn_rate: 3.5 },
            Duration::from_secs(5)
        )
    );
}

#[test]
fn json_bodies_render_templates_and_keep_types() {
    let main = "include = \"shared.toml\"\n[load]\nusers = 1\nduration = \"1s\"\n";
    let p = plan_of(
        &[("main.toml", main), ("shared.toml", SHARED)],
        &Overrides::default(),
    )
    .unwrap();
    struct Ctx;
    impl template::Context for Ctx {
        fn write_var(&mut self, v: Var, out: &mut String) {
            out.push_str(match v {
                Var::Vu => "7",
                Var::RunId => "r1",
                _ => "?",
            })
        }
    }
    let Body::Json(t) = &p.steps[p.classes[0].on_start[0]].body else {
        panic!("json body")
    };
    assert_eq!(
        t.render(&mut Ctx),
        serde_json::json!({"user": "u7", "n": 3, "tags": ["a", "r1"]})
    );
}

#[test]
fn wait_forms() {
    let with_wait = |w: &str| {
        let main = format!(
            "[target]\nhost = \"http://h\"\n[load]\nusers = 1\nduration = \"1s\"\n[user]\nwait = {w}\n[[task]]\nname = \"x\"\npath = \"/\"\n"
        );
        plan_of(&[("m.toml", &main)], &Overrides::default()).map(|p| p.classes[0].wait)
    };
    assert_eq!(
        with_wait("\"1s\"").unwrap(),
        Wait::Constant(Duration::from_secs(1))
    );
    assert_eq!(
        with_wait("{ constant = \"250ms\" }").unwrap(),
        Wait::Constant(Duration::from_millis(250))
    );
    assert!(with_wait("{ between = [\"1s\"] }").is_err());
    assert!(with_wait("5").is_err());
    assert_eq!(
        with_wait("{ constant_pacing = \"2s\" }").unwrap(),
        Wait::Pacing(Duration::from_secs(2))
    );
    assert_eq!(
        with_wait("{ constant_throughput = 4 }").unwrap(),
        Wait::Pacing(Duration::from_millis(250))
    );
    assert_eq!(
        with_wait("{ constant_throughput = 0.5 }").unwrap(),
        Wait::Pacing(Duration::from_secs(2))
    );
    assert!(with_wait("{ constant_throughput = 0 }").is_err());
    assert!(with_wait("{ constant_pacing = \"0s\" }").is_err());
    let e = with_wait("{ constant_pacng = \"1s\" }")
        .unwrap_err()
        .to_string();
    assert!(e.contains("did you mean `constant_pacing`"), "{e}");
}

/// The file reads durations as the command line does (`crate::duration`): units, or a bare number of seconds;
/// a bad one is still a located error.
#[test]
fn file_durations_read_like_the_command_line() {
    let with = |load: &str, wait: &str| {
        let main = format!(
            "[target]\nhost = \"http://h\"\ntimeout = \"2.5\"\n[load]\n{load}\n[user]\nwait = {wait}\n\
             [[task]]\nname = \"x\"\npath = \"/\"\n"
        );
        plan_of(&[("m.toml", &main)], &Overrides::default()).map_err(|e| e.to_string())
    };
    let s = Duration::from_secs_f64;
    let p = with(
        "users = 1\nduration = \"30\"\nstop_timeout = \" 5 \"",
        "\"0.25\"",
    )
    .unwrap();
    assert_eq!(
        (p.duration, p.stop_timeout, p.timeout),
        (s(30.0), s(5.0), s(2.5))
    );
    assert_eq!(p.classes[0].wait, Wait::Constant(s(0.25)));
    for (text, want) in [("\"30\"", 30.0), ("\"30s\"", 30.0), ("\"1h 30m\"", 5400.0)] {
        let p = with(&format!("users = 1\nduration = {text}"), "\"1s\"").unwrap();
        assert_eq!(p.duration, s(want), "{text}");
    }
    let p = with("stages = [{ duration = \"10\", users = 2 }]", "\"1s\"").unwrap();
    assert_eq!(p.duration, s(10.0));

    let e = with("users = 1\nduration = \"-1\"", "\"1s\"").unwrap_err();
    assert!(
        e.contains("m.toml:6:12") && e.contains("cannot parse `-1` as a duration"),
        "{e}"
    );
    let e = with("users = 1\nduration = \"31536001\"", "\"1s\"").unwrap_err();
    assert!(
        e.contains("m.toml:6:12") && e.contains("must be at most 365 days"),
        "{e}"
    );
    let e = with("users = 1\nduration = \"0\"", "\"1s\"").unwrap_err();
    assert!(e.contains("m.toml:6:12") && e.contains("above zero"), "{e}");
    let e = with("users = 1\nduration = \"1s\"", "\"soon\"").unwrap_err();
    assert!(
        e.contains("m.toml:8:8") && e.contains("`wait`: cannot parse `soon` as a duration"),
        "{e}"
    );
}

#[test]
fn each_wait_mode_pauses_as_documented() {
    let ms = Duration::from_millis;
    let half = || 0.5;
    assert_eq!(Wait::None.pause(ms(10), half), ms(0));
    assert_eq!(Wait::Constant(ms(300)).pause(ms(10), half), ms(300));
    assert_eq!(Wait::Between(ms(100), ms(300)).pause(ms(10), half), ms(200));
    assert_eq!(
        Wait::Between(ms(100), ms(300)).pause(ms(10), || 0.0),
        ms(100)
    );
    // Pacing: what is left of the interval after the task; nothing when the task took longer.
    assert_eq!(Wait::Pacing(ms(1000)).pause(ms(300), half), ms(700));
    assert_eq!(Wait::Pacing(ms(1000)).pause(ms(1500), half), ms(0));
}

fn staged(load: &str) -> Result<RunPlan, String> {
    let main = format!(
        "[target]\nhost = \"http://h\"\n[load]\n{load}\n[[task]]\nname = \"x\"\npath = \"/\"\n"
    );
    plan_of(&[("m.toml", &main)], &Overrides::default()).map_err(|e| e.to_string())
}

#[test]
fn stages_ramp_linearly_step_and_hold_the_last_target() {
    let p = staged(
        "stages = [{ duration = \"10s\", users = 10 }, { duration = \"5s\", users = 10 }, \
         { duration = \"0s\", users = 50 }, { duration = \"10s\", users = 0 }]",
    )
    .unwrap();
    let s = Duration::from_secs_f64;
    assert_eq!(p.duration, s(25.0), "the stages' total");
    assert_eq!(p.users, 50, "the highest target");
    let at = |t: f64| p.target_users(s(t));
    assert_eq!(
        [at(0.0), at(0.99), at(1.0), at(5.5), at(9.99)],
        [0, 0, 1, 5, 9]
    );
    assert_eq!([at(10.0), at(14.9)], [10, 10]);
    assert_eq!(
        [at(15.0), at(20.0), at(24.99), at(25.0), at(99.0)],
        [50, 25, 0, 0, 0]
    );
    // The scheduler looks again every 10 ms during the stages, and not after them.
    assert_eq!(p.next_change(s(3.0)), Some(s(3.01)));
    assert_eq!(p.next_change(s(25.0)), None);

    // Without stages: user 1 at once, then one every 1/spawn_rate s.
    let ramp = staged("users = 4\nspawn_rate = 2\nduration = \"10s\"").unwrap();
    assert_eq!(
        [0.0, 0.49, 0.5, 1.0, 1.5, 9.0].map(|t| ramp.target_users(s(t))),
        [1, 1, 2, 3, 4, 4]
    );
    assert_eq!(ramp.next_change(s(0.2)), Some(s(0.5)));
    assert_eq!(ramp.next_change(s(1.6)), None);
}

#[test]
fn stage_mistakes_are_located_and_explained() {
    let e = staged("users = 5\nstages = [{ duration = \"1s\", users = 1 }]").unwrap_err();
    assert!(
        e.contains("m.toml:4:9") && e.contains("cannot be used with `stages`"),
        "{e}"
    );
    let e = staged("stages = []").unwrap_err();
    assert!(e.contains("`stages` is empty"), "{e}");
    let e = staged("stages = [{ duration = \"1s\", users = -1 }]").unwrap_err();
    assert!(e.contains("between 0 and"), "{e}");
    let e = staged("stages = [{ duration = \"1s\", users = 0 }]").unwrap_err();
    assert!(e.contains("every stage has 0 users"), "{e}");
    let e = staged("stages = [{ duration = \"1 fortnight\", users = 3 }]").unwrap_err();
    assert!(e.contains("cannot parse `1 fortnight`"), "{e}");
    let e = staged("stages = [{ duration = \"1s\", user = 3 }]").unwrap_err();
    assert!(e.contains("unknown field `user`"), "{e}");
    let over = plan_of(
        &[(
            "m.toml",
            "[target]\nhost = \"http://h\"\n[load]\nstages = [{ duration = \"1s\", users = 2 }]\n[[task]]\nname = \"x\"\npath = \"/\"\n",
        )],
        &Overrides {
            users: Some(3),
            ..Overrides::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        over.contains("do not apply to a scenario with [load] stages"),
        "{over}"
    );
}

#[test]
fn an_arrival_rate_schedules_iterations_by_the_integral_of_its_rate() {
    let s = Duration::from_secs_f64;
    let p = staged("arrival_rate = 100\nduration = \"10s\"").unwrap();
    let Load::Arrival(a) = &p.load else {
        panic!("{:?}", p.load)
    };
    assert_eq!(p.users, 100, "default max_users: the peak rate × 1 s");
    assert_eq!(a.queue_timeout, s(30.0), "default: the request timeout");
    assert_eq!(a.start_of(0), Some(s(0.0)));
    assert_eq!(a.start_of(1), Some(s(0.01)));
    assert_eq!(a.start_of(250), Some(s(2.5)));
    assert!((a.due_by(s(10.0)) - 1000.0).abs() < 1e-9);

    // 0 → 100/s over 2 s (100 iterations), hold 100/s for 1 s, down to 0 over 2 s (100 more), then nothing.
    let p = staged(
        "stages = [{ duration = \"2s\", rate = 100 }, { duration = \"1s\", rate = 100 }, \
         { duration = \"2s\", rate = 0 }]\nmax_users = 7",
    )
    .unwrap();
    let Load::Arrival(a) = &p.load else {
        panic!("{:?}", p.load)
    };
    assert_eq!((p.users, p.duration), (7, s(5.0)));
    assert!(
        (a.due_by(s(1.0)) - 25.0).abs() < 1e-9,
        "a quarter of the ramp's 100 in its first half"
    );
    assert!((a.due_by(s(5.0)) - 300.0).abs() < 1e-9);
    assert_eq!(a.rate_at(s(1.0)), 50.0);
    assert_eq!(a.rate_at(s(4.0)), 50.0);
    // start_of inverts due_by everywhere, ramps included.
    for k in [1u64, 10, 25, 99, 100, 150, 200, 250, 299] {
        let t = a.start_of(k).unwrap();
        assert!(
            (a.due_by(t) - k as f64).abs() < 1e-6,
            "iteration {k} at {t:?}: due_by = {}",
            a.due_by(t)
        );
    }
    assert!(
        a.start_of(300).is_none(),
        "the rate ends at 0: nothing more is due"
    );
    assert_eq!(
        p.ramp_up(),
        s(2.0),
        "steady from the first stage at the peak rate"
    );
    let text = p.describe();
    for line in [
        "arrival rate (open model)",
        "0 -> 100 iterations/s",
        "300 iterations in all",
        "10 at 100 ms per iteration",
        "with 7 users, iterations taking over 70 ms",
    ] {
        assert!(text.contains(line), "{line:?} in\n{text}");
    }
}

#[test]
fn arrival_rate_mistakes_are_located_and_explained() {
    let e = staged("arrival_rate = 10\nusers = 5\nduration = \"1s\"").unwrap_err();
    assert!(
        e.contains("m.toml:5:9") && e.contains("`users` cannot be used with `arrival_rate`"),
        "{e}"
    );
    let e = staged("arrival_rate = 0\nduration = \"1s\"").unwrap_err();
    assert!(
        e.contains("m.toml:4:16") && e.contains("must be from 0.001 to 10000000"),
        "{e}"
    );
    let e = staged("arrival_rate = 1e-300\nduration = \"1s\"").unwrap_err();
    assert!(e.contains("m.toml:4:16") && e.contains("got 1e-300"), "{e}");
    let e = staged("stages = [{ duration = \"1s\", rate = 10 }, { duration = \"1s\", users = 3 }]")
        .unwrap_err();
    assert!(
        e.contains("a stage has `users` while others have `rate`"),
        "{e}"
    );
    let e = staged("stages = [{ duration = \"1s\", rate = -1 }]").unwrap_err();
    assert!(e.contains("between 0 and"), "{e}");
    let e = staged("stages = [{ duration = \"1s\", rate = 0 }]").unwrap_err();
    assert!(e.contains("every stage has a rate of 0"), "{e}");
    let e = staged("users = 3\nmax_users = 5\nduration = \"1s\"").unwrap_err();
    assert!(
        e.contains("m.toml:5:13") && e.contains("`max_users` only applies to an arrival rate"),
        "{e}"
    );
    let e = staged("arrival_rate = 5\nmax_users = 0\nduration = \"1s\"").unwrap_err();
    assert!(e.contains("`max_users` must be between 1"), "{e}");

    // --rate turns any scenario into a constant arrival rate; -u is then its max_users.
    let main = "[target]\nhost = \"http://h\"\n[load]\nusers = 3\nduration = \"1s\"\n[[task]]\nname = \"x\"\npath = \"/\"\n";
    let rate = |o: Overrides| plan_of(&[("m.toml", main)], &o).map_err(|e| e.to_string());
    let p = rate(Overrides {
        rate: Some(50.0),
        users: Some(8),
        ..Overrides::default()
    })
    .unwrap();
    assert_eq!(p.users, 8);
    assert!(
        matches!(&p.load, Load::Arrival(a) if a.stages == [RateStage { duration: Duration::ZERO, rate: 50.0 }])
    );
    let e = rate(Overrides {
        rate: Some(50.0),
        spawn_rate: Some(2.0),
        ..Overrides::default()
    })
    .unwrap_err();
    assert!(
        e.contains("--spawn-rate does not apply to an arrival rate"),
        "{e}"
    );
    let e = rate(Overrides {
        rate: Some(-1.0),
        ..Overrides::default()
    })
    .unwrap_err();
    assert!(e.contains("--rate must be from 0.001 to 10000000"), "{e}");
}

#[test]
fn users_started_counts_every_ramp_up() {
    // A spike: up to 10, up to 100, down to 10, up to 100 again: 10 + 90 + 90 users are started.
    let p = staged(
        "stages = [{ duration = \"1s\", users = 10 }, { duration = \"1s\", users = 100 }, \
         { duration = \"1s\", users = 10 }, { duration = \"1s\", users = 100 }]",
    )
    .unwrap();
    assert_eq!(users_started(&p.load, p.users), 190);
    let p = staged("users = 7\nduration = \"1s\"").unwrap();
    assert_eq!(users_started(&p.load, p.users), 7);
}

#[test]
fn gate_windows_are_checked_against_the_load() {
    let p = staged(
        "stages = [{ duration = \"2s\", users = 4 }, { duration = \"0s\", users = 8 }, { duration = \"3s\", users = 8 }]\n\
         [gates.stages.3]\np95_ms = 100\n[gates.steady.requests.x]\np99_ms = 200",
    )
    .unwrap();
    let w: Vec<(Window, Option<&str>)> = p
        .gates
        .iter()
        .map(|g| (g.window, g.scope.as_deref()))
        .collect();
    assert_eq!(w, [(Window::Steady, Some("x")), (Window::Stage(3), None)]);
    let s = Duration::from_secs;
    assert_eq!(p.span(Window::Stage(3)), (s(2), s(5)));
    assert_eq!(p.span(Window::Steady), (s(2), s(5)));
    let e = staged("stages = [{ duration = \"1s\", users = 4 }]\n[gates.stages.2]\np95_ms = 1")
        .unwrap_err();
    assert!(
        e.contains("`gates.stages.2`: no such stage (the load has stages 1 to 1)"),
        "{e}"
    );
    let e = staged("stages = [{ duration = \"0s\", users = 4 }, { duration = \"1s\", users = 4 }]\n[gates.stages.1]\np95_ms = 1")
        .unwrap_err();
    assert!(e.contains("stage 1 lasts 0 s"), "{e}");
    let e = staged("users = 2\nduration = \"1s\"\n[gates]\ndropped_iterations = 0").unwrap_err();
    assert!(
        e.contains("`dropped_iterations` only applies to an arrival rate"),
        "{e}"
    );
    let e =
        staged("users = 2\nduration = \"1s\"\n[gates.steady.requests.y]\np95_ms = 1").unwrap_err();
    assert!(e.contains("gate for unknown request name `y`"), "{e}");
}

#[test]
fn tags_select_and_exclude_tasks() {
    let main = "[target]\nhost = \"http://h\"\n[load]\nusers = 1\nduration = \"1s\"\n\
                [[user.on_start]]\nname = \"login\"\npath = \"/l\"\n\
                [[task]]\nname = \"read\"\npath = \"/r\"\ntags = [\"read\"]\n\
                [[task]]\nname = \"write\"\npath = \"/w\"\ntags = [\"write\", \"slow\"]\n\
                [[task]]\nname = \"plain\"\npath = \"/p\"\n";
    let tasks = |tags: &[&str], exclude: &[&str]| {
        plan_of(
            &[("m.toml", main)],
            &Overrides {
                tags: tags.iter().map(|t| t.to_string()).collect(),
                exclude_tags: exclude.iter().map(|t| t.to_string()).collect(),
                ..Overrides::default()
            },
        )
        .map(|p| {
            let names: Vec<String> = p.classes[0]
                .tasks
                .iter()
                .map(|t| p.steps[t.head].name.clone())
                .collect();
            assert_eq!(p.classes[0].on_start.len(), 1, "on_start always stays");
            names
        })
        .map_err(|e| e.to_string())
    };
    assert_eq!(tasks(&[], &[]).unwrap(), ["read", "write", "plain"]);
    assert_eq!(tasks(&["read"], &[]).unwrap(), ["read"]);
    assert_eq!(tasks(&["read", "write"], &[]).unwrap(), ["read", "write"]);
    assert_eq!(tasks(&[], &["slow"]).unwrap(), ["read", "plain"]);
    assert_eq!(
        tasks(&["write"], &["slow"]).unwrap_err(),
        "--tags / --exclude-tags leave no task to run"
    );
    let e = tasks(&["raed"], &[]).unwrap_err();
    assert!(
        e.contains("--tags raed: no task has this tag; did you mean `read`?"),
        "{e}"
    );
    let e = staged("users = 1\nduration = \"1s\"\n[[user.on_start]]\nname = \"s\"\npath = \"/\"\ntags = [\"a\"]")
        .unwrap_err();
    assert!(e.contains("`tags`"), "{e}");
}

/// The scenario text of `body` after a target and a load, as `m.toml`; the error as text.
fn with_body(body: &str) -> Result<RunPlan, String> {
    let main =
        format!("[target]\nhost = \"http://h\"\n[load]\nusers = 4\nduration = \"1s\"\n{body}");
    plan_of(&[("m.toml", &main)], &Overrides::default()).map_err(|e| e.to_string())
}

#[test]
fn a_flow_is_one_task_with_its_own_entry_and_its_steps_in_order() {
    let p = with_body(
        "[[task]]\nname = \"crud\"\nweight = 2\ntags = [\"w\"]\nrestart_session = true\n\
         [[task.steps]]\nname = \"create\"\nmethod = \"POST\"\npath = \"/i\"\ncapture = { id = \"$.id\" }\n\
         [[task.steps]]\nname = \"read\"\npath = \"/i/{{id}}\"\n\
         [[task]]\nname = \"home\"\npath = \"/\"\n",
    )
    .unwrap();
    let tasks = &p.classes[0].tasks;
    assert_eq!(tasks.len(), 2);
    let crud = &tasks[0];
    assert!(crud.is_flow() && !tasks[1].is_flow());
    assert_eq!((crud.weight, crud.restart_session), (2, true));
    let head = &p.steps[crud.head];
    assert_eq!(
        (head.kind, head.method_label(), head.is_request()),
        (StepKind::Flow, "FLOW", false)
    );
    let names: Vec<&str> = crud
        .steps
        .iter()
        .map(|&i| p.steps[i].name.as_str())
        .collect();
    assert_eq!(names, ["create", "read"]);
    assert!(
        crud.steps
            .iter()
            .all(|&i| p.steps[i].flow == Some(crud.head))
    );
    let plan = p.describe();
    assert!(
        plan.contains("crud") && plan.contains("FLOW") && plan.contains("a flow"),
        "{plan}"
    );
}

#[test]
fn flow_mistakes_are_located() {
    let cases = [
        // A request key on the flow itself.
        (
            "[[task]]\nname = \"f\"\nmethod = \"POST\"\n[[task.steps]]\nname = \"a\"\npath = \"/\"\n",
            "m.toml:8:10",
            "flow `f` has `steps`, so `method` belongs on one of its steps",
        ),
        // A task key on a step.
        (
            "[[task]]\nname = \"f\"\n[[task.steps]]\nname = \"a\"\npath = \"/\"\nweight = 3\n",
            "m.toml:11:10",
            "`weight` applies to [[task]] entries, not to the steps of a flow",
        ),
        // Nothing to run.
        (
            "[[task]]\nname = \"f\"\nsteps = []\n",
            "m.toml:8:9",
            "flow `f` has no steps",
        ),
        // A request without a path.
        (
            "[[task]]\nname = \"f\"\n",
            "m.toml:7:8",
            "request `f` has no `path`",
        ),
        // Blocks nest, but not deeper than five levels (issue 18, item 3).
        (
            "[[task]]\nname = \"f\"\n[[task.steps]]\nname = \"a\"\n[[task.steps.steps]]\nname = \"b\"\n\
             [[task.steps.steps.steps]]\nname = \"c\"\n[[task.steps.steps.steps.steps]]\nname = \"d\"\n\
             [[task.steps.steps.steps.steps.steps]]\nname = \"e\"\n\
             [[task.steps.steps.steps.steps.steps.steps]]\nname = \"g\"\npath = \"/\"\n",
            "m.toml:18:1",
            "step `e` nests blocks 6 deep; at most 5 levels are allowed",
        ),
        // Names are unique across flows and requests.
        (
            "[[task]]\nname = \"f\"\n[[task.steps]]\nname = \"f\"\npath = \"/\"\n",
            "m.toml:9:8",
            "duplicate request name `f`",
        ),
    ];
    for (body, at, message) in cases {
        let e = with_body(body).unwrap_err();
        assert!(e.contains(at) && e.contains(message), "{body}\n=> {e}");
    }
}

#[test]
fn classes_have_their_own_weight_wait_and_steps() {
    let p = with_body(
        "[classes.reader]\nweight = 9\nwait = \"1s\"\n\
         [[classes.reader.on_start]]\nname = \"r_login\"\npath = \"/l\"\n\
         [[classes.reader.task]]\nname = \"read\"\npath = \"/r\"\n\
         [classes.writer]\nwait = { between = [\"1s\", \"2s\"] }\n\
         [[classes.writer.task]]\nname = \"write\"\nmethod = \"POST\"\npath = \"/w\"\n\
         [[classes.writer.on_stop]]\nname = \"w_bye\"\npath = \"/b\"\n",
    )
    .unwrap();
    assert!(p.has_classes());
    let names: Vec<(&str, u32)> = p
        .classes
        .iter()
        .map(|c| (c.name.as_str(), c.weight))
        .collect();
    assert_eq!(names, [("reader", 9), ("writer", 1)]);
    let (reader, writer) = (&p.classes[0], &p.classes[1]);
    assert_eq!(reader.wait, Wait::Constant(Duration::from_secs(1)));
    assert_eq!(
        writer.wait,
        Wait::Between(Duration::from_secs(1), Duration::from_secs(2))
    );
    assert_eq!(p.steps[reader.on_start[0]].name, "r_login");
    assert!(writer.on_start.is_empty() && reader.on_stop.is_empty());
    assert_eq!(p.steps[writer.on_stop[0]].class, 1);
    let plan = p.describe();
    assert!(
        plan.contains("class reader  weight 9 (90.0% of the users)"),
        "{plan}"
    );

    // Without [classes], one class called `user`, which the results do not list.
    let p = staged("users = 1\nduration = \"1s\"").unwrap();
    assert_eq!(p.classes.len(), 1);
    assert!(!p.has_classes());
}

#[test]
fn class_mistakes_are_located() {
    let cases = [
        (
            "[user]\nwait = \"1s\"\n[classes.a]\n[[classes.a.task]]\nname = \"t\"\npath = \"/\"\n",
            "m.toml:7:8",
            "this scenario has [classes.*], so [user] wait must go inside a class",
        ),
        (
            "[classes.a]\nweight = 0\n[[classes.a.task]]\nname = \"t\"\npath = \"/\"\n",
            "m.toml:7:10",
            "class `weight` must be between 1 and 1000000, got 0",
        ),
        (
            "[classes.a]\nwait = \"1s\"\n",
            "m.toml:6:10",
            "class `a` has no tasks",
        ),
        (
            "[classes.a]\nwieght = 2\n",
            "m.toml:7:1",
            "unknown field `wieght`",
        ),
    ];
    for (body, at, message) in cases {
        let e = with_body(body).unwrap_err();
        assert!(e.contains(at) && e.contains(message), "{body}\n=> {e}");
    }
}

#[test]
fn the_mix_keeps_every_prefix_within_one_user_of_the_weights_and_undoes_newest_first() {
    for weights in [
        vec![9u32, 1],
        vec![3, 1],
        vec![5, 3, 2],
        vec![1, 1, 1],
        vec![7],
    ] {
        let total: u32 = weights.iter().sum();
        let mut mix = Mix::new(weights.iter().copied());
        let mut counts = vec![0u32; weights.len()];
        let mut picks = Vec::new();
        for n in 1..=200u32 {
            let c = mix.next_class();
            picks.push(c);
            counts[c] += 1;
            for (i, w) in weights.iter().enumerate() {
                let exact = f64::from(n * w) / f64::from(total);
                assert!(
                    (f64::from(counts[i]) - exact).abs() < 1.0,
                    "{weights:?} after {n}: class {i} has {}, exact {exact}",
                    counts[i]
                );
            }
        }
        // Undo the last 50 (a ramp-down) and pick again: the same classes come back.
        for &c in picks[150..].iter().rev() {
            mix.undo(c);
        }
        let again: Vec<usize> = (0..50).map(|_| mix.next_class()).collect();
        assert_eq!(again, picks[150..], "{weights:?}");
    }
}

#[test]
fn iterations_come_from_the_command_line_or_the_load() {
    assert_eq!(
        staged("users = 1\nduration = \"1s\"\niterations = 7")
            .unwrap()
            .max_iterations,
        Some(7)
    );
    let p = plan_of(
        &[("m.toml", "[target]\nhost = \"http://h\"\n[load]\nusers = 1\nduration = \"1s\"\niterations = 7\n[[task]]\nname = \"x\"\npath = \"/\"\n")],
        &Overrides { iterations: Some(3), ..Overrides::default() },
    )
    .unwrap();
    assert_eq!(p.max_iterations, Some(3));
    let e = staged("users = 1\nduration = \"1s\"\niterations = 0").unwrap_err();
    assert!(
        e.contains("m.toml:6:14") && e.contains("`iterations` must be at least 1"),
        "{e}"
    );
}

#[test]
fn restart_session_on_is_per_request_with_a_default_for_the_user() {
    let p = with_body(
        "[user]\nrestart_session_on = [401]\n\
         [[user.on_start]]\nname = \"login\"\npath = \"/l\"\n\
         [[task]]\nname = \"a\"\npath = \"/a\"\n\
         [[task]]\nname = \"b\"\npath = \"/b\"\nrestart_session_on = [401, 403]\n\
         [[task]]\nname = \"f\"\n[[task.steps]]\nname = \"f1\"\npath = \"/f\"\n",
    )
    .unwrap();
    let on = |name: &str| {
        p.steps
            .iter()
            .find(|s| s.name == name)
            .unwrap()
            .restart_on
            .clone()
    };
    assert_eq!(on("a"), [401], "the [user] default");
    assert_eq!(on("b"), [401, 403], "its own list wins");
    assert_eq!(on("f1"), [401], "a flow's steps too");
    assert!(on("login").is_empty() && on("f").is_empty());
    assert!(p.describe().contains("restarts session on 401|403"));

    let e = with_body("[[user.on_start]]\nname = \"s\"\npath = \"/\"\nrestart_session_on = [401]\n[[task]]\nname = \"t\"\npath = \"/\"\n")
        .unwrap_err();
    assert!(
        e.contains("m.toml:9:22") && e.contains("applies to tasks"),
        "{e}"
    );
    let e = with_body("[[task]]\nname = \"t\"\npath = \"/\"\nrestart_session_on = [4010]\n")
        .unwrap_err();
    assert!(
        e.contains("m.toml:9:23") && e.contains("`4010` is not an HTTP status code"),
        "{e}"
    );
}

#[test]
fn a_stage_with_a_spawn_rate_moves_at_that_rate_then_holds() {
    let p = staged(
        "stages = [{ duration = \"20s\", users = 100, spawn_rate = 10 }, \
         { duration = \"10s\", users = 40, spawn_rate = 20 }, { duration = \"4s\", users = 0, spawn_rate = 5 }]",
    )
    .unwrap();
    let at = |s: f64| p.target_users(Duration::from_secs_f64(s));
    assert_eq!(
        (at(0.0), at(5.0), at(9.99), at(10.0), at(19.0)),
        (0, 50, 99, 100, 100)
    );
    // Down at 20/s: 100 -> 40 in 3 s, then held.
    assert_eq!((at(21.0), at(23.0), at(29.0)), (80, 40, 40));
    // 5/s for 4 s gets from 40 to 20 only; that is where the run holds.
    assert_eq!((at(32.0), at(40.0)), (30, 20));
    assert_eq!(
        p.ramp_up(),
        Duration::from_secs(10),
        "the peak is reached at 10 s, not at the stage's end"
    );
    assert!(p.describe().contains("100 at 10/s"), "{}", p.describe());
    let e = staged("stages = [{ duration = \"0s\", users = 10, spawn_rate = 5 }]").unwrap_err();
    assert!(
        e.contains("m.toml:4:55") && e.contains("no time to spawn"),
        "{e}"
    );
    let e = staged("stages = [{ duration = \"5s\", users = 10, spawn_rate = 0 }]").unwrap_err();
    assert!(e.contains("`spawn_rate` must be between"), "{e}");
}

#[test]
fn validity_bounds_can_be_set_per_scenario() {
    let d = staged("users = 1\nduration = \"1s\"").unwrap();
    assert_eq!(d.validity, Validity::default());
    let p = with_body("[validity]\nmax_lag = \"250ms\"\nmax_shortfall_pct = 5\n[[task]]\nname = \"t\"\npath = \"/\"\n").unwrap();
    assert_eq!(p.validity.max_lag, Duration::from_millis(250));
    assert!((p.validity.max_shortfall - 0.05).abs() < 1e-12);
    assert!(
        p.describe().contains("lags over 250ms") && p.describe().contains("more than 5% short"),
        "{}",
        p.describe()
    );
    let e =
        with_body("[validity]\nmax_shortfall_pct = 120\n[[task]]\nname = \"t\"\npath = \"/\"\n")
            .unwrap_err();
    assert!(
        e.contains("m.toml:7:21") && e.contains("percentage from 0 to 100"),
        "{e}"
    );
}

#[test]
fn sizes_read_decimal_and_binary_units() {
    for (text, bytes) in [
        ("1048576", 1_048_576),
        ("512KB", 512_000),
        ("512 KiB", 524_288),
        ("10MB", 10_000_000),
        ("10mib", 10_485_760),
        ("1GiB", 1 << 30),
        ("2 GB", 2_000_000_000),
        ("1.5MB", 1_500_000),
        ("64B", 64),
        ("1TiB", 1 << 40),
    ] {
        assert_eq!(parse_size(text), Ok(bytes), "{text}");
    }
    for bad in [
        "",
        "MB",
        "10 parsecs",
        "1.2.3MB",
        "-5",
        "99999999999999999999",
        "20000000TiB",
    ] {
        assert!(parse_size(bad).is_err(), "{bad:?} was accepted");
    }
    assert_eq!(fmt_size(10 << 20), "10 MiB");
    assert_eq!(fmt_size(512_000), "500 KiB");
    assert_eq!(fmt_size(2_000_000), "2 MB");
    assert_eq!(fmt_size(1_001), "1001 bytes");
}

#[test]
fn max_body_defaults_reads_sizes_and_locates_mistakes() {
    let target = |extra: &str| {
        let main = format!(
            "[target]\nhost = \"http://h\"\n{extra}\n[load]\nusers = 1\nduration = \"1s\"\n[[task]]\nname = \"x\"\npath = \"/\"\n"
        );
        plan_of(&[("m.toml", &main)], &Overrides::default()).map_err(|e| e.to_string())
    };
    let p = target("").unwrap();
    assert_eq!(p.max_body, DEFAULT_MAX_BODY);
    assert_eq!(DEFAULT_MAX_BODY, 10 * 1024 * 1024);
    assert!(
        p.describe()
            .contains("bodies kept for captures up to 10 MiB"),
        "{}",
        p.describe()
    );
    assert_eq!(target("max_body = \"512KB\"").unwrap().max_body, 512_000);
    assert_eq!(target("max_body = 4096").unwrap().max_body, 4096);
    let e = target("max_body = \"10 parsecs\"").unwrap_err();
    assert!(
        e.contains("m.toml:3:12") && e.contains("unknown size unit `parsecs`"),
        "{e}"
    );
    let e = target("max_body = 0").unwrap_err();
    assert!(
        e.contains("m.toml:3:12") && e.contains("`max_body`: must be above zero"),
        "{e}"
    );
    let e = target("max_body = -1").unwrap_err();
    assert!(e.contains("m.toml:3:12") && e.contains("negative"), "{e}");
    let e = target("max_body = 1.5").unwrap_err();
    assert!(e.contains("expected a size, found float"), "{e}");
    let e = target("max_bdoy = 1").unwrap_err();
    assert!(e.contains("did you mean `max_body`"), "{e}");
}

#[test]
fn preflight_checks_and_json_expectations_resolve_with_located_errors() {
    let p = with_body(
        "[preflight]\ntimeout = \"10s\"\n[[preflight.check]]\nname = \"health\"\npath = \"/health\"\n\
         expect = { status = [200], json = { \"$.status\" = \"healthy\", \"$.db.up\" = true } }\n\
         [[task]]\nname = \"t\"\npath = \"/\"\nexpect = { json = { \"$.n\" = 1 } }\n",
    )
    .unwrap();
    let pre = p.preflight.as_ref().unwrap();
    assert_eq!(
        (pre.timeout, pre.interval),
        (Duration::from_secs(10), Duration::from_secs(1))
    );
    assert_eq!(pre.checks.len(), 1);
    let check = &pre.checks[0];
    assert_eq!(check.kind, StepKind::Preflight);
    let want: Vec<(String, serde_json::Value)> = check
        .checks
        .iter()
        .filter_map(|c| match c {
            crate::plan::Check::Json(path, JsonTemplate::Literal(v)) => {
                Some((path.as_str().to_string(), v.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        want,
        [
            ("$.db.up".to_string(), serde_json::json!(true)),
            ("$.status".to_string(), serde_json::json!("healthy"))
        ]
    );
    assert!(check.needs_body());
    assert!(
        p.steps.iter().all(|s| s.name != "health"),
        "checks are not run steps"
    );
    assert!(
        p.steps[0].needs_body(),
        "a task's expect.json needs its body"
    );
    let plan = p.describe();
    assert!(
        plan.contains("preflight  before any load") && plan.contains("$.status = \"healthy\""),
        "{plan}"
    );

    let cases = [
        ("[preflight]\n", "has no checks"),
        (
            "[preflight]\n[[preflight.check]]\nname = \"h\"\npath = \"/\"\nweight = 2\n",
            "m.toml:10:10: `weight` applies to [[task]] entries, not to preflight steps",
        ),
        (
            "[preflight]\ninterval = \"soon\"\n[[preflight.check]]\nname = \"h\"\npath = \"/\"\n",
            "m.toml:7:12: `preflight.interval`: cannot parse `soon`",
        ),
        (
            "[[task]]\nname = \"t\"\npath = \"/\"\nexpect = { json = { \"$..x\" = 1 } }\n",
            "bad JSON path `$..x`",
        ),
    ];
    for (body, message) in cases {
        let body = if body.contains("[[task]]") {
            body.to_string()
        } else {
            format!("{body}[[task]]\nname = \"t\"\npath = \"/\"\n")
        };
        let e = with_body(&body).unwrap_err();
        assert!(e.contains(message), "{body}\n=> {e}");
    }
}

mod json_bodies {
    use super::*;
    use proptest::prelude::*;

    /// Renders `{{vu}}` as `vu`, whatever it holds (quotes, control characters, non-ASCII).
    struct Ctx(String);
    impl crate::scenario::template::Context for Ctx {
        fn write_var(&mut self, _: Var, out: &mut String) {
            out.push_str(&self.0);
        }
    }

    fn text() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                Just("{{vu}}".to_string()),
                "[a-z\"\\\\/ é😀\u{7f}\u{1b}\n\t\r\u{8}\u{c}\u{0}\u{1f}\u{2028}]{0,4}",
            ],
            0..4,
        )
        .prop_map(|parts| parts.concat())
    }

    fn value() -> impl Strategy<Value = toml::Value> {
        let leaf = prop_oneof![
            text().prop_map(toml::Value::String),
            any::<i64>().prop_map(toml::Value::Integer),
            (-1e6f64..1e6).prop_map(toml::Value::Float),
            any::<bool>().prop_map(toml::Value::Boolean),
        ];
        leaf.prop_recursive(3, 24, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(toml::Value::Array),
                prop::collection::btree_map("[a-zA-Z_\"é ]{1,6}", inner, 0..5)
                    .prop_map(|m| toml::Value::Table(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// The body written straight into the send buffer is byte for byte what serde_json writes for the
        /// rendered value (key order, escapes, numbers).
        #[test]
        fn a_json_body_is_written_as_serde_json_writes_it(body in prop::collection::btree_map("[a-z\"é]{1,5}", value(), 0..5), vu in text()) {
            let mut task = toml::Table::new();
            task.insert("name".into(), "t".into());
            task.insert("path".into(), "/".into());
            task.insert("method".into(), "POST".into());
            task.insert("json".into(), toml::Value::Table(body.into_iter().collect()));
            let mut doc = toml::Table::new();
            let mut target = toml::Table::new();
            target.insert("host".into(), "http://127.0.0.1:9".into());
            doc.insert("target".into(), toml::Value::Table(target));
            let mut load = toml::Table::new();
            load.insert("users".into(), 1.into());
            load.insert("duration".into(), "1s".into());
            doc.insert("load".into(), toml::Value::Table(load));
            doc.insert("task".into(), toml::Value::Array(vec![toml::Value::Table(task)]));
            let text = toml::to_string(&doc).unwrap();
            let p = plan_of(&[("m.toml", &text)], &Overrides::default()).unwrap();
            let Body::Json(t) = &p.steps[0].body else { panic!("json body") };
            let mut ctx = Ctx(vu.replace("{{vu}}", ""));
            let mut written = String::from("head:");
            t.write_into(&mut ctx, &mut written);
            let expected = serde_json::to_string(&t.render(&mut ctx)).unwrap();
            prop_assert_eq!(&written["head:".len()..], expected.as_str(), "{}", text);
        }
    }
}

#[test]
fn follow_redirects_defaults_to_ten_and_the_most_specific_setting_wins() {
    let follow = |p: &RunPlan, name: &str| {
        p.steps
            .iter()
            .find(|s| s.name == name)
            .unwrap()
            .follow_redirects
    };
    let p = with_body(
        "[[user.on_start]]\nname = \"login\"\npath = \"/l\"\n\
         [[task]]\nname = \"plain\"\npath = \"/a\"\n\
         [[task]]\nname = \"checks_302\"\npath = \"/b\"\nexpect = { status = [200, 302] }\n\
         [[task]]\nname = \"checks_but_follows\"\npath = \"/b\"\nexpect = { status = [302] }\nfollow_redirects = 3\n\
         [[task]]\nname = \"none\"\npath = \"/c\"\nfollow_redirects = 0\n\
         [[task]]\nname = \"f\"\n[[task.steps]]\nname = \"f1\"\npath = \"/f\"\n",
    )
    .unwrap();
    assert_eq!(follow(&p, "plain"), 10, "the default, as k6's");
    assert_eq!(follow(&p, "login"), 10);
    assert_eq!(follow(&p, "f1"), 10, "a flow's steps too");
    assert_eq!(
        follow(&p, "checks_302"),
        0,
        "a step expecting a 3xx checks it"
    );
    assert_eq!(follow(&p, "checks_but_follows"), 3, "its own setting wins");
    assert_eq!(follow(&p, "none"), 0);

    // [target] < [user] (or the class) < the request.
    let p = plan_of(
        &[(
            "m.toml",
            "[target]\nhost = \"http://h\"\nfollow_redirects = 2\n[load]\nusers = 1\nduration = \"1s\"\n\
             [preflight]\n[[preflight.check]]\nname = \"health\"\npath = \"/h\"\n\
             [user]\nfollow_redirects = 5\n\
             [[task]]\nname = \"a\"\npath = \"/a\"\n[[task]]\nname = \"b\"\npath = \"/b\"\nfollow_redirects = 1\n",
        )],
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!((follow(&p, "a"), follow(&p, "b")), (5, 1));
    let health = p.preflight.as_ref().unwrap().checks[0].follow_redirects;
    assert_eq!(health, 2, "a preflight check has the target's");
    let p = plan_of(
        &[(
            "m.toml",
            "[target]\nhost = \"http://h\"\nfollow_redirects = 0\n[load]\nusers = 1\nduration = \"1s\"\n\
             [classes.a]\nfollow_redirects = 4\n[[classes.a.task]]\nname = \"a\"\npath = \"/a\"\n\
             [classes.b]\n[[classes.b.task]]\nname = \"b\"\npath = \"/b\"\n",
        )],
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!((follow(&p, "a"), follow(&p, "b")), (4, 0));
}
