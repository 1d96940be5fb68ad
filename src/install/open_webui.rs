//! Installing Open WebUI into a virtual environment of its own.
//!
//! Open WebUI needs Python 3.11 or 3.12 (`Requires-Python >=3.11,<3.13`):
//! `python3.11`, then `python3.12`, then a `python3` of one of those
//! versions is used. The venv is `_tools/open-webui/<VERSION>` with the
//! pinned [`VERSION`]; on a machine without a GPU the CUDA/torch packages
//! are removed afterwards (the "slim" install, 2.1 GB instead of 7.3 GB,
//! see shared/reference/real-components.md). The venv is created in place
//! (venvs cannot be moved) and recorded as `current` only when complete; a
//! failed attempt is removed.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::Progress;
use crate::installs::{Installed, Tool};
use crate::safefs::path_err;

/// The Open WebUI version `facerunner setup` installs.
pub const VERSION: &str = "0.12.4";

/// What a CPU-only machine removes after installing (torch and CUDA).
pub const SLIM_REMOVE: &[&str] = &[
    "torch",
    "triton",
    "accelerate",
    "sentence-transformers",
    "cuda-bindings",
    "cuda-pathfinder",
    "cuda-toolkit",
    "nvidia-cublas",
    "nvidia-cuda-cccl",
    "nvidia-cuda-cupti",
    "nvidia-cuda-nvrtc",
    "nvidia-cuda-runtime",
    "nvidia-cudnn-cu13",
    "nvidia-cufft",
    "nvidia-cufile",
    "nvidia-cusolver",
    "nvidia-cusparse",
    "nvidia-cusparselt-cu13",
    "nvidia-nccl-cu13",
    "nvidia-nvjitlink",
    "nvidia-nvshmem-cu13",
    "nvidia-nvtx",
];

/// Why Open WebUI could not be installed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// No suitable Python.
    #[error(
        "Open WebUI needs Python 3.11 or 3.12, and none was found on PATH{}; install one (e.g. `apt install python3.11-venv`, `brew install python@3.11`, or `uv python install 3.11`), or install open-webui yourself and put it on PATH or in `binary:`",
        found.as_ref().map(|f| format!(" ({f} is another version)")).unwrap_or_default()
    )]
    NoPython {
        /// The `python3` found, if any, with its version.
        found: Option<String>,
    },
    /// A step failed.
    #[error(
        "`{command}` failed ({status}); see its output above. Fix the cause (network, disk space, the python venv module) and run `facerunner setup` again"
    )]
    Step {
        /// The command.
        command: String,
        /// How it ended.
        status: String,
    },
    /// A command could not be started or a file operation failed.
    #[error(transparent)]
    Io(#[from] crate::safefs::PathError),
}

/// A Python interpreter for the venv: its path and `major.minor`.
pub fn find_python() -> Result<(PathBuf, String), InstallError> {
    let mut other = None;
    for name in ["python3.11", "python3.12", "python3"] {
        let Some(path) = crate::installs::on_path(name) else {
            continue;
        };
        let Some(v) = python_version(&path) else {
            continue;
        };
        if v == "3.11" || v == "3.12" {
            return Ok((path, v));
        }
        other.get_or_insert(format!("{} {v}", path.display()));
    }
    Err(InstallError::NoPython { found: other })
}

fn python_version(path: &Path) -> Option<String> {
    let out = Command::new(path)
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// What [`install`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Installed before; nothing was done.
    Present(Installed),
    /// Newly installed (`slim` when without torch/CUDA).
    Installed {
        /// The install.
        installed: Installed,
        /// Whether the CUDA packages were removed.
        slim: bool,
    },
}

/// Install [`VERSION`] into `dir/<VERSION>` (`dir` = `_tools/open-webui`)
/// with `python`; `slim` removes torch and CUDA afterwards.
pub fn install(
    python: &Path,
    dir: &Path,
    slim: bool,
    progress: &dyn Progress,
) -> Result<Outcome, InstallError> {
    if let Some(i) =
        crate::installs::installed_in(dir, Tool::OpenWebui).filter(|i| i.version == VERSION)
    {
        return Ok(Outcome::Present(i));
    }
    super::private_dir(dir).map_err(|e| path_err("create the directory", dir)(e.into()))?;
    let venv = dir.join(VERSION);
    if venv.exists() {
        // A venv without `current` naming it is a failed attempt.
        std::fs::remove_dir_all(&venv).map_err(path_err("remove the unfinished", &venv))?;
    }
    let pip = venv.join("bin").join("pip");
    let spec = format!("open-webui=={VERSION}");
    let mut steps: Vec<(String, Command)> = Vec::new();
    let mut c = Command::new(python);
    c.arg("-m").arg("venv").arg(&venv);
    steps.push((
        format!("{} -m venv {}", python.display(), venv.display()),
        c,
    ));
    let mut c = Command::new(&pip);
    c.args(["install", "-q", "-U", "pip"]);
    steps.push((format!("{} install -U pip", pip.display()), c));
    let mut c = Command::new(&pip);
    c.args(["install", "-q", &spec]);
    steps.push((format!("{} install {spec}", pip.display()), c));
    if slim {
        let mut c = Command::new(&pip);
        c.args(["uninstall", "-y", "-q"]).args(SLIM_REMOVE);
        steps.push((
            format!("{} uninstall torch and the CUDA packages", pip.display()),
            c,
        ));
    }
    let result = (|| {
        for (what, mut cmd) in steps {
            progress.begin(&what, None);
            let status = cmd
                .stdin(std::process::Stdio::null())
                .status()
                .map_err(path_err("run", Path::new(&what)));
            progress.end();
            let status = status?;
            if !status.success() {
                return Err(InstallError::Step {
                    command: what,
                    status: status.to_string(),
                });
            }
        }
        super::set_current(dir, VERSION)
            .map_err(|e| path_err("record the version in", dir)(e.into()))?;
        crate::installs::installed_in(dir, Tool::OpenWebui).ok_or_else(|| InstallError::Step {
            command: format!("{} install {spec}", pip.display()),
            status: "it installed no bin/open-webui".into(),
        })
    })();
    match result {
        Ok(installed) => Ok(Outcome::Installed { installed, slim }),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&venv);
            Err(e)
        }
    }
}
