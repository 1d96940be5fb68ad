//! Watch mode latency: from a save to the start of the apply, and from a
//! save to the changed service being ready again, over 20 saves.
//!
//! Runs the release `facerunner watch --json` on a project of two Python
//! HTTP services; each save changes one service's env. The baseline printed
//! beside the figures is the configured debounce (300 ms): a save cannot
//! start applying before the burst it belongs to has been quiet that long,
//! so "save → apply start" minus the debounce is FaceRunner's own overhead.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

const SAVES: usize = 20;
const DEBOUNCE_MS: f64 = 300.0;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn project(level: usize, pa: u16, pb: u16) -> String {
    let svc = |name: &str, port: u16, env: String| {
        format!(
            "  {name}:\n    command: [python3, -m, http.server, \"{port}\", --bind, 127.0.0.1]\n    env: {{ {env} }}\n    health: {{ tcp: {port}, interval: 50ms }}\n    stop: {{ timeout: 2s }}\n"
        )
    };
    format!(
        "version: 1\nname: watchbench\nservices:\n{}{}",
        svc("a", pa, format!("LEVEL: \"{level}\"")),
        svc("b", pb, "X: \"1\"".into())
    )
}

fn stats(mut v: Vec<f64>) -> (f64, f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let p = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (p(0.5), v[0], p(0.9), v[v.len() - 1])
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("facerunner.yaml");
    let (pa, pb) = (free_port(), free_port());
    std::fs::write(&file, project(0, pa, pb)).expect("write");
    let home = dir.path().join("home");
    let bin = env!("CARGO_BIN_EXE_facerunner");
    let mut child = Command::new(bin)
        .args(["watch", "--json"])
        .current_dir(dir.path())
        .env("FACERUNNER_HOME", &home)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start facerunner watch");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            let _ = tx.send((
                Instant::now(),
                v["event"].as_str().unwrap_or_default().to_string(),
            ));
        }
    });
    let wait_for = |name: &str| -> Instant {
        loop {
            let (t, ev) = rx
                .recv_timeout(Duration::from_secs(60))
                .expect("watch answers");
            if ev == name {
                return t;
            }
        }
    };
    wait_for("summary");
    let (mut to_apply, mut to_ready) = (Vec::new(), Vec::new());
    for i in 1..=SAVES {
        let saved = Instant::now();
        std::fs::write(&file, project(i, pa, pb)).expect("save");
        let started = wait_for("changed");
        let ready = wait_for("summary");
        to_apply.push((started - saved).as_secs_f64() * 1e3);
        to_ready.push((ready - saved).as_secs_f64() * 1e3);
    }
    let _ = Command::new(bin)
        .arg("down")
        .current_dir(dir.path())
        .env("FACERUNNER_HOME", &home)
        .output();
    let _ = child.kill();
    let _ = child.wait();
    println!("watch, {SAVES} saves (debounce {DEBOUNCE_MS} ms = baseline)");
    for (what, v) in [
        ("save → apply starts", to_apply),
        ("save → changed service ready", to_ready),
    ] {
        let (median, min, p90, max) = stats(v);
        println!(
            "  {what:<30} median {median:>7.1} ms  min {min:>7.1}  p90 {p90:>7.1}  max {max:>7.1}   median/debounce {:>4.2}x   overhead {:>6.1} ms",
            median / DEBOUNCE_MS,
            median - DEBOUNCE_MS
        );
    }
}
