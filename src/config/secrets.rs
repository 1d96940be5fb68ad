//! Generated secrets (Open WebUI's `WEBUI_SECRET_KEY`, ...).
//!
//! Each is 32 bytes from the OS CSPRNG, hex-encoded (64 characters), kept in
//! the project's secrets directory as a 0600 file and read back on every
//! later start. Secrets never enter a spec hash: they are redacted first, so
//! creating one does not make a service look changed.
//!
//! A secret is never a constant. [`ensure`] (used when about to run) returns
//! only a well-formed secret read from, or just written to, the file: a
//! missing file is created atomically (the complete file appears at once;
//! when two create it concurrently, the first wins); a file that is empty,
//! short, not hex, not a regular file, a symbolic link or unreadable is
//! replaced atomically (temp file, fsync, rename) with a warning. Only
//! [`peek`] (`plan`, `config`) may answer [`Secret::NotYet`], shown as
//! [`NOT_YET`].

use std::path::{Path, PathBuf};

use crate::safefs::{self, ReadError, SafeFsError};

/// What the spec holds when the secret is not created yet (`plan`, `config`).
pub const NOT_YET: &str = "<generated at first start>";

/// Length of a secret in hex characters.
const LEN: usize = 64;

/// A secret as `plan` and `config` see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    /// A well-formed secret on disk.
    Value(String),
    /// None yet (or one that the next start replaces).
    NotYet,
}

impl Secret {
    /// The value, or [`NOT_YET`] to show in its place.
    pub fn shown(&self) -> &str {
        match self {
            Secret::Value(v) => v,
            Secret::NotYet => NOT_YET,
        }
    }
}

/// A secret that could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The secrets directory or file could not be written.
    #[error("cannot write the secret {}", path.display())]
    Write {
        /// The secret's file.
        path: PathBuf,
        /// Why.
        #[source]
        source: SafeFsError,
    },
    /// The OS random source failed.
    #[error("cannot generate the secret {}: the OS random source failed", path.display())]
    Random {
        /// The secret's file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file kept changing under us (another process rewriting it).
    #[error(
        "the secret {} kept changing while it was written; is another FaceRunner \
         writing it? Run again",
        path.display()
    )]
    Unstable {
        /// The secret's file.
        path: PathBuf,
    },
}

/// What is on disk at a secret's path.
enum OnDisk {
    Valid(String),
    Missing,
    /// Present but unusable, and why (never the content).
    Invalid(String),
}

fn inspect(path: &Path) -> OnDisk {
    match safefs::read_private_bounded(path, 4096) {
        Ok(bytes) => match std::str::from_utf8(&bytes).map(str::trim) {
            Ok(s) if s.len() == LEN && s.bytes().all(|b| b.is_ascii_hexdigit()) => {
                OnDisk::Valid(s.to_string())
            }
            Ok("") => OnDisk::Invalid("it is empty".into()),
            _ => OnDisk::Invalid(format!("it is not {LEN} hexadecimal characters")),
        },
        Err(e) if e.is_not_found() => OnDisk::Missing,
        Err(ReadError::NotRegular { found, .. }) => {
            OnDisk::Invalid(format!("it is a {found}, not a regular file"))
        }
        Err(e) => OnDisk::Invalid(format!("it cannot be read ({})", chain(&e))),
    }
}

use crate::style::with_causes as chain;

/// The secret `name` in `dir` if a well-formed one exists; never writes.
pub fn peek(dir: &Path, name: &str) -> Secret {
    match inspect(&dir.join(name)) {
        OnDisk::Valid(v) => Secret::Value(v),
        OnDisk::Missing | OnDisk::Invalid(_) => Secret::NotYet,
    }
}

/// The secret `name` in `dir`, created or replaced as needed (see the
/// module docs). The answer is always 64 hex characters that are on disk.
pub fn ensure(dir: &Path, name: &str) -> Result<String, SecretError> {
    let path = dir.join(name);
    let write = |source| SecretError::Write {
        path: path.clone(),
        source,
    };
    safefs::create_private_dir_all(dir).map_err(write)?;
    for _ in 0..4 {
        match inspect(&path) {
            OnDisk::Valid(v) => return Ok(v),
            OnDisk::Missing => {
                // When another process created it first, theirs wins: look again.
                safefs::create_private_atomic(&path, fresh(&path)?.as_bytes()).map_err(write)?;
            }
            OnDisk::Invalid(why) => {
                tracing::warn!(
                    path = %path.display(),
                    "the secret is unusable ({why}); replacing it with a new one"
                );
                safefs::write_private_atomic(&path, fresh(&path)?.as_bytes()).map_err(write)?;
            }
        }
    }
    Err(SecretError::Unstable { path })
}

/// 32 fresh random bytes, hex-encoded.
fn fresh(path: &Path) -> Result<String, SecretError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| SecretError::Random {
        path: path.to_path_buf(),
        source: e.raw_os_error().map_or_else(
            || std::io::Error::other(e.to_string()),
            std::io::Error::from_raw_os_error,
        ),
    })?;
    Ok(hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};

    fn is_secret(s: &str) -> bool {
        s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) && s != NOT_YET
    }

    #[test]
    fn created_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(peek(dir.path(), "k"), Secret::NotYet);
        assert_eq!(peek(dir.path(), "k").shown(), NOT_YET);
        assert!(!dir.path().join("k").exists(), "peek never writes");
        let a = ensure(dir.path(), "k").unwrap();
        assert!(is_secret(&a), "{a}");
        assert_eq!(ensure(dir.path(), "k").unwrap(), a);
        assert_eq!(peek(dir.path(), "k"), Secret::Value(a.clone()));
        let mode = std::fs::metadata(dir.path().join("k"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(dir.path().join("k")).unwrap(), a);
    }

    #[test]
    fn an_unusable_secret_file_is_replaced_never_the_placeholder() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "not yours").unwrap();
        type Plant = Box<dyn Fn(&Path)>;
        let cases: Vec<(&str, Plant)> = vec![
            ("empty", Box::new(|p| std::fs::write(p, "").unwrap())),
            ("blank", Box::new(|p| std::fs::write(p, " \n").unwrap())),
            ("short", Box::new(|p| std::fs::write(p, "abc123").unwrap())),
            (
                "placeholder",
                Box::new(|p| std::fs::write(p, NOT_YET).unwrap()),
            ),
            (
                "not hex",
                Box::new(|p| std::fs::write(p, "z".repeat(64)).unwrap()),
            ),
            (
                "dangling link",
                Box::new(|p| symlink(p.with_extension("nowhere"), p).unwrap()),
            ),
            (
                "link to a file",
                Box::new({
                    let victim = victim.clone();
                    move |p| symlink(&victim, p).unwrap()
                }),
            ),
            ("directory", Box::new(|p| std::fs::create_dir(p).unwrap())),
        ];
        for (i, (what, plant)) in cases.iter().enumerate() {
            let name = format!("k{i}");
            let path = dir.path().join(&name);
            plant(&path);
            assert_eq!(peek(dir.path(), &name), Secret::NotYet, "{what}");
            let result = ensure(dir.path(), &name);
            if *what == "directory" {
                // rename cannot replace a directory with a file: a clear error.
                let e = result.expect_err(what);
                assert!(e.to_string().contains(&name), "{e}");
                continue;
            }
            let v = result.unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(is_secret(&v), "{what}: {v}");
            let meta = std::fs::symlink_metadata(&path).unwrap();
            assert!(meta.is_file(), "{what}: replaced by a regular file");
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{what}");
            assert_eq!(std::fs::read_to_string(&path).unwrap(), v, "{what}");
            assert_eq!(ensure(dir.path(), &name).unwrap(), v, "{what}: stable");
        }
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "not yours");
        assert!(!dir.path().join("k5.nowhere").exists());
    }

    #[test]
    fn an_existing_good_secret_is_kept_even_with_a_newline() {
        let dir = tempfile::tempdir().unwrap();
        let good = "ab".repeat(32);
        std::fs::write(dir.path().join("k"), format!("{good}\n")).unwrap();
        assert_eq!(ensure(dir.path(), "k").unwrap(), good);
        assert_eq!(peek(dir.path(), "k"), Secret::Value(good));
    }
}
