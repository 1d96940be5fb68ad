//! Observation: what is live right now, read without changing anything.
//!
//! The plan is a pure function of the desired state, the live state and
//! the state file, so everything that touches the outside world to *look*
//! lives here: the daemon's status of each service ([`services`]), the
//! models of each `ollama` service ([`models`]: one `GET /api/tags` per
//! service, or its on-disk store when the server is not running), and the
//! host facts the checks need (ports taken by others, binaries on `PATH`).
//!
//! [`Live`] is plain data (serde), so a saved plan can fingerprint the live
//! state it was made from and `apply PLANFILE` can tell whether the world
//! moved since.

pub mod host;
pub mod models;
pub mod services;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Loaded;
use crate::paths::ProjectDirs;
use crate::supervisor::spec::ProjectSpec;

pub use models::{LiveModel, LiveStore, StoreSource};
pub use services::LiveService;

/// Everything observed, at one moment.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Live {
    /// Whether the project's daemon answered.
    pub daemon: bool,
    /// Every service the daemon knows (also ones gone from the file).
    pub services: BTreeMap<String, LiveService>,
    /// Per `ollama` service of the file: its installed models.
    pub stores: BTreeMap<String, LiveStore>,
    /// Host facts about services that would have to be started.
    pub host: host::HostFacts,
}

impl Live {
    /// SHA-256 over the canonical JSON: equal live states, equal fingerprints.
    ///
    /// Whether the daemon process answered is left out: `apply` executes in
    /// the daemon, starting it first, so a plan made while none ran must
    /// still match once it does. What it runs (`services`) is included.
    pub fn fingerprint(&self) -> String {
        let json = serde_json::to_string(&(&self.services, &self.stores, &self.host))
            .expect("the live state always serializes");
        hex::encode(Sha256::digest(json.as_bytes()))
    }

    /// A service's live state (not running when the daemon does not know it).
    pub fn service(&self, name: &str) -> &LiveService {
        self.services.get(name).unwrap_or(&LiveService::NotRunning)
    }
}

/// Observe the project: the daemon, each ollama service's models, and host
/// facts for every service that is not running. Nothing is changed.
pub async fn observe(loaded: &Loaded, spec: &ProjectSpec, dirs: &ProjectDirs) -> Live {
    let (daemon, services) = services::observe(dirs).await;
    let host = host::observe(spec, &services);
    let stores = models::observe(loaded, &services).await;
    Live {
        daemon,
        services,
        stores,
        host,
    }
}
