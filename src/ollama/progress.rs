//! Progress lines of `/api/pull` and `/api/create`, and the NDJSON decoder
//! that turns a streamed response into a `Stream` of them.
//!
//! Theory of operation: Ollama writes one JSON object per line and keeps the
//! HTTP status at 200 once the first line is out, so failures after that point
//! arrive as a final `{"error": "..."}` line, and a server that dies simply
//! closes the connection. The decoder therefore
//! * turns an error line into [`OllamaError::Api`] with status 200 and stops;
//! * treats end-of-body (or a broken body) before a `success` line as
//!   [`OllamaError::StreamEndedEarly`], never as a quiet success;
//! * applies the idle timeout to each body chunk, so a slow but progressing
//!   transfer never times out while a stalled one does.

use std::io;
use std::pin::Pin;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncRead;
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};
use tokio_util::io::StreamReader;

use super::client::Client;
use super::error::{Endpoint, OllamaError, snippet};

/// One progress line of a pull or create.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// e.g. `pulling manifest`, `pulling 6a0746a1ec1a`, `success`.
    pub status: String,
    /// `sha256:<hex>` of the layer being transferred, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Bytes in this layer (absent when 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Bytes done so far (absent until bytes arrive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<u64>,
}

impl Progress {
    /// True for the final `success` line.
    pub fn is_success(&self) -> bool {
        self.status == "success"
    }

    /// The layer this line is about (`sha256:<hex>`), if it names a real one.
    ///
    /// Quantization progress carries a placeholder digest (`0000…`), which is
    /// not a layer and yields `None`.
    pub fn layer_digest(&self) -> Option<&str> {
        self.digest
            .as_deref()
            .filter(|d| d.starts_with("sha256:") && d.len() > "sha256:".len())
    }

    /// `completed / total` in `0.0..=1.0`, when the line carries a total.
    pub fn fraction(&self) -> Option<f64> {
        let total = self.total.filter(|t| *t > 0)?;
        let done = self.completed.unwrap_or(0).min(total);
        // Precision loss above 2^53 bytes is irrelevant for a progress bar.
        #[allow(clippy::cast_precision_loss)]
        Some(done as f64 / total as f64)
    }
}

/// A line as it arrives: either progress or an error.
#[derive(Deserialize)]
struct RawLine {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    total: Option<u64>,
    #[serde(default)]
    completed: Option<u64>,
    #[serde(default)]
    error: Option<String>,
}

/// Marker inside the `io::Error` raised when a body chunk does not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("no data for {0:?}")]
struct IdleTimeout(Duration);

/// The longest progress line read (a real one is under 1 KiB); a server
/// sending an endless line no longer fills memory.
pub(crate) const MAX_LINE_BYTES: usize = 1 << 20;

type LineReader = FramedRead<Pin<Box<dyn AsyncRead + Send>>, LinesCodec>;

enum State<B> {
    Start {
        client: Client,
        endpoint: Endpoint,
        body: B,
    },
    Reading(Reader),
    Done,
}

/// The lazy progress stream of a streamed POST: nothing is sent until it is
/// first polled, and dropping it closes the connection (which cancels a pull
/// on the server when nobody else waits for it).
pub(crate) fn progress_stream<B: Serialize + Send + Sync + 'static>(
    client: Client,
    endpoint: Endpoint,
    body: B,
) -> impl Stream<Item = Result<Progress, OllamaError>> + Send + 'static {
    let start = State::Start {
        client,
        endpoint,
        body,
    };
    futures_util::stream::unfold(start, |mut state| async move {
        let item = next_item(&mut state).await?;
        Some((item, state))
    })
}

/// Advances the state machine; any error is the stream's last item.
async fn next_item<B: Serialize>(state: &mut State<B>) -> Option<Result<Progress, OllamaError>> {
    loop {
        match std::mem::replace(state, State::Done) {
            State::Done => return None,
            State::Start {
                client,
                endpoint,
                body,
            } => match Reader::open(client, endpoint, &body).await {
                Ok(reader) => *state = State::Reading(reader),
                Err(e) => return Some(Err(e)),
            },
            State::Reading(mut reader) => {
                let item = reader.next_progress().await;
                if matches!(item, Some(Ok(_))) {
                    *state = State::Reading(reader);
                }
                return item;
            }
        }
    }
}

/// An open progress response, read line by line.
struct Reader {
    lines: LineReader,
    client: Client,
    endpoint: Endpoint,
    idle: Duration,
    last_status: Option<String>,
    saw_success: bool,
}

impl Reader {
    /// Sends the request (with the client's retry rules; nothing of the body
    /// has been read yet, so a retry is safe) and checks the status.
    async fn open<B: Serialize>(
        client: Client,
        endpoint: Endpoint,
        body: &B,
    ) -> Result<Self, OllamaError> {
        let idle = client.stream_idle_timeout();
        let response = client
            .send_ok(&endpoint, idle, None, || {
                Ok(client.request(&endpoint).json(body))
            })
            .await?;
        Ok(Self {
            lines: lines_with_idle_timeout(response, idle),
            client,
            endpoint,
            idle,
            last_status: None,
            saw_success: false,
        })
    }

    /// The next progress line; `None` after `success` and a clean end.
    async fn next_progress(&mut self) -> Option<Result<Progress, OllamaError>> {
        let line = loop {
            match self.lines.next().await {
                Some(Ok(line)) if line.trim().is_empty() => {}
                Some(Ok(line)) => break line,
                None if self.saw_success => return None,
                None => return Some(Err(self.ended("the server closed the connection"))),
                Some(Err(LinesCodecError::MaxLineLengthExceeded)) => {
                    return Some(Err(OllamaError::TooLarge {
                        base_url: self.client.base_url().to_owned(),
                        endpoint: self.endpoint.clone(),
                        limit: MAX_LINE_BYTES as u64,
                    }));
                }
                Some(Err(LinesCodecError::Io(e)))
                    if e.get_ref().is_some_and(|i| i.is::<IdleTimeout>()) =>
                {
                    return Some(Err(OllamaError::Timeout {
                        base_url: self.client.base_url().to_owned(),
                        endpoint: self.endpoint.clone(),
                        after: self.idle,
                    }));
                }
                Some(Err(LinesCodecError::Io(e))) => {
                    return Some(Err(self.ended(&error_chain(&e))));
                }
            }
        };
        let line = line.trim();
        let bad = |expected| OllamaError::BadResponse {
            base_url: self.client.base_url().to_owned(),
            endpoint: self.endpoint.clone(),
            expected,
            detail: snippet(line),
        };
        let Ok(raw) = serde_json::from_str::<RawLine>(line) else {
            return Some(Err(bad("one JSON progress object per line")));
        };
        if let Some(message) = raw.error {
            return Some(Err(OllamaError::Api {
                status: 200,
                message,
                base_url: self.client.base_url().to_owned(),
                endpoint: self.endpoint.clone(),
            }));
        }
        let Some(status) = raw.status else {
            return Some(Err(bad("a progress line with `status` or `error`")));
        };
        let progress = Progress {
            status,
            digest: raw.digest.filter(|d| !d.is_empty()),
            total: raw.total,
            completed: raw.completed,
        };
        self.saw_success |= progress.is_success();
        self.last_status = Some(progress.status.clone());
        Some(Ok(progress))
    }

    fn ended(&self, reason: &str) -> OllamaError {
        OllamaError::StreamEndedEarly {
            endpoint: self.endpoint.clone(),
            base_url: self.client.base_url().to_owned(),
            last_status: self.last_status.clone(),
            reason: reason.to_owned(),
        }
    }
}

/// Body → lines, with `idle` as the longest wait for any single chunk.
fn lines_with_idle_timeout(response: reqwest::Response, idle: Duration) -> LineReader {
    let chunks = Box::pin(response.bytes_stream());
    let timed = futures_util::stream::unfold(Some(chunks), move |chunks| async move {
        let mut chunks = chunks?;
        match tokio::time::timeout(idle, chunks.next()).await {
            Ok(Some(Ok(bytes))) => Some((Ok(bytes), Some(chunks))),
            Ok(Some(Err(e))) => Some((Err(io::Error::other(e)), None)),
            Ok(None) => None,
            Err(_) => Some((
                Err(io::Error::new(io::ErrorKind::TimedOut, IdleTimeout(idle))),
                None,
            )),
        }
    });
    let reader: Pin<Box<dyn AsyncRead + Send>> = Box::pin(StreamReader::new(timed));
    FramedRead::new(reader, LinesCodec::new_with_max_length(MAX_LINE_BYTES))
}

/// `outer: inner: innermost`, for transport errors whose useful part is deep.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        cur = s.source();
    }
    text
}
