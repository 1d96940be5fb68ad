//! Reading service logs back: whole files (rotated ones first), filters,
//! and following a file across rotation.
//!
//! Works without a daemon: `facerunner logs` only needs the log directory.
//! Following polls the file's size and inode every few hundred
//! milliseconds (only while a person is watching); when the inode changes
//! the old file is read to its end and the new one from its start, so no
//! line is lost or repeated across a rotation.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::supervisor::logs::{parse_time, rotated};

/// One line of a service log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogLine {
    /// Service name.
    pub service: String,
    /// When it was written (absent for lines not in our format); in JSON
    /// an RFC 3339 UTC string, as in `status --json`.
    #[serde(serialize_with = "rfc3339_or_null")]
    pub time: Option<SystemTime>,
    /// `out`, `err` or `fr` (FaceRunner's own notes).
    pub stream: String,
    /// The text.
    pub text: String,
}

fn rfc3339_or_null<S: serde::Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&crate::model::units::format_time(*t)),
        None => s.serialize_none(),
    }
}

/// Parse `<time> <stream> <text>`; other lines become `out` lines without time.
pub fn parse_line(service: &str, line: &str) -> LogLine {
    let mut parts = line.splitn(3, ' ');
    let (t, s, rest) = (parts.next(), parts.next(), parts.next());
    match (t.and_then(parse_time), s) {
        (Some(time), Some(stream)) => LogLine {
            service: service.to_string(),
            time: Some(time),
            stream: stream.to_string(),
            text: rest.unwrap_or("").to_string(),
        },
        _ => LogLine {
            service: service.to_string(),
            time: None,
            stream: "out".into(),
            text: line.to_string(),
        },
    }
}

/// Services that have a log in `dir`, sorted.
pub fn services_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return vec![];
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".log").map(str::to_string))
        .collect();
    names.sort();
    names
}

/// Every line of `path` and its rotated predecessors, oldest first.
pub fn read_all(service: &str, path: &Path, keep_max: u32) -> io::Result<Vec<LogLine>> {
    let mut files: Vec<PathBuf> = (1..=keep_max)
        .rev()
        .map(|n| rotated(path, n))
        .filter(|p| p.exists())
        .collect();
    files.push(path.to_path_buf());
    let mut lines = Vec::new();
    for f in files {
        let file = match File::open(&f) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for line in BufReader::new(file).lines() {
            lines.push(parse_line(service, &line?));
        }
    }
    Ok(lines)
}

/// Follows one log file across rotations.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    file: Option<File>,
    inode: u64,
    pending: String,
}

impl Follower {
    /// Start at the current end of `path` (or its start once it appears).
    pub fn at_end(path: &Path) -> Follower {
        let mut f = Follower {
            path: path.to_path_buf(),
            file: None,
            inode: 0,
            pending: String::new(),
        };
        if let Ok(mut file) = File::open(path) {
            f.inode = file.metadata().map(|m| m.ino()).unwrap_or(0);
            let _ = file.seek(SeekFrom::End(0));
            f.file = Some(file);
        }
        f
    }

    /// Complete lines written since the last call.
    pub fn poll(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        self.drain(&mut out);
        let current = std::fs::metadata(&self.path).map(|m| m.ino()).ok();
        if current.is_some_and(|ino| ino != self.inode) {
            // Rotated (or created): the old file is complete; switch to the new one.
            if let Ok(file) = File::open(&self.path) {
                self.inode = current.unwrap_or(0);
                self.file = Some(file);
                self.drain(&mut out);
            }
        }
        out
    }

    fn drain(&mut self, out: &mut Vec<String>) {
        let Some(file) = self.file.as_mut() else {
            return;
        };
        if let (Ok(pos), Ok(meta)) = (file.stream_position(), file.metadata())
            && meta.len() < pos
        {
            let _ = file.seek(SeekFrom::Start(0)); // truncated
        }
        let mut buf = String::new();
        if file.read_to_string(&mut buf).is_err() {
            return;
        }
        self.pending.push_str(&buf);
        while let Some(pos) = self.pending.find('\n') {
            let line: String = self.pending.drain(..=pos).collect();
            out.push(line.trim_end_matches('\n').to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::spec::LogSpec;
    use crate::supervisor::logs::LogWriter;

    #[test]
    fn json_times_are_rfc3339_as_in_status() {
        let l = parse_line("svc", "2025-11-26T12:34:56.789Z out hello");
        let v = serde_json::to_value(&l).expect("serialize");
        assert_eq!(v["time"], "2025-11-26T12:34:56.789Z", "{v}");
        assert_eq!(v["text"], "hello");
        let v = serde_json::to_value(parse_line("svc", "no time here")).expect("serialize");
        assert!(v["time"].is_null(), "{v}");
    }

    #[test]
    fn follow_across_rotation_loses_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("svc.log");
        let mut w = LogWriter::open(
            &path,
            LogSpec {
                max_bytes: 300,
                keep: 2,
            },
        )
        .expect("open");
        let mut f = Follower::at_end(&path);
        let mut seen = Vec::new();
        for i in 0..30 {
            w.line("out", &format!("line {i}"));
            if i % 7 == 0 {
                seen.extend(f.poll());
            }
        }
        seen.extend(f.poll());
        let texts: Vec<String> = seen.iter().map(|l| parse_line("svc", l).text).collect();
        let want: Vec<String> = (0..30).map(|i| format!("line {i}")).collect();
        assert_eq!(texts, want);
        let all = read_all("svc", &path, 2).expect("read");
        assert_eq!(all.last().map(|l| l.text.as_str()), Some("line 29"));
    }
}
