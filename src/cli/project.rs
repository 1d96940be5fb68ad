//! The one way commands get a project: find the file, load it, report its
//! problems, and resolve it into a [`ProjectSpec`] with its directories.

use miette::{IntoDiagnostic, WrapErr, miette};

use super::Global;
use super::output::print_diagnostics;
use crate::config::load::{LoadError, Loaded, discover, load};
use crate::config::resolve::{Secrets, resolve};
use crate::model::spec::ProjectSpec;
use crate::paths::ProjectDirs;

/// Find and load the project file; errors are printed with their locations
/// and summarized in the returned report. Warnings are printed too.
pub fn load_file(global: &Global) -> miette::Result<Loaded> {
    let cwd = std::env::current_dir()
        .into_diagnostic()
        .wrap_err("cannot read the current directory")?;
    let loaded = discover(global.file.as_deref(), &cwd).and_then(|p| load(&p));
    match loaded {
        Ok(l) => {
            print_diagnostics(&l.warnings, &l.file);
            Ok(l)
        }
        Err(e) => Err(load_error(e)),
    }
}

/// Turn a load error into a report, printing each diagnostic first.
pub fn load_error(e: LoadError) -> miette::Report {
    match e {
        LoadError::NotFound { searched } => miette!(
            help =
                "create one (see facerunner.example.yaml), or pass -f PATH / set FACERUNNER_FILE",
            "no facerunner.yaml or facerunner.yml in {} or any parent directory",
            searched.display()
        ),
        LoadError::NoSuchFile { path } => miette!(
            help = "check the path given with -f (it goes before the command: `facerunner -f FILE status`) or FACERUNNER_FILE",
            "{} does not exist",
            path.display()
        ),
        LoadError::Invalid { file, diagnostics } => {
            print_diagnostics(&diagnostics, &file);
            let n = diagnostics.iter().filter(|d| d.is_error()).count();
            miette!(
                help = "fix the errors above; `facerunner validate` checks the file without touching anything",
                "{} has {n} error{}",
                file.path.display(),
                if n == 1 { "" } else { "s" }
            )
        }
    }
}

/// Load the file and resolve it for running (secrets are created).
pub fn load_project(global: &Global) -> miette::Result<(ProjectSpec, ProjectDirs)> {
    let (spec, dirs, _) = load_project_with(global, Secrets::Create)?;
    Ok((spec, dirs))
}

/// Load and resolve, keeping the loaded file too.
pub fn load_project_with(
    global: &Global,
    secrets: Secrets,
) -> miette::Result<(ProjectSpec, ProjectDirs, Loaded)> {
    let loaded = load_file(global)?;
    let dirs = ProjectDirs::for_project(&loaded.project).into_diagnostic()?;
    dirs.check_owner(&loaded.file.path, secrets == Secrets::Create)
        .into_diagnostic()?;
    let loaded = expanded(global, loaded)?;
    let spec = resolve(&loaded, &dirs, secrets)
        .map_err(|e| miette!(help = "fix the file or the path it names", "{e}"))?;
    Ok((spec, dirs, loaded))
}

/// The file with `replicas: per-gpu` services replaced by their instances,
/// one per GPU of their `gpus:`, else of the inventory (`--gpus-from`, else
/// this machine's: read only when needed). Notes about it are printed.
pub fn expanded(global: &Global, mut loaded: Loaded) -> miette::Result<Loaded> {
    let inventory = if crate::config::replicas::needs_inventory(&loaded.config) {
        global.inventory()?
    } else {
        crate::model::gpu::Inventory::default()
    };
    let before = loaded.warnings.len();
    crate::config::replicas::expand(&mut loaded, &inventory).map_err(|e| {
        miette!(
            help = "fix `port:`, `gpus:` or the service names in the file",
            "{e}"
        )
    })?;
    print_diagnostics(&loaded.warnings[before..], &loaded.file);
    Ok(loaded)
}
