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
use crate::model::hf_resolve::{HfEnv, HfLookup};

/// Who answers "what is this repo at this revision".
pub trait RepoSource: Send + Sync {
    /// The repo's files and commit, or why there is no answer.
    fn repo_info<'a>(&'a self, repo: &'a str, revision: &'a str) -> BoxFuture<'a, HfLookup>;
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

/// The Hub client from the environment, and what it says about the
/// environment (`HF_ENDPOINT` set, a token); or why there is none (a bad
/// `HF_ENDPOINT`, no cache directory).
pub fn hub() -> Result<(Box<dyn RepoSource>, HfEnv), String> {
    let hub = crate::hf::Hub::from_env().map_err(|e| crate::style::with_causes(&e))?;
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
