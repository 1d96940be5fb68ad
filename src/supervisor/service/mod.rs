//! One actor per service: a task that owns the service's process and runs
//! its lifecycle; callers hold a cloneable [`ServiceHandle`].
//!
//! Lifecycle (see [`Lifecycle`]):
//!
//! ```text
//! Stopped ─start─▶ Starting ─spawned─▶ Running{health} ─exit─▶ restart policy
//!    ▲                                     │                   ├─ Backoff{until, attempt} ─▶ Starting
//!    └────────────── stop ─── Stopping ◀───┘                   ├─ Exited{exit}   (no restart / completed)
//!                                                              └─ Failed{reason} (max_retries reached)
//! ```
//!
//! Controls arrive on a queue and each is answered on a oneshot once it has
//! run, so callers await completion instead of polling. The actor publishes
//! a [`Snapshot`] on a watch channel; a `generation` counter grows with
//! every requested start, and `ready` / `failure` record what happened in
//! the current generation, so a waiter cannot miss a short-lived state.
//! The actor waits on the child's exit, the probe task and its queue: no
//! polling while idle.

mod actor;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot, watch};

use crate::model::spec::ServiceSpec;
use crate::model::wire::{Containment, ExitInfo, Lifecycle, LogTrouble};
use crate::supervisor::logs::{LogWriter, SharedLog};
use crate::supervisor::spawn::{ShimFds, Spawned};
use crate::sys::identity::ProcessIdentity;
use actor::Actor;

/// What the actor publishes.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Current state.
    pub lifecycle: Lifecycle,
    /// Number of requested starts so far.
    pub generation: u64,
    /// First pid of this generation.
    pub started_pid: Option<u32>,
    /// Became ready in this generation.
    pub ready: bool,
    /// Failed before becoming ready in this generation.
    pub failure: Option<String>,
    /// Automatic restarts in this generation.
    pub restarts: u32,
    /// Last exit.
    pub last_exit: Option<ExitInfo>,
    /// Hash of the spec in use.
    pub spec_hash: String,
    /// Identity of the running process.
    pub identity: Option<ProcessIdentity>,
    /// How the running process is contained (as its shim reported).
    pub containment: Option<Containment>,
    /// The running shim's pid and our ends of its pipes (for a re-exec).
    pub shim: Option<ShimFds>,
}

/// A running service as the daemon's previous image handed it over
/// (see `supervisor/reexec.rs`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Handed {
    /// The shim and our pipe ends.
    pub fds: ShimFds,
    /// The service process.
    pub identity: ProcessIdentity,
    /// How the shim contains it.
    pub containment: Option<Containment>,
    /// When it was spawned.
    pub started_at: std::time::SystemTime,
    /// Automatic restarts so far in this generation.
    pub restarts: u32,
    /// It had become ready.
    pub ready: bool,
}

pub(crate) enum Control {
    Start(oneshot::Sender<u64>),
    Stop(oneshot::Sender<()>),
    Update(Box<ServiceSpec>, oneshot::Sender<()>),
}

/// Cloneable handle to a service's actor.
#[derive(Debug, Clone)]
pub struct ServiceHandle {
    /// Service name.
    pub name: String,
    tx: mpsc::Sender<Control>,
    state: watch::Receiver<Snapshot>,
    log: SharedLog,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Control::Start(_) => "Start",
            Control::Stop(_) => "Stop",
            Control::Update(..) => "Update",
        })
    }
}

impl ServiceHandle {
    /// Start the actor (the process is not started until [`ServiceHandle::start`]).
    pub fn new(
        spec: ServiceSpec,
        log_path: PathBuf,
        exe: PathBuf,
    ) -> std::io::Result<ServiceHandle> {
        let log = Arc::new(Mutex::new(LogWriter::open(&log_path, spec.log)?));
        Ok(Self::with_log(spec, log, exe, None))
    }

    /// Start the actor on a service that already runs: one the daemon's
    /// previous image spawned and handed over across `execve`.
    ///
    /// # Errors
    /// When the log cannot be opened or the handed descriptors are not the
    /// pipes they should be (nothing was taken over then).
    pub fn adopt(
        spec: ServiceSpec,
        log_path: PathBuf,
        exe: PathBuf,
        handed: &Handed,
    ) -> Result<ServiceHandle, String> {
        let log = LogWriter::open(&log_path, spec.log)
            .map_err(|e| format!("cannot open the log {}: {e}", log_path.display()))?;
        let log = Arc::new(Mutex::new(log));
        let sp = crate::supervisor::spawn::adopt(
            handed.fds,
            handed.identity,
            handed.containment.clone(),
            handed.started_at,
            &log,
        )?;
        Ok(Self::with_log(spec, log, exe, Some((sp, handed))))
    }

    fn with_log(
        spec: ServiceSpec,
        log: SharedLog,
        exe: PathBuf,
        adopted: Option<(Spawned, &Handed)>,
    ) -> ServiceHandle {
        let (tx, rx) = mpsc::channel(16);
        let (state_tx, state) = watch::channel(Snapshot {
            lifecycle: Lifecycle::Stopped,
            generation: u64::from(adopted.is_some()),
            started_pid: adopted.as_ref().map(|(_, h)| h.identity.pid),
            ready: adopted.as_ref().is_some_and(|(_, h)| h.ready),
            failure: None,
            restarts: adopted.as_ref().map_or(0, |(_, h)| h.restarts),
            last_exit: None,
            spec_hash: spec.spec_hash.clone(),
            identity: None,
            containment: None,
            shim: None,
        });
        let attempt = adopted.as_ref().map_or(0, |(_, h)| h.restarts);
        let adopted = adopted.map(|(sp, _)| sp);
        let name = spec.name.clone();
        let actor = Actor {
            spec,
            exe,
            log: log.clone(),
            rx,
            state: state_tx,
        };
        tokio::spawn(actor.run(adopted, attempt));
        ServiceHandle {
            name,
            tx,
            state,
            log,
        }
    }

    /// Start (a new generation); returns its number. Already running: the current one.
    pub async fn start(&self) -> Option<u64> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Control::Start(tx)).await.ok()?;
        rx.await.ok()
    }

    /// Stop and wait until stopped.
    pub async fn stop(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Control::Stop(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Use `spec` from the next spawn on.
    pub async fn update(&self, spec: ServiceSpec) {
        let (tx, rx) = oneshot::channel();
        if self
            .tx
            .send(Control::Update(Box::new(spec), tx))
            .await
            .is_ok()
        {
            let _ = rx.await;
        }
    }

    /// Current snapshot.
    pub fn snapshot(&self) -> Snapshot {
        self.state.borrow().clone()
    }

    /// Watch snapshots.
    pub fn subscribe(&self) -> watch::Receiver<Snapshot> {
        self.state.clone()
    }

    /// The service log's lines are being dropped (a full disk, most often).
    pub fn log_trouble(&self) -> Option<LogTrouble> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).trouble()
    }

    /// Last `n` log lines.
    pub fn log_tail(&self, n: usize) -> Vec<String> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).tail(n)
    }
}

#[cfg(test)]
#[path = "adopt_tests.rs"]
mod adopt_tests;
