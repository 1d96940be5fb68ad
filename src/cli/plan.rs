//! `facerunner plan [--json] [--detailed-exitcode] [--out FILE]`: show
//! what `apply` would change, without changing anything.
//!
//! Exit codes follow Terraform: 0 nothing to do (or changes, without
//! `--detailed-exitcode`), 1 an error (including a failed check), 2 changes
//! pending with `--detailed-exitcode`. `--out` saves the plan as JSON with
//! the fingerprints of the file and the live state it was made from, for
//! `apply PLANFILE`.

use std::path::PathBuf;
use std::process::ExitCode;

use miette::{IntoDiagnostic, WrapErr, miette};

use crate::cli::Global;
use crate::cli::daemon::runtime;
use crate::config::resolve::Secrets;
use crate::execute::prepare::prepare;
use crate::plan::render::render;

/// Arguments of `facerunner plan`.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// Print the plan as JSON (see docs/plan-json.md).
    #[arg(long)]
    pub json: bool,
    /// Exit 2 when there are changes, 0 when there are none.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Save the plan to FILE for `facerunner apply FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Run `facerunner plan`.
pub fn run(global: &Global, args: PlanArgs) -> miette::Result<ExitCode> {
    let (spec, dirs, loaded) = crate::cli::project::load_project_with(global, Secrets::Peek)?;
    let prepared = runtime()?
        .block_on(prepare(&loaded, &spec, &dirs, &global.inventory()?))
        .map_err(|e| {
            miette!(
                help = "move the file away to start over (FaceRunner then owns nothing)",
                "{e}"
            )
        })?;
    let plan = prepared.plan;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&plan).into_diagnostic()?);
    } else {
        anstream::print!("{}", render(&plan));
    }
    if let Some(out) = &args.out {
        let json = serde_json::to_vec_pretty(&plan).into_diagnostic()?;
        // 0600, atomically, replacing (never following) a link at `out`.
        crate::safefs::write_private_atomic(out, &json)
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot write the plan to {}", out.display()))?;
        if !args.json {
            anstream::eprintln!(
                "Saved the plan to {}; apply it with `facerunner apply {}`.",
                out.display(),
                out.display()
            );
        }
    }
    if plan.has_errors() {
        return Err(miette!(
            help = "fix the errors above; nothing was changed",
            "the plan has errors; `apply` would refuse it"
        ));
    }
    Ok(if args.detailed_exitcode && !plan.is_empty() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
