//! Spawning a service through the shim, and learning how it ended.
//!
//! `facerunner __shim --parent <daemon pid> --signal SIG --grace-ms N -- argv…`
//! is started with the service's env and working directory, in a process
//! group of its own (the service gets a further group of its own inside the
//! shim, see `shim.rs`). The shim's stdin is the write end of a report pipe;
//! its stdout and stderr are pipes whose read ends are pumped into the
//! service's log file by two tasks.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::model::spec::ServiceSpec;
use crate::model::wire::{Containment, ExitInfo};
use crate::supervisor::logs::{self, SharedLog};
use crate::sys::identity::ProcessIdentity;

/// How long the shim may take to report the service's pid.
const REPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The shim: a child this image spawned, or one a previous image of this
/// daemon spawned and handed over across `execve` (see `reexec.rs`): still
/// our child, but without a tokio handle, reaped with `waitpid`.
#[derive(Debug)]
pub enum Shim {
    /// Spawned by this image.
    Child(tokio::process::Child),
    /// Inherited across `execve`; `ended` reads the report pipe to its end,
    /// then reaps the shim: (last report line, the shim's code and signal).
    Adopted {
        /// The shim's pid (our child, not yet reaped: it cannot be reused).
        pid: u32,
        /// Ends when the shim has exited and was reaped.
        ended: Option<tokio::task::JoinHandle<(Option<String>, ShimStatus)>>,
    },
}

/// A shim's exit status: (code, signal).
pub type ShimStatus = (Option<i32>, Option<i32>);

/// The shim's pid and this daemon's ends of its pipes: what a re-executed
/// daemon needs to go on supervising it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShimFds {
    /// The shim's pid.
    pub shim_pid: u32,
    /// Read end of the report pipe.
    pub report: RawFd,
    /// Read end of the service's stdout.
    pub out: RawFd,
    /// Read end of the service's stderr.
    pub err: RawFd,
}

/// A running service: the shim child plus what the shim reported.
#[derive(Debug)]
pub struct Spawned {
    /// The shim process (our direct child).
    pub shim: Shim,
    /// The shim's pid and our pipe ends (for a re-exec's handover).
    pub fds: Option<ShimFds>,
    /// The service process.
    pub identity: ProcessIdentity,
    /// Wall-clock spawn time.
    pub started_at: SystemTime,
    /// Monotonic spawn time.
    pub started: Instant,
    /// How the shim contains the service's processes.
    pub containment: Option<Containment>,
    /// Rest of the report pipe: the final `exited …` line.
    /// `None` once read (a finished JoinHandle must not be polled again).
    report: Option<tokio::task::JoinHandle<Option<String>>>,
}

/// `CUDA_VISIBLE_DEVICES` with indices pinned to this machine's UUIDs.
fn pinned_gpus(spec: &ServiceSpec) -> Option<(&'static str, String)> {
    let devices = spec.env.get("CUDA_VISIBLE_DEVICES")?;
    Some(("CUDA_VISIBLE_DEVICES", crate::gpu::inventory().pin(devices)))
}

/// Spawn `spec` through the shim found at `exe` (our own binary).
///
/// Must be called from the daemon's main thread (PDEATHSIG is per thread).
pub async fn spawn(
    spec: &ServiceSpec,
    exe: &std::path::Path,
    log: &SharedLog,
) -> Result<Spawned, String> {
    let (reader, writer) = std::io::pipe().map_err(|e| format!("cannot create a pipe: {e}"))?;
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg("__shim")
        .arg("--parent")
        .arg(std::process::id().to_string())
        .arg("--signal")
        .arg(&spec.stop.signal)
        .arg("--grace-ms")
        .arg(spec.stop.timeout.as_millis().to_string())
        .arg("--")
        .args(&spec.argv)
        .envs(&spec.env)
        .envs(pinned_gpus(spec))
        .current_dir(&spec.working_dir)
        .process_group(0)
        .stdin(Stdio::from(writer))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // No kill_on_drop: SIGKILL would stop the shim from stopping its
    // service; when the daemon goes away the shim's PDEATHSIG does the work.
    let started = Instant::now();
    let started_at = SystemTime::now();
    let mut shim = cmd
        .spawn()
        .map_err(|e| format!("cannot start the shim {}: {e}", exe.display()))?;
    drop(cmd); // closes our copy of the report pipe's write end
    let (mut out_fd, mut err_fd) = (None, None);
    if let Some(out) = shim.stdout.take() {
        out_fd = Some(out.as_raw_fd());
        tokio::spawn(logs::pump(out, log.clone(), "out"));
    }
    if let Some(err) = shim.stderr.take() {
        err_fd = Some(err.as_raw_fd());
        tokio::spawn(logs::pump(err, log.clone(), "err"));
    }
    let report_fd = reader.as_raw_fd();
    let fds = match (shim.id(), out_fd, err_fd) {
        (Some(shim_pid), Some(out), Some(err)) => Some(ShimFds {
            shim_pid,
            report: report_fd,
            out,
            err,
        }),
        _ => None,
    };
    let reader = tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(reader))
        .map_err(|e| format!("cannot read the shim's report: {e}"))?;
    let mut lines = BufReader::new(reader).lines();
    // The shim reports at once; a silent one is broken, not slow.
    let first = match tokio::time::timeout(REPORT_TIMEOUT, lines.next_line()).await {
        Ok(line) => line.ok().flatten().unwrap_or_default(),
        Err(_) => {
            let _ = shim.start_kill();
            String::new()
        }
    };
    let report = tokio::spawn(async move {
        let mut last = None;
        while let Ok(Some(line)) = lines.next_line().await {
            last = Some(line);
        }
        last
    });
    match parse_started(&first) {
        Ok((pid, start_ticks, containment)) => Ok(Spawned {
            shim: Shim::Child(shim),
            fds,
            identity: ProcessIdentity {
                pid,
                pgid: pid,
                start_ticks,
            },
            started_at,
            started,
            containment,
            report: Some(report),
        }),
        Err(why) => {
            let _ = shim.wait().await;
            Err(why)
        }
    }
}

/// `started <pid> <ticks> [subreaper | cgroup <path>]`.
fn parse_started(line: &str) -> Result<(u32, u64, Option<Containment>), String> {
    let mut words = line.splitn(5, ' ');
    match words.next() {
        Some("started") => {
            let pid = words.next().and_then(|w| w.parse().ok());
            let ticks = words.next().and_then(|w| w.parse().ok());
            let containment = match (words.next(), words.next()) {
                (Some("subreaper"), None) => Some(Containment::Subreaper),
                (Some("cgroup"), Some(path)) if !path.is_empty() => {
                    Some(Containment::Cgroup { path: path.into() })
                }
                _ => None,
            };
            let (pid, ticks) = pid
                .zip(ticks)
                .ok_or_else(|| format!("bad shim report {line:?}"))?;
            Ok((pid, ticks, containment))
        }
        Some("error") => Err(line.trim_start_matches("error").trim().to_string()),
        _ => Err("the shim exited without reporting".to_string()),
    }
}

/// Go on supervising a shim a previous image of this daemon spawned:
/// `fds` are its pipe ends, inherited across `execve`. Pumps the log pipes
/// into `log` again and reads the report pipe to its end.
///
/// # Errors
/// When a descriptor is not an open pipe (then nothing was taken over and
/// the caller stops the shim).
pub fn adopt(
    fds: ShimFds,
    identity: ProcessIdentity,
    containment: Option<Containment>,
    started_at: SystemTime,
    log: &SharedLog,
) -> Result<Spawned, String> {
    let receiver = |fd: RawFd, what: &str| {
        let owned = crate::sys::inherit::pipe(fd)
            .map_err(|e| format!("the {what} pipe (fd {fd}) is not ours: {e}"))?;
        tokio::net::unix::pipe::Receiver::from_owned_fd(owned)
            .map_err(|e| format!("cannot read the {what} pipe (fd {fd}): {e}"))
    };
    let (report, out, err) = (
        receiver(fds.report, "report")?,
        receiver(fds.out, "stdout")?,
        receiver(fds.err, "stderr")?,
    );
    tokio::spawn(logs::pump(out, log.clone(), "out"));
    tokio::spawn(logs::pump(err, log.clone(), "err"));
    let shim_pid = fds.shim_pid;
    let ended = tokio::spawn(async move {
        let mut lines = BufReader::new(report).lines();
        let mut last = None;
        while let Ok(Some(line)) = lines.next_line().await {
            last = Some(line);
        }
        // The report pipe ends when the shim exits: reap it.
        let status = tokio::task::spawn_blocking(move || crate::sys::inherit::reap(shim_pid))
            .await
            .ok()
            .flatten()
            .unwrap_or((None, None));
        (last, status)
    });
    Ok(Spawned {
        shim: Shim::Adopted {
            pid: shim_pid,
            ended: Some(ended),
        },
        fds: Some(fds),
        identity,
        started_at,
        // Only `ran_for` uses it: the time since the start, as far as we know.
        started: Instant::now()
            .checked_sub(started_at.elapsed().unwrap_or_default())
            .unwrap_or_else(Instant::now),
        containment,
        report: None,
    })
}

impl Spawned {
    /// SIGKILL the shim (a last resort: the service outlived its grace).
    pub fn kill_shim(&mut self) {
        match &mut self.shim {
            Shim::Child(c) => {
                let _ = c.start_kill();
            }
            Shim::Adopted { pid, ended } => {
                // Not reaped yet (`ended` is pending), so the pid is still our child's.
                if ended.as_ref().is_some_and(|h| !h.is_finished())
                    && let Some(p) = i32::try_from(*pid)
                        .ok()
                        .and_then(crate::sys::process::Pid::from_raw)
                {
                    let _ = rustix::process::kill_process(p, crate::sys::process::Signal::KILL);
                }
            }
        }
    }

    /// Wait for the service (and its shim) to end.
    pub async fn wait(&mut self) -> ExitInfo {
        let (shim_status, line) = match &mut self.shim {
            Shim::Child(child) => {
                use std::os::unix::process::ExitStatusExt;
                let status = child
                    .wait()
                    .await
                    .map_or((None, None), |s| (s.code(), s.signal()));
                let line = match self.report.as_mut() {
                    Some(handle) => {
                        let line = handle.await.ok().flatten().unwrap_or_default();
                        self.report = None;
                        line
                    }
                    None => String::new(),
                };
                (status, line)
            }
            Shim::Adopted { ended, .. } => match ended.as_mut() {
                Some(handle) => {
                    let (line, status) = handle.await.unwrap_or((None, (None, None)));
                    *ended = None;
                    (status, line.unwrap_or_default())
                }
                None => ((None, None), String::new()),
            },
        };
        let (code, signal) = parse_exit(&line).unwrap_or(shim_status);
        ExitInfo {
            code,
            signal,
            at: SystemTime::now(),
            ran_for: self.started.elapsed(),
        }
    }
}

fn parse_exit(line: &str) -> Option<(Option<i32>, Option<i32>)> {
    let mut w = line.split_whitespace();
    if w.next()? != "exited" {
        return None;
    }
    let kind = w.next()?;
    let n: i32 = w.next()?.parse().ok()?;
    match kind {
        "code" => Some((Some(n), None)),
        "signal" => Some((None, Some(n))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shim_reports_parse() {
        assert_eq!(parse_started("started 42 9000"), Ok((42, 9000, None)));
        assert_eq!(
            parse_started("started 42 9000 subreaper"),
            Ok((42, 9000, Some(Containment::Subreaper)))
        );
        assert_eq!(
            parse_started("started 42 9000 cgroup /sys/fs/cgroup/a b/facerunner-shim-7"),
            Ok((
                42,
                9000,
                Some(Containment::Cgroup {
                    path: "/sys/fs/cgroup/a b/facerunner-shim-7".into()
                })
            ))
        );
        assert!(
            parse_started("error cannot run x: not found")
                .is_err_and(|e| e.starts_with("cannot run"))
        );
        assert!(parse_started("").is_err());
        assert_eq!(parse_exit("exited code 3"), Some((Some(3), None)));
        assert_eq!(parse_exit("exited signal 9"), Some((None, Some(9))));
    }
}
