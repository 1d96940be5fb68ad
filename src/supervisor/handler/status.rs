//! `Status`: every service's lifecycle, restarts, last exit and metrics.

use crate::model::wire::{Health, Lifecycle, Response, ServiceStatus, StatusReport, WireError};
use crate::supervisor::daemon::Daemon;

pub(super) async fn status(daemon: &Daemon) -> Result<Response, WireError> {
    let Some((spec, handles)) = daemon.project() else {
        return Ok(Response::Status(StatusReport {
            project: daemon.dirs.project.clone(),
            daemon_pid: std::process::id(),
            services: vec![],
            watch: daemon.watch_status(),
            log_trouble: crate::supervisor::logs::daemon_log_trouble()
                .into_iter()
                .collect(),
            settings: Some(daemon.settings()),
        }));
    };
    let snaps: Vec<_> = spec
        .services
        .iter()
        .filter_map(|s| handles.get(&s.name).map(|h| (s, h, h.snapshot())))
        .collect();
    let pids: Vec<u32> = snaps
        .iter()
        .filter_map(|(_, _, snap)| snap.lifecycle.pid())
        .collect();
    let metrics = daemon.metrics.lock().await.sample(&pids).await;
    let owners: Vec<(String, u32)> = snaps
        .iter()
        .filter_map(|(svc, _, snap)| Some((svc.name.clone(), snap.lifecycle.pid()?)))
        .collect();
    let gpus = daemon
        .gpu_telemetry
        .lock()
        .await
        .sample(std::time::Instant::now(), &owners)
        .await;
    // Every running gateway and dashboard is asked at once (each bounded
    // by its timeout): a gateway for its backends, a dashboard for its
    // webhooks' delivery failures.
    let gateways = futures_util::future::join_all(snaps.iter().map(|(svc, _, snap)| async move {
        match (svc.kind.as_str(), &snap.lifecycle) {
            ("gateway", Lifecycle::Running { .. }) => {
                Some(crate::supervisor::gateways::ask(svc).await)
            }
            _ => None,
        }
    }));
    let dashboards =
        futures_util::future::join_all(snaps.iter().map(|(svc, _, snap)| async move {
            match (svc.kind.as_str(), &snap.lifecycle) {
                ("dashboard", Lifecycle::Running { .. })
                    if crate::supervisor::dashboards::has_webhooks(svc) =>
                {
                    Some(crate::supervisor::dashboards::ask(svc).await)
                }
                _ => None,
            }
        }));
    let (gateways, dashboards) = futures_util::future::join(gateways, dashboards).await;
    let log_trouble = crate::supervisor::logs::daemon_log_trouble()
        .into_iter()
        .chain(snaps.iter().filter_map(|(_, h, _)| h.log_trouble()))
        .collect();
    let services = snaps
        .into_iter()
        .zip(gateways)
        .zip(dashboards)
        .map(|(((svc, handle, snap), gateway), dashboard)| {
            let failing = match &snap.lifecycle {
                Lifecycle::Backoff { .. } | Lifecycle::Failed { .. } => true,
                Lifecycle::Exited { exit } => !exit.is_success(),
                Lifecycle::Running { health, .. } => matches!(health, Health::Unhealthy { .. }),
                _ => false,
            };
            let m = snap.lifecycle.pid().and_then(|p| metrics.get(&p));
            ServiceStatus {
                name: svc.name.clone(),
                kind: svc.kind.clone(),
                restarts: snap.restarts,
                last_exit: snap.last_exit.clone(),
                log_tail: if failing { handle.log_tail(10) } else { vec![] },
                port: svc.port,
                cpu_percent: m.map(|m| m.0),
                rss_bytes: m.map(|m| m.1),
                spec_hash: snap.spec_hash.clone(),
                containment: snap.lifecycle.pid().and(snap.containment.clone()),
                gpus: crate::supervisor::gpu_telemetry::service_gpus(svc, &gpus),
                state: snap.lifecycle,
                gateway,
                dashboard,
            }
        })
        .collect();
    Ok(Response::Status(StatusReport {
        project: spec.project,
        daemon_pid: std::process::id(),
        services,
        watch: daemon.watch_status(),
        log_trouble,
        settings: Some(daemon.settings()),
    }))
}
