//! The gateway's cost: the Ollama stand-in's `/api/tags` and streaming
//! `/api/chat`, straight to the stand-in, through `facerunner gateway`, and
//! through nginx (`proxy_buffering off`) when `nginx` is on `PATH`, in the
//! same run: latency p50/p99 (for the chat stream: to its last byte) at 1
//! and 64 concurrent clients, the latency the proxy adds over the direct
//! connection, and throughput as a ratio to direct. Nothing is asserted:
//! the numbers are printed for the README.
//!
//! Two backends, each measured the same way: the Python stand-in (what the
//! tests use; about 0.6 ms an answer, its 8 lines written one by one), and a
//! minimal Rust backend (this bench re-run as a child process, answering at once) so the
//! proxies' own cost is not hidden behind the stand-in's. Each target is
//! measured [`ROUNDS`] times, interleaved, and the median round is kept, so
//! a burst of load elsewhere on the machine hits every target alike.
//!
//! Two environment variables help when working on the gateway:
//! `GATEWAY_BENCH_ALSO="LABEL=PROGRAM [ARG…];…"` adds a row per entry, a
//! gateway started as `PROGRAM gateway ARG… --port … --backend …` (another
//! build, or other flags such as `--threads 2`), measured in the same
//! interleaved rounds; `GATEWAY_BENCH_ONLY=rust` (or `python`) measures one
//! backend only.
//!
//! The gateway answers `/api/tags` from its own poll (merged over its
//! backends), so that row measures the merged list against the stand-in,
//! not a pass-through; the chat stream is the pass-through comparison.
//!
//! LiteLLM's proxy (`litellm[proxy]` from PyPI) is measured too when it is
//! installed: `GATEWAY_BENCH_LITELLM=/path/to/litellm`, or else
//! `~/.cache/facerunner-bench/litellm/bin/litellm` (a venv made with
//! `python3 -m venv ~/.cache/facerunner-bench/litellm &&
//! ~/.cache/facerunner-bench/litellm/bin/pip install 'litellm[proxy]'`;
//! measured with litellm 1.108.7 on Python 3.11). It has no route of its own
//! for Ollama's API (nothing in `litellm/proxy/pass_through_endpoints/`
//! names Ollama), so one LiteLLM per backend gives two rows:
//!
//! * `litellm`: its generic pass-through (`general_settings:
//!   pass_through_endpoints`) for `/api/tags` and `/api/chat`, the same
//!   requests as the other rows, Ollama's NDJSON streamed back as is;
//! * `litellm-oa`: the route its users call, `POST /v1/chat/completions`
//!   with `"stream": true` for a model configured as `ollama_chat/m:1b` on
//!   the backend; LiteLLM asks the backend's `/api/chat` and re-sends the
//!   NDJSON stream as OpenAI server-sent events (more work than a
//!   pass-through, and its row shows it). No tags row: its `/v1/models`
//!   lists its own configuration without asking the backend.
//!
//! It runs as one uvicorn process with no database and no master key
//! (LiteLLM refuses that unless told it is local development, which it is
//! here: 127.0.0.1), with its callbacks and telemetry off and every startup
//! download (cost map, blog posts, …) read from the package instead. Being
//! far slower (tens of ms of its CPU a request), its rows make fewer
//! requests in each round, the same for both backends: [`LITELLM_EACH`]
//! (100 at 1 client, 4 × 64 at 64); latencies and throughput are per
//! request, so the ratios stand.

use std::path::{Path, PathBuf};
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

/// The API a target speaks.
#[derive(Clone, Copy, PartialEq)]
enum Api {
    /// Ollama's own (`/api/tags`, `/api/chat`): direct, the gateway, nginx,
    /// LiteLLM's pass-through.
    Ollama,
    /// OpenAI's `/v1/chat/completions` (LiteLLM), which has no tags.
    OpenAi,
}

async fn one(http: &reqwest::Client, base: &str, work: Work, api: Api) -> Duration {
    let t = Instant::now();
    let r = match (work, api) {
        (Work::Tags, Api::Ollama) => http.get(format!("{base}/api/tags")).send().await,
        (Work::Chat, Api::Ollama) => {
            // The content type is what Ollama's clients send; LiteLLM's
            // pass-through reads the body as a form without it.
            http.post(format!("{base}/api/chat"))
                .header("content-type", "application/json")
                .body(r#"{"model":"m:1b","messages":[{"role":"user","content":"hi"}]}"#)
                .send()
                .await
        }
        (Work::Chat, Api::OpenAi) => {
            http.post(format!("{base}/v1/chat/completions"))
                .header("content-type", "application/json")
                .body(
                    r#"{"model":"m:1b","stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
                )
                .send()
                .await
        }
        (Work::Tags, Api::OpenAi) => unreachable!("OpenAI's API has no tags; no such target"),
    }
    .expect("request");
    assert!(r.status().is_success(), "{base}: HTTP {}", r.status());
    let body = r.bytes().await.expect("body");
    if api == Api::OpenAi {
        // LiteLLM answers 200 before it asks the backend: a failure shows in
        // the stream, which then lacks the backend's `done` (as
        // `finish_reason`) or the closing `[DONE]`.
        let text = String::from_utf8_lossy(&body);
        assert!(
            text.contains(r#""finish_reason":"stop""#) && text.trim_end().ends_with("data: [DONE]"),
            "{base}: the stream did not finish: {text}"
        );
    }
    t.elapsed()
}

struct Run {
    p50: Duration,
    p99: Duration,
    per_s: f64,
}

async fn run(
    http: &reqwest::Client,
    base: &str,
    api: Api,
    work: Work,
    clients: usize,
    each: usize,
) -> Run {
    // Warm the connections: every client's, and through a proxy every
    // backend connection it will use, opened at once as the run will need
    // them. (One client warming alone left the others to connect during the
    // run: the Python stand-in accepts one connection per turn of its GIL,
    // so a proxy that had kept no backend connections from an earlier row
    // paid for all of them in its p99.)
    let warm: Vec<_> = (0..clients)
        .map(|_| {
            let (http, base) = (http.clone(), base.to_string());
            tokio::spawn(async move { one(&http, &base, work, api).await })
        })
        .collect();
    for w in warm {
        w.await.expect("warm-up");
    }
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (http, base) = (http.clone(), base.to_string());
            tokio::spawn(async move {
                let mut v = Vec::with_capacity(each);
                for _ in 0..each {
                    v.push(one(&http, &base, work, api).await);
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
        // One process, the one that serves: with a master, killing the
        // master (as `Proc` does) left its worker running after the bench.
        .args(["-g", "daemon off; master_process off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    Some((Proc(child), port))
}

/// Requests per client per round for LiteLLM's rows, at 1 and at 64
/// clients (the others make 1500 and 40 with the Python backend, 10 000
/// and 300 with the Rust one): it answers some 30 to 60 requests a second, and
/// this keeps its rows to a minute or two of the run.
const LITELLM_EACH: (usize, usize) = (100, 4);

/// Where the default LiteLLM venv lives, and how to make it.
const LITELLM_VENV: &str = ".cache/facerunner-bench/litellm";
const LITELLM_INSTALL: &str = "python3 -m venv ~/.cache/facerunner-bench/litellm && ~/.cache/facerunner-bench/litellm/bin/pip install 'litellm[proxy]'";

/// LiteLLM's `litellm` program: `GATEWAY_BENCH_LITELLM`, or else the default
/// venv's; `None` when neither is a file.
fn litellm_program() -> Option<PathBuf> {
    let from_env = std::env::var_os("GATEWAY_BENCH_LITELLM").map(PathBuf::from);
    let default =
        std::env::var_os("HOME").map(|h| Path::new(&h).join(LITELLM_VENV).join("bin/litellm"));
    from_env.into_iter().chain(default).find(|p| p.is_file())
}

/// LiteLLM's proxy in front of the Ollama-API backend on `upstream` (the
/// model `m:1b` as `ollama_chat/m:1b`, and pass-throughs to `/api/tags` and
/// `/api/chat`), as one process on a free port, writing its output to
/// `log`. Its environment
/// turns off what would reach the internet or a database, and it runs in
/// `dir` (so no stray `.env` is read).
fn litellm(program: &Path, dir: &Path, upstream: u16) -> (Proc, String, PathBuf) {
    std::fs::create_dir_all(dir).expect("the LiteLLM directory");
    let port = free_port();
    let conf = dir.join("config.yaml");
    std::fs::write(
        &conf,
        format!(
            "model_list:\n  - model_name: \"m:1b\"\n    litellm_params:\n      model: \"ollama_chat/m:1b\"\n      api_base: \"http://127.0.0.1:{upstream}\"\nlitellm_settings:\n  callbacks: []\n  success_callback: []\n  failure_callback: []\ngeneral_settings:\n  pass_through_endpoints:\n    - path: \"/api/tags\"\n      target: \"http://127.0.0.1:{upstream}/api/tags\"\n    - path: \"/api/chat\"\n      target: \"http://127.0.0.1:{upstream}/api/chat\"\n"
        ),
    )
    .expect("write LiteLLM's config");
    let log = dir.join("litellm.log");
    let out = std::fs::File::create(&log).expect("create LiteLLM's log");
    let err = out.try_clone().expect("LiteLLM's log");
    let mut cmd = Command::new(program);
    cmd.arg("--config")
        .arg(&conf)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--num_workers", "1"])
        // Kept connections live 75 s, as nginx's do; at uvicorn's 5 s the
        // client reuses one LiteLLM is closing after a round of the others.
        .args(["--keepalive_timeout", "75"])
        .current_dir(dir)
        // No database, no master key: whatever the caller's environment says.
        .env_remove("DATABASE_URL")
        .env_remove("LITELLM_MASTER_KEY")
        .env(
            "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY",
            "true",
        )
        .env("LITELLM_MODE", "PRODUCTION")
        .env("LITELLM_TELEMETRY_DISABLED", "true")
        .env("HF_HUB_OFFLINE", "1");
    for what in [
        "MODEL_COST_MAP",
        "BLOG_POSTS",
        "ANTHROPIC_BETA_HEADERS",
        "AUTOROUTER_PRESETS",
        "POLICY_TEMPLATES",
    ] {
        cmd.env(format!("LITELLM_LOCAL_{what}"), "True");
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("start LiteLLM ({}): {e}", program.display()));
    (Proc(child), format!("http://127.0.0.1:{port}"), log)
}

/// The last lines of LiteLLM's log, for a panic message (the log itself
/// goes with the temporary directory when the bench ends).
fn log_tail(log: &Path) -> String {
    let text = std::fs::read(log).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Waits until LiteLLM answers its liveness probe (it takes seconds to
/// start); panics with the end of its log when it exits or takes over two
/// minutes.
async fn wait_for_litellm(http: &reqwest::Client, proc: &mut Proc, base: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(r) = http.get(format!("{base}/health/liveliness")).send().await
            && r.status().is_success()
        {
            return;
        }
        if let Ok(Some(status)) = proc.0.try_wait() {
            panic!(
                "LiteLLM exited ({status}) before it answered; the end of its log ({}):\n{}",
                log.display(),
                log_tail(log)
            );
        }
        assert!(
            Instant::now() < deadline,
            "LiteLLM did not answer {base}/health/liveliness within 120 s; the end of its log ({}):\n{}",
            log.display(),
            log_tail(log)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Rounds per target (interleaved); the median is printed.
const ROUNDS: usize = 5;

/// The environment variable that makes this binary the fast backend.
const FAST_BACKEND: &str = "GATEWAY_BENCH_FAST_BACKEND_PORT";

/// A minimal Ollama-shaped backend answering at once: `/`, `/api/tags`,
/// `/api/ps`, and `/api/chat` as 8 NDJSON chunks.
fn fast_backend(port: u16) {
    use axum::routing::{get, post};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let app = axum::Router::new()
            .route("/", get(|| async { "Ollama is running" }))
            .route(
                "/api/tags",
                get(|| async {
                    axum::Json(serde_json::json!({"models": [{"name": "m:1b", "model": "m:1b",
                        "size": 1, "digest": "0".repeat(64), "details": {}}]}))
                }),
            )
            .route(
                "/api/ps",
                get(|| async { axum::Json(serde_json::json!({"models": []})) }),
            )
            .route(
                "/api/chat",
                post(|| async {
                    let chunks = (0..8).map(|i| {
                        let done = i == 7;
                        Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(format!(
                            "{{\"model\":\"m:1b\",\"message\":{{\"role\":\"assistant\",\"content\":\"w{i} \"}},\"done\":{done}}}\n"
                        )))
                    });
                    (
                        [("content-type", "application/x-ndjson")],
                        axum::body::Body::from_stream(futures_util::stream::iter(chunks)),
                    )
                }),
            );
        let l = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind the fast backend");
        axum::serve(l, app).await.expect("serve");
    });
}

fn main() {
    if let Some(port) = std::env::var(FAST_BACKEND)
        .ok()
        .and_then(|p| p.parse().ok())
    {
        fast_backend(port);
        return;
    }
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
    let fport = free_port();
    let _fast = Proc(
        Command::new(std::env::current_exe().expect("this bench"))
            .env(FAST_BACKEND, fport.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the fast backend"),
    );
    let also: Vec<(String, String, Vec<String>)> = std::env::var("GATEWAY_BENCH_ALSO")
        .unwrap_or_default()
        .split(';')
        .filter_map(|e| {
            let (label, cmd) = e.trim().split_once('=')?;
            let mut words = cmd.split_whitespace().map(str::to_string);
            Some((label.to_string(), words.next()?, words.collect()))
        })
        .collect();
    let only = std::env::var("GATEWAY_BENCH_ONLY").ok();
    let gateway_with = |program: &str, extra: &[String], backend: u16| {
        let port = free_port();
        let p = Proc(
            Command::new(program)
                .arg("gateway")
                .args(extra)
                .args(["--port", &port.to_string(), "--backend"])
                .arg(format!("s=http://127.0.0.1:{backend}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start the gateway"),
        );
        (p, format!("http://127.0.0.1:{port}"))
    };
    let gateway_for = |backend: u16| gateway_with(env!("CARGO_BIN_EXE_facerunner"), &[], backend);
    let also_s: Vec<_> = also
        .iter()
        .map(|(l, p, a)| (l.clone(), gateway_with(p, a, sport)))
        .collect();
    let also_f: Vec<_> = also
        .iter()
        .map(|(l, p, a)| (l.clone(), gateway_with(p, a, fport)))
        .collect();
    let (_g1, gateway_s) = gateway_for(sport);
    let (_g2, gateway_f) = gateway_for(fport);
    let nginx_s = nginx(&dir.path().join("nginx-s"), sport);
    let nginx_f = nginx(&dir.path().join("nginx-f"), fport);
    let litellm_program = litellm_program();
    let mut litellm_s = litellm_program
        .as_deref()
        .map(|p| litellm(p, &dir.path().join("litellm-s"), sport));
    let mut litellm_f = litellm_program
        .as_deref()
        .map(|p| litellm(p, &dir.path().join("litellm-f"), fport));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let http = facerunner::http::client_builder()
            .pool_max_idle_per_host(128)
            .build()
            .expect("client");
        let direct_s = format!("http://127.0.0.1:{sport}");
        let direct_f = format!("http://127.0.0.1:{fport}");
        wait_for(&http, &format!("{direct_s}/"), "Ollama is running").await;
        wait_for(&http, &format!("{direct_f}/"), "Ollama is running").await;
        let r = http
            .post(format!("{direct_s}/api/pull"))
            .body(r#"{"model":"m:1b","stream":false}"#)
            .send()
            .await
            .expect("pull");
        assert!(r.status().is_success(), "pull: HTTP {}", r.status());
        wait_for(&http, &format!("{gateway_s}/api/tags"), "m:1b").await;
        wait_for(&http, &format!("{gateway_f}/api/tags"), "m:1b").await;
        for (_, (_, url)) in also_s.iter().chain(&also_f) {
            wait_for(&http, &format!("{url}/api/tags"), "m:1b").await;
        }
        if nginx_s.is_none() {
            println!("nginx is not on PATH: the nginx rows are left out");
        }
        for (proc, url, log) in litellm_s.iter_mut().chain(litellm_f.iter_mut()) {
            wait_for_litellm(&http, proc, url, log).await;
        }
        match &litellm_program {
            Some(p) => println!(
                "litellm ({}): `litellm` is its generic pass-through to /api/tags and \
                 /api/chat; `litellm-oa` is POST /v1/chat/completions (stream) for \
                 ollama_chat/m:1b, Ollama's NDJSON re-sent as OpenAI SSE (no tags row); \
                 both make {} requests per round at 1 client, {} per client at 64",
                p.display(),
                LITELLM_EACH.0,
                LITELLM_EACH.1
            ),
            None => println!(
                "LiteLLM is not installed (GATEWAY_BENCH_LITELLM or ~/{LITELLM_VENV}/bin/litellm): \
                 the litellm rows are left out; install it with: {LITELLM_INSTALL}"
            ),
        }
        let http = Arc::new(http);
        println!(
            "{:<26} {:<8} {:>7} {:<10} {:>9} {:>9} {:>10} {:>10} {:>9} {:>8}",
            "workload",
            "backend",
            "clients",
            "via",
            "p50",
            "p99",
            "+p50",
            "+p99",
            "req/s",
            "x direct"
        );
        for (backend, direct, gateway, ngx, extra, lite) in [
            ("python", &direct_s, &gateway_s, &nginx_s, &also_s, &litellm_s),
            ("rust", &direct_f, &gateway_f, &nginx_f, &also_f, &litellm_f),
        ] {
            if only.as_deref().is_some_and(|o| o != backend) {
                continue;
            }
            let mut targets = vec![
                ("direct".to_string(), direct.clone(), Api::Ollama, false),
                ("gateway".to_string(), gateway.clone(), Api::Ollama, false),
            ];
            if let Some((_, port)) = ngx {
                let base = format!("http://127.0.0.1:{port}");
                wait_for(&http, &format!("{base}/"), "Ollama is running").await;
                targets.push(("nginx".to_string(), base, Api::Ollama, false));
            }
            for (label, (_, url)) in extra.iter() {
                targets.push((label.clone(), url.clone(), Api::Ollama, false));
            }
            if let Some((_, url, _)) = lite {
                // LiteLLM's rows make fewer requests (`true`).
                targets.push(("litellm".to_string(), url.clone(), Api::Ollama, true));
                targets.push(("litellm-oa".to_string(), url.clone(), Api::OpenAi, true));
            }
            for work in [Work::Tags, Work::Chat] {
                // OpenAI's API has no tags: `litellm-oa` is a chat row only.
                let targets: Vec<_> = targets
                    .iter()
                    .filter(|(_, _, api, _)| matches!(work, Work::Chat) || *api == Api::Ollama)
                    .collect();
                // About a second a round (shorter rounds at 1 client moved
                // by 10-20% from run to run).
                let (one_each, many_each) = if backend == "rust" {
                    (10_000, 300)
                } else {
                    (1500, 40)
                };
                for (clients, each) in [(1usize, one_each), (64, many_each)] {
                    // Interleaved rounds; the median (by throughput) is kept.
                    let mut rounds: Vec<Vec<Run>> = targets.iter().map(|_| Vec::new()).collect();
                    for _ in 0..ROUNDS {
                        for (i, (_, url, api, few)) in targets.iter().enumerate() {
                            let each = match (few, clients) {
                                (false, _) => each,
                                (true, 1) => each.min(LITELLM_EACH.0),
                                (true, _) => each.min(LITELLM_EACH.1),
                            };
                            rounds[i].push(run(&http, url, *api, work, clients, each).await);
                        }
                    }
                    let medians: Vec<Run> = rounds
                        .into_iter()
                        .map(|mut v| {
                            v.sort_by(|a, b| a.per_s.total_cmp(&b.per_s));
                            v.swap_remove(v.len() / 2)
                        })
                        .collect();
                    let base = &medians[0];
                    for ((name, _, _, _), r) in targets.iter().zip(&medians) {
                        let (dp50, dp99, ratio) = if name == "direct" {
                            ("-".into(), "-".into(), "1.00".into())
                        } else {
                            (
                                format!(
                                    "{:+.3}ms",
                                    (r.p50.as_secs_f64() - base.p50.as_secs_f64()) * 1e3
                                ),
                                format!(
                                    "{:+.3}ms",
                                    (r.p99.as_secs_f64() - base.p99.as_secs_f64()) * 1e3
                                ),
                                format!("{:.2}", r.per_s / base.per_s),
                            )
                        };
                        println!(
                            "{:<26} {:<8} {:>7} {:<10} {:>7.3}ms {:>7.3}ms {:>10} {:>10} {:>9.0} {:>8}",
                            work.name(),
                            backend,
                            clients,
                            name,
                            r.p50.as_secs_f64() * 1e3,
                            r.p99.as_secs_f64() * 1e3,
                            dp50,
                            dp99,
                            r.per_s,
                            ratio
                        );
                    }
                }
            }
        }
    });
}
