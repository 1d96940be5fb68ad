//! The Hub's HTTP API: model info, the file tree, search; one request path
//! with the Hub's retry rules (429 waits `Retry-After`, 5xx and connection
//! errors back off) and its error codes turned into [`HfError`]s.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, RETRY_AFTER};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use serde::{Deserialize, Serialize};

use crate::model::hf::{Gated, RepoFile, RepoInfo};

use super::cache::{HfCache, check_repo_id, is_hex, safe_rel_path};
use super::env::HfSettings;
use super::error::HfError;

/// One search result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchHit {
    /// `org/name`.
    pub id: String,
    /// Downloads (last 30 days).
    #[serde(default)]
    pub downloads: u64,
    /// Likes.
    #[serde(default)]
    pub likes: u64,
    /// `text-generation`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_tag: Option<String>,
    /// `gguf`, `transformers`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub library: Option<String>,
    /// Whether the repo is tagged `gguf`.
    pub gguf: bool,
}

/// What a request is about, for error messages.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ctx {
    pub(crate) repo: String,
    pub(crate) revision: String,
    pub(crate) path: Option<String>,
}

/// A client of one Hub (`HF_ENDPOINT`) and its cache.
#[derive(Debug, Clone)]
pub struct Hub {
    pub(crate) settings: HfSettings,
    pub(crate) http: reqwest::Client,
    pub(crate) cache: HfCache,
    /// Attempts on 429 / 5xx / connection errors.
    pub(crate) attempts: u32,
    /// The longest `Retry-After` honoured.
    pub(crate) max_wait: Duration,
    /// Files downloaded in parallel.
    pub(crate) parallel_files: usize,
    /// (repo, commit) → the revision `repo_info` resolved to it: the
    /// download writes `refs/<revision>`.
    pub(crate) revisions: Arc<Mutex<HashMap<(String, String), String>>>,
}

impl Hub {
    /// A client configured from the environment.
    pub fn from_env() -> Result<Hub, HfError> {
        Hub::new(HfSettings::from_env()?)
    }

    /// A client with explicit settings.
    pub fn new(settings: HfSettings) -> Result<Hub, HfError> {
        let endpoint = settings.endpoint.clone();
        let http = crate::http::client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .user_agent(concat!(
                "facerunner/",
                env!("CARGO_PKG_VERSION"),
                "; hf_hub-compatible"
            ))
            .build()
            .map_err(|source| HfError::Http {
                url: endpoint,
                attempts: 0,
                source,
            })?;
        Ok(Hub {
            cache: HfCache::new(settings.cache_dir.clone()),
            settings,
            http,
            attempts: 5,
            max_wait: Duration::from_secs(60),
            parallel_files: 4,
            revisions: Arc::default(),
        })
    }

    /// The settings.
    pub fn settings(&self) -> &HfSettings {
        &self.settings
    }

    /// The cache.
    pub fn cache(&self) -> &HfCache {
        &self.cache
    }

    fn offline_error(&self, what: String) -> HfError {
        HfError::Offline {
            what,
            cache: self.cache.root().to_path_buf(),
        }
    }

    /// `{endpoint}/{segments...}` with each segment percent-encoded.
    pub(crate) fn url(&self, segments: &[&str]) -> Result<Url, HfError> {
        let mut url = Url::parse(&self.settings.endpoint).map_err(|_| HfError::BadEndpoint {
            endpoint: self.settings.endpoint.clone(),
        })?;
        {
            let mut path = url.path_segments_mut().map_err(|()| HfError::BadEndpoint {
                endpoint: self.settings.endpoint.clone(),
            })?;
            path.pop_if_empty();
            for s in segments {
                path.push(s);
            }
        }
        Ok(url)
    }

    pub(crate) fn authed(&self, rb: RequestBuilder) -> RequestBuilder {
        match &self.settings.token {
            Some(t) => rb.header(AUTHORIZATION, format!("Bearer {t}")),
            None => rb,
        }
    }

    /// Send with the Hub's retry rules; statuses below 400 are returned,
    /// others become errors.
    pub(crate) async fn send(
        &self,
        ctx: &Ctx,
        url: &Url,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response, HfError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= self.attempts;
            match build().send().await {
                Err(source) => {
                    // A refused connection is retried once only: the cache
                    // may answer instead (see `repo_info`).
                    if last || attempt >= 2 || !(source.is_connect() || source.is_timeout()) {
                        return Err(HfError::Http {
                            url: url.to_string(),
                            attempts: attempt,
                            source,
                        });
                    }
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Ok(resp) if resp.status() == StatusCode::TOO_MANY_REQUESTS => {
                    let wait = retry_after(resp.headers());
                    if last {
                        return Err(HfError::RateLimited {
                            url: url.to_string(),
                            retry_after: wait,
                            attempts: attempt,
                        });
                    }
                    let wait = wait.map_or(backoff(attempt), Duration::from_secs);
                    tokio::time::sleep(wait.min(self.max_wait)).await;
                }
                Ok(resp)
                    if !last && matches!(resp.status().as_u16(), 408 | 500 | 502 | 503 | 504) =>
                {
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Ok(resp) if resp.status().as_u16() >= 400 => {
                    return Err(self.error_of(ctx, url, resp).await);
                }
                Ok(resp) => return Ok(resp),
            }
        }
    }

    /// Turn an error answer into an [`HfError`].
    async fn error_of(&self, ctx: &Ctx, url: &Url, resp: Response) -> HfError {
        let status = resp.status().as_u16();
        let header = |k: &str| {
            resp.headers()
                .get(k)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let code = header("x-error-code").unwrap_or_default();
        let mut message = header("x-error-message").unwrap_or_default();
        if message.is_empty() {
            let body = resp.bytes().await.unwrap_or_default();
            let body = &body[..body.len().min(4096)];
            message = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
                .unwrap_or_else(|| {
                    String::from_utf8_lossy(body)
                        .trim()
                        .chars()
                        .take(300)
                        .collect()
                });
        }
        let token_set = self.settings.token.is_some();
        let endpoint = self.settings.endpoint.clone();
        match (code.as_str(), status) {
            ("GatedRepo", _) => HfError::Gated {
                url: format!("{endpoint}/{}", ctx.repo),
                repo: ctx.repo.clone(),
                token_set,
                message,
            },
            ("RepoNotFound", _) => HfError::RepoNotFound {
                repo: ctx.repo.clone(),
                endpoint,
                token_set,
            },
            ("RevisionNotFound", _) => HfError::RevisionNotFound {
                repo: ctx.repo.clone(),
                revision: ctx.revision.clone(),
                endpoint,
            },
            ("EntryNotFound", _) => HfError::EntryNotFound {
                repo: ctx.repo.clone(),
                revision: ctx.revision.clone(),
                path: ctx.path.clone().unwrap_or_default(),
            },
            (_, 401) if message.contains("Invalid credentials") => HfError::BadToken { endpoint },
            (_, 401) => HfError::RepoNotFound {
                repo: ctx.repo.clone(),
                endpoint,
                token_set,
            },
            (_, 403) => HfError::Forbidden {
                url: url.to_string(),
                message,
                token_set,
            },
            _ => HfError::Status {
                url: url.to_string(),
                status,
                message,
            },
        }
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        ctx: &Ctx,
        url: &Url,
    ) -> Result<(T, HeaderMap), HfError> {
        let resp = self
            .send(ctx, url, || {
                self.authed(self.http.request(Method::GET, url.clone()))
            })
            .await?;
        let headers = resp.headers().clone();
        if resp.content_length().is_some_and(|n| n > MAX_JSON) {
            return Err(bad(url, "the answer is too large"));
        }
        let mut body = Vec::new();
        let mut resp = resp;
        while let Some(chunk) = resp.chunk().await.map_err(|source| HfError::Http {
            url: url.to_string(),
            attempts: 1,
            source,
        })? {
            body.extend_from_slice(&chunk);
            if body.len() as u64 > MAX_JSON {
                return Err(bad(url, "the answer is too large"));
            }
        }
        let value = serde_json::from_slice(&body).map_err(|e| bad(url, &e.to_string()))?;
        Ok((value, headers))
    }

    /// A repo at a revision: the commit it resolves to, its metadata and
    /// every file with size and LFS sha256. Offline, what the cache knows.
    pub async fn repo_info(&self, repo: &str, revision: &str) -> Result<RepoInfo, HfError> {
        check_repo_id(repo)?;
        if self.settings.offline {
            return self.cache.offline_info(repo, revision);
        }
        let (org, name) = repo.split_once('/').unwrap_or((repo, ""));
        let ctx = Ctx {
            repo: repo.into(),
            revision: revision.into(),
            path: None,
        };
        let url = self.url(&["api", "models", org, name, "revision", revision])?;
        let (info, _): (ApiInfo, _) = match self.get_json(&ctx, &url).await {
            Ok(v) => v,
            // The Hub cannot be reached: what the cache knows, as the
            // Python tools do.
            Err(e @ HfError::Http { .. }) => {
                return match self.cache.offline_info(repo, revision) {
                    Ok(info) => {
                        tracing::warn!(repo, error = %e, "the Hub cannot be reached; answering from the cache");
                        Ok(info)
                    }
                    Err(_) => Err(e),
                };
            }
            Err(e) => return Err(e),
        };
        if !is_hex(&info.sha, 40) {
            return Err(bad(&url, "`sha` is not a commit id"));
        }
        // The tree at the commit (pinned: a push in between cannot mix two
        // commits), every page.
        let mut next = Some(self.url(&["api", "models", org, name, "tree", &info.sha])?);
        if let Some(u) = next.as_mut() {
            u.query_pairs_mut().append_pair("recursive", "true");
        }
        let mut files = Vec::new();
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > 1000 {
                return Err(bad(&url, "more than 1000 pages of files"));
            }
            let (entries, headers): (Vec<TreeEntry>, _) = self.get_json(&ctx, &url).await?;
            for e in entries.into_iter().filter(|e| e.kind == "file") {
                if !safe_rel_path(&e.path) {
                    return Err(bad(&url, &format!("unsafe file path `{}`", e.path)));
                }
                let lfs_sha256 = e.lfs.map(|l| l.oid.to_ascii_lowercase());
                if lfs_sha256.as_deref().is_some_and(|s| !is_hex(s, 64)) {
                    return Err(bad(&url, &format!("`{}`: lfs.oid is not a sha256", e.path)));
                }
                files.push(RepoFile {
                    path: e.path,
                    size: e.size,
                    lfs_sha256,
                    blob_id: e.oid.filter(|o| is_hex(o, 40)),
                });
            }
            next = next_link(&headers, &url);
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        self.revisions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((repo.to_string(), info.sha.clone()), revision.to_string());
        Ok(RepoInfo {
            // The Hub's spelling (a renamed repo), when it is a repo id.
            id: info
                .id
                .filter(|id| check_repo_id(id).is_ok())
                .unwrap_or_else(|| repo.to_string()),
            commit: info.sha,
            gated: match info.gated {
                serde_json::Value::String(s) if s == "manual" => Gated::Manual,
                serde_json::Value::String(_) | serde_json::Value::Bool(true) => Gated::Auto,
                _ => Gated::No,
            },
            private: info.private,
            pipeline_tag: info.pipeline_tag,
            library: info.library_name,
            base_model: match info.card_data.and_then(|c| c.get("base_model").cloned()) {
                Some(serde_json::Value::String(s)) => vec![s],
                Some(serde_json::Value::Array(a)) => a
                    .into_iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                _ => vec![],
            },
            architectures: info
                .config
                .and_then(|c| c.get("architectures").cloned())
                .and_then(|a| serde_json::from_value(a).ok())
                .unwrap_or_default(),
            files,
        })
    }

    /// Search repos by name; `gguf_only` keeps repos tagged `gguf`.
    pub async fn search(
        &self,
        query: &str,
        gguf_only: bool,
        limit: usize,
    ) -> Result<Vec<SearchHit>, HfError> {
        if self.settings.offline {
            return Err(self.offline_error(format!("a search for `{query}`")));
        }
        let mut url = self.url(&["api", "models"])?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("search", query);
            q.append_pair("limit", &limit.clamp(1, 1000).to_string());
            if gguf_only {
                q.append_pair("filter", "gguf");
            }
        }
        let ctx = Ctx::default();
        let (hits, _): (Vec<ApiHit>, _) = self.get_json(&ctx, &url).await?;
        Ok(hits
            .into_iter()
            .filter_map(|h| {
                let id = h.id.or(h.model_id)?;
                Some(SearchHit {
                    gguf: h.tags.iter().any(|t| t == "gguf")
                        || h.library_name.as_deref() == Some("gguf"),
                    id,
                    downloads: h.downloads,
                    likes: h.likes,
                    pipeline_tag: h.pipeline_tag,
                    library: h.library_name,
                })
            })
            .take(limit)
            .collect())
    }
}

const MAX_JSON: u64 = 64 << 20;

fn bad(url: &Url, reason: &str) -> HfError {
    HfError::BadResponse {
        url: url.to_string(),
        reason: reason.to_string(),
    }
}

/// 1, 2, 4, 8, 8 ... seconds.
fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1 << attempt.saturating_sub(1).min(3))
}

/// A numeric `Retry-After`, in seconds.
fn retry_after(h: &HeaderMap) -> Option<u64> {
    h.get(RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()
}

/// The `Link: <…>; rel="next"` URL, if on the same host.
fn next_link(h: &HeaderMap, current: &Url) -> Option<Url> {
    let link = h.get(reqwest::header::LINK)?.to_str().ok()?;
    for part in link.split(',') {
        let (url, params) = part.split_once(';')?;
        if params.contains("rel=\"next\"") {
            let url = current
                .join(url.trim().trim_start_matches('<').trim_end_matches('>'))
                .ok()?;
            return (url.host_str() == current.host_str() && url.port() == current.port())
                .then_some(url);
        }
    }
    None
}

#[derive(Deserialize)]
struct ApiInfo {
    id: Option<String>,
    sha: String,
    #[serde(default)]
    private: bool,
    #[serde(default)]
    gated: serde_json::Value,
    pipeline_tag: Option<String>,
    library_name: Option<String>,
    #[serde(rename = "cardData")]
    card_data: Option<serde_json::Value>,
    config: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct TreeEntry {
    #[serde(rename = "type")]
    kind: String,
    path: String,
    #[serde(default)]
    size: u64,
    oid: Option<String>,
    lfs: Option<TreeLfs>,
}

#[derive(Deserialize)]
struct TreeLfs {
    oid: String,
}

#[derive(Deserialize)]
struct ApiHit {
    id: Option<String>,
    #[serde(rename = "modelId")]
    model_id: Option<String>,
    #[serde(default)]
    downloads: u64,
    #[serde(default)]
    likes: u64,
    pipeline_tag: Option<String>,
    library_name: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_retry_after_are_read() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "7".parse().expect("hv"));
        h.insert(
            reqwest::header::LINK,
            "<http://h:1/api/x?cursor=2>; rel=\"next\""
                .parse()
                .expect("hv"),
        );
        assert_eq!(retry_after(&h), Some(7));
        let cur = Url::parse("http://h:1/api/x").expect("url");
        assert_eq!(
            next_link(&h, &cur).map(|u| u.to_string()).as_deref(),
            Some("http://h:1/api/x?cursor=2")
        );
        // A next page on another host is not followed (the token would go there).
        let other = Url::parse("http://other:1/api/x").expect("url");
        h.insert(
            reqwest::header::LINK,
            "<http://h:1/api/x?cursor=2>; rel=\"next\""
                .parse()
                .expect("hv"),
        );
        assert_eq!(next_link(&h, &other), None);
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(9), Duration::from_secs(8));
    }
}
