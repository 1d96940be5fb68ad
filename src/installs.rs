//! Where `facerunner setup` puts the programs it installs, and which one a
//! service uses.
//!
//! Installed programs are shared by every project of the user: under
//! `$FACERUNNER_HOME/_tools/` (tests, CI), else
//! `$XDG_DATA_HOME/facerunner/_tools/` (`_` cannot start a project name, so
//! no project's directories collide with it). Each program has one
//! directory per version and a `current` file naming the version in use:
//!
//! ```text
//! _tools/ollama/0.13.5/bin/ollama        (the release archive, unpacked)
//! _tools/ollama/current                  ("0.13.5\n")
//! _tools/open-webui/0.12.4/bin/open-webui (a virtual environment)
//! _tools/open-webui/current
//! ```
//!
//! Resolution reads `current` (a few bytes, no network), so the plan for a
//! file is the same every time on one machine: a service without `binary:`
//! runs the program found on `PATH`, else the installed one, else the bare
//! name (which fails to start, saying to run `facerunner setup`).

use std::path::{Path, PathBuf};

use etcetera::BaseStrategy;

use crate::safefs;

/// A program `facerunner setup` can install.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// `ollama` from its release archive.
    Ollama,
    /// `open-webui` in a virtual environment.
    OpenWebui,
}

impl Tool {
    /// The program's name (on `PATH`, and its directory under `_tools`).
    pub fn name(self) -> &'static str {
        match self {
            Tool::Ollama => "ollama",
            Tool::OpenWebui => "open-webui",
        }
    }
}

/// One installed version of a tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// The version (a directory name).
    pub version: String,
    /// Its directory.
    pub dir: PathBuf,
    /// The program (`<dir>/bin/<name>`).
    pub exe: PathBuf,
}

/// The directory holding every installed tool.
pub fn root() -> std::io::Result<PathBuf> {
    if let Some(home) = std::env::var_os("FACERUNNER_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(home).join("_tools"));
    }
    let xdg = etcetera::choose_base_strategy().map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("cannot find a home directory ({e}); set FACERUNNER_HOME to a directory for FaceRunner's files"),
        )
    })?;
    Ok(xdg.data_dir().join("facerunner").join("_tools"))
}

/// The directory of `tool` under [`root`].
pub fn tool_dir(tool: Tool) -> std::io::Result<PathBuf> {
    Ok(root()?.join(tool.name()))
}

/// Whether `v` can be a version directory's name: `[A-Za-z0-9._+-]`, at
/// most 64 characters, not starting with `.` (no `..`, no `/`, no hidden
/// temp directory).
pub fn valid_version(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 64
        && !v.starts_with('.')
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))
}

/// The version of `tool` in use (its `current` file), when it is installed.
/// A missing, unreadable or malformed record, or a missing program, is
/// "not installed".
pub fn installed(tool: Tool) -> Option<Installed> {
    installed_in(&tool_dir(tool).ok()?, tool)
}

/// [`installed`] under a given tool directory.
pub fn installed_in(dir: &Path, tool: Tool) -> Option<Installed> {
    let bytes = safefs::read_private_bounded(&dir.join("current"), 256).ok()?;
    let version = String::from_utf8(bytes).ok()?.trim().to_string();
    if !valid_version(&version) {
        return None;
    }
    let vdir = dir.join(&version);
    let exe = vdir.join("bin").join(tool.name());
    is_executable(&exe).then_some(Installed {
        version,
        dir: vdir,
        exe,
    })
}

/// `name` found in a directory of `PATH`, as an executable file.
pub fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .filter(|d| d.is_absolute())
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The program a service of `tool` runs when the file gives no `binary:`:
/// the bare name when it is on `PATH` (as before setup existed), else the
/// installed version's absolute path, else the bare name.
pub fn default_binary(tool: Tool) -> String {
    if on_path(tool.name()).is_some() {
        return tool.name().to_string();
    }
    match installed(tool) {
        Some(i) => i.exe.display().to_string(),
        None => tool.name().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_cannot_leave_their_directory() {
        for ok in ["0.13.5", "v0.1.2-rc1", "sha-0123abcd", "1+local"] {
            assert!(valid_version(ok), "{ok}");
        }
        for bad in ["", ".", "..", "../x", "a/b", ".tmp", "a b", &"9".repeat(65)] {
            assert!(!valid_version(bad), "{bad}");
        }
    }

    #[test]
    fn the_current_record_selects_the_installed_program() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("ollama");
        assert_eq!(installed_in(&dir, Tool::Ollama), None, "nothing yet");
        let bin = dir.join("1.0").join("bin");
        std::fs::create_dir_all(&bin).expect("mkdir");
        let exe = bin.join("ollama");
        std::fs::write(&exe, "#!/bin/sh\n").expect("write");
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        safefs::write_private_atomic(&dir.join("current"), b"1.0\n").expect("record");
        let i = installed_in(&dir, Tool::Ollama).expect("installed");
        assert_eq!((i.version.as_str(), i.exe), ("1.0", exe));

        // A record naming a path outside, or a version without its program.
        safefs::write_private_atomic(&dir.join("current"), b"../../etc\n").expect("record");
        assert_eq!(installed_in(&dir, Tool::Ollama), None);
        safefs::write_private_atomic(&dir.join("current"), b"2.0\n").expect("record");
        assert_eq!(installed_in(&dir, Tool::Ollama), None);
    }
}
