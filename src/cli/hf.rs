//! `facerunner hf info|search|download`: the Hugging Face Hub from the
//! command line (the model browser): what a repo holds, whether its quants
//! fit this machine's GPUs and what FaceRunner would do with it; a search;
//! a download into the cache the Python tools share.

use std::collections::{BTreeMap, HashSet};
use std::process::ExitCode;

use miette::IntoDiagnostic;
use serde::Serialize;

use super::Global;
use crate::execute::Sink;
use crate::hf::{DownloadProgress, FileState, Hub};
use crate::model::events::{ExecEvent, Failure, FailureKind, Outcome};
use crate::model::gpu::{GpuInfo, Inventory, OllamaKnobs};
use crate::model::hf::{HfSource, RepoFile, RepoInfo};
use crate::model::hf_resolve::{HfEnv, HfFormat, HfResolution};
use crate::model::units::human_bytes;
use crate::plan::hf::Fitter;

/// Arguments of `hf`.
#[derive(Debug, clap::Args)]
pub struct HfArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: HfCommand,
}

/// The `hf` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum HfCommand {
    /// A repo's files, its GGUF quants with sizes, whether each fits each GPU, and what FaceRunner would do with it.
    Info {
        /// `org/name`.
        repo: String,
        /// Branch, tag or commit.
        #[arg(long, default_value = "main")]
        revision: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Search repos by name.
    Search {
        /// Words of the name.
        query: String,
        /// Only repos with GGUF files.
        #[arg(long)]
        gguf: bool,
        /// At most this many results.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Download files (all when none is named; a quant name such as Q4_K_M picks its files) into the Hugging Face cache.
    Download {
        /// `org/name`.
        repo: String,
        /// Paths in the repo, or quant names.
        files: Vec<String>,
        /// Branch, tag or commit.
        #[arg(long, default_value = "main")]
        revision: String,
        /// Print NDJSON progress events.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Serialize)]
struct QuantRow {
    quant: String,
    size: u64,
    files: Vec<String>,
    /// The memory it needs by the plan's estimate (`model::gpu::estimate`).
    need: u64,
    /// GPU index → whether it fits that GPU's room, as the plan decides.
    fits: BTreeMap<u32, bool>,
}

#[derive(Serialize)]
struct InfoOut<'a> {
    #[serde(flatten)]
    info: &'a RepoInfo,
    quants: Vec<QuantRow>,
    /// `ollama-pull`, `download-import` or `refused`.
    action: &'static str,
    reason: String,
    /// The plan's resolution of `hf: REPO` (none when refused).
    #[serde(skip_serializing_if = "Option::is_none")]
    resolution: Option<HfResolution>,
}

/// What FaceRunner would do with the repo, and why: the plan's resolution
/// of `hf: REPO` (`plan::hf::verdict`), named for people.
fn verdict(
    info: &RepoInfo,
    revision: &str,
    env: HfEnv,
    fitter: &Fitter,
) -> (&'static str, String, Option<HfResolution>) {
    match crate::plan::hf::verdict(info, revision, env, fitter) {
        Ok(r) => {
            let action = match r.source {
                HfSource::Ollama => "ollama-pull",
                HfSource::Download => "download-import",
            };
            let what = match (&r.quant, r.format) {
                (Some(q), _) => format!("{} as {} ({q}, {})", r.repo, r.name, human_bytes(r.bytes)),
                (None, HfFormat::Library) => format!("the Ollama library's {}", r.name),
                (None, _) => format!("{} as {} ({})", r.repo, r.name, human_bytes(r.bytes)),
            };
            (action, format!("{what}: {}", r.reason), Some(r))
        }
        Err(e) => ("refused", format!("{}; {}", e.reason, e.help), None),
    }
}

fn runtime() -> miette::Result<tokio::runtime::Runtime> {
    super::daemon::runtime()
}

fn hub() -> miette::Result<Hub> {
    Hub::from_env().map_err(miette::Report::new)
}

/// Run `facerunner hf ...`.
pub fn run(global: &Global, args: HfArgs) -> miette::Result<ExitCode> {
    match args.command {
        HfCommand::Info {
            repo,
            revision,
            json,
        } => info(global, &repo, &revision, json),
        HfCommand::Search {
            query,
            gguf,
            limit,
            json,
        } => search(&query, gguf, limit, json),
        HfCommand::Download {
            repo,
            files,
            revision,
            json,
        } => download(&repo, &files, &revision, json),
    }
}

fn info(global: &Global, repo: &str, revision: &str, json: bool) -> miette::Result<ExitCode> {
    let hub = hub()?;
    let rt = runtime()?;
    let info = rt
        .block_on(hub.repo_info(repo, revision))
        .map_err(miette::Report::new)?;
    // The model's shape from a GGUF header (a bounded range request), so
    // the estimate counts the KV cache as the plan's does; without it, the
    // weights and overhead only.
    let header = crate::observe::hf::header_file(&info).and_then(|f| {
        match rt.block_on(crate::observe::hf::gguf_meta(&hub, &info, &f)) {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::debug!("no GGUF header: {e}");
                None
            }
        }
    });
    // GPUs are a bonus: none (or no driver) shows no fit column.
    let gpus = global.inventory().unwrap_or_else(|_| Inventory::default());
    // As the plan fits a model of an ollama service with all GPUs and
    // Ollama's default knobs; per GPU for the table.
    let all: Vec<&GpuInfo> = gpus.gpus.iter().collect();
    let fitter = Fitter::new(&all, OllamaKnobs::default(), None, header.clone());
    let one: Vec<(u32, Fitter)> = gpus
        .gpus
        .iter()
        .map(|g| {
            let f = Fitter::new(&[g], OllamaKnobs::default(), None, header.clone());
            (g.index, f)
        })
        .collect();
    let quants: Vec<QuantRow> = info
        .gguf_quants()
        .into_iter()
        .map(|q| QuantRow {
            need: fitter.need(q.size),
            fits: one
                .iter()
                .map(|(i, f)| (*i, f.fits_on(q.size).is_some()))
                .collect(),
            quant: q.quant,
            size: q.size,
            files: q.files.into_iter().map(|f| f.path).collect(),
        })
        .collect();
    let env = crate::observe::hf::env_of(hub.settings());
    let (action, reason, resolution) = verdict(&info, revision, env, &fitter);
    if json {
        let out = InfoOut {
            info: &info,
            quants,
            action,
            reason,
            resolution,
        };
        println!("{}", serde_json::to_string_pretty(&out).into_diagnostic()?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} at {}", info.id, info.commit);
    let mut facts = Vec::new();
    if let Some(p) = &info.pipeline_tag {
        facts.push(format!("pipeline: {p}"));
    }
    if let Some(l) = &info.library {
        facts.push(format!("library: {l}"));
    }
    if !info.architectures.is_empty() {
        facts.push(format!("architecture: {}", info.architectures.join(", ")));
    }
    if !info.base_model.is_empty() {
        facts.push(format!("base model: {}", info.base_model.join(", ")));
    }
    if info.gated != crate::model::hf::Gated::No {
        facts.push(format!(
            "gated: accept the licence at {}/{}",
            hub.settings().endpoint,
            info.id
        ));
    }
    if !facts.is_empty() {
        println!("{}", facts.join(" · "));
    }
    if !quants.is_empty() {
        println!("\nQuants:");
        for q in &quants {
            let fits: Vec<String> = q
                .fits
                .iter()
                .map(|(i, ok)| format!("GPU {i}: {}", if *ok { "fits" } else { "too big" }))
                .collect();
            println!(
                "  {:<10} {:>10}  needs {:>10}  {}{}",
                q.quant,
                human_bytes(q.size),
                human_bytes(q.need),
                q.files.join(", "),
                if fits.is_empty() {
                    String::new()
                } else {
                    format!("  ({})", fits.join(", "))
                }
            );
        }
        if !gpus.gpus.is_empty() {
            println!(
                "  (needs = weights + KV cache + overhead, the plan's estimate at the default context; fits = within the GPU's room)"
            );
        }
    }
    println!("\nFiles:");
    for f in &info.files {
        println!(
            "  {:>10}  {}{}",
            human_bytes(f.size),
            f.path,
            if f.lfs_sha256.is_some() {
                "  (LFS)"
            } else {
                ""
            }
        );
    }
    println!("\nFaceRunner would: {action}: {reason}");
    Ok(ExitCode::SUCCESS)
}

fn search(query: &str, gguf: bool, limit: usize, json: bool) -> miette::Result<ExitCode> {
    let hub = hub()?;
    let hits = runtime()?
        .block_on(hub.search(query, gguf, limit))
        .map_err(miette::Report::new)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&hits).into_diagnostic()?);
    } else if hits.is_empty() {
        println!("no repo matches `{query}`");
    } else {
        for h in &hits {
            println!(
                "{:<60} {:>9} downloads  {}{}",
                h.id,
                h.downloads,
                h.pipeline_tag.as_deref().unwrap_or("-"),
                if h.gguf { "  gguf" } else { "" }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The files `wanted` names: paths, or quant names (their files).
fn pick(info: &RepoInfo, wanted: &[String]) -> miette::Result<Vec<RepoFile>> {
    if wanted.is_empty() {
        return Ok(info.files.clone());
    }
    let quants = info.gguf_quants();
    let mut out: Vec<RepoFile> = Vec::new();
    let mut seen = HashSet::new();
    for w in wanted {
        let files: Vec<RepoFile> = match info.files.iter().find(|f| f.path == *w) {
            Some(f) => vec![f.clone()],
            None => match crate::names::normalize_quant(w)
                .and_then(|q| quants.iter().find(|x| x.quant == q))
            {
                Some(q) => q.files.clone(),
                None => {
                    return Err(miette::Report::new(crate::hf::HfError::EntryNotFound {
                        repo: info.id.clone(),
                        revision: info.commit.clone(),
                        path: w.clone(),
                    }));
                }
            },
        };
        for f in files {
            if seen.insert(f.path.clone()) {
                out.push(f);
            }
        }
    }
    Ok(out)
}

fn download(repo: &str, wanted: &[String], revision: &str, json: bool) -> miette::Result<ExitCode> {
    let hub = hub()?;
    let rt = runtime()?;
    let info = rt
        .block_on(hub.repo_info(repo, revision))
        .map_err(miette::Report::new)?;
    let files = pick(&info, wanted)?;
    let sink = super::progress::Renderer::new(json);
    let ids: BTreeMap<String, usize> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.path.clone(), i + 1))
        .collect();
    let title = |path: &str| format!("download {repo}/{path}");
    for f in &files {
        sink.event(&ExecEvent::StepStarted {
            id: ids[&f.path],
            title: title(&f.path),
        });
    }
    let mut finished = HashSet::new();
    let result = rt.block_on(hub.download(&info, &files, |p: DownloadProgress| {
        let id = ids.get(&p.file).copied().unwrap_or(0);
        match p.state {
            FileState::Downloading => sink.event(&ExecEvent::Progress {
                id,
                status: "downloading".into(),
                completed: Some(p.completed),
                total: Some(p.total),
            }),
            FileState::Cached | FileState::Done => {
                sink.event(&ExecEvent::Progress {
                    id,
                    status: if p.state == FileState::Cached {
                        "already in the cache".into()
                    } else {
                        "verified".into()
                    },
                    completed: Some(p.completed),
                    total: Some(p.total),
                });
                finished.insert(id);
                sink.event(&ExecEvent::StepFinished {
                    id,
                    title: title(&p.file),
                    outcome: Outcome::Succeeded,
                });
            }
        }
    }));
    match result {
        Ok(paths) => {
            if json {
                super::progress::json_line(&serde_json::json!({
                    "event": "downloaded", "repo": info.id, "commit": info.commit,
                    "paths": paths,
                }));
            } else {
                for p in &paths {
                    println!("{}", p.display());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            for f in &files {
                let id = ids[&f.path];
                if !finished.contains(&id) {
                    sink.event(&ExecEvent::StepFinished {
                        id,
                        title: title(&f.path),
                        outcome: Outcome::Failed(Failure {
                            kind: FailureKind::default(),
                            error: e.to_string(),
                            help: None,
                        }),
                    });
                }
            }
            Err(miette::Report::new(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::hf::Gated;

    fn repo(files: &[&str], arch: Option<&str>) -> RepoInfo {
        RepoInfo {
            id: "o/r".into(),
            commit: "0".repeat(40),
            gated: Gated::No,
            private: false,
            pipeline_tag: Some("text-generation".into()),
            library: Some("transformers".into()),
            base_model: vec![],
            architectures: arch.map(|a| vec![a.to_string()]).unwrap_or_default(),
            files: files
                .iter()
                .map(|p| RepoFile {
                    path: p.to_string(),
                    size: 1,
                    lfs_sha256: None,
                    blob_id: None,
                })
                .collect(),
        }
    }

    fn env(endpoint_set: bool, token_set: bool) -> HfEnv {
        HfEnv {
            endpoint_set,
            token_set,
        }
    }

    fn gpu(index: u32, gib: u64) -> GpuInfo {
        GpuInfo {
            index,
            uuid: format!("GPU-{index}"),
            memory_total_bytes: gib << 30,
            ..GpuInfo::default()
        }
    }

    #[test]
    fn the_verdict_is_the_plans_resolution() {
        let none = Fitter::new(&[], OllamaKnobs::default(), None, None);
        let v = |r: &RepoInfo, e: HfEnv| verdict(r, "main", e, &none);
        let gguf = repo(&["m-Q4_K_M.gguf"], None);
        let (action, why, r) = v(&gguf, env(false, false));
        assert_eq!(action, "ollama-pull");
        assert_eq!(r.expect("resolved").name, "hf.co/o/r:Q4_K_M", "{why}");
        assert_eq!(v(&gguf, env(false, true)).0, "download-import");
        assert_eq!(v(&gguf, env(true, false)).0, "download-import");
        let llama = repo(&["model.safetensors"], Some("LlamaForCausalLM"));
        assert_eq!(v(&llama, env(false, false)).0, "download-import");
        let qwen3 = repo(&["model.safetensors"], Some("Qwen3ForCausalLM"));
        let (action, why, r) = v(&qwen3, env(false, false));
        assert_eq!(action, "refused");
        assert!(r.is_none());
        assert!(
            why.contains("Qwen3ForCausalLM, which Ollama cannot convert"),
            "{why}"
        );
        let (action, why, _) = v(&repo(&["README.md"], None), env(false, false));
        assert_eq!(action, "refused");
        assert!(why.contains("pipeline tag: text-generation"), "{why}");
        // A pinned revision other than main: Ollama pulls main only.
        let (action, _, _) = verdict(&gguf, "v1", env(false, false), &none);
        assert_eq!(action, "download-import");
    }

    #[test]
    fn the_fit_is_the_plans_estimate_not_weights_plus_a_constant() {
        // 7 GiB of weights on an 8 GiB GPU: "weights + 1 GiB" said it
        // fits; the plan's estimate (weights + KV cache at the default
        // context + overhead) says it does not, and `hf info` must agree.
        let g = gpu(0, 8);
        let f = Fitter::new(&[&g], OllamaKnobs::default(), None, None);
        let weights = 7u64 << 30;
        let need = f.need(weights);
        let meta = crate::model::gguf::ModelMeta {
            file_size_bytes: weights,
            ..Default::default()
        };
        let plan = crate::model::gpu::estimate(&meta, None, &OllamaKnobs::default(), 8 << 30);
        assert_eq!(need, plan.total_bytes());
        assert_eq!(f.fits_on(weights).is_some(), need <= 8 << 30);
        assert_eq!(f.fits(1 << 30), Some(true));
        // With a header, the KV cache counts.
        let header = crate::model::gguf::ModelMeta {
            block_count: 80,
            head_count_kv: 8,
            key_length: 128,
            value_length: 128,
            context_length: 131_072,
            ..Default::default()
        };
        let with = Fitter::new(&[&g], OllamaKnobs::default(), Some(32_768), Some(header));
        assert!(with.need(1 << 30) > f.need(1 << 30) + (1 << 30));
        assert_eq!(with.fits(1 << 30), Some(false));
    }

    #[test]
    fn quant_names_pick_their_files_and_unknown_names_are_errors() {
        let r = repo(
            &[
                "a-Q4_K_M.gguf",
                "Q8_0/a-Q8_0-00001-of-00002.gguf",
                "Q8_0/a-Q8_0-00002-of-00002.gguf",
                "README.md",
            ],
            None,
        );
        let picked = pick(&r, &["q8_0".into(), "README.md".into()]).expect("pick");
        let paths: Vec<&str> = picked.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "Q8_0/a-Q8_0-00001-of-00002.gguf",
                "Q8_0/a-Q8_0-00002-of-00002.gguf",
                "README.md"
            ]
        );
        assert_eq!(pick(&r, &[]).expect("all").len(), 4);
        assert!(pick(&r, &["Q2_K".into()]).is_err());
    }
}
