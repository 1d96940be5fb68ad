//! The data behind Hugging Face conversion: `hf_library.tsv`, parsed once.
//!
//! Why data and not code: which original repo the Ollama library ships under
//! which tag changes with every release; a table row is reviewed and extended
//! without touching the converter. Two kinds of rows (tab-separated, `#`
//! starts a comment):
//!
//! - `org/repo<TAB>ollama:name<TAB>description` — a library equivalent;
//! - `!glob<TAB>kind<TAB>description` — repos Ollama cannot run (`*` matches
//!   any run of characters; `kind` is one of `image`, `video`, `speech`,
//!   `audio`, `vision`).
//!
//! Matching is case-insensitive; keys are stored lower-cased.

use std::collections::HashMap;
use std::sync::LazyLock;

use super::ollama::ModelName;

/// A well-known original repo and its Ollama library name.
#[derive(Debug, Clone)]
pub(crate) struct LibraryEntry {
    /// `org/repo` as spelled on Hugging Face.
    pub repo: String,
    /// The library name.
    pub ollama: ModelName,
    /// What the model is, for the reason text.
    pub description: String,
}

/// What kind of model Ollama cannot run; decides the help text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UnrunnableKind {
    Image,
    Video,
    Speech,
    Audio,
    Vision,
}

impl UnrunnableKind {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "image" => Self::Image,
            "video" => Self::Video,
            "speech" => Self::Speech,
            "audio" => Self::Audio,
            "vision" => Self::Vision,
            _ => return None,
        })
    }

    /// What would work instead.
    pub fn help(self) -> &'static str {
        match self {
            Self::Image | Self::Video => {
                "run it with its own server (for example ComfyUI or a diffusers script) as a \
                 `process` service in facerunner.yaml"
            }
            Self::Speech => {
                "run a speech server (for example whisper.cpp's server, faster-whisper or a TTS \
                 server) as a `process` service in facerunner.yaml"
            }
            Self::Audio => "run it with its own server as a `process` service in facerunner.yaml",
            Self::Vision => {
                "for image understanding in Ollama use a vision language model such as \
                 gemma3:4b, qwen2.5vl:7b or llama3.2-vision:11b"
            }
        }
    }
}

/// A glob over `org/repo` for repos Ollama cannot run.
#[derive(Debug, Clone)]
pub(crate) struct Unrunnable {
    pattern: String,
    pub kind: UnrunnableKind,
    pub description: String,
}

/// The parsed table.
#[derive(Debug, Default)]
pub(crate) struct Table {
    library: HashMap<String, LibraryEntry>,
    unrunnable: Vec<Unrunnable>,
}

impl Table {
    /// The library entry for `org/repo`, case-insensitively.
    pub fn library(&self, org: &str, repo: &str) -> Option<&LibraryEntry> {
        self.library
            .get(&format!("{org}/{repo}").to_ascii_lowercase())
    }

    /// The first unrunnable pattern matching `org/repo`.
    pub fn unrunnable(&self, org: &str, repo: &str) -> Option<&Unrunnable> {
        let key = format!("{org}/{repo}").to_ascii_lowercase();
        self.unrunnable
            .iter()
            .find(|u| glob_match(&u.pattern, &key))
    }

    /// The library repo closest to `org/repo`, for "did you mean".
    pub fn closest(&self, org: &str, repo: &str) -> Option<&LibraryEntry> {
        let key = format!("{org}/{repo}").to_ascii_lowercase();
        self.library
            .iter()
            .map(|(k, e)| (strsim::levenshtein(&key, k), e))
            .filter(|&(d, _)| d > 0 && d <= 3.max(key.len() / 10))
            .min_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.repo.cmp(&b.1.repo)))
            .map(|(_, e)| e)
    }

    /// Number of library rows.
    #[cfg(test)]
    pub fn library_len(&self) -> usize {
        self.library.len()
    }
}

/// The table shipped in the binary.
pub(crate) static TABLE: LazyLock<Table> = LazyLock::new(|| {
    parse_table(include_str!("hf_library.tsv"))
        .expect("hf_library.tsv is valid: the `shipped_table_parses` test checks every row")
});

/// Parses the table text; the error names the line.
pub(crate) fn parse_table(text: &str) -> Result<Table, String> {
    let mut table = Table::default();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let err = |msg: String| format!("hf_library.tsv line {}: {msg}", i + 1);
        let cols: Vec<&str> = line.split('\t').collect();
        let [first, second, description] = cols.as_slice() else {
            return Err(err(format!(
                "expected 3 tab-separated columns, got {}",
                cols.len()
            )));
        };
        if description.trim().is_empty() {
            return Err(err("empty description".into()));
        }
        if let Some(pattern) = first.strip_prefix('!') {
            let kind = UnrunnableKind::parse(second)
                .ok_or_else(|| err(format!("unknown kind {second:?}")))?;
            if !pattern.contains('/') {
                return Err(err(format!("pattern {pattern:?} must match org/repo")));
            }
            table.unrunnable.push(Unrunnable {
                pattern: pattern.to_ascii_lowercase(),
                kind,
                description: (*description).to_owned(),
            });
            continue;
        }
        let Some((org, repo)) = first.split_once('/') else {
            return Err(err(format!("{first:?} is not org/repo")));
        };
        if org.is_empty() || repo.is_empty() || repo.contains('/') {
            return Err(err(format!("{first:?} is not org/repo")));
        }
        let ollama = ModelName::parse(second).map_err(|e| err(e.to_string()))?;
        let key = first.to_ascii_lowercase();
        if table.library.contains_key(&key) {
            return Err(err(format!("duplicate repo {first:?}")));
        }
        table.library.insert(
            key,
            LibraryEntry {
                repo: (*first).to_owned(),
                ollama,
                description: (*description).to_owned(),
            },
        );
    }
    Ok(table)
}

/// `*`-only glob, on already lower-cased text.
fn glob_match(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(head) = parts.next() else {
        return text.is_empty();
    };
    let Some(mut rest) = text.strip_prefix(head) else {
        return false;
    };
    let tail: Vec<&str> = parts.collect();
    let Some((last, middle)) = tail.split_last() else {
        return rest.is_empty();
    };
    for piece in middle {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_table_parses() {
        let table = parse_table(include_str!("hf_library.tsv")).expect("table parses");
        assert!(
            table.library_len() >= 70,
            "only {} rows",
            table.library_len()
        );
        assert!(!table.unrunnable.is_empty());
        for e in table.library.values() {
            // Library names are plain `model:tag` from the default registry.
            assert_eq!(
                e.ollama.display_shortest().matches('/').count(),
                0,
                "{}",
                e.repo
            );
            assert!(!e.ollama.is_cloud(), "{}", e.repo);
        }
    }

    #[test]
    fn rejects_bad_rows() {
        assert!(parse_table("a/b\tllama3:8b\tx\na/B\tllama3:8b\ty").is_err());
        assert!(parse_table("a/b\tLlama 3\tx").is_err());
        assert!(parse_table("a/b\tllama3").is_err());
        assert!(parse_table("!a/*\tnope\tx").is_err());
        assert!(parse_table("# only a comment\n\n").is_ok());
    }

    #[test]
    fn globs() {
        assert!(glob_match("openai/whisper*", "openai/whisper-large-v3"));
        assert!(glob_match("*/*tts*", "coqui/xtts-v2"));
        assert!(!glob_match("*/*tts*", "meta-llama/llama-3.1-8b"));
        assert!(glob_match("runwayml/*", "runwayml/stable-diffusion-v1-5"));
        assert!(glob_match("a*b*c", "abc"));
        assert!(!glob_match("a*bc", "abcx"));
        assert!(glob_match("x", "x"));
        assert!(!glob_match("x", "xy"));
    }
}
