//! `loadgen merge`: the results of the segments of one run (`run --segment I/N`) combined into one, as if one
//! machine had run the whole plan.
//!
//! Counts are added; latency histograms (per request, aggregated, and per second of the time series) are added
//! exactly, and every figure derived from one (min, mean, max, percentiles) is recomputed from the sum, so the
//! merged percentiles are those of all requests together, never an average of percentiles. Time series are
//! aligned on their wall-clock `timestamp` (whole Unix seconds): points of the same second are added. Gates are
//! evaluated again on the merged figures.
//!
//! Inputs that do not belong together are refused (different scenarios or schema versions, segment counts that
//! disagree, a segment given twice); missing segments are reported and make the result incomplete and invalid.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::error::Error;
use crate::gates::{self, Evidence};
use crate::metrics::{hdr, round3};
use crate::plan::{Gate, MAX_SEGMENTS, Window};
use crate::report::{
    FailureEntry, GateSummary, Iterations, Merged, Percentiles, RequestStats, RunResults,
};
use crate::results::SeriesPoint;
use crate::results::stats::Tally;

/// Segment indexes as a message shows them: the first 20, then how many more.
pub(crate) fn shown(indexes: &[u64]) -> String {
    crate::validity::segment_list(indexes)
}

fn refuse(msg: String) -> Error {
    Error::Usage(msg)
}

/// The segment of each input, checked to belong to one run; sorted by segment.
fn check(inputs: &mut [(PathBuf, RunResults)]) -> Result<u64, Error> {
    let Some((first_path, first)) = inputs.first() else {
        return Err(refuse(
            "nothing to merge: give the results files of the segments".into(),
        ));
    };
    let (first_path, first) = (first_path.clone(), first.clone());
    let mut count = None;
    for (path, r) in inputs.iter() {
        let (p, f) = (path.display(), first_path.display());
        if r.schema_version != first.schema_version {
            return Err(refuse(format!(
                "{p} has results schema version {} but {f} has {}: merge results written by the same loadgen",
                r.schema_version, first.schema_version
            )));
        }
        let file_name = |s: &str| {
            std::path::Path::new(s)
                .file_name()
                .map(|n| n.to_os_string())
        };
        if r.scenario.name != first.scenario.name
            || file_name(&r.scenario.file) != file_name(&first.scenario.file)
            || r.settings.requests != first.settings.requests
        {
            return Err(refuse(format!(
                "{p} is scenario `{}` ({}) and {f} is `{}` ({}), or their requests differ: merge only the \
                 segments of one scenario",
                r.scenario.name, r.scenario.file, first.scenario.name, first.scenario.file
            )));
        }
        let Some(seg) = r.settings.segment else {
            return Err(refuse(format!(
                "{p} is not a segment's results (it has no settings.segment): merge combines the results of \
                 `loadgen run --segment I/N`"
            )));
        };
        // Checked when the file was read too; merge allocates by these numbers, so never without the check.
        if !(1..=MAX_SEGMENTS).contains(&seg.count) || seg.index >= seg.count {
            return Err(refuse(format!(
                "{p}: settings.segment: segment {} of {} is not a segment: the count is from 1 to \
                 {MAX_SEGMENTS} and the index below it",
                seg.index, seg.count
            )));
        }
        match count {
            None => count = Some(seg.count),
            Some(n) if n != seg.count => {
                return Err(refuse(format!(
                    "{p} is segment {seg} but {f} is one of {n} segments: the segment counts disagree"
                )));
            }
            Some(_) => {}
        }
    }
    inputs.sort_by_key(|(_, r)| r.settings.segment.map_or(0, |s| s.index));
    for pair in inputs.windows(2) {
        if pair[0].1.settings.segment == pair[1].1.settings.segment {
            return Err(refuse(format!(
                "{} and {} are both segment {}: each segment may be given once",
                pair[0].0.display(),
                pair[1].0.display(),
                pair[0]
                    .1
                    .settings
                    .segment
                    .map_or_else(String::new, |s| s.to_string())
            )));
        }
    }
    Ok(count.unwrap_or(1))
}

/// Merges the results of segments of one run; refuses inputs that do not belong together.
pub fn merge(mut inputs: Vec<(PathBuf, RunResults)>) -> Result<RunResults, Error> {
    let count = check(&mut inputs)?;
    let all: Vec<&RunResults> = inputs.iter().map(|(_, r)| r).collect();
    let first = all[0];
    let indexes: Vec<u64> = all
        .iter()
        .filter_map(|r| r.settings.segment.map(|s| s.index))
        .collect();
    // `count` is at most MAX_SEGMENTS (checked above), and the indexes sorted and each below it.
    let given: std::collections::BTreeSet<u64> = indexes.iter().copied().collect();
    let missing: Vec<u64> = (0..count).filter(|i| !given.contains(i)).collect();

    let started = all.iter().filter_map(|r| parse_time(&r.started_at)).min();
    let ended = all.iter().filter_map(|r| parse_time(&r.ended_at)).max();
    let duration_s = match (started, ended) {
        (Some(a), Some(b)) => b.duration_since(a).map_or(0.0, |d| d.as_secs_f64()),
        _ => all.iter().map(|r| r.duration_s).fold(0.0, f64::max),
    };
    let secs = duration_s.max(1e-3);

    let requests: Vec<RequestStats> = (0..first.requests.len())
        .map(|i| {
            merge_stats(
                inputs
                    .iter()
                    .filter_map(|(p, r)| Some((p.as_path(), r.requests.get(i)?))),
                &format!("requests[{i}]"),
                secs,
            )
        })
        .collect::<Result<_, _>>()?;
    let aggregated = merge_stats(
        inputs.iter().map(|(p, r)| (p.as_path(), &r.aggregated)),
        "aggregated",
        secs,
    )?;
    let time_series = merge_series(&inputs, started)?;
    let failures = merge_failures(&all);

    let mut settings = first.settings.clone();
    settings.segment = None;
    settings.users = all.iter().map(|r| r.settings.users).total();
    settings.spawn_rate = sum_opt(all.iter().map(|r| r.settings.spawn_rate)).map(round3);
    settings.max_iterations = {
        let given: Vec<u64> = all
            .iter()
            .filter_map(|r| r.settings.max_iterations)
            .collect();
        (!given.is_empty()).then(|| given.into_iter().total())
    };
    settings.duration_s = all
        .iter()
        .map(|r| r.settings.duration_s)
        .fold(0.0, f64::max);
    for (i, stage) in settings.stages.iter_mut().enumerate() {
        stage.users = all
            .iter()
            .filter_map(|r| r.settings.stages.get(i))
            .map(|s| s.users)
            .total();
        stage.spawn_rate = sum_opt(
            all.iter()
                .filter_map(|r| r.settings.stages.get(i))
                .map(|s| s.spawn_rate),
        );
    }
    if let Some(a) = &mut settings.arrival {
        for (i, stage) in a.stages.iter_mut().enumerate() {
            stage.rate = round3(
                all.iter()
                    .filter_map(|r| r.settings.arrival.as_ref()?.stages.get(i))
                    .map(|s| s.rate)
                    .sum(),
            );
        }
        a.planned_iterations = all
            .iter()
            .filter_map(|r| r.settings.arrival.as_ref())
            .map(|a| a.planned_iterations)
            .total();
    }

    let iterations = all
        .iter()
        .filter_map(|r| r.totals.iterations.as_ref())
        .fold(None, |acc: Option<Iterations>, it| {
            let mut m = acc.unwrap_or(Iterations {
                due: 0,
                started: 0,
                dropped: 0,
                rate: 0.0,
            });
            m.due = m.due.saturating_add(it.due);
            m.started = m.started.saturating_add(it.started);
            m.dropped = m.dropped.saturating_add(it.dropped);
            Some(m)
        })
        .map(|mut it| {
            it.rate = round3(it.started as f64 / settings.duration_s.max(1e-3));
            it
        });
    let peak_series = time_series.iter().map(|p| p.users).max().unwrap_or(0);
    let totals = crate::report::Totals {
        requests: aggregated.requests,
        failures: aggregated.failures,
        success_rate: aggregated.success_rate,
        rps: aggregated.rps,
        failures_per_s: aggregated.failures_per_s,
        // The most users at once across machines: from the aligned series (each segment's peak is in it).
        peak_users: peak_series.max(all.iter().map(|r| r.totals.peak_users).max().unwrap_or(0)),
        aborted_users: all.iter().map(|r| r.totals.aborted_users).total(),
        iterations,
    };

    let prefixed = |f: &dyn Fn(&RunResults) -> &Vec<String>| -> Vec<String> {
        all.iter()
            .flat_map(|r| {
                let seg = r
                    .settings
                    .segment
                    .map_or_else(String::new, |s| s.to_string());
                f(r).iter().map(move |w| format!("segment {seg}: {w}"))
            })
            .collect()
    };
    let generator = crate::report::Generator {
        cores: all
            .iter()
            .map(|r| r.generator.cores)
            .fold(0, usize::saturating_add),
        cpu_pct_mean: all
            .iter()
            .filter_map(|r| r.generator.cpu_pct_mean)
            .reduce(f64::max),
        cpu_pct_max: all
            .iter()
            .filter_map(|r| r.generator.cpu_pct_max)
            .reduce(f64::max),
        lag_ms_max: all
            .iter()
            .map(|r| r.generator.lag_ms_max)
            .fold(0.0, f64::max),
        warnings: prefixed(&|r| &r.generator.warnings),
    };
    let validity = crate::validity::of_segments(&all, &missing, count);

    let mut merged = RunResults {
        schema_version: first.schema_version,
        loadgen_version: env!("CARGO_PKG_VERSION").to_string(),
        // An id of its own, derived from the segments' (which are in `merged.run_ids`), so merging the same
        // files again writes the same file.
        run_id: merged_run_id(all.iter().map(|r| r.run_id.as_str())),
        scenario: first.scenario.clone(),
        settings,
        started_at: started.map_or_else(|| first.started_at.clone(), rfc3339),
        ended_at: ended.map_or_else(|| first.ended_at.clone(), rfc3339),
        duration_s: round3(duration_s),
        interrupted: all.iter().any(|r| r.interrupted),
        totals,
        requests,
        aggregated,
        failures,
        time_series,
        // Judged again below. Strict when the segments disagree: off only when every segment had it off.
        gates: GateSummary::of(Vec::new(), all.iter().any(|r| r.gates.fail_on_errors)),
        generator,
        validity,
        merged: Some(Merged {
            count,
            segments: indexes,
            missing: missing.clone(),
            complete: missing.is_empty(),
            run_ids: all.iter().map(|r| r.run_id.clone()).collect(),
        }),
        // The first segment a gate stopped (each judges its own share while it runs): the merged run failed.
        aborted: all
            .iter()
            .filter_map(|r| r.aborted.clone())
            .min_by(|a, b| a.at_s.total_cmp(&b.at_s)),
        verdict: None,
        addresses: crate::results::OriginAddresses::merge(
            &all.iter()
                .map(|r| r.addresses.as_slice())
                .collect::<Vec<_>>(),
        ),
        // Changes from the live UI are made to one process (steering is off under --segment): a single file's
        // are kept; segments that disagree have none that holds for the whole.
        manual: if all.iter().all(|r| r.manual == first.manual) {
            first.manual.clone()
        } else {
            Vec::new()
        },
        stopped_by: all.iter().find_map(|r| r.stopped_by.clone()),
        // A limit search runs in one process (`--segment` refuses it): its steps are not summed.
        limit: None,
        // Issue 21 item 4: every segment scrapes the same target; the first segment's values stand for it.
        monitor: all.iter().find_map(|r| r.monitor.clone()),
    };
    merged.gates = GateSummary::of(
        evaluate_gates(&merged, &first.gates.results),
        merged.gates.fail_on_errors,
    );
    merged.judge();
    // Sums of figures each within range may not be (counts past MAX_COUNT, a span of centuries): refused
    // rather than written as results that cannot be read back.
    crate::report::validate::check(&merged).map_err(|e| {
        refuse(format!(
            "the merged results are out of range: {e}; merge fewer or saner segments"
        ))
    })?;
    Ok(merged)
}

fn parse_time(s: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(s).ok()
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

fn sum_opt(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let v: Vec<f64> = values.flatten().collect();
    (!v.is_empty()).then(|| v.into_iter().sum())
}

/// Counts added up, stopping at `u64::MAX` rather than overflowing: each input's counts are checked to be
/// within [`crate::report::validate::MAX_COUNT`], but any number of files may be merged.
trait Total: Iterator<Item = u64> + Sized {
    fn total(self) -> u64 {
        self.fold(0, u64::saturating_add)
    }
}

impl<I: Iterator<Item = u64>> Total for I {}

/// The error of a sum of histograms at `field` past [`hdr::MAX_TOTAL`] values, naming the files added.
fn too_many(field: &str, files: &[String], e: hdr::DecodeError) -> Error {
    refuse(format!(
        "{field} of {}: {e} (at most {} values)",
        files.join(", "),
        hdr::MAX_TOTAL
    ))
}

/// One row (at `field`) of several segments: tallied together ([`Tally::merge`]), statistics recomputed from
/// the merged histograms over `secs`.
fn merge_stats<'a>(
    rows: impl Iterator<Item = (&'a Path, &'a RequestStats)> + Clone,
    field: &str,
    secs: f64,
) -> Result<RequestStats, Error> {
    let mut all = Tally::default();
    let mut added = Vec::new();
    for (path, r) in rows.clone() {
        added.push(path.display().to_string());
        all.add_row(r)
            .map_err(|(name, e)| too_many(&format!("{field}.{name}"), &added, e))?;
    }
    let first = rows.clone().next().map(|(_, r)| r);
    let mut stats = all.stats(
        first.map_or("", |r| r.method.as_str()),
        first.map_or("", |r| r.name.as_str()),
        secs,
    );
    // The uncorrected latencies merge exactly from their histograms; files written before those were stored
    // have only percentiles, exact for one segment and not mergeable for several.
    if all.uncorrected.histogram().is_none() {
        let uncorrected: Vec<&Percentiles> = rows
            .filter_map(|(_, r)| r.uncorrected_percentiles_ms.as_ref())
            .collect();
        stats.uncorrected_percentiles_ms = match uncorrected.as_slice() {
            [one] => Some((*one).clone()),
            _ => None,
        };
    }
    Ok(stats)
}

/// The segments' time series aligned on wall-clock seconds: points with the same `timestamp` are added
/// ([`SeriesPoint::alongside`]).
fn merge_series(
    inputs: &[(PathBuf, RunResults)],
    started: Option<SystemTime>,
) -> Result<Vec<SeriesPoint>, Error> {
    let mut by_second: BTreeMap<u64, Vec<(&Path, usize, &SeriesPoint)>> = BTreeMap::new();
    for (path, r) in inputs {
        for (i, p) in r.time_series.iter().enumerate() {
            by_second
                .entry(p.timestamp)
                .or_default()
                .push((path.as_path(), i, p));
        }
    }
    let t0 = started
        .and_then(|s| s.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64());
    let mut series = Vec::with_capacity(by_second.len());
    for (timestamp, at) in by_second {
        let merged = SeriesPoint::alongside(at.iter().map(|(_, _, p)| *p)).map_err(|e| {
            let files: Vec<String> = at
                .iter()
                .map(|(f, i, _)| format!("{} (time_series[{i}])", f.display()))
                .collect();
            too_many("a second of the time series", &files, e)
        })?;
        if let Some(mut p) = merged {
            if t0 > 0.0 {
                p.elapsed_s = round3((timestamp as f64 - t0).max(0.0));
            }
            series.push(p);
        }
    }
    Ok(series)
}

/// The segments' failures: the same failure (request, kind, message) added up, first and last seen widened.
fn merge_failures(all: &[&RunResults]) -> Vec<FailureEntry> {
    let order: HashMap<&str, usize> = all[0]
        .requests
        .iter()
        .enumerate()
        .map(|(i, r)| (r.name.as_str(), i))
        .collect();
    let mut out: Vec<FailureEntry> = Vec::new();
    for f in all.iter().flat_map(|r| &r.failures) {
        match out.iter_mut().find(|e| {
            e.method == f.method && e.name == f.name && e.kind == f.kind && e.message == f.message
        }) {
            Some(e) => {
                e.occurrences = e.occurrences.saturating_add(f.occurrences);
                e.first_seen = e.first_seen.into_iter().chain(f.first_seen).min();
                e.last_seen = e.last_seen.into_iter().chain(f.last_seen).max();
            }
            None => out.push(f.clone()),
        }
    }
    out.sort_by(|a, b| {
        let pos = |e: &FailureEntry| order.get(e.name.as_str()).copied().unwrap_or(usize::MAX);
        pos(a)
            .cmp(&pos(b))
            .then_with(|| b.occurrences.cmp(&a.occurrences))
            .then_with(|| a.message.cmp(&b.message))
    });
    out
}

/// The gate a segment was judged by, as its results carry it.
fn gate_of(g: &gates::GateResult) -> Gate {
    Gate {
        scope: g.scope.clone(),
        window: g.during,
        metric: g.metric,
        threshold: g.threshold,
        skip: g.skipped.clone(),
    }
}

/// The segments' gates evaluated on the merged results; a window (steady part, a stage) is rebuilt from the
/// merged time series.
fn evaluate_gates(merged: &RunResults, judged: &[gates::GateResult]) -> Vec<gates::GateResult> {
    let gates: Vec<Gate> = judged.iter().map(gate_of).collect();
    let whole: Evidence = (merged.requests.clone(), merged.aggregated.clone());
    let entries = crate::report::Entry::of_results(merged);
    let window = |w: Window| {
        Some(crate::report::series_window(
            &entries,
            &merged.time_series,
            span(merged, w),
        ))
    };
    let mut results = gates::evaluate_with(
        &gates,
        &whole,
        &window,
        merged.totals.iterations.as_ref().map(|i| i.dropped),
    );
    gates::judge_monitor(&mut results, merged.monitor.as_ref(), &|w| span(merged, w));
    results
}

/// The part of the run a window covers, from the merged settings.
fn span(r: &RunResults, w: Window) -> (f64, f64) {
    let s = &r.settings;
    let stage_ends: Vec<(f64, f64)> = match &s.arrival {
        Some(a) => a.stages.iter().map(|st| (st.duration_s, st.rate)).collect(),
        None => s
            .stages
            .iter()
            .map(|st| (st.duration_s, st.users as f64))
            .collect(),
    };
    match w {
        Window::Run => (0.0, s.duration_s),
        Window::Manual(n) => crate::results::ManualStage::span(&r.manual, n, r.duration_s),
        Window::Stage(n) => {
            let start: f64 = stage_ends
                .iter()
                .take(n.saturating_sub(1))
                .map(|x| x.0)
                .sum();
            let end = start + stage_ends.get(n.saturating_sub(1)).map_or(0.0, |x| x.0);
            (start.min(s.duration_s), end.min(s.duration_s))
        }
        Window::Steady => {
            let ramp_up = if stage_ends.is_empty() {
                s.spawn_rate
                    .map_or(0.0, |r| s.users.saturating_sub(1) as f64 / r.max(1e-9))
            } else if s.arrival.is_none() {
                // Users stages: as the plan computes it (a stage's spawn rate may reach the peak early).
                let stages: Vec<crate::plan::Stage> = s
                    .stages
                    .iter()
                    .map(|st| crate::plan::Stage {
                        duration: std::time::Duration::try_from_secs_f64(st.duration_s)
                            .unwrap_or(std::time::Duration::ZERO),
                        users: st.users,
                        spawn_rate: st.spawn_rate,
                    })
                    .collect();
                crate::plan::stages_ramp_up(&stages).as_secs_f64()
            } else {
                // The end of the first stage that reaches the peak.
                let peak = stage_ends.iter().map(|x| x.1).fold(0.0, f64::max);
                let mut t = 0.0;
                for (d, v) in &stage_ends {
                    t += d;
                    if *v >= peak {
                        break;
                    }
                }
                t
            };
            (ramp_up.min(s.duration_s), s.duration_s)
        }
    }
}

/// The id of merged results: FNV-1a of the segments' ids in segment order, as 8 lowercase hex characters (the
/// form of a run's own id).
fn merged_run_id<'a>(ids: impl Iterator<Item = &'a str>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for id in ids {
        for b in id.bytes().chain([b',']) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{:08x}", (h ^ (h >> 32)) as u32)
}

#[cfg(test)]
mod tests;
