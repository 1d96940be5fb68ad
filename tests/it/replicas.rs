//! `replicas: per-gpu`: one Ollama stand-in per GPU of a `--gpus-from`
//! inventory, each pinned by UUID on its own port; a GPU removed from the
//! inventory plans stopping its instance.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::support::{Project, describe, text, wait_until};

/// Two free consecutive loopback ports; the first is returned.
fn two_free_ports() -> u16 {
    wait_until(
        "two free consecutive ports",
        Duration::from_secs(10),
        || {
            let first = crate::support::free_port();
            let second = first.checked_add(1)?;
            std::net::TcpListener::bind(("127.0.0.1", second))
                .ok()
                .map(|_| first)
        },
    )
}

fn inventory(dir: &Path, name: &str, uuids: &[&str]) -> String {
    let gpus: Vec<serde_json::Value> = uuids
        .iter()
        .enumerate()
        .map(|(i, u)| {
            serde_json::json!({
                "index": i, "uuid": u, "name": "Test GPU", "vendor": "nvidia",
                "memory_total_bytes": 24u64 << 30, "memory_used_bytes": 0
            })
        })
        .collect();
    let path = dir.join(name);
    std::fs::write(
        &path,
        serde_json::json!({ "gpus": gpus, "source": "file" }).to_string(),
    )
    .expect("write the inventory");
    path.display().to_string()
}

fn environ(pid: u32) -> BTreeMap<String, String> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).expect("read /proc/PID/environ");
    raw.split(|b| *b == 0)
        .filter_map(|kv| {
            let kv = String::from_utf8_lossy(kv);
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

fn planned(p: &Project, gpus: &str) -> Vec<(String, String)> {
    let out = p.run(&["--gpus-from", gpus, "plan", "--json"]);
    assert!(out.status.success(), "{}", describe(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("plan --json");
    plan["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter(|s| {
            s["action"]
                .as_str()
                .is_some_and(|a| a.ends_with("_service"))
        })
        .map(|s| {
            (
                s["action"].as_str().unwrap_or_default().to_string(),
                s["service"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn per_gpu_runs_one_pinned_instance_per_gpu_and_a_removed_gpu_stops_one() {
    let port = two_free_ports();
    let standin = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/ollama_standin.py");
    let p = Project::new("");
    let models = p.dir.path().join("models");
    p.write(&format!(
        "  llm:\n    kind: ollama\n    port: {port}\n    replicas: per-gpu\n    binary: {}\n    models_dir: {}\n",
        standin.display(),
        models.display()
    ));
    let two = inventory(
        p.dir.path(),
        "two.json",
        &[
            "GPU-aaaaaaaa-0000-0000-0000-000000000000",
            "GPU-bbbbbbbb-0000-0000-0000-000000000000",
        ],
    );
    let one = inventory(
        p.dir.path(),
        "one.json",
        &["GPU-aaaaaaaa-0000-0000-0000-000000000000"],
    );
    assert_eq!(
        planned(&p, &two),
        [
            ("start_service".to_string(), "llm-0".to_string()),
            ("start_service".to_string(), "llm-1".to_string())
        ]
    );
    let out = p.run(&["--gpus-from", &two, "up"]);
    assert!(out.status.success(), "{}", describe(&out));
    let mut seen = Vec::new();
    for (i, uuid) in ["GPU-aaaaaaaa", "GPU-bbbbbbbb"].iter().enumerate() {
        let name = format!("llm-{i}");
        let svc = p
            .service(&name)
            .unwrap_or_else(|| panic!("{name} in status"));
        let pid = svc["state"]["pid"].as_u64().expect("a pid") as u32;
        let env = environ(pid);
        assert!(
            env["CUDA_VISIBLE_DEVICES"].starts_with(uuid),
            "{name}: {:?}",
            env.get("CUDA_VISIBLE_DEVICES")
        );
        assert_eq!(
            env["OLLAMA_HOST"],
            format!("127.0.0.1:{}", port + i as u16),
            "{name}"
        );
        assert_eq!(env["OLLAMA_MODELS"], models.display().to_string(), "shared");
        seen.push(env["CUDA_VISIBLE_DEVICES"].clone());
    }
    assert_ne!(seen[0], seen[1], "each instance has its own GPU");
    assert!(p.service("llm").is_none(), "the group itself does not run");
    assert_eq!(planned(&p, &two), [], "converged");
    assert_eq!(
        planned(&p, &one),
        [("stop_service".to_string(), "llm-1".to_string())],
        "a GPU removed stops its instance, and only that"
    );
    let logs = text(&p.ok(&["logs", "-n", "50"]).stdout);
    assert!(logs.contains("llm-0") && logs.contains("llm-1"), "{logs}");
    // The group's name means its instances.
    let group = text(&p.ok(&["logs", "-n", "50", "llm"]).stdout);
    assert!(
        group.contains("llm-0") && group.contains("llm-1"),
        "{group}"
    );
    let pid0 = p.service("llm-0").expect("llm-0")["state"]["pid"].clone();
    p.ok(&["restart", "llm"]);
    let after = p.service("llm-0").expect("llm-0")["state"]["pid"].clone();
    assert_ne!(pid0, after, "restart llm restarts its instances");
    p.ok(&["down"]);
    assert_eq!(p.processes(), vec![]);
}
