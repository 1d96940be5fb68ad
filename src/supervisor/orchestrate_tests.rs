//! The orchestrator: which services an `up` touches and in what order
//! (`closure`, `topo_order`, no processes), and `bring_up` / `bring_down`
//! over real actors running trivial programs (`sleep`, `true`, `false`)
//! under the fake shim (`supervisor::test_support`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use tokio::sync::mpsc;

use super::*;
use crate::model::spec::{Check, Dependency, Probe};
use crate::supervisor::test_support::{fake_shim, service, within};

fn project(services: Vec<ServiceSpec>) -> ProjectSpec {
    ProjectSpec {
        project: "test".into(),
        config_path: "/nowhere/facerunner.yaml".into(),
        services,
        settings: Default::default(),
    }
}

fn needs(mut svc: ServiceSpec, on: &str, condition: Condition) -> ServiceSpec {
    svc.depends_on.push(Dependency {
        service: on.into(),
        condition,
    });
    svc
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|n| (*n).to_string()).collect()
}

fn set(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|n| (*n).to_string()).collect()
}

/// web → api → db, and `other` on its own; `web` first in the file.
fn layered() -> ProjectSpec {
    project(vec![
        needs(service("web", &["true"]), "api", Condition::Healthy),
        needs(service("api", &["true"]), "db", Condition::Started),
        service("db", &["true"]),
        service("other", &["true"]),
    ])
}

#[test]
fn closure_of_no_names_is_every_service_dependencies_first() {
    let order = closure(&layered(), &[]).expect("no cycle");
    assert_eq!(order, names(&["db", "other", "api", "web"]));
}

#[test]
fn closure_pulls_in_the_dependencies_of_the_named_services_only() {
    let spec = layered();
    assert_eq!(
        closure(&spec, &names(&["web"])).expect("no cycle"),
        names(&["db", "api", "web"])
    );
    assert_eq!(
        closure(&spec, &names(&["api", "other"])).expect("no cycle"),
        names(&["db", "other", "api"])
    );
}

#[test]
fn closure_names_an_unknown_service() {
    let e = closure(&layered(), &names(&["web", "nope"])).expect_err("unknown");
    assert_eq!(e.kind, ErrorKind::UnknownService);
    assert!(e.message.contains("\"nope\""), "{}", e.message);
}

#[test]
fn closure_names_an_unknown_dependency() {
    let spec = project(vec![needs(
        service("web", &["true"]),
        "ghost",
        Condition::Started,
    )]);
    let e = closure(&spec, &[]).expect_err("unknown dependency");
    assert_eq!(e.kind, ErrorKind::UnknownService);
    assert!(e.message.contains("\"ghost\""), "{}", e.message);
}

#[test]
fn topo_order_keeps_file_order_among_independent_services() {
    let spec = project(vec![
        service("c", &["true"]),
        service("a", &["true"]),
        service("b", &["true"]),
    ]);
    assert_eq!(
        topo_order(&spec, &set(&["a", "b", "c"])).expect("no cycle"),
        names(&["c", "a", "b"])
    );
    assert_eq!(
        topo_order(&spec, &set(&["b", "c"])).expect("no cycle"),
        names(&["c", "b"]),
        "only the wanted ones"
    );
}

#[test]
fn topo_order_refuses_a_cycle_and_names_only_its_members() {
    let spec = project(vec![
        needs(service("a", &["true"]), "b", Condition::Started),
        service("free", &["true"]),
        needs(service("b", &["true"]), "a", Condition::Healthy),
    ]);
    let e = topo_order(&spec, &set(&["a", "b", "free"])).expect_err("a cycle");
    assert_eq!(e.kind, ErrorKind::InvalidSpec);
    assert_eq!(e.message, "dependency cycle among a, b");
    let e = closure(&spec, &names(&["a"])).expect_err("closure sees it too");
    assert_eq!(e.kind, ErrorKind::InvalidSpec);
}

/// Handles for every service of `spec`, under the fake shim in `dir`.
fn handles(spec: &ProjectSpec, dir: &Path) -> BTreeMap<String, ServiceHandle> {
    let shim = fake_shim(dir);
    spec.services
        .iter()
        .map(|s| {
            let log = dir.join(format!("{}.log", s.name));
            let h = ServiceHandle::new(s.clone(), log, shim.clone()).expect("handle");
            (s.name.clone(), h)
        })
        .collect()
}

fn channel() -> (mpsc::Sender<Event>, mpsc::Receiver<Event>) {
    // Larger than any test's events: `bring_up` awaits each send.
    mpsc::channel(1024)
}

fn drain(rx: &mut mpsc::Receiver<Event>) -> Vec<Event> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e);
    }
    out
}

/// Index of the first event matching `pred`, failing with the events.
fn position(events: &[Event], what: &str, pred: impl Fn(&Event) -> bool) -> usize {
    events
        .iter()
        .position(pred)
        .unwrap_or_else(|| panic!("no event {what} in {events:#?}"))
}

/// Stop everything the test started.
async fn down_all(spec: &ProjectSpec, handles: &BTreeMap<String, ServiceHandle>) {
    let (tx, _rx) = channel();
    let all: Vec<String> = handles.keys().cloned().collect();
    within("everything to stop", bring_down(spec, handles, &all, &tx)).await;
}

#[tokio::test]
async fn bring_up_starts_a_dependency_before_its_dependent_and_bring_down_stops_in_reverse() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = project(vec![
        needs(service("web", &["sleep", "60"]), "db", Condition::Started),
        service("db", &["sleep", "60"]),
    ]);
    let handles = handles(&spec, dir.path());
    let (tx, mut rx) = channel();
    let order = closure(&spec, &[]).expect("order");
    let failed = within("bring_up", bring_up(&spec, &handles, &order, false, &tx)).await;
    assert!(failed.is_empty(), "{failed:?}");
    let events = drain(&mut rx);
    let waiting = position(
        &events,
        "web waiting",
        |e| matches!(e, Event::Waiting { service, on } if service == "web" && on == "db (started)"),
    );
    let db_started = position(
        &events,
        "db started",
        |e| matches!(e, Event::Started { service, .. } if service == "db"),
    );
    let web_starting = position(
        &events,
        "web starting",
        |e| matches!(e, Event::Starting { service } if service == "web"),
    );
    assert!(
        waiting < web_starting && db_started < web_starting,
        "{events:#?}"
    );
    for h in handles.values() {
        assert!(
            matches!(h.snapshot().lifecycle, Lifecycle::Running { .. }),
            "{}: {:?}",
            h.name,
            h.snapshot().lifecycle
        );
    }

    let all = names(&["web", "db"]);
    within("bring_down", bring_down(&spec, &handles, &all, &tx)).await;
    let events = drain(&mut rx);
    let web_stopped = position(
        &events,
        "web stopped",
        |e| matches!(e, Event::Stopped { service } if service == "web"),
    );
    let db_stopping = position(
        &events,
        "db stopping",
        |e| matches!(e, Event::Stopping { service } if service == "db"),
    );
    assert!(web_stopped < db_stopping, "{events:#?}");
    for h in handles.values() {
        assert_eq!(h.snapshot().lifecycle, Lifecycle::Stopped, "{}", h.name);
    }
}

#[tokio::test]
async fn bring_down_of_a_stopped_service_says_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = project(vec![service("idle", &["sleep", "60"])]);
    let handles = handles(&spec, dir.path());
    let (tx, mut rx) = channel();
    within(
        "bring_down",
        bring_down(&spec, &handles, &names(&["idle"]), &tx),
    )
    .await;
    assert_eq!(drain(&mut rx), vec![]);
}

#[tokio::test]
async fn a_dependency_that_exits_zero_lets_its_completed_dependent_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = project(vec![
        service("migrate", &["true"]),
        needs(
            service("app", &["sleep", "60"]),
            "migrate",
            Condition::Completed,
        ),
    ]);
    let handles = handles(&spec, dir.path());
    let (tx, mut rx) = channel();
    let order = closure(&spec, &[]).expect("order");
    let failed = within("bring_up", bring_up(&spec, &handles, &order, false, &tx)).await;
    assert!(failed.is_empty(), "{failed:?} {:#?}", drain(&mut rx));
    assert!(matches!(
        &handles["migrate"].snapshot().lifecycle,
        Lifecycle::Exited { exit } if exit.is_success()
    ));
    assert!(matches!(
        handles["app"].snapshot().lifecycle,
        Lifecycle::Running { .. }
    ));
    down_all(&spec, &handles).await;
}

#[tokio::test]
async fn a_dependency_that_exits_non_zero_fails_its_completed_dependent_without_starting_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = project(vec![
        service("migrate", &["false"]),
        needs(
            service("app", &["sleep", "60"]),
            "migrate",
            Condition::Completed,
        ),
    ]);
    let handles = handles(&spec, dir.path());
    let (tx, mut rx) = channel();
    let order = closure(&spec, &[]).expect("order");
    let failed = within("bring_up", bring_up(&spec, &handles, &order, false, &tx)).await;
    let events = drain(&mut rx);
    // `migrate` has no probe: it was ready once spawned, and exiting later
    // does not undo that; what it did fail is `app`'s condition.
    assert_eq!(failed, names(&["app"]), "{events:#?}");
    position(&events, "app failed on its dependency", |e| {
        matches!(e, Event::Failed { service, reason, .. }
            if service == "app" && reason == "dependency migrate did not become completed")
    });
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::Starting { service } if service == "app")),
        "{events:#?}"
    );
    assert_eq!(handles["app"].snapshot().generation, 0, "never started");
}

#[tokio::test]
async fn a_failing_probe_fails_the_service_and_its_healthy_dependent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut db = service("db", &["sleep", "60"]);
    db.probe = Some(Probe {
        check: Check::Exec {
            argv: names(&["false"]),
        },
        interval: Duration::from_millis(10),
        start_interval: None,
        timeout: Duration::from_secs(30),
        retries: 1,
        start_period: Duration::ZERO,
    });
    let spec = project(vec![
        db,
        needs(service("web", &["sleep", "60"]), "db", Condition::Healthy),
        service("free", &["sleep", "60"]),
    ]);
    let handles = handles(&spec, dir.path());
    let (tx, mut rx) = channel();
    let order = closure(&spec, &[]).expect("order");
    let failed = within("bring_up", bring_up(&spec, &handles, &order, false, &tx)).await;
    let events = drain(&mut rx);
    assert_eq!(failed, names(&["db", "web"]), "{events:#?}");
    position(&events, "db failed with its probe", |e| {
        matches!(e, Event::Failed { service, reason, probe, .. }
            if service == "db"
                && reason.starts_with("probe exec false failed 1 times")
                && probe.as_deref() == Some("exec false"))
    });
    position(&events, "web failed on db", |e| {
        matches!(e, Event::Failed { service, reason, .. }
            if service == "web" && reason == "dependency db did not become healthy")
    });
    position(
        &events,
        "free, independent, ready",
        |e| matches!(e, Event::Ready { service } if service == "free"),
    );
    down_all(&spec, &handles).await;
}

#[tokio::test]
async fn a_second_up_leaves_a_ready_service_alone_and_restart_replaces_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = project(vec![service("svc", &["sleep", "60"])]);
    let handles = handles(&spec, dir.path());
    let h = &handles["svc"];
    let (tx, mut rx) = channel();
    let order = names(&["svc"]);
    within("first up", bring_up(&spec, &handles, &order, false, &tx)).await;
    let first = h.snapshot().started_pid.expect("a pid");
    drain(&mut rx);

    let failed = within("second up", bring_up(&spec, &handles, &order, false, &tx)).await;
    assert!(failed.is_empty());
    assert_eq!(
        drain(&mut rx),
        vec![Event::Unchanged {
            service: "svc".into()
        }]
    );
    assert_eq!(h.snapshot().started_pid, Some(first));

    let failed = within("restart", bring_up(&spec, &handles, &order, true, &tx)).await;
    assert!(failed.is_empty());
    let events = drain(&mut rx);
    let stopping = position(&events, "stopping", |e| matches!(e, Event::Stopping { .. }));
    let starting = position(&events, "starting", |e| matches!(e, Event::Starting { .. }));
    assert!(stopping < starting, "{events:#?}");
    let second = h.snapshot().started_pid.expect("a pid");
    assert_ne!(second, first);
    down_all(&spec, &handles).await;
}

#[tokio::test]
async fn a_changed_spec_restarts_a_running_service_with_the_new_spec() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = project(vec![service("svc", &["sleep", "60"])]);
    let handles = handles(&spec, dir.path());
    let h = &handles["svc"];
    let (tx, mut rx) = channel();
    let order = names(&["svc"]);
    within("first up", bring_up(&spec, &handles, &order, false, &tx)).await;
    let first = h.snapshot().started_pid.expect("a pid");
    drain(&mut rx);

    let mut changed = service("svc", &["sleep", "61"]);
    changed.spec_hash = "changed".into();
    let changed = project(vec![changed]);
    let failed = within(
        "up with the change",
        bring_up(&changed, &handles, &order, false, &tx),
    )
    .await;
    assert!(failed.is_empty());
    let events = drain(&mut rx);
    let stopping = position(&events, "stopping", |e| matches!(e, Event::Stopping { .. }));
    let ready = position(&events, "ready", |e| matches!(e, Event::Ready { .. }));
    assert!(stopping < ready, "{events:#?}");
    let s = h.snapshot();
    assert_eq!(s.spec_hash, "changed");
    assert_ne!(s.started_pid, Some(first));
    let pid = s.started_pid.expect("a pid");
    // The fake shim reports the pid just before the program is exec'd.
    within("the new argv to run", async {
        while std::fs::read(format!("/proc/{pid}/cmdline")).expect("cmdline") != b"sleep\x0061\x00"
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    down_all(&changed, &handles).await;
}
