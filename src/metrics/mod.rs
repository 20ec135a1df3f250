//! Measurements: what each request did, recorded without a global lock, merged for reporting.
//!
//! Virtual users record into one of several [`Shard`]s (user *n* uses shard *n mod k*), each behind its own
//! mutex that is held only for the few nanoseconds a record takes, so users on different worker threads rarely
//! meet. Once a second the [`Collector`] swaps every shard's contents out (holding each lock only for a
//! `mem::swap`), folds them into the run totals and into one point of the time series. No per-request channel
//! send, no list of every result: memory is bounded by the number of request names, not of requests — and, with
//! the time series capped at [`series::MAX_SERIES_POINTS`] (older points merged pairwise), not by the length
//! of the run either.

pub mod series;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use hdrhistogram::Histogram;

use crate::results::Hist;
pub use crate::results::hdr;
use crate::results::stats::{interval_latency, rate};
pub use crate::results::stats::{ms, new_histogram, round3};
pub use crate::results::{ClientCounts, FailureKind, SeriesPoint, StepInterval};

/// Distinct failure messages kept per request name; further ones are counted under "other".
pub const MAX_FAILURE_MESSAGES: usize = 64;

/// Everything measured for one request name.
#[derive(Debug, Clone)]
pub struct StepStats {
    /// Full response time (to the end of the body), µs. For an arrival-rate iteration's task, counted from when
    /// the iteration was due, so a late start shows (coordinated omission corrected).
    pub latency: Histogram<u64>,
    /// The same requests' response times from when they were sent, for arrival-rate iterations only (empty
    /// otherwise): the uncorrected figures, kept beside the corrected ones.
    pub uncorrected: Histogram<u64>,
    /// Time to the response headers, µs (requests that got an answer).
    pub ttfb: Histogram<u64>,
    pub requests: u64,
    pub failures: u64,
    pub bytes: u64,
    pub statuses: BTreeMap<u16, u64>,
    pub errors: HashMap<(FailureKind, String), u64>,
    /// Redirects followed and bodies decoded (issue 17).
    pub client: ClientCounts,
}

impl Default for StepStats {
    fn default() -> Self {
        StepStats {
            latency: new_histogram(),
            uncorrected: new_histogram(),
            ttfb: new_histogram(),
            requests: 0,
            failures: 0,
            bytes: 0,
            statuses: BTreeMap::new(),
            errors: HashMap::new(),
            client: ClientCounts::default(),
        }
    }
}

impl StepStats {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &StepStats) {
        // Both histograms auto-resize, so adding cannot fail for lack of range.
        let _ = self.latency.add(&other.latency);
        let _ = self.uncorrected.add(&other.uncorrected);
        let _ = self.ttfb.add(&other.ttfb);
        // Saturating: the counts of results files read back are bounded, but not how many are added up.
        self.requests = self.requests.saturating_add(other.requests);
        self.failures = self.failures.saturating_add(other.failures);
        self.bytes = self.bytes.saturating_add(other.bytes);
        for (s, n) in &other.statuses {
            let count = self.statuses.entry(*s).or_default();
            *count = count.saturating_add(*n);
        }
        for (k, n) in &other.errors {
            self.add_error(k.0, &k.1, *n);
        }
        self.client.add(&other.client);
    }

    fn add_error(&mut self, kind: FailureKind, message: &str, n: u64) {
        if let Some(count) = self.errors.get_mut(&(kind, message.to_string())) {
            *count = count.saturating_add(n);
        } else if self.errors.len() < MAX_FAILURE_MESSAGES {
            self.errors.insert((kind, message.to_string()), n);
        } else {
            let count = self
                .errors
                .entry((
                    FailureKind::Other,
                    "other failures (too many distinct messages)".into(),
                ))
                .or_default();
            *count = count.saturating_add(n);
        }
    }

    /// Empties the statistics, keeping allocations.
    pub fn reset(&mut self) {
        self.latency.reset();
        self.uncorrected.reset();
        self.ttfb.reset();
        self.requests = 0;
        self.failures = 0;
        self.bytes = 0;
        self.statuses.clear();
        self.errors.clear();
        self.client = ClientCounts::default();
    }
}

/// What one request did.
#[derive(Debug)]
pub struct Outcome<'a> {
    /// `None` for a request that failed before it was sent (it has no latency to speak of).
    pub latency: Option<Duration>,
    /// Time to the response headers, for requests that got them.
    pub ttfb: Option<Duration>,
    pub status: Option<u16>,
    pub bytes: u64,
    /// `None` when the request met its expectation.
    pub failure: Option<(FailureKind, &'a str)>,
    /// For an arrival-rate iteration's task: how long after the iteration was due the request was sent (the
    /// time spent waiting for a free user, or for the user's `on_start`).
    pub delay: Option<Duration>,
    /// Redirects followed, bodies decoded (issue 17).
    pub client: ClientCounts,
}

/// One recording area: statistics per request name.
#[derive(Debug, Clone, Default)]
pub struct Shard {
    pub steps: Vec<StepStats>,
}

impl Shard {
    pub fn new(steps: usize) -> Self {
        Shard {
            steps: (0..steps).map(|_| StepStats::default()).collect(),
        }
    }

    pub fn record(&mut self, step: usize, o: &Outcome<'_>) {
        let Some(s) = self.steps.get_mut(step) else {
            return;
        };
        if let Some(latency) = o.latency {
            match o.delay {
                Some(delay) => {
                    let _ = s.latency.record(micros(latency + delay));
                    let _ = s.uncorrected.record(micros(latency));
                }
                None => {
                    let _ = s.latency.record(micros(latency));
                }
            }
        }
        if let Some(ttfb) = o.ttfb {
            let _ = s.ttfb.record(micros(ttfb));
        }
        s.requests += 1;
        s.bytes += o.bytes;
        if o.client != ClientCounts::default() {
            s.client.add(&o.client);
        }
        if let Some(code) = o.status {
            *s.statuses.entry(code).or_default() += 1;
        }
        if let Some((kind, message)) = o.failure {
            s.failures += 1;
            s.add_error(kind, message, 1);
        }
    }
}

/// The shards users record into, shared by every user of a run.
#[derive(Debug)]
pub struct Recorder {
    shards: Vec<Mutex<Shard>>,
    /// Users currently running (started and not yet stopped).
    active_users: AtomicU64,
    /// The most users that were running at once.
    peak_users: AtomicU64,
    /// The largest scheduler lag seen since the collector last looked, µs (see [`lag_probe`]).
    lag_max_us: AtomicU64,
    /// The users the load plan wants running now.
    target_users: AtomicU64,
    /// Arrival rate: the iterations per second the plan wants now (f64 bits), and the iterations started and
    /// dropped since the collector last looked.
    target_rate: AtomicU64,
    iterations: AtomicU64,
    dropped: AtomicU64,
}

impl Recorder {
    pub fn new(steps: usize, shards: usize) -> Self {
        Recorder {
            shards: (0..shards.max(1))
                .map(|_| Mutex::new(Shard::new(steps)))
                .collect(),
            active_users: AtomicU64::new(0),
            peak_users: AtomicU64::new(0),
            lag_max_us: AtomicU64::new(0),
            target_users: AtomicU64::new(0),
            target_rate: AtomicU64::new(0),
            iterations: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// Records into the shard for user `user`.
    pub fn record(&self, user: u64, step: usize, outcome: &Outcome<'_>) {
        let shard = &self.shards[(user as usize) % self.shards.len()];
        // A poisoned shard only means another user panicked mid-record; the counts are still usable.
        let mut guard = shard.lock().unwrap_or_else(|p| p.into_inner());
        guard.record(step, outcome);
    }

    pub fn users(&self) -> u64 {
        self.active_users.load(Ordering::Relaxed)
    }

    pub fn peak_users(&self) -> u64 {
        self.peak_users.load(Ordering::Relaxed)
    }

    /// A user started.
    pub fn user_started(&self) {
        let now = self.active_users.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_users.fetch_max(now, Ordering::Relaxed);
    }

    /// The scheduler's current target.
    pub fn set_target_users(&self, n: u64) {
        self.target_users.store(n, Ordering::Relaxed);
    }

    /// The arrival rate's current target, iterations per second.
    pub fn set_target_rate(&self, rate: f64) {
        self.target_rate.store(rate.to_bits(), Ordering::Relaxed);
    }

    /// An arrival-rate iteration started on a user.
    pub fn iteration_started(&self) {
        self.iterations.fetch_add(1, Ordering::Relaxed);
    }

    /// Arrival-rate iterations that were due but found no free user in time.
    pub fn dropped(&self, n: u64) {
        if n > 0 {
            self.dropped.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Notes a scheduler lag measurement.
    pub fn lag(&self, lag: Duration) {
        self.lag_max_us.fetch_max(micros(lag), Ordering::Relaxed);
    }

    /// A user ended (however it ended).
    pub fn user_stopped(&self) {
        self.active_users.fetch_sub(1, Ordering::Relaxed);
    }
}

/// When a failure was first and last seen, Unix seconds (at the one-second resolution of the collector).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub first: u64,
    pub last: u64,
}

/// A failure's key: request index, kind and message.
pub type FailureKey = (usize, FailureKind, String);

/// A duration in whole microseconds, at least 1 (HDR histograms start at 1).
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// A final interval shorter than this is folded into the previous point rather than reported on its own
/// (a few requests over a few milliseconds would read as thousands per second).
const MIN_FINAL_INTERVAL: Duration = Duration::from_millis(500);

/// Drains the shards into run totals and a per-second series.
#[derive(Debug)]
pub struct Collector {
    started: Instant,
    /// Start of the interval being collected, and of the one before it.
    last: Instant,
    before_last: Instant,
    spare: Shard,
    interval: Histogram<u64>,
    /// This interval per request name.
    interval_steps: Vec<StepStats>,
    /// The latencies of the last point, kept so a short final interval can be folded into it.
    prev_interval: Histogram<u64>,
    prev_steps: Vec<StepStats>,
    /// When each failure (request, kind, message) was first and last seen.
    pub failures_seen: HashMap<FailureKey, Seen>,
    pub totals: Vec<StepStats>,
    /// The time series, at most [`series::MAX_SERIES_POINTS`] long: see [`series::compact`].
    pub series: Vec<SeriesPoint>,
    /// How many times each point of `series` has been merged.
    levels: Vec<u8>,
    /// When and how much CPU the process had used at the last point.
    cpu_mark: Option<(Instant, Duration)>,
    /// Cores the process may run on (the denominator of `cpu_pct`).
    pub cores: usize,
    /// Arrival rate: iterations started and dropped over the run.
    pub iterations: u64,
    pub dropped: u64,
    /// The entries that are not requests (a flow's own entry): kept per name but left out of the per-second
    /// totals, which count requests.
    not_requests: Vec<bool>,
}

/// The CPU time (user + system) this process has used so far, from /proc (Linux; `None` elsewhere).
pub fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    // USER_HZ is 100 on every Linux configuration in use.
    Some(Duration::from_millis((utime + stime) * 10))
}

/// Measures scheduler lag on the runtime it runs on: sleeps a little and notes how late it woke, until
/// `stop` is cancelled.
pub async fn lag_probe(
    recorder: std::sync::Arc<Recorder>,
    stop: tokio_util::sync::CancellationToken,
) {
    let every = Duration::from_millis(50);
    loop {
        let t = tokio::time::Instant::now();
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.cancelled() => return,
        }
        recorder.lag(t.elapsed().saturating_sub(every));
    }
}

impl Collector {
    pub fn new(steps: usize, started: Instant) -> Self {
        Collector {
            started,
            last: started,
            before_last: started,
            spare: Shard::new(steps),
            interval: new_histogram(),
            interval_steps: (0..steps).map(|_| StepStats::default()).collect(),
            prev_interval: new_histogram(),
            prev_steps: (0..steps).map(|_| StepStats::default()).collect(),
            failures_seen: HashMap::new(),
            totals: (0..steps).map(|_| StepStats::default()).collect(),
            series: Vec::new(),
            levels: Vec::new(),
            cpu_mark: process_cpu().map(|c| (started, c)),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            iterations: 0,
            dropped: 0,
            not_requests: vec![false; steps],
        }
    }

    /// Marks entry `i` as not a request (a flow's own entry): the per-second totals leave it out.
    pub fn not_a_request(&mut self, i: usize) {
        if let Some(f) = self.not_requests.get_mut(i) {
            *f = true;
        }
    }

    /// Moves everything recorded since the last drain into the totals and `self.interval`.
    fn drain(&mut self, recorder: &Recorder) {
        self.interval.reset();
        self.interval_steps.iter_mut().for_each(StepStats::reset);
        let now = unix_now();
        for shard in &recorder.shards {
            {
                let mut guard = shard.lock().unwrap_or_else(|p| p.into_inner());
                std::mem::swap(&mut *guard, &mut self.spare);
            }
            for (i, s) in self.spare.steps.iter_mut().enumerate() {
                if s.requests == 0 {
                    continue;
                }
                if !self.not_requests[i] {
                    let _ = self.interval.add(&s.latency);
                }
                self.totals[i].merge(s);
                self.interval_steps[i].merge(s);
                for (kind, message) in s.errors.keys() {
                    self.failures_seen
                        .entry((i, *kind, message.clone()))
                        .and_modify(|seen| seen.last = now)
                        .or_insert(Seen {
                            first: now,
                            last: now,
                        });
                }
                s.reset();
            }
        }
    }

    fn point(
        &self,
        from: Instant,
        now: Instant,
        users: u64,
        h: &Histogram<u64>,
        steps: &[StepStats],
    ) -> SeriesPoint {
        let counted = || {
            steps
                .iter()
                .zip(&self.not_requests)
                .filter(|(_, flow)| !**flow)
                .map(|(s, _)| s)
        };
        let requests = counted().map(|s| s.requests).sum::<u64>();
        let failures = counted().map(|s| s.failures).sum::<u64>();
        let secs = now.saturating_duration_since(from).as_secs_f64().max(1e-3);
        let latency = interval_latency(h);
        SeriesPoint {
            elapsed_s: round3(now.saturating_duration_since(self.started).as_secs_f64()),
            timestamp: unix_now(),
            users,
            target_users: 0,
            requests,
            failures,
            rps: rate(requests, secs),
            failures_per_s: rate(failures, secs),
            p50_ms: latency.p50,
            p95_ms: latency.p95,
            p99_ms: latency.p99,
            max_ms: latency.max,
            cpu_pct: None,
            lag_ms: 0.0,
            hdr: Hist::of_some(h),
            by_request: steps
                .iter()
                .map(|s| StepInterval {
                    requests: s.requests,
                    failures: s.failures,
                    bytes: s.bytes,
                    hdr: Hist::of_some(&s.latency),
                })
                .collect(),
            target_rate: None,
            iterations: 0,
            dropped: 0,
        }
    }

    /// Takes everything recorded since the last call and appends a point to the series.
    pub fn tick(&mut self, recorder: &Recorder, now: Instant) -> &SeriesPoint {
        self.drain(recorder);
        let mut p = self.point(
            self.last,
            now,
            recorder.users(),
            &self.interval,
            &self.interval_steps,
        );
        self.health(recorder, now, &mut p);
        self.plan_figures(recorder, &mut p);
        self.before_last = self.last;
        self.last = now;
        std::mem::swap(&mut self.interval, &mut self.prev_interval);
        std::mem::swap(&mut self.interval_steps, &mut self.prev_steps);
        self.series.push(p);
        series::compact(
            &mut self.series,
            &mut self.levels,
            series::MAX_SERIES_POINTS,
        );
        self.series
            .last()
            .unwrap_or_else(|| unreachable!("just pushed"))
    }

    /// The last drain of the run: like [`Collector::tick`], except that an interval shorter than half a second
    /// is folded into the previous point.
    pub fn finish(&mut self, recorder: &Recorder, now: Instant) -> &SeriesPoint {
        let short = now.saturating_duration_since(self.last) < MIN_FINAL_INTERVAL;
        if !short || self.series.is_empty() {
            return self.tick(recorder, now);
        }
        let Some(prev) = self.series.pop() else {
            return self.tick(recorder, now);
        };
        self.drain(recorder);
        let _ = self.prev_interval.add(&self.interval);
        for (prev, now) in self.prev_steps.iter_mut().zip(&self.interval_steps) {
            prev.merge(now);
        }
        let mut p = self.point(
            self.before_last,
            now,
            recorder.users(),
            &self.prev_interval,
            &self.prev_steps,
        );
        self.health(recorder, now, &mut p);
        self.plan_figures(recorder, &mut p);
        p.iterations += prev.iterations;
        p.dropped += prev.dropped;
        p.lag_ms = p.lag_ms.max(prev.lag_ms);
        self.last = now;
        self.series.push(p);
        self.series
            .last()
            .unwrap_or_else(|| unreachable!("just pushed"))
    }

    /// Fills in what the plan wanted and, for an arrival rate, the iterations started and dropped.
    fn plan_figures(&mut self, recorder: &Recorder, p: &mut SeriesPoint) {
        p.target_users = recorder.target_users.load(Ordering::Relaxed);
        let rate = f64::from_bits(recorder.target_rate.load(Ordering::Relaxed));
        p.target_rate = (rate > 0.0).then_some(round3(rate));
        p.iterations = recorder.iterations.swap(0, Ordering::Relaxed);
        p.dropped = recorder.dropped.swap(0, Ordering::Relaxed);
        self.iterations += p.iterations;
        self.dropped += p.dropped;
    }

    /// Fills in loadgen's own CPU use and scheduler lag since the last point.
    fn health(&mut self, recorder: &Recorder, now: Instant, p: &mut SeriesPoint) {
        p.lag_ms = ms(recorder.lag_max_us.swap(0, Ordering::Relaxed));
        let cpu = process_cpu();
        if let (Some(cpu), Some((t0, c0))) = (cpu, self.cpu_mark) {
            let wall = now.saturating_duration_since(t0).as_secs_f64() * self.cores as f64;
            if wall > 0.0 {
                p.cpu_pct = Some(round3(100.0 * cpu.saturating_sub(c0).as_secs_f64() / wall));
            }
        }
        self.cpu_mark = cpu.map(|c| (now, c));
    }

    /// All requests so far: (requests, failures).
    pub fn running_totals(&self) -> (u64, u64) {
        self.totals
            .iter()
            .zip(&self.not_requests)
            .filter(|(_, flow)| !**flow)
            .fold((0, 0), |(r, f), (s, _)| (r + s.requests, f + s.failures))
    }

    /// The failures of `kind` so far, requests only.
    pub fn running_failures_of(&self, kind: FailureKind) -> u64 {
        self.totals
            .iter()
            .zip(&self.not_requests)
            .filter(|(_, flow)| !**flow)
            .flat_map(|(s, _)| &s.errors)
            .filter(|((k, _), _)| *k == kind)
            .map(|(_, n)| n)
            .sum()
    }
}

/// Unix time in whole seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(ms: u64, status: u16) -> Outcome<'static> {
        Outcome {
            delay: None,
            latency: Some(Duration::from_millis(ms)),
            ttfb: None,
            status: Some(status),
            bytes: 10,
            failure: None,
            client: Default::default(),
        }
    }

    #[test]
    fn collector_merges_shards_into_totals_and_series() {
        let rec = Recorder::new(2, 4);
        for user in 0..8 {
            rec.record(user, 0, &ok(10, 200));
        }
        rec.record(
            3,
            1,
            &Outcome {
                delay: None,
                latency: Some(Duration::from_millis(100)),
                ttfb: None,
                status: Some(500),
                bytes: 0,
                failure: Some((FailureKind::Status, "expected 2xx, got 500")),
                client: Default::default(),
            },
        );
        let t0 = Instant::now();
        let mut c = Collector::new(2, t0);
        let p = c.tick(&rec, t0 + Duration::from_secs(1)).clone();
        assert_eq!((p.requests, p.failures), (9, 1));
        assert!((p.rps - 9.0).abs() < 1e-9);
        assert!(p.p50_ms.unwrap() >= 9.9 && p.p50_ms.unwrap() <= 10.1);
        assert_eq!(c.totals[0].requests, 8);
        assert_eq!(c.totals[0].statuses[&200], 8);
        assert_eq!(
            c.totals[1].errors[&(FailureKind::Status, "expected 2xx, got 500".into())],
            1
        );
        // A second tick sees nothing new: the shards were drained.
        let p2 = c.tick(&rec, t0 + Duration::from_secs(2)).clone();
        assert_eq!(p2.requests, 0);
        assert_eq!(p2.p95_ms, None);
        assert_eq!(c.running_totals(), (9, 1));
    }

    #[test]
    fn a_short_final_interval_is_folded_into_the_last_point() {
        let rec = Recorder::new(1, 2);
        let t0 = Instant::now();
        let mut c = Collector::new(1, t0);
        for _ in 0..10 {
            rec.record(0, 0, &ok(5, 200));
        }
        c.tick(&rec, t0 + Duration::from_secs(1));
        rec.record(1, 0, &ok(50, 200));
        let p = c.finish(&rec, t0 + Duration::from_millis(1010)).clone();
        assert_eq!(c.series.len(), 1, "folded, not appended");
        assert_eq!(p.requests, 11);
        assert!(
            (p.rps - 11.0 / 1.01).abs() < 0.01,
            "rate over the whole 1.01 s: {}",
            p.rps
        );
        // HDR reports a bucket's highest equivalent value: 50 ms within 3 significant digits.
        assert!((p.max_ms.unwrap() - 50.0).abs() < 0.05, "{:?}", p.max_ms);
        // A final interval of half a second or more is its own point.
        rec.record(1, 0, &ok(5, 200));
        c.finish(&rec, t0 + Duration::from_millis(1600));
        assert_eq!(c.series.len(), 2);
        assert_eq!(c.running_totals(), (12, 0));
    }

    #[test]
    fn a_run_longer_than_the_cap_keeps_a_bounded_series_over_the_whole_run() {
        let rec = Recorder::new(1, 2);
        let t0 = Instant::now();
        let mut c = Collector::new(1, t0);
        let secs = series::MAX_SERIES_POINTS as u64 + 100;
        let coded = hdr::CODED.with(|c| c.get());
        for s in 1..=secs {
            rec.record(s, 0, &ok(s % 50 + 1, 200));
            c.tick(&rec, t0 + Duration::from_secs(s));
        }
        assert_eq!(
            hdr::CODED.with(|c| c.get()),
            coded,
            "the series is kept and compacted without encoding or decoding a histogram"
        );
        assert_eq!(c.series.len(), series::MAX_SERIES_POINTS);
        // A short final interval is still folded into the last point, which compaction left alone.
        rec.record(1, 0, &ok(7, 200));
        let last = c
            .finish(&rec, t0 + Duration::from_millis(secs * 1000 + 200))
            .clone();
        assert_eq!(c.series.len(), series::MAX_SERIES_POINTS);
        assert_eq!(last.requests, 2);
        assert!((last.elapsed_s - (secs as f64 + 0.2)).abs() < 1e-6);
        assert_eq!(
            c.series.iter().map(|p| p.requests).sum::<u64>(),
            secs + 1,
            "every request is in the series"
        );
        assert_eq!(c.running_totals(), (secs + 1, 0));
        // The first 200 seconds are now 100 points of two seconds each; the rest still a point a second.
        let spans: Vec<usize> = series::seconds(&c.series).map(|(n, _)| n).collect();
        assert_eq!(spans.iter().sum::<usize>(), secs as usize);
        assert_eq!(spans.iter().filter(|&&n| n == 2).count(), 100, "{spans:?}");
        assert!((c.series[0].rps - 1.0).abs() < 1e-9, "{}", c.series[0].rps);
        assert_eq!(c.series[0].elapsed_s, 2.0);
    }

    #[test]
    fn distinct_failure_messages_are_capped() {
        let mut s = Shard::new(1);
        for i in 0..(MAX_FAILURE_MESSAGES + 10) {
            let msg = format!("error {i}");
            s.record(
                0,
                &Outcome {
                    delay: None,
                    latency: None,
                    ttfb: None,
                    status: None,
                    bytes: 0,
                    failure: Some((FailureKind::Other, &msg)),
                    client: Default::default(),
                },
            );
        }
        assert_eq!(s.steps[0].errors.len(), MAX_FAILURE_MESSAGES + 1);
        assert_eq!(s.steps[0].failures, (MAX_FAILURE_MESSAGES + 10) as u64);
    }
}
