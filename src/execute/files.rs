//! File steps: the files FaceRunner writes for other tools (editor
//! integrations, see `plan::integrations`).
//!
//! Every write goes through `safefs` (0600, directories 0700, a link at the
//! path never followed), and each is checked against the disk right before
//! it happens: a create never replaces anything that appeared meanwhile, a
//! replace or delete happens only while the file still holds exactly what
//! FaceRunner wrote (the hash in the state file), and a merge only into a
//! file that is plain JSON. Each success is recorded in the state file.

use std::path::Path;

use serde_json::Value;

use super::engine::Run;
use super::error::StepError;
use crate::model::state::FileRecord;
use crate::observe::files::{MAX_BYTES, sha256_hex};
use crate::plan::{Action, Step};
use crate::safefs::{self, ReadError};

/// Run one file step.
pub(crate) async fn run(step: &Step, run: &Run<'_>) -> Result<(), StepError> {
    let action = step.action.clone();
    let recorded = match &action {
        Action::WriteFile { path, .. } => run.owned_file(path).await,
        _ => None,
    };
    let task = action.clone();
    let done = tokio::task::spawn_blocking(move || on_disk(&task, recorded.as_ref()))
        .await
        .map_err(|e| StepError::BadStep(format!("the file writer thread failed: {e}")))?;
    done?;
    let saved = run
        .record(|state| match &action {
            Action::WriteFile {
                integration,
                path,
                shown,
                content,
                ..
            } => {
                state.files.insert(
                    path.clone(),
                    FileRecord {
                        integration: integration.clone(),
                        sha256: sha256_hex(content.as_bytes()),
                        shown: shown.clone(),
                    },
                );
            }
            Action::RemoveFile { path, .. } => {
                state.files.remove(path);
            }
            _ => {}
        })
        .await;
    saved.map_err(|source| StepError::State {
        done: "the file was written",
        source,
    })
}

fn file_error(action: &'static str, path: &str, source: std::io::Error) -> StepError {
    StepError::File {
        action,
        path: path.to_string(),
        source,
    }
}

/// The current content of a file FaceRunner may replace: `None` when absent.
fn current(path: &str) -> Result<Option<Vec<u8>>, StepError> {
    match safefs::read_private_bounded(Path::new(path), MAX_BYTES) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(file_error("read", path, read_io(e))),
    }
}

fn read_io(e: ReadError) -> std::io::Error {
    std::io::Error::other(crate::style::with_causes(&e))
}

fn changed(path: &str) -> StepError {
    StepError::FileChanged(format!(
        "{path} changed since the plan was made (FaceRunner did not write what it holds now); it was left as it is"
    ))
}

/// Make the directory a file goes in: new ones 0700, the last two levels
/// (`.continue/models`) checked to be ours and not writable by others.
fn make_parent(path: &str) -> Result<(), StepError> {
    let p = Path::new(path);
    let Some(parent) = p.parent() else {
        return Ok(());
    };
    let root = parent.parent().unwrap_or(parent);
    safefs::create_private_dir_in(root, parent)
        .map_err(|e| file_error("create the directory of", path, e.into()))
}

fn on_disk(action: &Action, recorded: Option<&FileRecord>) -> Result<(), StepError> {
    match action {
        Action::WriteFile {
            path,
            content,
            replaces,
            ..
        } => {
            make_parent(path)?;
            if *replaces {
                let now = current(path)?;
                let ours = now.as_deref().map(sha256_hex);
                if ours.is_none() || ours.as_deref() != recorded.map(|r| r.sha256.as_str()) {
                    return Err(changed(path));
                }
                safefs::write_private_atomic(Path::new(path), content.as_bytes())
                    .map_err(|e| file_error("write", path, e.into()))
            } else {
                match safefs::create_private_atomic(Path::new(path), content.as_bytes()) {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(StepError::FileChanged(format!(
                        "{path} appeared since the plan was made; it was left as it is"
                    ))),
                    Err(e) => Err(file_error("create", path, e.into())),
                }
            }
        }
        Action::RemoveFile { path, sha256, .. } => {
            let Some(now) = current(path)? else {
                return Ok(());
            };
            if sha256_hex(&now) != *sha256 {
                return Err(changed(path));
            }
            std::fs::remove_file(path).map_err(|e| file_error("delete", path, e))
        }
        Action::MergeJson {
            path, key, value, ..
        } => {
            make_parent(path)?;
            let text = current(path)?
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            let merged = merge(&text, key, value.clone()).map_err(|why| {
                StepError::FileChanged(format!("{path} was not merged into: {why}"))
            })?;
            safefs::write_private_atomic(Path::new(path), merged.as_bytes())
                .map_err(|e| file_error("write", path, e.into()))
        }
        _ => Err(StepError::BadStep("not a file step".into())),
    }
}

/// `text` (a JSON object, or empty) with `value` at `key`, every other key
/// kept; pretty-printed.
pub(crate) fn merge(text: &str, key: &[String], value: Value) -> Result<String, String> {
    let mut doc: Value = if text.trim().is_empty() {
        Value::Object(Default::default())
    } else {
        serde_json::from_str(text)
            .map_err(|e| format!("it is not plain JSON ({e}); comments or trailing commas?"))?
    };
    let Some((last, path)) = key.split_last() else {
        return Err("no key to set".into());
    };
    let mut at = &mut doc;
    for k in path {
        let Value::Object(map) = at else {
            return Err(format!("`{k}`'s parent is not a JSON object"));
        };
        at = map
            .entry(k.clone())
            .or_insert_with(|| Value::Object(Default::default()));
    }
    let Value::Object(map) = at else {
        return Err(format!("`{}` is not a JSON object", path.join(".")));
    };
    map.insert(last.clone(), value);
    let mut out = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    out.push('\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Vec<String> {
        vec!["language_models".into(), "ollama".into()]
    }

    #[test]
    fn merging_sets_one_key_and_keeps_every_other() {
        let text =
            r#"{"theme":"One Dark","language_models":{"openai":{"x":1},"ollama":{"old":true}}}"#;
        let out = merge(text, &key(), serde_json::json!({"api_url": "u"})).expect("merge");
        let v: Value = serde_json::from_str(&out).expect("json");
        assert_eq!(v["theme"], "One Dark");
        assert_eq!(v["language_models"]["openai"]["x"], 1);
        assert_eq!(
            v["language_models"]["ollama"],
            serde_json::json!({"api_url": "u"})
        );
        let fresh = merge("", &key(), serde_json::json!(1)).expect("empty");
        assert_eq!(
            serde_json::from_str::<Value>(&fresh).expect("json"),
            serde_json::json!({"language_models": {"ollama": 1}})
        );
    }

    #[test]
    fn a_file_with_comments_is_refused_with_the_reason() {
        let e = merge("{ // mine\n}", &key(), Value::Null).expect_err("jsonc");
        assert!(e.contains("not plain JSON"), "{e}");
        let e = merge("[1]", &key(), Value::Null).expect_err("array");
        assert!(e.contains("not a JSON object"), "{e}");
    }
}
