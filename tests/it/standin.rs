//! The Ollama stand-in's own tests (`tests/support/ollama_standin_test.py`),
//! run by `cargo test` so the stand-in every other test relies on is itself
//! checked against `shared/reference/ollama-api.md` on every run.

use std::path::Path;
use std::time::Duration;

#[test]
fn the_ollama_standin_passes_its_own_tests() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/ollama_standin_test.py");
    let out = assert_cmd::Command::new("python3")
        .arg(&script)
        .timeout(Duration::from_secs(300))
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "the stand-in's self-test failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
