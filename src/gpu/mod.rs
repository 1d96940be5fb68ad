//! The machine's NVIDIA GPUs, from NVML.
//!
//! NVML is loaded at run time (`libnvidia-ml.so.1` through dlopen), so the
//! binary runs everywhere: a machine without the NVIDIA driver has an empty
//! inventory, not an error. The inventory is read once per process.
//!
//! FaceRunner uses it to pin services by **UUID**: CUDA's enumeration order
//! can differ from `nvidia-smi`'s and change across reboots, so a `gpus:`
//! entry given by index is passed to `CUDA_VISIBLE_DEVICES` as the UUID of
//! the device at that index whenever NVML knows it.

use std::sync::OnceLock;

pub use crate::model::gpu::{GpuInfo, Inventory};

/// The inventory in `path` (written by `facerunner gpus --json`, maybe on
/// another machine): what `--gpus-from` plans against.
pub fn load_from(path: &std::path::Path) -> Result<Inventory, GpuFileError> {
    let bytes = crate::safefs::read_bounded(path, MAX_INVENTORY_FILE).map_err(|source| {
        GpuFileError::Read {
            path: path.to_path_buf(),
            source,
        }
    })?;
    let mut inv: Inventory =
        serde_json::from_slice(&bytes).map_err(|source| GpuFileError::Parse {
            path: path.to_path_buf(),
            source,
        })?;
    inv.source = format!("file:{}", path.display());
    Ok(inv)
}

/// The largest `--gpus-from` file read.
const MAX_INVENTORY_FILE: u64 = 4 << 20;

/// Why a `--gpus-from` file could not be used.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum GpuFileError {
    /// It could not be read.
    #[error("cannot read the GPU inventory {}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: crate::safefs::ReadError,
    },
    /// It is not an inventory.
    #[error("{} is not a GPU inventory (`facerunner gpus --json` writes one)", path.display())]
    Parse {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

/// This machine's inventory (read once per process).
pub fn local() -> Inventory {
    inventory().clone()
}

/// The inventory, read once.
pub fn inventory() -> &'static Inventory {
    static INVENTORY: OnceLock<Inventory> = OnceLock::new();
    INVENTORY.get_or_init(read)
}

fn read() -> Inventory {
    let nvml = match nvml_wrapper::Nvml::init() {
        Ok(n) => n,
        Err(e) => {
            return Inventory {
                gpus: Vec::new(),
                source: "none".into(),
                unavailable: Some(format!(
                    "NVML is not available ({e}); no NVIDIA GPU or driver on this machine"
                )),
            };
        }
    };
    let count = nvml.device_count().unwrap_or(0);
    let gpus = (0..count)
        .filter_map(|i| {
            let d = nvml.device_by_index(i).ok()?;
            let mem = d.memory_info().ok();
            Some(GpuInfo {
                index: i,
                uuid: d.uuid().ok()?,
                name: d.name().unwrap_or_default(),
                vendor: "nvidia".into(),
                memory_total_bytes: mem.as_ref().map_or(0, |m| m.total),
                memory_used_bytes: mem.as_ref().map_or(0, |m| m.used),
                ..GpuInfo::default()
            })
        })
        .collect();
    Inventory {
        gpus,
        source: "nvml".into(),
        unavailable: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_driver_means_an_empty_inventory_not_an_error() {
        let inv = inventory();
        // On a machine with GPUs every entry has a UUID; without, the reason is given.
        if inv.gpus.is_empty() {
            assert!(inv.unavailable.is_some() || nvml_wrapper::Nvml::init().is_ok());
        } else {
            assert!(
                inv.gpus
                    .iter()
                    .all(|g| g.uuid.starts_with("GPU-") || g.uuid.starts_with("MIG-"))
            );
        }
    }
}
