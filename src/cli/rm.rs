//! `facerunner rm NAME... [--service S]`: remove models through the Ollama
//! API (never by deleting files, so Ollama's blob bookkeeping stays
//! right), and forget FaceRunner's ownership of them.
//!
//! Names that are not installed are reported; the exit is non-zero when
//! none matched, or when a removal failed.

use std::process::ExitCode;

use miette::{IntoDiagnostic, miette};

use crate::cli::Global;
use crate::cli::daemon::runtime;
use crate::cli::models::one_target;
use crate::cli::pull::{not_running, run_on};
use crate::config::resolve::Secrets;
use crate::names::ModelName;
use crate::observe::models::observe_store;
use crate::plan::Action;

/// Arguments of `facerunner rm`.
#[derive(Debug, Clone, clap::Args)]
pub struct RmArgs {
    /// Models to remove.
    #[arg(required = true)]
    pub names: Vec<String>,
    /// The ollama service (needed when the file has several).
    #[arg(long)]
    pub service: Option<String>,
    /// Print NDJSON events.
    #[arg(long)]
    pub json: bool,
}

/// Run `facerunner rm`.
pub fn run(global: &Global, args: RmArgs) -> miette::Result<ExitCode> {
    let (spec, dirs, loaded) = crate::cli::project::load_project_with(global, Secrets::Peek)?;
    let target = one_target(&loaded, args.service.as_deref())?;
    let rt = runtime()?;
    let store = rt.block_on(observe_store(&target.url, &target.dir, false));
    if !store.is_served() {
        return Err(not_running(&target.service, &target.url));
    }
    let mut actions = Vec::new();
    for n in &args.names {
        let parsed = ModelName::parse(n).into_diagnostic()?;
        match store.models.get(&parsed.key()) {
            Some(m) => actions.push(Action::RemoveModel {
                service: target.service.clone(),
                model: m.name.clone(),
            }),
            None => anstream::eprintln!("not installed on {}: {n}", target.service),
        }
    }
    if actions.is_empty() {
        return Err(miette!(
            help = "`facerunner models` lists what is installed",
            "no model matched; nothing was removed"
        ));
    }
    run_on(&rt, &spec, &dirs, &target, actions, args.json)
}
