//! What the editor integrations would write, without writing it: Continue's
//! model block and Zed's `language_models.ollama` snippet, each with where
//! it goes and whether the file enables it. `facerunner integrations show`
//! prints it and the dashboard's integrations page shows it; both call
//! [`editor_config`], so they cannot differ.

use serde::Serialize;

use super::Desired;
use super::integrations::{
    ZED_KEY, continue_block, continue_path, editor_models, zed_block, zed_path,
};
use crate::config::Loaded;
use crate::config::types::ContinueRole;
use crate::model::spec::ProjectSpec;

/// One integration's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Shown {
    /// Whether the file enables it (`integrations.continue.enabled`,
    /// `integrations.zed`); its content is shown either way.
    pub enabled: bool,
    /// Where it goes, as a person writes it (`.continue/models/…`, `~/.config/zed/settings.json`).
    pub path: String,
    /// `written to`, `merged into` or `to paste into` the path.
    pub how: String,
    /// The content: Continue's YAML block, or Zed's settings as JSON.
    pub text: String,
}

/// Both integrations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct EditorConfig {
    /// Continue's model block (schema v1).
    #[serde(rename = "continue")]
    pub continue_: Shown,
    /// Zed's settings snippet (`language_models.ollama`).
    pub zed: Shown,
}

/// What `integrations show` prints for the file.
pub fn editor_config(loaded: &Loaded, spec: &ProjectSpec) -> EditorConfig {
    let desired = Desired::new(loaded, spec);
    let models = editor_models(loaded, &desired.models);
    let ints = &loaded.config.integrations;
    let c = ints.continue_.as_ref();
    let roles = c
        .and_then(|c| c.roles.clone())
        .unwrap_or_else(|| vec![ContinueRole::Chat, ContinueRole::Edit, ContinueRole::Apply]);
    let (_, continue_shown) =
        continue_path(c.map(|c| c.scope).unwrap_or_default(), &loaded.base_dir);
    let mut zed = serde_json::Value::Null;
    for k in ZED_KEY.iter().rev() {
        zed = if zed.is_null() {
            serde_json::json!({ *k: zed_block(&models) })
        } else {
            serde_json::json!({ *k: zed })
        };
    }
    let (_, zed_shown) = zed_path(&loaded.base_dir);
    EditorConfig {
        continue_: Shown {
            enabled: c.is_some_and(|c| c.enabled),
            path: continue_shown,
            how: "written to".into(),
            text: continue_block(&models, &roles, &loaded.file.path),
        },
        zed: Shown {
            enabled: ints.zed.is_some(),
            path: zed_shown,
            how: if ints.zed.as_ref().is_some_and(|z| z.merge) {
                "merged into"
            } else {
                "to paste into"
            }
            .into(),
            text: format!(
                "{}\n",
                serde_json::to_string_pretty(&zed).unwrap_or_else(|_| "{}".into())
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use crate::config::interpolate::Vars;
    use crate::config::load_str;
    use crate::config::resolve::{Secrets, resolve};
    use crate::paths::ProjectDirs;

    #[test]
    fn both_blocks_name_the_files_models_and_say_which_are_enabled() {
        let dir = tempfile::tempdir().expect("tempdir");
        let yaml = "version: 1\nservices:\n  llm: { kind: ollama, port: 11500 }\nmodels:\n  - ollama: llama3.2:1b\nintegrations:\n  continue: {}\n";
        let loaded = load_str(&dir.path().join("facerunner.yaml"), yaml, &Vars::default())
            .unwrap_or_else(|e| panic!("{e:?}"));
        let spec = resolve(
            &loaded,
            &ProjectDirs::under(&dir.path().join("h"), "t"),
            Secrets::Peek,
        )
        .expect("resolves");
        let c = super::editor_config(&loaded, &spec);
        assert!(c.continue_.enabled);
        assert!(
            c.continue_.text.contains("model: \"llama3.2:1b\""),
            "{}",
            c.continue_.text
        );
        assert!(
            c.continue_
                .text
                .contains("apiBase: \"http://127.0.0.1:11500\""),
            "{}",
            c.continue_.text
        );
        assert!(!c.zed.enabled);
        assert_eq!(c.zed.how, "to paste into");
        let zed: serde_json::Value = serde_json::from_str(&c.zed.text).expect("json");
        assert_eq!(
            zed["language_models"]["ollama"]["available_models"][0]["name"],
            "llama3.2:1b"
        );
    }
}
