//! The live state: what is running and installed right now, as plain data.
//!
//! `observe` fills it; the plan is a pure function of it, the desired state
//! and the state file. It is serde data so a saved plan can fingerprint the
//! live state it was made from and `apply PLANFILE` can tell whether the
//! world moved since.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::spec::DaemonSettings;

/// Everything observed, at one moment.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Live {
    /// Whether the project's daemon answered.
    pub daemon: bool,
    /// Why the daemon listening on the project's socket cannot be used
    /// (another protocol version, a failed handshake, no answer); `None`
    /// when it answered or none runs. The plan turns it into an error: the
    /// services it runs are unknown, so nothing can be planned against them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon_unusable: Option<DaemonProblem>,
    /// The daemon's own settings in force (the defaults, no watching, when
    /// no daemon runs: what a freshly started one has).
    #[serde(default)]
    pub daemon_settings: DaemonSettings,
    /// Every service the daemon knows (also ones gone from the file).
    pub services: BTreeMap<String, LiveService>,
    /// Per `ollama` service of the file: its installed models.
    pub stores: BTreeMap<String, LiveStore>,
    /// Host facts about services that would have to be started.
    pub host: HostFacts,
    /// The GPUs plans are made against (this machine's, or `--gpus-from`).
    /// Not in the fingerprint: memory in use moves all the time, and the
    /// inventory is an input the plan states, like the file.
    #[serde(default)]
    pub inventory: crate::model::gpu::Inventory,
    /// The declared models' shapes for the fit check, read from their GGUF
    /// headers: by `file:PATH` for `file:` models, `SERVICE/MODEL-KEY` for
    /// installed ones. Not in the fingerprint (an input of the check only).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub models_meta: BTreeMap<String, crate::model::gguf::ModelMeta>,
    /// The Hub's answer for each `hf:` entry, by `org/repo@revision`
    /// (empty offline). Not in [`Live::fingerprint`]: the commits are in
    /// [`Live::hub_fingerprint`], so a saved plan says the Hub moved.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hf: BTreeMap<String, crate::model::hf_resolve::HfLookup>,
    /// What the environment says about the Hub (`HF_ENDPOINT`, a token).
    #[serde(default)]
    pub hf_env: crate::model::hf_resolve::HfEnv,
}

impl Live {
    /// SHA-256 over the canonical JSON: equal live states, equal fingerprints.
    ///
    /// Whether the daemon process answered is left out: `apply` executes in
    /// the daemon, starting it first, so a plan made while none ran must
    /// still match once it does. What it runs (`services`) and its settings
    /// (which a fresh daemon has at their defaults, as "none runs" reads) are
    /// included.
    pub fn fingerprint(&self) -> String {
        let json = serde_json::to_string(&(
            &self.services,
            &self.stores,
            &self.host,
            &self.daemon_settings,
        ))
        .expect("the live state always serializes");
        hex::encode(Sha256::digest(json.as_bytes()))
    }

    /// SHA-256 of the Hub's answers: each `org/repo@revision` with the
    /// commit it resolved to (or that the Hub refused it, or did not
    /// answer); empty when the file has no `hf:` entry.
    pub fn hub_fingerprint(&self) -> String {
        use crate::model::hf_resolve::HfLookup;
        if self.hf.is_empty() {
            return String::new();
        }
        let answers: BTreeMap<&str, String> = self
            .hf
            .iter()
            .map(|(k, l)| {
                let a = match l {
                    HfLookup::Found { info } => format!("commit {}", info.commit),
                    HfLookup::Refused { .. } => "refused".to_string(),
                    HfLookup::Unreachable { .. } => "unreachable".to_string(),
                };
                (k.as_str(), a)
            })
            .collect();
        let json = serde_json::to_string(&answers).expect("strings always serialize");
        hex::encode(Sha256::digest(json.as_bytes()))
    }

    /// A service's live state (not running when the daemon does not know it).
    pub fn service(&self, name: &str) -> &LiveService {
        self.services.get(name).unwrap_or(&LiveService::NotRunning)
    }
}

/// One service's live state, as far as planning cares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LiveService {
    /// Not running (stopped, exited, never started, or no daemon).
    NotRunning,
    /// Running (or starting / restarting) under the daemon with this spec.
    Running {
        /// Hash of the spec it runs with.
        spec_hash: String,
    },
    /// The daemon gave up on it (spawn failure, too many restarts).
    Failed {
        /// Why.
        reason: String,
    },
}

impl LiveService {
    /// Whether a process is (or is about to be) running.
    pub fn is_running(&self) -> bool {
        matches!(self, LiveService::Running { .. })
    }
}

/// Where a store's model list came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum StoreSource {
    /// The server answered `/api/tags`.
    Api {
        /// Its base URL.
        url: String,
    },
    /// The server is down; the store directory was read.
    Disk {
        /// The models directory.
        dir: String,
    },
    /// Neither worked.
    Unavailable {
        /// Why.
        reason: String,
    },
}

/// One installed model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveModel {
    /// The name as Ollama shows it (`llama3.2:1b`).
    pub name: String,
    /// sha256 hex of the manifest.
    pub digest: String,
    /// Bytes of all layers.
    pub size: u64,
}

/// The models of one ollama service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveStore {
    /// Where the list came from.
    pub source: StoreSource,
    /// Model key ([`ModelName::key`]) → model.
    pub models: BTreeMap<String, LiveModel>,
    /// Keys of loaded models, when `/api/ps` was asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loaded: Option<BTreeSet<String>>,
}

impl LiveStore {
    /// Whether the list came from a running server.
    pub fn is_served(&self) -> bool {
        matches!(self.source, StoreSource::Api { .. })
    }
}

/// Facts about services that are not running under the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HostFacts {
    /// Service → `bind:port` that another process holds.
    pub ports_taken: BTreeMap<String, String>,
    /// Service → the program that is neither on `PATH` nor a file.
    pub missing_binaries: BTreeMap<String, String>,
    /// Service → what is wrong with its `working_dir` (`/x does not exist`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub bad_working_dirs: BTreeMap<String, String>,
    /// Integration files (by absolute path) as they are on disk now: the
    /// ones the file wants and the ones the state file says FaceRunner wrote.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, SeenFile>,
}

/// An integration file as found on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SeenFile {
    /// Nothing is there.
    Absent,
    /// A regular file with this content hash (SHA-256, hex).
    Present {
        /// Its hash.
        sha256: String,
        /// For a JSON settings file FaceRunner merges a block into: the
        /// hash of that block as it is now (`None`: not there), or why the
        /// file cannot be merged into (`Err`: not plain JSON).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        block: Option<Result<Option<String>, String>>,
    },
    /// Something that is not a readable regular file of ours (a link, a
    /// directory, too big, unreadable): never touched.
    Unusable {
        /// What it is, in words.
        reason: String,
    },
}

/// Why the project's daemon cannot be used, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonProblem {
    /// What is wrong, with its causes.
    pub reason: String,
    /// What to do.
    pub help: String,
}
