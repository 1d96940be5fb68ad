//! The daemon: one long-lived owner per project.
//!
//! Start-up: create the project's directories, take the lock file
//! `state/daemon.lock` with `File::try_lock` (a second daemon fails with the
//! holder's pid, which the lock file contains), log to `state/daemon.log`,
//! remove a stale socket (one nobody answers on) and listen on
//! `run/daemon.sock` with mode 0600 (inside a 0700 directory). Each
//! connection gets its own task: a handshake under a timeout, one request,
//! its responses (a stream of events for `up`-like requests), close.
//!
//! The daemon runs on a *current-thread* runtime: every service is spawned
//! from the main thread, which lives as long as the daemon, so the shims'
//! parent-death signal fires exactly when the daemon dies (the kernel ties
//! PDEATHSIG to the forking thread, not the process). It also keeps the
//! daemon small; nothing it does is CPU-bound.
//!
//! Locking rule: `registry` (std mutex) is held only to read or swap the
//! spec and the service handles — never across an `.await`. `apply`
//! (async mutex) is held for the whole of each request that changes what
//! runs (up, start, stop, restart, down), so those never interleave; status
//! takes neither for long. `apply` holds neither: its engine sends `Up`
//! to this daemon, and applies are serialized by `state/apply.lock`. Per-service state lives in each service's actor
//! and is read through its watch channel.
//!
//! Shutdown: `down`, SIGTERM or SIGINT stop every service in reverse
//! dependency order, remove the socket and exit; the lock goes with the
//! process.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{UnixListener, UnixStream};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use crate::client::error::{Result, SupervisorError};
use crate::client::protocol::{Hello, HelloReply, PROTOCOL_VERSION, read_frame, write_frame};
use crate::model::spec::ProjectSpec;
use crate::model::wire::{Request, Response};
use crate::paths::ProjectDirs;
use crate::pidlock::{Attempt, PidLock};
use crate::supervisor::handler;
use crate::supervisor::metrics::Metrics;
use crate::supervisor::reexec;
use crate::supervisor::service::ServiceHandle;

/// A peer has this long to say hello and send its request.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Shared daemon state; see the module docs for the locking rule.
pub struct Daemon {
    /// The project's directories.
    pub dirs: ProjectDirs,
    /// Our own executable (the shim).
    pub exe: PathBuf,
    /// The project and its service actors.
    pub registry: Mutex<Registry>,
    /// Serializes requests that change what runs.
    pub apply: tokio::sync::Mutex<()>,
    /// Process metrics.
    pub metrics: tokio::sync::Mutex<Metrics>,
    /// The last GPU sample (taken when `status` asks, at most once a second).
    pub gpu_telemetry: tokio::sync::Mutex<crate::supervisor::gpu_telemetry::GpuTelemetry>,
    /// Cancelled to stop the daemon.
    pub shutdown: CancellationToken,
    /// Watch mode's task and last result.
    pub watch: Mutex<crate::supervisor::watching::WatchSlot>,
    /// The lock's and the listener's descriptors (a re-exec passes them on).
    pub fds: crate::supervisor::reexec::DaemonFds,
}

/// What the daemon runs.
#[derive(Default)]
pub struct Registry {
    /// Last spec sent by `up`.
    pub spec: Option<ProjectSpec>,
    /// One actor per service of the spec.
    pub services: BTreeMap<String, ServiceHandle>,
}

impl Daemon {
    /// Watch mode's status, for `status`.
    pub fn watch_status(&self) -> Option<crate::model::wire::WatchStatus> {
        self.watch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .status()
    }

    /// The daemon's own settings in force (for `status`, and so for `plan`).
    pub fn settings(&self) -> crate::model::spec::DaemonSettings {
        self.watch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .settings()
    }

    /// A copy of the spec and handles (see the locking rule).
    pub fn project(&self) -> Option<(ProjectSpec, BTreeMap<String, ServiceHandle>)> {
        let reg = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        reg.spec.clone().map(|s| (s, reg.services.clone()))
    }
}

/// Run the daemon for `dirs` in this process until `down` or a signal.
/// `adopt`: the handover file of the daemon's previous image, which
/// re-executed itself as this one (see `reexec.rs`).
pub fn run(dirs: ProjectDirs, adopt: Option<PathBuf>) -> Result<()> {
    dirs.create()
        .map_err(|e| SupervisorError::io("create", &dirs.state, e))?;
    let fds = reexec::DaemonFds::default();
    let (lock, handover) = match adopt {
        None => (take_lock(&dirs)?, None),
        Some(path) => {
            // The services are our children: without the handover they
            // cannot be supervised, and exiting stops them (their shims'
            // parent-death signal) — the best left to do.
            let handover = reexec::read(&path)
                .and_then(|h| reexec::take_daemon_fds(&h).map(|fds| (h, fds)))
                .map_err(|why| SupervisorError::io("adopt", &path, std::io::Error::other(why)))?;
            let (handover, inherited) = handover;
            let lock = crate::pidlock::PidLock::inherited(
                std::fs::File::from(inherited.lock),
                dirs.lock_file(),
            );
            (lock, Some((handover, inherited.listener)))
        }
    };
    let _ = fds.lock.set(lock.as_raw_fd());
    init_logging(&dirs);
    // Shims run the daemon's own image through /proc/self/exe, so an upgrade
    // (or rebuild) of the binary on disk while the daemon runs cannot break
    // spawning or mix versions.
    let exe = crate::sys::process::own_image()
        .map_err(|e| SupervisorError::io("find", "our executable", e))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| SupervisorError::io("start", "the async runtime", e))?;
    let daemon = Arc::new(Daemon {
        dirs,
        exe,
        registry: Mutex::new(Registry::default()),
        apply: tokio::sync::Mutex::new(()),
        metrics: tokio::sync::Mutex::new(Metrics::default()),
        gpu_telemetry: tokio::sync::Mutex::new(Default::default()),
        shutdown: CancellationToken::new(),
        watch: Mutex::new(Default::default()),
        fds,
    });
    let _lock = lock;
    rt.block_on(async move {
        let listener = match handover {
            Some((handover, listener)) => {
                tracing::info!(
                    pid = std::process::id(),
                    from = %handover.from,
                    services = handover.services.len(),
                    "re-executed as {}; adopting the running services",
                    env!("CARGO_PKG_VERSION")
                );
                reexec::adopt(&daemon, handover).await;
                Some(listener)
            }
            None => None,
        };
        serve(daemon, listener).await
    })
}

fn take_lock(dirs: &ProjectDirs) -> Result<PidLock> {
    let path = dirs.lock_file();
    match PidLock::try_acquire(&path).map_err(|e| SupervisorError::io("lock", &path, e))? {
        Attempt::Held(lock) => Ok(lock),
        Attempt::Busy { holder } => Err(SupervisorError::AlreadyRunning {
            project: dirs.project.clone(),
            pid: holder,
        }),
    }
}

/// Log to `state/daemon.log`, rotated like service logs; a write that fails
/// (a full disk) drops the line, counts it for `status` and never panics or
/// blocks supervision (see [`crate::supervisor::logs::RotatingFile`]).
fn init_logging(dirs: &ProjectDirs) {
    let path = dirs.daemon_log();
    // `up` starts the daemon with stdout and stderr on daemon.log: those
    // follow the rotation (a panic message lands in the current log).
    let (stdout, stderr) = (std::io::stdout(), std::io::stderr());
    let log = match crate::supervisor::logs::DaemonLog::open_following(
        &path,
        crate::supervisor::logs::DAEMON_LOG,
        &[stdout.as_fd(), stderr.as_fd()],
    ) {
        Ok(l) => l,
        Err(e) => {
            // No log to write to: say so where the starter can see it.
            eprintln!("facerunner daemon: not logging: {e}");
            return;
        }
    };
    log.register();
    let filter = tracing_subscriber::EnvFilter::try_from_env("FACERUNNER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(log)
        .try_init();
}

async fn serve(
    daemon: Arc<Daemon>,
    inherited: Option<std::os::unix::net::UnixListener>,
) -> Result<()> {
    let socket = daemon.dirs.socket();
    crate::client::check_socket_path(&socket)?;
    let listener = match inherited {
        Some(l) => {
            UnixListener::from_std(l).map_err(|e| SupervisorError::io("listen", &socket, e))?
        }
        None => bind(&socket, &daemon).await?,
    };
    let _ = daemon.fds.listener.set(listener.as_fd().as_raw_fd());
    tracing::info!(pid = std::process::id(), project = %daemon.dirs.project, "daemon listening on {}", socket.display());
    let mut term =
        signal(SignalKind::terminate()).map_err(|e| SupervisorError::io("handle", "SIGTERM", e))?;
    let mut int =
        signal(SignalKind::interrupt()).map_err(|e| SupervisorError::io("handle", "SIGINT", e))?;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(connection(daemon.clone(), stream));
                }
                Err(e) => tracing::warn!("accept failed: {e}"),
            },
            _ = term.recv() => break,
            _ = int.recv() => break,
            () = daemon.shutdown.cancelled() => break,
        }
    }
    tracing::info!("shutting down");
    handler::stop_everything(&daemon).await;
    let _ = std::fs::remove_file(&socket);
    tracing::info!("daemon exited");
    Ok(())
}

/// Bind the socket, removing a stale one (nobody answers on it).
async fn bind(socket: &std::path::Path, daemon: &Daemon) -> Result<UnixListener> {
    if socket.exists() {
        if UnixStream::connect(socket).await.is_ok() {
            return Err(SupervisorError::AlreadyRunning {
                project: daemon.dirs.project.clone(),
                pid: "?".into(),
            });
        }
        std::fs::remove_file(socket)
            .map_err(|e| SupervisorError::io("remove stale socket", socket, e))?;
    }
    let listener =
        UnixListener::bind(socket).map_err(|e| SupervisorError::io("bind", socket, e))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| SupervisorError::io("chmod", socket, e))?;
    Ok(listener)
}

async fn connection(daemon: Arc<Daemon>, mut stream: UnixStream) {
    let hello = tokio::time::timeout(HANDSHAKE_TIMEOUT, read_frame::<_, Hello>(&mut stream)).await;
    let Ok(Ok(Some(hello))) = hello else {
        tracing::debug!("connection closed before a valid hello");
        return;
    };
    let ours = Hello::ours();
    if hello.protocol != PROTOCOL_VERSION {
        tracing::warn!(
            theirs = hello.protocol,
            "refusing a client with another protocol version"
        );
        let reply = HelloReply::Refused {
            protocol: PROTOCOL_VERSION,
            version: ours.version,
        };
        let _ = write_frame(&mut stream, &reply).await;
        return;
    }
    let reply = HelloReply::Welcome {
        protocol: PROTOCOL_VERSION,
        version: ours.version,
        pid: std::process::id(),
    };
    if write_frame(&mut stream, &reply).await.is_err() {
        return;
    }
    let request =
        tokio::time::timeout(HANDSHAKE_TIMEOUT, read_frame::<_, Request>(&mut stream)).await;
    let request = match request {
        Ok(Ok(Some(r))) => r,
        Ok(Err(e)) => {
            tracing::warn!("bad request: {e}");
            return;
        }
        _ => return,
    };
    // Status is polled (the dashboard asks a few times a second): not worth a line each.
    if matches!(request, Request::Status) {
        tracing::debug!("request: {}", request.name());
    } else {
        tracing::info!("request: {}", request.name());
    }
    if let Request::Reexec { exe } = request {
        // Answered on the stream itself, just before the execve.
        reexec::handle(&daemon, exe, &mut stream).await;
        return;
    }
    let is_down = matches!(request, Request::Down);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Response>(64);
    let task = tokio::spawn(handler::dispatch(daemon.clone(), request, tx));
    while let Some(response) = rx.recv().await {
        if write_frame(&mut stream, &response).await.is_err() {
            break; // the client left; the request still completes
        }
    }
    drop(rx);
    if is_down {
        let _ = task.await;
        daemon.shutdown.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_is_private_and_never_taken_through_a_planted_link() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tempdir");
        let dirs = ProjectDirs::under(&tmp.path().join("home"), "lab");
        dirs.create().expect("dirs");
        let victim = tmp.path().join("victim");
        std::fs::write(&victim, "precious").expect("write");
        std::os::unix::fs::symlink(&victim, dirs.lock_file()).expect("symlink");
        let e = take_lock(&dirs).expect_err("refused");
        let msg = format!("{e}: {}", std::error::Error::source(&e).expect("cause"));
        assert!(msg.contains("symbolic link"), "{msg}");
        assert_eq!(std::fs::read_to_string(&victim).expect("read"), "precious");

        std::fs::remove_file(dirs.lock_file()).expect("rm");
        let held = take_lock(&dirs).expect("lock");
        let mode = std::fs::metadata(held.path())
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            std::fs::read_to_string(dirs.lock_file()).expect("read"),
            format!("{}\n", std::process::id())
        );
    }
}
