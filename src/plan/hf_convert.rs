//! A Hugging Face name → the Ollama name an `hf:` entry with it gets, with
//! the reason and what answered: the Hub (its cache with
//! `HF_HUB_OFFLINE`), else FaceRunner's table and rules. `facerunner
//! convert` and the dashboard's `GET /api/v1/convert` both call
//! [`convert`], so they cannot answer differently.

use serde::Serialize;

use crate::model::hf::HfSource;
use crate::model::hf_resolve::{AnsweredBy, HfEntry, HfEnv, HfFormat, HfLookup, resolve};

/// One name, converted or not.
#[derive(Debug, Clone, Serialize)]
pub struct Conversion {
    /// The name as given.
    pub input: String,
    /// Whether it converts.
    pub ok: bool,
    /// The Ollama name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ollama: Option<String>,
    /// How the table converted it (when the table answered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<crate::names::hf::Method>,
    /// `ollama` (Ollama pulls it) or `download` (FaceRunner downloads and imports).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<HfSource>,
    /// `hub` or `table`.
    pub answered_by: AnsweredBy,
    /// Why the table answered (offline, the Hub did not answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offline_reason: Option<String>,
    /// The commit the Hub named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Why this name (or why none).
    pub reason: String,
    /// What to do, when it does not convert.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

/// Convert `input` (asking for `quant`): the Hub is asked unless
/// `offline` gives the reason it is not.
pub async fn convert(input: &str, quant: Option<&str>, offline: Option<&str>) -> Conversion {
    let entry = HfEntry {
        repo: input.to_string(),
        quant: quant.map(str::to_string),
        ..HfEntry::default()
    };
    let (lookup, env) = match offline {
        Some(reason) => (
            HfLookup::Unreachable {
                reason: reason.to_string(),
            },
            HfEnv::default(),
        ),
        None => super::hf_pull::ask_hub(&entry).await,
    };
    conversion(&entry, &lookup, env)
}

/// [`convert`] given the Hub's answer.
pub fn conversion(entry: &HfEntry, lookup: &HfLookup, env: HfEnv) -> Conversion {
    let input = entry.repo.clone();
    let (info, offline_reason) = match lookup {
        HfLookup::Found { info } => (Some(info.as_ref()), None),
        HfLookup::Unreachable { reason } => (None, Some(reason.clone()).filter(|r| !r.is_empty())),
        HfLookup::Refused { reason, help } => {
            return Conversion {
                input,
                ok: false,
                ollama: None,
                method: None,
                source: None,
                answered_by: AnsweredBy::Hub,
                offline_reason: None,
                commit: None,
                reason: reason.clone(),
                help: Some(help.clone()),
            };
        }
    };
    let answered_by = if info.is_some() {
        AnsweredBy::Hub
    } else {
        AnsweredBy::Table
    };
    match resolve(entry, info, env, &|_| None) {
        Ok(r) => Conversion {
            input,
            ok: true,
            ollama: Some(r.name.clone()),
            method: match (r.format, r.source) {
                (HfFormat::Library, _) => Some(crate::names::hf::Method::Library),
                (HfFormat::Gguf, HfSource::Ollama) => Some(crate::names::hf::Method::GgufRepo),
                _ => None,
            },
            source: Some(r.source),
            answered_by: r.answered_by,
            offline_reason,
            commit: r.commit,
            reason: r.reason,
            help: None,
        },
        Err(e) => Conversion {
            input,
            ok: false,
            ollama: None,
            method: None,
            source: None,
            answered_by,
            offline_reason,
            commit: None,
            reason: e.reason,
            help: Some(e.help),
        },
    }
}
