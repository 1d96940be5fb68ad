//! What an `hf:` model entry becomes: which file(s), from where, under which
//! Ollama name, pinned to which commit. Pure: the Hub's answer ([`RepoInfo`])
//! and whether a size fits the target GPU are inputs.
//!
//! Rules, in order:
//!
//! 1. no Hub answer (offline, or the lookup failed): `names::convert`'s
//!    table and rules answer, as they did before the Hub client existed;
//! 2. a repo without GGUF files that the built-in table maps to an Ollama
//!    library model → that library model (nothing to download or convert),
//!    unless `source: download` or `quantize:` asks for an import;
//! 3. a GGUF repo → one quant: `quant:` as written (an unknown one is an
//!    error listing the quants it has, with sizes), `quant: auto` the largest
//!    that fits the target GPU (else Q4_K_M), none given Q4_K_M (else the
//!    best quant it has); pulled by Ollama (`hf.co/org/repo:QUANT`) or
//!    downloaded and imported (see [`choose_source`]);
//! 4. a safetensors repo whose architecture Ollama converts
//!    ([`OLLAMA_CONVERTS`]) → downloaded and imported, optionally with
//!    `quantize:`;
//! 5. anything else → refused, with the pipeline tag and library, and what
//!    would work.
//!
//! The name an import is created under is `alias:` when set, else the name
//! Ollama would pull it as: `hf.co/{org}/{repo}:{QUANT}` for GGUF, and
//! `hf.co/{org}/{repo}:{QUANTIZE or latest}` for safetensors. So switching
//! `source:` between `ollama` and `download` keeps the name.

use serde::{Deserialize, Serialize};

use super::hf::{GgufQuant, HfSource, RepoFile, RepoInfo};
use crate::names::{
    ConvertError, Method, ModelName, RepoHints, convert, normalize_quant, parse_hf,
};

/// `config.json` `architectures[0]` values Ollama's importer converts
/// (ollama/ollama `convert/convert.go` at HEAD). Plain `Qwen3ForCausalLM`
/// is absent (ollama/ollama#10602).
pub const OLLAMA_CONVERTS: &[&str] = &[
    "LlamaForCausalLM",
    "MllamaForConditionalGeneration",
    "Llama4ForConditionalGeneration",
    "Mistral3ForConditionalGeneration",
    "Ministral3ForCausalLM",
    "MixtralForCausalLM",
    "GemmaForCausalLM",
    "Gemma2ForCausalLM",
    "Gemma3ForCausalLM",
    "Gemma3ForConditionalGeneration",
    "Gemma3TextModel",
    "Gemma3nForConditionalGeneration",
    "Gemma4ForCausalLM",
    "Gemma4ForConditionalGeneration",
    "Qwen2ForCausalLM",
    "Qwen2_5_VLForConditionalGeneration",
    "Qwen3VLForConditionalGeneration",
    "Qwen3VLMoeForConditionalGeneration",
    "Qwen3NextForCausalLM",
    "Qwen3_5ForConditionalGeneration",
    "Qwen3_5MoeForConditionalGeneration",
    "Phi3ForCausalLM",
    "Olmo3ForCausalLM",
    "BertModel",
    "NomicBertModel",
    "NomicBertMoEModel",
    "CohereForCausalLM",
    "GptOssForCausalLM",
    "DeepseekOCRForCausalLM",
    "DeepseekV3ForCausalLM",
    "Glm4MoeLiteForCausalLM",
    "GlmOcrForConditionalGeneration",
    "LagunaForCausalLM",
    "Lfm2ForCausalLM",
    "Lfm2MoeForCausalLM",
    "Lfm2VlForConditionalGeneration",
    "NemotronHForCausalLM",
    "NemotronH_Nano_VL_V2",
    "NemotronH_Nano_Omni_Reasoning_V3",
];

/// The `quantize:` values FaceRunner accepts, as Ollama's docs spell them.
pub const QUANTIZE_VALUES: &[&str] = &["q4_K_M", "q8_0"];

/// The canonical spelling of a `quantize:` value, case-insensitively.
pub fn normalize_quantize(q: &str) -> Option<&'static str> {
    QUANTIZE_VALUES
        .iter()
        .copied()
        .find(|v| v.eq_ignore_ascii_case(q.trim()))
}

/// The revision when none is given.
pub const DEFAULT_REVISION: &str = "main";

/// An `hf:` entry of the file, as far as resolution cares.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HfEntry {
    /// `hf:` as written.
    pub repo: String,
    /// `quant:` as written (`auto` included).
    pub quant: Option<String>,
    /// `quantize:` as written.
    pub quantize: Option<String>,
    /// `source:`.
    pub source: Option<HfSource>,
    /// `revision:`.
    pub revision: Option<String>,
    /// `alias:`: an import is created under it.
    pub alias: Option<String>,
    /// The entry sets `system`, `template` or `parameters`, which only an
    /// import applies (Ollama's pull does not).
    pub creates: bool,
}

impl HfEntry {
    /// The revision asked for (`main` by default).
    pub fn revision(&self) -> &str {
        self.revision.as_deref().unwrap_or(DEFAULT_REVISION)
    }

    /// Whether `quant: auto`.
    pub fn quant_auto(&self) -> bool {
        self.quant
            .as_deref()
            .is_some_and(|q| q.trim().eq_ignore_ascii_case("auto"))
    }

    /// `org/repo` as written, or `None` when `hf:` does not parse.
    pub fn repo_id(&self) -> Option<String> {
        parse_hf(&self.repo)
            .ok()
            .map(|r| format!("{}/{}", r.org, r.repo))
    }

    /// The key of this entry's Hub answer in the live state: `org/repo@revision`.
    pub fn lookup_key(&self) -> Option<String> {
        Some(format!("{}@{}", self.repo_id()?, self.revision()))
    }
}

/// The key in the live state's model shapes (`Live::models_meta`) of the
/// GGUF header of a repo at a commit, read before download: the shape is
/// the same for every quant of the repo (only the weights differ).
pub fn header_key(repo: &str, commit: &str) -> String {
    format!("hf:{repo}@{commit}")
}

/// What the environment says about the Hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HfEnv {
    /// `HF_ENDPOINT` is set (a mirror or a private hub Ollama does not know).
    pub endpoint_set: bool,
    /// A token is set (`HF_TOKEN` or the token file): gated or private repos
    /// need it, and Ollama does not send it.
    pub token_set: bool,
}

/// The Hub's answer about one repo at one revision, as observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum HfLookup {
    /// The repo at the revision.
    Found {
        /// What the Hub says.
        info: Box<RepoInfo>,
    },
    /// The Hub answered with an error that settles it (not found, gated,
    /// wrong token): the plan reports it.
    Refused {
        /// What is wrong.
        reason: String,
        /// What to do.
        help: String,
    },
    /// No answer (offline, `HF_HUB_OFFLINE`, network down): the table and
    /// rules answer instead, and the plan says why.
    Unreachable {
        /// Why.
        reason: String,
    },
}

/// What answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AnsweredBy {
    /// The Hugging Face Hub (online).
    Hub,
    /// FaceRunner's built-in table and rules (offline).
    Table,
}

/// The format of what is imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum HfFormat {
    /// GGUF files.
    Gguf,
    /// Safetensors weights, converted by Ollama.
    Safetensors,
    /// A model of the Ollama library (the table's mapping).
    Library,
}

/// What an `hf:` entry resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HfResolution {
    /// `org/repo`.
    pub repo: String,
    /// The revision asked for.
    pub revision: String,
    /// The commit it resolved to (online only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Ollama pulls it, or FaceRunner downloads and imports it.
    pub source: HfSource,
    /// What is installed.
    pub format: HfFormat,
    /// The Ollama name it is installed under.
    pub name: String,
    /// The GGUF quant chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quant: Option<String>,
    /// `quantize:` for a safetensors import (canonical spelling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantize: Option<String>,
    /// The files to download (a download only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<RepoFile>,
    /// The bytes that come over the network (0 when unknown, offline).
    pub bytes: u64,
    /// What answered.
    pub answered_by: AnsweredBy,
    /// The GPU the chosen file fits on (`quant: auto`, with GPUs known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<String>,
    /// Why, in one sentence.
    pub reason: String,
}

/// Why an entry cannot be resolved, and what would work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct ResolveError {
    /// The entry's key it is about (`hf`, `quant`, `quantize`, `source`).
    pub key: &'static str,
    /// What is wrong.
    pub reason: String,
    /// What would work.
    pub help: String,
}

impl From<ConvertError> for ResolveError {
    fn from(e: ConvertError) -> Self {
        let key = match e.kind {
            crate::names::ConvertErrorKind::UnknownQuant
            | crate::names::ConvertErrorKind::QuantNotInRepo
            | crate::names::ConvertErrorKind::QuantOnLibraryModel => "quant",
            _ => "hf",
        };
        ResolveError {
            key,
            reason: e.reason,
            help: e.help,
        }
    }
}

fn fail(reason: impl Into<String>, help: impl Into<String>) -> ResolveError {
    ResolveError {
        key: "hf",
        reason: reason.into(),
        help: help.into(),
    }
}

impl ResolveError {
    fn at(mut self, key: &'static str) -> ResolveError {
        self.key = key;
        self
    }
}

/// Resolve an entry. `info` is the Hub's answer (`None` offline); `fits`
/// says whether a GGUF of that many bytes fits the GPU the model goes to
/// (`None`: no GPU known), for `quant: auto`.
pub fn resolve(
    entry: &HfEntry,
    info: Option<&RepoInfo>,
    env: HfEnv,
    fits: &dyn Fn(u64) -> Option<bool>,
) -> Result<HfResolution, ResolveError> {
    if let Some(q) = &entry.quantize
        && normalize_quantize(q).is_none()
    {
        return Err(fail(
            format!("`quantize: {q}` is not a quantization FaceRunner asks Ollama for"),
            format!("write one of {}", QUANTIZE_VALUES.join(", ")),
        )
        .at("quantize"));
    }
    match info {
        None => offline(entry),
        Some(info) => online(entry, info, env, fits),
    }
}

fn offline(entry: &HfEntry) -> Result<HfResolution, ResolveError> {
    if entry.source == Some(HfSource::Download) {
        return Err(fail(
            format!(
                "`source: download` needs the Hugging Face Hub to list {}'s files, and it did not answer",
                entry.repo
            ),
            "plan again online (without HF_HUB_OFFLINE), or use `source: ollama`",
        )
        .at("source"));
    }
    if entry.quantize.is_some() {
        return Err(fail(
            "`quantize:` imports a safetensors repo, which needs the Hugging Face Hub, and it did not answer",
            "plan again online (without HF_HUB_OFFLINE)",
        )
        .at("quantize"));
    }
    // Offline, `auto` cannot see the sizes: the default quant.
    let quant = if entry.quant_auto() {
        None
    } else {
        entry.quant.as_deref()
    };
    let c = convert(&entry.repo, quant, &RepoHints::default())?;
    let repo = entry.repo_id().unwrap_or_else(|| entry.repo.clone());
    let (format, quant) = match c.method {
        Method::Library => (HfFormat::Library, None),
        Method::GgufRepo => (HfFormat::Gguf, Some(c.ollama.tag().to_string())),
    };
    let auto = if entry.quant_auto() {
        " (`quant: auto` needs the Hub's file sizes; the default quant instead)"
    } else {
        ""
    };
    Ok(HfResolution {
        repo,
        revision: entry.revision().to_string(),
        commit: None,
        source: HfSource::Ollama,
        format,
        name: c.ollama.display_shortest(),
        quant,
        quantize: None,
        files: Vec::new(),
        bytes: 0,
        answered_by: AnsweredBy::Table,
        gpu: None,
        reason: format!("{}{auto}", c.reason),
    })
}

fn online(
    entry: &HfEntry,
    info: &RepoInfo,
    env: HfEnv,
    fits: &dyn Fn(u64) -> Option<bool>,
) -> Result<HfResolution, ResolveError> {
    let import = entry.source == Some(HfSource::Download) || entry.quantize.is_some();
    if !info.has_gguf() && !import && entry.quant.is_none() {
        // A well-known original repo: the library ships it ready to run.
        if let Ok(c) = convert(
            &entry.repo,
            None,
            &RepoHints {
                has_gguf: Some(false),
                available_quants: None,
            },
        ) && c.method == Method::Library
        {
            return Ok(HfResolution {
                repo: info.id.clone(),
                revision: entry.revision().to_string(),
                commit: Some(info.commit.clone()),
                source: HfSource::Ollama,
                format: HfFormat::Library,
                name: c.ollama.display_shortest(),
                quant: None,
                quantize: None,
                files: Vec::new(),
                bytes: 0,
                answered_by: AnsweredBy::Hub,
                gpu: None,
                reason: c.reason,
            });
        }
    }
    if info.has_gguf() {
        return gguf(entry, info, env, fits);
    }
    if info.files.iter().any(|f| f.path.ends_with(".safetensors")) {
        return safetensors(entry, info);
    }
    Err(refused(info))
}

fn size_list(quants: &[GgufQuant]) -> String {
    quants
        .iter()
        .map(|q| format!("{} ({})", q.quant, crate::model::units::human_bytes(q.size)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn gguf(
    entry: &HfEntry,
    info: &RepoInfo,
    env: HfEnv,
    fits: &dyn Fn(u64) -> Option<bool>,
) -> Result<HfResolution, ResolveError> {
    if entry.quantize.is_some() {
        return Err(fail(
            format!("{} holds GGUF files, which are already quantized: `quantize:` applies to safetensors repos", info.id),
            "pick a quant of the repo with `quant:` instead",
        )
        .at("quantize"));
    }
    let quants = info.gguf_quants();
    if quants.is_empty() {
        return Err(fail(
            format!(
                "{} has GGUF files but none names a quant FaceRunner knows",
                info.id
            ),
            "use a repo whose file names carry the quant (`…-Q4_K_M.gguf`)",
        ));
    }
    let written = parse_hf(&entry.repo).ok().and_then(|r| r.quant);
    let asked = entry.quant.clone().or(written);
    let by_name = |q: &str| quants.iter().find(|x| x.quant == q);
    let (chosen, why) = match asked.as_deref() {
        Some(a) if a.trim().eq_ignore_ascii_case("auto") => {
            let known: Vec<(&GgufQuant, Option<bool>)> =
                quants.iter().map(|q| (q, fits(q.size))).collect();
            let largest = known
                .iter()
                .rev()
                .find(|(_, f)| *f == Some(true))
                .map(|(q, _)| *q);
            match largest {
                Some(q) => (
                    q,
                    "`quant: auto`: the largest that fits the GPU".to_string(),
                ),
                None => {
                    let none_known = known.iter().all(|(_, f)| f.is_none());
                    let q = by_name(crate::names::DEFAULT_QUANT)
                        .or_else(|| quants.first())
                        .ok_or_else(|| fail("no quant", ""))?;
                    let why = if none_known {
                        "`quant: auto` without a GPU to fit: the default"
                    } else {
                        "`quant: auto`: none fits the GPU, the default"
                    };
                    (q, why.to_string())
                }
            }
        }
        Some(a) => {
            let found = normalize_quant(a).and_then(by_name);
            match found {
                Some(q) => (q, "as asked".to_string()),
                None => {
                    return Err(fail(
                        format!("{} has no quant {a}", info.id),
                        format!("pick one it has: {}", size_list(&quants)),
                    )
                    .at("quant"));
                }
            }
        }
        None => match by_name(crate::names::DEFAULT_QUANT) {
            Some(q) => (q, "the default".to_string()),
            None => {
                let names: Vec<String> = quants.iter().map(|q| q.quant.clone()).collect();
                let best = crate::names::best_available(&names)
                    .and_then(by_name)
                    .or_else(|| quants.first())
                    .ok_or_else(|| fail("no quant", ""))?;
                (
                    best,
                    "the repo has no Q4_K_M; the best quant it has".to_string(),
                )
            }
        },
    };
    let (org, repo) = info.id.split_once('/').unwrap_or((&info.id, ""));
    let pull_name = ModelName::from_parts(crate::names::hf::HF_HOST, org, repo, &chosen.quant);
    let (source, source_why) = choose_source(entry, info, env, pull_name.is_ok());
    if source == HfSource::Ollama && entry.revision() != DEFAULT_REVISION {
        return Err(fail(
            format!(
                "Ollama pulls `main` of {} only, and `revision: {}` pins another",
                info.id,
                entry.revision()
            ),
            "remove `source: ollama` (FaceRunner then downloads that revision and imports it), or `revision:`",
        )
        .at("revision"));
    }
    if source == HfSource::Ollama
        && let Err(e) = &pull_name
    {
        return Err(fail(
            format!(
                "Ollama rejects {} as a model name ({}), so it cannot pull it",
                info.id, e.reason
            ),
            "use `source: download` (FaceRunner downloads and imports it) with an `alias:`",
        ));
    }
    let name = import_name(
        entry,
        &pull_name.as_ref().map(ModelName::display_shortest).ok(),
        source,
    )?;
    let files = match source {
        HfSource::Download => chosen.files.clone(),
        HfSource::Ollama => Vec::new(),
    };
    Ok(HfResolution {
        repo: info.id.clone(),
        revision: entry.revision().to_string(),
        commit: Some(info.commit.clone()),
        source,
        format: HfFormat::Gguf,
        name,
        quant: Some(chosen.quant.clone()),
        quantize: None,
        files,
        bytes: chosen.size,
        answered_by: AnsweredBy::Hub,
        gpu: None,
        reason: format!(
            "GGUF repository, quant {} ({why}); {source_why}",
            chosen.quant
        ),
    })
}

/// Ollama pulls `hf.co/…` itself unless something only FaceRunner can do
/// is needed: `source:` says; else a download when `HF_ENDPOINT` or a
/// token is set (Ollama uses neither), the repo is gated or private, a
/// revision other than `main` is pinned (Ollama pulls `main`), or Ollama
/// rejects the name.
pub fn choose_source(
    entry: &HfEntry,
    info: &RepoInfo,
    env: HfEnv,
    ollama_name_ok: bool,
) -> (HfSource, &'static str) {
    if let Some(s) = entry.source {
        return (
            s,
            match s {
                HfSource::Ollama => "Ollama pulls it (`source: ollama`)",
                HfSource::Download => "downloaded and imported (`source: download`)",
            },
        );
    }
    let download = if env.endpoint_set {
        Some(
            "downloaded and imported: HF_ENDPOINT is set, and Ollama pulls from huggingface.co only",
        )
    } else if env.token_set {
        Some("downloaded and imported: a Hugging Face token is set, and Ollama sends none")
    } else if info.gated != super::hf::Gated::No || info.private {
        Some("downloaded and imported: the repo is gated or private, and Ollama sends no token")
    } else if entry.creates {
        Some(
            "downloaded and imported: the entry sets system, template or parameters, which an import applies",
        )
    } else if entry.revision() != DEFAULT_REVISION {
        Some("downloaded and imported: Ollama pulls `main` only, and another revision is pinned")
    } else if !ollama_name_ok {
        Some("downloaded and imported: Ollama rejects the repo's name")
    } else {
        None
    };
    match download {
        Some(why) => (HfSource::Download, why),
        None => (HfSource::Ollama, "Ollama pulls it from Hugging Face"),
    }
}

fn import_name(
    entry: &HfEntry,
    derived: &Option<String>,
    source: HfSource,
) -> Result<String, ResolveError> {
    if source == HfSource::Download
        && let Some(a) = &entry.alias
    {
        return Ok(a.clone());
    }
    derived.clone().ok_or_else(|| {
        fail(
            format!("{} cannot be named in Ollama as hf.co/…", entry.repo),
            "set `alias:` to the name to import it under",
        )
    })
}

fn safetensors(entry: &HfEntry, info: &RepoInfo) -> Result<HfResolution, ResolveError> {
    let arch = info.architectures.first().map(String::as_str);
    let Some(arch) = arch.filter(|a| OLLAMA_CONVERTS.contains(a)) else {
        let what = arch.map_or_else(
            || "an unknown architecture (config.json names none)".to_string(),
            |a| format!("architecture {a}"),
        );
        return Err(fail(
            format!(
                "{} holds safetensors weights of {what}, which Ollama cannot convert",
                info.id
            ),
            format!(
                "use a GGUF build of it (`facerunner hf search {} --gguf`), or convert it with llama.cpp's convert_hf_to_gguf.py and declare the GGUF as `file:`",
                info.id.rsplit('/').next().unwrap_or(&info.id)
            ),
        ));
    };
    if entry.source == Some(HfSource::Ollama) {
        return Err(fail(
            format!(
                "Ollama cannot pull {}: it pulls GGUF repos only, and this one holds safetensors",
                info.id
            ),
            "remove `source: ollama`: FaceRunner downloads it and imports it into Ollama",
        )
        .at("source"));
    }
    if entry.quant.is_some() {
        return Err(fail(
            format!(
                "`quant:` picks a GGUF file, and {} holds safetensors",
                info.id
            ),
            "remove `quant:`; `quantize: q4_K_M` or `q8_0` quantizes it on import",
        )
        .at("quant"));
    }
    let quantize = entry.quantize.as_deref().and_then(normalize_quantize);
    let files: Vec<RepoFile> = info
        .files
        .iter()
        .filter(|f| import_file(&f.path))
        .cloned()
        .collect();
    let bytes = files.iter().map(|f| f.size).sum();
    let (org, repo) = info.id.split_once('/').unwrap_or((&info.id, ""));
    let tag = quantize.unwrap_or("latest");
    let derived = ModelName::from_parts(crate::names::hf::HF_HOST, org, repo, tag)
        .ok()
        .map(|n| n.display_shortest());
    let name = import_name(entry, &derived, HfSource::Download)?;
    let q = quantize.map_or_else(String::new, |q| format!(", quantized to {q}"));
    Ok(HfResolution {
        repo: info.id.clone(),
        revision: entry.revision().to_string(),
        commit: Some(info.commit.clone()),
        source: HfSource::Download,
        format: HfFormat::Safetensors,
        name,
        quant: None,
        quantize: quantize.map(str::to_string),
        files,
        bytes,
        answered_by: AnsweredBy::Hub,
        gpu: None,
        reason: format!("safetensors repository ({arch}): downloaded and converted by Ollama{q}"),
    })
}

/// The files of a safetensors repo Ollama's importer reads: weights,
/// `config.json`, tokenizer files.
fn import_file(path: &str) -> bool {
    if path.contains('/') {
        return false; // sub-folders hold other formats (onnx/, original/)
    }
    path.ends_with(".safetensors")
        || path.ends_with(".json")
        || path == "tokenizer.model"
        || path.ends_with(".tiktoken")
}

fn refused(info: &RepoInfo) -> ResolveError {
    let tag = info.pipeline_tag.as_deref().unwrap_or("none");
    let lib = info.library.as_deref().unwrap_or("none");
    let text = matches!(
        info.pipeline_tag.as_deref(),
        None | Some(
            "text-generation" | "feature-extraction" | "sentence-similarity" | "image-text-to-text"
        )
    );
    let help = if text {
        format!(
            "look for a GGUF build of it (`facerunner hf search {} --gguf`) and write `hf: <org>/<repo>-GGUF`",
            info.id.rsplit('/').next().unwrap_or(&info.id)
        )
    } else {
        "Ollama runs language and embedding models; run this one with its own service (`kind: process`)".to_string()
    };
    fail(
        format!(
            "{} has neither GGUF nor safetensors files Ollama imports (pipeline tag: {tag}, library: {lib})",
            info.id
        ),
        help,
    )
}

#[cfg(test)]
#[path = "hf_resolve_tests.rs"]
mod tests;
