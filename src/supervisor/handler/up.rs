//! `Up`: install the spec, then start the selected services and their dependencies.

use tokio::sync::mpsc;

use super::events;
use crate::model::spec::ProjectSpec;
use crate::model::wire::{ErrorKind, Response, WireError};
use crate::supervisor::daemon::Daemon;
use crate::supervisor::orchestrate;
use crate::supervisor::service::ServiceHandle;

pub(super) async fn up(
    daemon: &Daemon,
    spec: ProjectSpec,
    services: Vec<String>,
    out: &mpsc::Sender<Response>,
) -> Result<Response, WireError> {
    if spec.project != daemon.dirs.project {
        return Err(WireError::new(
            ErrorKind::WrongProject,
            format!(
                "this daemon runs project {:?}, not {:?}",
                daemon.dirs.project, spec.project
            ),
        ));
    }
    super::check_owner(daemon, &spec.config_path)?;
    let order = orchestrate::closure(&spec, &services)?;
    let _guard = daemon.apply.lock().await;
    let (tx, forward) = events(out);

    // Services gone from the file are still ours: stop them before forgetting them.
    if let Some((old, handles)) = daemon.project() {
        let removed: Vec<String> = old
            .services
            .iter()
            .filter(|s| spec.service(&s.name).is_none())
            .map(|s| s.name.clone())
            .collect();
        orchestrate::bring_down(&old, &handles, &removed, &tx).await;
    }
    let handles = {
        let mut reg = daemon.registry.lock().unwrap_or_else(|p| p.into_inner());
        reg.services.retain(|name, _| spec.service(name).is_some());
        for svc in &spec.services {
            if !reg.services.contains_key(&svc.name) {
                let log = daemon.dirs.log_file(&svc.name);
                let handle =
                    ServiceHandle::new(svc.clone(), log, daemon.exe.clone()).map_err(|e| {
                        WireError::new(
                            ErrorKind::Internal,
                            format!("cannot open the log of {}: {e}", svc.name),
                        )
                    })?;
                reg.services.insert(svc.name.clone(), handle);
            }
        }
        reg.spec = Some(spec.clone());
        reg.services.clone()
    };
    let failed = orchestrate::bring_up(&spec, &handles, &order, false, &tx).await;
    drop(tx);
    let _ = forward.await;
    Ok(Response::Done { failed })
}
