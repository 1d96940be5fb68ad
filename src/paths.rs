//! Where FaceRunner keeps its files, per project.
//!
//! `FACERUNNER_HOME=DIR` puts everything (state, logs, data, secrets, the
//! daemon's socket) under `DIR/<project>/`; tests and CI always set it so no
//! run touches a person's real directories. Without it the XDG base
//! directories are used (on Linux and macOS alike, the CLI convention):
//! state and logs under `$XDG_STATE_HOME/facerunner/<project>`, data and
//! secrets under `$XDG_DATA_HOME/facerunner/<project>`, the socket under
//! `$XDG_RUNTIME_DIR/facerunner/<project>` (or the state dir when there is no
//! runtime dir).

use std::io;
use std::path::{Path, PathBuf};

use etcetera::BaseStrategy;

use crate::safefs;

/// The directories of one project. Nothing is created until [`ProjectDirs::create`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectDirs {
    /// Project name (the file's `name:`, else its directory's name).
    pub project: String,
    /// State file, locks, the daemon's own log.
    pub state: PathBuf,
    /// One log file per service (rotated).
    pub logs: PathBuf,
    /// Data of built-in services (Open WebUI's `DATA_DIR`, ...).
    pub data: PathBuf,
    /// Generated secrets, each a 0600 file.
    pub secrets: PathBuf,
    /// The daemon's Unix socket and pid file.
    pub runtime: PathBuf,
    /// The directories FaceRunner owns entirely (`FACERUNNER_HOME`, or each
    /// XDG base's `facerunner` folder): from one of them down to each
    /// directory above, every directory must be ours and not writable by
    /// others, or [`ProjectDirs::create`] refuses.
    pub roots: Vec<PathBuf>,
}

impl ProjectDirs {
    /// The directories for `project`, from `FACERUNNER_HOME` or XDG.
    pub fn for_project(project: &str) -> io::Result<ProjectDirs> {
        if let Some(home) = std::env::var_os("FACERUNNER_HOME").filter(|h| !h.is_empty()) {
            return Ok(Self::under(&PathBuf::from(home), project));
        }
        let xdg = etcetera::choose_base_strategy().map_err(|e| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("cannot find a home directory ({e}); set FACERUNNER_HOME to a directory for FaceRunner's files"),
            )
        })?;
        let state = xdg
            .state_dir()
            .unwrap_or_else(|| xdg.data_dir())
            .join("facerunner")
            .join(project);
        let data = xdg.data_dir().join("facerunner").join(project);
        let runtime = xdg
            .runtime_dir()
            .map(|r| r.join("facerunner").join(project))
            .unwrap_or_else(|| state.join("run"));
        let roots = [&state, &data, &runtime]
            .into_iter()
            .filter_map(|d| d.parent().map(Path::to_path_buf))
            .collect();
        Ok(ProjectDirs {
            roots,
            project: project.to_string(),
            logs: state.join("logs"),
            secrets: data.join("secrets"),
            state,
            data,
            runtime,
        })
    }

    /// All directories under one root (what `FACERUNNER_HOME` selects).
    pub fn under(root: &Path, project: &str) -> ProjectDirs {
        let base = root.join(project);
        ProjectDirs {
            project: project.to_string(),
            state: base.join("state"),
            logs: base.join("logs"),
            data: base.join("data"),
            secrets: base.join("secrets"),
            runtime: base.join("run"),
            roots: vec![root.to_path_buf()],
        }
    }

    /// Create every directory (0700), refusing any on the way from a root
    /// that another user owns or may write to (a planted `FACERUNNER_HOME`,
    /// a world-writable runtime dir); secrets and runtime are narrowed to
    /// 0700 when they exist from before.
    pub fn create(&self) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        for dir in [
            &self.state,
            &self.logs,
            &self.data,
            &self.secrets,
            &self.runtime,
        ] {
            let root = self
                .roots
                .iter()
                .filter(|r| dir.starts_with(r))
                .max_by_key(|r| r.as_os_str().len());
            match root {
                Some(root) => safefs::create_private_dir_in(root, dir)?,
                None => safefs::create_private_dir_all(dir)?,
            }
        }
        for private in [&self.secrets, &self.runtime] {
            std::fs::set_permissions(private, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }

    /// The daemon's Unix socket.
    pub fn socket(&self) -> PathBuf {
        self.runtime.join("daemon.sock")
    }

    /// The current log file of `service` (rotated ones add `.1`, `.2`, ...).
    pub fn log_file(&self, service: &str) -> PathBuf {
        self.logs.join(format!("{service}.log"))
    }

    /// The daemon's lock file (holds its pid while it runs).
    pub fn lock_file(&self) -> PathBuf {
        self.state.join("daemon.lock")
    }

    /// The daemon's own log.
    pub fn daemon_log(&self) -> PathBuf {
        self.state.join("daemon.log")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_lives_under_the_root() {
        let d = ProjectDirs::under(Path::new("/tmp/fr"), "lab");
        for p in [&d.state, &d.logs, &d.data, &d.secrets, &d.runtime] {
            assert!(p.starts_with("/tmp/fr/lab"), "{p:?}");
        }
        assert_eq!(d.socket(), Path::new("/tmp/fr/lab/run/daemon.sock"));
    }

    #[test]
    fn directories_are_private_and_a_world_writable_home_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tempdir");
        let home = tmp.path().join("home");
        let d = ProjectDirs::under(&home, "lab");
        d.create().expect("create");
        for p in [&home, &d.state, &d.logs, &d.data, &d.secrets, &d.runtime] {
            let mode = std::fs::metadata(p).expect("stat").permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "{p:?}");
        }
        d.create().expect("again");

        let open = tmp.path().join("open");
        std::fs::create_dir(&open).expect("mkdir");
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let e = ProjectDirs::under(&open, "lab")
            .create()
            .expect_err("refused");
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        let msg = e.to_string();
        assert!(msg.contains(&open.display().to_string()), "{msg}");
        assert!(msg.contains("writable by other users"), "{msg}");
        assert!(!open.join("lab").exists(), "nothing created under it");
    }
}
