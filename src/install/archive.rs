//! Unpacking a release archive (`.tar.zst` or `.tgz`) that may be hostile.
//!
//! Rules: every entry lands inside the target directory, which must be new
//! and empty; a name that is absolute or holds `..` is refused; files are
//! created with `O_EXCL|O_NOFOLLOW` (0700 when executable, else 0600),
//! directories 0700; symbolic links are created last and only when their
//! target is a sibling name (what Ollama's `lib/ollama/*.so` links are), so
//! no link can point outside and no file is ever written through one; hard
//! links, devices and FIFOs are refused. Entry count and unpacked size are
//! bounded. Decompression is pure Rust (`ruzstd`, `flate2`).

use std::fs::OpenOptions;
use std::io::{self, BufReader, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use crate::safefs::path_err;

/// The most entries one archive may hold.
pub const MAX_ENTRIES: usize = 100_000;
/// The most bytes one archive may unpack to.
pub const MAX_UNPACKED: u64 = 32 << 30;

/// Why an archive could not be unpacked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// Reading the archive or writing the target failed.
    #[error(transparent)]
    Io(#[from] crate::safefs::PathError),
    /// The archive could not be opened.
    #[error(transparent)]
    Read(#[from] crate::safefs::ReadError),
    /// The archive is neither zstd nor gzip.
    #[error(
        "{} is not a .tar.zst or .tgz archive (it starts with neither the zstd nor the gzip magic number)",
        path.display()
    )]
    UnknownFormat {
        /// The archive.
        path: PathBuf,
    },
    /// An entry would land, or point, outside the target.
    #[error("refused entry `{entry}` of {}: {why}", archive.display())]
    Unsafe {
        /// The archive.
        archive: PathBuf,
        /// The entry's name as written in the archive.
        entry: String,
        /// Why it is refused.
        why: String,
    },
    /// The archive is corrupt or truncated.
    #[error("{} is damaged (re-download it)", path.display())]
    Corrupt {
        /// The archive.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Too many entries or bytes.
    #[error("{} unpacks to more than {limit}; refused", path.display())]
    TooLarge {
        /// The archive.
        path: PathBuf,
        /// The limit passed, in words.
        limit: String,
    },
}

/// What was unpacked.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Unpacked {
    /// Regular files written.
    pub files: usize,
    /// Bytes written.
    pub bytes: u64,
    /// Symbolic links made.
    pub links: usize,
}

/// Unpack `archive` into `dest`, a directory that must not exist yet (it is
/// created 0700). On error `dest` is left for the caller to remove.
pub fn unpack(archive: &Path, dest: &Path) -> Result<Unpacked, ArchiveError> {
    let (file, _) = crate::safefs::open_regular_read(archive)?;
    let mut reader = BufReader::new(file);
    let magic = {
        use std::io::BufRead;
        reader
            .fill_buf()
            .map_err(path_err("read", archive))?
            .to_vec()
    };
    let decoded: Box<dyn Read> = if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(
            ruzstd::decoding::StreamingDecoder::new(reader).map_err(|e| ArchiveError::Corrupt {
                path: archive.to_path_buf(),
                source: io::Error::other(e.to_string()),
            })?,
        )
    } else if magic.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::GzDecoder::new(reader))
    } else {
        return Err(ArchiveError::UnknownFormat {
            path: archive.to_path_buf(),
        });
    };
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(dest)
            .map_err(path_err("create the directory", dest))?;
    }
    let corrupt = |source| ArchiveError::Corrupt {
        path: archive.to_path_buf(),
        source,
    };
    let unsafe_entry = |entry: &Path, why: &str| ArchiveError::Unsafe {
        archive: archive.to_path_buf(),
        entry: entry.display().to_string(),
        why: why.to_string(),
    };
    let mut tar = tar::Archive::new(decoded);
    let mut done = Unpacked::default();
    let mut links: Vec<(PathBuf, PathBuf, PathBuf)> = Vec::new();
    let mut count = 0usize;
    for entry in tar.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        count += 1;
        if count > MAX_ENTRIES {
            return Err(ArchiveError::TooLarge {
                path: archive.to_path_buf(),
                limit: format!("{MAX_ENTRIES} entries"),
            });
        }
        let name = entry.path().map_err(corrupt)?.into_owned();
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader
        ) {
            continue;
        }
        let rel = relative(&name).map_err(|why| unsafe_entry(&name, why))?;
        let Some(rel) = rel else { continue }; // `./`
        let target = dest.join(&rel);
        match kind {
            tar::EntryType::Directory => {
                make_dirs(dest, &rel).map_err(|e| match e {
                    DirError::Link => unsafe_entry(&name, "a directory on its path is a link"),
                    DirError::Io(p, source) => ArchiveError::Io(crate::safefs::PathError {
                        action: "create the directory",
                        path: p,
                        source,
                    }),
                })?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(parent) = rel.parent() {
                    make_dirs(dest, parent).map_err(|e| match e {
                        DirError::Link => unsafe_entry(&name, "a directory on its path is a link"),
                        DirError::Io(p, source) => ArchiveError::Io(crate::safefs::PathError {
                            action: "create the directory",
                            path: p,
                            source,
                        }),
                    })?;
                }
                let size = entry.header().size().map_err(corrupt)?;
                if done.bytes.saturating_add(size) > MAX_UNPACKED {
                    return Err(ArchiveError::TooLarge {
                        path: archive.to_path_buf(),
                        limit: format!("{} GiB", MAX_UNPACKED >> 30),
                    });
                }
                let exec = entry.header().mode().unwrap_or(0) & 0o111 != 0;
                let mut out = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(if exec { 0o700 } else { 0o600 })
                    .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                    .open(&target)
                    .map_err(|e| {
                        if e.kind() == io::ErrorKind::AlreadyExists {
                            unsafe_entry(&name, "it is in the archive twice")
                        } else {
                            ArchiveError::Io(crate::safefs::PathError {
                                action: "create",
                                path: target.clone(),
                                source: e,
                            })
                        }
                    })?;
                let n = io::copy(&mut (&mut entry).take(size), &mut out).map_err(corrupt)?;
                done.bytes += n;
                done.files += 1;
            }
            tar::EntryType::Symlink => {
                let to = entry
                    .link_name()
                    .map_err(corrupt)?
                    .ok_or_else(|| unsafe_entry(&name, "a link without a target"))?
                    .into_owned();
                let mut parts = to.components();
                if !matches!(
                    (parts.next(), parts.next()),
                    (Some(Component::Normal(_)), None)
                ) {
                    return Err(unsafe_entry(
                        &name,
                        &format!(
                            "it links to `{}`; only links to a file beside them are accepted",
                            to.display()
                        ),
                    ));
                }
                links.push((name, rel, to));
            }
            tar::EntryType::Link => {
                return Err(unsafe_entry(&name, "hard links are not accepted"));
            }
            other => {
                return Err(unsafe_entry(
                    &name,
                    &format!("entries of type {other:?} are not accepted"),
                ));
            }
        }
    }
    // Links last: no file is written after a link exists.
    for (name, rel, to) in links {
        if let Some(parent) = rel.parent() {
            make_dirs(dest, parent).map_err(|e| match e {
                DirError::Link => unsafe_entry(&name, "a directory on its path is a link"),
                DirError::Io(p, source) => ArchiveError::Io(crate::safefs::PathError {
                    action: "create the directory",
                    path: p,
                    source,
                }),
            })?;
        }
        let at = dest.join(&rel);
        std::os::unix::fs::symlink(&to, &at).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                unsafe_entry(&name, "it is in the archive twice")
            } else {
                ArchiveError::Io(crate::safefs::PathError {
                    action: "create the link",
                    path: at.clone(),
                    source: e,
                })
            }
        })?;
        done.links += 1;
    }
    Ok(done)
}

/// `name` as a path below the target: `Ok(None)` for `.`; refused when
/// absolute or holding `..`.
fn relative(name: &Path) -> Result<Option<PathBuf>, &'static str> {
    let mut out = PathBuf::new();
    for c in name.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => return Err("its name holds `..`"),
            Component::RootDir | Component::Prefix(_) => return Err("its name is absolute"),
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

enum DirError {
    Link,
    Io(PathBuf, io::Error),
}

/// Create `dest/rel` and its parents (0700), each an existing real
/// directory or a new one: a link or a file on the way is refused.
fn make_dirs(dest: &Path, rel: &Path) -> Result<(), DirError> {
    use std::os::unix::fs::DirBuilderExt;
    let mut dir = dest.to_path_buf();
    for part in rel.components() {
        dir.push(part);
        match std::fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => continue,
            Ok(_) => return Err(DirError::Link),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(DirError::Io(dir, e)),
        }
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| DirError::Io(dir.clone(), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar holding `entries` (name, type, link target, body), gzip- or
    /// zstd-compressed. Names are written raw, so hostile ones pass through.
    /// (name, type, link target, body).
    type Entry<'a> = (&'a str, tar::EntryType, &'a str, &'a [u8]);

    fn archive(entries: &[Entry<'_>], zstd: bool) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, link, body) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(body.len() as u64);
            h.set_mode(0o755);
            {
                let raw = &mut h.as_old_mut().name;
                raw[..name.len()].copy_from_slice(name.as_bytes());
            }
            if !link.is_empty() {
                let raw = &mut h.as_old_mut().linkname;
                raw[..link.len()].copy_from_slice(link.as_bytes());
            }
            h.set_cksum();
            b.append(&h, *body).expect("append");
        }
        let tar = b.into_inner().expect("tar");
        if zstd {
            ruzstd::encoding::compress_to_vec(
                tar.as_slice(),
                ruzstd::encoding::CompressionLevel::Fastest,
            )
        } else {
            use std::io::Write;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&tar).expect("gz");
            gz.finish().expect("gz")
        }
    }

    fn unpack_bytes(bytes: &[u8]) -> (tempfile::TempDir, Result<Unpacked, ArchiveError>) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let a = tmp.path().join("a");
        std::fs::write(&a, bytes).expect("write");
        let r = unpack(&a, &tmp.path().join("out"));
        (tmp, r)
    }

    use tar::EntryType::{Directory, Link, Regular, Symlink};

    #[test]
    fn a_release_layout_unpacks_from_zstd_and_gzip() {
        for zstd in [true, false] {
            let bytes = archive(
                &[
                    ("./", Directory, "", b""),
                    ("bin/", Directory, "", b""),
                    ("bin/ollama", Regular, "", b"#!/bin/sh\necho hi\n"),
                    ("lib/ollama/libx.so.1.2", Regular, "", b"lib"),
                    ("lib/ollama/libx.so.1", Symlink, "libx.so.1.2", b""),
                ],
                zstd,
            );
            let (tmp, r) = unpack_bytes(&bytes);
            let done = r.expect("unpacks");
            assert_eq!((done.files, done.links), (2, 1));
            let out = tmp.path().join("out");
            let exe = out.join("bin/ollama");
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&exe).expect("exe").permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
            let dmode = std::fs::metadata(out.join("lib"))
                .expect("dir")
                .permissions()
                .mode();
            assert_eq!(dmode & 0o777, 0o700);
            assert_eq!(
                std::fs::read(out.join("lib/ollama/libx.so.1")).expect("through the link"),
                b"lib"
            );
        }
    }

    #[test]
    fn traversal_and_escaping_links_are_refused() {
        let cases: &[(&[Entry<'_>], &str)] = &[
            (&[("../evil", Regular, "", b"x")], "`..`"),
            (&[("bin/../../evil", Regular, "", b"x")], "`..`"),
            (&[("/tmp/evil", Regular, "", b"x")], "absolute"),
            (
                &[("l", Symlink, "/etc", b"")],
                "only links to a file beside them",
            ),
            (
                &[("l", Symlink, "../..", b"")],
                "only links to a file beside them",
            ),
            (
                &[("l", Symlink, "a/b", b"")],
                "only links to a file beside them",
            ),
            (&[("h", Link, "bin/ollama", b"")], "hard links"),
            (
                &[("x", Regular, "", b"1"), ("x", Regular, "", b"2")],
                "twice",
            ),
            (
                &[
                    ("d", Symlink, "e", b""),
                    ("e/", Directory, "", b""),
                    ("d/f", Symlink, "g", b""),
                ],
                "is a link",
            ),
        ];
        for (entries, why) in cases {
            let (tmp, r) = unpack_bytes(&archive(entries, true));
            let e = r.expect_err("refused");
            let msg = e.to_string();
            assert!(msg.contains(why), "{entries:?}: {msg}");
            assert!(!tmp.path().join("evil").exists());
        }
    }

    #[test]
    fn something_else_is_not_an_archive() {
        let (_tmp, r) = unpack_bytes(b"PK\x03\x04 a zip");
        assert!(
            matches!(r, Err(ArchiveError::UnknownFormat { .. })),
            "{r:?}"
        );
        let (_tmp, r) = unpack_bytes(&[0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3]);
        assert!(r.is_err(), "truncated zstd");
    }
}
