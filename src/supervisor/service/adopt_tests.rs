//! Adopting a running shim as a re-executed daemon does: the shim is a
//! child of this process spawned without the actor, its pipes are handed
//! over as bare descriptor numbers.

use std::io::Read;
use std::os::fd::{IntoRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::SystemTime;

use super::{Handed, ServiceHandle};
use crate::model::spec::{RestartPolicy, RestartSpec, ServiceSpec};
use crate::model::wire::Lifecycle;
use crate::supervisor::spawn::ShimFds;
use crate::supervisor::test_support::{fake_shim, service, within};
use crate::sys::identity::ProcessIdentity;

/// Start `spec` under the fake shim outside any actor, read its `started`
/// line, and hand it over as a previous image would.
fn handed(shim: &std::path::Path, spec: &ServiceSpec) -> Handed {
    let (report_r, report_w) = std::io::pipe().expect("pipe");
    let (out_r, out_w) = std::io::pipe().expect("pipe");
    let (err_r, err_w) = std::io::pipe().expect("pipe");
    // Reaped by the adopting actor, as after an execve: no `Child` kept.
    let shim_pid = Command::new(shim)
        .arg("__shim")
        .arg("--")
        .args(&spec.argv)
        .stdin(Stdio::from(OwnedFd::from(report_w)))
        .stdout(Stdio::from(OwnedFd::from(out_w)))
        .stderr(Stdio::from(OwnedFd::from(err_w)))
        .spawn()
        .expect("spawn the fake shim")
        .id();
    // Byte by byte: what follows the line stays in the pipe for the actor.
    let mut report_r = report_r;
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while report_r.read(&mut b).expect("read the report") == 1 && b[0] != b'\n' {
        line.push(b[0]);
    }
    let line = String::from_utf8(line).expect("utf-8");
    let mut words = line.split_whitespace().skip(1);
    let pid: u32 = words.next().and_then(|w| w.parse().ok()).expect("pid");
    let ticks: u64 = words.next().and_then(|w| w.parse().ok()).expect("ticks");
    Handed {
        fds: ShimFds {
            shim_pid,
            report: report_r.into_raw_fd(),
            out: out_r.into_raw_fd(),
            err: err_r.into_raw_fd(),
        },
        identity: ProcessIdentity {
            pid,
            pgid: pid,
            start_ticks: ticks,
        },
        containment: None,
        started_at: SystemTime::now(),
        restarts: 2,
        ready: true,
    }
}

#[tokio::test]
async fn an_adopted_service_runs_on_logs_and_stops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shim = fake_shim(dir.path());
    let spec = service(
        "svc",
        &["sh", "-c", "sleep 0.2; echo after-adoption; exec sleep 60"],
    );
    let h = handed(&shim, &spec);
    let log = dir.path().join("svc.log");
    let handle = ServiceHandle::adopt(spec, log, shim, &h).expect("adopted");
    let s = handle.snapshot();
    assert_eq!(s.generation, 1);
    assert_eq!(s.started_pid, Some(h.identity.pid));
    assert_eq!(s.restarts, 2, "the restart count goes on");
    let mut rx = handle.subscribe();
    within(
        "running",
        rx.wait_for(
            |s| matches!(s.lifecycle, Lifecycle::Running { pid, .. } if pid == h.identity.pid),
        ),
    )
    .await
    .expect("alive");
    within("the line printed after the adoption", async {
        while !handle
            .log_tail(10)
            .iter()
            .any(|l| l.contains("after-adoption"))
        {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    within("stop", handle.stop()).await;
    let s = handle.snapshot();
    assert_eq!(s.lifecycle, Lifecycle::Stopped);
    assert_eq!(
        s.last_exit.as_ref().and_then(|e| e.signal),
        Some(15),
        "SIGTERM"
    );
    assert!(!crate::sys::identity::is_running(h.identity.pid));
    // The shim was reaped: it is no child of ours any more.
    assert_eq!(crate::sys::inherit::reap(h.fds.shim_pid), None);
}

#[tokio::test]
async fn a_shim_that_ended_before_the_adoption_is_a_crash_and_restarts_by_policy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shim = fake_shim(dir.path());
    let mut spec = service("svc", &["sh", "-c", "exit 3"]);
    spec.restart = RestartSpec {
        policy: RestartPolicy::OnFailure,
        max_retries: Some(1),
        backoff_initial: std::time::Duration::from_millis(1),
        backoff_max: std::time::Duration::from_millis(1),
    };
    let h = handed(&shim, &spec);
    // Ended (and not reaped) before the new image takes it.
    while crate::sys::identity::is_running(h.fds.shim_pid) {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let handle = ServiceHandle::adopt(
        spec,
        dir.path().join("svc.log"),
        shim,
        &Handed { restarts: 0, ..h },
    )
    .expect("adopted");
    let mut rx = handle.subscribe();
    let s = within(
        "restarted, then given up",
        rx.wait_for(|s| matches!(s.lifecycle, Lifecycle::Failed { .. })),
    )
    .await
    .expect("alive")
    .clone();
    assert_eq!(s.restarts, 1, "{s:?}");
    assert_eq!(s.last_exit.as_ref().and_then(|e| e.code), Some(3), "{s:?}");
}
