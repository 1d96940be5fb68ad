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
use crate::hf::{DownloadProgress, FileState, HfSettings, Hub};
use crate::model::events::{ExecEvent, Failure, FailureKind, Outcome};
use crate::model::gpu::Inventory;
use crate::model::hf::{RepoFile, RepoInfo};
use crate::model::units::human_bytes;

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

/// Safetensors architectures Ollama's importer converts (`config.json`
/// `architectures[0]`, ollama convert/convert.go at v0.33).
const OLLAMA_CONVERTS: &[&str] = &[
    "LlamaForCausalLM",
    "MllamaForConditionalGeneration",
    "Llama4ForConditionalGeneration",
    "Mistral3ForConditionalGeneration",
    "Ministral3ForCausalLM",
    "MixtralForCausalLM",
    "GemmaForCausalLM",
    "Gemma2ForCausalLM",
    "Gemma3ForCausalLM",
    "Gemma3ForConditionalGeneration",
    "Gemma3TextModel",
    "Gemma3nForConditionalGeneration",
    "Gemma4ForCausalLM",
    "Gemma4ForConditionalGeneration",
    "Qwen2ForCausalLM",
    "Qwen2_5_VLForConditionalGeneration",
    "Qwen3VLForConditionalGeneration",
    "Qwen3VLMoeForConditionalGeneration",
    "Qwen3NextForCausalLM",
    "Qwen3_5ForConditionalGeneration",
    "Qwen3_5MoeForConditionalGeneration",
    "Phi3ForCausalLM",
    "Olmo3ForCausalLM",
    "BertModel",
    "NomicBertModel",
    "NomicBertMoEModel",
    "CohereForCausalLM",
    "GptOssForCausalLM",
    "DeepseekOCRForCausalLM",
    "DeepseekV3ForCausalLM",
    "Glm4MoeLiteForCausalLM",
    "GlmOcrForConditionalGeneration",
    "LagunaForCausalLM",
    "Lfm2ForCausalLM",
    "Lfm2MoeForCausalLM",
    "Lfm2VlForConditionalGeneration",
    "NemotronHForCausalLM",
    "NemotronH_Nano_VL_V2",
    "NemotronH_Nano_Omni_Reasoning_V3",
];

/// Memory a model needs beyond its weights, at least (Ollama's minimum
/// reserve plus a small context); the KV cache of a long context is more.
const ROUGH_OVERHEAD: u64 = 1 << 30;

#[derive(Serialize)]
struct QuantRow {
    quant: String,
    size: u64,
    files: Vec<String>,
    /// GPU index → whether weights + 1 GiB fit its total memory.
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
}

/// What FaceRunner would do with the repo, and why.
fn verdict(info: &RepoInfo, settings: &HfSettings) -> (&'static str, String) {
    let custom = settings.endpoint != crate::hf::DEFAULT_ENDPOINT;
    if info.has_gguf() {
        if custom || settings.token.is_some() {
            let why = if custom {
                "HF_ENDPOINT is set"
            } else {
                "a token is set (Ollama cannot send it)"
            };
            return (
                "download-import",
                format!(
                    "GGUF repo: download into the Hugging Face cache and import into Ollama ({why})"
                ),
            );
        }
        return (
            "ollama-pull",
            format!(
                "GGUF repo: Ollama pulls hf.co/{}:QUANT itself (Q4_K_M unless `quant:` says)",
                info.id
            ),
        );
    }
    let has_safetensors = info.files.iter().any(|f| f.path.ends_with(".safetensors"));
    match info.architectures.first() {
        Some(arch) if has_safetensors && OLLAMA_CONVERTS.contains(&arch.as_str()) => (
            "download-import",
            format!(
                "safetensors {arch}: download and let Ollama convert it (`quantize: q4_K_M` or `q8_0` to shrink it)"
            ),
        ),
        Some(arch) if has_safetensors => (
            "refused",
            format!(
                "Ollama cannot convert {arch}; look for a GGUF of it (`facerunner hf search {} --gguf`) or convert it with llama.cpp's convert_hf_to_gguf.py",
                info.id.rsplit('/').next().unwrap_or(&info.id)
            ),
        ),
        _ => (
            "refused",
            format!(
                "no GGUF and no safetensors weights Ollama can convert (pipeline: {}, library: {}); look for a GGUF of it with `facerunner hf search NAME --gguf`",
                info.pipeline_tag.as_deref().unwrap_or("none"),
                info.library.as_deref().unwrap_or("none")
            ),
        ),
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
    let info = runtime()?
        .block_on(hub.repo_info(repo, revision))
        .map_err(miette::Report::new)?;
    // GPUs are a bonus: none (or no driver) shows no fit column.
    let gpus = global.inventory().unwrap_or_else(|_| Inventory::default());
    let quants: Vec<QuantRow> = info
        .gguf_quants()
        .into_iter()
        .map(|q| QuantRow {
            fits: gpus
                .gpus
                .iter()
                .map(|g| {
                    (
                        g.index,
                        q.size.saturating_add(ROUGH_OVERHEAD) <= g.memory_total_bytes,
                    )
                })
                .collect(),
            quant: q.quant,
            size: q.size,
            files: q.files.into_iter().map(|f| f.path).collect(),
        })
        .collect();
    let (action, reason) = verdict(&info, hub.settings());
    if json {
        let out = InfoOut {
            info: &info,
            quants,
            action,
            reason,
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
                "  {:<10} {:>10}  {}{}",
                q.quant,
                human_bytes(q.size),
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
                "  (fits = weights + 1 GiB within the GPU's memory; a long context needs more)"
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

    fn settings(endpoint: &str, token: Option<&str>) -> HfSettings {
        HfSettings {
            endpoint: endpoint.into(),
            token: token.map(str::to_string),
            cache_dir: "/c".into(),
            offline: false,
        }
    }

    #[test]
    fn the_verdict_follows_the_repo_and_the_settings() {
        let hub = crate::hf::DEFAULT_ENDPOINT;
        let gguf = repo(&["m-Q4_K_M.gguf"], None);
        assert_eq!(verdict(&gguf, &settings(hub, None)).0, "ollama-pull");
        assert_eq!(
            verdict(&gguf, &settings(hub, Some("t"))).0,
            "download-import"
        );
        assert_eq!(
            verdict(&gguf, &settings("http://mirror", None)).0,
            "download-import"
        );
        let llama = repo(&["model.safetensors"], Some("LlamaForCausalLM"));
        assert_eq!(verdict(&llama, &settings(hub, None)).0, "download-import");
        let qwen3 = repo(&["model.safetensors"], Some("Qwen3ForCausalLM"));
        let (action, why) = verdict(&qwen3, &settings(hub, None));
        assert_eq!(action, "refused");
        assert!(why.contains("cannot convert Qwen3ForCausalLM"), "{why}");
        let (action, why) = verdict(&repo(&["README.md"], None), &settings(hub, None));
        assert_eq!(action, "refused");
        assert!(why.contains("pipeline: text-generation"), "{why}");
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
