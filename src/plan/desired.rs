//! The desired state: the resolved services and every declared model with
//! its final Ollama name.
//!
//! This is where model entries become names Ollama understands: `ollama:`
//! names are parsed with Ollama's grammar, `hf:` repos go through
//! `names::hf::convert`, derived models become the `/api/create` request
//! they will be created with (and its hash, which the state file keeps so a
//! change of `from`, `system`, `parameters` or `template` recreates them).
//! Entries that cannot be named become error checks instead of steps.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::config::Loaded;
use crate::config::resolve::expand_path;
use crate::config::types::{Gpu, GpuFit, Model};
use crate::model::checks::Check;
use crate::model::gpu::OllamaKnobs;
use crate::model::hf_resolve::HfResolution;
use crate::model::spec::{ProjectSpec, ServiceSpec};
use crate::names::ModelName;
use crate::observe::Live;
use crate::ollama::CreateRequest;

/// What the file asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    /// Project name.
    pub project: String,
    /// What the file asks for, hashed: see [`config_fingerprint`].
    pub config_fingerprint: String,
    /// Resolved services, in file order.
    pub services: Vec<ServiceSpec>,
    /// Declared models, in file order.
    pub models: Vec<DesiredModel>,
    /// `settings.prune_models`.
    pub prune_models: bool,
    /// The daemon's own settings (`settings.watch`, `settings.watch_debounce`).
    pub daemon: crate::model::spec::DaemonSettings,
    /// Entries that could not be turned into names.
    pub problems: Vec<Check>,
    /// The `gpus:` entries with where they are, checked against the
    /// inventory the plan is made with.
    pub gpus: Vec<crate::config::gpus::Declared>,
    /// `settings.gpu_fit`.
    pub gpu_fit: GpuFit,
    /// Per ollama service: what the fit check needs of it.
    pub fit_services: BTreeMap<String, FitService>,
    /// The files the integrations want (`integrations:`).
    pub files: Vec<super::integrations::DesiredFile>,
}

/// What the GPU fit check needs of one ollama service.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FitService {
    /// Its `gpus:`, resolved to their declarations (`None`: all GPUs).
    pub gpus: Option<Vec<Gpu>>,
    /// Its `OLLAMA_*` knobs.
    pub knobs: OllamaKnobs,
}

/// One declared model on one ollama service.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredModel {
    /// The ollama service.
    pub service: String,
    /// Its name.
    pub name: ModelName,
    /// How it is installed.
    pub source: Source,
    /// A second name, installed with a copy.
    pub alias: Option<ModelName>,
    /// Load after apply and keep resident this long.
    pub keep_alive: Option<String>,
    /// `parameters.num_ctx`, when the file sets it.
    pub num_ctx: Option<u64>,
    /// Where the entry is in the file (`path:line:col`).
    pub location: Option<String>,
    /// The `replicas: per-gpu` group with `placement: spread` this copy
    /// belongs to: the plan keeps only the copy on the instance it places
    /// the model on (see `plan::placement`).
    pub spread_group: Option<String>,
    /// An `hf:` model: what the Hub (or, offline, the table) resolved it to.
    pub hf: Option<Box<HfResolution>>,
}

/// How a declared model is installed.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Pulled; `from` says what the name was converted from (`hf: org/repo`).
    Pull {
        /// Origin, when not written as an Ollama name.
        from: Option<String>,
    },
    /// Created with `/api/create`.
    Create {
        /// The base model (derived models), already a valid name.
        base: Option<ModelName>,
        /// The request (for files, `files` is filled in at apply time).
        request: Box<CreateRequest>,
        /// A local GGUF file to upload.
        file: Option<String>,
        /// Hash of the definition.
        hash: String,
    },
}

impl Desired {
    /// Build from a loaded file and its resolved services, offline (`hf:`
    /// entries are named by the table and rules).
    pub fn new(loaded: &Loaded, spec: &ProjectSpec) -> Desired {
        Desired::with_live(loaded, spec, &Live::default())
    }

    /// Build from a loaded file, its resolved services and what was
    /// observed: the Hub's answers for `hf:` entries and the GPUs
    /// `quant: auto` fits against.
    pub fn with_live(loaded: &Loaded, spec: &ProjectSpec, live: &Live) -> Desired {
        let cfg = &loaded.config;
        let mut models = Vec::new();
        let mut problems = Vec::new();
        let fit = fit_services(loaded, spec);
        for (i, m) in cfg.models.iter().enumerate() {
            let service = match cfg.model_service(m) {
                Some(s) => s.clone(),
                None => {
                    problems.push(Check::error(
                        subject(m),
                        "no ollama service to hold this model",
                        "add `service:` naming an ollama service",
                    ));
                    continue;
                }
            };
            let locate = |ptr: &str| {
                loaded.spans.value(ptr).map(|s| {
                    format!(
                        "{}:{}:{}",
                        loaded.file.path.display(),
                        s.start.line,
                        s.start.column
                    )
                })
            };
            let made = match crate::config::hf_entry(m) {
                Some(entry) => super::hf::model(m, &entry, &service, live, fit.get(&service))
                    .map_err(|(key, c)| {
                        let at = locate(&format!("/models/{i}/{key}"))
                            .or_else(|| locate(&format!("/models/{i}")));
                        c.at(at)
                    }),
                None => model(m, &service, &loaded.base_dir),
            };
            match made {
                Ok(mut d) => {
                    d.location = locate(&format!("/models/{i}"));
                    models.push(d);
                }
                Err(c) => problems.push(c),
            }
        }
        let files = super::integrations::desired(loaded, &models);
        Desired {
            files,
            project: spec.project.clone(),
            config_fingerprint: config_fingerprint(loaded, spec),
            services: spec.services.clone(),
            models,
            prune_models: cfg.settings.prune_models,
            daemon: spec.settings,
            problems,
            gpus: crate::config::gpus::declared(loaded),
            gpu_fit: cfg.settings.gpu_fit,
            fit_services: fit,
        }
    }
}

/// Each ollama service's GPUs and knobs, for the fit check.
fn fit_services(loaded: &Loaded, spec: &ProjectSpec) -> BTreeMap<String, FitService> {
    let cfg = &loaded.config;
    cfg.ollama_services()
        .map(|(name, s)| {
            let gpus = s.gpus.as_ref().map(|names| {
                names
                    .iter()
                    .filter_map(|n| cfg.gpus.get(n).cloned())
                    .collect()
            });
            let knobs = spec
                .services
                .iter()
                .find(|x| &x.name == name)
                .map(|x| OllamaKnobs::from_env(&x.env))
                .unwrap_or_default();
            (name.clone(), FitService { gpus, knobs })
        })
        .collect()
}

/// SHA-256 over everything the file means, not only its text: the text,
/// the file after interpolation (so `.env` and the environment count) and
/// each resolved service's spec hash (so `env_file` contents count). A saved
/// plan whose fingerprint differs was made from another meaning of the file.
pub fn config_fingerprint(loaded: &Loaded, spec: &ProjectSpec) -> String {
    let mut h = Sha256::new();
    h.update(loaded.file.text.as_bytes());
    h.update([0]);
    // The typed config always serializes (string keys only); an empty
    // fallback would still differ from any real file's.
    h.update(serde_json::to_vec(&loaded.config).unwrap_or_default());
    for s in &spec.services {
        h.update([0]);
        h.update(s.name.as_bytes());
        h.update([0]);
        h.update(s.spec_hash.as_bytes());
    }
    hex::encode(h.finalize())
}

/// How a named model is named in messages.
pub fn subject_name(name: &ModelName) -> String {
    format!("model {}", name.display_shortest())
}

/// How a model entry is named in messages.
pub fn subject(m: &Model) -> String {
    let name = m
        .ollama
        .as_deref()
        .or(m.hf.as_deref())
        .or(m.name.as_deref())
        .unwrap_or("?");
    format!("model {name}")
}

fn parse(m: &Model, s: &str) -> Result<ModelName, Check> {
    ModelName::parse(s).map_err(|e| {
        Check::error(
            subject(m),
            format!("Ollama would reject the name: {e}"),
            "Ollama names look like `model:tag`, `namespace/model:tag` or `host/namespace/model:tag`",
        )
    })
}

fn model(m: &Model, service: &str, base_dir: &Path) -> Result<DesiredModel, Check> {
    let (name, source) = if let Some(o) = &m.ollama {
        (parse(m, o)?, Source::Pull { from: None })
    } else {
        let Some(local) = &m.name else {
            return Err(Check::error(
                subject(m),
                "a model needs one of `ollama`, `hf`, `from` or `file`",
                "see CONFIG.md, `models:`",
            ));
        };
        let name = parse(m, local)?;
        let base = m.from.as_deref().map(|f| parse(m, f)).transpose()?;
        let request = Box::new(CreateRequest {
            model: name.display_shortest(),
            from: base.as_ref().map(ModelName::display_shortest),
            system: m.system.clone(),
            template: m.template.clone(),
            parameters: m.parameters.clone().into_iter().collect(),
            ..CreateRequest::default()
        });
        let file = m
            .file
            .as_deref()
            .map(|f| expand_path(f, base_dir).display().to_string());
        if let Some(f) = &file {
            check_gguf(m, Path::new(f))?;
        }
        let hash = create_hash(&request, file.as_deref());
        (
            name,
            Source::Create {
                base,
                request,
                file,
                hash,
            },
        )
    };
    let alias = m.alias.as_deref().map(|a| parse(m, a)).transpose()?;
    Ok(DesiredModel {
        service: service.to_string(),
        name,
        source,
        alias,
        keep_alive: m.keep_alive.clone(),
        num_ctx: m
            .parameters
            .get("num_ctx")
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.trim().parse().ok())),
        location: None,
        spread_group: m.spread_group.clone(),
        hf: None,
    })
}

/// The magic number every GGUF file starts with.
const GGUF_MAGIC: &[u8; 4] = b"GGUF";

/// A `file:` model must be a GGUF file that exists now: caught by `plan`,
/// not by a failed upload halfway through `apply` (and never uploading,
/// say, `/etc/passwd`). Only the first 4 bytes are read; a FIFO or device
/// is refused without reading it.
fn check_gguf(m: &Model, path: &Path) -> Result<(), Check> {
    use crate::safefs::{ReadError, read_prefix};
    let shown = path.display();
    let problem = match read_prefix(path, GGUF_MAGIC.len() as u64) {
        Ok(head) if head.as_slice() == GGUF_MAGIC => return Ok(()),
        Ok(_) => format!("{shown} is not a GGUF file (it does not start with `GGUF`)"),
        Err(e) if e.is_not_found() => format!("the GGUF file {shown} does not exist"),
        Err(ReadError::NotRegular { found, .. }) => {
            format!("{shown} is a {found}, not a GGUF file")
        }
        Err(e) => {
            let cause =
                std::error::Error::source(&e).map_or_else(String::new, |c| format!(": {c}"));
            format!("cannot read the GGUF file {shown}{cause}")
        }
    };
    Err(Check::error(
        subject(m),
        problem,
        "`file:` takes a local GGUF model file (a path relative to the project file, or absolute)",
    ))
}

/// SHA-256 of the create request as canonical JSON, plus the file's
/// identity (path, size, modification time) for file models.
pub fn create_hash(request: &CreateRequest, file: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(request).expect("a create request always serializes"));
    if let Some(f) = file {
        h.update(f.as_bytes());
        if let Ok(meta) = std::fs::metadata(f) {
            h.update(meta.len().to_le_bytes());
            if let Ok(t) = meta.modified().and_then(|t| {
                t.duration_since(std::time::UNIX_EPOCH)
                    .map_err(std::io::Error::other)
            }) {
                h.update(t.as_nanos().to_le_bytes());
            }
        }
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::interpolate::Vars;
    use crate::config::load_str;

    fn problems(dir: &Path, file: &str) -> Vec<Check> {
        let yaml = format!(
            "version: 1\nname: t\nservices:\n  ollama: {{ kind: ollama }}\nmodels:\n  - name: mine:1b\n    file: {file}\n"
        );
        let loaded = load_str(&dir.join("facerunner.yaml"), &yaml, &Vars::default())
            .unwrap_or_else(|e| panic!("invalid test config: {e:?}"));
        let m = &loaded.config.models[0];
        match model(m, "ollama", &loaded.base_dir) {
            Ok(_) => Vec::new(),
            Err(c) => vec![c],
        }
    }

    #[test]
    fn a_file_model_must_be_an_existing_gguf() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut gguf = GGUF_MAGIC.to_vec();
        gguf.extend_from_slice(&[3, 0, 0, 0]);
        std::fs::write(dir.path().join("m.gguf"), &gguf).expect("write");
        assert!(problems(dir.path(), "m.gguf").is_empty());

        let p = problems(dir.path(), "/etc/passwd");
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].severity, super::super::Severity::Error);
        assert!(
            p[0].message.contains("/etc/passwd") && p[0].message.contains("GGUF"),
            "{p:?}"
        );
        assert!(!p[0].message.contains("root:"), "no content echoed: {p:?}");

        let p = problems(dir.path(), "missing.gguf");
        assert!(p[0].message.contains("does not exist"), "{p:?}");
        assert!(p[0].message.contains("missing.gguf"), "{p:?}");

        let p = problems(dir.path(), "/dev/zero");
        assert!(p[0].message.contains("character device"), "{p:?}");
        let p = problems(dir.path(), &dir.path().display().to_string());
        assert!(p[0].message.contains("directory"), "{p:?}");
    }
}
