//! `hf:` entries become desired models: resolved against the Hub's answer
//! observed in [`Live::hf`] (offline: the table and rules), with
//! `quant: auto` fitted to the GPUs of the entry's ollama service by the
//! same memory estimate as the fit check (`model::gpu::estimate`, with the
//! repo's GGUF header read over HTTP before download, so the KV cache at
//! the entry's `num_ctx` counts; without it, the file's bytes plus Ollama's
//! overhead).
//!
//! An Ollama pull becomes [`Source::Pull`]; a download becomes a
//! [`Source::Create`] whose files come from the Hub (the step carries the
//! resolution), hashed with the commit, so a moved `main` recreates it.

use super::desired::{DesiredModel, FitService, Source, create_hash, subject};
use crate::config::types::Model;
use crate::model::checks::Check;
use crate::model::gguf::ModelMeta;
use crate::model::gpu::{GpuInfo, OllamaKnobs, estimate};
use crate::model::hf::{HfSource, RepoInfo};
use crate::model::hf_resolve::{HfEntry, HfEnv, HfLookup, HfResolution, ResolveError, resolve};
use crate::model::units::human_bytes;
use crate::names::ModelName;
use crate::observe::Live;
use crate::ollama::CreateRequest;

/// The desired model of an `hf:` entry, or the entry's key the error is
/// about (`hf`, `quant`, ...) and the error.
pub(super) fn model(
    m: &Model,
    entry: &HfEntry,
    service: &str,
    live: &Live,
    fit: Option<&FitService>,
) -> Result<DesiredModel, (&'static str, Check)> {
    let err = |key: &'static str, message: String, help: String| {
        (key, Check::error(subject(m), message, help))
    };
    let lookup = entry.lookup_key().and_then(|k| live.hf.get(&k));
    let (info, offline_why) = match lookup {
        Some(HfLookup::Found { info }) => (Some(info.as_ref()), None),
        Some(HfLookup::Refused { reason, help }) => {
            return Err(err("hf", reason.clone(), help.clone()));
        }
        Some(HfLookup::Unreachable { reason }) => (None, Some(reason.clone())),
        None => (None, None),
    };
    let num_ctx = m
        .parameters
        .get("num_ctx")
        .and_then(|v| v.as_u64().or_else(|| v.as_str()?.trim().parse().ok()));
    let gpus = fit
        .map(|svc| super::fit::service_gpus(&live.inventory, svc))
        .unwrap_or_default();
    // The repo's header, read before download (observe::hf::headers).
    let header = info.and_then(|i| {
        live.models_meta
            .get(&crate::model::hf_resolve::header_key(&i.id, &i.commit))
            .cloned()
    });
    let fitter = Fitter::new(
        &gpus,
        fit.map(|f| f.knobs.clone()).unwrap_or_default(),
        num_ctx,
        header,
    );
    let fits = |bytes: u64| fitter.fits(bytes);
    let mut r =
        resolve(entry, info, live.hf_env, &fits).map_err(|e| err(e.key, e.reason, e.help))?;
    if let Some(why) = offline_why {
        r.reason = format!("{} (the Hub did not answer: {why})", r.reason);
    }
    if entry.quant_auto() && r.bytes > 0 {
        r.gpu = fitter.fits_on(r.bytes);
    }
    let name = ModelName::parse(&r.name).map_err(|e| {
        err(
            if entry.alias.is_some() { "alias" } else { "hf" },
            format!("Ollama would reject the name {}: {e}", r.name),
            "set `alias:` to a name Ollama accepts (`model:tag`)".into(),
        )
    })?;
    let from = Some(format!("hf: {}", entry.repo.trim()));
    let (source, alias) = match r.source {
        HfSource::Ollama => {
            let alias = m
                .alias
                .as_deref()
                .map(ModelName::parse)
                .transpose()
                .map_err(|e| {
                    err(
                        "alias",
                        e.to_string(),
                        "Ollama names look like `model:tag`".into(),
                    )
                })?;
            (Source::Pull { from }, alias)
        }
        HfSource::Download => {
            let request = Box::new(CreateRequest {
                model: name.display_shortest(),
                system: m.system.clone(),
                template: m.template.clone(),
                parameters: m.parameters.clone().into_iter().collect(),
                quantize: r.quantize.clone(),
                ..CreateRequest::default()
            });
            let hash = import_hash(&request, &r);
            (
                Source::Create {
                    base: None,
                    request,
                    file: None,
                    hash,
                },
                // An import is created under its alias: no copy.
                None,
            )
        }
    };
    Ok(DesiredModel {
        service: service.to_string(),
        name,
        source,
        alias,
        keep_alive: m.keep_alive.clone(),
        num_ctx,
        location: None,
        spread_group: m.spread_group.clone(),
        hf: Some(Box::new(r)),
    })
}

/// Whether an `hf:` GGUF fits GPUs, by the fit check's estimate
/// (`model::gpu::estimate`): with the repo's GGUF header when it was read
/// (the KV cache at the context it will run with), else the file's bytes
/// plus Ollama's overhead. The plan's `quant: auto` and `facerunner hf info`
/// both ask it, so they agree.
pub struct Fitter {
    /// Each GPU: label, room, total memory.
    gpus: Vec<(String, u64, u64)>,
    knobs: OllamaKnobs,
    num_ctx: Option<u64>,
    header: Option<ModelMeta>,
}

impl Fitter {
    /// A fitter for `gpus` (a service's, or one GPU) with the service's
    /// `knobs`, the entry's `num_ctx` and the repo's header when known.
    pub fn new(
        gpus: &[&GpuInfo],
        knobs: OllamaKnobs,
        num_ctx: Option<u64>,
        header: Option<ModelMeta>,
    ) -> Fitter {
        Fitter {
            gpus: gpus
                .iter()
                .map(|g| {
                    (
                        format!(
                            "GPU {} ({}, {})",
                            g.index,
                            g.name,
                            human_bytes(g.memory_total_bytes)
                        ),
                        super::fit::room(g),
                        g.memory_total_bytes,
                    )
                })
                .collect(),
            knobs,
            num_ctx,
            header,
        }
    }

    /// The memory a GGUF of `bytes` needs.
    pub fn need(&self, bytes: u64) -> u64 {
        let vram: u64 = self.gpus.iter().map(|g| g.2).sum();
        let meta = ModelMeta {
            file_size_bytes: bytes,
            ..self.header.clone().unwrap_or_default()
        };
        estimate(&meta, self.num_ctx, &self.knobs, vram).total_bytes()
    }

    /// The first GPU a GGUF of `bytes` fits on.
    pub fn fits_on(&self, bytes: u64) -> Option<String> {
        let n = self.need(bytes);
        self.gpus.iter().find(|g| n <= g.1).map(|g| g.0.clone())
    }

    /// Whether it fits one of the GPUs (`None`: no GPU to fit).
    pub fn fits(&self, bytes: u64) -> Option<bool> {
        (!self.gpus.is_empty()).then(|| self.fits_on(bytes).is_some())
    }
}

/// What FaceRunner would do with a repo written as `hf: REPO` with
/// `revision:` and nothing else: the plan's resolution, so `hf info` and
/// `plan` agree. `Ok`: the resolution; `Err`: why it is refused, and what
/// would work.
pub fn verdict(
    info: &RepoInfo,
    revision: &str,
    env: HfEnv,
    fitter: &Fitter,
) -> Result<HfResolution, ResolveError> {
    let entry = HfEntry {
        repo: info.id.clone(),
        revision: Some(revision.to_string()),
        ..HfEntry::default()
    };
    resolve(&entry, Some(info), env, &|b| fitter.fits(b))
}

/// The definition hash of an `hf:` import: the create request, the commit
/// and the files, so a moved revision or another quant recreates it.
pub fn import_hash(request: &CreateRequest, r: &crate::model::hf_resolve::HfResolution) -> String {
    use sha2::{Digest, Sha256};
    let pin = format!(
        "{}@{}:{}",
        r.repo,
        r.commit.as_deref().unwrap_or(&r.revision),
        r.files
            .iter()
            .map(|f| format!("{}={}", f.path, f.cache_blob_name().unwrap_or("")))
            .collect::<Vec<_>>()
            .join(",")
    );
    let mut h = Sha256::new();
    h.update(create_hash(request, None).as_bytes());
    h.update([0]);
    h.update(pin.as_bytes());
    hex::encode(h.finalize())
}
