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
        p.wait,
        Wait::Between(Duration::from_millis(100), Duration::from_millis(500))
    );
    let names: Vec<&str> = p.tasks.iter().map(|&i| p.steps[i].name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"], "b replaced in place, c appended");
    let b = &p.steps[p.tasks[1]];
    assert_eq!(b.path.source(), "/b2");
    assert!(b.accepts(429) && b.accepts(200) && !b.accepts(201));
    assert_eq!(p.total_weight(), 5);
    assert_eq!(
        p.captures,
        ["sid", "token"],
        "capture names in table order (TOML tables are sorted)"
    );
    let login = &p.steps[p.on_start[0]];
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
    let Body::Json(t) = &p.steps[p.on_start[0]].body else {
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
        plan_of(&[("m.toml", &main)], &Overrides::default()).map(|p| p.wait)
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
        e.contains("m.toml:4:16") && e.contains("must be above 0"),
        "{e}"
    );
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
    assert!(e.contains("--rate must be above 0"), "{e}");
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
            let names: Vec<String> = p.tasks.iter().map(|&i| p.steps[i].name.clone()).collect();
            assert_eq!(p.on_start.len(), 1, "on_start always stays");
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
