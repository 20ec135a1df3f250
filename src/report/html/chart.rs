//! Line charts as inline SVG, drawn in Rust so the HTML report needs no script and fetches nothing.
//!
//! One small engine serves both kinds of chart the report draws: values over elapsed time (from the time series)
//! and HdrHistogram's percentile spectrum (latency against a logarithmic "nines" axis). A chart has a y axis
//! starting at zero and rounded up to a "nice" value, tick labels with units, a legend, and a `<title>`/`<desc>`
//! for screen readers. Gaps (`None`) break a line; a point alone is drawn as a dot; a series longer than
//! [`MAX_POINTS`] is decimated to the smallest and largest value of each bucket, so spikes survive and a one-hour
//! run (3,600 points per line) stays a few kilobytes per chart. Output is a pure function of the input.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

use super::escape;
use crate::report::Percentiles;

/// The most points drawn per line; longer series are decimated to about this many.
pub const MAX_POINTS: usize = 1_200;

/// Space around the plot area: left (y labels), right, top (legend), bottom (x labels and title).
pub const LEFT: f64 = 58.0;
pub const RIGHT: f64 = 26.0;
pub const TOP: f64 = 32.0;
pub const BOTTOM: f64 = 44.0;

/// Points of a line per decade of the spectrum's "nines" axis.
const SPECTRUM_STEPS_PER_NINE: u32 = 40;

/// One line of a chart: `(x, y)` points in x order, `None` where there is no value (a gap).
#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    /// A CSS colour.
    pub color: &'static str,
    pub dashed: bool,
    pub points: Vec<(f64, Option<f64>)>,
}

/// What the x axis shows.
#[derive(Debug, Clone, Copy)]
pub enum XAxis {
    /// Seconds since the start of the run, from 0 to `max_s`.
    Elapsed { max_s: f64 },
    /// Percentiles on HdrHistogram's log scale: x = -log10(1 - q), from 0 (0 %) to `nines` (99.9… %).
    Nines { nines: u32 },
}

/// What the y axis shows (it always starts at zero).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum YAxis {
    /// Milliseconds; shown in seconds once the axis reaches 10 s.
    Ms,
    /// A rate per second.
    PerSecond,
    /// A whole count (users).
    Count,
    /// Any value (a `[monitor]` series of the target's); shown in millions past a million.
    Value,
}

#[derive(Debug, Clone)]
pub struct Chart {
    /// Unique in the page: ties the `<title>` and `<desc>` to the `<svg>`.
    pub id: String,
    pub title: String,
    pub desc: String,
    pub width: f64,
    pub height: f64,
    pub x: XAxis,
    pub y: YAxis,
    pub series: Vec<Series>,
    /// Shown in the plot area when no series has a value.
    pub empty: &'static str,
    /// Vertical markers at these x values, each with a short label (the stage boundaries).
    pub marks: Vec<(f64, String)>,
}

/// A step of 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    if !(p.is_finite() && p > 0.0) {
        // Below the smallest power of ten a float holds (a subnormal from a results file).
        return 1.0;
    }
    let f = raw / p;
    let n = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    n * p
}

/// The top of a zero-based axis holding `max`, and its tick step (about five ticks).
pub fn y_range(max: f64, whole: bool) -> (f64, f64) {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let mut step = nice_step(max / 5.0);
    if whole {
        step = step.max(1.0).round();
    }
    // The epsilon keeps 0.3 / 0.1 = 2.9999999999999996 from becoming four steps.
    let top = ((max / step) - 1e-9).ceil().max(1.0) * step;
    (top, step)
}

/// A tick value with as many decimals as its step needs, thousands as `k`.
fn tick_label(v: f64, step: f64) -> String {
    if v >= 10_000.0 && step >= 1_000.0 {
        return tick_label(v / 1_000.0, step / 1_000.0) + "k";
    }
    let decimals = if step >= 1.0 {
        0
    } else {
        // At most 17 decimals: a step is never finer than a float shows (and a format precision is bounded).
        ((-step.log10()).ceil().max(0.0) as usize).min(17)
    };
    format!("{v:.decimals$}")
}

/// Seconds as a compact axis label: `0`, `45s`, `2m`, `2m30s`, `1h`, `1h15m`.
pub fn elapsed_label(s: u64) -> String {
    match s {
        0 => "0".into(),
        s if s < 60 => format!("{s}s"),
        s if s < 3_600 => match s % 60 {
            0 => format!("{}m", s / 60),
            r => format!("{}m{r}s", s / 60),
        },
        s => match (s % 3_600) / 60 {
            0 => format!("{}h", s / 3_600),
            m => format!("{}h{m}m", s / 3_600),
        },
    }
}

/// A percentile on the nines axis: 0 → `0%`, 1 → `90%`, 3 → `99.9%`.
pub fn nines_label(k: u32) -> String {
    match k {
        0 => "0%".into(),
        1 => "90%".into(),
        2 => "99%".into(),
        k => format!("99.{}%", "9".repeat(k as usize - 2)),
    }
}

/// Where quantile `q` (0..1) sits on the nines axis.
pub fn nines_x(q: f64) -> f64 {
    -(1.0 - q).max(1e-12).log10()
}

/// Reduces `points` to about `max` by keeping, per bucket of consecutive points, the smallest and the largest
/// value in x order. A bucket with no value becomes a gap; gaps inside a bucket with values are not kept.
pub fn decimate(points: &[(f64, Option<f64>)], max: usize) -> Vec<(f64, Option<f64>)> {
    if points.len() <= max || max < 4 {
        return points.to_vec();
    }
    let size = points.len().div_ceil(max / 2);
    let mut out = Vec::with_capacity(max + 2);
    for chunk in points.chunks(size) {
        let valued = || chunk.iter().filter_map(|&(x, y)| y.map(|y| (x, y)));
        let lo = valued().reduce(|a, b| if b.1 < a.1 { b } else { a });
        let hi = valued().reduce(|a, b| if b.1 > a.1 { b } else { a });
        match (lo, hi) {
            (Some(lo), Some(hi)) if lo.0 == hi.0 => out.push((lo.0, Some(lo.1))),
            (Some(lo), Some(hi)) => {
                let (a, b) = if lo.0 < hi.0 { (lo, hi) } else { (hi, lo) };
                out.push((a.0, Some(a.1)));
                out.push((b.0, Some(b.1)));
            }
            _ => out.push((chunk[0].0, None)),
        }
    }
    out
}

impl Chart {
    fn plot(&self) -> (f64, f64, f64, f64) {
        (
            LEFT,
            TOP,
            self.width - LEFT - RIGHT,
            self.height - TOP - BOTTOM,
        )
    }

    fn x_max(&self) -> f64 {
        match self.x {
            XAxis::Elapsed { max_s } if max_s.is_finite() && max_s > 0.0 => max_s,
            XAxis::Elapsed { .. } => 1.0,
            XAxis::Nines { nines } => f64::from(nines.max(1)),
        }
    }

    /// The SVG element.
    pub fn render(&self) -> String {
        let (left, top, pw, ph) = self.plot();
        let bottom = top + ph;
        let xmax = self.x_max();
        let series: Vec<Series> = self
            .series
            .iter()
            .map(|s| Series {
                points: decimate(
                    &s.points
                        .iter()
                        .map(|&(x, y)| (x, y.filter(|v| v.is_finite())))
                        .filter(|(x, _)| x.is_finite())
                        .collect::<Vec<_>>(),
                    MAX_POINTS,
                ),
                ..s.clone()
            })
            .collect();
        let ymax = series
            .iter()
            .flat_map(|s| s.points.iter().filter_map(|p| p.1))
            .fold(f64::NEG_INFINITY, f64::max);
        let has_data = ymax.is_finite();
        let (mut ytop, mut ystep) = y_range(ymax, self.y == YAxis::Count);
        // Milliseconds past 10 s read better as seconds: the axis is laid out in seconds.
        let scale = if self.y == YAxis::Ms && ytop >= 10_000.0 {
            (ytop, ystep) = y_range(ymax / 1_000.0, false);
            1_000.0
        } else if self.y == YAxis::Value && ytop >= 1_000_000.0 {
            (ytop, ystep) = y_range(ymax / 1_000_000.0, false);
            1_000_000.0
        } else {
            1.0
        };
        let unit = match (self.y, scale > 1.0) {
            (YAxis::Ms, false) => "ms",
            (YAxis::Ms, true) => "s",
            (YAxis::PerSecond, _) => "per second",
            (YAxis::Count, _) => "users",
            (YAxis::Value, false) => "value",
            (YAxis::Value, true) => "millions",
        };
        let px = |x: f64| left + (x / xmax).clamp(0.0, 1.0) * pw;
        let py = |y: f64| bottom - (y / scale / ytop).clamp(0.0, 1.0) * ph;

        let mut s = String::new();
        let _ = write!(
            s,
            "<svg class=\"chart\" viewBox=\"0 0 {w} {h}\" role=\"img\" \
             aria-labelledby=\"{id}-t {id}-d\"><title id=\"{id}-t\">{title}</title><desc id=\"{id}-d\">{desc}</desc>",
            w = self.width,
            h = self.height,
            id = self.id,
            title = escape(&self.title),
            desc = escape(&self.desc),
        );

        // Horizontal grid and y tick labels.
        s.push_str("<g class=\"grid\">");
        let n = (ytop / ystep).round() as u32;
        for i in 0..=n {
            let v = f64::from(i) * ystep;
            let y = bottom - f64::from(i) / f64::from(n.max(1)) * ph;
            let _ = write!(
                s,
                "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>",
                left + pw
            );
            let _ = write!(
                s,
                "<text class=\"yl\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                left - 6.0,
                y + 4.0,
                tick_label(v, ystep)
            );
        }
        // Vertical grid and x tick labels.
        for (x, label) in self.x_ticks(xmax) {
            let gx = px(x);
            let _ = write!(
                s,
                "<line x1=\"{gx:.1}\" x2=\"{gx:.1}\" y1=\"{top}\" y2=\"{bottom}\"/>\
                 <text class=\"xl\" x=\"{gx:.1}\" y=\"{:.1}\">{label}</text>",
                bottom + 16.0
            );
        }
        s.push_str("</g>");
        // Markers (stage boundaries): a dashed vertical line, labelled at the top of the plot.
        if !self.marks.is_empty() {
            s.push_str("<g class=\"marks\">");
            for (x, label) in &self.marks {
                if !(x.is_finite() && *x > 0.0 && *x < xmax) {
                    continue;
                }
                let mx = px(*x);
                let _ = write!(
                    s,
                    "<line x1=\"{mx:.1}\" x2=\"{mx:.1}\" y1=\"{top}\" y2=\"{bottom}\"/>\
                     <text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                    mx + 3.0,
                    top + 11.0,
                    escape(label)
                );
            }
            s.push_str("</g>");
        }
        let _ = write!(
            s,
            "<rect class=\"frame\" x=\"{left}\" y=\"{top}\" width=\"{pw}\" height=\"{ph}\"/>"
        );
        // Axis titles.
        let x_title = match self.x {
            XAxis::Elapsed { .. } => "elapsed time",
            XAxis::Nines { .. } => "percentile",
        };
        let _ = write!(
            s,
            "<text class=\"at\" x=\"{:.1}\" y=\"{:.1}\">{x_title}</text>\
             <text class=\"at\" transform=\"translate(14 {:.1}) rotate(-90)\">{unit}</text>",
            left + pw / 2.0,
            self.height - 6.0,
            top + ph / 2.0
        );

        // Legend, above the plot.
        let mut lx = left;
        for se in &series {
            let _ = write!(
                s,
                "<line class=\"key\" x1=\"{lx:.1}\" x2=\"{:.1}\" y1=\"14\" y2=\"14\" stroke=\"{}\"{}/>\
                 <text class=\"lg\" x=\"{:.1}\" y=\"18\">{}</text>",
                lx + 18.0,
                se.color,
                if se.dashed {
                    " stroke-dasharray=\"5 3\""
                } else {
                    ""
                },
                lx + 23.0,
                escape(&se.label)
            );
            // Room for the label at up to 16 px (the print sheet enlarges the wide charts' text).
            lx += 23.0 + 8.6 * se.label.chars().count() as f64 + 14.0;
        }

        if !has_data {
            let _ = write!(
                s,
                "<text class=\"empty\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                left + pw / 2.0,
                top + ph / 2.0,
                self.empty
            );
        }

        // The lines: one polyline per run of values, a dot for a value alone; the first series is drawn last,
        // on top.
        for se in series.iter().rev() {
            let dash = if se.dashed {
                " stroke-dasharray=\"5 3\""
            } else {
                ""
            };
            for run in se.points.split(|p| p.1.is_none()) {
                match run {
                    [] => {}
                    [(x, Some(y))] => {
                        let _ = write!(
                            s,
                            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{}\"/>",
                            px(*x),
                            py(*y),
                            se.color
                        );
                    }
                    run => {
                        let _ = write!(
                            s,
                            "<polyline class=\"line\" stroke=\"{}\"{dash} points=\"",
                            se.color
                        );
                        for (i, (x, y)) in run.iter().enumerate() {
                            let y = y.unwrap_or(0.0);
                            let sep = if i == 0 { "" } else { " " };
                            let _ = write!(s, "{sep}{:.1},{:.1}", px(*x), py(y));
                        }
                        s.push_str("\"/>");
                    }
                }
            }
        }
        s.push_str("</svg>");
        s
    }

    fn x_ticks(&self, xmax: f64) -> Vec<(f64, String)> {
        match self.x {
            XAxis::Elapsed { .. } => {
                const STEPS: [u64; 18] = [
                    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1_800, 3_600, 7_200, 14_400,
                    21_600, 43_200, 86_400,
                ];
                let step = STEPS
                    .iter()
                    .copied()
                    .find(|st| xmax / *st as f64 <= 8.0)
                    .unwrap_or_else(|| (xmax / 8.0).ceil() as u64);
                (0..)
                    .map(|i| i * step)
                    .take_while(|t| *t as f64 <= xmax + 1e-9)
                    .map(|t| (t as f64, elapsed_label(t)))
                    .collect()
            }
            XAxis::Nines { nines } => {
                let mut t: Vec<(f64, String)> = (0..=nines.max(1))
                    .map(|k| (f64::from(k), nines_label(k)))
                    .collect();
                // The median between 0% and 90%, where there is room for its label.
                if nines <= 4 {
                    t.insert(1, (nines_x(0.5), "50%".into()));
                }
                t
            }
        }
    }
}

/// The percentile spectrum of `h` (µs): latency in ms at evenly spaced points of the nines axis up to `nines`
/// (the last one the largest value), keeping only where the value changes (the first and last point of each
/// flat stretch).
pub fn spectrum(h: &Histogram<u64>, nines: u32) -> Vec<(f64, Option<f64>)> {
    let steps = nines * SPECTRUM_STEPS_PER_NINE;
    let all: Vec<(f64, f64)> = (0..=steps)
        .map(|i| {
            let x = f64::from(i) / f64::from(SPECTRUM_STEPS_PER_NINE);
            // The last point is the largest value: `nines` is chosen so that nothing but it lies beyond.
            let q = match i {
                0 => 0.0,
                i if i == steps => 1.0,
                _ => 1.0 - 10f64.powf(-x),
            };
            (x, h.value_at_quantile(q) as f64 / 1_000.0)
        })
        .collect();
    let mut out = Vec::new();
    for (i, &(x, y)) in all.iter().enumerate() {
        let prev = i.checked_sub(1).map(|j| all[j].1);
        let next = all.get(i + 1).map(|p| p.1);
        if prev != Some(y) || next != Some(y) {
            out.push((x, Some(y)));
        }
    }
    out
}

/// How many nines the spectrum of `count` values spans: enough to reach its largest value (99.9 % of 1,000
/// values is the largest), at least two and at most five.
pub fn nines_for(count: u64) -> u32 {
    ((count.max(1) as f64).log10().ceil() as u32).clamp(2, 5)
}

/// The spectrum as far as the reported percentiles go, for results that carry no histogram.
pub fn spectrum_of_percentiles(p: &Percentiles) -> Vec<(f64, Option<f64>)> {
    [
        (0.5, p.p50),
        (0.66, p.p66),
        (0.75, p.p75),
        (0.8, p.p80),
        (0.9, p.p90),
        (0.95, p.p95),
        (0.98, p.p98),
        (0.99, p.p99),
        (0.999, p.p99_9),
        (0.9999, p.p99_99),
    ]
    .into_iter()
    .map(|(q, v)| (nines_x(q), Some(v)))
    .collect()
}
