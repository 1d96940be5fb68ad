//! `facerunner convert NAME... [--quant Q] [--offline] [--json]`: Hugging
//! Face names → Ollama names, with the reason and what answered.
//!
//! Online, the Hugging Face Hub answers (the repo's files decide: GGUF
//! quants, a safetensors import, or a refusal with the pipeline tag and
//! library); with `HF_HUB_OFFLINE` the Hugging Face cache answers for what
//! it holds; with `--offline`, or when neither answers, FaceRunner's table
//! and rules do, and the output says which.

use std::process::ExitCode;

use crate::model::hf_resolve::AnsweredBy;
use crate::plan::hf_convert::{Conversion, convert};
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

/// Convert each name; exit 1 if any cannot be converted.
pub fn run(args: ConvertArgs) -> miette::Result<ExitCode> {
    let rt = crate::cli::daemon::runtime()?;
    let offline = args.offline.then_some("--offline");
    let rows: Vec<Conversion> = args
        .names
        .iter()
        .map(|n| rt.block_on(convert(n, args.quant.as_deref(), offline)))
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
