//! The desired state: the resolved services and every declared model with
//! its final Ollama name.
//!
//! This is where model entries become names Ollama understands: `ollama:`
//! names are parsed with Ollama's grammar, `hf:` repos go through
//! `names::hf::convert`, derived models become the `/api/create` request
//! they will be created with (and its hash, which the state file keeps so a
//! change of `from`, `system`, `parameters` or `template` recreates them).
//! Entries that cannot be named become error checks instead of steps.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::config::Loaded;
use crate::config::resolve::expand_path;
use crate::config::types::{Kind, Model};
use crate::model::checks::Check;
use crate::model::spec::{ProjectSpec, ServiceSpec};
use crate::names::{ModelName, RepoHints, convert};
use crate::ollama::CreateRequest;

/// What the file asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    /// Project name.
    pub project: String,
    /// SHA-256 of the file's text.
    pub config_fingerprint: String,
    /// Resolved services, in file order.
    pub services: Vec<ServiceSpec>,
    /// Declared models, in file order.
    pub models: Vec<DesiredModel>,
    /// `settings.prune_models`.
    pub prune_models: bool,
    /// Entries that could not be turned into names.
    pub problems: Vec<Check>,
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
    /// Build from a loaded file and its resolved services.
    pub fn new(loaded: &Loaded, spec: &ProjectSpec) -> Desired {
        let cfg = &loaded.config;
        let ollamas: Vec<&String> = cfg
            .services
            .iter()
            .filter(|(_, s)| s.kind == Kind::Ollama)
            .map(|(n, _)| n)
            .collect();
        let mut models = Vec::new();
        let mut problems = Vec::new();
        for m in &cfg.models {
            let service = match (&m.service, ollamas.as_slice()) {
                (Some(s), _) => s.clone(),
                (None, [only]) => (*only).clone(),
                (None, _) => {
                    problems.push(Check::error(
                        subject(m),
                        "no ollama service to hold this model",
                        "add `service:` naming an ollama service",
                    ));
                    continue;
                }
            };
            match model(m, &service, &loaded.base_dir) {
                Ok(d) => models.push(d),
                Err(c) => problems.push(c),
            }
        }
        Desired {
            project: spec.project.clone(),
            config_fingerprint: hex::encode(Sha256::digest(loaded.file.text.as_bytes())),
            services: spec.services.clone(),
            models,
            prune_models: cfg.settings.prune_models,
            problems,
        }
    }
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
    } else if let Some(hf) = &m.hf {
        let c = convert(hf, m.quant.as_deref(), &RepoHints::default())
            .map_err(|e| Check::error(subject(m), e.to_string(), e.help.clone()))?;
        (
            c.ollama,
            Source::Pull {
                from: Some(format!("hf: {hf}")),
            },
        )
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
    })
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
