//! Running a plan as a dependency graph.
//!
//! Every model step is a future that first waits for the steps in its
//! `waits_for` (through one `watch` channel per step) and then runs; all
//! of them are polled together, so independent steps run in parallel and
//! pulls are bounded by a semaphore. A step whose dependency did not
//! succeed is skipped, naming that dependency; nothing else is affected.
//!
//! Service steps are different: the daemon already knows how to bring a
//! whole project to its spec in dependency order, so all of them become
//! one `Up` request ([`super::services`]) whose events resolve each service
//! step as it becomes ready; model steps waiting for an `ollama` service
//! start as soon as that one service is ready.
//!
//! After each step that succeeds, the state file is rewritten (atomically,
//! under the apply lock held by the caller), so a crash leaves it before or
//! after every step, never in between.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures_util::future::join_all;
use tokio::sync::{Semaphore, watch};

use super::driver::ServiceDriver;
use super::store::{self, StateError};
use super::{files, models, services};
use crate::model::events::{ExecEvent, Failure, FailureKind, Outcome, Report, Sink};
use crate::model::spec::ProjectSpec;
use crate::model::state::State;
use crate::paths::ProjectDirs;
use crate::plan::{Plan, Step};

/// What the engine needs besides the plan.
#[derive(Debug, Clone)]
pub struct Context {
    /// The project's directories (state file, daemon socket).
    pub dirs: ProjectDirs,
    /// The resolved project, secrets created (sent to the daemon).
    pub spec: ProjectSpec,
    /// How service steps reach the supervisor.
    pub driver: Arc<dyn ServiceDriver>,
    /// Ollama service → base URL.
    pub urls: BTreeMap<String, String>,
    /// Pulls at the same time.
    pub pull_concurrency: usize,
    /// The actions were asked for by hand (`facerunner pull`), not planned
    /// from the file: pulls are recorded as [`Origin::PulledByHand`].
    ///
    /// [`Origin::PulledByHand`]: crate::model::state::Origin::PulledByHand
    pub by_hand: bool,
    /// How `hf:` downloads reach the Hub: the variables of the command the
    /// run is for ([`crate::config::Loaded::hub_vars`]).
    pub hub_vars: crate::hf::HubVars,
}

/// Shared by every step of one run.
pub(crate) struct Run<'a> {
    pub(crate) ctx: &'a Context,
    pub(crate) plan: &'a Plan,
    pub(crate) sink: &'a dyn Sink,
    pub(crate) pulls: Semaphore,
    /// Held across each write, so writes land in the order of the changes.
    state: tokio::sync::Mutex<State>,
    outcomes: Mutex<Vec<Option<Outcome>>>,
    done: Vec<watch::Sender<Option<bool>>>,
}

impl Run<'_> {
    /// Announce that a step begins.
    pub(crate) fn started(&self, step: &Step) {
        self.sink.event(&ExecEvent::StepStarted {
            id: step.id,
            title: step.action.title(),
        });
    }

    /// Report progress of a step.
    pub(crate) fn progress(
        &self,
        id: usize,
        status: String,
        completed: Option<u64>,
        total: Option<u64>,
    ) {
        self.sink.event(&ExecEvent::Progress {
            id,
            status,
            completed,
            total,
        });
    }

    /// Change the state and write it out at once. The write (two fsyncs)
    /// runs on a blocking thread, never on the runtime: inside the daemon
    /// that runtime is the one that supervises every service.
    pub(crate) async fn record(&self, change: impl FnOnce(&mut State)) -> Result<(), StateError> {
        let mut state = self.state.lock().await;
        change(&mut state);
        let (snapshot, dir) = (state.clone(), self.ctx.dirs.state.clone());
        let saved = tokio::task::spawn_blocking(move || store::save(&snapshot, &dir)).await;
        saved.unwrap_or_else(|e| {
            Err(StateError::Io {
                action: "write",
                path: store::path(&self.ctx.dirs.state),
                source: std::io::Error::other(format!("the writer thread failed: {e}")),
            })
        })
    }

    /// What the state file says FaceRunner wrote at `path`.
    pub(crate) async fn owned_file(&self, path: &str) -> Option<crate::model::state::FileRecord> {
        self.state.lock().await.files.get(path).cloned()
    }

    /// Whether a step already has its outcome.
    pub(crate) fn is_finished(&self, id: usize) -> bool {
        self.outcomes.lock().unwrap_or_else(|p| p.into_inner())[id].is_some()
    }

    /// Settle a step (once; later calls are ignored) and wake its dependents.
    pub(crate) fn finish(&self, id: usize, outcome: Outcome) {
        {
            let mut outcomes = self.outcomes.lock().unwrap_or_else(|p| p.into_inner());
            if outcomes[id].is_some() {
                return;
            }
            outcomes[id] = Some(outcome.clone());
        }
        let ok = outcome.is_success();
        self.sink.event(&ExecEvent::StepFinished {
            id,
            title: self.plan.steps[id].action.title(),
            outcome,
        });
        self.done[id].send_replace(Some(ok));
    }

    /// Wait for every dependency; `Err(id)` names one that did not succeed.
    async fn dependencies(&self, step: &Step) -> Result<(), usize> {
        for &dep in &step.waits_for {
            let mut rx = self.done[dep].subscribe();
            let ok = match rx.wait_for(Option::is_some).await {
                Ok(v) => v.unwrap_or(false),
                Err(_) => false,
            };
            if !ok {
                return Err(dep);
            }
        }
        Ok(())
    }
}

/// Execute `plan`; `state` is what the state file held when it was made.
pub async fn execute(plan: &Plan, ctx: &Context, state: State, sink: &dyn Sink) -> Report {
    let n = plan.steps.len();
    let run = Run {
        ctx,
        plan,
        sink,
        pulls: Semaphore::new(ctx.pull_concurrency.max(1)),
        state: tokio::sync::Mutex::new(state),
        outcomes: Mutex::new(vec![None; n]),
        done: (0..n).map(|_| watch::channel(None).0).collect(),
    };
    let (service_steps, model_steps): (Vec<&Step>, Vec<&Step>) = plan
        .steps
        .iter()
        .partition(|s| s.action.model().is_none() && !s.action.is_file());
    let run_ref = &run;
    let model_futures = model_steps.into_iter().map(|step| async move {
        match run_ref.dependencies(step).await {
            Err(because) => run_ref.finish(step.id, Outcome::Skipped { because }),
            Ok(()) => {
                run_ref.started(step);
                let done = if step.action.is_file() {
                    files::run(step, run_ref).await
                } else {
                    models::run(step, run_ref).await
                };
                let outcome = match done {
                    Ok(()) => Outcome::Succeeded,
                    Err(error) => Outcome::Failed(error.failure()),
                };
                run_ref.finish(step.id, outcome);
            }
        }
    });
    futures_util::future::join(
        services::drive(&service_steps, run_ref),
        join_all(model_futures),
    )
    .await;
    let outcomes = run.outcomes.into_inner().unwrap_or_else(|p| p.into_inner());
    Report {
        steps: plan
            .steps
            .iter()
            .zip(outcomes)
            .map(|(s, o)| {
                let o = o.unwrap_or_else(|| {
                    Outcome::Failed(Failure::new(FailureKind::Other, "did not run"))
                });
                (s.id, s.action.title(), o)
            })
            .collect(),
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod engine_tests;
