//! `Apply`: execute a plan the CLI made and the user confirmed, in the
//! daemon, with the one executor ([`apply_project`]) that watch mode uses
//! too.
//!
//! The CLI plans locally (so `plan`, the review and the confirmation stay
//! fast and on the user's terminal) and sends the plan, the project file's
//! path and its interpolation variables (environment over `.env`). The
//! handler reads the file itself with those variables, so it sees the file
//! exactly as the CLI did, resolves it (creating missing secrets) and runs
//! [`apply_project`] with the plan as a *saved* plan: under the apply lock
//! it observes again and refuses ([`ErrorKind::StalePlan`]) when the file
//! or the live state moved since the plan was made — what was confirmed is
//! what runs, or nothing does. The variables are never logged
//! (`Request`'s `Debug` hides them).
//!
//! Each [`ExecEvent`] is forwarded to the client as a [`Response::Exec`] as
//! it happens; the request ends with [`Response::Applied`] (the report),
//! [`Response::NoChanges`], or a typed error.
//!
//! Locking: this handler does *not* hold `Daemon::apply`. The engine's
//! service steps send an `Up` request to this same daemon over its socket,
//! and `Up` takes that mutex; holding it here would deadlock. Applies are
//! serialized by the engine's own lock file (`state/apply.lock`), which
//! also serializes them with watch mode and with CLI processes.
//!
//! A client that goes away mid-apply (Ctrl-C, a killed terminal) does not
//! cancel it: the handler runs in its own task, so the daemon finishes the
//! step in flight and the rest of the confirmed plan, and its events are
//! dropped. The state file is rewritten atomically after every step, so it
//! is consistent at every moment; the daemon log records each step and the
//! result, and `facerunner plan` shows whatever is left. Stopping halfway
//! would leave a half-applied plan for no gain: a pull in flight would run
//! to its end in Ollama anyway.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::config::interpolate::Vars;
use crate::config::load::{LoadError, load_str};
use crate::config::resolve::{Secrets, resolve};
use crate::execute::{Applied, ApplyError, ApplyOptions, ExecEvent, Outcome, Sink, apply_project};
use crate::model::wire::{ErrorKind, Response, WireError};
use crate::plan::Plan;
use crate::supervisor::daemon::Daemon;
use crate::supervisor::driver::InProcess;

/// Pulls at the same time, as the CLI always used.
const PULL_CONCURRENCY: usize = 3;

pub(super) async fn apply(
    daemon: &Arc<Daemon>,
    config: PathBuf,
    vars: BTreeMap<String, String>,
    plan: Plan,
    inventory: crate::model::gpu::Inventory,
    out: &mpsc::Sender<Response>,
) -> Result<Response, WireError> {
    // Never trust the shape of a plan from a socket: an id out of range
    // or a cycle must be an answer, not a panic or a hang under the lock.
    plan.validate().map_err(|e| {
        WireError::new(
            ErrorKind::InvalidPlan,
            format!("the plan is invalid: {e}; nothing was changed"),
        )
    })?;
    // Bounded and off the runtime: a FIFO or device named as the file
    // is refused instead of hanging or filling the daemon's memory.
    let path = config.clone();
    let text = tokio::task::spawn_blocking(move || {
        crate::safefs::read_bounded(&path, crate::config::load::MAX_FILE_BYTES)
    })
    .await
    .map_err(|e| WireError::new(ErrorKind::Internal, format!("reading the file failed: {e}")))?
    .map_err(|e| {
        let cause = std::error::Error::source(&e).map_or_else(String::new, |c| format!(": {c}"));
        WireError::new(ErrorKind::InvalidConfig, format!("{e}{cause}"))
    })
    .and_then(|bytes| {
        String::from_utf8(bytes).map_err(|_| {
            WireError::new(
                ErrorKind::InvalidConfig,
                format!("{} is not UTF-8 text", config.display()),
            )
        })
    })?;
    let mut loaded = load_str(&config, &text, &Vars { map: vars }).map_err(load_error)?;
    // The same instances the client planned: its inventory (`--gpus-from`)
    // or this machine's.
    crate::config::replicas::expand(&mut loaded, &inventory)
        .map_err(|e| WireError::new(ErrorKind::InvalidSpec, e.to_string()))?;
    if loaded.project != daemon.dirs.project {
        return Err(WireError::new(
            ErrorKind::WrongProject,
            format!(
                "this daemon runs project {:?}, not {:?}",
                daemon.dirs.project, loaded.project
            ),
        ));
    }
    super::check_owner(daemon, &loaded.file.path)?;
    let spec = resolve(&loaded, &daemon.dirs, Secrets::Create)
        .map_err(|e| WireError::new(ErrorKind::InvalidSpec, e.to_string()))?;
    tracing::info!(file = %config.display(), "apply: {}", plan.summary());
    let opts = ApplyOptions {
        driver: Arc::new(InProcess(daemon.clone())),
        saved: Some(plan),
        pull_concurrency: PULL_CONCURRENCY,
        inventory,
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<ExecEvent>();
    let forward = {
        let out = out.clone();
        tokio::spawn(async move {
            // Keep draining after the client left, so the sink never backs up.
            while let Some(e) = rx.recv().await {
                let _ = out.send(Response::Exec(e)).await;
            }
        })
    };
    let sink = Forward { tx };
    let result = apply_project(&loaded, &spec, &daemon.dirs, opts, &sink, |_| true).await;
    drop(sink);
    let _ = forward.await;
    match result {
        Ok(Applied::NoChanges(_)) => {
            tracing::info!("apply finished: no changes");
            Ok(Response::NoChanges)
        }
        Ok(Applied::Ran { report, .. }) => {
            crate::supervisor::gateways::refresh_running(daemon).await;
            let (ok, failed, skipped) = report.counts();
            let line =
                format!("apply finished: {ok} succeeded, {failed} failed, {skipped} skipped");
            if report.is_success() {
                tracing::info!("{line}");
            } else {
                tracing::warn!("{line}");
            }
            Ok(Response::Applied { report })
        }
        Err(e) => {
            tracing::warn!("apply refused: {e}");
            Err(wire(&e))
        }
    }
}

/// Forwards engine events to the connection, logging each step's end.
struct Forward {
    tx: mpsc::UnboundedSender<ExecEvent>,
}

impl Sink for Forward {
    fn event(&self, event: &ExecEvent) {
        match event {
            ExecEvent::StepFinished {
                title,
                outcome: Outcome::Failed(error),
                ..
            } => tracing::warn!("{title}: failed: {error}"),
            ExecEvent::StepFinished { title, outcome, .. } => {
                tracing::info!("{title}: {outcome:?}")
            }
            ExecEvent::WaitingForLock { holder } => {
                tracing::info!("waiting for another apply (pid {holder})")
            }
            ExecEvent::StepStarted { .. } | ExecEvent::Progress { .. } => {}
        }
        let _ = self.tx.send(event.clone());
    }
}

fn load_error(e: LoadError) -> WireError {
    let mut message = e.to_string();
    if let LoadError::Invalid { diagnostics, .. } = &e {
        for d in diagnostics.iter().filter(|d| d.is_error()) {
            message.push_str("; ");
            message.push_str(&d.summary);
        }
    }
    WireError::new(ErrorKind::InvalidConfig, message)
}

fn wire(e: &ApplyError) -> WireError {
    let kind = match e {
        ApplyError::Stale { .. } | ApplyError::Differs { .. } => ErrorKind::StalePlan,
        ApplyError::Invalid(_) => ErrorKind::InvalidPlan,
        ApplyError::Version(_) => ErrorKind::PlanVersion,
        ApplyError::Checks { .. } => ErrorKind::PlanErrors,
        _ => ErrorKind::Internal,
    };
    WireError::new(kind, e.to_string())
}
