//! A valid file → what the supervisor runs ([`ProjectSpec`]).
//!
//! This is where kinds become processes: `ollama` gets `ollama serve` with
//! `OLLAMA_HOST`, `OLLAMA_MODELS` and `CUDA_VISIBLE_DEVICES`; `open-webui`
//! gets `open-webui serve --host --port` (it ignores `PORT`), its own
//! `DATA_DIR`, a generated `WEBUI_SECRET_KEY`, `OLLAMA_BASE_URLS`,
//! `ENABLE_PERSISTENT_CONFIG=False` (so this file stays the source of truth)
//! and telemetry off; each gets its built-in readiness probe. The file's
//! `env` always wins over kind defaults and `env_file`s.
//!
//! Each service's spec hash is the SHA-256 of its normalized spec as
//! canonical JSON (sorted keys, defaults filled, secrets redacted), so key
//! order, defaults and formatting never change it, while the content of an
//! `env_file` does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration as StdDuration;

use sha2::{Digest, Sha256};

use super::kinds;
use super::load::{Loaded, read_env_file};
use super::types::{Config, Gpu, Restart, RestartPolicy as CfgPolicy, Service, TcpTarget};
use super::validate::{default_port, signal_name};
use crate::model::spec::{
    Check, Condition, DaemonSettings, Dependency, LogSpec, Probe, ProjectSpec, RestartPolicy,
    RestartSpec, ServiceSpec, StopSpec,
};
use crate::paths::ProjectDirs;

/// Env variables whose values are secrets (redacted from hashes and output).
pub const SECRET_ENV: &[&str] = &["WEBUI_SECRET_KEY"];

/// Whether resolving may create missing secrets (only when about to run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrets {
    /// Create them (up, apply).
    Create,
    /// Only read them (plan, config): a placeholder stands in.
    Peek,
}

/// A resolution problem (an unreadable env file, a secret that cannot be written).
#[derive(Debug, thiserror::Error)]
#[error("service `{service}`: {message}")]
pub struct ResolveError {
    /// The service.
    pub service: String,
    /// What went wrong.
    pub message: String,
}

/// Resolve every service of a loaded file.
pub fn resolve(
    loaded: &Loaded,
    dirs: &ProjectDirs,
    secrets_mode: Secrets,
) -> Result<ProjectSpec, ResolveError> {
    let cfg = &loaded.config;
    let mut services = Vec::with_capacity(cfg.services.len());
    for (name, svc) in &cfg.services {
        services.push(service(
            cfg,
            name,
            svc,
            &loaded.base_dir,
            dirs,
            secrets_mode,
        )?);
    }
    Ok(ProjectSpec {
        project: loaded.project.clone(),
        config_path: absolute(&loaded.file.path),
        services,
        settings: DaemonSettings {
            watch: cfg.settings.watch,
            watch_debounce_ms: u64::try_from(cfg.settings.watch_debounce.0.as_millis())
                .unwrap_or(u64::MAX),
        },
    })
}

pub use crate::style::with_causes;

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// `~/x` → `$HOME/x`; relative → against the project file's directory.
pub fn expand_path(p: &str, base: &Path) -> PathBuf {
    let expanded = match p.strip_prefix("~/") {
        Some(rest) => std::env::var_os("HOME")
            .map_or_else(|| PathBuf::from(p), |h| PathBuf::from(h).join(rest)),
        None if p == "~" => {
            std::env::var_os("HOME").map_or_else(|| PathBuf::from(p), PathBuf::from)
        }
        None => PathBuf::from(p),
    };
    if expanded.is_absolute() {
        expanded
    } else {
        absolute(&base.join(expanded))
    }
}

/// The address a service listens on.
pub fn bind_of(cfg: &Config, svc: &Service) -> String {
    svc.bind
        .clone()
        .unwrap_or_else(|| cfg.settings.bind.clone())
}

/// Where to connect to a service: its bind address, or loopback when it binds all interfaces.
pub fn connect_host(bind: &str) -> String {
    match bind {
        "0.0.0.0" | "" => "127.0.0.1".into(),
        "::" | "[::]" => "[::1]".into(),
        b if b.contains(':') && !b.starts_with('[') => format!("[{b}]"),
        b => b.into(),
    }
}

/// The base URL of an ollama service (`http://127.0.0.1:11434`).
pub fn ollama_url(cfg: &Config, svc: &Service) -> String {
    let port = svc
        .port
        .or_else(|| default_port(svc.kind))
        .unwrap_or(crate::ollama::DEFAULT_PORT);
    format!("http://{}:{port}", connect_host(&bind_of(cfg, svc)))
}

/// The model store of an ollama service (`models_dir`, else `~/.ollama/models`).
pub fn models_dir(svc: &Service, base: &Path) -> PathBuf {
    expand_path(
        svc.models_dir.as_deref().unwrap_or("~/.ollama/models"),
        base,
    )
}

fn d(x: Option<crate::model::units::Duration>, default: StdDuration) -> StdDuration {
    x.map_or(default, |x| x.0)
}

fn service(
    cfg: &Config,
    name: &str,
    svc: &Service,
    base: &Path,
    dirs: &ProjectDirs,
    mode: Secrets,
) -> Result<ServiceSpec, ResolveError> {
    let err = |message: String| ResolveError {
        service: name.to_string(),
        message,
    };
    let bind = bind_of(cfg, svc);
    let port = svc.port.or_else(|| default_port(svc.kind));
    let host = connect_host(&bind);
    let ctx = kinds::Context {
        cfg,
        name,
        svc,
        base,
        dirs,
        secrets: mode,
        bind: &bind,
        host: &host,
        port,
    };
    let part = kinds::of(svc.kind).part(&ctx).map_err(err)?;
    let (argv, default_check, default_start) = (part.argv, part.check, part.start_period);
    let mut env = part.env;
    if let Some(files) = &svc.env_file {
        for f in files.items() {
            let path = expand_path(f, base);
            env.extend(read_env_file(&path).map_err(err)?);
        }
    }
    for (k, v) in &svc.env {
        env.insert(k.clone(), v.to_string());
    }
    let secret_env = svc
        .env
        .iter()
        .filter(|(_, v)| v.is_secret())
        .map(|(k, _)| k.clone())
        .collect();
    let probe = probe(svc, &host, default_check, default_start);
    let restart = match &svc.restart {
        None => RestartSpec {
            policy: RestartPolicy::OnFailure,
            max_retries: None,
            backoff_initial: StdDuration::from_secs(1),
            backoff_max: StdDuration::from_secs(30),
        },
        Some(Restart::Policy(p)) => RestartSpec {
            policy: policy(*p),
            max_retries: None,
            backoff_initial: StdDuration::from_secs(1),
            backoff_max: StdDuration::from_secs(30),
        },
        Some(Restart::Long(l)) => RestartSpec {
            policy: policy(l.policy),
            max_retries: l.max_retries,
            backoff_initial: d(
                l.backoff.as_ref().and_then(|b| b.initial),
                StdDuration::from_secs(1),
            ),
            backoff_max: d(
                l.backoff.as_ref().and_then(|b| b.max),
                StdDuration::from_secs(30),
            ),
        },
    };
    let stop = StopSpec {
        signal: svc
            .stop
            .as_ref()
            .and_then(|s| s.signal.as_deref())
            .and_then(signal_name)
            .unwrap_or("SIGTERM")
            .to_string(),
        timeout: d(
            svc.stop.as_ref().and_then(|s| s.timeout),
            StdDuration::from_secs(10),
        ),
    };
    let log = LogSpec {
        max_bytes: svc
            .log
            .as_ref()
            .and_then(|l| l.max_size)
            .map_or(10 << 20, |s| s.0),
        keep: svc.log.as_ref().and_then(|l| l.keep).unwrap_or(3),
    };
    let depends_on = svc
        .depends_on
        .as_ref()
        .map(|d| {
            d.entries()
                .into_iter()
                .map(|(service, c)| Dependency {
                    service,
                    condition: match c {
                        super::types::Condition::Started => Condition::Started,
                        super::types::Condition::Healthy => Condition::Healthy,
                        super::types::Condition::Completed => Condition::Completed,
                    },
                })
                .collect()
        })
        .unwrap_or_default();
    let mut spec = ServiceSpec {
        name: name.to_string(),
        kind: svc.kind.as_str().to_string(),
        argv,
        env,
        secret_env,
        working_dir: svc
            .working_dir
            .as_deref()
            .map_or_else(|| absolute(base), |w| expand_path(w, base)),
        depends_on,
        probe,
        restart,
        stop,
        bind: Some(bind),
        port,
        log,
        spec_hash: String::new(),
    };
    spec.spec_hash = spec_hash(&spec);
    Ok(spec)
}

fn policy(p: CfgPolicy) -> RestartPolicy {
    match p {
        CfgPolicy::No => RestartPolicy::No,
        CfgPolicy::OnFailure => RestartPolicy::OnFailure,
        CfgPolicy::Always => RestartPolicy::Always,
    }
}

/// Checks of a healthy built-in service, unless `health.interval` is set.
const BUILTIN_HEALTHY_INTERVAL: StdDuration = StdDuration::from_secs(5);

fn probe(
    svc: &Service,
    host: &str,
    default_check: Option<Check>,
    default_start: StdDuration,
) -> Option<Probe> {
    let h = svc.health.clone().unwrap_or_default();
    if h.disable {
        return None;
    }
    let check = if let Some(url) = h.http {
        Check::Http { url }
    } else if let Some(t) = h.tcp {
        match t {
            TcpTarget::Port(port) => Check::Tcp {
                host: host.trim_matches(['[', ']']).to_string(),
                port,
            },
            TcpTarget::Address(a) => {
                let (h, p) = a.rsplit_once(':').unwrap_or((&a, "0"));
                Check::Tcp {
                    host: h.trim_matches(['[', ']']).to_string(),
                    port: p.parse().unwrap_or(0),
                }
            }
        }
    } else if let Some(argv) = h.exec {
        Check::Exec { argv }
    } else {
        default_check?
    };
    // Built-in probes (Ollama, Open WebUI) poll fast until the first
    // success, so `up` returns soon, then every few seconds: a server
    // checked twice a second forever fills its own log with the checks.
    // An explicit `health.interval` is used throughout.
    let builtin = default_start > StdDuration::ZERO;
    let (interval, start) = if builtin {
        (BUILTIN_HEALTHY_INTERVAL, default_start)
    } else {
        (StdDuration::from_secs(2), StdDuration::from_secs(10))
    };
    Some(Probe {
        check,
        start_interval: (builtin && h.interval.is_none()).then_some(StdDuration::from_millis(500)),
        interval: d(h.interval, interval),
        timeout: d(
            h.timeout,
            StdDuration::from_secs(if default_start > StdDuration::ZERO {
                3
            } else {
                1
            }),
        ),
        retries: h.retries.unwrap_or(3),
        start_period: d(h.start_period, start),
    })
}

/// `CUDA_VISIBLE_DEVICES` for a list of logical GPU names: the UUID given in
/// the file, else the index (the daemon pins an index to its UUID when the
/// service starts: [`crate::gpu::Inventory::pin`]; no NVML call here);
/// an empty list means CPU only (`-1`, which CUDA treats as no device).
pub fn cuda_devices(gpus: &BTreeMap<String, Gpu>, names: &[String]) -> String {
    if names.is_empty() {
        return "-1".into();
    }
    names
        .iter()
        .filter_map(|n| gpus.get(n))
        .map(|g| {
            g.uuid
                .clone()
                .or_else(|| g.index.map(|i| i.to_string()))
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The normalized spec as canonical JSON, secrets redacted.
pub fn normalized(spec: &ServiceSpec) -> serde_json::Value {
    let mut s = spec.clone();
    s.spec_hash = String::new();
    for k in SECRET_ENV {
        if let Some(v) = s.env.get_mut(*k) {
            *v = "<secret>".into();
        }
    }
    // serde_json's map is ordered by key: the JSON is canonical.
    serde_json::to_value(&s).expect("a service spec always serializes")
}

/// SHA-256 of the normalized spec, hex.
pub fn spec_hash(spec: &ServiceSpec) -> String {
    let json = normalized(spec).to_string();
    hex::encode(Sha256::digest(json.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::interpolate::Vars;
    use crate::config::load_str;

    fn specs(yaml: &str, dir: &Path) -> ProjectSpec {
        specs_with(yaml, dir, Secrets::Peek)
    }

    fn specs_with(yaml: &str, dir: &Path, secrets: Secrets) -> ProjectSpec {
        let loaded = load_str(&dir.join("facerunner.yaml"), yaml, &Vars::default())
            .unwrap_or_else(|e| panic!("{e:?}"));
        resolve(
            &loaded,
            &ProjectDirs::under(&dir.join("home"), "t"),
            secrets,
        )
        .expect("resolves")
    }

    #[test]
    fn a_gateway_is_told_where_each_declared_model_lives() {
        let dir = tempfile::tempdir().unwrap();
        const YAML: &str = "version: 1\nservices:\n  a: { kind: ollama, port: 11500 }\n  b: { kind: ollama, port: 11501 }\n  c: { kind: ollama, port: 11502 }\n  gw: { kind: gateway, port: 11600, backends: [a, b] }\nmodels:\n  - { ollama: llama3.2:1b, service: a }\n  - { ollama: llama3.2:1b, service: b, alias: small }\n  - { ollama: only-c:1b, service: c }\n  - { name: mine, from: llama3.2:1b, service: b }\n";
        let spec = specs(YAML, dir.path());
        let argv = &spec.service("gw").unwrap().argv;
        let file = argv
            .iter()
            .position(|a| a == "--placement-file")
            .map(|i| PathBuf::from(&argv[i + 1]))
            .expect("--placement-file");
        assert!(!file.exists(), "plan (Secrets::Peek) writes nothing");
        // Resolving to run writes it: grouped by model; c is not fronted,
        // so its model is left out.
        let again = specs_with(YAML, dir.path(), Secrets::Create);
        assert_eq!(&again.service("gw").unwrap().argv, argv, "same argv");
        let placed: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&file).expect("written")).expect("JSON");
        assert_eq!(
            placed,
            serde_json::json!({"llama3.2:1b": ["a", "b"], "mine:latest": ["b"], "small:latest": ["b"]})
        );
    }

    #[test]
    fn a_gateway_fronts_every_ollama_and_open_webui_defaults_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let spec = specs(
            "version: 1\nservices:\n  a: { kind: ollama, port: 11500 }\n  b: { kind: ollama, port: 11501 }\n  gw: { kind: gateway, port: 11600 }\n  ui: { kind: open-webui }\n  pinned: { kind: open-webui, port: 8082, backends: [b] }\n",
            dir.path(),
        );
        let gw = spec.service("gw").unwrap();
        assert_eq!(
            gw.argv[1..],
            [
                "gateway",
                "--project",
                "t",
                "--bind",
                "127.0.0.1",
                "--port",
                "11600",
                "--placement-file",
                &dir.path()
                    .join("home/t/state/gw.placement.json")
                    .display()
                    .to_string(),
                "--backend",
                "a=http://127.0.0.1:11500",
                "--backend",
                "b=http://127.0.0.1:11501"
            ]
        );
        assert!(
            matches!(&gw.probe.as_ref().unwrap().check, Check::Http { url } if url == "http://127.0.0.1:11600/")
        );
        let ui = spec.service("ui").unwrap();
        assert_eq!(ui.env["OLLAMA_BASE_URLS"], "http://127.0.0.1:11600");
        let pinned = spec.service("pinned").unwrap();
        assert_eq!(pinned.env["OLLAMA_BASE_URLS"], "http://127.0.0.1:11501");

        // On an open bind the gateway gets its token file, and Open WebUI
        // (which would have no token) talks to the servers directly.
        let spec = specs(
            "version: 1\nservices:\n  a: { kind: ollama, port: 11500 }\n  gw: { kind: gateway, port: 11600, bind: 0.0.0.0 }\n  ui: { kind: open-webui }\n",
            dir.path(),
        );
        let gw = spec.service("gw").unwrap();
        let i = gw
            .argv
            .iter()
            .position(|a| a == "--token-file")
            .expect("a token file");
        assert!(
            gw.argv[i + 1].ends_with("/gw.gateway_token"),
            "{:?}",
            gw.argv
        );
        assert_eq!(
            spec.service("ui").unwrap().env["OLLAMA_BASE_URLS"],
            "http://127.0.0.1:11500"
        );
    }

    #[test]
    fn kinds_become_processes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("w.env"), "FROM_FILE=1\nLEVEL=file\n").unwrap();
        let spec = specs(
            "version: 1\ngpus:\n  big: { uuid: GPU-1234 }\nservices:\n  llm: { kind: ollama, port: 11500, gpus: [big], models_dir: m }\n  cpu: { kind: ollama, port: 11501, gpus: [] }\n  ui: { kind: open-webui, port: 8081, backends: [llm] }\n  w:\n    command: [python3, x.py]\n    gpus: [big]\n    env_file: w.env\n    env: { LEVEL: file-loses }\n    health: { tcp: 9 }\n",
            dir.path(),
        );
        let s = |n: &str| spec.service(n).unwrap();
        let llm = s("llm");
        assert_eq!(llm.argv, vec!["ollama", "serve"]);
        assert_eq!(llm.env["OLLAMA_HOST"], "127.0.0.1:11500");
        assert_eq!(llm.env["CUDA_VISIBLE_DEVICES"], "GPU-1234");
        assert!(llm.env["OLLAMA_MODELS"].ends_with("/m"));
        assert!(
            matches!(&llm.probe.as_ref().unwrap().check, Check::Http { url } if url == "http://127.0.0.1:11500/")
        );
        let p = llm.probe.as_ref().unwrap();
        assert_eq!(
            (p.start_interval, p.interval),
            (
                Some(StdDuration::from_millis(500)),
                BUILTIN_HEALTHY_INTERVAL
            ),
            "fast until ready, then every few seconds"
        );
        assert_eq!(s("cpu").env["CUDA_VISIBLE_DEVICES"], "-1");
        let ui = s("ui");
        assert_eq!(
            ui.argv,
            vec![
                "open-webui",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                "8081"
            ]
        );
        assert_eq!(ui.env["OLLAMA_BASE_URLS"], "http://127.0.0.1:11500");
        assert_eq!(ui.env["ENABLE_PERSISTENT_CONFIG"], "False");
        assert_eq!(
            ui.env["WEBUI_SECRET_KEY"],
            crate::config::secrets::NOT_YET,
            "plan never creates secrets"
        );
        assert!(ui.env["DATA_DIR"].contains("home/t/data/ui"));
        let w = s("w");
        assert_eq!(w.env["CUDA_VISIBLE_DEVICES"], "GPU-1234");
        assert_eq!(w.env["FROM_FILE"], "1");
        assert_eq!(
            w.env["LEVEL"], "file-loses",
            "the file's env wins over env_file"
        );
        assert!(matches!(
            &w.probe.as_ref().unwrap().check,
            Check::Tcp { port: 9, .. }
        ));
        assert_eq!(w.probe.as_ref().unwrap().start_interval, None);
    }

    #[test]
    fn an_explicit_interval_is_used_throughout() {
        let dir = tempfile::tempdir().unwrap();
        let spec = specs(
            "version: 1\nservices:\n  llm: { kind: ollama, port: 11500, health: { interval: 1s } }\n",
            dir.path(),
        );
        let p = spec.service("llm").unwrap().probe.clone().unwrap();
        assert_eq!(
            (p.start_interval, p.interval),
            (None, StdDuration::from_secs(1))
        );
    }

    #[test]
    fn secrets_do_not_change_the_hash() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = "version: 1\nservices:\n  ui: { kind: open-webui }\n";
        let peek = specs(yaml, dir.path());
        let loaded = load_str(&dir.path().join("facerunner.yaml"), yaml, &Vars::default()).unwrap();
        let created = resolve(
            &loaded,
            &ProjectDirs::under(&dir.path().join("home"), "t"),
            Secrets::Create,
        )
        .unwrap();
        let key = &created.services[0].env["WEBUI_SECRET_KEY"];
        assert_ne!(&peek.services[0].env["WEBUI_SECRET_KEY"], key);
        assert_ne!(key, crate::config::secrets::NOT_YET);
        assert_eq!(key.len(), 64, "a generated secret");
        assert_eq!(peek.services[0].spec_hash, created.services[0].spec_hash);
    }

    #[test]
    fn no_secret_is_written_under_a_world_writable_home() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir(&home).unwrap();
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o777)).unwrap();
        let yaml = "version: 1\nservices:\n  ui: { kind: open-webui }\n";
        let loaded = load_str(&dir.path().join("facerunner.yaml"), yaml, &Vars::default()).unwrap();
        let e = resolve(&loaded, &ProjectDirs::under(&home, "t"), Secrets::Create).unwrap_err();
        assert!(e.to_string().contains("writable by other users"), "{e}");
        assert!(!home.join("t").exists());
    }
}
