//! Find, read and check a project file.
//!
//! Stages (STYLE.md §11): read the bytes (bounded: directories, unreadable,
//! huge and non-UTF-8 files are refused with a located error) → parse to
//! located nodes → check against the schema, interpolating values → serde
//! into [`Config`] → semantic rules. Every stage adds to one list of
//! diagnostics; the file is usable only when none is an error.
//!
//! A schema error in one part does not hide the semantic errors of the
//! others: each top-level key, each service, each GPU and each model is
//! checked on its own, and the semantic rules run on the parts without
//! errors (told which parts exist but could not be read, so a reference to
//! one is not "unknown").

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use super::check::{Parts, SpanMap, check};
use super::diag::Diagnostic;
use super::interpolate::Vars;
use super::node;
use super::source::SourceFile;
use super::types::Config;
use super::validate::{self, Gaps};
use crate::safefs::ReadError;

/// Largest project file read (a real one is a few KiB).
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// Names looked for in the current directory and its parents.
pub const FILE_NAMES: [&str; 2] = ["facerunner.yaml", "facerunner.yml"];

/// The JSON Schema of the file, generated from [`Config`].
pub static SCHEMA: LazyLock<serde_json::Value> = LazyLock::new(|| {
    let mut schema = serde_json::to_value(schemars::schema_for!(Config))
        .expect("a generated JSON Schema always serializes");
    if let Some(obj) = schema.as_object_mut() {
        obj.insert(
            "$id".into(),
            "https://facerunner.dev/schema/facerunner.schema.json".into(),
        );
    }
    schema
});

/// A file that loaded and validated.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The file and its text.
    pub file: SourceFile,
    /// The typed, interpolated configuration.
    pub config: Config,
    /// Where each value came from.
    pub spans: SpanMap,
    /// Warnings (the file is still valid).
    pub warnings: Vec<Diagnostic>,
    /// The directory relative paths are resolved against.
    pub base_dir: PathBuf,
    /// The project's name.
    pub project: String,
    /// The Hugging Face Hub's variables among those the file was read with
    /// (the command's environment over `.env`): whoever plans or applies
    /// for that command reaches the Hub as it would.
    pub hub_vars: crate::hf::HubVars,
}

/// Why a file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// No file was given and none was found.
    #[error("no facerunner.yaml found in {} or any parent directory", .searched.display())]
    NotFound {
        /// Where the search started.
        searched: PathBuf,
    },
    /// The file named by `-f` / `FACERUNNER_FILE` does not exist.
    #[error("{} does not exist", .path.display())]
    NoSuchFile {
        /// The path as given (made absolute).
        path: PathBuf,
    },
    /// The file has problems; each diagnostic says where.
    #[error("{} has {} error(s)", .file.path.display(), .diagnostics.iter().filter(|d| d.is_error()).count())]
    Invalid {
        /// The file (possibly with empty text when it could not be read).
        file: SourceFile,
        /// All problems, errors and warnings.
        diagnostics: Vec<Diagnostic>,
    },
}

/// Which file to use: `explicit` (from `-f` or `FACERUNNER_FILE`), else the
/// nearest `facerunner.yaml`/`.yml` from `cwd` upwards.
pub fn discover(explicit: Option<&Path>, cwd: &Path) -> Result<PathBuf, LoadError> {
    if let Some(p) = explicit {
        let path = if p.is_absolute() {
            p.to_path_buf()
        } else {
            cwd.join(p)
        };
        // A dangling name is an error here, so `status`/`down`/`logs` never
        // fall back to a project named after its directory.
        return match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(LoadError::NoSuchFile { path })
            }
            _ => Ok(path),
        };
    }
    for dir in cwd.ancestors() {
        for name in FILE_NAMES {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(LoadError::NotFound {
        searched: cwd.to_path_buf(),
    })
}

fn file_error(path: &Path, summary: String, help: &str) -> LoadError {
    LoadError::Invalid {
        file: SourceFile::new(path, ""),
        diagnostics: vec![Diagnostic::error(summary, None).with_help(help)],
    }
}

/// Read, parse, check and validate the file at `path`, with variables from
/// the environment over a `.env` beside it.
pub fn load(path: &Path) -> Result<Loaded, LoadError> {
    // Bounded, regular files only: a FIFO, `/dev/zero` or a directory is
    // refused at once instead of hanging or reading until memory runs out.
    let bytes = crate::safefs::read_bounded(path, MAX_FILE_BYTES).map_err(|e| match e {
        ReadError::NotRegular { found, .. } => file_error(
            path,
            format!("{} is a {found}, not a file", path.display()),
            "pass the project file itself, e.g. -f DIR/facerunner.yaml",
        ),
        ReadError::TooLarge { .. } => file_error(
            path,
            format!(
                "{} is larger than {} MiB, the most FaceRunner reads of a project file",
                path.display(),
                MAX_FILE_BYTES >> 20
            ),
            "is this the right file? A project file is a few KiB",
        ),
        e => file_error(
            path,
            format!("cannot read {}: {}", path.display(), cause_of(&e)),
            "check the path and the file's permissions, or pass another file with -f",
        ),
    })?;
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let file = SourceFile::new(path, lossy.as_str());
            let prefix = String::from_utf8_lossy(&e.as_bytes()[..at]).into_owned();
            let span = SourceFile::new(path, prefix.as_str()).span(prefix.len(), prefix.len());
            return Err(LoadError::Invalid {
                diagnostics: vec![
                    Diagnostic::error(
                        format!(
                            "{} is not UTF-8 text (invalid byte at offset {at})",
                            path.display()
                        ),
                        Some(span),
                    )
                    .with_help("save the file as UTF-8"),
                ],
                file,
            });
        }
    };
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let dotenv = read_dotenv(&base_dir.join(".env"))?;
    load_str(path, &text, &Vars::from_env_over(dotenv))
}

/// Largest env file read (`.env`, `env_file:`); a real one is a few KiB.
pub const MAX_ENV_BYTES: u64 = 1 << 20;

/// The cause of an error (its source), or the error itself.
fn cause_of(e: &dyn std::error::Error) -> String {
    e.source()
        .map_or_else(|| e.to_string(), ToString::to_string)
}

/// `KEY=value` lines of an env file (missing file: empty).
pub fn read_dotenv(path: &Path) -> Result<BTreeMap<String, String>, LoadError> {
    read_env(path, true)
        .map_err(|e| file_error(path, e, "fix the line: env files hold `KEY=value` lines"))
}

/// Parse an env file into a map; the error names the file. Only a regular
/// file up to [`MAX_ENV_BYTES`] is read, and an error never quotes the
/// file's content (it may be full of secrets, or not an env file at all):
/// it gives the line number and what is wrong.
pub fn read_env_file(path: &Path) -> Result<BTreeMap<String, String>, String> {
    read_env(path, false)
}

fn read_env(path: &Path, missing_ok: bool) -> Result<BTreeMap<String, String>, String> {
    let shown = path.display();
    let bytes = match crate::safefs::read_bounded(path, MAX_ENV_BYTES) {
        Ok(b) => b,
        Err(e) if missing_ok && e.is_not_found() => return Ok(BTreeMap::new()),
        Err(ReadError::NotRegular { found, .. }) => {
            return Err(format!("{shown} is a {found}, not an env file"));
        }
        Err(ReadError::TooLarge { .. }) => {
            return Err(format!(
                "{shown} is larger than {} KiB, the most FaceRunner reads of an env file",
                MAX_ENV_BYTES >> 10
            ));
        }
        Err(e) => return Err(format!("cannot read {shown}: {}", cause_of(&e))),
    };
    let text = String::from_utf8(bytes).map_err(|e| {
        let line = line_of(e.as_bytes(), e.utf8_error().valid_up_to());
        format!("{shown}, line {line}: not UTF-8 text")
    })?;
    let mut map = BTreeMap::new();
    for item in dotenvy::from_read_iter(text.as_bytes()) {
        let (k, v) = item.map_err(|e| match e {
            dotenvy::Error::LineParse(line, index) => match text.find(line.as_str()) {
                Some(at) => format!(
                    "{shown}, line {}, column {}: not a `KEY=value` line",
                    line_of(text.as_bytes(), at + index),
                    index + 1
                ),
                None => format!("{shown}: a line is not `KEY=value`"),
            },
            dotenvy::Error::Io(e) => format!("cannot read {shown}: {e}"),
            // Only from reading the process environment, which this does not do.
            _ => format!("cannot read {shown}: it is not an env file"),
        })?;
        map.insert(k, v);
    }
    Ok(map)
}

/// The 1-based line of byte `at`.
fn line_of(bytes: &[u8], at: usize) -> usize {
    bytes[..at.min(bytes.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The core of [`load`], on text already in memory.
pub fn load_str(path: &Path, text: &str, vars: &Vars) -> Result<Loaded, LoadError> {
    let file = SourceFile::new(path, text);
    let invalid = |file: &SourceFile, diagnostics: Vec<Diagnostic>| LoadError::Invalid {
        file: file.clone(),
        diagnostics,
    };
    let root = match node::parse(text) {
        Ok(Some(root)) => root,
        Ok(None) => {
            return Err(invalid(&file, vec![Diagnostic::error(format!("{} is empty", path.display()), Some(file.span(0, 0)))
                .with_help("start with `version: 1` and a `services:` mapping; see facerunner.example.yaml")]));
        }
        Err(errors) => {
            let diags = errors
                .into_iter()
                .map(|e| {
                    let mut d = Diagnostic::error(e.message, Some(file.span(e.start, e.end)));
                    if let Some(h) = e.help {
                        d = d.with_help(h);
                    }
                    if let Some((label, s, en)) = e.related {
                        d = d.with_related(label, file.span(s, en));
                    }
                    d
                })
                .collect();
            return Err(invalid(&file, diags));
        }
    };
    let mut checked = check(&root, &SCHEMA, &file, vars, &PARTS);
    let mut diagnostics = checked.diagnostics;
    let spans = checked.spans;
    let schema_ok = !diagnostics.iter().any(Diagnostic::is_error);
    let (value, gaps) = if schema_ok {
        (checked.value, Gaps::default())
    } else {
        match salvage(&mut checked.parts) {
            Some((v, gaps)) => (Some(v), gaps),
            None => (None, Gaps::default()),
        }
    };
    let config = match value.map(serde_json::from_value::<Config>) {
        Some(Ok(c)) => Some(c),
        Some(Err(e)) if schema_ok => {
            diagnostics.push(
                Diagnostic::error(
                    format!("the file does not match the format: {e}"),
                    Some(file.span(0, 0)),
                )
                .with_help("compare it with facerunner.example.yaml or `facerunner schema`"),
            );
            None
        }
        // What could be read of a file with schema errors: those errors
        // say what is wrong.
        Some(Err(_)) | None => None,
    };
    let Some(config) = config else {
        return Err(invalid(&file, diagnostics));
    };
    // Each problem once, even when two rules see it (a set: linear).
    let mut seen: std::collections::HashSet<(String, Option<(usize, usize)>)> = diagnostics
        .iter()
        .map(|d| (d.summary.clone(), d.span.map(|s| (s.offset, s.len))))
        .collect();
    for d in validate::validate(&config, &spans, &gaps)
        .into_iter()
        .chain(validate::warnings(&config, &spans, &gaps))
    {
        if seen.insert((d.summary.clone(), d.span.map(|s| (s.offset, s.len)))) {
            diagnostics.push(d);
        }
    }
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(invalid(&file, diagnostics));
    }
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let project = config
        .name
        .clone()
        .unwrap_or_else(|| project_from_dir(&base_dir));
    Ok(Loaded {
        file,
        config,
        spans,
        warnings: diagnostics,
        base_dir,
        project,
        hub_vars: crate::hf::HubVars::from_lookup(|k| vars.map.get(k).cloned()),
    })
}

/// The parts of a file checked each on its own: the top-level keys, each
/// service, each GPU, each model.
const PARTS: [&str; 4] = ["", "/services", "/gpus", "/models"];

/// The config value made of the parts of a file without schema errors, and
/// what was left out; `None` when not even the top level is a mapping.
fn salvage(
    parts: &mut std::collections::HashMap<String, Parts>,
) -> Option<(serde_json::Value, Gaps)> {
    use serde_json::Value as Json;
    let top = parts.remove("")?;
    let Json::Object(mut out) = top.passed else {
        return None;
    };
    let mut gaps = Gaps::default();
    for key in top.failed {
        let part = parts.remove(&format!("/{key}"));
        match (key.as_str(), part) {
            ("services", Some(p)) => {
                gaps.services = p.failed.into_iter().collect();
                out.insert(key, p.passed);
            }
            ("services", None) => gaps.all_services = true,
            ("gpus", Some(p)) => {
                gaps.gpus = p.failed.into_iter().collect();
                out.insert(key, p.passed);
            }
            ("gpus", None) => gaps.all_gpus = true,
            ("models", Some(p)) => {
                gaps.model_index = p.index;
                out.insert(key, p.passed);
            }
            // Not a list: no model to check.
            ("models", None) => {}
            _ => {
                gaps.top.insert(key);
            }
        }
    }
    // `version` is required; its error (wrong or missing) is reported, and
    // the rules run as for the one version there is.
    out.entry("version").or_insert_with(|| Json::from(1));
    Some((Json::Object(out), gaps))
}

/// The project a file belongs to, even when the file does not validate: its
/// top-level `name:` if that can be read, else its directory's name. Lets
/// `status`, `logs` and `down` work while someone is mid-edit.
pub fn project_of(path: &Path) -> String {
    if let Ok(l) = load(path) {
        return l.project;
    }
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let name = crate::safefs::read_bounded(path, MAX_FILE_BYTES)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| match node::parse(&text) {
            Ok(Some(node::Node {
                value: node::Value::Map(entries),
                ..
            })) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some("name"))
                .and_then(|(_, v)| v.as_str().map(str::to_string))
                .filter(|n| validate::valid_name(n)),
            _ => None,
        });
    name.unwrap_or_else(|| project_from_dir(&base))
}

/// A project name from a directory name: lowercased, other characters → `-`.
pub fn project_from_dir(dir: &Path) -> String {
    let raw = std::fs::canonicalize(dir)
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .or_else(|| dir.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "default".into());
    let name: String = raw
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_matches('-').to_string();
    if name.is_empty() {
        "default".into()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PIECES: &[&str] = &[
        "version: 1\n",
        "services:\n",
        "  a:\n",
        "    command: [x]\n",
        "    port: 80\n",
        "models:\n",
        "  - ollama: m\n",
        "&a ",
        "*a ",
        "<<: ",
        "{",
        "}",
        "[",
        "]",
        ":",
        "- ",
        "\t",
        "\"",
        "'",
        "#",
        "${X:-y}",
        "${",
        "\n",
        "  ",
        "\u{feff}",
        "~",
        "!!str ",
        "---\n",
        "...\n",
        "|\n",
        "?",
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

        /// The loader never panics and every error it reports is located
        /// inside the file.
        #[test]
        fn never_panics_and_errors_are_in_the_file(parts in proptest::collection::vec(0..PIECES.len(), 0..40), junk in ".{0,20}") {
            let mut text: String = parts.iter().map(|&i| PIECES[i]).collect();
            text.push_str(&junk);
            if let Err(LoadError::Invalid { diagnostics, .. }) = load_str(Path::new("f.yaml"), &text, &Vars::default()) {
                prop_assert!(!diagnostics.is_empty());
                for d in diagnostics {
                    if let Some(s) = d.span {
                        prop_assert!(s.offset + s.len <= text.len());
                        prop_assert!(s.start.line >= 1 && s.start.column >= 1);
                    }
                }
            }
        }
    }

    /// (line, column, summary) of every error of `text`, in order.
    fn errors(text: &str) -> Vec<(usize, usize, String)> {
        let Err(LoadError::Invalid { diagnostics, .. }) =
            load_str(Path::new("f.yaml"), text, &Vars::default())
        else {
            panic!("not invalid: {text}");
        };
        diagnostics
            .into_iter()
            .filter(Diagnostic::is_error)
            .map(|d| {
                let s = d.span.expect("located");
                (s.start.line, s.start.column, d.summary)
            })
            .collect()
    }

    fn count(errors: &[(usize, usize, String)], needle: &str) -> usize {
        errors.iter().filter(|e| e.2.contains(needle)).count()
    }

    #[test]
    fn replicas_errors_are_located() {
        let e = errors(
            "version: 1\nservices:\n  w:\n    command: [x]\n    health: { tcp: 9 }\n    replicas: per-gpu\n",
        );
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(
            (e[0].0, e[0].2.contains("ollama services only")),
            (6, true),
            "{e:?}"
        );
        let e =
            errors("version: 1\nservices:\n  llm: { kind: ollama, replicas: per-gpu, gpus: [] }\n");
        assert_eq!(count(&e, "runs no instance"), 1, "{e:?}");
        let e = errors(
            "version: 1\nservices:\n  llm: { kind: ollama, replicas: per-gpu }\n  llm-1: { kind: ollama, port: 9 }\nmodels:\n  - { ollama: a:b, service: llm-1 }\n",
        );
        assert_eq!(
            count(&e, "`llm-1` has the name of an instance of `llm`"),
            1,
            "{e:?}"
        );
    }

    #[test]
    fn placement_without_replicas_is_a_located_error() {
        let e = errors(
            "version: 1\nservices:\n  llm:\n    kind: ollama\n    placement: spread\n  w: { command: [x], placement: every }\n",
        );
        assert_eq!(
            count(&e, "`placement` applies to ollama services with"),
            2,
            "{e:?}"
        );
        assert_eq!((e[0].0, e[0].1), (5, 5), "{e:?}");
        assert!(
            load_str(
                Path::new("f.yaml"),
                "version: 1\nservices:\n  llm: { kind: ollama, replicas: per-gpu, placement: spread }\n",
                &Vars::default()
            )
            .is_ok()
        );
    }

    #[test]
    fn an_instance_port_clashing_with_another_service_is_a_validate_error() {
        let text = "version: 1\ngpus:\n  a: { index: 0 }\n  b: { index: 1 }\nservices:\n  llm:\n    kind: ollama\n    port: 11500\n    replicas: per-gpu\n    gpus: [a, b]\n  web: { kind: open-webui, port: 11501 }\n";
        let e = errors(text);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].2
                .contains("port 11501 is used by both `llm-1` and `web`"),
            "{e:?}"
        );
        assert!(
            load_str(
                Path::new("f.yaml"),
                &text.replace("11501", "11502"),
                &Vars::default()
            )
            .is_ok()
        );
        let e = errors(
            "version: 1\ngpus:\n  a: { index: 0 }\n  b: { index: 1 }\nservices:\n  llm: { kind: ollama, port: 65535, replicas: per-gpu, gpus: [a, b] }\n",
        );
        assert_eq!(count(&e, "past 65535"), 1, "{e:?}");
    }

    #[test]
    fn semantic_errors_are_reported_beside_schema_errors() {
        let e = errors(
            "version: 1\nservices:\n  a:\n    command: [sleep, \"1\"]\n    port: 99999\n  b:\n    command: [sleep, \"1\"]\n    depends_on: [a, nothere]\n",
        );
        assert_eq!(e.len(), 2, "{e:?}");
        assert_eq!((e[0].0, e[0].1), (5, 11), "{e:?}");
        assert!(e[0].2.contains("out of range"), "{e:?}");
        // `a` exists (it has an error of its own): not "not a service".
        assert_eq!((e[1].0, e[1].1), (8, 21), "{e:?}");
        assert!(
            e[1].2.contains("`nothere`, which is not a service"),
            "{e:?}"
        );
    }

    #[test]
    fn models_keep_their_place_in_the_file_when_one_before_them_has_errors() {
        let e = errors(
            "version: 1\nservices:\n  o: { kind: ollama }\nmodels:\n  - ollama: m\n    servce: o\n  - ollama: llama3\n  - ollama: \"bad name!\"\n  - ollama: llama3:latest\n",
        );
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(
            e[0].2.contains("unknown key `servce` in `models[0]`"),
            "{e:?}"
        );
        assert_eq!(
            (e[1].0, e[1].1, count(&e, "invalid model name")),
            (8, 13, 1),
            "{e:?}"
        );
        assert_eq!(e[2].0, 9, "{e:?}");
        assert!(e[2].2.contains("also models[1]"), "{e:?}");
    }

    #[test]
    fn what_could_not_be_read_is_never_reported_as_missing() {
        // A model naming a service with errors, a service naming a GPU with
        // errors, a model without `service:` when the unread service may
        // be the ollama one, a bad version: only the schema errors.
        let e = errors(
            "version: 7000\ngpus:\n  g: { index: x }\nservices:\n  o:\n    kind: ollama\n    port: -1\n  p:\n    command: [sleep, \"1\"]\n    gpus: [g]\n    depends_on: [o]\n    backends: [o]\n    health: { tcp: 9 }\nmodels:\n  - ollama: llama3\n    service: o\n  - ollama: qwen3\n",
        );
        let summaries: Vec<&str> = e.iter().map(|e| e.2.as_str()).collect();
        // `backends` on a process is an error about `p` itself.
        assert_eq!(
            count(&e, "`backends` applies to open-webui"),
            1,
            "{summaries:#?}"
        );
        assert_eq!(e.len(), 4, "{summaries:#?}");
        for needle in ["`version`", "`gpus.g.index`", "`services.o.port`"] {
            assert_eq!(count(&e, needle), 1, "{needle}: {summaries:#?}");
        }
        // The whole of `services:` unreadable: no reference is checked.
        let e = errors("version: 1\nservices: [a]\nmodels:\n  - ollama: llama3\n    service: a\n");
        assert_eq!(e.len(), 1, "{e:?}");
        // Unread settings: the default bind address is not known, so
        // neither is which ports clash.
        let e = errors(
            "version: 1\nsettings: { bind: 10.0.0.2, watch: yes }\nservices:\n  a: { command: [sleep, \"1\"], port: 9000, health: { tcp: 9000 } }\n  b: { command: [sleep, \"1\"], port: 9000, bind: 127.0.0.1, health: { tcp: 9000 } }\n",
        );
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].2.contains("`settings.watch`"), "{e:?}");
    }

    #[test]
    fn a_service_with_errors_still_has_its_name_checked_once() {
        let e = errors(
            "version: 1\nservices:\n  Web:\n    port: 99999\n  Ok:\n    command: [sleep, \"1\"]\n",
        );
        assert_eq!(count(&e, "service name `Web`"), 1, "{e:?}");
        assert_eq!(count(&e, "service name `Ok`"), 1, "{e:?}");
        assert_eq!(e.len(), 3, "{e:?}");
    }

    #[test]
    fn project_names_come_from_the_directory() {
        assert_eq!(project_from_dir(Path::new("/x/My Lab")), "my-lab");
    }

    #[test]
    fn an_env_file_error_gives_the_line_never_its_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("w.env");
        std::fs::write(
            &p,
            "# comment\nGOOD=1\n\nroot:$6$hunter2SECRETHASH:19000:0:99999:7:::\n",
        )
        .expect("write");
        let e = read_env_file(&p).expect_err("not an env file");
        assert!(!e.contains("hunter2") && !e.contains("root:"), "{e}");
        assert!(e.contains("line 4"), "{e}");
        assert!(e.contains("w.env"), "{e}");
        // `.env` beside the project file: the same, as a located diagnostic.
        let e = read_dotenv(&p).expect_err("not an env file");
        assert!(!format!("{e:?}").contains("hunter2"), "{e:?}");
        assert!(
            read_dotenv(&dir.path().join("missing"))
                .expect("ok")
                .is_empty()
        );
        assert!(read_env_file(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn devices_fifos_and_directories_are_refused_without_hanging() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .expect("mkfifo");
        for (p, what) in [
            (Path::new("/dev/zero"), "character device"),
            (fifo.as_path(), "FIFO"),
            (dir.path(), "directory"),
        ] {
            let e = read_env_file(p).expect_err("refused");
            assert!(e.contains(what), "{e}");
            let Err(LoadError::Invalid { diagnostics, .. }) = load(p) else {
                panic!("{p:?} refused");
            };
            assert!(
                diagnostics[0].summary.contains(what),
                "{:?}",
                diagnostics[0]
            );
        }
        let big = dir.path().join("big.env");
        std::fs::write(&big, "A=1\n".repeat(300_000)).expect("write");
        assert!(
            read_env_file(&big)
                .expect_err("too big")
                .contains("larger than")
        );
    }
}
