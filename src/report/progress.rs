//! The live progress line on stderr (elapsed / duration, users, requests/s, p95, failure %).
//!
//! indicatif draws nothing when stderr is not a terminal, so CI logs stay clean.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::engine::Observer;
use crate::metrics::{Collector, SeriesPoint};

pub struct Progress {
    bar: ProgressBar,
    target_users: u64,
}

impl Progress {
    pub fn new(duration: Duration, target_users: u64, enabled: bool) -> Self {
        let target = if enabled {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(duration.as_secs().max(1)), target);
        let style = ProgressStyle::with_template("{elapsed_precise} / {prefix} [{bar:24}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(humantime::format_duration(duration).to_string());
        Progress { bar, target_users }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Observer for Progress {
    fn tick(&mut self, p: &SeriesPoint, totals: &Collector) {
        let (requests, failures) = totals.running_totals();
        let fail_pct = if requests == 0 {
            0.0
        } else {
            100.0 * failures as f64 / requests as f64
        };
        self.bar.set_position(p.elapsed_s as u64);
        self.bar.set_message(format!(
            "users {}/{}  {:.0} req/s  p95 {}  failures {:.2}%",
            p.users,
            self.target_users,
            p.rps,
            p.p95_ms.map_or_else(|| "-".into(), |v| format!("{v:.1}ms")),
            fail_pct
        ));
    }
}
