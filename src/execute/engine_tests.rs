//! The engine over a fake [`ServiceDriver`] and a scripted stand-in Ollama
//! (`ollama::test_server`): independent steps run together, a failure
//! skips only its dependents (naming the dependency), the state file is
//! written after every success, and a step settles exactly once.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Barrier, Notify};

use super::*;
use crate::client::SupervisorError;
use crate::execute::driver::{BoxFuture, EventFn};
use crate::model::spec::{LogSpec, RestartSpec, ServiceSpec, StopSpec};
use crate::model::state::{ModelRecord, Origin, ServiceRecord};
use crate::model::wire::Event;
use crate::ollama::test_server::{Recorded, TestServer, json, ndjson};
use crate::plan::{Action, FORMAT_VERSION, Fingerprint};

/// Stands in for the daemon: optionally waits for a go, reports `events`,
/// then returns `result` (`Err` text becomes a protocol error).
#[derive(Debug)]
struct FakeDriver {
    gate: Option<Arc<Notify>>,
    events: Vec<Event>,
    result: Result<Vec<String>, String>,
    calls: AtomicUsize,
}

impl FakeDriver {
    fn new(events: Vec<Event>, result: Result<Vec<String>, String>) -> FakeDriver {
        FakeDriver {
            gate: None,
            events,
            result,
            calls: AtomicUsize::new(0),
        }
    }
}

impl ServiceDriver for FakeDriver {
    fn up<'a>(
        &'a self,
        _spec: &'a ProjectSpec,
        on_event: EventFn<'a>,
    ) -> BoxFuture<'a, Result<Vec<String>, SupervisorError>> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if let Some(gate) = &self.gate {
                gate.notified().await;
            }
            for e in &self.events {
                on_event(e);
            }
            self.result.clone().map_err(SupervisorError::Protocol)
        })
    }
}

/// Records every event, and the state file as it is when each step settles.
struct Recorder {
    state_dir: std::path::PathBuf,
    events: Mutex<Vec<ExecEvent>>,
    /// Step id → the state file when it finished.
    state_at_finish: Mutex<BTreeMap<usize, State>>,
    /// Notified when the given step finishes.
    on_finish: Option<(usize, Arc<Notify>)>,
}

impl Recorder {
    fn new(dirs: &ProjectDirs) -> Recorder {
        Recorder {
            state_dir: dirs.state.clone(),
            events: Mutex::new(vec![]),
            state_at_finish: Mutex::new(BTreeMap::new()),
            on_finish: None,
        }
    }

    fn events(&self) -> Vec<ExecEvent> {
        self.events.lock().expect("lock").clone()
    }

    fn started(&self) -> Vec<usize> {
        self.events()
            .iter()
            .filter_map(|e| match e {
                ExecEvent::StepStarted { id, .. } => Some(*id),
                _ => None,
            })
            .collect()
    }

    fn finished(&self, step: usize) -> usize {
        self.events()
            .iter()
            .filter(|e| matches!(e, ExecEvent::StepFinished { id, .. } if *id == step))
            .count()
    }

    fn state_when(&self, step: usize) -> State {
        self.state_at_finish
            .lock()
            .expect("lock")
            .get(&step)
            .cloned()
            .unwrap_or_else(|| panic!("step {step} did not finish"))
    }
}

impl Sink for Recorder {
    fn event(&self, event: &ExecEvent) {
        if let ExecEvent::StepFinished { id, .. } = event {
            let state = store::load(&self.state_dir).expect("the state file reads");
            self.state_at_finish
                .lock()
                .expect("lock")
                .insert(*id, state);
            if let Some((step, notify)) = &self.on_finish
                && step == id
            {
                notify.notify_one();
            }
        }
        self.events.lock().expect("lock").push(event.clone());
    }
}

fn service(name: &str) -> ServiceSpec {
    ServiceSpec {
        name: name.into(),
        kind: "ollama".into(),
        argv: vec!["ollama".into(), "serve".into()],
        env: BTreeMap::new(),
        secret_env: Default::default(),
        working_dir: "/".into(),
        depends_on: vec![],
        probe: None,
        restart: RestartSpec::default(),
        stop: StopSpec::default(),
        bind: None,
        port: None,
        log: LogSpec::default(),
        spec_hash: format!("hash of {name}"),
    }
}

fn plan(steps: Vec<(Action, Vec<usize>)>) -> Plan {
    Plan {
        format_version: FORMAT_VERSION,
        project: "test".into(),
        fingerprint: Fingerprint {
            config: String::new(),
            live: String::new(),
            hub: String::new(),
        },
        steps: steps
            .into_iter()
            .enumerate()
            .map(|(id, (action, waits_for))| Step {
                id,
                action,
                reason: "test".into(),
                waits_for,
            })
            .collect(),
        checks: vec![],
        unmanaged: BTreeMap::new(),
        fit: Vec::new(),
        fit_skipped: None,
        placement: Vec::new(),
    }
}

fn context(dir: &Path, driver: FakeDriver, ollama_url: Option<String>) -> Context {
    Context {
        dirs: ProjectDirs::under(dir, "test"),
        spec: ProjectSpec {
            project: "test".into(),
            config_path: dir.join("facerunner.yaml"),
            services: vec![service("ollama"), service("web")],
            settings: Default::default(),
        },
        driver: Arc::new(driver),
        urls: ollama_url
            .map(|u| BTreeMap::from([("ollama".to_string(), u)]))
            .unwrap_or_default(),
        pull_concurrency: 2,
        by_hand: false,
        hub_vars: crate::hf::HubVars::process(),
    }
}

fn start(service: &str) -> Action {
    Action::StartService {
        service: service.into(),
    }
}

fn copy(source: &str, model: &str) -> Action {
    Action::CopyModel {
        service: "ollama".into(),
        source: source.into(),
        model: model.into(),
    }
}

fn pull(model: &str) -> Action {
    Action::PullModel {
        service: "ollama".into(),
        model: model.into(),
        source: None,
        hf: None,
    }
}

fn outcomes(report: &Report) -> Vec<Outcome> {
    report
        .steps
        .iter()
        .map(|(_, _, o)| match o {
            Outcome::Failed(f) => failed(&f.error),
            o => o.clone(),
        })
        .collect()
}

/// A failure as compared in these tests: the message only (the kind and
/// help are `StepError::failure`'s, tested in `execute::error`).
fn failed(error: &str) -> Outcome {
    Outcome::Failed(Failure::new(FailureKind::Other, error))
}

/// Await `fut`; a hang fails the test instead (a bound, not a measurement).
async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(60), fut).await {
        Ok(v) => v,
        Err(_) => panic!("gave up waiting: {what}"),
    }
}

/// The model key the state file uses.
fn key(model: &str) -> String {
    crate::names::ModelName::parse(model)
        .expect("a model name")
        .key()
}

/// An Ollama that answers every copy with 200, a copy of `missing` with 404,
/// and every pull with a short successful stream.
fn ollama(request: &Recorded) -> Vec<crate::ollama::test_server::Step> {
    match request.path.as_str() {
        "/api/copy" if request.json()["source"] == "missing" => {
            json(404, r#"{"error":"model 'missing' not found"}"#)
        }
        "/api/copy" => json(200, ""),
        "/api/pull" => ndjson(&[
            r#"{"status":"pulling manifest"}"#,
            r#"{"status":"success"}"#,
        ]),
        _ => json(404, r#"{"error":"not here"}"#),
    }
}

#[tokio::test]
async fn independent_model_steps_run_at_the_same_time() {
    let barrier = Arc::new(Barrier::new(2));
    let held = barrier.clone();
    // Each answer waits until both requests are in: run one after the
    // other, the first would never be answered.
    let server = TestServer::start(move |_, _| {
        let mut steps = vec![crate::ollama::test_server::Step::Wait(held.clone())];
        steps.extend(json(200, ""));
        steps
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = context(
        dir.path(),
        FakeDriver::new(vec![], Ok(vec![])),
        Some(server.url()),
    );
    let plan = plan(vec![(copy("a", "b"), vec![]), (copy("c", "d"), vec![])]);
    let sink = Recorder::new(&ctx.dirs);
    let report = within("both copies", execute(&plan, &ctx, State::default(), &sink)).await;
    assert_eq!(outcomes(&report), [Outcome::Succeeded, Outcome::Succeeded]);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn model_steps_do_not_wait_for_unrelated_service_steps() {
    let server = TestServer::start(|_, r| ollama(r)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let go = Arc::new(Notify::new());
    let mut driver = FakeDriver::new(
        vec![Event::Ready {
            service: "web".into(),
        }],
        Ok(vec![]),
    );
    // The daemon's answer comes only once the model step has finished.
    driver.gate = Some(go.clone());
    let ctx = context(dir.path(), driver, Some(server.url()));
    let plan = plan(vec![(start("web"), vec![]), (copy("a", "b"), vec![])]);
    let mut sink = Recorder::new(&ctx.dirs);
    sink.on_finish = Some((1, go));
    let report = within("the plan", execute(&plan, &ctx, State::default(), &sink)).await;
    assert_eq!(outcomes(&report), [Outcome::Succeeded, Outcome::Succeeded]);
}

#[tokio::test]
async fn a_failed_step_skips_its_dependents_naming_the_dependency_and_spares_the_rest() {
    let server = TestServer::start(|_, r| ollama(r)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = context(
        dir.path(),
        FakeDriver::new(vec![], Ok(vec![])),
        Some(server.url()),
    );
    let plan = plan(vec![
        (copy("missing", "b"), vec![]),
        (copy("b", "c"), vec![0]),
        (copy("x", "y"), vec![]),
        (copy("c", "d"), vec![1]),
    ]);
    let sink = Recorder::new(&ctx.dirs);
    let report = within("the plan", execute(&plan, &ctx, State::default(), &sink)).await;
    let o = outcomes(&report);
    assert!(
        matches!(&o[0], Outcome::Failed(f) if f.error.contains("not found")),
        "{o:?}"
    );
    assert_eq!(o[1], Outcome::Skipped { because: 0 });
    assert_eq!(o[2], Outcome::Succeeded);
    assert_eq!(o[3], Outcome::Skipped { because: 1 }, "its own dependency");
    let mut started = sink.started();
    started.sort_unstable();
    assert_eq!(started, [0, 2], "skipped steps never start");
    let sources: Vec<String> = server
        .requests()
        .iter()
        .map(|r| r.json()["source"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(!sources.contains(&"b".to_string()), "{sources:?}");
}

#[tokio::test]
async fn a_failed_service_step_skips_the_model_steps_waiting_for_it() {
    let server = TestServer::start(|_, r| ollama(r)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let driver = FakeDriver::new(
        vec![Event::Failed {
            service: "ollama".into(),
            reason: "probe failed 3 times".into(),
            probe: Some("http GET http://127.0.0.1:1/".into()),
            log_tail: vec!["bind: address in use".into(), "bye".into()],
        }],
        Ok(vec!["ollama".into()]),
    );
    let ctx = context(dir.path(), driver, Some(server.url()));
    let plan = plan(vec![
        (start("ollama"), vec![]),
        (pull("llama3.2:1b"), vec![0]),
    ]);
    let sink = Recorder::new(&ctx.dirs);
    let report = within("the plan", execute(&plan, &ctx, State::default(), &sink)).await;
    assert_eq!(
        outcomes(&report),
        [
            failed(
                "probe failed 3 times; probe: http GET http://127.0.0.1:1/; \
                 last log lines: bind: address in use | bye"
            ),
            Outcome::Skipped { because: 0 },
        ]
    );
    assert!(server.requests().is_empty(), "nothing pulled");
    assert_eq!(
        store::load(&ctx.dirs.state).expect("state"),
        State::default(),
        "a failure records nothing"
    );
}

#[tokio::test]
async fn a_driver_error_fails_every_service_step_with_its_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let driver = FakeDriver::new(vec![], Err("the socket closed".into()));
    let ctx = context(dir.path(), driver, None);
    let plan = plan(vec![
        (start("ollama"), vec![]),
        (start("web"), vec![]),
        (pull("llama3.2:1b"), vec![0]),
    ]);
    let sink = Recorder::new(&ctx.dirs);
    let report = within("the plan", execute(&plan, &ctx, State::default(), &sink)).await;
    assert_eq!(
        outcomes(&report),
        [
            failed("cannot reach the daemon: protocol error: the socket closed"),
            failed("cannot reach the daemon: protocol error: the socket closed"),
            Outcome::Skipped { because: 0 },
        ]
    );
}

#[tokio::test]
async fn the_state_file_is_written_after_each_successful_step() {
    let server = TestServer::start(|_, r| ollama(r)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let driver = FakeDriver::new(
        vec![
            Event::Starting {
                service: "ollama".into(),
            },
            Event::Ready {
                service: "ollama".into(),
            },
            Event::Stopped {
                service: "gone".into(),
            },
        ],
        Ok(vec![]),
    );
    let ctx = context(dir.path(), driver, Some(server.url()));
    // What the state file held when the plan was made: carried over.
    let mut before = State::default();
    for name in ["kept", "gone"] {
        before.services.insert(
            name.into(),
            ServiceRecord {
                spec_hash: format!("old hash of {name}"),
                spec: serde_json::Value::Null,
            },
        );
    }
    let plan = plan(vec![
        (start("ollama"), vec![]),
        (
            Action::StopService {
                service: "gone".into(),
            },
            vec![],
        ),
        (pull("llama3.2:1b"), vec![0]),
        (copy("llama3.2:1b", "small"), vec![2]),
        (copy("missing", "never"), vec![0]),
    ]);
    let sink = Recorder::new(&ctx.dirs);
    let report = within("the plan", execute(&plan, &ctx, before, &sink)).await;
    let o = outcomes(&report);
    assert!(o[..4].iter().all(Outcome::is_success), "{o:?}");
    assert!(matches!(o[4], Outcome::Failed { .. }), "{o:?}");

    let at_start = sink.state_when(0);
    assert_eq!(at_start.services["ollama"].spec_hash, "hash of ollama");
    assert!(at_start.services.contains_key("kept"));
    assert!(at_start.models.is_empty(), "{at_start:?}");

    assert!(!sink.state_when(1).services.contains_key("gone"));

    let at_pull = sink.state_when(2);
    assert_eq!(
        at_pull.models["ollama"][&key("llama3.2:1b")],
        ModelRecord {
            name: "llama3.2:1b".into(),
            origin: Origin::Pulled,
            create_hash: None,
            definition: None,
            hf_commit: None,
        }
    );
    assert!(!at_pull.models["ollama"].contains_key(&key("small")));

    let at_copy = sink.state_when(3);
    assert_eq!(
        at_copy.models["ollama"][&key("small")].origin,
        Origin::Copied
    );

    let last = store::load(&ctx.dirs.state).expect("state");
    assert!(last.services.contains_key("kept"));
    assert!(!last.services.contains_key("gone"));
    assert!(!last.models["ollama"].contains_key(&key("never")));
    assert_eq!(last.models["ollama"].len(), 2);
}

#[tokio::test]
async fn a_model_step_for_a_service_without_a_url_fails_saying_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = context(dir.path(), FakeDriver::new(vec![], Ok(vec![])), None);
    let plan = plan(vec![(pull("llama3.2:1b"), vec![])]);
    let sink = Recorder::new(&ctx.dirs);
    let report = within("the plan", execute(&plan, &ctx, State::default(), &sink)).await;
    assert_eq!(
        outcomes(&report),
        [failed("service ollama is not an ollama service")]
    );
}

#[tokio::test]
async fn a_model_step_against_an_ollama_that_is_not_there_fails() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = context(
        dir.path(),
        FakeDriver::new(vec![], Ok(vec![])),
        Some(format!("http://127.0.0.1:{port}")),
    );
    let plan = plan(vec![(copy("a", "b"), vec![]), (copy("b", "c"), vec![0])]);
    let sink = Recorder::new(&ctx.dirs);
    let report = within("the plan", execute(&plan, &ctx, State::default(), &sink)).await;
    let o = outcomes(&report);
    assert!(
        matches!(&o[0], Outcome::Failed(f) if f.error.contains(&port.to_string())),
        "the error names where it looked: {o:?}"
    );
    assert_eq!(o[1], Outcome::Skipped { because: 0 });
}

#[tokio::test]
async fn a_ready_service_step_stays_succeeded_when_the_driver_later_lists_it_failed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let driver = FakeDriver::new(
        vec![Event::Ready {
            service: "web".into(),
        }],
        Ok(vec!["web".into()]),
    );
    let ctx = context(dir.path(), driver, None);
    let plan = plan(vec![(start("web"), vec![])]);
    let sink = Recorder::new(&ctx.dirs);
    let report = within("the plan", execute(&plan, &ctx, State::default(), &sink)).await;
    assert_eq!(outcomes(&report), [Outcome::Succeeded]);
    assert_eq!(sink.finished(0), 1, "settled once: {:#?}", sink.events());
}

#[tokio::test]
async fn a_failed_service_step_is_not_made_a_success_by_the_driver_result() {
    let dir = tempfile::tempdir().expect("tempdir");
    let driver = FakeDriver::new(
        vec![
            Event::Failed {
                service: "web".into(),
                reason: "exited (exit code 1) before becoming ready".into(),
                probe: None,
                log_tail: vec![],
            },
            Event::Ready {
                service: "web".into(),
            },
        ],
        Ok(vec![]),
    );
    let ctx = context(dir.path(), driver, None);
    let plan = plan(vec![(start("web"), vec![])]);
    let sink = Recorder::new(&ctx.dirs);
    let report = within("the plan", execute(&plan, &ctx, State::default(), &sink)).await;
    assert_eq!(
        outcomes(&report),
        [failed("exited (exit code 1) before becoming ready")]
    );
    assert_eq!(sink.finished(0), 1);
    assert_eq!(
        store::load(&ctx.dirs.state).expect("state"),
        State::default()
    );
}

#[tokio::test]
async fn a_plan_without_service_steps_never_calls_the_driver() {
    let server = TestServer::start(|_, r| ollama(r)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let driver = Arc::new(FakeDriver::new(vec![], Err("must not be called".into())));
    let mut ctx = context(
        dir.path(),
        FakeDriver::new(vec![], Ok(vec![])),
        Some(server.url()),
    );
    ctx.driver = driver.clone();
    let plan = plan(vec![(copy("a", "b"), vec![])]);
    let sink = Recorder::new(&ctx.dirs);
    let report = within("the plan", execute(&plan, &ctx, State::default(), &sink)).await;
    assert_eq!(outcomes(&report), [Outcome::Succeeded]);
    assert_eq!(driver.calls.load(Ordering::SeqCst), 0);
}

#[test]
fn finish_settles_a_step_once_and_wakes_its_dependents_with_the_first_outcome() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = context(dir.path(), FakeDriver::new(vec![], Ok(vec![])), None);
    let plan = plan(vec![(start("web"), vec![]), (copy("a", "b"), vec![0])]);
    let sink = Recorder::new(&ctx.dirs);
    let run = Run {
        ctx: &ctx,
        plan: &plan,
        sink: &sink,
        pulls: Semaphore::new(1),
        state: tokio::sync::Mutex::new(State::default()),
        outcomes: Mutex::new(vec![None; 2]),
        done: (0..2).map(|_| watch::channel(None).0).collect(),
    };
    let waiter = run.done[0].subscribe();
    assert!(!run.is_finished(0));
    run.finish(0, failed("first"));
    assert!(run.is_finished(0));
    assert!(!run.is_finished(1));
    run.finish(0, Outcome::Succeeded);
    assert_eq!(*waiter.borrow(), Some(false), "the first outcome counts");
    assert_eq!(run.outcomes.lock().expect("lock")[0], Some(failed("first")));
    assert_eq!(sink.finished(0), 1, "{:#?}", sink.events());
}
