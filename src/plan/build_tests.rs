//! Unit tests of the pure planner: plain values in, a plan out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::build::plan;
use super::desired::Desired;
use super::{Action, Plan, Severity};
use crate::config::interpolate::Vars;
use crate::config::load_str;
use crate::config::resolve::{Secrets, normalized, resolve};
use crate::model::state::{ModelRecord, Origin, ServiceRecord, State};
use crate::names::ModelName;
use crate::observe::{Live, LiveModel, LiveService, LiveStore, StoreSource};
use crate::paths::ProjectDirs;

const BASE: &str = "version: 1\nname: t\nservices:\n  ollama:\n    kind: ollama\n    port: 11500\n";

fn desired(extra: &str) -> Desired {
    let yaml = format!("{BASE}{extra}");
    let loaded = load_str(Path::new("/p/facerunner.yaml"), &yaml, &Vars::default())
        .unwrap_or_else(|e| panic!("invalid test config: {e:?}"));
    let dirs = ProjectDirs::under(Path::new("/tmp/fr-unit"), &loaded.project);
    let spec = resolve(&loaded, &dirs, Secrets::Peek).expect("resolves");
    Desired::new(&loaded, &spec)
}

fn key(name: &str) -> String {
    ModelName::parse(name).expect("valid").key()
}

/// The ollama service running with the desired spec and these models.
fn live(d: &Desired, models: &[&str], loaded: &[&str]) -> Live {
    let hash = d.services[0].spec_hash.clone();
    let models = models
        .iter()
        .map(|m| {
            let digest = format!("d-{m}");
            (
                key(m),
                LiveModel {
                    name: (*m).into(),
                    digest,
                    size: 1,
                },
            )
        })
        .collect();
    Live {
        daemon: true,
        daemon_unusable: None,
        daemon_settings: Default::default(),
        inventory: Default::default(),
        models_meta: Default::default(),
        hf: Default::default(),
        hf_env: Default::default(),
        services: [("ollama".into(), LiveService::Running { spec_hash: hash })].into(),
        stores: [(
            "ollama".into(),
            LiveStore {
                source: StoreSource::Api {
                    url: "http://x".into(),
                },
                models,
                loaded: Some(loaded.iter().map(|m| key(m)).collect::<BTreeSet<_>>()),
            },
        )]
        .into(),
        host: Default::default(),
    }
}

fn owned(models: &[(&str, Origin)]) -> State {
    let mut s = State::default();
    let m: BTreeMap<String, ModelRecord> = models
        .iter()
        .map(|(n, o)| {
            (
                key(n),
                ModelRecord {
                    name: (*n).into(),
                    origin: *o,
                    create_hash: None,
                    definition: None,
                    hf_commit: None,
                },
            )
        })
        .collect();
    s.models.insert("ollama".into(), m);
    s
}

fn titles(p: &Plan) -> Vec<String> {
    p.steps
        .iter()
        .map(|s| format!("{} {}", s.action.change().symbol(), s.action.title()))
        .collect()
}

#[test]
fn nothing_running_starts_the_service_and_pulls_after_it() {
    let d = desired("models:\n  - ollama: llama3.2:1b\n");
    let mut l = live(&d, &[], &[]);
    l.services.clear();
    let p = plan(&d, &l, &State::default());
    assert_eq!(titles(&p), ["+ start service ollama", "+ pull llama3.2:1b"]);
    assert_eq!(p.steps[1].waits_for, [0]);
    assert_eq!(p.summary(), "Plan: 2 to add, 0 to change, 0 to remove.");
}

#[test]
fn a_converged_world_has_no_changes() {
    let d = desired("models:\n  - ollama: llama3.2:1b\n    keep_alive: 5m\n");
    let p = plan(
        &d,
        &live(&d, &["llama3.2:1b"], &["llama3.2:1b"]),
        &State::default(),
    );
    assert!(p.is_empty(), "{:?}", titles(&p));
    assert_eq!(p.summary(), "No changes.");
}

#[test]
fn a_changed_spec_restarts_with_the_field_diff() {
    let old = desired("");
    let new = desired("    env: { LOG_LEVEL: debug }\n");
    let mut state = State::default();
    state.services.insert(
        "ollama".into(),
        ServiceRecord {
            spec_hash: old.services[0].spec_hash.clone(),
            spec: normalized(&old.services[0]),
        },
    );
    let p = plan(&new, &live(&old, &[], &[]), &state);
    assert_eq!(titles(&p), ["~ restart service ollama"]);
    let Action::RestartService { changes, .. } = &p.steps[0].action else {
        panic!("restart")
    };
    assert_eq!(
        changes.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [r#"env.LOG_LEVEL: (none) → "debug""#]
    );
}

#[test]
fn prune_removes_only_owned_models_and_lists_the_rest_as_unmanaged() {
    let d = desired("settings: { prune_models: true }\nmodels:\n  - ollama: keep:1b\n");
    let l = live(&d, &["keep:1b", "mine:1b", "theirs:1b"], &[]);
    let p = plan(
        &d,
        &l,
        &owned(&[("keep:1b", Origin::Pulled), ("mine:1b", Origin::Pulled)]),
    );
    assert_eq!(titles(&p), ["- remove mine:1b"]);
    assert_eq!(p.unmanaged["ollama"], ["theirs:1b"]);
    // Pulled by hand (`facerunner pull`): never pruned, not warned about.
    let p = plan(
        &d,
        &l,
        &owned(&[
            ("keep:1b", Origin::Pulled),
            ("mine:1b", Origin::PulledByHand),
        ]),
    );
    assert!(p.is_empty(), "{:?}", titles(&p));
    assert!(p.checks.is_empty(), "{:?}", p.checks);
    assert_eq!(p.unmanaged["ollama"], ["theirs:1b"]);
    let d = desired("models:\n  - ollama: keep:1b\n");
    let p = plan(&d, &l, &owned(&[("mine:1b", Origin::Pulled)]));
    assert!(p.is_empty(), "without prune_models nothing is removed");
    assert!(
        p.checks
            .iter()
            .any(|c| c.severity == Severity::Warning && c.subject == "model mine:1b")
    );
}

#[test]
fn a_derived_model_waits_for_its_base_and_an_unknown_base_is_an_error() {
    let d = desired("models:\n  - ollama: base:1b\n  - name: coder\n    from: base:1b\n");
    let p = plan(&d, &live(&d, &[], &[]), &State::default());
    assert_eq!(titles(&p), ["+ pull base:1b", "+ create coder:latest"]);
    assert_eq!(p.steps[1].waits_for, [0]);
    assert!(!p.has_errors());
    let d = desired("models:\n  - name: coder\n    from: nowhere:1b\n");
    let p = plan(&d, &live(&d, &[], &[]), &State::default());
    assert!(p.has_errors());
}

#[test]
fn a_derived_model_is_recreated_only_when_its_definition_changes() {
    let d = desired(
        "models:\n  - ollama: base:1b\n  - name: coder\n    from: base:1b\n    parameters: { temperature: 0.2 }\n",
    );
    let Action::CreateModel {
        create_hash,
        request,
        ..
    } = &plan(&d, &live(&d, &["base:1b"], &[]), &State::default()).steps[0].action
    else {
        panic!("create")
    };
    let mut state = owned(&[("coder:latest", Origin::Created)]);
    let rec = state
        .models
        .get_mut("ollama")
        .and_then(|m| m.get_mut(&key("coder")))
        .expect("record");
    rec.create_hash = Some(create_hash.clone());
    rec.definition = Some(serde_json::to_value(request).expect("json"));
    let l = live(&d, &["base:1b", "coder:latest"], &[]);
    assert!(plan(&d, &l, &state).is_empty());
    let changed = desired(
        "models:\n  - ollama: base:1b\n  - name: coder\n    from: base:1b\n    parameters: { temperature: 0.7 }\n",
    );
    let p = plan(&changed, &l, &state);
    assert_eq!(titles(&p), ["-/+ recreate coder:latest"]);
    assert_eq!(p.steps[0].reason, "changed: parameters.temperature");
}

#[test]
fn a_port_taken_by_another_process_blocks_a_start() {
    let d = desired("");
    let mut l = live(&d, &[], &[]);
    l.services.clear();
    l.host
        .ports_taken
        .insert("ollama".into(), "127.0.0.1:11500".into());
    let p = plan(&d, &l, &State::default());
    assert!(p.has_errors());
    assert!(
        p.checks[0].message.contains("already taken"),
        "{:?}",
        p.checks
    );
}

#[test]
fn the_plan_round_trips_through_json_with_its_format_version() {
    let d = desired("models:\n  - ollama: llama3.2:1b\n    alias: small\n");
    let p = plan(&d, &live(&d, &[], &[]), &State::default());
    let json = serde_json::to_value(&p).expect("json");
    assert_eq!(json["format_version"], 1);
    assert_eq!(json["steps"][0]["action"], "pull_model");
    let back: Plan = serde_json::from_value(json).expect("parse");
    assert_eq!(back, p);
}

#[test]
fn a_daemon_setting_that_differs_from_the_running_daemon_is_a_step() {
    use crate::model::spec::DaemonSettings;
    let on = desired("settings: { watch: true, watch_debounce: 500ms }\n");
    let mut l = live(&on, &[], &[]);
    // The running daemon does not watch: turn it on.
    let p = plan(&on, &l, &State::default());
    assert_eq!(titles(&p), ["~ update the daemon's settings"]);
    let Action::UpdateDaemon { changes } = &p.steps[0].action else {
        panic!("{:?}", p.steps[0].action)
    };
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].to_string(), "watch: false → true");
    assert_eq!(p.steps[0].reason, "changed: watch");
    // Watching with another debounce: that one changes.
    l.daemon_settings = DaemonSettings {
        watch: true,
        watch_debounce_ms: 300,
    };
    let p = plan(&on, &l, &State::default());
    let Action::UpdateDaemon { changes } = &p.steps[0].action else {
        panic!("{:?}", p.steps[0].action)
    };
    assert_eq!(
        changes[0].to_string(),
        r#"watch_debounce: "300ms" → "500ms""#
    );
    // In force: nothing to do.
    l.daemon_settings = on.daemon;
    assert!(plan(&on, &l, &State::default()).is_empty());
    // And off again; the debounce no longer matters.
    let off = desired("");
    let mut l = live(&off, &[], &[]);
    l.daemon_settings = on.daemon;
    let p = plan(&off, &l, &State::default());
    let Action::UpdateDaemon { changes } = &p.steps[0].action else {
        panic!("{:?}", p.steps[0].action)
    };
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].to_string(), "watch: true → false");
    let text = super::render::render(&p);
    assert!(
        text.contains("Daemon")
            && text.contains(
                "update the daemon's settings  (changed: watch)\n        watch: true → false"
            ),
        "{text}"
    );
}

#[test]
fn an_unusable_daemon_is_an_error_and_nothing_is_planned_for_services() {
    let d = desired("");
    let mut l = live(&d, &[], &[]);
    l.services.clear();
    l.daemon = false;
    l.daemon_unusable = Some(crate::model::live::DaemonProblem {
        reason: "the daemon on /s cannot be used: protocol mismatch".into(),
        help: "stop it".into(),
    });
    let p = plan(&d, &l, &State::default());
    assert!(p.has_errors());
    assert!(p.is_empty(), "{:?}", titles(&p));
    let c = &p.checks[0];
    assert_eq!(c.subject, "daemon");
    assert!(c.message.contains("protocol mismatch"), "{c:?}");
}

#[test]
fn instances_sharing_a_store_pull_a_model_one_after_another() {
    let yaml = "version: 1\nname: t\ngpus:\n  a: { index: 0 }\n  b: { index: 1 }\nservices:\n  llm: { kind: ollama, port: 11500, replicas: per-gpu, gpus: [a, b], models_dir: /m }\n  own: { kind: ollama, port: 11600, models_dir: /o }\nmodels:\n  - { ollama: llama3.2:1b, service: llm }\n  - { ollama: llama3.2:1b, service: own }\n";
    let mut loaded = load_str(Path::new("/p/facerunner.yaml"), yaml, &Vars::default())
        .unwrap_or_else(|e| panic!("invalid test config: {e:?}"));
    crate::config::replicas::expand(&mut loaded, &Default::default()).expect("expands");
    let dirs = ProjectDirs::under(Path::new("/tmp/fr-unit"), &loaded.project);
    let spec = resolve(&loaded, &dirs, Secrets::Peek).expect("resolves");
    let d = Desired::new(&loaded, &spec);
    let empty = LiveStore {
        source: StoreSource::Api {
            url: "http://x".into(),
        },
        models: BTreeMap::new(),
        loaded: None,
    };
    let l = Live {
        daemon: true,
        daemon_unusable: None,
        daemon_settings: Default::default(),
        inventory: Default::default(),
        models_meta: Default::default(),
        hf: Default::default(),
        hf_env: Default::default(),
        services: BTreeMap::new(),
        stores: ["llm-0", "llm-1", "own"]
            .iter()
            .map(|s| (s.to_string(), empty.clone()))
            .collect(),
        host: Default::default(),
    };
    let p = plan(&d, &l, &State::default());
    let pull = |service: &str| {
        p.steps
            .iter()
            .find(|s| matches!(&s.action, Action::PullModel { service: x, .. } if x == service))
            .unwrap_or_else(|| panic!("no pull on {service}: {:?}", titles(&p)))
    };
    let (first, second, own) = (pull("llm-0"), pull("llm-1"), pull("own"));
    assert!(second.waits_for.contains(&first.id), "{:?}", p.steps);
    assert!(!first.waits_for.contains(&second.id));
    assert!(
        !own.waits_for.contains(&first.id) && !own.waits_for.contains(&second.id),
        "another store pulls at the same time"
    );
}
