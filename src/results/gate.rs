//! A gate as judged, the way results carry it: its scope, window and metric as types ([`Window`] and
//! [`GateMetric`], which the plan's gates use too), written as the strings the results schema has always had (`during`: null, `steady` or
//! `stage N`; `metric`: `success_rate`, `pNN_ms` or `dropped_iterations`) and read back into the same types, so
//! that `loadgen merge` judges a segment's gates again without parsing labels.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A part of the run a gate looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    Run,
    /// From the end of the ramp-up (`RunPlan::ramp_up`) to the end of the duration.
    Steady,
    /// One stage, numbered from 1.
    Stage(usize),
    /// One change made from the live UI, numbered from 1: from when it was made to the next or the end.
    Manual(usize),
}

impl Window {
    /// `None` for the whole run, else "steady" or "stage N".
    pub fn label(self) -> Option<String> {
        match self {
            Window::Run => None,
            Window::Steady => Some("steady".into()),
            Window::Stage(n) => Some(format!("stage {n}")),
            Window::Manual(n) => Some(format!("manual {n}")),
        }
    }
}

/// What a gate measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateMetric {
    /// Percent of requests that met their expectation; passes when measured >= threshold.
    SuccessRate,
    /// A latency percentile in ms; passes when measured < threshold.
    Percentile(u8),
    /// Arrival rate: iterations dropped; passes when measured <= threshold.
    DroppedIterations,
    /// A `[monitor]` series' highest value in the window; passes when measured <= threshold.
    MonitorMax,
    /// A `[monitor]` series' lowest value in the window; passes when measured >= threshold.
    MonitorMin,
}

impl GateMetric {
    /// How the measured value is compared with the threshold to pass.
    pub fn op(self) -> &'static str {
        match self {
            GateMetric::SuccessRate => ">=",
            GateMetric::Percentile(_) => "<",
            GateMetric::DroppedIterations | GateMetric::MonitorMax => "<=",
            GateMetric::MonitorMin => ">=",
        }
    }

    pub fn key(self) -> String {
        match self {
            GateMetric::SuccessRate => "success_rate".into(),
            GateMetric::Percentile(p) => format!("p{p}_ms"),
            GateMetric::DroppedIterations => "dropped_iterations".into(),
            GateMetric::MonitorMax => "monitor_max".into(),
            GateMetric::MonitorMin => "monitor_min".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GateResult {
    /// `None` (null) for all requests together, else the request name.
    pub scope: Option<String>,
    /// The part of the run the gate looks at: null for all of it, `steady`, or `stage N`.
    #[serde(default, with = "window_label")]
    pub during: Window,
    /// `success_rate`, `p50_ms`, `p90_ms`, `p95_ms`, `p99_ms` or `dropped_iterations`.
    pub metric: GateMetric,
    /// `>=` or `<`.
    pub op: String,
    pub threshold: f64,
    /// Absent when the scope had no requests.
    pub measured: Option<f64>,
    /// True unless the gate was judged and failed (a skipped gate is not a failure).
    pub passed: bool,
    /// Why the gate was not judged, e.g. `request not run: left out by --exclude-tags slow`; null when it was.
    #[serde(default)]
    pub skipped: Option<String>,
    /// The requests of the scope within the gate's window: the evidence `measured` comes from (for a windowed
    /// gate, the window's count, not the whole run's). Null when there are no statistics for the scope (and for
    /// a skipped gate), and in results files written before this field existed.
    #[serde(default)]
    pub requests: Option<u64>,
    /// The failed requests among `requests`.
    #[serde(default)]
    pub failures: Option<u64>,
}

impl GateResult {
    /// The gate in a few words: "p95_ms < 500 ms for login (steady)".
    pub fn label(&self) -> String {
        format!(
            "{} {} {} for {}",
            self.metric,
            self.op,
            self.threshold_text(),
            self.scope_text()
        )
    }

    /// What the gate looks at, as reports show it: "all requests", "login", "login (steady)".
    pub fn scope_text(&self) -> String {
        let scope = self.scope.as_deref().unwrap_or("all requests");
        match self.during.label() {
            Some(w) => format!("{scope} ({w})"),
            None => scope.to_string(),
        }
    }

    /// The measured value with its unit, or "no requests". A failing rate that rounds to its threshold is shown
    /// with enough digits to see why it failed.
    pub fn measured_text(&self) -> String {
        match (self.metric, self.measured) {
            (_, None) => "no requests".into(),
            (GateMetric::SuccessRate, Some(m))
                if !self.passed
                    && m < self.threshold
                    && format!("{m:.2}") == format!("{:.2}", self.threshold) =>
            {
                format!("{m:.6}%")
            }
            (GateMetric::SuccessRate, Some(m)) => format!("{m:.2}%"),
            (GateMetric::DroppedIterations, Some(m)) => format!("{m}"),
            (GateMetric::MonitorMax | GateMetric::MonitorMin, Some(m)) => format!("{m:.4}")
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string(),
            (GateMetric::Percentile(_), Some(m)) => format!("{} ms", super::stats::fmt_ms(m)),
        }
    }

    /// The threshold with its unit.
    pub fn threshold_text(&self) -> String {
        match self.metric {
            GateMetric::SuccessRate => format!("{}%", self.threshold),
            GateMetric::DroppedIterations | GateMetric::MonitorMax | GateMetric::MonitorMin => {
                format!("{}", self.threshold)
            }
            GateMetric::Percentile(_) => format!("{} ms", self.threshold),
        }
    }
}

impl fmt::Display for GateMetric {
    /// The metric's key: `success_rate`, `p95_ms`, `dropped_iterations`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.key())
    }
}

impl std::str::FromStr for GateMetric {
    type Err = String;

    /// Reads a metric's key back.
    fn from_str(s: &str) -> Result<GateMetric, String> {
        match s {
            "success_rate" => Ok(GateMetric::SuccessRate),
            "dropped_iterations" => Ok(GateMetric::DroppedIterations),
            "monitor_max" => Ok(GateMetric::MonitorMax),
            "monitor_min" => Ok(GateMetric::MonitorMin),
            m => m
                .strip_prefix('p')
                .and_then(|m| m.strip_suffix("_ms"))
                .and_then(|p| p.parse().ok())
                .map(GateMetric::Percentile)
                .ok_or_else(|| {
                    format!(
                        "`{s}` is not a gate metric (success_rate, pNN_ms with NN a whole percentile, or \
                         dropped_iterations)"
                    )
                }),
        }
    }
}

impl Serialize for GateMetric {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for GateMetric {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<GateMetric, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl std::str::FromStr for Window {
    type Err = String;

    /// Reads a window's label back (`steady`, `stage N`; the whole run has none).
    fn from_str(s: &str) -> Result<Window, String> {
        match s {
            "steady" => Ok(Window::Steady),
            w => w
                .strip_prefix("stage ")
                .and_then(|n| n.parse().ok())
                .map(Window::Stage)
                .or_else(|| {
                    w.strip_prefix("manual ")
                        .and_then(|n| n.parse().ok())
                        .map(Window::Manual)
                })
                .ok_or_else(|| {
                    format!(
                        "`{s}` is not a gate window (null for the whole run, `steady`, `stage N` or `manual N`)"
                    )
                }),
        }
    }
}

impl Default for Window {
    /// The whole run (a gate result without `during`).
    fn default() -> Window {
        Window::Run
    }
}

/// A [`Window`] as its label: null for the whole run.
mod window_label {
    use super::*;

    pub fn serialize<S: Serializer>(w: &Window, s: S) -> Result<S::Ok, S::Error> {
        w.label().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Window, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(Window::Run),
            Some(label) => label.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_metrics_are_written_as_the_schema_strings_and_read_back() {
        for (during, window) in [
            (serde_json::Value::Null, Window::Run),
            ("steady".into(), Window::Steady),
            ("stage 3".into(), Window::Stage(3)),
            ("manual 2".into(), Window::Manual(2)),
        ] {
            for (key, metric) in [
                ("success_rate", GateMetric::SuccessRate),
                ("p99_ms", GateMetric::Percentile(99)),
                ("dropped_iterations", GateMetric::DroppedIterations),
            ] {
                let json = serde_json::json!({
                    "scope": "login", "during": during, "metric": key, "op": metric.op(),
                    "threshold": 1.0, "measured": null, "passed": true, "skipped": null,
                    "requests": null, "failures": null
                });
                let g: GateResult = serde_json::from_value(json.clone()).unwrap();
                assert_eq!((g.during, g.metric), (window, metric));
                assert_eq!(serde_json::to_value(&g).unwrap(), json);
            }
        }
        // Files written before `during` existed: the whole run.
        let g: GateResult = serde_json::from_value(serde_json::json!({
            "scope": null, "metric": "p95_ms", "op": "<", "threshold": 1.0, "measured": null,
            "passed": false
        }))
        .unwrap();
        assert_eq!(g.during, Window::Run);
    }
}
