//! Re-executing the daemon in place, keeping its services running.
//!
//! After `facerunner update` replaces the binary, the daemon still runs the
//! old image. [`Request::Reexec`](crate::model::wire::Request::Reexec) makes
//! it `execve` the new one without stopping anything: `execve` keeps the pid,
//! the children (the shims stay our children and their parent-death signal
//! does not fire, since the main thread that forked them execs) and every
//! descriptor without close-on-exec.
//!
//! The old image ([`handle`]):
//! 1. checks the new executable understands a handover of this version
//!    (`EXE daemon --adopt-check`), else refuses, saying why;
//! 2. takes the apply lock for good (no up/stop/apply runs from now on),
//!    and refuses while an apply holds `state/apply.lock`;
//! 3. refuses while a service is starting, stopping or waiting to restart
//!    (its actor holds no settled process to hand over);
//! 4. writes the handover file `run/handover.json` (0600): the spec, and per
//!    running service its shim's pid, the service's identity and
//!    containment, restart count, readiness and our ends of its report and
//!    log pipes; plus the daemon's listening socket and lock file;
//! 5. clears close-on-exec on exactly those descriptors, answers
//!    `Reexecuting`, and execs `EXE <same arguments> --adopt FILE`.
//!
//! If `execve` fails, everything is put back, the reason is written to
//! `run/reexec.failed` for the waiting client, and the daemon goes on.
//!
//! The new image ([`adopt`], called by `daemon::run`) reads and deletes the
//! handover, keeps the lock and the listener (clients that connected during
//! the exec wait in its backlog), and starts each service's actor in
//! `Running` on the inherited shim: it reads the report pipe to its end,
//! reaps the shim with `waitpid`, pumps the log pipes again and probes
//! again. A shim that exited meanwhile is a crash (the restart policy
//! applies); a service whose descriptors cannot be taken back is stopped
//! through its shim and started again.
//!
//! Lost in the handover: log output the old image had read but not yet
//! written as a line (a partial line at the instant of the exec), the
//! `Exited`/`Failed` state of services that were not running (they show
//! as stopped), and the daemon's metrics.

use std::collections::BTreeMap;
use std::os::fd::{OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::net::UnixStream;

use crate::client::protocol::write_frame;
use crate::model::spec::ProjectSpec;
use crate::model::wire::{ErrorKind, Lifecycle, Response, WireError};
use crate::paths::ProjectDirs;
use crate::supervisor::daemon::{Daemon, Registry};
use crate::supervisor::service::{Handed, ServiceHandle};
use crate::sys::inherit;

/// The handover format; `daemon --adopt-check` prints it, and an image
/// that prints another is not execed.
pub const HANDOVER_VERSION: u32 = 1;
/// What `daemon --adopt-check` prints.
pub fn adopt_check_line() -> String {
    format!("facerunner-handover {HANDOVER_VERSION}")
}
/// The largest handover file read.
const HANDOVER_LIMIT: u64 = 16 * 1024 * 1024;
/// How long the new executable may take to answer `--adopt-check`.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the handover is written.
pub fn handover_path(dirs: &ProjectDirs) -> PathBuf {
    dirs.socket().with_file_name("handover.json")
}

/// Where a failed `execve` is reported to the waiting client.
pub fn failed_path(dirs: &ProjectDirs) -> PathBuf {
    dirs.socket().with_file_name("reexec.failed")
}

/// The daemon's own descriptors a re-exec passes on.
#[derive(Debug, Default)]
pub struct DaemonFds {
    /// The lock file `state/daemon.lock`.
    pub lock: OnceLock<RawFd>,
    /// The listening socket.
    pub listener: OnceLock<RawFd>,
}

/// What the old image hands to the new one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handover {
    /// [`HANDOVER_VERSION`].
    pub version: u32,
    /// The daemon's pid (the same after `execve`; another is refused).
    pub pid: u32,
    /// The version of FaceRunner that wrote it.
    pub from: String,
    /// The lock file's descriptor.
    pub lock: RawFd,
    /// The listening socket's descriptor.
    pub listener: RawFd,
    /// The installed spec (none before the first `up`).
    pub spec: Option<ProjectSpec>,
    /// Running services.
    pub services: BTreeMap<String, Handed>,
}

impl Handover {
    /// Every descriptor it names.
    fn fds(&self) -> Vec<RawFd> {
        let mut v = vec![self.lock, self.listener];
        for h in self.services.values() {
            v.extend([h.fds.report, h.fds.out, h.fds.err]);
        }
        v
    }

    /// Refuse a handover that is not ours or names a descriptor twice (each
    /// is taken, and closed, by exactly one owner).
    fn check(&self) -> Result<(), String> {
        if self.version != HANDOVER_VERSION {
            return Err(format!(
                "handover format {} (this FaceRunner reads {HANDOVER_VERSION})",
                self.version
            ));
        }
        if self.pid != std::process::id() {
            return Err(format!(
                "the handover is for pid {}, this is {}",
                self.pid,
                std::process::id()
            ));
        }
        let mut fds = self.fds();
        fds.sort_unstable();
        let n = fds.len();
        fds.dedup();
        if fds.len() != n {
            return Err("the handover names a descriptor twice".into());
        }
        match &self.spec {
            None if !self.services.is_empty() => {
                Err("the handover has services but no project".into())
            }
            Some(spec) => match self.services.keys().find(|n| spec.service(n).is_none()) {
                Some(n) => Err(format!("the handover's service {n} is not in its project")),
                None => Ok(()),
            },
            None => Ok(()),
        }
    }
}

fn refuse(message: impl Into<String>) -> WireError {
    WireError::new(ErrorKind::Internal, message)
}

/// Answer a `Reexec` request on `stream` and, when all is ready, become `exe`.
/// Returns only when the re-exec was refused or `execve` failed.
pub async fn handle(daemon: &Arc<Daemon>, exe: PathBuf, stream: &mut UnixStream) {
    let answer = match prepare(daemon, &exe).await {
        Ok(ready) => ready,
        Err(e) => {
            tracing::warn!("re-exec refused: {}", e.message);
            let _ = write_frame(stream, &Response::Error(e)).await;
            return;
        }
    };
    let Ready {
        guard,
        apply_lock,
        handover,
        path,
    } = answer;
    let services: Vec<String> = handover.services.keys().cloned().collect();
    // No `.await` from the snapshots to the execve: on this current-thread
    // runtime no actor can move (reap a shim, spawn one) in between.
    if !send_now(stream, &Response::Reexecuting { services }) {
        tracing::warn!("could not answer the re-exec request at once; re-executing anyway");
    }
    tracing::info!(
        exe = %exe.display(),
        services = handover.services.len(),
        "re-executing; the services keep running"
    );
    let err = exec(&exe, &path);
    // Still here: execve failed. Put everything back and go on.
    tracing::error!("re-exec as {} failed: {err}", exe.display());
    set_cloexec(&handover.fds());
    // The reason first: a client waiting for the handover to go away must
    // not take its removal for success.
    let why = format!("cannot execute {}: {err}", exe.display());
    let _ = crate::safefs::write_private_atomic(&failed_path(&daemon.dirs), why.as_bytes());
    let _ = std::fs::remove_file(&path);
    drop(apply_lock);
    drop(guard);
}

/// Write `response` as one frame without waiting: the frame is small and
/// the socket's buffer empty, so it goes at once; false if it did not.
fn send_now(stream: &UnixStream, response: &Response) -> bool {
    let Ok(body) = serde_json::to_vec(response) else {
        return false;
    };
    let Ok(len) = u32::try_from(body.len()) else {
        return false;
    };
    let mut frame = len.to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    let mut rest = &frame[..];
    while !rest.is_empty() {
        match stream.try_write(rest) {
            Ok(0) | Err(_) => return false,
            Ok(n) => rest = &rest[n..],
        }
    }
    true
}

struct Ready<'a> {
    guard: tokio::sync::MutexGuard<'a, ()>,
    /// `state/apply.lock`, held until the execve closes it.
    apply_lock: crate::pidlock::PidLock,
    handover: Handover,
    path: PathBuf,
}

async fn prepare<'a>(daemon: &'a Daemon, exe: &Path) -> Result<Ready<'a>, WireError> {
    check_exe(exe).await?;
    let guard = daemon.apply.lock().await;
    // An apply (a pull, a plan) in flight would be cut by the execve.
    let lock_path = daemon.dirs.state.join(crate::execute::lock::LOCK_FILE);
    let apply_lock = match crate::pidlock::PidLock::try_acquire(&lock_path) {
        Ok(crate::pidlock::Attempt::Held(l)) => l,
        Ok(crate::pidlock::Attempt::Busy { holder }) => {
            return Err(refuse(format!(
                "an apply is running (pid {holder}): try again once it has finished"
            )));
        }
        Err(e) => {
            return Err(refuse(format!(
                "cannot take the apply lock {}: {e}",
                lock_path.display()
            )));
        }
    };
    let (spec, handles) = {
        let reg = daemon.registry.lock().unwrap_or_else(|p| p.into_inner());
        (reg.spec.clone(), reg.services.clone())
    };
    let mut services = BTreeMap::new();
    for (name, handle) in &handles {
        let snap = handle.snapshot();
        match &snap.lifecycle {
            Lifecycle::Running { started_at, .. } => {
                let (Some(fds), Some(identity)) = (snap.shim, snap.identity) else {
                    return Err(refuse(format!(
                        "service {name} runs without a shim this daemon can hand over"
                    )));
                };
                services.insert(
                    name.clone(),
                    Handed {
                        fds,
                        identity,
                        containment: snap.containment.clone(),
                        started_at: *started_at,
                        restarts: snap.restarts,
                        ready: snap.ready,
                    },
                );
            }
            Lifecycle::Stopped | Lifecycle::Exited { .. } | Lifecycle::Failed { .. } => {}
            other => {
                return Err(refuse(format!(
                    "service {name} is {}: try again once it has settled",
                    describe(other)
                )));
            }
        }
    }
    let (Some(&lock), Some(&listener)) = (daemon.fds.lock.get(), daemon.fds.listener.get()) else {
        return Err(refuse("the daemon's lock or socket descriptor is unknown"));
    };
    let handover = Handover {
        version: HANDOVER_VERSION,
        pid: std::process::id(),
        from: env!("CARGO_PKG_VERSION").to_string(),
        lock,
        listener,
        spec,
        services,
    };
    let path = handover_path(&daemon.dirs);
    let json = serde_json::to_vec(&handover)
        .map_err(|e| refuse(format!("cannot write the handover: {e}")))?;
    let _ = std::fs::remove_file(failed_path(&daemon.dirs));
    crate::safefs::write_private_atomic(&path, &json)
        .map_err(|e| refuse(format!("cannot write {}: {e}", path.display())))?;
    let fds = handover.fds();
    for (i, fd) in fds.iter().enumerate() {
        if let Err(e) = inherit::keep_across_exec(*fd) {
            set_cloexec(&fds[..i]);
            let _ = std::fs::remove_file(&path);
            return Err(refuse(format!("cannot pass descriptor {fd} on: {e}")));
        }
    }
    Ok(Ready {
        guard,
        apply_lock,
        handover,
        path,
    })
}

fn describe(l: &Lifecycle) -> &'static str {
    match l {
        Lifecycle::Starting { .. } => "starting",
        Lifecycle::Stopping { .. } => "stopping",
        Lifecycle::Backoff { .. } => "waiting to restart",
        _ => "changing state",
    }
}

/// `exe` is an absolute path to an executable file that reads handovers of
/// this version.
async fn check_exe(exe: &Path) -> Result<(), WireError> {
    if !exe.is_absolute() {
        return Err(refuse(format!("{} is not an absolute path", exe.display())));
    }
    let meta =
        std::fs::metadata(exe).map_err(|e| refuse(format!("cannot use {}: {e}", exe.display())))?;
    if !meta.is_file() {
        return Err(refuse(format!("{} is not a file", exe.display())));
    }
    let out = tokio::process::Command::new(exe)
        .args(["daemon", "--adopt-check"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(CHECK_TIMEOUT, out)
        .await
        .map_err(|_| {
            refuse(format!(
                "{} did not answer `daemon --adopt-check`",
                exe.display()
            ))
        })?
        .map_err(|e| refuse(format!("cannot run {}: {e}", exe.display())))?;
    let said = String::from_utf8_lossy(&out.stdout);
    if out.status.success() && said.trim() == adopt_check_line() {
        Ok(())
    } else {
        Err(refuse(format!(
            "{} cannot take over running services from this daemon (it does not read handover format {HANDOVER_VERSION}); `facerunner down && facerunner up` switches to it, restarting the services",
            exe.display()
        )))
    }
}

/// Put close-on-exec back on `fds`.
fn set_cloexec(fds: &[RawFd]) {
    for fd in fds {
        // SAFETY: each is open and owned elsewhere in this process; only its flag changes.
        let b = unsafe { std::os::fd::BorrowedFd::borrow_raw(*fd) };
        let _ = rustix::io::fcntl_setfd(b, rustix::io::FdFlags::CLOEXEC);
    }
}

/// `execve(exe, our arguments without an earlier --adopt, --adopt FILE)`;
/// returns only on failure.
fn exec(exe: &Path, handover: &Path) -> std::io::Error {
    use std::os::unix::process::CommandExt;
    let mut args: Vec<std::ffi::OsString> = Vec::new();
    let mut old = std::env::args_os().skip(1);
    while let Some(a) = old.next() {
        if a == "--adopt" {
            old.next();
        } else if !a.to_string_lossy().starts_with("--adopt=") {
            args.push(a);
        }
    }
    std::process::Command::new(exe)
        .args(args)
        .arg("--adopt")
        .arg(handover)
        .exec()
}

/// Read (and delete) the handover at `path`, as the new image.
///
/// # Errors
/// When it cannot be read, parsed, or is not for this process.
pub fn read(path: &Path) -> Result<Handover, String> {
    let bytes = crate::safefs::read_private_bounded(path, HANDOVER_LIMIT)
        .map_err(|e| format!("cannot read the handover {}: {e}", path.display()));
    let _ = std::fs::remove_file(path);
    let handover: Handover = serde_json::from_slice(&bytes?)
        .map_err(|e| format!("the handover {} is not valid: {e}", path.display()))?;
    handover.check()?;
    Ok(handover)
}

/// The daemon's own descriptors, taken back from a handover.
pub struct Inherited {
    /// The lock file (held: the lock stays ours while this is open).
    pub lock: OwnedFd,
    /// The listening socket.
    pub listener: std::os::unix::net::UnixListener,
}

/// Take back the lock and the listener.
///
/// # Errors
/// When either descriptor is not what it should be.
pub fn take_daemon_fds(h: &Handover) -> Result<Inherited, String> {
    let lock = inherit::file(h.lock).map_err(|e| format!("the lock file descriptor: {e}"))?;
    let listener =
        inherit::socket(h.listener).map_err(|e| format!("the socket descriptor: {e}"))?;
    let listener = std::os::unix::net::UnixListener::from(listener);
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("the socket descriptor: {e}"))?;
    Ok(Inherited { lock, listener })
}

/// Re-create the registry from `h`: an actor adopting each running service,
/// an idle one for each other service; then watch mode as the spec says.
/// Call inside the runtime, from the main thread.
pub async fn adopt(daemon: &Arc<Daemon>, h: Handover) {
    let Some(spec) = h.spec else { return };
    let mut registry = Registry {
        spec: Some(spec.clone()),
        services: BTreeMap::new(),
    };
    let mut restart = Vec::new();
    for svc in &spec.services {
        let log = daemon.dirs.log_file(&svc.name);
        let handle = match h.services.get(&svc.name) {
            Some(handed) => {
                match ServiceHandle::adopt(svc.clone(), log.clone(), daemon.exe.clone(), handed) {
                    Ok(handle) => {
                        tracing::info!(service = %svc.name, pid = handed.identity.pid, "adopted");
                        Ok(handle)
                    }
                    Err(why) => {
                        tracing::warn!(service = %svc.name, "cannot adopt: {why}; restarting it");
                        stop_shim(handed.fds.shim_pid).await;
                        restart.push(svc.name.clone());
                        ServiceHandle::new(svc.clone(), log, daemon.exe.clone())
                            .map_err(|e| e.to_string())
                    }
                }
            }
            None => {
                ServiceHandle::new(svc.clone(), log, daemon.exe.clone()).map_err(|e| e.to_string())
            }
        };
        match handle {
            Ok(handle) => {
                registry.services.insert(svc.name.clone(), handle);
            }
            Err(e) => tracing::error!(service = %svc.name, "cannot open its log: {e}"),
        }
    }
    for name in &restart {
        if let Some(handle) = registry.services.get(name) {
            handle.start().await;
        }
    }
    *daemon.registry.lock().unwrap_or_else(|p| p.into_inner()) = registry;
    crate::supervisor::watching::reconcile(daemon, &spec.config_path, spec.settings);
}

/// Stop a shim we could not take over: SIGTERM (it stops its service, with
/// the service's grace) and reap it. It is our child, not yet reaped, so the
/// pid is still its.
async fn stop_shim(pid: u32) {
    let Some(p) = i32::try_from(pid)
        .ok()
        .and_then(crate::sys::process::Pid::from_raw)
    else {
        return;
    };
    if rustix::process::kill_process(p, crate::sys::process::Signal::TERM).is_ok() {
        let _ = tokio::task::spawn_blocking(move || inherit::reap(pid)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handover() -> Handover {
        Handover {
            version: HANDOVER_VERSION,
            pid: std::process::id(),
            from: "0".into(),
            lock: 3,
            listener: 4,
            spec: None,
            services: BTreeMap::new(),
        }
    }

    #[test]
    fn a_handover_for_another_process_or_format_or_with_a_shared_fd_is_refused() {
        assert_eq!(handover().check(), Ok(()));
        let other_pid = Handover {
            pid: std::process::id() + 1,
            ..handover()
        };
        assert!(other_pid.check().is_err_and(|e| e.contains("for pid")));
        let other_format = Handover {
            version: HANDOVER_VERSION + 1,
            ..handover()
        };
        assert!(other_format.check().is_err_and(|e| e.contains("format")));
        let shared = Handover {
            listener: 3,
            ..handover()
        };
        assert!(shared.check().is_err_and(|e| e.contains("twice")));
    }

    #[test]
    fn the_handover_file_is_read_once_and_must_be_private() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("handover.json");
        let json = serde_json::to_vec(&handover()).expect("json");
        crate::safefs::write_private_atomic(&path, &json).expect("write");
        assert_eq!(read(&path), Ok(handover()));
        assert!(!path.exists(), "deleted once read");
        assert!(read(&path).is_err());
        let planted = tmp.path().join("planted.json");
        std::fs::write(&planted, &json).expect("write");
        std::os::unix::fs::symlink(&planted, &path).expect("symlink");
        assert!(read(&path).is_err(), "never read through a link");
    }
}
