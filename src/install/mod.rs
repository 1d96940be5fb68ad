//! Installing the programs a project file needs (`facerunner setup`):
//! Ollama from its release archive, Open WebUI into a virtual environment.
//! Where they go and which one a service uses is [`crate::installs`].

pub mod archive;
pub mod ollama;
pub mod open_webui;
pub mod selfupdate;

use std::io;
use std::path::{Path, PathBuf};

/// Progress of a long step (a download), drawn by the caller.
pub trait Progress {
    /// A step begins; `total` bytes when known.
    fn begin(&self, what: &str, total: Option<u64>);
    /// `n` more bytes done.
    fn advance(&self, n: u64);
    /// The step ended.
    fn end(&self);
}

/// No progress shown.
pub struct Quiet;

impl Progress for Quiet {
    fn begin(&self, _: &str, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn end(&self) {}
}

/// Create `dir` (a tool's directory under [`crate::installs::root`]) 0700,
/// checking every directory from FaceRunner's own root down.
pub(crate) fn private_dir(dir: &Path) -> Result<(), crate::safefs::SafeFsError> {
    let root = crate::installs::root()
        .ok()
        .and_then(|r| r.parent().map(Path::to_path_buf))
        .filter(|r| dir.starts_with(r))
        .unwrap_or_else(|| dir.to_path_buf());
    crate::safefs::create_private_dir_in(&root, dir)
}

/// [`private_dir`] for the CLI (the update stamp's directory).
pub fn private_dir_pub(dir: &Path) -> Result<(), crate::safefs::SafeFsError> {
    private_dir(dir)
}

/// A fresh hidden name in `dir` for a temporary file or directory.
pub(crate) fn temp_name(dir: &Path, what: &str) -> io::Result<PathBuf> {
    let mut r = [0u8; 8];
    getrandom::fill(&mut r)
        .map_err(|e| io::Error::other(format!("the OS random source failed: {e}")))?;
    Ok(dir.join(format!(".{what}-{}", hex::encode(r))))
}

/// Record `version` as the one in use (`<dir>/current`, atomically).
pub(crate) fn set_current(dir: &Path, version: &str) -> Result<(), crate::safefs::SafeFsError> {
    crate::safefs::write_private_atomic(&dir.join("current"), format!("{version}\n").as_bytes())
}

/// Why [`fetch_to_new_file`] failed.
#[derive(Debug)]
pub(crate) enum FetchError {
    /// The transfer broke.
    Http(reqwest::Error),
    /// The file could not be created or written (`"create"`, `"write"`).
    Io(&'static str, io::Error),
    /// The body went past the cap.
    TooLarge,
}

/// Stream `resp`'s body into the new file `to` (`O_EXCL|O_NOFOLLOW`, with
/// `mode`), at most `limit` bytes, reporting progress as `what`; its
/// SHA-256, hex, computed as the bytes arrive.
pub(crate) async fn fetch_to_new_file(
    resp: reqwest::Response,
    to: &Path,
    mode: u32,
    limit: u64,
    what: &str,
    progress: &dyn Progress,
) -> Result<String, FetchError> {
    use futures_util::StreamExt;
    use sha2::Digest;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(FetchError::TooLarge);
    }
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(to)
        .map_err(|e| FetchError::Io("create", e))?;
    progress.begin(what, resp.content_length());
    let mut hash = sha2::Sha256::new();
    let mut stream = resp.bytes_stream();
    let mut written = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(FetchError::Http)?;
        written += chunk.len() as u64;
        if written > limit {
            progress.end();
            return Err(FetchError::TooLarge);
        }
        hash.update(&chunk);
        out.write_all(&chunk)
            .map_err(|e| FetchError::Io("write", e))?;
        progress.advance(chunk.len() as u64);
    }
    progress.end();
    out.sync_all().map_err(|e| FetchError::Io("write", e))?;
    Ok(hex::encode(hash.finalize()))
}

#[cfg(test)]
mod tests {
    use crate::http::test_server as server;

    async fn fetch(url: &str, to: &std::path::Path) -> Result<String, super::FetchError> {
        let client = crate::http::client_builder().build().expect("client");
        let resp = client.get(url).send().await.expect("answer");
        super::fetch_to_new_file(resp, to, 0o600, 1 << 20, "x", &super::Quiet).await
    }

    #[tokio::test]
    async fn a_download_past_its_cap_is_refused_whether_or_not_it_says_its_length() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Announced too large: refused before anything is written.
        let url = server("HTTP/1.1 200 OK\r\ncontent-length: 600000000\r\n\r\n", 1024).await;
        let to = dir.path().join("announced");
        assert!(matches!(
            fetch(&url, &to).await,
            Err(super::FetchError::TooLarge)
        ));
        assert!(!to.exists(), "nothing written");
        // No length given, 2 MiB sent: refused once past 1 MiB.
        let url = server("HTTP/1.0 200 OK\r\n\r\n", 2 << 20).await;
        let to = dir.path().join("streamed");
        assert!(matches!(
            fetch(&url, &to).await,
            Err(super::FetchError::TooLarge)
        ));
        let written = std::fs::metadata(&to).map(|m| m.len()).unwrap_or(0);
        assert!(written <= 1 << 20, "{written}");
        // Within the cap: its SHA-256.
        let url = server("HTTP/1.0 200 OK\r\n\r\n", 1000).await;
        let sum = fetch(&url, &dir.path().join("ok")).await.expect("fetched");
        assert_eq!(sum.len(), 64);
    }
}
