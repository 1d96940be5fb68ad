//! Import an `hf:` model into Ollama: each file of the pinned commit, from
//! the Hugging Face cache, uploaded as a blob once (`HEAD`, then a streamed
//! `POST` only when Ollama lacks it), then `/api/create` with `files` (and
//! `quantize`, `system`, `template`, `parameters` from the entry).
//!
//! The files are read from the cache's content-addressed blobs
//! (`models--org--repo/blobs/<sha256 or git blob id>`), never through the
//! snapshot symlinks. The cache is the one the Python tools share
//! (`HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`),
//! read in the environment of the process that applies (the daemon).
//!
//! Wiring point: a file not in the cache yet is fetched by the Hub
//! downloader (`crate::hf`, `download` into this cache) in [`ensure_local`];
//! until that client is part of the build, a missing file fails the step
//! with the command that fetches it.

use std::path::{Path, PathBuf};

use super::engine::Run;
use super::error::StepError;
use crate::model::hf::RepoFile;
use crate::model::hf_resolve::HfResolution;
use crate::ollama::{Client, CreateRequest};

/// The Hugging Face hub cache directory.
pub fn hub_cache_dir() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("HF_HUB_CACHE")
        .or_else(|| var("HUGGINGFACE_HUB_CACHE"))
        .or_else(|| var("HF_HOME").map(|h| h.join("hub")))
        .or_else(|| var("XDG_CACHE_HOME").map(|c| c.join("huggingface/hub")))
        .or_else(|| var("HOME").map(|h| h.join(".cache/huggingface/hub")))
}

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

/// Upload every file of `hf` that Ollama lacks and fill `request.files`,
/// reporting progress through the step's events.
pub(crate) async fn upload(
    id: usize,
    run: &Run<'_>,
    client: &Client,
    hf: &HfResolution,
    request: &mut CreateRequest,
) -> Result<(), StepError> {
    let cache = hub_cache_dir().ok_or_else(|| {
        StepError::BadStep(
            "no Hugging Face cache directory: set HF_HUB_CACHE or HF_HOME (or HOME)".into(),
        )
    })?;
    let progress = |status: String, done: u64, total: u64| {
        run.progress(id, status, Some(done), Some(total));
    };
    upload_from(&cache, client, hf, request, &progress).await
}

/// [`upload`] from the cache at `cache`; `progress(status, done, total)`.
pub(crate) async fn upload_from(
    cache: &Path,
    client: &Client,
    hf: &HfResolution,
    request: &mut CreateRequest,
    progress: &(dyn Fn(String, u64, u64) + Sync),
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
        upload_from(cache.path(), &client, &hf, &mut request, &progress)
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
        let err = upload_from(cache.path(), &client, &hf, &mut request, &|_, _, _| {})
            .await
            .expect_err("missing");
        let text = err.to_string();
        assert!(
            text.contains("model.safetensors") && text.contains("download org/Tiny"),
            "{text}"
        );
    }
}
