//! What the Hugging Face Hub says about a repo, as plain data.
//!
//! Why here: the Hub client (the `hf` module) fills these, the plan reads them to
//! choose a file and a source, and the state records the commit it pinned;
//! all three speak the same types, so they sit at the bottom.

use serde::{Deserialize, Serialize};

use crate::names::normalize_quant;

/// Whether a repo asks people to accept its licence before downloading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Gated {
    /// Open to anyone.
    #[default]
    No,
    /// Accepted automatically once asked.
    Auto,
    /// Reviewed by the repo's authors.
    Manual,
}

/// One file of a repo at a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RepoFile {
    /// Path inside the repo (`Q4_K_M/model-00001-of-00002.gguf`).
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// The sha256 of an LFS file (hex): its blob name in the cache and the
    /// integrity check of the download.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lfs_sha256: Option<String>,
    /// The git blob id of a regular (non-LFS) file: its blob name in the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob_id: Option<String>,
}

impl RepoFile {
    /// The name of the file's blob in the Hugging Face cache (`blobs/<etag>`).
    pub fn cache_blob_name(&self) -> Option<&str> {
        self.lfs_sha256.as_deref().or(self.blob_id.as_deref())
    }

    /// Whether this is a GGUF file.
    pub fn is_gguf(&self) -> bool {
        self.path.to_ascii_lowercase().ends_with(".gguf")
    }
}

/// A repo at one commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoInfo {
    /// `org/name`, as the Hub spells it.
    pub id: String,
    /// The commit the revision resolved to (40 hex digits).
    pub commit: String,
    /// Licence gate.
    #[serde(default)]
    pub gated: Gated,
    /// Private repo.
    #[serde(default)]
    pub private: bool,
    /// `text-generation`, `text-to-image`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_tag: Option<String>,
    /// `transformers`, `gguf`, `diffusers`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub library: Option<String>,
    /// The `base_model` card entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub base_model: Vec<String>,
    /// `config.json`'s `architectures` when the Hub reports them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<String>,
    /// Every file, sorted by path.
    pub files: Vec<RepoFile>,
}

/// The GGUF files of one quant (one file, or the parts of a split model).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GgufQuant {
    /// The quant's canonical name (`Q4_K_M`).
    pub quant: String,
    /// Its files, sorted by path (`-00001-of-00002` first).
    pub files: Vec<RepoFile>,
    /// All the files' bytes.
    pub size: u64,
}

impl RepoInfo {
    /// Whether the repo holds any GGUF file.
    pub fn has_gguf(&self) -> bool {
        self.files.iter().any(RepoFile::is_gguf)
    }

    /// The repo's GGUF quants, smallest first. Files whose name names no
    /// known quant (and projector files, `mmproj-*`) are left out.
    pub fn gguf_quants(&self) -> Vec<GgufQuant> {
        let mut quants: Vec<GgufQuant> = Vec::new();
        for file in self.files.iter().filter(|f| f.is_gguf()) {
            let name = file.path.rsplit('/').next().unwrap_or(&file.path);
            if name.to_ascii_lowercase().starts_with("mmproj") {
                continue;
            }
            let Some(quant) = quant_of(&file.path) else {
                continue;
            };
            match quants.iter_mut().find(|q| q.quant == quant) {
                Some(q) => {
                    q.size += file.size;
                    q.files.push(file.clone());
                }
                None => quants.push(GgufQuant {
                    quant: quant.to_string(),
                    size: file.size,
                    files: vec![file.clone()],
                }),
            }
        }
        for q in &mut quants {
            q.files.sort_by(|a, b| a.path.cmp(&b.path));
        }
        quants.sort_by(|a, b| a.size.cmp(&b.size).then(a.quant.cmp(&b.quant)));
        quants
    }
}

/// The quant a GGUF path names (`…-Q4_K_M.gguf`, `Q8_0/…-00001-of-00002.gguf`).
pub fn quant_of(path: &str) -> Option<&'static str> {
    // Try every `-`, `.`, `_`-free token and every `_`-joined run of tokens,
    // last first: quant names contain `_` (`Q4_K_M`), never `-` or `.`.
    let lower = path.to_ascii_lowercase();
    let stem = lower.strip_suffix(".gguf").unwrap_or(&lower);
    for segment in stem.rsplit(['/', '-', '.']) {
        if let Some(q) = normalize_quant(segment) {
            return Some(q);
        }
    }
    None
}

/// Where an `hf:` model's bytes come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum HfSource {
    /// Ollama pulls `hf.co/org/repo:QUANT` itself.
    Ollama,
    /// FaceRunner downloads into the Hugging Face cache, then imports into
    /// Ollama (blobs + `/api/create`).
    Download,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, size: u64) -> RepoFile {
        RepoFile {
            path: path.into(),
            size,
            lfs_sha256: Some("ab".repeat(32)),
            blob_id: None,
        }
    }

    #[test]
    fn quants_are_grouped_split_files_summed_and_sorted_by_size() {
        let info = RepoInfo {
            id: "o/r-GGUF".into(),
            commit: "0".repeat(40),
            gated: Gated::No,
            private: false,
            pipeline_tag: None,
            library: None,
            base_model: vec![],
            architectures: vec![],
            files: vec![
                file("README.md", 10),
                file("r-Q8_0.gguf", 800),
                file("r-Q4_K_M.gguf", 400),
                file("Q6_K/r-Q6_K-00002-of-00002.gguf", 300),
                file("Q6_K/r-Q6_K-00001-of-00002.gguf", 300),
                file("mmproj-r-f16.gguf", 50),
            ],
        };
        let q = info.gguf_quants();
        let names: Vec<&str> = q.iter().map(|q| q.quant.as_str()).collect();
        assert_eq!(names, ["Q4_K_M", "Q6_K", "Q8_0"]);
        assert_eq!(q[1].size, 600);
        assert!(q[1].files[0].path.contains("00001"));
        assert!(info.has_gguf());
    }

    #[test]
    fn quant_of_reads_the_last_quant_token() {
        assert_eq!(
            quant_of("Llama-3.2-3B-Instruct-Q4_K_M.gguf"),
            Some("Q4_K_M")
        );
        assert_eq!(quant_of("x.IQ4_XS.gguf"), Some("IQ4_XS"));
        assert_eq!(quant_of("model.gguf"), None);
    }
}
