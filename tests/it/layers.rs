//! The layering rule, enforced: a top-level module of `src/` may import
//! only from modules in a layer below its own (README, "Architecture").
//!
//! Reads every `crate::<module>` path in `src/` (test-only code left out,
//! as `shared/tools/module-cycles` does), so a new upward import fails here
//! with the file that made it.

use std::collections::BTreeMap;
use std::path::Path;

/// Each top-level module and its layer, bottom first. A module may use a
/// module of a strictly lower layer only.
const LAYERS: &[(&str, u8)] = &[
    // plain data and pure helpers
    ("names", 0),
    ("style", 0),
    ("model", 1),
    // the platform: private files, process code, FaceRunner's directories
    ("safefs", 2),
    ("sys", 2),
    ("http", 2),
    ("paths", 3),
    ("pidlock", 3),
    ("installs", 3),
    // clients
    ("gguf", 4),
    ("gpu", 4),
    ("ollama", 4),
    ("client", 4),
    ("install", 4),
    ("backup", 5),
    ("hf", 4),
    // the stages of the loop
    ("config", 5),
    // the gateway: its own process, beside the stages (uses clients and data only)
    ("gateway", 5),
    ("observe", 6),
    ("plan", 7),
    ("execute", 8),
    // exports of the file for other engines (Kubernetes)
    ("export", 8),
    // what runs the stages
    ("watch", 9),
    ("supervisor", 10),
    // the dashboard's server (its own process; talks to the daemon's socket)
    ("web", 11),
    ("cli", 12),
];

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

/// `crate::x` references in `text`, test modules cut off.
fn references(text: &str) -> Vec<String> {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        out.push(name);
    }
    out
}

fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            walk(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

#[test]
fn every_top_level_module_imports_only_from_layers_below() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    let mut unknown = Vec::new();
    let mut upward: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(&src).expect("under src");
        let name = rel.to_string_lossy();
        if name == "lib.rs" || name == "main.rs" || name.contains("test") {
            continue;
        }
        let top = rel
            .components()
            .next()
            .expect("a component")
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        let Some(own) = layer(&top) else {
            unknown.push(top);
            continue;
        };
        let text = std::fs::read_to_string(&file).expect("read");
        for used in references(&text) {
            if used == top {
                continue;
            }
            match layer(&used) {
                Some(l) if l < own => {}
                Some(_) => upward
                    .entry(format!("{top} → {used}"))
                    .or_default()
                    .push(name.to_string()),
                None => unknown.push(used),
            }
        }
    }
    unknown.sort();
    unknown.dedup();
    assert!(
        unknown.is_empty(),
        "top-level modules missing from LAYERS (add each to its layer): {unknown:?}"
    );
    assert!(
        upward.is_empty(),
        "imports that go sideways or up a layer (move the type down, or pass it in):\n{upward:#?}"
    );
}

#[test]
fn the_rule_catches_an_upward_import() {
    assert_eq!(
        references("use crate::cli::Global;\n#[cfg(test)]\nmod tests { use crate::x; }"),
        vec!["cli"]
    );
    assert!(layer("cli") > layer("config"));
}
