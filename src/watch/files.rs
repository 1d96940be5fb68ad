//! Noticing that a project's files were saved.
//!
//! Editors save in many ways: write in place, write a temp file and rename
//! it over the original (vim, VS Code, JetBrains, `sed -i`), delete and
//! re-create, or replace the target of a symlink. An inotify watch on the
//! file itself follows the inode and goes quiet after the first rename, so
//! this watches the *parent directories* and filters events by file name.
//! Access events are ignored (reading the file must not trigger a reload),
//! bursts are debounced, and a content hash decides whether anything really
//! changed — a save without changes, or FaceRunner's own write, does
//! nothing. Swap and backup files beside the config (`.facerunner.yaml.swp`,
//! `facerunner.yaml~`, `4913`) never match the watched names.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

/// The content hash of each watched file (`None`: the file is missing).
pub type Snapshot = BTreeMap<PathBuf, Option<String>>;

/// Watches a set of files and reports settled content changes.
pub struct FileWatcher {
    files: BTreeSet<PathBuf>,
    watched_dirs: BTreeSet<PathBuf>,
    watcher: RecommendedWatcher,
    rx: mpsc::UnboundedReceiver<Vec<PathBuf>>,
    debounce: Duration,
    last: Snapshot,
}

/// What changed after a burst of saves settled.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The files whose content differs from before.
    pub changed: Vec<PathBuf>,
    /// Hashes of every watched file now.
    pub snapshot: Snapshot,
}

/// SHA-256 of a file's content, `None` when it cannot be read (or is not a
/// regular file, or is larger than a project file may be: a FIFO or device
/// named as an `env_file` never blocks or floods the watcher).
pub fn hash_file(path: &Path) -> Option<String> {
    crate::safefs::read_bounded(path, crate::config::load::MAX_FILE_BYTES)
        .ok()
        .map(|b| hex::encode(Sha256::digest(&b)))
}

fn snapshot(files: &BTreeSet<PathBuf>) -> Snapshot {
    files.iter().map(|f| (f.clone(), hash_file(f))).collect()
}

/// The directories to watch for `file`: its own, and, for a symlink, the
/// directory of what it points to (so an edit of the target is seen).
fn dirs_for(file: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(parent) = file.parent() {
        dirs.push(if parent.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            parent.to_path_buf()
        });
    }
    if let Ok(target) = std::fs::canonicalize(file)
        && let Some(parent) = target.parent()
    {
        dirs.push(parent.to_path_buf());
    }
    dirs
}

impl FileWatcher {
    /// Watch `files` (the project file, `.env`, `env_file`s), reporting a
    /// change once no event arrived for `debounce`.
    pub fn new(
        files: impl IntoIterator<Item = PathBuf>,
        debounce: Duration,
    ) -> io::Result<FileWatcher> {
        let (tx, rx) = mpsc::unbounded_channel();
        let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(ev) = res
                && !matches!(ev.kind, EventKind::Access(_))
            {
                let _ = tx.send(ev.paths);
            }
        })
        .map_err(io::Error::other)?;
        let mut w = FileWatcher {
            files: BTreeSet::new(),
            watched_dirs: BTreeSet::new(),
            watcher,
            rx,
            debounce,
            last: Snapshot::new(),
        };
        w.set_files(files)?;
        Ok(w)
    }

    /// Replace the set of watched files (for example when `env_file`s change).
    pub fn set_files(&mut self, files: impl IntoIterator<Item = PathBuf>) -> io::Result<()> {
        self.files = files
            .into_iter()
            .map(|f| std::path::absolute(&f).unwrap_or(f))
            .collect();
        let wanted: BTreeSet<PathBuf> = self
            .files
            .iter()
            .flat_map(|f| dirs_for(f))
            .filter(|d| d.is_dir())
            .collect();
        for d in self.watched_dirs.difference(&wanted) {
            let _ = self.watcher.unwatch(d);
        }
        for d in wanted.difference(&self.watched_dirs) {
            self.watcher
                .watch(d, RecursiveMode::NonRecursive)
                .map_err(io::Error::other)?;
        }
        self.watched_dirs = wanted;
        self.last = snapshot(&self.files);
        Ok(())
    }

    /// Change how long a burst must be quiet before it counts.
    pub fn set_debounce(&mut self, debounce: Duration) {
        self.debounce = debounce;
    }

    /// The hashes as last seen.
    pub fn snapshot(&self) -> &Snapshot {
        &self.last
    }

    /// Accept `snapshot` as current (after FaceRunner itself wrote a file).
    pub fn accept(&mut self, snapshot: Snapshot) {
        self.last = snapshot;
    }

    fn relevant(&self, paths: &[PathBuf]) -> bool {
        paths.iter().any(|p| {
            self.files.iter().any(|f| {
                p == f
                    || (p.file_name() == f.file_name()
                        && p.parent()
                            .is_some_and(|pd| dirs_for(f).iter().any(|d| same_dir(d, pd))))
                    || std::fs::canonicalize(f).is_ok_and(|t| t == *p)
            })
        })
    }

    /// Wait until a burst of events has settled and some watched file's
    /// content differs from the last snapshot. Returns `None` when the
    /// watcher stopped.
    pub async fn next_change(&mut self) -> Option<Change> {
        loop {
            let paths = self.rx.recv().await?;
            if !self.relevant(&paths) {
                continue;
            }
            // Debounce: wait until no relevant event arrived for `debounce`.
            loop {
                match tokio::time::timeout(self.debounce, self.rx.recv()).await {
                    Ok(Some(_)) => continue,
                    Ok(None) => return None,
                    Err(_) => break,
                }
            }
            // A watched directory may have been re-created: re-arm the watches.
            let files: Vec<PathBuf> = self.files.iter().cloned().collect();
            let previous = std::mem::take(&mut self.last);
            self.set_files(files).ok()?;
            let now = self.last.clone();
            let changed: Vec<PathBuf> = now
                .iter()
                .filter(|(f, h)| previous.get(*f) != Some(*h))
                .map(|(f, _)| f.clone())
                .collect();
            if !changed.is_empty() {
                return Some(Change {
                    changed,
                    snapshot: now,
                });
            }
        }
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    a == b
        || std::fs::canonicalize(a)
            .ok()
            .zip(std::fs::canonicalize(b).ok())
            .is_some_and(|(x, y)| x == y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn hashing_a_fifo_or_device_gives_none_without_blocking() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("w.env");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .expect("mkfifo");
        assert_eq!(hash_file(&fifo), None);
        assert_eq!(hash_file(Path::new("/dev/zero")), None);
        let f = dir.path().join("x");
        std::fs::write(&f, "x").expect("write");
        assert!(hash_file(&f).is_some());
    }

    const DEBOUNCE: Duration = Duration::from_millis(150);
    const PATIENCE: Duration = Duration::from_secs(10);

    async fn expect_change(w: &mut FileWatcher) -> Change {
        tokio::time::timeout(PATIENCE, w.next_change())
            .await
            .expect("a change within the deadline")
            .expect("watcher alive")
    }

    /// No change is reported: write a marker file (never watched) after the
    /// action and wait for the watcher to have drained past it.
    async fn expect_quiet(w: &mut FileWatcher) {
        assert!(
            tokio::time::timeout(DEBOUNCE * 6, w.next_change())
                .await
                .is_err(),
            "no change expected"
        );
    }

    #[tokio::test]
    async fn every_way_of_saving_is_seen_once() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("facerunner.yaml");
        std::fs::write(&f, "a: 1\n").unwrap();
        let mut w = FileWatcher::new([f.clone()], DEBOUNCE).unwrap();

        // In-place write.
        std::fs::write(&f, "a: 2\n").unwrap();
        assert_eq!(expect_change(&mut w).await.changed, vec![f.clone()]);

        // Write to a temp file, then rename over (vim, VS Code, sed -i).
        let tmp = dir.path().join(".facerunner.yaml.tmp");
        std::fs::write(&tmp, "a: 3\n").unwrap();
        std::fs::rename(&tmp, &f).unwrap();
        assert_eq!(expect_change(&mut w).await.changed, vec![f.clone()]);

        // Delete, then create.
        std::fs::remove_file(&f).unwrap();
        std::fs::write(&f, "a: 4\n").unwrap();
        assert_eq!(expect_change(&mut w).await.changed, vec![f.clone()]);

        // Rapid successive saves coalesce into one change with the newest content.
        for i in 5..15 {
            std::fs::write(&f, format!("a: {i}\n")).unwrap();
        }
        let c = expect_change(&mut w).await;
        assert_eq!(c.snapshot[&f], hash_file(&f));
        expect_quiet(&mut w).await;

        // A save without changes, a read, and a swap file beside it: nothing.
        std::fs::write(&f, "a: 14\n").unwrap();
        let _ = std::fs::read(&f).unwrap();
        std::fs::write(dir.path().join(".facerunner.yaml.swp"), "x").unwrap();
        std::fs::write(dir.path().join("facerunner.yaml~"), "x").unwrap();
        expect_quiet(&mut w).await;
    }

    #[tokio::test]
    async fn a_symlinked_file_and_its_replaced_target_are_followed() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::fs::write(real.join("v1.yaml"), "a: 1\n").unwrap();
        std::fs::write(real.join("v2.yaml"), "a: 2\n").unwrap();
        let link = dir.path().join("facerunner.yaml");
        std::os::unix::fs::symlink(real.join("v1.yaml"), &link).unwrap();
        let mut w = FileWatcher::new([link.clone()], DEBOUNCE).unwrap();

        // Edit the target in place.
        std::fs::write(real.join("v1.yaml"), "a: 1.5\n").unwrap();
        expect_change(&mut w).await;

        // Point the link elsewhere (atomically, as deploy tools do).
        let tmp = dir.path().join("link.tmp");
        std::os::unix::fs::symlink(real.join("v2.yaml"), &tmp).unwrap();
        std::fs::rename(&tmp, &link).unwrap();
        let c = expect_change(&mut w).await;
        assert_eq!(
            c.snapshot[&std::path::absolute(&link).unwrap()],
            hash_file(&real.join("v2.yaml"))
        );

        // And the new target is watched now.
        std::fs::write(real.join("v2.yaml"), "a: 3\n").unwrap();
        expect_change(&mut w).await;
    }

    #[tokio::test]
    async fn env_files_are_watched_too() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("facerunner.yaml");
        let env = dir.path().join(".env");
        std::fs::write(&f, "a: 1\n").unwrap();
        let mut w = FileWatcher::new([f.clone(), env.clone()], DEBOUNCE).unwrap();
        std::fs::write(&env, "X=1\n").unwrap();
        assert_eq!(expect_change(&mut w).await.changed, vec![env]);
    }
}
