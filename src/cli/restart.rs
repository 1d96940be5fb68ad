//! `facerunner restart SERVICE...`: stop, then start services.

use std::process::ExitCode;

use miette::miette;

use crate::cli::Global;
use crate::cli::daemon::{connect, print_event, project_dirs, report, runtime};
use crate::supervisor::messages::{Request, Response};

/// Arguments of `facerunner restart`.
#[derive(Debug, Clone, clap::Args)]
pub struct RestartArgs {
    /// Services.
    #[arg(required = true)]
    pub services: Vec<String>,
}

/// Run `facerunner restart`.
pub fn run(global: &Global, args: RestartArgs) -> miette::Result<ExitCode> {
    let dirs = project_dirs(global)?;
    runtime()?.block_on(async {
        let Some(client) = connect(&dirs).await? else {
            return Err(miette!(
                help = "run `facerunner up` first",
                "nothing is running for project {}",
                dirs.project
            ));
        };
        let request = Request::Restart {
            services: args.services,
        };
        match client
            .request(&request, print_event)
            .await
            .map_err(report)?
        {
            Response::Done { failed } if !failed.is_empty() => {
                anstream::eprintln!("not ready: {}", failed.join(", "));
                Ok(ExitCode::FAILURE)
            }
            _ => Ok(ExitCode::SUCCESS),
        }
    })
}
