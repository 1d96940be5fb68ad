//! `kind: gateway`: one Ollama-compatible endpoint in front of the file's
//! ollama services, routing each request by the model it names. It runs as
//! its own process (`facerunner gateway …`, this very binary), supervised
//! like any service, so a fault in it never touches the daemon.
//!
//! On a non-loopback bind it requires a bearer token: a generated secret
//! (`<service>.gateway_token`, 0600) whose file is handed to the process.

use std::time::Duration;

use super::{Context, Part, ServiceKind};
use crate::config::resolve::{Secrets, ollama_url, with_causes};
use crate::config::secrets;
use crate::config::types::{Config, Kind};
use crate::model::spec::Check;

/// The gateway.
pub struct Gateway;

/// The gateway's default port (next to Ollama's 11434).
pub const DEFAULT_PORT: u16 = 11433;

pub use crate::model::spec::is_loopback;

/// The file name of a gateway's token under the project's secrets directory.
pub fn token_name(service: &str) -> String {
    format!("{service}.gateway_token")
}

/// The ollama services a gateway (or Open WebUI) fronts: `backends:`, else
/// every ollama service of the file.
pub fn backends_of<'a>(cfg: &'a Config, written: Option<&'a Vec<String>>) -> Vec<&'a String> {
    match written {
        Some(b) => b.iter().collect(),
        None => cfg
            .services
            .iter()
            .filter(|(_, s)| s.kind == Kind::Ollama)
            .map(|(n, _)| n)
            .collect(),
    }
}

impl ServiceKind for Gateway {
    fn default_port(&self) -> Option<u16> {
        Some(DEFAULT_PORT)
    }

    fn part(&self, ctx: &Context<'_>) -> Result<Part, String> {
        let p = ctx.port.unwrap_or(DEFAULT_PORT);
        let exe = match &ctx.svc.binary {
            Some(_) => ctx.binary("facerunner"),
            None => std::env::current_exe()
                .map_err(|e| {
                    format!("cannot find the facerunner executable to run the gateway: {e}")
                })?
                .display()
                .to_string(),
        };
        let mut argv = vec![
            exe,
            "gateway".into(),
            "--project".into(),
            ctx.dirs.project.clone(),
            "--bind".into(),
            ctx.bind.to_string(),
            "--port".into(),
            p.to_string(),
        ];
        let backends = backends_of(ctx.cfg, ctx.svc.backends.as_ref());
        if backends.is_empty() {
            return Err("a gateway needs at least one ollama service to front; add one (`kind: ollama`) or list them in `backends:`".into());
        }
        for b in backends {
            let Some(svc) = ctx.cfg.services.get(b.as_str()) else {
                return Err(format!("backend `{b}` is not a service of this file"));
            };
            argv.push("--backend".into());
            argv.push(format!("{b}={}", ollama_url(ctx.cfg, svc)));
        }
        if !is_loopback(ctx.bind) {
            let name = token_name(ctx.name);
            if ctx.secrets == Secrets::Create {
                ctx.dirs.create().map_err(|e| {
                    format!(
                        "cannot prepare the directory for its token: {}",
                        with_causes(&e)
                    )
                })?;
                secrets::ensure(&ctx.dirs.secrets, &name).map_err(|e| {
                    format!(
                        "{}; check that {} is a directory of yours and writable",
                        with_causes(&e),
                        ctx.dirs.secrets.display()
                    )
                })?;
            }
            argv.push("--token-file".into());
            argv.push(ctx.dirs.secrets.join(name).display().to_string());
        }
        Ok(Part {
            argv,
            env: Default::default(),
            check: Some(Check::Http {
                url: format!("http://{}:{p}/", ctx.host),
            }),
            start_period: Duration::from_secs(10),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn loopback_binds_are_recognized() {
        for b in ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"] {
            assert!(is_loopback(b), "{b}");
        }
        for b in ["0.0.0.0", "::", "192.168.1.4", "", "example.org"] {
            assert!(!is_loopback(b), "{b}");
        }
    }
}
