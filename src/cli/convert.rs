//! `facerunner convert NAME... [--json]`: Hugging Face names → Ollama, offline.

use std::process::ExitCode;

use serde::Serialize;

use crate::names::hf::{RepoHints, convert};
use crate::style::{bold, paint};

/// Arguments of `convert`.
#[derive(Debug, clap::Args)]
pub struct ConvertArgs {
    /// Hugging Face names: `org/repo`, `hf.co/org/repo[:QUANT]`, or a huggingface.co URL.
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,
    /// GGUF quant to ask for (GGUF repositories only).
    #[arg(long)]
    pub quant: Option<String>,
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
    reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    help: Option<String>,
}

/// Convert each name; exit 1 if any cannot be converted.
pub fn run(args: ConvertArgs) -> miette::Result<ExitCode> {
    let rows: Vec<Row> = args
        .names
        .iter()
        .map(
            |n| match convert(n, args.quant.as_deref(), &RepoHints::default()) {
                Ok(c) => Row {
                    input: n.clone(),
                    ok: true,
                    ollama: Some(c.ollama.display_shortest()),
                    method: Some(c.method),
                    reason: c.reason,
                    help: None,
                },
                Err(e) => Row {
                    input: n.clone(),
                    ok: false,
                    ollama: None,
                    method: None,
                    reason: e.reason,
                    help: Some(e.help),
                },
            },
        )
        .collect();
    let all_ok = rows.iter().all(|r| r.ok);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).expect("rows always serialize")
        );
    } else {
        for r in &rows {
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
        }
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
