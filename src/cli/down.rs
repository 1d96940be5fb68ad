//! `facerunner down`: stop every service in reverse dependency order, then
//! the daemon. Without a daemon, nothing to do.

use std::process::ExitCode;

use crate::cli::Global;
use crate::cli::daemon::{connect, print_event, project_dirs, report, runtime};
use crate::supervisor::messages::Request;

/// Arguments of `facerunner down`.
#[derive(Debug, Clone, clap::Args)]
pub struct DownArgs {}

/// Run `facerunner down`.
pub fn run(global: &Global, _args: DownArgs) -> miette::Result<ExitCode> {
    let dirs = project_dirs(global)?;
    runtime()?.block_on(async {
        let Some(client) = connect(&dirs).await? else {
            anstream::eprintln!("nothing is running for project {}", dirs.project);
            return Ok(ExitCode::SUCCESS);
        };
        client.request(&Request::Down, print_event).await.map_err(report)?;
        Ok(ExitCode::SUCCESS)
    })
}
