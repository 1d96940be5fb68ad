//! The plan for people: one line per step with its symbol (`+ ~ - -/+`),
//! grouped as services, the daemon's settings, then models per ollama service, in execution
//! order; the fields behind each restart; unmanaged models; checks; and the
//! summary line. Styling goes through anstyle, so `--color never` (or a
//! pipe) gives plain text that snapshot tests compare.

use std::fmt::Write;

use anstyle::AnsiColor;

use super::{Action, Change, Check, Plan, Severity, Step};
use crate::style::{bold, paint};

fn color(change: Change) -> AnsiColor {
    match change {
        Change::Add => AnsiColor::Green,
        Change::Update => AnsiColor::Yellow,
        Change::Replace => AnsiColor::Magenta,
        Change::Remove => AnsiColor::Red,
    }
}

fn step_line(out: &mut String, plan: &Plan, step: &Step) {
    let change = step.action.change();
    let symbol = paint(&format!("{:>3}", change.symbol()), color(change));
    let _ = writeln!(out, "  {symbol} {}  ({})", step.action.title(), step.reason);
    match &step.action {
        Action::RestartService { changes, .. } | Action::UpdateDaemon { changes } => {
            for c in changes {
                let _ = writeln!(out, "        {c}");
            }
        }
        Action::PullModel { source, hf, .. } => {
            if let Some(src) = source {
                let _ = writeln!(out, "        from {src}");
            }
            if let Some(hf) = hf {
                hf_lines(out, hf);
            }
        }
        Action::CreateModel {
            request,
            file,
            changes,
            hf,
            ..
        } => {
            for c in changes {
                let _ = writeln!(out, "        {c}");
            }
            if let Some(hf) = hf {
                hf_lines(out, hf);
            }
            if let Some(from) = &request.from {
                let _ = writeln!(out, "        from {from}");
            }
            if let Some(f) = file {
                let _ = writeln!(out, "        file {f}");
            }
        }
        _ => {}
    }
    if !step.waits_for.is_empty() {
        let after: Vec<String> = step
            .waits_for
            .iter()
            .filter_map(|id| plan.steps.get(*id))
            .map(|s| s.action.title())
            .collect();
        let _ = writeln!(out, "        after: {}", after.join(", "));
    }
}

/// Where an `hf:` model comes from: the source, the file(s), the bytes,
/// the commit, the GPU it was fitted to, and why.
fn hf_lines(out: &mut String, hf: &crate::model::hf_resolve::HfResolution) {
    use crate::model::hf::HfSource;
    use crate::model::hf_resolve::AnsweredBy;
    use crate::model::units::human_bytes;
    let how = match hf.source {
        HfSource::Ollama => format!("Ollama pulls {}", hf.name),
        HfSource::Download => format!("download from Hugging Face, import as {}", hf.name),
    };
    let _ = writeln!(out, "        source: {how}");
    let pin = match &hf.commit {
        Some(c) => format!("{} at {}", hf.revision, c.get(..12).unwrap_or(c)),
        None => format!("{} (commit unknown offline)", hf.revision),
    };
    let _ = writeln!(out, "        repo: {} {pin}", hf.repo);
    if let Some(q) = &hf.quant {
        let _ = writeln!(out, "        quant: {q}");
    }
    if let Some(q) = &hf.quantize {
        let _ = writeln!(out, "        quantize: {q}");
    }
    for f in &hf.files {
        let _ = writeln!(out, "        file: {} ({})", f.path, human_bytes(f.size));
    }
    if hf.bytes > 0 {
        let _ = writeln!(
            out,
            "        download: {} ({} bytes)",
            human_bytes(hf.bytes),
            hf.bytes
        );
    }
    if let Some(g) = &hf.gpu {
        let _ = writeln!(out, "        fits: {g}");
    }
    let who = match hf.answered_by {
        AnsweredBy::Hub => "the Hugging Face Hub",
        AnsweredBy::Table => "FaceRunner's table (offline)",
    };
    let _ = writeln!(out, "        answered by {who}: {}", hf.reason);
}

/// The whole plan as text, ending with the summary line.
pub fn render(plan: &Plan) -> String {
    let mut out = String::new();
    let service_steps: Vec<&Step> = plan
        .steps
        .iter()
        .filter(|s| s.action.model().is_none() && !s.action.is_daemon() && !s.action.is_file())
        .collect();
    if !service_steps.is_empty() {
        let _ = writeln!(out, "{}", bold("Services"));
        for s in service_steps {
            step_line(&mut out, plan, s);
        }
        out.push('\n');
    }
    let daemon_steps: Vec<&Step> = plan.steps.iter().filter(|s| s.action.is_daemon()).collect();
    if !daemon_steps.is_empty() {
        let _ = writeln!(out, "{}", bold("Daemon"));
        for s in daemon_steps {
            step_line(&mut out, plan, s);
        }
        out.push('\n');
    }
    let file_steps: Vec<&Step> = plan.steps.iter().filter(|s| s.action.is_file()).collect();
    if !file_steps.is_empty() {
        let _ = writeln!(out, "{}", bold("Integrations"));
        for s in file_steps {
            step_line(&mut out, plan, s);
        }
        out.push('\n');
    }
    let mut groups: Vec<&str> = plan
        .steps
        .iter()
        .filter(|s| s.action.model().is_some())
        .map(|s| s.action.service())
        .collect();
    groups.dedup();
    for group in groups {
        let _ = writeln!(out, "{}", bold(&format!("Models on {group}")));
        for s in plan
            .steps
            .iter()
            .filter(|s| s.action.model().is_some() && s.action.service() == group)
        {
            step_line(&mut out, plan, s);
        }
        out.push('\n');
    }
    for (service, names) in &plan.unmanaged {
        let _ = writeln!(
            out,
            "{}",
            bold(&format!("Unmanaged models on {service} (not touched)"))
        );
        for n in names {
            let _ = writeln!(out, "      {n}");
        }
        out.push('\n');
    }
    for f in plan
        .fit
        .iter()
        .filter(|f| f.outcome == super::FitOutcome::Fits)
    {
        let gpus: Vec<String> = f.gpus.iter().map(u32::to_string).collect();
        let _ = writeln!(
            out,
            "note: model {} fits on GPU {} ({:.1} GiB of {:.1} GiB free)",
            f.model,
            gpus.join("+"),
            f.estimate.total_bytes() as f64 / (1u64 << 30) as f64,
            f.free_bytes as f64 / (1u64 << 30) as f64,
        );
    }
    if let Some(why) = &plan.fit_skipped {
        let _ = writeln!(out, "note: {why}");
    }
    // Placed models with no step here (already installed) say where they stay.
    for p in &plan.placement {
        let stepped = plan.steps.iter().any(|s| {
            matches!(
                s.action,
                super::Action::PullModel { .. } | super::Action::CreateModel { .. }
            ) && s.action.service() == p.service
                && s.action.model() == Some(p.model.as_str())
        });
        if !stepped {
            let _ = writeln!(out, "note: model {}: {}", p.model, p.reason);
        }
    }
    out.push_str(&render_checks(&plan.checks));
    if !plan.checks.is_empty() {
        out.push('\n');
    }
    let _ = writeln!(out, "{}", bold(&plan.summary()));
    out
}

/// The checks alone, as [`render`] shows them: `error: SUBJECT: MESSAGE`
/// and a `help:` line each (for `up`, which shows no plan but must say
/// why it refused).
pub fn render_checks(checks: &[Check]) -> String {
    let mut out = String::new();
    for c in checks {
        let label = match c.severity {
            Severity::Error => paint("error", AnsiColor::Red),
            Severity::Warning => paint("warning", AnsiColor::Yellow),
            Severity::Note => paint("note", AnsiColor::Cyan),
        };
        let _ = writeln!(out, "{label}: {}: {}", c.subject, c.message);
        if let Some(at) = &c.location {
            let _ = writeln!(out, "  at: {at}");
        }
        let _ = writeln!(out, "  help: {}", c.help);
    }
    out
}
