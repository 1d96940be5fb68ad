//! The actor's lifecycle: controls while idle and in backoff (no process at
//! all), the restart policy driven by spawn failures (a shim that does not
//! exist), and real short-lived children under the fake shim
//! (`supervisor::test_support`).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use super::*;
use crate::model::spec::{RestartPolicy, RestartSpec};
use crate::supervisor::logs::LogWriter;
use crate::supervisor::service::ServiceHandle;
use crate::supervisor::test_support::{fake_shim, service, within};

/// An actor that is not running, with the sender of its queue.
fn idle_actor(dir: &Path, spec: ServiceSpec) -> (Actor, mpsc::Sender<Control>) {
    let log = LogWriter::open(&dir.join("svc.log"), spec.log).expect("open log");
    let (tx, rx) = mpsc::channel(16);
    let (state, _) = watch::channel(Snapshot {
        lifecycle: Lifecycle::Stopped,
        generation: 0,
        started_pid: None,
        ready: false,
        failure: None,
        restarts: 0,
        last_exit: None,
        spec_hash: spec.spec_hash.clone(),
        identity: None,
        containment: None,
        shim: None,
    });
    let actor = Actor {
        spec,
        exe: dir.join("no-shim-here"),
        log: Arc::new(Mutex::new(log)),
        rx,
        state,
    };
    (actor, tx)
}

/// Restarted on failure, `max_retries` times, 1 ms apart.
fn quick_restarts(max_retries: Option<u32>) -> RestartSpec {
    RestartSpec {
        policy: RestartPolicy::OnFailure,
        max_retries,
        backoff_initial: Duration::from_millis(1),
        backoff_max: Duration::from_millis(1),
    }
}

/// Wait until the handle's snapshot satisfies `pred`; returns that snapshot.
async fn until(
    handle: &ServiceHandle,
    what: &str,
    pred: impl FnMut(&Snapshot) -> bool,
) -> Snapshot {
    let mut rx = handle.subscribe();
    within(what, rx.wait_for(pred))
        .await
        .expect("the actor is alive")
        .clone()
}

#[tokio::test]
async fn start_while_idle_opens_a_new_generation_and_clears_the_last_outcome() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut actor, _tx) = idle_actor(dir.path(), service("svc", &["true"]));
    actor.set(|s| {
        s.generation = 4;
        s.started_pid = Some(42);
        s.ready = true;
        s.failure = Some("exited (exit code 1) before becoming ready".into());
        s.restarts = 3;
    });
    let (tx, rx) = oneshot::channel();
    assert!(actor.idle(Control::Start(tx)), "a start runs the service");
    assert_eq!(rx.await.expect("answered"), 5);
    let s = actor.state.borrow().clone();
    assert_eq!(s.generation, 5);
    assert_eq!(s.started_pid, None);
    assert!(!s.ready);
    assert_eq!(s.failure, None);
    assert_eq!(s.restarts, 0);
}

#[tokio::test]
async fn stop_while_idle_marks_stopped_and_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut actor, _tx) = idle_actor(dir.path(), service("svc", &["true"]));
    actor.set(|s| {
        s.lifecycle = Lifecycle::Backoff {
            until: std::time::SystemTime::now(),
            attempt: 1,
        }
    });
    let (tx, rx) = oneshot::channel();
    assert!(!actor.idle(Control::Stop(tx)), "a stop runs nothing");
    rx.await.expect("answered");
    assert_eq!(actor.state.borrow().lifecycle, Lifecycle::Stopped);
}

#[tokio::test]
async fn update_while_idle_takes_the_new_spec_without_running_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut actor, _tx) = idle_actor(dir.path(), service("svc", &["true"]));
    let mut new = service("svc", &["sleep", "1"]);
    new.spec_hash = "changed".into();
    let (tx, rx) = oneshot::channel();
    assert!(!actor.idle(Control::Update(Box::new(new), tx)));
    rx.await.expect("answered");
    assert_eq!(actor.spec.argv, ["sleep", "1"]);
    let s = actor.state.borrow().clone();
    assert_eq!(s.spec_hash, "changed");
    assert_eq!(s.lifecycle, Lifecycle::Stopped);
    assert_eq!(s.generation, 0);
}

#[tokio::test]
async fn backoff_counts_the_restart_and_runs_again_when_the_delay_is_over() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut actor, _tx) = idle_actor(dir.path(), service("svc", &["true"]));
    let mut seen = actor.state.subscribe();
    assert_eq!(actor.backoff(Duration::from_millis(1), 1).await, Some(true));
    let s = seen.borrow_and_update().clone();
    assert_eq!(s.restarts, 1);
    assert!(matches!(s.lifecycle, Lifecycle::Backoff { attempt: 1, .. }));
}

#[tokio::test]
async fn a_stop_during_backoff_ends_it_stopped_without_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut actor, tx) = idle_actor(dir.path(), service("svc", &["true"]));
    let (ack_tx, ack) = oneshot::channel();
    tx.send(Control::Stop(ack_tx)).await.expect("queued");
    let run = within(
        "backoff to see the stop",
        actor.backoff(Duration::from_secs(3600), 2),
    )
    .await;
    assert_eq!(run, Some(false));
    ack.await.expect("the stop is answered");
    let s = actor.state.borrow().clone();
    assert_eq!(s.lifecycle, Lifecycle::Stopped);
    assert_eq!(s.restarts, 1);
}

#[tokio::test]
async fn an_update_during_backoff_is_taken_and_the_wait_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut actor, tx) = idle_actor(dir.path(), service("svc", &["true"]));
    let mut new = service("svc", &["sleep", "1"]);
    new.spec_hash = "changed".into();
    let (up_tx, up) = oneshot::channel();
    tx.send(Control::Update(Box::new(new), up_tx))
        .await
        .expect("queued");
    let (stop_tx, stop) = oneshot::channel();
    tx.send(Control::Stop(stop_tx)).await.expect("queued");
    // Had the update ended the backoff, the stop would still be queued.
    let run = within(
        "backoff to see both controls",
        actor.backoff(Duration::from_secs(3600), 1),
    )
    .await;
    assert_eq!(run, Some(false), "the stop, not the update, ended the wait");
    up.await.expect("the update is answered");
    stop.await.expect("the stop is answered");
    assert_eq!(actor.spec.argv, ["sleep", "1"]);
    assert_eq!(actor.state.borrow().spec_hash, "changed");
}

#[tokio::test]
async fn backoff_ends_when_every_handle_is_gone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut actor, tx) = idle_actor(dir.path(), service("svc", &["true"]));
    drop(tx);
    let run = within(
        "backoff to see the queue close",
        actor.backoff(Duration::from_secs(3600), 1),
    )
    .await;
    assert_eq!(run, None);
}

#[tokio::test]
async fn a_shim_that_cannot_start_ends_exited_127_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-shim-here");
    let handle = ServiceHandle::new(
        service("svc", &["true"]),
        dir.path().join("svc.log"),
        missing.clone(),
    )
    .expect("handle");
    assert_eq!(handle.start().await, Some(1));
    let s = until(&handle, "the service to end", |s| {
        matches!(s.lifecycle, Lifecycle::Exited { .. })
    })
    .await;
    let Lifecycle::Exited { exit } = &s.lifecycle else {
        unreachable!()
    };
    assert_eq!(exit.code, Some(127));
    let failure = s.failure.expect("a failure is recorded");
    assert!(failure.contains("cannot start the shim"), "{failure}");
    assert!(
        failure.contains(&missing.display().to_string()),
        "{failure}"
    );
    assert_eq!((s.started_pid, s.ready, s.restarts), (None, false, 0));
    let log = handle.log_tail(15).join("\n");
    assert!(log.contains("spawn failed: cannot start the shim"), "{log}");
}

#[tokio::test]
async fn repeated_spawn_failures_back_off_then_give_up_at_max_retries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut spec = service("svc", &["true"]);
    spec.restart = quick_restarts(Some(2));
    let handle = ServiceHandle::new(
        spec,
        dir.path().join("svc.log"),
        dir.path().join("no-shim-here"),
    )
    .expect("handle");
    handle.start().await.expect("started");
    let s = until(&handle, "the actor to give up", |s| {
        matches!(s.lifecycle, Lifecycle::Failed { .. })
    })
    .await;
    let Lifecycle::Failed { reason, .. } = &s.lifecycle else {
        unreachable!()
    };
    assert_eq!(reason, "gave up after 2 restarts; last exit code 127");
    assert_eq!(s.restarts, 2);
    assert_eq!(s.generation, 1, "restarts are not new generations");
    let failure = s.failure.expect("the first failure is kept");
    assert!(failure.contains("cannot start the shim"), "{failure}");
}

#[tokio::test]
async fn a_stop_during_backoff_through_the_handle_leaves_it_stopped_and_a_start_begins_afresh() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut spec = service("svc", &["true"]);
    spec.restart = RestartSpec {
        backoff_initial: Duration::from_secs(3600),
        backoff_max: Duration::from_secs(3600),
        ..quick_restarts(None)
    };
    let handle = ServiceHandle::new(
        spec,
        dir.path().join("svc.log"),
        dir.path().join("no-shim-here"),
    )
    .expect("handle");
    handle.start().await.expect("started");
    until(&handle, "the first backoff", |s| {
        matches!(s.lifecycle, Lifecycle::Backoff { attempt: 1, .. })
    })
    .await;
    within("the stop", handle.stop()).await;
    let s = handle.snapshot();
    assert_eq!(s.lifecycle, Lifecycle::Stopped);
    assert_eq!(s.restarts, 1);
    assert_eq!(handle.start().await, Some(2));
    let s = until(&handle, "the second generation's backoff", |s| {
        matches!(s.lifecycle, Lifecycle::Backoff { .. })
    })
    .await;
    assert_eq!(s.generation, 2);
    assert!(
        matches!(s.lifecycle, Lifecycle::Backoff { attempt: 1, .. }),
        "the count starts again: {:?}",
        s.lifecycle
    );
    within("the last stop", handle.stop()).await;
}

#[tokio::test]
async fn a_child_that_exits_zero_without_a_probe_was_ready_and_ends_exited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shim = fake_shim(dir.path());
    let handle = ServiceHandle::new(service("job", &["true"]), dir.path().join("job.log"), shim)
        .expect("handle");
    handle.start().await.expect("started");
    let s = until(&handle, "the job to end", |s| {
        matches!(s.lifecycle, Lifecycle::Exited { .. })
    })
    .await;
    let Lifecycle::Exited { exit } = &s.lifecycle else {
        unreachable!()
    };
    assert!(exit.is_success(), "{exit}");
    assert!(s.started_pid.is_some());
    assert!(s.ready, "no probe: ready once started");
    assert_eq!(s.failure, None);
    assert_eq!(s.identity, None, "no identity once exited");
    assert_eq!(s.last_exit.as_ref().map(|e| e.code), Some(Some(0)));
}

#[tokio::test]
async fn stop_signals_a_running_child_and_ends_stopped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shim = fake_shim(dir.path());
    let handle = ServiceHandle::new(
        service("svc", &["sleep", "60"]),
        dir.path().join("svc.log"),
        shim,
    )
    .expect("handle");
    handle.start().await.expect("started");
    let s = until(&handle, "the service to run", |s| {
        matches!(s.lifecycle, Lifecycle::Running { .. })
    })
    .await;
    let id = s.identity.expect("a running service has an identity");
    assert_eq!(s.started_pid, Some(id.pid));
    assert_eq!(
        handle.start().await,
        Some(1),
        "already running: same generation"
    );
    within("the stop", handle.stop()).await;
    let s = handle.snapshot();
    assert_eq!(s.lifecycle, Lifecycle::Stopped);
    assert_eq!(s.identity, None);
    let exit = s.last_exit.expect("the stop's exit");
    assert_eq!((exit.code, exit.signal), (None, Some(15)));
    assert!(!is_alive(&id), "the process is gone");
}

#[tokio::test]
async fn a_crashing_child_is_restarted_until_max_retries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shim = fake_shim(dir.path());
    let mut spec = service("svc", &["sh", "-c", "exit 3"]);
    spec.restart = quick_restarts(Some(2));
    let handle = ServiceHandle::new(spec, dir.path().join("svc.log"), shim).expect("handle");
    handle.start().await.expect("started");
    let s = until(&handle, "the actor to give up", |s| {
        matches!(s.lifecycle, Lifecycle::Failed { .. })
    })
    .await;
    let Lifecycle::Failed { reason, .. } = &s.lifecycle else {
        unreachable!()
    };
    assert_eq!(reason, "gave up after 2 restarts; last exit code 3");
    assert_eq!(s.restarts, 2);
    let log = handle.log_tail(50).join("\n");
    assert_eq!(log.matches("exited: exit code 3").count(), 3, "{log}");
}

#[tokio::test]
async fn an_exited_service_starts_again_as_a_new_generation_with_a_new_pid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shim = fake_shim(dir.path());
    let handle = ServiceHandle::new(service("job", &["true"]), dir.path().join("job.log"), shim)
        .expect("handle");
    assert_eq!(handle.start().await, Some(1));
    let first = until(&handle, "the first run to end", |s| {
        matches!(s.lifecycle, Lifecycle::Exited { .. })
    })
    .await;
    assert_eq!(handle.start().await, Some(2));
    let second = until(&handle, "the second run to end", |s| {
        s.generation == 2 && matches!(s.lifecycle, Lifecycle::Exited { .. })
    })
    .await;
    assert!(second.started_pid.is_some());
    assert_ne!(second.started_pid, first.started_pid);
}

#[tokio::test]
async fn a_child_that_ignores_the_stop_signal_is_killed_when_the_grace_period_is_over() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shim = fake_shim(dir.path());
    let mut spec = service(
        "stubborn",
        &[
            "sh",
            "-c",
            "trap '' TERM; echo ignoring TERM; exec sleep 60",
        ],
    );
    spec.stop.timeout = Duration::from_millis(200);
    let handle = ServiceHandle::new(spec, dir.path().join("stubborn.log"), shim).expect("handle");
    handle.start().await.expect("started");
    // Stop only once the trap is in place, or SIGTERM would simply work.
    within("the trap to be set", async {
        while !handle
            .log_tail(15)
            .iter()
            .any(|l| l.contains("ignoring TERM"))
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    within("the stop", handle.stop()).await;
    let s = handle.snapshot();
    assert_eq!(s.lifecycle, Lifecycle::Stopped);
    let exit = s.last_exit.expect("the stop's exit");
    assert_eq!((exit.code, exit.signal), (None, Some(9)));
    let log = handle.log_tail(15).join("\n");
    assert!(log.contains("grace period over; sending SIGKILL"), "{log}");
}
