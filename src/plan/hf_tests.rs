//! The plan of `hf:` entries: plain values in (the file, the Hub's answer,
//! the GPUs, the state), a plan out.

use std::path::Path;

use super::build::plan;
use super::desired::Desired;
use super::{Action, Plan, Severity};
use crate::config::interpolate::Vars;
use crate::config::load_str;
use crate::config::resolve::{Secrets, resolve};
use crate::model::gpu::{GpuInfo, Inventory};
use crate::model::hf::{Gated, HfSource, RepoFile, RepoInfo};
use crate::model::hf_resolve::HfLookup;
use crate::model::state::{ModelRecord, Origin, State};
use crate::names::ModelName;
use crate::observe::{Live, LiveModel, LiveService, LiveStore, StoreSource};
use crate::paths::ProjectDirs;

const GIB: u64 = 1 << 30;
const BASE: &str =
    "version: 1\nname: t\nservices:\n  ollama:\n    kind: ollama\n    port: 11500\nmodels:\n";
const C1: &str = "1111111111111111111111111111111111111111";
const C2: &str = "2222222222222222222222222222222222222222";

fn repo(commit: &str) -> RepoInfo {
    let f = |path: &str, size: u64| RepoFile {
        path: path.into(),
        size,
        lfs_sha256: Some("ab".repeat(32)),
        blob_id: None,
    };
    RepoInfo {
        id: "someone/Some-Model-GGUF".into(),
        commit: commit.into(),
        gated: Gated::No,
        private: false,
        pipeline_tag: Some("text-generation".into()),
        library: Some("gguf".into()),
        base_model: vec![],
        architectures: vec![],
        files: vec![
            f("Some-Model-Q4_K_M.gguf", 4 * GIB),
            f("Some-Model-Q6_K.gguf", 6 * GIB),
            f("Some-Model-Q8_0.gguf", 8 * GIB),
        ],
    }
}

/// A plan of `models` (YAML list items), the Hub answering `info`, one
/// 8 GiB GPU, the service running with `installed`, and `state`.
fn make(models: &str, info: Option<RepoInfo>, installed: &[&str], state: &State) -> Plan {
    let yaml = format!("{BASE}{models}");
    let loaded = load_str(Path::new("/p/facerunner.yaml"), &yaml, &Vars::default())
        .unwrap_or_else(|e| panic!("invalid test config: {e:?}"));
    let dirs = ProjectDirs::under(Path::new("/tmp/fr-unit"), &loaded.project);
    let spec = resolve(&loaded, &dirs, Secrets::Peek).expect("resolves");
    let mut live = Live {
        daemon: true,
        inventory: Inventory {
            gpus: vec![GpuInfo {
                index: 0,
                uuid: "GPU-0".into(),
                name: "Test GPU".into(),
                memory_total_bytes: 8 * GIB,
                ..GpuInfo::default()
            }],
            ..Inventory::default()
        },
        ..Live::default()
    };
    if let Some(info) = info {
        live.hf.insert(
            format!("{}@main", info.id),
            HfLookup::Found {
                info: Box::new(info),
            },
        );
    }
    let d = Desired::with_live(&loaded, &spec, &live);
    live.services.insert(
        "ollama".into(),
        LiveService::Running {
            spec_hash: d.services[0].spec_hash.clone(),
        },
    );
    live.stores.insert(
        "ollama".into(),
        LiveStore {
            source: StoreSource::Api {
                url: "http://x".into(),
            },
            models: installed
                .iter()
                .map(|m| {
                    (
                        key(m),
                        LiveModel {
                            name: (*m).into(),
                            digest: format!("d-{m}"),
                            size: 1,
                        },
                    )
                })
                .collect(),
            loaded: None,
        },
    );
    plan(&d, &live, state)
}

fn key(name: &str) -> String {
    ModelName::parse(name).expect("valid").key()
}

fn owned(name: &str, origin: Origin, commit: &str, create_hash: Option<String>) -> State {
    let mut s = State::default();
    s.models.entry("ollama".into()).or_default().insert(
        key(name),
        ModelRecord {
            name: name.into(),
            origin,
            create_hash,
            definition: None,
            hf_commit: Some(commit.into()),
        },
    );
    s
}

const AUTO: &str = "  - hf: someone/Some-Model-GGUF\n    quant: auto\n";

#[test]
fn quant_auto_pulls_the_largest_that_fits_and_says_file_bytes_gpu_and_commit() {
    let p = make(AUTO, Some(repo(C1)), &[], &State::default());
    assert!(
        p.checks.iter().all(|c| c.severity != Severity::Error),
        "{:?}",
        p.checks
    );
    let Action::PullModel { model, hf, .. } = &p.steps[0].action else {
        panic!("{:?}", p.steps)
    };
    // 8 GiB of GPU: Q6_K (6 GiB + overhead) fits, Q8_0 does not.
    assert_eq!(model, "hf.co/someone/Some-Model-GGUF:Q6_K");
    let hf = hf.as_ref().expect("resolution");
    assert_eq!(hf.bytes, 6 * GIB);
    assert_eq!(hf.commit.as_deref(), Some(C1));
    assert_eq!(hf.source, HfSource::Ollama);
    let text = super::render::render(&p);
    for needle in [
        "Ollama pulls hf.co/someone/Some-Model-GGUF:Q6_K",
        "main at 111111111111",
        "download: 6.0GiB (6442450944 bytes)",
        "fits: GPU 0 (Test GPU, 8.0GiB)",
        "answered by the Hugging Face Hub",
    ] {
        assert!(text.contains(needle), "{needle:?} not in:\n{text}");
    }
    let json = serde_json::to_value(&p).expect("json");
    assert_eq!(json["steps"][0]["hf"]["commit"], C1);
    assert_eq!(json["steps"][0]["hf"]["bytes"], 6 * GIB);
}

#[test]
fn an_unknown_quant_is_a_located_error_listing_the_quants() {
    let p = make(
        "  - hf: someone/Some-Model-GGUF\n    quant: Q5_K_M\n",
        Some(repo(C1)),
        &[],
        &State::default(),
    );
    let e = p
        .checks
        .iter()
        .find(|c| c.severity == Severity::Error)
        .expect("an error");
    assert!(e.message.contains("no quant Q5_K_M"), "{e:?}");
    assert!(e.help.contains("Q6_K (6.0GiB)"), "{e:?}");
    // Line 9 is `quant: Q5_K_M` (the value, column 12).
    assert_eq!(
        e.location.as_deref(),
        Some("/p/facerunner.yaml:9:12"),
        "{e:?}"
    );
}

#[test]
fn installed_from_the_same_commit_is_nothing_and_a_moved_main_pulls_again() {
    let name = "hf.co/someone/Some-Model-GGUF:Q6_K";
    let state = owned(name, Origin::Pulled, C1, None);
    let p = make(AUTO, Some(repo(C1)), &[name], &state);
    assert!(p.steps.is_empty(), "{:?}", p.steps);
    let p = make(AUTO, Some(repo(C2)), &[name], &state);
    assert_eq!(p.steps.len(), 1, "{:?}", p.steps);
    assert!(matches!(p.steps[0].action, Action::PullModel { .. }));
    assert!(
        p.steps[0].reason.contains("main moved") && p.steps[0].reason.contains("222222222222"),
        "{}",
        p.steps[0].reason
    );
}

#[test]
fn a_download_is_a_create_with_the_files_under_the_alias_and_recreated_when_main_moves() {
    let models = "  - hf: someone/Some-Model-GGUF\n    quant: auto\n    source: download\n    alias: mine:latest\n    system: be brief\n";
    let p = make(models, Some(repo(C1)), &[], &State::default());
    assert_eq!(p.steps.len(), 1, "no copy for the alias: {:?}", p.steps);
    let Action::CreateModel {
        model,
        request,
        hf,
        create_hash,
        ..
    } = &p.steps[0].action
    else {
        panic!("{:?}", p.steps)
    };
    assert_eq!(model, "mine:latest");
    assert_eq!(request.system.as_deref(), Some("be brief"));
    let hf = hf.as_ref().expect("resolution");
    assert_eq!(hf.files.len(), 1);
    assert_eq!(hf.files[0].path, "Some-Model-Q6_K.gguf");
    let text = super::render::render(&p);
    assert!(
        text.contains("download from Hugging Face, import as mine:latest"),
        "{text}"
    );
    assert!(
        text.contains("file: Some-Model-Q6_K.gguf (6.0GiB)"),
        "{text}"
    );

    // Installed from this definition: nothing; main moved: created again.
    let state = owned(
        "mine:latest",
        Origin::Created,
        C1,
        Some(create_hash.clone()),
    );
    let p = make(models, Some(repo(C1)), &["mine:latest"], &state);
    assert!(p.steps.is_empty(), "{:?}", p.steps);
    let p = make(models, Some(repo(C2)), &["mine:latest"], &state);
    assert_eq!(p.steps.len(), 1, "{:?}", p.steps);
    assert!(
        p.steps[0].reason.contains("main moved"),
        "{}",
        p.steps[0].reason
    );
}

#[test]
fn offline_the_table_answers_and_the_plan_says_so() {
    let p = make(AUTO, None, &[], &State::default());
    let Action::PullModel { model, hf, .. } = &p.steps[0].action else {
        panic!("{:?}", p.steps)
    };
    assert_eq!(model, "hf.co/someone/Some-Model-GGUF:Q4_K_M");
    assert!(hf.as_ref().is_some_and(|h| h.commit.is_none()));
    let text = super::render::render(&p);
    assert!(text.contains("FaceRunner's table (offline)"), "{text}");
}
