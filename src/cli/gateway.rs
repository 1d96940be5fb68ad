//! `facerunner gateway`: the process a `kind: gateway` service runs (see
//! `crate::gateway`). Hidden from help: the daemon starts it.

use std::path::PathBuf;
use std::process::ExitCode;

use miette::IntoDiagnostic;

/// Arguments of `facerunner gateway`.
#[derive(Debug, clap::Args)]
pub struct GatewayArgs {
    /// The project it belongs to (for its log and `ps`).
    #[arg(long)]
    pub project: Option<String>,
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    /// Listen port.
    #[arg(long)]
    pub port: u16,
    /// A backend, `NAME=URL` (repeat for each Ollama server).
    #[arg(long = "backend", value_name = "NAME=URL", value_parser = parse_backend)]
    pub backends: Vec<(String, String)>,
    /// Where a declared model lives, `MODEL=BACKEND[,BACKEND…]` (repeat):
    /// pulls, creates, copies and deletes of it go there.
    #[arg(long = "place", value_name = "MODEL=BACKEND[,BACKEND]", value_parser = parse_place)]
    pub place: Vec<(String, Vec<String>)>,
    /// The file holding the bearer token clients must send (required on a non-loopback bind).
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// A JSON object `{"MODEL": ["BACKEND", …]}` read again on every refresh
    /// (the daemon rewrites it on each apply), merged over `--place`.
    #[arg(long, value_name = "PATH")]
    pub placement_file: Option<PathBuf>,
}

fn parse_backend(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((n, u))
            if !n.is_empty() && (u.starts_with("http://") || u.starts_with("https://")) =>
        {
            Ok((n.to_string(), u.to_string()))
        }
        _ => Err(format!(
            "`{s}` is not NAME=URL; write e.g. gpu0=http://127.0.0.1:11434"
        )),
    }
}

fn parse_place(s: &str) -> Result<(String, Vec<String>), String> {
    match s.split_once('=') {
        Some((m, b)) if !m.is_empty() && !b.is_empty() => Ok((
            m.to_string(),
            b.split(',')
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect(),
        )),
        _ => Err(format!(
            "`{s}` is not MODEL=BACKEND[,BACKEND]; write e.g. llama3.2:1b=gpu0,gpu1"
        )),
    }
}

/// Run the gateway until stopped.
pub fn run(a: GatewayArgs) -> miette::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .into_diagnostic()
        .map_err(|e| e.wrap_err("cannot start the gateway's runtime"))?;
    rt.block_on(crate::gateway::run(crate::gateway::Options {
        project: a.project,
        bind: a.bind,
        port: a.port,
        backends: a.backends,
        place: a.place,
        token_file: a.token_file,
        placement_file: a.placement_file,
    }))
    .into_diagnostic()
    .map_err(|e| e.wrap_err("the gateway stopped"))?;
    Ok(ExitCode::SUCCESS)
}
