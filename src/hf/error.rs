//! Why a Hugging Face call failed, in words a person can act on: what, which
//! repo or URL, and what to do. Causes are kept as `source()`.

use std::path::PathBuf;

use crate::safefs::{ReadError, SafeFsError};

/// An error of the Hub client, the cache or the downloader.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[non_exhaustive]
pub enum HfError {
    /// `HF_ENDPOINT` is not a URL.
    #[error(
        "HF_ENDPOINT `{endpoint}` is not a URL; set it like https://huggingface.co or unset it"
    )]
    BadEndpoint {
        /// The value.
        endpoint: String,
    },
    /// No `HF_HOME`, `HF_HUB_CACHE`, `XDG_CACHE_HOME` nor `HOME`.
    #[error(
        "cannot find the Hugging Face cache: none of HF_HUB_CACHE, HF_HOME, XDG_CACHE_HOME, HOME is set; set HF_HOME"
    )]
    NoCacheDir,
    /// The token file could not be read.
    #[error("cannot read the Hugging Face token file {}", path.display())]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: ReadError,
    },
    /// Not a Hub repo id.
    #[error(
        "`{name}` is not a Hugging Face repo id; write it as org/name (e.g. bartowski/Llama-3.2-1B-Instruct-GGUF)"
    )]
    BadRepoId {
        /// As given.
        name: String,
    },
    /// `HF_HUB_OFFLINE` is set and the cache cannot answer.
    #[error(
        "HF_HUB_OFFLINE is set and {what} is not in the Hugging Face cache ({}); unset HF_HUB_OFFLINE to fetch it, or download it first",
        cache.display()
    )]
    Offline {
        /// What was asked for.
        what: String,
        /// The cache.
        cache: PathBuf,
    },
    /// The repo asks people to accept its licence first.
    #[error("{repo} is a gated repo: {}accept its licence at {url} (with the account of your token), then run again{}",
        if *token_set { "" } else { "set HF_TOKEN (or run `hf auth login`) and " },
        if message.is_empty() { String::new() } else { format!(" (the Hub said: {message})") })]
    Gated {
        /// The repo.
        repo: String,
        /// Where to accept the licence.
        url: String,
        /// Whether a token was sent.
        token_set: bool,
        /// The Hub's message.
        message: String,
    },
    /// The token was refused.
    #[error(
        "the Hugging Face token was refused by {endpoint} (Invalid credentials in Authorization header); check HF_TOKEN or the token file under HF_HOME, or create a new token at {endpoint}/settings/tokens"
    )]
    BadToken {
        /// The Hub.
        endpoint: String,
    },
    /// The token lacks a permission.
    #[error("{url}: access denied (403){}; {}", if message.is_empty() { String::new() } else { format!(": {message}") },
        if *token_set { "your token lacks the permission for this repo" } else { "set HF_TOKEN to a token that has access" })]
    Forbidden {
        /// The URL.
        url: String,
        /// The Hub's message.
        message: String,
        /// Whether a token was sent.
        token_set: bool,
    },
    /// No such repo (or private, or gated to anonymous callers).
    #[error("repo {repo} not found on {endpoint}; check the spelling{}", if *token_set {
        " (or ask its owners for access: private repos are invisible without it)"
    } else { " (a private repo needs a token: set HF_TOKEN)" })]
    RepoNotFound {
        /// The repo.
        repo: String,
        /// The Hub.
        endpoint: String,
        /// Whether a token was sent.
        token_set: bool,
    },
    /// No such branch, tag or commit.
    #[error(
        "repo {repo} has no revision `{revision}`; use a branch, tag or commit of {endpoint}/{repo}/tree/main"
    )]
    RevisionNotFound {
        /// The repo.
        repo: String,
        /// The revision.
        revision: String,
        /// The Hub.
        endpoint: String,
    },
    /// No such file.
    #[error(
        "repo {repo} has no file `{path}` at {revision}; `facerunner hf info {repo}` lists its files"
    )]
    EntryNotFound {
        /// The repo.
        repo: String,
        /// The revision.
        revision: String,
        /// The file.
        path: String,
    },
    /// Still rate limited after waiting.
    #[error("{url}: rate limited by the Hub (429) {attempts} time(s){}; wait a few minutes, or set HF_TOKEN (logged-in users get higher limits)",
        retry_after.map(|s| format!(", it asked to wait {s} s")).unwrap_or_default())]
    RateLimited {
        /// The URL.
        url: String,
        /// The last `Retry-After`, in seconds.
        retry_after: Option<u64>,
        /// Attempts made.
        attempts: u32,
    },
    /// A transport failure.
    #[error(
        "cannot reach {url} ({attempts} attempt(s)); check the network, or HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use the cache only"
    )]
    Http {
        /// The URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// An unexpected status.
    #[error("{url}: the Hub answered {status}{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
        /// The Hub's message.
        message: String,
    },
    /// An answer we cannot use.
    #[error("{url}: unexpected answer from the Hub: {reason}")]
    BadResponse {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The bytes do not match the LFS sha256, twice.
    #[error(
        "{repo}/{path}: the downloaded bytes do not match the Hub's sha256 (expected {expected}, got {actual}), even after downloading again; the mirror or a proxy may be corrupting data"
    )]
    Integrity {
        /// The repo.
        repo: String,
        /// The file.
        path: String,
        /// The LFS sha256.
        expected: String,
        /// What the bytes hash to.
        actual: String,
    },
    /// A file of the cache could not be used.
    #[error(transparent)]
    Cache(#[from] SafeFsError),
    /// An I/O error in the cache.
    #[error("cannot {action} {} in the Hugging Face cache", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl HfError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> HfError {
        HfError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
