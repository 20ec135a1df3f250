//! Resolution of `[data]`: the test-data file loaded once, its assignment mode, and the check that `unique`
//! has a row for every user the load plan will ever start.

use std::sync::Arc;

use super::*;
use crate::data::{Assign, DataError, DataSet};
use crate::error::Error;
use crate::scenario::Loaded;

/// The data file of a plan and how its rows go to users.
#[derive(Debug, Clone)]
pub struct DataPlan {
    pub set: Arc<DataSet>,
    pub assign: Assign,
}

/// How many users `load` starts over the whole run at most: each ramp-up starts new users (a ramp-down stops
/// users for good), and an arrival rate starts up to its `max_users`.
pub fn users_started(load: &Load, users: u64) -> u64 {
    match load {
        Load::Ramp { .. } | Load::Arrival(_) => users,
        Load::Stages(stages) => {
            let mut from = 0u64;
            let mut started = 0u64;
            for s in stages {
                started += s.users.saturating_sub(from);
                from = s.users;
            }
            started
        }
    }
}

pub(super) fn resolve_data(
    loaded: &Loaded,
    load: &Load,
    users: u64,
    overrides: &Overrides,
) -> Result<Option<DataPlan>, Error> {
    let Some(at) = &loaded.data else {
        return Ok(None);
    };
    let raw = &at.value;
    let base = loaded.files[at.file]
        .path
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let path = base.join(raw.file.get_ref());
    let set = DataSet::load(&path).map_err(|e| -> Error {
        match e {
            // Where the file was named is the useful location for a file that is not there.
            DataError::Read { .. } => loaded.error(at.file, raw.file.span(), e.to_string()).into(),
            other => Error::Data(other),
        }
    })?;
    let assign = match &raw.assign {
        None => Assign::Unique,
        Some(a) => Assign::parse(a.get_ref()).ok_or_else(|| -> Error {
            loaded
                .error(
                    at.file,
                    a.span(),
                    format!(
                        "unknown `assign` mode `{}`; expected {}",
                        a.get_ref(),
                        Assign::NAMES
                            .iter()
                            .map(|n| format!("\"{n}\""))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
                .suggest(a.get_ref(), Assign::NAMES.iter().copied())
                .into()
        })?,
    };
    let needed = users_started(load, users);
    if assign == Assign::Unique && needed > set.len() as u64 {
        let span = raw.assign.as_ref().map_or(raw.file.span(), |a| a.span());
        // The users may come from the command line rather than the file: say so.
        let origin = match (overrides.users, overrides.rate) {
            (Some(u), _) => format!(" (--users {u})"),
            (None, Some(r)) => format!(
                " (--rate {} replaces the scenario's load, and without --users starts up to one user per \
                 iteration per second)",
                fmt_rate(r)
            ),
            (None, None) => String::new(),
        };
        return Err(loaded
            .error(
                at.file,
                span,
                format!(
                    "`{}` has {} rows, but the load starts up to {needed} users{origin} and `assign = \"unique\"` \
                     gives each its own row",
                    raw.file.get_ref(),
                    set.len()
                ),
            )
            .with_help(
                "add rows, start fewer users, or use assign = \"round_robin\" (or \"random\") to share rows",
            )
            .into());
    }
    Ok(Some(DataPlan {
        set: Arc::new(set),
        assign,
    }))
}
