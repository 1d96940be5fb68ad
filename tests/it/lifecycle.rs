//! From zero to a verified stack, and the files FaceRunner writes for
//! editors: `init`, `verify`, `integrations` (Continue, Zed) and `man`,
//! end to end with the real binary, the supervisor and the Ollama stand-in
//! (on PATH as `ollama` for `init`), in temp dirs with free ports.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::support::{Project, describe, free_port, text};

fn standin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/ollama_standin.py")
}

/// Run with extra environment (HOME, PATH, ...), failing after 90 s.
fn run_env(p: &Project, dir: &Path, env: &[(&str, String)], args: &[&str]) -> Output {
    let mut c = p.cmd(args);
    c.current_dir(dir);
    for (k, v) in env {
        c.env(k, v);
    }
    assert_cmd::Command::from_std(c)
        .timeout(Duration::from_secs(90))
        .output()
        .expect("run facerunner")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

/// A directory holding `ollama`: a script that runs the stand-in.
fn ollama_on_path(root: &Path) -> PathBuf {
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir bin");
    let script = bin.join("ollama");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nexec python3 {} \"$@\"\n", standin().display()),
    )
    .expect("write the ollama script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    bin
}

#[test]
fn init_writes_a_file_that_validates_and_applies_then_verify_checks_the_stack() {
    let p = Project::new("");
    let dir = p.dir.path().join("p");
    std::fs::remove_file(dir.join("facerunner.yaml")).expect("start without a file");
    let root = p.dir.path();
    let bin = ollama_on_path(root);
    let store = root.join("store");
    let port = free_port();
    let env = vec![
        (
            "PATH",
            format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        ),
        ("OLLAMA_MODELS", store.display().to_string()),
        ("HOME", root.join("userhome").display().to_string()),
    ];
    let port_s = port.to_string();
    let init = [
        "init",
        "--yes",
        "--ollama-port",
        &port_s,
        "--no-webui",
        "--model",
        "smollm:135m",
    ];
    let out = run_env(&p, &dir, &env, &init);
    assert!(out.status.success(), "{}", describe(&out));
    let file = dir.join("facerunner.yaml");
    let written = std::fs::read_to_string(&file).expect("init wrote the file");
    assert!(
        written.starts_with("# yaml-language-server: $schema=./facerunner.schema.json\n"),
        "{written}"
    );
    assert!(
        written.contains(&format!("#   ollama:     {}", bin.join("ollama").display())),
        "ollama found on PATH: {written}"
    );
    assert!(written.contains(&format!("port: {port}")), "{written}");
    assert!(
        written.contains("models_dir:"),
        "OLLAMA_MODELS is kept: {written}"
    );
    assert!(written.contains("- ollama: \"smollm:135m\""), "{written}");
    assert!(
        !written.contains("kind: open-webui"),
        "--no-webui leaves it out: {written}"
    );
    assert_eq!(mode(&file), 0o600);
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("facerunner.schema.json")).expect("schema written"),
    )
    .expect("schema is JSON");
    assert!(schema["properties"]["integrations"].is_object());
    let out = run_env(&p, &dir, &env, &["validate"]);
    assert!(out.status.success(), "{}", describe(&out));

    // Never over an existing file.
    let out = run_env(&p, &dir, &env, &init);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("already exists"),
        "{}",
        describe(&out)
    );
    assert_eq!(std::fs::read_to_string(&file).expect("read"), written);

    // It applies: the stand-in (as `ollama` on PATH) runs, the model is
    // pulled, Continue's block is written.
    let out = run_env(&p, &dir, &env, &["apply", "--yes", "--color", "never"]);
    assert!(out.status.success(), "{}", describe(&out));
    let block = dir.join(".continue/models/facerunner.yaml");
    assert!(block.is_file(), "{}", describe(&out));

    // verify: everything answers, and --deep generates.
    let out = run_env(&p, &dir, &env, &["verify"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        text(&out.stdout).contains("All 1 services verified."),
        "{}",
        describe(&out)
    );
    let out = run_env(&p, &dir, &env, &["verify", "--deep", "--json"]);
    assert!(out.status.success(), "{}", describe(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("verify --json");
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["deep"]["model"], "smollm:135m", "{v}");
    assert!(v["deep"]["tokens"].as_u64().is_some_and(|n| n > 0), "{v}");
    assert!(v["deep"]["first_token_ms"].is_u64(), "{v}");

    // A model the file lists but the server lacks fails, with the fix.
    let with_more = written.replace(
        "  - ollama: \"smollm:135m\"\n",
        "  - ollama: \"smollm:135m\"\n  - ollama: qwen2.5:0.5b\n",
    );
    std::fs::write(&file, &with_more).expect("add a model");
    let out = run_env(&p, &dir, &env, &["verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        text(&out.stdout).contains("missing: qwen2.5:0.5b"),
        "{}",
        describe(&out)
    );
    assert!(
        text(&out.stdout).contains("facerunner apply"),
        "{}",
        describe(&out)
    );
    std::fs::write(&file, &written).expect("back");

    // A stopped service fails verify, with the command that fixes it.
    let out = run_env(&p, &dir, &env, &["stop", "ollama"]);
    assert!(out.status.success(), "{}", describe(&out));
    let out = run_env(&p, &dir, &env, &["verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        text(&out.stdout).contains("run `facerunner start ollama`"),
        "{}",
        describe(&out)
    );

    // A second project on the same store finds the model already there.
    let other = root.join("other");
    std::fs::create_dir_all(&other).expect("mkdir");
    let port2 = free_port().to_string();
    let out = run_env(
        &p,
        &other,
        &env,
        &["init", "--yes", "--ollama-port", &port2, "--no-continue"],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let second = std::fs::read_to_string(other.join("facerunner.yaml")).expect("written");
    assert!(second.contains("- ollama: \"smollm:135m\""), "{second}");
    assert!(second.contains("smollm:135m in "), "{second}");
    assert!(!second.contains("integrations:"), "{second}");
    let out = run_env(&p, &dir, &env, &["down"]);
    assert!(out.status.success(), "{}", describe(&out));
}

/// One stand-in ollama service with `smollm:135m`, plus `rest`.
fn project_yaml(p: &Project, port: u16, models: &str, rest: &str) {
    p.write(&format!(
        "  ollama:\n    kind: ollama\n    port: {port}\n    binary: {bin}\n    models_dir: {dir}\n\
         models:\n{models}{rest}",
        bin = standin().display(),
        dir = p.dir.path().join("models").display(),
    ));
}

#[test]
fn the_continue_block_is_created_updated_and_deleted_by_the_plan_and_only_when_ours() {
    let p = Project::new("");
    let dir = p.dir.path().join("p");
    let root = p.dir.path();
    let env = vec![
        ("HOME", root.join("userhome").display().to_string()),
        ("XDG_CONFIG_HOME", root.join("xdg").display().to_string()),
    ];
    let port = free_port();
    let one = "  - ollama: smollm:135m\n";
    let continue_on = "integrations:\n  continue: { roles: [chat, autocomplete] }\n";
    project_yaml(&p, port, one, continue_on);
    let block = dir.join(".continue/models/facerunner.yaml");
    let run = |args: &[&str]| run_env(&p, &dir, &env, args);
    let plan = || {
        let out = run(&["plan", "--color", "never"]);
        assert!(out.status.success(), "{}", describe(&out));
        text(&out.stdout)
    };
    let apply = || {
        let out = run(&["apply", "--yes", "--color", "never"]);
        assert!(out.status.success(), "{}", describe(&out));
    };

    let shown = plan();
    assert!(shown.contains("Integrations\n"), "{shown}");
    assert!(
        shown.contains("+ create .continue/models/facerunner.yaml  (not there yet)"),
        "{shown}"
    );
    apply();
    let written = std::fs::read_to_string(&block).expect("written");
    assert_eq!(mode(&block), 0o600);
    // `integrations show continue` prints exactly what was written.
    let out = run(&["integrations", "show", "continue"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(text(&out.stdout), written);
    // Continue's schema v1 fields.
    let v: serde_json::Value = serde_saphyr::from_str(&written).expect("YAML");
    assert_eq!(v["schema"], "v1");
    assert!(v["name"].is_string() && v["version"].is_string(), "{v}");
    let models = v["models"].as_array().expect("models[]");
    assert_eq!(models.len(), 1, "{v}");
    let m = &models[0];
    assert_eq!(m["provider"], "ollama");
    assert_eq!(m["model"], "smollm:135m");
    assert_eq!(m["name"], "smollm:135m");
    assert_eq!(m["apiBase"], format!("http://127.0.0.1:{port}"));
    assert_eq!(m["roles"], serde_json::json!(["chat", "autocomplete"]));
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.dirs().state.join("state.json")).expect("state"),
    )
    .expect("state JSON");
    let rec = &state["files"][block.display().to_string()];
    assert_eq!(rec["integration"], "continue", "{state}");
    assert!(rec["sha256"].is_string(), "{state}");
    assert!(plan().contains("No changes."));

    // The models change: the block is updated.
    project_yaml(
        &p,
        port,
        "  - ollama: smollm:135m\n    alias: tiny\n",
        continue_on,
    );
    let shown = plan();
    assert!(
        shown.contains("~ update .continue/models/facerunner.yaml"),
        "{shown}"
    );
    apply();
    let updated = std::fs::read_to_string(&block).expect("updated");
    assert!(updated.contains("model: \"tiny:latest\""), "{updated}");

    // The key removed: the file FaceRunner wrote is deleted, and only it.
    let keep = dir.join(".continue/models/mine.yaml");
    std::fs::write(&keep, "name: mine\n").expect("a file of the user's");
    project_yaml(&p, port, "  - ollama: smollm:135m\n    alias: tiny\n", "");
    let shown = plan();
    assert!(
        shown.contains("- delete .continue/models/facerunner.yaml"),
        "{shown}"
    );
    apply();
    assert!(!block.exists(), "deleted");
    assert!(keep.is_file(), "the user's file stays");
    assert!(plan().contains("No changes."));

    // Written again, then changed by hand: never deleted nor replaced.
    project_yaml(&p, port, one, continue_on);
    apply();
    std::fs::write(&block, "name: edited by hand\n").expect("edit");
    project_yaml(&p, port, one, "");
    let shown = plan();
    assert!(!shown.contains("- delete"), "{shown}");
    assert!(shown.contains("left in place"), "{shown}");
    apply();
    assert_eq!(
        std::fs::read_to_string(&block).expect("still there"),
        "name: edited by hand\n"
    );
    project_yaml(&p, port, one, continue_on);
    let shown = plan();
    assert!(shown.contains("FaceRunner did not write"), "{shown}");
    assert!(!shown.contains("update .continue"), "{shown}");

    // Zed: merged only when asked, keeping every other key; a file with
    // comments is refused and the block is printed instead.
    let zed = root.join("xdg/zed/settings.json");
    std::fs::create_dir_all(zed.parent().expect("dir")).expect("mkdir");
    std::fs::write(
        &zed,
        r#"{"theme": "One Dark", "language_models": {"openai": {"x": 1}}}"#,
    )
    .expect("zed settings");
    project_yaml(&p, port, one, "integrations:\n  zed: {}\n");
    assert!(!plan().contains("merge"), "printing only");
    let out = run(&["integrations", "show", "zed"]);
    let snippet: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON snippet");
    assert_eq!(
        snippet["language_models"]["ollama"]["api_url"],
        format!("http://127.0.0.1:{port}")
    );
    project_yaml(&p, port, one, "integrations:\n  zed: { merge: true }\n");
    let shown = plan();
    assert!(
        shown.contains("~ merge language_models.ollama into"),
        "{shown}"
    );
    apply();
    let merged: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&zed).expect("read")).expect("JSON");
    assert_eq!(merged["theme"], "One Dark");
    assert_eq!(merged["language_models"]["openai"]["x"], 1);
    assert_eq!(
        merged["language_models"]["ollama"],
        snippet["language_models"]["ollama"]
    );
    assert!(plan().contains("No changes."));
    let jsonc = "// my settings\n{ \"theme\": \"x\" }\n";
    std::fs::write(&zed, jsonc).expect("jsonc");
    let shown = plan();
    assert!(shown.contains("not plain JSON"), "{shown}");
    assert!(shown.contains("integrations show zed"), "{shown}");
    apply();
    assert_eq!(std::fs::read_to_string(&zed).expect("read"), jsonc);
    let out = run(&["down"]);
    assert!(out.status.success(), "{}", describe(&out));
}

#[test]
fn man_pages_are_written_for_every_command_and_read_by_man() {
    let p = Project::new("");
    let out = p.ok(&["man"]);
    let top = text(&out.stdout);
    assert!(top.contains(".TH facerunner 1"), "{top}");
    assert!(top.contains("verify"), "{top}");
    let dir = p.dir.path().join("man");
    let out = p.ok(&["man", "-o", &dir.display().to_string()]);
    assert!(
        text(&out.stderr).contains("man pages"),
        "{}",
        describe(&out)
    );
    for page in [
        "facerunner.1",
        "facerunner-init.1",
        "facerunner-integrations-show.1",
    ] {
        let path = dir.join(page);
        let body = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(body.contains(".TH "), "{page}: {body}");
        assert_eq!(mode(&path), 0o600);
    }
    // `man -l` renders it when man is installed.
    if let Ok(o) = std::process::Command::new("man")
        .args(["-l", &dir.join("facerunner-verify.1").display().to_string()])
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .output()
    {
        assert!(o.status.success(), "{}", describe(&o));
        assert!(text(&o.stdout).contains("deep"), "{}", describe(&o));
    }
}

#[test]
fn behind_a_gateway_continue_uses_it_and_verify_checks_its_merged_list() {
    let p = Project::new("");
    let dir = p.dir.path().join("p");
    let env = vec![("HOME", p.dir.path().join("userhome").display().to_string())];
    let (port, gw) = (free_port(), free_port());
    project_yaml(
        &p,
        port,
        "  - ollama: smollm:135m\n",
        "integrations:\n  continue: {}\n",
    );
    // The gateway goes in front (services come before `models:`).
    let yaml = std::fs::read_to_string(dir.join("facerunner.yaml")).expect("read");
    let yaml = yaml.replace(
        "models:\n",
        &format!("  gw:\n    kind: gateway\n    port: {gw}\n    depends_on: [ollama]\nmodels:\n"),
    );
    std::fs::write(dir.join("facerunner.yaml"), yaml).expect("write");
    let out = run_env(&p, &dir, &env, &["apply", "--yes", "--color", "never"]);
    assert!(out.status.success(), "{}", describe(&out));
    let block =
        std::fs::read_to_string(dir.join(".continue/models/facerunner.yaml")).expect("written");
    assert!(
        block.contains(&format!("apiBase: \"http://127.0.0.1:{gw}\"")),
        "{block}"
    );
    // The gateway polls its backends' lists (every 2 s): the model pulled
    // just now shows in its merged list at its next poll.
    let out = crate::support::wait_until(
        "verify passes once the gateway lists the model",
        Duration::from_secs(30),
        || {
            let out = run_env(&p, &dir, &env, &["verify", "--json"]);
            out.status.success().then_some(out)
        },
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let gw_report = v["services"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["service"] == "gw"))
        .unwrap_or_else(|| panic!("gw verified: {v}"))
        .clone();
    assert_eq!(gw_report["ok"], true, "{v}");
    assert!(
        gw_report["checks"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["check"] == "models" && c["ok"] == true)),
        "{gw_report}"
    );
    let out = run_env(&p, &dir, &env, &["down"]);
    assert!(out.status.success(), "{}", describe(&out));
}
