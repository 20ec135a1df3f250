//! Live metrics for Prometheus: `loadgen run … --metrics-addr 127.0.0.1:9464` serves `GET /metrics` in the
//! Prometheus text exposition format (version 0.0.4) while the run goes and for a grace period after it.
//!
//! Shape: nothing on the request path knows about Prometheus. The engine's collector already drains the
//! recording shards once a second; [`LiveMetrics`], a [`Background`] observer on a thread of its own (off the
//! scheduler task: [`crate::engine::observe`]), turns each of those ticks into an immutable [`Snapshot`] (cumulative counters and histogram buckets computed from the HDR histograms then) and
//! publishes it behind an `Arc<Mutex<Arc<Snapshot>>>`, whose lock is held only to swap or clone a pointer. A
//! scrape clones the current `Arc` and renders the text from it ([`render`]) on the metrics server's own small
//! tokio task ([`MetricsServer`], hyper HTTP/1.1 as in the reference API). A slow or stuck scraper therefore
//! delays nobody, and a scrape costs nothing until it happens.
//!
//! Every series carries the run's labels `scenario` and `run_id`. Label values come from the scenario (request
//! names and methods) and from a fixed vocabulary (status codes, failure kinds), never from resolved URLs, so
//! the number of series is bounded by the scenario. The catalogue of metric names is [`METRICS`]; the docs
//! (`docs/monitoring.md`) and the Grafana dashboard are tested against it.
//!
//! The latency histogram uses the classic (cumulative) buckets in [`BUCKETS`]; a bucket's count is the number
//! of recorded latencies whose HDR value (3 significant digits, the same values the percentiles report) is at
//! or below its bound, so a latency within 0.1 % of a bound may land on either side of it. `_sum` is the HDR
//! histogram's mean times its count, exact to the same 0.1 %.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::engine::observe::{Background, Totals};
use crate::error::Error;
use crate::metrics::{FailureKind, SeriesPoint, StepStats};
use crate::plan::RunPlan;

/// The upper bounds of the latency histogram's buckets, in seconds (`+Inf` is added when rendering).
///
/// Chosen for HTTP APIs: fine steps below 100 ms where healthy APIs answer, and a bound at each latency the
/// shipped scenarios gate on (50, 100, 200, 500 ms, 1 s, 2 s), so `histogram_quantile` is exact at those
/// thresholds; 5, 10 and 30 s catch timeouts.
pub const BUCKETS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0,
];

/// The content type of the text exposition format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A Prometheus metric type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One exported metric family.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    /// Labels besides `scenario` and `run_id` (and a histogram's `le`).
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

const REQUESTS: Metric = Metric {
    name: "loadgen_requests_total",
    kind: Kind::Counter,
    labels: &["name", "method", "status"],
    help: "Requests completed, by request name, method and HTTP status (status \"none\": no answer).",
};
const FAILURES: Metric = Metric {
    name: "loadgen_failures_total",
    kind: Kind::Counter,
    labels: &["name", "method", "reason"],
    help: "Requests that did not meet their expectation, by request name, method and failure reason.",
};
const DURATION: Metric = Metric {
    name: "loadgen_request_duration_seconds",
    kind: Kind::Histogram,
    labels: &["name", "method"],
    help: "Response time to the end of the body (arrival rate: from when the iteration was due).",
};
const FLOWS: Metric = Metric {
    name: "loadgen_flows_total",
    kind: Kind::Counter,
    labels: &["name"],
    help: "Flows (tasks of several requests in order) run, by flow name.",
};
const FLOW_FAILURES: Metric = Metric {
    name: "loadgen_flow_failures_total",
    kind: Kind::Counter,
    labels: &["name", "reason"],
    help: "Flows ended by a failed step, by flow name and the step's failure reason.",
};
const FLOW_DURATION: Metric = Metric {
    name: "loadgen_flow_duration_seconds",
    kind: Kind::Histogram,
    labels: &["name"],
    help: "A flow's time from its first request to the end of its last (arrival rate: from when it was due).",
};
const USERS: Metric = Metric {
    name: "loadgen_users",
    kind: Kind::Gauge,
    labels: &[],
    help: "Virtual users running.",
};
const TARGET_USERS: Metric = Metric {
    name: "loadgen_target_users",
    kind: Kind::Gauge,
    labels: &[],
    help: "Virtual users the load plan wants running now.",
};
const REQUEST_RATE: Metric = Metric {
    name: "loadgen_request_rate",
    kind: Kind::Gauge,
    labels: &[],
    help: "Requests per second achieved since the previous snapshot.",
};
const ARRIVAL_TARGET: Metric = Metric {
    name: "loadgen_arrival_rate_target",
    kind: Kind::Gauge,
    labels: &[],
    help: "Arrival rate: iterations per second the plan wants now (only with an arrival rate).",
};
const ARRIVAL_ACHIEVED: Metric = Metric {
    name: "loadgen_arrival_rate_achieved",
    kind: Kind::Gauge,
    labels: &[],
    help: "Arrival rate: iterations per second started since the previous snapshot (only with an arrival rate).",
};
const ITERATIONS: Metric = Metric {
    name: "loadgen_iterations_total",
    kind: Kind::Counter,
    labels: &[],
    help: "Arrival rate: iterations started.",
};
const DROPPED: Metric = Metric {
    name: "loadgen_dropped_iterations_total",
    kind: Kind::Counter,
    labels: &[],
    help: "Arrival rate: iterations that were due but found no free user in time.",
};
const LAG: Metric = Metric {
    name: "loadgen_scheduler_lag_seconds",
    kind: Kind::Gauge,
    labels: &[],
    help: "The largest lag of loadgen's scheduler over the last second (a busy generator shows here).",
};
const CPU: Metric = Metric {
    name: "loadgen_cpu_ratio",
    kind: Kind::Gauge,
    labels: &[],
    help: "CPU loadgen used over the last second, as a fraction of the cores it may run on (Linux only).",
};
const RUNNING: Metric = Metric {
    name: "loadgen_running",
    kind: Kind::Gauge,
    labels: &[],
    help: "1 while the run goes, 0 in the grace period after it.",
};
const ELAPSED: Metric = Metric {
    name: "loadgen_elapsed_seconds",
    kind: Kind::Gauge,
    labels: &[],
    help: "Seconds since the run started, at the snapshot.",
};

/// Every metric family loadgen exports, in the order rendered.
pub const METRICS: &[Metric] = &[
    REQUESTS,
    FAILURES,
    DURATION,
    FLOWS,
    FLOW_FAILURES,
    FLOW_DURATION,
    USERS,
    TARGET_USERS,
    REQUEST_RATE,
    ARRIVAL_TARGET,
    ARRIVAL_ACHIEVED,
    ITERATIONS,
    DROPPED,
    LAG,
    CPU,
    RUNNING,
    ELAPSED,
];

/// The names a query may use: each family's name, and a histogram's `_bucket`, `_sum` and `_count` series.
pub fn series_names() -> Vec<String> {
    let mut names = Vec::new();
    for m in METRICS {
        if m.kind == Kind::Histogram {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.push(format!("{}{suffix}", m.name));
            }
        }
        names.push(m.name.to_string());
    }
    names
}

/// One request name's cumulative figures.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestSnapshot {
    pub name: String,
    pub method: String,
    /// Requests per status label ("200", …, "none"), sorted.
    pub statuses: Vec<(String, u64)>,
    /// Failures per reason, sorted.
    pub failures: Vec<(&'static str, u64)>,
    /// Cumulative counts at or below each of [`BUCKETS`].
    pub buckets: [u64; BUCKETS.len()],
    /// Latencies recorded (a request that could not be built, so was never sent, has none).
    pub count: u64,
    pub sum_s: f64,
}

impl RequestSnapshot {
    /// The figures of `s` for the request `name`.
    pub fn of(name: &str, method: &str, s: &StepStats) -> RequestSnapshot {
        let mut statuses: Vec<(String, u64)> = s
            .statuses
            .iter()
            .map(|(c, n)| (c.to_string(), *n))
            .collect();
        let answered: u64 = s.statuses.values().sum();
        if s.requests > answered {
            statuses.push(("none".into(), s.requests - answered));
        }
        let mut by_kind = std::collections::BTreeMap::<FailureKind, u64>::new();
        for ((kind, _), n) in &s.errors {
            *by_kind.entry(*kind).or_default() += n;
        }
        let mut buckets = [0u64; BUCKETS.len()];
        let h = &s.latency;
        for v in h.iter_recorded() {
            // µs; the HDR bucket's highest equivalent value, as the percentiles report it.
            let secs = v.value_iterated_to() as f64 / 1e6;
            let n = v.count_at_value();
            for (b, bound) in buckets.iter_mut().zip(BUCKETS) {
                if secs <= bound {
                    *b += n;
                }
            }
        }
        let count = h.len();
        RequestSnapshot {
            name: name.to_string(),
            method: method.to_string(),
            statuses,
            failures: by_kind.into_iter().map(|(k, n)| (k.as_str(), n)).collect(),
            buckets,
            count,
            sum_s: if count == 0 {
                0.0
            } else {
                h.mean() * count as f64 / 1e6
            },
        }
    }
}

/// What a scrape shows: the run's figures as of the collector's last tick.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    pub scenario: String,
    pub run_id: String,
    pub running: bool,
    pub elapsed_s: f64,
    pub users: u64,
    pub target_users: u64,
    pub request_rate: f64,
    /// Arrival rate only: (wanted, achieved) iterations per second.
    pub arrival: Option<(f64, f64)>,
    pub iterations: u64,
    pub dropped: u64,
    pub lag_s: f64,
    pub cpu_ratio: Option<f64>,
    pub requests: Vec<RequestSnapshot>,
    /// Flows' own entries (their requests are in `requests`).
    pub flows: Vec<RequestSnapshot>,
}

/// Escapes a label value: backslash, double quote and line feed (the format's three escapes).
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A sample value as the format writes it (`+Inf`, `-Inf`, `NaN`, else Rust's shortest round-trip form).
fn value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        v.to_string()
    }
}

/// Renders `s` in the text exposition format 0.0.4.
pub fn render(s: &Snapshot) -> String {
    let run = format!(
        "scenario=\"{}\",run_id=\"{}\"",
        escape_label(&s.scenario),
        escape_label(&s.run_id)
    );
    let mut out = String::with_capacity(1024 + s.requests.len() * 1536);
    let header = |out: &mut String, m: &Metric| {
        let help = m.help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(out, "# HELP {} {help}", m.name);
        let _ = writeln!(out, "# TYPE {} {}", m.name, m.kind.as_str());
    };
    let req_labels = |r: &RequestSnapshot| {
        format!(
            "{run},name=\"{}\",method=\"{}\"",
            escape_label(&r.name),
            escape_label(&r.method)
        )
    };

    header(&mut out, &REQUESTS);
    for r in &s.requests {
        let l = req_labels(r);
        for (status, n) in &r.statuses {
            let _ = writeln!(
                out,
                "{}{{{l},status=\"{}\"}} {n}",
                REQUESTS.name,
                escape_label(status)
            );
        }
    }
    header(&mut out, &FAILURES);
    for r in &s.requests {
        let l = req_labels(r);
        for (reason, n) in &r.failures {
            let _ = writeln!(out, "{}{{{l},reason=\"{reason}\"}} {n}", FAILURES.name);
        }
    }
    header(&mut out, &DURATION);
    for r in &s.requests {
        let l = req_labels(r);
        let name = DURATION.name;
        for (bound, n) in BUCKETS.iter().zip(r.buckets) {
            let _ = writeln!(out, "{name}_bucket{{{l},le=\"{}\"}} {n}", value(*bound));
        }
        let _ = writeln!(out, "{name}_bucket{{{l},le=\"+Inf\"}} {}", r.count);
        let _ = writeln!(out, "{name}_sum{{{l}}} {}", value(r.sum_s));
        let _ = writeln!(out, "{name}_count{{{l}}} {}", r.count);
    }
    if !s.flows.is_empty() {
        let flow_labels = |r: &RequestSnapshot| format!("{run},name=\"{}\"", escape_label(&r.name));
        header(&mut out, &FLOWS);
        for r in &s.flows {
            let runs: u64 = r.statuses.iter().map(|(_, n)| n).sum::<u64>().max(r.count);
            let _ = writeln!(out, "{}{{{}}} {runs}", FLOWS.name, flow_labels(r));
        }
        header(&mut out, &FLOW_FAILURES);
        for r in &s.flows {
            let l = flow_labels(r);
            for (reason, n) in &r.failures {
                let _ = writeln!(out, "{}{{{l},reason=\"{reason}\"}} {n}", FLOW_FAILURES.name);
            }
        }
        header(&mut out, &FLOW_DURATION);
        for r in &s.flows {
            let l = flow_labels(r);
            let name = FLOW_DURATION.name;
            for (bound, n) in BUCKETS.iter().zip(r.buckets) {
                let _ = writeln!(out, "{name}_bucket{{{l},le=\"{}\"}} {n}", value(*bound));
            }
            let _ = writeln!(out, "{name}_bucket{{{l},le=\"+Inf\"}} {}", r.count);
            let _ = writeln!(out, "{name}_sum{{{l}}} {}", value(r.sum_s));
            let _ = writeln!(out, "{name}_count{{{l}}} {}", r.count);
        }
    }
    let mut gauge = |m: &Metric, v: Option<f64>| {
        if let Some(v) = v {
            header(&mut out, m);
            let _ = writeln!(out, "{}{{{run}}} {}", m.name, value(v));
        }
    };
    gauge(&USERS, Some(s.users as f64));
    gauge(&TARGET_USERS, Some(s.target_users as f64));
    gauge(&REQUEST_RATE, Some(s.request_rate));
    gauge(&ARRIVAL_TARGET, s.arrival.map(|a| a.0));
    gauge(&ARRIVAL_ACHIEVED, s.arrival.map(|a| a.1));
    gauge(&ITERATIONS, Some(s.iterations as f64));
    gauge(&DROPPED, Some(s.dropped as f64));
    gauge(&LAG, Some(s.lag_s));
    gauge(&CPU, s.cpu_ratio);
    gauge(&RUNNING, Some(if s.running { 1.0 } else { 0.0 }));
    gauge(&ELAPSED, Some(s.elapsed_s));
    out
}

/// The snapshot a scrape renders; replaced whole once a second.
#[derive(Debug, Clone, Default)]
pub struct Published(Arc<Mutex<Arc<Snapshot>>>);

impl Published {
    pub fn new(s: Snapshot) -> Self {
        Published(Arc::new(Mutex::new(Arc::new(s))))
    }

    pub fn get(&self) -> Arc<Snapshot> {
        // A poisoned lock only means a panic mid-swap of a pointer: the value is whole.
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set(&self, s: Snapshot) {
        let s = Arc::new(s);
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = s;
    }

    /// Marks the run as over (the grace period's scrapes show `loadgen_running 0`).
    pub fn finish(&self) {
        let mut s = (*self.get()).clone();
        s.running = false;
        self.set(s);
    }
}

/// The [`Background`] observer that publishes a [`Snapshot`] at each tick of the collector.
pub struct LiveMetrics {
    plan: Arc<RunPlan>,
    run_id: String,
    published: Published,
    /// At the previous tick: elapsed seconds, requests and iterations so far (for the achieved rates).
    prev: (f64, u64, u64),
}

impl LiveMetrics {
    /// Starts with every request at zero, so the first scrape already lists them.
    pub fn new(plan: Arc<RunPlan>, run_id: String, published: Published) -> Self {
        let live = LiveMetrics {
            plan,
            run_id,
            published,
            prev: (0.0, 0, 0),
        };
        let empty: Vec<StepStats> = live
            .plan
            .steps
            .iter()
            .map(|_| StepStats::default())
            .collect();
        let mut s = live.snapshot(&empty);
        s.arrival = live.arrival_target().map(|t| (t, 0.0));
        live.published.set(s);
        live
    }

    fn arrival_target(&self) -> Option<f64> {
        match &self.plan.load {
            crate::plan::Load::Arrival(a) => Some(a.rate_at(std::time::Duration::ZERO)),
            _ => None,
        }
    }

    /// The run's figures from `totals`, without the per-tick gauges.
    fn snapshot(&self, totals: &[StepStats]) -> Snapshot {
        let requests = self
            .plan
            .steps
            .iter()
            .zip(totals)
            // A flow's own entry times requests that are already counted under their own names: it has
            // families of its own.
            .filter(|(step, _)| step.is_request())
            .map(|(step, s)| RequestSnapshot::of(&step.name, step.method_label(), s))
            .collect();
        let flows = self
            .plan
            .steps
            .iter()
            .zip(totals)
            .filter(|(step, _)| !step.is_request())
            .map(|(step, s)| RequestSnapshot::of(&step.name, step.method_label(), s))
            .collect();
        Snapshot {
            scenario: self.plan.name.clone(),
            run_id: self.run_id.clone(),
            running: true,
            requests,
            flows,
            ..Snapshot::default()
        }
    }
}

impl Background for LiveMetrics {
    /// The gauges of the last of `points`; the rates over the time since the previous call.
    fn seconds(&mut self, points: &[SeriesPoint], totals: &Totals) {
        let Some(p) = points.last() else {
            return;
        };
        let mut s = self.snapshot(&totals.totals);
        let requests = totals.requests;
        let (t0, r0, i0) = self.prev;
        let dt = p.elapsed_s - t0;
        let rate = |now: u64, before: u64| {
            if dt > 0.0 {
                crate::metrics::round3(now.saturating_sub(before) as f64 / dt)
            } else {
                0.0
            }
        };
        s.elapsed_s = p.elapsed_s;
        s.users = p.users;
        s.target_users = p.target_users;
        s.request_rate = rate(requests, r0);
        // The collector leaves out a target rate of 0 (a ramp from nothing): it is still a target.
        s.arrival = self
            .arrival_target()
            .map(|_| (p.target_rate.unwrap_or(0.0), rate(totals.iterations, i0)));
        s.iterations = totals.iterations;
        s.dropped = totals.dropped;
        // Rounded to the µs and the 0.001 % so the text shows 0.010287, not 0.010287000000000001.
        s.lag_s = (p.lag_ms * 1000.0).round() / 1e6;
        s.cpu_ratio = p.cpu_pct.map(|c| (c * 1000.0).round() / 1e5);
        self.prev = (p.elapsed_s, requests, totals.iterations);
        self.published.set(s);
    }
}

/// The `/metrics` endpoint: a hyper HTTP/1.1 server on a tokio task of the calling runtime.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl MetricsServer {
    /// Binds `addr` now (so a port in use fails before any traffic) and serves `published` until
    /// [`MetricsServer::shutdown`].
    pub async fn start(addr: SocketAddr, published: Published) -> Result<MetricsServer, Error> {
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            Error::io(
                format!("cannot serve metrics on {addr} (--metrics-addr)"),
                e,
            )
        })?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("cannot read the metrics address", e))?;
        let stop = CancellationToken::new();
        let task = tokio::spawn(serve(listener, published, stop.clone()));
        Ok(MetricsServer { addr, stop, task })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and ends every open connection.
    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

async fn serve(listener: TcpListener, published: Published, stop: CancellationToken) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let published = published.clone();
                    let service = service_fn(move |req: Request<Incoming>| {
                        let published = published.clone();
                        async move { Ok::<_, Infallible>(respond(&req, &published)) }
                    });
                    conns.spawn(async move {
                        let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                        if let Err(e) = conn.await {
                            tracing::debug!(error = %e, "metrics connection ended with an error");
                        }
                    });
                }
                Err(e) => {
                    tracing::debug!(error = %e, "metrics accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }
    // Scrapes are short: whatever is still open is cut.
    conns.shutdown().await;
}

fn respond(req: &Request<Incoming>, published: &Published) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (req.method(), req.uri().path()) {
        (&Method::GET | &Method::HEAD, "/metrics") => {
            let s = published.get();
            // Before the run's first snapshot (the server is bound before the plan is loaded): no samples yet.
            let text = if s.run_id.is_empty() {
                String::new()
            } else {
                render(&s)
            };
            (StatusCode::OK, CONTENT_TYPE, text)
        }
        (_, "/metrics") => (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "use GET\n".to_string(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "loadgen serves /metrics\n".to_string(),
        ),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}

#[cfg(test)]
mod tests;
