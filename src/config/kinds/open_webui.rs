//! `kind: open-webui`: Open WebUI in front of the file's Ollama services,
//! with a generated secret key and telemetry off.

use std::time::Duration;

use super::{Context, Part, ServiceKind};
use crate::config::resolve::{Secrets, ollama_url, with_causes};
use crate::config::secrets;
use crate::config::types::Kind;
use crate::installs::Tool;
use crate::model::spec::Check;

/// Open WebUI.
pub struct OpenWebui;

/// Open WebUI's own default port.
const DEFAULT_PORT: u16 = 8080;

impl ServiceKind for OpenWebui {
    fn default_port(&self) -> Option<u16> {
        Some(DEFAULT_PORT)
    }

    fn part(&self, ctx: &Context<'_>) -> Result<Part, String> {
        let (cfg, name) = (ctx.cfg, ctx.name);
        let p = ctx.port.unwrap_or(DEFAULT_PORT);
        let mut env = std::collections::BTreeMap::new();
        let data = ctx.dirs.data.join(name);
        env.insert("DATA_DIR".into(), data.display().to_string());
        let key_name = format!("{name}.webui_secret_key");
        // Only a real secret is ever given to a running service; the
        // placeholder stands in for `plan` and `config` alone.
        let key = match ctx.secrets {
            Secrets::Create => {
                // The whole chain is checked (ours, not writable by others)
                // before a secret is written into it.
                ctx.dirs.create().map_err(|e| {
                    format!(
                        "cannot prepare the directory for its secret key: {}",
                        with_causes(&e)
                    )
                })?;
                secrets::ensure(&ctx.dirs.secrets, &key_name).map_err(|e| {
                    // Callers show this error as one line: keep its causes in it.
                    format!(
                        "{}; check that {} is a directory of yours and writable",
                        with_causes(&e),
                        ctx.dirs.secrets.display()
                    )
                })?
            }
            Secrets::Peek => secrets::peek(&ctx.dirs.secrets, &key_name)
                .shown()
                .to_string(),
        };
        env.insert("WEBUI_SECRET_KEY".into(), key);
        // With no `backends:`, a gateway of the file (one that needs no
        // token: Open WebUI is given no key) is the one address to use.
        let gateway = match &ctx.svc.backends {
            Some(_) => None,
            None => cfg.services.iter().find(|(_, s)| {
                s.kind == Kind::Gateway
                    && super::gateway::is_loopback(&crate::config::resolve::bind_of(cfg, s))
            }),
        };
        let urls: Vec<String> = match gateway {
            Some((_, g)) => vec![ollama_url(cfg, g)],
            None => super::gateway::backends_of(cfg, ctx.svc.backends.as_ref())
                .iter()
                .filter_map(|b| cfg.services.get(b.as_str()))
                .map(|s| ollama_url(cfg, s))
                .collect(),
        };
        if !urls.is_empty() {
            env.insert("OLLAMA_BASE_URLS".into(), urls.join(";"));
        }
        for (k, v) in [
            ("ENABLE_PERSISTENT_CONFIG", "False"),
            ("ANONYMIZED_TELEMETRY", "false"),
            ("DO_NOT_TRACK", "true"),
            ("SCARF_NO_ANALYTICS", "true"),
            ("ENABLE_VERSION_UPDATE_CHECK", "false"),
        ] {
            env.insert(k.into(), v.into());
        }
        Ok(Part {
            argv: vec![
                ctx.binary_or_installed(Tool::OpenWebui),
                "serve".into(),
                "--host".into(),
                ctx.bind.to_string(),
                "--port".into(),
                p.to_string(),
            ],
            env,
            check: Some(Check::Http {
                url: format!("http://{}:{p}/health", ctx.host),
            }),
            start_period: Duration::from_secs(300),
        })
    }
}
