//! `facerunner setup`: install what the file needs and the machine lacks
//! (Ollama from its release archive, Open WebUI in a venv), then apply.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use miette::{IntoDiagnostic, WrapErr};

use super::Global;
use crate::config::types::Kind;
use crate::install::{self, Progress};
use crate::installs::{self, Tool};

/// Arguments of `facerunner setup`.
#[derive(Debug, clap::Args)]
pub struct SetupArgs {
    /// Install Ollama from this release archive (`ollama-linux-amd64.tar.zst` or `.tgz`),
    /// without the network; checked against a `sha256sum.txt` beside it when there is one.
    #[arg(long, value_name = "FILE")]
    pub ollama_archive: Option<PathBuf>,
    /// The Ollama version to install (default: the newest release, unless one is installed
    /// already). Releases come from $FACERUNNER_OLLAMA_RELEASES, else GitHub.
    #[arg(long, value_name = "V")]
    pub ollama_version: Option<String>,
    /// Apply without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Install only; do not apply.
    #[arg(long)]
    pub no_apply: bool,
}

/// Run `facerunner setup`.
pub fn run(global: &Global, args: SetupArgs) -> miette::Result<ExitCode> {
    let loaded = super::project::load_file(global)?;
    let needs = |kind: Kind| {
        loaded
            .config
            .services
            .values()
            .any(|s| s.kind == kind && s.binary.is_none())
    };
    let bar = Bar::default();
    ollama(&args, needs(Kind::Ollama), &bar)?;
    if needs(Kind::OpenWebui) {
        open_webui(&bar)?;
    }
    if args.no_apply {
        return Ok(ExitCode::SUCCESS);
    }
    super::apply::run(
        global,
        super::apply::ApplyArgs {
            yes: args.yes,
            json: false,
            planfile: None,
        },
    )
}

fn ollama(args: &SetupArgs, needed: bool, bar: &Bar) -> miette::Result<()> {
    let dir = installs::tool_dir(Tool::Ollama).into_diagnostic()?;
    let report = |outcome: install::ollama::Outcome| {
        use install::ollama::Outcome;
        match outcome {
            Outcome::Present(i) => {
                println!(
                    "ollama {}: installed already ({})",
                    i.version,
                    i.exe.display()
                );
            }
            Outcome::Installed(i) => {
                println!("ollama {}: installed ({})", i.version, i.exe.display());
            }
        }
        if let Some(p) = installs::on_path("ollama") {
            println!(
                "  note: services run {} (on PATH) before it; set `binary:` to choose",
                p.display()
            );
        }
    };
    if let Some(file) = &args.ollama_archive {
        let (outcome, checked) =
            install::ollama::install_archive(file, args.ollama_version.as_deref(), &dir)
                .into_diagnostic()?;
        match checked {
            Some(sums) => println!("{}: checked against {}", file.display(), sums.display()),
            None => println!(
                "{}: not checked (no sha256sum.txt beside it; put the release's there to check it)",
                file.display()
            ),
        }
        report(outcome);
        return Ok(());
    }
    if args.ollama_version.is_none() {
        if !needed {
            println!("ollama: not needed (no ollama service without `binary:`)");
            return Ok(());
        }
        if let Some(p) = installs::on_path("ollama") {
            println!("ollama: using {} (on PATH)", p.display());
            return Ok(());
        }
        if let Some(i) = installs::installed(Tool::Ollama) {
            println!(
                "ollama {}: installed already ({}); `--ollama-version V` installs another",
                i.version,
                i.exe.display()
            );
            return Ok(());
        }
    }
    let base = install::ollama::releases_base();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .into_diagnostic()?;
    let client = crate::http::client_builder()
        .connect_timeout(std::time::Duration::from_secs(30))
        .build()
        .into_diagnostic()
        .wrap_err("cannot build an HTTP client")?;
    let outcome = rt
        .block_on(async {
            let version = match &args.ollama_version {
                Some(v) => install::ollama::normalize_version(v)?,
                None => install::ollama::latest_version(&client, &base).await?,
            };
            install::ollama::install_release(&client, &base, &version, &dir, bar).await
        })
        .into_diagnostic()?;
    report(outcome);
    Ok(())
}

fn open_webui(bar: &Bar) -> miette::Result<()> {
    if let Some(p) = installs::on_path("open-webui") {
        println!("open-webui: using {} (on PATH)", p.display());
        return Ok(());
    }
    if let Some(i) = installs::installed(Tool::OpenWebui) {
        println!(
            "open-webui {}: installed already ({})",
            i.version,
            i.exe.display()
        );
        return Ok(());
    }
    let (python, v) = install::open_webui::find_python().into_diagnostic()?;
    let slim = crate::gpu::local().gpus.is_empty();
    println!(
        "open-webui {}: installing with {} (Python {v}){}",
        install::open_webui::VERSION,
        python.display(),
        if slim {
            ", CPU-only (no GPU found): torch and CUDA are left out"
        } else {
            ""
        }
    );
    let dir = installs::tool_dir(Tool::OpenWebui).into_diagnostic()?;
    match install::open_webui::install(&python, &dir, slim, bar).into_diagnostic()? {
        install::open_webui::Outcome::Present(i)
        | install::open_webui::Outcome::Installed { installed: i, .. } => {
            println!("open-webui {}: installed ({})", i.version, i.exe.display());
        }
    }
    Ok(())
}

/// A progress drawer for downloads (`update` uses it too).
pub(crate) fn bar() -> impl Progress {
    Bar::default()
}

/// A progress bar on a terminal, one line per step otherwise.
#[derive(Default)]
struct Bar(Mutex<Option<ProgressBar>>);

impl Progress for Bar {
    fn begin(&self, what: &str, total: Option<u64>) {
        if !std::io::stderr().is_terminal() {
            eprintln!("{what}...");
            return;
        }
        let pb = match total {
            Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr())
                .with_style(
                    ProgressStyle::with_template(
                        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                ),
            None => {
                let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                pb.enable_steady_tick(std::time::Duration::from_millis(120));
                pb
            }
        };
        pb.set_message(what.to_string());
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(pb);
        }
    }

    fn advance(&self, n: u64) {
        if let Ok(slot) = self.0.lock()
            && let Some(pb) = slot.as_ref()
        {
            pb.inc(n);
        }
    }

    fn end(&self) {
        if let Ok(mut slot) = self.0.lock()
            && let Some(pb) = slot.take()
        {
            pb.finish_and_clear();
        }
    }
}
