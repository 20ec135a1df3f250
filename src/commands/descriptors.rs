//! How many open files a run needs, said before it starts (issue 20 item 8): `run` raises its soft limit to
//! the hard one and warns, with the count and how to raise it, when the plan will not fit.
//!
//! Every connection is a descriptor; what holds the connections decides the count:
//! - `connections = "per_user"` (HTTP/1.1): one per user.
//! - `http = "2"`: each worker thread multiplexes its users over `http2_connections` connections.
//! - `connections = "shared"`: each worker's users share a pool with as many connections as requests in
//!   flight at once. It has no fixed size, so it is counted only where the plan bounds it: users of a class
//!   with no wait between tasks always have a request in flight (one connection each); users that wait hold
//!   one only while a request is out, which depends on the target's response times (10,000 users with a 1 s
//!   wait need a few dozen), so they are not counted up front. An open model (arrival rate) is not either.
//!
//! `--demo`'s API runs in a process of its own (`demo_child`), so its ends of the connections are not counted.

use crate::plan::{Connections, HttpVersion, Load, RunPlan, Wait};

/// Descriptors beyond the connections: results and live files, the metrics and UI servers, the runtime's.
const MARGIN: u64 = 64;

/// What a plan needs, when it can be told before the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Need {
    /// Open files, margin included.
    pub files: u64,
    /// Where the connections come from, as the warning says it.
    pub why: String,
}

/// The open files `plan` needs with `workers` worker threads; `None` when it depends on the target's
/// response times (shared connections for users that wait).
pub(super) fn estimate(plan: &RunPlan, workers: u64) -> Option<Need> {
    if plan.protocol.http == HttpVersion::Http2 {
        let per = u64::from(plan.protocol.http2_connections);
        return Some(Need {
            files: workers.saturating_mul(per).saturating_add(MARGIN),
            why: format!(
                "HTTP/2: {per} connection{} per worker thread, {workers} worker threads",
                plural(per)
            ),
        });
    }
    match plan.connections {
        Connections::PerUser => Some(Need {
            files: plan.users.saturating_add(MARGIN),
            why: "one connection per user".into(),
        }),
        Connections::Shared => {
            if matches!(plan.load, Load::Arrival(_)) {
                return None;
            }
            let total: u64 = plan.classes.iter().map(|c| u64::from(c.weight)).sum();
            let busy: u64 = plan
                .classes
                .iter()
                .filter(|c| never_waits(&c.wait))
                .map(|c| u64::from(c.weight))
                .sum();
            if busy == 0 || total == 0 {
                return None;
            }
            // The users of the classes that never wait, at most all of them.
            let users = (u128::from(plan.users) * u128::from(busy)).div_ceil(u128::from(total));
            let users = u64::try_from(users).unwrap_or(u64::MAX).min(plan.users);
            Some(Need {
                files: users.saturating_add(MARGIN),
                why: format!(
                    "shared connections, but {users} user{} with no wait between tasks keep a request in flight",
                    plural(users)
                ),
            })
        }
    }
}

/// A wait that can leave no pause between a user's tasks, on average (a pacing waits what is left of it).
fn never_waits(wait: &Wait) -> bool {
    match *wait {
        Wait::None => true,
        Wait::Constant(d) | Wait::Pacing(d) => d.is_zero(),
        Wait::Between(lo, hi) => lo.is_zero() && hi.is_zero(),
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Raises the open-files soft limit to the hard limit (and the hard limit too, with the privilege), and warns up
/// front when the plan will not fit.
pub(super) fn check(plan: &RunPlan) {
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!("cannot read or raise the open-files limit: {e}");
            return;
        }
    };
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let Some(need) = estimate(plan, workers) else {
        tracing::info!(
            "connections = \"shared\": one connection per request in flight, at most {} (the users); the \
             open-files limit {limit} allows about {} at once",
            plan.users,
            limit.saturating_sub(MARGIN)
        );
        return;
    };
    let mut limit = limit;
    if need.files > limit {
        // With the privilege (root, CAP_SYS_RESOURCE) the hard limit can go up to the kernel's fs.nr_open.
        let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(0);
        let want = need.files.next_power_of_two().min(nr_open);
        if want > limit && rlimit::Resource::NOFILE.set(want, want).is_ok() {
            tracing::info!("raised the open-files limit from {limit} to {want}");
            limit = want;
        }
    }
    if need.files > limit {
        eprintln!(
            "warning: {} users need about {} open files, but the limit is {limit} ({}); connections past it \
             will fail with \"too many open files\". Raise it first, e.g. `ulimit -n {}` (or LimitNOFILE= in a \
             systemd unit){}",
            plan.users,
            need.files,
            need.why,
            need.files.next_power_of_two(),
            if plan.connections == Connections::PerUser && plan.protocol.http != HttpVersion::Http2
            {
                ", or use `connections = \"shared\"` in [load]"
            } else {
                ""
            }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan;

    fn plan(load: &str, target: &str) -> RunPlan {
        let text = format!(
            "name = \"t\"\n[target]\nhost = \"http://127.0.0.1:1\"\n{target}\n[load]\nusers = 5000\n\
             spawn_rate = 100\nduration = \"5s\"\n{load}\n[[task]]\nname = \"a\"\npath = \"/\"\n"
        );
        let loaded =
            crate::scenario::load_str(std::path::Path::new("t.toml"), text).expect("scenario");
        plan::resolve(&loaded, &plan::Overrides::default()).expect("plan")
    }

    #[test]
    fn per_user_connections_need_one_file_per_user() {
        let need = estimate(&plan("", ""), 8).expect("a count");
        assert_eq!(need.files, 5000 + MARGIN);
        assert_eq!(need.why, "one connection per user");
    }

    #[test]
    fn shared_connections_with_a_wait_are_not_counted_up_front() {
        let p = plan("connections = \"shared\"\n[user]\nwait = \"1s\"", "");
        assert_eq!(estimate(&p, 8), None);
        let p = plan(
            "connections = \"shared\"\n[user]\nwait = { between = [\"100ms\", \"500ms\"] }",
            "",
        );
        assert_eq!(estimate(&p, 8), None);
    }

    #[test]
    fn shared_connections_without_a_wait_keep_one_per_user_in_flight() {
        let need = estimate(&plan("connections = \"shared\"", ""), 8).expect("a count");
        assert_eq!(need.files, 5000 + MARGIN);
        assert!(need.why.contains("no wait"), "{}", need.why);
    }

    #[test]
    fn http2_needs_its_connections_per_worker() {
        let need = estimate(&plan("", "http = \"2\"\nhttp2_connections = 4"), 8).expect("a count");
        assert_eq!(need.files, 8 * 4 + MARGIN);
        let need = estimate(&plan("", "http = \"2\""), 3).expect("a count");
        assert_eq!(need.files, 3 + MARGIN);
        // Whoever owns the connections, HTTP/2 multiplexes them.
        let p = plan("connections = \"shared\"", "http = \"2\"");
        assert_eq!(estimate(&p, 2).expect("a count").files, 2 + MARGIN);
    }
}
