//! The state file: what FaceRunner owns, and what it last applied.
//!
//! Ownership is the safety rule of the whole tool: only models recorded
//! here are ever removed (and only with `settings.prune_models: true`), so a
//! model someone pulled with `ollama pull` is never touched; one pulled with
//! `facerunner pull` is recorded as [`Origin::PulledByHand`] and is not
//! pruned either (it was asked for, not declared). Per service it keeps the
//! normalized spec that was last applied, so a restart can show *which
//! fields* changed; per derived model the hash of its create request, so a
//! change of `from`/`system`/`parameters`/`template` recreates it.
//!
//! The file's I/O is `execute::store`. Writes are atomic (temp file in the same directory, fsync, rename, fsync
//! the directory) and happen after every completed step of an apply, under
//! the apply lock: a crash leaves the file as it was before or after a
//! step, never torn, and the next `plan` shows what is still to do.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The format version written in every state file.
pub const STATE_VERSION: u32 = 1;

/// The state file's name inside `ProjectDirs.state`.
pub const STATE_FILE: &str = "state.json";

/// Everything FaceRunner remembers between runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Always [`STATE_VERSION`].
    pub version: u32,
    /// Per service: what was last applied.
    #[serde(default)]
    pub services: BTreeMap<String, ServiceRecord>,
    /// Per ollama service, per model key: the models FaceRunner installed.
    #[serde(default)]
    pub models: BTreeMap<String, BTreeMap<String, ModelRecord>>,
    /// Files FaceRunner wrote for other tools (editor integrations), by
    /// absolute path: only such a file, with the content recorded here, is
    /// ever replaced or deleted.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, FileRecord>,
}

/// A file FaceRunner wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// The integration that wants it (`continue`).
    pub integration: String,
    /// SHA-256 (hex) of the content written.
    pub sha256: String,
    /// How the plan shows it (relative to the project, or with `~`).
    #[serde(default)]
    pub shown: String,
}

impl Default for State {
    fn default() -> Self {
        State {
            version: STATE_VERSION,
            services: BTreeMap::new(),
            models: BTreeMap::new(),
            files: BTreeMap::new(),
        }
    }
}

/// A service as FaceRunner last applied it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceRecord {
    /// SHA-256 of the normalized spec.
    pub spec_hash: String,
    /// The normalized spec (`config::resolve::normalized`), for field diffs.
    pub spec: serde_json::Value,
}

/// How FaceRunner came to own a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Pulled from a registry because the file declared it.
    Pulled,
    /// Pulled by hand with `facerunner pull`: not declared, so never pruned
    /// (only `facerunner rm` removes it). State files written before this
    /// variant existed simply have none.
    PulledByHand,
    /// Created with `/api/create` (derived or file model).
    Created,
    /// Copied under an alias.
    Copied,
}

/// One owned model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRecord {
    /// The name as Ollama shows it.
    pub name: String,
    /// How it was installed.
    pub origin: Origin,
    /// For created models: the hash of the create request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_hash: Option<String>,
    /// For created models: the create request, so a change shows its fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition: Option<serde_json::Value>,
    /// For `hf:` models: the Hub commit it was installed from, so a moved
    /// revision (`main`) shows as a change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hf_commit: Option<String>,
}

impl ModelRecord {
    /// Whether `prune_models` may remove it: installed for the file, not
    /// pulled by hand.
    pub fn prunable(&self) -> bool {
        self.origin != Origin::PulledByHand
    }
}

impl State {
    /// The owned models of one ollama service.
    pub fn owned(&self, service: &str) -> impl Iterator<Item = (&String, &ModelRecord)> {
        self.models.get(service).into_iter().flatten()
    }

    /// Whether FaceRunner owns model `key` on `service`.
    pub fn owns(&self, service: &str, key: &str) -> bool {
        self.models
            .get(service)
            .is_some_and(|m| m.contains_key(key))
    }
}
