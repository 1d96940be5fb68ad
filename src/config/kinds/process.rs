//! `kind: process` (the default): any program, run as written.

use std::time::Duration;

use super::{Context, Part, ServiceKind};
use crate::config::types::Command;

/// Any local program.
pub struct Process;

impl ServiceKind for Process {
    fn default_port(&self) -> Option<u16> {
        None
    }

    fn part(&self, ctx: &Context<'_>) -> Result<Part, String> {
        let argv = match &ctx.svc.command {
            Some(Command::Argv(a)) => a.clone(),
            Some(Command::Line(l)) => vec!["/bin/sh".into(), "-c".into(), l.clone()],
            None => Vec::new(),
        };
        let mut env = Default::default();
        ctx.gpu_env(&mut env);
        Ok(Part {
            argv,
            env,
            check: None,
            start_period: Duration::ZERO,
        })
    }
}
