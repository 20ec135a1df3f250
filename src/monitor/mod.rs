//! `[monitor]` during a run (issue 21 item 4): each listed Prometheus endpoint scraped every interval from a
//! thread of its own (off the scheduler and its workers), with a timeout shorter than the interval; the kept
//! series read from the answer (`expo`, a small parser of the text format) and stored as
//! [`crate::results::MonitorResults`], bounded (one value per series per second, a cap on values and series).
//!
//! A scrape that fails (refused, timed out, not 200, unreadable) is a warning: printed once when the endpoint
//! stops answering (and when it answers again), recorded in the results, never a failed run by itself. Only
//! the URLs of the plan are fetched (a `path` endpoint on the run's target host), over plain HTTP/1.0 (so the
//! answer is neither chunked nor kept alive), no redirect followed, no proxy used.

pub mod expo;
mod http;

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::plan::monitor::{MonitorEndpoint as PlanEndpoint, MonitorPlan};
use crate::results::{
    MonitorEndpoint, MonitorPoint, MonitorResults, MonitorSeries, MonitorWarning,
};

/// The scrapes running beside a run.
pub struct Monitor {
    interval: Duration,
    stop: Arc<Stop>,
    threads: Vec<JoinHandle<Scraped>>,
}

/// Set once, when the run ends: every scrape thread waits on it between scrapes.
#[derive(Default)]
struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Stop {
    /// Waits until `due` or the stop; true when stopped.
    fn wait_until(&self, due: Instant) -> bool {
        let Ok(mut stopped) = self.stopped.lock() else {
            return true;
        };
        while !*stopped {
            let left = due.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            stopped = match self.wake.wait_timeout(stopped, left) {
                Ok((g, _)) => g,
                Err(_) => return true,
            };
        }
        true
    }
}

/// What one endpoint's thread kept.
struct Scraped {
    endpoint: MonitorEndpoint,
    series: Vec<MonitorSeries>,
    warnings: Vec<MonitorWarning>,
}

impl Monitor {
    /// Starts scraping every endpoint of `plan` now (time 0 of the values), the `path` ones on `host`.
    pub fn start(plan: &MonitorPlan, host: &str, quiet: bool) -> Monitor {
        let stop = Arc::new(Stop::default());
        let start = Instant::now();
        let threads = plan
            .endpoints
            .iter()
            .filter_map(|e| {
                let e = e.clone();
                let url = e.at.url(host);
                let (interval, timeout) = (plan.interval, plan.timeout);
                let stop = stop.clone();
                std::thread::Builder::new()
                    .name(format!("monitor-{}", e.name))
                    .spawn(move || scrape_loop(&e, url, (interval, timeout), start, &stop, quiet))
                    .ok()
            })
            .collect();
        Monitor {
            interval: plan.interval,
            stop,
            threads,
        }
    }

    /// Stops the scrapes (an ongoing one ends within its timeout) and returns what they kept.
    pub fn finish(mut self) -> MonitorResults {
        if let Ok(mut stopped) = self.stop.stopped.lock() {
            *stopped = true;
        }
        self.stop.wake.notify_all();
        let mut out = MonitorResults {
            interval_s: self.interval.as_secs_f64(),
            ..MonitorResults::default()
        };
        for t in self.threads.drain(..) {
            if let Ok(s) = t.join() {
                out.endpoints.push(s.endpoint);
                out.series.extend(s.series);
                for w in s.warnings {
                    out.warn(w);
                }
            }
        }
        out
    }
}

/// Per kept series: the last raw value and when, for `rate(...)`.
type RateState = Option<(f64, f64)>;

fn scrape_loop(
    e: &PlanEndpoint,
    url: String,
    (interval, timeout): (Duration, Duration),
    start: Instant,
    stop: &Stop,
    quiet: bool,
) -> Scraped {
    let mut series: Vec<MonitorSeries> = e
        .series
        .iter()
        .map(|q| MonitorSeries {
            key: q.key.clone(),
            endpoint: e.name.clone(),
            query: q.text.clone(),
            points: Vec::new(),
        })
        .collect();
    let mut rates: Vec<RateState> = vec![None; e.series.len()];
    let mut missing = vec![false; e.series.len()];
    let mut endpoint = MonitorEndpoint {
        name: e.name.clone(),
        url: url.clone(),
        scrapes: 0,
        failed_scrapes: 0,
    };
    let mut warnings: Vec<MonitorWarning> = Vec::new();
    let mut down = false;
    let warn = |t: f64, message: String, warnings: &mut Vec<MonitorWarning>| {
        if !quiet {
            eprintln!("warning: monitor `{}` ({url}): {message}", e.name);
        }
        if warnings.len() < crate::results::MAX_MONITOR_WARNINGS {
            warnings.push(MonitorWarning {
                endpoint: e.name.clone(),
                t_s: (t * 1000.0).round() / 1000.0,
                message,
            });
        }
    };
    for k in 0u32.. {
        if stop.wait_until(start + interval.saturating_mul(k)) {
            break;
        }
        endpoint.scrapes += 1;
        let answer = http::get(&endpoint.url, timeout);
        let t = start.elapsed().as_secs_f64();
        let body = match answer {
            Ok(b) => b,
            Err(why) => {
                endpoint.failed_scrapes += 1;
                if !down {
                    down = true;
                    warn(
                        t,
                        format!("no answer ({why}); the run goes on"),
                        &mut warnings,
                    );
                }
                continue;
            }
        };
        if down {
            down = false;
            warn(t, "answers again".into(), &mut warnings);
        }
        let (samples, _bad) = expo::parse(&body);
        for (i, q) in e.series.iter().enumerate() {
            let matched: Vec<f64> = samples
                .iter()
                .filter(|s| q.selector.matches(&s.name, &s.labels))
                .map(|s| s.value)
                .collect();
            if matched.is_empty() {
                if !missing[i] {
                    missing[i] = true;
                    warn(t, format!("no sample matches `{}`", q.text), &mut warnings);
                }
                rates[i] = None;
                continue;
            }
            missing[i] = false;
            let raw: f64 = matched.iter().sum();
            let value = if q.rate {
                let prev = rates[i].replace((t, raw));
                match prev {
                    Some((t0, v0)) if t > t0 => {
                        // A counter that went down was reset: it counted from zero since.
                        let delta = if raw >= v0 { raw - v0 } else { raw };
                        delta / (t - t0)
                    }
                    _ => continue,
                }
            } else {
                raw
            } * q.factor;
            if value.is_finite() {
                series[i].push(MonitorPoint {
                    t_s: (t * 1000.0).round() / 1000.0,
                    value,
                });
            }
        }
    }
    Scraped {
        endpoint,
        series,
        warnings,
    }
}
