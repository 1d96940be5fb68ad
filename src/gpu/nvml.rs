//! NVIDIA GPUs through NVML: loaded and initialised once per process
//! (`Nvml::init` resolves every symbol; doing it per call would cost a
//! dlopen each time), then read per call.

use std::sync::OnceLock;

use nvml_wrapper::Nvml;
use nvml_wrapper::enum_wrappers::device::TemperatureSensor;
use nvml_wrapper::enums::device::UsedGpuMemory;

use crate::model::gpu::{GpuInfo, GpuProcess};

/// The process's NVML handle, or why there is none (kept: a machine
/// without the driver does not retry the dlopen on every call).
fn handle() -> Result<&'static Nvml, &'static str> {
    static NVML: OnceLock<Result<Nvml, String>> = OnceLock::new();
    NVML.get_or_init(|| Nvml::init().map_err(|e| format!("NVML is not available ({e})")))
        .as_ref()
        .map_err(String::as_str)
}

/// Every NVIDIA GPU with its identity and current readings, or why NVML
/// cannot be used.
pub(super) fn read() -> Result<Vec<GpuInfo>, String> {
    let nvml = handle().map_err(str::to_string)?;
    let count = nvml
        .device_count()
        .map_err(|e| format!("NVML cannot count the GPUs ({e})"))?;
    Ok((0..count)
        .filter_map(|i| {
            let d = nvml.device_by_index(i).ok()?;
            let mut g = GpuInfo {
                index: i,
                uuid: d.uuid().ok()?,
                name: d.name().unwrap_or_default(),
                vendor: "nvidia".into(),
                ..GpuInfo::default()
            };
            readings(&d, &mut g);
            Some(g)
        })
        .collect())
}

/// Re-read the changing numbers of `g` (found by UUID, so a renumbering
/// cannot mix two cards up). False when the GPU is gone.
pub(super) fn refresh(g: &mut GpuInfo) -> bool {
    let Ok(nvml) = handle() else { return false };
    match nvml.device_by_uuid(g.uuid.as_str()) {
        Ok(d) => {
            readings(&d, g);
            true
        }
        Err(_) => false,
    }
}

/// Memory, utilization, temperature, power and compute processes; a
/// reading the driver refuses is left unknown.
fn readings(d: &nvml_wrapper::Device<'_>, g: &mut GpuInfo) {
    if let Ok(m) = d.memory_info() {
        g.memory_total_bytes = m.total;
        g.memory_used_bytes = m.used;
    }
    g.utilization_percent = d.utilization_rates().ok().map(|u| u.gpu);
    g.temperature_c = d.temperature(TemperatureSensor::Gpu).ok();
    g.power_watts = d.power_usage().ok().map(|mw| f64::from(mw) / 1000.0);
    g.processes = d
        .running_compute_processes()
        .map(|ps| {
            ps.into_iter()
                .map(|p| GpuProcess {
                    pid: p.pid,
                    used_memory_bytes: match p.used_gpu_memory {
                        UsedGpuMemory::Used(b) => b,
                        UsedGpuMemory::Unavailable => 0,
                    },
                    service: None,
                })
                .collect()
        })
        .unwrap_or_default();
}
