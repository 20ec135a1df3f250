//! What the live page shows, kept for every page that connects: the run's facts (`hello`), its seconds so far
//! (`history`), the latest view of its figures, the changes made from the page, and its end.
//!
//! The [`Board`] is fed by [`Feed`], a [`Background`] observer on a thread of its own (off the scheduler, as
//! the live CSV files are: [`crate::engine::observe`]). Each second it turns the run's totals into a [`View`]
//! with the same code as the final results (`Rows::of` for the table, [`gates::evaluate_with`] on the same
//! windows for the gates as they stand now, [`Generator`] for the warnings), formats the server-sent events once
//! and hands them to every connected page through a broadcast channel. At the end, [`Board::finish`] builds
//! the last view from the results themselves, so the page ends on exactly the figures of the JSON results.
//!
//! Memory is bounded as the results' time series is: the seconds kept for the charts and for the windowed gates
//! are compacted past [`MAX_SERIES_POINTS`] ([`crate::metrics::series::compact`]).
//!
//! Nothing secret reaches the page: the host is shown as the results show it (password masked), names and
//! failure messages are those of the results, which never hold a rendered value.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::broadcast;

use crate::engine::observe::{Background, Totals};
use crate::engine::steer::{Change, Manual, Steering};
use crate::gates;
use crate::metrics::SeriesPoint;
use crate::metrics::series::{MAX_SERIES_POINTS, compact};
use crate::plan::{Load, RunPlan, Window};
use crate::report::{Generator, Rows, window_evidence, with_manual_windows};
use crate::results::{FailureEntry, GateResult, ManualStage, RequestStats, RunResults};

/// Where the run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// `loadgen ui FILE`: the start form is shown.
    Waiting,
    Running,
    /// The plan is over: the users are finishing.
    Stopping,
    Ended,
}

/// The facts a page needs first (spec: `hello`).
#[derive(Debug, Clone, Serialize)]
pub struct Hello {
    pub scenario: String,
    pub host: String,
    pub load: &'static str,
    pub model: &'static str,
    pub planned_users: u64,
    pub spawn_rate: Option<f64>,
    pub arrival_rate: Option<f64>,
    pub duration_s: f64,
    pub state: Phase,
    pub steerable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steer_off_reason: Option<String>,
    pub windows: Vec<WindowSpan>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub form: Option<Form>,
}

/// A part of the run the gates look at, marked on the charts.
#[derive(Debug, Clone, Serialize)]
pub struct WindowSpan {
    pub label: String,
    pub start_s: f64,
    pub end_s: f64,
}

/// The start form's values (`loadgen ui FILE`).
#[derive(Debug, Clone, Serialize)]
pub struct Form {
    pub users: u64,
    pub spawn_rate: Option<f64>,
    pub rate: Option<f64>,
    pub duration: String,
    /// `None` with `--demo` (the built-in API is the target).
    pub host: Option<String>,
}

impl Hello {
    /// The facts of `plan`.
    pub fn of(plan: &RunPlan, state: Phase) -> Hello {
        let (steerable, steer_off_reason) = match plan.segment {
            Some(s) => (
                false,
                Some(format!(
                    "this is segment {}/{} of a run: a change here would leave the other segments behind",
                    s.index + 1,
                    s.count
                )),
            ),
            None => (true, None),
        };
        let mut windows = Vec::new();
        let ramp_up = plan.ramp_up();
        if !ramp_up.is_zero() && ramp_up < plan.duration {
            windows.push(span("steady".into(), plan.span(Window::Steady)));
        }
        for n in 1..=plan.load.stage_durations().len() {
            let w = Window::Stage(n);
            windows.push(span(w.label().unwrap_or_default(), plan.span(w)));
        }
        Hello {
            scenario: plan.name.clone(),
            host: plan.host_display(),
            load: plan.load.as_str(),
            model: if matches!(plan.load, Load::Arrival(_)) {
                "open"
            } else {
                "closed"
            },
            planned_users: plan.users,
            spawn_rate: match &plan.load {
                Load::Ramp { spawn_rate } => Some(*spawn_rate),
                _ => None,
            },
            arrival_rate: match &plan.load {
                Load::Arrival(a) => Some(a.peak_rate()),
                _ => None,
            },
            duration_s: plan.duration.as_secs_f64(),
            state,
            steerable,
            steer_off_reason,
            windows,
            form: None,
        }
    }
}

fn span(label: String, (a, b): (Duration, Duration)) -> WindowSpan {
    WindowSpan {
        label,
        start_s: a.as_secs_f64(),
        end_s: b.as_secs_f64(),
    }
}

/// One second on the charts (spec: Point).
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub t: f64,
    pub users: u64,
    pub target_users: u64,
    pub target_rate: Option<f64>,
    pub rps: f64,
    pub fps: f64,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub cpu: Option<f64>,
    pub lag: f64,
}

impl Point {
    fn of(p: &SeriesPoint) -> Point {
        Point {
            t: p.elapsed_s,
            users: p.users,
            target_users: p.target_users,
            target_rate: p.target_rate,
            rps: p.rps,
            fps: p.failures_per_s,
            p50: p.p50_ms,
            p95: p.p95_ms,
            p99: p.p99_ms,
            cpu: p.cpu_pct,
            lag: p.lag_ms,
        }
    }
}

/// A row of the table: the console's columns.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub method: String,
    pub name: String,
    pub requests: u64,
    pub failures: u64,
    pub median_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub mean_ms: Option<f64>,
    pub min_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub avg_size: f64,
    pub rps: f64,
    pub failures_per_s: f64,
}

impl Row {
    fn of(r: &RequestStats) -> Row {
        let p = r.percentiles_ms.as_ref();
        Row {
            method: r.method.clone(),
            name: r.name.clone(),
            requests: r.requests,
            failures: r.failures,
            median_ms: p.map(|p| p.p50),
            p95_ms: p.map(|p| p.p95),
            p99_ms: p.map(|p| p.p99),
            mean_ms: r.mean_ms,
            min_ms: r.min_ms,
            max_ms: r.max_ms,
            avg_size: r.avg_content_bytes,
            rps: r.rps,
            failures_per_s: r.failures_per_s,
        }
    }
}

/// A gate as it stands.
#[derive(Debug, Clone, Serialize)]
pub struct GateNow {
    pub label: String,
    /// `pass`, `fail`, `pending` (its window has not begun, or nothing measured yet) or `skipped`.
    pub state: &'static str,
    pub measured: Option<String>,
    pub note: Option<String>,
}

/// A failure with its count.
#[derive(Debug, Clone, Serialize)]
pub struct FailureRow {
    pub method: String,
    pub name: String,
    pub kind: String,
    pub message: String,
    pub count: u64,
}

/// The run's totals on the page's header.
#[derive(Debug, Clone, Serialize)]
pub struct ViewTotals {
    pub requests: u64,
    pub failures: u64,
    pub success_rate: f64,
    pub rps: f64,
    pub failures_per_s: f64,
    pub users: u64,
    pub target_users: u64,
    pub iterations: Option<u64>,
    pub dropped: Option<u64>,
}

/// The run's figures so far (spec: View).
#[derive(Debug, Clone, Serialize)]
pub struct View {
    pub state: Phase,
    pub elapsed_s: f64,
    pub totals: ViewTotals,
    pub rows: Vec<Row>,
    pub aggregated: Row,
    pub gates: Vec<GateNow>,
    pub failures: Vec<FailureRow>,
    pub warnings: Vec<String>,
}

/// The parts a view is made of, as the results hold them.
struct Parts<'a> {
    state: Phase,
    elapsed_s: f64,
    requests: &'a [RequestStats],
    aggregated: &'a RequestStats,
    gates: &'a [GateResult],
    /// Windows not begun by `elapsed_s`: their gates are pending.
    not_begun: &'a dyn Fn(Window) -> bool,
    failures: &'a [FailureEntry],
    warnings: Vec<String>,
    last: Option<&'a SeriesPoint>,
    iterations: Option<(u64, u64)>,
}

impl View {
    fn of(p: Parts<'_>) -> View {
        let a = p.aggregated;
        View {
            state: p.state,
            elapsed_s: p.elapsed_s,
            totals: ViewTotals {
                requests: a.requests,
                failures: a.failures,
                success_rate: a.success_rate,
                rps: a.rps,
                failures_per_s: a.failures_per_s,
                users: p.last.map_or(0, |l| l.users),
                target_users: p.last.map_or(0, |l| l.target_users),
                iterations: p.iterations.map(|i| i.0),
                dropped: p.iterations.map(|i| i.1),
            },
            rows: p.requests.iter().map(Row::of).collect(),
            aggregated: Row::of(a),
            gates: p
                .gates
                .iter()
                .map(|g| gate_now(g, (p.not_begun)(g.during)))
                .collect(),
            failures: p
                .failures
                .iter()
                .map(|f| FailureRow {
                    method: f.method.clone(),
                    name: f.name.clone(),
                    kind: f.kind.as_str().to_string(),
                    message: f.message.clone(),
                    count: f.occurrences,
                })
                .collect(),
            warnings: p.warnings,
        }
    }

    /// The view of finished results: the figures of the results file, exactly.
    pub fn of_results(r: &RunResults) -> View {
        let mut warnings = r.generator.warnings.clone();
        warnings.extend(r.validity.reasons.iter().cloned());
        View::of(Parts {
            state: Phase::Ended,
            elapsed_s: r.duration_s,
            requests: &r.requests,
            aggregated: &r.aggregated,
            gates: &r.gates.results,
            not_begun: &|_| false,
            failures: &r.failures,
            warnings,
            last: r.time_series.last(),
            iterations: r.totals.iterations.as_ref().map(|i| (i.started, i.dropped)),
        })
    }
}

fn gate_now(g: &GateResult, not_begun: bool) -> GateNow {
    let label = g.label();
    if let Some(why) = &g.skipped {
        return GateNow {
            label,
            state: "skipped",
            measured: None,
            note: Some(why.clone()),
        };
    }
    if not_begun || g.measured.is_none() {
        return GateNow {
            label,
            state: "pending",
            measured: None,
            note: Some(if not_begun {
                "its window has not begun".into()
            } else {
                "no requests yet".into()
            }),
        };
    }
    GateNow {
        label,
        state: if g.passed { "pass" } else { "fail" },
        measured: Some(g.measured_text()),
        note: None,
    }
}

/// The end of the run (spec: `end`).
#[derive(Debug, Clone, Serialize)]
pub struct End {
    pub result: String,
    pub reason: String,
    pub exit_code: u8,
    pub stopped_from_ui: bool,
    pub links: Vec<Link>,
    pub view: View,
}

#[derive(Debug, Clone, Serialize)]
pub struct Link {
    pub label: &'static str,
    pub href: &'static str,
}

/// A change as the page lists it (spec: `manual`).
#[derive(Debug, Clone, Serialize)]
pub struct ManualEvent {
    pub n: usize,
    pub at_s: f64,
    pub users: Option<u64>,
    pub spawn_rate: Option<f64>,
    pub rate: Option<f64>,
}

impl ManualEvent {
    fn of(n: usize, m: &Manual) -> ManualEvent {
        let at_s = crate::metrics::round3(m.at.as_secs_f64());
        match m.change {
            Change::Users { users, spawn_rate } => ManualEvent {
                n,
                at_s,
                users: Some(users),
                spawn_rate: Some(spawn_rate),
                rate: None,
            },
            Change::Rate(rate) => ManualEvent {
                n,
                at_s,
                users: None,
                spawn_rate: None,
                rate: Some(rate),
            },
        }
    }
}

/// One server-sent event, formatted once for every page.
fn event(name: &str, data: &impl Serialize) -> Arc<str> {
    let json = serde_json::to_string(data).unwrap_or_else(|_| "null".into());
    Arc::from(format!("event: {name}\ndata: {json}\n\n"))
}

#[derive(Default)]
struct State {
    hello: Option<Hello>,
    /// The users the plan wants now, and the spawn rate of the last change (or the plan's): what a change that
    /// gives only one of them keeps.
    target_now: u64,
    spawn_now: Option<f64>,
    /// The chart points so far, as JSON (bounded: every other one of the older half is dropped past the cap).
    points: Vec<String>,
    manual: Vec<String>,
    view: Option<String>,
    end: Option<Arc<str>>,
    /// Served at the end: the HTML report and the JSON results.
    report_html: Option<Arc<str>>,
    results_json: Option<Arc<str>>,
}

/// What every page is shown; cloned by the server's connections and the feed.
#[derive(Clone)]
pub struct Board {
    state: Arc<Mutex<State>>,
    events: broadcast::Sender<Arc<str>>,
}

impl Default for Board {
    fn default() -> Self {
        Board {
            state: Arc::default(),
            events: broadcast::channel(64).0,
        }
    }
}

/// What a change from the page is checked against.
pub struct Facts {
    pub steerable: bool,
    pub steer_off_reason: Option<String>,
    /// An arrival rate (a change gives `rate`) rather than users.
    pub open: bool,
    pub users_now: u64,
    pub spawn_rate: f64,
}

/// What a page is sent when it connects, and the events that follow.
pub struct Subscription {
    pub first: String,
    pub rest: broadcast::Receiver<Arc<str>>,
    /// The run already ended: nothing follows `first`.
    pub ended: bool,
}

impl Board {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the run's facts (a new run: the history starts again) and tells every page.
    pub fn hello(&self, hello: Hello) {
        let mut s = self.lock();
        s.points.clear();
        s.manual.clear();
        s.view = None;
        s.end = None;
        s.hello = Some(hello);
        let first = first_events(&s);
        let _ = self.events.send(Arc::from(first));
    }

    /// What a change is checked against; `None` before the run's facts are set.
    pub fn facts(&self) -> Option<Facts> {
        let s = self.lock();
        let h = s.hello.as_ref()?;
        Some(Facts {
            steerable: h.steerable,
            steer_off_reason: h.steer_off_reason.clone(),
            open: h.model == "open",
            users_now: s.target_now,
            spawn_rate: s
                .spawn_now
                .or(h.spawn_rate)
                .unwrap_or((h.planned_users as f64).max(1.0)),
        })
    }

    /// The phase now.
    pub fn phase(&self) -> Phase {
        let s = self.lock();
        match (&s.end, &s.hello) {
            (Some(_), _) => Phase::Ended,
            (None, Some(h)) => h.state,
            (None, None) => Phase::Waiting,
        }
    }

    /// The plan is over: the users are stopping.
    pub fn stopping(&self) {
        let mut s = self.lock();
        if let Some(h) = s.hello.as_mut() {
            h.state = Phase::Stopping;
        }
    }

    /// A page connects: everything so far, and a receiver for what follows (subscribed under the same lock as
    /// every publication, so nothing is missed or sent twice).
    pub fn subscribe(&self) -> Subscription {
        let s = self.lock();
        Subscription {
            first: first_events(&s),
            rest: self.events.subscribe(),
            ended: s.end.is_some(),
        }
    }

    fn second(&self, point: Point, view: &View, manual: &[ManualEvent]) {
        let mut s = self.lock();
        s.target_now = point.target_users;
        for m in manual.iter().skip(s.manual.len()) {
            if m.spawn_rate.is_some() {
                s.spawn_now = m.spawn_rate;
            }
            let text = serde_json::to_string(m).unwrap_or_default();
            s.manual.push(text);
            let _ = self.events.send(event("manual", m));
        }
        s.points
            .push(serde_json::to_string(&point).unwrap_or_default());
        if s.points.len() > MAX_SERIES_POINTS {
            // Every other point of the older half goes: the charts keep the whole run, coarser where older.
            let half = s.points.len() / 2;
            let mut i = 0;
            s.points.retain(|_| {
                i += 1;
                i > half || i % 2 == 0
            });
        }
        s.view = Some(serde_json::to_string(view).unwrap_or_default());
        #[derive(Serialize)]
        struct Tick<'a> {
            point: &'a Point,
            view: &'a View,
        }
        let _ = self.events.send(event(
            "tick",
            &Tick {
                point: &point,
                view,
            },
        ));
    }

    /// The run is over and its results written: the last view (the results' figures), the verdict and the
    /// links to the report and the results, which the server serves from now on.
    pub fn finish(&self, results: &RunResults) {
        let verdict = crate::verdict::Verdict::of(results);
        let end = End {
            result: verdict.result.word().to_string(),
            reason: verdict.reason.clone(),
            exit_code: verdict.exit_code,
            stopped_from_ui: results.stopped_by.as_deref() == Some("ui"),
            links: vec![
                Link {
                    label: "HTML report",
                    href: "report.html",
                },
                Link {
                    label: "JSON results",
                    href: "results.json",
                },
            ],
            view: View::of_results(results),
        };
        let html = crate::report::html::render(results);
        let json = serde_json::to_string_pretty(results).unwrap_or_default();
        let mut s = self.lock();
        // Changes the last second did not show yet.
        for (i, m) in results.manual.iter().enumerate().skip(s.manual.len()) {
            let e = manual_event_of_results(i + 1, m);
            s.manual.push(serde_json::to_string(&e).unwrap_or_default());
            let _ = self.events.send(event("manual", &e));
        }
        if let Some(h) = s.hello.as_mut() {
            h.state = Phase::Ended;
        }
        s.view = Some(serde_json::to_string(&end.view).unwrap_or_default());
        let end = event("end", &end);
        s.end = Some(end.clone());
        s.report_html = Some(Arc::from(html));
        s.results_json = Some(Arc::from(json));
        let _ = self.events.send(end);
    }

    /// The HTML report, once the run ended.
    pub fn report_html(&self) -> Option<Arc<str>> {
        self.lock().report_html.clone()
    }

    /// The JSON results, once the run ended.
    pub fn results_json(&self) -> Option<Arc<str>> {
        self.lock().results_json.clone()
    }
}

fn manual_event_of_results(n: usize, m: &ManualStage) -> ManualEvent {
    ManualEvent {
        n,
        at_s: m.at_s,
        users: m.users,
        spawn_rate: m.spawn_rate,
        rate: m.rate,
    }
}

/// `hello` and `history` (and `end` once the run ended): what a page is sent first.
fn first_events(s: &State) -> String {
    let Some(hello) = &s.hello else {
        return String::new();
    };
    let mut out = String::from(&*event("hello", hello));
    let points = s.points.join(",");
    let manual = s.manual.join(",");
    let view = s.view.as_deref().unwrap_or("null");
    out.push_str(&format!(
        "event: history\ndata: {{\"points\":[{points}],\"manual\":[{manual}],\"view\":{view}}}\n\n"
    ));
    if let Some(end) = &s.end {
        out.push_str(end);
    }
    out
}

/// The [`Background`] observer that turns each second of the run into what the pages are shown.
pub struct Feed {
    plan: Arc<RunPlan>,
    board: Board,
    steering: Steering,
    /// The seconds so far, for the windowed gates (bounded as the results' series).
    series: Vec<SeriesPoint>,
    levels: Vec<u8>,
    cores: usize,
}

impl Feed {
    pub fn new(plan: Arc<RunPlan>, board: Board, steering: Steering) -> Feed {
        Feed {
            plan,
            board,
            steering,
            series: Vec::new(),
            levels: Vec::new(),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

impl Background for Feed {
    fn seconds(&mut self, points: &[SeriesPoint], totals: &Totals) {
        let Some(last) = points.last() else {
            return;
        };
        self.series.extend(points.iter().cloned());
        compact(&mut self.series, &mut self.levels, MAX_SERIES_POINTS);
        let plan = &self.plan;
        let elapsed = last.elapsed_s;
        let rows = Rows::of(
            &plan.steps,
            &totals.totals,
            &totals.failures_seen,
            elapsed.max(1e-3),
        );
        let applied = self.steering.applied();
        let manual: Vec<ManualStage> = applied
            .iter()
            .map(|m| {
                let e = ManualEvent::of(0, m);
                ManualStage {
                    at_s: e.at_s,
                    users: e.users,
                    spawn_rate: e.spawn_rate,
                    rate: e.rate,
                }
            })
            .collect();
        let span_of = |w: Window| match w {
            Window::Manual(n) => {
                let (a, b) = ManualStage::span(&manual, n, elapsed);
                (secs(a), secs(b))
            }
            w => plan.span(w),
        };
        let whole = (rows.requests, rows.aggregated);
        let dropped = matches!(plan.load, Load::Arrival(_)).then_some(totals.dropped);
        let gates = gates::evaluate_with(
            &with_manual_windows(&plan.gates, manual.len()),
            &whole,
            &|w| Some(window_evidence(plan, &self.series, span_of(w))),
            dropped,
        );
        let not_begun = |w: Window| span_of(w).0.as_secs_f64() > elapsed;
        let view = View::of(Parts {
            state: self.board.phase(),
            elapsed_s: elapsed,
            requests: &whole.0,
            aggregated: &whole.1,
            gates: &gates,
            not_begun: &not_begun,
            failures: &rows.failures,
            warnings: Generator::of(&self.series, self.cores).warnings,
            last: Some(last),
            iterations: matches!(plan.load, Load::Arrival(_))
                .then_some((totals.iterations, totals.dropped)),
        });
        let events: Vec<ManualEvent> = applied
            .iter()
            .enumerate()
            .map(|(i, m)| ManualEvent::of(i + 1, m))
            .collect();
        // Seconds the feed caught up on (it fell behind) go out with the latest view.
        for p in points {
            self.board.second(Point::of(p), &view, &events);
        }
    }
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::ZERO)
}

impl Form {
    /// The form prefilled from `plan` (with `--demo`, the host is the built-in API's and is not asked).
    pub fn of(plan: &RunPlan, demo: bool) -> Form {
        Form {
            users: plan.users,
            spawn_rate: match &plan.load {
                Load::Ramp { spawn_rate } => Some(*spawn_rate),
                _ => None,
            },
            rate: match &plan.load {
                Load::Arrival(a) => Some(a.peak_rate()),
                _ => None,
            },
            duration: humantime::format_duration(plan.duration).to_string(),
            host: (!demo).then(|| plan.host_display()),
        }
    }
}

/// The run's observer for the page: hands each second to the [`Feed`] on its own thread, and tells the board
/// when the users are stopping.
pub struct Watch {
    off: crate::engine::observe::OffTask,
    board: Board,
}

impl Watch {
    pub fn start(plan: &Arc<RunPlan>, ui: &super::UiServer) -> Result<Watch, crate::error::Error> {
        let feed = Feed::new(plan.clone(), ui.board.clone(), ui.steering.clone());
        let off = crate::engine::observe::OffTask::start("live-ui", feed)
            .map_err(|e| crate::error::Error::io("cannot start the thread of the live UI", e))?;
        Ok(Watch {
            off,
            board: ui.board.clone(),
        })
    }

    /// Waits until every second handed over is shown.
    pub async fn finish(self) {
        self.off.finish().await;
    }
}

impl crate::engine::Observer for Watch {
    fn tick(&mut self, point: &SeriesPoint, totals: &crate::metrics::Collector) {
        self.off.tick(point, totals);
    }

    fn stopping(&mut self) {
        self.board.stopping();
    }
}
