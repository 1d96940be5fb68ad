//! Opening, creating and reading files safely on hostile ground.
//!
//! Every file FaceRunner writes (locks, logs, state, secrets, saved plans)
//! and every file it reads from a user-named path goes through here, so the
//! rules live in one place:
//!
//! - **No writing through a planted link.** Files are opened with
//!   `O_NOFOLLOW`: a symbolic link at the path is refused
//!   ([`SafeFsError::Symlink`]) and its target is never touched.
//! - **Only regular files.** An existing FIFO, device, socket or directory
//!   at the path is refused ([`SafeFsError::NotRegular`]); opening never
//!   blocks on a FIFO (`O_NONBLOCK` while opening).
//! - **Private.** Files are created 0600 and an existing one owned by us is
//!   narrowed to 0600; one owned by another user is refused
//!   ([`SafeFsError::ForeignOwner`]). Directories are created 0700; an
//!   existing directory on the FaceRunner-owned chain must be ours and not
//!   writable by group or others ([`SafeFsError::ForeignOwner`],
//!   [`SafeFsError::Writable`]).
//! - **Reads are bounded.** [`read_bounded`] follows links (a project file
//!   may well be one) but requires a regular file after resolving them and
//!   never reads more than `max_bytes + 1` bytes; it never blocks on a FIFO
//!   and never reads `/dev/zero` forever.
//!
//! API:
//!
//! - [`open_private_append`]`(path) -> Result<File, SafeFsError>`: create or
//!   open for appending (logs).
//! - [`open_private_rw`]`(path) -> Result<File, SafeFsError>`: create or open
//!   read-write without truncating (lock files).
//! - [`open_private_read`]`(path) -> Result<File, SafeFsError>`: open an
//!   existing one read-only, with the same checks.
//! - [`create_private_dir_all`]`(path)`: create `path` and its missing
//!   parents 0700 and check `path` itself; [`create_private_dir_in`]`(root,
//!   path)` also checks every existing directory from `root` down to `path`.
//! - [`write_private_atomic`]`(path, bytes)`: temp file in the same directory
//!   (`O_CREAT|O_EXCL|O_NOFOLLOW`, 0600), fsync, rename over `path`, fsync
//!   the directory. A link at `path` is replaced, never followed.
//! - [`create_private_atomic`]`(path, bytes) -> Result<bool, SafeFsError>`:
//!   the same, but only when nothing is at `path` yet (`false` otherwise).
//! - [`read_prefix`]`(path, n)`: the first `n` bytes of a regular file (a
//!   magic number).
//! - [`read_bounded`]`(path, max_bytes) -> Result<Vec<u8>, ReadError>`, and
//!   [`read_private_bounded`] which refuses a link instead of following it.
//!
//! Errors name the path, say what to do, and keep the OS error as their
//! source.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A file operation that failed: what was being done, to which path, and
/// the OS error. The one "cannot ACTION PATH" error; modules whose errors
/// have nothing to add wrap it (`#[error(transparent)] Io(#[from]
/// PathError)`) rather than each declaring the same three fields.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}", path.display())]
pub struct PathError {
    /// What was being done ("open", "create", "rename", ...).
    pub action: &'static str,
    /// The path it was done to.
    pub path: PathBuf,
    /// The OS error.
    #[source]
    pub source: io::Error,
}

/// For `map_err`: `.map_err(path_err("read", &file))?`.
pub fn path_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> PathError {
    let path = path.to_path_buf();
    move |source| PathError {
        action,
        path,
        source,
    }
}

/// A file or directory that could not be opened or created safely.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SafeFsError {
    /// The OS refused an operation.
    #[error(transparent)]
    Io(#[from] PathError),
    /// A symbolic link stands where FaceRunner writes a file of its own.
    #[error(
        "{} is a symbolic link; FaceRunner does not write through links it did not create. \
         Remove it (`rm {}`) and run again",
        path.display(),
        path.display()
    )]
    Symlink {
        /// The link.
        path: PathBuf,
    },
    /// Something other than a regular file (or directory) stands at the path.
    #[error(
        "{} is a {found}, not a {expected}; move it away and run again",
        path.display()
    )]
    NotRegular {
        /// The path.
        path: PathBuf,
        /// What is there ("FIFO", "directory", ...).
        found: &'static str,
        /// What was expected ("regular file" or "directory").
        expected: &'static str,
    },
    /// A file or directory FaceRunner relies on belongs to another user.
    #[error(
        "{} belongs to user id {owner}, not to you (user id {euid}); \
         FaceRunner keeps its files only in directories you own. \
         Use a directory of your own (set FACERUNNER_HOME) or fix the owner",
        path.display()
    )]
    ForeignOwner {
        /// The path.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// Our effective user id.
        euid: u32,
    },
    /// A directory FaceRunner relies on is writable by other users.
    #[error(
        "directory {} is writable by other users (mode {mode:o}), so they could plant files \
         in it; run `chmod go-w {}` or use a private directory (set FACERUNNER_HOME)",
        path.display(),
        path.display()
    )]
    Writable {
        /// The directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

impl SafeFsError {
    fn io(action: &'static str, path: &Path, source: io::Error) -> SafeFsError {
        SafeFsError::Io(path_err(action, path)(source))
    }
}

/// For callers whose errors carry an `io::Error`: the kind is kept and this
/// error (with its causes) becomes the payload.
impl From<SafeFsError> for io::Error {
    fn from(e: SafeFsError) -> io::Error {
        let kind = match &e {
            SafeFsError::Io(e) => e.source.kind(),
            SafeFsError::Symlink { .. } | SafeFsError::NotRegular { .. } => {
                io::ErrorKind::InvalidInput
            }
            SafeFsError::ForeignOwner { .. } | SafeFsError::Writable { .. } => {
                io::ErrorKind::PermissionDenied
            }
        };
        io::Error::new(kind, e)
    }
}

/// A file that could not be read within bounds.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The OS refused to open or read it (including "not found").
    #[error("cannot read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// It is not a regular file (after resolving links).
    #[error("{} is a {found}, not a regular file", path.display())]
    NotRegular {
        /// The path.
        path: PathBuf,
        /// What it is ("FIFO", "character device", ...).
        found: &'static str,
    },
    /// It is larger than the limit.
    #[error("{} is larger than {limit} bytes", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit in bytes.
        limit: u64,
    },
}

impl ReadError {
    /// Whether the file does not exist (often not an error for the caller).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

/// What a file type is, in words.
fn kind_name(ft: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_file() {
        "regular file"
    } else if ft.is_dir() {
        "directory"
    } else if ft.is_symlink() {
        "symbolic link"
    } else if ft.is_fifo() {
        "FIFO"
    } else if ft.is_char_device() {
        "character device"
    } else if ft.is_block_device() {
        "block device"
    } else if ft.is_socket() {
        "socket"
    } else {
        "special file"
    }
}

fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Whether an open error means "a symbolic link is at the path" (`O_NOFOLLOW`).
fn is_link_refusal(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ELOOP)
}

/// Open a private file of ours with `opts` plus `O_NOFOLLOW|O_NONBLOCK`,
/// then check it is a regular file owned by us, narrow it to 0600, and clear
/// `O_NONBLOCK` again.
fn open_private(path: &Path, opts: &mut OpenOptions, me: u32) -> Result<File, SafeFsError> {
    let file = opts
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| {
            if is_link_refusal(&e) {
                SafeFsError::Symlink {
                    path: path.to_path_buf(),
                }
            } else if e.raw_os_error() == Some(libc::ENXIO) {
                // O_WRONLY|O_NONBLOCK on a FIFO without a reader.
                SafeFsError::NotRegular {
                    path: path.to_path_buf(),
                    found: "FIFO",
                    expected: "regular file",
                }
            } else {
                SafeFsError::io("open", path, e)
            }
        })?;
    let meta = file
        .metadata()
        .map_err(|e| SafeFsError::io("inspect", path, e))?;
    if !meta.file_type().is_file() {
        return Err(SafeFsError::NotRegular {
            path: path.to_path_buf(),
            found: kind_name(meta.file_type()),
            expected: "regular file",
        });
    }
    if meta.uid() != me {
        return Err(SafeFsError::ForeignOwner {
            path: path.to_path_buf(),
            owner: meta.uid(),
            euid: me,
        });
    }
    if meta.mode() & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| SafeFsError::io("make private (chmod 0600)", path, e))?;
    }
    let flags = rustix::fs::fcntl_getfl(&file)
        .map_err(|e| SafeFsError::io("open", path, io::Error::from(e)))?;
    rustix::fs::fcntl_setfl(&file, flags - rustix::fs::OFlags::NONBLOCK)
        .map_err(|e| SafeFsError::io("open", path, io::Error::from(e)))?;
    Ok(file)
}

/// Create or open `path` for appending: 0600, no links followed, only a
/// regular file of ours. For log files.
pub fn open_private_append(path: &Path) -> Result<File, SafeFsError> {
    open_private(path, OpenOptions::new().append(true).create(true), euid())
}

/// Create or open `path` read-write without truncating it: 0600, no links
/// followed, only a regular file of ours. For lock files.
pub fn open_private_rw(path: &Path) -> Result<File, SafeFsError> {
    open_private(
        path,
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false),
        euid(),
    )
}

/// Open an existing private file of ours read-only: no links followed, only
/// a regular file, never blocking on a FIFO. For reading a lock's holder.
pub fn open_private_read(path: &Path) -> Result<File, SafeFsError> {
    open_private(path, OpenOptions::new().read(true), euid())
}

/// Check that an existing directory is a directory of ours that no one else
/// may write to.
fn check_dir(path: &Path, me: u32) -> Result<(), SafeFsError> {
    let meta = std::fs::metadata(path).map_err(|e| SafeFsError::io("inspect", path, e))?;
    if !meta.is_dir() {
        return Err(SafeFsError::NotRegular {
            path: path.to_path_buf(),
            found: kind_name(meta.file_type()),
            expected: "directory",
        });
    }
    if meta.uid() != me {
        return Err(SafeFsError::ForeignOwner {
            path: path.to_path_buf(),
            owner: meta.uid(),
            euid: me,
        });
    }
    if meta.mode() & 0o022 != 0 {
        return Err(SafeFsError::Writable {
            path: path.to_path_buf(),
            mode: meta.mode() & 0o7777,
        });
    }
    Ok(())
}

/// Create `path` and its missing parents, each new one 0700; check that
/// `path` itself is a directory of ours not writable by others.
pub fn create_private_dir_all(path: &Path) -> Result<(), SafeFsError> {
    create_private_dir_in(path, path)
}

/// Create `path` (which lies under `root`) and its missing parents, each new
/// one 0700; check every existing directory from `root` down to `path`: it
/// must be ours and not writable by group or others. Directories above
/// `root` (`/tmp`, `$HOME`) are not checked.
pub fn create_private_dir_in(root: &Path, path: &Path) -> Result<(), SafeFsError> {
    create_dir_checked(root, path, euid())
}

fn create_dir_checked(root: &Path, path: &Path, me: u32) -> Result<(), SafeFsError> {
    let (root, below) = match path.strip_prefix(root) {
        Ok(below) => (root, below),
        Err(_) => (path, Path::new("")),
    };
    if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| SafeFsError::io("create the directory", parent, e))?;
    }
    // Each directory is checked before anything is created inside it.
    let mut dir = root.to_path_buf();
    mkdir_one(&dir)?;
    check_dir(&dir, me)?;
    for part in below.components() {
        dir.push(part);
        mkdir_one(&dir)?;
        check_dir(&dir, me)?;
    }
    Ok(())
}

fn mkdir_one(dir: &Path) -> Result<(), SafeFsError> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(SafeFsError::io("create the directory", dir, e)),
    }
}

/// A new private temp file next to `path` holding `bytes`, synced:
/// `O_CREAT|O_EXCL|O_NOFOLLOW`, 0600, a random name starting with `.`.
fn write_temp_next_to(path: &Path, bytes: &[u8]) -> Result<PathBuf, SafeFsError> {
    let dir = parent_of(path);
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    for _ in 0..16 {
        let mut r = [0u8; 8];
        getrandom::fill(&mut r).map_err(|e| {
            SafeFsError::io(
                "name a temporary file next to",
                path,
                io::Error::other(format!("the OS random source failed: {e}")),
            )
        })?;
        let tmp = dir.join(format!(".{name}.{}.tmp", hex::encode(r)));
        let mut file = match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(SafeFsError::io("create a temporary file in", dir, e)),
        };
        if let Err(e) = file.write_all(bytes).and_then(|()| file.sync_all()) {
            let _ = std::fs::remove_file(&tmp);
            return Err(SafeFsError::io("write", &tmp, e));
        }
        return Ok(tmp);
    }
    Err(SafeFsError::io(
        "create a temporary file in",
        dir,
        io::Error::from(io::ErrorKind::AlreadyExists),
    ))
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

fn sync_dir(dir: &Path) -> Result<(), SafeFsError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| SafeFsError::io("sync the directory", dir, e))
}

/// Write `bytes` to `path` atomically and privately: a temp file in the same
/// directory (`O_CREAT|O_EXCL|O_NOFOLLOW`, 0600), fsync, rename over `path`,
/// fsync the directory. Readers see the old content or the new, never a
/// part; a link at `path` is replaced, never followed.
pub fn write_private_atomic(path: &Path, bytes: &[u8]) -> Result<(), SafeFsError> {
    let tmp = write_temp_next_to(path, bytes)?;
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(SafeFsError::io("replace", path, e));
    }
    sync_dir(parent_of(path))
}

/// Create `path` holding `bytes`, atomically and privately, only if nothing
/// (not even a dangling link) is there yet: the complete file appears at
/// once (a synced temp file, hard-linked into place), so a reader never sees
/// it empty. `Ok(false)` when something was there already; it is left alone.
pub fn create_private_atomic(path: &Path, bytes: &[u8]) -> Result<bool, SafeFsError> {
    let tmp = write_temp_next_to(path, bytes)?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => sync_dir(parent_of(path)).map(|()| true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(SafeFsError::io("create", path, e)),
    }
}

/// Read a regular file (links are followed) of at most `max_bytes` bytes.
/// A FIFO, device, socket or directory is refused without blocking or
/// reading from it; a file that grows past the limit while being read is
/// refused too.
pub fn read_bounded(path: &Path, max_bytes: u64) -> Result<Vec<u8>, ReadError> {
    read_bounded_with(path, max_bytes, 0)
}

/// [`read_bounded`] for a private file of ours: a symbolic link at `path`
/// is not followed but refused as [`ReadError::NotRegular`].
pub fn read_private_bounded(path: &Path, max_bytes: u64) -> Result<Vec<u8>, ReadError> {
    read_bounded_with(path, max_bytes, libc::O_NOFOLLOW)
}

/// The first `n` bytes of a regular file (fewer if it is shorter); links
/// are followed, anything but a regular file is refused without blocking.
/// For checking a file's magic number.
pub fn read_prefix(path: &Path, n: u64) -> Result<Vec<u8>, ReadError> {
    let (file, _) = open_regular(path, 0)?;
    let mut buf = Vec::new();
    file.take(n)
        .read_to_end(&mut buf)
        .map_err(|source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(buf)
}

/// Open a regular file for streaming reads (links are followed; a FIFO,
/// device or directory is refused without blocking), with its metadata.
/// For reading a bounded prefix of a large file (a GGUF header) without
/// loading it; the caller bounds what it reads.
pub fn open_regular_read(path: &Path) -> Result<(File, std::fs::Metadata), ReadError> {
    open_regular(path, 0)
}

/// Open `path` for reading (`O_NONBLOCK` plus `flags`) and require a
/// regular file.
fn open_regular(path: &Path, flags: i32) -> Result<(File, std::fs::Metadata), ReadError> {
    let io_err = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | flags)
        .open(path)
        .map_err(|e| {
            if flags & libc::O_NOFOLLOW != 0 && is_link_refusal(&e) {
                ReadError::NotRegular {
                    path: path.to_path_buf(),
                    found: "symbolic link",
                }
            } else {
                io_err(e)
            }
        })?;
    let meta = file.metadata().map_err(io_err)?;
    if !meta.file_type().is_file() {
        return Err(ReadError::NotRegular {
            path: path.to_path_buf(),
            found: kind_name(meta.file_type()),
        });
    }
    Ok((file, meta))
}

fn read_bounded_with(path: &Path, max_bytes: u64, flags: i32) -> Result<Vec<u8>, ReadError> {
    let (file, meta) = open_regular(path, flags)?;
    let too_large = || ReadError::TooLarge {
        path: path.to_path_buf(),
        limit: max_bytes,
    };
    if meta.len() > max_bytes {
        return Err(too_large());
    }
    let mut buf = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if buf.len() as u64 > max_bytes {
        return Err(too_large());
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).expect("stat").mode() & 0o777
    }

    fn mkfifo(p: &Path) {
        rustix::fs::mknodat(
            rustix::fs::CWD,
            p,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .expect("mkfifo");
    }

    #[test]
    fn files_are_created_0600_and_appended_to() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a.log");
        open_private_append(&p)
            .expect("open")
            .write_all(b"one\n")
            .expect("write");
        open_private_append(&p)
            .expect("reopen")
            .write_all(b"two\n")
            .expect("write");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "one\ntwo\n");
        assert_eq!(mode(&p), 0o600);
        let l = dir.path().join("x.lock");
        open_private_rw(&l).expect("rw");
        assert_eq!(mode(&l), 0o600);
    }

    #[test]
    fn an_existing_wide_open_file_is_narrowed_to_0600() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a.log");
        std::fs::write(&p, "old\n").expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        open_private_append(&p).expect("open");
        assert_eq!(mode(&p), 0o600);
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "old\n");
    }

    #[test]
    fn a_planted_symlink_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("victim");
        std::fs::write(&target, "precious").expect("write");
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let link = dir.path().join("daemon.log");
        symlink(&target, &link).expect("symlink");
        let e = open_private_append(&link).expect_err("refused");
        assert!(matches!(e, SafeFsError::Symlink { .. }), "{e:?}");
        assert!(e.to_string().contains("symbolic link"), "{e}");
        let e = open_private_rw(&link).expect_err("refused");
        assert!(matches!(e, SafeFsError::Symlink { .. }), "{e:?}");
        let e = open_private_read(&link).expect_err("refused");
        assert!(matches!(e, SafeFsError::Symlink { .. }), "{e:?}");
        let io: io::Error = e.into();
        assert!(io.to_string().contains("symbolic link"), "{io}");
        // A dangling link is refused too, and nothing is created at its target.
        let dangling = dir.path().join("apply.lock");
        let nowhere = dir.path().join("nowhere");
        symlink(&nowhere, &dangling).expect("symlink");
        assert!(matches!(
            open_private_rw(&dangling),
            Err(SafeFsError::Symlink { .. })
        ));
        assert!(!nowhere.exists());
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "precious");
        assert_eq!(mode(&target), 0o644);
    }

    #[test]
    fn a_fifo_or_directory_is_not_opened_as_a_file_and_nothing_blocks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        let e = open_private_append(&fifo).expect_err("refused");
        assert!(
            matches!(e, SafeFsError::NotRegular { found: "FIFO", .. }),
            "{e:?}"
        );
        let e = open_private_rw(&fifo).expect_err("refused");
        assert!(
            matches!(e, SafeFsError::NotRegular { found: "FIFO", .. }),
            "{e:?}"
        );
        let e = open_private_rw(dir.path()).expect_err("refused");
        assert!(
            matches!(e, SafeFsError::Io(_) | SafeFsError::NotRegular { .. }),
            "{e:?}"
        );
    }

    #[test]
    fn directories_are_created_0700() {
        let dir = tempfile::tempdir().expect("tempdir");
        let deep = dir.path().join("a/b/c");
        create_private_dir_in(dir.path(), &deep).expect("create");
        for p in ["a", "a/b", "a/b/c"] {
            assert_eq!(mode(&dir.path().join(p)), 0o700, "{p}");
        }
        // Again: existing, fine.
        create_private_dir_all(&deep).expect("again");
    }

    #[test]
    fn a_world_writable_directory_on_the_chain_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        std::fs::create_dir(&home).expect("mkdir");
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let e = create_private_dir_in(&home, &home.join("lab/state")).expect_err("refused");
        match &e {
            SafeFsError::Writable { path, mode } => {
                assert_eq!(path, &home);
                assert_eq!(*mode & 0o777, 0o777);
            }
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().contains("chmod go-w"), "{e}");
        // The leaf itself is checked too.
        let leaf = dir.path().join("leaf");
        std::fs::create_dir(&leaf).expect("mkdir");
        std::fs::set_permissions(&leaf, std::fs::Permissions::from_mode(0o757)).expect("chmod");
        assert!(matches!(
            create_private_dir_all(&leaf),
            Err(SafeFsError::Writable { .. })
        ));
    }

    #[test]
    fn a_foreign_owned_directory_or_file_is_refused() {
        // Seen as another user would see our files: they are foreign to it.
        let me = euid();
        let other = me.wrapping_add(4242);
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        let e = create_dir_checked(&home, &home.join("lab"), other).expect_err("refused");
        assert!(
            matches!(&e, SafeFsError::ForeignOwner { path, owner, euid: seen_as }
                if path == &home && *owner == me && *seen_as == other),
            "{e:?}"
        );
        assert!(e.to_string().contains("belongs to user id"), "{e}");
        let f = dir.path().join("daemon.lock");
        std::fs::write(&f, "1").expect("write");
        let e = open_private(&f, OpenOptions::new().read(true).write(true), other)
            .expect_err("refused");
        assert!(matches!(e, SafeFsError::ForeignOwner { .. }), "{e:?}");
    }

    #[test]
    fn atomic_writes_are_private_and_replace_a_link_without_following_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("victim");
        std::fs::write(&target, "precious").expect("write");
        let p = dir.path().join("plan.json");
        symlink(&target, &p).expect("symlink");
        write_private_atomic(&p, b"{}").expect("write");
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "precious");
        assert!(std::fs::symlink_metadata(&p).expect("stat").is_file());
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "{}");
        assert_eq!(mode(&p), 0o600);
        write_private_atomic(&p, b"[1]").expect("rewrite");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "[1]");
        // No temp files are left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn atomic_creation_never_replaces_anything() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("k");
        assert!(create_private_atomic(&p, b"first").expect("create"));
        assert_eq!(mode(&p), 0o600);
        assert!(!create_private_atomic(&p, b"second").expect("exists"));
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "first");
        let link = dir.path().join("link");
        let nowhere = dir.path().join("nowhere");
        symlink(&nowhere, &link).expect("symlink");
        assert!(!create_private_atomic(&link, b"x").expect("a link is something"));
        assert!(!nowhere.exists());
        let names = std::fs::read_dir(dir.path()).expect("ls").count();
        assert_eq!(names, 2, "no temp files left");
    }

    #[test]
    fn private_reads_do_not_follow_links() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("t");
        std::fs::write(&target, "x").expect("write");
        let link = dir.path().join("l");
        symlink(&target, &link).expect("symlink");
        let e = read_private_bounded(&link, 10).expect_err("refused");
        assert!(
            matches!(
                e,
                ReadError::NotRegular {
                    found: "symbolic link",
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(read_private_bounded(&target, 10).expect("read"), b"x");
    }

    #[test]
    fn bounded_reads_refuse_devices_fifos_directories_and_big_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = read_bounded(Path::new("/dev/zero"), 1024).expect_err("refused");
        assert!(
            matches!(
                e,
                ReadError::NotRegular {
                    found: "character device",
                    ..
                }
            ),
            "{e:?}"
        );
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        let e = read_bounded(&fifo, 1024).expect_err("refused");
        assert!(
            matches!(e, ReadError::NotRegular { found: "FIFO", .. }),
            "{e:?}"
        );
        let e = read_bounded(dir.path(), 1024).expect_err("refused");
        assert!(
            matches!(
                e,
                ReadError::NotRegular {
                    found: "directory",
                    ..
                }
            ),
            "{e:?}"
        );
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; 1025]).expect("write");
        let e = read_bounded(&big, 1024).expect_err("refused");
        assert!(
            matches!(e, ReadError::TooLarge { limit: 1024, .. }),
            "{e:?}"
        );
        assert_eq!(read_bounded(&big, 1025).expect("fits").len(), 1025);
        // Links are followed for reading.
        let link = dir.path().join("link");
        symlink(&big, &link).expect("symlink");
        assert_eq!(read_bounded(&link, 4096).expect("read").len(), 1025);
        assert_eq!(read_prefix(&big, 4).expect("head"), b"xxxx");
        assert!(matches!(
            read_prefix(Path::new("/dev/zero"), 4),
            Err(ReadError::NotRegular { .. })
        ));
        let e = read_bounded(&dir.path().join("missing"), 10).expect_err("missing");
        assert!(e.is_not_found(), "{e:?}");
    }
}
