//! AMD GPUs from sysfs (`/sys/class/drm/card*/device/…`), the way Ollama's
//! discovery reads them: no ROCm library needed.
//!
//! A card is AMD when `device/vendor` is `0x1002`; its memory is
//! `device/mem_info_vram_{total,used}` (bytes), its utilization
//! `device/gpu_busy_percent`, its temperature and power the first
//! `device/hwmon/hwmon*/{temp1_input,power1_average}` (m°C, µW). Its stable
//! identity is the PCI address the `device` link points at. The root is a
//! parameter so tests can point it at a fake tree.

use std::path::{Path, PathBuf};

use crate::model::gpu::GpuInfo;

/// Where the kernel lists DRM cards.
pub const DRM_ROOT: &str = "/sys/class/drm";

/// The PCI vendor id of AMD.
const AMD_VENDOR: &str = "0x1002";

/// The largest sysfs attribute read (they are a line each).
const MAX_ATTR: u64 = 4096;

/// The AMD cards under `root` (a `/sys/class/drm`), by card number.
pub fn read(root: &Path) -> Vec<GpuInfo> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut gpus: Vec<GpuInfo> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name();
            let index: u32 = name.to_str()?.strip_prefix("card")?.parse().ok()?;
            card(root, index)
        })
        .collect();
    gpus.sort_by_key(|g| g.index);
    gpus
}

/// Card `index` under `root`, when it is an AMD GPU with VRAM.
fn card(root: &Path, index: u32) -> Option<GpuInfo> {
    let dev = root.join(format!("card{index}")).join("device");
    if attr(&dev.join("vendor"))? != AMD_VENDOR {
        return None;
    }
    let uuid = std::fs::read_link(&dev)
        .ok()
        .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| format!("card{index}"));
    let name = attr(&dev.join("product_name"))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| {
            format!("AMD GPU {}", attr(&dev.join("device")).unwrap_or_default())
                .trim_end()
                .to_string()
        });
    let mut g = GpuInfo {
        index,
        uuid,
        name,
        vendor: "amd".into(),
        ..GpuInfo::default()
    };
    if !readings(&dev, &mut g) {
        return None;
    }
    Some(g)
}

/// Re-read the changing numbers of `g` from card `g.index` under `root`.
/// False when the card is gone (or is another card now).
pub fn refresh(root: &Path, g: &mut GpuInfo) -> bool {
    let dev = root.join(format!("card{}", g.index)).join("device");
    let same = std::fs::read_link(&dev)
        .ok()
        .and_then(|t| t.file_name().map(|n| n.to_string_lossy() == g.uuid))
        .unwrap_or(false);
    same && readings(&dev, g)
}

/// Memory (required), utilization, temperature and power of the card at
/// `dev`. False without a VRAM total (not a GPU with its own memory).
fn readings(dev: &Path, g: &mut GpuInfo) -> bool {
    let Some(total) = number(&dev.join("mem_info_vram_total")) else {
        return false;
    };
    g.memory_total_bytes = total;
    g.memory_used_bytes = number(&dev.join("mem_info_vram_used")).unwrap_or(0);
    g.utilization_percent =
        number(&dev.join("gpu_busy_percent")).and_then(|n| u32::try_from(n).ok());
    let hwmon = first_hwmon(dev);
    g.temperature_c = hwmon
        .as_ref()
        .and_then(|h| number(&h.join("temp1_input")))
        .and_then(|m| u32::try_from(m / 1000).ok());
    g.power_watts = hwmon
        .as_ref()
        .and_then(|h| number(&h.join("power1_average")))
        .map(|uw| uw as f64 / 1_000_000.0);
    true
}

fn first_hwmon(dev: &Path) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dev.join("hwmon"))
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs.into_iter().next()
}

/// One attribute, trimmed (bounded read: a hostile tree cannot make us
/// read forever).
fn attr(path: &Path) -> Option<String> {
    let bytes = crate::safefs::read_bounded(path, MAX_ATTR).ok()?;
    Some(String::from_utf8_lossy(&bytes).trim().to_string())
}

fn number(path: &Path) -> Option<u64> {
    attr(path)?.parse().ok()
}

/// A fake `/sys/class/drm` with an AMD card, an NVIDIA card (skipped)
/// and a connector entry (skipped).
#[cfg(test)]
pub(crate) fn fake_tree(root: &Path) {
    let pci = root.join("devices");
    let amd = pci.join("0000:03:00.0");
    std::fs::create_dir_all(amd.join("hwmon/hwmon4")).expect("mkdir");
    for (f, v) in [
        ("vendor", "0x1002\n"),
        ("device", "0x744c\n"),
        ("mem_info_vram_total", "25753026560\n"),
        ("mem_info_vram_used", "1073741824\n"),
        ("gpu_busy_percent", "7\n"),
        ("hwmon/hwmon4/temp1_input", "45000\n"),
        ("hwmon/hwmon4/power1_average", "31000000\n"),
    ] {
        std::fs::write(amd.join(f), v).expect("write");
    }
    let nv = pci.join("0000:01:00.0");
    std::fs::create_dir_all(&nv).expect("mkdir");
    std::fs::write(nv.join("vendor"), "0x10de\n").expect("write");
    let drm = root.join("drm");
    for (card, target) in [("card1", &amd), ("card0", &nv)] {
        std::fs::create_dir_all(drm.join(card)).expect("mkdir");
        std::os::unix::fs::symlink(target, drm.join(card).join("device")).expect("link");
    }
    std::fs::create_dir_all(drm.join("card1-DP-1")).expect("mkdir");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_amd_card_in_sysfs_is_listed_with_its_pci_address_and_readings() {
        let dir = tempfile::tempdir().expect("tmp");
        fake_tree(dir.path());
        let gpus = read(&dir.path().join("drm"));
        assert_eq!(gpus.len(), 1, "{gpus:?}");
        let g = &gpus[0];
        assert_eq!(g.index, 1);
        assert_eq!(g.uuid, "0000:03:00.0");
        assert_eq!(g.vendor, "amd");
        assert_eq!(g.name, "AMD GPU 0x744c");
        assert_eq!(g.memory_total_bytes, 25_753_026_560);
        assert_eq!(g.memory_used_bytes, 1 << 30);
        assert_eq!(g.utilization_percent, Some(7));
        assert_eq!(g.temperature_c, Some(45));
        assert_eq!(g.power_watts, Some(31.0));
    }

    #[test]
    fn refresh_rereads_the_changing_numbers() {
        let dir = tempfile::tempdir().expect("tmp");
        fake_tree(dir.path());
        let drm = dir.path().join("drm");
        let mut g = read(&drm).remove(0);
        std::fs::write(
            dir.path().join("devices/0000:03:00.0/mem_info_vram_used"),
            "2147483648\n",
        )
        .expect("write");
        assert!(refresh(&drm, &mut g));
        assert_eq!(g.memory_used_bytes, 2 << 30);
        g.uuid = "0000:09:00.0".into();
        assert!(!refresh(&drm, &mut g), "another card at that number");
    }

    #[test]
    fn no_drm_directory_is_no_gpus() {
        let dir = tempfile::tempdir().expect("tmp");
        assert!(read(&dir.path().join("missing")).is_empty());
    }
}
