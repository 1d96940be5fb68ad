//! The documentation's examples work: every ```yaml block of README.md and
//! docs/*.md, written to a fresh project, passes `validate` and `plan`
//! (exit 0, no error checks).
//!
//! `ollama` and `open-webui` are given as stand-in scripts on `PATH` (the
//! examples rely on the real programs being installed), and `HOME` is the
//! temp dir so no one's real model store is read. The one error check the
//! host can cause is a port the example uses being taken by some other
//! process on this machine; that one is tolerated, by its message.
//!
//! A block that is deliberately partial starts with the line `# fragment`;
//! it is only required to be YAML. Keep that rare.

use std::path::{Path, PathBuf};

use crate::support::{bin, describe, text};

/// The message of the only check the host (not the example) can cause.
const HOST_PORT_TAKEN: &str = "is already taken by a process FaceRunner did not start";

/// (where, the block's text) for every ```yaml block of `file`.
fn yaml_blocks(file: &Path) -> Vec<(String, String)> {
    let doc = std::fs::read_to_string(file).expect("read the doc");
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (n, line) in doc.lines().enumerate() {
        match &mut current {
            None if line.trim_start().starts_with("```yaml") => {
                current = Some((n + 1, String::new()))
            }
            None => {}
            Some(_) if line.trim_start().starts_with("```") => {
                let (start, body) = current.take().expect("in a block");
                blocks.push((format!("{}:{start}", file.display()), body));
            }
            Some((_, body)) => {
                body.push_str(line);
                body.push('\n');
            }
        }
    }
    assert!(
        current.is_none(),
        "{}: an unclosed ```yaml block",
        file.display()
    );
    blocks
}

fn docs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    let mut more: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    more.sort();
    files.extend(more);
    files
}

/// `facerunner ARGS` in `dir`, with the stand-in programs first on PATH.
fn run(tmp: &Path, dir: &Path, args: &[&str]) -> std::process::Output {
    let path = format!(
        "{}:{}",
        tmp.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = std::process::Command::new(bin());
    c.args(args)
        .current_dir(dir)
        .env("FACERUNNER_HOME", tmp.join("home"))
        .env("HOME", tmp.join("user"))
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .env_remove("FACERUNNER_FILE");
    // No internet in tests: `hf:` models are resolved from an empty cache
    // (then FaceRunner's table), never from huggingface.co.
    for k in [
        "HF_ENDPOINT",
        "HF_TOKEN",
        "HF_HUB_CACHE",
        "HF_HOME",
        "XDG_CACHE_HOME",
    ] {
        c.env_remove(k);
    }
    c.env("HF_HUB_OFFLINE", "1");
    assert_cmd::Command::from_std(c)
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .expect("run facerunner")
}

#[test]
fn every_yaml_block_in_the_docs_validates_and_plans() {
    let mut checked = 0;
    for file in docs() {
        for (at, yaml) in yaml_blocks(&file) {
            if yaml.starts_with("# fragment") {
                serde_saphyr::from_str::<serde_json::Value>(&yaml)
                    .unwrap_or_else(|e| panic!("{at}: the fragment is not YAML: {e}"));
                continue;
            }
            checked += 1;
            let tmp = tempfile::tempdir().expect("tempdir");
            let project = tmp.path().join(format!("docs-example-{checked}"));
            let programs = tmp.path().join("bin");
            for dir in [&project, &programs, &tmp.path().join("user")] {
                std::fs::create_dir_all(dir).expect("mkdir");
            }
            for program in ["ollama", "open-webui"] {
                let p = programs.join(program);
                std::fs::write(&p, "#!/bin/sh\nexit 0\n").expect("write a stand-in");
                std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                    .expect("chmod");
            }
            std::fs::write(project.join("facerunner.yaml"), &yaml).expect("write the example");

            let out = run(tmp.path(), &project, &["validate"]);
            assert!(
                out.status.success(),
                "{at}: the example does not validate:\n{yaml}\n{}",
                describe(&out)
            );
            let out = run(tmp.path(), &project, &["plan", "--json"]);
            let plan: serde_json::Value = serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("{at}: plan --json: {e}\n{}", describe(&out)));
            let errors: Vec<&serde_json::Value> = plan["checks"]
                .as_array()
                .expect("checks")
                .iter()
                .filter(|c| c["severity"] == "error")
                .collect();
            let example_errors: Vec<&&serde_json::Value> = errors
                .iter()
                .filter(|c| {
                    !c["message"]
                        .as_str()
                        .is_some_and(|m| m.contains(HOST_PORT_TAKEN))
                })
                .collect();
            assert!(
                example_errors.is_empty(),
                "{at}: the example's plan has errors:\n{yaml}\n{example_errors:#?}"
            );
            if errors.is_empty() {
                assert!(
                    out.status.success(),
                    "{at}: plan failed:\n{}",
                    describe(&out)
                );
            } else {
                eprintln!(
                    "{at}: a port of the example is taken on this machine: {}",
                    text(&out.stdout)
                );
            }
        }
    }
    assert!(checked > 0, "no ```yaml block found in the docs");
}
