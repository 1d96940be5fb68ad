//! `facerunner plan` against a live Ollama stand-in: whole-process wall time
//! for 20 services / 100 models and for ten times that, and the number of
//! `/api/tags` requests each plan makes (it must be one per Ollama service,
//! never one per model).
//!
//! Each size brings the project up (`facerunner up`: the stand-in under the
//! daemon plus trivial `sleep` services), pulls the models through the
//! stand-in's API, then times `plan` (median of several runs). The baseline,
//! measured in the same run, is `facerunner validate` of the same file: a
//! whole process that only loads and checks it, so the ratio is what
//! observing the live world and planning add.

use std::io::BufRead;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use facerunner::ollama::Client;
use futures_util::StreamExt;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn fr(dir: &Path, home: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_facerunner"))
        .args(args)
        .current_dir(dir)
        .env("FACERUNNER_HOME", home)
        .env("NO_COLOR", "1")
        .output()
        .expect("run facerunner")
}

fn timed(dir: &Path, home: &Path, args: &[&str], runs: usize) -> Duration {
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                let out = fr(dir, home, args);
                assert!(
                    out.status.code().is_some_and(|c| c <= 2),
                    "{args:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                t.elapsed()
            })
            .collect(),
    )
}

fn tags_requests(log: &Path) -> usize {
    std::fs::File::open(log)
        .map(|f| {
            std::io::BufReader::new(f)
                .lines()
                .map_while(Result::ok)
                .filter(|l| l.contains("\"/api/tags\""))
                .count()
        })
        .unwrap_or(0)
}

fn bench(services: usize, models: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let port = free_port();
    let log = dir.path().join("requests.jsonl");
    let standin = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/ollama_standin.py"
    );
    let mut yaml = format!(
        "version: 1\nname: planbench\nservices:\n  ollama:\n    kind: ollama\n    port: {port}\n    binary: {standin}\n    models_dir: {}\n    env: {{ STANDIN_DEFAULT_SIZE: \"512\", STANDIN_REQUEST_LOG: {} }}\n",
        dir.path().join("models").display(),
        log.display()
    );
    for i in 1..services {
        yaml.push_str(&format!(
            "  w{i}:\n    command: [sleep, \"3600\"]\n    health: {{ disable: true }}\n"
        ));
    }
    yaml.push_str("models:\n");
    for i in 0..models {
        yaml.push_str(&format!("  - ollama: bench{i}:latest\n"));
    }
    std::fs::write(dir.path().join("facerunner.yaml"), yaml).expect("write");
    // Start the services only (the models are pulled below, all at once, faster than one plan step each).
    let mut names: Vec<String> = vec!["ollama".into()];
    names.extend((1..services).map(|i| format!("w{i}")));
    let mut up = vec!["up"];
    up.extend(names.iter().map(String::as_str));
    let out = fr(dir.path(), &home, &up);
    assert!(
        out.status.success(),
        "up: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let client = Client::new(&format!("http://127.0.0.1:{port}")).expect("client");
        let pulls = futures_util::stream::iter(0..models).for_each_concurrent(8, |i| {
            let client = client.clone();
            async move {
                let mut s = Box::pin(client.pull(&format!("bench{i}:latest"), false));
                while let Some(p) = s.next().await {
                    p.expect("pull");
                }
            }
        });
        pulls.await;
    });
    let before = tags_requests(&log);
    let runs = 7;
    let plan = timed(dir.path(), &home, &["plan", "--detailed-exitcode"], runs);
    let per_plan = (tags_requests(&log) - before) as f64 / runs as f64;
    let validate = timed(dir.path(), &home, &["validate"], runs);
    let _ = fr(dir.path(), &home, &["down"]);
    println!(
        "plan {services:>3} services {models:>4} models: {:>7.1} ms   baseline validate {:>6.1} ms   ratio {:>5.2}x   /api/tags per plan: {per_plan}",
        plan.as_secs_f64() * 1e3,
        validate.as_secs_f64() * 1e3,
        plan.as_secs_f64() / validate.as_secs_f64()
    );
}

/// A GGUF header of an 80-layer model with a 32k-token vocabulary (a
/// realistic header: the vocabulary is most of it), then 64 KiB of weights.
fn gguf(path: &Path) {
    fn put(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u64).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    let mut out = b"GGUF".to_vec();
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes());
    let nums: &[(&str, u32)] = &[
        ("llama.block_count", 80),
        ("llama.context_length", 131_072),
        ("llama.embedding_length", 8192),
        ("llama.attention.head_count", 64),
        ("llama.attention.head_count_kv", 8),
    ];
    out.extend_from_slice(&(nums.len() as u64 + 2).to_le_bytes());
    put(&mut out, "general.architecture");
    out.extend_from_slice(&8u32.to_le_bytes());
    put(&mut out, "llama");
    for (k, v) in nums {
        put(&mut out, k);
        out.extend_from_slice(&4u32.to_le_bytes());
        out.extend_from_slice(&v.to_le_bytes());
    }
    put(&mut out, "tokenizer.ggml.tokens");
    out.extend_from_slice(&9u32.to_le_bytes());
    out.extend_from_slice(&8u32.to_le_bytes());
    out.extend_from_slice(&32_000u64.to_le_bytes());
    for i in 0..32_000 {
        put(&mut out, &format!("tok{i}"));
    }
    out.resize(out.len() + (64 << 10), 0);
    std::fs::write(path, out).expect("write gguf");
}

/// `plan` with the GPU fit check on (every model a `file:` GGUF whose
/// header is read, against a two-GPU `--gpus-from` inventory) and off; the
/// ratio is what the check adds (target: within 1.2×; not asserted).
fn bench_fit(services: usize, models: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let mut yaml = String::from("version: 1\nname: fitbench\nSETTINGSservices:\n");
    for i in 0..services {
        yaml.push_str(&format!(
            "  o{i}:\n    kind: ollama\n    port: {}\n    binary: /bin/sleep\n    models_dir: m{i}\n",
            20000 + i
        ));
    }
    yaml.push_str("models:\n");
    for i in 0..models {
        let f = dir.path().join(format!("m{i}.gguf"));
        gguf(&f);
        yaml.push_str(&format!(
            "  - name: fit{i}:latest\n    file: m{i}.gguf\n    service: o{}\n    parameters: {{ num_ctx: 8192 }}\n",
            i % services
        ));
    }
    let gib = 1u64 << 30;
    std::fs::write(
        dir.path().join("gpus.json"),
        format!(
            r#"{{"gpus": [{{"index": 0, "uuid": "GPU-0", "memory_total_bytes": {}}}, {{"index": 1, "uuid": "GPU-1", "memory_total_bytes": {}}}]}}"#,
            80 * gib,
            24 * gib
        ),
    )
    .expect("write inventory");
    let args = ["--gpus-from", "gpus.json", "plan", "--detailed-exitcode"];
    let time = |mode: &str| {
        std::fs::write(
            dir.path().join("facerunner.yaml"),
            yaml.replace("SETTINGS", &format!("settings: {{ gpu_fit: {mode} }}\n")),
        )
        .expect("write");
        timed(dir.path(), &home, &args, 7)
    };
    let off = time("off");
    let on = time("warn");
    println!(
        "plan {services:>3} services {models:>4} models, fit check on: {:>7.1} ms   off: {:>7.1} ms   ratio {:>5.2}x (target within 1.2x)",
        on.as_secs_f64() * 1e3,
        off.as_secs_f64() * 1e3,
        on.as_secs_f64() / off.as_secs_f64()
    );
}

fn main() {
    bench(20, 100);
    bench_fit(20, 100);
    bench(200, 1000);
}
