//! How an apply's progress is shown: one bar per pull on a terminal, plain
//! lines otherwise, NDJSON with `--json` ([`Renderer`]), and the closing
//! [`summary`]. Shared by `apply`, `up`, `pull`, `rm` and `watch`.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::execute::{ExecEvent, Outcome, Report, Sink};
use crate::style::paint;

pub(crate) fn json_line(v: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

/// The closing summary; exit 1 when anything failed.
pub(crate) fn summary(report: &Report, json: bool) -> ExitCode {
    let (ok, failed, skipped) = report.counts();
    if json {
        json_line(&serde_json::json!({
            "event": "summary", "succeeded": ok, "failed": failed, "skipped": skipped
        }));
    } else {
        for (_, title, outcome) in &report.steps {
            match outcome {
                Outcome::Failed(error) => {
                    anstream::eprintln!(
                        "{} {title}: {error}",
                        paint("failed:", anstyle::AnsiColor::Red)
                    );
                    if let Some(help) = &error.help {
                        anstream::eprintln!("  help: {help}");
                    }
                }
                Outcome::Skipped { because } => {
                    anstream::eprintln!("skipped: {title} (step {because} did not succeed)");
                }
                Outcome::Succeeded => {}
            }
        }
        let line = format!("Apply finished: {ok} succeeded, {failed} failed, {skipped} skipped.");
        let color = if failed + skipped == 0 {
            anstyle::AnsiColor::Green
        } else {
            anstyle::AnsiColor::Red
        };
        anstream::println!("{}", paint(&line, color));
    }
    if report.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Renders engine events: NDJSON, progress bars on a terminal, or lines.
pub(crate) enum Renderer {
    /// `--json`.
    Json,
    /// A terminal: one bar per running step.
    Bars {
        multi: MultiProgress,
        bars: Mutex<HashMap<usize, ProgressBar>>,
    },
    /// A pipe or file.
    Lines,
}

impl Renderer {
    pub(crate) fn new(json: bool) -> Renderer {
        if json {
            Renderer::Json
        } else if std::io::stderr().is_terminal() {
            Renderer::Bars {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                bars: Mutex::new(HashMap::new()),
            }
        } else {
            Renderer::Lines
        }
    }
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {prefix} {msg}").expect("a valid template")
}

fn bytes_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{spinner} {prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}",
    )
    .expect("a valid template")
    .progress_chars("=> ")
}

impl Sink for Renderer {
    fn event(&self, event: &ExecEvent) {
        match self {
            Renderer::Json => json_line(&serde_json::to_value(event).expect("events serialize")),
            Renderer::Lines => lines(event),
            Renderer::Bars { multi, bars } => {
                let mut bars = bars.lock().unwrap_or_else(|p| p.into_inner());
                match event {
                    ExecEvent::WaitingForLock { holder } => {
                        let _ = multi.println(format!(
                            "waiting for another apply (pid {holder}) to finish…"
                        ));
                    }
                    ExecEvent::StepStarted { id, title } => {
                        let bar = multi.add(ProgressBar::new_spinner());
                        bar.set_style(spinner_style());
                        bar.set_prefix(title.clone());
                        bar.enable_steady_tick(Duration::from_millis(120));
                        bars.insert(*id, bar);
                    }
                    ExecEvent::Progress {
                        id,
                        status,
                        completed,
                        total,
                    } => {
                        if let Some(bar) = bars.get(id) {
                            if let (Some(done), Some(total)) = (completed, total) {
                                if bar.length() != Some(*total) {
                                    bar.set_style(bytes_style());
                                    bar.set_length(*total);
                                }
                                bar.set_position(*done);
                            }
                            bar.set_message(status.clone());
                        }
                    }
                    ExecEvent::StepFinished { id, title, outcome } => {
                        let line = finished_line(title, outcome);
                        match bars.remove(id) {
                            Some(bar) => {
                                bar.set_style(
                                    ProgressStyle::with_template("{msg}")
                                        .expect("a valid template"),
                                );
                                bar.finish_with_message(line);
                            }
                            // Skipped steps never started: no bar to finish.
                            None => {
                                let _ = multi.println(line);
                            }
                        }
                    }
                }
            }
        }
    }
}

fn finished_line(title: &str, outcome: &Outcome) -> String {
    match outcome {
        Outcome::Succeeded => format!("{} {title}", paint("✔", anstyle::AnsiColor::Green)),
        Outcome::Failed(error) => {
            format!("{} {title}: {error}", paint("✘", anstyle::AnsiColor::Red))
        }
        Outcome::Skipped { because } => format!(
            "{} {title}: skipped, step {because} did not succeed",
            paint("-", anstyle::AnsiColor::Yellow)
        ),
    }
}

fn lines(event: &ExecEvent) {
    match event {
        ExecEvent::WaitingForLock { holder } => {
            anstream::eprintln!("waiting for another apply (pid {holder}) to finish…");
        }
        ExecEvent::StepStarted { title, .. } => anstream::eprintln!("→ {title}"),
        ExecEvent::Progress { .. } => {}
        ExecEvent::StepFinished { title, outcome, .. } => {
            anstream::eprintln!("{}", finished_line(title, outcome));
        }
    }
}
