//! `facerunner gpus` and the `gpus:` checks against an inventory, with
//! `--gpus-from` files (this machine has no GPU).

use crate::support::{Project, describe, text};

/// An inventory of `n` GPUs (24 GiB each, 1 GiB used), as `gpus --json` writes it.
pub fn inventory(n: u32) -> serde_json::Value {
    let gpus: Vec<_> = (0..n)
        .map(|i| {
            serde_json::json!({
                "index": i,
                "uuid": format!("GPU-0000000{i}-aaaa-bbbb-cccc-dddddddddddd"),
                "name": "NVIDIA GeForce RTX 4090",
                "vendor": "nvidia",
                "memory_total_bytes": 24u64 << 30,
                "memory_used_bytes": 1u64 << 30,
                "utilization_percent": 3,
                "processes": [{"pid": 4242, "used_memory_bytes": 1u64 << 30}]
            })
        })
        .collect();
    serde_json::json!({ "gpus": gpus, "source": "nvml" })
}

/// Write `inventory(n)` into the project's directory; its path.
pub fn write_inventory(p: &Project, n: u32) -> String {
    let path = p.dir.path().join(format!("gpus{n}.json"));
    std::fs::write(&path, inventory(n).to_string()).expect("write inventory");
    path.display().to_string()
}

#[test]
fn gpus_json_prints_the_gpus_from_file_inventory_unchanged() {
    let p = Project::new("  s: { command: [sleep, '1'], health: { tcp: 9 } }\n");
    let file = write_inventory(&p, 2);
    let out = p.ok(&["--gpus-from", &file, "gpus", "--json"]);
    let mut got: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(got["source"], format!("file:{file}"), "{}", describe(&out));
    got["source"] = "nvml".into();
    assert_eq!(got, inventory(2));
    // And what it printed reads back as an inventory.
    let again = p.dir.path().join("again.json");
    std::fs::write(&again, &out.stdout).expect("write");
    let out2 = p.ok(&["--gpus-from", &again.display().to_string(), "gpus", "--json"]);
    let back: serde_json::Value = serde_json::from_slice(&out2.stdout).expect("JSON");
    assert_eq!(back["gpus"], inventory(2)["gpus"]);
}

#[test]
fn gpus_text_lists_every_gpu_with_memory_and_processes() {
    let p = Project::new("  s: { command: [sleep, '1'], health: { tcp: 9 } }\n");
    let file = write_inventory(&p, 2);
    let out = p.ok(&["--gpus-from", &file, "gpus"]);
    let t = text(&out.stdout);
    for needle in [
        "0  GPU-00000000-aaaa-bbbb-cccc-dddddddddddd  nvidia  NVIDIA GeForce RTX 4090",
        "1  GPU-00000001-aaaa-bbbb-cccc-dddddddddddd",
        "1.0GiB used of 24.0GiB (23.0GiB free), 3% busy",
        "pid 4242",
    ] {
        assert!(t.contains(needle), "`{needle}` missing from:\n{t}");
    }
}

#[test]
fn gpus_without_a_project_or_gpus_is_not_an_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = assert_cmd::Command::new(crate::support::bin())
        .args(["gpus", "--json"])
        .current_dir(dir.path())
        .env("FACERUNNER_HOME", dir.path().join("home"))
        .env_remove("FACERUNNER_FILE")
        .env_remove("FACERUNNER_GPUS_FROM")
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", describe(&out));
    let inv: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(inv["gpus"].is_array());
}
