//! Command-line interface: clap definitions and one module per command.
//!
//! Each command lives in its own file with an `XArgs` struct and a
//! `run(&Global, XArgs) -> Result<ExitCode, Report>`. `dispatch` is the one
//! place that maps a parsed command to its module; `main.rs` only maps the
//! result to a process exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod completions;
pub mod config_cmd;
pub mod convert;
pub mod dashboard;
pub mod gateway;
pub mod gpus;
pub mod output;
pub mod project;
pub mod schema;
pub mod validate;
pub mod watch;
// supervisor commands
pub mod control;
pub mod daemon;
pub mod down;
pub mod logs;
pub mod status;
pub mod up;
// plan / apply / models
pub mod apply;
pub mod apply_daemon;
pub mod hf;
pub mod models;
pub mod plan;
pub mod progress;
pub mod pull;
pub mod rm;
// export to other engines
pub mod export;
// init / verify / integrations / man
pub mod init;
pub mod integrations;
pub mod man;
pub mod verify;
// setup, backup, service, update
pub mod backup;
pub mod service;
pub mod setup;
pub mod update;
// a running daemon becoming a new binary (update)
pub mod reexec;

/// Run a local LLM stack (Ollama, Open WebUI, any process) from one declarative file.
#[derive(Debug, Parser)]
#[command(name = "facerunner", version, about, propagate_version = true)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command understands.
#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// The project file (default: $FACERUNNER_FILE, else facerunner.yaml/.yml here or in the
    /// nearest parent). Given before the command, like compose: `facerunner -f FILE up`.
    #[arg(
        short = 'f',
        long = "file",
        env = "FACERUNNER_FILE",
        value_name = "PATH"
    )]
    pub file: Option<PathBuf>,
    /// When to use colour.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
    /// Plan, validate and list GPUs against this inventory (`facerunner gpus
    /// --json` output, maybe from another machine) instead of this machine's.
    #[arg(long, global = true, env = "FACERUNNER_GPUS_FROM", value_name = "FILE")]
    pub gpus_from: Option<PathBuf>,
}

impl Global {
    /// The GPU inventory to plan against: `--gpus-from`, else this machine's.
    pub fn inventory(&self) -> miette::Result<crate::model::gpu::Inventory> {
        match &self.gpus_from {
            Some(path) => crate::gpu::load_from(path).map_err(|e| {
                miette::Report::new(e).wrap_err("--gpus-from names a file that cannot be used")
            }),
            None => Ok(crate::gpu::local()),
        }
    }
}

pub use crate::style::ColorChoice;

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the project file: every problem at once, with file:line:col.
    Validate(validate::ValidateArgs),
    /// Print the JSON Schema of facerunner.yaml.
    Schema,
    /// Print the resolved file (interpolated, defaults filled in) or the spec hashes.
    Config(config_cmd::ConfigArgs),
    /// Convert Hugging Face names to Ollama names, with the reason and what answered (the Hub, or the table offline).
    Convert(convert::ConvertArgs),
    /// Print a shell completion script.
    Completions(completions::CompletionsArgs),
    /// Start services (and the daemon), wait until they are ready.
    Up(up::UpArgs),
    /// Stop every service in reverse dependency order, then the daemon.
    Down(down::DownArgs),
    /// Start services of the running project.
    Start(control::ServicesArgs),
    /// Stop services.
    Stop(control::ServicesArgs),
    /// Stop, then start services (all of them when none is named).
    Restart(control::RestartArgs),
    /// Show each service's state, health, pid, uptime, restarts, port, CPU and memory.
    Status(status::StatusArgs),
    /// Show service logs.
    Logs(logs::LogsArgs),
    /// Run the project's supervisor daemon (normally started on demand).
    Daemon(daemon::DaemonArgs),
    /// Internal: the per-service shim the daemon spawns.
    #[command(name = "__shim", hide = true)]
    Shim(daemon::ShimCmdArgs),
    /// Show what `apply` would change, without changing anything.
    Plan(plan::PlanArgs),
    /// Make the live world match the file (shows the plan, asks first).
    Apply(apply::ApplyArgs),
    /// List each ollama service's models: size, owned by FaceRunner, loaded.
    Models(models::ModelsArgs),
    /// Pull models (several at once) and record that FaceRunner owns them.
    Pull(pull::PullArgs),
    /// Remove models through the Ollama API.
    Rm(rm::RmArgs),
    /// Apply, then apply every saved change of the file (Ctrl-C stops watching).
    Watch(watch::WatchArgs),
    /// List the machine's GPUs (index, UUID, memory, load, processes and their services) for `gpus:`.
    Gpus(gpus::GpusArgs),
    /// Run a model-routing gateway in front of Ollama servers (what a `kind: gateway` service runs).
    #[command(hide = true)]
    Gateway(gateway::GatewayArgs),
    /// Export the project file for another engine: `export kubernetes` writes manifests.
    Export(export::ExportArgs),
    /// Print what the editor integrations (Continue, Zed) would write.
    Integrations(integrations::IntegrationsArgs),
    /// Write a commented facerunner.yaml for this machine (asks on a terminal).
    Init(init::InitArgs),
    /// Check that every service answers its API (and, with --deep, generates).
    Verify(verify::VerifyArgs),
    /// Write the man pages (facerunner.1 and one per command).
    Man(man::ManArgs),
    /// Install what the file needs and the machine lacks (Ollama, Open WebUI), then apply.
    Setup(setup::SetupArgs),
    /// Write one archive with the project file, state, model list (and optionally secrets, data).
    Backup(backup::BackupArgs),
    /// Restore a backup into an empty directory.
    Restore(backup::RestoreArgs),
    /// Run the project's daemon under systemd: `service install [--user]`, `uninstall`, `status`.
    Service(service::ServiceArgs),
    /// Check for a newer FaceRunner and install it (`--check`: only say).
    Update(update::UpdateArgs),
    /// The Hugging Face Hub: repo info, search, download into the shared cache.
    Hf(hf::HfArgs),
    /// Print the dashboard's login link (with its token); `--open` opens it.
    Dashboard(dashboard::DashboardArgs),
    /// Internal: the process a `kind: dashboard` service runs.
    #[command(name = "__dashboard", hide = true)]
    DashboardServe(dashboard::ServeArgs),
    // -- commands --
}

/// Run one parsed command.
pub fn dispatch(cli: Cli) -> miette::Result<ExitCode> {
    let Cli { global, command } = cli;
    if matches!(
        command,
        Command::Up(_) | Command::Apply(_) | Command::Status(_)
    ) {
        update::notice();
    }
    match command {
        Command::Validate(a) => validate::run(&global, a),
        Command::Schema => schema::run(),
        Command::Config(a) => config_cmd::run(&global, a),
        Command::Convert(a) => convert::run(a),
        Command::Completions(a) => completions::run(a),
        Command::Up(a) => up::run(&global, a),
        Command::Down(a) => down::run(&global, a),
        Command::Start(a) => control::run(&global, control::Control::Start, a),
        Command::Stop(a) => control::run(&global, control::Control::Stop, a),
        Command::Restart(a) => control::run(
            &global,
            control::Control::Restart,
            control::ServicesArgs {
                services: a.services,
            },
        ),
        Command::Status(a) => status::run(&global, a),
        Command::Logs(a) => logs::run(&global, a),
        Command::Daemon(a) => daemon::run(&global, a),
        Command::Shim(a) => daemon::run_shim(a),
        Command::Plan(a) => plan::run(&global, a),
        Command::Apply(a) => apply::run(&global, a),
        Command::Models(a) => models::run(&global, a),
        Command::Pull(a) => pull::run(&global, a),
        Command::Rm(a) => rm::run(&global, a),
        Command::Watch(a) => watch::run(&global, a),
        Command::Gpus(a) => gpus::run(&global, a),
        Command::Gateway(a) => gateway::run(a),
        Command::Export(a) => export::run(&global, a),
        Command::Integrations(a) => integrations::run(&global, a),
        Command::Init(a) => init::run(&global, a),
        Command::Verify(a) => verify::run(&global, a),
        Command::Man(a) => man::run(a),
        Command::Setup(a) => setup::run(&global, a),
        Command::Backup(a) => backup::run_backup(&global, a),
        Command::Restore(a) => backup::run_restore(&global, a),
        Command::Service(a) => service::run(&global, a),
        Command::Update(a) => update::run(&global, a),
        Command::Hf(a) => hf::run(&global, a),
        Command::Dashboard(a) => dashboard::run(&global, a),
        Command::DashboardServe(a) => dashboard::serve(a),
        // -- dispatch --
    }
}

/// The daemon, reached through its socket (started when none runs), as
/// commands that run the engine in the CLI's process drive services.
pub fn driver(
    dirs: &crate::paths::ProjectDirs,
) -> miette::Result<std::sync::Arc<crate::execute::Remote>> {
    use miette::IntoDiagnostic;
    Ok(std::sync::Arc::new(crate::execute::Remote {
        dirs: dirs.clone(),
        exe: std::env::current_exe()
            .into_diagnostic()
            .map_err(|e| e.wrap_err("cannot find the facerunner executable"))?,
    }))
}
