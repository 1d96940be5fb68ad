//! `hf:` models end to end: `convert`, `validate`, `plan`, `pull` and `rm`
//! with Hugging Face names, the real binary and the Ollama stand-in.
//!
//! Offline here (`HF_HUB_OFFLINE=1`): the Hub's answers (quants with sizes,
//! `quant: auto` against a GPU, commits, imports) are covered by the
//! planner's unit tests (`plan::hf_tests`) until the Hub stand-in exists.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::{Project, describe, free_port, text};

fn standin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/ollama_standin.py")
}

fn ollama_yaml(p: &Project, port: u16) -> String {
    format!(
        "  ollama:\n    kind: ollama\n    port: {port}\n    binary: {bin}\n    models_dir: {dir}\n",
        bin = standin().display(),
        dir = p.dir.path().join("models").display(),
    )
}

fn offline(p: &Project, args: &[&str]) -> std::process::Output {
    let mut c = p.cmd(args);
    c.env("HF_HUB_OFFLINE", "1");
    c.output().expect("run facerunner")
}

#[test]
fn convert_says_the_table_answered_offline() {
    let p = Project::new("");
    for args in [
        &["convert", "--json", "someone/Some-Model-GGUF"][..],
        &["convert", "--json", "--offline", "someone/Some-Model-GGUF"][..],
    ] {
        let out = offline(&p, args);
        assert!(out.status.success(), "{}", describe(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(
            v[0]["ollama"], "hf.co/someone/Some-Model-GGUF:Q4_K_M",
            "{v}"
        );
        assert_eq!(v[0]["answered_by"], "table", "{v}");
        assert_eq!(v[0]["source"], "ollama", "{v}");
    }
    let out = p.run(&["convert", "--offline", "meta-llama/Llama-3.1-8B-Instruct"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        text(&out.stdout).contains("answered by FaceRunner's table (offline: --offline)"),
        "{}",
        describe(&out)
    );
}

#[test]
fn hf_keys_validate_with_located_errors_and_plan_offline() {
    let p = Project::new("");
    let port = free_port();
    let services = ollama_yaml(&p, port);
    p.write(&format!(
        "{services}models:\n  - hf: someone/Some-Model-GGUF\n    quant: auto\n    quantize: q5_0\n"
    ));
    let out = offline(&p, &["validate"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = text(&out.stderr);
    // `models:` is line 9 of the file: `quantize:` is line 12.
    assert!(
        err.contains("q5_0") && err.contains("facerunner.yaml:12:15"),
        "{}",
        describe(&out)
    );

    p.write(&format!(
        "{services}models:\n  - hf: someone/Some-Model-GGUF\n    quant: auto\n    revision: main\n"
    ));
    let out = offline(&p, &["plan", "--color", "never"]);
    assert!(out.status.success(), "{}", describe(&out));
    let plan = text(&out.stdout);
    for needle in [
        "pull hf.co/someone/Some-Model-GGUF:Q4_K_M",
        "source: Ollama pulls hf.co/someone/Some-Model-GGUF:Q4_K_M",
        "main (commit unknown offline)",
        "answered by FaceRunner's table (offline)",
        "HF_HUB_OFFLINE",
    ] {
        assert!(plan.contains(needle), "{needle:?} not in:\n{plan}");
    }
    let out = offline(&p, &["plan", "--json"]);
    assert!(out.status.success(), "{}", describe(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let hf = &v["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["action"] == "pull_model")
        .expect("a pull")["hf"];
    assert_eq!(hf["answered_by"], "table", "{v}");
    assert_eq!(hf["quant"], "Q4_K_M", "{v}");

    // `source: download` needs the Hub: offline, the plan says so, located.
    p.write(&format!(
        "{services}models:\n  - hf: someone/Some-Model-GGUF\n    source: download\n"
    ));
    let out = offline(&p, &["plan", "--color", "never"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        all.contains("needs the Hugging Face Hub") && all.contains("facerunner.yaml:11:13"),
        "{}",
        describe(&out)
    );
}

#[test]
fn pull_and_rm_take_hugging_face_names() {
    let p = Project::new("");
    let port = free_port();
    p.write(&ollama_yaml(&p, port));
    let out = p.run(&["apply", "--yes", "--color", "never"]);
    assert!(out.status.success(), "{}", describe(&out));
    let out = offline(
        &p,
        &[
            "pull",
            "https://huggingface.co/someone/Some-Model-GGUF",
            "hf:someone/Some-Model-GGUF:Q8_0",
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let models = |p: &Project| {
        let out = p.ok(&["models", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let mut names: Vec<String> = v["ollama"]["models"]
            .as_array()
            .expect("list")
            .iter()
            .map(|m| m["name"].as_str().expect("name").to_string())
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        models(&p),
        [
            "hf.co/someone/Some-Model-GGUF:Q4_K_M",
            "hf.co/someone/Some-Model-GGUF:Q8_0"
        ]
    );
    // Without a quant, every installed quant of the repo.
    let out = offline(&p, &["rm", "hf:someone/Some-Model-GGUF"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(models(&p).is_empty(), "{:?}", models(&p));
    let out = offline(&p, &["rm", "hf:someone/Some-Model-GGUF"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    p.run(&["down"]);
}

/// The Hugging Face Hub stand-in (`tests/support/hf_standin.py`) over
/// `repos`, killed when dropped.
pub(crate) struct HubStandin {
    child: std::process::Child,
    pub(crate) port: u16,
}

impl Drop for HubStandin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl HubStandin {
    pub(crate) fn start(repos: &Path) -> HubStandin {
        HubStandin::start_with(repos, &[])
    }

    /// With more arguments, such as `--token T` (the tokens it accepts).
    pub(crate) fn start_with(repos: &Path, args: &[&str]) -> HubStandin {
        use std::io::BufRead;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/hf_standin.py");
        let mut child = std::process::Command::new("python3")
            .arg(script)
            .arg("--repos")
            .arg(repos)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start the Hub stand-in");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("READY line");
        let port = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("hub="))
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no READY line: {line:?}"));
        HubStandin { child, port }
    }

    /// `facerunner ARGS` in `p` against this Hub (`HF_ENDPOINT` set,
    /// `HF_HUB_OFFLINE` removed), with `env` added; failed after 120 s.
    pub(crate) fn run(&self, p: &Project, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = p.cmd(args);
        c.env("HF_ENDPOINT", format!("http://127.0.0.1:{}", self.port))
            .env_remove("HF_HUB_OFFLINE")
            .envs(env.iter().copied());
        assert_cmd::Command::from_std(c)
            .timeout(std::time::Duration::from_secs(120))
            .output()
            .expect("run facerunner")
    }
}

/// Write the repo `id` (`org/name`) holding `files` under the project's
/// `repos/` (what [`HubStandin`] serves there); its directory.
pub(crate) fn write_repo(p: &Project, id: &str, files: &[(&str, &[u8])]) -> PathBuf {
    let repo = p.dir.path().join("repos").join(id);
    std::fs::create_dir_all(&repo).expect("mkdir");
    for (name, bytes) in files {
        std::fs::write(repo.join(name), bytes).expect("write");
    }
    repo
}

/// A GGUF-looking file of `n` bytes.
pub(crate) fn gguf(n: usize, seed: u8) -> Vec<u8> {
    let mut b = b"GGUF\x03\x00\x00\x00".to_vec();
    b.extend((0..n - 8).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    b
}

/// What the GPU fit estimate needs for a GGUF of `bytes` before its header
/// is known (as `plan::hf` computes it).
fn need(bytes: u64, vram: u64) -> u64 {
    let meta = facerunner::model::gguf::ModelMeta {
        file_size_bytes: bytes,
        ..Default::default()
    };
    facerunner::model::gpu::estimate(&meta, None, &Default::default(), vram).total_bytes()
}

/// Ask the Ollama stand-in to answer a prompt with `model`.
fn generate(port: u16, model: &str) -> String {
    use std::io::{Read, Write};
    let body = format!(r#"{{"model":"{model}","prompt":"hello","stream":false}}"#);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        s,
        "POST /api/generate HTTP/1.1\r\nHost: localhost:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

#[test]
fn a_gguf_repo_with_quant_auto_is_planned_downloaded_imported_and_answers_under_its_alias() {
    let p = Project::new("");
    let (q4, q8) = (gguf(3 << 20, 1), gguf(6 << 20, 2));
    let repo = write_repo(
        &p,
        "someone/Some-Model-GGUF",
        &[
            ("Some-Model-Q4_K_M.gguf", &q4),
            ("Some-Model-Q8_0.gguf", &q8),
            ("README.md", b"a test model"),
        ],
    );
    let hub = HubStandin::start(&p.dir.path().join("repos"));

    // One GPU between the two quants' needs: Q4_K_M fits, Q8_0 does not.
    let vram = 1 << 30;
    let total = (need(q4.len() as u64, vram) + need(q8.len() as u64, vram)) / 2;
    let gpus = serde_json::json!({
        "gpus": [{"index": 0, "uuid": "GPU-test", "name": "Test GPU", "vendor": "nvidia",
                  "memory_total_bytes": total, "memory_used_bytes": 0}],
        "source": "test"
    });
    std::fs::write(p.dir.path().join("p/gpus.json"), gpus.to_string()).expect("write");

    let port = free_port();
    let services = ollama_yaml(&p, port);
    let entry =
        "models:\n  - hf: someone/Some-Model-GGUF\n    quant: auto\n    alias: assistant:latest\n";
    p.write(&format!("{services}{entry}"));
    let online = |args: &[&str]| hub.run(&p, args, &[]);

    let out = online(&["--gpus-from", "gpus.json", "plan", "--color", "never"]);
    assert!(out.status.success(), "{}", describe(&out));
    let plan = text(&out.stdout);
    for needle in [
        "create assistant:latest",
        "source: download from Hugging Face, import as assistant:latest",
        "quant: Q4_K_M",
        "file: Some-Model-Q4_K_M.gguf (3.0MiB)",
        "download: 3.0MiB (3145728 bytes)",
        "fits: GPU 0 (Test GPU",
        "answered by the Hugging Face Hub",
        "HF_ENDPOINT is set",
    ] {
        assert!(plan.contains(needle), "{needle:?} not in:\n{plan}");
    }
    let out = online(&["--gpus-from", "gpus.json", "plan", "--json"]);
    assert!(out.status.success(), "{}", describe(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let step = v["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["action"] == "create_model")
        .expect("an import")
        .clone();
    let commit = step["hf"]["commit"].as_str().expect("a commit").to_string();
    assert_eq!(commit.len(), 40, "{step}");
    assert!(
        plan.contains(&format!("main at {}", &commit[..12])),
        "{plan}"
    );
    assert_eq!(step["hf"]["bytes"], 3 << 20, "{step}");

    // An unknown quant: located, with the quants there are.
    p.write(&format!(
        "{services}models:\n  - hf: someone/Some-Model-GGUF\n    quant: Q5_K_M\n"
    ));
    let out = online(&["plan", "--color", "never"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        all.contains("has no quant Q5_K_M")
            && all.contains("Q4_K_M (3.0MiB)")
            && all.contains("Q8_0 (6.0MiB)")
            && all.contains("facerunner.yaml:11:12"),
        "{all}"
    );

    // Apply: downloaded into the Hugging Face cache, imported, answering.
    p.write(&format!("{services}{entry}"));
    let out = online(&["apply", "--yes", "--color", "never"]);
    assert!(out.status.success(), "{}", describe(&out));
    let blob = p
        .dir
        .path()
        .join("hf-home/hub/models--someone--Some-Model-GGUF/blobs")
        .join(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&q4)));
    assert_eq!(std::fs::read(&blob).expect("the blob is cached"), q4);
    let answer = generate(port, "assistant:latest");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let state = std::fs::read_to_string(p.dirs().state.join("state.json")).expect("state");
    assert!(state.contains(&commit), "the commit is recorded: {state}");

    // A second apply does nothing.
    let out = online(&["plan", "--detailed-exitcode", "--color", "never"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));

    // `main` moves (a file changes): the model is imported again.
    std::fs::write(repo.join("README.md"), "a new card").expect("write");
    let out = online(&["plan", "--color", "never"]);
    assert!(
        text(&out.stdout).contains("main moved on Hugging Face"),
        "{}",
        describe(&out)
    );
    p.run(&["down"]);
}

/// The daemon plans again and downloads with the Hub settings of the
/// command that asked (its environment over `.env`, as the file is read),
/// not with those it was started with: a token exported after the daemon
/// started reaches the Hub, as a private repo shows.
#[test]
fn apply_reaches_the_hub_with_the_commands_token_not_the_daemons() {
    let p = Project::new("");
    write_repo(
        &p,
        "someone/Private-GGUF",
        &[
            ("Private-Q4_K_M.gguf", &gguf(1 << 20, 3)),
            (".standin.json", br#"{"private": true}"#),
        ],
    );
    let hub = HubStandin::start_with(&p.dir.path().join("repos"), &["--token", "hf_good"]);
    let port = free_port();
    let services = ollama_yaml(&p, port);
    // The daemon starts from a shell without a token.
    p.write(&services);
    let out = hub.run(&p, &["apply", "--yes", "--color", "never"], &[]);
    assert!(out.status.success(), "{}", describe(&out));
    // Then the token is exported and the file asks for the private repo.
    p.write(&format!(
        "{services}models:\n  - hf: someone/Private-GGUF\n    quant: Q4_K_M\n    alias: private:latest\n"
    ));
    let out = hub.run(
        &p,
        &["apply", "--yes", "--color", "never"],
        &[("HF_TOKEN", "hf_good")],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let answer = generate(port, "private:latest");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    p.run(&["down"]);
}

#[test]
fn a_safetensors_repo_ollama_converts_is_downloaded_and_imported_with_quantize() {
    let p = Project::new("");
    let repos = p.dir.path().join("repos");
    let repo = repos.join("org/Tiny-Llama");
    std::fs::create_dir_all(&repo).expect("mkdir");
    let weights: Vec<u8> = (0..(2 << 20)).map(|i: u32| (i % 251) as u8).collect();
    std::fs::write(repo.join("model.safetensors"), &weights).expect("write");
    std::fs::write(
        repo.join("config.json"),
        r#"{"architectures":["LlamaForCausalLM"]}"#,
    )
    .expect("write");
    std::fs::write(repo.join("tokenizer.json"), "{}").expect("write");
    std::fs::write(
        repo.join(".standin.json"),
        r#"{"pipeline_tag": "text-generation", "library_name": "transformers", "architectures": ["LlamaForCausalLM"]}"#,
    )
    .expect("write");
    // And one Ollama cannot convert: refused with the reason.
    let other = repos.join("org/Tiny-Qwen3");
    std::fs::create_dir_all(&other).expect("mkdir");
    std::fs::write(other.join("model.safetensors"), b"x").expect("write");
    std::fs::write(
        other.join(".standin.json"),
        r#"{"pipeline_tag": "text-generation", "library_name": "transformers", "architectures": ["Qwen3ForCausalLM"]}"#,
    )
    .expect("write");
    let hub = HubStandin::start(&repos);
    let port = free_port();
    let services = ollama_yaml(&p, port);
    let online = |args: &[&str]| hub.run(&p, args, &[]);

    // `convert` asks the Hub when online, and says so.
    let out = online(&["convert", "--json", "org/Tiny-Llama", "org/Tiny-Qwen3"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v[0]["ollama"], "hf.co/org/Tiny-Llama:latest", "{v}");
    assert_eq!(v[0]["source"], "download", "{v}");
    assert_eq!(v[0]["answered_by"], "hub", "{v}");
    assert_eq!(v[1]["ok"], false, "{v}");
    assert!(
        v[1]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("Qwen3ForCausalLM")),
        "{v}"
    );

    p.write(&format!("{services}models:\n  - hf: org/Tiny-Qwen3\n"));
    let out = online(&["plan", "--color", "never"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        text(&out.stdout).contains("Qwen3ForCausalLM, which Ollama cannot convert"),
        "{}",
        describe(&out)
    );

    p.write(&format!(
        "{services}models:\n  - hf: org/Tiny-Llama\n    quantize: q8_0\n    system: be brief\n"
    ));
    let out = online(&["plan", "--color", "never"]);
    assert!(out.status.success(), "{}", describe(&out));
    let plan = text(&out.stdout);
    for needle in [
        "create hf.co/org/Tiny-Llama:q8_0",
        "quantize: q8_0",
        "file: model.safetensors (2.0MiB)",
        "file: config.json",
        "file: tokenizer.json",
        "LlamaForCausalLM",
    ] {
        assert!(plan.contains(needle), "{needle:?} not in:\n{plan}");
    }
    let out = online(&["plan", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let create = v["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["action"] == "create_model")
        .expect("an import")
        .clone();
    assert_eq!(create["request"]["quantize"], "q8_0", "{create}");
    assert_eq!(create["request"]["system"], "be brief", "{create}");
    assert_eq!(create["hf"]["format"], "safetensors", "{create}");
    let out = online(&["apply", "--yes", "--color", "never"]);
    assert!(out.status.success(), "{}", describe(&out));
    let answer = generate(port, "hf.co/org/Tiny-Llama:q8_0");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let out = online(&["plan", "--detailed-exitcode", "--color", "never"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));

    // `pull` of a Hugging Face name resolves it the same way: imported
    // (by hand, so `prune_models` never removes it), and `rm` finds it.
    p.write(&format!("{services}settings:\n  prune_models: true\n"));
    let out = online(&["pull", "hf:org/Tiny-Llama"]);
    assert!(out.status.success(), "{}", describe(&out));
    let answer = generate(port, "hf.co/org/Tiny-Llama:latest");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let out = online(&["plan", "--color", "never"]);
    assert!(
        !text(&out.stdout).contains("remove hf.co/org/Tiny-Llama:latest"),
        "a model pulled by hand is never pruned: {}",
        describe(&out)
    );
    let out = online(&["rm", "hf:org/Tiny-Llama"]);
    assert!(out.status.success(), "{}", describe(&out));
    let answer = generate(port, "hf.co/org/Tiny-Llama:latest");
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    p.run(&["down"]);
}

/// GET `path` from the Hub stand-in: its JSON answer.
fn standin_get(port: u16, path: &str) -> serde_json::Value {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// The stand-in's GETs of a repo's file bytes (from the CDN), with their ranges.
fn cdn_gets(port: u16) -> Vec<serde_json::Value> {
    standin_get(port, "/__standin/log")
        .as_array()
        .expect("log")
        .iter()
        .filter(|e| e["server"] == "cdn" && e["method"] == "GET")
        .cloned()
        .collect()
}

#[test]
fn quant_auto_and_the_fit_check_read_the_gguf_header_over_http_before_download() {
    // Both quants hold the real header of an 80-layer model with 8 KV
    // heads: at 128k context its KV cache alone is 40 GiB.
    let p = Project::new("");
    let q4 = crate::gpu_fit::llama80_with(1 << 20);
    let q8 = crate::gpu_fit::llama80_with(2 << 20);
    write_repo(
        &p,
        "someone/Big-GGUF",
        &[("Big-Q4_K_M.gguf", &q4), ("Big-Q8_0.gguf", &q8)],
    );
    let hub = HubStandin::start(&p.dir.path().join("repos"));
    let gpus = serde_json::json!({
        "gpus": [{"index": 0, "uuid": "GPU-test", "name": "Test GPU", "vendor": "nvidia",
                  "memory_total_bytes": 24u64 << 30, "memory_used_bytes": 0}],
        "source": "test"
    });
    std::fs::write(p.dir.path().join("p/gpus.json"), gpus.to_string()).expect("write");
    let services = ollama_yaml(&p, free_port());
    let plan = |num_ctx: u64| {
        p.write(&format!(
            "{services}models:\n  - hf: someone/Big-GGUF\n    quant: auto\n    alias: big:latest\n    parameters: {{ num_ctx: {num_ctx} }}\n"
        ));
        let out = hub.run(&p, &["--gpus-from", "gpus.json", "plan", "--json"], &[]);
        assert!(out.status.success(), "{}", describe(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        v
    };
    let step = |v: &serde_json::Value| {
        v["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .find(|s| s["action"] == "create_model")
            .unwrap_or_else(|| panic!("an import: {v:#}"))
            .clone()
    };
    let fit = |v: &serde_json::Value| {
        v["fit"]
            .as_array()
            .and_then(|a| a.iter().find(|f| f["model"] == "big:latest"))
            .unwrap_or_else(|| panic!("big:latest in the fit table: {v:#}"))
            .clone()
    };

    // 128k: the KV cache makes both too big (weights + 1 GiB said both
    // fit): `auto` falls back to the default, and the fit table says so.
    let v = plan(131_072);
    assert_eq!(step(&v)["hf"]["quant"], "Q4_K_M", "{v:#}");
    let f = fit(&v);
    assert_eq!(f["estimate"]["num_ctx"], 131_072, "{f:#}");
    assert!(
        f["estimate"]["kv_cache_bytes"].as_u64().expect("kv") >= 40 << 30,
        "{f:#}"
    );
    assert_eq!(f["estimate"]["weights_bytes"], q4.len(), "{f:#}");
    assert_ne!(f["outcome"], "fits", "{f:#}");
    // Read with bounded range requests, from the smallest quant, before
    // any download.
    let gets = cdn_gets(hub.port);
    assert!(!gets.is_empty(), "the header was read over HTTP");
    for g in &gets {
        assert!(
            g["path"]
                .as_str()
                .is_some_and(|p| p.contains(&sha256_hex(&q4))),
            "{g}"
        );
        let range = g["range"].as_str().unwrap_or_default();
        assert!(range.starts_with("bytes=0-"), "a bounded range: {g}");
        assert!(!range.ends_with('-'), "a bounded range: {g}");
    }

    // 8k: the largest quant fits, and the header comes from the cache
    // (state/gguf-meta.json, by repo, commit and file): no new request.
    let v = plan(8192);
    assert_eq!(step(&v)["hf"]["quant"], "Q8_0", "{v:#}");
    assert_eq!(fit(&v)["outcome"], "fits", "{v:#}");
    assert_eq!(cdn_gets(hub.port).len(), gets.len(), "cached");
    let cache = std::fs::read_to_string(p.dirs().state.join("gguf-meta.json")).unwrap_or_default();
    assert!(cache.contains("hf:someone/Big-GGUF@"), "{cache}");
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

#[test]
fn a_saved_plan_is_refused_when_main_moved_on_the_hub_between_plan_and_apply() {
    let p = Project::new("");
    let repo = write_repo(
        &p,
        "someone/Moving-GGUF",
        &[
            ("Moving-Q4_K_M.gguf", &gguf(1 << 20, 3)),
            ("README.md", b"first card"),
        ],
    );
    let hub = HubStandin::start(&p.dir.path().join("repos"));
    let services = ollama_yaml(&p, free_port());
    // Ollama pulls it: no step carries the commit, only the Hub's answer.
    p.write(&format!(
        "{services}models:\n  - hf: someone/Moving-GGUF\n    source: ollama\n"
    ));
    let online = |args: &[&str]| hub.run(&p, args, &[]);
    let saved = p.dir.path().join("plan.json");
    let saved = saved.to_str().expect("utf-8");
    let out = online(&["plan", "--out", saved]);
    assert!(out.status.success(), "{}", describe(&out));

    // `main` moves between plan and apply.
    std::fs::write(repo.join("README.md"), "a new card").expect("write");
    let out = online(&["apply", "--yes", saved]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = text(&out.stderr);
    assert!(
        err.contains("stale") && err.contains("Hugging Face Hub's answer"),
        "{err}"
    );

    // Planned again against the new commit: applied.
    let out = online(&["plan", "--out", saved]);
    assert!(out.status.success(), "{}", describe(&out));
    let out = online(&["apply", "--yes", saved]);
    assert!(out.status.success(), "{}", describe(&out));
}
