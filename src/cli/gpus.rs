//! `facerunner gpus [--json]`: the GPUs `gpus:` can name (index, UUID, memory).

use std::process::ExitCode;

use crate::gpu::inventory;

/// Arguments of `gpus`.
#[derive(Debug, clap::Args)]
pub struct GpusArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// List the GPUs.
pub fn run(args: GpusArgs) -> miette::Result<ExitCode> {
    let inv = inventory();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(inv).expect("the inventory serializes")
        );
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(why) = &inv.unavailable {
        println!("no GPUs: {why}");
    }
    for g in &inv.gpus {
        println!(
            "{}  {}  {}  {:.1} GiB ({:.1} GiB free)",
            g.index,
            g.uuid,
            g.name,
            g.memory_total_bytes as f64 / (1u64 << 30) as f64,
            g.memory_free_bytes() as f64 / (1u64 << 30) as f64
        );
    }
    if !inv.gpus.is_empty() {
        println!(
            "\nname them in facerunner.yaml by uuid (stable across reboots): gpus: {{ big: {{ uuid: {} }} }}",
            inv.gpus[0].uuid
        );
    }
    Ok(ExitCode::SUCCESS)
}
