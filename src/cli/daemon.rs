//! `facerunner daemon`, the hidden `__shim` mode, and the plumbing every
//! daemon-client command shares (runtime, project directories, event
//! rendering, error reports).

use std::process::ExitCode;
use std::time::Duration;

use miette::{IntoDiagnostic, miette};

use crate::cli::Global;
use crate::client::error::SupervisorError;
use crate::client::{self, Client};
use crate::model::wire::{ErrorKind, Event};
use crate::paths::ProjectDirs;
use crate::style::{bold, paint};
use crate::supervisor::shim::{self, ShimArgs};

/// Arguments of `facerunner daemon`.
#[derive(Debug, Clone, clap::Args)]
pub struct DaemonArgs {
    /// Run in this process (for systemd and debugging) instead of detaching.
    #[arg(long)]
    pub foreground: bool,
    /// Project name (set by the CLI when it starts the daemon; else read from the file).
    #[arg(long, hide = true)]
    pub project: Option<String>,
    /// With --foreground: bring the file's services up once listening, then
    /// tell systemd READY=1 (what `facerunner service install` runs).
    #[arg(long, requires = "foreground")]
    pub up: bool,
    /// Re-execute the running daemon (as this executable), keeping its
    /// services running: what `facerunner update` does after replacing the binary.
    #[arg(long, conflicts_with_all = ["foreground", "up"])]
    pub reexec: bool,
    /// Take over the services of the daemon's previous image (set by the
    /// daemon when it re-executes itself).
    #[arg(long, hide = true, value_name = "FILE", requires = "foreground")]
    pub adopt: Option<std::path::PathBuf>,
    /// Print the handover format this executable reads, and exit (asked by
    /// a daemon before it re-executes as this executable).
    #[arg(long, hide = true)]
    pub adopt_check: bool,
}

/// Arguments of the hidden `facerunner __shim`.
#[derive(Debug, Clone, clap::Args)]
pub struct ShimCmdArgs {
    /// Pid of the daemon.
    #[arg(long)]
    pub parent: u32,
    /// Stop signal.
    #[arg(long, default_value = "SIGTERM")]
    pub signal: String,
    /// Grace period in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub grace_ms: u64,
    /// The service's argv.
    #[arg(last = true, required = true)]
    pub argv: Vec<String>,
}

/// Run `facerunner daemon`.
pub fn run(global: &Global, args: DaemonArgs) -> miette::Result<ExitCode> {
    if args.adopt_check {
        println!("{}", crate::supervisor::reexec::adopt_check_line());
        return Ok(ExitCode::SUCCESS);
    }
    let dirs = match args.project {
        Some(p) => ProjectDirs::for_project(&p).into_diagnostic()?,
        None => project_dirs(global)?,
    };
    if args.foreground {
        // A re-executed daemon's services are up already.
        super::service::notify_when_ready(global, &dirs, args.up && args.adopt.is_none());
        crate::supervisor::daemon::run(dirs, args.adopt).map_err(report)?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.reexec {
        let exe = std::env::current_exe().into_diagnostic()?;
        let rt = runtime()?;
        return match super::reexec::reexec(&rt, &dirs, &exe)? {
            Some(done) => {
                println!("{done}");
                Ok(ExitCode::SUCCESS)
            }
            None => Err(miette!(
                help = "`facerunner up` starts it",
                "no daemon runs for project {}",
                dirs.project
            )),
        };
    }
    let exe = std::env::current_exe().into_diagnostic()?;
    let c = runtime()?
        .block_on(client::ensure_daemon(&dirs, &exe))
        .map_err(report)?;
    println!(
        "daemon for {} running (pid {})",
        dirs.project,
        c.daemon_pid()
    );
    Ok(ExitCode::SUCCESS)
}

/// Run the shim (see `supervisor::shim`).
pub fn run_shim(args: ShimCmdArgs) -> miette::Result<ExitCode> {
    let code = shim::run(ShimArgs {
        parent: args.parent,
        signal: args.signal,
        grace: Duration::from_millis(args.grace_ms),
        argv: args.argv,
    });
    Ok(ExitCode::from(code))
}

/// A small runtime for one client command.
pub(crate) fn runtime() -> miette::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .into_diagnostic()
}

/// The project's directories, from the file (without resolving it).
/// Works while the file is invalid (mid-edit): only the project name is needed.
pub(crate) fn project_dirs(global: &Global) -> miette::Result<ProjectDirs> {
    let cwd = std::env::current_dir().into_diagnostic()?;
    let path = crate::config::discover(global.file.as_deref(), &cwd)
        .map_err(crate::cli::project::load_error)?;
    let dirs =
        ProjectDirs::for_project(&crate::config::load::project_of(&path)).into_diagnostic()?;
    dirs.check_owner(&path, false).into_diagnostic()?;
    Ok(dirs)
}

/// Connect to a running daemon, if any.
pub(crate) async fn connect(dirs: &ProjectDirs) -> miette::Result<Option<Client>> {
    Client::connect(&dirs.socket()).await.map_err(report)
}

/// One line per event, compose style.
pub(crate) fn print_event(e: &Event) {
    use anstyle::AnsiColor::{Cyan, Green, Red, Yellow};
    match e {
        Event::Waiting { service, on } => {
            anstream::eprintln!(" {} {} waiting for {on}", paint("…", Cyan), bold(service))
        }
        Event::Starting { service } => {
            anstream::eprintln!(" {} {} starting", paint("…", Cyan), bold(service))
        }
        Event::Started { service, pid } => anstream::eprintln!(
            " {} {} started (pid {pid})",
            paint("•", Cyan),
            bold(service)
        ),
        Event::Ready { service } => {
            anstream::eprintln!(" {} {} ready", paint("✔", Green), bold(service))
        }
        Event::Unchanged { service } => anstream::eprintln!(
            " {} {} running (unchanged)",
            paint("✔", Green),
            bold(service)
        ),
        Event::Stopping { service } => {
            anstream::eprintln!(" {} {} stopping", paint("…", Yellow), bold(service))
        }
        Event::Stopped { service } => {
            anstream::eprintln!(" {} {} stopped", paint("✔", Yellow), bold(service))
        }
        Event::Failed {
            service,
            reason,
            probe,
            log_tail,
        } => {
            anstream::eprintln!(" {} {} failed: {reason}", paint("✘", Red), bold(service));
            if let Some(p) = probe {
                anstream::eprintln!("     probe: {p}");
            }
            if !log_tail.is_empty() {
                anstream::eprintln!("     last log lines:");
                for l in log_tail {
                    anstream::eprintln!("       {l}");
                }
            }
        }
    }
}

/// A supervisor error as a report with help.
pub(crate) fn report(e: SupervisorError) -> miette::Report {
    match e {
        SupervisorError::AlreadyRunning { project, pid } => miette!(
            help = "`facerunner down` stops it; `facerunner status` shows what it runs",
            "a daemon is already running for project {project} (pid {pid})"
        ),
        e @ (SupervisorError::ProtocolMismatch { .. }
        | SupervisorError::SocketPathTooLong { .. }) => {
            let help = e.help().unwrap_or_default();
            miette!(help = help, "{e}")
        }
        SupervisorError::DaemonStart { secs, log } => miette!(
            help = format!("its log is {}", log.display()),
            "the daemon did not start within {secs}s"
        ),
        SupervisorError::Remote(w) => {
            let help = match w.kind {
                ErrorKind::UnknownService => "`facerunner status` lists the project's services",
                ErrorKind::NoProject => "run `facerunner up` first",
                ErrorKind::WrongProject => {
                    "run the command from the project's directory, or pass -f"
                }
                ErrorKind::InvalidSpec => "`facerunner validate` checks the file",
                ErrorKind::InvalidConfig => {
                    "`facerunner validate` shows what is wrong with the file"
                }
                ErrorKind::StalePlan => "run `facerunner plan` again and review the new plan",
                ErrorKind::PlanVersion => {
                    "make the plan again with this facerunner: `facerunner plan --out FILE`"
                }
                ErrorKind::PlanErrors => "fix the errors `facerunner plan` lists",
                ErrorKind::InvalidPlan => {
                    "make the plan again with `facerunner plan --out FILE`; do not edit it by hand"
                }
                ErrorKind::ShuttingDown | ErrorKind::Internal => {
                    "see the daemon's log (state/daemon.log)"
                }
            };
            miette!(help = help, "{}", w.message)
        }
        other => {
            // Keep the causes: "cannot create DIR" alone does not say why.
            let message = crate::style::with_causes(&other);
            miette!(
                help = "see the daemon's log (state/daemon.log)",
                "{message}"
            )
        }
    }
}
