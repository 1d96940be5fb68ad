//! The declared models' shapes, for `plan`'s GPU fit check.
//!
//! Only headers are read (a few MiB at most per model, see `gguf`), one read
//! per declared model, and nothing at all when `settings.gpu_fit` is `off`.
//! - `file:` models: the GGUF file's header (key `file:PATH`).
//! - Models installed in an ollama service's store (pulled or created; key
//!   `SERVICE/MODEL-KEY`): the store on disk first — manifest → the
//!   `application/vnd.ollama.image.model` layer → `blobs/sha256-<hex>`'s
//!   header — needing no server; else, when the server answered the store
//!   listing, `POST /api/show`'s `model_info` (the same GGUF keys), with the
//!   listed size as the weights.
//!
//! A model that is not installed yet, or whose header cannot be read, is
//! left out of the check (the `file:` check in `plan` reports a missing or
//! non-GGUF file). File reads run on the blocking pool, never on the async
//! threads. Observation runs in the CLI or in the daemon's apply handler,
//! never on its supervision path.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::config::Loaded;
use crate::config::resolve::{expand_path, models_dir, ollama_url};
use crate::config::types::{GpuFit, Kind, Model};
use crate::model::gguf::ModelMeta;
use crate::model::live::{LiveStore, StoreSource};
use crate::names::{ModelName, RepoHints, convert};

/// One declared model to read.
struct Wanted {
    key: String,
    /// `file:` path, or the store blob found through the manifest.
    path: Option<PathBuf>,
    /// For `/api/show`: the server's URL, the name, the listed size.
    show: Option<(String, String, u64)>,
}

/// The Ollama name a store-installed model is declared under (`ollama:`,
/// `hf:` converted, or `name:` of a created one); `None` for names the plan
/// reports as invalid.
fn declared_name(m: &Model) -> Option<ModelName> {
    if let Some(o) = &m.ollama {
        ModelName::parse(o).ok()
    } else if let Some(hf) = &m.hf {
        convert(hf, m.quant.as_deref(), &RepoHints::default())
            .ok()
            .map(|c| c.ollama)
    } else {
        ModelName::parse(m.name.as_deref()?).ok()
    }
}

/// What to read for each declared model, keyed as `plan`'s fit check looks
/// them up; store models only when the store lists them (installed).
fn wanted(loaded: &Loaded, stores: &BTreeMap<String, LiveStore>) -> Vec<Wanted> {
    let cfg = &loaded.config;
    let ollamas: Vec<&String> = cfg
        .services
        .iter()
        .filter(|(_, s)| s.kind == Kind::Ollama)
        .map(|(n, _)| n)
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for m in &cfg.models {
        if let Some(file) = &m.file {
            let path = expand_path(file, &loaded.base_dir);
            let key = format!("file:{}", path.display());
            if seen.insert(key.clone()) {
                out.push(Wanted {
                    key,
                    path: Some(path),
                    show: None,
                });
            }
            continue;
        }
        let service = match (&m.service, ollamas.as_slice()) {
            (Some(s), _) => s,
            (None, [only]) => *only,
            (None, _) => continue,
        };
        let (Some(svc), Some(store), Some(name)) = (
            cfg.services.get(service).filter(|s| s.kind == Kind::Ollama),
            stores.get(service),
            declared_name(m),
        ) else {
            continue;
        };
        let key = format!("{service}/{}", name.key());
        let Some(listed) = store.models.get(&name.key()) else {
            continue; // not installed (yet): nothing to read
        };
        if !seen.insert(key.clone()) {
            continue;
        }
        let dir = models_dir(svc, &loaded.base_dir);
        let path = match crate::observe::models::model_blob(&dir, &name) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::debug!("no store header for {key}: {e}");
                None
            }
        };
        let show = matches!(store.source, StoreSource::Api { .. })
            .then(|| (ollama_url(cfg, svc), listed.name.clone(), listed.size));
        out.push(Wanted { key, path, show });
    }
    out
}

/// Each declared model's shape: `file:PATH` for `file:` models,
/// `SERVICE/MODEL-KEY` for models installed in a service's store.
pub async fn observe(
    loaded: &Loaded,
    stores: &BTreeMap<String, LiveStore>,
) -> BTreeMap<String, ModelMeta> {
    if loaded.config.settings.gpu_fit == GpuFit::Off {
        return BTreeMap::new();
    }
    // Manifests and headers: the blocking pool, all in one task.
    let loaded_owned = loaded.clone();
    let stores_owned = stores.clone();
    let read = tokio::task::spawn_blocking(move || {
        wanted(&loaded_owned, &stores_owned)
            .into_iter()
            .map(|w| {
                let meta = w.path.as_deref().and_then(|p| {
                    crate::gguf::read_file(p)
                        .map_err(|e| tracing::debug!("no fit check for {}: {e}", p.display()))
                        .ok()
                });
                (w, meta)
            })
            .collect::<Vec<_>>()
    })
    .await;
    let read = match read {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("GPU fit check: reading model headers failed: {e}");
            return BTreeMap::new();
        }
    };
    let mut out = BTreeMap::new();
    for (w, meta) in read {
        let meta = match (meta, &w.show) {
            (Some(m), _) => Some(m),
            (None, Some((url, name, size))) => show_meta(url, name, *size).await,
            (None, None) => None,
        };
        if let Some(m) = meta {
            out.insert(w.key, m);
        }
    }
    out
}

/// `POST /api/show` → `model_info` → the shape; `None` (logged) on failure.
async fn show_meta(url: &str, name: &str, size: u64) -> Option<ModelMeta> {
    let client = crate::observe::models::looking_client(url)
        .map_err(|e| tracing::debug!("no fit check for {name}: {e}"))
        .ok()?;
    match client.show(name).await {
        Ok(Some(show)) => crate::gguf::meta_from_model_info(&show.model_info, size)
            .map_err(|e| tracing::debug!("no fit check for {name}: {url} /api/show: {e}"))
            .ok(),
        Ok(None) => None,
        Err(e) => {
            tracing::debug!("no fit check for {name}: {e}");
            None
        }
    }
}
