//! GPU inventory and memory estimates, as plain data.
//!
//! The [`Inventory`] is read from NVML or sysfs by `gpu`, or from a file
//! (`--gpus-from`, possibly written on another machine); `config` checks
//! `gpus:` against it, `plan` places models with it. Its JSON form is what
//! `facerunner gpus --json` prints and `--gpus-from` reads:
//! `{"gpus": [{"index", "uuid", "name", "memory_total_bytes",
//! "memory_used_bytes", …}]}`.
//!
//! A model's [`Estimate`] (weights + KV cache + overhead, see
//! `docs/gpu-memory.md`) is what the fit check compares with a GPU's free
//! memory.

use serde::{Deserialize, Serialize};

/// The GPUs of one machine, or why there are none.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Inventory {
    /// The GPUs, by index.
    #[serde(default)]
    pub gpus: Vec<GpuInfo>,
    /// Where the list came from: `nvml`, `sysfs`, `file:PATH`, or `none`.
    #[serde(default)]
    pub source: String,
    /// Why the list is empty, when no source could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

/// One GPU.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GpuInfo {
    /// The driver's index (NVML's, or the DRM card number on AMD).
    pub index: u32,
    /// Stable identity: `GPU-…`/`MIG-…` on NVIDIA, the PCI address elsewhere.
    pub uuid: String,
    /// Marketing name.
    #[serde(default)]
    pub name: String,
    /// `nvidia`, `amd`, ….
    #[serde(default)]
    pub vendor: String,
    /// Total memory.
    pub memory_total_bytes: u64,
    /// Memory in use (by anyone).
    #[serde(default)]
    pub memory_used_bytes: u64,
    /// Utilization of the compute engines, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utilization_percent: Option<u32>,
    /// Temperature, °C.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature_c: Option<u32>,
    /// Power draw, watts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_watts: Option<f64>,
    /// Processes using it, with their memory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub processes: Vec<GpuProcess>,
}

impl GpuInfo {
    /// Memory not in use.
    pub fn memory_free_bytes(&self) -> u64 {
        self.memory_total_bytes
            .saturating_sub(self.memory_used_bytes)
    }
}

/// A process on a GPU.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GpuProcess {
    /// Its pid (in the GPU host's pid namespace).
    pub pid: u32,
    /// GPU memory it holds.
    pub used_memory_bytes: u64,
    /// The FaceRunner service it belongs to, when it is one of ours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

impl Inventory {
    /// The GPU with this index.
    pub fn by_index(&self, index: u32) -> Option<&GpuInfo> {
        self.gpus.iter().find(|g| g.index == index)
    }

    /// The GPU with this UUID.
    pub fn by_uuid(&self, uuid: &str) -> Option<&GpuInfo> {
        self.gpus.iter().find(|g| g.uuid == uuid)
    }

    /// A `CUDA_VISIBLE_DEVICES` value with every index this inventory knows
    /// replaced by its UUID (`0,GPU-ab` → `GPU-12…,GPU-ab`), so a service
    /// stays on the same card when devices are renumbered. Done when a
    /// service starts, not when the file is resolved, so a spec hash is the
    /// same on every machine. Only NVIDIA GPUs (or ones of no stated
    /// vendor) are pinned: an AMD card's identity is its PCI address, which
    /// CUDA does not understand.
    pub fn pin(&self, devices: &str) -> String {
        devices
            .split(',')
            .map(|d| {
                d.trim()
                    .parse::<u32>()
                    .ok()
                    .and_then(|i| self.by_index(i))
                    .filter(|g| g.vendor.is_empty() || g.vendor == "nvidia")
                    .map_or(d, |g| g.uuid.as_str())
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// How much memory a model needs resident, and its parts.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Estimate {
    /// The weights (the GGUF file's size).
    pub weights_bytes: u64,
    /// The KV cache at the context and parallelism it will run with.
    pub kv_cache_bytes: u64,
    /// Compute buffer and per-GPU overhead.
    pub overhead_bytes: u64,
    /// The context length the estimate assumes.
    pub num_ctx: u64,
    /// Requests served in parallel (`OLLAMA_NUM_PARALLEL`).
    pub parallel: u64,
    /// Transformer layers (for "≈ k% of layers on CPU").
    pub layers: u64,
    /// The KV cache's element type (`f16`, `q8_0`, `q4_0`).
    #[serde(default)]
    pub kv_cache_type: String,
    /// Whether flash attention is assumed on.
    #[serde(default)]
    pub flash_attention: bool,
}

impl Estimate {
    /// All of it.
    pub fn total_bytes(&self) -> u64 {
        self.weights_bytes
            .saturating_add(self.kv_cache_bytes)
            .saturating_add(self.overhead_bytes)
    }
}

/// Ollama's knobs that change a model's memory, from an `ollama`
/// service's environment (`OLLAMA_*`), each at Ollama's default when unset.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OllamaKnobs {
    /// `OLLAMA_CONTEXT_LENGTH` (unset or 0: chosen by VRAM).
    pub context_length: Option<u64>,
    /// `OLLAMA_NUM_PARALLEL` (default 1).
    pub num_parallel: Option<u64>,
    /// `OLLAMA_FLASH_ATTENTION`: `Some(true|false)`, `None` = auto.
    pub flash_attention: Option<bool>,
    /// `OLLAMA_KV_CACHE_TYPE` (default `f16`).
    pub kv_cache_type: Option<String>,
    /// `OLLAMA_GPU_OVERHEAD`, bytes reserved per GPU (default 0).
    pub gpu_overhead_bytes: u64,
}

impl OllamaKnobs {
    /// Read from a service's environment; values Ollama would not parse
    /// count as unset, as Ollama treats them.
    pub fn from_env(env: &std::collections::BTreeMap<String, String>) -> OllamaKnobs {
        let num = |k: &str| {
            env.get(k)
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|n| *n > 0)
        };
        let flash_attention = env.get("OLLAMA_FLASH_ATTENTION").and_then(|v| {
            match v.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "on" | "yes" => Some(true),
                "0" | "false" | "off" | "no" => Some(false),
                _ => None,
            }
        });
        OllamaKnobs {
            context_length: num("OLLAMA_CONTEXT_LENGTH"),
            num_parallel: num("OLLAMA_NUM_PARALLEL"),
            flash_attention,
            kv_cache_type: env
                .get("OLLAMA_KV_CACHE_TYPE")
                .map(|v| v.trim().to_ascii_lowercase())
                .filter(|v| !v.is_empty()),
            gpu_overhead_bytes: num("OLLAMA_GPU_OVERHEAD").unwrap_or(0),
        }
    }
}

/// Ollama's minimum free memory per CUDA/ROCm GPU (457 MiB; Metal: 512).
pub const MINIMUM_MEMORY_BYTES: u64 = 457 << 20;

/// The batch Ollama's graph-size formula uses (`num_batch`, default 512).
const NUM_BATCH: u64 = 512;

/// Architectures Ollama turns flash attention on for by default.
const FLASH_BY_DEFAULT: &[&str] = &[
    "gemma3", "gpt-oss", "gptoss", "qwen3", "qwen3moe", "qwen3vl",
];

/// Architectures Ollama runs with one slot whatever `OLLAMA_NUM_PARALLEL` says.
const ONE_SLOT: &[&str] = &[
    "mllama",
    "qwen3vl",
    "qwen35",
    "qwen3next",
    "lfm2",
    "nemotron_h",
];

/// Ollama's default context when neither the model nor the server sets
/// one: by the VRAM of the GPUs it may use (< 24 GiB: 4k, < 48 GiB: 32k,
/// else 256k).
pub fn default_num_ctx(vram_total_bytes: u64) -> u64 {
    if vram_total_bytes < 24 << 30 {
        4096
    } else if vram_total_bytes < 48 << 30 {
        32768
    } else {
        262_144
    }
}

/// KV-cache bytes per element, in half bytes (f16 4, q8_0 2, q4_0 1, f32 8).
fn kv_half_bytes(kind: &str) -> u64 {
    match kind {
        "q8_0" => 2,
        "q4_0" => 1,
        "f32" => 8,
        _ => 4,
    }
}

/// A model's memory on the GPU, as Ollama's classic estimator computes it
/// (see `docs/gpu-memory.md`): weights (the file) + KV cache
/// (`layers × ctx × parallel × kv_heads × (key_len + value_len) × bytes per
/// element`) + overhead (457 MiB minimum, `OLLAMA_GPU_OVERHEAD`, and the
/// compute graph).
///
/// `num_ctx` is the model's own parameter when it has one; else
/// `OLLAMA_CONTEXT_LENGTH`; else Ollama's default for `vram_total_bytes`;
/// always capped at the training context. A quantized KV cache applies only
/// with flash attention on. Pure arithmetic, saturating: hostile metadata
/// gives a huge estimate, never a panic.
pub fn estimate(
    meta: &crate::model::gguf::ModelMeta,
    num_ctx: Option<u64>,
    knobs: &OllamaKnobs,
    vram_total_bytes: u64,
) -> Estimate {
    let meta = meta.clone().with_defaults();
    let mut ctx = num_ctx
        .filter(|n| *n > 0)
        .or(knobs.context_length)
        .unwrap_or_else(|| default_num_ctx(vram_total_bytes));
    if meta.context_length > 0 {
        ctx = ctx.min(meta.context_length);
    }
    let parallel = if meta.embedding_model || ONE_SLOT.contains(&meta.architecture.as_str()) {
        1
    } else {
        knobs.num_parallel.unwrap_or(1).max(1)
    };
    let flash_attention = !meta.embedding_model
        && meta.key_length == meta.value_length
        && knobs
            .flash_attention
            .unwrap_or_else(|| FLASH_BY_DEFAULT.contains(&meta.architecture.as_str()));
    let kv_cache_type = match knobs.kv_cache_type.as_deref() {
        Some(t @ ("q8_0" | "q4_0")) if flash_attention => t.to_string(),
        _ => "f16".to_string(),
    };
    let total_ctx = ctx.saturating_mul(parallel);
    let kv_cache_bytes = meta
        .block_count
        .saturating_mul(total_ctx)
        .saturating_mul(meta.head_count_kv)
        .saturating_mul(meta.key_length.saturating_add(meta.value_length))
        .saturating_mul(kv_half_bytes(&kv_cache_type))
        / 2;
    // Ollama's llama graph size: max(4·b·(1 + 4·embd + ctx·(1 + heads)),
    // 4·b·(embd + vocab)); with flash attention the f32 attention scores
    // (ctx·heads per token) are not materialized: about 2·ctx per token.
    let b = NUM_BATCH.min(total_ctx.max(1));
    let embd4 = meta.embedding_length.saturating_mul(4).saturating_add(1);
    let attention = if flash_attention {
        total_ctx.saturating_mul(2)
    } else {
        total_ctx.saturating_mul(meta.head_count.saturating_add(1))
    };
    let graph = (4 * b)
        .saturating_mul(embd4.saturating_add(attention))
        .max((4 * b).saturating_mul(meta.embedding_length.saturating_add(meta.vocab_size)));
    Estimate {
        weights_bytes: meta.file_size_bytes,
        kv_cache_bytes,
        overhead_bytes: MINIMUM_MEMORY_BYTES
            .saturating_add(knobs.gpu_overhead_bytes)
            .saturating_add(graph),
        num_ctx: ctx,
        parallel,
        layers: meta.block_count,
        kv_cache_type,
        flash_attention,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_are_pinned_to_known_uuids_only() {
        let inv = Inventory {
            gpus: vec![GpuInfo {
                index: 0,
                uuid: "GPU-aaaa".into(),
                ..GpuInfo::default()
            }],
            ..Inventory::default()
        };
        assert_eq!(inv.pin("0"), "GPU-aaaa");
        assert_eq!(inv.pin("0,1,GPU-bbbb"), "GPU-aaaa,1,GPU-bbbb");
        assert_eq!(inv.pin("-1"), "-1");
        let amd = Inventory {
            gpus: vec![GpuInfo {
                index: 0,
                uuid: "0000:03:00.0".into(),
                vendor: "amd".into(),
                ..GpuInfo::default()
            }],
            ..Inventory::default()
        };
        assert_eq!(amd.pin("0"), "0", "a PCI address is no CUDA device");
    }

    #[test]
    fn the_documented_json_form_reads() {
        let inv: Inventory = serde_json::from_str(
            r#"{"gpus": [{"index": 0, "uuid": "GPU-1", "name": "RTX 4090",
                "memory_total_bytes": 25769803776, "memory_used_bytes": 1073741824}]}"#,
        )
        .expect("reads");
        assert_eq!(inv.gpus[0].memory_free_bytes(), 23 << 30);
    }

    fn llama(layers: u64, heads: u64, kv_heads: u64, head_dim: u64, ctx: u64) -> ModelMeta {
        ModelMeta {
            architecture: "llama".into(),
            block_count: layers,
            context_length: ctx,
            embedding_length: heads * head_dim,
            head_count: heads,
            head_count_kv: kv_heads,
            file_size_bytes: 1 << 30,
            ..ModelMeta::default()
        }
    }

    use crate::model::gguf::ModelMeta;

    #[test]
    fn kv_cache_of_an_80_layer_model_at_128k_is_40_gib() {
        // 80 layers × 131072 ctx × 1 slot × 8 KV heads × (128 + 128) × 2 B (f16)
        // = 80 × 131072 = 10_485_760; × 8 = 83_886_080; × 256 = 21_474_836_480;
        // × 2 = 42_949_672_960 B = 40 GiB.
        let m = llama(80, 64, 8, 128, 131_072);
        let e = estimate(&m, Some(131_072), &OllamaKnobs::default(), 24 << 30);
        assert_eq!(e.kv_cache_bytes, 42_949_672_960);
        assert_eq!(e.kv_cache_type, "f16");
        // At 8192: 80 × 8192 × 8 × 256 × 2 = 2_684_354_560 B = 2.5 GiB.
        let e = estimate(&m, Some(8192), &OllamaKnobs::default(), 24 << 30);
        assert_eq!(e.kv_cache_bytes, 2_684_354_560);
        assert!(e.total_bytes() < 24 << 30);
    }

    #[test]
    fn q8_0_with_flash_attention_and_four_slots_halves_the_f16_cache() {
        // Llama 3.1 8B: 32 layers × 8192 ctx × 4 slots × 8 KV heads × (128 + 128)
        // × 1 B (q8_0) = 32 × 8192 = 262_144; × 4 = 1_048_576; × 8 = 8_388_608;
        // × 256 = 2_147_483_648 B = 2 GiB (f16 would be 4 GiB: "q8_0 ≈ ½").
        let m = llama(32, 32, 8, 128, 131_072);
        let env = |fa: &str| {
            OllamaKnobs::from_env(
                &[
                    ("OLLAMA_NUM_PARALLEL", "4"),
                    ("OLLAMA_KV_CACHE_TYPE", "q8_0"),
                    ("OLLAMA_FLASH_ATTENTION", fa),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            )
        };
        let e = estimate(&m, Some(8192), &env("1"), 24 << 30);
        assert_eq!((e.parallel, e.kv_cache_type.as_str()), (4, "q8_0"));
        assert_eq!(e.kv_cache_bytes, 2_147_483_648);
        // Without flash attention the cache type is ignored: f16, 4 GiB.
        let e = estimate(&m, Some(8192), &env("0"), 24 << 30);
        assert_eq!(e.kv_cache_bytes, 4_294_967_296);
    }

    #[test]
    fn num_ctx_comes_from_the_model_then_the_server_then_vram_capped_at_training() {
        let m = llama(32, 32, 8, 128, 131_072);
        let server = OllamaKnobs {
            context_length: Some(16_384),
            ..OllamaKnobs::default()
        };
        assert_eq!(estimate(&m, Some(2048), &server, 80 << 30).num_ctx, 2048);
        assert_eq!(estimate(&m, None, &server, 80 << 30).num_ctx, 16_384);
        let none = OllamaKnobs::default();
        assert_eq!(estimate(&m, None, &none, 16 << 30).num_ctx, 4096);
        assert_eq!(estimate(&m, None, &none, 24 << 30).num_ctx, 32_768);
        // 256k by VRAM, capped at the 128k training context.
        assert_eq!(estimate(&m, None, &none, 80 << 30).num_ctx, 131_072);
    }

    #[test]
    fn hostile_metadata_saturates_instead_of_panicking() {
        let m = ModelMeta {
            block_count: u64::MAX,
            head_count: u64::MAX,
            embedding_length: u64::MAX,
            vocab_size: u64::MAX,
            file_size_bytes: u64::MAX,
            ..ModelMeta::default()
        };
        assert_eq!(
            estimate(&m, Some(u64::MAX), &OllamaKnobs::default(), 0).total_bytes(),
            u64::MAX
        );
    }
}
