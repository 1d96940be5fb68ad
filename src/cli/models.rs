//! `facerunner models [--json]`: per ollama service, every installed model
//! with its size, whether FaceRunner owns it, and whether it is loaded.
//!
//! One `/api/tags` and one `/api/ps` per running server; a server that is
//! down is read from its store directory (loaded then shows `-`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use miette::{IntoDiagnostic, miette};
use serde::Serialize;

use crate::cli::Global;
use crate::cli::daemon::runtime;
use crate::config::Loaded;
use crate::config::resolve::{Secrets, models_dir, ollama_url};
use crate::observe::models::observe_store;
use crate::observe::{LiveStore, StoreSource};
use crate::style::bold;

/// Arguments of `facerunner models`.
#[derive(Debug, Clone, clap::Args)]
pub struct ModelsArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// One row of the listing.
#[derive(Debug, Serialize)]
struct Row {
    name: String,
    size: u64,
    digest: String,
    owned: bool,
    loaded: Option<bool>,
}

/// An ollama service of the file: name, base URL, store directory.
pub(crate) struct Target {
    pub(crate) service: String,
    pub(crate) url: String,
    pub(crate) dir: PathBuf,
}

/// Every ollama service of the file, or only `only`.
pub(crate) fn targets(loaded: &Loaded, only: Option<&str>) -> miette::Result<Vec<Target>> {
    let cfg = &loaded.config;
    let all: Vec<Target> = cfg
        .ollama_services()
        .filter(|(n, _)| only.is_none_or(|o| o == n.as_str()))
        .map(|(n, s)| Target {
            service: n.clone(),
            url: ollama_url(cfg, s),
            dir: models_dir(s, &loaded.base_dir),
        })
        .collect();
    if all.is_empty() {
        return Err(match only {
            Some(o) => miette!(
                help = "`--service` must name an ollama service of the file",
                "no ollama service named {o:?}"
            ),
            None => miette!(
                help = "add a service with `kind: ollama`",
                "the file has no ollama service"
            ),
        });
    }
    Ok(all)
}

/// The one target for commands that act on a single service.
pub(crate) fn one_target(loaded: &Loaded, only: Option<&str>) -> miette::Result<Target> {
    let mut all = targets(loaded, only)?;
    if all.len() > 1 {
        let names: Vec<&str> = all.iter().map(|t| t.service.as_str()).collect();
        return Err(miette!(
            help = format!("pass --service, one of: {}", names.join(", ")),
            "there are several ollama services"
        ));
    }
    Ok(all.remove(0))
}

/// Run `facerunner models`.
pub fn run(global: &Global, args: ModelsArgs) -> miette::Result<ExitCode> {
    let (_, dirs, loaded) = crate::cli::project::load_project_with(global, Secrets::Peek)?;
    let state = crate::execute::store::load(&dirs.state).into_diagnostic()?;
    let mut out: BTreeMap<String, (LiveStore, Vec<Row>)> = BTreeMap::new();
    let rt = runtime()?;
    for t in targets(&loaded, None)? {
        let store = rt.block_on(observe_store(&t.url, &t.dir, true));
        let mut rows: Vec<Row> = store
            .models
            .iter()
            .map(|(key, m)| Row {
                name: m.name.clone(),
                size: m.size,
                digest: m.digest.clone(),
                owned: state.owns(&t.service, key),
                loaded: store.loaded.as_ref().map(|l| l.contains(key)),
            })
            .collect();
        rows.sort_by(|a, b| a.name.cmp(&b.name));
        out.insert(t.service, (store, rows));
    }
    if args.json {
        let v: serde_json::Map<String, serde_json::Value> = out
            .iter()
            .map(|(svc, (store, rows))| {
                (
                    svc.clone(),
                    serde_json::json!({"source": store.source, "models": rows}),
                )
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v).into_diagnostic()?);
        return Ok(ExitCode::SUCCESS);
    }
    for (svc, (store, rows)) in &out {
        let from = match &store.source {
            StoreSource::Api { url } => url.clone(),
            StoreSource::Disk { dir } => format!("not running; read from {dir}"),
            StoreSource::Unavailable { reason } => format!("unavailable: {reason}"),
        };
        anstream::println!("{} ({from})", bold(svc));
        if rows.is_empty() {
            println!("  no models");
            continue;
        }
        let w = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
        println!("  {:<w$}  {:>9}  {:<5}  LOADED", "NAME", "SIZE", "OWNED");
        for r in rows {
            let loaded = match r.loaded {
                Some(true) => "yes",
                Some(false) => "no",
                None => "-",
            };
            let owned = if r.owned { "yes" } else { "no" };
            println!(
                "  {:<w$}  {:>9}  {owned:<5}  {loaded}",
                r.name,
                human_size(r.size)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `1.3 GB`, `256 KB`: decimal units, as Ollama's CLI prints them.
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}
