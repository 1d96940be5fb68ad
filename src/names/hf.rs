//! Hugging Face names converted to Ollama names, each with a reason.
//!
//! Why: users copy names from Hugging Face (`meta-llama/Llama-3.1-8B-Instruct`,
//! a browser URL, `hf.co/org/repo:Q8_0`). Ollama can pull only GGUF repos from
//! Hugging Face, and only under its own name rules; for the original
//! safetensors repos the Ollama library usually ships the same model under
//! another name. The rules, in order (`shared/design/CONFIG.md`):
//!
//! 1. a GGUF repo → `hf.co/{org}/{repo}:{QUANT}`, the quant checked against the
//!    names Hugging Face accepts, defaulting to Q4_K_M;
//! 2. a well-known original repo → its library name, from `hf_library.tsv`;
//! 3. a repo Ollama cannot run (diffusion, speech, ...) → an error saying why;
//! 4. anything else → an error suggesting what would work.
//!
//! All of it is offline; [`RepoHints`] is where the Hugging Face client adds
//! what it learns about a repo (whether it holds GGUF files, which quants).
//!
//! ```
//! use facerunner::names::{convert, Method, RepoHints};
//! let c = convert("https://huggingface.co/bartowski/Llama-3.2-3B-Instruct-GGUF", Some("q8_0"),
//!                 &RepoHints::default())?;
//! assert_eq!(c.ollama.to_string(), "hf.co/bartowski/Llama-3.2-3B-Instruct-GGUF:Q8_0");
//! assert_eq!(c.method, Method::GgufRepo);
//! # Ok::<(), facerunner::names::ConvertError>(())
//! ```

use std::fmt;

use serde::Serialize;

use super::hf_table::TABLE;
use super::ollama::ModelName;
use super::quant::{DEFAULT_QUANT, KNOWN_QUANTS, best_available, normalize_quant, suggest_quant};

/// The registry host Ollama pulls Hugging Face GGUF repos from.
pub const HF_HOST: &str = "hf.co";

/// A Hugging Face model repo reference, as written (case preserved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HfRepo {
    /// User or organisation.
    pub org: String,
    /// Repository name.
    pub repo: String,
    /// `:QUANT` suffix, or the quant of a `/blob/.../<file>.gguf` URL, as written.
    pub quant: Option<String>,
}

/// How a conversion was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// The Ollama library ships the same model.
    Library,
    /// Ollama pulls the GGUF repo straight from Hugging Face.
    GgufRepo,
}

/// A successful conversion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conversion {
    /// The name as written.
    pub input: String,
    /// The Ollama name to pull.
    pub ollama: ModelName,
    /// How it was found.
    pub method: Method,
    /// Why, in one sentence, for `facerunner convert` and the dashboard.
    pub reason: String,
}

impl fmt::Display for Conversion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} → {} ({})", self.input, self.ollama, self.reason)
    }
}

/// What is known about a repo beyond its name. Offline, all `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepoHints {
    /// Whether the repo holds GGUF files; `None` = guess from the name.
    pub has_gguf: Option<bool>,
    /// The quants the repo has, e.g. `["Q4_K_M", "Q8_0"]`; `None` = unknown.
    pub available_quants: Option<Vec<String>>,
}

/// What kind of failure a [`ConvertError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConvertErrorKind {
    /// Not a Hugging Face model reference.
    BadInput,
    /// The quant is not one Hugging Face accepts.
    UnknownQuant,
    /// The repo does not have the quant asked for.
    QuantNotInRepo,
    /// The repo has no quant we recognise.
    NoKnownQuant,
    /// A quant given twice, differently.
    ConflictingQuant,
    /// A quant asked for a library model, whose tag fixes it.
    QuantOnLibraryModel,
    /// The GGUF repo's name breaks Ollama's name rules.
    OllamaRejectsName,
    /// A kind of model Ollama cannot run.
    Unrunnable,
    /// Neither a GGUF repo nor a known library model.
    Unknown,
}

/// A name that cannot be converted, with why and what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("cannot convert {input:?}: {reason}")]
#[diagnostic(code(facerunner::names::convert))]
pub struct ConvertError {
    /// The name as written.
    pub input: String,
    /// What kind of failure.
    pub kind: ConvertErrorKind,
    /// Why.
    pub reason: String,
    /// What would work.
    #[help]
    pub help: String,
}

fn error(input: &str, kind: ConvertErrorKind, reason: String, help: String) -> ConvertError {
    ConvertError {
        input: input.to_owned(),
        kind,
        reason,
        help,
    }
}

/// Parses `org/repo`, `hf.co/org/repo`, `huggingface.co/org/repo` or a
/// `https://huggingface.co/...` URL (with `/tree/...`, `/blob/...`, a trailing
/// `/`), each with an optional `:QUANT`. Hosts match case-insensitively.
pub fn parse_hf(input: &str) -> Result<HfRepo, ConvertError> {
    let bad = |reason: String| {
        error(
            input,
            ConvertErrorKind::BadInput,
            reason,
            "write org/repo, hf.co/org/repo or a https://huggingface.co/org/repo URL, \
             optionally followed by :QUANT"
                .into(),
        )
    };
    let mut s = input.trim();
    if let Some(at) = s.find(['?', '#']) {
        s = &s[..at];
    }
    let lower = s.to_ascii_lowercase();
    let mut had_scheme = false;
    for scheme in ["https://", "http://"] {
        if lower.starts_with(scheme) {
            s = &s[scheme.len()..];
            had_scheme = true;
            break;
        }
    }
    let lower = s.to_ascii_lowercase();
    let host = ["hf.co/", "huggingface.co/", "www.huggingface.co/"]
        .into_iter()
        .find(|h| lower.starts_with(h));
    match host {
        Some(h) => s = &s[h.len()..],
        None if had_scheme => return Err(bad("not a Hugging Face URL".into())),
        None => {}
    }
    let mut quant = None;
    if let Some((rest, q)) = s.rsplit_once(':')
        && !q.contains('/')
    {
        if q.is_empty() {
            return Err(bad("nothing after ':'".into()));
        }
        quant = Some(q.to_owned());
        s = rest;
    }
    let segments: Vec<&str> = s.trim_end_matches('/').split('/').collect();
    let (org, repo, extra) = match segments.as_slice() {
        [kind, ..] if ["datasets", "spaces"].contains(&kind.to_ascii_lowercase().as_str()) => {
            return Err(bad(format!("a Hugging Face {kind} page, not a model repo")));
        }
        [org, repo, extra @ ..] => (*org, *repo, extra),
        _ => return Err(bad("expected org/repo".into())),
    };
    match extra {
        [] => {}
        [kind, rest @ ..] if ["tree", "blob", "resolve"].contains(kind) => {
            if quant.is_none()
                && let Some(file) = rest.last()
            {
                quant = quant_from_filename(file).map(str::to_owned);
            }
        }
        _ => return Err(bad(format!("unexpected path after {org}/{repo}"))),
    }
    for (what, part) in [("organisation", org), ("repository", repo)] {
        if part.is_empty() {
            return Err(bad(format!("the {what} is empty")));
        }
        let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if let Some(c) = part.chars().find(|&c| !ok(c)) {
            return Err(bad(format!("the {what} {part:?} contains {c:?}")));
        }
    }
    Ok(HfRepo {
        org: org.to_owned(),
        repo: repo.to_owned(),
        quant,
    })
}

/// The quant in a GGUF file name such as `Llama-3.2-3B-Instruct-Q4_K_M.gguf`.
fn quant_from_filename(file: &str) -> Option<&'static str> {
    let upper = file.to_ascii_uppercase();
    let stem = upper.strip_suffix(".GGUF")?;
    KNOWN_QUANTS
        .iter()
        .copied()
        .filter(|k| {
            stem.strip_suffix(k)
                .is_some_and(|before| before.ends_with(['-', '.', '_']))
        })
        .max_by_key(|k| k.len())
}

/// Whether the repo name says it holds GGUF files (`-GGUF`, `_GGUF`, `.gguf`).
fn looks_gguf(repo: &str) -> bool {
    let lower = repo.to_ascii_lowercase();
    ["-gguf", "_gguf", ".gguf"]
        .iter()
        .any(|suffix| lower.ends_with(suffix))
}

/// Converts a Hugging Face name to an Ollama name; see the module docs for the rules.
/// `quant` (e.g. from the config's `quant:` key) and a `:QUANT` suffix may both
/// be given only if they agree.
pub fn convert(
    input: &str,
    quant: Option<&str>,
    hints: &RepoHints,
) -> Result<Conversion, ConvertError> {
    let hf = parse_hf(input)?;
    let asked = match (quant, hf.quant.as_deref()) {
        (Some(a), Some(b)) if !a.eq_ignore_ascii_case(b) => {
            return Err(error(
                input,
                ConvertErrorKind::ConflictingQuant,
                format!("the name asks for quant {b} but the quant setting says {a}"),
                "give the quant once, either as :QUANT or as the quant setting".into(),
            ));
        }
        (Some(a), _) => Some(a),
        (None, b) => b,
    };
    if hints.has_gguf.unwrap_or_else(|| looks_gguf(&hf.repo)) {
        return convert_gguf(input, &hf, asked, hints);
    }
    let full = format!("{}/{}", hf.org, hf.repo);
    if let Some(entry) = TABLE.library(&hf.org, &hf.repo) {
        if let Some(q) = asked {
            return Err(error(
                input,
                ConvertErrorKind::QuantOnLibraryModel,
                format!(
                    "{} maps to the library model {}, whose tag fixes the quantization, \
                     so quant {q} cannot apply",
                    entry.repo, entry.ollama
                ),
                format!(
                    "drop the quant to use {}, or name a GGUF build of the model \
                     (for example bartowski/{}-GGUF:{q})",
                    entry.ollama, hf.repo
                ),
            ));
        }
        return Ok(Conversion {
            input: input.to_owned(),
            ollama: entry.ollama.clone(),
            method: Method::Library,
            reason: format!(
                "{} is {}; the Ollama library ships it as {}",
                entry.repo, entry.description, entry.ollama
            ),
        });
    }
    if let Some(u) = TABLE.unrunnable(&hf.org, &hf.repo) {
        return Err(error(
            input,
            ConvertErrorKind::Unrunnable,
            format!(
                "{full} is {}: Ollama runs GGUF language and embedding models",
                u.description
            ),
            u.kind.help().into(),
        ));
    }
    let did_you_mean = TABLE
        .closest(&hf.org, &hf.repo)
        .map(|c| {
            format!(
                "did you mean {} (Ollama: {})? Otherwise, ",
                c.repo, c.ollama
            )
        })
        .unwrap_or_default();
    let help = format!(
        "{did_you_mean}look for a GGUF build of it (for example bartowski/{repo}-GGUF) and write \
         `hf: <org>/{repo}-GGUF`; online, the Hugging Face Hub tells whether it holds GGUF \
         files or safetensors Ollama can import",
        repo = hf.repo
    );
    Err(error(
        input,
        ConvertErrorKind::Unknown,
        format!("{full} is not a known Ollama library model and not a GGUF repository"),
        help,
    ))
}

fn convert_gguf(
    input: &str,
    hf: &HfRepo,
    asked: Option<&str>,
    hints: &RepoHints,
) -> Result<Conversion, ConvertError> {
    let available = hints.available_quants.as_deref();
    let has = |q: &str| available.is_none_or(|a| a.iter().any(|x| x.eq_ignore_ascii_case(q)));
    let list = || available.map(|a| a.join(", ")).unwrap_or_default();
    let (quant, why) = match asked {
        Some(q) => {
            let Some(canonical) = normalize_quant(q) else {
                let hint = suggest_quant(q)
                    .map(|s| format!("did you mean {s}? "))
                    .unwrap_or_default();
                return Err(error(
                    input,
                    ConvertErrorKind::UnknownQuant,
                    format!("{q:?} is not a GGUF quantization Hugging Face accepts as a tag"),
                    format!("{hint}known quants: {}", KNOWN_QUANTS.join(", ")),
                ));
            };
            if !has(canonical) {
                return Err(error(
                    input,
                    ConvertErrorKind::QuantNotInRepo,
                    format!("{}/{} has no {canonical} file", hf.org, hf.repo),
                    format!("pick one it has: {}", list()),
                ));
            }
            (canonical, "as asked")
        }
        None if has(DEFAULT_QUANT) => (DEFAULT_QUANT, "the default when the repo has it"),
        None => match available.and_then(best_available) {
            Some(best) => (best, "the repo has no Q4_K_M; the best quant it has"),
            None => {
                return Err(error(
                    input,
                    ConvertErrorKind::NoKnownQuant,
                    format!("{}/{} has no GGUF quant we recognise", hf.org, hf.repo),
                    format!("name one as :QUANT; the repo lists: {}", list()),
                ));
            }
        },
    };
    let ollama = ModelName::from_parts(HF_HOST, &hf.org, &hf.repo, quant).map_err(|e| {
        error(
            input,
            ConvertErrorKind::OllamaRejectsName,
            format!(
                "Ollama rejects {}/{} as a model name ({}), so it cannot pull it from \
                 Hugging Face",
                hf.org, hf.repo, e.reason
            ),
            "in facerunner.yaml, `source: download` with an `alias:` downloads it and imports \
             it under the alias; or download the GGUF file and declare a local `file:` model"
                .into(),
        )
    })?;
    let how = if looks_gguf(&hf.repo) {
        "GGUF repository"
    } else {
        "GGUF repository (Hugging Face lists GGUF files)"
    };
    Ok(Conversion {
        input: input.to_owned(),
        ollama,
        method: Method::GgufRepo,
        reason: format!("{how}: Ollama pulls it straight from Hugging Face; quant {quant} ({why})"),
    })
}

#[cfg(test)]
#[path = "hf_tests.rs"]
mod tests;
