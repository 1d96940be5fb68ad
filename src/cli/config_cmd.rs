//! `facerunner config [--format yaml|json] [--hash]`: the resolved file.

use std::process::ExitCode;

use clap::ValueEnum;
use miette::IntoDiagnostic;

use super::Global;
use crate::config::resolve::{Secrets, resolve};
use crate::paths::ProjectDirs;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// YAML.
    Yaml,
    /// JSON.
    Json,
}

/// Arguments of `config`.
#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Yaml)]
    pub format: Format,
    /// Print each service's spec hash instead (`NAME HASH`, or a JSON object).
    #[arg(long)]
    pub hash: bool,
}

/// Print the interpolated file with defaults filled in, or the spec hashes.
pub fn run(global: &Global, args: ConfigArgs) -> miette::Result<ExitCode> {
    let loaded = super::project::load_file(global)?;
    if args.hash {
        let dirs = ProjectDirs::for_project(&loaded.project).into_diagnostic()?;
        dirs.check_owner(&loaded.file.path, false)
            .into_diagnostic()?;
        let loaded = super::project::expanded(global, loaded)?;
        let spec = resolve(&loaded, &dirs, Secrets::Peek).into_diagnostic()?;
        match args.format {
            Format::Json => {
                let map: serde_json::Map<String, serde_json::Value> = spec
                    .services
                    .iter()
                    .map(|s| (s.name.clone(), s.spec_hash.clone().into()))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&map).into_diagnostic()?);
            }
            Format::Yaml => {
                for s in &spec.services {
                    println!("{}: {}", s.name, s.spec_hash);
                }
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut cfg = loaded.config.clone();
    cfg.name = Some(loaded.project.clone());
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&cfg).into_diagnostic()?),
        Format::Yaml => print!("{}", serde_saphyr::to_string(&cfg).into_diagnostic()?),
    }
    Ok(ExitCode::SUCCESS)
}
