//! `hf:` models end to end: `convert`, `validate`, `plan`, `pull` and `rm`
//! with Hugging Face names, the real binary and the Ollama stand-in.
//!
//! Offline here (`HF_HUB_OFFLINE=1`): the Hub's answers (quants with sizes,
//! `quant: auto` against a GPU, commits, imports) are covered by the
//! planner's unit tests (`plan::hf_tests`) until the Hub stand-in exists.

use std::path::{Path, PathBuf};

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
