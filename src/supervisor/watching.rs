//! `settings.watch: true`: the daemon watches the project file itself.
//!
//! After each `up`, the daemon takes the spec's settings (`settings.watch`,
//! `settings.watch_debounce`), which `status` reports as the ones in force
//! so that `plan` shows a change of them and `apply` makes it (an `Up` with
//! the new spec). When watch is on, a task runs the same loop as `facerunner watch`
//! ([`crate::watch::run`]), bringing services up in process
//! ([`super::driver::InProcess`]); the apply lock and the executor are
//! shared with the CLI.
//! Results go to the daemon log, and the last one to `status`. Turning the
//! setting off (and `apply` or `up` again) stops the task; so does the
//! daemon's shutdown.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tokio_util::sync::CancellationToken;

use crate::config::{Diagnostic, SourceFile};
use crate::execute::ServiceDriver;
use crate::execute::{Applied, ExecEvent, Outcome, Sink};
use crate::model::spec::DaemonSettings;
use crate::model::wire::{WatchResult, WatchStatus};
use crate::paths::ProjectDirs;
use crate::supervisor::daemon::Daemon;
use crate::supervisor::driver::InProcess;
use crate::watch::run::{Reporter, WatchEvent, run};

/// The daemon's watch task, if any, and what it last did.
#[derive(Default)]
pub struct WatchSlot {
    running: Option<(PathBuf, CancellationToken)>,
    status: Option<WatchStatus>,
    /// The settings the last `up` installed.
    installed: DaemonSettings,
}

impl WatchSlot {
    /// For `status`.
    pub fn status(&self) -> Option<WatchStatus> {
        self.status.clone()
    }

    /// The settings in force: watching is whether a watch task runs now
    /// (not after it failed), the debounce the one last installed.
    pub fn settings(&self) -> DaemonSettings {
        DaemonSettings {
            watch: self.running.is_some(),
            ..self.installed
        }
    }
}

/// Start or stop watching `config` according to `settings.watch` (from
/// the spec an `up` installed), and remember `settings` as in force.
pub fn reconcile(daemon: &Arc<Daemon>, config: &Path, settings: DaemonSettings) {
    let mut slot = daemon.watch.lock().unwrap_or_else(|p| p.into_inner());
    slot.installed = settings;
    match (settings.watch, &slot.running) {
        (true, Some((path, _))) if path == config => {}
        (true, _) => {
            if let Some((_, token)) = slot.running.take() {
                token.cancel();
            }
            let token = daemon.shutdown.child_token();
            slot.running = Some((config.to_path_buf(), token.clone()));
            slot.status = Some(WatchStatus {
                file: config.to_path_buf(),
                last: None,
                failed: None,
            });
            let d = Arc::clone(daemon);
            let path = config.to_path_buf();
            tracing::info!(file = %path.display(), "watching the project file");
            tokio::spawn(async move {
                let inner = Arc::clone(&d);
                let cancelled = token.clone();
                let failure = guarded(async move {
                    let reporter = DaemonReporter {
                        daemon: Arc::clone(&inner),
                        failed_steps: Mutex::new(Vec::new()),
                    };
                    let driver = InProcess(Arc::clone(&inner));
                    let driver_for = move |_: &ProjectDirs| -> Arc<dyn ServiceDriver> {
                        Arc::new(driver.clone())
                    };
                    run(
                        &path,
                        &driver_for,
                        &reporter,
                        &reporter,
                        cancelled.cancelled_owned(),
                    )
                    .await
                })
                .await;
                if let Some(why) = failure {
                    tracing::error!("watching stopped: {why}");
                    let mut slot = d.watch.lock().unwrap_or_else(|p| p.into_inner());
                    // A cancelled token means another watcher replaced this
                    // one (under this lock): leave that one's record alone.
                    if !token.is_cancelled() {
                        slot.running = None;
                        if let Some(s) = slot.status.as_mut() {
                            s.failed = Some(why);
                        }
                    }
                }
            });
        }
        (false, _) => {
            if let Some((path, token)) = slot.running.take() {
                tracing::info!(file = %path.display(), "no longer watching the project file");
                token.cancel();
            }
            slot.status = None;
        }
    }
}

/// Run the watch loop as a task of its own; the reason it stopped when
/// that was an error or a panic (so `status` can say `watch: failed`
/// instead of `on` while nothing watches any more).
pub async fn guarded<F>(watch: F) -> Option<String>
where
    F: Future<Output = std::io::Result<()>> + Send + 'static,
{
    match tokio::spawn(watch).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(format!("watching stopped: {e}")),
        Err(e) if e.is_panic() => {
            let payload = e.into_panic();
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            Some(format!("the watch loop crashed: {what}"))
        }
        Err(e) => Some(format!("the watch loop was stopped: {e}")),
    }
}

struct DaemonReporter {
    daemon: Arc<Daemon>,
    failed_steps: Mutex<Vec<String>>,
}

impl DaemonReporter {
    fn record(&self, ok: bool, summary: String) {
        if ok {
            tracing::info!("automatic apply: {summary}");
        } else {
            tracing::warn!("automatic apply: {summary}");
        }
        // The gateways learn the new placement now, not at their next poll.
        let daemon = Arc::clone(&self.daemon);
        tokio::spawn(async move { crate::supervisor::gateways::refresh_running(&daemon).await });
        let mut slot = self.daemon.watch.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = slot.status.as_mut() {
            s.last = Some(WatchResult {
                at: SystemTime::now(),
                ok,
                summary,
            });
        }
    }
}

impl Reporter for DaemonReporter {
    fn report(&self, event: WatchEvent<'_>) {
        match event {
            WatchEvent::Watching(_) => {}
            WatchEvent::Changed(files) => {
                let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
                tracing::info!("changed: {}", names.join(", "));
            }
            WatchEvent::Invalid {
                file, diagnostics, ..
            } => {
                log_diagnostics(file, diagnostics);
                let n = diagnostics.iter().filter(|d| d.is_error()).count();
                self.record(false, format!("{} is invalid ({n} error(s)); nothing was changed, the last good file stays in force", file.path.display()));
            }
            WatchEvent::Planned(plan) => tracing::info!("applying: {}", plan.summary()),
            WatchEvent::Applied(Applied::NoChanges(_)) => self.record(true, "no changes".into()),
            WatchEvent::Applied(Applied::Ran { report, .. }) => {
                let (ok, failed, skipped) = report.counts();
                let failures = std::mem::take(
                    &mut *self.failed_steps.lock().unwrap_or_else(|p| p.into_inner()),
                );
                let mut summary = format!("{ok} succeeded, {failed} failed, {skipped} skipped");
                if !failures.is_empty() {
                    summary.push_str(&format!(": {}", failures.join("; ")));
                }
                self.record(report.is_success(), summary);
            }
            WatchEvent::Failed(msg) => self.record(false, msg.to_string()),
        }
    }
}

/// Log an invalid file's diagnostics (the first ones, as `validate` shows
/// them), rendered on a blocking thread: never on the supervision path.
fn log_diagnostics(file: &SourceFile, diagnostics: &[Diagnostic]) {
    let (shown, note) = crate::config::diag::shown(diagnostics);
    let shown: Vec<Diagnostic> = shown.into_iter().cloned().collect();
    let file = file.clone();
    let work = move || {
        for d in &shown {
            tracing::warn!("{}", crate::config::diag::render(d, &file));
        }
        if let Some(n) = note {
            tracing::warn!("{n}");
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(h) => drop(h.spawn_blocking(work)),
        Err(_) => work(),
    }
}

impl Sink for DaemonReporter {
    fn event(&self, event: &ExecEvent) {
        if let ExecEvent::StepFinished { title, outcome, .. } = event {
            match outcome {
                Outcome::Failed(error) => {
                    tracing::warn!("{title}: failed: {error}");
                    self.failed_steps
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(format!("{title}: {error}"));
                }
                other => tracing::info!("{title}: {other:?}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_watch_loop_is_reported_not_lost() {
        let why = guarded(async { panic!("renderer blew up") }).await;
        assert_eq!(
            why.as_deref(),
            Some("the watch loop crashed: renderer blew up")
        );
    }

    #[tokio::test]
    async fn an_erroring_watch_loop_is_reported() {
        let why = guarded(async { Err(std::io::Error::other("inotify gone")) }).await;
        assert_eq!(why.as_deref(), Some("watching stopped: inotify gone"));
        assert_eq!(guarded(async { Ok(()) }).await, None);
    }
}
