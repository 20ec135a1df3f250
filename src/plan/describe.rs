//! How a plan is shown: `loadgen check`'s account of it (templates, never values), and the host with any
//! password masked.

use std::fmt::Write as _;
use std::time::Duration;

use super::*;

impl RunPlan {
    /// The host as it may be shown: a password in the URL (`http://user:secret@host`) is masked, and so is a
    /// user name without a password (`https://TOKEN@host`), as in every message (see
    /// [`super::request_checks::mask_userinfo`]).
    pub fn host_display(&self) -> String {
        super::request_checks::mask_userinfo(&self.host)
            .trim_end_matches('/')
            .to_string()
    }

    /// The sum of the class weights.
    pub fn class_weight(&self) -> u64 {
        self.classes.iter().map(|c| u64::from(c.weight)).sum()
    }

    /// Whether the scenario defines user classes (rather than the one implicit `user`).
    pub fn has_classes(&self) -> bool {
        self.classes.len() > 1
            || self
                .classes
                .first()
                .is_some_and(|c| c.name != IMPLICIT_CLASS)
    }

    /// The stages' lines of [`RunPlan::describe`]: each stage's span and values, then the hold or the cut.
    fn describe_stages(&self, s: &mut String, stages: &[(Duration, String)], unit: &str) {
        let secs = |d: Duration| humantime::format_duration(d).to_string();
        let (mut from, mut at) = ("0".to_string(), Duration::ZERO);
        for (i, (d, v)) in stages.iter().enumerate() {
            let _ = writeln!(
                s,
                "  stage {}  {:>8} .. {:<8} {:>6} -> {} {unit}",
                i + 1,
                secs(at),
                secs(at + *d),
                from,
                v
            );
            from.clone_from(v);
            at += *d;
        }
        if self.duration > at {
            let _ = writeln!(
                s,
                "  then     {} {unit} until {}",
                from,
                secs(self.duration)
            );
        } else if self.duration < at {
            let _ = writeln!(
                s,
                "  (the run ends at {}, before the last stage ends)",
                secs(self.duration)
            );
        }
    }

    /// One class's lines of [`RunPlan::describe`]: its wait and its steps, each line after `indent`.
    fn describe_class(&self, s: &mut String, class: &UserClass, indent: &str) {
        let secs = |d: Duration| humantime::format_duration(d).to_string();
        let wait = match class.wait {
            Wait::None => "none".to_string(),
            Wait::Constant(d) => format!("constant {}", secs(d)),
            Wait::Between(a, b) => format!("between {} and {} (uniform)", secs(a), secs(b)),
            Wait::Pacing(d) => format!(
                "pacing: a task every {} per user ({:.3} tasks/s)",
                secs(d),
                1.0 / d.as_secs_f64().max(1e-9)
            ),
        };
        if matches!(self.load, Load::Arrival(_)) && class.wait != Wait::None {
            let _ = writeln!(
                s,
                "{indent}wait       {wait}: not used, the arrival rate decides when iterations start"
            );
        } else {
            let _ = writeln!(s, "{indent}wait       {wait}");
        }
        let total = class.total_weight().max(1) as f64;
        let line = |s: &mut String, i: usize, pad: &str| {
            let st = &self.steps[i];
            let _ = write!(
                s,
                "{indent}{pad}{:<24} {:<7} {}",
                st.name,
                st.method_label(),
                st.path.source()
            );
            if st.kind == StepKind::Task && st.flow.is_none() || st.kind == StepKind::Flow {
                let _ = write!(
                    s,
                    "  weight {} ({:.1}%)",
                    st.weight,
                    100.0 * f64::from(st.weight) / total
                );
            }
            if st.kind != StepKind::Flow {
                match &st.expect_status {
                    Some(c) => {
                        let c: Vec<String> = c.iter().map(u16::to_string).collect();
                        let _ = write!(s, "  expect {}", c.join("|"));
                    }
                    None => s.push_str("  expect 2xx"),
                }
            }
            for c in &st.checks {
                let _ = write!(s, "  {}", c.shown());
            }
            for c in &st.captures {
                let _ = write!(s, "  capture {}={}", c.name, c.source.label());
                if c.pick != super::Pick::First {
                    let _ = write!(s, " pick {}", c.pick.as_str());
                }
                if c.default.is_some() {
                    s.push_str(" (with a default)");
                }
            }
            if !st.tags.is_empty() {
                let _ = write!(s, "  tags {}", st.tags.join(","));
            }
            if st.restart_session {
                s.push_str("  restarts session");
            }
            if !st.restart_on.is_empty() {
                let c: Vec<String> = st.restart_on.iter().map(u16::to_string).collect();
                let _ = write!(s, "  restarts session on {}", c.join("|"));
            }
            // Issue 17, items 4 and 5: shown when not the default.
            if st.kind != StepKind::Flow {
                match st.follow_redirects {
                    super::values::DEFAULT_FOLLOW_REDIRECTS => {}
                    0 => s.push_str("  no redirects followed"),
                    n => {
                        let _ = write!(s, "  follows up to {n} redirects");
                    }
                }
                if st.compression {
                    s.push_str("  compressed (gzip, deflate, br)");
                }
            }
            if st.kind == StepKind::Flow {
                s.push_str("  (a flow: its steps in order, stopping at the first failure)");
            }
            s.push('\n');
        };
        for (title, list) in [("on_start", &class.on_start), ("on_stop", &class.on_stop)] {
            if title == "on_stop" {
                if !class.tasks.is_empty() {
                    let _ = writeln!(s, "{indent}tasks:");
                }
                for t in &class.tasks {
                    line(s, t.head, "  ");
                    if t.is_flow() {
                        for &i in &t.steps {
                            line(s, i, "    ");
                        }
                    }
                    self.describe_program(s, &t.program, &format!("{indent}    "));
                }
            }
            if list.is_empty() {
                continue;
            }
            let _ = writeln!(s, "{indent}{title}:");
            for &i in list.iter() {
                line(s, i, "  ");
            }
            let program = if title == "on_start" {
                &class.start_program
            } else {
                &class.stop_program
            };
            self.describe_program(s, program, &format!("{indent}  "));
        }
    }

    /// A program's control flow, when it is more than its requests in order (issue 18, item 3): one line per
    /// instruction, with where its jumps go.
    fn describe_program(&self, s: &mut String, program: &super::Program, indent: &str) {
        use super::Op;
        if program.is_sequence() {
            return;
        }
        let secs = |d: Duration| humantime::format_duration(d).to_string();
        let _ = writeln!(s, "{indent}control flow:");
        for (at, op) in program.ops.iter().enumerate() {
            let what = match op {
                Op::Request(i) => format!("request {}", self.steps[*i].name),
                Op::Think(Wait::Constant(d)) => format!("think {}", secs(*d)),
                Op::Think(Wait::Between(a, b)) => {
                    format!("think between {} and {}", secs(*a), secs(*b))
                }
                Op::Think(_) => "think".to_string(),
                Op::Unless { cond, to } => format!("if {} (else go to {to})", cond.source),
                Op::StopIf(cond) => format!("stop the flow if {}", cond.source),
                Op::Repeat { times, end, .. } => format!("repeat {times} times (then go to {end})"),
                Op::ForEach { list, end, .. } => format!(
                    "for each item of {} (then go to {end})",
                    self.captures.get(*list).map_or("?", String::as_str)
                ),
                Op::Next { body, .. } => format!("next iteration (back to {body})"),
                Op::Choose { branches } => {
                    let mut prev = 0;
                    let list: Vec<String> = branches
                        .iter()
                        .map(|&(cum, to)| {
                            let w = cum - prev;
                            prev = cum;
                            format!("{to} (weight {w})")
                        })
                        .collect();
                    format!("choose one of: {}", list.join(", "))
                }
                Op::Jump(to) => format!("go to {to}"),
            };
            let _ = writeln!(s, "{indent}  {at:>3}  {what}");
        }
    }

    /// A human-readable account of the plan, as `loadgen check` prints it. Shows templates, never values.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let secs = |d: Duration| humantime::format_duration(d).to_string();
        let _ = writeln!(s, "scenario   {} ({})", self.name, self.file.display());
        if let Some(seg) = self.segment {
            let first: Vec<String> = self.first_users(3).iter().map(u64::to_string).collect();
            let _ = writeln!(
                s,
                "segment    {seg}: users {}, … of the whole plan; the figures below are this segment's",
                first.join(", ")
            );
        }
        let _ = writeln!(
            s,
            "target     {} (request timeout {}, bodies kept for captures up to {})",
            self.host_display(),
            secs(self.timeout),
            fmt_size(self.max_body)
        );
        if self.tls.insecure {
            let _ = writeln!(
                s,
                "tls        insecure: any server certificate is accepted (the server is not authenticated)"
            );
        } else if let Some(ca) = &self.tls.ca {
            let _ = writeln!(
                s,
                "tls        built-in roots and {} certificate(s) from {}",
                ca.certs.len(),
                ca.path.display()
            );
        }
        if !self.dns.is_default() {
            let ttl = match self.dns.ttl {
                Some(t) => format!("looked up again every {}", secs(t)),
                None => "looked up once".to_string(),
            };
            let fixed: Vec<String> = self
                .dns
                .resolve
                .iter()
                .map(|(h, a)| {
                    let a: Vec<String> = a.iter().map(|a| a.to_string()).collect();
                    format!("{h} → {}", a.join(", "))
                })
                .collect();
            let fixed = if fixed.is_empty() {
                String::new()
            } else {
                format!("; fixed: {}", fixed.join("; "))
            };
            let _ = writeln!(s, "dns        names {ttl}{fixed}");
        }
        if self.proxy.any() {
            let via = |p: &Option<crate::plan::ProxyServer>| {
                p.as_ref().map_or("direct".to_string(), |p| p.shown.clone())
            };
            let _ = writeln!(
                s,
                "proxy      http via {}, https via {} (from {}){}",
                via(&self.proxy.http),
                via(&self.proxy.https),
                self.proxy.source,
                if self.proxy.bypass.is_empty() {
                    String::new()
                } else {
                    format!("; {} no_proxy rule(s)", self.proxy.bypass.len())
                }
            );
        }
        if let Some(client) = &self.tls.client {
            let _ = writeln!(
                s,
                "tls        client certificate from {}",
                client.cert_path.display()
            );
        }
        match &self.load {
            Load::Ramp { spawn_rate } => {
                let _ = writeln!(
                    s,
                    "load       {} users, spawned at {}/s (all running after {:.1}s), for {}; stop timeout {}",
                    self.users,
                    fmt_rate(*spawn_rate),
                    self.ramp_up().as_secs_f64(),
                    secs(self.duration),
                    secs(self.stop_timeout)
                );
            }
            Load::Stages(stages) => {
                let _ = writeln!(
                    s,
                    "load       {} stages, up to {} users, for {}; stop timeout {}",
                    stages.len(),
                    self.users,
                    secs(self.duration),
                    secs(self.stop_timeout)
                );
                let list: Vec<(Duration, String)> = stages
                    .iter()
                    .map(|st| {
                        let users = match st.spawn_rate {
                            Some(r) => format!("{} at {}/s", st.users, fmt_rate(r)),
                            None => st.users.to_string(),
                        };
                        (st.duration, users)
                    })
                    .collect();
                self.describe_stages(&mut s, &list, "users");
            }
            Load::Arrival(a) => {
                let _ = writeln!(
                    s,
                    "load       arrival rate (open model): iterations started on schedule whatever the response \
                     times, at most {} users at once, for {}; stop timeout {}",
                    self.users,
                    secs(self.duration),
                    secs(self.stop_timeout)
                );
                let list: Vec<(Duration, String)> = a
                    .stages
                    .iter()
                    .map(|st| (st.duration, fmt_rate(st.rate)))
                    .collect();
                self.describe_stages(&mut s, &list, "iterations/s");
                let iterations = (self.iteration_share(a.due_by(self.duration).floor() as u64)
                    as f64)
                    .min(self.max_iterations.map_or(f64::INFINITY, |n| n as f64));
                let _ = writeln!(s, "  {iterations} iterations in all");
                let peak = a.peak_rate();
                let _ = write!(s, "  users needed at {} iterations/s:", fmt_rate(peak));
                for ms in [10u64, 100, 500, 1000] {
                    let need = (peak * ms as f64 / 1000.0).ceil() as u64;
                    let _ = write!(s, "  {need} at {ms} ms per iteration");
                }
                s.push('\n');
                let _ = writeln!(
                    s,
                    "  with {} users, iterations taking over {:.0} ms at the peak rate queue for a free user \
                     (up to {}, then dropped); their latency counts from when they were due",
                    self.users,
                    self.users as f64 / peak.max(1e-9) * 1000.0,
                    secs(a.queue_timeout)
                );
            }
        }
        // Issue 21 item 3.
        if let Some(search) = &self.search {
            let levels: Vec<String> = search.steps.iter().map(|st| fmt_rate(st.level)).collect();
            let _ = writeln!(
                s,
                "search     find the limit: {} {} in turn, each held {} and judged by the gates on its held \
                 part; the run stops at the first step that fails",
                levels.join(", "),
                search.unit(),
                secs(search.hold)
            );
        }
        if let Some(p) = &self.preflight {
            let _ = writeln!(
                s,
                "preflight  before any load, retried every {} for up to {} (then exit 4, no load):",
                secs(p.interval),
                secs(p.timeout)
            );
            for st in &p.checks {
                let expect = match &st.expect_status {
                    Some(c) => c.iter().map(u16::to_string).collect::<Vec<_>>().join("|"),
                    None => "2xx".into(),
                };
                let _ = write!(
                    s,
                    "  {:<24} {:<7} {}  expect {expect}",
                    st.name,
                    st.method.as_str(),
                    st.path.source()
                );
                for c in &st.checks {
                    let _ = write!(s, "  {}", c.shown());
                }
                s.push('\n');
            }
        }
        // Issue 21 item 4: the target's metrics scraped beside the load.
        if let Some(m) = &self.monitor {
            let _ = writeln!(
                s,
                "monitor    every {} (timeout {}), a warning when an endpoint does not answer:",
                secs(m.interval),
                secs(m.timeout)
            );
            for e in &m.endpoints {
                let at = match &e.at {
                    super::monitor::EndpointAt::Url(u) => u.clone(),
                    super::monitor::EndpointAt::Path(p) => format!("{p} on the target's host"),
                };
                let _ = writeln!(s, "  {:<24} {at}", e.name);
                for q in &e.series {
                    let _ = writeln!(s, "    {:<30} {}", q.key, q.text);
                }
            }
        }
        let _ = writeln!(
            s,
            "validity   invalid (exit 3) if loadgen's scheduler lags over {} in more than {:.0}% of the seconds, \
             or {} {}% short",
            secs(self.validity.max_lag),
            Validity::LATE_SHARE * 100.0,
            if matches!(self.load, Load::Arrival(_)) {
                "the iterations started are more than"
            } else {
                "the users running are more than"
            },
            fmt_rate(self.validity.max_shortfall * 100.0)
        );
        let ramp_up = self.ramp_up();
        if !ramp_up.is_zero() {
            let _ = writeln!(
                s,
                "steady     from {} (gates with during = \"steady\" look at this part)",
                secs(ramp_up)
            );
        }
        let _ = writeln!(
            s,
            "connections {}",
            match self.connections {
                Connections::PerUser => "per_user (each user its own keep-alive connection)",
                Connections::Shared =>
                    "shared (each worker's users share a pool of keep-alive connections)",
            }
        );
        if let Some(d) = &self.data {
            let _ = writeln!(
                s,
                "data       {}: {} rows, columns {}; assign {} (each user takes a row when it starts)",
                d.set.path().display(),
                d.set.len(),
                d.set.columns().join(", "),
                d.assign.as_str()
            );
        }
        if let Some(n) = self.max_iterations {
            let _ = writeln!(
                s,
                "iterations {n} in all, then the run stops (or at {} if that comes first)",
                secs(self.duration)
            );
        }
        let classes = self.class_weight().max(1) as f64;
        for class in &self.classes {
            let indent = if self.has_classes() {
                let _ = writeln!(
                    s,
                    "class {}  weight {} ({:.1}% of the {})",
                    class.name,
                    class.weight,
                    100.0 * f64::from(class.weight) / classes,
                    if matches!(self.load, Load::Arrival(_)) {
                        "iterations"
                    } else {
                        "users"
                    }
                );
                "  "
            } else {
                ""
            };
            self.describe_class(&mut s, class, indent);
        }
        if self.gates.is_empty() {
            let _ = writeln!(s, "gates      none");
        } else {
            let _ = writeln!(s, "gates:");
            for g in &self.gates {
                let op = g.metric.op();
                let scope = g.scope.as_deref().unwrap_or("all requests");
                let scope = match g.window.label() {
                    Some(w) => {
                        let (a, b) = self.span(g.window);
                        format!("{scope} ({w}: {}..{})", secs(a), secs(b))
                    }
                    None => scope.to_string(),
                };
                let empty = g.window != Window::Run && {
                    let (a, b) = self.span(g.window);
                    a >= b
                };
                let note = match &g.skip {
                    Some(why) => format!("  (skipped: {why})"),
                    None if empty => {
                        "  (empty: the run ends before this part starts, so the gate fails)".into()
                    }
                    None => String::new(),
                };
                let _ = writeln!(
                    s,
                    "  {:<24} {} {} {}{note}",
                    scope,
                    g.metric.key(),
                    op,
                    g.threshold,
                );
            }
        }
        let judged = self.gates.iter().any(|g| g.skip.is_none());
        if !judged {
            let _ = writeln!(
                s,
                "verdict    {}",
                if self.rules.fail_on_errors {
                    "no gate to judge: any failed request fails the run (exit 1); --no-fail-on-errors or \
                     [gates] fail_on_errors = false turns this off"
                } else {
                    "no gate to judge, and failed requests do not fail the run (fail_on_errors off)"
                }
            );
        }
        if let Some(grace) = self.rules.abort_after {
            let _ = writeln!(
                s,
                "abort      the first whole-run gate to fail ends the run (exit 1), judged every second from {}",
                secs(grace)
            );
        }
        s
    }
}
