//! `facerunner down`: stop every service in reverse dependency order, then
//! the daemon. Without a daemon, nothing to do.

use std::process::ExitCode;
use std::time::Duration;

use crate::cli::Global;
use crate::cli::daemon::{connect, print_event, project_dirs, report, runtime};
use crate::client;
use crate::model::wire::Request;

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
        let pid = client.daemon_pid();
        client
            .request(&Request::Down, print_event)
            .await
            .map_err(report)?;
        if !client::wait_for_exit(&dirs, pid, Duration::from_secs(30)).await {
            anstream::eprintln!("the daemon (pid {pid}) is still shutting down");
        }
        Ok(ExitCode::SUCCESS)
    })
}
