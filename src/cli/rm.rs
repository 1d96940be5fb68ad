//! `facerunner rm NAME... [--service S]`: remove models through the Ollama
//! API (never by deleting files, so Ollama's blob bookkeeping stays
//! right), and forget FaceRunner's ownership of them.
//!
//! Names that are not installed are reported; the exit is non-zero when
//! none matched, or when a removal failed.

use std::process::ExitCode;

use miette::miette;

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
    /// Models to remove: Ollama names, `hf:ORG/REPO[:QUANT]` (without a
    /// quant: every installed quant), or huggingface.co addresses.
    #[arg(required = true)]
    pub names: Vec<String>,
    /// The ollama service (needed when the file has several).
    #[arg(long)]
    pub service: Option<String>,
    /// Print NDJSON events.
    #[arg(long)]
    pub json: bool,
}

/// The installed models `input` names. An Ollama name names itself; a
/// Hugging Face name (`hf:org/repo[:QUANT]`, a huggingface.co address)
/// names what was installed from that repo, pulled or imported
/// (`hf.co/org/repo:TAG`; without a quant every tag), else the library
/// model the table maps it to.
fn installed_matches(
    models: &std::collections::BTreeMap<String, crate::observe::LiveModel>,
    input: &str,
) -> miette::Result<Vec<String>> {
    let Some(hf) = crate::cli::pull::hf_input(input) else {
        let (parsed, _) = crate::cli::pull::name(input)?;
        return Ok(models
            .get(&parsed.key())
            .map(|m| vec![m.name.clone()])
            .unwrap_or_default());
    };
    let repo = crate::names::parse_hf(hf).map_err(miette::Report::new)?;
    let from_repo: Vec<String> = models
        .values()
        .filter(|m| {
            ModelName::parse(&m.name).is_ok_and(|x| {
                x.host().eq_ignore_ascii_case(crate::names::hf::HF_HOST)
                    && x.namespace().eq_ignore_ascii_case(&repo.org)
                    && x.model().eq_ignore_ascii_case(&repo.repo)
                    && repo
                        .quant
                        .as_deref()
                        .is_none_or(|q| x.tag().eq_ignore_ascii_case(q))
            })
        })
        .map(|m| m.name.clone())
        .collect();
    if !from_repo.is_empty() {
        return Ok(from_repo);
    }
    // A repo the table maps to a library model.
    Ok(
        crate::names::convert(hf, None, &crate::names::RepoHints::default())
            .ok()
            .and_then(|c| models.get(&c.ollama.key()))
            .map(|m| vec![m.name.clone()])
            .unwrap_or_default(),
    )
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
        let matched = installed_matches(&store.models, n)?;
        if matched.is_empty() {
            anstream::eprintln!("not installed on {}: {n}", target.service);
        }
        for model in matched {
            actions.push(Action::RemoveModel {
                service: target.service.clone(),
                model,
            });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::LiveModel;

    #[test]
    fn hugging_face_names_match_their_installed_models() {
        let models: std::collections::BTreeMap<String, LiveModel> = [
            "hf.co/someone/Some-Model-GGUF:Q4_K_M",
            "hf.co/someone/Some-Model-GGUF:Q8_0",
            "hf.co/someone/Other-GGUF:Q4_K_M",
            "llama3.1:8b",
        ]
        .iter()
        .map(|n| {
            (
                ModelName::parse(n).expect("valid").key(),
                LiveModel {
                    name: (*n).into(),
                    digest: "d".into(),
                    size: 1,
                },
            )
        })
        .collect();
        let m = |input: &str| installed_matches(&models, input).expect("a name");
        assert_eq!(
            m("hf:someone/Some-Model-GGUF"),
            [
                "hf.co/someone/Some-Model-GGUF:Q4_K_M",
                "hf.co/someone/Some-Model-GGUF:Q8_0"
            ]
        );
        assert_eq!(
            m("hf:someone/some-model-gguf:q8_0"),
            ["hf.co/someone/Some-Model-GGUF:Q8_0"]
        );
        assert_eq!(
            m("https://huggingface.co/someone/Other-GGUF"),
            ["hf.co/someone/Other-GGUF:Q4_K_M"]
        );
        assert_eq!(m("hf:meta-llama/Llama-3.1-8B-Instruct"), ["llama3.1:8b"]);
        assert_eq!(m("llama3.1:8b"), ["llama3.1:8b"]);
        assert!(m("hf:someone/Missing-GGUF").is_empty());
        // Not a GGUF repo nor in the table (an import): matched by its repo.
        let mut models = models;
        models.insert(
            ModelName::parse("hf.co/org/Tiny-Llama:q8_0")
                .expect("valid")
                .key(),
            LiveModel {
                name: "hf.co/org/Tiny-Llama:q8_0".into(),
                digest: "d".into(),
                size: 1,
            },
        );
        assert_eq!(
            installed_matches(&models, "hf:org/Tiny-Llama").expect("a name"),
            ["hf.co/org/Tiny-Llama:q8_0"]
        );
    }
}
