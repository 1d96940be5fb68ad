//! Blob upload for `/api/create` with local files: digest, existence check,
//! streamed upload.
//!
//! Model files are many gigabytes, so the upload streams the file from disk
//! in chunks (never loading it into memory), and the idle timeout restarts
//! whenever a chunk is handed to the connection: a slow upload is fine, a
//! stalled one fails.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::StreamExt;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Body, Method, StatusCode};
use sha2::{Digest, Sha256};
use tokio_util::io::ReaderStream;

use super::client::{Activity, Client};
use super::error::{Endpoint, OllamaError};

const CHUNK: usize = 256 * 1024;

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> OllamaError {
    let path = path.to_path_buf();
    move |source| OllamaError::Io {
        action,
        path,
        source,
    }
}

/// `sha256:<hex>` of a file, read in chunks on a blocking thread.
pub async fn sha256_file(path: &Path) -> Result<String, OllamaError> {
    let owned: PathBuf = path.to_path_buf();
    let task = tokio::task::spawn_blocking(move || -> Result<String, OllamaError> {
        let mut file = std::fs::File::open(&owned).map_err(io_error("open", &owned))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1024 * 1024];
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_error("read", &owned)(e)),
            };
            hasher.update(&buf[..n]);
        }
        Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
    });
    match task.await {
        Ok(result) => result,
        Err(join) => Err(io_error("hash", path)(std::io::Error::other(join))),
    }
}

impl Client {
    /// `HEAD /api/blobs/<digest>`: whether the server already has the blob.
    pub async fn blob_exists(&self, digest: &str) -> Result<bool, OllamaError> {
        let ep = Endpoint::new(Method::HEAD, format!("/api/blobs/{digest}"));
        let response = self
            .send(&ep, self.read_timeout(), None, || Ok(self.request(&ep)))
            .await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(false),
            s if s.is_success() => Ok(true),
            _ => Err(self.api_error(&ep, response).await),
        }
    }

    /// `POST /api/blobs/<digest>`: uploads `path`, streamed from disk. The
    /// server checks the digest (400 `digest mismatch` otherwise).
    pub async fn push_blob(&self, digest: &str, path: &Path) -> Result<(), OllamaError> {
        let ep = Endpoint::new(Method::POST, format!("/api/blobs/{digest}"));
        let activity = Arc::new(Activity::new());
        let response = self
            .send_ok(&ep, self.stream_idle_timeout(), Some(&activity), || {
                // Re-opened for each attempt: a retry sends the file from the start.
                let file = std::fs::File::open(path).map_err(io_error("open", path))?;
                let len = file
                    .metadata()
                    .map_err(io_error("read metadata of", path))?
                    .len();
                let progress = Arc::clone(&activity);
                let chunks = ReaderStream::with_capacity(tokio::fs::File::from_std(file), CHUNK)
                    .inspect(move |_| progress.touch());
                Ok(self
                    .request(&ep)
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_LENGTH, len)
                    .body(Body::wrap_stream(chunks)))
            })
            .await?;
        self.read_text(&ep, response).await.map(drop)
    }

    /// Uploads `path` unless the server already has it; returns its digest
    /// (`sha256:<hex>`) for [`CreateRequest::files`](super::CreateRequest).
    pub async fn ensure_blob(&self, path: &Path) -> Result<String, OllamaError> {
        let digest = sha256_file(path).await?;
        if !self.blob_exists(&digest).await? {
            self.push_blob(&digest, path).await?;
        }
        Ok(digest)
    }
}
