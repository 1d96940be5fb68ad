//! Find, read and check a project file.
//!
//! Stages (STYLE.md §11): read the bytes (bounded: directories, unreadable,
//! huge and non-UTF-8 files are refused with a located error) → parse to
//! located nodes → check against the schema, interpolating values → serde
//! into [`Config`] → semantic rules. Every stage adds to one list of
//! diagnostics; the file is usable only when none is an error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use super::check::{SpanMap, check};
use super::diag::Diagnostic;
use super::interpolate::Vars;
use super::node;
use super::source::SourceFile;
use super::types::Config;
use super::validate;

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
    let meta = std::fs::metadata(path).map_err(|e| {
        file_error(
            path,
            format!("cannot read {}: {e}", path.display()),
            "check the path, or pass another file with -f",
        )
    })?;
    if meta.is_dir() {
        return Err(file_error(
            path,
            format!("{} is a directory, not a file", path.display()),
            "pass the file itself, e.g. -f DIR/facerunner.yaml",
        ));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(file_error(
            path,
            format!(
                "{} is {} bytes; FaceRunner reads project files up to {} MiB",
                path.display(),
                meta.len(),
                MAX_FILE_BYTES >> 20
            ),
            "is this the right file? A project file is a few KiB",
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| {
        file_error(
            path,
            format!("cannot read {}: {e}", path.display()),
            "check the file's permissions",
        )
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

/// `KEY=value` lines of an env file (missing file: empty).
pub fn read_dotenv(path: &Path) -> Result<BTreeMap<String, String>, LoadError> {
    if !path.exists() {
        return Ok(BTreeMap::new());
    }
    read_env_file(path)
        .map_err(|e| file_error(path, e, "fix the line: env files hold `KEY=value` lines"))
}

/// Parse an env file into a map; the error names the file.
pub fn read_env_file(path: &Path) -> Result<BTreeMap<String, String>, String> {
    let iter = dotenvy::from_path_iter(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut map = BTreeMap::new();
    for item in iter {
        let (k, v) = item.map_err(|e| format!("{}: {e}", path.display()))?;
        map.insert(k, v);
    }
    Ok(map)
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
    let checked = check(&root, &SCHEMA, &file, vars);
    let mut diagnostics = checked.diagnostics;
    let spans = checked.spans;
    let config = match checked.value {
        Some(v) if !diagnostics.iter().any(Diagnostic::is_error) => match serde_json::from_value::<
            Config,
        >(v)
        {
            Ok(c) => Some(c),
            Err(e) => {
                diagnostics.push(
                    Diagnostic::error(
                        format!("the file does not match the format: {e}"),
                        Some(file.span(0, 0)),
                    )
                    .with_help("compare it with facerunner.example.yaml or `facerunner schema`"),
                );
                None
            }
        },
        _ => None,
    };
    let Some(config) = config else {
        return Err(invalid(&file, diagnostics));
    };
    // Each problem once, even when two rules see it (a set: linear).
    let mut seen: std::collections::HashSet<(String, Option<(usize, usize)>)> = diagnostics
        .iter()
        .map(|d| (d.summary.clone(), d.span.map(|s| (s.offset, s.len))))
        .collect();
    for d in validate::validate(&config, &spans)
        .into_iter()
        .chain(validate::warnings(&config, &spans))
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
    })
}

/// The project a file belongs to, even when the file does not validate: its
/// top-level `name:` if that can be read, else its directory's name. Lets
/// `status`, `logs` and `down` work while someone is mid-edit.
pub fn project_of(path: &Path) -> String {
    if let Ok(l) = load(path) {
        return l.project;
    }
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let name = std::fs::read_to_string(path)
        .ok()
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

    #[test]
    fn project_names_come_from_the_directory() {
        assert_eq!(project_from_dir(Path::new("/x/My Lab")), "my-lab");
    }
}
