//! `facerunner watch [--json]`: apply, then apply every saved change.
//!
//! A foreground command; Ctrl-C stops watching and leaves the services
//! running (`facerunner down` stops them). The loop itself lives in
//! [`crate::watch::run`], shared with the daemon's `settings.watch`.

use std::process::ExitCode;

use miette::IntoDiagnostic;

use super::Global;
use super::output::print_diagnostics;
use super::progress::{Renderer, summary};
use crate::config::discover;
use std::sync::Arc;

use crate::execute::{Applied, Remote, ServiceDriver};
use crate::paths::ProjectDirs;
use crate::plan::render::render;
use crate::style::{bold, paint};
use crate::watch::run::{Reporter, WatchEvent, run as watch_loop};

/// Arguments of `watch`.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// NDJSON events on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

struct Terminal {
    json: bool,
}

fn json_line(v: serde_json::Value) {
    println!("{v}");
}

fn now() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    format!("{:02}:{:02}:{:02}", (t / 3600) % 24, (t / 60) % 60, t % 60)
}

impl Reporter for Terminal {
    fn report(&self, event: WatchEvent<'_>) {
        let names = |files: &[std::path::PathBuf]| {
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
        };
        match (self.json, event) {
            (true, WatchEvent::Watching(files)) => {
                json_line(serde_json::json!({"event": "watching", "files": names(files)}))
            }
            (true, WatchEvent::Changed(files)) => {
                json_line(serde_json::json!({"event": "changed", "files": names(files)}))
            }
            (
                true,
                WatchEvent::Invalid {
                    file,
                    diagnostics,
                    keeping_last_good,
                },
            ) => json_line(serde_json::json!({
                "event": "invalid",
                "file": file.path.display().to_string(),
                "keeping_last_good": keeping_last_good,
                "diagnostics": diagnostics.iter().map(|d| d.to_json(file)).collect::<Vec<_>>(),
            })),
            (true, WatchEvent::Planned(plan)) => {
                json_line(serde_json::json!({"event": "plan", "plan": plan}))
            }
            (true, WatchEvent::Applied(Applied::NoChanges(_))) => {
                json_line(serde_json::json!({"event": "no_changes"}))
            }
            (true, WatchEvent::Applied(Applied::Ran { report, .. })) => {
                summary(report, true);
            }
            (true, WatchEvent::Failed(msg)) => {
                json_line(serde_json::json!({"event": "failed", "error": msg}))
            }
            (false, WatchEvent::Watching(files)) => anstream::eprintln!(
                "{} watching {} (Ctrl-C stops watching; services keep running)",
                now(),
                names(files).join(", ")
            ),
            (false, WatchEvent::Changed(files)) => {
                anstream::eprintln!("\n{} {} changed", now(), names(files).join(", "))
            }
            (
                false,
                WatchEvent::Invalid {
                    file,
                    diagnostics,
                    keeping_last_good,
                },
            ) => {
                print_diagnostics(diagnostics, file);
                let n = diagnostics.iter().filter(|d| d.is_error()).count();
                let keep = if keeping_last_good {
                    "the last good file stays in force"
                } else {
                    "nothing is applied until it is valid"
                };
                anstream::eprintln!(
                    "{} {}: {n} error(s); nothing was changed, {keep}",
                    paint("invalid", anstyle::AnsiColor::Red),
                    file.path.display()
                );
            }
            (false, WatchEvent::Planned(plan)) => anstream::print!("{}", render(plan)),
            (false, WatchEvent::Applied(Applied::NoChanges(_))) => {
                anstream::println!("{}", bold("No changes."))
            }
            (false, WatchEvent::Applied(Applied::Ran { report, .. })) => {
                summary(report, false);
            }
            (false, WatchEvent::Failed(msg)) => {
                anstream::eprintln!("{} {msg}", paint("apply failed:", anstyle::AnsiColor::Red))
            }
        }
    }
}

/// Watch until Ctrl-C.
pub fn run(global: &Global, args: WatchArgs) -> miette::Result<ExitCode> {
    let cwd = std::env::current_dir().into_diagnostic()?;
    let path = discover(global.file.as_deref(), &cwd).map_err(crate::cli::project::load_error)?;
    let exe = std::env::current_exe().into_diagnostic()?;
    let driver_for = |dirs: &ProjectDirs| -> Arc<dyn ServiceDriver> {
        Arc::new(Remote {
            dirs: dirs.clone(),
            exe: exe.clone(),
        })
    };
    let renderer = Renderer::new(args.json);
    let reporter = Terminal { json: args.json };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .into_diagnostic()?;
    rt.block_on(watch_loop(
        &path,
        &driver_for,
        &reporter,
        &renderer,
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
    ))
    .into_diagnostic()?;
    if !args.json {
        anstream::eprintln!(
            "stopped watching; services keep running (`facerunner down` stops them)"
        );
    }
    Ok(ExitCode::SUCCESS)
}
