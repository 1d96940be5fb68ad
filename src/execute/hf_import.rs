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
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
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

/// Upload every file of `hf` that Ollama lacks and fill `request.files`.
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
    let total: u64 = hf.files.iter().map(|f| f.size).sum();
    let mut done = 0u64;
    for file in &hf.files {
        let path = ensure_local(&cache, hf, file)?;
        let digest = match &file.lfs_sha256 {
            Some(sha) if sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()) => {
                format!("sha256:{}", sha.to_ascii_lowercase())
            }
            _ => crate::ollama::sha256_file(&path).await?,
        };
        if client.blob_exists(&digest).await? {
            run.progress(id, format!("using existing {}", file.path), Some(done), Some(total));
        } else {
            run.progress(id, format!("uploading {}", file.path), Some(done), Some(total));
            client.push_blob(&digest, &path).await?;
        }
        done += file.size;
        run.progress(id, format!("uploaded {}", file.path), Some(done), Some(total));
        request.files.insert(file.path.clone(), digest);
    }
    Ok(())
}
