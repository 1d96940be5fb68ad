//! `facerunner verify [--deep] [--json]`: is the stack really working?
//!
//! For every service of the file: the daemon runs it, its port accepts a
//! connection, and it answers its own API —
//!
//! * `ollama`: `GET /api/version`, and `GET /api/tags` lists every model the
//!   file puts on it;
//! * `open-webui`: `GET /health`, and (when it runs with `WEBUI_AUTH=False`,
//!   so that signing in needs no password) its Ollama proxy lists the
//!   file's models (`/ollama/api/tags`);
//! * `gateway`: `GET /` and `GET /api/tags` (the merged list of its
//!   backends) lists the file's models;
//! * anything else: its `health:` probe (HTTP or TCP) passes.
//!
//! `--deep` then runs one short generation on the smallest of the file's
//! installed models and reports the time to the first token and the tokens
//! per second. Every failure says how to fix it; any failure exits 1.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use miette::IntoDiagnostic;
use serde::Serialize;

use crate::cli::Global;
use crate::cli::daemon::runtime;
use crate::config::resolve::{Secrets, connect_host, ollama_url};
use crate::config::types::Kind;
use crate::model::live::LiveService;
use crate::model::spec::{Check as Probe, ServiceSpec};
use crate::names::ModelName;
use crate::plan::Desired;
use crate::style::paint;

/// Arguments of `facerunner verify`.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// Also run one short generation on the smallest model (time to first token, tokens/s).
    #[arg(long)]
    pub deep: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// One check of one service.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    /// What was checked (`running`, `port`, `api`, `models`, `health`).
    pub check: String,
    /// Whether it passed.
    pub ok: bool,
    /// What was found.
    pub detail: String,
    /// How to fix it, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// One service's checks.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceReport {
    /// The service.
    pub service: String,
    /// Its kind.
    pub kind: String,
    /// Whether every check passed.
    pub ok: bool,
    /// The checks, in order.
    pub checks: Vec<Item>,
}

/// The `--deep` generation.
#[derive(Debug, Clone, Serialize)]
pub struct DeepReport {
    /// The model used.
    pub model: String,
    /// Where it ran.
    pub url: String,
    /// Whether it produced text.
    pub ok: bool,
    /// Time to the first token, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_token_ms: Option<u64>,
    /// Tokens generated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    /// Tokens per second (Ollama's own count and timing when it reports them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_per_second: Option<f64>,
    /// What went wrong, and the fix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Everything `verify` found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Whether everything passed.
    pub ok: bool,
    /// Per service.
    pub services: Vec<ServiceReport>,
    /// The `--deep` generation, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deep: Option<DeepReport>,
}

fn pass(check: &str, detail: impl Into<String>) -> Item {
    Item {
        check: check.into(),
        ok: true,
        detail: detail.into(),
        fix: None,
    }
}

fn fail(check: &str, detail: impl Into<String>, fix: impl Into<String>) -> Item {
    Item {
        check: check.into(),
        ok: false,
        detail: detail.into(),
        fix: Some(fix.into()),
    }
}

/// A model name as Ollama lists it, for comparing (`x` and `x:latest` are one).
fn canonical(name: &str) -> String {
    ModelName::parse(name).map_or_else(|_| name.to_string(), |n| n.display_shortest())
}

/// Run `facerunner verify`.
pub fn run(global: &Global, args: VerifyArgs) -> miette::Result<ExitCode> {
    let (spec, dirs, loaded) = crate::cli::project::load_project_with(global, Secrets::Peek)?;
    let desired = Desired::new(&loaded, &spec);
    let report = runtime()?.block_on(verify(&loaded, &spec, &dirs, &desired, args.deep))?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).into_diagnostic()?
        );
    } else {
        anstream::print!("{}", render(&report));
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn render(report: &Report) -> String {
    use anstyle::AnsiColor::{Green, Red};
    use std::fmt::Write;
    let mut out = String::new();
    for s in &report.services {
        let mark = if s.ok {
            paint("✓", Green)
        } else {
            paint("✗", Red)
        };
        let _ = writeln!(out, "{mark} {} ({})", s.service, s.kind);
        for c in &s.checks {
            let m = if c.ok {
                paint("ok", Green)
            } else {
                paint("FAIL", Red)
            };
            let _ = writeln!(out, "    {m} {}: {}", c.check, c.detail);
            if let Some(fix) = &c.fix {
                let _ = writeln!(out, "         fix: {fix}");
            }
        }
    }
    if let Some(d) = &report.deep {
        if d.ok {
            let _ = writeln!(
                out,
                "{} generation with {} at {}: first token after {} ms, {} tokens, {:.1} tokens/s",
                paint("✓", Green),
                d.model,
                d.url,
                d.first_token_ms.unwrap_or(0),
                d.tokens.unwrap_or(0),
                d.tokens_per_second.unwrap_or(0.0)
            );
        } else {
            let _ = writeln!(
                out,
                "{} generation with {}: {}",
                paint("✗", Red),
                d.model,
                d.error.as_deref().unwrap_or("failed")
            );
        }
    }
    let failed = report.services.iter().filter(|s| !s.ok).count()
        + usize::from(report.deep.as_ref().is_some_and(|d| !d.ok));
    if failed == 0 {
        let _ = writeln!(out, "All {} services verified.", report.services.len());
    } else {
        let _ = writeln!(out, "{failed} problem(s) found; see the fixes above.");
    }
    out
}

async fn verify(
    loaded: &crate::config::Loaded,
    spec: &crate::model::spec::ProjectSpec,
    dirs: &crate::paths::ProjectDirs,
    desired: &Desired,
    deep: bool,
) -> miette::Result<Report> {
    let cfg = &loaded.config;
    let observed = crate::observe::services::observe(dirs).await;
    let http = crate::http::client_builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(3))
        .build()
        .into_diagnostic()?;
    let wanted: Vec<String> = desired
        .models
        .iter()
        .flat_map(|m| std::iter::once(&m.name).chain(m.alias.as_ref()))
        .map(ModelName::display_shortest)
        .collect();
    let mut services = Vec::new();
    // (model, size, url) of installed file models, for --deep.
    let mut installed: Vec<(String, u64, String)> = Vec::new();
    for svc in &spec.services {
        let Some(file_svc) = cfg.services.get(&svc.name) else {
            continue;
        };
        let mut checks = Vec::new();
        let running = observed.services.get(&svc.name);
        match running {
            Some(LiveService::Running { .. }) => checks.push(pass("running", "the daemon runs it")),
            Some(LiveService::Failed { reason }) => checks.push(fail(
                "running",
                format!("it failed: {reason}"),
                format!(
                    "see `facerunner logs {0}`, then run `facerunner start {0}`",
                    svc.name
                ),
            )),
            _ => checks.push(fail(
                "running",
                if observed.daemon {
                    "the daemon does not run it".to_string()
                } else if let Some(p) = &observed.unusable {
                    p.reason.clone()
                } else {
                    "no daemon runs for this project".to_string()
                },
                if observed.daemon {
                    format!("run `facerunner start {}`", svc.name)
                } else {
                    "run `facerunner up`".to_string()
                },
            )),
        }
        let url = ollama_url(cfg, file_svc);
        if let Some(port) = svc.port {
            let host = connect_host(svc.bind.as_deref().unwrap_or("127.0.0.1"));
            let addr = format!("{host}:{port}");
            match tokio::time::timeout(
                Duration::from_secs(3),
                tokio::net::TcpStream::connect(&addr),
            )
            .await
            {
                Ok(Ok(_)) => checks.push(pass("port", format!("{addr} accepts connections"))),
                Ok(Err(e)) => checks.push(fail(
                    "port",
                    format!("{addr}: {e}"),
                    if observed.daemon {
                        format!("run `facerunner start {}`", svc.name)
                    } else {
                        "run `facerunner up`".to_string()
                    },
                )),
                Err(_) => checks.push(fail(
                    "port",
                    format!("{addr}: no answer in 3 s"),
                    format!("see `facerunner logs {}`", svc.name),
                )),
            }
        }
        let port_ok = checks.iter().all(|c| c.ok || c.check == "running");
        if port_ok {
            match file_svc.kind {
                Kind::Ollama => {
                    let mine: Vec<String> = desired
                        .models
                        .iter()
                        .filter(|m| m.service == svc.name)
                        .flat_map(|m| std::iter::once(&m.name).chain(m.alias.as_ref()))
                        .map(ModelName::display_shortest)
                        .collect();
                    ollama_checks(&mut checks, &url, &svc.name, &mine, &mut installed).await;
                }
                Kind::Gateway => gateway_checks(&mut checks, &http, &url, svc, &wanted).await,
                Kind::OpenWebui => webui_checks(&mut checks, &http, &url, svc, &wanted).await,
                Kind::Process | Kind::Dashboard => probe_checks(&mut checks, &http, svc).await,
            }
        }
        services.push(ServiceReport {
            service: svc.name.clone(),
            kind: svc.kind.clone(),
            ok: checks.iter().all(|c| c.ok),
            checks,
        });
    }
    let deep = if deep {
        Some(generate(&installed).await)
    } else {
        None
    };
    let ok = services.iter().all(|s| s.ok) && deep.as_ref().is_none_or(|d| d.ok);
    Ok(Report { ok, services, deep })
}

fn missing_of(wanted: &[String], listed: &[String]) -> Vec<String> {
    let have: std::collections::BTreeSet<String> = listed.iter().map(|n| canonical(n)).collect();
    wanted
        .iter()
        .filter(|w| !have.contains(&canonical(w)))
        .cloned()
        .collect()
}

fn models_item(wanted: &[String], listed: &[String], fix: &str) -> Item {
    let missing = missing_of(wanted, listed);
    if missing.is_empty() {
        pass(
            "models",
            format!(
                "{} of the file's models listed ({} in all)",
                wanted.len(),
                listed.len()
            ),
        )
    } else {
        fail(
            "models",
            format!("missing: {}", missing.join(", ")),
            fix.to_string(),
        )
    }
}

async fn ollama_checks(
    checks: &mut Vec<Item>,
    url: &str,
    name: &str,
    wanted: &[String],
    installed: &mut Vec<(String, u64, String)>,
) {
    let client = match crate::ollama::Client::builder(url)
        .connect_timeout(Duration::from_secs(3))
        .read_timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            checks.push(fail(
                "api",
                crate::style::with_causes(&e),
                "check `port:` and `bind:`",
            ));
            return;
        }
    };
    match client.version().await {
        Ok(v) => checks.push(pass("api", format!("Ollama {v} at {url}"))),
        Err(e) => {
            checks.push(fail(
                "api",
                format!("GET {url}/api/version: {}", crate::style::with_causes(&e)),
                format!("see `facerunner logs {name}`; `facerunner restart {name}`"),
            ));
            return;
        }
    }
    match client.tags().await {
        Ok(tags) => {
            let listed: Vec<String> = tags.iter().map(|t| t.name.clone()).collect();
            checks.push(models_item(
                wanted,
                &listed,
                "run `facerunner apply` to install them",
            ));
            for t in &tags {
                if wanted.iter().any(|w| canonical(w) == canonical(&t.name)) {
                    installed.push((t.name.clone(), t.size, url.to_string()));
                }
            }
        }
        Err(e) => checks.push(fail(
            "models",
            format!("GET {url}/api/tags: {}", crate::style::with_causes(&e)),
            format!("see `facerunner logs {name}`"),
        )),
    }
}

async fn get(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
) -> Result<(u16, String), String> {
    let mut req = http.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| crate::style::with_causes(&e))?;
    let status = resp.status().as_u16();
    let body = resp
        .text()
        .await
        .map_err(|e| crate::style::with_causes(&e))?;
    Ok((status, body))
}

fn tag_names(body: &str) -> Option<Vec<String>> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    Some(
        v["models"]
            .as_array()?
            .iter()
            .filter_map(|m| m["name"].as_str().or(m["model"].as_str()).map(String::from))
            .collect(),
    )
}

async fn gateway_checks(
    checks: &mut Vec<Item>,
    http: &reqwest::Client,
    url: &str,
    spec: &ServiceSpec,
    wanted: &[String],
) {
    let name = &spec.name;
    // A gateway on a non-loopback address needs its token: the file the
    // daemon hands it (`--token-file`), read without following a link.
    let token = spec
        .argv
        .iter()
        .find(|a| a.ends_with(".gateway_token"))
        .and_then(|f| crate::safefs::read_private_bounded(std::path::Path::new(f), 4096).ok())
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .filter(|t| !t.is_empty());
    match get(http, &format!("{url}/"), token.as_deref()).await {
        Ok((s, _)) if (200..400).contains(&s) => {
            checks.push(pass("api", format!("GET {url}/: {s}")))
        }
        Ok((s, body)) => checks.push(fail(
            "api",
            format!(
                "GET {url}/: {s} {}",
                body.chars().take(200).collect::<String>()
            ),
            format!("see `facerunner logs {name}`"),
        )),
        Err(e) => checks.push(fail(
            "api",
            format!("GET {url}/: {e}"),
            format!("see `facerunner logs {name}`"),
        )),
    }
    match get(http, &format!("{url}/api/tags"), token.as_deref()).await {
        Ok((200, body)) => match tag_names(&body) {
            Some(listed) => checks.push(models_item(
                wanted,
                &listed,
                "run `facerunner apply` (a model pulled just now shows at the gateway's next poll of its backends, within seconds); the ollama services' lines above show which one lacks it",
            )),
            None => checks.push(fail("models", "GET /api/tags: not a model list", format!("see `facerunner logs {name}`"))),
        },
        Ok((s, _)) => checks.push(fail("models", format!("GET {url}/api/tags: {s}"), format!("see `facerunner logs {name}`"))),
        Err(e) => checks.push(fail("models", format!("GET {url}/api/tags: {e}"), format!("see `facerunner logs {name}`"))),
    }
}

async fn webui_checks(
    checks: &mut Vec<Item>,
    http: &reqwest::Client,
    url: &str,
    svc: &ServiceSpec,
    wanted: &[String],
) {
    let name = &svc.name;
    match get(http, &format!("{url}/health"), None).await {
        Ok((200, _)) => checks.push(pass("health", format!("GET {url}/health: 200"))),
        Ok((s, _)) => {
            checks.push(fail(
                "health",
                format!("GET {url}/health: {s}"),
                format!("see `facerunner logs {name}`"),
            ));
            return;
        }
        Err(e) => {
            checks.push(fail(
                "health",
                format!("GET {url}/health: {e}"),
                format!("see `facerunner logs {name}`"),
            ));
            return;
        }
    }
    let no_auth = svc
        .env
        .get("WEBUI_AUTH")
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "false" | "0" | "no"));
    if !no_auth {
        checks.push(pass(
            "models",
            "not checked: its Ollama proxy needs a signed-in user (set `WEBUI_AUTH: \"False\"` in its env for a single-user setup to have verify check them)",
        ));
        return;
    }
    let signin = http
        .post(format!("{url}/api/v1/auths/signin"))
        .json(&serde_json::json!({"email": "", "password": ""}))
        .send()
        .await;
    let token = match signin {
        Ok(r) if r.status().is_success() => r
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| v["token"].as_str().map(String::from)),
        _ => None,
    };
    let Some(token) = token else {
        checks.push(fail(
            "models",
            "signing in without a password failed",
            format!("see `facerunner logs {name}`"),
        ));
        return;
    };
    match get(http, &format!("{url}/ollama/api/tags"), Some(&token)).await {
        Ok((200, body)) => match tag_names(&body) {
            Some(listed) => checks.push(models_item(
                wanted,
                &listed,
                "check OLLAMA_BASE_URLS (`facerunner config`) and that the ollama services have the models (`facerunner apply`)",
            )),
            None => checks.push(fail("models", "/ollama/api/tags: not a model list", format!("see `facerunner logs {name}`"))),
        },
        Ok((s, _)) => checks.push(fail(
            "models",
            format!("GET {url}/ollama/api/tags: {s}"),
            "check that Open WebUI reaches Ollama (OLLAMA_BASE_URLS, `facerunner config`)",
        )),
        Err(e) => checks.push(fail("models", format!("GET /ollama/api/tags: {e}"), format!("see `facerunner logs {name}`"))),
    }
}

async fn probe_checks(checks: &mut Vec<Item>, http: &reqwest::Client, svc: &ServiceSpec) {
    let name = &svc.name;
    match svc.probe.as_ref().map(|p| &p.check) {
        Some(Probe::Http { url }) => match get(http, url, None).await {
            Ok((s, _)) if (200..400).contains(&s) => {
                checks.push(pass("health", format!("GET {url}: {s}")))
            }
            Ok((s, _)) => checks.push(fail(
                "health",
                format!("GET {url}: {s}"),
                format!("see `facerunner logs {name}`"),
            )),
            Err(e) => checks.push(fail(
                "health",
                format!("GET {url}: {e}"),
                format!("see `facerunner logs {name}`"),
            )),
        },
        Some(Probe::Tcp { host, port }) => {
            let addr = format!("{host}:{port}");
            match tokio::time::timeout(
                Duration::from_secs(3),
                tokio::net::TcpStream::connect(&addr),
            )
            .await
            {
                Ok(Ok(_)) => checks.push(pass("health", format!("tcp {addr} accepts connections"))),
                _ => checks.push(fail(
                    "health",
                    format!("tcp {addr} does not accept connections"),
                    format!("see `facerunner logs {name}`"),
                )),
            }
        }
        Some(Probe::Exec { .. }) => checks.push(pass(
            "health",
            "an exec probe: the daemon runs it (`facerunner status` shows its result)",
        )),
        None => {}
    }
}

/// The longest line of the generation's stream (and error body) read.
const LINE_LIMIT: usize = 1024 * 1024;
/// How long the whole generation may take (loading the model included).
const GENERATE_TIMEOUT: Duration = Duration::from_secs(600);

/// One short streamed generation on the smallest installed model.
async fn generate(installed: &[(String, u64, String)]) -> DeepReport {
    let Some((model, _, url)) = installed.iter().min_by_key(|(_, size, _)| *size).cloned() else {
        return DeepReport {
            model: "(none)".into(),
            url: String::new(),
            ok: false,
            first_token_ms: None,
            tokens: None,
            tokens_per_second: None,
            error: Some(
                "none of the file's models is installed on a running ollama service; run `facerunner apply`"
                    .into(),
            ),
        };
    };
    let failed = |error: String| DeepReport {
        model: model.clone(),
        url: url.clone(),
        ok: false,
        first_token_ms: None,
        tokens: None,
        tokens_per_second: None,
        error: Some(error),
    };
    let http = match crate::http::client_builder()
        .connect_timeout(Duration::from_secs(3))
        .read_timeout(Duration::from_secs(300))
        .build()
    {
        Ok(c) => c,
        Err(e) => return failed(crate::style::with_causes(&e)),
    };
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + GENERATE_TIMEOUT;
    let resp = http
        .post(format!("{url}/api/generate"))
        .json(&serde_json::json!({
            "model": model,
            "prompt": "Say hello in five words.",
            "stream": true,
            "options": { "num_predict": 32 },
        }))
        .send()
        .await;
    let resp = match resp {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => {
            let s = r.status();
            let body = crate::http::read_capped(r, LINE_LIMIT)
                .await
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            return failed(format!(
                "POST {url}/api/generate: {s} {}",
                body.chars().take(300).collect::<String>()
            ));
        }
        Err(e) => {
            return failed(format!(
                "POST {url}/api/generate: {}",
                crate::style::with_causes(&e)
            ));
        }
    };
    let mut first: Option<Duration> = None;
    let mut pieces = 0u64;
    let mut last: Option<serde_json::Value> = None;
    let mut buf: Vec<u8> = Vec::new();
    let mut stream = resp.bytes_stream();
    loop {
        let chunk = match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => {
                return failed(format!(
                    "the generation did not finish within {} s",
                    GENERATE_TIMEOUT.as_secs()
                ));
            }
            Ok(None) => break,
            Ok(Some(Ok(c))) => c,
            Ok(Some(Err(e))) => {
                return failed(format!(
                    "the stream broke: {}",
                    crate::style::with_causes(&e)
                ));
            }
        };
        buf.extend_from_slice(&chunk);
        if buf.len() > LINE_LIMIT && !buf.contains(&b'\n') {
            return failed(format!(
                "Ollama sent a line longer than {} KiB; is {url} an Ollama server?",
                LINE_LIMIT / 1024
            ));
        }
        while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(&line) else {
                continue;
            };
            if let Some(e) = v["error"].as_str() {
                return failed(format!("Ollama: {e}"));
            }
            if v["response"].as_str().is_some_and(|t| !t.is_empty()) {
                first.get_or_insert_with(|| started.elapsed());
                pieces += 1;
            }
            if v["done"] == serde_json::Value::Bool(true) {
                last = Some(v);
            }
        }
    }
    let elapsed = started.elapsed();
    let Some(first) = first else {
        return failed("the model produced no text".into());
    };
    let done = last.unwrap_or_default();
    let (tokens, rate) = match (done["eval_count"].as_u64(), done["eval_duration"].as_u64()) {
        (Some(n), Some(ns)) if ns > 0 => (n, n as f64 / (ns as f64 / 1e9)),
        _ => {
            let generating = elapsed.saturating_sub(first).as_secs_f64();
            (
                pieces,
                if generating > 0.0 {
                    pieces as f64 / generating
                } else {
                    0.0
                },
            )
        }
    };
    DeepReport {
        model,
        url,
        ok: true,
        first_token_ms: Some(first.as_millis() as u64),
        tokens: Some(tokens),
        tokens_per_second: Some(rate),
        error: None,
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_generation_stream_without_line_ends_is_refused_past_the_line_limit() {
        // A body with no line end at all.
        let url = crate::http::test_server(
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\n\r\n",
            3 * super::LINE_LIMIT,
        )
        .await;
        let r = super::generate(&[("m:1b".into(), 1, url)]).await;
        assert!(!r.ok);
        let e = r.error.unwrap_or_default();
        assert!(e.contains("longer than 1024 KiB"), "{e}");
    }
}
