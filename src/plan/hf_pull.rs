//! A Hugging Face name given by hand — `facerunner pull hf:ORG/REPO[:QUANT]`
//! or the dashboard's pull — resolved exactly as an `hf:` entry of the file
//! is: the Hub answers (its cache offline; the table and rules when it does
//! not answer at all), and the model becomes an Ollama pull or a download
//! and import (under `hf.co/org/repo:TAG`). The CLI and the dashboard both
//! call [`action`], so they cannot resolve a name differently.

use super::Action;
use crate::model::hf::HfSource;
use crate::model::hf_resolve::{HfEntry, HfEnv, HfLookup, resolve};

/// A Hugging Face name that cannot be pulled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("cannot pull {input}: {reason}")]
#[diagnostic(code(facerunner::plan::hf_pull))]
pub struct HfPullError {
    /// The name as given.
    pub input: String,
    /// Why (the Hub's refusal, or the resolution's).
    pub reason: String,
    /// What to do.
    #[help]
    pub help: String,
}

/// The Hugging Face repo a name means: `hf:ORG/REPO[:QUANT]`, or a
/// `https://huggingface.co/...` / `huggingface.co/...` address; `None` for
/// anything else. (`hf.co/…` is already an Ollama name: Ollama pulls it as
/// written.)
pub fn hf_input(input: &str) -> Option<&str> {
    if let Some(hf) = input.strip_prefix("hf:") {
        return Some(hf.trim());
    }
    let lower = input.trim().to_ascii_lowercase();
    [
        "https://",
        "http://",
        "huggingface.co/",
        "www.huggingface.co/",
    ]
    .iter()
    .any(|p| lower.starts_with(p))
    .then_some(input.trim())
}

/// The step that pulls `hf` (the repo part of `input`, see [`hf_input`])
/// onto `service`: asks the Hub (configured from the environment as
/// `huggingface_hub` is) and resolves its answer.
pub async fn action(service: &str, input: &str, hf: &str) -> Result<Action, HfPullError> {
    let entry = HfEntry {
        repo: hf.to_string(),
        ..HfEntry::default()
    };
    let (lookup, env) = ask_hub(&entry).await;
    action_from(service, input, hf, &lookup, env)
}

/// What the Hub (configured from this process's environment, as
/// `huggingface_hub` is) says of `entry`'s repo at `main`, and what that
/// environment means for resolution; unreachable, with the reason, when
/// there is no Hub client or no repo in the name.
pub async fn ask_hub(entry: &HfEntry) -> (HfLookup, HfEnv) {
    let hub = crate::observe::hf::hub(&crate::hf::HubVars::process());
    match (hub, entry.repo_id()) {
        (Ok((source, env)), Some(repo)) => (source.repo_info(&repo, "main").await, env),
        (Err(reason), _) => (HfLookup::Unreachable { reason }, HfEnv::default()),
        (Ok(_), None) => (
            HfLookup::Unreachable {
                reason: String::new(),
            },
            HfEnv::default(),
        ),
    }
}

/// [`action`] given the Hub's answer.
pub fn action_from(
    service: &str,
    input: &str,
    hf: &str,
    lookup: &HfLookup,
    env: HfEnv,
) -> Result<Action, HfPullError> {
    let entry = HfEntry {
        repo: hf.to_string(),
        ..HfEntry::default()
    };
    let info = match lookup {
        HfLookup::Found { info } => Some(info.as_ref()),
        HfLookup::Refused { reason, help } => {
            return Err(HfPullError {
                input: input.to_string(),
                reason: reason.clone(),
                help: help.clone(),
            });
        }
        HfLookup::Unreachable { .. } => None,
    };
    let r = resolve(&entry, info, env, &|_| None).map_err(|e| HfPullError {
        input: input.to_string(),
        reason: e.reason,
        help: e.help,
    })?;
    let model = r.name.clone();
    Ok(match r.source {
        HfSource::Ollama => Action::PullModel {
            service: service.to_string(),
            model,
            source: Some(format!("hf: {hf}")),
            hf: Some(Box::new(r)),
        },
        HfSource::Download => {
            let request = Box::new(crate::ollama::CreateRequest {
                model: model.clone(),
                quantize: r.quantize.clone(),
                ..Default::default()
            });
            Action::CreateModel {
                service: service.to_string(),
                model,
                create_hash: super::import_hash(&request, &r),
                request,
                file: None,
                replaces: false,
                changes: Vec::new(),
                hf: Some(Box::new(r)),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hugging_face_names_and_addresses_are_recognized_and_ollama_names_are_not() {
        assert_eq!(hf_input("hf: org/repo:Q4_K_M"), Some("org/repo:Q4_K_M"));
        assert_eq!(
            hf_input("https://huggingface.co/org/repo"),
            Some("https://huggingface.co/org/repo")
        );
        assert_eq!(hf_input("hf.co/org/repo:Q4_K_M"), None);
        assert_eq!(hf_input("llama3.2:1b"), None);
    }

    #[test]
    fn a_refusal_by_the_hub_is_an_error_with_its_help() {
        let refused = HfLookup::Refused {
            reason: "the repo does not exist".into(),
            help: "check the name".into(),
        };
        let e = action_from("llm", "hf:org/none", "org/none", &refused, HfEnv::default())
            .expect_err("refused");
        assert_eq!(e.help, "check the name");
        assert!(e.to_string().contains("hf:org/none"), "{e}");
    }
}
