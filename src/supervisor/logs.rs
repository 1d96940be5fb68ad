//! Per-service log files with size-based rotation.
//!
//! The daemon owns the write side: the service's stdout and stderr are
//! pipes (inherited through the shim) that the daemon reads in one task per
//! stream and appends, line by line, to `logs/<service>.log`. The daemon
//! never blocks on a child: the pipes are drained continuously and the file
//! writes are small appends to a local file. Owning the writes (rather than
//! handing the child the file) is what makes rotation possible:
//! `svc.log` → `svc.log.1` → … → `svc.log.<keep>` happens between two lines.
//!
//! Each line is `<RFC 3339 UTC time> <stream> <text>`, stream being `out`,
//! `err`, or `fr` for FaceRunner's own notes (spawned, exited, ...), so
//! `logs --since` can filter and `logs` can merge services by time.

pub use crate::model::units::{format_time, parse_time};
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::model::spec::LogSpec;

/// Lines kept in memory for failure reports.
const TAIL_LINES: usize = 40;
/// A line longer than this is split.
const MAX_LINE: usize = 16 * 1024;

/// Appends lines to a service's log, rotating by size.
#[derive(Debug)]
pub struct LogWriter {
    path: PathBuf,
    file: File,
    size: u64,
    spec: LogSpec,
    tail: VecDeque<String>,
}

/// Shared handle: the stdout task, the stderr task and the service actor write.
pub type SharedLog = Arc<Mutex<LogWriter>>;

impl LogWriter {
    /// Open (append) `path`.
    pub fn open(path: &Path, spec: LogSpec) -> io::Result<LogWriter> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(LogWriter {
            path: path.to_path_buf(),
            file,
            size,
            spec,
            tail: VecDeque::with_capacity(TAIL_LINES),
        })
    }

    /// Append one line from `stream`.
    pub fn line(&mut self, stream: &str, text: &str) {
        let text = text.trim_end_matches(['\n', '\r']);
        let entry = format!("{} {stream} {text}\n", format_time(SystemTime::now()));
        if self.size > 0
            && self.size + entry.len() as u64 > self.spec.max_bytes
            && let Err(e) = self.rotate()
        {
            tracing::warn!(path = %self.path.display(), "log rotation failed: {e}");
        }
        match self.file.write_all(entry.as_bytes()) {
            Ok(()) => self.size += entry.len() as u64,
            Err(e) => tracing::warn!(path = %self.path.display(), "log write failed: {e}"),
        }
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(text.to_string());
    }

    /// The last `n` lines written since the daemon opened the log.
    pub fn tail(&self, n: usize) -> Vec<String> {
        let skip = self.tail.len().saturating_sub(n);
        self.tail.iter().skip(skip).cloned().collect()
    }

    fn rotate(&mut self) -> io::Result<()> {
        let keep = self.spec.keep;
        if keep == 0 {
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        for n in (1..keep).rev() {
            let from = rotated(&self.path, n);
            if from.exists() {
                std::fs::rename(&from, rotated(&self.path, n + 1))?;
            }
        }
        std::fs::rename(&self.path, rotated(&self.path, 1))?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

/// `svc.log.N`.
pub fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// Copy `reader` into the log, line by line, until end of stream.
pub async fn pump<R: AsyncRead + Unpin>(mut reader: R, log: SharedLog, stream: &'static str) {
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 8192];
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=pos).collect();
            write_line(&log, stream, &line);
        }
        if pending.len() > MAX_LINE {
            write_line(&log, stream, &pending);
            pending.clear();
        }
    }
    if !pending.is_empty() {
        write_line(&log, stream, &pending);
    }
}

fn write_line(log: &SharedLog, stream: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    log.lock()
        .unwrap_or_else(|p| p.into_inner())
        .line(stream, &text);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_n_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("svc.log");
        let spec = LogSpec {
            max_bytes: 200,
            keep: 2,
        };
        let mut w = LogWriter::open(&path, spec).expect("open");
        for i in 0..40 {
            w.line("out", &format!("line {i:03} padding padding"));
        }
        assert!(path.exists() && rotated(&path, 1).exists() && rotated(&path, 2).exists());
        assert!(!rotated(&path, 3).exists());
        assert!(std::fs::metadata(&path).expect("meta").len() <= 200);
        assert_eq!(w.tail(1), vec!["line 039 padding padding".to_string()]);
    }
}
