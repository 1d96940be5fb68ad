//! Bringing services up in dependency order and down in reverse.
//!
//! `up` runs one future per service; each waits for its own dependencies'
//! conditions (through a per-run progress channel for `started`/`healthy`,
//! and the dependency's state for `completed`) and then starts its service.
//! Independent services therefore start in parallel, and a failure stops
//! only what depends on it. `down` mirrors this: a service is stopped once
//! every service that depends on it is stopped.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::future::join_all;
use tokio::sync::{mpsc, watch};

use crate::model::spec::{Condition, ProjectSpec, ServiceSpec};
use crate::model::wire::{ErrorKind, Event, Lifecycle, WireError};
use crate::supervisor::service::ServiceHandle;

/// How far a service got during one `up`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Progress {
    Pending,
    Started,
    Ready,
    Failed,
}

/// `names` (all when empty) plus their dependencies, in dependency order;
/// unknown names and cycles are errors.
pub fn closure(spec: &ProjectSpec, names: &[String]) -> Result<Vec<String>, WireError> {
    let mut wanted = BTreeSet::new();
    let mut stack: Vec<String> = if names.is_empty() {
        spec.services.iter().map(|s| s.name.clone()).collect()
    } else {
        names.to_vec()
    };
    while let Some(name) = stack.pop() {
        let svc = spec.service(&name).ok_or_else(|| unknown(&name))?;
        if wanted.insert(name) {
            stack.extend(svc.depends_on.iter().map(|d| d.service.clone()));
        }
    }
    topo_order(spec, &wanted)
}

fn unknown(name: &str) -> WireError {
    WireError::new(
        ErrorKind::UnknownService,
        format!("no service named {name:?} in this project"),
    )
}

/// Kahn's algorithm over the wanted services, file order among equals.
fn topo_order(spec: &ProjectSpec, wanted: &BTreeSet<String>) -> Result<Vec<String>, WireError> {
    let mut done: Vec<String> = Vec::new();
    let mut left: Vec<&ServiceSpec> = spec
        .services
        .iter()
        .filter(|s| wanted.contains(&s.name))
        .collect();
    while !left.is_empty() {
        let before = left.len();
        left.retain(|s| {
            let ready = s.depends_on.iter().all(|d| done.contains(&d.service));
            if ready {
                done.push(s.name.clone());
            }
            !ready
        });
        if left.len() == before {
            let names: Vec<&str> = left.iter().map(|s| s.name.as_str()).collect();
            return Err(WireError::new(
                ErrorKind::InvalidSpec,
                format!("dependency cycle among {}", names.join(", ")),
            ));
        }
    }
    Ok(done)
}

/// Start `order` (a [`closure`]) respecting `depends_on`; returns the
/// services that failed. `restart` stops running ones first.
pub async fn bring_up(
    spec: &ProjectSpec,
    handles: &BTreeMap<String, ServiceHandle>,
    order: &[String],
    restart: bool,
    events: &mpsc::Sender<Event>,
) -> Vec<String> {
    let progress: BTreeMap<&str, watch::Sender<Progress>> = order
        .iter()
        .map(|n| (n.as_str(), watch::channel(Progress::Pending).0))
        .collect();
    let progress = &progress;
    let futures = order.iter().filter_map(|name| {
        let svc = spec.service(name)?;
        let handle = handles.get(name)?;
        let me = progress.get(name.as_str())?;
        Some(async move {
            let ok = up_one(svc, handle, handles, progress, restart, events).await;
            me.send_replace(if ok {
                Progress::Ready
            } else {
                Progress::Failed
            });
            (!ok).then(|| name.clone())
        })
    });
    join_all(futures).await.into_iter().flatten().collect()
}

async fn up_one(
    svc: &ServiceSpec,
    handle: &ServiceHandle,
    handles: &BTreeMap<String, ServiceHandle>,
    progress: &BTreeMap<&str, watch::Sender<Progress>>,
    restart: bool,
    events: &mpsc::Sender<Event>,
) -> bool {
    let name = svc.name.clone();
    let fail = |reason: String, probe: Option<String>, log_tail: Vec<String>| Event::Failed {
        service: name.clone(),
        reason,
        probe,
        log_tail,
    };
    for dep in &svc.depends_on {
        let (Some(p), Some(dh)) = (
            progress.get(dep.service.as_str()),
            handles.get(&dep.service),
        ) else {
            continue;
        };
        let cond = format!("{:?}", dep.condition).to_lowercase();
        let _ = events
            .send(Event::Waiting {
                service: name.clone(),
                on: format!("{} ({cond})", dep.service),
            })
            .await;
        let ok = match dep.condition {
            Condition::Started => reached(p.subscribe(), Progress::Started).await,
            Condition::Healthy => reached(p.subscribe(), Progress::Ready).await,
            Condition::Completed => {
                reached(p.subscribe(), Progress::Started).await && completed(dh).await
            }
        };
        if !ok {
            let _ = events
                .send(fail(
                    format!("dependency {} did not become {cond}", dep.service),
                    None,
                    vec![],
                ))
                .await;
            return false;
        }
    }
    let snap = handle.snapshot();
    if !restart && snap.lifecycle.is_ready() && snap.spec_hash == svc.spec_hash {
        let _ = events
            .send(Event::Unchanged {
                service: name.clone(),
            })
            .await;
        return true;
    }
    let changed = snap.spec_hash != svc.spec_hash;
    handle.update(svc.clone()).await;
    if restart || (changed && snap.lifecycle.pid().is_some()) {
        let _ = events
            .send(Event::Stopping {
                service: name.clone(),
            })
            .await;
        handle.stop().await;
    }
    let _ = events
        .send(Event::Starting {
            service: name.clone(),
        })
        .await;
    let Some(generation) = handle.start().await else {
        let _ = events
            .send(fail("the daemon is shutting down".into(), None, vec![]))
            .await;
        return false;
    };
    let me = progress.get(name.as_str());
    let mut rx = handle.subscribe();
    let mut announced = false;
    loop {
        let s = rx.borrow_and_update().clone();
        if s.generation >= generation {
            if let (Some(pid), false) = (s.started_pid, announced) {
                announced = true;
                let _ = events
                    .send(Event::Started {
                        service: name.clone(),
                        pid,
                    })
                    .await;
                if let Some(me) = me {
                    me.send_replace(Progress::Started);
                }
            }
            if s.ready {
                let _ = events
                    .send(Event::Ready {
                        service: name.clone(),
                    })
                    .await;
                return true;
            }
            if let Some(reason) = s.failure {
                let probe = svc.probe.as_ref().map(|p| p.check.to_string());
                let _ = events.send(fail(reason, probe, handle.log_tail(15))).await;
                return false;
            }
        }
        if rx.changed().await.is_err() {
            return false;
        }
    }
}

/// Wait until the progress reaches `goal`; false if it failed first.
async fn reached(mut rx: watch::Receiver<Progress>, goal: Progress) -> bool {
    let result = rx.wait_for(|p| *p >= goal).await;
    result.is_ok_and(|p| *p != Progress::Failed)
}

/// Wait until the dependency exited 0.
async fn completed(handle: &ServiceHandle) -> bool {
    let mut rx = handle.subscribe();
    let result = rx
        .wait_for(|s| {
            !matches!(
                s.lifecycle,
                Lifecycle::Starting { .. } | Lifecycle::Running { .. }
            )
        })
        .await;
    result.is_ok_and(|s| matches!(&s.lifecycle, Lifecycle::Exited { exit } if exit.is_success()))
}

/// Stop `names`, dependents before their dependencies, in parallel otherwise.
pub async fn bring_down(
    spec: &ProjectSpec,
    handles: &BTreeMap<String, ServiceHandle>,
    names: &[String],
    events: &mpsc::Sender<Event>,
) {
    let done: BTreeMap<&str, watch::Sender<bool>> = names
        .iter()
        .map(|n| (n.as_str(), watch::channel(false).0))
        .collect();
    let done = &done;
    let futures = names.iter().filter_map(|name| {
        let handle = handles.get(name)?;
        let dependents: Vec<watch::Receiver<bool>> = spec
            .services
            .iter()
            .filter(|s| s.depends_on.iter().any(|d| &d.service == name))
            .filter_map(|s| done.get(s.name.as_str()).map(watch::Sender::subscribe))
            .collect();
        let me = done.get(name.as_str())?;
        Some(async move {
            for mut d in dependents {
                let _ = d.wait_for(|stopped| *stopped).await;
            }
            if handle.snapshot().lifecycle != Lifecycle::Stopped {
                let _ = events
                    .send(Event::Stopping {
                        service: name.clone(),
                    })
                    .await;
                handle.stop().await;
                let _ = events
                    .send(Event::Stopped {
                        service: name.clone(),
                    })
                    .await;
            }
            me.send_replace(true);
        })
    });
    join_all(futures).await;
}

#[cfg(test)]
#[path = "orchestrate_tests.rs"]
mod orchestrate_tests;
