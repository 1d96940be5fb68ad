//! The backup archive: one `.tar.gz` holding a versioned `manifest.json`
//! (format, format version, the SHA-256 and size of every member) and the
//! members (`project/<file>`, `project/.env`, `state/state.json`,
//! `models.json`, `data/<service>/...`).
//!
//! Writing never follows links (a link in a data directory is refused, not
//! copied) and never overwrites the output; reading unpacks with the hostile
//! archive rules of [`crate::install::archive`] into a staging directory,
//! then checks the format version, every listed member's hash and size, and
//! that nothing unlisted came along.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::safefs::path_err;

/// The manifest's `format` value.
pub const FORMAT: &str = "facerunner-backup";
/// The format version written and the one read.
pub const FORMAT_VERSION: u32 = 1;
/// The manifest's name in the archive.
pub const MANIFEST: &str = "manifest.json";

/// One member of the archive.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Member {
    /// Hex SHA-256 of its bytes.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
}

/// What the archive holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`FORMAT_VERSION`] when written by this FaceRunner.
    pub format_version: u32,
    /// The FaceRunner version that wrote it.
    pub facerunner: String,
    /// The project's name.
    pub project: String,
    /// The project file's name (`facerunner.yaml`).
    pub file_name: String,
    /// Seconds since the Unix epoch when it was written.
    pub created_unix: u64,
    /// Whether `project/.env` is included.
    pub secrets: bool,
    /// Services whose data directory is included (`data/<service>/`).
    pub data: Vec<String>,
    /// Every member but the manifest, by path.
    pub members: BTreeMap<String, Member>,
}

/// Why a backup could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// A file operation failed.
    #[error(transparent)]
    Io(#[from] crate::safefs::PathError),
    /// Something other than a file or directory in a data directory.
    #[error("{} is not a regular file or directory; backups copy neither links nor special files (move it away and try again)", path.display())]
    NotRegular {
        /// The path.
        path: PathBuf,
    },
    /// The archive could not be unpacked.
    #[error("{} is not a usable backup archive", path.display())]
    Archive {
        /// The archive.
        path: PathBuf,
        /// The cause.
        #[source]
        source: crate::install::archive::ArchiveError,
    },
    /// The manifest is missing, malformed or of another version.
    #[error("{} is not a FaceRunner backup this version can read: {why}", path.display())]
    Manifest {
        /// The archive.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// A member does not match the manifest.
    #[error("{} is damaged or was altered: {why}; nothing was restored", path.display())]
    Mismatch {
        /// The archive.
        path: PathBuf,
        /// What does not match.
        why: String,
    },
}

/// Writes an archive member by member; [`Writer::finish`] adds the manifest.
pub struct Writer {
    tar: tar::Builder<flate2::write::GzEncoder<File>>,
    path: PathBuf,
    members: BTreeMap<String, Member>,
}

impl Writer {
    /// Create `path` (0600; refused when something is there already).
    pub fn create(path: &Path) -> Result<Writer, BackupError> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
            .map_err(path_err("create", path))?;
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
            file,
            flate2::Compression::default(),
        ));
        tar.follow_symlinks(false);
        Ok(Writer {
            tar,
            path: path.to_path_buf(),
            members: BTreeMap::new(),
        })
    }

    /// Add `bytes` as `name`.
    pub fn add_bytes(&mut self, name: &str, bytes: &[u8]) -> Result<(), BackupError> {
        let mut h = header(bytes.len() as u64);
        self.tar
            .append_data(&mut h, name, bytes)
            .map_err(path_err("write", &self.path))?;
        self.members.insert(
            name.into(),
            Member {
                sha256: hex::encode(Sha256::digest(bytes)),
                size: bytes.len() as u64,
            },
        );
        Ok(())
    }

    /// Add the regular file `path` as `name` (a link is refused).
    pub fn add_file(&mut self, name: &str, path: &Path) -> Result<(), BackupError> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| {
                if e.raw_os_error() == Some(libc::ELOOP) {
                    BackupError::NotRegular {
                        path: path.to_path_buf(),
                    }
                } else {
                    path_err("read", path)(e).into()
                }
            })?;
        let meta = file.metadata().map_err(path_err("inspect", path))?;
        if !meta.is_file() {
            return Err(BackupError::NotRegular {
                path: path.to_path_buf(),
            });
        }
        let size = meta.len();
        let mut h = header(size);
        let mut reader = Hashing {
            inner: file.take(size),
            hash: Sha256::new(),
            n: 0,
        };
        self.tar
            .append_data(&mut h, name, &mut reader)
            .map_err(path_err("write", &self.path))?;
        if reader.n != size {
            return Err(BackupError::Io(path_err("read", path)(io::Error::other(
                "the file changed size while it was copied",
            ))));
        }
        self.members.insert(
            name.into(),
            Member {
                sha256: hex::encode(reader.hash.finalize()),
                size,
            },
        );
        Ok(())
    }

    /// Add every file under `dir` as `prefix/<relative path>`.
    pub fn add_dir(&mut self, prefix: &str, dir: &Path) -> Result<(), BackupError> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(path_err("read the directory", dir))?
            .collect::<Result<_, _>>()
            .map_err(path_err("read the directory", dir))?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            let name = format!("{prefix}/{}", e.file_name().to_string_lossy());
            let ty = e.file_type().map_err(path_err("inspect", &path))?;
            if ty.is_dir() {
                self.add_dir(&name, &path)?;
            } else if ty.is_file() {
                self.add_file(&name, &path)?;
            } else {
                return Err(BackupError::NotRegular { path });
            }
        }
        Ok(())
    }

    /// Write the manifest (with every member added) and close the archive.
    pub fn finish(mut self, mut manifest: Manifest) -> Result<Manifest, BackupError> {
        manifest.members = std::mem::take(&mut self.members);
        let json = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| path_err("write", &self.path)(io::Error::other(e)))?;
        let mut h = header(json.len() as u64);
        self.tar
            .append_data(&mut h, MANIFEST, json.as_slice())
            .map_err(path_err("write", &self.path))?;
        let gz = self
            .tar
            .into_inner()
            .map_err(path_err("write", &self.path))?;
        let file = gz.finish().map_err(path_err("write", &self.path))?;
        file.sync_all().map_err(path_err("write", &self.path))?;
        Ok(manifest)
    }
}

fn header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(size);
    h.set_mode(0o600);
    h
}

struct Hashing<R> {
    inner: R,
    hash: Sha256,
    n: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
}

/// Unpack `archive` into `staging` (a directory that must not exist yet)
/// and check it: the manifest's format and version, every member's hash
/// and size, nothing unlisted, no links.
pub fn open(archive: &Path, staging: &Path) -> Result<Manifest, BackupError> {
    crate::install::archive::unpack(archive, staging).map_err(|source| BackupError::Archive {
        path: archive.to_path_buf(),
        source,
    })?;
    let bad = |why: String| BackupError::Manifest {
        path: archive.to_path_buf(),
        why,
    };
    let bytes = crate::safefs::read_private_bounded(&staging.join(MANIFEST), 64 << 20)
        .map_err(|e| bad(format!("no readable {MANIFEST} ({e})")))?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("{MANIFEST}: {e}")))?;
    if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(bad(format!("its {MANIFEST} is not of format `{FORMAT}`")));
    }
    let version = value.get("format_version").and_then(|v| v.as_u64());
    if version != Some(u64::from(FORMAT_VERSION)) {
        return Err(bad(format!(
            "format version {} (this FaceRunner reads version {FORMAT_VERSION}; use the FaceRunner that wrote it, or a newer one)",
            version.map_or_else(|| "missing".into(), |v| v.to_string())
        )));
    }
    let manifest: Manifest =
        serde_json::from_value(value).map_err(|e| bad(format!("{MANIFEST}: {e}")))?;
    let mismatch = |why: String| BackupError::Mismatch {
        path: archive.to_path_buf(),
        why,
    };
    let mut found = Vec::new();
    walk(staging, "", &mut found).map_err(|e| mismatch(e.to_string()))?;
    for name in &found {
        if name == MANIFEST {
            continue;
        }
        let Some(m) = manifest.members.get(name) else {
            return Err(mismatch(format!("`{name}` is not listed in {MANIFEST}")));
        };
        let path = staging.join(name);
        let (sha, size) = hash(&path).map_err(|e| mismatch(format!("`{name}`: {e}")))?;
        if sha != m.sha256 || size != m.size {
            return Err(mismatch(format!(
                "`{name}` has SHA-256 {sha} ({size} bytes), the manifest says {} ({} bytes)",
                m.sha256, m.size
            )));
        }
    }
    if let Some(missing) = manifest.members.keys().find(|k| !found.contains(k)) {
        return Err(mismatch(format!("`{missing}` is listed but missing")));
    }
    Ok(manifest)
}

/// Every file under `dir`, relative, `/`-separated; links are refused.
fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) -> io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = format!("{prefix}{}", e.file_name().to_string_lossy());
        let ty = e.file_type()?;
        if ty.is_dir() {
            walk(&e.path(), &format!("{name}/"), out)?;
        } else if ty.is_file() {
            out.push(name);
        } else {
            return Err(io::Error::other(format!(
                "`{name}` is a link or special file"
            )));
        }
    }
    Ok(())
}

fn hash(path: &Path) -> io::Result<(String, u64)> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let n = io::copy(&mut f, &mut h)?;
    Ok((hex::encode(h.finalize()), n))
}

/// Copy the tree `from` into the new directory `to` (0700 directories,
/// files 0600, `O_EXCL|O_NOFOLLOW`: nothing is overwritten or followed).
pub fn copy_tree(from: &Path, to: &Path) -> Result<(), BackupError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(to)
        .map_err(path_err("create the directory", to))?;
    for e in std::fs::read_dir(from).map_err(path_err("read the directory", from))? {
        let e = e.map_err(path_err("read the directory", from))?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let ty = e.file_type().map_err(path_err("inspect", &src))?;
        if ty.is_dir() {
            copy_tree(&src, &dst)?;
        } else if ty.is_file() {
            let mut input = File::open(&src).map_err(path_err("read", &src))?;
            let mut out = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&dst)
                .map_err(path_err("create", &dst))?;
            io::copy(&mut input, &mut out).map_err(path_err("write", &dst))?;
            out.flush().map_err(path_err("write", &dst))?;
        } else {
            return Err(BackupError::NotRegular { path: src });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            facerunner: "test".into(),
            project: "p".into(),
            file_name: "facerunner.yaml".into(),
            created_unix: 0,
            secrets: false,
            data: vec![],
            members: BTreeMap::new(),
        }
    }

    #[test]
    fn an_archive_round_trips_and_a_changed_member_is_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = tmp.path().join("data");
        std::fs::create_dir_all(data.join("sub")).expect("mkdir");
        std::fs::write(data.join("sub/webui.db"), b"db").expect("write");
        let a = tmp.path().join("b.tar.gz");
        let mut w = Writer::create(&a).expect("create");
        w.add_bytes("project/facerunner.yaml", b"version: 1\n")
            .expect("add");
        w.add_dir("data/ui", &data).expect("dir");
        let m = w.finish(manifest()).expect("finish");
        assert_eq!(m.members.len(), 2);
        assert!(Writer::create(&a).is_err(), "never overwrites");

        let got = open(&a, &tmp.path().join("s1")).expect("opens");
        assert_eq!(got, m);
        assert_eq!(
            std::fs::read(tmp.path().join("s1/data/ui/sub/webui.db")).expect("restored"),
            b"db"
        );

        // The same archive with one member altered (manifest unchanged).
        let mut w = Writer::create(&tmp.path().join("c.tar.gz")).expect("create");
        w.add_bytes("project/facerunner.yaml", b"version: 2\n")
            .expect("add");
        w.add_dir("data/ui", &data).expect("dir");
        let bytes_manifest = serde_json::to_vec(&m).expect("json");
        let mut h = header(bytes_manifest.len() as u64);
        w.tar
            .append_data(&mut h, MANIFEST, bytes_manifest.as_slice())
            .expect("manifest");
        w.tar.into_inner().expect("tar").finish().expect("gz");
        let e = open(&tmp.path().join("c.tar.gz"), &tmp.path().join("s2")).expect_err("altered");
        assert!(e.to_string().contains("damaged or was altered"), "{e}");
    }

    #[test]
    fn another_format_version_is_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let a = tmp.path().join("b.tar.gz");
        let w = Writer::create(&a).expect("create");
        let mut m = manifest();
        m.format_version = 99;
        w.finish(m).expect("finish");
        let e = open(&a, &tmp.path().join("s")).expect_err("version");
        assert!(e.to_string().contains("format version 99"), "{e}");
    }

    #[test]
    fn a_link_in_a_data_directory_is_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = tmp.path().join("data");
        std::fs::create_dir_all(&data).expect("mkdir");
        std::os::unix::fs::symlink("/etc/passwd", data.join("x")).expect("link");
        let mut w = Writer::create(&tmp.path().join("b.tar.gz")).expect("create");
        let e = w.add_dir("data/ui", &data).expect_err("link");
        assert!(matches!(e, BackupError::NotRegular { .. }), "{e}");
    }
}
