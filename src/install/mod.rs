//! Installing the programs a project file needs (`facerunner setup`):
//! Ollama from its release archive, Open WebUI into a virtual environment.
//! Where they go and which one a service uses is [`crate::installs`].

pub mod archive;
pub mod ollama;
pub mod open_webui;
pub mod selfupdate;

use std::io;
use std::path::{Path, PathBuf};

/// Progress of a long step (a download), drawn by the caller.
pub trait Progress {
    /// A step begins; `total` bytes when known.
    fn begin(&self, what: &str, total: Option<u64>);
    /// `n` more bytes done.
    fn advance(&self, n: u64);
    /// The step ended.
    fn end(&self);
}

/// No progress shown.
pub struct Quiet;

impl Progress for Quiet {
    fn begin(&self, _: &str, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn end(&self) {}
}

/// Create `dir` (a tool's directory under [`crate::installs::root`]) 0700,
/// checking every directory from FaceRunner's own root down.
pub(crate) fn private_dir(dir: &Path) -> Result<(), crate::safefs::SafeFsError> {
    let root = crate::installs::root()
        .ok()
        .and_then(|r| r.parent().map(Path::to_path_buf))
        .filter(|r| dir.starts_with(r))
        .unwrap_or_else(|| dir.to_path_buf());
    crate::safefs::create_private_dir_in(&root, dir)
}

/// [`private_dir`] for the CLI (the update stamp's directory).
pub fn private_dir_pub(dir: &Path) -> Result<(), crate::safefs::SafeFsError> {
    private_dir(dir)
}

/// A fresh hidden name in `dir` for a temporary file or directory.
pub(crate) fn temp_name(dir: &Path, what: &str) -> io::Result<PathBuf> {
    let mut r = [0u8; 8];
    getrandom::fill(&mut r)
        .map_err(|e| io::Error::other(format!("the OS random source failed: {e}")))?;
    Ok(dir.join(format!(".{what}-{}", hex::encode(r))))
}

/// Record `version` as the one in use (`<dir>/current`, atomically).
pub(crate) fn set_current(dir: &Path, version: &str) -> Result<(), crate::safefs::SafeFsError> {
    crate::safefs::write_private_atomic(&dir.join("current"), format!("{version}\n").as_bytes())
}
