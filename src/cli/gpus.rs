//! `facerunner gpus [--json]`: the GPUs `gpus:` can name (index, UUID,
//! memory, utilization, temperature, power) and the compute processes on
//! each, with the FaceRunner service that owns a process when the
//! project's daemon runs. `--gpus-from FILE` prints that file's inventory.

use std::process::ExitCode;

use miette::IntoDiagnostic;

use super::Global;
use crate::model::gpu::Inventory;
use crate::model::units::human_bytes;
use crate::model::wire::{Request, Response};

/// Arguments of `gpus`.
#[derive(Debug, clap::Args)]
pub struct GpusArgs {
    /// Print the inventory as JSON (`{"gpus": [...]}`, what `--gpus-from` reads).
    #[arg(long)]
    pub json: bool,
}

/// List the GPUs.
pub fn run(global: &Global, args: GpusArgs) -> miette::Result<ExitCode> {
    let mut inv = global.inventory()?;
    // Pids in a file from another machine mean nothing here.
    if global.gpus_from.is_none() {
        crate::gpu::attribute(&mut inv, &service_pids(global));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&inv).into_diagnostic()?);
    } else {
        print!("{}", text(&inv));
    }
    Ok(ExitCode::SUCCESS)
}

/// Each running service of the project's daemon with its pid; empty when
/// there is no project file or its daemon is not running (ownership is a
/// bonus, not a requirement of `gpus`).
fn service_pids(global: &Global) -> Vec<(String, u32)> {
    let Ok(dirs) = super::daemon::project_dirs(global) else {
        return Vec::new();
    };
    let Ok(rt) = super::daemon::runtime() else {
        return Vec::new();
    };
    rt.block_on(async {
        let Ok(Some(c)) = super::daemon::connect(&dirs).await else {
            return Vec::new();
        };
        match c.request(&Request::Status, |_| {}).await {
            Ok(Response::Status(r)) => r
                .services
                .iter()
                .filter_map(|s| Some((s.name.clone(), s.state.pid()?)))
                .collect(),
            _ => Vec::new(),
        }
    })
}

/// The human form: one block per GPU, its processes indented.
fn text(inv: &Inventory) -> String {
    let mut out = String::new();
    if let Some(why) = &inv.unavailable {
        out.push_str(&format!("no GPUs: {why}\n"));
    }
    for g in &inv.gpus {
        let mut readings = vec![format!(
            "{} used of {} ({} free)",
            human_bytes(g.memory_used_bytes),
            human_bytes(g.memory_total_bytes),
            human_bytes(g.memory_free_bytes())
        )];
        if let Some(u) = g.utilization_percent {
            readings.push(format!("{u}% busy"));
        }
        if let Some(t) = g.temperature_c {
            readings.push(format!("{t}°C"));
        }
        if let Some(w) = g.power_watts {
            readings.push(format!("{w:.0} W"));
        }
        out.push_str(&format!(
            "{}  {}  {}  {}\n    {}\n",
            g.index,
            g.uuid,
            if g.vendor.is_empty() { "-" } else { &g.vendor },
            g.name,
            readings.join(", ")
        ));
        for p in &g.processes {
            out.push_str(&format!(
                "    pid {}  {}  {}\n",
                p.pid,
                human_bytes(p.used_memory_bytes),
                p.service
                    .as_deref()
                    .map_or_else(|| "-".to_string(), |s| format!("service {s}"))
            ));
        }
    }
    if let Some(g) = inv.gpus.first() {
        out.push_str(&format!(
            "\nname them in facerunner.yaml by uuid (stable across reboots): gpus: {{ big: {{ uuid: {} }} }}\n",
            g.uuid
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::gpu::{GpuInfo, GpuProcess};

    #[test]
    fn text_lists_each_gpu_its_readings_and_owned_processes() {
        let inv = Inventory {
            gpus: vec![GpuInfo {
                index: 0,
                uuid: "GPU-1".into(),
                name: "H100".into(),
                vendor: "nvidia".into(),
                memory_total_bytes: 80 << 30,
                memory_used_bytes: 8 << 30,
                utilization_percent: Some(42),
                temperature_c: Some(60),
                power_watts: Some(300.0),
                processes: vec![GpuProcess {
                    pid: 77,
                    used_memory_bytes: 6 << 30,
                    service: Some("llm".into()),
                }],
            }],
            ..Inventory::default()
        };
        let t = text(&inv);
        for needle in [
            "0  GPU-1  nvidia  H100",
            "42% busy",
            "60°C",
            "300 W",
            "pid 77",
            "service llm",
        ] {
            assert!(t.contains(needle), "{needle} in {t}");
        }
    }
}
