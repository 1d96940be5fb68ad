//! The shim: a tiny mode of our own binary (`facerunner __shim`) that sits
//! between the daemon and each service and ties the service's life to the
//! daemon's.
//!
//! Why: if the daemon is killed with SIGKILL it cannot stop anything, and
//! its services would run on unowned. The shim
//!
//! 1. asks the kernel for SIGUSR2 when its parent dies (`PR_SET_PDEATHSIG`),
//!    then re-checks `getppid()` against the daemon's pid passed on the
//!    command line, closing the race where the daemon died before the prctl;
//! 2. spawns the service in a new process group that the service leads
//!    (pgid = service pid), stdin from /dev/null, stdout/stderr inherited
//!    (the daemon's log pipes);
//! 3. reports `started <pid> <start_ticks>` (or `error <why>`) and at the end
//!    `exited code <n>` / `exited signal <n>` on its report pipe, which the
//!    daemon passes as the shim's stdin (a pipe's write end);
//! 4. forwards TERM/INT/HUP/QUIT/USR1 sent to the shim itself to the group;
//! 5. when the parent dies: the configured stop signal to the group, the
//!    grace period, then SIGKILL to the group;
//! 6. when the service exits, signals what is left of its group and of
//!    its containment (a service's processes die with its main process, as
//!    in a container) and exits with the service's code (128 + signal when
//!    killed).
//!
//! Processes that leave the group (`setsid`, double forks) are caught by
//! the containment, a cgroup v2 or the shim being a child subreaper (see
//! `contain.rs`); the `started` report says which.
//!
//! The kernel delivers PDEATHSIG when the *thread* that forked the shim
//! exits, so the daemon runs on a current-thread runtime and spawns from
//! its main thread (see `daemon.rs`).

use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::sys::process::{self, Pid, Signal};
use tokio::signal::unix::{SignalKind, signal};

use crate::model::wire::Containment;
use crate::sys::contain::{self, Contain};
use crate::sys::identity::{self, parse_signal};

/// Arguments of `facerunner __shim`.
#[derive(Debug, Clone)]
pub struct ShimArgs {
    /// Pid of the daemon that spawned us.
    pub parent: u32,
    /// Stop signal name.
    pub signal: String,
    /// Grace before SIGKILL.
    pub grace: Duration,
    /// The service's argv.
    pub argv: Vec<String>,
}

/// Run the shim; returns the exit code to exit with.
pub fn run(args: ShimArgs) -> u8 {
    let report = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map(File::from)
        .ok();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(report, &format!("cannot start runtime: {e}")),
    };
    rt.block_on(shim(args, report))
}

fn fail(mut report: Option<File>, msg: &str) -> u8 {
    if let Some(r) = report.as_mut() {
        let _ = writeln!(r, "error {}", msg.replace('\n', " "));
    }
    127
}

async fn shim(args: ShimArgs, mut report: Option<File>) -> u8 {
    let stop_sig = parse_signal(&args.signal).unwrap_or(Signal::TERM);
    // Listen before asking for the death signal, so it cannot kill us unhandled.
    let Ok(mut parent_died) = signal(SignalKind::user_defined2()) else {
        return fail(report, "cannot install signal handler");
    };
    let mut forward = Vec::new();
    for kind in [
        SignalKind::terminate(),
        SignalKind::interrupt(),
        SignalKind::hangup(),
        SignalKind::quit(),
        SignalKind::user_defined1(),
    ] {
        match signal(kind) {
            Ok(s) => forward.push((kind, s)),
            Err(_) => return fail(report, "cannot install signal handler"),
        }
    }
    if !process::die_with_parent(Signal::USR2, args.parent) {
        return fail(report, "the daemon exited before the service started");
    }
    let Ok(mut reaped) = signal(SignalKind::child()) else {
        return fail(report, "cannot install signal handler");
    };
    let Some((program, rest)) = args.argv.split_first() else {
        return fail(report, "empty argv");
    };
    let mut contain = Contain::prepare();
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(rest)
        .process_group(0)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if let Some(procs) = contain.join_target() {
        // SAFETY: `join` only opens, writes and closes (async-signal-safe)
        // and allocates nothing; `procs` was allocated before the fork.
        unsafe {
            cmd.pre_exec(move || {
                contain::join(&procs);
                Ok(())
            });
        }
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            contain.finish();
            return fail(report, &format!("cannot run {program}: {e}"));
        }
    };
    let Some((pid, group)) = child
        .id()
        .and_then(|pid| Some((pid, Pid::from_raw(i32::try_from(pid).ok()?)?)))
    else {
        contain.finish();
        return fail(report, "service exited at once");
    };
    let containment = contain.confirm(pid);
    let ticks = identity::stat(pid)
        .ok()
        .flatten()
        .map_or(0, |s| s.start_ticks);
    if let Some(r) = report.as_mut() {
        let _ = writeln!(r, "started {pid} {ticks} {}", report_word(&containment));
    }

    let status = loop {
        let forwarded = async {
            let futs = forward
                .iter_mut()
                .map(|(k, s)| Box::pin(async move { s.recv().await.map(|_| *k) }));
            futures_util::future::select_all(futs).await.0
        };
        tokio::select! {
            status = child.wait() => break status,
            _ = parent_died.recv() => {
                break stop_group(&mut child, group, &contain, stop_sig, args.grace).await;
            }
            _ = reaped.recv() => contain.reap(Some(pid)),
            Some(kind) = forwarded => {
                if let Some(sig) = Signal::from_named_raw(kind.as_raw_value()) {
                    process::signal_group(group, sig);
                }
            }
        }
    };
    clear(&contain, group, stop_sig, args.grace).await;
    contain.finish();
    let code = match status {
        Ok(st) => exit_code(st),
        Err(_) => 1,
    };
    if let (Some(r), Ok(st)) = (report.as_mut(), status) {
        use std::os::unix::process::ExitStatusExt;
        let _ = match (st.code(), st.signal()) {
            (Some(c), _) => writeln!(r, "exited code {c}"),
            (None, Some(s)) => writeln!(r, "exited signal {s}"),
            _ => writeln!(r, "exited code 1"),
        };
    }
    code
}

/// How the `started` report names the containment: `subreaper` or
/// `cgroup <path>` (the path is the rest of the line).
fn report_word(c: &Containment) -> String {
    match c {
        Containment::Subreaper => "subreaper".into(),
        Containment::Cgroup { path } => format!("cgroup {}", path.display()),
    }
}

/// Stop signal to the group and every contained process, grace, SIGKILL;
/// returns the child's status.
async fn stop_group(
    child: &mut tokio::process::Child,
    group: Pid,
    contain: &Contain,
    sig: Signal,
    grace: Duration,
) -> std::io::Result<ExitStatus> {
    process::signal_group(group, sig);
    contain.signal_all(sig);
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(st) => st,
        Err(_) => {
            process::signal_group(group, Signal::KILL);
            contain.signal_all(Signal::KILL);
            child.wait().await
        }
    }
}

/// After the leader exited: stop whatever is left of its group and of the
/// containment (processes that left the group). The group id cannot be
/// handed out again while the group has members, so this only reaches our
/// descendants. Polls every 50 ms, only during this shutdown.
async fn clear(contain: &Contain, group: Pid, sig: Signal, grace: Duration) {
    let group_alive = || process::group_alive(group);
    // Members of the group whose parent exited are our children now
    // (subreaper): reaped here, or a zombie would keep the group "alive".
    if contain.is_empty() && !group_alive() {
        return;
    }
    process::signal_group(group, sig);
    contain.signal_all(sig);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if contain.is_empty() && !group_alive() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    process::signal_group(group, Signal::KILL);
    contain.kill_everything().await;
}

fn exit_code(st: ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(c), _) => u8::try_from(c & 0xff).unwrap_or(1),
        (None, Some(s)) => u8::try_from(128 + s).unwrap_or(255),
        _ => 1,
    }
}
