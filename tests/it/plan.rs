//! `plan` / `apply` / `models` / `pull` / `rm` end to end: the real binary,
//! the supervisor, and the Ollama stand-in as the `binary:` of each ollama
//! service, in a temp dir with its own FACERUNNER_HOME and free ports.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use crate::support::{Project, describe, free_port, text, wait_until};

fn standin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/ollama_standin.py")
}

/// One ollama service running the stand-in, with its request log.
struct Ollama {
    name: &'static str,
    port: u16,
    log: PathBuf,
}

impl Ollama {
    fn new(p: &Project, name: &'static str) -> Ollama {
        Ollama {
            name,
            port: free_port(),
            log: p.dir.path().join(format!("{name}.requests")),
        }
    }

    /// The service block; `env` are extra `KEY: value` pairs.
    fn yaml(&self, p: &Project, env: &str) -> String {
        format!(
            "  {name}:\n    kind: ollama\n    port: {port}\n    binary: {bin}\n    models_dir: {dir}\n    env: {{ STANDIN_REQUEST_LOG: {log}{env} }}\n",
            name = self.name,
            port = self.port,
            bin = standin().display(),
            dir = p.dir.path().join(format!("{}-models", self.name)).display(),
            log = self.log.display(),
        )
    }

    fn requests(&self, path: &str) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&format!("\"path\":\"{path}\"")))
            .count()
    }

    /// A raw HTTP request to the stand-in; returns the body.
    fn http(&self, method: &str, path: &str, body: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to the stand-in");
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: localhost:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        )
        .expect("send");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        out.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default()
    }

    fn faults(&self, json: &str) {
        self.http("POST", "/__standin/faults", json);
    }
}

fn write(p: &Project, services: &str, rest: &str) {
    p.write(&format!("{services}{rest}"));
}

fn models_of(p: &Project, service: &str) -> Vec<String> {
    let out = p.ok(&["models", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("models --json is JSON");
    v[service]["models"]
        .as_array()
        .expect("models listed")
        .iter()
        .map(|m| m["name"].as_str().expect("name").to_string())
        .collect()
}

fn apply(p: &Project) -> Output {
    p.run(&["apply", "--yes", "--color", "never"])
}

fn assert_converged(p: &Project) {
    let out = p.run(&["plan", "--detailed-exitcode", "--color", "never"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "not converged:\n{}",
        describe(&out)
    );
    assert!(
        text(&out.stdout).contains("No changes."),
        "{}",
        describe(&out)
    );
}

#[test]
fn fresh_apply_converges_and_plan_asks_each_ollama_once_for_its_tags() {
    let p = Project::new("");
    let (a, b) = (Ollama::new(&p, "ollama"), Ollama::new(&p, "ollama2"));
    let services = [a.yaml(&p, ""), b.yaml(&p, "")].concat();
    write(
        &p,
        &services,
        "models:\n  - ollama: llama3.2:1b\n    service: ollama\n  - ollama: qwen2.5:0.5b\n    service: ollama\n    alias: tiny\n  - ollama: smollm:135m\n    service: ollama2\n    keep_alive: 10m\n",
    );
    let out = p.run(&["plan", "--detailed-exitcode", "--color", "never"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        text(&out.stdout).contains("Plan: 6 to add, 1 to change, 0 to remove."),
        "{}",
        describe(&out)
    );
    let out = apply(&p);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        text(&out.stdout).contains("7 succeeded, 0 failed"),
        "{}",
        describe(&out)
    );
    assert_eq!(
        models_of(&p, "ollama"),
        ["llama3.2:1b", "qwen2.5:0.5b", "tiny:latest"]
    );
    let (ta, tb) = (a.requests("/api/tags"), b.requests("/api/tags"));
    assert_converged(&p);
    assert_eq!(
        a.requests("/api/tags"),
        ta + 1,
        "one /api/tags per plan on ollama"
    );
    assert_eq!(
        b.requests("/api/tags"),
        tb + 1,
        "one /api/tags per plan on ollama2"
    );
}

#[test]
fn a_pull_failing_in_the_stream_is_reported_and_the_others_complete() {
    let p = Project::new("");
    let o = Ollama::new(&p, "ollama");
    let services = o.yaml(
        &p,
        ", STANDIN_FAIL_PULL: broken:1b, STANDIN_PULL_RATE: 2000000",
    );
    write(
        &p,
        &services,
        "models:\n  - ollama: good:1b\n  - ollama: broken:1b\n  - ollama: fine:1b\n  - name: child\n    from: broken:1b\n",
    );
    let out = apply(&p);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        all.contains("pull model manifest: simulated failure for broken:1b"),
        "{all}"
    );
    assert!(all.contains("3 succeeded, 1 failed, 1 skipped"), "{all}");
    assert!(
        all.contains("create child:latest: skipped"),
        "only what depends on the failure is skipped: {all}"
    );
    assert_eq!(models_of(&p, "ollama"), ["fine:1b", "good:1b"]);
}

#[test]
fn an_interrupted_pull_is_resumed_by_the_next_apply() {
    let p = Project::new("");
    let o = Ollama::new(&p, "ollama");
    let services = o.yaml(&p, ", STANDIN_DEFAULT_SIZE: 4000000");
    write(&p, &services, "");
    assert!(apply(&p).status.success());
    o.faults(r#"{"drop_pull": ["big:1b"]}"#);
    write(&p, &services, "models:\n  - ollama: big:1b\n");
    let out = apply(&p);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("ended early"),
        "{}",
        describe(&out)
    );
    o.faults(r#"{"drop_pull": null}"#);
    let out = p.run(&["apply", "--yes", "--json"]);
    assert!(out.status.success(), "{}", describe(&out));
    let first = text(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["event"] == "progress" && e["total"].as_u64().is_some())
        .expect("a progress event with bytes");
    assert!(
        first["completed"].as_u64().unwrap_or(0) > 0,
        "did not resume: {first}"
    );
    assert_converged(&p);
}

#[test]
fn prune_removes_only_owned_models() {
    let p = Project::new("");
    let o = Ollama::new(&p, "ollama");
    let services = o.yaml(&p, "");
    write(
        &p,
        &services,
        "settings:\n  prune_models: true\nmodels:\n  - ollama: keep:1b\n  - ollama: drop:1b\n",
    );
    assert!(apply(&p).status.success());
    o.http(
        "POST",
        "/api/pull",
        r#"{"model": "theirs:1b", "stream": false}"#,
    );
    write(
        &p,
        &services,
        "settings:\n  prune_models: true\nmodels:\n  - ollama: keep:1b\n",
    );
    let out = p.ok(&["plan", "--color", "never"]);
    let plan = text(&out.stdout);
    assert!(plan.contains("- remove drop:1b"), "{plan}");
    assert!(
        plan.contains("Unmanaged models on ollama (not touched)") && plan.contains("theirs:1b"),
        "{plan}"
    );
    assert!(apply(&p).status.success());
    assert_eq!(models_of(&p, "ollama"), ["keep:1b", "theirs:1b"]);
    assert_converged(&p);
}

#[test]
fn a_derived_model_is_recreated_when_its_parameters_change_and_left_alone_otherwise() {
    let p = Project::new("");
    let o = Ollama::new(&p, "ollama");
    let services = o.yaml(&p, "");
    let models = |t: &str| {
        format!(
            "models:\n  - ollama: base:1b\n  - name: coder\n    from: base:1b\n    system: Be brief.\n    parameters: {{ temperature: {t} }}\n"
        )
    };
    write(&p, &services, &models("0.2"));
    assert!(apply(&p).status.success());
    let creates = o.requests("/api/create");
    assert_eq!(creates, 1);
    assert_converged(&p);
    assert!(apply(&p).status.success());
    assert_eq!(
        o.requests("/api/create"),
        creates,
        "an unchanged derived model is left alone"
    );
    write(&p, &services, &models("0.7"));
    let out = p.ok(&["plan", "--color", "never"]);
    assert!(
        text(&out.stdout).contains("-/+ recreate coder:latest"),
        "{}",
        describe(&out)
    );
    assert!(apply(&p).status.success());
    assert_eq!(o.requests("/api/create"), creates + 1);
    assert_converged(&p);
}

#[test]
fn a_saved_plan_is_refused_after_the_file_changed_and_applied_otherwise() {
    let p = Project::new("");
    let o = Ollama::new(&p, "ollama");
    let services = o.yaml(&p, "");
    write(&p, &services, "models:\n  - ollama: one:1b\n");
    let saved = p.dir.path().join("plan.json");
    let saved_s = saved.display().to_string();
    p.ok(&["plan", "--out", &saved_s]);
    write(&p, &services, "models:\n  - ollama: two:1b\n");
    let out = p.run(&["apply", "--yes", &saved_s]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = text(&out.stderr);
    assert!(err.contains("stale") && err.contains("plan --out"), "{err}");
    p.ok(&["plan", "--out", &saved_s]);
    let out = p.run(&["apply", "--yes", &saved_s]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_converged(&p);
}

#[test]
fn apply_without_a_terminal_refuses_unless_yes() {
    let p = Project::new("");
    let o = Ollama::new(&p, "ollama");
    write(&p, &o.yaml(&p, ""), "");
    let out = p.run(&["apply"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(text(&out.stderr).contains("--yes"), "{}", describe(&out));
    assert!(p.service("ollama").is_none(), "nothing was started");
}

#[test]
fn two_concurrent_applies_are_serialized() {
    let p = Project::new("");
    let o = Ollama::new(&p, "ollama");
    let services = o.yaml(&p, ", STANDIN_PULL_RATE: 150000");
    write(&p, &services, "models:\n  - ollama: slow:1b\n");
    let lock = p.dirs().state.join("apply.lock");
    let first = p
        .cmd(&["apply", "--yes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_until(
        "the first apply holds the lock",
        Duration::from_secs(30),
        || {
            std::fs::read_to_string(&lock)
                .ok()
                .filter(|s| !s.trim().is_empty())
        },
    );
    let second = p
        .cmd(&["apply", "--yes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let (first, second) = (
        first.wait_with_output().expect("first"),
        second.wait_with_output().expect("second"),
    );
    assert!(first.status.success(), "{}", describe(&first));
    assert!(second.status.success(), "{}", describe(&second));
    assert!(
        text(&second.stderr).contains("waiting for another apply (pid"),
        "{}",
        describe(&second)
    );
    assert!(
        text(&second.stdout).contains("No changes."),
        "{}",
        describe(&second)
    );
}

#[test]
fn checks_block_apply_a_taken_port_a_missing_binary_and_a_missing_base_model() {
    let p = Project::new("");
    let o = Ollama::new(&p, "ollama");
    let _squatter = std::net::TcpListener::bind(("127.0.0.1", o.port)).expect("bind");
    let ghost = "  ghost:\n    command: [no-such-binary-for-facerunner]\n";
    write(
        &p,
        &format!("{}{ghost}", o.yaml(&p, "")),
        "models:\n  - name: coder\n    from: nowhere:1b\n",
    );
    let out = p.run(&["plan", "--color", "never"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let plan = text(&out.stdout);
    assert!(
        plan.contains("already taken by a process FaceRunner did not start"),
        "{plan}"
    );
    assert!(
        plan.contains("its base `nowhere:1b` is neither installed nor declared"),
        "{plan}"
    );
    assert!(
        plan.contains("`no-such-binary-for-facerunner` is not on PATH and is not a file"),
        "{plan}"
    );
    let out = apply(&p);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(p.service("ollama").is_none(), "nothing was started");
}

#[test]
fn a_missing_working_dir_is_a_plan_error_not_a_restart_loop() {
    let p = Project::new("  lost:\n    command: [sleep, \"60\"]\n    working_dir: ./no-such-dir\n");
    let out = p.run(&["plan", "--color", "never"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let plan = text(&out.stdout);
    let missing = p.dir.path().join("p/no-such-dir");
    assert!(
        plan.contains(&format!("its working directory {}", missing.display()))
            && plan.contains("does not exist"),
        "{plan}"
    );
    let out = apply(&p);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(p.service("lost").is_none(), "nothing was started");
}

#[test]
fn up_refusing_a_plan_with_errors_prints_the_errors() {
    let p = Project::new("  lost:\n    command: [sleep, \"60\"]\n    working_dir: ./no-such-dir\n");
    let out = p.run(&["up", "--color", "never"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = text(&out.stderr);
    let missing = p.dir.path().join("p/no-such-dir");
    assert!(
        err.contains(&format!(
            "error: service lost: its working directory {}",
            missing.display()
        )) && err.contains("help: create it, or fix `working_dir:`"),
        "{}",
        describe(&out)
    );
    assert!(
        err.contains("the plan has 1 error(s)"),
        "{}",
        describe(&out)
    );
    assert!(p.service("lost").is_none(), "nothing was started");
}

#[test]
fn pull_and_rm_manage_models_and_ownership() {
    let p = Project::new("");
    let o = Ollama::new(&p, "ollama");
    write(&p, &o.yaml(&p, ""), "settings:\n  prune_models: true\n");
    assert!(apply(&p).status.success());
    let out = p.run(&["pull", "a:1b", "b:1b"]);
    assert!(out.status.success(), "{}", describe(&out));
    let out = p.ok(&["models", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(
        v["ollama"]["models"]
            .as_array()
            .expect("list")
            .iter()
            .all(|m| m["owned"] == true),
        "{v}"
    );
    assert_eq!(p.run(&["rm", "nothere:1b"]).status.code(), Some(1));
    assert!(p.run(&["rm", "a:1b"]).status.success());
    // b was pulled by hand: not declared, so prune never removes it.
    let out = p.ok(&["plan", "--color", "never"]);
    assert!(
        !text(&out.stdout).contains("remove b:1b"),
        "{}",
        describe(&out)
    );
    assert_converged(&p);
    assert!(apply(&p).status.success());
    assert_eq!(models_of(&p, "ollama"), ["b:1b"]);
    // Declared, then dropped from the file again: still pulled by hand, kept.
    write(
        &p,
        &o.yaml(&p, ""),
        "settings:\n  prune_models: true\nmodels:\n  - ollama: b:1b\n",
    );
    assert_converged(&p);
    write(&p, &o.yaml(&p, ""), "settings:\n  prune_models: true\n");
    assert_converged(&p);
    // What the file declared and apply pulled is still pruned.
    write(
        &p,
        &o.yaml(&p, ""),
        "settings:\n  prune_models: true\nmodels:\n  - ollama: c:1b\n",
    );
    assert!(apply(&p).status.success());
    write(&p, &o.yaml(&p, ""), "settings:\n  prune_models: true\n");
    let out = p.ok(&["plan", "--color", "never"]);
    assert!(
        text(&out.stdout).contains("- remove c:1b"),
        "{}",
        describe(&out)
    );
    assert!(apply(&p).status.success());
    assert_eq!(models_of(&p, "ollama"), ["b:1b"]);
}

fn redact(s: &str, p: &Project, o: &Ollama) -> String {
    s.replace(&p.dir.path().display().to_string(), "[TMP]")
        .replace(&p.name, "[PROJECT]")
        .replace(&o.port.to_string(), "[PORT]")
}

#[test]
fn plan_output_snapshots() {
    let p = Project::new("");
    let o = Ollama::new(&p, "ollama");
    // The GPU fit check is off: what it says depends on this machine's GPUs
    // (tests/it/gpu_fit.rs covers it with `--gpus-from`).
    let models = "settings: { gpu_fit: off }\nmodels:\n  - ollama: llama3.2:1b\n    keep_alive: 10m\n  - hf: bartowski/Llama-3.2-1B-Instruct-GGUF\n    alias: small\n  - name: coder\n    from: llama3.2:1b\n    parameters: { temperature: 0.2 }\n";
    write(&p, &o.yaml(&p, ""), models);
    let fresh = p.ok(&["plan", "--color", "never"]);
    insta::assert_snapshot!("plan_fresh", redact(&text(&fresh.stdout), &p, &o));
    assert!(apply(&p).status.success());
    write(
        &p,
        &o.yaml(&p, ", LOG_LEVEL: debug"),
        &models.replace("0.2", "0.5"),
    );
    let changed = p.ok(&["plan", "--color", "never"]);
    insta::assert_snapshot!("plan_changed", redact(&text(&changed.stdout), &p, &o));
}

#[test]
fn a_service_dropped_from_the_file_is_stopped() {
    let p = Project::new("");
    let o = Ollama::new(&p, "ollama");
    let port = free_port();
    let worker = format!(
        "  worker:\n    command: [python3, -m, http.server, \"{port}\", --bind, 127.0.0.1]\n    health: {{ tcp: {port} }}\n"
    );
    write(&p, &format!("{}{worker}", o.yaml(&p, "")), "");
    assert!(apply(&p).status.success());
    assert!(p.service("worker").is_some(), "worker runs");
    write(&p, &o.yaml(&p, ""), "");
    let out = p.ok(&["plan", "--color", "never"]);
    assert!(
        text(&out.stdout).contains("- stop service worker"),
        "{}",
        describe(&out)
    );
    assert!(apply(&p).status.success());
    assert!(p.service("worker").is_none(), "worker is gone");
    assert_converged(&p);
}

#[test]
fn a_killed_apply_leaves_a_whole_state_file_and_the_next_plan_shows_the_rest() {
    let p = Project::new("");
    let o = Ollama::new(&p, "ollama");
    let registry = p.dir.path().join("registry.json");
    std::fs::write(
        &registry,
        r#"{"models": {"fast:1b": {"size": 10000}, "slow:1b": {"size": 50000000}}}"#,
    )
    .expect("write registry");
    let env = format!(
        ", STANDIN_REGISTRY: {}, STANDIN_PULL_RATE: 1000000",
        registry.display()
    );
    write(
        &p,
        &o.yaml(&p, &env),
        "models:\n  - ollama: fast:1b\n  - ollama: slow:1b\n",
    );
    let state = p.dirs().state.join("state.json");
    let mut child = p
        .cmd(&["apply", "--yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    wait_until("the fast pull is recorded", Duration::from_secs(30), || {
        std::fs::read_to_string(&state)
            .ok()
            .filter(|s| s.contains("fast:1b"))
    });
    child.kill().expect("kill -9 the apply");
    let _ = child.wait();
    let text_ = std::fs::read_to_string(&state).expect("state");
    let v: serde_json::Value = serde_json::from_str(&text_).expect("a whole state file");
    assert_eq!(v["version"], 1);
    let out = p.ok(&["plan", "--color", "never"]);
    let plan = text(&out.stdout);
    assert!(plan.contains("+ pull slow:1b"), "{plan}");
    assert!(!plan.contains("pull fast:1b"), "{plan}");
}

#[test]
fn apply_runs_in_the_daemon_which_finishes_it_without_its_client_and_refuses_a_stale_plan() {
    let p = Project::new("");
    let o = Ollama::new(&p, "ollama");
    let registry = p.dir.path().join("registry.json");
    std::fs::write(&registry, r#"{"models": {"slow:1b": {"size": 4000000}}}"#)
        .expect("write registry");
    let env = format!(
        ", STANDIN_REGISTRY: {}, STANDIN_PULL_RATE: 1000000",
        registry.display()
    );
    let services = o.yaml(&p, &env);
    write(&p, &services, "models:\n  - ollama: slow:1b\n");
    let log = p.dirs().daemon_log();
    let daemon_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let mut child = p
        .cmd(&["apply", "--yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    // The daemon logs the plan it was sent before it runs it.
    wait_until("the daemon takes the plan", Duration::from_secs(30), || {
        Some(()).filter(|()| daemon_log().contains("apply: Plan: 2 to add"))
    });
    child.kill().expect("kill -9 the client");
    let _ = child.wait();
    wait_until(
        "the daemon finishes the apply on its own",
        Duration::from_secs(60),
        || Some(()).filter(|()| daemon_log().contains("apply finished: 2 succeeded, 0 failed")),
    );
    let state = std::fs::read_to_string(p.dirs().state.join("state.json")).expect("state");
    assert!(
        state.contains("slow:1b"),
        "the pull's ownership is recorded: {state}"
    );
    assert_converged(&p);

    // A saved plan whose live state moved is refused, by the CLI and by the daemon itself.
    write(
        &p,
        &services,
        "models:\n  - ollama: slow:1b\n  - ollama: two:1b\n",
    );
    let saved = p.dir.path().join("plan.json");
    let saved_s = saved.display().to_string();
    p.ok(&["plan", "--out", &saved_s]);
    p.ok(&["pull", "three:1b"]);
    let out = p.run(&["apply", "--yes", &saved_s]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(text(&out.stderr).contains("stale"), "{}", describe(&out));
    let plan: facerunner::plan::Plan =
        serde_json::from_str(&std::fs::read_to_string(&saved).expect("read plan")).expect("a plan");
    let request = facerunner::model::wire::Request::Apply {
        config: p.dir.path().join("p/facerunner.yaml"),
        vars: Default::default(),
        plan: Box::new(plan),
        gpus: None,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let err = rt
        .block_on(async {
            facerunner::client::Client::connect(&p.dirs().socket())
                .await?
                .expect("the daemon runs")
                .request_streaming(&request, |_| {})
                .await
        })
        .expect_err("a stale plan");
    match err {
        facerunner::supervisor::SupervisorError::Remote(w) => {
            assert_eq!(w.kind, facerunner::model::wire::ErrorKind::StalePlan, "{w}")
        }
        other => panic!("{other}"),
    }
    assert!(
        !models_of(&p, "ollama").iter().any(|m| m.starts_with("two")),
        "nothing was applied"
    );
}

/// A listener on the project's socket that answers every connection with
/// `reply` (raw bytes) and closes it.
fn fake_daemon(p: &Project, reply: Vec<u8>) -> std::thread::JoinHandle<()> {
    let dirs = p.dirs();
    dirs.create().expect("dirs");
    let listener = std::os::unix::net::UnixListener::bind(dirs.socket()).expect("bind");
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            // Read the hello's length and body, then answer.
            let mut len = [0u8; 4];
            if conn.read_exact(&mut len).is_ok() {
                let mut body = vec![0u8; u32::from_be_bytes(len).min(1 << 16) as usize];
                let _ = conn.read_exact(&mut body);
            }
            let _ = conn.write_all(&reply);
        }
    })
}

fn frame(json: &str) -> Vec<u8> {
    let mut out = (json.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(json.as_bytes());
    out
}

#[test]
fn a_daemon_of_another_protocol_version_is_a_plan_error_not_nothing_running() {
    let p = Project::new("  s:\n    command: [sleep, \"60\", \"{marker}\"]\n");
    let _fake = fake_daemon(
        &p,
        frame(r#"{"result": "refused", "protocol": 999, "version": "9.9.9"}"#),
    );
    let out = p.run(&["plan", "--color", "never"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let plan = text(&out.stdout);
    assert!(
        plan.contains("error: daemon: the daemon on ")
            && plan.contains("cannot be used: protocol mismatch")
            && plan.contains("the daemon version 999"),
        "{}",
        describe(&out)
    );
    assert!(!plan.contains("start service s"), "{plan}");
    let out = apply(&p);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(p.processes().is_empty(), "nothing was started");
}

#[test]
fn a_daemon_speaking_garbage_is_a_plan_error_with_the_reason() {
    let p = Project::new("  s:\n    command: [sleep, \"60\", \"{marker}\"]\n");
    let _fake = fake_daemon(&p, b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec());
    let out = p.run(&["plan", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("plan --json");
    let check = plan["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["subject"] == "daemon")
        .unwrap_or_else(|| panic!("no daemon check: {plan:#}"));
    assert_eq!(check["severity"], "error");
    assert!(
        check["message"]
            .as_str()
            .is_some_and(|m| m.contains("cannot be used: protocol error")),
        "{check:#}"
    );
    assert_eq!(plan["steps"], serde_json::json!([]), "{plan:#}");
}

/// Send `plan` straight to the daemon, as a client other than the CLI could.
fn apply_in_daemon_directly(
    p: &Project,
    plan: facerunner::plan::Plan,
) -> facerunner::model::wire::WireError {
    let request = facerunner::model::wire::Request::Apply {
        config: p.dir.path().join("p/facerunner.yaml"),
        vars: Default::default(),
        plan: Box::new(plan),
        gpus: None,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let err = rt
        .block_on(async {
            facerunner::client::Client::connect(&p.dirs().socket())
                .await?
                .expect("the daemon runs")
                .request_streaming(&request, |_| {})
                .await
        })
        .expect_err("refused");
    match err {
        facerunner::supervisor::SupervisorError::Remote(w) => w,
        other => panic!("{other}"),
    }
}

#[test]
fn a_saved_plan_applies_only_if_a_fresh_plan_equals_it() {
    use facerunner::model::wire::ErrorKind;
    let p = Project::new("");
    let o = Ollama::new(&p, "ollama");
    let services = o.yaml(&p, "");
    write(&p, &services, "models:\n  - ollama: keep:1b\n");
    assert!(apply(&p).status.success());
    // Installed by someone else: FaceRunner does not own it.
    o.http(
        "POST",
        "/api/pull",
        r#"{"model": "theirs:1b", "stream": false}"#,
    );
    write(
        &p,
        &services,
        "models:\n  - ollama: keep:1b\n  - ollama: two:1b\n  - ollama: three:1b\n",
    );
    let saved = p.dir.path().join("plan.json");
    let saved_s = saved.display().to_string();
    p.ok(&["plan", "--out", &saved_s]);
    let good: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&saved).expect("read")).expect("json");
    assert_eq!(good["steps"].as_array().expect("steps").len(), 2, "{good}");
    let edited = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v = good.clone();
        edit(&mut v);
        v
    };
    let out_of_range = edited(&|v| v["steps"][1]["waits_for"] = serde_json::json!([99]));
    let cycle = edited(&|v| {
        v["steps"][0]["waits_for"] = serde_json::json!([1]);
        v["steps"][1]["waits_for"] = serde_json::json!([0]);
    });
    let bad_id = edited(&|v| v["steps"][1]["id"] = serde_json::json!(7));
    let remove_theirs = edited(&|v| {
        v["steps"]
            .as_array_mut()
            .expect("steps")
            .push(serde_json::json!({
                "id": 2, "action": "remove_model", "service": "ollama", "model": "theirs:1b",
                "reason": "hand-edited", "waits_for": []
            }))
    });
    for (what, plan, message, kind) in [
        (
            "out of range",
            &out_of_range,
            "waits for step 99",
            ErrorKind::InvalidPlan,
        ),
        (
            "a cycle",
            &cycle,
            "waits for step 1",
            ErrorKind::InvalidPlan,
        ),
        ("an id", &bad_id, "step 1 has id 7", ErrorKind::InvalidPlan),
        (
            "a remove",
            &remove_theirs,
            "step 2 (`remove theirs:1b`) is not in a fresh plan",
            ErrorKind::StalePlan,
        ),
    ] {
        std::fs::write(&saved, plan.to_string()).expect("write");
        let out = p.run(&["apply", "--color", "never", &saved_s]);
        assert_eq!(out.status.code(), Some(1), "{what}: {}", describe(&out));
        // miette wraps long lines: compare with the wrapping undone.
        let err = text(&out.stderr).replace("\n  | ", " ");
        assert!(err.contains(message), "{what}: {err}");
        assert!(err.contains("nothing was changed"), "{what}: {err}");
        // The daemon refuses it too, with a typed error, and still answers.
        let plan: facerunner::plan::Plan = serde_json::from_value(plan.clone()).expect("a plan");
        let w = apply_in_daemon_directly(&p, plan);
        assert_eq!(w.kind, kind, "{what}: {w}");
        assert!(w.message.contains(message), "{what}: {w}");
        p.ok(&["status"]);
    }
    let models = models_of(&p, "ollama");
    assert!(models.contains(&"theirs:1b".to_string()), "{models:?}");
    assert!(!models.iter().any(|m| m.starts_with("two")), "{models:?}");

    // The plan as made applies, without asking: it was reviewed when saved.
    std::fs::write(&saved, good.to_string()).expect("write");
    let out = p
        .cmd(&["apply", "--color", "never", &saved_s])
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", describe(&out));
    assert_converged(&p);
}

#[test]
fn a_saved_plan_is_refused_after_a_dotenv_value_changed() {
    // Nothing runs yet, so the steps (start the service) are the same
    // either way: only the fingerprint of what the file means can tell.
    let p = Project::new("");
    let o = Ollama::new(&p, "ollama");
    write(&p, &o.yaml(&p, ", LEVEL: \"${LEVEL}\""), "");
    let dotenv = p.dir.path().join("p/.env");
    std::fs::write(&dotenv, "LEVEL=one\n").expect("write .env");
    let saved = p.dir.path().join("plan.json");
    let saved_s = saved.display().to_string();
    p.ok(&["plan", "--out", &saved_s]);
    std::fs::write(&dotenv, "LEVEL=two\n").expect("write .env");
    let out = p.run(&["apply", "--yes", "--color", "never", &saved_s]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = text(&out.stderr);
    assert!(
        err.contains("stale: the project file changed"),
        "{}",
        describe(&out)
    );
    assert!(p.processes().is_empty(), "nothing started");
    std::fs::write(&dotenv, "LEVEL=one\n").expect("write .env");
    let out = p.run(&["apply", "--yes", "--color", "never", &saved_s]);
    assert!(out.status.success(), "{}", describe(&out));
}

#[test]
fn secret_env_values_are_never_shown_or_saved_but_their_change_is_planned() {
    let p = Project::new("");
    let port = free_port();
    let worker = |dsn: &str, token: &str| {
        format!(
            "  worker:\n    command: [python3, -m, http.server, \"{port}\", --bind, 127.0.0.1]\n    health: {{ tcp: {port} }}\n    env:\n      DSN: {{ value: \"{dsn}\", secret: true }}\n      HF_TOKEN: {token}\n      LEVEL: info\n"
        )
    };
    write(&p, &worker("pg://old-dsn", "hf_oldtoken"), "");
    assert!(apply(&p).status.success());
    write(&p, &worker("pg://new-dsn", "hf_newtoken"), "");
    let saved = p.dir.path().join("plan.json");
    let human = p.ok(&["plan", "--color", "never"]);
    let json = p.ok(&["plan", "--json"]);
    p.ok(&["plan", "--out", &saved.display().to_string()]);
    let saved_text = std::fs::read_to_string(&saved).expect("saved plan");
    for out in [text(&human.stdout), text(&json.stdout), saved_text] {
        for value in ["old-dsn", "new-dsn", "hf_oldtoken", "hf_newtoken"] {
            assert!(!out.contains(value), "{value} shown in:\n{out}");
        }
        assert!(
            out.contains("env.DSN") && out.contains("env.HF_TOKEN"),
            "{out}"
        );
        assert!(out.contains("(secret)"), "{out}");
    }
    assert!(
        text(&human.stdout).contains("restart service worker"),
        "{}",
        describe(&human)
    );
}

#[test]
fn a_pulled_model_whose_blob_is_no_gguf_is_estimated_from_api_show_once_per_plan() {
    // The stand-in's pulled blobs are generated bytes, not GGUF: the fit
    // check falls back to the running server's `/api/show` `model_info`
    // (llama3.2:1b there: 16 layers, 8 KV heads of 64, 131072 context).
    let p = Project::new("");
    let o = Ollama::new(&p, "ollama");
    write(
        &p,
        &o.yaml(&p, ", OLLAMA_CONTEXT_LENGTH: \"131072\""),
        "models:\n  - ollama: llama3.2:1b\n",
    );
    let out = apply(&p);
    assert!(out.status.success(), "{}", describe(&out));
    std::fs::write(
        p.dir.path().join("p/gpus.json"),
        r#"{"gpus": [{"index": 0, "uuid": "GPU-0", "name": "t", "memory_total_bytes": 25769803776, "memory_used_bytes": 0, "processes": []}]}"#,
    )
    .expect("inventory");
    let before = o.requests("/api/show");
    let out = p.run(&["--gpus-from", "gpus.json", "plan", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("plan --json: {e}\n{}", describe(&out)));
    let fit = &v["fit"][0];
    assert_eq!(fit["model"], "llama3.2:1b", "{v:#}");
    assert_eq!(fit["estimate"]["num_ctx"], 131_072, "{v:#}");
    // 16 layers × 131072 × 8 heads × (64 + 64) × 2 B (f16) = 4 GiB.
    assert_eq!(fit["estimate"]["kv_cache_bytes"], 4_294_967_296u64, "{v:#}");
    assert_eq!(o.requests("/api/show") - before, 1);
}
