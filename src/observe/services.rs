//! Services as the project's daemon reports them. No daemon: nothing runs.

use std::collections::BTreeMap;

use crate::client::Client;
use crate::model::live::LiveService;
use crate::model::wire::{Lifecycle, Request, Response};
use crate::paths::ProjectDirs;

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
