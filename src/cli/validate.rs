//! `facerunner validate [--json]`: every problem of the file at once.

use std::process::ExitCode;

use serde::Serialize;

use super::Global;
use super::output::print_diagnostics;
use crate::config::diag::JsonDiagnostic;
use crate::config::{Diagnostic, LoadError, SourceFile, discover, load};

/// Arguments of `validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Print the result as JSON: {valid, error_count, warning_count, diagnostics}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Report {
    valid: bool,
    error_count: usize,
    warning_count: usize,
    diagnostics: Vec<JsonDiagnostic>,
}

/// `gpus:` entries the inventory (`--gpus-from`, else this machine's)
/// lacks, as warnings at their entries: the file may be meant for another
/// machine, so validating it on a laptop must not fail. Without any
/// inventory there is nothing to compare with and nothing is said.
fn gpu_warnings(
    loaded: &crate::config::Loaded,
    inv: &crate::model::gpu::Inventory,
) -> Vec<Diagnostic> {
    use crate::config::gpus::{Outcome, check, declared};
    match check(&declared(loaded), inv) {
        Outcome::Skipped(_) => Vec::new(),
        Outcome::Checked(unmatched) => unmatched
            .into_iter()
            .map(|u| Diagnostic::warning(u.message, u.gpu.span).with_help(u.help))
            .collect(),
    }
}

/// `image:` does nothing locally: say it is for `export kubernetes` only.
fn image_notes(loaded: &crate::config::Loaded) -> Vec<Diagnostic> {
    use crate::config::check::seg;
    loaded
        .config
        .services
        .iter()
        .filter(|(_, s)| s.image.is_some())
        .map(|(name, _)| {
            Diagnostic::warning(
                format!("`image:` of `{name}` is used by `facerunner export kubernetes` only; local runs ignore it"),
                loaded.spans.key(&format!("/services/{}/image", seg(name))),
            )
            .with_help("keep it for the Kubernetes export, or remove it")
            .on_one_line()
        })
        .collect()
}

/// Run `validate`: exit 0 when valid (warnings allowed), 1 when not.
pub fn run(global: &Global, args: ValidateArgs) -> miette::Result<ExitCode> {
    let cwd = std::env::current_dir()
        .map_err(|e| miette::miette!("cannot read the current directory: {e}"))?;
    let path = match discover(global.file.as_deref(), &cwd) {
        Ok(p) => p,
        Err(e) => return Err(crate::cli::project::load_error(e)),
    };
    let (file, diags): (SourceFile, Vec<Diagnostic>) = match load(&path) {
        Ok(l) => {
            let mut diags = l.warnings.clone();
            diags.extend(gpu_warnings(&l, &global.inventory()?));
            diags.extend(image_notes(&l));
            (l.file, diags)
        }
        Err(LoadError::Invalid { file, diagnostics }) => (file, diagnostics),
        Err(e) => return Err(crate::cli::project::load_error(e)),
    };
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    if args.json {
        let report = Report {
            valid: errors == 0,
            error_count: errors,
            warning_count: warnings,
            diagnostics: diags.iter().map(|d| d.to_json(&file)).collect(),
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("the report always serializes")
        );
    } else {
        print_diagnostics(&diags, &file);
        let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
        if errors == 0 {
            println!(
                "{}: valid ({})",
                file.path.display(),
                plural(warnings, "warning")
            );
        } else {
            println!(
                "{}: {}, {}",
                file.path.display(),
                plural(errors, "error"),
                plural(warnings, "warning")
            );
        }
    }
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
