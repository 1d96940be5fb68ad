//! The watch loop: apply once, then re-plan and apply on every settled save.
//!
//! Shared by `facerunner watch` (foreground, printing) and the daemon's
//! `settings.watch: true` (logging, and recording the last result for
//! `status`): both give a [`Reporter`] and an execution [`Sink`].
//!
//! Safety rules: a file that does not load or validate is reported with the
//! same located diagnostics as `validate`, and nothing running is touched —
//! the last good file stays in force until a valid one is saved. A save
//! during an apply is picked up after it, with the newest content (the
//! watcher compares content hashes when the apply is done, so saves in
//! between are coalesced). Only what the plan names is restarted.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::files::{FileWatcher, hash_file};
use crate::config::resolve::{Secrets, expand_path, resolve};
use crate::config::{Diagnostic, LoadError, Loaded, SourceFile, load};
use crate::execute::{Applied, ApplyError, ApplyOptions, ServiceDriver, Sink, apply_project};
use crate::paths::ProjectDirs;
use crate::plan::Plan;

/// What the loop tells its reporter.
pub enum WatchEvent<'a> {
    /// Watching these files now.
    Watching(&'a [PathBuf]),
    /// A change was seen and is being loaded.
    Changed(&'a [PathBuf]),
    /// The file is invalid: nothing was touched, the last good file stays.
    Invalid {
        /// The file.
        file: &'a SourceFile,
        /// Its problems.
        diagnostics: &'a [Diagnostic],
        /// Whether an earlier good file is still in force.
        keeping_last_good: bool,
    },
    /// The plan about to be applied.
    Planned(&'a Plan),
    /// The apply finished.
    Applied(&'a Applied),
    /// The apply could not run or failed as a whole.
    Failed(&'a str),
}

/// Receives the loop's events.
pub trait Reporter: Sync {
    /// One event.
    fn report(&self, event: WatchEvent<'_>);
}

/// The files a project depends on: the file, `.env` beside it, and every
/// service's `env_file`.
pub fn watched_files(config: &Path, loaded: Option<&Loaded>) -> Vec<PathBuf> {
    let base = config.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut files = vec![config.to_path_buf(), base.join(".env")];
    if let Some(l) = loaded {
        for svc in l.config.services.values() {
            if let Some(f) = &svc.env_file {
                files.extend(f.items().into_iter().map(|p| expand_path(p, &base)));
            }
        }
    }
    files
}

/// Makes the [`ServiceDriver`] for a project's directories (the project's
/// name can change between saves).
pub type DriverFor<'a> = &'a (dyn Fn(&ProjectDirs) -> Arc<dyn ServiceDriver> + Sync);

/// Run until `stop` resolves; service steps go through `driver`.
pub async fn run(
    config: &Path,
    driver: DriverFor<'_>,
    reporter: &dyn Reporter,
    sink: &dyn Sink,
    stop: impl Future<Output = ()>,
) -> io::Result<()> {
    let mut watcher = FileWatcher::new(watched_files(config, None), Duration::from_millis(300))?;
    tokio::pin!(stop);
    let mut last_good = false;
    let mut changed: Vec<PathBuf> = Vec::new();
    loop {
        if !changed.is_empty() {
            reporter.report(WatchEvent::Changed(&changed));
        }
        // Loading is CPU work on hostile input (parse, check, validate):
        // off the async threads, so a huge file never stalls the daemon.
        let path = config.to_path_buf();
        let result = match tokio::task::spawn_blocking(move || load(&path)).await {
            Ok(r) => r,
            Err(e) => {
                reporter.report(WatchEvent::Failed(&format!(
                    "reading {} failed unexpectedly ({e}); waiting for the next save",
                    config.display()
                )));
                match next_change(&mut watcher, &mut stop).await {
                    Some(c) => {
                        changed = c;
                        continue;
                    }
                    None => return Ok(()),
                }
            }
        };
        match result {
            Ok(loaded) => {
                let files = watched_files(config, Some(&loaded));
                watcher.set_files(files.clone())?;
                watcher.set_debounce(loaded.config.settings.watch_debounce.0);
                if changed.is_empty() {
                    reporter.report(WatchEvent::Watching(&files));
                }
                let seen_while_loading =
                    hash_file(config).as_deref() != Some(&text_hash(&loaded.file.text));
                last_good = apply(&loaded, driver, reporter, sink).await || last_good;
                if seen_while_loading {
                    changed = vec![config.to_path_buf()];
                    continue;
                }
            }
            Err(LoadError::Invalid { file, diagnostics }) => {
                reporter.report(WatchEvent::Invalid {
                    file: &file,
                    diagnostics: &diagnostics,
                    keeping_last_good: last_good,
                });
            }
            Err(e @ (LoadError::NotFound { .. } | LoadError::NoSuchFile { .. })) => {
                reporter.report(WatchEvent::Failed(&e.to_string()))
            }
        }
        match next_change(&mut watcher, &mut stop).await {
            Some(c) => changed = c,
            None => return Ok(()),
        }
    }
}

/// The next settled change, or `None` when watching ends.
async fn next_change(
    watcher: &mut FileWatcher,
    stop: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Option<Vec<PathBuf>> {
    tokio::select! {
        change = watcher.next_change() => change.map(|c| c.changed),
        () = stop.as_mut() => None,
    }
}

fn text_hash(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Apply one loaded file; true when the file took effect (even if some step failed).
async fn apply(
    loaded: &Loaded,
    driver: DriverFor<'_>,
    reporter: &dyn Reporter,
    sink: &dyn Sink,
) -> bool {
    let dirs = match ProjectDirs::for_project(&loaded.project) {
        Ok(d) => d,
        Err(e) => {
            reporter.report(WatchEvent::Failed(&format!(
                "cannot find FaceRunner's directories: {e}"
            )));
            return false;
        }
    };
    if let Err(e) = dirs.check_owner(&loaded.file.path, true) {
        let cause = std::error::Error::source(&e).map_or_else(String::new, |c| format!(": {c}"));
        reporter.report(WatchEvent::Failed(&format!("{e}{cause}")));
        return false;
    }
    // `replicas: per-gpu` follows this machine's GPUs.
    let inventory = crate::gpu::local();
    let mut loaded = loaded.clone();
    if let Err(e) = crate::config::replicas::expand(&mut loaded, &inventory) {
        reporter.report(WatchEvent::Failed(&e.to_string()));
        return false;
    }
    let loaded = &loaded;
    let spec = match resolve(loaded, &dirs, Secrets::Create) {
        Ok(s) => s,
        Err(e) => {
            reporter.report(WatchEvent::Failed(&e.to_string()));
            return false;
        }
    };
    let opts = ApplyOptions {
        driver: driver(&dirs),
        saved: None,
        pull_concurrency: 3,
        inventory,
    };
    let result: Result<Applied, ApplyError> =
        apply_project(loaded, &spec, &dirs, opts, sink, |plan| {
            if !plan.is_empty() {
                reporter.report(WatchEvent::Planned(plan));
            }
            true
        })
        .await;
    match result {
        Ok(applied) => {
            reporter.report(WatchEvent::Applied(&applied));
            true
        }
        Err(e) => {
            reporter.report(WatchEvent::Failed(&e.to_string()));
            false
        }
    }
}
