//! Service steps: one [`ServiceDriver::up`] call (in the daemon, or through
//! its socket), whose events settle each step.
//!
//! The daemon brings the whole spec up in dependency order, restarts what
//! changed and stops what the file dropped, so the plan's start / restart /
//! stop steps are all one request. A service step succeeds when its
//! service is ready (or reported unchanged), or stopped for a stop step,
//! and fails with the daemon's reason.

use std::collections::HashMap;

use tokio::sync::mpsc;

use super::engine::Run;
use super::error::StepError;
use crate::config::resolve::normalized;
use crate::model::events::Outcome;
use crate::model::state::ServiceRecord;
use crate::model::wire::Event;
use crate::plan::{Action, Step};

/// Run every service step through one `Up`. A daemon step (its own
/// settings) rides on the same `Up`, whose spec carries them: it succeeds
/// when the daemon took the spec.
pub(crate) async fn drive(all: &[&Step], run: &Run<'_>) {
    if all.is_empty() {
        return;
    }
    for s in all {
        run.started(s);
    }
    let (daemon_steps, steps): (Vec<&Step>, Vec<&Step>) =
        all.iter().partition(|s| s.action.is_daemon());
    let by_service: HashMap<&str, &Step> = steps.iter().map(|s| (s.action.service(), *s)).collect();
    // Events arrive in a plain callback; they are handled in order by the
    // consumer below, which awaits each success's state write (off the
    // runtime) before the next event, and drains them all before the steps
    // left over are settled.
    let (forward, mut events) = mpsc::unbounded_channel::<Event>();
    let up = async move {
        let on_event = |event: &Event| {
            let _ = forward.send(event.clone());
        };
        run.ctx.driver.up(&run.ctx.spec, &on_event).await
    };
    let handle = async {
        while let Some(event) = events.recv().await {
            on_event(&event, &by_service, run).await;
        }
    };
    let (result, ()) = futures_util::future::join(up, handle).await;
    let failed = match result {
        Ok(failed) => failed,
        Err(e) => {
            let failure = StepError::Daemon(e).failure();
            for s in all {
                run.finish(s.id, Outcome::Failed(failure.clone()));
            }
            return;
        }
    };
    for s in &daemon_steps {
        run.finish(s.id, Outcome::Succeeded);
    }
    for s in steps {
        if run.is_finished(s.id) {
            continue;
        }
        if failed.iter().any(|f| f == s.action.service()) {
            let e = StepError::NotReady {
                reason: "did not become ready".into(),
            };
            run.finish(s.id, Outcome::Failed(e.failure()));
        } else {
            succeed(s, run).await;
        }
    }
}

async fn on_event(event: &Event, steps: &HashMap<&str, &Step>, run: &Run<'_>) {
    let service = match event {
        Event::Waiting { service, .. }
        | Event::Starting { service }
        | Event::Started { service, .. }
        | Event::Ready { service }
        | Event::Unchanged { service }
        | Event::Failed { service, .. }
        | Event::Stopping { service }
        | Event::Stopped { service } => service,
    };
    let Some(step) = steps.get(service.as_str()) else {
        return;
    };
    let is_stop = matches!(step.action, Action::StopService { .. });
    match event {
        Event::Ready { .. } | Event::Unchanged { .. } if !is_stop => succeed(step, run).await,
        Event::Stopped { .. } if is_stop => succeed(step, run).await,
        Event::Failed {
            reason,
            probe,
            log_tail,
            ..
        } => {
            let mut error = reason.clone();
            if let Some(probe) = probe {
                error.push_str("; probe: ");
                error.push_str(probe);
            }
            if !log_tail.is_empty() {
                error.push_str("; last log lines: ");
                error.push_str(&log_tail.join(" | "));
            }
            let e = StepError::NotReady { reason: error };
            run.finish(step.id, Outcome::Failed(e.failure()));
        }
        Event::Waiting { on, .. } => run.progress(step.id, format!("waiting for {on}"), None, None),
        Event::Starting { .. } => run.progress(step.id, "starting".into(), None, None),
        Event::Started { pid, .. } => {
            run.progress(step.id, format!("started (pid {pid})"), None, None)
        }
        Event::Stopping { .. } => run.progress(step.id, "stopping".into(), None, None),
        _ => {}
    }
}

/// Record the service's spec (or forget it, for a stop) and settle the step.
async fn succeed(step: &Step, run: &Run<'_>) {
    if run.is_finished(step.id) {
        return;
    }
    let name = step.action.service().to_string();
    let spec = run.ctx.spec.service(&name).cloned();
    let saved = run
        .record(|state| match spec {
            Some(svc) if !matches!(step.action, Action::StopService { .. }) => {
                state.services.insert(
                    name.clone(),
                    ServiceRecord {
                        spec_hash: svc.spec_hash.clone(),
                        spec: normalized(&svc),
                    },
                );
            }
            _ => {
                state.services.remove(&name);
            }
        })
        .await;
    let outcome = match saved {
        Ok(()) => Outcome::Succeeded,
        Err(source) => Outcome::Failed(
            StepError::State {
                done: "done",
                source,
            }
            .failure(),
        ),
    };
    run.finish(step.id, outcome);
}
