//! Typed errors of the supervisor library. The CLI turns them into miette
//! reports with help; on the wire they travel as [`crate::model::wire::WireError`].

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong between a client and the daemon, or inside it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SupervisorError {
    /// A file operation failed; says which path and what we were doing.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What we were doing ("open", "bind socket", ...).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Another daemon holds the project's lock.
    #[error("a daemon is already running for project {project} (pid {pid})")]
    AlreadyRunning {
        /// Project name.
        project: String,
        /// Pid written in the lock file, `?` when unreadable.
        pid: String,
    },
    /// The daemon or client speaks another protocol version.
    #[error(
        "protocol mismatch: this facerunner speaks version {ours}, the daemon version {theirs}"
    )]
    ProtocolMismatch {
        /// Our version.
        ours: u32,
        /// The peer's version.
        theirs: u32,
    },
    /// A frame was malformed, too large, or the peer went away mid-frame.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The connection failed.
    #[error("connection to the daemon failed")]
    Connection(#[source] io::Error),
    /// The daemon did not come up.
    #[error("the daemon did not start within {secs}s; see {}", log.display())]
    DaemonStart {
        /// How long we waited.
        secs: u64,
        /// Its log file.
        log: PathBuf,
    },
    /// The socket's path does not fit in a Unix socket address.
    #[error(
        "the daemon's socket path {} is {len} bytes long; a Unix socket path may have at most {max}",
        path.display()
    )]
    SocketPathTooLong {
        /// The socket.
        path: PathBuf,
        /// Its length in bytes.
        len: usize,
        /// The most the OS allows.
        max: usize,
    },
    /// The daemon answered with an error.
    #[error("{0}")]
    Remote(crate::model::wire::WireError),
    /// Spawning a service failed.
    #[error("cannot spawn {service}: {message}")]
    Spawn {
        /// Service name.
        service: String,
        /// What failed.
        message: String,
    },
}

impl SupervisorError {
    /// What to do about a local problem with the daemon, when there is
    /// something to say (the CLI's reports and the plan's checks say the
    /// same).
    pub fn help(&self) -> Option<&'static str> {
        match self {
            SupervisorError::ProtocolMismatch { .. } => Some(
                "a daemon from another facerunner version is running; stop it (its pid is in the project's state/daemon.lock) and retry",
            ),
            SupervisorError::SocketPathTooLong { .. } => Some(
                "set FACERUNNER_HOME (or XDG_RUNTIME_DIR) to a shorter directory, e.g. FACERUNNER_HOME=~/.facerunner",
            ),
            _ => None,
        }
    }

    /// Shorthand for [`SupervisorError::Io`].
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        SupervisorError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Result alias.
pub type Result<T, E = SupervisorError> = std::result::Result<T, E>;
