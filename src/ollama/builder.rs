//! Configuration of a [`Client`]: base URL forms, timeouts, retry policy and
//! the `Host` header. Defaults are chosen for a local Ollama: a quick connect
//! timeout (a local server either answers at once or is not running), idle
//! timeouts rather than total ones, and a few fast retries.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::HeaderValue;

use super::client::{Client, Inner};
use super::error::OllamaError;
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
    pub(super) fn backoff(&self, retry: u32) -> Duration {
        crate::model::units::backoff(self.initial_backoff, self.max_backoff, retry)
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
#[must_use = "a builder does nothing until `.build()`"]
pub struct ClientBuilder {
    pub(super) base_url: String,
    pub(super) connect_timeout: Duration,
    pub(super) read_timeout: Duration,
    pub(super) stream_idle_timeout: Duration,
    pub(super) load_timeout: Duration,
    pub(super) retry: RetryPolicy,
    pub(super) host_header: HostHeader,
}

/// Which `Host` header to send.
#[derive(Clone, Debug)]
pub(super) enum HostHeader {
    /// `localhost:<port of the base URL>`.
    Localhost,
    /// Whatever reqwest derives from the URL.
    FromUrl,
    /// A fixed value.
    Custom(String),
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
        self.host_header = value.map_or(HostHeader::FromUrl, HostHeader::Custom);
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
            HostHeader::FromUrl => None,
            HostHeader::Custom(value) => Some(value.clone()),
            HostHeader::Localhost => {
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
        let http = crate::http::client_builder()
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
