//! Dashboard benchmarks, each printed with a peer measured in the same run
//! (so numbers from different machines compare):
//!
//! - **overview**: a project of 50 services plus a dashboard; time to first
//!   byte of `/` and the full load of the overview (the page, its script and
//!   style, `/api/v1/status` and `/api/v1/gpus`, as the browser fetches
//!   them), against `facerunner status --json` — the same data through the
//!   CLI;
//! - **event latency**: from starting `facerunner stop svc1` to the
//!   `service` event on `/api/v1/events` that says it stopped, against the
//!   time the CLI itself takes to return;
//! - **memory**: the daemon's RSS plus the dashboard process's, against the
//!   daemon's RSS for the same project without a dashboard.
//!
//! `cargo bench --bench dashboard_bench` (`DASHBOARD_BENCH_SERVICES=N`
//! changes the 50). Every process carries the project's unique name on its
//! command line; whatever is left at the end is killed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

#[path = "../tests/it/support/procs.rs"]
mod procs;
use procs::processes_with;

const REPS: usize = 20;

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_facerunner"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

struct Project {
    dir: tempfile::TempDir,
    name: String,
}

impl Project {
    fn new(tag: &str, services: usize, dashboard: Option<u16>) -> Project {
        let dir = tempfile::tempdir().expect("tempdir");
        let name = format!("frdb{}{tag}z", std::process::id());
        std::fs::create_dir_all(dir.path().join("p")).expect("mkdir");
        let mut y = format!("version: 1\nname: {name}\nservices:\n");
        if let Some(port) = dashboard {
            y.push_str(&format!("  ui:\n    kind: dashboard\n    port: {port}\n"));
        }
        for i in 0..services {
            y.push_str(&format!(
                "  svc{i}:\n    command: [python3, -c, \"import time; time.sleep(3600)\", \"{name}\"]\n"
            ));
        }
        std::fs::write(dir.path().join("p/facerunner.yaml"), y).expect("write");
        Project { dir, name }
    }

    fn cmd(&self, args: &[&str]) -> std::process::Output {
        let out = Command::new(bin())
            .args(args)
            .current_dir(self.dir.path().join("p"))
            .env("FACERUNNER_HOME", self.dir.path().join("home"))
            .env("NO_COLOR", "1")
            .env_remove("FACERUNNER_FILE")
            .output()
            .expect("run facerunner");
        assert!(
            out.status.success(),
            "facerunner {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn status(&self) -> serde_json::Value {
        serde_json::from_slice(&self.cmd(&["status", "--json"]).stdout).expect("json")
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = Command::new(bin())
            .arg("down")
            .current_dir(self.dir.path().join("p"))
            .env("FACERUNNER_HOME", self.dir.path().join("home"))
            .output();
        for (pid, _) in processes_with(&self.name) {
            if let Some(p) = rustix::process::Pid::from_raw(pid as i32) {
                let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
            }
        }
    }
}

fn rss_kib(pid: u64) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// GET `path`; (time to the first byte, time to the whole body).
fn get(port: u16, path: &str, token: &str) -> (Duration, Duration) {
    let t = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut first = [0u8; 1];
    s.read_exact(&mut first).expect("first byte");
    let ttfb = t.elapsed();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).expect("body");
    assert!(
        first[0] == b'H' && String::from_utf8_lossy(&rest).starts_with("TTP/1.1 200"),
        "GET {path} failed"
    );
    (ttfb, t.elapsed())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let n: usize = std::env::var("DASHBOARD_BENCH_SERVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let port = free_port();
    let p = Project::new("on", n, Some(port));
    p.cmd(&["up"]);
    let link = String::from_utf8_lossy(&p.cmd(&["dashboard"]).stdout).into_owned();
    let token = link
        .trim()
        .split("token=")
        .nth(1)
        .expect("login link")
        .to_string();

    // Overview: TTFB and full load, against `status --json`.
    let page = ["/", "/app.js", "/app.css", "/api/v1/status", "/api/v1/gpus"];
    let (mut ttfb, mut full, mut cli) = (vec![], vec![], vec![]);
    for _ in 0..REPS {
        ttfb.push(get(port, "/", &token).0);
        let t = Instant::now();
        for path in page {
            get(port, path, &token);
        }
        full.push(t.elapsed());
        let t = Instant::now();
        p.cmd(&["status", "--json"]);
        cli.push(t.elapsed());
    }
    let (ttfb, full, cli) = (median(ttfb), median(full), median(cli));
    println!("overview with {n} services (median of {REPS}):");
    println!("  TTFB of /               {}", ms(ttfb));
    println!(
        "  full load (5 requests)  {}   vs `status --json` {}   ratio {:.2}",
        ms(full),
        ms(cli),
        full.as_secs_f64() / cli.as_secs_f64()
    );

    // Event latency: a stop from the CLI to its SSE event.
    let mut lat = vec![];
    let mut cli = vec![];
    for i in 0..5 {
        let svc = format!("svc{i}");
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        write!(
            s,
            "GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\r\n"
        )
        .expect("send");
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut r = BufReader::new(s);
        // Wait for the stream's first snapshot of this service.
        let mut line = String::new();
        while !(line.starts_with("data:") && line.contains(&format!("\"name\":\"{svc}\""))) {
            line.clear();
            r.read_line(&mut line).expect("read");
        }
        let t = Instant::now();
        p.cmd(&["stop", &svc]);
        cli.push(t.elapsed());
        loop {
            line.clear();
            r.read_line(&mut line).expect("read");
            if line.starts_with("data:")
                && line.contains("\"type\":\"service\"")
                && line.contains(&format!("\"name\":\"{svc}\""))
                && line.contains("\"state\":\"stopped\"")
            {
                break;
            }
        }
        lat.push(t.elapsed());
    }
    let (lat, cli) = (median(lat), median(cli));
    println!(
        "event latency (stop → SSE event, median of 5): {}   vs the CLI's own stop {}   ratio {:.2}",
        ms(lat),
        ms(cli),
        lat.as_secs_f64() / cli.as_secs_f64()
    );

    // Memory: daemon + dashboard, against the daemon without a dashboard.
    let st = p.status();
    let daemon = st["daemon_pid"].as_u64().expect("daemon pid");
    let ui = st["services"]
        .as_array()
        .expect("services")
        .iter()
        .find(|s| s["name"] == "ui")
        .and_then(|s| s["state"]["pid"].as_u64())
        .expect("dashboard pid");
    let on = rss_kib(daemon) + rss_kib(ui);
    drop(p);
    let q = Project::new("off", n, None);
    q.cmd(&["up"]);
    let off = rss_kib(q.status()["daemon_pid"].as_u64().expect("daemon pid"));
    println!(
        "RSS: daemon + dashboard {on} KiB   vs daemon alone {off} KiB   ratio {:.2}",
        on as f64 / off as f64
    );
}
