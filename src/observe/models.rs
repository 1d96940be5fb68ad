//! Installed models of each `ollama` service.
//!
//! One `GET /api/tags` per service, never one request per model: the list
//! carries every name and digest the plan needs. When the server does not
//! answer (not running), the on-disk store is read instead
//! (`manifests/<host>/<ns>/<model>/<tag>`, ollama-api.md §5): the digest is
//! the SHA-256 of the manifest bytes, the size the sum of its layers, as
//! Ollama computes them. `GET /api/ps` is asked only when a model of that
//! service has `keep_alive` (the plan then preloads what is not loaded).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::config::Loaded;
use crate::config::resolve::{models_dir, ollama_url};
use crate::config::types::Config;
use crate::model::live::{LiveModel, LiveService, LiveStore, StoreSource};
use crate::names::ModelName;
use crate::ollama::{Client, RetryPolicy};

/// Whether any model of `service` asks to stay loaded.
fn wants_ps(cfg: &Config, service: &str) -> bool {
    cfg.models
        .iter()
        .any(|m| m.keep_alive.is_some() && cfg.model_service(m).is_some_and(|s| s == service))
}

/// Observe every ollama service's store.
///
/// A service the daemon does not run is read from its store directory
/// without asking the network: whatever may answer on its port is not
/// FaceRunner's server (the port check reports it).
pub async fn observe(
    loaded: &Loaded,
    services: &BTreeMap<String, LiveService>,
) -> BTreeMap<String, LiveStore> {
    let cfg = &loaded.config;
    let mut stores = BTreeMap::new();
    for (name, svc) in cfg.ollama_services() {
        let url = ollama_url(cfg, svc);
        let dir = models_dir(svc, &loaded.base_dir);
        let running = services.get(name).is_some_and(LiveService::is_running);
        let store = if running {
            observe_store(&url, &dir, wants_ps(cfg, name)).await
        } else {
            disk_store(&dir)
        };
        stores.insert(name.clone(), store);
    }
    stores
}

fn disk_store(dir: &Path) -> LiveStore {
    match read_store(dir) {
        Ok(models) => LiveStore {
            source: StoreSource::Disk {
                dir: dir.display().to_string(),
            },
            models,
            loaded: None,
        },
        Err(e) => unavailable(format!("cannot read {}: {e}", dir.display())),
    }
}

/// A client for looking: no retries (one request per call), short timeouts.
pub fn looking_client(url: &str) -> Result<Client, crate::ollama::OllamaError> {
    Client::builder(url)
        .retry(RetryPolicy::NONE)
        .connect_timeout(Duration::from_secs(2))
        .read_timeout(Duration::from_secs(30))
        .build()
}

/// Observe one store: `/api/tags` (and `/api/ps` when `want_ps`), or the
/// directory when the server does not answer.
pub async fn observe_store(url: &str, dir: &Path, want_ps: bool) -> LiveStore {
    let client = match looking_client(url) {
        Ok(c) => c,
        Err(e) => return unavailable(e.to_string()),
    };
    match client.tags().await {
        Ok(list) => {
            let models = list
                .into_iter()
                .filter_map(|m| {
                    let key = ModelName::parse(&m.name).ok()?.key();
                    Some((
                        key,
                        LiveModel {
                            name: m.name,
                            digest: m.digest,
                            size: m.size,
                        },
                    ))
                })
                .collect();
            let loaded = if want_ps {
                match client.ps().await {
                    Ok(ps) => Some(
                        ps.iter()
                            .filter_map(|m| ModelName::parse(&m.name).ok())
                            .map(|n| n.key())
                            .collect(),
                    ),
                    Err(e) => {
                        tracing::warn!("cannot list loaded models at {url}: {e}");
                        None
                    }
                }
            } else {
                None
            };
            LiveStore {
                source: StoreSource::Api {
                    url: url.to_string(),
                },
                models,
                loaded,
            }
        }
        Err(e) if e.is_connect() => disk_store(dir),
        Err(e) => unavailable(e.to_string()),
    }
}

fn unavailable(reason: String) -> LiveStore {
    LiveStore {
        source: StoreSource::Unavailable { reason },
        models: BTreeMap::new(),
        loaded: None,
    }
}

#[derive(Deserialize)]
struct Manifest {
    config: Layer,
    #[serde(default)]
    layers: Vec<Layer>,
}

#[derive(Deserialize)]
struct Layer {
    #[serde(default)]
    size: u64,
}

/// The largest manifest read from a model store.
const MAX_MANIFEST_BYTES: u64 = 4 << 20;

/// Read `dir/manifests/*/*/*/*`; a missing store is an empty one.
pub fn read_store(dir: &Path) -> std::io::Result<BTreeMap<String, LiveModel>> {
    let mut models = BTreeMap::new();
    let root = dir.join("manifests");
    if !root.is_dir() {
        return Ok(models);
    }
    for host in subdirs(&root)? {
        for ns in subdirs(&host)? {
            for model in subdirs(&ns)? {
                for entry in std::fs::read_dir(&model)? {
                    let path = entry?.path();
                    if !path.is_file() {
                        continue;
                    }
                    let rel = path.strip_prefix(&root).unwrap_or(&path);
                    let Some(name) = ModelName::from_manifest_rel_path(rel) else {
                        continue;
                    };
                    // A manifest is a few KiB; anything else is not one.
                    let Ok(bytes) = crate::safefs::read_bounded(&path, MAX_MANIFEST_BYTES) else {
                        continue;
                    };
                    let Ok(m) = serde_json::from_slice::<Manifest>(&bytes) else {
                        continue;
                    };
                    let size = m.config.size + m.layers.iter().map(|l| l.size).sum::<u64>();
                    models.insert(
                        name.key(),
                        LiveModel {
                            name: name.display_shortest(),
                            digest: hex::encode(Sha256::digest(&bytes)),
                            size,
                        },
                    );
                }
            }
        }
    }
    Ok(models)
}

/// The media type of a manifest's GGUF layer.
pub const MODEL_MEDIA_TYPE: &str = "application/vnd.ollama.image.model";

/// Why an installed model's weights could not be found in its store.
#[derive(Debug, thiserror::Error)]
pub enum BlobLookupError {
    /// The manifest could not be read (missing: not installed).
    #[error("cannot read the manifest {path}: {source}")]
    Read {
        /// The manifest's path.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: crate::safefs::ReadError,
    },
    /// The manifest is not the JSON Ollama writes.
    #[error("{path} is not an Ollama manifest: {source}")]
    Json {
        /// The manifest's path.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// No layer has the model media type (a safetensors model, say).
    #[error("{path} has no `{MODEL_MEDIA_TYPE}` layer")]
    NoModelLayer {
        /// The manifest's path.
        path: std::path::PathBuf,
    },
    /// The model layer's digest is not `sha256:<64 hex>`.
    #[error("{path}: the model layer's digest {digest:?} is not `sha256:` and 64 hex digits")]
    BadDigest {
        /// The manifest's path.
        path: std::path::PathBuf,
        /// The digest as written.
        digest: String,
    },
}

#[derive(Deserialize)]
struct TypedManifest {
    #[serde(default)]
    layers: Vec<TypedLayer>,
}

#[derive(Deserialize)]
struct TypedLayer {
    #[serde(default, rename = "mediaType")]
    media_type: String,
    #[serde(default)]
    digest: String,
}

/// The GGUF blob of `name` in the store at `dir`: its manifest
/// (`manifests/<host>/<ns>/<model>/<tag>`, read bounded and without
/// following a link) → the layer of type [`MODEL_MEDIA_TYPE`] →
/// `blobs/sha256-<hex>`. The blob itself is not opened.
pub fn model_blob(dir: &Path, name: &ModelName) -> Result<std::path::PathBuf, BlobLookupError> {
    let path = dir.join(name.manifest_rel_path());
    let bytes = crate::safefs::read_bounded(&path, MAX_MANIFEST_BYTES).map_err(|source| {
        BlobLookupError::Read {
            path: path.clone(),
            source,
        }
    })?;
    let m: TypedManifest =
        serde_json::from_slice(&bytes).map_err(|source| BlobLookupError::Json {
            path: path.clone(),
            source,
        })?;
    let Some(layer) = m.layers.iter().find(|l| l.media_type == MODEL_MEDIA_TYPE) else {
        return Err(BlobLookupError::NoModelLayer { path });
    };
    let hex = layer
        .digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    match hex {
        Some(h) => Ok(dir.join("blobs").join(format!("sha256-{h}"))),
        None => Err(BlobLookupError::BadDigest {
            path,
            digest: layer.digest.clone(),
        }),
    }
}

fn subdirs(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_disk_store_lists_models_with_ollamas_digest_and_size() {
        let dir = tempfile::tempdir().expect("tempdir");
        let m = dir
            .path()
            .join("manifests/registry.ollama.ai/library/llama3.2");
        std::fs::create_dir_all(&m).expect("mkdir");
        let manifest = br#"{"schemaVersion":2,"config":{"digest":"sha256:aa","size":10},"layers":[{"digest":"sha256:bb","size":100}]}"#;
        std::fs::write(m.join("1b"), manifest).expect("write");
        let models = read_store(dir.path()).expect("read");
        let got = models
            .get("registry.ollama.ai/library/llama3.2:1b")
            .expect("listed");
        assert_eq!(got.name, "llama3.2:1b");
        assert_eq!(got.size, 110);
        assert_eq!(got.digest, hex::encode(Sha256::digest(manifest)));
    }

    #[test]
    fn the_model_layer_of_a_manifest_names_its_blob() {
        let dir = tempfile::tempdir().expect("tempdir");
        let m = dir.path().join("manifests/registry.ollama.ai/library/big");
        std::fs::create_dir_all(&m).expect("mkdir");
        let model = "ab".repeat(32);
        let manifest = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:{c}","size":10}},"layers":[{{"mediaType":"application/vnd.ollama.image.params","digest":"sha256:{c}","size":5}},{{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:{model}","size":100}}]}}"#,
            c = "cd".repeat(32)
        );
        std::fs::write(m.join("latest"), manifest).expect("write");
        let name = ModelName::parse("big:latest").expect("name");
        let blob = model_blob(dir.path(), &name).expect("found");
        assert_eq!(blob, dir.path().join(format!("blobs/sha256-{model}")));

        // Not installed, no model layer, a digest that would leave `blobs/`.
        let other = ModelName::parse("small:latest").expect("name");
        assert!(matches!(
            model_blob(dir.path(), &other),
            Err(BlobLookupError::Read { .. })
        ));
        std::fs::write(
            m.join("nolayer"),
            r#"{"schemaVersion":2,"layers":[{"mediaType":"application/vnd.ollama.image.params","digest":"sha256:00","size":1}]}"#,
        )
        .expect("write");
        let name = ModelName::parse("big:nolayer").expect("name");
        assert!(matches!(
            model_blob(dir.path(), &name),
            Err(BlobLookupError::NoModelLayer { .. })
        ));
        std::fs::write(
            m.join("evil"),
            r#"{"layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:../../../etc/passwd"}]}"#,
        )
        .expect("write");
        let name = ModelName::parse("big:evil").expect("name");
        assert!(matches!(
            model_blob(dir.path(), &name),
            Err(BlobLookupError::BadDigest { .. })
        ));
    }

    #[test]
    fn a_missing_store_is_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(read_store(&dir.path().join("nope")).expect("ok").is_empty());
    }
}
