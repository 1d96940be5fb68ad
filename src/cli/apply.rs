//! `facerunner apply [--yes] [--json] [PLANFILE]`: make the live world
//! match the file.
//!
//! The plan is shown first; on a terminal `apply` asks before changing
//! anything, and without one it refuses unless `--yes` is given (a script
//! must say what it means). Progress goes to stderr: one bar per pull on a
//! terminal, plain lines otherwise; `--json` prints NDJSON events on stdout
//! instead. Exit 1 when any step failed; the summary says which.
//!
//! Planning and the review happen here, in the CLI; execution happens in
//! the project's daemon (started when none runs), which re-checks the plan
//! against the file and the live state under the apply lock, runs it with
//! the one executor that watch mode shares, and streams the engine's
//! events back ([`apply_in_daemon`]). Interrupting `apply` while it runs
//! does not stop the daemon's apply; see `supervisor::handler::apply`.

use std::cell::Cell;
use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use miette::{IntoDiagnostic, WrapErr, miette};

use crate::cli::Global;
use crate::cli::daemon::{report, runtime};
use crate::cli::project::{load_error, load_project_with};
use crate::client::ensure_daemon;
use crate::config::interpolate::Vars;
use crate::config::load::read_dotenv;
use crate::config::resolve::Secrets;
use crate::execute::lock::wait_until_free;
use crate::execute::prepare::prepare;
use crate::execute::{Applied, ApplyError, ExecEvent, Outcome, Report, Sink, check_saved};
use crate::model::wire::{ErrorKind, Request, Response};
use crate::plan::render::render;
use crate::plan::{Plan, Severity};
use crate::style::paint;
use crate::supervisor::SupervisorError;

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
    let saved = args.planfile.as_deref().map(read_plan).transpose()?;
    let from_file = saved.is_some();
    let sink = Renderer::new(args.json);
    let refused_no_tty = Cell::new(false);
    let review = |plan: &Plan| {
        if args.json {
            json_line(&serde_json::json!({"event": "plan", "plan": plan}));
        } else {
            anstream::print!("{}", render(plan));
        }
        // A saved plan was reviewed when it was made (terraform's rule);
        // it runs only if a fresh plan equals it.
        if plan.is_empty() || plan.has_errors() || args.yes || from_file {
            return true;
        }
        if !std::io::stdin().is_terminal() {
            refused_no_tty.set(true);
            return false;
        }
        confirm()
    };
    let result = runtime()?.block_on(apply_in_daemon(global, saved, &sink, review));
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
        Err(Failure::Apply(ApplyError::Declined)) if refused_no_tty.get() => Err(miette!(
            help = "pass --yes to apply without confirmation",
            "stdin is not a terminal, so apply cannot ask; nothing was changed"
        )),
        Err(e) => Err(e.into_report(from_file)),
    }
}

/// Why an apply through the daemon did not run.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Refused here, before the daemon was asked (stale saved plan, errors
    /// in the checks, declined).
    Apply(ApplyError),
    /// The daemon refused it (a typed `WireError` inside), or could not
    /// be reached.
    Daemon(SupervisorError),
    /// The project file did not load; its diagnostics are printed.
    Load(miette::Report),
}

impl Failure {
    /// The report to print; `from_file`: the plan came from `apply PLANFILE`.
    pub(crate) fn into_report(self, from_file: bool) -> miette::Report {
        let replan = if from_file {
            "run `facerunner plan --out FILE` again and review the new plan"
        } else {
            "run `facerunner apply` again and review the new plan"
        };
        match self {
            Failure::Apply(e @ (ApplyError::Stale { .. } | ApplyError::Differs { .. })) => {
                miette!(help = replan, "{e}")
            }
            Failure::Apply(e @ ApplyError::Invalid(_)) => miette!(
                help =
                    "make the plan again with `facerunner plan --out FILE`; do not edit it by hand",
                "{e}"
            ),
            Failure::Apply(e @ ApplyError::Checks { .. }) => {
                miette!(help = "fix the errors listed above", "{e}")
            }
            Failure::Apply(e) => miette!(help = "nothing was changed", "{e}"),
            Failure::Daemon(SupervisorError::Remote(w)) if w.kind == ErrorKind::StalePlan => {
                miette!(help = replan, "{w}")
            }
            Failure::Daemon(e) => report(e),
            Failure::Load(r) => r,
        }
    }
}

/// How many times a fresh plan is made again when the daemon finds it
/// stale (another apply, or an edit, landed between planning and running).
const FRESH_PLAN_TRIES: usize = 3;

/// Load the project, wait for any running apply, observe and plan here;
/// call `review` with the plan (`false` declines) and send the confirmed
/// plan to the project's daemon (started when none runs), which executes
/// it and streams its events into `sink`.
///
/// The daemon refuses a plan whose file or live state moved since it was
/// made. A `saved` plan then fails, as `apply PLANFILE` must; a fresh one
/// is made again and reviewed again, a few times, so that two applies
/// started together behave as before: the second plans against the world
/// the first left.
pub(crate) async fn apply_in_daemon(
    global: &Global,
    saved: Option<Plan>,
    sink: &dyn Sink,
    mut review: impl FnMut(&Plan) -> bool,
) -> Result<Applied, Failure> {
    let exe = std::env::current_exe()
        .map_err(|e| Failure::Daemon(SupervisorError::io("find", "our executable", e)))?;
    let mut tries = 0;
    loop {
        tries += 1;
        let (spec, dirs, loaded) =
            load_project_with(global, Secrets::Create).map_err(Failure::Load)?;
        let dotenv =
            read_dotenv(&loaded.base_dir.join(".env")).map_err(|e| Failure::Load(load_error(e)))?;
        let vars = Vars::from_env_over(dotenv);
        // Wait for an apply in progress, so this one plans against the world
        // it leaves; the daemon takes the lock to execute.
        wait_until_free(&dirs.state, |holder| {
            sink.event(&ExecEvent::WaitingForLock {
                holder: holder.to_string(),
            });
        })
        .await
        .map_err(|source| {
            Failure::Apply(ApplyError::Lock {
                path: dirs.state.clone(),
                source,
            })
        })?;
        let prepared = prepare(&loaded, &spec, &dirs)
            .await
            .map_err(|e| Failure::Apply(e.into()))?;
        let plan = match &saved {
            Some(saved) => {
                check_saved(saved, &prepared.plan).map_err(Failure::Apply)?;
                saved.clone()
            }
            None => prepared.plan,
        };
        let go = review(&plan);
        let errors = plan
            .checks
            .iter()
            .filter(|c| c.severity == Severity::Error)
            .count();
        if errors > 0 {
            return Err(Failure::Apply(ApplyError::Checks { count: errors }));
        }
        if plan.is_empty() {
            return Ok(Applied::NoChanges(plan));
        }
        if !go {
            return Err(Failure::Apply(ApplyError::Declined));
        }
        let client = ensure_daemon(&dirs, &exe).await.map_err(Failure::Daemon)?;
        let request = Request::Apply {
            config: loaded.file.path.clone(),
            vars: vars.map,
            plan: Box::new(plan.clone()),
        };
        let answer = client
            .request_streaming(&request, |r| {
                if let Response::Exec(e) = r {
                    sink.event(e);
                }
            })
            .await;
        match answer {
            Ok(Response::Applied { report }) => return Ok(Applied::Ran { plan, report }),
            Ok(Response::NoChanges) => return Ok(Applied::NoChanges(plan)),
            Ok(other) => {
                return Err(Failure::Daemon(SupervisorError::Protocol(format!(
                    "unexpected answer to apply: {other:?}"
                ))));
            }
            Err(SupervisorError::Remote(w))
                if w.kind == ErrorKind::StalePlan
                    && saved.is_none()
                    && tries < FRESH_PLAN_TRIES =>
            {
                anstream::eprintln!(
                    "the plan went stale before it ran ({}); planning again",
                    w.message
                );
            }
            Err(e) => return Err(Failure::Daemon(e)),
        }
    }
}

fn read_plan(path: &std::path::Path) -> miette::Result<Plan> {
    // Bounded; a FIFO or device is refused without blocking.
    let text = crate::safefs::read_bounded(path, 64 << 20)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot read the plan {}", path.display()))?;
    let plan: Plan = serde_json::from_slice(&text).map_err(|e| {
        miette!(
            help = "save a plan with `facerunner plan --out FILE`",
            "{} is not a saved plan: {e}",
            path.display()
        )
    })?;
    plan.validate().map_err(|e| {
        miette!(
            help = "make the plan again with `facerunner plan --out FILE`; do not edit it by hand",
            "{} is not a valid plan: {e}; nothing was changed",
            path.display()
        )
    })?;
    Ok(plan)
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
