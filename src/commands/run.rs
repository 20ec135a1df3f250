//! `loadgen run`: a scenario run from its file to its results files and its verdict.
//!
//! In order: the plan resolved once (with `--demo`, against a placeholder host, replaced by the reference API's
//! URL once it listens), `--start-at` and the output paths checked and the metrics port bound, so that a bad
//! scenario or path costs nothing; then the `[preflight]` checks, the wait for `--start-at`, the run with its
//! observers (progress line, live CSV, Prometheus, gate and target watches), the results written and shown,
//! the final metrics served for their grace period, and the verdict's exit status. SIGINT/SIGTERM are handled
//! by [`crate::signals`].

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::demo_child::DemoChild;
use super::{load_plan, preflight, print_summary};
use crate::cli::RunArgs;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::signals::Stops;
use crate::{engine, plan, report, verdict, watch};

/// `loadgen run`.
pub async fn run(args: RunArgs, quiet: bool) -> Result<ExitStatus, Error> {
    // Issue 18 item 6: one user's exchanges printed, no load.
    if let Some(n) = args.debug {
        return super::debug::debug(args, n).await;
    }
    go(args, quiet, false).await
}

/// `loadgen ui`: the live UI's start form first, then the run as `run --ui` does it.
pub async fn ui(mut args: RunArgs, quiet: bool) -> Result<ExitStatus, Error> {
    if args.debug.is_some() {
        return Err(Error::Usage(
            "--debug sends no load: use `loadgen run FILE --debug N`, not `loadgen ui`".into(),
        ));
    }
    if args.ui.is_none() {
        args.ui = crate::ui::DEFAULT_ADDR.parse().ok();
    }
    go(args, quiet, true).await
}

async fn go(args: RunArgs, quiet: bool, form: bool) -> Result<ExitStatus, Error> {
    go_results(args, quiet, form, None)
        .await
        .map(|(status, _)| status)
}

/// One run as `loadgen run` does it, for `loadgen suite` (issue 21): its exit status, and its results when it
/// ran. `stop` (the suite's own signal watch) interrupts it as a first SIGINT would, so a signal heard before
/// the run listens for its own is not lost.
pub(super) async fn for_suite(
    args: RunArgs,
    quiet: bool,
    stop: CancellationToken,
) -> Result<(ExitStatus, Option<report::RunResults>), Error> {
    go_results(args, quiet, false, Some(stop)).await
}

async fn go_results(
    args: RunArgs,
    quiet: bool,
    form: bool,
    stop: Option<CancellationToken>,
) -> Result<(ExitStatus, Option<report::RunResults>), Error> {
    // Resolved before starting anything, so a bad scenario costs nothing; with --demo the reference API's port
    // is not known yet, so the plan is resolved against a placeholder host (--demo conflicts with --host) and
    // pointed at the API once it listens (`demo_target`): resolution reads the host nowhere else.
    let demo_placeholder = args.demo.then(|| DEMO_PLACEHOLDER.to_string());
    let mut plan = load_plan(&args.scenario, &args.overrides, demo_placeholder.clone())?;
    if let Some(at) = args.start_at {
        check_start_at(at)?;
    }
    let outputs = report::outputs::Outputs::prepare(&args.outputs.requested(args.json.as_deref()))?;
    // Bound before any traffic, so a port in use fails at once; served until the end of the grace period.
    let published = report::prometheus::Published::default();
    let metrics = match args.metrics_addr {
        Some(addr) => {
            let server = report::prometheus::MetricsServer::start(addr, published.clone()).await?;
            if !quiet {
                eprintln!("serving metrics on http://{}/metrics", server.local_addr());
            }
            Some(server)
        }
        None => None,
    };
    // Issue 19: the live UI, bound before any traffic too; with `loadgen ui`, its start form decides the plan.
    let (starts, mut start_asks) = tokio::sync::mpsc::channel(1);
    let ui = match args.ui {
        Some(addr) => Some(start_ui(&args, addr, form.then_some(starts), quiet).await?),
        None => None,
    };
    if let Some(ui) = &ui
        && form
    {
        match wait_for_form(&args, &plan, ui, &mut start_asks, quiet).await {
            Some(p) => plan = p,
            None => {
                ui.board
                    .hello(crate::ui::Hello::of(&plan, crate::ui::Phase::Ended));
                return Ok((ExitStatus::Interrupted, None));
            }
        }
    }

    // Issue 20 item 8: in a child process, with its own open-files limit (`demo_child`).
    let demo = if args.demo {
        Some(DemoChild::start().await?)
    } else {
        None
    };
    if let Some(server) = &demo {
        demo_target(&mut plan, server.url());
    }
    let plan = Arc::new(plan);
    if !quiet {
        let load = match &plan.load {
            plan::Load::Ramp { spawn_rate } => format!("{} users at {spawn_rate}/s", plan.users),
            plan::Load::Stages(s) => format!("{} stages up to {} users", s.len(), plan.users),
            plan::Load::Arrival(a) => format!(
                "{} iterations/s (at most {} users)",
                plan::fmt_rate(a.peak_rate()),
                plan.users
            ),
        };
        eprintln!(
            "loadgen {}: {load} for {} against {}",
            plan.name,
            humantime::format_duration(plan.duration),
            plan.host_display()
        );
    }

    if plan.tls.insecure && !quiet {
        eprintln!(
            "warning: TLS certificates are not verified (--insecure or [target] insecure = true): any server \
             certificate is accepted, so the server is not authenticated"
        );
    }
    // Issue 20 item 8: counted by what holds the connections.
    super::descriptors::check(&plan);

    let signals = engine::Signals {
        steering: ui.as_ref().map(|u| u.steering.clone()).unwrap_or_default(),
        ..engine::Signals::default()
    };
    // `loadgen suite`: its stop interrupts this run too (the task ends with the run: aborted below).
    let suite_stop = stop.map(|stop| {
        let interrupt = signals.interrupt.clone();
        tokio::spawn(async move {
            stop.cancelled().await;
            interrupt.cancel();
        })
    });
    if let Some(ui) = &ui {
        ui.board
            .hello(crate::ui::Hello::of(&plan, crate::ui::Phase::Running));
    }
    let signal_task =
        tokio::spawn(Stops::listen().watch_run(signals.interrupt.clone(), signals.abort.clone()));
    // The checks first, then the common start: segments that wait for --start-at begin together whatever
    // their checks took.
    let mut ready = preflight(&plan, &signals.interrupt, quiet).await;
    if ready == ExitStatus::Pass
        && let Some(at) = args.start_at
        && wait_for_start(at, quiet, &signals.interrupt).await
    {
        ready = ExitStatus::Interrupted;
    }
    if ready != ExitStatus::Pass {
        signal_task.abort();
        if let Some(task) = &suite_stop {
            task.abort();
        }
        if let Some(server) = demo {
            server.stop().await;
        }
        if let Some(ui) = ui {
            ui.shutdown().await;
        }
        return Ok((ready, None));
    }
    let run_id = engine::new_run_id();
    let live = report::live::Live::start(
        &outputs,
        metrics.as_ref().map(|_| &published),
        &plan,
        &run_id,
    )?;
    let watches = (
        watch::GateWatch::new(plan.clone(), quiet),
        (
            (!quiet).then(|| watch::TargetWatch::new(plan.host_display(), !args.demo)),
            crate::limit::LimitWatch::new(plan.clone(), quiet),
        ),
    );
    let page = match &ui {
        Some(ui) => Some(crate::ui::board::Watch::start(&plan, ui)?),
        None => None,
    };
    let mut observers = (
        report::progress::Progress::new(plan.duration, plan.users, !quiet, args.progress_interval),
        ((live, page), watches),
    );
    // Issue 21 item 4: the target's own metrics, scraped from threads of their own while the load runs.
    let monitor = plan
        .monitor
        .as_ref()
        .map(|m| crate::monitor::Monitor::start(m, &plan.host, quiet));
    let outcome = engine::run(plan.clone(), run_id, signals, &mut observers).await;
    let monitored = match monitor {
        Some(m) => Some(tokio::task::spawn_blocking(move || m.finish()).await.ok()).flatten(),
        None => None,
    };
    let outcome = outcome?;
    let (progress, ((live, page), (gate_watch, (_, limit_watch)))) = observers;
    progress.finish().await;
    // The live files are rewritten from the results below.
    live.finish().await;
    if let Some(page) = page {
        page.finish().await;
    }
    signal_task.abort();
    if let Some(task) = suite_stop {
        task.abort();
    }
    if let Some(server) = demo {
        server.stop().await;
    }

    let mut results = report::RunResults::build(
        &plan,
        &outcome,
        gate_watch.and_then(watch::GateWatch::aborted),
    );
    if let Some(m) = monitored {
        results = results.with_monitor(&plan, m);
    }
    // Issue 21 item 3: what a limit search found decides its verdict.
    if let Some(w) = limit_watch {
        results.limit = Some(w.finish());
        results.judge();
    }
    let verdict = verdict::Verdict::of(&results);
    let (written, first_error) = outputs.write(&results);
    if !quiet {
        print_summary(&outputs, &report::console::render(&results));
        if !written.is_empty() {
            eprintln!("results written to {}", written.join(", "));
        }
    }
    if let Some(ui) = ui {
        ui.board.finish(&results);
        linger(ui, args.ui_linger, quiet).await;
    }
    if let Some(server) = metrics {
        serve_final_metrics(server, &published, args.metrics_grace, quiet).await;
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    Ok((verdict.exit_status(), Some(results)))
}

/// Starts the live UI server on `addr` (issue 19) and says where it is.
async fn start_ui(
    args: &RunArgs,
    addr: std::net::SocketAddr,
    starts: Option<tokio::sync::mpsc::Sender<crate::ui::StartAsk>>,
    quiet: bool,
) -> Result<crate::ui::UiServer, Error> {
    let opts = crate::ui::UiOptions {
        addr,
        remote: args.ui_remote,
        token: args.ui_token.clone(),
    };
    let server =
        crate::ui::UiServer::start(&opts, Default::default(), Default::default(), starts).await?;
    if server.remote() {
        eprintln!(
            "warning: the live UI listens on {}, reachable from other machines: anyone with its URL (token \
             included) can watch and stop the run. Serve it on loopback and use an SSH tunnel where you can",
            server.local_addr()
        );
    }
    // Printed even with -q: it is how the page is found (tests wait for this line).
    let _ = quiet;
    eprintln!("live UI on {}", server.url());
    Ok(server)
}

/// `loadgen ui`: waits for the start form, and resolves the plan again with its values (a value the plan
/// refuses is answered on the page, which asks again). `None` when interrupted first.
async fn wait_for_form(
    args: &RunArgs,
    plan: &plan::RunPlan,
    ui: &crate::ui::UiServer,
    asks: &mut tokio::sync::mpsc::Receiver<crate::ui::StartAsk>,
    quiet: bool,
) -> Option<plan::RunPlan> {
    let mut hello = crate::ui::Hello::of(plan, crate::ui::Phase::Waiting);
    let defaults = crate::ui::board::Form::of(plan, args.demo);
    hello.form = Some(defaults.clone());
    ui.board.hello(hello);
    if !quiet {
        eprintln!("open the page to start the run (Ctrl-C to quit)");
    }
    let mut stops = Stops::listen();
    loop {
        let (form, answer) = tokio::select! {
            ask = asks.recv() => ask?,
            _ = stops.next() => return None,
        };
        let demo_placeholder = args.demo.then(|| DEMO_PLACEHOLDER.to_string());
        let resolved = form_overrides(&args.overrides, &form, &defaults, args.demo).and_then(|o| {
            load_plan(&args.scenario, &o, demo_placeholder).map_err(|e| e.to_string())
        });
        match resolved {
            Ok(p) => {
                let _ = answer.send(Ok(()));
                return Some(p);
            }
            Err(e) => {
                let _ = answer.send(Err(e));
            }
        }
    }
}

/// The command line's overrides with the form's values on top: only those the user changed from the
/// defaults shown (a scenario with stages takes no --users, so an unchanged users field must not become one).
fn form_overrides(
    o: &crate::cli::Overrides,
    form: &crate::ui::StartForm,
    defaults: &crate::ui::board::Form,
    demo: bool,
) -> Result<crate::cli::Overrides, String> {
    let mut o = o.clone();
    if let Some(u) = form.users.filter(|u| *u != defaults.users) {
        o.users = Some(u);
    }
    if let Some(r) = form.spawn_rate.filter(|r| Some(*r) != defaults.spawn_rate) {
        o.spawn_rate = Some(r);
    }
    if let Some(r) = form.rate.filter(|r| Some(*r) != defaults.rate) {
        o.rate = Some(r);
    }
    if let Some(d) = form
        .duration
        .as_deref()
        .map(str::trim)
        .filter(|d| *d != defaults.duration)
    {
        o.duration = Some(crate::cli::parse_duration(d).map_err(|e| format!("duration: {e}"))?);
    }
    if let Some(h) = form
        .host
        .as_deref()
        .map(str::trim)
        .filter(|h| !h.is_empty())
    {
        if demo {
            if Some(h) != defaults.host.as_deref() {
                return Err(
                    "the target is the built-in API (--demo): the host cannot be changed".into(),
                );
            }
        } else if Some(h) != defaults.host.as_deref() {
            o.host = Some(h.to_string());
        }
    }
    Ok(o)
}

/// Keeps the page up after the run, with its verdict and links, for `linger` or until Ctrl-C.
async fn linger(ui: crate::ui::UiServer, linger: std::time::Duration, quiet: bool) {
    if !linger.is_zero() {
        if !quiet {
            eprintln!(
                "the live UI stays up at {} with the results for {} (Ctrl-C to quit now)",
                ui.url(),
                humantime::format_duration(linger)
            );
        }
        let mut stops = Stops::listen();
        tokio::select! {
            _ = tokio::time::sleep(linger) => {}
            _ = stops.next() => {}
        }
    }
    ui.shutdown().await;
}

/// The host `run --demo` resolves its plan against, until the reference API listens.
pub(super) const DEMO_PLACEHOLDER: &str = "http://127.0.0.1:1";

/// Points a plan resolved against [`DEMO_PLACEHOLDER`] at the reference API listening at `url`: the same plan
/// as one resolved with `url` from the start (the test below holds it to that).
pub(super) fn demo_target(plan: &mut plan::RunPlan, url: String) {
    plan.host = url;
}

/// Serves the final figures for `grace` after the run, so the last scrape sees them; an interrupt (Ctrl-C or
/// SIGTERM, which loadgen handles itself since the run began) cuts it short.
async fn serve_final_metrics(
    server: report::prometheus::MetricsServer,
    published: &report::prometheus::Published,
    grace: std::time::Duration,
    quiet: bool,
) {
    published.finish();
    if !quiet {
        eprintln!(
            "serving the final metrics on http://{}/metrics for {}",
            server.local_addr(),
            humantime::format_duration(grace)
        );
    }
    let mut stops = Stops::listen();
    tokio::select! {
        _ = tokio::time::sleep(grace) => {}
        _ = stops.next() => {}
    }
    server.shutdown().await;
}

/// How far in the past `--start-at` may be (clocks of machines in sync differ a little, and pods start late).
const START_AT_SLACK: std::time::Duration = std::time::Duration::from_secs(5);

/// Refuses a `--start-at` already past by more than [`START_AT_SLACK`] (exit 2, before any traffic).
fn check_start_at(at: std::time::SystemTime) -> Result<(), Error> {
    let now = std::time::SystemTime::now();
    match now.duration_since(at) {
        Ok(late) if late > START_AT_SLACK => Err(Error::Usage(format!(
            "--start-at {} is {} in the past (now {}); give a time ahead, e.g. a minute from now",
            humantime::format_rfc3339_seconds(at),
            humantime::format_duration(std::time::Duration::from_secs(late.as_secs())),
            humantime::format_rfc3339_seconds(now)
        ))),
        _ => Ok(()),
    }
}

/// Holds the start until `--start-at`; true when interrupted meanwhile.
async fn wait_for_start(
    at: std::time::SystemTime,
    quiet: bool,
    interrupt: &CancellationToken,
) -> bool {
    let Ok(wait) = at.duration_since(std::time::SystemTime::now()) else {
        return false;
    };
    if !quiet {
        eprintln!(
            "waiting {} for --start-at {}",
            humantime::format_duration(std::time::Duration::from_millis(wait.as_millis() as u64)),
            humantime::format_rfc3339_seconds(at)
        );
    }
    tokio::select! {
        _ = tokio::time::sleep(wait) => false,
        _ = interrupt.cancelled() => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `run --demo` resolves its plan once, against the placeholder, and then points it at the API: the plan
    /// it runs is the one resolution would give with the API's URL, for every shipped scenario.
    #[test]
    fn a_plan_pointed_at_the_demo_is_the_plan_resolved_for_it() {
        let url = "http://127.0.0.1:45678".to_string();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let file = entry.unwrap().path();
            if file.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            // A suite file (levels.toml, issue 21) lists scenarios; it is not one.
            if std::fs::read_to_string(&file)
                .unwrap()
                .lines()
                .any(|l| l.trim() == "[suite]")
            {
                continue;
            }
            let loaded = crate::scenario::load(&file).unwrap();
            let with = |host: &str| plan::Overrides {
                host: Some(host.to_string()),
                ..plan::Overrides::default()
            };
            // A fragment for `include` (auth_flow.toml) is not a whole scenario.
            let Ok(mut placeholder) = plan::resolve(&loaded, &with(DEMO_PLACEHOLDER)) else {
                continue;
            };
            let direct = plan::resolve(&loaded, &with(&url)).unwrap();
            assert_ne!(format!("{placeholder:?}"), format!("{direct:?}"));
            demo_target(&mut placeholder, url.clone());
            assert_eq!(
                format!("{placeholder:?}"),
                format!("{direct:?}"),
                "{}",
                file.display()
            );
            seen += 1;
        }
        assert!(seen >= 5, "the shipped scenarios: {seen}");
    }
}
