//! The client side of the daemon's socket: connect (starting the daemon
//! when needed), handshake, one request, its responses.
//!
//! The CLI commands are thin wrappers around this; tests use it directly.

pub mod error;
pub mod protocol;

pub use error::SupervisorError;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::net::UnixStream;

use crate::client::protocol::{Hello, HelloReply, PROTOCOL_VERSION, read_frame, write_frame};
use crate::model::wire::{Event, Request, Response};
use crate::paths::ProjectDirs;
use error::Result;

/// How long `ensure_daemon` waits for a new daemon's socket.
const DAEMON_START: Duration = Duration::from_secs(20);

/// A connection that passed the handshake.
#[derive(Debug)]
pub struct Client {
    stream: UnixStream,
    daemon_pid: u32,
    daemon_version: String,
}

impl Client {
    /// Connect to the daemon at `socket`; `Ok(None)` when none runs there.
    pub async fn connect(socket: &Path) -> Result<Option<Client>> {
        check_socket_path(socket)?;
        let mut stream = match UnixStream::connect(socket).await {
            Ok(s) => s,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(SupervisorError::Connection(e)),
        };
        write_frame(&mut stream, &Hello::ours()).await?;
        let reply = tokio::time::timeout(
            Duration::from_secs(10),
            read_frame::<_, HelloReply>(&mut stream),
        )
        .await
        .map_err(|_| {
            SupervisorError::Protocol("the daemon did not answer the handshake".into())
        })??;
        match reply {
            Some(HelloReply::Welcome { pid, version, .. }) => Ok(Some(Client {
                stream,
                daemon_pid: pid,
                daemon_version: version,
            })),
            Some(HelloReply::Refused { protocol, .. }) => Err(SupervisorError::ProtocolMismatch {
                ours: PROTOCOL_VERSION,
                theirs: protocol,
            }),
            None => Err(SupervisorError::Protocol(
                "the daemon closed the connection".into(),
            )),
        }
    }

    /// The daemon's pid.
    pub fn daemon_pid(&self) -> u32 {
        self.daemon_pid
    }

    /// The daemon's FaceRunner version.
    pub fn daemon_version(&self) -> &str {
        &self.daemon_version
    }

    /// Send `request`; events go to `on_event`; returns the final response
    /// (`Response::Error` becomes `Err(Remote)`).
    pub async fn request(
        self,
        request: &Request,
        mut on_event: impl FnMut(&Event),
    ) -> Result<Response> {
        self.request_streaming(request, |response| {
            if let Response::Event(e) = response {
                on_event(e);
            }
        })
        .await
    }

    /// Like [`Client::request`], for requests that stream other kinds of
    /// progress too: every intermediate response (`Event`, `Exec`) goes to
    /// `on_progress`, as it arrives; returns the final one.
    pub async fn request_streaming(
        mut self,
        request: &Request,
        mut on_progress: impl FnMut(&Response),
    ) -> Result<Response> {
        write_frame(&mut self.stream, request).await?;
        loop {
            match read_frame::<_, Response>(&mut self.stream).await? {
                Some(r @ (Response::Event(_) | Response::Exec(_))) => on_progress(&r),
                Some(Response::Error(e)) => return Err(SupervisorError::Remote(e)),
                Some(other) => return Ok(other),
                None => {
                    return Err(SupervisorError::Protocol(
                        "the daemon closed the connection".into(),
                    ));
                }
            }
        }
    }
}

/// The longest path a Unix socket address holds (`sun_path` is 108 bytes
/// on Linux, with the terminating NUL).
pub const MAX_SOCKET_PATH: usize = 107;

/// Refuse a socket path the OS cannot bind or connect to, with its length,
/// before the OS says only "path must be shorter than SUN_LEN".
pub fn check_socket_path(socket: &Path) -> Result<()> {
    let len = socket.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        return Err(SupervisorError::SocketPathTooLong {
            path: socket.to_path_buf(),
            len,
            max: MAX_SOCKET_PATH,
        });
    }
    Ok(())
}

/// Connect to the project's daemon, starting it (detached: `exe daemon
/// --foreground` in a new session, output to the daemon log) if none runs.
/// Two callers racing both start one; the lock lets one win and both
/// connect to it.
pub async fn ensure_daemon(dirs: &ProjectDirs, exe: &Path) -> Result<Client> {
    if let Some(c) = Client::connect(&dirs.socket()).await? {
        return Ok(c);
    }
    dirs.create()
        .map_err(|e| SupervisorError::io("create", &dirs.state, e))?;
    let log_path = dirs.daemon_log();
    // Never through a planted link, never a FIFO: 0600, a file of ours.
    let log = crate::safefs::open_private_append(&log_path)
        .map_err(|e| SupervisorError::io("open", &log_path, e.into()))?;
    let log2 = log
        .try_clone()
        .map_err(|e| SupervisorError::io("open", &log_path, e))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["daemon", "--foreground", "--project", &dirs.project])
        .env_remove("FACERUNNER_FILE")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(crate::sys::process::new_session);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| SupervisorError::io("start", exe, e))?;
    let deadline = Instant::now() + DAEMON_START;
    loop {
        if let Some(c) = Client::connect(&dirs.socket()).await? {
            // Reap the loser of a start race (or the winner, much later) in the background.
            std::thread::spawn(move || child.wait());
            return Ok(c);
        }
        if Instant::now() >= deadline {
            return Err(SupervisorError::DaemonStart {
                secs: DAEMON_START.as_secs(),
                log: log_path,
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Wait until the project's daemon `pid` has exited (its lock is free and
/// the process gone or a zombie), up to `timeout`; returns whether it did.
pub async fn wait_for_exit(dirs: &ProjectDirs, pid: u32, timeout: Duration) -> bool {
    let path = dirs.lock_file();
    let deadline = Instant::now() + timeout;
    loop {
        let free = crate::pidlock::is_free(&path);
        if free && !crate::sys::identity::is_running(pid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_daemon_log_is_never_opened_through_a_planted_link() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dirs = ProjectDirs::under(&tmp.path().join("home"), "lab");
        dirs.create().expect("dirs");
        let victim = tmp.path().join("victim");
        std::fs::write(&victim, "precious").expect("write");
        std::os::unix::fs::symlink(&victim, dirs.daemon_log()).expect("symlink");
        // The log is opened before anything is started, so no daemon runs.
        let Err(e) = ensure_daemon(&dirs, Path::new("/nonexistent/facerunner")).await else {
            panic!("refused");
        };
        let msg = format!("{e}: {}", std::error::Error::source(&e).expect("cause"));
        assert!(msg.contains("symbolic link"), "{msg}");
        assert_eq!(std::fs::read_to_string(&victim).expect("read"), "precious");
    }
}
