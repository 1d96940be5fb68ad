//! The keys of `hf:` models that only the Hub can fully answer: `quant:`
//! (`auto` included), `quantize:`, `source:`, `revision:`. What is certain
//! offline is checked here, located at the key; what depends on the repo's
//! files (does it have that quant, can Ollama convert it) is the plan's,
//! which asks the Hub (see `model::hf_resolve`).

use super::check::SpanMap;
use super::diag::Diagnostic;
use super::types::{HfSourceChoice, Model};
use crate::model::hf_resolve::{QUANTIZE_VALUES, normalize_quantize};
use crate::names::{ConvertError, ConvertErrorKind};

/// The entry as resolution sees it (`None` for models that are not `hf:`).
pub fn hf_entry(m: &Model) -> Option<crate::model::hf_resolve::HfEntry> {
    Some(crate::model::hf_resolve::HfEntry {
        repo: m.hf.clone()?,
        quant: m.quant.clone(),
        quantize: m.quantize.clone(),
        source: m.source.map(Into::into),
        revision: m.revision.clone(),
        alias: m.alias.clone(),
        creates: m.system.is_some() || m.template.is_some() || !m.parameters.is_empty(),
    })
}

/// Check the `hf:`-only keys of one entry (`ptr` is `/models/N`).
pub(super) fn keys(out: &mut Vec<Diagnostic>, spans: &SpanMap, m: &Model, ptr: &str, source: &str) {
    let mut err_key = |key: &str, summary: String, help: &str| {
        out.push(Diagnostic::error(summary, spans.key(&format!("{ptr}/{key}"))).with_help(help));
    };
    if source != "hf" {
        for (key, set) in [
            ("quantize", m.quantize.is_some()),
            ("source", m.source.is_some()),
            ("revision", m.revision.is_some()),
        ] {
            if set {
                err_key(
                    key,
                    format!("`{key}` applies to `hf:` models only"),
                    "remove it",
                );
            }
        }
        return;
    }
    let mut err_value = |key: &str, summary: String, help: &str| {
        out.push(Diagnostic::error(summary, spans.value(&format!("{ptr}/{key}"))).with_help(help));
    };
    if let Some(q) = &m.quantize {
        if normalize_quantize(q).is_none() {
            err_value(
                "quantize",
                format!("`{q}` is not a quantization FaceRunner asks Ollama for"),
                &format!("write one of {}", QUANTIZE_VALUES.join(", ")),
            );
        } else if m.quant.is_some() {
            err_value(
                "quantize",
                "`quant` and `quantize` both set: `quant` picks a GGUF file, `quantize` quantizes a safetensors import".into(),
                "keep the one that matches the repo",
            );
        } else if m.source == Some(HfSourceChoice::Ollama) {
            err_value(
                "quantize",
                "`quantize` needs an import, and `source: ollama` asks Ollama to pull".into(),
                "remove `source: ollama`",
            );
        }
    }
    if let Some(r) = &m.revision
        && !revision_ok(r)
    {
        err_value(
            "revision",
            format!("`{r}` is not a branch, tag or commit name"),
            "write a branch (`main`), a tag (`v1.0`) or a commit (40 hex digits)",
        );
    }
}

/// A git ref name as the Hub takes it: not empty, no spaces or control
/// characters, no `..`, no leading `/` or `-`.
fn revision_ok(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 255
        && !r.contains("..")
        && !r.starts_with(['/', '-'])
        && !r.ends_with('/')
        && r.chars()
            .all(|c| !c.is_control() && !c.is_whitespace() && !"~^:?*[\\".contains(c))
}

/// Whether the offline conversion's failure is one the Hub may answer: a
/// repo neither in the table nor named like a GGUF repo may hold GGUF files
/// or convertible safetensors; a name Ollama rejects can still be imported
/// under an alias.
pub(super) fn hub_decides(e: &ConvertError, m: &Model) -> bool {
    match e.kind {
        ConvertErrorKind::Unknown => true,
        ConvertErrorKind::OllamaRejectsName => m.source != Some(HfSourceChoice::Ollama),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::interpolate::Vars;
    use crate::config::{LoadError, load_str};
    use std::path::Path;

    /// (line, column, summary) of every error of a file with these models.
    fn errors(models: &str) -> Vec<(usize, usize, String)> {
        let text =
            format!("version: 1\nservices:\n  ollama: {{ kind: ollama }}\nmodels:\n{models}");
        match load_str(Path::new("f.yaml"), &text, &Vars::default()) {
            Ok(_) => Vec::new(),
            Err(LoadError::Invalid { diagnostics, .. }) => diagnostics
                .into_iter()
                .filter(Diagnostic::is_error)
                .map(|d| {
                    let s = d.span.expect("located");
                    (s.start.line, s.start.column, d.summary)
                })
                .collect(),
            Err(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn hf_keys_are_accepted_and_their_errors_located() {
        assert_eq!(
            errors(
                "  - hf: someone/Some-Model-GGUF\n    quant: auto\n    revision: v2\n    source: download\n    system: be brief\n"
            ),
            []
        );
        // Not a table entry nor named -GGUF: the Hub decides when planning.
        assert_eq!(errors("  - hf: org/Tiny-Llama\n    quantize: Q8_0\n"), []);
        let e = errors("  - hf: org/Tiny-Llama\n    quantize: q5_0\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!((e[0].0, e[0].1), (6, 15), "{e:?}");
        assert!(e[0].2.contains("q5_0"), "{e:?}");
        let e = errors("  - ollama: llama3.2:1b\n    revision: main\n");
        assert_eq!((e[0].0, e[0].1), (6, 5), "{e:?}");
        assert!(e[0].2.contains("`hf:` models only"), "{e:?}");
        let e = errors("  - hf: org/x-GGUF\n    revision: 'a b'\n");
        assert_eq!(e[0].0, 6, "{e:?}");
        let e = errors("  - hf: org/x-GGUF\n    source: ollama\n    system: hi\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].0, 7, "{e:?}");
        let e = errors("  - hf: org/x-GGUF\n    source: somewhere\n");
        assert_eq!(e[0].0, 6, "{e:?}");
        // An unknown quant name is still caught offline.
        let e = errors("  - hf: org/x-GGUF\n    quant: q4km\n");
        assert_eq!(e.len(), 1, "{e:?}");
    }

    #[test]
    fn revisions() {
        for ok in ["main", "v1.0", "refs/pr/1", &"a".repeat(40)] {
            assert!(revision_ok(ok), "{ok}");
        }
        for bad in ["", "a b", "../x", "-x", "x:y", "x/"] {
            assert!(!revision_ok(bad), "{bad}");
        }
    }
}
