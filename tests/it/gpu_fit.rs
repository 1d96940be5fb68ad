//! `plan`'s GPU fit check end to end: the real binary, `--gpus-from`
//! inventories, and a generated 80-layer GGUF `file:` model (64 heads of
//! 128, 8 KV heads, a 128k context): at `num_ctx: 131072` its f16 KV cache
//! alone is 80 × 131072 × 8 × 256 × 2 B = 40 GiB, at 8192 it is 2.5 GiB.

use crate::support::{Project, describe, text};

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// The 80-layer header, then 1 MiB of "weights".
fn llama80() -> Vec<u8> {
    llama80_with(1 << 20)
}

/// The 80-layer header (131072 context, 8 KV heads of 128), then `weights`
/// bytes of "weights" (also the `hf:` tests' GGUF files).
pub(crate) fn llama80_with(weights: usize) -> Vec<u8> {
    let mut out = b"GGUF".to_vec();
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes());
    let u32s: &[(&str, u32)] = &[
        ("llama.block_count", 80),
        ("llama.context_length", 131_072),
        ("llama.embedding_length", 8192),
        ("llama.attention.head_count", 64),
        ("llama.attention.head_count_kv", 8),
    ];
    out.extend_from_slice(&(u32s.len() as u64 + 1).to_le_bytes());
    put_str(&mut out, "general.architecture");
    out.extend_from_slice(&8u32.to_le_bytes());
    put_str(&mut out, "llama");
    for (k, v) in u32s {
        put_str(&mut out, k);
        out.extend_from_slice(&4u32.to_le_bytes());
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.resize(out.len() + weights, 0);
    out
}

const GIB: u64 = 1 << 30;

fn gpu(index: u32, total_gib: u64, used: u64, procs: &str) -> String {
    format!(
        r#"{{"index": {index}, "uuid": "GPU-{index}", "name": "test", "memory_total_bytes": {}, "memory_used_bytes": {used}, "processes": [{procs}]}}"#,
        total_gib * GIB
    )
}

/// A project with the 80-layer model at `num_ctx`, planned against `gpus`.
fn plan(
    num_ctx: u64,
    settings: &str,
    gpus: &[String],
) -> (serde_json::Value, std::process::Output) {
    let p = Project::new("  llm: { kind: ollama, binary: /bin/sleep }\n");
    let dir = p.dir.path().join("p");
    std::fs::write(dir.join("big.gguf"), llama80()).expect("write gguf");
    let yaml = std::fs::read_to_string(dir.join("facerunner.yaml")).expect("read");
    std::fs::write(
        dir.join("facerunner.yaml"),
        format!(
            "{yaml}{settings}models:\n  - name: big:80l\n    file: big.gguf\n    parameters: {{ num_ctx: {num_ctx} }}\n"
        ),
    )
    .expect("write yaml");
    std::fs::write(
        dir.join("gpus.json"),
        format!(r#"{{"gpus": [{}]}}"#, gpus.join(",")),
    )
    .expect("inv");
    let out = p.run(&["--gpus-from", "gpus.json", "plan", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("plan --json: {e}\n{}", describe(&out)));
    (v, out)
}

fn model_checks(v: &serde_json::Value) -> Vec<serde_json::Value> {
    v["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["subject"] == "model big:80l")
        .cloned()
        .collect()
}

#[test]
fn at_128k_the_80_layer_model_does_not_fit_a_24_gib_card_at_8k_it_does() {
    let one = [gpu(0, 24, 0, "")];
    let (v, _) = plan(131_072, "", &one);
    let fit = &v["fit"][0];
    assert_eq!(
        fit["estimate"]["kv_cache_bytes"], 42_949_672_960u64,
        "{v:#}"
    );
    assert_ne!(fit["outcome"], "fits", "{v:#}");
    let checks = model_checks(&v);
    assert_eq!(checks.len(), 1, "{v:#}");
    assert_eq!(checks[0]["severity"], "warning");
    let msg = checks[0]["message"].as_str().expect("message");
    assert!(
        msg.contains("facerunner.yaml:") && msg.contains("GPU 0"),
        "{msg}"
    );
    assert!(
        checks[0]["help"]
            .as_str()
            .expect("help")
            .contains("num_ctx")
    );

    let (v, _) = plan(8192, "", &one);
    assert_eq!(v["fit"][0]["outcome"], "fits", "{v:#}");
    assert_eq!(v["fit"][0]["gpus"], serde_json::json!([0]));
    assert!(model_checks(&v).is_empty(), "{v:#}");
}

#[test]
fn memory_used_by_another_process_counts_as_taken_ours_does_not() {
    // 24 GiB with 20 GiB used by someone else: 8k no longer fits.
    let other = format!(r#"{{"pid": 7, "used_memory_bytes": {}}}"#, 20 * GIB);
    let (v, _) = plan(8192, "", &[gpu(0, 24, 20 * GIB, &other)]);
    assert_ne!(v["fit"][0]["outcome"], "fits", "{v:#}");
    // The same 20 GiB held by one of FaceRunner's services is ours to reuse.
    let ours = format!(
        r#"{{"pid": 7, "used_memory_bytes": {}, "service": "llm"}}"#,
        20 * GIB
    );
    let (v, _) = plan(8192, "", &[gpu(0, 24, 20 * GIB, &ours)]);
    assert_eq!(v["fit"][0]["outcome"], "fits", "{v:#}");
}

#[test]
fn two_cards_take_what_one_cannot() {
    // 32k: 10 GiB of KV cache plus a ~4.5 GiB graph: over 12 GiB, under 2 × 12.
    let (v, _) = plan(32_768, "", &[gpu(0, 12, 0, ""), gpu(1, 12, 0, "")]);
    assert_eq!(v["fit"][0]["outcome"], "fits", "{v:#}");
    assert_eq!(
        v["fit"][0]["gpus"].as_array().map(Vec::len),
        Some(2),
        "{v:#}"
    );
    let (v, _) = plan(32_768, "", &[gpu(0, 12, 0, "")]);
    assert_ne!(v["fit"][0]["outcome"], "fits", "{v:#}");
}

#[test]
fn gpu_fit_error_blocks_and_off_skips() {
    let one = [gpu(0, 24, 0, "")];
    let (v, out) = plan(131_072, "settings: { gpu_fit: error }\n", &one);
    let checks = model_checks(&v);
    assert_eq!(checks[0]["severity"], "error", "{v:#}");
    assert!(!out.status.success(), "{}", describe(&out));

    let (v, _) = plan(131_072, "settings: { gpu_fit: off }\n", &one);
    assert!(v.get("fit").is_none(), "{v:#}");
    assert!(model_checks(&v).is_empty(), "{v:#}");
}

#[test]
fn without_gpus_the_check_says_once_that_it_was_skipped() {
    let (v, out) = plan(131_072, "", &[]);
    let why = v["fit_skipped"].as_str().unwrap_or_else(|| panic!("{v:#}"));
    assert!(why.contains("--gpus-from"), "{why}");
    assert!(model_checks(&v).is_empty(), "{v:#}");
    let _ = text(&out.stderr);
}

/// An Ollama store at `store/` holding `big:latest`: a manifest whose model
/// layer is the 80-layer GGUF blob (plus a params layer and the config).
fn write_store(dir: &std::path::Path) {
    use sha2::{Digest, Sha256};
    let gguf = llama80();
    let model = hex::encode(Sha256::digest(&gguf));
    let params = br#"{"stop":["<|eot_id|>"]}"#;
    let params_hex = hex::encode(Sha256::digest(params));
    let config = br#"{"model_format":"gguf","model_family":"llama"}"#;
    let config_hex = hex::encode(Sha256::digest(config));
    let blobs = dir.join("store/blobs");
    std::fs::create_dir_all(&blobs).expect("mkdir blobs");
    std::fs::write(blobs.join(format!("sha256-{model}")), &gguf).expect("blob");
    std::fs::write(blobs.join(format!("sha256-{params_hex}")), params).expect("blob");
    std::fs::write(blobs.join(format!("sha256-{config_hex}")), config).expect("blob");
    let manifests = dir.join("store/manifests/registry.ollama.ai/library/big");
    std::fs::create_dir_all(&manifests).expect("mkdir manifests");
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:{config_hex}","size":{}}},"layers":[{{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:{model}","size":{}}},{{"mediaType":"application/vnd.ollama.image.params","digest":"sha256:{params_hex}","size":{}}}]}}"#,
        config.len(),
        gguf.len(),
        params.len()
    );
    std::fs::write(manifests.join("latest"), manifest).expect("manifest");
}

/// `big:latest`, installed in the service's store, planned against one
/// 24 GiB card; `service_env` and `model_params` set the context.
fn plan_pulled(service_env: &str, model_params: &str) -> serde_json::Value {
    let p = Project::new(&format!(
        "  llm: {{ kind: ollama, binary: /bin/sleep, models_dir: store{service_env} }}\n"
    ));
    let dir = p.dir.path().join("p");
    write_store(&dir);
    let yaml = std::fs::read_to_string(dir.join("facerunner.yaml")).expect("read");
    std::fs::write(
        dir.join("facerunner.yaml"),
        format!("{yaml}models:\n  - ollama: big:latest\n{model_params}"),
    )
    .expect("write yaml");
    std::fs::write(
        dir.join("gpus.json"),
        format!(r#"{{"gpus": [{}]}}"#, gpu(0, 24, 0, "")),
    )
    .expect("inv");
    let out = p.run(&["--gpus-from", "gpus.json", "plan", "--json"]);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("plan --json: {e}\n{}", describe(&out)))
}

fn checks_of(v: &serde_json::Value, subject: &str) -> Vec<serde_json::Value> {
    v["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["subject"] == subject)
        .cloned()
        .collect()
}

/// A model derived from `big:latest` at `num_ctx` (`parameters:` is for
/// derived models); not created yet, so it is read as its base.
fn derived(num_ctx: u64) -> String {
    format!(
        "  - name: big-ctx:latest\n    from: big:latest\n    parameters: {{ num_ctx: {num_ctx} }}\n"
    )
}

fn fit_of<'a>(v: &'a serde_json::Value, model: &str) -> &'a serde_json::Value {
    v["fit"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["model"] == model))
        .unwrap_or_else(|| panic!("no fit for {model}: {v:#}"))
}

#[test]
fn a_model_in_the_store_is_read_from_its_blob_at_128k_it_does_not_fit_at_8k_it_does() {
    let v = plan_pulled("", &derived(131_072));
    let fit = fit_of(&v, "big-ctx:latest");
    assert_eq!(
        fit["estimate"]["kv_cache_bytes"], 42_949_672_960u64,
        "{v:#}"
    );
    assert_ne!(fit["outcome"], "fits", "{v:#}");
    let checks = checks_of(&v, "model big-ctx:latest");
    assert_eq!(checks.len(), 1, "{v:#}");
    assert_eq!(checks[0]["severity"], "warning", "{v:#}");
    // The pulled model itself, at the default context for 24 GiB (32k), is
    // estimated from the same blob.
    assert_eq!(
        fit_of(&v, "big:latest")["estimate"]["num_ctx"],
        32_768,
        "{v:#}"
    );

    let v = plan_pulled("", &derived(8192));
    assert_eq!(fit_of(&v, "big-ctx:latest")["outcome"], "fits", "{v:#}");
    assert!(checks_of(&v, "model big-ctx:latest").is_empty(), "{v:#}");
}

#[test]
fn the_services_ollama_context_length_sets_a_store_models_context() {
    let v = plan_pulled(", env: { OLLAMA_CONTEXT_LENGTH: \"131072\" }", "");
    assert_eq!(v["fit"][0]["estimate"]["num_ctx"], 131_072, "{v:#}");
    assert_ne!(v["fit"][0]["outcome"], "fits", "{v:#}");
    let v = plan_pulled(", env: { OLLAMA_CONTEXT_LENGTH: \"8192\" }", "");
    assert_eq!(v["fit"][0]["outcome"], "fits", "{v:#}");
}

/// `placement: spread` on a two-GPU inventory: the 80-layer model at
/// `num_ctx: 32768` (≈ 10 GiB of KV cache alone) cannot go on GPU 0 (8 GiB),
/// so it lands on GPU 1's instance; the small one (`num_ctx: 2048`) fits
/// GPU 0's first. Each model is installed on exactly one instance.
#[test]
fn spread_places_each_model_on_one_instance_and_the_big_one_on_the_roomier_gpu() {
    let port = crate::support::free_port();
    let p = Project::new(&format!(
        "  llm: {{ kind: ollama, binary: /bin/sleep, port: {port}, replicas: per-gpu, placement: spread }}\n"
    ));
    let dir = p.dir.path().join("p");
    std::fs::write(dir.join("m.gguf"), llama80()).expect("write gguf");
    let yaml = std::fs::read_to_string(dir.join("facerunner.yaml")).expect("read");
    std::fs::write(
        dir.join("facerunner.yaml"),
        format!(
            "{yaml}models:\n  - {{ name: small:1, file: m.gguf, parameters: {{ num_ctx: 2048 }} }}\n  - {{ name: big:1, file: m.gguf, parameters: {{ num_ctx: 32768 }} }}\n"
        ),
    )
    .expect("write yaml");
    std::fs::write(
        dir.join("gpus.json"),
        format!(
            r#"{{"gpus": [{}, {}]}}"#,
            gpu(0, 8, 0, ""),
            gpu(1, 24, 0, "")
        ),
    )
    .expect("inv");
    let out = p.run(&["--gpus-from", "gpus.json", "plan", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("plan --json: {e}\n{}", describe(&out)));
    let creates: Vec<(String, String, String)> = v["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter(|s| s["action"] == "create_model")
        .map(|s| {
            (
                s["model"].as_str().unwrap_or_default().to_string(),
                s["service"].as_str().unwrap_or_default().to_string(),
                s["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(creates.len(), 2, "each model once: {creates:?}");
    let big = creates
        .iter()
        .find(|c| c.0 == "big:1")
        .expect("big created");
    let small = creates.iter().find(|c| c.0 == "small:1").expect("small");
    assert_eq!((big.1.as_str(), small.1.as_str()), ("llm-1", "llm-0"));
    assert!(
        big.2
            .contains("placed on llm-1: GPU 1 has 24.0 GiB free, needs"),
        "{big:?}"
    );
    let placement = v["placement"].as_array().expect("placement in plan --json");
    let placed: Vec<(&str, &str, &str)> = placement
        .iter()
        .map(|p| {
            (
                p["model"].as_str().unwrap_or_default(),
                p["service"].as_str().unwrap_or_default(),
                p["basis"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        placed,
        [
            ("small:1", "llm-0", "first_fit"),
            ("big:1", "llm-1", "first_fit")
        ]
    );
    assert_eq!(placement[1]["group"], "llm");
    assert_eq!(placement[1]["gpus"], serde_json::json!([1]));
    assert!(placement[1]["need_bytes"].as_u64().unwrap_or(0) > 10 * GIB);
    // Without a GPU (an empty inventory, whatever this machine has): by
    // turns, said once.
    std::fs::write(dir.join("none.json"), r#"{"gpus": []}"#).expect("inv");
    let out = p.run(&["--gpus-from", "none.json", "plan", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("plan --json: {e}\n{}", describe(&out)));
    let notes: Vec<&serde_json::Value> = v["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| {
            c["message"]
                .as_str()
                .is_some_and(|m| m.contains("by turns"))
        })
        .collect();
    assert_eq!(notes.len(), 1, "{}", text(&out.stdout));
}
