//! Where the Hub is, who we are, where the cache lives and whether we may go
//! online: the same environment variables, defaults and precedence as
//! `huggingface_hub` (constants.py, utils/_auth.py), so one setup serves the
//! Python tools and FaceRunner.

use std::path::PathBuf;

use super::error::HfError;
use crate::safefs;

/// The Hub's default address.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// The settings a [`Hub`](super::Hub) runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HfSettings {
    /// `HF_ENDPOINT`, without a trailing `/`.
    pub endpoint: String,
    /// `HF_TOKEN`, `HUGGING_FACE_HUB_TOKEN`, else the token file.
    pub token: Option<String>,
    /// `HF_HUB_CACHE` (`HUGGINGFACE_HUB_CACHE`), else `$HF_HOME/hub`.
    pub cache_dir: PathBuf,
    /// `HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`): no HTTP at all.
    pub offline: bool,
}

fn truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_uppercase().as_str(),
        "1" | "ON" | "YES" | "TRUE"
    )
}

impl HfSettings {
    /// The settings the process environment gives.
    pub fn from_env() -> Result<HfSettings, HfError> {
        HfSettings::from_vars(|k| std::env::var(k).ok())
    }

    /// The settings `var` gives (a lookup of environment variables).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<HfSettings, HfError> {
        let get = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let endpoint = get("HF_ENDPOINT")
            .map(|e| e.trim().trim_end_matches('/').to_string())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        if reqwest::Url::parse(&endpoint).is_err() {
            return Err(HfError::BadEndpoint { endpoint });
        }
        let hf_home = match get("HF_HOME") {
            Some(h) => PathBuf::from(h),
            None => match get("XDG_CACHE_HOME") {
                Some(x) => PathBuf::from(x).join("huggingface"),
                None => match get("HOME") {
                    Some(h) => PathBuf::from(h).join(".cache/huggingface"),
                    None => return Err(HfError::NoCacheDir),
                },
            },
        };
        let cache_dir = get("HF_HUB_CACHE")
            .or_else(|| get("HUGGINGFACE_HUB_CACHE"))
            .map(PathBuf::from)
            .unwrap_or_else(|| hf_home.join("hub"));
        let offline = get("HF_HUB_OFFLINE")
            .or_else(|| get("TRANSFORMERS_OFFLINE"))
            .is_some_and(|v| truthy(&v));
        let token = if get("HF_HUB_DISABLE_IMPLICIT_TOKEN").is_some_and(|v| truthy(&v)) {
            None
        } else if let Some(t) = get("HF_TOKEN").or_else(|| get("HUGGING_FACE_HUB_TOKEN")) {
            Some(t.trim().to_string())
        } else {
            let path = get("HF_TOKEN_PATH")
                .map(PathBuf::from)
                .unwrap_or_else(|| hf_home.join("token"));
            match safefs::read_bounded(&path, 4096) {
                Ok(bytes) => Some(String::from_utf8_lossy(&bytes).trim().to_string())
                    .filter(|t| !t.is_empty()),
                Err(e) if e.is_not_found() => None,
                Err(source) => return Err(HfError::TokenFile { path, source }),
            }
        };
        Ok(HfSettings {
            endpoint,
            token,
            cache_dir,
            offline,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> HfSettings {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        HfSettings::from_vars(|k| map.get(k).cloned()).expect("settings")
    }

    #[test]
    fn defaults_follow_huggingface_hub() {
        let s = settings(&[("HOME", "/h")]);
        assert_eq!(s.endpoint, "https://huggingface.co");
        assert_eq!(s.cache_dir, PathBuf::from("/h/.cache/huggingface/hub"));
        assert!(!s.offline);
        let s = settings(&[("HOME", "/h"), ("XDG_CACHE_HOME", "/x")]);
        assert_eq!(s.cache_dir, PathBuf::from("/x/huggingface/hub"));
        let s = settings(&[("HF_HOME", "/hf"), ("HF_ENDPOINT", "http://127.0.0.1:9/")]);
        assert_eq!(s.cache_dir, PathBuf::from("/hf/hub"));
        assert_eq!(s.endpoint, "http://127.0.0.1:9");
        let s = settings(&[("HF_HOME", "/hf"), ("HF_HUB_CACHE", "/c")]);
        assert_eq!(s.cache_dir, PathBuf::from("/c"));
        assert!(settings(&[("HOME", "/h"), ("HF_HUB_OFFLINE", "1")]).offline);
        assert!(!settings(&[("HOME", "/h"), ("HF_HUB_OFFLINE", "0")]).offline);
    }

    #[test]
    fn the_token_comes_from_the_variable_then_the_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let home = dir.path().to_str().expect("utf-8");
        std::fs::write(dir.path().join("token"), "hf_file\n").expect("write");
        let s = settings(&[("HF_HOME", home)]);
        assert_eq!(s.token.as_deref(), Some("hf_file"));
        let s = settings(&[("HF_HOME", home), ("HF_TOKEN", "hf_env")]);
        assert_eq!(s.token.as_deref(), Some("hf_env"));
        let s = settings(&[("HF_HOME", home), ("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1")]);
        assert_eq!(s.token, None);
    }
}
