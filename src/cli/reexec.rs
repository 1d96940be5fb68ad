//! Telling a running daemon to re-execute itself as a new binary, keeping
//! its services (`facerunner daemon --reexec`, and `update` after it has
//! replaced the binary). The daemon's side is `supervisor/reexec.rs`.

use std::path::Path;
use std::time::{Duration, Instant};

use miette::miette;

use crate::client::SupervisorError;
use crate::model::wire::{Request, Response};
use crate::paths::ProjectDirs;
use crate::supervisor::reexec::{failed_path, handover_path};

/// How long the new image may take to take the services over and answer.
const ADOPT_TIMEOUT: Duration = Duration::from_secs(30);

/// Ask the project's daemon to become `exe`; `None` when no daemon runs.
/// Returns what to tell the user once the new image answers.
pub fn reexec(
    rt: &tokio::runtime::Runtime,
    dirs: &ProjectDirs,
    exe: &Path,
) -> miette::Result<Option<String>> {
    rt.block_on(async {
        let Some(client) = super::daemon::connect(dirs).await? else {
            return Ok(None);
        };
        let pid = client.daemon_pid();
        let request = Request::Reexec {
            exe: exe.to_path_buf(),
        };
        let services = match client.request(&request, |_| {}).await {
            Ok(Response::Reexecuting { services }) => services,
            Ok(other) => {
                return Err(miette!(
                    "the daemon (pid {pid}) answered {other:?} to a re-exec"
                ));
            }
            Err(SupervisorError::Remote(e)) => {
                return Err(miette!(
                    help = "the daemon keeps running as it was, and so do its services",
                    "the daemon (pid {pid}) did not re-execute: {}",
                    e.message
                ));
            }
            Err(e) => return Err(super::daemon::report(e)),
        };
        // The new image deletes the handover once it has read it; a failed
        // execve leaves the reason instead.
        let (handover, failed) = (handover_path(dirs), failed_path(dirs));
        let deadline = Instant::now() + ADOPT_TIMEOUT;
        while handover.exists() && !failed.exists() {
            if Instant::now() >= deadline {
                return Err(miette!(
                    help = format!("its log is {}", dirs.daemon_log().display()),
                    "the daemon (pid {pid}) did not take its services over within {}s",
                    ADOPT_TIMEOUT.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if failed.exists() {
            let why = crate::safefs::read_private_bounded(&failed, 64 * 1024)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_else(|e| e.to_string());
            let _ = std::fs::remove_file(&failed);
            return Err(miette!(
                help = "the daemon keeps running as it was, and so do its services",
                "the daemon (pid {pid}) did not re-execute: {why}"
            ));
        }
        let answered = loop {
            if let Some(c) = super::daemon::connect(dirs).await? {
                break c;
            }
            if Instant::now() >= deadline {
                return Err(miette!(
                    help = format!("its log is {}", dirs.daemon_log().display()),
                    "the re-executed daemon of project {} does not answer",
                    dirs.project
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let kept = match services.len() {
            0 => "no service was running".to_string(),
            1 => format!("service {} kept running", services.join("")),
            _ => format!("services {} kept running", services.join(", ")),
        };
        Ok(Some(format!(
            "the daemon of project {} (pid {}) now runs facerunner {} ({kept})",
            dirs.project,
            answered.daemon_pid(),
            answered.daemon_version()
        )))
    })
}
