//! `facerunner convert NAME... [--quant Q] [--offline] [--json]`: Hugging
//! Face names → Ollama names, with the reason and what answered.
//!
//! Online, the Hugging Face Hub answers (the repo's files decide: GGUF
//! quants, a safetensors import, or a refusal with the pipeline tag and
//! library); with `HF_HUB_OFFLINE` the Hugging Face cache answers for what
//! it holds; with `--offline`, or when neither answers, FaceRunner's table
//! and rules do, and the output says which.

use std::process::ExitCode;

use serde::Serialize;

use crate::model::hf::HfSource;
use crate::model::hf_resolve::{AnsweredBy, HfEntry, HfEnv, HfFormat, HfLookup, resolve};
use crate::observe::hf::{RepoSource, hub};
use crate::style::{bold, paint};

/// Arguments of `convert`.
#[derive(Debug, clap::Args)]
pub struct ConvertArgs {
    /// Hugging Face names: `org/repo`, `hf.co/org/repo[:QUANT]`, or a huggingface.co URL.
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,
    /// GGUF quant to ask for (GGUF repositories only; `auto` takes the default here).
    #[arg(long)]
    pub quant: Option<String>,
    /// Answer from FaceRunner's table and rules only (also `HF_HUB_OFFLINE=1`).
    #[arg(long)]
    pub offline: bool,
    /// Print a JSON array of results.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Row {
    input: String,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    ollama: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    method: Option<crate::names::hf::Method>,
    /// `ollama` (Ollama pulls it) or `download` (FaceRunner downloads and imports).
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<HfSource>,
    /// `hub` or `table`.
    answered_by: AnsweredBy,
    /// Why the table answered (offline, the Hub did not answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    offline_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    commit: Option<String>,
    reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    help: Option<String>,
}

fn row(input: &str, quant: Option<&str>, lookup: &HfLookup, env: HfEnv) -> Row {
    let entry = HfEntry {
        repo: input.to_string(),
        quant: quant.map(str::to_string),
        ..HfEntry::default()
    };
    let (info, offline_reason) = match lookup {
        HfLookup::Found { info } => (Some(info.as_ref()), None),
        HfLookup::Unreachable { reason } => (None, Some(reason.clone())),
        HfLookup::Refused { reason, help } => {
            return Row {
                input: input.to_string(),
                ok: false,
                ollama: None,
                method: None,
                source: None,
                answered_by: AnsweredBy::Hub,
                offline_reason: None,
                commit: None,
                reason: reason.clone(),
                help: Some(help.clone()),
            };
        }
    };
    let answered_by = if info.is_some() {
        AnsweredBy::Hub
    } else {
        AnsweredBy::Table
    };
    match resolve(&entry, info, env, &|_| None) {
        Ok(r) => Row {
            input: input.to_string(),
            ok: true,
            ollama: Some(r.name.clone()),
            method: match (r.format, r.source) {
                (HfFormat::Library, _) => Some(crate::names::hf::Method::Library),
                (HfFormat::Gguf, HfSource::Ollama) => Some(crate::names::hf::Method::GgufRepo),
                _ => None,
            },
            source: Some(r.source),
            answered_by: r.answered_by,
            offline_reason,
            commit: r.commit,
            reason: r.reason,
            help: None,
        },
        Err(e) => Row {
            input: input.to_string(),
            ok: false,
            ollama: None,
            method: None,
            source: None,
            answered_by,
            offline_reason,
            commit: None,
            reason: e.reason,
            help: Some(e.help),
        },
    }
}

/// Convert each name; exit 1 if any cannot be converted.
pub fn run(args: ConvertArgs) -> miette::Result<ExitCode> {
    let (source, env, why): (Option<Box<dyn RepoSource>>, HfEnv, String) = if args.offline {
        (None, HfEnv::default(), "--offline".into())
    } else {
        match hub(&crate::hf::HubVars::process()) {
            Ok((s, env)) => (Some(s), env, String::new()),
            Err(why) => (None, HfEnv::default(), why),
        }
    };
    let rt = match &source {
        Some(_) => Some(crate::cli::daemon::runtime()?),
        None => None,
    };
    let rows: Vec<Row> = args
        .names
        .iter()
        .map(|n| {
            let repo = crate::names::parse_hf(n)
                .ok()
                .map(|r| format!("{}/{}", r.org, r.repo));
            let lookup = match (&source, &rt, repo) {
                (Some(s), Some(rt), Some(repo)) => rt.block_on(s.repo_info(&repo, "main")),
                _ => HfLookup::Unreachable {
                    reason: why.clone(),
                },
            };
            row(n, args.quant.as_deref(), &lookup, env)
        })
        .collect();
    let all_ok = rows.iter().all(|r| r.ok);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).expect("rows always serialize")
        );
    } else {
        for r in &rows {
            let by = match (r.answered_by, &r.offline_reason) {
                (AnsweredBy::Hub, _) => "answered by the Hugging Face Hub".to_string(),
                (AnsweredBy::Table, Some(why)) => {
                    format!("answered by FaceRunner's table (offline: {why})")
                }
                (AnsweredBy::Table, None) => "answered by FaceRunner's table".to_string(),
            };
            match &r.ollama {
                Some(o) => {
                    anstream::println!("{} → {}", r.input, bold(o));
                    anstream::println!("  {}", r.reason);
                }
                None => {
                    anstream::println!(
                        "{} → {}",
                        r.input,
                        paint("cannot convert", anstyle::AnsiColor::Red)
                    );
                    anstream::println!("  {}", r.reason);
                    if let Some(h) = &r.help {
                        anstream::println!("  help: {h}");
                    }
                }
            }
            anstream::println!("  {by}");
        }
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
