//! The plan as plain data: what `apply` would change.
//!
//! Made by `plan::plan` (a pure function of the desired state, the live
//! state and the state file), printed by `plan::render`, serialized
//! (`plan --json`, `plan --out`, documented in `docs/plan-json.md`) and run
//! by `execute`, so what a person reviews is exactly what runs. It lives at
//! the bottom because the daemon's wire types carry it.

use std::collections::BTreeMap;

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ollama::CreateRequest;

pub use super::checks::{Check, Severity};

/// The version of the plan's JSON form; bumped on incompatible changes.
pub const FORMAT_VERSION: u32 = 1;

/// Everything `apply` would do, in execution order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Plan {
    /// Always [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The project.
    pub project: String,
    /// What the plan was made from; `apply PLANFILE` refuses when either moved.
    pub fingerprint: Fingerprint,
    /// The steps, services first, then models per ollama service.
    pub steps: Vec<Step>,
    /// Problems found before anything runs; errors block `apply`.
    pub checks: Vec<Check>,
    /// Per ollama service: installed models FaceRunner did not install and
    /// the file does not list. Listed, never touched.
    pub unmanaged: BTreeMap<String, Vec<String>>,
    /// The GPU fit check: each declared model's memory estimate against
    /// its service's GPUs (`settings.gpu_fit`; see `docs/gpu-memory.md`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fit: Vec<ModelFit>,
    /// Why the fit check did not run (no GPU inventory, `gpu_fit: off`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fit_skipped: Option<String>,
    /// `placement: spread`: the one instance each model of a replicated
    /// ollama service goes to, and why. Its model steps exist only there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placement: Vec<ModelPlacement>,
}

/// Where `placement: spread` puts one model of a `replicas: per-gpu` service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ModelPlacement {
    /// The replicated service, as the file names it (`llm`).
    pub group: String,
    /// The model's name.
    pub model: String,
    /// The instance it goes to (`llm-1`).
    pub service: String,
    /// That instance's GPUs (indices in the inventory; empty when unknown).
    pub gpus: Vec<u32>,
    /// Its estimated memory, when its header was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub need_bytes: Option<u64>,
    /// Room left on the instance's GPUs before it was placed (after the
    /// models placed before it and other processes), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_bytes: Option<u64>,
    /// How the instance was chosen.
    pub basis: PlacementBasis,
    /// Why, in words (the reason of its model steps ends with it).
    pub reason: String,
}

/// How [`ModelPlacement::service`] was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlacementBasis {
    /// Already installed there, and still fits: it stays (no churn).
    Installed,
    /// The first instance (by position) whose GPU has room for it, taking
    /// models largest first.
    FirstFit,
    /// No GPU has room for it: the instance with the most room left.
    MostRoom,
    /// Its size is not known: the instance with the most room left.
    UnknownSize,
    /// No GPU inventory or no size known: by turns (the instance with the
    /// fewest models so far).
    RoundRobin,
}

/// One model's place on its service's GPUs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ModelFit {
    /// The ollama service.
    pub service: String,
    /// The model's name.
    pub model: String,
    /// Kept resident (`keep_alive`): counted together with the service's
    /// other resident models; else on demand, beside the resident ones.
    pub resident: bool,
    /// The memory it needs, and its parts.
    pub estimate: crate::model::gpu::Estimate,
    /// The GPUs it was placed on (indices), most free first.
    pub gpus: Vec<u32>,
    /// Memory free for it on those GPUs (after resident models and other
    /// processes), summed.
    pub free_bytes: u64,
    /// Total memory of those GPUs, summed.
    pub total_bytes: u64,
    /// The verdict.
    pub outcome: FitOutcome,
    /// Share of its layers that would run on the CPU (0 when it fits).
    pub cpu_layers_percent: u64,
}

/// Whether a model fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FitOutcome {
    /// Wholly on the GPU(s).
    Fits,
    /// Some layers on the GPU, the rest on the CPU (slow).
    Partial,
    /// Not even one layer: it runs on the CPU.
    None,
}

/// Hashes of the inputs a plan was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Fingerprint {
    /// SHA-256 of what the project file means: its text, the interpolated
    /// file (`.env`, the environment) and the resolved spec hashes.
    pub config: String,
    /// SHA-256 of the observed live state.
    pub live: String,
    /// SHA-256 of the Hugging Face Hub's answers the `hf:` entries were
    /// resolved with: the commit each revision pointed to (empty without
    /// `hf:` entries). A moved `main` makes a saved plan stale.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hub: String,
}

/// One step: an action, why, and the steps it waits for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Step {
    /// Index in [`Plan::steps`].
    pub id: usize,
    /// What to do.
    #[serde(flatten)]
    pub action: Action,
    /// Why, in words.
    pub reason: String,
    /// Ids of steps that must succeed first.
    pub waits_for: Vec<usize>,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Start a service that is not running.
    StartService {
        /// Service.
        service: String,
    },
    /// Restart a service whose spec changed.
    RestartService {
        /// Service.
        service: String,
        /// The fields that changed (empty when the previous spec is unknown).
        changes: Vec<FieldChange>,
    },
    /// Stop a service the file no longer lists.
    StopService {
        /// Service.
        service: String,
    },
    /// Pull a model from its registry.
    PullModel {
        /// The ollama service.
        service: String,
        /// The name to pull.
        model: String,
        /// Where the name came from when it is not written as is (`hf: org/repo`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<String>,
        /// For an `hf:` model: the quant, bytes and commit the Hub answered.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hf: Option<Box<crate::model::hf_resolve::HfResolution>>,
    },
    /// Create (or re-create) a derived or file model with `/api/create`.
    CreateModel {
        /// The ollama service.
        service: String,
        /// The model to create.
        model: String,
        /// The request (for file models `files` is filled in when it runs).
        request: Box<CreateRequest>,
        /// A local GGUF file to upload first.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file: Option<String>,
        /// Hash of the definition, recorded in the state file.
        create_hash: String,
        /// Whether an installed model of that name is replaced.
        replaces: bool,
        /// The fields of the definition that changed (when replacing one FaceRunner created).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        changes: Vec<FieldChange>,
        /// An `hf:` import: the files downloaded from the Hub (into the
        /// Hugging Face cache) and uploaded as `files`, pinned to a commit.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hf: Option<Box<crate::model::hf_resolve::HfResolution>>,
    },
    /// Give a model a second name (`alias:`).
    CopyModel {
        /// The ollama service.
        service: String,
        /// The existing name.
        source: String,
        /// The new name.
        model: String,
    },
    /// Remove a model FaceRunner installed and the file no longer lists.
    RemoveModel {
        /// The ollama service.
        service: String,
        /// The model.
        model: String,
    },
    /// Load a model and keep it resident (`keep_alive`).
    PreloadModel {
        /// The ollama service.
        service: String,
        /// The model.
        model: String,
        /// How long it stays loaded.
        keep_alive: String,
    },
    /// Put the daemon's own settings in force (`settings.watch`,
    /// `settings.watch_debounce`): the new spec goes to the daemon, which
    /// starts or stops watching the file.
    UpdateDaemon {
        /// The settings that change (`watch`, `watch_debounce`).
        changes: Vec<FieldChange>,
    },
    /// Write a file for another tool (an editor integration): create it, or
    /// replace the one FaceRunner wrote (`replaces`, whose content the
    /// state file recorded and which nobody changed since).
    WriteFile {
        /// The integration (`continue`).
        integration: String,
        /// Absolute path.
        path: String,
        /// How the plan shows it (relative to the project, or with `~`).
        shown: String,
        /// The whole content.
        content: String,
        /// Whether a file FaceRunner wrote is replaced.
        replaces: bool,
    },
    /// Delete a file FaceRunner wrote that the project file no longer asks
    /// for, provided it still holds exactly what was written (`sha256`).
    RemoveFile {
        /// The integration (`continue`).
        integration: String,
        /// Absolute path.
        path: String,
        /// How the plan shows it.
        shown: String,
        /// SHA-256 of the content FaceRunner wrote.
        sha256: String,
    },
    /// Set one key of a JSON settings file (Zed's `language_models.ollama`),
    /// leaving every other key as it is.
    MergeJson {
        /// The integration (`zed`).
        integration: String,
        /// Absolute path.
        path: String,
        /// How the plan shows it.
        shown: String,
        /// The key path inside the file (`["language_models", "ollama"]`).
        key: Vec<String>,
        /// The value it gets.
        value: Value,
    },
}

/// What [`Action::service`] names for file steps ([`Action::is_file`]).
pub const INTEGRATIONS_SUBJECT: &str = "integrations";

/// What [`Action::service`] names for [`Action::UpdateDaemon`], which acts
/// on no service.
pub const DAEMON_SUBJECT: &str = "daemon";

/// How a step changes the world, for symbols and the summary line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// `+`: something new.
    Add,
    /// `~`: changed in place.
    Update,
    /// `-/+`: removed and made again.
    Replace,
    /// `-`: removed.
    Remove,
}

impl Change {
    /// The plan symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            Change::Add => "+",
            Change::Update => "~",
            Change::Replace => "-/+",
            Change::Remove => "-",
        }
    }
}

impl Action {
    /// What kind of change this is.
    pub fn change(&self) -> Change {
        match self {
            Action::StartService { .. } | Action::PullModel { .. } | Action::CopyModel { .. } => {
                Change::Add
            }
            Action::CreateModel { replaces, .. } => {
                if *replaces {
                    Change::Replace
                } else {
                    Change::Add
                }
            }
            Action::RestartService { .. }
            | Action::PreloadModel { .. }
            | Action::UpdateDaemon { .. } => Change::Update,
            Action::StopService { .. } | Action::RemoveModel { .. } | Action::RemoveFile { .. } => {
                Change::Remove
            }
            Action::WriteFile { replaces, .. } => {
                if *replaces {
                    Change::Update
                } else {
                    Change::Add
                }
            }
            Action::MergeJson { .. } => Change::Update,
        }
    }

    /// The service the step acts on (or whose models it changes);
    /// [`DAEMON_SUBJECT`] for a daemon step (see [`Action::is_daemon`]).
    pub fn service(&self) -> &str {
        match self {
            Action::StartService { service }
            | Action::RestartService { service, .. }
            | Action::StopService { service }
            | Action::PullModel { service, .. }
            | Action::CreateModel { service, .. }
            | Action::CopyModel { service, .. }
            | Action::RemoveModel { service, .. }
            | Action::PreloadModel { service, .. } => service,
            Action::UpdateDaemon { .. } => DAEMON_SUBJECT,
            Action::WriteFile { .. } | Action::RemoveFile { .. } | Action::MergeJson { .. } => {
                INTEGRATIONS_SUBJECT
            }
        }
    }

    /// Whether the step writes or deletes a file for another tool (no
    /// service, no model).
    pub fn is_file(&self) -> bool {
        matches!(
            self,
            Action::WriteFile { .. } | Action::RemoveFile { .. } | Action::MergeJson { .. }
        )
    }

    /// Whether the step changes the daemon's own settings (no service's).
    pub fn is_daemon(&self) -> bool {
        matches!(self, Action::UpdateDaemon { .. })
    }

    /// The model, for model steps.
    pub fn model(&self) -> Option<&str> {
        match self {
            Action::PullModel { model, .. }
            | Action::CreateModel { model, .. }
            | Action::CopyModel { model, .. }
            | Action::RemoveModel { model, .. }
            | Action::PreloadModel { model, .. } => Some(model),
            _ => None,
        }
    }

    /// A short verb phrase: `pull llama3.2:1b`, `restart service ollama`.
    pub fn title(&self) -> String {
        match self {
            Action::StartService { service } => format!("start service {service}"),
            Action::RestartService { service, .. } => format!("restart service {service}"),
            Action::StopService { service } => format!("stop service {service}"),
            Action::PullModel { model, .. } => format!("pull {model}"),
            Action::CreateModel {
                model, replaces, ..
            } => format!("{} {model}", if *replaces { "recreate" } else { "create" }),
            Action::CopyModel { source, model, .. } => format!("copy {source} → {model}"),
            Action::RemoveModel { model, .. } => format!("remove {model}"),
            Action::PreloadModel { model, .. } => format!("load {model}"),
            Action::UpdateDaemon { .. } => "update the daemon's settings".into(),
            Action::WriteFile {
                shown, replaces, ..
            } => format!("{} {shown}", if *replaces { "update" } else { "create" }),
            Action::RemoveFile { shown, .. } => format!("delete {shown}"),
            Action::MergeJson { shown, key, .. } => {
                format!("merge {} into {shown}", key.join("."))
            }
        }
    }
}

impl Plan {
    /// Whether applying would change nothing.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Whether a check blocks applying.
    pub fn has_errors(&self) -> bool {
        self.checks.iter().any(|c| c.severity == Severity::Error)
    }

    /// (add, change, remove) counts for the summary line.
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for s in &self.steps {
            match s.action.change() {
                Change::Add => c.0 += 1,
                Change::Update | Change::Replace => c.1 += 1,
                Change::Remove => c.2 += 1,
            }
        }
        c
    }

    /// "Plan: 2 to add, 1 to change, 0 to remove." or "No changes."
    pub fn summary(&self) -> String {
        if self.is_empty() {
            return "No changes.".into();
        }
        let (a, c, r) = self.counts();
        format!("Plan: {a} to add, {c} to change, {r} to remove.")
    }

    /// Check the shape of a plan read from outside (a saved plan, a
    /// request): every step's id is its index, and every `waits_for` names
    /// an earlier step. The planner only ever makes such plans; together
    /// the rules rule out missing steps and cycles, so the executor never
    /// indexes out of range or waits forever.
    pub fn validate(&self) -> Result<(), PlanShapeError> {
        for (index, step) in self.steps.iter().enumerate() {
            if step.id != index {
                return Err(PlanShapeError::Id { index, id: step.id });
            }
            if let Some(&dep) = step.waits_for.iter().find(|&&d| d >= index) {
                return Err(PlanShapeError::WaitsFor { id: index, dep });
            }
        }
        Ok(())
    }

    /// How `other` (a fresh plan) differs from this one (a saved plan), in
    /// words: the first differing step, check or list; `None` when equal.
    pub fn first_difference(&self, other: &Plan) -> Option<String> {
        if self.project != other.project {
            return Some(format!(
                "it is for project `{}`, this file is project `{}`",
                self.project, other.project
            ));
        }
        let steps = self.steps.len().max(other.steps.len());
        for i in 0..steps {
            match (self.steps.get(i), other.steps.get(i)) {
                (Some(a), Some(b)) if a == b => {}
                (Some(a), Some(b)) if a.action == b.action => {
                    return Some(format!(
                        "step {i} ({}) differs in its reason or what it waits for",
                        a.action.title()
                    ));
                }
                (Some(a), Some(b)) => {
                    return Some(format!(
                        "step {i} is `{}` in the saved plan but `{}` now",
                        a.action.title(),
                        b.action.title()
                    ));
                }
                (Some(a), None) => {
                    return Some(format!(
                        "step {i} (`{}`) is not in a fresh plan",
                        a.action.title()
                    ));
                }
                (None, Some(b)) => {
                    return Some(format!(
                        "a fresh plan has step {i} (`{}`) too",
                        b.action.title()
                    ));
                }
                (None, None) => {}
            }
        }
        if self.checks != other.checks {
            return Some("its checks differ from a fresh plan's".into());
        }
        if self.unmanaged != other.unmanaged {
            return Some("its list of unmanaged models differs from a fresh plan's".into());
        }
        if self != other {
            return Some("it differs from a fresh plan".into());
        }
        None
    }
}

/// A plan whose steps do not form a valid graph.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanShapeError {
    /// A step's id is not its position.
    #[error("step {index} has id {id}; a step's id must be its position in `steps`")]
    Id {
        /// The position.
        index: usize,
        /// The id it has.
        id: usize,
    },
    /// A step waits for itself, a later step or one that does not exist.
    #[error(
        "step {id} waits for step {dep}, which does not come before it (a step may only wait for earlier steps)"
    )]
    WaitsFor {
        /// The step.
        id: usize,
        /// What it waits for.
        dep: usize,
    },
}

/// One changed field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FieldChange {
    /// Dotted path, e.g. `env.LOG_LEVEL`.
    pub path: String,
    /// The value before (absent when the field is new).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    /// The value after (absent when the field is gone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
}

impl fmt::Display for FieldChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<Value>| v.as_ref().map_or("(none)".to_string(), Value::to_string);
        write!(
            f,
            "{}: {} → {}",
            self.path,
            show(&self.old),
            show(&self.new)
        )
    }
}
