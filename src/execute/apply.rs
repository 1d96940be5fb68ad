//! `apply_project`: lock, observe, plan, review, execute — the one entry
//! point for every apply. The daemon runs it for `apply` and `up` (with the
//! plan the CLI made and confirmed as a saved plan, see
//! `supervisor::handler::apply`) and for its watch mode; `facerunner
//! watch` runs it in its own process.
//!
//! The lock is taken *before* observing, so a second apply that had to
//! wait plans against the world the first one left (usually "No changes").
//! A saved plan (`apply PLANFILE`, and the plan the CLI sends the daemon)
//! runs only when a fresh plan, made under the lock, equals it: same
//! fingerprints of the file's meaning and the live state, same steps, same
//! checks. What runs is always what the planner made now, never what the
//! file says it should be.

use std::path::PathBuf;
use std::sync::Arc;

use super::driver::ServiceDriver;
use super::engine::{Context, execute};
use super::lock::{self, ApplyLock};
use super::prepare::prepare;
use super::store::{self, StateError};
use crate::config::Loaded;
use crate::config::resolve::normalized;
use crate::config::resolve::ollama_url;
use crate::model::events::{ExecEvent, Report, Sink};
use crate::model::spec::ProjectSpec;
use crate::model::state::ServiceRecord;
use crate::observe::{Live, LiveService};
use crate::paths::ProjectDirs;
use crate::plan::{FORMAT_VERSION, Plan};

/// Why an apply did not run (step failures are in the [`Report`] instead).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// The lock file could not be used.
    #[error("cannot take the apply lock in {}", path.display())]
    Lock {
        /// The state directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The state file could not be read.
    #[error(transparent)]
    State(#[from] StateError),
    /// Checks found errors; nothing was changed.
    #[error("the plan has {count} error(s); nothing was changed")]
    Checks {
        /// How many.
        count: usize,
    },
    /// The saved plan no longer matches the file or the live state.
    #[error("the saved plan is stale: {what} changed since it was made; nothing was changed")]
    Stale {
        /// `the project file` or `the live state`.
        what: &'static str,
    },
    /// The saved plan is not what a fresh plan made now would be (a
    /// hand-edited step, a model it would remove that FaceRunner does not
    /// own, ...).
    #[error("the saved plan differs from a fresh plan: {what}; nothing was changed")]
    Differs {
        /// The first difference, in words.
        what: String,
    },
    /// The saved plan's steps do not form a valid graph.
    #[error("the saved plan is invalid: {0}; nothing was changed")]
    Invalid(crate::plan::PlanShapeError),
    /// The saved plan is from another format version.
    #[error(
        "the saved plan has format version {0}; this facerunner reads version {FORMAT_VERSION}"
    )]
    Version(u32),
    /// The review said no.
    #[error("apply cancelled; nothing was changed")]
    Declined,
}

/// How to apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// How service steps reach the supervisor.
    pub driver: Arc<dyn ServiceDriver>,
    /// A saved plan to apply instead of a fresh one.
    pub saved: Option<Plan>,
    /// Pulls at the same time (3 is a good default).
    pub pull_concurrency: usize,
    /// The GPUs to plan against.
    pub inventory: crate::model::gpu::Inventory,
}

/// What an apply did.
#[derive(Debug, Clone)]
pub enum Applied {
    /// Nothing to do.
    NoChanges(Plan),
    /// The plan ran; the report says how each step ended.
    Ran {
        /// The plan that ran.
        plan: Plan,
        /// Each step's outcome.
        report: Report,
    },
}

/// Apply the project: take the lock (waiting, with a
/// [`ExecEvent::WaitingForLock`]), observe and plan, call `review` with the
/// plan (return `false` to cancel), and execute it. `spec` should be
/// resolved with `Secrets::Create`.
///
/// ```no_run
/// # async fn demo(loaded: &facerunner::config::Loaded, spec: &facerunner::supervisor::ProjectSpec,
/// #               dirs: &facerunner::paths::ProjectDirs) -> Result<(), facerunner::execute::ApplyError> {
/// use facerunner::execute::{apply_project, ApplyOptions};
/// use std::sync::Arc;
/// let driver = Arc::new(facerunner::execute::driver::Remote {
///     dirs: dirs.clone(),
///     exe: std::env::current_exe().expect("exe"),
/// });
/// let inventory = facerunner::gpu::local();
/// let opts = ApplyOptions { driver, saved: None, pull_concurrency: 3, inventory };
/// let sink = |e: &facerunner::execute::ExecEvent| eprintln!("{e:?}");
/// let applied = apply_project(loaded, spec, dirs, opts, &sink, |_plan| true).await?;
/// # Ok(()) }
/// ```
pub async fn apply_project(
    loaded: &Loaded,
    spec: &ProjectSpec,
    dirs: &ProjectDirs,
    opts: ApplyOptions,
    sink: &dyn Sink,
    review: impl FnOnce(&Plan) -> bool,
) -> Result<Applied, ApplyError> {
    if let Some(saved) = &opts.saved {
        if saved.format_version != FORMAT_VERSION {
            return Err(ApplyError::Version(saved.format_version));
        }
        saved.validate().map_err(ApplyError::Invalid)?;
    }
    let _lock = take_lock(dirs, sink).await?;
    let prepared = prepare(loaded, spec, dirs, &opts.inventory).await?;
    let plan = match opts.saved {
        Some(saved) => {
            check_saved(&saved, &prepared.plan)?;
            saved
        }
        None => prepared.plan,
    };
    let go = review(&plan);
    let errors = plan
        .checks
        .iter()
        .filter(|c| c.severity == crate::plan::Severity::Error)
        .count();
    if errors > 0 {
        return Err(ApplyError::Checks { count: errors });
    }
    if plan.is_empty() {
        return Ok(Applied::NoChanges(plan));
    }
    if !go {
        return Err(ApplyError::Declined);
    }
    let cfg = &loaded.config;
    let ctx = Context {
        dirs: dirs.clone(),
        spec: spec.clone(),
        driver: opts.driver,
        urls: cfg
            .ollama_services()
            .map(|(n, s)| (n.clone(), ollama_url(cfg, s)))
            .collect(),
        pull_concurrency: opts.pull_concurrency,
        by_hand: false,
        hub_vars: loaded.hub_vars.clone(),
    };
    let report = execute(&plan, &ctx, prepared.state, sink).await;
    remember_unchanged(spec, &prepared.live, dirs)?;
    Ok(Applied::Ran { plan, report })
}

/// Refuse a saved plan of another format version, of an invalid shape,
/// whose fingerprints differ from a `fresh` plan's, or that is in any other
/// way not equal to it (the first difference is named).
pub fn check_saved(saved: &Plan, fresh: &Plan) -> Result<(), ApplyError> {
    if saved.format_version != FORMAT_VERSION {
        return Err(ApplyError::Version(saved.format_version));
    }
    saved.validate().map_err(ApplyError::Invalid)?;
    if saved.fingerprint.config != fresh.fingerprint.config {
        return Err(ApplyError::Stale {
            what: "the project file",
        });
    }
    if saved.fingerprint.live != fresh.fingerprint.live {
        return Err(ApplyError::Stale {
            what: "the live state",
        });
    }
    if saved.fingerprint.hub != fresh.fingerprint.hub {
        return Err(ApplyError::Stale {
            what: "the Hugging Face Hub's answer (a revision of an `hf:` model points to another commit)",
        });
    }
    if let Some(what) = saved.first_difference(fresh) {
        return Err(ApplyError::Differs { what });
    }
    Ok(())
}

/// Record the spec of services that run unchanged but have no record yet
/// (started by `up` before FaceRunner applied anything), so that a later
/// restart can show its field diff.
fn remember_unchanged(
    spec: &ProjectSpec,
    live: &Live,
    dirs: &ProjectDirs,
) -> Result<(), StateError> {
    let mut state = store::load(&dirs.state)?;
    let mut changed = false;
    for svc in &spec.services {
        let running_same = matches!(live.service(&svc.name),
            LiveService::Running { spec_hash } if *spec_hash == svc.spec_hash);
        if running_same && !state.services.contains_key(&svc.name) {
            state.services.insert(
                svc.name.clone(),
                ServiceRecord {
                    spec_hash: svc.spec_hash.clone(),
                    spec: normalized(svc),
                },
            );
            changed = true;
        }
    }
    if changed {
        store::save(&state, &dirs.state)?;
    }
    Ok(())
}

/// Take the project's apply lock, telling `sink` while another apply holds it.
async fn take_lock(dirs: &ProjectDirs, sink: &dyn Sink) -> Result<ApplyLock, ApplyError> {
    lock::acquire(&dirs.state, |holder| {
        sink.event(&ExecEvent::WaitingForLock {
            holder: holder.to_string(),
        });
    })
    .await
    .map_err(|source| ApplyError::Lock {
        path: dirs.state.clone(),
        source,
    })
}

/// Run ad-hoc model actions (`facerunner pull`, `facerunner rm`) through the
/// same engine, under the same lock, recording ownership the same way,
/// except that a pull is recorded as pulled by hand (never pruned).
pub async fn run_actions(
    spec: &ProjectSpec,
    dirs: &ProjectDirs,
    urls: std::collections::BTreeMap<String, String>,
    actions: Vec<crate::plan::Action>,
    driver: Arc<dyn ServiceDriver>,
    sink: &dyn Sink,
) -> Result<Report, ApplyError> {
    let _lock = take_lock(dirs, sink).await?;
    let state = store::load(&dirs.state)?;
    let plan = Plan {
        format_version: FORMAT_VERSION,
        project: spec.project.clone(),
        fingerprint: crate::plan::Fingerprint {
            config: String::new(),
            live: String::new(),
            hub: String::new(),
        },
        steps: actions
            .into_iter()
            .enumerate()
            .map(|(id, action)| crate::plan::Step {
                id,
                action,
                reason: "asked for".into(),
                waits_for: vec![],
            })
            .collect(),
        checks: vec![],
        unmanaged: Default::default(),
        fit: Vec::new(),
        fit_skipped: None,
        placement: Vec::new(),
    };
    let ctx = Context {
        dirs: dirs.clone(),
        spec: spec.clone(),
        driver,
        urls,
        pull_concurrency: 3,
        by_hand: true,
        hub_vars: crate::hf::HubVars::process(),
    };
    Ok(execute(&plan, &ctx, state, sink).await)
}
