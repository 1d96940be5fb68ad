//! One handler per request, behind one exhaustive `match`.
//!
//! Each handler takes the daemon and an outbox; streaming handlers send
//! [`Event`]s and end with [`Response::Done`], the others send one
//! response. Handlers that change what runs hold `Daemon::apply` for their
//! whole duration (see the locking rule in `daemon.rs`) — except `Apply`,
//! whose engine sends `Up` to this daemon and is serialized by the apply
//! lock file instead (see [`apply`]).

mod apply;
mod control;
mod status;
mod up;

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::model::spec::ProjectSpec;
use crate::model::wire::{ErrorKind, Event, Request, Response, WireError};
use crate::supervisor::daemon::Daemon;
use crate::supervisor::orchestrate;

/// Run `request`, sending its responses to `out`.
pub async fn dispatch(daemon: Arc<Daemon>, request: Request, out: mpsc::Sender<Response>) {
    let result = match request {
        Request::Up { spec, services } => up(&daemon, spec, services, &out).await,
        Request::Start { services } => control::start(&daemon, services, &out).await,
        Request::Stop { services } => control::stop(&daemon, services, &out).await,
        Request::Restart { services } => control::restart(&daemon, services, &out).await,
        Request::Status => status::status(&daemon).await,
        Request::Down => control::down(&daemon, &out).await,
        Request::Apply {
            config,
            vars,
            plan,
            gpus,
        } => {
            let inventory = gpus.map_or_else(crate::gpu::local, |g| *g);
            apply::apply(&daemon, config, vars, *plan, inventory, &out).await
        }
        // Answered by the connection itself (see `reexec.rs`): it ends in an execve.
        Request::Reexec { .. } => Err(WireError::new(
            ErrorKind::Internal,
            "a re-exec is answered on its own connection",
        )),
    };
    let response = result.unwrap_or_else(Response::Error);
    let _ = out.send(response).await;
}

/// Install `spec`, bring the selected services (all when empty) and their
/// dependencies up, then put the daemon's own settings in force (start or
/// stop watch mode) as the spec says. A refused `up` (another project, an
/// unknown service) changes neither.
pub async fn up(
    daemon: &Arc<Daemon>,
    spec: ProjectSpec,
    services: Vec<String>,
    out: &mpsc::Sender<Response>,
) -> Result<Response, WireError> {
    let config = spec.config_path.clone();
    let settings = spec.settings;
    let result = up::up(daemon, spec, services, out).await;
    if result.is_ok() {
        crate::supervisor::watching::reconcile(daemon, &config, settings);
    }
    result
}

/// Stop every service in reverse dependency order (daemon shutdown).
pub async fn stop_everything(daemon: &Daemon) {
    let _guard = daemon.apply.lock().await;
    if let Some((spec, handles)) = daemon.project() {
        let names: Vec<String> = spec.services.iter().map(|s| s.name.clone()).collect();
        let (tx, mut rx) = mpsc::channel(16);
        let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
        orchestrate::bring_down(&spec, &handles, &names, &tx).await;
        drop(tx);
        let _ = drain.await;
    }
}

/// An event sender that forwards into `out`, and the task to await (after
/// dropping the sender) so every event is written before the final response.
fn events(out: &mpsc::Sender<Response>) -> (mpsc::Sender<Event>, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<Event>(64);
    let out = out.clone();
    let task = tokio::spawn(async move {
        while let Some(e) = rx.recv().await {
            let _ = out.send(Response::Event(e)).await;
        }
    });
    (tx, task)
}

fn no_project() -> WireError {
    WireError::new(
        ErrorKind::NoProject,
        "the daemon runs no project yet; run `facerunner up` first",
    )
}

/// Refuse a request whose file does not own this daemon's project (see
/// `ProjectDirs::check_owner`); the cause, if any, is part of the message.
fn check_owner(daemon: &Daemon, file: &std::path::Path) -> Result<(), WireError> {
    daemon.dirs.check_owner(file, true).map_err(|e| {
        let cause = std::error::Error::source(&e).map_or_else(String::new, |c| format!(": {c}"));
        WireError::new(ErrorKind::WrongProject, format!("{e}{cause}"))
    })
}
