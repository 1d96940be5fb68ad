//! `facerunner export kubernetes [-o DIR] [--namespace NS] [--diff DIR]`:
//! the project file as Kubernetes manifests (see `crate::export`).
//!
//! Without `-o` the manifests go to stdout as one `---`-separated stream;
//! with `-o DIR`, one file per object (`NN-kind-name.yaml`), and files of an
//! earlier export (`NN-*.yaml`) that this one no longer has are removed.
//! `--diff DIR` writes nothing: it prints a unified diff against the export
//! in DIR and exits 0 when they are the same, 2 when they differ.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use miette::{IntoDiagnostic, WrapErr, miette};

use super::Global;
use super::output::print_diagnostics;
use crate::export::kubernetes::{API_VERSION, Export, Options, export};

/// Arguments of `export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The target.
    #[command(subcommand)]
    pub target: Target,
}

/// Export targets.
#[derive(Debug, clap::Subcommand)]
pub enum Target {
    /// Kubernetes manifests (API 1.37): StatefulSets for ollama, a model Job, Open WebUI.
    Kubernetes(KubernetesArgs),
}

/// Arguments of `export kubernetes`.
#[derive(Debug, clap::Args)]
pub struct KubernetesArgs {
    /// Write one file per object into this directory (else: one stream on stdout).
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Put every object in this namespace (default: none, kubectl's current one).
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Compare with an earlier export in DIR instead of writing: exit 0 same, 2 different.
    #[arg(long, value_name = "DIR", conflicts_with = "output")]
    pub diff: Option<PathBuf>,
}

/// The label line every exported object carries.
const MANAGED_BY: &str = "app.kubernetes.io/managed-by: facerunner";

/// Largest manifest file `--diff` reads.
const MAX_MANIFEST_BYTES: u64 = 8 << 20;

/// Run `export`.
pub fn run(global: &Global, args: ExportArgs) -> miette::Result<ExitCode> {
    match args.target {
        Target::Kubernetes(a) => kubernetes(global, a),
    }
}

fn kubernetes(global: &Global, args: KubernetesArgs) -> miette::Result<ExitCode> {
    if let Some(ns) = &args.namespace
        && !is_dns_label(ns)
    {
        return Err(miette!(
            help = "a namespace is lowercase letters, digits and `-`, at most 63 characters",
            "`{ns}` is not a Kubernetes namespace name"
        ));
    }
    let loaded = super::project::load_file(global)?;
    // Only the cluster's inventory counts, never this machine's GPUs: the
    // export must be the same wherever it runs.
    let inventory = match &global.gpus_from {
        Some(_) => Some(global.inventory()?),
        None => None,
    };
    let opts = Options {
        namespace: args.namespace.clone(),
        inventory,
    };
    let out = export(&loaded, &opts)
        .into_diagnostic()
        .wrap_err("cannot render the manifests")?;
    print_diagnostics(&out.diagnostics, &loaded.file);
    if out.has_errors() {
        let n = out.diagnostics.iter().filter(|d| d.is_error()).count();
        return Err(miette!(
            help = "fix the errors above; nothing was written",
            "{} cannot be exported to Kubernetes ({n} error{})",
            loaded.file.path.display(),
            if n == 1 { "" } else { "s" }
        ));
    }
    if let Some(dir) = &args.diff {
        return diff(&out, dir);
    }
    match &args.output {
        None => print!("{}", out.stream()),
        Some(dir) => {
            write_dir(&out, dir)?;
            anstream::eprintln!(
                "wrote {} manifests (Kubernetes {API_VERSION}) to {}",
                out.manifests.len(),
                dir.display()
            );
        }
    }
    secrets_note(&out, args.namespace.as_deref());
    Ok(ExitCode::SUCCESS)
}

/// The Secrets the user creates before applying, with the commands.
fn secrets_note(out: &Export, ns: Option<&str>) {
    if out.secrets.is_empty() {
        return;
    }
    let ns = ns.map(|n| format!(" -n {n}")).unwrap_or_default();
    anstream::eprintln!(
        "create these Secrets before `kubectl apply` (the export never writes secret values):"
    );
    let mut by_name: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, key) in &out.secrets {
        by_name.entry(name).or_default().push(key);
    }
    for (name, keys) in by_name {
        let lits: Vec<String> = keys
            .iter()
            .map(|k| format!("--from-literal={k}=\"$(openssl rand -hex 32)\""))
            .collect();
        anstream::eprintln!(
            "  kubectl{ns} create secret generic {name} {}",
            lits.join(" ")
        );
    }
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// `NN-….yaml`: a file an export wrote.
fn is_export_file(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() > 8
        && b[0].is_ascii_digit()
        && b[1].is_ascii_digit()
        && b[2] == b'-'
        && name.ends_with(".yaml")
}

fn write_dir(out: &Export, dir: &Path) -> miette::Result<()> {
    crate::safefs::create_private_dir_all(dir)
        .into_diagnostic()
        .wrap_err("cannot create the output directory")?;
    let keep: Vec<&str> = out.manifests.iter().map(|m| m.file_name.as_str()).collect();
    for m in &out.manifests {
        crate::safefs::write_private_atomic(&dir.join(&m.file_name), m.yaml.as_bytes())
            .into_diagnostic()
            .wrap_err("cannot write a manifest")?;
    }
    for (name, (path, _)) in previous(dir)? {
        if !keep.contains(&name.as_str()) {
            std::fs::remove_file(&path)
                .into_diagnostic()
                .wrap_err_with(|| {
                    format!(
                        "cannot remove the stale manifest {name} in {}",
                        dir.display()
                    )
                })?;
        }
    }
    Ok(())
}

/// The files an earlier export wrote in `dir` (`NN-….yaml` carrying the
/// managed-by label), by name, with their text; none when `dir` does not
/// exist. A person's file that happens to be named alike is not one.
fn previous(dir: &Path) -> miette::Result<BTreeMap<String, (PathBuf, String)>> {
    let mut out = BTreeMap::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => {
            return Err(e)
                .into_diagnostic()
                .wrap_err(format!("cannot list {}", dir.display()));
        }
    };
    for entry in entries {
        let entry = entry
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot list {}", dir.display()))?;
        let Some(name) = entry.file_name().to_str().map(String::from) else {
            continue;
        };
        if !is_export_file(&name) {
            continue;
        }
        let path = entry.path();
        let bytes = crate::safefs::read_bounded(&path, MAX_MANIFEST_BYTES)
            .into_diagnostic()
            .wrap_err("cannot read the earlier export")?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if text.contains(MANAGED_BY) {
            out.insert(name, (path, text));
        }
    }
    Ok(out)
}

/// Print a unified diff of the new export against `dir`'s; 0 same, 2 not.
fn diff(out: &Export, dir: &Path) -> miette::Result<ExitCode> {
    if !dir.is_dir() {
        return Err(miette!(
            help = "give the directory an earlier `facerunner export kubernetes -o DIR` wrote",
            "{} is not a directory",
            dir.display()
        ));
    }
    let old: BTreeMap<String, String> = previous(dir)?
        .into_iter()
        .map(|(name, (_, text))| (name, text))
        .collect();
    let new: BTreeMap<String, String> = out
        .manifests
        .iter()
        .map(|m| (m.file_name.clone(), m.yaml.clone()))
        .collect();
    let text = unified(&old, &new);
    print!("{text}");
    Ok(if text.is_empty() {
        anstream::eprintln!("no changes against {}", dir.display());
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// Unified diffs of every file that differs (`a/` old, `b/` new).
pub fn unified(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> String {
    let mut names: Vec<&String> = old.keys().chain(new.keys()).collect();
    names.sort();
    names.dedup();
    let mut out = String::new();
    for name in names {
        let a = old.get(name).map(String::as_str).unwrap_or("");
        let b = new.get(name).map(String::as_str).unwrap_or("");
        if a == b && old.contains_key(name) == new.contains_key(name) {
            continue;
        }
        let from = if old.contains_key(name) {
            format!("a/{name}")
        } else {
            "/dev/null".into()
        };
        let to = if new.contains_key(name) {
            format!("b/{name}")
        } else {
            "/dev/null".into()
        };
        let d = similar::TextDiff::from_lines(a, b);
        out.push_str(
            &d.unified_diff()
                .context_radius(3)
                .header(&from, &to)
                .to_string(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unified_shows_changed_added_and_removed_files_only() {
        let old = BTreeMap::from([
            ("01-a.yaml".to_string(), "x: 1\n".to_string()),
            ("02-b.yaml".to_string(), "y: 1\n".to_string()),
            ("03-c.yaml".to_string(), "z: 1\n".to_string()),
        ]);
        let new = BTreeMap::from([
            ("01-a.yaml".to_string(), "x: 1\n".to_string()),
            ("02-b.yaml".to_string(), "y: 2\n".to_string()),
            ("04-d.yaml".to_string(), "w: 1\n".to_string()),
        ]);
        let d = unified(&old, &new);
        assert!(!d.contains("01-a.yaml"), "{d}");
        assert!(d.contains("--- a/02-b.yaml\n+++ b/02-b.yaml\n"), "{d}");
        assert!(d.contains("-y: 1\n+y: 2\n"), "{d}");
        assert!(d.contains("--- a/03-c.yaml\n+++ /dev/null\n"), "{d}");
        assert!(d.contains("--- /dev/null\n+++ b/04-d.yaml\n"), "{d}");
        assert!(unified(&old, &old).is_empty());
    }

    #[test]
    fn export_files_are_numbered_yaml() {
        assert!(is_export_file("01-service-ollama.yaml"));
        assert!(!is_export_file("kustomization.yaml"));
        assert!(!is_export_file("01-x.yml"));
    }
}
