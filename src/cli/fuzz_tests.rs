//! Property-based fuzzing (proptest) of the command line's numbers.
//!
//! The properties: whatever string is given to any number flag (`-u`, `-r`, `--rate`, `--iterations`, `-t`,
//! `--segment`, compare's thresholds, serve-demo's knobs), parsing never panics; a value refused is a usage
//! error (exit 2) and a value accepted is finite and within the flag's documented range. For `check` (and so
//! `run`), an accepted value then goes through the plan: resolving a shipped scenario with it, describing the
//! plan and asking the load profile where it stands never panics. Case counts are small by default;
//! `PROPTEST_CASES=20000 cargo test --lib cli::fuzz_tests` runs longer (docs/fuzzing.md).

use std::path::Path;
use std::time::Duration;

use clap::Parser;
use proptest::prelude::*;

use super::{Cli, Command};
use crate::plan::{Load, MAX_ARRIVAL_RATE, MAX_SPAWN_RATE, MAX_USERS, MIN_SPAWN_RATE, Window};

fn config(default_cases: u32) -> ProptestConfig {
    let mut c = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = default_cases;
    }
    c
}

/// Each number flag with what comes before it on a command line that is otherwise valid.
const FLAGS: &[(&[&str], &str)] = &[
    (&["check", "scenarios/baseline.toml"], "-u"),
    (&["check", "scenarios/baseline.toml"], "-r"),
    (&["check", "scenarios/baseline.toml"], "--rate"),
    (&["check", "scenarios/baseline.toml"], "--iterations"),
    (&["check", "scenarios/baseline.toml"], "-t"),
    (&["check", "scenarios/baseline.toml"], "--segment"),
    (&["check", "scenarios/arrival.toml"], "-u"),
    (&["check", "scenarios/arrival.toml"], "--rate"),
    (&["check", "scenarios/arrival.toml"], "--segment"),
    (&["check", "scenarios/stress.toml"], "-r"),
    (&["check", "scenarios/stress.toml"], "--segment"),
    (
        &["run", "x.toml", "--metrics-addr", "127.0.0.1:0"],
        "--metrics-grace",
    ),
    (&["compare", "a.json", "b.json"], "--max-p50-increase"),
    (&["compare", "a.json", "b.json"], "--max-p95-increase"),
    (&["compare", "a.json", "b.json"], "--max-p99-increase"),
    (&["compare", "a.json", "b.json"], "--max-success-drop"),
    (&["compare", "a.json", "b.json"], "--min-rps-ratio"),
    (&["compare", "a.json", "b.json"], "--min-latency-delta-ms"),
    (&["compare", "a.json", "b.json"], "--min-requests"),
    (&["serve-demo"], "--error-rate"),
    (&["serve-demo"], "--rate-limit"),
    (&["serve-demo"], "--latency"),
    (&["serve-demo"], "--rate-window"),
    (&["serve-demo"], "--token-ttl"),
    (&["serve-demo"], "--unhealthy-for"),
    (&["serve-demo"], "--jitter"),
    (&["serve-demo"], "--stall"),
];

/// Strings a number flag may be given.
fn number_text() -> impl Strategy<Value = String> {
    let edge = prop::sample::select(vec![
        "nan",
        "NaN",
        "-nan",
        "inf",
        "-inf",
        "infinity",
        "+inf",
        "1e-20",
        "1e-300",
        "5e-324",
        "-0",
        "0",
        "-1",
        "1e400",
        "1e308",
        "-1e308",
        "18446744073709551615",
        "18446744073709551616",
        "9223372036854775807",
        "4294967295",
        "4294967295/4294967295",
        "0/0",
        "1/0",
        "99999/100000",
        "0/100001",
        "0/1",
        "1e6",
        "1e7",
        "10000001",
        "0.0009",
        "0.001",
        "100",
        "100.5",
        "101%",
        "nan%",
        "-5%",
        "%",
        "",
        " ",
        "0x10",
        "1_000",
        "10ms",
        "1e-20s",
        "1e20s",
        "365d",
        "366d",
        "uniform:1ms..1e300s",
        "exp:1e-300ms",
        "exp:0ms",
        "uniform:5ms..1ms",
        "1s/0s",
        "0s/1s",
        "1ns/18446744073709551615s",
        "5s/1s",
        "é",
        "1\n2",
    ]);
    prop_oneof![
        3 => edge.prop_map(str::to_string),
        2 => any::<f64>().prop_map(|f| f.to_string()),
        1 => any::<f64>().prop_map(|f| format!("{f:e}")),
        2 => any::<i64>().prop_map(|i| i.to_string()),
        1 => any::<u64>().prop_map(|i| i.to_string()),
        1 => (any::<u64>(), any::<u64>()).prop_map(|(a, b)| format!("{a}/{b}")),
        1 => (any::<f64>(), prop::sample::select(vec!["%", "s", "ms", "d"])).prop_map(|(f, u)| format!("{f}{u}")),
        1 => "\\PC{0,12}",
    ]
}

/// Checks an accepted command line: its numbers are finite and within range, and a plan built from it
/// resolves, describes and answers without panicking.
fn accepted(cli: Cli) -> Result<(), TestCaseError> {
    match cli.command {
        Command::Check(args) => {
            let o = &args.overrides;
            if let Some(u) = o.users {
                prop_assert!((1..=MAX_USERS).contains(&u), "{u}");
            }
            if let Some(r) = o.spawn_rate {
                prop_assert!((MIN_SPAWN_RATE..=MAX_SPAWN_RATE).contains(&r), "{r}");
            }
            if let Some(r) = o.rate {
                prop_assert!(r > 0.0 && r <= MAX_ARRIVAL_RATE, "{r}");
            }
            let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(&args.scenario);
            if let Ok(plan) = crate::commands::load_plan(&file, o, None) {
                let _ = plan.describe();
                let _ = plan.ramp_up();
                for w in [
                    Window::Run,
                    Window::Steady,
                    Window::Stage(1),
                    Window::Stage(usize::MAX),
                ] {
                    let _ = plan.span(w);
                }
                for t in [
                    Duration::ZERO,
                    plan.duration / 2,
                    plan.duration,
                    Duration::MAX,
                ] {
                    let _ = plan.target_users(t);
                    let _ = plan.next_change(t);
                    if let Load::Arrival(a) = &plan.load {
                        let _ = (a.rate_at(t), a.due_by(t));
                    }
                }
                if let Load::Arrival(a) = &plan.load {
                    for k in [0, 1, 1_000_000, u64::MAX] {
                        let _ = a.start_of(k);
                    }
                }
            }
        }
        Command::Compare(args) => {
            for v in [
                args.max_p50_increase,
                Some(args.max_p95_increase),
                Some(args.max_p99_increase),
                Some(args.max_success_drop),
                args.min_rps_ratio,
                Some(args.min_latency_delta_ms),
            ]
            .into_iter()
            .flatten()
            {
                prop_assert!(v.is_finite() && v >= 0.0, "{v}");
            }
            prop_assert!(args.max_success_drop <= 100.0);
        }
        Command::ServeDemo(args) => {
            prop_assert!((0.0..=1.0).contains(&args.error_rate));
            // What serve-demo parses itself, later: never a panic either.
            if let Some(j) = &args.jitter
                && let Ok(j) = j.parse::<crate::demo::Jitter>()
            {
                let _ = j.sample(&mut rand::rng());
            }
            if let Some(s) = &args.stall
                && let Ok(s) = s.parse::<crate::demo::Stall>()
            {
                for t in [Duration::ZERO, Duration::from_secs(7), Duration::MAX] {
                    let _ = s.remaining_pause(t);
                }
            }
        }
        Command::Run(_) | Command::Ui(_) | Command::Report(_) | Command::Merge(_) => {}
        // Issue 20: no number flags.
        Command::Init(_) | Command::Completions(_) | Command::Man(_) | Command::Import(_) => {}
        // Issue 21: its overrides are `run`'s, checked by `load_plan` before any run.
        Command::Suite(_) => {}
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn any_number_flag_value_parses_or_is_a_usage_error(
        flag in prop::sample::select(FLAGS),
        value in number_text(),
    ) {
        let (before, name) = flag;
        let args = std::iter::once("loadgen")
            .chain(before.iter().copied())
            .chain([name, value.as_str()]);
        match Cli::try_parse_from(args) {
            Ok(cli) => accepted(cli)?,
            Err(e) => prop_assert_eq!(e.exit_code(), 2, "{}", e),
        }
    }
}

#[test]
fn nan_infinite_and_negative_numbers_are_usage_errors() {
    for (before, flag) in FLAGS {
        if ["--jitter", "--stall"].contains(flag) {
            continue;
        }
        for bad in ["nan", "NaN", "inf", "-inf", "-1", "1e400"] {
            let args = std::iter::once("loadgen")
                .chain(before.iter().copied())
                .chain([*flag, bad]);
            match Cli::try_parse_from(args) {
                Ok(_) => panic!("{flag} {bad} was accepted"),
                Err(e) => assert_eq!(e.exit_code(), 2, "{flag} {bad}: {e}"),
            }
        }
    }
}
