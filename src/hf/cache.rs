//! The Hugging Face cache, shared with the Python tools (huggingface_hub's
//! file_download.py layout):
//!
//! ```text
//! $HF_HUB_CACHE/models--org--name/blobs/<etag>          the bytes (sha256 for LFS files, git sha1 otherwise)
//!                                 blobs/<etag>.incomplete  a download in progress (resumed with Range)
//!                                 snapshots/<commit>/<path> relative symlink → ../../blobs/<etag>
//!                                 refs/<revision>           the commit a branch or tag pointed to
//! $HF_HUB_CACHE/.locks/models--org--name/<etag>.lock      one writer per blob (flock)
//! ```
//!
//! Lookups need no network, so `HF_HUB_OFFLINE=1` answers from here.

use std::path::{Path, PathBuf};

use crate::model::hf::{Gated, RepoFile, RepoInfo};
use crate::safefs;

use super::error::HfError;

/// Whether `s` is `n` lowercase hex digits.
pub(crate) fn is_hex(s: &str, n: usize) -> bool {
    s.len() == n
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Check a repo id (`org/name`) before it names URLs and directories.
pub fn check_repo_id(repo: &str) -> Result<(), HfError> {
    let ok_part = |p: &str| {
        !p.is_empty()
            && p.len() <= 96
            && !p.starts_with(['.', '-'])
            && !p.contains("..")
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    };
    match repo.split_once('/') {
        Some((org, name)) if ok_part(org) && ok_part(name) => Ok(()),
        _ => Err(HfError::BadRepoId { name: repo.into() }),
    }
}

/// Whether a path from the Hub is safe to use below a snapshot directory:
/// relative, no `..`, no empty or `.` segments.
pub(crate) fn safe_rel_path(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 1024
        && !p.contains('\0')
        && !p.contains('\\')
        && p.split('/').all(|s| !s.is_empty() && s != "." && s != "..")
}

/// Whether a revision is safe as a file name under `refs/` (may hold `/`).
pub(crate) fn safe_revision(r: &str) -> bool {
    r.len() <= 256 && safe_rel_path(r)
}

/// The shared cache.
#[derive(Debug, Clone)]
pub struct HfCache {
    root: PathBuf,
}

impl HfCache {
    /// The cache at `root` (`HF_HUB_CACHE`).
    pub fn new(root: impl Into<PathBuf>) -> HfCache {
        HfCache { root: root.into() }
    }

    /// The cache's root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `models--org--name`.
    pub fn folder_name(repo: &str) -> String {
        format!("models--{}", repo.replace('/', "--"))
    }

    /// The repo's folder.
    pub fn repo_dir(&self, repo: &str) -> PathBuf {
        self.root.join(HfCache::folder_name(repo))
    }

    /// `blobs/<etag>`.
    pub fn blob_path(&self, repo: &str, etag: &str) -> PathBuf {
        self.repo_dir(repo).join("blobs").join(etag)
    }

    /// `blobs/<etag>.incomplete`.
    pub fn incomplete_path(&self, repo: &str, etag: &str) -> PathBuf {
        self.repo_dir(repo)
            .join("blobs")
            .join(format!("{etag}.incomplete"))
    }

    /// `.locks/models--org--name/<etag>.lock`.
    pub fn lock_path(&self, repo: &str, etag: &str) -> PathBuf {
        self.root
            .join(".locks")
            .join(HfCache::folder_name(repo))
            .join(format!("{etag}.lock"))
    }

    /// `snapshots/<commit>/<path>`.
    pub fn snapshot_path(&self, repo: &str, commit: &str, path: &str) -> PathBuf {
        self.repo_dir(repo)
            .join("snapshots")
            .join(commit)
            .join(path)
    }

    /// The commit `refs/<revision>` holds; a commit id is its own answer.
    pub fn ref_commit(&self, repo: &str, revision: &str) -> Option<String> {
        if is_hex(revision, 40) {
            return Some(revision.to_string());
        }
        if !safe_revision(revision) {
            return None;
        }
        let bytes =
            safefs::read_bounded(&self.repo_dir(repo).join("refs").join(revision), 256).ok()?;
        let commit = String::from_utf8_lossy(&bytes).trim().to_string();
        is_hex(&commit, 40).then_some(commit)
    }

    /// Record that `revision` points at `commit` (tmp + rename).
    pub fn write_ref(&self, repo: &str, revision: &str, commit: &str) -> Result<(), HfError> {
        if is_hex(revision, 40) || !safe_revision(revision) {
            return Ok(());
        }
        let path = self.repo_dir(repo).join("refs").join(revision);
        if let Some(parent) = path.parent() {
            safefs::create_private_dir_in(&self.root, parent)?;
        }
        safefs::write_private_atomic(&path, commit.as_bytes())?;
        Ok(())
    }

    /// The snapshot path of `file` when its complete blob is in the cache
    /// (put there by FaceRunner or by the Python tools); the snapshot link is
    /// made when only the blob is there.
    pub fn cached_file(
        &self,
        repo: &str,
        commit: &str,
        file: &RepoFile,
    ) -> Result<Option<PathBuf>, HfError> {
        let Some(etag) = file.cache_blob_name() else {
            return Ok(None);
        };
        let blob = self.blob_path(repo, etag);
        match std::fs::symlink_metadata(&blob) {
            Ok(m) if m.is_file() && m.len() == file.size => {}
            _ => return Ok(None),
        }
        let snap = self.snapshot_path(repo, commit, &file.path);
        self.link(repo, commit, &file.path, etag)?;
        Ok(Some(snap))
    }

    /// Make `snapshots/<commit>/<path>` a relative link to `blobs/<etag>`.
    pub fn link(&self, repo: &str, commit: &str, path: &str, etag: &str) -> Result<(), HfError> {
        let snap = self.snapshot_path(repo, commit, path);
        let depth = path.matches('/').count();
        let target = PathBuf::from(format!("{}../../blobs/{etag}", "../".repeat(depth)));
        match std::fs::read_link(&snap) {
            Ok(t) if t == target => return Ok(()),
            Ok(_) => std::fs::remove_file(&snap).map_err(|e| HfError::io("replace", &snap, e))?,
            Err(_) if std::fs::symlink_metadata(&snap).is_ok() => {
                // A copy (the Python tools' fallback without symlinks): keep it.
                return Ok(());
            }
            Err(_) => {}
        }
        if let Some(parent) = snap.parent() {
            safefs::create_private_dir_in(&self.root, parent)?;
        }
        std::os::unix::fs::symlink(&target, &snap).map_err(|e| HfError::io("link", &snap, e))
    }

    /// What the cache knows of `repo` at `revision`: the commit (from
    /// `refs/`) and the files of its snapshot, with sizes and blob names.
    pub fn offline_info(&self, repo: &str, revision: &str) -> Result<RepoInfo, HfError> {
        check_repo_id(repo)?;
        let offline = || HfError::Offline {
            what: format!("{repo} at {revision}"),
            cache: self.root.clone(),
        };
        let commit = self.ref_commit(repo, revision).ok_or_else(offline)?;
        let snap = self.repo_dir(repo).join("snapshots").join(&commit);
        if !snap.is_dir() {
            return Err(offline());
        }
        let mut files = Vec::new();
        let mut stack = vec![(snap.clone(), String::new())];
        while let Some((dir, prefix)) = stack.pop() {
            let entries = std::fs::read_dir(&dir).map_err(|e| HfError::io("list", &dir, e))?;
            for entry in entries.flatten().take(100_000) {
                let name = entry.file_name().to_string_lossy().into_owned();
                let rel = format!("{prefix}{name}");
                let path = entry.path();
                let Ok(lmeta) = std::fs::symlink_metadata(&path) else {
                    continue;
                };
                if lmeta.is_dir() {
                    stack.push((path, format!("{rel}/")));
                    continue;
                }
                // A link into blobs/ names the blob; follow it for the size.
                let Ok(meta) = std::fs::metadata(&path) else {
                    continue;
                };
                if !meta.is_file() {
                    continue;
                }
                let blob = std::fs::read_link(&path)
                    .ok()
                    .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()));
                let (lfs_sha256, blob_id) = match blob {
                    Some(b) if is_hex(&b, 64) => (Some(b), None),
                    Some(b) if is_hex(&b, 40) => (None, Some(b)),
                    _ => (None, None),
                };
                files.push(RepoFile {
                    path: rel,
                    size: meta.len(),
                    lfs_sha256,
                    blob_id,
                });
            }
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(RepoInfo {
            id: repo.to_string(),
            commit,
            gated: Gated::No,
            private: false,
            pipeline_tag: None,
            library: None,
            base_model: vec![],
            architectures: vec![],
            files,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ids_and_paths_from_the_hub_are_checked() {
        assert!(check_repo_id("bartowski/Llama-3.2-1B-Instruct-GGUF").is_ok());
        for bad in ["x", "a/b/c", "../x", "a/..", "a/.hidden", "a/b c", "/b"] {
            assert!(check_repo_id(bad).is_err(), "{bad}");
        }
        assert!(safe_rel_path("Q4_K_M/m-00001-of-00002.gguf"));
        for bad in ["", "/etc/passwd", "a/../../b", "a//b", "./a", "a\\b"] {
            assert!(!safe_rel_path(bad), "{bad}");
        }
    }

    #[test]
    fn a_blob_with_its_link_is_found_and_listed_offline() {
        let dir = tempfile::tempdir().expect("tmp");
        let cache = HfCache::new(dir.path().join("hub"));
        let repo = "org/M-GGUF";
        let sha = "a".repeat(64);
        let commit = "c".repeat(40);
        let blobs = cache.repo_dir(repo).join("blobs");
        std::fs::create_dir_all(&blobs).expect("mkdir");
        std::fs::write(blobs.join(&sha), b"12345").expect("blob");
        let file = RepoFile {
            path: "sub/m-Q4_K_M.gguf".into(),
            size: 5,
            lfs_sha256: Some(sha.clone()),
            blob_id: None,
        };
        let snap = cache
            .cached_file(repo, &commit, &file)
            .expect("ok")
            .expect("cached");
        assert_eq!(std::fs::read(&snap).expect("read"), b"12345");
        assert_eq!(
            std::fs::read_link(&snap).expect("link"),
            PathBuf::from(format!("../../../blobs/{sha}"))
        );
        // A wrong size is not a cached file.
        let other = RepoFile {
            size: 6,
            ..file.clone()
        };
        assert!(
            cache
                .cached_file(repo, &commit, &other)
                .expect("ok")
                .is_none()
        );
        cache.write_ref(repo, "main", &commit).expect("ref");
        let info = cache.offline_info(repo, "main").expect("offline");
        assert_eq!(info.commit, commit);
        assert_eq!(info.files, vec![file]);
        assert!(matches!(
            cache.offline_info(repo, "dev"),
            Err(HfError::Offline { .. })
        ));
    }
}
