//! `facerunner stop SERVICE...`: stop services (dependents first); their dependencies keep running.

use std::process::ExitCode;

use crate::cli::Global;
use crate::cli::daemon::{connect, print_event, project_dirs, report, runtime};
use crate::supervisor::messages::{Request, Response};

/// Arguments of `facerunner stop`.
#[derive(Debug, Clone, clap::Args)]
pub struct StopArgs {
    /// Services.
    #[arg(required = true)]
    pub services: Vec<String>,
}

/// Run `facerunner stop`.
pub fn run(global: &Global, args: StopArgs) -> miette::Result<ExitCode> {
    let dirs = project_dirs(global)?;
    runtime()?.block_on(async {
        let Some(client) = connect(&dirs).await? else {
            anstream::eprintln!("nothing is running for project {}", dirs.project);
            return Ok(ExitCode::SUCCESS);
        };
        let request = Request::Stop {
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
