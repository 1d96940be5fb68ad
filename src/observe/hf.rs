//! The Hugging Face Hub's answer for each `hf:` entry, for the plan to
//! resolve quants, sources and commits (`model::hf_resolve`).
//!
//! Offline (`HF_HUB_OFFLINE`, `TRANSFORMERS_OFFLINE`) nothing is asked and
//! the table and rules answer. The Hub is reached through a [`RepoSource`]:
//! the real one is the Hub client (`crate::hf`), wired in [`hub`].

use std::collections::BTreeMap;

use futures_util::future::BoxFuture;

use crate::config::{Loaded, hf_entry};
use crate::model::hf_resolve::{HfEnv, HfLookup};

/// Who answers "what is this repo at this revision".
pub trait RepoSource: Send + Sync {
    /// The repo's files and commit, or why there is no answer.
    fn repo_info<'a>(&'a self, repo: &'a str, revision: &'a str) -> BoxFuture<'a, HfLookup>;
}

/// Whether the environment says offline (`HF_HUB_OFFLINE` or
/// `TRANSFORMERS_OFFLINE` set to 1, true, on or yes), as `huggingface_hub` reads it.
pub fn offline_from_env() -> bool {
    ["HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"].iter().any(|k| {
        std::env::var(k).is_ok_and(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "on" | "yes"
            )
        })
    })
}

/// `HF_ENDPOINT` and whether a token is set (`HF_TOKEN`, or the token file
/// `HF_TOKEN_PATH`, `$HF_HOME/token`, `~/.cache/huggingface/token`).
pub fn env_from_env() -> HfEnv {
    let set = |k: &str| std::env::var(k).is_ok_and(|v| !v.trim().is_empty());
    let token_file = std::env::var_os("HF_TOKEN_PATH")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HF_HOME").map(|h| std::path::Path::new(&h).join("token")))
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .map(|c| std::path::Path::new(&c).join("huggingface/token"))
        })
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|h| std::path::Path::new(&h).join(".cache/huggingface/token"))
        });
    let file_token = token_file
        .and_then(|p| crate::safefs::read_prefix(&p, 4096).ok())
        .is_some_and(|b| !String::from_utf8_lossy(&b).trim().is_empty());
    HfEnv {
        endpoint_set: set("HF_ENDPOINT"),
        token_set: set("HF_TOKEN") || set("HUGGING_FACE_HUB_TOKEN") || file_token,
    }
}

/// The Hub client, when this build has one.
///
/// Wiring point: the Hub client (`crate::hf::Hub::from_env()` and its
/// `repo_info`) implements [`RepoSource`] here. Until it does, every entry
/// reads as unreachable and the table and rules answer, saying so.
pub fn hub() -> Option<Box<dyn RepoSource>> {
    None
}

/// Ask `source` about every `hf:` entry of the file, once per
/// `org/repo@revision`; `None` (offline, or no Hub client) marks each
/// unreachable with `why`.
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
