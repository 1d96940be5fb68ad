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
//!   listed size as the weights. A derived model (`from:`) that is not
//!   created yet is read as its base: it will share the base's weights.
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
        let Some(service) = cfg.model_service(m) else {
            continue;
        };
        let (Some(svc), Some(store), Some(declared)) = (
            cfg.services.get(service).filter(|s| s.kind == Kind::Ollama),
            stores.get(service),
            declared_name(m),
        ) else {
            continue;
        };
        let key = format!("{service}/{}", declared.key());
        // A derived model (`from:`) not created yet has its base's weights.
        let base = m.from.as_deref().and_then(|f| ModelName::parse(f).ok());
        let Some((name, listed)) = std::iter::once(declared)
            .chain(base)
            .find_map(|n| Some((n.clone(), store.models.get(&n.key())?)))
        else {
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
    state_dir: &std::path::Path,
) -> BTreeMap<String, ModelMeta> {
    if loaded.config.settings.gpu_fit == GpuFit::Off {
        return BTreeMap::new();
    }
    // Manifests and headers: the blocking pool, all in one task.
    let loaded_owned = loaded.clone();
    let stores_owned = stores.clone();
    let state_dir = state_dir.to_path_buf();
    let read = tokio::task::spawn_blocking(move || {
        let mut cache = super::gguf_cache::Cache::load(&state_dir);
        let read = wanted(&loaded_owned, &stores_owned)
            .into_iter()
            .map(|w| {
                let meta = w.path.as_deref().and_then(|p| {
                    cache
                        .get_or_read(p, crate::gguf::read_file)
                        .map_err(|e| tracing::debug!("no fit check for {}: {e}", p.display()))
                        .ok()
                });
                (w, meta)
            })
            .collect::<Vec<_>>();
        cache.save();
        read
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::interpolate::Vars;
    use crate::config::load_str;
    use crate::model::live::LiveModel;
    use crate::ollama::test_server::{TestServer, json};

    const SHOW: &str = r#"{"details":{"format":"gguf"},"model_info":{"general.architecture":"llama","llama.block_count":80,"llama.context_length":131072,"llama.embedding_length":8192,"llama.attention.head_count":64,"llama.attention.head_count_kv":8,"tokenizer.ggml.tokens":[]}}"#;

    fn loaded(dir: &std::path::Path, port: u16, settings: &str) -> Loaded {
        let yaml = format!(
            "version: 1\nname: t\n{settings}services:\n  llm: {{ kind: ollama, port: {port}, models_dir: store }}\nmodels:\n  - ollama: big:latest\n  - ollama: absent:latest\n"
        );
        load_str(&dir.join("facerunner.yaml"), &yaml, &Vars::default())
            .unwrap_or_else(|e| panic!("invalid test config: {e:?}"))
    }

    /// The store as `/api/tags` listed it: `big:latest` only.
    fn api_stores(url: &str) -> BTreeMap<String, LiveStore> {
        let models = BTreeMap::from([(
            "registry.ollama.ai/library/big:latest".to_string(),
            LiveModel {
                name: "big:latest".into(),
                digest: "00".repeat(32),
                size: 42 << 30,
            },
        )]);
        BTreeMap::from([(
            "llm".to_string(),
            LiveStore {
                source: StoreSource::Api {
                    url: url.to_string(),
                },
                models,
                loaded: None,
            },
        )])
    }

    #[tokio::test]
    async fn without_a_readable_store_the_server_shows_the_installed_model() {
        let dir = tempfile::tempdir().expect("tempdir");
        let server = TestServer::start(|_, _| json(200, SHOW)).await;
        let l = loaded(dir.path(), server.addr.port(), "");
        let metas = observe(&l, &api_stores(&server.url()), &dir.path().join("state")).await;
        let m = metas
            .get("llm/registry.ollama.ai/library/big:latest")
            .unwrap_or_else(|| panic!("{metas:?}"));
        assert_eq!(m.block_count, 80);
        assert_eq!(m.head_count_kv, 8);
        assert_eq!(m.key_length, 128);
        assert_eq!(m.file_size_bytes, 42 << 30);
        // One show, for the installed model only.
        let seen = server.requests();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0].path, "/api/show");
        assert_eq!(seen[0].json()["model"], "big:latest");
        assert_eq!(metas.len(), 1, "{metas:?}");
    }

    #[tokio::test]
    async fn gpu_fit_off_reads_nothing_and_asks_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let server = TestServer::start(|_, _| json(200, SHOW)).await;
        let l = loaded(
            dir.path(),
            server.addr.port(),
            "settings: { gpu_fit: off }\n",
        );
        let metas = observe(&l, &api_stores(&server.url()), &dir.path().join("state")).await;
        assert!(metas.is_empty(), "{metas:?}");
        assert!(server.requests().is_empty());
    }

    #[tokio::test]
    async fn a_store_blob_that_reads_needs_no_server() {
        let dir = tempfile::tempdir().expect("tempdir");
        let server = TestServer::start(|_, _| json(200, SHOW)).await;
        let l = loaded(dir.path(), server.addr.port(), "");
        // The blob: a header of 12 layers.
        let mut gguf = b"GGUF".to_vec();
        gguf.extend_from_slice(&3u32.to_le_bytes());
        gguf.extend_from_slice(&0u64.to_le_bytes());
        gguf.extend_from_slice(&2u64.to_le_bytes());
        for (k, ty, v) in [
            ("general.architecture", 8u32, b"llama".to_vec()),
            ("llama.block_count", 4u32, 12u32.to_le_bytes().to_vec()),
        ] {
            gguf.extend_from_slice(&(k.len() as u64).to_le_bytes());
            gguf.extend_from_slice(k.as_bytes());
            gguf.extend_from_slice(&ty.to_le_bytes());
            if ty == 8 {
                gguf.extend_from_slice(&(v.len() as u64).to_le_bytes());
            }
            gguf.extend_from_slice(&v);
        }
        let hex = "ab".repeat(32);
        let store = dir.path().join("store");
        std::fs::create_dir_all(store.join("blobs")).expect("mkdir");
        std::fs::write(store.join(format!("blobs/sha256-{hex}")), &gguf).expect("blob");
        let m = store.join("manifests/registry.ollama.ai/library/big");
        std::fs::create_dir_all(&m).expect("mkdir");
        std::fs::write(
            m.join("latest"),
            format!(
                r#"{{"layers":[{{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:{hex}","size":{}}}]}}"#,
                gguf.len()
            ),
        )
        .expect("manifest");
        let metas = observe(&l, &api_stores(&server.url()), &dir.path().join("state")).await;
        let got = metas
            .get("llm/registry.ollama.ai/library/big:latest")
            .unwrap_or_else(|| panic!("{metas:?}"));
        assert_eq!(got.block_count, 12);
        assert_eq!(got.file_size_bytes, gguf.len() as u64);
        assert!(server.requests().is_empty(), "{:?}", server.requests());
    }
}
