//! Services as the project's daemon reports them. No daemon: nothing runs.
//!
//! "No daemon" (no socket, or nobody listening on it: a crashed daemon's
//! leftover) is normal and means nothing runs. A daemon that is there but
//! cannot be used (another protocol version, a failed handshake, no
//! answer, a broken status) is not: what it runs is unknown, so the reason
//! is recorded for the plan to report as an error, instead of planning as
//! if nothing ran and proposing to start everything a second time.

use std::collections::BTreeMap;

use crate::client::Client;
use crate::model::live::DaemonProblem;
use crate::model::live::LiveService;
use crate::model::spec::DaemonSettings;
use crate::model::wire::{Lifecycle, Request, Response, StatusReport};
use crate::paths::ProjectDirs;

/// What the daemon said.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Whether a daemon answered.
    pub daemon: bool,
    /// Why the daemon on the socket cannot be used, when it cannot.
    pub unusable: Option<DaemonProblem>,
    /// Its settings in force (defaults when none runs).
    pub settings: DaemonSettings,
    /// Every service it knows.
    pub services: BTreeMap<String, LiveService>,
}

/// What to do about a daemon that answers but cannot be used.
const STOP_IT: &str = "stop that daemon with the facerunner that started it (`facerunner down`), or end its process; then plan again";

/// Ask the daemon for every service's status.
pub async fn observe(dirs: &ProjectDirs) -> Observed {
    let socket = dirs.socket();
    let problem = |why: String, help: Option<&str>| Observed {
        unusable: Some(DaemonProblem {
            reason: format!("the daemon on {} cannot be used: {why}", socket.display()),
            help: help.unwrap_or(STOP_IT).to_string(),
        }),
        ..Observed::default()
    };
    let unusable = |why: String| problem(why, None);
    let client = match Client::connect(&socket).await {
        Ok(Some(c)) => c,
        Ok(None) => return Observed::default(),
        Err(e) => return problem(chain(&e), e.help()),
    };
    let report = match client.request(&Request::Status, |_| {}).await {
        Ok(Response::Status(r)) => r,
        Ok(other) => {
            return unusable(format!(
                "it answered the status request with {}",
                response_kind(&other)
            ));
        }
        Err(e) => return unusable(format!("its status failed: {}", chain(&e))),
    };
    let settings = settings(&report);
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
    Observed {
        daemon: true,
        unusable: None,
        settings,
        services,
    }
}

/// The daemon's settings in force; an older daemon does not report them,
/// so whether it watches is read from its watch status (its debounce is
/// then unknown: the default is assumed).
fn settings(report: &StatusReport) -> DaemonSettings {
    report.settings.unwrap_or_else(|| DaemonSettings {
        watch: report.watch.as_ref().is_some_and(|w| w.failed.is_none()),
        ..DaemonSettings::default()
    })
}

use crate::style::with_causes as chain;

/// A response's kind, for a message (not its whole content).
fn response_kind(r: &Response) -> String {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v["response"].as_str().map(|k| format!("`{k}`")))
        .unwrap_or_else(|| "an unexpected answer".into())
}
