//! The outputs kept current while a run goes: the live CSV files ([`super::csv::LiveCsv`]) and the Prometheus
//! snapshot ([`super::prometheus::LiveMetrics`]). Each runs on a thread of its own ([`OffTask`]), fed each
//! second by the scheduler without waiting, so a slow or blocked disk (a CSV refresh with its fsync) or a long
//! snapshot never delays the users or the scheduler, nor each other.

use std::sync::Arc;

use crate::engine::Observer;
use crate::engine::observe::OffTask;
use crate::error::Error;
use crate::metrics::{Collector, SeriesPoint};
use crate::plan::RunPlan;
use crate::report::csv::LiveCsv;
use crate::report::outputs::Outputs;
use crate::report::prometheus::{LiveMetrics, Published};

/// The live outputs of one run.
#[derive(Default)]
pub struct Live {
    csv: Option<OffTask>,
    metrics: Option<OffTask>,
}

impl Live {
    /// Writes the CSV headers now (a bad path fails before any traffic) and starts the threads: the CSV files
    /// when `outputs` has them and they are regular files (a device or FIFO gets them once, at the end), the
    /// Prometheus snapshot when `published` is served.
    pub fn start(
        outputs: &Outputs,
        published: Option<&Published>,
        plan: &Arc<RunPlan>,
        run_id: &str,
    ) -> Result<Live, Error> {
        let thread_error = |e| Error::io("cannot start the thread of the live outputs", e);
        let csv = match outputs.csv.clone().filter(super::csv::CsvFiles::is_regular) {
            Some(files) => {
                let live = LiveCsv::start(files, plan.clone())?;
                Some(OffTask::start("live-csv", live).map_err(thread_error)?)
            }
            None => None,
        };
        let metrics = match published {
            Some(published) => {
                let live = LiveMetrics::new(plan.clone(), run_id.to_string(), published.clone());
                Some(OffTask::start("live-metrics", live).map_err(thread_error)?)
            }
            None => None,
        };
        Ok(Live { csv, metrics })
    }

    /// Waits until every second handed over is written (so nothing live is written after this, over the final
    /// files or the final snapshot).
    pub async fn finish(self) {
        let Live { csv, metrics } = self;
        for off in [csv, metrics].into_iter().flatten() {
            off.finish().await;
        }
    }
}

impl Observer for Live {
    fn tick(&mut self, point: &SeriesPoint, totals: &Collector) {
        self.csv.tick(point, totals);
        self.metrics.tick(point, totals);
    }
}
