//! `Start`, `Stop`, `Restart` and `Down` on the installed project.

use tokio::sync::mpsc;

use super::{events, no_project};
use crate::model::spec::{ProjectSpec, expand_groups};
use crate::model::wire::{Response, WireError};
use crate::supervisor::daemon::Daemon;
use crate::supervisor::orchestrate;

pub(super) async fn start(
    daemon: &Daemon,
    services: Vec<String>,
    out: &mpsc::Sender<Response>,
) -> Result<Response, WireError> {
    let (spec, handles) = daemon.project().ok_or_else(no_project)?;
    let services = with_instances(&spec, &services);
    let order = orchestrate::closure(&spec, &services)?;
    let _guard = daemon.apply.lock().await;
    let (tx, forward) = events(out);
    let failed = orchestrate::bring_up(&spec, &handles, &order, false, &tx).await;
    drop(tx);
    let _ = forward.await;
    Ok(Response::Done { failed })
}

pub(super) async fn stop(
    daemon: &Daemon,
    services: Vec<String>,
    out: &mpsc::Sender<Response>,
) -> Result<Response, WireError> {
    let (spec, handles) = daemon.project().ok_or_else(no_project)?;
    let services = with_instances(&spec, &services);
    // Validates the names; stops only those named (not their dependencies).
    orchestrate::closure(&spec, &services)?;
    let names = if services.is_empty() {
        spec.services.iter().map(|s| s.name.clone()).collect()
    } else {
        services
    };
    let _guard = daemon.apply.lock().await;
    let (tx, forward) = events(out);
    orchestrate::bring_down(&spec, &handles, &names, &tx).await;
    drop(tx);
    let _ = forward.await;
    Ok(Response::Done { failed: vec![] })
}

pub(super) async fn restart(
    daemon: &Daemon,
    services: Vec<String>,
    out: &mpsc::Sender<Response>,
) -> Result<Response, WireError> {
    let (spec, handles) = daemon.project().ok_or_else(no_project)?;
    let services = with_instances(&spec, &services);
    let order = orchestrate::closure(&spec, &services)?;
    let _guard = daemon.apply.lock().await;
    let (tx, forward) = events(out);
    let named: Vec<String> = if services.is_empty() {
        order.clone()
    } else {
        services
    };
    orchestrate::bring_down(&spec, &handles, &named, &tx).await;
    let failed = orchestrate::bring_up(&spec, &handles, &order, false, &tx).await;
    drop(tx);
    let _ = forward.await;
    Ok(Response::Done { failed })
}

pub(super) async fn down(
    daemon: &Daemon,
    out: &mpsc::Sender<Response>,
) -> Result<Response, WireError> {
    let _guard = daemon.apply.lock().await;
    let (tx, forward) = events(out);
    if let Some((spec, handles)) = daemon.project() {
        let names: Vec<String> = spec.services.iter().map(|s| s.name.clone()).collect();
        orchestrate::bring_down(&spec, &handles, &names, &tx).await;
    }
    drop(tx);
    let _ = forward.await;
    Ok(Response::Done { failed: vec![] })
}

/// A replicated group's name (`llm`) means all its instances (`llm-0`, …).
fn with_instances(spec: &ProjectSpec, names: &[String]) -> Vec<String> {
    let known: Vec<String> = spec.services.iter().map(|s| s.name.clone()).collect();
    expand_groups(&known, names)
}
