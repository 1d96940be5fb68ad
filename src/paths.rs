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

    /// The file that records which project file owns these directories
    /// (its canonical path).
    pub fn owner_file(&self) -> PathBuf {
        self.state.join("owner")
    }

    /// Make sure `file` (a project file) owns this project: two files whose
    /// projects have the same name (two `app/` directories, or one `name:`
    /// written twice) would otherwise share one daemon and one state, and
    /// `up` in one would stop the other's services.
    ///
    /// The first file to [claim](Self::check_owner) a project records its
    /// canonical path in [`owner_file`](Self::owner_file); any other file
    /// is refused with [`OwnerError::Taken`]. With `claim == false`
    /// (read-only commands) nothing is created or written: an unclaimed
    /// project is fine, a claimed one must be claimed by `file`.
    pub fn check_owner(&self, file: &Path, claim: bool) -> Result<(), OwnerError> {
        let file = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
        let record = self.owner_file();
        let io = |source: io::Error| OwnerError::Io {
            project: self.project.clone(),
            path: record.clone(),
            source,
        };
        loop {
            match safefs::read_private_bounded(&record, MAX_OWNER_BYTES) {
                Ok(bytes) => {
                    use std::os::unix::ffi::OsStrExt;
                    let owner = PathBuf::from(std::ffi::OsStr::from_bytes(
                        bytes.strip_suffix(b"\n").unwrap_or(&bytes),
                    ));
                    if owner == file {
                        return Ok(());
                    }
                    return Err(OwnerError::Taken {
                        project: self.project.clone(),
                        gone: !owner.exists(),
                        owner,
                        file,
                        record,
                    });
                }
                Err(e) if e.is_not_found() => {
                    if !claim {
                        return Ok(());
                    }
                    self.create().map_err(io)?;
                    use std::os::unix::ffi::OsStrExt;
                    let mut bytes = file.as_os_str().as_bytes().to_vec();
                    bytes.push(b'\n');
                    // Another process may claim it at the same moment:
                    // then read what won and compare again.
                    if safefs::create_private_atomic(&record, &bytes).map_err(|e| io(e.into()))? {
                        return Ok(());
                    }
                }
                Err(e) => return Err(io(io::Error::other(e))),
            }
        }
    }
}

/// The longest owner record read (a path).
const MAX_OWNER_BYTES: u64 = 64 * 1024;

/// A project file may not use these directories.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OwnerError {
    /// Another file owns the project name.
    #[error(
        "project `{project}` belongs to {}{}; set `name:` in {} to another name{}",
        owner.display(),
        if *gone { " (which no longer exists)" } else { "" },
        file.display(),
        if *gone {
            format!(", or, if that project moved here, delete {} so that this file takes it over", record.display())
        } else {
            String::new()
        }
    )]
    Taken {
        /// The project name.
        project: String,
        /// The file that owns it (canonical path).
        owner: PathBuf,
        /// The file that asked (canonical path).
        file: PathBuf,
        /// Where the owner is recorded.
        record: PathBuf,
        /// Whether the owner file no longer exists.
        gone: bool,
    },
    /// The record could not be read or written.
    #[error("cannot check which file owns project `{project}` ({})", path.display())]
    Io {
        /// The project name.
        project: String,
        /// The owner record.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
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

    #[test]
    fn a_second_file_with_the_same_project_name_is_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let home = tmp.path().join("home");
        let file = |dir: &str| {
            let d = tmp.path().join(dir).join("app");
            std::fs::create_dir_all(&d).expect("mkdir");
            let f = d.join("facerunner.yaml");
            std::fs::write(&f, "version: 1\n").expect("write");
            f
        };
        let (a, b) = (file("a"), file("b"));
        let d = ProjectDirs::under(&home, "app");

        d.check_owner(&b, false)
            .expect("unclaimed: read-only use is fine");
        assert!(!d.owner_file().exists(), "a read-only check writes nothing");
        d.check_owner(&a, true).expect("first claim");
        d.check_owner(&a, true).expect("same file again");
        d.check_owner(&a, false).expect("same file, read-only");

        for claim in [true, false] {
            let e = d.check_owner(&b, claim).expect_err("another file");
            let msg = e.to_string();
            assert!(
                msg.contains(&format!(
                    "project `app` belongs to {}",
                    std::fs::canonicalize(&a).expect("canon").display()
                )),
                "{msg}"
            );
            assert!(msg.contains("set `name:` in"), "{msg}");
            assert!(msg.contains(&b.display().to_string()), "{msg}");
        }

        // The owner went away: the message says how to take it over.
        std::fs::remove_file(&a).expect("rm");
        let msg = d
            .check_owner(&b, true)
            .expect_err("still taken")
            .to_string();
        assert!(msg.contains("no longer exists"), "{msg}");
        assert!(msg.contains(&d.owner_file().display().to_string()), "{msg}");
    }

    #[test]
    fn a_planted_link_at_the_owner_record_is_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let d = ProjectDirs::under(&tmp.path().join("home"), "app");
        d.create().expect("create");
        let f = tmp.path().join("facerunner.yaml");
        std::fs::write(&f, "version: 1\n").expect("write");
        std::os::unix::fs::symlink(&f, d.owner_file()).expect("plant");
        let e = d.check_owner(&f, true).expect_err("a link is not a record");
        assert!(matches!(e, OwnerError::Io { .. }), "{e:?}");
    }
}
