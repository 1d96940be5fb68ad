//! The GPU fit check: does each declared model fit the GPUs of its service?
//!
//! Per ollama service: the models it keeps resident (`keep_alive`) are
//! placed together, largest first, each on the GPU with the most room (or
//! split over several when none holds it alone, as Ollama spreads a model);
//! every on-demand model is then checked against the room the resident ones
//! leave. A GPU's room is its total memory less what others use: memory in
//! use by processes that are not FaceRunner's services counts as taken,
//! FaceRunner's own (a running Ollama's loaded models) as free. Estimates
//! are `model::gpu::estimate` (see `docs/gpu-memory.md`). Pure: the
//! inventory and the models' headers were observed before.

use super::build::Builder;
use super::desired::{Desired, DesiredModel, FitService, Source, subject_name};
use super::{FitOutcome, ModelFit};
use crate::config::types::GpuFit;
use crate::model::checks::Check;
use crate::model::gpu::{GpuInfo, Inventory, estimate};
use crate::observe::Live;

/// The checks go to `b`; returns the per-model results and why the check
/// was skipped, if it was.
pub(super) fn check(
    b: &mut Builder,
    desired: &Desired,
    live: &Live,
) -> (Vec<ModelFit>, Option<String>) {
    if desired.gpu_fit == GpuFit::Off || desired.models.is_empty() {
        return (Vec::new(), None);
    }
    let inv = &live.inventory;
    // No GPUs: said once, and no header was read to get here.
    if inv.gpus.is_empty() {
        let why = inv
            .unavailable
            .clone()
            .unwrap_or_else(|| "the inventory lists no GPUs".into());
        return (
            Vec::new(),
            Some(format!(
                "GPU fit check skipped: {why}; plan with `--gpus-from FILE` (written by `facerunner gpus --json` on the GPU machine) to check against its GPUs"
            )),
        );
    }
    // Nothing more to say without a model whose header was read.
    let known = |m: &DesiredModel| model_meta(live, m).is_some();
    if !desired.models.iter().any(known) {
        return (Vec::new(), None);
    }
    let mut fits = Vec::new();
    for (service, svc) in &desired.fit_services {
        let gpus = service_gpus(inv, svc);
        if gpus.is_empty() {
            continue; // `gpus: []` (CPU only), or GPUs this inventory does not have
        }
        let vram: u64 = gpus.iter().map(|g| g.memory_total_bytes).sum();
        let mut rooms: Vec<(u32, u64, u64)> = gpus
            .iter()
            .map(|g| (g.index, room(g), g.memory_total_bytes))
            .collect();
        let mut models: Vec<(&DesiredModel, crate::model::gpu::Estimate)> = desired
            .models
            .iter()
            .filter(|m| &m.service == service)
            .filter_map(|m| {
                let meta = model_meta(live, m)?;
                Some((m, estimate(&meta, m.num_ctx, &svc.knobs, vram)))
            })
            .collect();
        models.sort_by_key(|(_, e)| std::cmp::Reverse(e.total_bytes()));
        for resident in [true, false] {
            let start = rooms.clone();
            for (m, e) in models.iter().filter(|(m, _)| is_resident(m) == resident) {
                let mut r = if resident {
                    std::mem::take(&mut rooms)
                } else {
                    start.clone()
                };
                let fit = place(service, m, e, &mut r, resident);
                if resident {
                    rooms = r;
                }
                report(b, desired.gpu_fit, m, &fit);
                fits.push(fit);
            }
        }
    }
    (fits, None)
}

/// The key of a model's shape in [`Live::models_meta`].
pub fn meta_key(m: &DesiredModel) -> String {
    match &m.source {
        Source::Create { file: Some(f), .. } => format!("file:{f}"),
        _ => format!("{}/{}", m.service, m.name.key()),
    }
}

/// A model's shape for the estimate: its own header ([`meta_key`]), else,
/// for an `hf:` GGUF not downloaded yet, the repo's header read over HTTP
/// (`observe::hf::headers`) with the chosen quant's bytes as the weights.
pub(super) fn model_meta<'a>(
    live: &'a Live,
    m: &DesiredModel,
) -> Option<std::borrow::Cow<'a, crate::model::gguf::ModelMeta>> {
    if let Some(meta) = live.models_meta.get(&meta_key(m)) {
        return Some(std::borrow::Cow::Borrowed(meta));
    }
    let r = m.hf.as_deref()?;
    let header = live.models_meta.get(&crate::model::hf_resolve::header_key(
        &r.repo,
        r.commit.as_deref()?,
    ))?;
    (r.format == crate::model::hf_resolve::HfFormat::Gguf && r.bytes > 0).then(|| {
        std::borrow::Cow::Owned(crate::model::gguf::ModelMeta {
            file_size_bytes: r.bytes,
            ..header.clone()
        })
    })
}

fn is_resident(m: &DesiredModel) -> bool {
    m.keep_alive
        .as_deref()
        .is_some_and(|k| !matches!(k.trim(), "0" | "0s" | "0m" | "0h"))
}

/// A service's GPUs: its `gpus:` found in the inventory, else all.
pub(super) fn service_gpus<'a>(inv: &'a Inventory, svc: &FitService) -> Vec<&'a GpuInfo> {
    match &svc.gpus {
        None => inv.gpus.iter().collect(),
        Some(list) => list
            .iter()
            .filter_map(|g| match (&g.uuid, g.index) {
                (Some(u), _) => inv.by_uuid(u),
                (None, Some(i)) => inv.by_index(i),
                (None, None) => None,
            })
            .collect(),
    }
}

/// Free for FaceRunner: total less memory used by anyone but its services.
pub(crate) fn room(g: &GpuInfo) -> u64 {
    let ours: u64 = g
        .processes
        .iter()
        .filter(|p| p.service.is_some())
        .map(|p| p.used_memory_bytes)
        .sum();
    g.memory_total_bytes
        .saturating_sub(g.memory_used_bytes.saturating_sub(ours))
}

/// Place one model on `rooms` (index, free, total), taking what it uses.
fn place(
    service: &str,
    m: &DesiredModel,
    e: &crate::model::gpu::Estimate,
    rooms: &mut [(u32, u64, u64)],
    resident: bool,
) -> ModelFit {
    rooms.sort_by_key(|r| std::cmp::Reverse(r.1));
    let need = e.total_bytes();
    let mut fit = ModelFit {
        service: service.to_string(),
        model: m.name.display_shortest(),
        resident,
        estimate: e.clone(),
        gpus: Vec::new(),
        free_bytes: 0,
        total_bytes: 0,
        outcome: FitOutcome::Fits,
        cpu_layers_percent: 0,
    };
    if let Some(r) = rooms.iter_mut().find(|r| r.1 >= need) {
        fit.gpus = vec![r.0];
        fit.free_bytes = r.1;
        fit.total_bytes = r.2;
        r.1 -= need;
        return fit;
    }
    // Spread over every GPU with room; each holds its own overhead.
    let used: Vec<usize> = (0..rooms.len()).filter(|i| rooms[*i].1 > 0).collect();
    fit.gpus = used.iter().map(|i| rooms[*i].0).collect();
    fit.free_bytes = used.iter().map(|i| rooms[*i].1).sum();
    fit.total_bytes = used.iter().map(|i| rooms[*i].2).sum();
    let overheads = e.overhead_bytes.saturating_mul(used.len().max(1) as u64);
    let layered = e.weights_bytes.saturating_add(e.kv_cache_bytes);
    if used.len() > 1 && fit.free_bytes >= layered.saturating_add(overheads) {
        let mut left = need.saturating_add(overheads - e.overhead_bytes);
        for i in &used {
            let take = rooms[*i].1.min(left);
            rooms[*i].1 -= take;
            left -= take;
        }
        return fit;
    }
    let layers = e.layers.max(1);
    let per_layer = (layered / layers).max(1);
    let usable = fit.free_bytes.saturating_sub(overheads);
    let on_gpu = (usable / per_layer).min(layers);
    for i in &used {
        rooms[*i].1 = 0;
    }
    if on_gpu == 0 {
        fit.outcome = FitOutcome::None;
        fit.cpu_layers_percent = 100;
    } else {
        fit.outcome = FitOutcome::Partial;
        fit.cpu_layers_percent = ((layers - on_gpu) * 100).div_ceil(layers);
    }
    fit
}

fn gib(b: u64) -> String {
    format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64)
}

/// A check for a model that does not fit wholly.
fn report(b: &mut Builder, mode: GpuFit, m: &DesiredModel, fit: &ModelFit) {
    let e = &fit.estimate;
    let gpus = fit
        .gpus
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join("+");
    let what = match fit.outcome {
        FitOutcome::Fits => return,
        FitOutcome::Partial => format!(
            "fits only partly: ≈ {}% of its layers would run on the CPU",
            fit.cpu_layers_percent
        ),
        FitOutcome::None => "does not fit: it would run on the CPU".to_string(),
    };
    let place = if gpus.is_empty() {
        "no GPU has room left".to_string()
    } else {
        format!(
            "GPU {gpus} has {} of {} free",
            gib(fit.free_bytes),
            gib(fit.total_bytes)
        )
    };
    let resident = if fit.resident {
        " beside the other resident models"
    } else {
        ""
    };
    let at = m
        .location
        .as_deref()
        .map(|l| format!("{l}: "))
        .unwrap_or_default();
    let message = format!(
        "{at}{what}; it needs {} (weights {} + KV cache {} at num_ctx {} × {} parallel, {} + overhead {}) and {place}{resident}",
        gib(e.total_bytes()),
        gib(e.weights_bytes),
        gib(e.kv_cache_bytes),
        e.num_ctx,
        e.parallel,
        e.kv_cache_type,
        gib(e.overhead_bytes),
    );
    let help = "use a smaller quant, a smaller `num_ctx` (`parameters: { num_ctx: 8192 }`, or OLLAMA_CONTEXT_LENGTH), a quantized KV cache (OLLAMA_FLASH_ATTENTION=1 with OLLAMA_KV_CACHE_TYPE=q8_0), or another GPU (`gpus:`); `settings.gpu_fit: off` turns this check off";
    let subject = subject_name(&m.name);
    b.checks.push(match mode {
        GpuFit::Error => Check::error(subject, message, help),
        _ => Check::warning(subject, message, help),
    });
}
