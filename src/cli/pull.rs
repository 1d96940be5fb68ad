//! `facerunner pull NAME... [--service S]`: pull several models at once,
//! with the same progress display as `apply`, and record them as pulled by
//! hand: FaceRunner knows them (`models` shows them, `rm` removes them), but
//! they are not declared, so `prune_models` never removes them.
//!
//! A NAME is an Ollama name (`llama3.2:1b`), or `hf:ORG/REPO[:QUANT]` (or
//! a huggingface.co address), resolved as an `hf:` entry of the file is:
//! pulled by Ollama, or downloaded and imported.

use std::process::ExitCode;

use miette::{IntoDiagnostic, miette};

use crate::cli::Global;
use crate::cli::daemon::runtime;
use crate::cli::models::{Target, one_target};
use crate::cli::progress::{Renderer, summary};
use crate::config::resolve::Secrets;
use crate::execute::run_actions;
use crate::model::spec::ProjectSpec;
use crate::names::{ModelName, RepoHints, convert};
use crate::observe::models::observe_store;
use crate::paths::ProjectDirs;
use crate::plan::Action;

/// Arguments of `facerunner pull`.
#[derive(Debug, Clone, clap::Args)]
pub struct PullArgs {
    /// Models: Ollama names, `hf:ORG/REPO[:QUANT]`, or huggingface.co addresses.
    #[arg(required = true)]
    pub names: Vec<String>,
    /// The ollama service (needed when the file has several).
    #[arg(long)]
    pub service: Option<String>,
    /// Print NDJSON events.
    #[arg(long)]
    pub json: bool,
}

/// A Hugging Face name on the command line (shared with the dashboard).
pub(crate) use crate::plan::hf_pull::hf_input;

/// `NAME` → (Ollama name, where it came from).
pub(crate) fn name(input: &str) -> miette::Result<(ModelName, Option<String>)> {
    if let Some(hf) = hf_input(input) {
        let c = convert(hf, None, &RepoHints::default()).map_err(miette::Report::new)?;
        return Ok((c.ollama, Some(format!("hf: {hf}"))));
    }
    ModelName::parse(input).map(|n| (n, None)).map_err(|e| {
        miette!(
            help = "Ollama names look like `model:tag`, `namespace/model:tag`; Hugging Face repos as `hf:org/repo`",
            "{e}"
        )
    })
}

/// A Hugging Face NAME resolved as an `hf:` entry is (the code the
/// dashboard's pull runs too).
fn hf_action(
    rt: &tokio::runtime::Runtime,
    service: &str,
    input: &str,
    hf: &str,
) -> miette::Result<Action> {
    rt.block_on(crate::plan::hf_pull::action(service, input, hf))
        .map_err(miette::Report::new)
}

/// Run `facerunner pull`.
pub fn run(global: &Global, args: PullArgs) -> miette::Result<ExitCode> {
    let (spec, dirs, loaded) = crate::cli::project::load_project_with(global, Secrets::Peek)?;
    let target = one_target(&loaded, args.service.as_deref())?;
    let rt = runtime()?;
    let actions = args
        .names
        .iter()
        .map(|n| match hf_input(n) {
            Some(hf) => hf_action(&rt, &target.service, n, hf),
            None => name(n).map(|(name, source)| Action::PullModel {
                hf: None,
                service: target.service.clone(),
                model: name.display_shortest(),
                source,
            }),
        })
        .collect::<miette::Result<Vec<_>>>()?;
    if !rt
        .block_on(observe_store(&target.url, &target.dir, false))
        .is_served()
    {
        return Err(not_running(&target.service, &target.url));
    }
    run_on(&rt, &spec, &dirs, &target, actions, args.json)
}

/// Run model actions on one ollama service through the engine (under the
/// apply lock, recording ownership), with progress; `pull` and `rm` share it.
pub(crate) fn run_on(
    rt: &tokio::runtime::Runtime,
    spec: &ProjectSpec,
    dirs: &ProjectDirs,
    target: &Target,
    actions: Vec<Action>,
    json: bool,
) -> miette::Result<ExitCode> {
    let sink = Renderer::new(json);
    let urls = [(target.service.clone(), target.url.clone())].into();
    let report = rt
        .block_on(run_actions(
            spec,
            dirs,
            urls,
            actions,
            super::driver(dirs)?,
            &sink,
        ))
        .into_diagnostic()?;
    Ok(summary(&report, json))
}

/// The server must be up for pull and rm.
pub(crate) fn not_running(service: &str, url: &str) -> miette::Report {
    miette!(
        help = "start it with `facerunner apply` (or `facerunner up`)",
        "service {service} is not running (nothing answers at {url})"
    )
}
