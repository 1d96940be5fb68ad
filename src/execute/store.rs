//! Reading and writing the state file ([`State`]).
//!
//! Writes are atomic (temp file in the same directory, fsync, rename, fsync
//! the directory), so a crash leaves the file as it was before or after a
//! step, never torn. Reads of a missing file give the empty state.

use std::path::{Path, PathBuf};

use crate::model::state::{STATE_FILE, STATE_VERSION, State};

/// A state file that cannot be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Reading or writing failed.
    #[error("cannot {action} the state file {}", path.display())]
    Io {
        /// What we were doing.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a state file this version understands.
    #[error("the state file {} is not valid: {message}", path.display())]
    Invalid {
        /// The path.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// The largest state file read (it lists owned models: kilobytes).
const MAX_STATE_BYTES: u64 = 64 << 20;

/// The path of the state file in `state_dir`.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(STATE_FILE)
}

/// Read the state; a missing file is an empty state (nothing owned).
pub fn load(state_dir: &Path) -> Result<State, StateError> {
    let path = path(state_dir);
    // Bounded, and a FIFO or device planted there is refused, not read.
    let text = match crate::safefs::read_private_bounded(&path, MAX_STATE_BYTES) {
        Ok(t) => t,
        Err(e) if e.is_not_found() => return Ok(State::default()),
        Err(e) => {
            return Err(StateError::Io {
                action: "read",
                path,
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            });
        }
    };
    let state: State = serde_json::from_slice(&text).map_err(|e| StateError::Invalid {
        path: path.clone(),
        message: e.to_string(),
    })?;
    if state.version != STATE_VERSION {
        return Err(StateError::Invalid {
            path,
            message: format!(
                "version {} (this facerunner reads version {STATE_VERSION})",
                state.version
            ),
        });
    }
    Ok(state)
}

/// Write atomically: temp file, fsync, rename, fsync the directory.
pub fn save(state: &State, state_dir: &Path) -> Result<(), StateError> {
    let path = path(state_dir);
    let io = |action: &'static str| {
        let path = path.clone();
        move |source| StateError::Io {
            action,
            path,
            source,
        }
    };
    crate::safefs::create_private_dir_all(state_dir)
        .map_err(|e| io("create the directory of")(e.into()))?;
    let json = serde_json::to_vec_pretty(state).expect("the state always serializes");
    // Temp file O_EXCL|O_NOFOLLOW 0600, fsync, rename, fsync the directory.
    crate::safefs::write_private_atomic(&path, &json).map_err(|e| io("write")(e.into()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::state::{ModelRecord, Origin};

    #[test]
    fn round_trips_and_a_missing_file_is_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(load(dir.path()).expect("empty"), State::default());
        let mut s = State::default();
        s.models.entry("ollama".into()).or_default().insert(
            "registry.ollama.ai/library/llama3.2:1b".into(),
            ModelRecord {
                name: "llama3.2:1b".into(),
                origin: Origin::Pulled,
                create_hash: None,
                definition: None,
                hf_commit: None,
            },
        );
        save(&s, dir.path()).expect("save");
        assert_eq!(load(dir.path()).expect("load"), s);
        let text = std::fs::read_to_string(path(dir.path())).expect("read");
        assert!(text.contains("\"version\": 1"), "{text}");
    }

    #[test]
    fn saving_is_private_and_replaces_a_planted_link_without_following_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").expect("write");
        std::os::unix::fs::symlink(&victim, path(dir.path())).expect("symlink");
        save(&State::default(), dir.path()).expect("save");
        assert_eq!(std::fs::read_to_string(&victim).expect("read"), "precious");
        let meta = std::fs::symlink_metadata(path(dir.path())).expect("stat");
        assert!(meta.is_file());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(load(dir.path()).expect("load"), State::default());
    }

    #[test]
    fn a_world_writable_state_dir_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state");
        std::fs::create_dir(&state).expect("mkdir");
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let e = save(&State::default(), &state).expect_err("refused");
        let cause = std::error::Error::source(&e).expect("cause").to_string();
        assert!(cause.contains("writable by other users"), "{cause}");
        assert!(!path(&state).exists());
    }

    #[test]
    fn a_fifo_as_the_state_file_is_refused_without_blocking() {
        let dir = tempfile::tempdir().expect("tempdir");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            path(dir.path()),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .expect("mkfifo");
        let e = load(dir.path()).expect_err("refused");
        let cause = std::error::Error::source(&e).expect("cause").to_string();
        assert!(cause.contains("FIFO"), "{cause}");
    }

    #[test]
    fn a_state_file_from_before_by_hand_pulls_still_reads_and_the_new_origin_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            path(dir.path()),
            r#"{"version": 1, "models": {"ollama": {"k": {"name": "a:1b", "origin": "pulled"}}}}"#,
        )
        .expect("write");
        let mut s = load(dir.path()).expect("an older file reads");
        let a = &s.models["ollama"]["k"];
        assert_eq!(a.origin, Origin::Pulled);
        assert!(a.prunable());
        s.models.entry("ollama".into()).or_default().insert(
            "h".into(),
            ModelRecord {
                name: "b:1b".into(),
                origin: Origin::PulledByHand,
                create_hash: None,
                definition: None,
                hf_commit: None,
            },
        );
        save(&s, dir.path()).expect("save");
        let text = std::fs::read_to_string(path(dir.path())).expect("read");
        assert!(text.contains("\"pulled_by_hand\""), "{text}");
        let back = load(dir.path()).expect("load");
        assert_eq!(back, s);
        assert!(!back.models["ollama"]["h"].prunable());
    }

    #[test]
    fn another_version_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(path(dir.path()), r#"{"version": 9}"#).expect("write");
        assert!(matches!(load(dir.path()), Err(StateError::Invalid { .. })));
    }
}
