//! The actor's task: spawn, supervise, restart with backoff, stop.
//! See the parent module for the lifecycle.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::sys::process::Signal;
use tokio::sync::{mpsc, oneshot, watch};

use super::{Control, Snapshot};
use crate::model::spec::ServiceSpec;
use crate::model::wire::{Containment, ExitInfo, Health, Lifecycle};
use crate::supervisor::logs::SharedLog;
use crate::supervisor::probes::{self, ExecContext};
use crate::supervisor::restart::{self, Decision};
use crate::supervisor::spawn::{self, Spawned};
use crate::sys::contain;
use crate::sys::identity::{self, Liveness, ProcessIdentity, parse_signal};

pub(super) struct Actor {
    pub(super) spec: ServiceSpec,
    pub(super) exe: PathBuf,
    pub(super) log: SharedLog,
    pub(super) rx: mpsc::Receiver<Control>,
    pub(super) state: watch::Sender<Snapshot>,
}

enum RunEnd {
    Exited(ExitInfo),
    SpawnFailed(String),
    StopRequested(oneshot::Sender<()>),
    Closed,
}

impl Actor {
    fn set(&self, f: impl FnOnce(&mut Snapshot)) {
        self.state.send_modify(f);
    }

    /// A line in the service's log and in the daemon's.
    fn note(&self, text: &str) {
        tracing::info!(service = %self.spec.name, "{text}");
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .line("fr", text);
    }

    /// The actor's life; `adopted`: a running service handed over by the
    /// daemon's previous image (see `supervisor/reexec.rs`), supervised
    /// first, its restart count going on from `attempt`.
    pub(super) async fn run(mut self, adopted: Option<Spawned>, attempt: u32) {
        let mut adopted = adopted;
        let mut want = adopted.is_some();
        let mut attempt = attempt;
        loop {
            if !want {
                let Some(control) = self.rx.recv().await else {
                    return;
                };
                want = self.idle(control);
                attempt = 0;
                continue;
            }
            let end = match adopted.take() {
                Some(sp) => self.supervise(sp).await,
                None => self.run_once().await,
            };
            let exit = match end {
                RunEnd::Closed => return,
                RunEnd::StopRequested(ack) => {
                    want = false;
                    let _ = ack.send(());
                    continue;
                }
                RunEnd::Exited(exit) => exit,
                RunEnd::SpawnFailed(reason) => {
                    self.note(&format!("spawn failed: {reason}"));
                    self.set(|s| {
                        s.failure.get_or_insert(reason.clone());
                    });
                    ExitInfo {
                        code: Some(127),
                        signal: None,
                        at: SystemTime::now(),
                        ran_for: Duration::ZERO,
                    }
                }
            };
            self.note(&format!("exited: {exit}"));
            self.set(|s| {
                s.identity = None;
                s.shim = None;
                s.containment = None;
                s.last_exit = Some(exit.clone());
                if !s.ready && s.failure.is_none() {
                    s.failure = Some(format!("exited ({exit}) before becoming ready"));
                }
            });
            match restart::decide(&self.spec.restart, &exit, attempt) {
                Decision::Stay => {
                    want = false;
                    self.set(|s| s.lifecycle = Lifecycle::Exited { exit: exit.clone() });
                }
                Decision::GiveUp => {
                    want = false;
                    let reason = format!("gave up after {attempt} restarts; last {exit}");
                    self.set(|s| {
                        s.lifecycle = Lifecycle::Failed {
                            reason,
                            at: SystemTime::now(),
                        }
                    });
                }
                Decision::Restart {
                    delay,
                    attempt: next,
                } => {
                    attempt = next;
                    match self.backoff(delay, next).await {
                        Some(keep) => want = keep,
                        None => return,
                    }
                }
            }
        }
    }

    /// A control while nothing runs; returns whether to run now.
    fn idle(&mut self, control: Control) -> bool {
        match control {
            Control::Start(tx) => {
                self.set(|s| {
                    s.generation += 1;
                    s.started_pid = None;
                    s.ready = false;
                    s.failure = None;
                    s.restarts = 0;
                    let _ = tx.send(s.generation);
                });
                true
            }
            Control::Stop(ack) => {
                self.set(|s| s.lifecycle = Lifecycle::Stopped);
                let _ = ack.send(());
                false
            }
            Control::Update(spec, ack) => {
                self.set(|s| s.spec_hash = spec.spec_hash.clone());
                self.spec = *spec;
                let _ = ack.send(());
                false
            }
        }
    }

    /// Wait before a restart; `Some(run?)`, `None` when the queue closed.
    async fn backoff(&mut self, delay: Duration, attempt: u32) -> Option<bool> {
        let until = SystemTime::now() + delay;
        self.set(|s| {
            s.restarts += 1;
            s.lifecycle = Lifecycle::Backoff { until, attempt };
        });
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return Some(true),
                control = self.rx.recv() => match control? {
                    Control::Update(spec, ack) => {
                        self.set(|s| s.spec_hash = spec.spec_hash.clone());
                        self.spec = *spec;
                        let _ = ack.send(());
                    }
                    other => return Some(self.idle(other)),
                },
            }
        }
    }

    async fn run_once(&mut self) -> RunEnd {
        self.set(|s| {
            s.lifecycle = Lifecycle::Starting {
                since: SystemTime::now(),
            }
        });
        let sp = match spawn::spawn(&self.spec, &self.exe, &self.log).await {
            Ok(sp) => sp,
            Err(reason) => return RunEnd::SpawnFailed(reason),
        };
        self.supervise(sp).await
    }

    /// Watch a running service until it exits or is told to stop.
    async fn supervise(&mut self, mut sp: Spawned) -> RunEnd {
        let id = sp.identity;
        let containment = sp.containment.clone();
        match &containment {
            Some(c) => self.note(&format!("started pid {} (contained: {c})", id.pid)),
            None => self.note(&format!("started pid {}", id.pid)),
        }
        let has_probe = self.spec.probe.is_some();
        let started_at = sp.started_at;
        let fds = sp.fds;
        self.set(|s| {
            s.identity = Some(id);
            s.shim = fds;
            s.containment = containment.clone();
            s.started_pid.get_or_insert(id.pid);
            s.ready |= !has_probe;
            let health = if has_probe {
                Health::Starting
            } else {
                Health::None
            };
            s.lifecycle = Lifecycle::Running {
                pid: id.pid,
                started_at,
                health,
            };
        });
        let (htx, mut hrx) = mpsc::channel(4);
        let _probe = self.spec.probe.clone().map(|p| {
            let ctx = ExecContext {
                cwd: self.spec.working_dir.clone(),
                env: self.spec.env.clone(),
            };
            AbortOnDrop(tokio::spawn(probes::watch(p, ctx, htx)))
        });
        loop {
            tokio::select! {
                exit = sp.wait() => {
                    finish_group(&id, containment.as_ref());
                    return RunEnd::Exited(exit);
                }
                Some(health) = hrx.recv() => self.health(health, &id),
                control = self.rx.recv() => match control {
                    None => {
                        self.stop_running(&mut sp).await;
                        return RunEnd::Closed;
                    }
                    Some(Control::Stop(ack)) => {
                        self.set(|s| s.lifecycle = Lifecycle::Stopping { pid: id.pid, since: SystemTime::now() });
                        self.note("stopping");
                        let exit = self.stop_running(&mut sp).await;
                        self.note(&format!("stopped: {exit}"));
                        self.set(|s| {
                            s.identity = None;
                            s.shim = None;
                            s.containment = None;
                            s.last_exit = Some(exit);
                            s.lifecycle = Lifecycle::Stopped;
                        });
                        return RunEnd::StopRequested(ack);
                    }
                    Some(Control::Start(tx)) => {
                        let _ = tx.send(self.state.borrow().generation);
                    }
                    Some(Control::Update(spec, ack)) => {
                        self.set(|s| s.spec_hash = spec.spec_hash.clone());
                        self.spec = *spec;
                        let _ = ack.send(());
                    }
                },
            }
        }
    }

    fn health(&self, health: Health, id: &ProcessIdentity) {
        // A probe can pass while the service is dead: another program
        // listens where it looks, or the shim is still clearing what the
        // service left behind. A process that has exited is never ready.
        if health == Health::Healthy && !is_alive(id) {
            return;
        }
        let check = self
            .spec
            .probe
            .as_ref()
            .map(|p| p.check.to_string())
            .unwrap_or_default();
        self.set(|s| {
            match &health {
                Health::Healthy => s.ready = true,
                Health::Unhealthy {
                    failures,
                    last_error,
                } if !s.ready && s.failure.is_none() => {
                    s.failure = Some(format!(
                        "probe {check} failed {failures} times: {last_error}"
                    ));
                }
                _ => {}
            }
            if let Lifecycle::Running { health: h, .. } = &mut s.lifecycle {
                *h = health;
            }
        });
    }

    /// Stop signal to the group, grace, SIGKILL to the group.
    async fn stop_running(&self, sp: &mut Spawned) -> ExitInfo {
        let sig = parse_signal(&self.spec.stop.signal).unwrap_or(Signal::TERM);
        let id = sp.identity;
        if let Err(e) = id.signal_group(sig) {
            tracing::warn!(service = %self.spec.name, "cannot signal: {e}");
        }
        let exit = match tokio::time::timeout(self.spec.stop.timeout, sp.wait()).await {
            Ok(exit) => exit,
            Err(_) => {
                self.note("grace period over; sending SIGKILL");
                let _ = id.signal_group(Signal::KILL);
                match tokio::time::timeout(Duration::from_secs(5), sp.wait()).await {
                    Ok(exit) => exit,
                    Err(_) => {
                        sp.kill_shim();
                        sp.wait().await
                    }
                }
            }
        };
        finish_group(&id, sp.containment.as_ref());
        exit
    }
}

/// The service process itself runs (not exited, not a zombie, pid not reused).
fn is_alive(id: &ProcessIdentity) -> bool {
    identity::is_running(id.pid) && id.liveness() == Liveness::Ours
}

/// The shim clears the group and its cgroup when the service exits; if the
/// shim itself was killed, do it here. (A subreaper shim's orphans cannot be
/// found once it is gone; the daemon kills a shim only after the service
/// outlived its grace period and 5 s more.)
fn finish_group(id: &ProcessIdentity, containment: Option<&Containment>) {
    if id.group_alive() {
        let _ = id.signal_group(Signal::KILL);
    }
    if let Some(Containment::Cgroup { path }) = containment
        && path.exists()
    {
        contain::kill_cgroup(path);
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
#[path = "actor_tests.rs"]
mod actor_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_running_process_counts_as_alive() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let id = ProcessIdentity::of(child.id())
            .expect("stat")
            .expect("running");
        assert!(is_alive(&id));
        child.kill().expect("kill");
        // Not yet reaped: once it is a zombie, it is not alive.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while identity::is_running(id.pid) {
            assert!(std::time::Instant::now() < deadline, "never died");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(identity::stat(id.pid).ok().flatten().is_some(), "a zombie");
        assert!(!is_alive(&id));
        child.wait().expect("wait");
        assert!(!is_alive(&id));
        let reused = ProcessIdentity {
            start_ticks: id.start_ticks + 1,
            ..ProcessIdentity::of(std::process::id())
                .expect("stat")
                .expect("us")
        };
        assert!(!is_alive(&reused));
    }
}
