//! The downloader: files of one commit into the shared cache.
//!
//! Each file streams into `blobs/<etag>.incomplete` under the blob's lock
//! (`.locks/models--org--name/<etag>.lock`, flock, as huggingface_hub and
//! hf-hub take it), so a second downloader waits instead of writing the same
//! file. The part file survives an interruption or a SIGKILL, and the next
//! run asks only for the rest (`Range: bytes=<len>-`); within a run a cut
//! connection is resumed the same way, up to 5 times in a row. The sha256
//! of an LFS file is computed while the bytes arrive (the kept prefix is
//! hashed first) and checked against the Hub's before the rename to
//! `blobs/<sha256>`: a mismatch deletes the part file and downloads once
//! more, then fails. Memory stays bounded: bytes go to disk in 256 KiB
//! writes whatever the file size.
//!
//! The Hub answers an LFS file with a redirect to a CDN; redirects are
//! followed here (the client follows none by itself) and the token is sent
//! only to the Hub's own scheme, host and port, never to the CDN's pre-signed
//! URL.

use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt};
use reqwest::header::{CONTENT_RANGE, LOCATION, RANGE};
use reqwest::{Method, StatusCode, Url};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::hf::{RepoFile, RepoInfo};
use crate::safefs;

use super::cache::{check_repo_id, is_hex, safe_rel_path};
use super::client::{Ctx, Hub};
use super::error::HfError;

/// Where one file's download stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileState {
    /// Bytes are arriving.
    Downloading,
    /// The file was already in the cache: nothing downloaded.
    Cached,
    /// Downloaded, verified and in the cache.
    Done,
}

/// Progress of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadProgress {
    /// The file's path in the repo.
    pub file: String,
    /// Bytes in the cache (kept from an earlier run included).
    pub completed: u64,
    /// The file's size.
    pub total: u64,
    /// Where it stands.
    pub state: FileState,
}

const WRITE_BUF: usize = 256 << 10;
const PROGRESS_EVERY: Duration = Duration::from_millis(200);
const MAX_REDIRECTS: usize = 5;
const MAX_STALLS: u32 = 5;

type Tx = tokio::sync::mpsc::UnboundedSender<DownloadProgress>;

/// Why one transfer stopped.
enum Stop {
    /// The connection broke: resume from what is on disk.
    Broken(HfError),
    /// Give up.
    Fatal(HfError),
}

impl Hub {
    /// Download `files` of `info`'s commit into the cache (those already
    /// there are not downloaded again), several at a time; returns their
    /// snapshot paths in the order of `files`.
    pub async fn download(
        &self,
        info: &RepoInfo,
        files: &[RepoFile],
        mut progress: impl FnMut(DownloadProgress),
    ) -> Result<Vec<PathBuf>, HfError> {
        check_repo_id(&info.id)?;
        if !is_hex(&info.commit, 40) {
            return Err(HfError::BadResponse {
                url: self.settings.endpoint.clone(),
                reason: format!("`{}` is not a commit id", info.commit),
            });
        }
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        // The futures are made first: a closure inside the stream's type
        // would make the whole future not `Send` (rust#102211).
        let jobs: Vec<_> = files
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let tx = tx.clone();
                async move { self.download_one(info, f, &tx).await.map(|p| (i, p)) }
            })
            .collect();
        let work = futures_util::stream::iter(jobs)
            .buffer_unordered(self.parallel_files.max(1))
            .try_collect::<Vec<_>>();
        tokio::pin!(work);
        let result = loop {
            tokio::select! {
                Some(p) = rx.recv() => progress(p),
                r = &mut work => break r,
            }
        };
        while let Ok(p) = rx.try_recv() {
            progress(p);
        }
        let mut done = result?;
        done.sort_by_key(|(i, _)| *i);
        Ok(done.into_iter().map(|(_, p)| p).collect())
    }

    async fn download_one(
        &self,
        info: &RepoInfo,
        file: &RepoFile,
        tx: &Tx,
    ) -> Result<PathBuf, HfError> {
        let repo = info.id.as_str();
        let bad = |reason: String| HfError::BadResponse {
            url: self.settings.endpoint.clone(),
            reason,
        };
        if !safe_rel_path(&file.path) {
            return Err(bad(format!("unsafe file path `{}`", file.path)));
        }
        let etag = file
            .cache_blob_name()
            .filter(|e| is_hex(e, 64) || is_hex(e, 40))
            .ok_or_else(|| bad(format!("`{}` has no sha256 nor blob id", file.path)))?
            .to_string();
        let send = |completed, state| {
            let _ = tx.send(DownloadProgress {
                file: file.path.clone(),
                completed,
                total: file.size,
                state,
            });
        };
        if let Some(p) = self.cache.cached_file(repo, &info.commit, file)? {
            send(file.size, FileState::Cached);
            return Ok(p);
        }
        if self.settings.offline {
            return Err(HfError::Offline {
                what: format!("{repo}/{} at {}", file.path, info.commit),
                cache: self.cache.root().to_path_buf(),
            });
        }
        let blobs = self.cache.repo_dir(repo).join("blobs");
        safefs::create_private_dir_in(self.cache.root(), &blobs)?;
        let lock_path = self.cache.lock_path(repo, &etag);
        if let Some(parent) = lock_path.parent() {
            safefs::create_private_dir_in(self.cache.root(), parent)?;
        }
        let lock = safefs::open_private_rw(&lock_path)?;
        loop {
            match lock.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(HfError::io("lock", &lock_path, e));
                }
            }
        }
        // Another downloader may have finished while we waited.
        if let Some(p) = self.cache.cached_file(repo, &info.commit, file)? {
            send(file.size, FileState::Cached);
            return Ok(p);
        }
        let part = self.cache.incomplete_path(repo, &etag);
        let mut refetched = false;
        loop {
            let actual = self.fetch(info, file, &part, tx).await?;
            match &file.lfs_sha256 {
                Some(expected) if *expected != actual => {
                    let _ = std::fs::remove_file(&part);
                    if refetched {
                        return Err(HfError::Integrity {
                            repo: repo.into(),
                            path: file.path.clone(),
                            expected: expected.clone(),
                            actual,
                        });
                    }
                    tracing::warn!(repo, file = %file.path, "sha256 mismatch; downloading again");
                    refetched = true;
                }
                _ => break,
            }
        }
        let blob = self.cache.blob_path(repo, &etag);
        std::fs::rename(&part, &blob).map_err(|e| HfError::io("rename", &part, e))?;
        self.cache.link(repo, &info.commit, &file.path, &etag)?;
        let revision = self
            .revisions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&(repo.to_string(), info.commit.clone()))
            .cloned();
        if let Some(rev) = revision {
            self.cache.write_ref(repo, &rev, &info.commit)?;
        }
        drop(lock);
        send(file.size, FileState::Done);
        Ok(self.cache.snapshot_path(repo, &info.commit, &file.path))
    }

    /// Complete `part` (resuming what it holds); the sha256 of its bytes.
    async fn fetch(
        &self,
        info: &RepoInfo,
        file: &RepoFile,
        part: &std::path::Path,
        tx: &Tx,
    ) -> Result<String, HfError> {
        let std_file = safefs::open_private_rw(part)?;
        let size = file.size;
        let path = part.to_path_buf();
        // Hash what an earlier run left (off the async threads).
        let (std_file, hasher, offset) = tokio::task::spawn_blocking(move || {
            let mut f = std_file;
            let len = f
                .metadata()
                .map_err(|e| HfError::io("inspect", &path, e))?
                .len();
            let mut hasher = Sha256::new();
            if len > size {
                f.set_len(0)
                    .map_err(|e| HfError::io("truncate", &path, e))?;
                return Ok((f, hasher, 0));
            }
            let mut buf = vec![0u8; 1 << 20];
            let mut read = 0u64;
            while read < len {
                let n = f
                    .read(&mut buf)
                    .map_err(|e| HfError::io("read", &path, e))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                read += n as u64;
            }
            Ok::<_, HfError>((f, hasher, read))
        })
        .await
        .map_err(|e| HfError::io("hash", part, std::io::Error::other(e)))??;
        let mut t = Transfer::start(std_file, hasher, offset, part)
            .map_err(|e| HfError::io("seek", part, e))?;
        // Attempts in a row that brought no byte; any progress resets it.
        let mut stalls = 0;
        // A part file already complete (killed before the rename) needs no
        // request: it is checked below.
        let complete = size > 0 && t.offset == size;
        if !complete {
            loop {
                let before = t.offset;
                let stop = match self.transfer(info, file, &mut t, tx).await {
                    Ok(()) if t.offset >= size => break,
                    Ok(()) => HfError::BadResponse {
                        url: self.settings.endpoint.clone(),
                        reason: format!("`{}` stopped at byte {} of {size}", file.path, t.offset),
                    },
                    Err(Stop::Fatal(e)) => {
                        // Let the writer end before the lock is released.
                        let _ = t.finish().await;
                        return Err(e);
                    }
                    Err(Stop::Broken(e)) => e,
                };
                stalls = if t.offset > before { 1 } else { stalls + 1 };
                if stalls > MAX_STALLS {
                    let _ = t.finish().await;
                    return Err(stop);
                }
                tracing::info!(file = %file.path, at = t.offset, "transfer broken; resuming");
            }
        }
        let offset = t.offset;
        let hasher = t.finish().await?;
        if offset != size {
            return Err(HfError::BadResponse {
                url: self.settings.endpoint.clone(),
                reason: format!("`{}` is {offset} bytes, the Hub said {size}", file.path),
            });
        }
        Ok(hex::encode(hasher.finalize()))
    }

    /// One GET (after redirects) from `t.offset` to the end or a break.
    async fn transfer(
        &self,
        info: &RepoInfo,
        file: &RepoFile,
        t: &mut Transfer,
        tx: &Tx,
    ) -> Result<(), Stop> {
        let repo = info.id.as_str();
        let (org, name) = repo.split_once('/').unwrap_or((repo, ""));
        let mut segments = vec![org, name, "resolve", info.commit.as_str()];
        segments.extend(file.path.split('/'));
        let hub_url = self.url(&segments).map_err(Stop::Fatal)?;
        let ctx = Ctx {
            repo: repo.into(),
            revision: info.commit.clone(),
            path: Some(file.path.clone()),
        };
        let mut url = hub_url.clone();
        let mut resp = None;
        for _ in 0..=MAX_REDIRECTS {
            let same_origin = url.scheme() == hub_url.scheme()
                && url.host_str() == hub_url.host_str()
                && url.port_or_known_default() == hub_url.port_or_known_default();
            let offset = t.offset;
            let r = self
                .send(&ctx, &url, || {
                    let mut rb = self
                        .http
                        .request(Method::GET, url.clone())
                        .header(reqwest::header::ACCEPT_ENCODING, "identity");
                    if offset > 0 {
                        rb = rb.header(RANGE, format!("bytes={offset}-"));
                    }
                    if same_origin { self.authed(rb) } else { rb }
                })
                .await
                .map_err(|e| match e {
                    HfError::Http { .. } => Stop::Broken(e),
                    e => Stop::Fatal(e),
                })?;
            if r.status().is_redirection() {
                let next = r
                    .headers()
                    .get(LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| url.join(l).ok())
                    .ok_or_else(|| {
                        Stop::Fatal(bad(&url, "a redirect without a usable Location"))
                    })?;
                url = next;
                continue;
            }
            resp = Some(r);
            break;
        }
        let mut resp = resp.ok_or_else(|| Stop::Fatal(bad(&hub_url, "too many redirects")))?;
        match resp.status() {
            StatusCode::PARTIAL_CONTENT => {
                let start = resp
                    .headers()
                    .get(CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("bytes "))
                    .and_then(|v| v.split('-').next())
                    .and_then(|v| v.parse::<u64>().ok());
                if start != Some(t.offset) {
                    return Err(Stop::Fatal(bad(
                        &url,
                        "a Content-Range that does not start where asked",
                    )));
                }
            }
            StatusCode::OK => {
                if t.offset > 0 {
                    // The server ignored Range: start over.
                    t.restart().await.map_err(Stop::Fatal)?;
                }
            }
            s => return Err(Stop::Fatal(bad(&url, &format!("status {s}")))),
        }
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if t.offset + chunk.len() as u64 > file.size {
                        return Err(Stop::Fatal(bad(&url, "more bytes than the file's size")));
                    }
                    t.write(&chunk).await.map_err(Stop::Fatal)?;
                    if t.last_progress.elapsed() >= PROGRESS_EVERY {
                        t.last_progress = Instant::now();
                        let _ = tx.send(DownloadProgress {
                            file: file.path.clone(),
                            completed: t.offset,
                            total: file.size,
                            state: FileState::Downloading,
                        });
                    }
                }
                Ok(None) => {
                    t.flush().await.map_err(Stop::Fatal)?;
                    return Ok(());
                }
                Err(source) => {
                    t.flush().await.map_err(Stop::Fatal)?;
                    return Err(Stop::Broken(HfError::Http {
                        url: url.to_string(),
                        attempts: 1,
                        source,
                    }));
                }
            }
        }
    }
}

fn bad(url: &Url, reason: &str) -> HfError {
    HfError::BadResponse {
        url: url.to_string(),
        reason: reason.to_string(),
    }
}

/// What the writer thread is told.
enum Write {
    /// Append these bytes (and hash them).
    Bytes(Vec<u8>),
    /// Start the file over (a server ignored `Range`).
    Restart,
}

/// A part file being written. Bytes are batched (256 KiB) and handed to a
/// writer thread that hashes and appends them, so the network, the hash and
/// the disk overlap; at most `QUEUE` batches wait, so memory stays bounded.
struct Transfer {
    tx: Option<tokio::sync::mpsc::Sender<Write>>,
    writer: Option<tokio::task::JoinHandle<Result<Sha256, HfError>>>,
    /// Bytes received (written, queued or in `buf`).
    offset: u64,
    buf: Vec<u8>,
    last_progress: Instant,
}

const QUEUE: usize = 8;

impl Transfer {
    fn start(
        mut file: std::fs::File,
        mut hasher: Sha256,
        offset: u64,
        part: &std::path::Path,
    ) -> std::io::Result<Transfer> {
        use std::io::{Seek, Write as _};
        file.set_len(offset)?;
        file.seek(std::io::SeekFrom::Start(offset))?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Write>(QUEUE);
        let part = part.to_path_buf();
        let writer = tokio::task::spawn_blocking(move || {
            while let Some(msg) = rx.blocking_recv() {
                match msg {
                    Write::Bytes(b) => {
                        hasher.update(&b);
                        file.write_all(&b)
                            .map_err(|e| HfError::io("write", &part, e))?;
                    }
                    Write::Restart => {
                        file.set_len(0)
                            .map_err(|e| HfError::io("truncate", &part, e))?;
                        file.seek(std::io::SeekFrom::Start(0))
                            .map_err(|e| HfError::io("seek", &part, e))?;
                        hasher = Sha256::new();
                    }
                }
            }
            Ok(hasher)
        });
        Ok(Transfer {
            tx: Some(tx),
            writer: Some(writer),
            offset,
            buf: Vec::with_capacity(WRITE_BUF),
            last_progress: Instant::now(),
        })
    }

    async fn send(&mut self, msg: Write) -> Result<(), HfError> {
        let sent = match &self.tx {
            Some(tx) => tx.send(msg).await.is_ok(),
            None => false,
        };
        if sent {
            return Ok(());
        }
        // The writer stopped: its error says why.
        self.finish().await.map(|_| ())?;
        Err(HfError::io(
            "write",
            "the part file",
            std::io::Error::other("the writer stopped"),
        ))
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), HfError> {
        self.offset += bytes.len() as u64;
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= WRITE_BUF {
            self.flush().await?;
        }
        Ok(())
    }

    /// Hand the batch to the writer.
    async fn flush(&mut self) -> Result<(), HfError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.buf, Vec::with_capacity(WRITE_BUF));
        self.send(Write::Bytes(batch)).await
    }

    async fn restart(&mut self) -> Result<(), HfError> {
        self.buf.clear();
        self.offset = 0;
        self.send(Write::Restart).await
    }

    /// Write what is left, wait for the writer; the hash of the whole file.
    async fn finish(&mut self) -> Result<Sha256, HfError> {
        if !self.buf.is_empty() && self.tx.is_some() {
            let batch = std::mem::take(&mut self.buf);
            if let Some(tx) = &self.tx {
                let _ = tx.send(Write::Bytes(batch)).await;
            }
        }
        self.tx = None;
        match self.writer.take() {
            Some(w) => w
                .await
                .map_err(|e| HfError::io("write", "the part file", std::io::Error::other(e)))?,
            None => Err(HfError::io(
                "write",
                "the part file",
                std::io::Error::other("the writer already stopped"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn downloads_and_lookups_can_run_on_spawned_tasks() {
        // The engine runs them with tokio::spawn: their futures must be Send.
        let hub = Hub::new(crate::hf::HfSettings {
            endpoint: "http://127.0.0.1:9".into(),
            token: None,
            cache_dir: "/nonexistent".into(),
            offline: true,
        })
        .expect("hub");
        let info = RepoInfo {
            id: "o/r".into(),
            commit: "0".repeat(40),
            gated: crate::model::hf::Gated::No,
            private: false,
            pipeline_tag: None,
            library: None,
            base_model: vec![],
            architectures: vec![],
            files: vec![],
        };
        let download = hub.download(&info, &[], |_| {});
        assert_send(&download);
        let lookup = hub.repo_info("o/r", "main");
        assert_send(&lookup);
        assert_send(&hub.search("x", true, 1));
    }
}
