//! `facerunner up [SERVICE...]`: start the daemon if needed, send the
//! project, start services in dependency order and wait until they are
//! ready. `--foreground` then follows their logs and stops everything on
//! Ctrl-C, like `docker compose up`.

use std::process::ExitCode;

use miette::IntoDiagnostic;

use crate::cli::Global;
use crate::cli::apply::{Renderer, summary};
use crate::execute::{Applied, ApplyOptions, apply_project};
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

/// Run `facerunner up`: with no service named, apply the whole file
/// (services and models) without asking, as `apply --yes` would; with
/// services named, start just those and their dependencies.
pub fn run(global: &Global, args: UpArgs) -> miette::Result<ExitCode> {
    let (spec, dirs, loaded) =
        crate::config::project::load_project_with(global, crate::config::resolve::Secrets::Create)?;
    let exe = std::env::current_exe().into_diagnostic()?;
    runtime()?.block_on(async {
        let ok = if args.services.is_empty() {
            let opts = ApplyOptions { exe: exe.clone(), saved: None, pull_concurrency: 3 };
            let sink = Renderer::new(false);
            match apply_project(&loaded, &spec, &dirs, opts, &sink, |_| true).await {
                Ok(Applied::NoChanges(_)) => {
                    anstream::eprintln!("everything is up to date");
                    true
                }
                Ok(Applied::Ran { report, .. }) => summary(&report, false) == ExitCode::SUCCESS,
                Err(e) => return Err(miette::miette!(help = "see `facerunner plan` for what up would do", "{e}")),
            }
        } else {
            let client = ensure_daemon(&dirs, &exe).await.map_err(report)?;
            let request = Request::Up { spec, services: args.services.clone() };
            let response = client.request(&request, print_event).await.map_err(report)?;
            let failed = match response {
                Response::Done { failed } => failed,
                _ => vec![],
            };
            if !failed.is_empty() {
                anstream::eprintln!("not ready: {}", failed.join(", "));
            }
            failed.is_empty()
        };
        if !ok && !args.foreground {
            return Ok(ExitCode::FAILURE);
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
