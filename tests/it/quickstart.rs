//! The README's quick start, as written: the shipped demo comes up with
//! `-f examples/demo/facerunner.yaml up`, shows in `status`, and `down`
//! stops it. (Its ports are fixed, 11500 and 11501, as the README shows.)

use std::path::Path;
use std::time::Duration;

use crate::support::{describe, text};

fn fr(home: &Path, args: &[&str]) -> std::process::Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert_cmd::Command::new(env!("CARGO_BIN_EXE_facerunner"))
        .args(args)
        .current_dir(root)
        .env("FACERUNNER_HOME", home)
        .env("NO_COLOR", "1")
        .env_remove("FACERUNNER_FILE")
        .timeout(Duration::from_secs(120))
        .output()
        .expect("run facerunner")
}

#[test]
fn the_readme_demo_comes_up_shows_in_status_and_goes_down() {
    for port in [11500, 11501] {
        assert!(
            std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
            "port {port} is taken: the demo (examples/demo/facerunner.yaml) uses it; stop what holds it"
        );
    }
    let home = tempfile::tempdir().expect("tempdir");
    let file = ["-f", "examples/demo/facerunner.yaml"];
    let up = fr(home.path(), &[&file[..], &["up"]].concat());
    let status = fr(home.path(), &[&file[..], &["status", "--json"]].concat());
    let down = fr(home.path(), &[&file[..], &["down"]].concat());
    assert!(up.status.success(), "up: {}", describe(&up));
    assert!(status.status.success(), "status: {}", describe(&status));
    let report: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status json");
    for name in ["ollama", "worker"] {
        let svc = report["services"]
            .as_array()
            .and_then(|a| a.iter().find(|v| v["name"] == name))
            .unwrap_or_else(|| panic!("{name} in {report}"));
        assert!(svc["state"]["pid"].as_u64().is_some(), "{name} runs: {svc}");
    }
    assert!(down.status.success(), "down: {}", describe(&down));
    assert!(!text(&up.stderr).contains("error"), "{}", text(&up.stderr));
}
