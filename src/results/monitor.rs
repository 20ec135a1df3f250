//! The target's own metrics as the results keep them (issue 21 item 4, `[monitor]`): per kept series, one
//! value per scrape (at most one a second), bounded; the endpoints scraped and the warnings of those that did
//! not answer. Written only when the scenario has a `[monitor]` section.

use serde::{Deserialize, Serialize};

/// Values kept per series at most; past it, the two neighbours covering the shortest span are averaged into one
/// (like the load's series, the whole run stays covered at a coarser resolution).
pub const MAX_MONITOR_POINTS: usize = 3600;
/// Warnings kept at most (the rest are counted in each endpoint's `failed_scrapes`).
pub const MAX_MONITOR_WARNINGS: usize = 100;

/// What `[monitor]` scraped during the run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MonitorResults {
    /// Seconds between two scrapes of an endpoint.
    pub interval_s: f64,
    pub endpoints: Vec<MonitorEndpoint>,
    pub series: Vec<MonitorSeries>,
    /// Scrapes that failed, in order (an endpoint that stops answering is a warning, never a failed run).
    #[serde(default)]
    pub warnings: Vec<MonitorWarning>,
}

/// One endpoint scraped.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MonitorEndpoint {
    pub name: String,
    pub url: String,
    pub scrapes: u64,
    pub failed_scrapes: u64,
}

/// One kept series: its key (`endpoint:name`), the selector it was read with, and its values.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MonitorSeries {
    /// `ENDPOINT:NAME`, as gates name it (`api:cpu`).
    pub key: String,
    pub endpoint: String,
    /// The selector as written (`rate(process_cpu_seconds_total) * 100`).
    pub query: String,
    pub points: Vec<MonitorPoint>,
}

/// One value: `t_s` seconds into the run (when the scrape answered).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct MonitorPoint {
    pub t_s: f64,
    pub value: f64,
}

/// A scrape that failed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MonitorWarning {
    pub endpoint: String,
    pub t_s: f64,
    pub message: String,
}

impl MonitorSeries {
    /// Adds a value, keeping one per second (a later value in the same second replaces the earlier) and at
    /// most [`MAX_MONITOR_POINTS`].
    pub fn push(&mut self, p: MonitorPoint) {
        if let Some(last) = self.points.last_mut()
            && last.t_s.floor() == p.t_s.floor()
        {
            *last = p;
            return;
        }
        self.points.push(p);
        if self.points.len() > MAX_MONITOR_POINTS {
            // The neighbours that together cover the shortest span (a point covers the time since the one
            // before it), the oldest on a tie, the newest never: the whole run stays covered, coarser as it grows.
            let t = |k: usize| self.points[k].t_s;
            let (i, _) = (0..self.points.len() - 2)
                .map(|k| (k, t(k + 1) - if k == 0 { 0.0 } else { t(k - 1) }))
                .fold((0, f64::INFINITY), |best, (k, span)| {
                    if span < best.1 { (k, span) } else { best }
                });
            let (a, b) = (self.points[i], self.points[i + 1]);
            self.points[i + 1] = MonitorPoint {
                t_s: b.t_s,
                value: (a.value + b.value) / 2.0,
            };
            self.points.remove(i);
        }
    }

    /// The values with `from <= t_s <= to` (the run's seconds).
    pub fn within(&self, from: f64, to: f64) -> impl Iterator<Item = f64> + '_ {
        self.points
            .iter()
            .filter(move |p| p.t_s >= from && p.t_s <= to)
            .map(|p| p.value)
    }
}

impl MonitorResults {
    /// Records a warning, up to [`MAX_MONITOR_WARNINGS`].
    pub fn warn(&mut self, w: MonitorWarning) {
        if self.warnings.len() < MAX_MONITOR_WARNINGS {
            self.warnings.push(w);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_value_a_second_and_a_bounded_length() {
        let mut s = MonitorSeries {
            key: "api:x".into(),
            endpoint: "api".into(),
            query: "x".into(),
            points: Vec::new(),
        };
        s.push(MonitorPoint {
            t_s: 0.2,
            value: 1.0,
        });
        s.push(MonitorPoint {
            t_s: 0.7,
            value: 2.0,
        });
        assert_eq!(
            s.points,
            [MonitorPoint {
                t_s: 0.7,
                value: 2.0
            }]
        );
        for i in 1..(MAX_MONITOR_POINTS as u32 * 2) {
            s.push(MonitorPoint {
                t_s: f64::from(i),
                value: f64::from(i),
            });
        }
        assert_eq!(s.points.len(), MAX_MONITOR_POINTS);
        let last = s.points.last().expect("points");
        assert_eq!(last.t_s, f64::from(MAX_MONITOR_POINTS as u32 * 2 - 1));
        assert!(s.points.windows(2).all(|w| w[0].t_s < w[1].t_s));
        // The whole run stays covered (the start too), at about two seconds a value after twice the cap.
        assert!(s.points[0].t_s <= 2.0, "{:?}", &s.points[..3]);
        let widest = s
            .points
            .windows(2)
            .map(|w| w[1].t_s - w[0].t_s)
            .fold(0.0, f64::max);
        assert!(widest <= 2.0, "{widest}");
        assert_eq!(s.within(100.0, 200.0).count(), 51);
    }
}
