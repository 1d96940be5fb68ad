//! `kind: ollama`: `ollama serve` on its own port and model store.

use std::time::Duration;

use super::{Context, Part, ServiceKind};
use crate::config::resolve::models_dir;
use crate::installs::Tool;
use crate::model::spec::Check;
use crate::ollama::DEFAULT_PORT;

/// An Ollama server.
pub struct Ollama;

impl ServiceKind for Ollama {
    fn default_port(&self) -> Option<u16> {
        Some(DEFAULT_PORT)
    }

    fn part(&self, ctx: &Context<'_>) -> Result<Part, String> {
        let p = ctx.port.unwrap_or(DEFAULT_PORT);
        let mut env = std::collections::BTreeMap::new();
        env.insert("OLLAMA_HOST".into(), format!("{}:{p}", ctx.bind));
        env.insert(
            "OLLAMA_MODELS".into(),
            models_dir(ctx.svc, ctx.base).display().to_string(),
        );
        ctx.gpu_env(&mut env);
        Ok(Part {
            argv: vec![ctx.binary_or_installed(Tool::Ollama), "serve".into()],
            env,
            check: Some(Check::Http {
                url: format!("http://{}:{p}/", ctx.host),
            }),
            start_period: Duration::from_secs(60),
        })
    }
}
