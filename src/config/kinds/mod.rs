//! The service kinds: what each adds to a service (its default port,
//! program, environment and readiness probe).
//!
//! A kind is one file implementing [`ServiceKind`]; [`of`] maps the file's
//! `kind:` to it. Everything every kind shares (env files, `env:`, restart,
//! stop, logs, dependencies, hashing) stays in `resolve`, so a new kind is
//! one new file and one arm in [`of`].

pub mod dashboard;
mod gateway;
mod ollama;
mod open_webui;
mod process;

/// The gateway's backends and model placement (also used by the Kubernetes export).
pub use gateway::{backends_of as gateway_backends, placement as gateway_placement};

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::resolve::Secrets;
use super::types::{Config, Kind, Service};
use crate::model::spec::Check;
use crate::paths::ProjectDirs;

/// What resolution knows when a kind fills in its part.
pub struct Context<'a> {
    /// The whole file (other services, GPUs).
    pub cfg: &'a Config,
    /// The service's name.
    pub name: &'a str,
    /// The service as written.
    pub svc: &'a Service,
    /// The directory of the project file.
    pub base: &'a Path,
    /// The project's directories (data, secrets).
    pub dirs: &'a ProjectDirs,
    /// Whether secrets may be created.
    pub secrets: Secrets,
    /// The address it listens on.
    pub bind: &'a str,
    /// Where to connect to it.
    pub host: &'a str,
    /// Its port: written, else the kind's default.
    pub port: Option<u16>,
}

impl Context<'_> {
    /// `binary:` (a path relative to the file, or a name on `PATH`), else `default`.
    pub fn binary(&self, default: &str) -> String {
        match &self.svc.binary {
            Some(b) if b.contains('/') || b.starts_with('~') => {
                super::resolve::expand_path(b, self.base)
                    .display()
                    .to_string()
            }
            Some(b) => b.clone(),
            None => default.to_string(),
        }
    }

    /// `binary:`, else the program on `PATH` or the one `facerunner setup`
    /// installed ([`crate::installs::default_binary`]).
    pub fn binary_or_installed(&self, tool: crate::installs::Tool) -> String {
        match self.svc.binary {
            Some(_) => self.binary(tool.name()),
            None => crate::installs::default_binary(tool),
        }
    }

    /// The argv of a kind that runs FaceRunner itself (`facerunner SUB
    /// --project P --bind B --port N`): `binary:` when written, else this
    /// very executable.
    pub fn own_process(&self, sub: &str, port: u16) -> Result<Vec<String>, String> {
        let exe = match &self.svc.binary {
            Some(_) => self.binary("facerunner"),
            None => std::env::current_exe()
                .map_err(|e| format!("cannot find the facerunner executable to run it: {e}"))?
                .display()
                .to_string(),
        };
        Ok(vec![
            exe,
            sub.into(),
            "--project".into(),
            self.dirs.project.clone(),
            "--bind".into(),
            self.bind.to_string(),
            "--port".into(),
            port.to_string(),
        ])
    }

    /// The path of the generated secret `name` (a token), created when
    /// resolving to run (never when planning).
    pub fn secret_file(&self, name: &str) -> Result<std::path::PathBuf, String> {
        if self.secrets == Secrets::Create {
            self.dirs.create().map_err(|e| {
                format!(
                    "cannot prepare the directory for its secrets: {}",
                    super::resolve::with_causes(&e)
                )
            })?;
            super::secrets::ensure(&self.dirs.secrets, name).map_err(|e| {
                format!(
                    "{}; check that {} is a directory of yours and writable",
                    super::resolve::with_causes(&e),
                    self.dirs.secrets.display()
                )
            })?;
        }
        Ok(self.dirs.secrets.join(name))
    }

    /// `CUDA_VISIBLE_DEVICES` when the service names `gpus:`.
    pub fn gpu_env(&self, env: &mut BTreeMap<String, String>) {
        if let Some(gpus) = &self.svc.gpus {
            env.insert(
                "CUDA_VISIBLE_DEVICES".into(),
                super::resolve::cuda_devices(&self.cfg.gpus, gpus),
            );
        }
    }
}

/// What a kind contributes to a service's spec.
pub struct Part {
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// Environment set by the kind (env files and `env:` override it).
    pub env: BTreeMap<String, String>,
    /// The probe used when the file gives no `health:`.
    pub check: Option<Check>,
    /// The default start period of that probe.
    pub start_period: Duration,
}

/// One kind of service.
pub trait ServiceKind: Sync {
    /// The port used when the file gives none.
    fn default_port(&self) -> Option<u16>;
    /// Fill in the kind's part; `Err` says why the service cannot run.
    fn part(&self, ctx: &Context<'_>) -> Result<Part, String>;
}

/// The implementation of `kind`.
pub fn of(kind: Kind) -> &'static dyn ServiceKind {
    match kind {
        Kind::Process => &process::Process,
        Kind::Ollama => &ollama::Ollama,
        Kind::OpenWebui => &open_webui::OpenWebui,
        Kind::Dashboard => &dashboard::Dashboard,
        Kind::Gateway => &gateway::Gateway,
    }
}
