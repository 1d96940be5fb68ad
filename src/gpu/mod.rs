//! The machine's GPUs: NVIDIA from NVML, else AMD from sysfs.
//!
//! NVML is loaded at run time (`libnvidia-ml.so.1` through dlopen) and
//! initialised once per process ([`nvml`]), so the binary runs everywhere: a
//! machine without the NVIDIA driver falls back to AMD cards in sysfs
//! ([`sysfs`]), and with neither has an empty inventory with the reason,
//! not an error. The inventory is read once per process; [`refresh`]
//! re-reads the numbers that change (memory used, utilization, temperature,
//! power, processes) for telemetry.
//!
//! FaceRunner uses it to pin services by **UUID**: CUDA's enumeration order
//! can differ from `nvidia-smi`'s and change across reboots, so a `gpus:`
//! entry given by index is passed to `CUDA_VISIBLE_DEVICES` as the UUID of
//! the device at that index whenever NVML knows it.

use std::path::Path;
use std::sync::OnceLock;

mod nvml;
pub mod sysfs;

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
    read_with(Path::new(sysfs::DRM_ROOT))
}

/// The inventory: NVML's GPUs when NVML works, else the AMD cards under
/// `drm_root` (a `/sys/class/drm`), else none with both reasons.
pub fn read_with(drm_root: &Path) -> Inventory {
    let nvml_problem = match nvml::read() {
        Ok(gpus) if !gpus.is_empty() => {
            return Inventory {
                gpus,
                source: "nvml".into(),
                unavailable: None,
            };
        }
        Ok(_) => "NVML lists no GPU".to_string(),
        Err(why) => why,
    };
    let amd = sysfs::read(drm_root);
    if !amd.is_empty() {
        return Inventory {
            gpus: amd,
            source: "sysfs".into(),
            unavailable: None,
        };
    }
    Inventory {
        gpus: Vec::new(),
        source: "none".into(),
        unavailable: Some(format!(
            "{nvml_problem}, and no AMD GPU under {}: no GPU or driver on this machine",
            drm_root.display()
        )),
    }
}

/// Re-read the changing numbers (memory used, utilization, temperature,
/// power, processes) of every GPU of `inv`, from where it was read. A GPU
/// that is gone keeps its last numbers; an inventory from a file (or with
/// no source) is left as it is.
pub fn refresh(inv: &mut Inventory) {
    refresh_with(inv, Path::new(sysfs::DRM_ROOT));
}

/// [`refresh`] with the sysfs root as a parameter.
pub fn refresh_with(inv: &mut Inventory, drm_root: &Path) {
    match inv.source.as_str() {
        "nvml" => inv.gpus.iter_mut().for_each(|g| {
            nvml::refresh(g);
        }),
        "sysfs" => inv.gpus.iter_mut().for_each(|g| {
            sysfs::refresh(drm_root, g);
        }),
        _ => {}
    }
}

/// Mark each GPU process that is, or descends from, one of `services`
/// (name, pid of its process) with that service's name.
pub fn attribute(inv: &mut Inventory, services: &[(String, u32)]) {
    if services.is_empty() || inv.gpus.iter().all(|g| g.processes.is_empty()) {
        return;
    }
    attribute_with(inv, services, &crate::sys::tree::parents());
}

/// [`attribute`] with the process tree (pid → parent) as a parameter.
pub fn attribute_with(
    inv: &mut Inventory,
    services: &[(String, u32)],
    parents: &std::collections::HashMap<u32, u32>,
) {
    let roots: std::collections::HashMap<u32, &String> =
        services.iter().map(|(name, pid)| (*pid, name)).collect();
    for p in inv.gpus.iter_mut().flat_map(|g| g.processes.iter_mut()) {
        if let Some(name) = crate::sys::tree::ancestor_in(p.pid, &roots, parents) {
            p.service = Some((*name).clone());
        }
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
            assert!(inv.unavailable.is_some());
        } else {
            assert!(
                inv.gpus
                    .iter()
                    .all(|g| g.uuid.starts_with("GPU-") || g.uuid.starts_with("MIG-"))
            );
        }
    }
}

#[cfg(test)]
mod sysfs_fallback {
    use crate::model::gpu::{GpuInfo, GpuProcess, Inventory};

    #[test]
    fn gpu_processes_are_attributed_to_the_service_they_descend_from() {
        let proc_ = |pid| GpuProcess {
            pid,
            used_memory_bytes: 1 << 30,
            service: None,
        };
        let mut inv = Inventory {
            gpus: vec![GpuInfo {
                processes: vec![proc_(300), proc_(900)],
                ..GpuInfo::default()
            }],
            ..Inventory::default()
        };
        let parents = std::collections::HashMap::from([(300, 200), (200, 100), (900, 1)]);
        super::attribute_with(&mut inv, &[("llm".into(), 100)], &parents);
        let owners: Vec<_> = inv.gpus[0]
            .processes
            .iter()
            .map(|p| p.service.clone())
            .collect();
        assert_eq!(owners, [Some("llm".to_string()), None]);
    }

    #[test]
    fn without_nvml_the_amd_cards_of_sysfs_are_the_inventory() {
        if super::inventory().source == "nvml" {
            return; // NVML wins on a machine with NVIDIA GPUs
        }
        let dir = tempfile::tempdir().expect("tmp");
        super::sysfs::fake_tree(dir.path());
        let drm = dir.path().join("drm");
        let inv = super::read_with(&drm);
        assert_eq!(inv.source, "sysfs");
        assert_eq!(inv.gpus.len(), 1);
        let none = super::read_with(&dir.path().join("devices"));
        assert!(none.gpus.is_empty());
        assert_eq!(none.source, "none");
        assert!(
            none.unavailable
                .as_deref()
                .is_some_and(|w| w.contains("no AMD GPU"))
        );
    }
}
