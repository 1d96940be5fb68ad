//! `facerunner apply [--yes] [--json] [PLANFILE]`: make the live world
//! match the file.
//!
//! The plan is shown first; on a terminal `apply` asks before changing
//! anything, and without one it refuses unless `--yes` is given (a script
//! must say what it means). Progress goes to stderr: one bar per pull on a
//! terminal, plain lines otherwise; `--json` prints NDJSON events on stdout
//! instead. Exit 1 when any step failed; the summary says which.

use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use miette::{IntoDiagnostic, WrapErr, miette};

use crate::cli::Global;
use crate::cli::daemon::runtime;
use crate::cli::output::paint;
use crate::config::resolve::Secrets;
use crate::execute::{
    Applied, ApplyError, ApplyOptions, ExecEvent, Outcome, Report, Sink, apply_project,
};
use crate::plan::Plan;
use crate::plan::render::render;

/// Arguments of `facerunner apply`.
#[derive(Debug, Clone, clap::Args)]
pub struct ApplyArgs {
    /// Apply without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Print NDJSON events on stdout (implies no prompt: use with --yes).
    #[arg(long)]
    pub json: bool,
    /// A plan saved with `facerunner plan --out FILE`.
    pub planfile: Option<PathBuf>,
}

/// Run `facerunner apply`.
pub fn run(global: &Global, args: ApplyArgs) -> miette::Result<ExitCode> {
    let saved = args.planfile.as_ref().map(read_plan).transpose()?;
    let (spec, dirs, loaded) = crate::config::project::load_project_with(global, Secrets::Create)?;
    let exe = std::env::current_exe().into_diagnostic()?;
    let opts = ApplyOptions {
        exe,
        saved,
        pull_concurrency: 3,
    };
    let sink = Renderer::new(args.json);
    let mut refused_no_tty = false;
    let review = |plan: &Plan| {
        if args.json {
            json_line(&serde_json::json!({"event": "plan", "plan": plan}));
        } else {
            anstream::print!("{}", render(plan));
        }
        if plan.is_empty() || plan.has_errors() || args.yes {
            return true;
        }
        if !std::io::stdin().is_terminal() {
            refused_no_tty = true;
            return false;
        }
        confirm()
    };
    let result = runtime()?.block_on(apply_project(&loaded, &spec, &dirs, opts, &sink, review));
    match result {
        Ok(Applied::NoChanges(_)) => {
            if args.json {
                json_line(&serde_json::json!({
                    "event": "summary", "succeeded": 0, "failed": 0, "skipped": 0
                }));
            }
            Ok(ExitCode::SUCCESS)
        }
        Ok(Applied::Ran { report, .. }) => Ok(summary(&report, args.json)),
        Err(ApplyError::Declined) if refused_no_tty => Err(miette!(
            help = "pass --yes to apply without confirmation",
            "stdin is not a terminal, so apply cannot ask; nothing was changed"
        )),
        Err(e @ ApplyError::Stale { .. }) => Err(miette!(
            help = "run `facerunner plan --out FILE` again and review the new plan",
            "{e}"
        )),
        Err(e @ ApplyError::Checks { .. }) => {
            Err(miette!(help = "fix the errors listed above", "{e}"))
        }
        Err(e) => Err(miette!(help = "nothing was changed", "{e}")),
    }
}

fn read_plan(path: &PathBuf) -> miette::Result<Plan> {
    let text = std::fs::read_to_string(path)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot read the plan {}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        miette!(
            help = "save a plan with `facerunner plan --out FILE`",
            "{} is not a saved plan: {e}",
            path.display()
        )
    })
}

fn confirm() -> bool {
    anstream::eprint!("Apply these changes? Only 'yes' is accepted: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).is_ok() && line.trim() == "yes"
}

fn json_line(v: &serde_json::Value) {
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
                Outcome::Failed { error } => {
                    anstream::eprintln!(
                        "{} {title}: {error}",
                        paint("failed:", anstyle::AnsiColor::Red)
                    );
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
        Outcome::Failed { error } => {
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
