//! Errors of the Ollama client.
//!
//! Every variant says *what* failed, *where* (the endpoint such as
//! `POST /api/pull` and the server's base URL) and, where there is one, *what
//! to do*. Low-level causes (`reqwest::Error`, `std::io::Error`) are kept as
//! `source()` rather than repeated in the message, so a report printer such as
//! miette shows them once, as the cause chain.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// One HTTP endpoint of the Ollama API, e.g. `POST /api/pull`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// HTTP method.
    pub method: reqwest::Method,
    /// Path below the base URL, starting with `/`.
    pub path: String,
}

impl Endpoint {
    pub(crate) fn new(method: reqwest::Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// Why a call to an Ollama server failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OllamaError {
    /// The base URL given to [`Client::new`](super::Client::new) is unusable.
    #[error(
        "invalid Ollama base URL `{url}`: {reason}; expected something like http://127.0.0.1:11434"
    )]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// No TCP (or TLS) connection could be made.
    #[error(
        "cannot connect to Ollama at {base_url} ({endpoint}, {attempts} attempt(s)): the server may not be running; start it (e.g. `ollama serve`) or check the address and port"
    )]
    Connect {
        /// Base URL of the server.
        base_url: String,
        /// The endpoint being called.
        endpoint: Endpoint,
        /// How many connection attempts were made.
        attempts: u32,
        /// The underlying transport error.
        #[source]
        source: reqwest::Error,
    },

    /// The server sent nothing for longer than the idle (read) timeout.
    #[error(
        "Ollama at {base_url} sent nothing for {} during {endpoint}; the server may be stuck or overloaded: try again, or raise the timeout",
        fmt_duration(*after)
    )]
    Timeout {
        /// Base URL of the server.
        base_url: String,
        /// The endpoint being called.
        endpoint: Endpoint,
        /// The idle time that elapsed.
        after: Duration,
    },

    /// The server answered with an error, either as an HTTP status or, after a
    /// streamed `200`, as an in-stream `{"error": "..."}` line (then `status`
    /// is 200).
    #[error("{}", fmt_api(*status, message, endpoint, base_url))]
    Api {
        /// HTTP status (200 for an error line inside a progress stream).
        status: u16,
        /// Ollama's `error` text, or the status reason when the body had none.
        message: String,
        /// The endpoint being called.
        endpoint: Endpoint,
        /// Base URL of the server.
        base_url: String,
    },

    /// A progress stream (pull, create) stopped before its `success` line.
    #[error(
        "the {endpoint} stream from Ollama at {base_url} ended early, before `success` ({reason}{}); the server may have stopped or restarted: run the command again (pulls resume where they stopped)",
        last_status.as_deref().map(|s| format!("; last status: {s}")).unwrap_or_default()
    )]
    StreamEndedEarly {
        /// The endpoint being called.
        endpoint: Endpoint,
        /// Base URL of the server.
        base_url: String,
        /// The last `status` seen before the stream ended, if any.
        last_status: Option<String>,
        /// How it ended (connection closed, transport error text).
        reason: String,
    },

    /// The server's answer could not be understood.
    #[error(
        "unexpected response to {endpoint} from {base_url}: expected {expected}, got {detail}; is this an Ollama server of a supported version?"
    )]
    BadResponse {
        /// The endpoint being called.
        endpoint: Endpoint,
        /// Base URL of the server.
        base_url: String,
        /// What the client expected.
        expected: &'static str,
        /// What it got instead (shortened).
        detail: String,
    },

    /// The server's answer is larger than FaceRunner reads of it (a
    /// misbehaving server or something else listening on the port).
    #[error(
        "the answer to {endpoint} from {base_url} is larger than {} MiB, the most FaceRunner reads; is this an Ollama server?",
        limit >> 20
    )]
    TooLarge {
        /// The endpoint being called.
        endpoint: Endpoint,
        /// Base URL of the server.
        base_url: String,
        /// The limit in bytes.
        limit: u64,
    },

    /// A local file could not be read (blob upload, digest).
    #[error("cannot {action} `{}`", path.display())]
    Io {
        /// What the client was doing, e.g. "read".
        action: &'static str,
        /// The local file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// Any other transport failure (e.g. the connection broke while sending).
    #[error("HTTP request {endpoint} to Ollama at {base_url} failed")]
    Http {
        /// The endpoint being called.
        endpoint: Endpoint,
        /// Base URL of the server.
        base_url: String,
        /// The underlying transport error.
        #[source]
        source: reqwest::Error,
    },
}

impl OllamaError {
    /// The HTTP status the server answered with, if the error came from one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True when the server said 404 (model, blob or route not found).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// True when the server could not be reached at all.
    pub fn is_connect(&self) -> bool {
        matches!(self, Self::Connect { .. })
    }
}

fn fmt_api(status: u16, message: &str, endpoint: &Endpoint, base_url: &str) -> String {
    if status == 200 {
        format!("Ollama at {base_url} reported an error during {endpoint}: {message}")
    } else {
        format!("Ollama at {base_url} answered {status} to {endpoint}: {message}")
    }
}

/// `1.5s`, `30s`, `5m`, `250ms`: short, for messages.
fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// Shortens a response body for an error message.
pub(crate) fn snippet(text: &str) -> String {
    const MAX: usize = 200;
    let text = text.trim();
    if text.is_empty() {
        return "an empty body".to_owned();
    }
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("`{}…`", &text[..cut]),
        None => format!("`{text}`"),
    }
}
