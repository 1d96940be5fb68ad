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

use serde::Serialize;

/// One GPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gpu {
    /// NVML index.
    pub index: u32,
    /// `GPU-…` UUID.
    pub uuid: String,
    /// Marketing name.
    pub name: String,
    /// Total memory in bytes.
    pub memory_total: u64,
    /// Free memory in bytes when read.
    pub memory_free: u64,
}

/// What NVML says, or why there is nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inventory {
    /// The GPUs (empty without NVIDIA hardware or driver).
    pub gpus: Vec<Gpu>,
    /// Why the list is empty, when NVML could not be used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
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
            Some(Gpu {
                index: i,
                uuid: d.uuid().ok()?,
                name: d.name().unwrap_or_default(),
                memory_total: mem.as_ref().map_or(0, |m| m.total),
                memory_free: mem.as_ref().map_or(0, |m| m.free),
            })
        })
        .collect();
    Inventory {
        gpus,
        unavailable: None,
    }
}

impl Inventory {
    /// The UUID of the GPU at `index`, when NVML knows it.
    pub fn uuid_of_index(&self, index: u32) -> Option<&str> {
        self.gpus
            .iter()
            .find(|g| g.index == index)
            .map(|g| g.uuid.as_str())
    }

    /// A `CUDA_VISIBLE_DEVICES` value with every index this machine knows
    /// replaced by its UUID (`0,GPU-ab` → `GPU-12…,GPU-ab`), so a service
    /// stays on the same card when devices are renumbered. Done when a
    /// service starts, not when the file is resolved, so a spec hash is the
    /// same on every machine.
    pub fn pin(&self, devices: &str) -> String {
        devices
            .split(',')
            .map(|d| {
                d.trim()
                    .parse::<u32>()
                    .ok()
                    .and_then(|i| self.uuid_of_index(i))
                    .unwrap_or(d)
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_are_pinned_to_known_uuids_only() {
        let inv = Inventory {
            gpus: vec![Gpu {
                index: 0,
                uuid: "GPU-aaaa".into(),
                name: "H200".into(),
                memory_total: 1,
                memory_free: 1,
            }],
            unavailable: None,
        };
        assert_eq!(inv.pin("0"), "GPU-aaaa");
        assert_eq!(inv.pin("0,1,GPU-bbbb"), "GPU-aaaa,1,GPU-bbbb");
        assert_eq!(inv.pin("-1"), "-1");
    }

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
