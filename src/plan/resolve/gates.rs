//! Resolution of `[gates]`: the overall gates, per-request gates, and gates scoped to a window of the run
//! (`steady`, a stage); and the rules around them (`fail_on_errors`, `abort_on_fail`, `abort_grace`).
//!
//! A gate on a request that `--tags` / `--exclude-tags` leave out is kept, marked skipped with the reason: the
//! scenario is right, the run just does not exercise that request.

use super::*;

/// The plan's steps, and the requests `--tags` / `--exclude-tags` left out (name, why).
type Requests<'a> = (&'a [Step], &'a [(String, String)]);

pub(super) fn resolve_gates(
    loaded: &Loaded,
    file: usize,
    g: &crate::scenario::RawGates,
    steps: Requests<'_>,
    load: &Load,
    overrides: &Overrides,
    monitor: Option<&crate::plan::monitor::MonitorPlan>,
) -> Result<Vec<Gate>> {
    use crate::plan::monitor::push_monitor_gates;
    let mut gates = Vec::new();
    let run = (Window::Run, &g.overall(), g.requests.as_ref());
    push_window(loaded, file, run, steps, &mut gates)?;
    push_monitor_gates(
        loaded,
        file,
        Window::Run,
        g.monitor.as_ref(),
        monitor,
        &mut gates,
    )?;
    if let Some(d) = &g.dropped_iterations {
        if !matches!(load, Load::Arrival(_)) {
            return Err(loaded
                .error(
                    file,
                    d.span(),
                    "`dropped_iterations` only applies to an arrival rate (`arrival_rate`, or stages with `rate`)",
                )
                .into());
        }
        let n = *d.get_ref();
        if n < 0 {
            return Err(loaded
                .error(
                    file,
                    d.span(),
                    format!("`dropped_iterations` is a count, at least 0, got {n}"),
                )
                .into());
        }
        gates.push(Gate {
            scope: None,
            window: Window::Run,
            metric: GateMetric::DroppedIterations,
            threshold: n as f64,
            skip: None,
        });
    }
    if let Some(w) = &g.steady {
        let set = w.get_ref();
        push_window(
            loaded,
            file,
            (Window::Steady, &set.overall(), set.requests.as_ref()),
            steps,
            &mut gates,
        )?;
        push_monitor_gates(
            loaded,
            file,
            Window::Steady,
            set.monitor.as_ref(),
            monitor,
            &mut gates,
        )?;
    }
    let stages = load.stage_durations();
    for (key, set) in g.stages.iter().flatten() {
        if overrides.rate.is_some() {
            return Err(loaded
                .error(
                    file,
                    key.span(),
                    format!(
                        "`gates.stages.{}`: --rate replaces the scenario's [load] with one constant arrival rate, \
                         which has no stages to judge",
                        key.get_ref()
                    ),
                )
                .with_help(
                    "run without --rate to judge the stages, or judge the whole run ([gates]) or its steady \
                     part ([gates.steady])",
                )
                .into());
        }
        let n = key.get_ref().trim().parse::<usize>().ok();
        let n = match n {
            Some(n) if (1..=stages.len()).contains(&n) => n,
            _ => {
                let have = if stages.is_empty() {
                    "the load has no stages".to_string()
                } else {
                    format!("the load has stages 1 to {}", stages.len())
                };
                return Err(loaded
                    .error(
                        file,
                        key.span(),
                        format!("`gates.stages.{}`: no such stage ({have})", key.get_ref()),
                    )
                    .with_help(if stages.is_empty() && overrides.rate.is_some() {
                        "run without --rate to judge the stages, or judge the whole run ([gates]) or its steady part \
                         ([gates.steady])"
                    } else {
                        "stages are numbered from 1 in the order of [load] stages"
                    })
                    .into());
            }
        };
        if stages[n - 1].is_zero() {
            return Err(loaded
                .error(
                    file,
                    key.span(),
                    format!("stage {n} lasts 0 s (a step): there is nothing to judge in it"),
                )
                .with_help("gate the stage after it instead")
                .into());
        }
        push_window(
            loaded,
            file,
            (Window::Stage(n), &set.overall(), set.requests.as_ref()),
            steps,
            &mut gates,
        )?;
        push_monitor_gates(
            loaded,
            file,
            Window::Stage(n),
            set.monitor.as_ref(),
            monitor,
            &mut gates,
        )?;
    }
    Ok(gates)
}

type RawRequestGates = std::collections::BTreeMap<Spanned<String>, crate::scenario::RawGateSet>;

/// The gates of one window: for all requests, then per request name.
pub(super) fn push_window(
    loaded: &Loaded,
    file: usize,
    (window, overall, requests): (Window, &RawGateSet, Option<&RawRequestGates>),
    (steps, excluded): Requests<'_>,
    gates: &mut Vec<Gate>,
) -> Result<()> {
    push_gate_set(loaded, file, (None, window), overall, gates)?;
    for (name, set) in requests.into_iter().flatten() {
        let skip = excluded
            .iter()
            .find(|(n, _)| n == name.get_ref())
            .map(|(_, why)| format!("request not run: {why}"));
        if skip.is_none() && !steps.iter().any(|s| s.name == *name.get_ref()) {
            let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
            return Err(loaded
                .error(
                    file,
                    name.span(),
                    format!("gate for unknown request name `{}`", name.get_ref()),
                )
                .suggest(name.get_ref(), names.iter().copied())
                .into());
        }
        let from = gates.len();
        push_gate_set(
            loaded,
            file,
            (Some(name.get_ref().clone()), window),
            set,
            gates,
        )?;
        for g in &mut gates[from..] {
            g.skip.clone_from(&skip);
        }
    }
    Ok(())
}

pub(super) fn push_gate_set(
    loaded: &Loaded,
    file: usize,
    (scope, window): (Option<String>, Window),
    set: &RawGateSet,
    out: &mut Vec<Gate>,
) -> Result<()> {
    if let Some(v) = &set.success_rate {
        let x = *v.get_ref();
        if !(0.0..=100.0).contains(&x) {
            return Err(loaded
                .error(
                    file,
                    v.span(),
                    format!("`success_rate` is a percentage from 0 to 100, got {x}"),
                )
                .into());
        }
        out.push(Gate {
            scope: scope.clone(),
            window,
            metric: GateMetric::SuccessRate,
            threshold: x,
            skip: None,
        });
    }
    for (p, v) in [
        (50u8, &set.p50_ms),
        (90, &set.p90_ms),
        (95, &set.p95_ms),
        (99, &set.p99_ms),
    ] {
        if let Some(v) = v {
            let x = *v.get_ref();
            if !(x > 0.0 && x.is_finite()) {
                return Err(loaded
                    .error(
                        file,
                        v.span(),
                        format!("`p{p}_ms` must be a positive number of milliseconds, got {x}"),
                    )
                    .into());
            }
            out.push(Gate {
                scope: scope.clone(),
                window,
                metric: GateMetric::Percentile(p),
                threshold: x,
                skip: None,
            });
        }
    }
    Ok(())
}

/// `[gates] fail_on_errors`, `abort_on_fail` and `abort_grace`, with `--no-fail-on-errors`.
pub(super) fn resolve_rules(
    loaded: &Loaded,
    overrides: &Overrides,
    gates: &[Gate],
) -> Result<GateRules> {
    let mut rules = GateRules::default();
    let Some(g) = &loaded.gates else {
        rules.fail_on_errors = !overrides.no_fail_on_errors;
        return Ok(rules);
    };
    let (file, raw) = (g.file, &g.value);
    if let Some(v) = &raw.fail_on_errors {
        rules.fail_on_errors = *v.get_ref();
    }
    if overrides.no_fail_on_errors {
        rules.fail_on_errors = false;
    }
    let abort = raw.abort_on_fail.as_ref().is_some_and(|v| *v.get_ref());
    match (&raw.abort_grace, abort) {
        (Some(v), false) => {
            return Err(loaded
                .error(
                    file,
                    v.span(),
                    "`abort_grace` has no effect without `abort_on_fail = true`",
                )
                .with_help("add `abort_on_fail = true` to [gates], or remove `abort_grace`")
                .into());
        }
        (Some(v), true) => {
            rules.abort_after = Some(duration_value(loaded, file, v, "abort_grace")?);
        }
        (None, true) => rules.abort_after = Some(Duration::ZERO),
        (None, false) => {}
    }
    if let Some(v) = raw.abort_on_fail.as_ref().filter(|_| abort)
        && !gates
            .iter()
            .any(|g| g.window == Window::Run && g.skip.is_none())
    {
        return Err(loaded
            .error(
                file,
                v.span(),
                format!(
                    "`abort_on_fail` watches the whole-run gates (directly under [gates] and \
                     [gates.requests.NAME]), and this run has none to judge{}",
                    if gates.iter().any(|g| g.window == Window::Run) {
                        " (the gates on requests left out by --tags / --exclude-tags are skipped)"
                    } else {
                        ""
                    }
                ),
            )
            .with_help(
                "add one, e.g. success_rate = 99 under [gates]; gates on the steady part or a stage are judged at \
                 the end only",
            )
            .into());
    }
    Ok(rules)
}
