//! `validate`, `schema`, `config`, `convert`, `completions`: the project
//! file from a user's side, through the real binary.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fr(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_facerunner"));
    c.current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("FACERUNNER_FILE")
        .env("FACERUNNER_HOME", dir.join(".fr-home"));
    c
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn validate_json(file: &Path) -> (i32, Value) {
    let out = fr(file.parent().unwrap())
        .arg("-f")
        .arg(file)
        .args(["validate", "--json"])
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), json(&out))
}

#[test]
fn schema_file_is_what_the_binary_prints() {
    let out = fr(&repo()).arg("schema").output().unwrap();
    assert!(out.status.success());
    let checked_in = std::fs::read_to_string(repo().join("schema/facerunner.schema.json")).unwrap();
    assert!(
        checked_in == String::from_utf8_lossy(&out.stdout),
        "schema/facerunner.schema.json is stale: run `cargo run -- schema > schema/facerunner.schema.json`"
    );
}

fn example_files() -> Vec<PathBuf> {
    let mut files = vec![repo().join("facerunner.example.yaml")];
    for entry in walk(&repo().join("examples")) {
        if entry.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            files.push(entry);
        }
    }
    files
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p)
        }
    }
    out
}

#[test]
fn every_example_has_the_modeline_validates_and_matches_the_schema() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("schema/facerunner.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema");
    let files = example_files();
    assert!(files.len() >= 3, "{files:?}");
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let first = text.lines().next().unwrap_or("");
        assert!(
            first.starts_with("# yaml-language-server: $schema="),
            "{} lacks the modeline",
            f.display()
        );
        let schema_ref = first.split("$schema=").nth(1).unwrap().trim();
        assert!(
            f.parent().unwrap().join(schema_ref).is_file(),
            "{}: modeline points at {schema_ref}, which does not exist",
            f.display()
        );
        let (code, report) = validate_json(&f);
        assert_eq!(code, 0, "{}: {report:#}", f.display());
        // An independent check: another YAML parser and another schema validator.
        let doc: Value = serde_saphyr::from_str(&text).unwrap();
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", f.display());
    }
}

#[test]
fn validate_points_at_each_mistake() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "facerunner.yaml",
        "version: 1\nservices:\n  web:\n    command: [sleep, \"1\"]\n    depend_on: [db]\n    port: 99999\n  db:\n    command: [sleep, \"1\"]\n    restart: on-failur\n",
    );
    let (code, r) = validate_json(&f);
    assert_eq!(code, 1);
    assert_eq!(r["valid"], false);
    assert_eq!(r["error_count"], 3, "{r:#}");
    let at = |i: usize| {
        (
            r["diagnostics"][i]["range"]["start"]["line"]
                .as_u64()
                .unwrap(),
            r["diagnostics"][i]["range"]["start"]["column"]
                .as_u64()
                .unwrap(),
        )
    };
    let mut found: Vec<(u64, u64, String)> = (0..3)
        .map(|i| {
            (
                at(i).0,
                at(i).1,
                r["diagnostics"][i]["summary"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    found.sort();
    assert_eq!((found[0].0, found[0].1), (5, 5), "{found:?}");
    assert!(found[0].2.contains("unknown key `depend_on`"));
    assert_eq!((found[1].0, found[1].1), (6, 11));
    assert_eq!((found[2].0, found[2].1), (9, 14));
    assert!(r["diagnostics"].as_array().unwrap().iter().any(|d| {
        d["detail"]
            .as_str()
            .unwrap_or("")
            .contains("did you mean `depends_on`")
    }));

    // The human form: file:line:col, the line, a caret, a help line.
    let out = fr(dir.path()).arg("validate").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("facerunner.yaml:5:5"), "{err}");
    assert!(
        err.contains("depend_on: [db]")
            && err.contains('^')
            && err.contains("help: did you mean `depends_on`?"),
        "{err}"
    );
}

#[test]
fn validate_reports_schema_and_semantic_errors_together_each_once() {
    let dir = tempfile::tempdir().unwrap();
    // `a` has a schema error; `b` depends on `a` (which exists) and on a
    // service that does not; models[0] has a schema error, models[1] a bad
    // name, and models[2] names `a`.
    let f = write(
        dir.path(),
        "facerunner.yaml",
        "version: 1\nservices:\n  o: { kind: ollama }\n  a:\n    command: [sleep, \"1\"]\n    restart: sometimes\n  b:\n    command: [sleep, \"1\"]\n    depends_on: [a, nothere]\n    health: { tcp: 9000 }\nmodels:\n  - ollama: llama3\n    servce: o\n  - ollama: \"bad name!\"\n  - ollama: qwen3\n    service: a\n",
    );
    let (code, r) = validate_json(&f);
    assert_eq!(code, 1);
    let mut found: Vec<(u64, u64, String)> = r["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["range"]["start"]["line"].as_u64().unwrap(),
                d["range"]["start"]["column"].as_u64().unwrap(),
                d["summary"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    found.sort();
    let expected: [(u64, u64, &str); 4] = [
        (
            6,
            14,
            "`sometimes` is not a valid value for `services.a.restart`",
        ),
        (
            9,
            21,
            "`depends_on` names `nothere`, which is not a service",
        ),
        (13, 5, "unknown key `servce` in `models[0]`"),
        (14, 13, "invalid model name \"bad name!\""),
    ];
    assert_eq!(found.len(), expected.len(), "{found:#?}");
    for ((line, col, summary), (l, c, s)) in found.iter().zip(expected) {
        assert_eq!((*line, *col), (l, c), "{summary}: {found:#?}");
        assert!(summary.contains(s), "{summary} lacks {s}: {found:#?}");
    }
    assert_eq!(r["error_count"], 4, "{r:#}");
    // The list of services to choose from has `a` too.
    assert!(
        r.to_string()
            .contains("services in this file: `a`, `b`, `o`"),
        "{r:#}"
    );
}

#[test]
fn warnings_do_not_fail_validation() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "facerunner.yaml",
        "version: 1\nservices:\n  lonely:\n    command: [sleep, \"1\"]\n",
    );
    let (code, r) = validate_json(&f);
    assert_eq!(code, 0);
    assert_eq!(r["warning_count"], 1, "{r:#}");
    assert_eq!(r["diagnostics"][0]["severity"], "warning");
}

#[test]
fn every_bad_file_gets_a_located_readable_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<PathBuf> = walk(&repo().join("tests/corpus/bad"));
    files.sort();
    // Generated: too big, a directory, 10,000 services, an alias bomb, deep nesting.
    let big = dir.path().join("big.yaml");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(50 << 20).unwrap();
    files.push(big);
    let d = dir.path().join("a-directory.yaml");
    std::fs::create_dir(&d).unwrap();
    files.push(d);
    let mut many = String::from("version: 1\nservices:\n");
    for i in 0..10_000 {
        many.push_str(&format!(
            "  s{i}: {{ command: [sleep, \"1\"], port: {} }}\n",
            1000 + i % 5000
        ));
    }
    files.push(write(dir.path(), "many.yaml", &many));
    let mut bomb = String::from("version: 1\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        bomb.push_str(&format!(
            "a{i}: &a{i} [{}]\n",
            vec![format!("*a{}", i - 1); 10].join(", ")
        ));
    }
    files.push(write(dir.path(), "bomb.yaml", &bomb));
    files.push(write(
        dir.path(),
        "deep.yaml",
        &format!("version: 1\nx: {}{}\n", "[".repeat(500), "]".repeat(500)),
    ));
    for f in &files {
        let out = fr(dir.path())
            .arg("-f")
            .arg(f)
            .args(["validate", "--json"])
            .output()
            .unwrap();
        let name = f.file_name().unwrap().to_string_lossy();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r = json(&out);
        assert_eq!(r["valid"], false, "{name}");
        let diags = r["diagnostics"].as_array().unwrap();
        assert!(!diags.is_empty(), "{name}");
        for d in diags {
            assert!(
                d["range"]["start"]["line"].as_u64().unwrap() >= 1,
                "{name}: {d}"
            );
            assert!(!d["summary"].as_str().unwrap().is_empty());
            assert!(d["detail"].is_string(), "{name}: no help: {d}");
        }
        // And the human form never panics.
        let out = fr(dir.path())
            .arg("-f")
            .arg(f)
            .arg("validate")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("panicked"),
            "{name}"
        );
    }
}

#[test]
fn wrong_types_are_all_reported_at_once() {
    let (_, r) = validate_json(&repo().join("tests/corpus/bad/wrong-types.yaml"));
    assert!(r["error_count"].as_u64().unwrap() >= 12, "{r:#}");
}

#[test]
fn semantic_errors_name_what_would_work() {
    let (_, r) = validate_json(&repo().join("tests/corpus/bad/bad-references.yaml"));
    let text = r.to_string();
    for needle in [
        "did you mean `ollama`",
        "forms a cycle",
        "not an ollama service",
        "invalid model name",
        "speech",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in {r:#}");
    }
}

#[test]
fn interpolation_uses_env_then_dotenv_and_reports_required_variables() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), ".env", "PORT_A=7001\nPORT_B=7002\n");
    write(
        dir.path(),
        "facerunner.yaml",
        "version: 1\nservices:\n  a:\n    command: [sleep, \"1\"]\n    port: ${PORT_A}\n    env: { B: \"${PORT_B:-1}\", LIT: \"$${NOT}\" }\n",
    );
    let out = fr(dir.path())
        .env("PORT_B", "7777")
        .args(["config", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c = json(&out);
    assert_eq!(c["services"]["a"]["port"], 7001);
    assert_eq!(
        c["services"]["a"]["env"]["B"], "7777",
        "the environment wins over .env"
    );
    assert_eq!(c["services"]["a"]["env"]["LIT"], "${NOT}");
    let (code, r) = validate_json(&repo().join("tests/corpus/bad/required-var.yaml"));
    assert_eq!(code, 1);
    assert!(
        r["diagnostics"][0]["summary"]
            .as_str()
            .unwrap()
            .contains("set it to the sleep time"),
        "{r:#}"
    );
    assert_eq!(r["diagnostics"][0]["range"]["start"]["line"], 4);
}

fn hashes(dir: &Path) -> Value {
    let out = fr(dir)
        .args(["config", "--hash", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json(&out)
}

#[test]
fn spec_hash_ignores_formatting_and_defaults_but_sees_env_files() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "w.env", "A=1\n");
    write(
        dir.path(),
        "facerunner.yaml",
        "version: 1\nservices:\n  w:\n    command: [sleep, \"9\"]\n    env_file: w.env\n    env: {X: \"1\", Y: \"2\"}\n",
    );
    let h1 = hashes(dir.path());
    write(
        dir.path(),
        "facerunner.yaml",
        "# reordered, reformatted, defaults spelled out\nservices:\n  w:\n    env:\n      Y: '2'\n      X: '1'\n    env_file: w.env\n    restart: on-failure\n    kind: process\n    stop: { signal: TERM, timeout: 10s }\n    command:\n      - sleep\n      - \"9\"\nversion: 1\n",
    );
    assert_eq!(h1, hashes(dir.path()));
    write(dir.path(), "w.env", "A=2\n");
    assert_ne!(h1["w"], hashes(dir.path())["w"]);
}

#[test]
fn the_file_is_found_in_parents_or_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "facerunner.yml",
        "version: 1\nname: found\nservices: {}\n",
    );
    let sub = dir.path().join("a/b");
    std::fs::create_dir_all(&sub).unwrap();
    let out = fr(&sub)
        .args(["config", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(json(&out)["name"], "found");
    let other = write(
        dir.path(),
        "other.yaml",
        "version: 1\nname: other\nservices: {}\n",
    );
    let out = fr(&sub)
        .env("FACERUNNER_FILE", &other)
        .args(["config", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(json(&out)["name"], "other");
    let empty = tempfile::tempdir().unwrap();
    let out = fr(empty.path()).arg("validate").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no facerunner.yaml"));
}

#[test]
fn convert_says_what_and_why() {
    let out = fr(&repo())
        .args(["convert", "meta-llama/Llama-3.1-8B-Instruct", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let r = json(&out);
    assert_eq!(r[0]["ollama"], "llama3.1:8b");
    assert!(r[0]["reason"].as_str().unwrap().contains("Llama 3.1"));
    let out = fr(&repo())
        .args([
            "convert",
            "https://huggingface.co/bartowski/Llama-3.2-1B-Instruct-GGUF",
            "stabilityai/stable-diffusion-xl-base-1.0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "one name cannot be converted");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M"),
        "{text}"
    );
    assert!(
        text.contains("cannot convert") && text.contains("help:"),
        "{text}"
    );
}

#[test]
fn completions_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = fr(&repo()).args(["completions", shell]).output().unwrap();
        assert!(out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("validate"),
            "{shell}"
        );
    }
}

#[test]
fn no_colour_when_not_a_terminal_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "facerunner.yaml",
        "version: 1\nservices: { a: { comand: [x] } }\n",
    );
    let plain = fr(dir.path())
        .env_remove("NO_COLOR")
        .arg("validate")
        .output()
        .unwrap();
    assert!(
        !plain.stderr.contains(&0x1b),
        "escape codes without a terminal"
    );
    let forced = fr(dir.path())
        .args(["--color", "always", "validate"])
        .output()
        .unwrap();
    assert!(forced.stderr.contains(&0x1b), "--color always colours");
}

/// #9 item 9: an error past column 65535 (a minified one-line file) used to
/// panic inside the renderer; it is shown as a window of the line, located.
#[test]
fn an_error_at_a_far_column_is_clipped_and_located() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("{version: 1, services: {");
    let mut i = 0;
    while text.len() < 72_000 {
        text.push_str(&format!(
            "s{i}: {{command: [x{i}], health: {{disable: true}}}}, "
        ));
        i += 1;
    }
    text.push_str("bad: {command: [x], prot: 1}}}\n");
    let column = text.find("prot").unwrap() + 1;
    assert!(column > 65_535);
    let file = write(dir.path(), "facerunner.yaml", &text);
    let out = fr(dir.path())
        .arg("-f")
        .arg(&file)
        .arg("validate")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("unknown key `prot`"), "{stderr}");
    assert!(
        stderr.contains(&format!("facerunner.yaml:1:{column}]")),
        "{stderr}"
    );
    assert!(stderr.contains("prot: 1}}}"), "the line is shown: {stderr}");
    // Clipped: no rendered line holds more than a window of the source.
    let longest = stderr.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    assert!(longest < 400, "a line of {longest} characters: {stderr}");
}

/// #9 item 10: the human output shows the first errors and says how many
/// more there are (the JSON output lists all).
#[test]
fn many_errors_are_capped_in_the_human_output() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("version: 1\nservices:\n");
    let n = 3000;
    for i in 0..n {
        text.push_str(&format!(
            "  s{i}:\n    command: [x]\n    health: {{disable: true}}\n    prot: 1\n"
        ));
    }
    let file = write(dir.path(), "facerunner.yaml", &text);
    let out = fr(dir.path())
        .arg("-f")
        .arg(&file)
        .arg("validate")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    let shown = stderr.matches("unknown key `prot`").count();
    assert_eq!(shown, 50, "{stderr}");
    let more = format!(
        "… and {} more (`facerunner validate --json` shows all)",
        n - 50
    );
    assert_eq!(stderr.matches(&more).count(), 1, "{stderr}");
    let (code, report) = validate_json(&file);
    assert_eq!(code, 1);
    assert_eq!(report["error_count"], n);
    assert_eq!(report["diagnostics"].as_array().unwrap().len(), n);
}

/// #9 item 19: a port written as text, as interpolation produces it.
#[test]
fn a_tcp_probe_port_may_be_a_string() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "facerunner.yaml",
        "version: 1\nservices:\n  a:\n    command: [x]\n    health: { tcp: \"11631\" }\n  b:\n    command: [x]\n    health: { tcp: \"${PORT:-11632}\" }\n",
    );
    let (code, report) = validate_json(&file);
    assert_eq!(code, 0, "{report:#}");
    let out = fr(dir.path())
        .arg("-f")
        .arg(&file)
        .args(["config", "--format", "json"])
        .output()
        .unwrap();
    let cfg = json(&out);
    assert_eq!(cfg["services"]["a"]["health"]["tcp"], 11631);
    assert_eq!(cfg["services"]["b"]["health"]["tcp"], 11632);
}

/// #9 item 21: the "no health check" warning is one line and says how to
/// turn it off.
#[test]
fn the_no_health_check_warning_is_one_line_with_the_way_out() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "facerunner.yaml",
        "version: 1\nservices:\n  a:\n    command: [x]\n",
    );
    let out = fr(dir.path())
        .arg("-f")
        .arg(&file)
        .arg("validate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains("facerunner.yaml:3:3: warning: service `a` has no health check"),
        "{stderr}"
    );
    assert!(lines[0].contains("health: { disable: true }"), "{stderr}");
}

/// #9 item 11: every number has a sane range, and a value outside it is a
/// located error (`log.keep: 20000000` used to block the daemon).
#[test]
fn numbers_out_of_range_are_located_errors() {
    let dir = tempfile::tempdir().unwrap();
    let text = "version: 1
gpus:
  big: { index: 999 }
services:
  a:
    command: [x]
    health: { tcp: 9000, retries: 0 }
    restart: { policy: always, max_retries: 1000000000 }
    log: { keep: 20000000 }
";
    let file = write(dir.path(), "facerunner.yaml", text);
    let (code, report) = validate_json(&file);
    assert_eq!(code, 1, "{report:#}");
    let diags = report["diagnostics"].as_array().unwrap();
    let mut lines: Vec<(u64, String)> = diags
        .iter()
        .filter(|d| d["summary"].as_str().unwrap().contains("out of range"))
        .map(|d| {
            (
                d["range"]["start"]["line"].as_u64().unwrap(),
                d["summary"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    lines.sort();
    let at: Vec<u64> = lines.iter().map(|l| l.0).collect();
    assert_eq!(at, [3, 7, 8, 9], "{report:#}");
    assert!(lines[3].1.contains("`services.a.log.keep`"), "{lines:?}");
    assert_eq!(report["error_count"], 4, "{report:#}");
}

/// #9 item 18: a service that depends on itself is reported once.
#[test]
fn a_self_dependency_is_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "facerunner.yaml",
        "version: 1\nservices:\n  a:\n    command: [x]\n    health: { disable: true }\n    depends_on: [a]\n",
    );
    let (code, report) = validate_json(&file);
    assert_eq!(code, 1);
    assert_eq!(report["error_count"], 1, "{report:#}");
    assert!(
        report["diagnostics"][0]["summary"]
            .as_str()
            .unwrap()
            .contains("depends on itself"),
        "{report:#}"
    );
}

/// #9 item 22: listening on every interface is worth one line of warning.
#[test]
fn an_open_bind_address_is_a_one_line_warning_with_the_hint() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "facerunner.yaml",
        "version: 1\nsettings:\n  bind: \"::\"\nservices:\n  a:\n    command: [x]\n    port: 9100\n    bind: 0.0.0.0\n    health: { tcp: 9100 }\n  b:\n    command: [x]\n    port: 9101\n    health: { tcp: 9101 }\n  c:\n    command: [x]\n    port: 9102\n    bind: 127.0.0.1\n    health: { tcp: 9102 }\n",
    );
    let out = fr(dir.path())
        .arg("-f")
        .arg(&file)
        .arg("validate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines.iter().any(|l| l
            .contains("warning: service `a` listens on 0.0.0.0: it is reachable from the network")
            && l.contains("use 127.0.0.1")),
        "{stderr}"
    );
    assert!(
        lines.iter().any(|l| l
            .contains("warning: settings.bind is ::: `b` is reachable from the network")
            && l.contains("use 127.0.0.1")),
        "{stderr}"
    );
    assert!(!stderr.contains("`c`"), "{stderr}");
}
