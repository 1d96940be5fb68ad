//! The daemon's own [`ServiceDriver`]: an apply running inside the daemon
//! (`apply`, `up`, watch mode) brings services up in process, through the
//! same handler as an `Up` request, instead of through its own socket.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::client::SupervisorError;
use crate::execute::driver::{BoxFuture, EventFn, ServiceDriver};
use crate::model::spec::ProjectSpec;
use crate::model::wire::Response;
use crate::supervisor::daemon::Daemon;
use crate::supervisor::handler;

/// Drives this daemon's services directly.
#[derive(Clone)]
pub struct InProcess(pub Arc<Daemon>);

impl std::fmt::Debug for InProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("InProcess")
            .field(&self.0.dirs.project)
            .finish()
    }
}

impl ServiceDriver for InProcess {
    fn up<'a>(
        &'a self,
        spec: &'a ProjectSpec,
        on_event: EventFn<'a>,
    ) -> BoxFuture<'a, Result<Vec<String>, SupervisorError>> {
        Box::pin(async move {
            let (tx, mut rx) = mpsc::channel::<Response>(64);
            let daemon = self.0.clone();
            let spec = spec.clone();
            let up = tokio::spawn(async move { handler::up(&daemon, spec, vec![], &tx).await });
            while let Some(response) = rx.recv().await {
                if let Response::Event(e) = &response {
                    on_event(e);
                }
            }
            match up.await {
                Ok(Ok(Response::Done { failed })) => Ok(failed),
                Ok(Ok(_)) => Ok(vec![]),
                Ok(Err(e)) => Err(SupervisorError::Remote(e)),
                Err(e) => Err(SupervisorError::Protocol(format!(
                    "the daemon's up task ended: {e}"
                ))),
            }
        })
    }
}
