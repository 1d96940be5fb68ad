//! `facerunner start|stop|restart SERVICE...`: control services of the
//! running project; `restart` without names restarts them all. `start` and `restart` also bring up the services'
//! dependencies; `stop` stops dependents first and leaves dependencies
//! running.

use std::process::ExitCode;

use miette::miette;

use crate::cli::Global;
use crate::cli::daemon::{connect, print_event, project_dirs, report, runtime};
use crate::model::wire::{Request, Response};

/// Arguments of `start`, `stop` and `restart`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServicesArgs {
    /// Services.
    #[arg(required = true)]
    pub services: Vec<String>,
}

/// Arguments of `restart`: as compose does, no names means every service.
#[derive(Debug, Clone, clap::Args)]
pub struct RestartArgs {
    /// Services (default: all).
    pub services: Vec<String>,
}

/// Which control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Start (with dependencies).
    Start,
    /// Stop (dependents first).
    Stop,
    /// Stop, then start.
    Restart,
}

/// Run one control against the project's daemon.
pub fn run(global: &Global, control: Control, args: ServicesArgs) -> miette::Result<ExitCode> {
    let dirs = project_dirs(global)?;
    runtime()?.block_on(async {
        let Some(client) = connect(&dirs).await? else {
            if control == Control::Stop {
                anstream::eprintln!("nothing is running for project {}", dirs.project);
                return Ok(ExitCode::SUCCESS);
            }
            return Err(miette!(
                help = "run `facerunner up` first",
                "nothing is running for project {}",
                dirs.project
            ));
        };
        let services = args.services;
        let request = match control {
            Control::Start => Request::Start { services },
            Control::Stop => Request::Stop { services },
            Control::Restart => Request::Restart { services },
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
