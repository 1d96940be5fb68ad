//! `facerunner up [SERVICE...]`: start the daemon if needed, send the
//! project, start services in dependency order and wait until they are
//! ready. `--foreground` then follows their logs and stops everything on
//! Ctrl-C, like `docker compose up`.

use std::process::ExitCode;

use miette::IntoDiagnostic;

use crate::cli::Global;
use crate::cli::daemon::{print_event, report, runtime};
use crate::cli::logs::{LogsArgs, follow_until};
use crate::supervisor::client::{Client, ensure_daemon, wait_for_exit};
use crate::supervisor::messages::{Request, Response};

/// Arguments of `facerunner up`.
#[derive(Debug, Clone, clap::Args)]
pub struct UpArgs {
    /// Services to start (with their dependencies); all when none.
    pub services: Vec<String>,
    /// Stay attached: print the logs, stop everything on Ctrl-C.
    #[arg(long)]
    pub foreground: bool,
}

/// Run `facerunner up`.
pub fn run(global: &Global, args: UpArgs) -> miette::Result<ExitCode> {
    let (spec, dirs) = crate::config::load_project(global)?;
    let exe = std::env::current_exe().into_diagnostic()?;
    runtime()?.block_on(async {
        let client = ensure_daemon(&dirs, &exe).await.map_err(report)?;
        let request = Request::Up {
            spec,
            services: args.services.clone(),
        };
        let response = client
            .request(&request, print_event)
            .await
            .map_err(report)?;
        let failed = match response {
            Response::Done { failed } => failed,
            _ => vec![],
        };
        if !failed.is_empty() {
            anstream::eprintln!("not ready: {}", failed.join(", "));
            if !args.foreground {
                return Ok(ExitCode::FAILURE);
            }
        }
        if !args.foreground {
            return Ok(ExitCode::SUCCESS);
        }
        let logs = LogsArgs {
            services: args.services,
            follow: true,
            tail: Some(0),
            since: None,
            json: false,
        };
        follow_until(global, &dirs, &logs, tokio::signal::ctrl_c()).await?;
        anstream::eprintln!("stopping…");
        if let Some(c) = Client::connect(&dirs.socket()).await.map_err(report)? {
            let pid = c.daemon_pid();
            c.request(&Request::Down, print_event)
                .await
                .map_err(report)?;
            wait_for_exit(&dirs, pid, std::time::Duration::from_secs(30)).await;
        }
        Ok(ExitCode::SUCCESS)
    })
}
