//! Applying through the daemon: plan here, send the reviewed plan to the
//! project's daemon (started when none runs), stream its events back, and
//! plan again a few times when the daemon finds the plan stale. Shared by
//! `apply` and `up`; [`Failure`] says why an apply did not run.

use miette::miette;

use crate::cli::Global;
use crate::cli::daemon::report;
use crate::cli::project::{load_error, load_project_with};
use crate::client::ensure_daemon;
use crate::config::interpolate::Vars;
use crate::config::load::read_dotenv;
use crate::config::resolve::Secrets;
use crate::execute::lock::wait_until_free;
use crate::execute::prepare::prepare;
use crate::execute::{Applied, ApplyError, ExecEvent, Sink, check_saved};
use crate::model::wire::{ErrorKind, Request, Response};
use crate::plan::{Plan, Severity};
use crate::supervisor::SupervisorError;

/// Why an apply through the daemon did not run.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Refused here, before the daemon was asked (stale saved plan, errors
    /// in the checks, declined).
    Apply(ApplyError),
    /// The daemon refused it (a typed `WireError` inside), or could not
    /// be reached.
    Daemon(SupervisorError),
    /// The project file did not load; its diagnostics are printed.
    Load(miette::Report),
}

impl Failure {
    /// The report to print; `from_file`: the plan came from `apply PLANFILE`.
    pub(crate) fn into_report(self, from_file: bool) -> miette::Report {
        let replan = if from_file {
            "run `facerunner plan --out FILE` again and review the new plan"
        } else {
            "run `facerunner apply` again and review the new plan"
        };
        match self {
            Failure::Apply(e @ (ApplyError::Stale { .. } | ApplyError::Differs { .. })) => {
                miette!(help = replan, "{e}")
            }
            Failure::Apply(e @ ApplyError::Invalid(_)) => miette!(
                help =
                    "make the plan again with `facerunner plan --out FILE`; do not edit it by hand",
                "{e}"
            ),
            Failure::Apply(e @ ApplyError::Checks { .. }) => {
                miette!(help = "fix the errors listed above", "{e}")
            }
            Failure::Apply(e) => miette!(help = "nothing was changed", "{e}"),
            Failure::Daemon(SupervisorError::Remote(w)) if w.kind == ErrorKind::StalePlan => {
                miette!(help = replan, "{w}")
            }
            Failure::Daemon(e) => report(e),
            Failure::Load(r) => r,
        }
    }
}

/// How many times a fresh plan is made again when the daemon finds it
/// stale (another apply, or an edit, landed between planning and running).
const FRESH_PLAN_TRIES: usize = 3;

/// Load the project, wait for any running apply, observe and plan here;
/// call `review` with the plan (`false` declines) and send the confirmed
/// plan to the project's daemon (started when none runs), which executes
/// it and streams its events into `sink`.
///
/// The daemon refuses a plan whose file or live state moved since it was
/// made. A `saved` plan then fails, as `apply PLANFILE` must; a fresh one
/// is made again and reviewed again, a few times, so that two applies
/// started together behave as before: the second plans against the world
/// the first left.
pub(crate) async fn apply_in_daemon(
    global: &Global,
    saved: Option<Plan>,
    sink: &dyn Sink,
    mut review: impl FnMut(&Plan) -> bool,
) -> Result<Applied, Failure> {
    let inventory = global.inventory().map_err(Failure::Load)?;
    let exe = std::env::current_exe()
        .map_err(|e| Failure::Daemon(SupervisorError::io("find", "our executable", e)))?;
    let mut tries = 0;
    loop {
        tries += 1;
        let (spec, dirs, loaded) =
            load_project_with(global, Secrets::Create).map_err(Failure::Load)?;
        let dotenv =
            read_dotenv(&loaded.base_dir.join(".env")).map_err(|e| Failure::Load(load_error(e)))?;
        let vars = Vars::from_env_over(dotenv);
        // Wait for an apply in progress, so this one plans against the world
        // it leaves; the daemon takes the lock to execute.
        wait_until_free(&dirs.state, |holder| {
            sink.event(&ExecEvent::WaitingForLock {
                holder: holder.to_string(),
            });
        })
        .await
        .map_err(|source| {
            Failure::Apply(ApplyError::Lock {
                path: dirs.state.clone(),
                source,
            })
        })?;
        let prepared = prepare(&loaded, &spec, &dirs, &inventory)
            .await
            .map_err(|e| Failure::Apply(e.into()))?;
        let plan = match &saved {
            Some(saved) => {
                check_saved(saved, &prepared.plan).map_err(Failure::Apply)?;
                saved.clone()
            }
            None => prepared.plan,
        };
        let go = review(&plan);
        let errors = plan
            .checks
            .iter()
            .filter(|c| c.severity == Severity::Error)
            .count();
        if errors > 0 {
            return Err(Failure::Apply(ApplyError::Checks { count: errors }));
        }
        if plan.is_empty() {
            return Ok(Applied::NoChanges(plan));
        }
        if !go {
            return Err(Failure::Apply(ApplyError::Declined));
        }
        let client = ensure_daemon(&dirs, &exe).await.map_err(Failure::Daemon)?;
        let request = Request::Apply {
            config: loaded.file.path.clone(),
            vars: vars.map,
            plan: Box::new(plan.clone()),
            gpus: global
                .gpus_from
                .is_some()
                .then(|| Box::new(inventory.clone())),
        };
        let answer = client
            .request_streaming(&request, |r| {
                if let Response::Exec(e) = r {
                    sink.event(e);
                }
            })
            .await;
        match answer {
            Ok(Response::Applied { report }) => return Ok(Applied::Ran { plan, report }),
            Ok(Response::NoChanges) => return Ok(Applied::NoChanges(plan)),
            Ok(other) => {
                return Err(Failure::Daemon(SupervisorError::Protocol(format!(
                    "unexpected answer to apply: {other:?}"
                ))));
            }
            Err(SupervisorError::Remote(w))
                if w.kind == ErrorKind::StalePlan
                    && saved.is_none()
                    && tries < FRESH_PLAN_TRIES =>
            {
                anstream::eprintln!(
                    "the plan went stale before it ran ({}); planning again",
                    w.message
                );
            }
            Err(e) => return Err(Failure::Daemon(e)),
        }
    }
}
