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
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::path::{Path, PathBuf};

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::model::spec::LogSpec;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use crate::model::wire::LogTrouble;

/// Lines kept in memory for failure reports.
const TAIL_LINES: usize = 40;
/// A line longer than this is split.
const MAX_LINE: usize = 16 * 1024;
/// One daemon log event longer than this is cut.
const MAX_EVENT: usize = 64 * 1024;

/// Open `path` for appending, privately: [`crate::safefs::open_private_append`]
/// (never through a symlink, never anything but a regular file of ours,
/// 0600).
pub fn open_append(path: &Path) -> io::Result<File> {
    crate::safefs::open_private_append(path).map_err(io::Error::from)
}

/// Why lines are being dropped, since when, and how many so far.
#[derive(Debug, Clone)]
struct Trouble {
    error: String,
    since: SystemTime,
    dropped: u64,
}

/// An append-only file rotated by size whose write errors never reach the
/// writer: a line that cannot be written (a full disk: ENOSPC) is dropped
/// and counted, once, without a retry and without logging about it (that
/// log would fail the same way). The next line tries again, so logging
/// recovers by itself when space returns; the first line that gets through
/// is preceded by a note of what was dropped.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    /// `None` when a reopen after rotation failed; retried on each line.
    file: Option<File>,
    size: u64,
    spec: LogSpec,
    trouble: Option<Trouble>,
    /// Formats the note about dropped lines as a line of this file.
    note: fn(SystemTime, &str) -> String,
    /// Descriptors that write to this file too (the daemon's stdout and
    /// stderr, where panics go), pointed at the new file on rotation.
    follow: Vec<RawFd>,
}

impl RotatingFile {
    /// Open (append) `path`; see [`open_append`].
    pub fn open(
        path: &Path,
        spec: LogSpec,
        note: fn(SystemTime, &str) -> String,
    ) -> io::Result<RotatingFile> {
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile {
            path: path.to_path_buf(),
            file: Some(file),
            size,
            spec,
            trouble: None,
            note,
            follow: Vec::new(),
        })
    }

    /// Of `fds`, follow those that write to this same file (see `follow`).
    fn follow_same(&mut self, fds: &[BorrowedFd<'_>]) {
        let Some(ours) = self.file.as_ref().and_then(|f| rustix::fs::fstat(f).ok()) else {
            return;
        };
        for fd in fds {
            if let Ok(st) = rustix::fs::fstat(fd)
                && (st.st_dev, st.st_ino) == (ours.st_dev, ours.st_ino)
            {
                self.follow.push(fd.as_raw_fd());
            }
        }
    }

    /// Append `entry` (one or more whole lines); never fails, never blocks
    /// on retries. Returns whether it was written.
    pub fn append(&mut self, entry: &[u8]) -> bool {
        if let Some(t) = &self.trouble {
            let text = format!(
                "{} log lines were dropped since {} because {} could not be written: {}",
                t.dropped,
                format_time(t.since),
                self.path.display(),
                t.error
            );
            let note = (self.note)(SystemTime::now(), &text);
            if !self.write_raw(note.as_bytes()) {
                return self.drop_line();
            }
            self.trouble = None;
        }
        self.write_raw(entry) || self.drop_line()
    }

    /// Lines are being dropped: what, since when, how many.
    pub fn trouble(&self) -> Option<LogTrouble> {
        self.trouble.as_ref().map(|t| LogTrouble {
            file: self.path.clone(),
            error: t.error.clone(),
            since: t.since,
            dropped_lines: t.dropped,
        })
    }

    fn write_raw(&mut self, bytes: &[u8]) -> bool {
        if self.size > 0 && self.size + bytes.len() as u64 > self.spec.max_bytes {
            // A failed rotation keeps appending to the file we have, if
            // any; a failed reopen after it is retried below.
            let _ = self.rotate();
        }
        if self.file.is_none() {
            match open_append(&self.path) {
                Ok(f) => {
                    self.size = f.metadata().map_or(0, |m| m.len());
                    self.file = Some(f);
                }
                Err(e) => {
                    self.note_error(&e);
                    return false;
                }
            }
        }
        let Some(file) = self.file.as_mut() else {
            return false;
        };
        match file.write_all(bytes) {
            Ok(()) => {
                self.size += bytes.len() as u64;
                true
            }
            Err(e) => {
                // Part of the line may have been written: learn the size again.
                self.size = file.metadata().map_or(self.size, |m| m.len());
                self.note_error(&e);
                false
            }
        }
    }

    fn note_error(&mut self, e: &io::Error) {
        self.trouble.get_or_insert_with(|| Trouble {
            error: e.to_string(),
            since: SystemTime::now(),
            dropped: 0,
        });
    }

    fn drop_line(&mut self) -> bool {
        if let Some(t) = self.trouble.as_mut() {
            t.dropped += 1;
        }
        false
    }

    fn rotate(&mut self) -> io::Result<()> {
        let keep = self.spec.keep;
        if keep == 0 {
            if let Some(f) = &self.file {
                f.set_len(0)?;
            }
            self.size = 0;
            return Ok(());
        }
        for n in (1..keep).rev() {
            let from = rotated(&self.path, n);
            if from.symlink_metadata().is_ok() {
                std::fs::rename(&from, rotated(&self.path, n + 1))?;
            }
        }
        std::fs::rename(&self.path, rotated(&self.path, 1))?;
        // The old file is renamed: from here on, a failed open leaves no
        // file, and the next line tries again.
        self.file = None;
        self.size = 0;
        let file = open_append(&self.path)?;
        for fd in &self.follow {
            // SAFETY: dup2 onto a descriptor this process owns for its whole
            // life (stdout/stderr): it atomically becomes a copy of `file`.
            unsafe {
                libc::dup2(file.as_raw_fd(), *fd);
            }
        }
        self.file = Some(file);
        Ok(())
    }
}

/// Appends lines to a service's log, rotating by size.
#[derive(Debug)]
pub struct LogWriter {
    out: RotatingFile,
    tail: VecDeque<String>,
}

/// Shared handle: the stdout task, the stderr task and the service actor write.
pub type SharedLog = Arc<Mutex<LogWriter>>;

fn service_note(t: SystemTime, text: &str) -> String {
    format!("{} fr {text}\n", format_time(t))
}

impl LogWriter {
    /// Open (append) `path`; a symlink or a non-regular file there is refused.
    pub fn open(path: &Path, spec: LogSpec) -> io::Result<LogWriter> {
        Ok(LogWriter {
            out: RotatingFile::open(path, spec, service_note)?,
            tail: VecDeque::with_capacity(TAIL_LINES),
        })
    }

    /// Append one line from `stream`. A line that cannot be written is
    /// dropped and counted (see [`RotatingFile`]); it still reaches the tail.
    pub fn line(&mut self, stream: &str, text: &str) {
        let text = text.trim_end_matches(['\n', '\r']);
        let entry = format!("{} {stream} {text}\n", format_time(SystemTime::now()));
        self.out.append(entry.as_bytes());
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

    /// Lines are being dropped (a full disk, most often).
    pub fn trouble(&self) -> Option<LogTrouble> {
        self.out.trouble()
    }
}

/// Rotation of the daemon's own log.
pub const DAEMON_LOG: LogSpec = LogSpec {
    max_bytes: 10 * 1024 * 1024,
    keep: 3,
};

static DAEMON: OnceLock<Arc<Mutex<RotatingFile>>> = OnceLock::new();

/// The daemon log's writer for `tracing_subscriber`: each event is buffered
/// and appended as a whole (so rotation happens between events) to a
/// [`RotatingFile`]. Never panics: a poisoned lock is taken over, a write
/// error drops the event and counts it.
#[derive(Debug, Clone)]
pub struct DaemonLog(Arc<Mutex<RotatingFile>>);

fn daemon_note(t: SystemTime, text: &str) -> String {
    format!("{}  WARN facerunner: {text}\n", format_time(t))
}

impl DaemonLog {
    /// Open `path` (see [`open_append`]) rotating per `spec`.
    pub fn open(path: &Path, spec: LogSpec) -> io::Result<DaemonLog> {
        DaemonLog::open_following(path, spec, &[])
    }

    /// Like [`DaemonLog::open`]; those of `fds` that write to the same file
    /// (the daemon's stdout and stderr, when `up` started it) are moved to
    /// the new file on each rotation, so a panic message lands in the
    /// current log rather than in a rotated or deleted one.
    pub fn open_following(
        path: &Path,
        spec: LogSpec,
        fds: &[BorrowedFd<'_>],
    ) -> io::Result<DaemonLog> {
        let mut file = RotatingFile::open(path, spec, daemon_note)?;
        file.follow_same(fds);
        Ok(DaemonLog(Arc::new(Mutex::new(file))))
    }

    /// Make this the log whose trouble [`daemon_log_trouble`] reports.
    pub fn register(&self) {
        let _ = DAEMON.set(self.0.clone());
    }

    /// Lines are being dropped.
    pub fn trouble(&self) -> Option<LogTrouble> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).trouble()
    }
}

/// The registered daemon log's trouble, if any.
pub fn daemon_log_trouble() -> Option<LogTrouble> {
    DAEMON
        .get()
        .and_then(|f| f.lock().unwrap_or_else(|p| p.into_inner()).trouble())
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for DaemonLog {
    type Writer = EventWriter;

    fn make_writer(&'a self) -> EventWriter {
        EventWriter {
            buf: Vec::new(),
            to: self.0.clone(),
        }
    }
}

/// One event of the daemon log, appended when dropped.
#[derive(Debug)]
pub struct EventWriter {
    buf: Vec<u8>,
    to: Arc<Mutex<RotatingFile>>,
}

impl Write for EventWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let room = MAX_EVENT.saturating_sub(self.buf.len());
        self.buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        if self.buf.last() != Some(&b'\n') {
            self.buf.push(b'\n');
        }
        self.to
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .append(&self.buf);
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
    use std::os::unix::fs::PermissionsExt;

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

    fn dev_full() -> File {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("open /dev/full")
    }

    #[test]
    fn a_full_disk_drops_and_counts_lines_then_recovers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("svc.log");
        let mut w = LogWriter::open(&path, LogSpec::default()).expect("open");
        w.line("out", "before");
        assert!(w.trouble().is_none());
        // /dev/full fails every write with ENOSPC, as a full disk does.
        w.out.file = Some(dev_full());
        for i in 0..5 {
            w.line("out", &format!("lost {i}"));
        }
        let t = w.trouble().expect("the trouble is reported");
        assert_eq!(t.dropped_lines, 5);
        assert_eq!(t.file, path);
        assert!(
            t.error.contains("No space left") || t.error.contains("os error 28"),
            "{}",
            t.error
        );
        assert_eq!(w.tail(1), vec!["lost 4".to_string()]);
        // Space returns: the same writer carries on by itself.
        w.out.file = Some(open_append(&path).expect("reopen"));
        w.line("out", "after");
        assert!(w.trouble().is_none());
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].ends_with(" out before"));
        assert!(lines[1].contains(" fr 5 log lines were dropped since "));
        assert!(lines[2].ends_with(" out after"));
    }

    #[test]
    fn a_symlink_or_fifo_at_a_log_path_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("precious");
        std::fs::write(&target, "keep me\n").expect("write");
        let link = dir.path().join("svc.log");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        assert!(LogWriter::open(&link, LogSpec::default()).is_err());
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "keep me\n");
        let fifo = dir.path().join("fifo.log");
        let ok = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(ok.success());
        // O_NONBLOCK: no reader → ENXIO at once, instead of blocking forever.
        assert!(LogWriter::open(&fifo, LogSpec::default()).is_err());
    }

    #[test]
    fn logs_are_created_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("svc.log");
        std::fs::write(&path, "").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let _w = LogWriter::open(&path, LogSpec::default()).expect("open");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    fn with_daemon_log(log: &DaemonLog, f: impl FnOnce()) {
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(log.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
    }

    #[test]
    fn the_daemon_log_rotates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("daemon.log");
        let spec = LogSpec {
            max_bytes: 1000,
            keep: 2,
        };
        let log = DaemonLog::open(&path, spec).expect("open");
        with_daemon_log(&log, || {
            for i in 0..100 {
                tracing::info!("event {i:03} with some padding to fill the file");
            }
        });
        assert!(rotated(&path, 1).exists() && rotated(&path, 2).exists());
        assert!(!rotated(&path, 3).exists());
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.len() <= 1000);
        // Whole events only: rotation happens between them.
        assert!(text.lines().all(|l| l.contains("event ")), "{text}");
        assert!(text.contains("event 099"));
    }

    #[test]
    fn the_daemon_log_survives_a_full_disk_and_a_poisoned_lock() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("daemon.log");
        let log = DaemonLog::open(&path, LogSpec::default()).expect("open");
        // A panic while the lock was held poisons it; logging goes on.
        let poisoner = log.clone();
        let _ = std::thread::spawn(move || {
            let _guard = poisoner.0.lock();
            panic!("poison the lock");
        })
        .join();
        assert!(log.0.is_poisoned());
        log.0.lock().unwrap_or_else(|p| p.into_inner()).file = Some(dev_full());
        with_daemon_log(&log, || {
            for i in 0..3 {
                tracing::warn!("cannot be written {i}");
            }
        });
        let t = log.trouble().expect("reported");
        assert_eq!(t.dropped_lines, 3);
        log.0.lock().unwrap_or_else(|p| p.into_inner()).file =
            Some(open_append(&path).expect("reopen"));
        with_daemon_log(&log, || tracing::info!("space is back"));
        assert!(log.trouble().is_none());
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.contains("3 log lines were dropped"), "{text}");
        assert!(text.contains("space is back"), "{text}");
        assert!(!text.contains("cannot be written"), "{text}");
    }

    #[test]
    fn descriptors_that_write_to_the_daemon_log_follow_its_rotation() {
        use std::os::fd::AsFd;
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("daemon.log");
        let spec = LogSpec {
            max_bytes: 300,
            keep: 1,
        };
        std::fs::write(&path, "").expect("create");
        // Stands for the daemon's stderr, which `up` points at daemon.log.
        let mut stderr = open_append(&path).expect("open");
        let other = tempfile::tempfile().expect("tempfile");
        let log =
            DaemonLog::open_following(&path, spec, &[stderr.as_fd(), other.as_fd()]).expect("open");
        assert_eq!(log.0.lock().expect("lock").follow, vec![stderr.as_raw_fd()]);
        with_daemon_log(&log, || {
            for i in 0..20 {
                tracing::info!("event {i:03} with some padding to fill the file");
            }
        });
        assert!(rotated(&path, 1).exists());
        let now = std::fs::metadata(&path).expect("meta");
        let fd = stderr.metadata().expect("fstat");
        assert_eq!((fd.dev(), fd.ino()), (now.dev(), now.ino()));
        stderr.write_all(b"a panic message\n").expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.ends_with("a panic message\n"), "{text}");
    }
}
