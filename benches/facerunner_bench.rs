//! Benchmarks, printed as times and as ratios against a baseline measured in
//! the same run (so numbers from different machines compare).
//!
//! `cargo bench --bench facerunner_bench` runs:
//! - validate: `config::load_str` (parse with locations, schema check,
//!   interpolation, serde, semantic rules) on the shipped example and on a
//!   generated file of 200 services and 500 models; the baseline is a plain
//!   serde-saphyr parse of the same text into a JSON value (no locations, no
//!   checks), i.e. the least any YAML loader must do.

use std::path::Path;
use std::time::{Duration, Instant};

use facerunner::config::interpolate::Vars;
use facerunner::config::load_str;

fn median(mut f: impl FnMut(), iters: usize) -> Duration {
    f();
    let mut times: Vec<Duration> = (0..iters)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn big_file(services: usize, models: usize) -> String {
    let mut s = String::from(
        "version: 1\nname: bench\nservices:\n  ollama:\n    kind: ollama\n    port: 11434\n",
    );
    for i in 1..services {
        s.push_str(&format!(
            "  svc{i}:\n    command: [python3, -m, http.server, \"{p}\"]\n    env: {{ LOG_LEVEL: info, N: \"{i}\" }}\n    depends_on:\n      ollama: {{ condition: healthy }}\n    health:\n      tcp: {p}\n      interval: 2s\n    restart: on-failure\n",
            p = 20000 + i
        ));
    }
    s.push_str("models:\n");
    for i in 0..models {
        match i % 3 {
            0 => s.push_str(&format!("  - ollama: model{i}:latest\n")),
            1 => s.push_str(&format!("  - name: derived{i}\n    from: model{}:latest\n    parameters: {{ temperature: 0.2 }}\n", i - 1)),
            _ => s.push_str(&format!("  - ollama: ns{i}/model:q4_K_M\n    keep_alive: 10m\n")),
        }
    }
    s
}

fn bench_validate(name: &str, text: &str, iters: usize) {
    let vars = Vars::default();
    let path = Path::new("facerunner.yaml");
    let ours = median(
        || {
            let loaded = load_str(path, text, &vars);
            assert!(loaded.is_ok(), "the bench file must be valid");
        },
        iters,
    );
    let baseline = median(
        || {
            let v: serde_json::Value = serde_saphyr::from_str(text).expect("valid YAML");
            std::hint::black_box(v);
        },
        iters,
    );
    println!(
        "validate {name:<28} {:>9.3} ms   baseline (plain YAML parse) {:>9.3} ms   ratio {:>5.2}x",
        ours.as_secs_f64() * 1e3,
        baseline.as_secs_f64() * 1e3,
        ours.as_secs_f64() / baseline.as_secs_f64()
    );
}

fn main() {
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/facerunner.example.yaml"
    ))
    .expect("the example file ships with the repo");
    // The example names files relative to the repo; validation does not read them.
    bench_validate("facerunner.example.yaml", &example, 200);
    bench_validate("200 services, 500 models", &big_file(200, 500), 30);
}
