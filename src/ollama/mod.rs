//! A typed async client for the Ollama HTTP API.
//!
//! FaceRunner reconciles models like Terraform: it lists what a server has
//! (`tags`, `ps`, `show`), then pulls, creates, copies, loads, unloads and
//! deletes to reach the declared state. This module is the only place that
//! speaks HTTP to Ollama, so the rules that keep long operations reliable live
//! here (reference: `ollama-api.md`):
//!
//! * **No total timeout on pulls, creates or uploads.** A 40 GB pull can take
//!   hours; any fixed deadline would cut it. These calls get only an *idle*
//!   timeout (no byte for N seconds), so a slow but progressing transfer never
//!   fails and a stalled one does. Normal calls use a shorter idle timeout, and
//!   `load` a longer one because a model load is silent until it is done.
//! * **Retries only for connection errors and 5xx.** Those cannot have
//!   changed anything on the server. A 4xx is the server's final word, and a
//!   stream whose body has started to be read is never re-sent; the caller
//!   sees the error and may run the pull again (Ollama resumes it).
//! * **Streamed uploads.** `push_blob` sends a GGUF file straight from disk
//!   in chunks; memory use does not grow with the file.
//! * **In-stream errors.** After the first progress line Ollama keeps HTTP 200
//!   and reports failure as a last `{"error": ...}` line, or just closes the
//!   connection. The progress stream turns the first into
//!   [`OllamaError::Api`] (status 200) and the second into
//!   [`OllamaError::StreamEndedEarly`]; it never ends quietly without
//!   `success`.
//! * **`Host: localhost:<port>`.** A loopback-bound Ollama answers 403 to
//!   unknown `Host` headers, so the client sends one it accepts even when the
//!   base URL uses another address (configurable).
//!
//! ```no_run
//! # async fn demo() -> Result<(), facerunner::ollama::OllamaError> {
//! use futures_util::StreamExt;
//! use facerunner::ollama::Client;
//!
//! let client = Client::new("http://127.0.0.1:11434")?;
//! let mut pull = std::pin::pin!(client.pull("llama3.2:1b", false));
//! while let Some(progress) = pull.next().await {
//!     let progress = progress?;
//!     println!("{} {:?}", progress.status, progress.fraction());
//! }
//! # Ok(())
//! # }
//! ```

mod api;
mod blobs;
mod builder;
mod client;
mod error;
mod progress;

#[cfg(test)]
pub(crate) mod test_server;
#[cfg(test)]
mod tests;

pub use crate::model::ollama::{
    CreateRequest, InvalidKeepAlive, KeepAlive, ListModel, Message, ModelDetails, RunningModel,
    ShowResponse,
};
pub use blobs::sha256_file;
pub use builder::{ClientBuilder, DEFAULT_PORT, RetryPolicy};
pub use client::Client;
pub use error::{Endpoint, OllamaError};
pub use progress::Progress;
