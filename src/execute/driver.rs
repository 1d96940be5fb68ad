//! How the engine reaches the supervisor: the [`ServiceDriver`] trait.
//!
//! Service steps become one "bring the project to this spec" call whose
//! events settle each step ([`super::services`]). Inside the daemon that
//! call is made in process (`supervisor::driver::InProcess`); the CLI's
//! foreground `watch`, `pull` and `rm` make it through the daemon's socket
//! ([`Remote`], which starts the daemon when none runs). The engine knows
//! only the trait, so `execute` never depends on the daemon.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use crate::client::{SupervisorError, ensure_daemon};
use crate::model::spec::ProjectSpec;
use crate::model::wire::{Event, Request, Response};
use crate::paths::ProjectDirs;

/// A boxed future, so the trait can be used as `dyn`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a service driver reports while it brings a project up.
pub type EventFn<'a> = &'a (dyn Fn(&Event) + Send + Sync);

/// Brings the daemon's services to a spec.
pub trait ServiceDriver: Send + Sync + std::fmt::Debug {
    /// Install `spec` and bring every service to it (start what is new,
    /// restart what changed, stop what is gone), calling `on_event` for each
    /// event; returns the services that did not become ready.
    fn up<'a>(
        &'a self,
        spec: &'a ProjectSpec,
        on_event: EventFn<'a>,
    ) -> BoxFuture<'a, Result<Vec<String>, SupervisorError>>;
}

/// The daemon, reached through its socket (started when none runs).
#[derive(Debug, Clone)]
pub struct Remote {
    /// The project's directories (the socket).
    pub dirs: ProjectDirs,
    /// The `facerunner` executable, to start the daemon.
    pub exe: PathBuf,
}

impl ServiceDriver for Remote {
    fn up<'a>(
        &'a self,
        spec: &'a ProjectSpec,
        on_event: EventFn<'a>,
    ) -> BoxFuture<'a, Result<Vec<String>, SupervisorError>> {
        Box::pin(async move {
            let client = ensure_daemon(&self.dirs, &self.exe).await?;
            let request = Request::Up {
                spec: spec.clone(),
                services: vec![],
            };
            match client.request(&request, on_event).await? {
                Response::Done { failed } => Ok(failed),
                _ => Ok(vec![]),
            }
        })
    }
}
