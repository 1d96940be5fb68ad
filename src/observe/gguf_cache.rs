//! A cache of GGUF header metadata, so a plan does not re-read every
//! model's header: a vocabulary of tens of thousands of strings sits in
//! the header, and reading 100 of them made the fit check an order of
//! magnitude slower than the rest of `plan`.
//!
//! Kept in `<state>/gguf-meta.json` (0600, written atomically through
//! [`crate::safefs`]), keyed by the file's path, checked against its size
//! and modification time (nanoseconds) before use; a file that changed is
//! read again. At most [`MAX_ENTRIES`] entries; the file is read bounded
//! and a broken one is ignored (and rewritten).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use crate::model::gguf::ModelMeta;

/// The cache file's name in the state directory.
pub const FILE: &str = "gguf-meta.json";

/// The most entries kept (the cache of a project, not of the machine).
pub const MAX_ENTRIES: usize = 10_000;

/// The largest cache file read.
const MAX_BYTES: u64 = 32 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Entry {
    len: u64,
    mtime_ns: u128,
    meta: ModelMeta,
}

/// The cache, loaded; [`Cache::save`] writes it back when it changed.
#[derive(Debug, Default)]
pub struct Cache {
    path: Option<PathBuf>,
    entries: BTreeMap<PathBuf, Entry>,
    changed: bool,
}

/// A file's identity for the cache: size and modification time.
fn stamp(path: &Path) -> Option<(u64, u128)> {
    let m = std::fs::metadata(path).ok()?;
    let mtime = m
        .modified()
        .ok()?
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some((m.len(), mtime))
}

impl Cache {
    /// The cache of `state_dir` (empty when missing or unreadable).
    pub fn load(state_dir: &Path) -> Cache {
        let path = state_dir.join(FILE);
        let entries = crate::safefs::read_bounded(&path, MAX_BYTES)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Cache {
            path: Some(path),
            entries,
            changed: false,
        }
    }

    /// The header metadata of `path`: cached when the file is unchanged,
    /// else read with `read` (and cached when it succeeds).
    pub fn get_or_read<E>(
        &mut self,
        path: &Path,
        read: impl FnOnce(&Path) -> Result<ModelMeta, E>,
    ) -> Result<ModelMeta, E> {
        let stamp = stamp(path);
        if let (Some((len, mtime_ns)), Some(e)) = (stamp, self.entries.get(path))
            && e.len == len
            && e.mtime_ns == mtime_ns
        {
            return Ok(e.meta.clone());
        }
        let meta = read(path)?;
        if let Some((len, mtime_ns)) = stamp
            && (self.entries.len() < MAX_ENTRIES || self.entries.contains_key(path))
        {
            self.entries.insert(
                path.to_path_buf(),
                Entry {
                    len,
                    mtime_ns,
                    meta: meta.clone(),
                },
            );
            self.changed = true;
        }
        Ok(meta)
    }

    /// The metadata cached under `key` for a file of `len` bytes that
    /// never changes (a Hub file at a commit: `hf:REPO@COMMIT/PATH`).
    pub fn get_key(&self, key: &str, len: u64) -> Option<ModelMeta> {
        self.entries
            .get(Path::new(key))
            .filter(|e| e.len == len)
            .map(|e| e.meta.clone())
    }

    /// Cache `meta` under `key` (see [`Cache::get_key`]).
    pub fn put_key(&mut self, key: &str, len: u64, meta: &ModelMeta) {
        if self.entries.len() < MAX_ENTRIES || self.entries.contains_key(Path::new(key)) {
            self.entries.insert(
                PathBuf::from(key),
                Entry {
                    len,
                    mtime_ns: 0,
                    meta: meta.clone(),
                },
            );
            self.changed = true;
        }
    }

    /// Write the cache back when it changed (errors only logged: a cache).
    pub fn save(&self) {
        let (Some(path), true) = (&self.path, self.changed) else {
            return;
        };
        let Ok(json) = serde_json::to_vec(&self.entries) else {
            return;
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        if let Err(e) = crate::safefs::create_private_dir_all(dir)
            .and_then(|()| crate::safefs::write_private_atomic(path, &json))
        {
            tracing::debug!("GGUF header cache not written: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unchanged_file_is_not_read_again_and_a_changed_one_is() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state");
        let model = dir.path().join("m.gguf");
        std::fs::write(&model, b"one").expect("write");
        let reads = std::cell::Cell::new(0);
        let read = |_: &Path| -> Result<ModelMeta, ()> {
            reads.set(reads.get() + 1);
            Ok(ModelMeta {
                block_count: 80,
                ..ModelMeta::default()
            })
        };
        let mut c = Cache::load(&state);
        assert_eq!(c.get_or_read(&model, read).expect("meta").block_count, 80);
        c.save();
        let mut c = Cache::load(&state);
        c.get_or_read(&model, read).expect("meta");
        assert_eq!(reads.get(), 1, "the second plan uses the cache");
        std::fs::write(&model, b"longer now").expect("write");
        c.get_or_read(&model, read).expect("meta");
        assert_eq!(reads.get(), 2, "a changed file is read again");
    }

    #[test]
    fn a_hub_files_header_is_kept_by_repo_commit_and_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = "hf:o/r@0123/m-Q4_K_M.gguf";
        let meta = ModelMeta {
            block_count: 32,
            ..ModelMeta::default()
        };
        let mut c = Cache::load(dir.path());
        assert!(c.get_key(key, 10).is_none());
        c.put_key(key, 10, &meta);
        c.save();
        let c = Cache::load(dir.path());
        assert_eq!(c.get_key(key, 10), Some(meta));
        assert!(c.get_key(key, 11).is_none(), "another size is another file");
        assert!(c.get_key("hf:o/r@4567/m-Q4_K_M.gguf", 10).is_none());
    }

    #[test]
    fn a_broken_cache_is_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(FILE), b"{not json").expect("write");
        let c = Cache::load(dir.path());
        assert!(c.entries.is_empty());
    }
}
