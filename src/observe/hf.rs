//! The Hugging Face Hub's answer for each `hf:` entry, for the plan to
//! resolve quants, sources and commits (`model::hf_resolve`).
//!
//! The Hub is reached through a [`RepoSource`], the Hub client
//! (`crate::hf`) in FaceRunner ([`hub`]). Offline (`HF_HUB_OFFLINE`) it
//! answers from the Hugging Face cache; what it cannot answer, the table and
//! rules do, and the plan says why.

use std::collections::BTreeMap;

use futures_util::future::BoxFuture;

use crate::config::{Loaded, hf_entry};
use crate::model::gguf::ModelMeta;
use crate::model::hf::{RepoFile, RepoInfo};
use crate::model::hf_resolve::{HfEnv, HfLookup, header_key};

/// Who answers "what is this repo at this revision".
pub trait RepoSource: Send + Sync {
    /// The repo's files and commit, or why there is no answer.
    fn repo_info<'a>(&'a self, repo: &'a str, revision: &'a str) -> BoxFuture<'a, HfLookup>;

    /// The GGUF header of one file of the repo (read with a bounded range
    /// request, or from the cache), or why not.
    fn gguf_meta<'a>(
        &'a self,
        info: &'a RepoInfo,
        file: &'a RepoFile,
    ) -> BoxFuture<'a, Result<ModelMeta, String>>;
}

/// The Hub client (`crate::hf::Hub`, configured from the environment as
/// `huggingface_hub` is) as a [`RepoSource`]. Offline (`HF_HUB_OFFLINE`) it
/// answers from the Hugging Face cache.
struct HubSource(crate::hf::Hub);

impl RepoSource for HubSource {
    fn repo_info<'a>(&'a self, repo: &'a str, revision: &'a str) -> BoxFuture<'a, HfLookup> {
        Box::pin(async move {
            match self.0.repo_info(repo, revision).await {
                Ok(info) => HfLookup::Found {
                    info: Box::new(info),
                },
                Err(e) => lookup_error(repo, &e),
            }
        })
    }

    fn gguf_meta<'a>(
        &'a self,
        info: &'a RepoInfo,
        file: &'a RepoFile,
    ) -> BoxFuture<'a, Result<ModelMeta, String>> {
        Box::pin(gguf_meta(&self.0, info, file))
    }
}

/// A Hub error as the plan sees it: one that settles the question (no
/// such repo or revision, gated, refused token) is reported; one that only
/// says the Hub did not answer (offline and not cached, network, rate
/// limit) lets the table answer.
pub fn lookup_error(repo: &str, e: &crate::hf::HfError) -> HfLookup {
    use crate::hf::HfError as E;
    let reason = crate::style::with_causes(e);
    match e {
        E::Gated { .. }
        | E::BadToken { .. }
        | E::Forbidden { .. }
        | E::RepoNotFound { .. }
        | E::RevisionNotFound { .. }
        | E::BadRepoId { .. } => HfLookup::Refused {
            reason,
            help: format!("`facerunner hf info {repo}` shows what the Hub says about it"),
        },
        _ => HfLookup::Unreachable { reason },
    }
}

/// The Hub client `vars` configure, and what they say about the
/// environment (`HF_ENDPOINT` set, a token); or why there is none (a bad
/// `HF_ENDPOINT`, no cache directory).
pub fn hub(vars: &crate::hf::HubVars) -> Result<(Box<dyn RepoSource>, HfEnv), String> {
    let hub = vars
        .settings()
        .and_then(crate::hf::Hub::new)
        .map_err(|e| crate::style::with_causes(&e))?;
    let env = env_of(hub.settings());
    Ok((Box::new(HubSource(hub)), env))
}

/// What the Hub client's settings say for resolution: `HF_ENDPOINT` set
/// (not huggingface.co), a token.
pub fn env_of(s: &crate::hf::HfSettings) -> HfEnv {
    HfEnv {
        endpoint_set: s.endpoint.trim_end_matches('/') != crate::hf::DEFAULT_ENDPOINT,
        token_set: s.token.is_some(),
    }
}

/// Ask `source` about every `hf:` entry of the file, once per
/// `org/repo@revision`; `None` (no Hub client) marks each unreachable
/// with `why`.
pub async fn observe(
    loaded: &Loaded,
    source: Option<&dyn RepoSource>,
    why: &str,
) -> BTreeMap<String, HfLookup> {
    let mut out = BTreeMap::new();
    for m in &loaded.config.models {
        let Some(entry) = hf_entry(m) else { continue };
        let (Some(key), Some(repo)) = (entry.lookup_key(), entry.repo_id()) else {
            continue;
        };
        if out.contains_key(&key) {
            continue;
        }
        let answer = match source {
            Some(s) => s.repo_info(&repo, entry.revision()).await,
            None => HfLookup::Unreachable {
                reason: why.to_string(),
            },
        };
        out.insert(key, answer);
    }
    out
}

/// The GGUF header of `file` of `info` (for split files, the first part,
/// which holds the metadata), with the file's size as the weights: from
/// the cache when the file is there, else with bounded range requests
/// (`gguf::read_url`: `bytes=0-N`, N growing while the header is longer,
/// at most `gguf::MAX_HEADER_BYTES`). Or why not, in words.
pub async fn gguf_meta(
    hub: &crate::hf::Hub,
    info: &RepoInfo,
    file: &RepoFile,
) -> Result<ModelMeta, String> {
    let what = format!("{}/{}", info.id, file.path);
    let source = hub
        .head_source(info, file)
        .await
        .map_err(|e| crate::style::with_causes(&e))?;
    let read = match source {
        crate::hf::HeadSource::Cached(p) => crate::gguf::read_file(&p),
        crate::hf::HeadSource::Remote { url, client } => crate::gguf::read_url(&client, &url).await,
    };
    read.map_err(|e| format!("{what}: {}", crate::style::with_causes(&e)))
}

/// The file whose header stands for a GGUF repo's shape: the first file
/// of its smallest quant (every quant has the same layers, heads and
/// context; a split model keeps its metadata in the first part).
pub fn header_file(info: &RepoInfo) -> Option<RepoFile> {
    info.gguf_quants()
        .into_iter()
        .next()?
        .files
        .into_iter()
        .next()
}

/// The GGUF header of each GGUF repo the Hub answered for, by
/// [`header_key`] (repo and commit), for `quant: auto` and the fit check:
/// from the header cache of `state_dir` (`gguf-meta.json`, keyed by repo,
/// commit and file), else read by `source` and cached. A header that
/// cannot be read is left out (the estimate then counts the file's bytes
/// and Ollama's overhead only).
pub async fn headers(
    lookups: &BTreeMap<String, HfLookup>,
    source: &dyn RepoSource,
    state_dir: &std::path::Path,
) -> BTreeMap<String, ModelMeta> {
    let mut cache = super::gguf_cache::Cache::load(state_dir);
    let mut out = BTreeMap::new();
    for lookup in lookups.values() {
        let HfLookup::Found { info } = lookup else {
            continue;
        };
        let key = header_key(&info.id, &info.commit);
        if out.contains_key(&key) {
            continue;
        }
        let Some(file) = header_file(info) else {
            continue;
        };
        let cache_key = format!("{key}/{}", file.path);
        let meta = match cache.get_key(&cache_key, file.size) {
            Some(m) => m,
            None => match source.gguf_meta(info, &file).await {
                Ok(m) => {
                    cache.put_key(&cache_key, file.size, &m);
                    m
                }
                Err(why) => {
                    tracing::debug!("no GGUF header for {cache_key}: {why}");
                    continue;
                }
            },
        };
        out.insert(key, meta);
    }
    cache.save();
    out
}
