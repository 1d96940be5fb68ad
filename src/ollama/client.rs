//! The HTTP core of the client: the request path, timeouts and the retry
//! loop (configuration is in `builder.rs`). The endpoint methods live in
//! `api.rs` and `blobs.rs`; they all go through [`Client::send`] so that every
//! call gets the same retry and timeout rules.
//!
//! Timeouts are *idle* timeouts implemented here rather than reqwest's
//! client-wide `read_timeout`, because different calls need different limits
//! (a model load may sit silent for minutes, a tag listing should not) and a
//! total timeout would cut long pulls and uploads.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use reqwest::header::{HOST, HeaderValue};
use reqwest::{RequestBuilder, Response, Url};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::builder::{ClientBuilder, HostHeader, RetryPolicy};
use super::error::{Endpoint, OllamaError, snippet};
use super::progress::error_chain;

/// A typed async client for one Ollama server. Cheap to clone (shared
/// connection pool).
#[derive(Clone, Debug)]
pub struct Client {
    pub(super) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(super) struct Inner {
    pub(super) http: reqwest::Client,
    pub(super) base: Url,
    pub(super) base_str: String,
    pub(super) host: Option<HeaderValue>,
    pub(super) read_timeout: Duration,
    pub(super) stream_idle_timeout: Duration,
    pub(super) load_timeout: Duration,
    pub(super) retry: RetryPolicy,
}

/// Last time bytes moved; lets an upload's idle timeout restart on progress.
#[derive(Debug)]
pub(crate) struct Activity(Mutex<Instant>);

impl Activity {
    pub(crate) fn new() -> Self {
        Self(Mutex::new(Instant::now()))
    }

    pub(crate) fn touch(&self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    fn last(&self) -> Instant {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The most read of a whole JSON answer (`/api/tags` of a store with
/// thousands of models is a few MiB).
pub(crate) const MAX_BODY_BYTES: u64 = 64 << 20;

/// The most read of an error answer (it only becomes a message).
const MAX_ERROR_BODY_BYTES: u64 = 64 << 10;

/// A body read up to a limit: its bytes, and whether there was more.
struct Capped {
    bytes: Vec<u8>,
    truncated: bool,
}

/// Reads at most `limit` bytes of `response`'s body, chunk by chunk; a
/// declared `Content-Length` over the limit is not read at all.
async fn read_capped(mut response: Response, limit: u64) -> Result<Capped, reqwest::Error> {
    if response.content_length().is_some_and(|n| n > limit) {
        return Ok(Capped {
            bytes: Vec::new(),
            truncated: true,
        });
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = usize::try_from(limit.saturating_sub(bytes.len() as u64)).unwrap_or(usize::MAX);
        if chunk.len() > room {
            bytes.extend_from_slice(&chunk[..room]);
            return Ok(Capped {
                bytes,
                truncated: true,
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Capped {
        bytes,
        truncated: false,
    })
}

/// `Ollama's {"error": "..."}` body.
#[derive(serde::Deserialize)]
struct ErrorBody {
    error: String,
}

impl Client {
    /// A client with default settings for `base_url`, e.g.
    /// `http://127.0.0.1:11434`. An `OLLAMA_HOST`-style value without a
    /// scheme (`127.0.0.1:11434`, `localhost`) is accepted too; a missing port
    /// then means 11434.
    pub fn new(base_url: &str) -> Result<Client, OllamaError> {
        Self::builder(base_url).build()
    }

    /// A builder for `base_url` with the default timeouts and retry policy.
    pub fn builder(base_url: &str) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.to_owned(),
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(30),
            stream_idle_timeout: Duration::from_secs(300),
            load_timeout: Duration::from_secs(600),
            retry: RetryPolicy::default(),
            host_header: HostHeader::Localhost,
        }
    }

    /// The server's base URL, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.inner.base_str
    }

    pub(crate) fn read_timeout(&self) -> Duration {
        self.inner.read_timeout
    }

    pub(crate) fn stream_idle_timeout(&self) -> Duration {
        self.inner.stream_idle_timeout
    }

    pub(crate) fn load_timeout(&self) -> Duration {
        self.inner.load_timeout
    }

    /// A request for `endpoint` with the `Host` header set.
    pub(crate) fn request(&self, endpoint: &Endpoint) -> RequestBuilder {
        let mut url = self.inner.base.clone();
        let path = format!(
            "{}{}",
            self.inner.base.path().trim_end_matches('/'),
            endpoint.path
        );
        url.set_path(&path);
        let rb = self.inner.http.request(endpoint.method.clone(), url);
        match &self.inner.host {
            Some(host) => rb.header(HOST, host.clone()),
            None => rb,
        }
    }

    /// Sends the request built by `make`, retrying per the policy, and returns
    /// the response whatever its status (after the last retry of a 5xx).
    ///
    /// `wait` bounds the silence before the response head arrives; with
    /// `activity`, the clock restarts whenever the upload body makes progress.
    pub(crate) async fn send(
        &self,
        endpoint: &Endpoint,
        wait: Duration,
        activity: Option<&Activity>,
        make: impl Fn() -> Result<RequestBuilder, OllamaError>,
    ) -> Result<Response, OllamaError> {
        let policy = self.inner.retry;
        let attempts = policy.attempts.max(1);
        let mut attempt = 1;
        loop {
            let request = make()?;
            if let Some(a) = activity {
                a.touch();
            }
            let reason = match idle_timeout(request.send(), wait, activity).await {
                None => {
                    return Err(OllamaError::Timeout {
                        base_url: self.base_url().to_owned(),
                        endpoint: endpoint.clone(),
                        after: wait,
                    });
                }
                Some(Ok(r)) if r.status().is_server_error() && attempt < attempts => {
                    format!("HTTP {}", r.status())
                }
                Some(Ok(r)) => return Ok(r),
                Some(Err(e)) if e.is_connect() && attempt < attempts => error_chain(&e),
                Some(Err(e)) if e.is_connect() => {
                    return Err(OllamaError::Connect {
                        base_url: self.base_url().to_owned(),
                        endpoint: endpoint.clone(),
                        attempts,
                        source: e,
                    });
                }
                Some(Err(e)) => return Err(self.http_error(endpoint, e)),
            };
            let delay = policy.backoff(attempt);
            tracing::debug!(
                %endpoint,
                base_url = self.base_url(),
                attempt,
                ?delay,
                reason,
                "retrying Ollama request"
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// Like [`send`](Self::send), but any non-2xx status becomes
    /// [`OllamaError::Api`].
    pub(crate) async fn send_ok(
        &self,
        endpoint: &Endpoint,
        wait: Duration,
        activity: Option<&Activity>,
        make: impl Fn() -> Result<RequestBuilder, OllamaError>,
    ) -> Result<Response, OllamaError> {
        let response = self.send(endpoint, wait, activity, make).await?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(self.api_error(endpoint, response).await)
        }
    }

    /// Turns an error answer into [`OllamaError::Api`] with Ollama's message.
    pub(crate) async fn api_error(&self, endpoint: &Endpoint, response: Response) -> OllamaError {
        let status = response.status();
        // Only a message: a bounded prefix of the body is enough.
        let text = tokio::time::timeout(
            self.read_timeout(),
            read_capped(response, MAX_ERROR_BODY_BYTES),
        )
        .await
        .ok()
        .and_then(Result::ok)
        .map(|c| String::from_utf8_lossy(&c.bytes).into_owned())
        .unwrap_or_default();
        let message = serde_json::from_str::<ErrorBody>(&text)
            .map(|b| b.error)
            .ok()
            .or_else(|| Some(text.trim().to_owned()).filter(|t| !t.is_empty()))
            .unwrap_or_else(|| {
                let reason = status.canonical_reason().unwrap_or("no message");
                if status.as_u16() == 403 {
                    format!(
                        "{reason} (empty body: a loopback-bound Ollama rejects an untrusted Host header; keep the default `localhost:<port>` Host)"
                    )
                } else {
                    reason.to_owned()
                }
            });
        OllamaError::Api {
            status: status.as_u16(),
            message,
            endpoint: endpoint.clone(),
            base_url: self.base_url().to_owned(),
        }
    }

    /// Reads the whole (small) body within the read timeout and
    /// [`MAX_BODY_BYTES`].
    pub(crate) async fn read_text(
        &self,
        endpoint: &Endpoint,
        response: Response,
    ) -> Result<String, OllamaError> {
        match tokio::time::timeout(self.read_timeout(), read_capped(response, MAX_BODY_BYTES)).await
        {
            Ok(Ok(Capped {
                truncated: true, ..
            })) => Err(OllamaError::TooLarge {
                endpoint: endpoint.clone(),
                base_url: self.base_url().to_owned(),
                limit: MAX_BODY_BYTES,
            }),
            Ok(Ok(Capped { bytes, .. })) => Ok(match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
            }),
            Ok(Err(e)) => Err(self.http_error(endpoint, e)),
            Err(_) => Err(OllamaError::Timeout {
                base_url: self.base_url().to_owned(),
                endpoint: endpoint.clone(),
                after: self.read_timeout(),
            }),
        }
    }

    /// Reads and decodes a JSON body; `expected` names it for error messages.
    pub(crate) async fn read_json<T: DeserializeOwned>(
        &self,
        endpoint: &Endpoint,
        response: Response,
        expected: &'static str,
    ) -> Result<T, OllamaError> {
        let text = self.read_text(endpoint, response).await?;
        serde_json::from_str(&text).map_err(|e| OllamaError::BadResponse {
            endpoint: endpoint.clone(),
            base_url: self.base_url().to_owned(),
            expected,
            detail: format!("{} ({e})", snippet(&text)),
        })
    }

    fn http_error(&self, endpoint: &Endpoint, e: reqwest::Error) -> OllamaError {
        OllamaError::Http {
            endpoint: endpoint.clone(),
            base_url: self.base_url().to_owned(),
            source: e,
        }
    }
}

/// Runs `fut` until it finishes or nothing happened for `idle`; `None` on timeout.
async fn idle_timeout<F: Future>(
    fut: F,
    idle: Duration,
    activity: Option<&Activity>,
) -> Option<F::Output> {
    let Some(activity) = activity else {
        return tokio::time::timeout(idle, fut).await.ok();
    };
    let mut fut = std::pin::pin!(fut);
    loop {
        tokio::select! {
            out = &mut fut => return Some(out),
            () = tokio::time::sleep_until(activity.last() + idle) => {
                if activity.last() + idle <= Instant::now() {
                    return None;
                }
            }
        }
    }
}
