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
use crate::config::types::Config;
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
        None => cfg.ollama_services().map(|(n, _)| n).collect(),
    }
}

/// Where the file's `models:` live, among `backends`: each model's local
/// name (and alias) with its `service:` (or the file's only ollama
/// service), grouped by name, sorted. Models on services the gateway does
/// not front, and names that cannot be worked out here, are left out.
pub fn placement(cfg: &Config, backends: &[&String]) -> Vec<(String, Vec<String>)> {
    let mut out: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for m in &cfg.models {
        let Some(service) = cfg.model_service(m).cloned() else {
            continue;
        };
        if !backends.iter().any(|b| **b == service) {
            continue;
        }
        let main = if let Some(o) = &m.ollama {
            crate::names::ModelName::parse(o).ok()
        } else if let Some(hf) = &m.hf {
            crate::names::convert(hf, m.quant.as_deref(), &crate::names::RepoHints::default())
                .ok()
                .map(|c| c.ollama)
        } else {
            m.name
                .as_deref()
                .and_then(|n| crate::names::ModelName::parse(n).ok())
        };
        let alias = m
            .alias
            .as_deref()
            .and_then(|a| crate::names::ModelName::parse(a).ok());
        for name in main.into_iter().chain(alias) {
            let on = out.entry(name.display_shortest()).or_default();
            if !on.contains(&service) {
                on.push(service.clone());
            }
        }
    }
    out.into_iter().collect()
}

/// The file name of a gateway's placement under the project's state directory.
pub fn placement_name(service: &str) -> String {
    format!("{service}.placement.json")
}

/// Write `placement` as `{model: [backend, ...]}` to `path` (0600, atomic,
/// not through a link), unless it already says exactly that.
fn write_placement(
    ctx: &Context<'_>,
    path: &std::path::Path,
    placement: &[(String, Vec<String>)],
) -> Result<(), String> {
    let map: std::collections::BTreeMap<&str, &Vec<String>> =
        placement.iter().map(|(m, b)| (m.as_str(), b)).collect();
    let mut body = serde_json::to_vec_pretty(&map).map_err(|e| e.to_string())?;
    body.push(b'\n');
    if crate::safefs::read_private_bounded(path, crate::model::spec::GATEWAY_PLACEMENT_LIMIT)
        .is_ok_and(|old| old == body)
    {
        return Ok(());
    }
    ctx.dirs.create().map_err(|e| {
        format!(
            "cannot prepare the state directory for its placement file: {}",
            with_causes(&e)
        )
    })?;
    crate::safefs::write_private_atomic(path, &body).map_err(|e| {
        format!(
            "cannot write its placement file {}: {}; check that {} is a directory of yours and writable",
            path.display(),
            with_causes(&e),
            ctx.dirs.state.display()
        )
    })
}

impl ServiceKind for Gateway {
    fn default_port(&self) -> Option<u16> {
        Some(DEFAULT_PORT)
    }

    fn part(&self, ctx: &Context<'_>) -> Result<Part, String> {
        let p = ctx.port.unwrap_or(DEFAULT_PORT);
        let mut argv = ctx.own_process("gateway", p)?;
        let backends = backends_of(ctx.cfg, ctx.svc.backends.as_ref());
        if backends.is_empty() {
            return Err("a gateway needs at least one ollama service to front; add one (`kind: ollama`) or list them in `backends:`".into());
        }
        // Where each declared model lives goes in a file every apply
        // rewrites, not in the argv: a change of `models:` must not restart
        // the gateway (the daemon tells it to read the file again).
        let placement_file = ctx.dirs.state.join(placement_name(ctx.name));
        if ctx.secrets == Secrets::Create {
            write_placement(ctx, &placement_file, &placement(ctx.cfg, &backends))?;
        }
        if ctx.svc.sticky == Some(crate::config::types::Sticky::Prefix) {
            argv.push("--sticky".into());
            argv.push("prefix".into());
        }
        argv.push("--placement-file".into());
        argv.push(placement_file.display().to_string());
        for b in backends {
            let Some(svc) = ctx.cfg.services.get(b.as_str()) else {
                return Err(format!("backend `{b}` is not a service of this file"));
            };
            argv.push("--backend".into());
            argv.push(format!("{b}={}", ollama_url(ctx.cfg, svc)));
        }
        if !is_loopback(ctx.bind) {
            argv.push("--token-file".into());
            argv.push(
                ctx.secret_file(&token_name(ctx.name))?
                    .display()
                    .to_string(),
            );
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
