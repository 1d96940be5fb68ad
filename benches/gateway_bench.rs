//! The gateway's cost: the Ollama stand-in's `/api/tags` and streaming
//! `/api/chat`, straight to the stand-in, through `facerunner gateway`, and
//! through nginx (`proxy_buffering off`) when `nginx` is on `PATH`, in the
//! same run: latency p50/p99 (for the chat stream: to its last byte) at 1
//! and 64 concurrent clients, the latency the proxy adds over the direct
//! connection, and throughput as a ratio to direct. Nothing is asserted:
//! the numbers are printed for the README.
//!
//! The gateway answers `/api/tags` from its own poll (merged over its
//! backends), so that row measures the merged list against the stand-in,
//! not a pass-through; the chat stream is the pass-through comparison.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Kills its process when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_for(http: &reqwest::Client, url: &str, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(url).send().await
            && let Ok(t) = r.text().await
            && t.contains(needle)
        {
            return;
        }
        assert!(Instant::now() < deadline, "{url} never answered {needle}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[derive(Clone, Copy)]
enum Work {
    Tags,
    Chat,
}

impl Work {
    fn name(self) -> &'static str {
        match self {
            Work::Tags => "GET /api/tags",
            Work::Chat => "POST /api/chat (stream)",
        }
    }
}

async fn one(http: &reqwest::Client, base: &str, work: Work) -> Duration {
    let t = Instant::now();
    let r = match work {
        Work::Tags => http.get(format!("{base}/api/tags")).send().await,
        Work::Chat => {
            http.post(format!("{base}/api/chat"))
                .body(r#"{"model":"m:1b","messages":[{"role":"user","content":"hi"}]}"#)
                .send()
                .await
        }
    }
    .expect("request");
    assert!(r.status().is_success(), "{base}: HTTP {}", r.status());
    let _ = r.bytes().await.expect("body");
    t.elapsed()
}

struct Run {
    p50: Duration,
    p99: Duration,
    per_s: f64,
}

async fn run(http: &reqwest::Client, base: &str, work: Work, clients: usize, each: usize) -> Run {
    // Warm the connections.
    for _ in 0..clients.min(8) {
        one(http, base, work).await;
    }
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (http, base) = (http.clone(), base.to_string());
            tokio::spawn(async move {
                let mut v = Vec::with_capacity(each);
                for _ in 0..each {
                    v.push(one(&http, &base, work).await);
                }
                v
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("client"));
    }
    let wall = start.elapsed();
    all.sort();
    let pick = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    Run {
        p50: pick(0.50),
        p99: pick(0.99),
        per_s: all.len() as f64 / wall.as_secs_f64(),
    }
}

fn nginx(dir: &Path, upstream: u16) -> Option<(Proc, u16)> {
    let bin = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("nginx"))
            .find(|f| f.is_file())
    })?;
    let port = free_port();
    let conf = dir.join("nginx.conf");
    std::fs::create_dir_all(dir.join("logs")).ok()?;
    std::fs::write(
        &conf,
        format!(
            "worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/logs/error.log;\nevents {{ worker_connections 1024; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {d};\n  proxy_temp_path {d};\n  upstream ollama {{ server 127.0.0.1:{upstream}; keepalive 128; }}\n  server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      proxy_pass http://ollama;\n      proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n      proxy_set_header Host $http_host;\n      proxy_buffering off;\n    }}\n  }}\n}}\n",
            d = dir.display()
        ),
    )
    .ok()?;
    let child = Command::new(bin)
        .args([
            "-p",
            &dir.display().to_string(),
            "-c",
            &conf.display().to_string(),
        ])
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    Some((Proc(child), port))
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let standin = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/ollama_standin.py");
    let sport = free_port();
    let _standin = Proc(
        Command::new(&standin)
            .arg("serve")
            .env("OLLAMA_HOST", format!("127.0.0.1:{sport}"))
            .env("OLLAMA_MODELS", dir.path().join("models"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the stand-in"),
    );
    let gport = free_port();
    let _gateway = Proc(
        Command::new(env!("CARGO_BIN_EXE_facerunner"))
            .args(["gateway", "--port", &gport.to_string(), "--backend"])
            .arg(format!("s=http://127.0.0.1:{sport}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the gateway"),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let direct = format!("http://127.0.0.1:{sport}");
    let gateway = format!("http://127.0.0.1:{gport}");
    let nginx = nginx(&dir.path().join("nginx"), sport);
    rt.block_on(async {
        let http = facerunner::http::client_builder()
            .pool_max_idle_per_host(128)
            .build()
            .expect("client");
        wait_for(&http, &format!("{direct}/"), "Ollama is running").await;
        let r = http
            .post(format!("{direct}/api/pull"))
            .body(r#"{"model":"m:1b","stream":false}"#)
            .send()
            .await
            .expect("pull");
        assert!(r.status().is_success(), "pull: HTTP {}", r.status());
        wait_for(&http, &format!("{gateway}/api/tags"), "m:1b").await;
        let mut targets = vec![("direct", direct.clone()), ("gateway", gateway.clone())];
        match &nginx {
            Some((_, port)) => {
                let base = format!("http://127.0.0.1:{port}");
                wait_for(&http, &format!("{base}/"), "Ollama is running").await;
                targets.push(("nginx", base));
            }
            None => println!("nginx is not on PATH: the nginx column is left out"),
        }
        let http = Arc::new(http);
        println!(
            "{:<26} {:>7} {:<8} {:>9} {:>9} {:>10} {:>10} {:>9} {:>8}",
            "workload", "clients", "via", "p50", "p99", "+p50", "+p99", "req/s", "x direct"
        );
        for work in [Work::Tags, Work::Chat] {
            for (clients, each) in [(1usize, 300usize), (64, 20)] {
                let mut base: Option<Run> = None;
                for (name, url) in &targets {
                    let r = run(&http, url, work, clients, each).await;
                    let (dp50, dp99, ratio) = match &base {
                        Some(b) => (
                            format!(
                                "{:+.3}ms",
                                (r.p50.as_secs_f64() - b.p50.as_secs_f64()) * 1e3
                            ),
                            format!(
                                "{:+.3}ms",
                                (r.p99.as_secs_f64() - b.p99.as_secs_f64()) * 1e3
                            ),
                            format!("{:.2}", r.per_s / b.per_s),
                        ),
                        None => ("-".into(), "-".into(), "1.00".into()),
                    };
                    println!(
                        "{:<26} {:>7} {:<8} {:>7.3}ms {:>7.3}ms {:>10} {:>10} {:>9.0} {:>8}",
                        work.name(),
                        clients,
                        name,
                        r.p50.as_secs_f64() * 1e3,
                        r.p99.as_secs_f64() * 1e3,
                        dp50,
                        dp99,
                        r.per_s,
                        ratio
                    );
                    if base.is_none() {
                        base = Some(r);
                    }
                }
            }
        }
    });
}
