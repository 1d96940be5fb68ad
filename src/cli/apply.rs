//! `facerunner apply [--yes] [--json] [PLANFILE]`: make the live world
//! match the file.
//!
//! The plan is shown first; on a terminal `apply` asks before changing
//! anything, and without one it refuses unless `--yes` is given (a script
//! must say what it means). Progress goes to stderr: one bar per pull on a
//! terminal, plain lines otherwise; `--json` prints NDJSON events on stdout
//! instead. Exit 1 when any step failed; the summary says which.
//!
//! Planning and the review happen here, in the CLI; execution happens in
//! the project's daemon (started when none runs), which re-checks the plan
//! against the file and the live state under the apply lock, runs it with
//! the one executor that watch mode shares, and streams the engine's
//! events back ([`apply_in_daemon`]). Interrupting `apply` while it runs
//! does not stop the daemon's apply; see `supervisor::handler::apply`.

use std::cell::Cell;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use miette::{IntoDiagnostic, WrapErr, miette};

use crate::cli::Global;
use crate::cli::apply_daemon::{Failure, apply_in_daemon};
use crate::cli::daemon::runtime;
use crate::cli::progress::{Renderer, json_line, summary};
use crate::execute::{Applied, ApplyError};
use crate::plan::Plan;
use crate::plan::render::render;

/// Arguments of `facerunner apply`.
#[derive(Debug, Clone, clap::Args)]
pub struct ApplyArgs {
    /// Apply without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Print NDJSON events on stdout (implies no prompt: use with --yes).
    #[arg(long)]
    pub json: bool,
    /// A plan saved with `facerunner plan --out FILE`.
    pub planfile: Option<PathBuf>,
}

/// Run `facerunner apply`.
pub fn run(global: &Global, args: ApplyArgs) -> miette::Result<ExitCode> {
    let saved = args.planfile.as_deref().map(read_plan).transpose()?;
    let from_file = saved.is_some();
    let sink = Renderer::new(args.json);
    let refused_no_tty = Cell::new(false);
    let review = |plan: &Plan| {
        if args.json {
            json_line(&serde_json::json!({"event": "plan", "plan": plan}));
        } else {
            anstream::print!("{}", render(plan));
        }
        // A saved plan was reviewed when it was made (terraform's rule);
        // it runs only if a fresh plan equals it.
        if plan.is_empty() || plan.has_errors() || args.yes || from_file {
            return true;
        }
        if !std::io::stdin().is_terminal() {
            refused_no_tty.set(true);
            return false;
        }
        confirm()
    };
    let result = runtime()?.block_on(apply_in_daemon(global, saved, &sink, review));
    match result {
        Ok(Applied::NoChanges(_)) => {
            if args.json {
                json_line(&serde_json::json!({
                    "event": "summary", "succeeded": 0, "failed": 0, "skipped": 0
                }));
            }
            Ok(ExitCode::SUCCESS)
        }
        Ok(Applied::Ran { report, .. }) => Ok(summary(&report, args.json)),
        Err(Failure::Apply(ApplyError::Declined)) if refused_no_tty.get() => Err(miette!(
            help = "pass --yes to apply without confirmation",
            "stdin is not a terminal, so apply cannot ask; nothing was changed"
        )),
        Err(e) => Err(e.into_report(from_file)),
    }
}

fn read_plan(path: &std::path::Path) -> miette::Result<Plan> {
    // Bounded; a FIFO or device is refused without blocking.
    let text = crate::safefs::read_bounded(path, 64 << 20)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot read the plan {}", path.display()))?;
    let plan: Plan = serde_json::from_slice(&text).map_err(|e| {
        miette!(
            help = "save a plan with `facerunner plan --out FILE`",
            "{} is not a saved plan: {e}",
            path.display()
        )
    })?;
    plan.validate().map_err(|e| {
        miette!(
            help = "make the plan again with `facerunner plan --out FILE`; do not edit it by hand",
            "{} is not a valid plan: {e}; nothing was changed",
            path.display()
        )
    })?;
    Ok(plan)
}

fn confirm() -> bool {
    anstream::eprint!("Apply these changes? Only 'yes' is accepted: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).is_ok() && line.trim() == "yes"
}
