//! The HTTP core of the client: configuration, URL and `Host` handling,
//! timeouts and the retry loop. The endpoint methods live in `api.rs` and
//! `blobs.rs`; they all go through [`Client::send`] so that every call gets the
//! same retry and timeout rules.
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

use super::error::{Endpoint, OllamaError, snippet};
use super::progress::error_chain;

/// Port Ollama listens on when `OLLAMA_HOST` names none.
pub const DEFAULT_PORT: u16 = 11434;

/// When and how often a failed request is sent again.
///
/// Only failures that cannot have had an effect on the server are retried:
/// connection errors (nothing was sent) and 5xx answers (the server refused
/// before streaming anything). 4xx answers are final, and a stream whose body
/// has started to be consumed is never re-sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total tries, including the first (1 = no retry).
    pub attempts: u32,
    /// Wait before the first retry; doubles after each one.
    pub initial_backoff: Duration,
    /// Upper bound of the wait.
    pub max_backoff: Duration,
}

impl RetryPolicy {
    /// Try once, never retry.
    pub const NONE: RetryPolicy = RetryPolicy {
        attempts: 1,
        initial_backoff: Duration::ZERO,
        max_backoff: Duration::ZERO,
    };

    /// Wait before retry number `retry` (1-based).
    fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

impl Default for RetryPolicy {
    /// 3 attempts, 250 ms then 500 ms apart (capped at 2 s).
    fn default() -> Self {
        Self {
            attempts: 3,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(2),
        }
    }
}

/// Configures a [`Client`]; start with [`Client::builder`].
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    base_url: String,
    connect_timeout: Duration,
    read_timeout: Duration,
    stream_idle_timeout: Duration,
    load_timeout: Duration,
    retry: RetryPolicy,
    host_header: Option<Option<String>>,
}

impl ClientBuilder {
    /// Limit for establishing a TCP connection (default 5 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Longest silence allowed on a normal call, waiting for the answer and
    /// between body chunks (default 30 s).
    pub fn read_timeout(mut self, d: Duration) -> Self {
        self.read_timeout = d;
        self
    }

    /// Longest silence allowed on pulls, creates and blob uploads (default
    /// 5 min). There is deliberately no total limit: a 40 GB pull may take
    /// hours, and Ollama writes no line while it verifies a large blob.
    pub fn stream_idle_timeout(mut self, d: Duration) -> Self {
        self.stream_idle_timeout = d;
        self
    }

    /// Longest wait for `load`/`unload` to answer (default 10 min; the server
    /// itself gives up on a stalled load after `OLLAMA_LOAD_TIMEOUT`, 5 min).
    pub fn load_timeout(mut self, d: Duration) -> Self {
        self.load_timeout = d;
        self
    }

    /// Retry policy for connection errors and 5xx answers.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The `Host` header sent with every request.
    ///
    /// By default it is `localhost:<port>`, which a loopback-bound Ollama
    /// accepts even when the base URL uses another address (a tunnel, a
    /// container port mapping); other hosts get an empty 403. `None` sends the
    /// base URL's own host instead, e.g. for a virtual-hosting proxy.
    pub fn host_header(mut self, value: Option<String>) -> Self {
        self.host_header = Some(value);
        self
    }

    /// Checks the base URL and builds the client.
    pub fn build(self) -> Result<Client, OllamaError> {
        let base = parse_base_url(&self.base_url)?;
        let invalid = |reason: String| OllamaError::InvalidUrl {
            url: self.base_url.clone(),
            reason,
        };
        let host = match &self.host_header {
            Some(None) => None,
            Some(Some(value)) => Some(value.clone()),
            None => {
                let port = base
                    .port_or_known_default()
                    .ok_or_else(|| invalid("it has no port".to_owned()))?;
                Some(format!("localhost:{port}"))
            }
        };
        let host = host
            .map(|h| {
                HeaderValue::from_str(&h).map_err(|_| invalid(format!("bad Host header `{h}`")))
            })
            .transpose()?;
        let http = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .no_proxy()
            .user_agent(concat!("facerunner/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| invalid(error_chain(&e)))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base_str: base.as_str().trim_end_matches('/').to_owned(),
                base,
                host,
                read_timeout: self.read_timeout,
                stream_idle_timeout: self.stream_idle_timeout,
                load_timeout: self.load_timeout,
                retry: self.retry,
            }),
        })
    }
}

/// A typed async client for one Ollama server. Cheap to clone (shared
/// connection pool).
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    base: Url,
    base_str: String,
    host: Option<HeaderValue>,
    read_timeout: Duration,
    stream_idle_timeout: Duration,
    load_timeout: Duration,
    retry: RetryPolicy,
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
            host_header: None,
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
        let text = tokio::time::timeout(self.read_timeout(), response.text())
            .await
            .ok()
            .and_then(Result::ok)
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

    /// Reads the whole (small) body within the read timeout.
    pub(crate) async fn read_text(
        &self,
        endpoint: &Endpoint,
        response: Response,
    ) -> Result<String, OllamaError> {
        match tokio::time::timeout(self.read_timeout(), response.text()).await {
            Ok(Ok(text)) => Ok(text),
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

/// Parses `http(s)://host[:port][/path]` or an `OLLAMA_HOST`-style `host[:port]`.
fn parse_base_url(raw: &str) -> Result<Url, OllamaError> {
    let invalid = |reason: &str| OllamaError::InvalidUrl {
        url: raw.to_owned(),
        reason: reason.to_owned(),
    };
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(invalid("it is empty"));
    }
    let has_scheme = trimmed.contains("://");
    let text = if has_scheme {
        trimmed.to_owned()
    } else {
        format!("http://{trimmed}")
    };
    let mut url = Url::parse(&text).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it has no host"));
    }
    if !has_scheme && url.port().is_none() {
        url.set_port(Some(DEFAULT_PORT))
            .map_err(|()| invalid("it cannot take a port"))?;
    }
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}
