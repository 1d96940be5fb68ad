//! `facerunner status [--json]`: one aligned line per service — state,
//! health, pid, uptime, restarts, port, CPU%, RSS — and, for failing
//! services, the last exit and log tail. Without a daemon: nothing runs.

use crate::model::units::human_bytes;
use std::process::ExitCode;
use std::time::SystemTime;

use miette::IntoDiagnostic;

use crate::cli::Global;
use crate::cli::daemon::{connect, project_dirs, report, runtime};
use crate::model::wire::{Lifecycle, Request, Response, ServiceStatus, StatusReport};
use crate::style::paint;

/// Arguments of `facerunner status`.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Run `facerunner status`.
pub fn run(global: &Global, args: StatusArgs) -> miette::Result<ExitCode> {
    let dirs = project_dirs(global)?;
    runtime()?.block_on(async {
        let report_ = match connect(&dirs).await? {
            Some(c) => match c.request(&Request::Status, |_| {}).await.map_err(report)? {
                Response::Status(r) => Some(r),
                _ => None,
            },
            None => None,
        };
        match (report_, args.json) {
            (Some(r), true) => println!("{}", serde_json::to_string_pretty(&r).into_diagnostic()?),
            (None, true) => println!(
                "{}",
                serde_json::json!({"project": dirs.project, "daemon_pid": null, "services": []})
            ),
            (Some(r), false) if !r.services.is_empty() => {
                print_table(&r);
                print_gpus(&r);
                for line in gateway_lines(&r) {
                    println!("{line}");
                }
                for line in dashboard_lines(&r) {
                    println!("{line}");
                }
                print_containment(&r);
                print_watch(&r);
                print_log_trouble(&r);
            }
            (_, false) => println!("nothing is running for project {}", dirs.project),
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Each service's GPUs: memory in use of the total (the service's own
/// share), utilization. Nothing on a machine without GPUs.
fn print_gpus(r: &StatusReport) {
    for line in gpu_lines(r) {
        println!("{line}");
    }
}

fn gpu_lines(r: &StatusReport) -> Vec<String> {
    r.services
        .iter()
        .filter(|s| !s.gpus.is_empty())
        .map(|s| {
            let gpus: Vec<String> = s
                .gpus
                .iter()
                .map(|g| {
                    let mut t = format!(
                        "{} {} {}/{}",
                        g.index,
                        if g.name.is_empty() { &g.uuid } else { &g.name },
                        human_bytes(g.memory_used_bytes),
                        human_bytes(g.memory_total_bytes)
                    );
                    if g.service_memory_bytes > 0 {
                        t.push_str(&format!(
                            " ({} its own)",
                            human_bytes(g.service_memory_bytes)
                        ));
                    }
                    if let Some(u) = g.utilization_percent {
                        t.push_str(&format!(" {u}% busy"));
                    }
                    t
                })
                .collect();
            format!("gpu: {}: {}", s.name, gpus.join("; "))
        })
        .collect()
}

/// Each running gateway: where its token is (never the token), and per
/// backend its health, requests in flight, total and failed, and models.
fn gateway_lines(r: &StatusReport) -> Vec<String> {
    let mut out = Vec::new();
    for s in &r.services {
        let Some(g) = &s.gateway else { continue };
        let token = g
            .token_file
            .as_ref()
            .map(|t| format!(" (requires its token, in {})", t.display()))
            .unwrap_or_default();
        if !g.answered {
            out.push(format!(
                "gateway {}{token}: not answering ({})",
                s.name,
                g.error.as_deref().unwrap_or("no reason given")
            ));
            continue;
        }
        out.push(format!("gateway {}{token}:", s.name));
        for b in &g.backends {
            let health = if b.healthy {
                "healthy".to_string()
            } else {
                format!("DOWN ({})", b.error.as_deref().unwrap_or("no answer"))
            };
            let models = if b.healthy {
                let loaded = if b.loaded.is_empty() {
                    String::new()
                } else {
                    format!("; loaded: {}", b.loaded.join(", "))
                };
                format!(
                    "models: {}{loaded}",
                    if b.models.is_empty() {
                        "none".into()
                    } else {
                        b.models.join(", ")
                    }
                )
            } else {
                "its models are unavailable".into()
            };
            out.push(format!(
                "  {} {health}: {} in flight, {} served, {} failed; {models}",
                b.name, b.in_flight, b.total, b.errors
            ));
        }
    }
    out
}

/// Each running dashboard with webhooks: their delivery failures (the
/// latest few), or that it did not answer. Nothing for a dashboard without
/// webhooks.
fn dashboard_lines(r: &StatusReport) -> Vec<String> {
    /// Failures listed; the rest are counted.
    const SHOWN: usize = 5;
    let mut out = Vec::new();
    for s in &r.services {
        let Some(d) = &s.dashboard else { continue };
        if !d.answered {
            out.push(format!(
                "dashboard {}: not answering, its webhook failures are unknown ({})",
                s.name,
                d.error.as_deref().unwrap_or("no reason given")
            ));
            continue;
        }
        if d.webhooks == 0 && d.webhook_failures.is_empty() {
            continue;
        }
        let f = &d.webhook_failures;
        if f.is_empty() {
            out.push(format!(
                "webhooks ({}, by dashboard {}): no failed deliveries",
                d.webhooks, s.name
            ));
            continue;
        }
        out.push(format!(
            "webhooks ({}, by dashboard {}): {} failed deliver{} (see /api/v1/webhooks):",
            d.webhooks,
            s.name,
            f.len(),
            if f.len() == 1 { "y" } else { "ies" }
        ));
        if f.len() > SHOWN {
            out.push(format!("  … {} earlier", f.len() - SHOWN));
        }
        for x in &f[f.len().saturating_sub(SHOWN)..] {
            out.push(format!(
                "  {} {} event to {} after {} attempt{}: {}",
                x.at,
                x.event,
                x.url,
                x.attempts,
                if x.attempts == 1 { "" } else { "s" },
                x.error
            ));
        }
    }
    out
}

/// Which containment keeps each running service's processes together.
fn print_containment(r: &StatusReport) {
    let running: Vec<String> = r
        .services
        .iter()
        .filter_map(|s| Some(format!("{} ({})", s.name, s.containment.as_ref()?)))
        .collect();
    if !running.is_empty() {
        println!("containment: {}", running.join(", "));
    }
}

/// Logs whose lines are being dropped, with what to do.
fn print_log_trouble(r: &StatusReport) {
    for t in &r.log_trouble {
        anstream::println!(
            "{}",
            paint(
                &format!(
                    "warning: cannot write {}: {} — {} lines dropped since {}; \
                     free space there, logging resumes by itself",
                    t.file.display(),
                    t.error,
                    t.dropped_lines,
                    crate::supervisor::logs::format_time(t.since)
                ),
                anstyle::AnsiColor::Yellow
            )
        );
    }
}

/// The watch-mode line: whether the daemon watches the file, and the last
/// automatic apply.
fn print_watch(r: &StatusReport) {
    println!("{}", watch_line(r.watch.as_ref()));
}

fn watch_line(w: Option<&crate::model::wire::WatchStatus>) -> String {
    let Some(w) = w else {
        return "watch: off".into();
    };
    if let Some(why) = &w.failed {
        return format!(
            "watch: failed ({why}); saves are not applied until the next `apply` or `up` ({})",
            w.file.display()
        );
    }
    match &w.last {
        None => format!("watch: on ({}); no automatic apply yet", w.file.display()),
        Some(last) => format!(
            "watch: on ({}); last automatic apply {}: {} — {}",
            w.file.display(),
            crate::supervisor::logs::format_time(last.at),
            if last.ok { "ok" } else { "FAILED" },
            last.summary
        ),
    }
}

fn print_table(r: &StatusReport) {
    let header = [
        "NAME", "KIND", "STATE", "HEALTH", "PID", "UPTIME", "RESTARTS", "PORT", "CPU%", "RSS",
    ];
    let rows: Vec<[String; 10]> = r.services.iter().map(row).collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: [&str; 10]| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        s
    };
    println!("{}", line(header));
    for (svc, row) in r.services.iter().zip(&rows) {
        let text = line(row.each_ref().map(String::as_str));
        let color = match &svc.state {
            Lifecycle::Running { .. } if svc.state.is_ready() => anstyle::AnsiColor::Green,
            Lifecycle::Running { .. } | Lifecycle::Starting { .. } | Lifecycle::Backoff { .. } => {
                anstyle::AnsiColor::Yellow
            }
            Lifecycle::Failed { .. } => anstyle::AnsiColor::Red,
            Lifecycle::Exited { exit } if !exit.is_success() => anstyle::AnsiColor::Red,
            _ => anstyle::AnsiColor::White,
        };
        anstream::println!("{}", paint(&text, color));
    }
    for svc in r
        .services
        .iter()
        .filter(|s| !s.log_tail.is_empty() || matches!(s.state, Lifecycle::Failed { .. }))
    {
        let why = match &svc.state {
            Lifecycle::Failed { reason, .. } => reason.clone(),
            _ => svc
                .last_exit
                .as_ref()
                .map(|e| format!("last {e}"))
                .unwrap_or_default(),
        };
        anstream::println!("\n{}: {why}", svc.name);
        for l in &svc.log_tail {
            println!("  {l}");
        }
    }
}

fn row(s: &ServiceStatus) -> [String; 10] {
    let dash = || "-".to_string();
    let (health, uptime) = match &s.state {
        Lifecycle::Running {
            health, started_at, ..
        } => (health.word().to_string(), since(*started_at)),
        _ => (dash(), dash()),
    };
    let state = match (&s.state, &s.last_exit) {
        (Lifecycle::Exited { exit }, _) => format!(
            "exited ({})",
            exit.code.map_or_else(
                || format!("sig {}", exit.signal.unwrap_or(0)),
                |c| c.to_string()
            )
        ),
        (Lifecycle::Backoff { attempt, .. }, Some(e)) => format!("restarting #{attempt} ({e})"),
        (other, _) => other.word().to_string(),
    };
    [
        s.name.clone(),
        s.kind.clone(),
        state,
        health,
        s.state.pid().map_or_else(dash, |p| p.to_string()),
        uptime,
        s.restarts.to_string(),
        s.port.map_or_else(dash, |p| p.to_string()),
        s.cpu_percent.map_or_else(dash, |c| format!("{c:.1}")),
        s.rss_bytes.map_or_else(dash, human_bytes),
    ]
}

fn since(t: SystemTime) -> String {
    let secs = SystemTime::now()
        .duration_since(t)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{}s", secs / 60, secs % 60),
        3600..86400 => format!("{}h{}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d{}h", secs / 86400, secs % 86400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::wire::WatchStatus;

    #[test]
    fn gpu_lines_show_memory_and_utilization_and_nothing_without_gpus() {
        let json = serde_json::json!({
            "project": "p", "daemon_pid": 1,
            "services": [{
                "name": "llm", "kind": "ollama", "state": {"state": "stopped"}, "restarts": 0,
                "last_exit": null, "log_tail": [], "port": null, "cpu_percent": null,
                "rss_bytes": null,
                "gpus": [{"index": 0, "uuid": "GPU-a", "name": "H100",
                          "memory_used_bytes": 8589934592u64, "memory_total_bytes": 85899345920u64,
                          "service_memory_bytes": 4294967296u64, "utilization_percent": 42}]
            }]
        });
        let mut r: StatusReport = serde_json::from_value(json).expect("report");
        assert_eq!(
            gpu_lines(&r),
            ["gpu: llm: 0 H100 8.0GiB/80.0GiB (4.0GiB its own) 42% busy"]
        );
        r.services[0].gpus.clear();
        assert!(gpu_lines(&r).is_empty());
    }

    #[test]
    fn gateway_lines_show_each_backend_its_token_file_and_a_silent_gateway() {
        let json = serde_json::json!({
            "project": "p", "daemon_pid": 1,
            "services": [{
                "name": "gw", "kind": "gateway", "state": {"state": "stopped"}, "restarts": 0,
                "last_exit": null, "log_tail": [], "port": 11433, "cpu_percent": null,
                "rss_bytes": null,
                "gateway": {"answered": true, "token_file": "/s/gw.gateway_token", "backends": [
                    {"name": "a", "url": "http://a", "healthy": true, "in_flight": 1,
                     "total": 5, "errors": 0, "models": ["m:1b", "s:1b"], "loaded": ["s:1b"]},
                    {"name": "b", "url": "http://b", "healthy": false, "error": "refused",
                     "in_flight": 0, "total": 2, "errors": 1, "models": [], "loaded": []}
                ]}
            }, {
                "name": "gw2", "kind": "gateway", "state": {"state": "stopped"}, "restarts": 0,
                "last_exit": null, "log_tail": [], "port": 11434, "cpu_percent": null,
                "rss_bytes": null,
                "gateway": {"answered": false, "error": "timed out", "backends": []}
            }]
        });
        let r: StatusReport = serde_json::from_value(json).expect("report");
        assert_eq!(
            gateway_lines(&r),
            [
                "gateway gw (requires its token, in /s/gw.gateway_token):",
                "  a healthy: 1 in flight, 5 served, 0 failed; models: m:1b, s:1b; loaded: s:1b",
                "  b DOWN (refused): 0 in flight, 2 served, 1 failed; its models are unavailable",
                "gateway gw2: not answering (timed out)",
            ]
        );
    }

    #[test]
    fn a_failed_watcher_says_so() {
        let mut w = WatchStatus {
            file: "/p/facerunner.yaml".into(),
            last: None,
            failed: None,
        };
        assert!(watch_line(Some(&w)).starts_with("watch: on"));
        w.failed = Some("the watch loop panicked: boom".into());
        let line = watch_line(Some(&w));
        assert!(
            line.starts_with("watch: failed (the watch loop panicked: boom)"),
            "{line}"
        );
    }
}
