//! Where a file's first bytes can be read before it is downloaded (a GGUF
//! header: the model's shape for the memory estimate of `quant: auto`,
//! `hf info` and the plan's fit check; `observe::hf::gguf_meta` reads it).
//!
//! From the cache when the file is there; else the URL the Hub's redirect
//! leads to (followed with a one-byte range, so the token goes to the Hub
//! only, as for downloads) and a client to send bounded
//! `Range: bytes=0-N` requests with.

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, LOCATION, RANGE};
use reqwest::{Method, Url};

use super::client::{Ctx, Hub};
use super::error::HfError;
use crate::model::hf::{RepoFile, RepoInfo};

/// Where to read a file's first bytes.
#[derive(Debug)]
pub enum HeadSource {
    /// The file is in the cache, here.
    Cached(std::path::PathBuf),
    /// Over HTTP: send range requests to `url` with `client` (which
    /// carries the token when `url` is the Hub's own).
    Remote {
        /// The final URL (the CDN's, or the Hub's).
        url: String,
        /// A client for it; it follows no redirects.
        client: reqwest::Client,
    },
}

/// Redirects followed before giving up.
const MAX_REDIRECTS: usize = 5;

impl Hub {
    /// Where the first bytes of `file` of `info` at its commit can be read.
    pub async fn head_source(
        &self,
        info: &RepoInfo,
        file: &RepoFile,
    ) -> Result<HeadSource, HfError> {
        if let Some(p) = self.cache.cached_file(&info.id, &info.commit, file)? {
            return Ok(HeadSource::Cached(p));
        }
        if self.settings.offline {
            return Err(HfError::Offline {
                what: format!("the GGUF header of {}/{}", info.id, file.path),
                cache: self.cache.root().to_path_buf(),
            });
        }
        let (org, name) = info.id.split_once('/').unwrap_or((&info.id, ""));
        let mut segments = vec![org, name, "resolve", info.commit.as_str()];
        segments.extend(file.path.split('/'));
        let hub_url = self.url(&segments)?;
        let ctx = Ctx {
            repo: info.id.clone(),
            revision: info.commit.clone(),
            path: Some(file.path.clone()),
        };
        let same_origin = |u: &Url| {
            u.scheme() == hub_url.scheme()
                && u.host_str() == hub_url.host_str()
                && u.port_or_known_default() == hub_url.port_or_known_default()
        };
        // Where the bytes are: the Hub, or the CDN it redirects to.
        let mut url = hub_url.clone();
        let mut hops = 0;
        loop {
            let authed = same_origin(&url);
            let r = self
                .send(&ctx, &url, || {
                    let rb = self
                        .http
                        .request(Method::GET, url.clone())
                        .header(RANGE, "bytes=0-0");
                    if authed { self.authed(rb) } else { rb }
                })
                .await?;
            if !r.status().is_redirection() {
                break;
            }
            hops += 1;
            url = r
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| url.join(l).ok())
                .filter(|_| hops <= MAX_REDIRECTS)
                .ok_or_else(|| HfError::BadResponse {
                    url: url.to_string(),
                    reason: "too many redirects, or one without a usable Location".into(),
                })?;
        }
        let client = match (&self.settings.token, same_origin(&url)) {
            (Some(t), true) => {
                let mut h = HeaderMap::new();
                let mut v = HeaderValue::from_str(&format!("Bearer {t}")).map_err(|_| {
                    HfError::BadResponse {
                        url: url.to_string(),
                        reason: "the token is not a valid header value".into(),
                    }
                })?;
                v.set_sensitive(true);
                h.insert(AUTHORIZATION, v);
                crate::http::client_builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .default_headers(h)
                    .build()
                    .map_err(|source| HfError::Http {
                        url: url.to_string(),
                        attempts: 0,
                        source,
                    })?
            }
            _ => self.http.clone(),
        };
        Ok(HeadSource::Remote {
            url: url.to_string(),
            client,
        })
    }
}
