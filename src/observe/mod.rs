//! Observation: what is live right now, read without changing anything.
//!
//! The plan is a pure function of the desired state, the live state and
//! the state file, so everything that touches the outside world to *look*
//! lives here: the daemon's status of each service ([`services`]), the
//! models of each `ollama` service ([`models`]: one `GET /api/tags` per
//! service, or its on-disk store when the server is not running), and the
//! host facts the checks need (ports taken by others, binaries on `PATH`),
//! and the GGUF headers of the declared models (`file:` ones and those
//! installed in a store) for the GPU fit check ([`fit`]).
//!
//! [`Live`] is plain data (serde), so a saved plan can fingerprint the live
//! state it was made from and `apply PLANFILE` can tell whether the world
//! moved since.

pub mod files;
pub mod fit;
pub mod gguf_cache;
pub mod hf;
pub mod host;
pub mod models;
pub mod services;

use crate::config::Loaded;
use crate::model::gpu::Inventory;
use crate::model::spec::ProjectSpec;
use crate::paths::ProjectDirs;

pub use crate::model::live::{HostFacts, Live, LiveModel, LiveService, LiveStore, StoreSource};

/// Observe the project: the daemon, each ollama service's models, host
/// facts for every service that is not running, and — only when there are
/// GPUs to fit them on — the shape of each declared model (GGUF headers).
/// Nothing is changed.
pub async fn observe(
    loaded: &Loaded,
    spec: &ProjectSpec,
    dirs: &ProjectDirs,
    inventory: &Inventory,
) -> Live {
    let observed = services::observe(dirs).await;
    let services = observed.services;
    let host = host::observe(spec, &services);
    let stores = models::observe(loaded, &services).await;
    let mut models_meta = if inventory.gpus.is_empty() {
        Default::default()
    } else {
        fit::observe(loaded, &stores, &dirs.state).await
    };
    let (hub, hf_env, why) = match hf::hub(&loaded.hub_vars) {
        Ok((hub, env)) => (Some(hub), env, String::new()),
        Err(why) => (None, Default::default(), why),
    };
    let hf_lookups = hf::observe(loaded, hub.as_deref(), &why).await;
    if let (false, Some(hub)) = (inventory.gpus.is_empty(), hub.as_deref()) {
        models_meta.extend(hf::headers(&hf_lookups, hub, &dirs.state).await);
    }
    Live {
        hf: hf_lookups,
        hf_env,
        daemon: observed.daemon,
        daemon_unusable: observed.unusable,
        daemon_settings: observed.settings,
        services,
        stores,
        host,
        inventory: inventory.clone(),
        models_meta,
    }
}
