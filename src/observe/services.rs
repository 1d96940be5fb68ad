//! Services as the project's daemon reports them. No daemon: nothing runs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::paths::ProjectDirs;
use crate::supervisor::client::Client;
use crate::supervisor::messages::{Lifecycle, Request, Response};

/// One service's live state, as far as planning cares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LiveService {
    /// Not running (stopped, exited, never started, or no daemon).
    NotRunning,
    /// Running (or starting / restarting) under the daemon with this spec.
    Running {
        /// Hash of the spec it runs with.
        spec_hash: String,
    },
    /// The daemon gave up on it (spawn failure, too many restarts).
    Failed {
        /// Why.
        reason: String,
    },
}

impl LiveService {
    /// Whether a process is (or is about to be) running.
    pub fn is_running(&self) -> bool {
        matches!(self, LiveService::Running { .. })
    }
}

/// Ask the daemon for every service's status; `(false, {})` without one.
pub async fn observe(dirs: &ProjectDirs) -> (bool, BTreeMap<String, LiveService>) {
    let client = match Client::connect(&dirs.socket()).await {
        Ok(Some(c)) => c,
        Ok(None) => return (false, BTreeMap::new()),
        Err(e) => {
            tracing::warn!("cannot reach the daemon, planning as if nothing runs: {e}");
            return (false, BTreeMap::new());
        }
    };
    let report = match client.request(&Request::Status, |_| {}).await {
        Ok(Response::Status(r)) => r,
        Ok(_) | Err(_) => return (true, BTreeMap::new()),
    };
    let services = report
        .services
        .into_iter()
        .map(|s| {
            let live = match s.state {
                Lifecycle::Starting { .. }
                | Lifecycle::Running { .. }
                | Lifecycle::Backoff { .. } => LiveService::Running {
                    spec_hash: s.spec_hash,
                },
                Lifecycle::Failed { reason, .. } => LiveService::Failed { reason },
                Lifecycle::Stopped | Lifecycle::Stopping { .. } | Lifecycle::Exited { .. } => {
                    LiveService::NotRunning
                }
            };
            (s.name, live)
        })
        .collect();
    (true, services)
}
