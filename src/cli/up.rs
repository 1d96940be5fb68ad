//! `facerunner up [SERVICE...]`: start the daemon if needed, send the
//! project, start services in dependency order and wait until they are
//! ready. Without services, `up` applies the whole file through the
//! daemon's executor, exactly as `apply --yes` does. `--foreground` then follows their logs and stops everything on
//! Ctrl-C, like `docker compose up`.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Mutex;

use miette::IntoDiagnostic;

use crate::cli::Global;
use crate::cli::apply_daemon::{Failure, apply_in_daemon};
use crate::cli::daemon::{print_event, report, runtime};
use crate::cli::logs::{LogsArgs, follow_until};
use crate::cli::progress::{Renderer, summary};
use crate::client::{Client, ensure_daemon, wait_for_exit};
use crate::execute::{Applied, ExecEvent, Outcome, Sink};
use crate::model::wire::{Request, Response};
use crate::plan::render::render_checks;
use crate::plan::{Action, Plan};
use crate::style::paint;

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
    runtime()?.block_on(async {
        let dirs = if args.services.is_empty() {
            // The whole file goes through the daemon's executor, as `apply` does.
            let sink = UpRenderer::new();
            let applied = apply_in_daemon(global, None, &sink, |plan| {
                sink.learn(plan);
                // `up` shows no plan, but refusing one must say why, as `plan` does.
                if plan.has_errors() {
                    anstream::eprint!("{}", render_checks(&plan.checks));
                }
                true
            })
            .await;
            let dirs = crate::cli::daemon::project_dirs(global)?;
            let ok = match applied {
                Ok(Applied::NoChanges(_)) => {
                    anstream::eprintln!("everything is up to date");
                    true
                }
                Ok(Applied::Ran { report, .. }) => summary(&report, false) == ExitCode::SUCCESS,
                Err(Failure::Apply(e)) => {
                    return Err(miette::miette!(
                        help = "see `facerunner plan` for what up would do",
                        "{e}"
                    ));
                }
                Err(e) => return Err(e.into_report(false)),
            };
            if !ok && !args.foreground {
                return Ok(ExitCode::FAILURE);
            }
            dirs
        } else {
            let (spec, dirs, _) = crate::cli::project::load_project_with(
                global,
                crate::config::resolve::Secrets::Create,
            )?;
            let exe = std::env::current_exe().into_diagnostic()?;
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
            dirs
        };
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

/// `up`'s view of the engine's events: service steps read as `up SERVICE`
/// does (one line per service event, by service name), model steps as in
/// `apply`.
struct UpRenderer {
    models: Renderer,
    /// Service step id → (service, whether the step stops it).
    services: Mutex<HashMap<usize, (String, bool)>>,
}

impl UpRenderer {
    fn new() -> UpRenderer {
        UpRenderer {
            models: Renderer::new(false),
            services: Mutex::new(HashMap::new()),
        }
    }

    /// Remember which steps of the plan about to run are service steps.
    fn learn(&self, plan: &Plan) {
        let mut services = self.services.lock().unwrap_or_else(|p| p.into_inner());
        services.clear();
        // A daemon step reads as in `apply` (its title), not as a service.
        for step in plan
            .steps
            .iter()
            .filter(|s| s.action.model().is_none() && !s.action.is_daemon() && !s.action.is_file())
        {
            let stop = matches!(step.action, Action::StopService { .. });
            services.insert(step.id, (step.action.service().to_string(), stop));
        }
    }
}

impl Sink for UpRenderer {
    fn event(&self, event: &ExecEvent) {
        use anstyle::AnsiColor::{Cyan, Green, Red, Yellow};
        let id = match event {
            ExecEvent::StepStarted { id, .. }
            | ExecEvent::Progress { id, .. }
            | ExecEvent::StepFinished { id, .. } => Some(*id),
            ExecEvent::WaitingForLock { .. } => None,
        };
        let service = id.and_then(|id| {
            self.services
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&id)
                .cloned()
        });
        let Some((name, stop)) = service else {
            return self.models.event(event);
        };
        match event {
            ExecEvent::Progress { status, .. } => {
                anstream::eprintln!(" {} {name} {status}", paint("…", Cyan))
            }
            ExecEvent::StepFinished { outcome, .. } => match outcome {
                Outcome::Succeeded if stop => {
                    anstream::eprintln!(" {} {name} stopped", paint("✔", Yellow))
                }
                Outcome::Succeeded => anstream::eprintln!(" {} {name} ready", paint("✔", Green)),
                Outcome::Failed(error) => {
                    anstream::eprintln!(" {} {name} failed: {error}", paint("✘", Red))
                }
                Outcome::Skipped { because } => anstream::eprintln!(
                    " {} {name} skipped: step {because} did not succeed",
                    paint("-", Yellow)
                ),
            },
            // The daemon's own events follow; the start says nothing yet.
            ExecEvent::StepStarted { .. } | ExecEvent::WaitingForLock { .. } => {}
        }
    }
}
