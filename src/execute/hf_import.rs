//! Import an `hf:` model into Ollama: each file of the pinned commit, from
//! the Hugging Face cache, uploaded as a blob once (`HEAD`, then a streamed
//! `POST` only when Ollama lacks it), then `/api/create` with `files` (and
//! `quantize`, `system`, `template`, `parameters` from the entry).
//!
//! What the cache lacks is downloaded first by the Hub client (`crate::hf`:
//! resumed, checked against the Hub's sha256; what the Python tools already
//! downloaded is used as is). The files are then read from the cache's
//! content-addressed blobs (`models--org--repo/blobs/<sha256 or git blob
//! id>`), never through the snapshot symlinks. The cache and the Hub are
//! those of the environment of the process that applies (the daemon:
//! `HF_HUB_CACHE`, `HF_HOME`, `HF_ENDPOINT`, `HF_TOKEN`).

use std::path::{Path, PathBuf};

use super::engine::Run;
use super::error::StepError;
use std::collections::BTreeMap;

use crate::model::hf::{RepoFile, RepoInfo};
use crate::model::hf_resolve::HfResolution;
use crate::ollama::{Client, CreateRequest};

/// `models--org--repo` under the hub cache.
pub fn repo_dir(cache: &Path, repo: &str) -> PathBuf {
    cache.join(format!("models--{}", repo.replace('/', "--")))
}

/// The path of one file's blob in the cache, when it is there.
fn ensure_local(cache: &Path, hf: &HfResolution, file: &RepoFile) -> Result<PathBuf, StepError> {
    let missing = || {
        StepError::BadStep(format!(
            "{} of {} (commit {}) is not in the Hugging Face cache {}; fetch it with \
             `hf download {} {} --revision {}` (or `huggingface-cli download …`), then apply again",
            file.path,
            hf.repo,
            hf.commit.as_deref().unwrap_or("?"),
            cache.display(),
            hf.repo,
            file.path,
            hf.commit.as_deref().unwrap_or(&hf.revision),
        ))
    };
    let blob = file.cache_blob_name().ok_or_else(missing)?;
    if blob.is_empty() || blob.contains(['/', '\\']) || blob.contains("..") {
        return Err(StepError::BadStep(format!(
            "the Hub gave {} an unusable blob name {blob:?}",
            file.path
        )));
    }
    let path = repo_dir(cache, &hf.repo).join("blobs").join(blob);
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.is_file() && m.len() == file.size => Ok(path),
        Ok(m) if m.is_file() => Err(StepError::BadStep(format!(
            "{} in the Hugging Face cache has {} bytes, the Hub says {}; delete it and fetch it again",
            path.display(),
            m.len(),
            file.size
        ))),
        _ => Err(missing()),
    }
}

/// Download what the cache lacks of `hf`'s files (resuming, checked
/// against the Hub's sha256), upload every file Ollama lacks and fill
/// `request.files`, reporting progress through the step's events.
pub(crate) async fn upload(
    id: usize,
    run: &Run<'_>,
    client: &Client,
    hf: &HfResolution,
    request: &mut CreateRequest,
) -> Result<(), StepError> {
    let hub = crate::hf::Hub::new(run.ctx.hub_vars.settings()?)?;
    let commit = hf.commit.clone().ok_or_else(|| {
        StepError::BadStep(format!(
            "{} has no pinned commit: plan online to download it",
            hf.repo
        ))
    })?;
    let info = RepoInfo {
        id: hf.repo.clone(),
        commit,
        gated: Default::default(),
        private: false,
        pipeline_tag: None,
        library: None,
        base_model: Vec::new(),
        architectures: Vec::new(),
        files: hf.files.clone(),
    };
    let total = hf.bytes;
    // Progress travels through a channel: the downloader's callback owns
    // only the sender, and this step turns each report into an event.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    // The downloader's future is not `Send` (its parallel transfers borrow
    // the client), and steps run on the daemon's multi-threaded runtime: it
    // runs on a blocking thread of its own, on a current-thread runtime.
    let downloader = hub.clone();
    let files = hf.files.clone();
    let download = async move {
        let task = tokio::task::spawn_blocking(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| StepError::BadStep(format!("cannot start the downloader: {e}")))?;
            rt.block_on(downloader.download(&info, &files, move |p| {
                let _ = tx.send(p);
            }))
            .map(drop)
            .map_err(StepError::from)
        });
        match task.await {
            Ok(r) => r,
            Err(e) => Err(StepError::BadStep(format!("the downloader stopped: {e}"))),
        }
    };
    let report = async {
        let mut files: BTreeMap<String, u64> = BTreeMap::new();
        while let Some(p) = rx.recv().await {
            files.insert(p.file.clone(), p.completed);
            let done: u64 = files.values().sum();
            let status = match p.state {
                crate::hf::FileState::Cached => format!("in the Hugging Face cache: {}", p.file),
                crate::hf::FileState::Done => format!("downloaded {}", p.file),
                crate::hf::FileState::Downloading => format!("downloading {}", p.file),
            };
            run.progress(id, status, Some(done), Some(total));
        }
    };
    let (downloaded, ()) = futures_util::join!(download, report);
    downloaded?;
    let progress = |status: String, done: u64, total: u64| {
        run.progress(id, status, Some(done), Some(total));
    };
    upload_from(hub.cache().root(), client, hf, request, progress).await
}

/// [`upload`] from the cache at `cache`; `progress(status, done, total)`.
pub(crate) async fn upload_from(
    cache: &Path,
    client: &Client,
    hf: &HfResolution,
    request: &mut CreateRequest,
    progress: impl Fn(String, u64, u64),
) -> Result<(), StepError> {
    let total: u64 = hf.files.iter().map(|f| f.size).sum();
    let mut done = 0u64;
    for file in &hf.files {
        let path = ensure_local(cache, hf, file)?;
        let digest = match &file.lfs_sha256 {
            Some(sha) if sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()) => {
                format!("sha256:{}", sha.to_ascii_lowercase())
            }
            _ => crate::ollama::sha256_file(&path).await?,
        };
        if client.blob_exists(&digest).await? {
            progress(format!("using existing {}", file.path), done, total);
        } else {
            progress(format!("uploading {}", file.path), done, total);
            client.push_blob(&digest, &path).await?;
        }
        done += file.size;
        progress(format!("uploaded {}", file.path), done, total);
        request.files.insert(file.path.clone(), digest);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::hf::HfSource;
    use crate::model::hf_resolve::{AnsweredBy, HfFormat};
    use crate::ollama::test_server::{TestServer, json, respond};
    use sha2::{Digest, Sha256};
    use std::sync::Mutex;

    fn sha(b: &[u8]) -> String {
        hex::encode(Sha256::digest(b))
    }

    fn resolution(files: Vec<RepoFile>) -> HfResolution {
        HfResolution {
            repo: "org/Tiny".into(),
            revision: "main".into(),
            commit: Some("c".repeat(40)),
            source: HfSource::Download,
            format: HfFormat::Safetensors,
            name: "tiny:latest".into(),
            quant: None,
            quantize: Some("q8_0".into()),
            bytes: files.iter().map(|f| f.size).sum(),
            files,
            answered_by: AnsweredBy::Hub,
            gpu: None,
            reason: String::new(),
        }
    }

    #[tokio::test]
    async fn each_blob_is_uploaded_once_from_the_cache_and_named_in_files() {
        let weights = b"weights".repeat(1000);
        let config = br#"{"architectures":["LlamaForCausalLM"]}"#.to_vec();
        let (ws, cs) = (sha(&weights), sha(&config));
        let cache = tempfile::tempdir().expect("tempdir");
        let blobs = repo_dir(cache.path(), "org/Tiny").join("blobs");
        std::fs::create_dir_all(&blobs).expect("mkdir");
        std::fs::write(blobs.join(&ws), &weights).expect("write");
        // A regular (non-LFS) file is cached under its git blob id.
        std::fs::write(blobs.join("0123abcd"), &config).expect("write");
        let hf = resolution(vec![
            RepoFile {
                path: "config.json".into(),
                size: config.len() as u64,
                lfs_sha256: None,
                blob_id: Some("0123abcd".into()),
            },
            RepoFile {
                path: "model.safetensors".into(),
                size: weights.len() as u64,
                lfs_sha256: Some(ws.clone()),
                blob_id: None,
            },
        ]);
        // Ollama already has the config, not the weights.
        let have = format!("/api/blobs/sha256:{cs}");
        let server = TestServer::start(move |_, r| match (r.method.as_str(), r.path.as_str()) {
            ("HEAD", p) if p == have => respond(200, "text/plain", ""),
            ("HEAD", _) => respond(404, "text/plain", ""),
            ("POST", _) => respond(201, "text/plain", ""),
            _ => json(404, r#"{"error":"no"}"#),
        })
        .await;
        let client = Client::new(&server.url()).expect("client");
        let mut request = CreateRequest {
            model: "tiny:latest".into(),
            ..CreateRequest::default()
        };
        let seen = Mutex::new(Vec::new());
        let progress = |s: String, d: u64, t: u64| seen.lock().expect("lock").push((s, d, t));
        upload_from(cache.path(), &client, &hf, &mut request, progress)
            .await
            .expect("uploads");
        assert_eq!(request.files["config.json"], format!("sha256:{cs}"));
        assert_eq!(request.files["model.safetensors"], format!("sha256:{ws}"));
        let posts: Vec<_> = server
            .requests()
            .into_iter()
            .filter(|r| r.method == "POST")
            .collect();
        assert_eq!(posts.len(), 1, "only the missing blob is uploaded");
        assert_eq!(posts[0].path, format!("/api/blobs/sha256:{ws}"));
        assert_eq!(posts[0].body, weights, "the bytes of the cache blob");
        let seen = seen.lock().expect("lock").clone();
        let last = seen.last().expect("progress");
        assert_eq!((last.1, last.2), (hf.bytes, hf.bytes), "{seen:?}");
        assert!(
            seen.iter().any(|s| s.0 == "using existing config.json"),
            "{seen:?}"
        );
    }

    #[tokio::test]
    async fn a_file_missing_from_the_cache_says_how_to_fetch_it() {
        let cache = tempfile::tempdir().expect("tempdir");
        let hf = resolution(vec![RepoFile {
            path: "model.safetensors".into(),
            size: 10,
            lfs_sha256: Some("ab".repeat(32)),
            blob_id: None,
        }]);
        let client = Client::new("http://127.0.0.1:9").expect("client");
        let mut request = CreateRequest::default();
        let err = upload_from(cache.path(), &client, &hf, &mut request, |_, _, _| {})
            .await
            .expect_err("missing");
        let text = err.to_string();
        assert!(
            text.contains("model.safetensors") && text.contains("download org/Tiny"),
            "{text}"
        );
    }
}
