//! Where the Hub is, who we are, where the cache lives and whether we may go
//! online: the same environment variables, defaults and precedence as
//! `huggingface_hub` (constants.py, utils/_auth.py), so one setup serves the
//! Python tools and FaceRunner.

use std::collections::BTreeMap;
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

/// Every variable [`HfSettings::from_vars`] reads.
pub const VARS: &[&str] = &[
    "HF_ENDPOINT",
    "HF_HOME",
    "XDG_CACHE_HOME",
    "HOME",
    "HF_HUB_CACHE",
    "HUGGINGFACE_HUB_CACHE",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_TOKEN_PATH",
];

/// The Hub's variables ([`VARS`]) as one command saw them. The daemon
/// plans and downloads for the command that asked: it reaches the Hub with
/// these, not with the environment it was started with, so a token
/// exported since is the one used. `Debug` shows the names only (a token
/// never reaches a log).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HubVars(BTreeMap<String, String>);

impl HubVars {
    /// The Hub's variables among those `var` gives.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> HubVars {
        HubVars(
            VARS.iter()
                .filter_map(|k| var(k).map(|v| (k.to_string(), v)))
                .collect(),
        )
    }

    /// This process's.
    pub fn process() -> HubVars {
        HubVars::from_lookup(|k| std::env::var(k).ok())
    }

    /// The settings they give.
    pub fn settings(&self) -> Result<HfSettings, HfError> {
        HfSettings::from_vars(|k| self.0.get(k).cloned())
    }
}

impl std::fmt::Debug for HubVars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
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
        HubVars::process().settings()
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
    fn hub_vars_keep_every_variable_the_settings_read_and_show_no_value() {
        let asked = std::cell::RefCell::new(Vec::new());
        let _ = HfSettings::from_vars(|k| {
            asked.borrow_mut().push(k.to_string());
            // Set, so every fallback is asked too.
            Some(match k {
                "HF_ENDPOINT" => "http://127.0.0.1:1".into(),
                "HF_HUB_DISABLE_IMPLICIT_TOKEN" => "0".into(),
                _ => String::new(),
            })
        });
        let _ = HfSettings::from_vars(|k| {
            asked.borrow_mut().push(k.to_string());
            None
        });
        for k in asked.into_inner() {
            assert!(VARS.contains(&k.as_str()), "{k} is read but not kept");
        }
        let vars = HubVars::from_lookup(|k| {
            matches!(k, "HF_TOKEN" | "HF_HOME").then(|| format!("{k}-value"))
        });
        assert_eq!(
            vars.settings().expect("settings").token.as_deref(),
            Some("HF_TOKEN-value")
        );
        assert_eq!(format!("{vars:?}"), r#"{"HF_HOME", "HF_TOKEN"}"#);
        assert_eq!(
            HubVars::from_lookup(|_| Some("x".into())).0.len(),
            VARS.len()
        );
        assert!(
            !HubVars::from_lookup(|k| (k == "PATH").then(String::new))
                .0
                .contains_key("PATH")
        );
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
