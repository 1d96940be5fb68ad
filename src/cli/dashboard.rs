//! `facerunner dashboard [--open]`: print (and open) the login link of the
//! project's `kind: dashboard` service; and the hidden `__dashboard`, the
//! process that service runs (see `crate::web`).

use std::path::PathBuf;
use std::process::ExitCode;

use miette::{IntoDiagnostic, miette};

use crate::cli::Global;
use crate::config::kinds::dashboard::{readonly_token_name, token_name};
use crate::config::resolve::{Secrets, connect_host};

/// Arguments of `facerunner dashboard`.
#[derive(Debug, clap::Args)]
pub struct DashboardArgs {
    /// Open the link in a browser (`xdg-open`).
    #[arg(long)]
    pub open: bool,
    /// Print the read-only link too.
    #[arg(long)]
    pub read_only: bool,
}

/// Run `facerunner dashboard`.
pub fn run(global: &Global, args: DashboardArgs) -> miette::Result<ExitCode> {
    let (spec, dirs, _) = crate::cli::project::load_project_with(global, Secrets::Create)?;
    let Some(svc) = spec.services.iter().find(|s| s.kind == "dashboard") else {
        return Err(miette!(
            help = "add one: `dashboard: { kind: dashboard }` under `services:`, then `facerunner apply`",
            "the project has no dashboard service"
        ));
    };
    let bind = svc.bind.clone().unwrap_or_else(|| "127.0.0.1".into());
    let host = connect_host(&bind);
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host
    };
    let port = svc
        .port
        .unwrap_or(crate::config::kinds::dashboard::DEFAULT_PORT);
    let read = |name: String| {
        crate::config::secrets::ensure(&dirs.secrets, &name)
            .into_diagnostic()
            .map_err(|e| e.wrap_err("cannot read the dashboard's token"))
    };
    let token = read(token_name(&svc.name))?;
    let url = format!("http://{host}:{port}/login?token={token}");
    println!("{url}");
    if args.read_only {
        let ro = read(readonly_token_name(&svc.name))?;
        println!("read-only: http://{host}:{port}/login?token={ro}");
    }
    anstream::eprintln!(
        "The link holds the dashboard's token: anyone with it controls the project. \
         (`facerunner status` says whether `{}` runs.)",
        svc.name
    );
    if args.open {
        match crate::observe::host::find_program("xdg-open", std::path::Path::new("/")) {
            Some(prog) => {
                std::process::Command::new(prog)
                    .arg(&url)
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .into_diagnostic()
                    .map_err(|e| e.wrap_err("cannot run xdg-open"))?;
            }
            None => anstream::eprintln!("xdg-open is not installed; open the link above yourself."),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `facerunner __dashboard` (what the service runs).
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The project.
    #[arg(long)]
    pub project: String,
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    /// Listen port.
    #[arg(long)]
    pub port: u16,
    /// The full-access token's file.
    #[arg(long, value_name = "PATH")]
    pub token_file: PathBuf,
    /// The read-only token's file.
    #[arg(long, value_name = "PATH")]
    pub readonly_token_file: PathBuf,
}

/// Serve the dashboard until stopped.
pub fn serve(a: ServeArgs) -> miette::Result<ExitCode> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FACERUNNER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(false)
        .try_init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .into_diagnostic()
        .map_err(|e| e.wrap_err("cannot start the dashboard's runtime"))?;
    rt.block_on(crate::web::run(crate::web::Options {
        project: a.project,
        bind: a.bind,
        port: a.port,
        token_file: a.token_file,
        readonly_token_file: a.readonly_token_file,
    }))
    .into_diagnostic()
    .map_err(|e| e.wrap_err("the dashboard stopped"))?;
    Ok(ExitCode::SUCCESS)
}
