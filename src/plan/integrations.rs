//! Editor integrations as resources of the plan: the files FaceRunner
//! writes for other tools, from the models of the file.
//!
//! * `integrations.continue` → a Continue model block (schema v1) in
//!   `.continue/models/facerunner.yaml` beside the project file, or in
//!   `~/.continue/models/` with `scope: user`. Continue merges such blocks
//!   into its configuration; the user's own `config.yaml` is never touched.
//! * `integrations.zed` → the `language_models.ollama` settings of Zed,
//!   printed by `facerunner integrations show zed`, and merged into Zed's
//!   `settings.json` only with `merge: true` (and only when that file is
//!   plain JSON: Zed allows comments, which a JSON round trip would lose).
//!
//! The models listed are the file's (aliases included), each with the URL
//! it is reached at: the gateway's when the file has a `kind: gateway`
//! service (it routes by model), else its own ollama service's.
//!
//! [`steps`] compares them with the disk (`observe::files`) and the state
//! file: a missing file is created (`+`), one FaceRunner wrote and nobody
//! changed since is replaced when its content would change (`~`) and
//! deleted when the file no longer asks for it (`-`); anything else at the
//! path is left alone, with a warning that says why.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::build::Builder;
use super::desired::{Desired, DesiredModel};
use crate::config::Loaded;
use crate::config::resolve::{expand_path, ollama_url};
use crate::config::types::{ContinueRole, ContinueScope, Kind};
use crate::model::checks::Check;
use crate::model::live::SeenFile;
use crate::model::plan::Action;
use crate::model::state::State;
use crate::observe::Live;
use crate::observe::files::{sha256_hex, value_hash};

/// The file name of Continue's block.
pub const CONTINUE_FILE: &str = "facerunner.yaml";

/// The key of Zed's settings FaceRunner writes.
pub const ZED_KEY: [&str; 2] = ["language_models", "ollama"];

/// A file an integration wants.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredFile {
    /// `continue` or `zed`.
    pub integration: String,
    /// Absolute path.
    pub path: PathBuf,
    /// How messages show it (relative to the project, or with `~`).
    pub shown: String,
    /// What it holds.
    pub want: Want,
}

/// What a desired file holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Want {
    /// The whole file, written by FaceRunner.
    Whole(String),
    /// One key of someone else's JSON file.
    Merge {
        /// The key path.
        key: Vec<String>,
        /// Its value.
        value: Value,
    },
}

/// One model as an editor sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditorModel {
    /// The Ollama name (or alias).
    pub name: String,
    /// The URL it is reached at.
    pub api_base: String,
    /// Its context length, when the file sets `parameters.num_ctx`.
    pub context: Option<u64>,
}

/// The file's models (aliases included, each name once, in file order) with
/// the URL each is reached at.
pub fn editor_models(loaded: &Loaded, models: &[DesiredModel]) -> Vec<EditorModel> {
    let cfg = &loaded.config;
    let gateway = cfg
        .services
        .values()
        .find(|s| s.kind == Kind::Gateway)
        .map(|s| ollama_url(cfg, s));
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for m in models {
        let api_base = match &gateway {
            Some(url) => url.clone(),
            None => match cfg.services.get(&m.service) {
                Some(svc) => ollama_url(cfg, svc),
                None => continue,
            },
        };
        let names = std::iter::once(&m.name).chain(m.alias.as_ref());
        for n in names {
            let name = n.display_shortest();
            if seen.insert(name.clone()) {
                out.push(EditorModel {
                    name,
                    api_base: api_base.clone(),
                    context: m.num_ctx,
                });
            }
        }
    }
    out
}

/// Where Continue's block goes.
pub fn continue_path(scope: ContinueScope, base_dir: &Path) -> (PathBuf, String) {
    match scope {
        ContinueScope::Workspace => (
            base_dir
                .join(".continue")
                .join("models")
                .join(CONTINUE_FILE),
            format!(".continue/models/{CONTINUE_FILE}"),
        ),
        ContinueScope::User => (
            expand_path(&format!("~/.continue/models/{CONTINUE_FILE}"), base_dir),
            format!("~/.continue/models/{CONTINUE_FILE}"),
        ),
    }
}

/// Where Zed's settings are: `$XDG_CONFIG_HOME/zed/settings.json`, else
/// `~/.config/zed/settings.json`.
pub fn zed_path(base_dir: &Path) -> (PathBuf, String) {
    match std::env::var_os("XDG_CONFIG_HOME").filter(|v| Path::new(v).is_absolute()) {
        Some(dir) => {
            let p = PathBuf::from(dir).join("zed").join("settings.json");
            let shown = p.display().to_string();
            (p, shown)
        }
        None => (
            expand_path("~/.config/zed/settings.json", base_dir),
            "~/.config/zed/settings.json".into(),
        ),
    }
}

/// JSON's quoting, which YAML reads as a double-quoted scalar.
fn quoted(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// Continue's model block (schema v1).
pub fn continue_block(models: &[EditorModel], roles: &[ContinueRole], source: &Path) -> String {
    let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Written by FaceRunner from {} (integrations.continue).\n\
         # Edit that file instead: FaceRunner rewrites this one on apply, leaves it\n\
         # alone once it was changed by hand, and deletes it when the key is removed.",
        source.display()
    );
    out.push_str("name: FaceRunner models\nversion: 0.0.1\nschema: v1\n");
    if models.is_empty() {
        out.push_str("models: []\n");
        return out;
    }
    out.push_str("models:\n");
    for m in models {
        let _ = writeln!(out, "  - name: {}", quoted(&m.name));
        out.push_str("    provider: ollama\n");
        let _ = writeln!(out, "    model: {}", quoted(&m.name));
        let _ = writeln!(out, "    apiBase: {}", quoted(&m.api_base));
        let _ = writeln!(out, "    roles: [{}]", roles.join(", "));
        if let Some(n) = m.context {
            let _ = writeln!(
                out,
                "    defaultCompletionOptions: {{ contextLength: {n} }}"
            );
        }
    }
    out
}

/// The context Zed asks for when a model sets none (Zed's own default).
const ZED_DEFAULT_CONTEXT: u64 = 4096;

/// Zed's `language_models.ollama` block: the URL (the gateway's or the
/// first service's) and the models it serves, each with the `max_tokens`
/// Zed requires (sent as `num_ctx`: the model's `num_ctx`, else 4096).
/// Zed reaches one URL, so models of other ollama services (no gateway)
/// are left out of it.
pub fn zed_block(models: &[EditorModel]) -> Value {
    let url = models.first().map_or_else(
        || "http://127.0.0.1:11434".to_string(),
        |m| m.api_base.clone(),
    );
    let available: Vec<Value> = models
        .iter()
        .filter(|m| m.api_base == url)
        .map(|m| {
            json!({
                "name": m.name,
                "display_name": m.name,
                "max_tokens": m.context.unwrap_or(ZED_DEFAULT_CONTEXT),
            })
        })
        .collect();
    json!({ "api_url": url, "available_models": available })
}

const DEFAULT_ROLES: [ContinueRole; 3] =
    [ContinueRole::Chat, ContinueRole::Edit, ContinueRole::Apply];

/// The files the project file's integrations want.
pub fn desired(loaded: &Loaded, models: &[DesiredModel]) -> Vec<DesiredFile> {
    let ints = &loaded.config.integrations;
    let mut out = Vec::new();
    let editor = editor_models(loaded, models);
    if let Some(c) = ints.continue_.as_ref().filter(|c| c.enabled) {
        let (path, shown) = continue_path(c.scope, &loaded.base_dir);
        let roles = c.roles.as_deref().unwrap_or(&DEFAULT_ROLES);
        out.push(DesiredFile {
            integration: "continue".into(),
            path,
            shown,
            want: Want::Whole(continue_block(&editor, roles, &loaded.file.path)),
        });
    }
    if ints.zed.as_ref().is_some_and(|z| z.merge) {
        let (path, shown) = zed_path(&loaded.base_dir);
        out.push(DesiredFile {
            integration: "zed".into(),
            path,
            shown,
            want: Want::Merge {
                key: ZED_KEY.iter().map(|k| k.to_string()).collect(),
                value: zed_block(&editor),
            },
        });
    }
    out
}

/// The paths to observe: the wanted ones (with the key of a merged block)
/// and the ones FaceRunner wrote before.
pub fn paths_to_observe(desired: &Desired, owned: &State) -> Vec<(PathBuf, Option<Vec<String>>)> {
    let mut out: Vec<(PathBuf, Option<Vec<String>>)> = desired
        .files
        .iter()
        .map(|f| {
            let key = match &f.want {
                Want::Merge { key, .. } => Some(key.clone()),
                Want::Whole(_) => None,
            };
            (f.path.clone(), key)
        })
        .collect();
    for path in owned.files.keys() {
        if !out.iter().any(|(p, _)| p.as_os_str() == path.as_str()) {
            out.push((PathBuf::from(path), None));
        }
    }
    out
}

/// The file steps and their warnings.
pub(super) fn steps(b: &mut Builder, desired: &Desired, live: &Live, owned: &State) {
    let absent = SeenFile::Absent;
    for f in &desired.files {
        let key = f.path.display().to_string();
        let seen = live.host.files.get(&key).unwrap_or(&absent);
        let subject = format!("integrations.{}", f.integration);
        match (&f.want, seen) {
            (_, SeenFile::Unusable { reason }) => b.checks.push(Check::warning(
                &subject,
                format!("{} is not touched: {reason}", f.shown),
                format!(
                    "remove what is at {} to let FaceRunner write it",
                    f.path.display()
                ),
            )),
            (Want::Whole(content), SeenFile::Absent) => {
                b.push(write(f, &key, content, false), "not there yet", vec![]);
            }
            (Want::Whole(content), SeenFile::Present { sha256, .. }) => {
                if *sha256 == sha256_hex(content.as_bytes()) {
                    continue;
                }
                let ours = owned.files.get(&key).is_some_and(|r| r.sha256 == *sha256);
                if ours {
                    b.push(
                        write(f, &key, content, true),
                        "its models or their URLs changed",
                        vec![],
                    );
                } else {
                    b.checks.push(Check::warning(
                        &subject,
                        format!(
                            "{} is not touched: FaceRunner did not write what it holds now",
                            f.shown
                        ),
                        format!(
                            "delete or rename {} to let FaceRunner write it (`facerunner integrations show {}` prints what it would write)",
                            f.path.display(),
                            f.integration
                        ),
                    ));
                }
            }
            (Want::Merge { key: at, value }, seen) => {
                let reason = match seen {
                    SeenFile::Absent => "no settings file yet".to_string(),
                    SeenFile::Present {
                        block: Some(Ok(Some(h))),
                        ..
                    } if *h == value_hash(value) => continue,
                    SeenFile::Present {
                        block: Some(Err(why)),
                        ..
                    } => {
                        b.checks.push(Check::warning(
                            &subject,
                            format!("{} is not merged into: {why}", f.shown),
                            format!(
                                "paste the block `facerunner integrations show {}` prints into it by hand",
                                f.integration
                            ),
                        ));
                        continue;
                    }
                    _ => format!("`{}` differs", at.join(".")),
                };
                b.push(
                    Action::MergeJson {
                        integration: f.integration.clone(),
                        path: key,
                        shown: f.shown.clone(),
                        key: at.clone(),
                        value: value.clone(),
                    },
                    reason,
                    vec![],
                );
            }
        }
    }
    for (path, record) in &owned.files {
        if desired
            .files
            .iter()
            .any(|f| f.path.as_os_str() == path.as_str())
        {
            continue;
        }
        let shown = if record.shown.is_empty() {
            path.clone()
        } else {
            record.shown.clone()
        };
        match live.host.files.get(path).unwrap_or(&absent) {
            SeenFile::Present { sha256, .. } if *sha256 == record.sha256 => {
                b.push(
                    Action::RemoveFile {
                        integration: record.integration.clone(),
                        path: path.clone(),
                        shown,
                        sha256: sha256.clone(),
                    },
                    format!(
                        "integrations.{} is no longer in the file",
                        record.integration
                    ),
                    vec![],
                );
            }
            SeenFile::Absent => {}
            _ => b.checks.push(Check::note(
                format!("integrations.{}", record.integration),
                format!("{path} is left in place: it was changed since FaceRunner wrote it"),
                "delete it by hand if it is no longer wanted",
            )),
        }
    }
}

fn write(f: &DesiredFile, key: &str, content: &str, replaces: bool) -> Action {
    Action::WriteFile {
        integration: f.integration.clone(),
        path: key.to_string(),
        shown: f.shown.clone(),
        content: content.to_string(),
        replaces,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::interpolate::Vars;
    use crate::config::load_str;
    use crate::config::resolve::{Secrets, resolve};
    use crate::model::plan::Severity;
    use crate::model::state::FileRecord;
    use crate::paths::ProjectDirs;

    const FILE: &str = "/p/.continue/models/facerunner.yaml";

    fn desired(yaml: &str) -> Desired {
        let loaded = load_str(Path::new("/p/facerunner.yaml"), yaml, &Vars::default())
            .unwrap_or_else(|e| panic!("invalid test config: {e:?}"));
        let dirs = ProjectDirs::under(Path::new("/tmp/fr-unit"), &loaded.project);
        let spec = resolve(&loaded, &dirs, Secrets::Peek).expect("resolves");
        Desired::new(&loaded, &spec)
    }

    const WITH: &str = "version: 1\nname: t\nservices:\n  llm: { kind: ollama, port: 11500 }\n\
        models:\n  - ollama: llama3.2:1b\n    alias: small\n  - ollama: qwen2.5:0.5b\n\
        integrations:\n  continue: { roles: [chat, autocomplete] }\n";

    fn live_with(path: &str, seen: SeenFile) -> Live {
        let mut l = Live::default();
        l.host.files.insert(path.into(), seen);
        l
    }

    fn plan_of(d: &Desired, live: &Live, owned: &State) -> crate::plan::Plan {
        crate::plan::plan(d, live, owned)
    }

    fn file_steps(p: &crate::plan::Plan) -> Vec<String> {
        p.steps
            .iter()
            .filter(|s| s.action.is_file())
            .map(|s| format!("{} {}", s.action.change().symbol(), s.action.title()))
            .collect()
    }

    #[test]
    fn the_block_lists_every_model_and_alias_with_its_url_and_roles() {
        let d = desired(WITH);
        let [f] = d.files.as_slice() else {
            panic!("one file: {:?}", d.files)
        };
        assert_eq!(f.path, Path::new(FILE));
        let Want::Whole(text) = &f.want else {
            panic!("whole file")
        };
        let v: serde_json::Value = serde_saphyr::from_str(text).expect("valid YAML");
        assert_eq!(v["schema"], "v1");
        assert_eq!(v["version"], "0.0.1");
        assert!(v["name"].is_string());
        let models = v["models"].as_array().expect("models");
        let names: Vec<&str> = models.iter().filter_map(|m| m["model"].as_str()).collect();
        assert_eq!(names, ["llama3.2:1b", "small:latest", "qwen2.5:0.5b"]);
        for m in models {
            assert_eq!(m["provider"], "ollama");
            assert_eq!(m["apiBase"], "http://127.0.0.1:11500");
            assert_eq!(m["roles"], serde_json::json!(["chat", "autocomplete"]));
        }
    }

    #[test]
    fn a_derived_model_with_num_ctx_tells_its_context_length() {
        let yaml = WITH.replace(
            "  - ollama: qwen2.5:0.5b\n",
            "  - ollama: qwen2.5:0.5b\n  - name: coder\n    from: qwen2.5:0.5b\n    parameters: { num_ctx: 8192 }\n",
        );
        let Want::Whole(text) = &desired(&yaml).files[0].want else {
            panic!("whole")
        };
        let v: serde_json::Value = serde_saphyr::from_str(text).expect("valid YAML");
        let coder = &v["models"][3];
        assert_eq!(coder["model"], "coder:latest", "{v}");
        assert_eq!(
            coder["defaultCompletionOptions"]["contextLength"], 8192,
            "{v}"
        );
        assert!(v["models"][0]["defaultCompletionOptions"].is_null(), "{v}");
    }

    #[test]
    fn a_gateway_is_the_api_base_when_there_is_one() {
        let yaml = WITH.replace(
            "services:\n",
            "services:\n  gw: { kind: gateway, port: 11600 }\n",
        );
        let text = match &desired(&yaml).files[0].want {
            Want::Whole(t) => t.clone(),
            Want::Merge { .. } => panic!("whole"),
        };
        assert!(
            text.contains("apiBase: \"http://127.0.0.1:11600\""),
            "{text}"
        );
        assert!(!text.contains("11500"), "{text}");
    }

    #[test]
    fn create_update_and_delete_only_what_facerunner_wrote() {
        let d = desired(WITH);
        let Want::Whole(content) = &d.files[0].want else {
            panic!("whole")
        };
        let want = sha256_hex(content.as_bytes());
        // Missing: created.
        let p = plan_of(&d, &live_with(FILE, SeenFile::Absent), &State::default());
        assert_eq!(
            file_steps(&p),
            ["+ create .continue/models/facerunner.yaml"]
        );
        // Already as wanted: nothing.
        let same = SeenFile::Present {
            sha256: want.clone(),
            block: None,
        };
        assert!(
            file_steps(&plan_of(
                &d,
                &live_with(FILE, same.clone()),
                &State::default()
            ))
            .is_empty()
        );
        // Ours but older: updated.
        let mut owned = State::default();
        owned.files.insert(
            FILE.into(),
            FileRecord {
                integration: "continue".into(),
                sha256: "old".into(),
                shown: ".continue/models/facerunner.yaml".into(),
            },
        );
        let old = SeenFile::Present {
            sha256: "old".into(),
            block: None,
        };
        let p = plan_of(&d, &live_with(FILE, old.clone()), &owned);
        assert_eq!(
            file_steps(&p),
            ["~ update .continue/models/facerunner.yaml"]
        );
        // Someone else's (or edited by hand): a warning, no step.
        let theirs = SeenFile::Present {
            sha256: "edited".into(),
            block: None,
        };
        let p = plan_of(&d, &live_with(FILE, theirs.clone()), &owned);
        assert!(file_steps(&p).is_empty());
        assert!(
            p.checks
                .iter()
                .any(|c| c.severity == Severity::Warning && c.message.contains("did not write")),
            "{:?}",
            p.checks
        );
        // The key removed: ours is deleted, an edited one is left with a note.
        let none = desired("version: 1\nname: t\nservices:\n  llm: { kind: ollama }\n");
        let p = plan_of(&none, &live_with(FILE, old), &owned);
        assert_eq!(
            file_steps(&p),
            ["- delete .continue/models/facerunner.yaml"]
        );
        let p = plan_of(&none, &live_with(FILE, theirs), &owned);
        assert!(file_steps(&p).is_empty());
        assert!(p.checks.iter().any(|c| c.message.contains("left in place")));
        // `scope: user` goes to ~/.continue.
        let user = desired(&WITH.replace("{ roles: [chat, autocomplete] }", "{ scope: user }"));
        assert_eq!(user.files[0].shown, "~/.continue/models/facerunner.yaml");
        assert!(
            user.files[0]
                .path
                .ends_with(".continue/models/facerunner.yaml")
        );
        assert!(
            !user.files[0].path.starts_with("/p/"),
            "{:?}",
            user.files[0].path
        );
        // `enabled: false` is the key removed.
        let off = desired(&WITH.replace("{ roles: [chat, autocomplete] }", "{ enabled: false }"));
        assert!(off.files.is_empty());
        // A link at the path is never touched.
        let link = SeenFile::Unusable {
            reason: "it is a symbolic link".into(),
        };
        let p = plan_of(&d, &live_with(FILE, link), &State::default());
        assert!(file_steps(&p).is_empty());
        assert!(p.checks.iter().any(|c| c.message.contains("symbolic link")));
    }

    #[test]
    fn zed_is_merged_only_when_asked_and_only_into_plain_json() {
        let shown = desired(&WITH.replace("continue: { roles: [chat, autocomplete] }", "zed: {}"));
        assert!(shown.files.is_empty(), "printing only: nothing to write");
        let d = desired(&WITH.replace(
            "continue: { roles: [chat, autocomplete] }",
            "zed: { merge: true }",
        ));
        let [f] = d.files.as_slice() else {
            panic!("one file")
        };
        let Want::Merge { value, .. } = &f.want else {
            panic!("merge")
        };
        assert_eq!(value["api_url"], "http://127.0.0.1:11500");
        assert_eq!(value["available_models"].as_array().map(Vec::len), Some(3));
        assert_eq!(value["available_models"][0]["max_tokens"], 4096);
        let path = f.path.display().to_string();
        let p = plan_of(&d, &live_with(&path, SeenFile::Absent), &State::default());
        assert_eq!(file_steps(&p).len(), 1);
        assert!(file_steps(&p)[0].starts_with("~ merge language_models.ollama into"));
        let same = SeenFile::Present {
            sha256: "x".into(),
            block: Some(Ok(Some(value_hash(value)))),
        };
        assert!(file_steps(&plan_of(&d, &live_with(&path, same), &State::default())).is_empty());
        let jsonc = SeenFile::Present {
            sha256: "x".into(),
            block: Some(Err("it is not plain JSON".into())),
        };
        let p = plan_of(&d, &live_with(&path, jsonc), &State::default());
        assert!(file_steps(&p).is_empty());
        assert!(
            p.checks.iter().any(|c| c.message.contains("not plain JSON")
                && c.help.contains("integrations show zed"))
        );
    }
}
