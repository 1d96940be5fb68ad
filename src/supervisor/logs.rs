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

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::supervisor::spec::LogSpec;

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

/// `2026-11-26T12:34:56.789Z`.
pub fn format_time(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, dd) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{dd:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Parse what [`format_time`] writes.
pub fn parse_time(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 24 || b[23] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let days = days_from_civil(num(0..4)?, num(5..7)?, num(8..10)?);
    let secs = days * 86_400 + num(11..13)? * 3600 + num(14..16)? * 60 + num(17..19)?;
    let millis = num(20..23)?;
    let d = Duration::from_secs(u64::try_from(secs).ok()?) + Duration::from_millis(millis as u64);
    Some(UNIX_EPOCH + d)
}

// Howard Hinnant's civil-calendar algorithms.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_round_trips() {
        let t = UNIX_EPOCH + Duration::from_millis(1_764_160_496_789);
        let s = format_time(t);
        assert_eq!(s, "2025-11-26T12:34:56.789Z");
        assert_eq!(parse_time(&s), Some(t));
    }

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
