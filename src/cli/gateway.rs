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
    /// How a conversation keeps to one backend: `header` (only requests
    /// with an `X-FaceRunner-Session` header) or `prefix` (also by the
    /// prompt's start).
    #[arg(long, value_name = "HOW", default_value = "header", value_parser = ["header", "prefix"])]
    pub sticky: String,
    /// Threads serving requests (default 1: everything on one thread, like
    /// nginx's single worker; one thread forwards tens of thousands of
    /// answers a second). Measured on 2 shared cores, two threads were
    /// slower at 1 client and had a worse p99 at 64 (`cargo bench --bench
    /// gateway_bench`); more may help on many cores under heavy load.
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
}

fn parse_backend(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((n, u)) if !n.is_empty() => {
            crate::gateway::upstream::Target::parse(u)?;
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

/// The threads the gateway runs unless `--threads` says otherwise.
const DEFAULT_THREADS: u16 = 1;

/// The runtime `--threads` asks for: one thread runs a current-thread
/// runtime (a request's tasks, client and backend side, wake each other
/// without crossing threads); more, a multi-thread runtime of that many.
fn runtime(threads: u16) -> std::io::Result<tokio::runtime::Runtime> {
    let mut b = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(usize::from(threads));
        b
    };
    // Sockets and timers only: the gateway starts no process and takes
    // its stop signal as any process does, so no signal driver runs.
    b.enable_io().enable_time().build()
}

/// Run the gateway until stopped.
pub fn run(a: GatewayArgs) -> miette::Result<ExitCode> {
    let rt = runtime(a.threads.unwrap_or(DEFAULT_THREADS))
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
        sticky_prefix: a.sticky == "prefix",
    }))
    .into_diagnostic()
    .map_err(|e| e.wrap_err("the gateway stopped"))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        a: GatewayArgs,
    }

    #[test]
    fn threads_choose_the_runtime_and_the_default_is_one() {
        let parse = |extra: &[&str]| {
            Cli::try_parse_from(["gw", "--port", "1"].iter().chain(extra)).map(|c| c.a.threads)
        };
        assert_eq!(parse(&[]).expect("default"), None);
        assert_eq!(parse(&["--threads", "3"]).expect("three"), Some(3));
        assert!(parse(&["--threads", "0"]).is_err(), "0 threads is refused");

        let one = runtime(1).expect("runtime");
        assert_eq!(
            one.handle().runtime_flavor(),
            tokio::runtime::RuntimeFlavor::CurrentThread
        );
        let three = runtime(3).expect("runtime");
        assert_eq!(
            three.handle().runtime_flavor(),
            tokio::runtime::RuntimeFlavor::MultiThread
        );
        assert_eq!(three.metrics().num_workers(), 3);
        // Both serve: a task spawned on each runs.
        for rt in [one, three] {
            assert_eq!(
                rt.block_on(async { tokio::spawn(async { 7 }).await }).ok(),
                Some(7)
            );
        }
    }
}
