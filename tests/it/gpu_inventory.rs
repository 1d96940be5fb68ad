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
    let out2 = p.ok(&[
        "--gpus-from",
        &again.display().to_string(),
        "gpus",
        "--json",
    ]);
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

/// A project whose service uses `gpus: { a: { index: 0 }, b: { index: 1 } }`
/// (entry `b` is on line 9, its value at column 6).
fn two_gpu_project() -> Project {
    Project::new(
        "  s:\n    command: [sleep, '60', '{marker}']\n    gpus: [a, b]\ngpus:\n  a: { index: 0 }\n  b: { index: 1 }\n",
    )
}

fn plan_json(p: &Project, inventory: &str) -> (Option<i32>, serde_json::Value) {
    let out = p.run(&["--gpus-from", inventory, "plan", "--json"]);
    let plan = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("plan --json: {e}\n{}", describe(&out)));
    (out.status.code(), plan)
}

fn gpu_checks(plan: &serde_json::Value) -> Vec<serde_json::Value> {
    plan["checks"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter(|c| c["subject"].as_str().is_some_and(|s| s.starts_with("gpu")))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn plan_refuses_a_gpu_the_inventory_lacks_at_its_line() {
    let p = two_gpu_project();
    let one = write_inventory(&p, 1);
    let (code, plan) = plan_json(&p, &one);
    assert_eq!(code, Some(1), "{plan:#}");
    let checks = gpu_checks(&plan);
    assert_eq!(checks.len(), 1, "{plan:#}");
    let c = &checks[0];
    assert_eq!(c["severity"], "error");
    assert_eq!(c["subject"], "gpu b");
    let file = p.dir.path().join("p/facerunner.yaml");
    let at = format!("{}:9:6", file.display());
    assert_eq!(c["location"], at.as_str());
    let message = c["message"].as_str().expect("message");
    assert!(message.starts_with(&at), "{message}");
    assert!(message.contains("index 1"), "{message}");
    // The human plan says the same.
    let out = p.run(&["--gpus-from", &one, "plan", "--color", "never"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        text(&out.stdout).contains(&format!("error: gpu b: {at}: GPU `b` names index 1")),
        "{}",
        describe(&out)
    );

    // With both GPUs there is nothing to say.
    let two = write_inventory(&p, 2);
    let (code, plan) = plan_json(&p, &two);
    assert_eq!(code, Some(0), "{plan:#}");
    assert!(gpu_checks(&plan).is_empty(), "{plan:#}");
}

#[test]
fn without_an_inventory_plan_notes_the_gpu_check_was_skipped() {
    let p = two_gpu_project();
    let none = p.dir.path().join("none.json");
    std::fs::write(
        &none,
        r#"{"gpus": [], "source": "none", "unavailable": "NVML is not available (test)"}"#,
    )
    .expect("write");
    let (code, plan) = plan_json(&p, &none.display().to_string());
    assert_eq!(code, Some(0), "{plan:#}");
    let checks = gpu_checks(&plan);
    assert_eq!(checks.len(), 1, "{plan:#}");
    assert_eq!(checks[0]["severity"], "note");
    assert!(
        checks[0]["message"].as_str().is_some_and(
            |m| m.contains("not checked") && m.contains("NVML is not available (test)")
        ),
        "{plan:#}"
    );
}

#[test]
fn validate_warns_about_a_gpu_the_inventory_lacks_and_stays_valid() {
    let p = two_gpu_project();
    let one = write_inventory(&p, 1);
    let out = p.run(&["--gpus-from", &one, "validate", "--json"]);
    assert!(out.status.success(), "{}", describe(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["valid"], true);
    let warnings: Vec<_> = report["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .filter(|d| {
            d["summary"]
                .as_str()
                .is_some_and(|s| s.contains("GPU `b` names index 1"))
        })
        .collect();
    assert_eq!(warnings.len(), 1, "{report:#}");
    assert_eq!(warnings[0]["severity"], "warning");
    assert_eq!(warnings[0]["range"]["start"]["line"], 9, "{report:#}");
    let two = write_inventory(&p, 2);
    let out = p.run(&["--gpus-from", &two, "validate", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(
        !report.to_string().contains("GPU `"),
        "no GPU warning with both GPUs: {report:#}"
    );
}

#[test]
fn status_json_has_each_services_gpus_empty_without_gpus() {
    let p = Project::new(
        "  s:\n    command: [sleep, '60', '{marker}']\n    health: { disable: true }\n",
    );
    p.ok(&["up"]);
    let status = p.status();
    p.ok(&["down"]);
    let s = &status["services"][0];
    assert_eq!(s["name"], "s", "{status:#}");
    assert_eq!(s["gpus"], serde_json::json!([]), "{status:#}");
}
