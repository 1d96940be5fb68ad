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
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
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
}

impl Estimate {
    /// All of it.
    pub fn total_bytes(&self) -> u64 {
        self.weights_bytes
            .saturating_add(self.kv_cache_bytes)
            .saturating_add(self.overhead_bytes)
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
}
