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
/// Hugging Face name (`hf:org/repo`, a huggingface.co address) names its
/// converted name, and without a quant every installed quant of a GGUF
/// repo (`hf.co/org/repo:*`).
fn installed_matches(
    models: &std::collections::BTreeMap<String, crate::observe::LiveModel>,
    input: &str,
) -> miette::Result<Vec<String>> {
    let hf = crate::cli::pull::hf_input(input);
    let (parsed, _) = crate::cli::pull::name(input)?;
    let any_quant = hf
        .and_then(|h| crate::names::parse_hf(h).ok())
        .is_some_and(|r| r.quant.is_none())
        && parsed
            .host()
            .eq_ignore_ascii_case(crate::names::hf::HF_HOST);
    if !any_quant {
        return Ok(models
            .get(&parsed.key())
            .map(|m| vec![m.name.clone()])
            .unwrap_or_default());
    }
    Ok(models
        .values()
        .filter(|m| {
            ModelName::parse(&m.name).is_ok_and(|x| {
                x.host().eq_ignore_ascii_case(parsed.host())
                    && x.namespace().eq_ignore_ascii_case(parsed.namespace())
                    && x.model().eq_ignore_ascii_case(parsed.model())
            })
        })
        .map(|m| m.name.clone())
        .collect())
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
    }
}
