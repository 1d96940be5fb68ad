//! `facerunner logs [SERVICE...] [-f|--follow] [-n N] [--since DURATION] [--json]`:
//! read the service logs from their files (no daemon needed), each line
//! prefixed with its service in a colour of its own, merged by time;
//! `--follow` keeps printing, across rotations.
//!
//! `-f` after `logs` follows, as in compose; `-f FILE` before the command picks the file.

use crate::model::spec::expand_groups;
use crate::model::units::parse_duration;
use std::future::Future;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use miette::{IntoDiagnostic, miette};

use crate::cli::Global;
use crate::cli::daemon::{project_dirs, runtime};
use crate::paths::ProjectDirs;
use crate::style::paint;
use crate::supervisor::logread::{self, Follower, LogLine};

/// Arguments of `facerunner logs`.
#[derive(Debug, Clone, clap::Args)]
pub struct LogsArgs {
    /// Services; all when none.
    pub services: Vec<String>,
    /// Keep printing new lines.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Only the last N lines of each service.
    #[arg(short = 'n', long = "tail", value_name = "N")]
    pub tail: Option<usize>,
    /// Only lines newer than this (e.g. 30s, 10m, 2h, 1d).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub since: Option<Duration>,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

/// Run `facerunner logs`.
pub fn run(global: &Global, args: LogsArgs) -> miette::Result<ExitCode> {
    let dirs = project_dirs(global)?;
    runtime()?.block_on(follow_until(
        global,
        &dirs,
        &args,
        std::future::pending::<std::io::Result<()>>(),
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// A named service must have a log or be in the file (which may be mid-edit:
/// then only a log counts). `logs nosuch` is an error, not silence.
fn check_known(global: &Global, dirs: &ProjectDirs, names: &[String]) -> miette::Result<()> {
    let logged = logread::services_in(&dirs.logs);
    let declared: Vec<String> = std::env::current_dir()
        .ok()
        .and_then(|cwd| crate::config::discover(global.file.as_deref(), &cwd).ok())
        .and_then(|path| crate::config::load(&path).ok())
        .map(|l| l.config.services.keys().cloned().collect())
        .unwrap_or_default();
    let unknown: Vec<&String> = names
        .iter()
        .filter(|n| !logged.contains(n) && !declared.contains(n))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let mut known: Vec<&String> = logged.iter().chain(&declared).collect();
    known.sort();
    known.dedup();
    Err(miette!(
        help = format!(
            "services of project {}: {}",
            dirs.project,
            known
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        "no service named {} in project {}",
        unknown
            .iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", "),
        dirs.project
    ))
}

/// Print the selected logs, then (with `follow`) new lines until `stop` resolves.
pub(crate) async fn follow_until<F: Future>(
    global: &Global,
    dirs: &ProjectDirs,
    args: &LogsArgs,
    stop: F,
) -> miette::Result<()> {
    let services = if args.services.is_empty() {
        logread::services_in(&dirs.logs)
    } else {
        let names = expand_groups(&logread::services_in(&dirs.logs), &args.services);
        check_known(global, dirs, &names)?;
        names
    };
    let width = services.iter().map(String::len).max().unwrap_or(0);
    let cutoff = args.since.map(|d| cutoff(SystemTime::now(), d));
    let mut lines: Vec<LogLine> = Vec::new();
    let mut followers = Vec::new();
    for (i, svc) in services.iter().enumerate() {
        let path = dirs.log_file(svc);
        let mut mine = logread::read_all(svc, &path, 100).into_diagnostic()?;
        mine.retain(|l| cutoff.is_none_or(|c| l.time.is_none_or(|t| t >= c)));
        if let Some(n) = args.tail {
            mine.drain(..mine.len().saturating_sub(n));
        }
        lines.extend(mine);
        followers.push((svc.clone(), i, Follower::at_end(&path)));
    }
    if services.is_empty() && !args.follow {
        return Err(miette!(
            help = "services write logs once `facerunner up` started them",
            "no logs yet for project {}",
            dirs.project
        ));
    }
    lines.sort_by_key(|l| l.time);
    let index = |name: &str| services.iter().position(|s| s == name).unwrap_or(0);
    for l in &lines {
        print_line(l, index(&l.service), width, args.json)?;
    }
    if !args.follow {
        return Ok(());
    }
    tokio::pin!(stop);
    loop {
        for (svc, i, f) in &mut followers {
            for raw in f.poll() {
                print_line(&logread::parse_line(svc, &raw), *i, width, args.json)?;
            }
        }
        tokio::select! {
            _ = &mut stop => return Ok(()),
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}

fn print_line(l: &LogLine, index: usize, width: usize, json: bool) -> miette::Result<()> {
    use anstyle::AnsiColor::{Blue, Cyan, Green, Magenta, Red, Yellow};
    if json {
        println!("{}", serde_json::to_string(l).into_diagnostic()?);
        return Ok(());
    }
    let colors = [Cyan, Yellow, Green, Magenta, Blue, Red];
    let prefix = paint(
        &format!("{:<width$} |", l.service),
        colors[index % colors.len()],
    );
    let text = if l.stream == "fr" {
        format!("[facerunner] {}", l.text)
    } else {
        l.text.clone()
    };
    anstream::println!("{prefix} {text}");
    Ok(())
}

/// The earliest time `--since` shows: `since` before `now`, or the start
/// of the epoch when that is further back than the clock goes.
pub fn cutoff(now: SystemTime, since: Duration) -> SystemTime {
    now.checked_sub(since)
        .filter(|t| *t >= SystemTime::UNIX_EPOCH)
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_the_file_s_duration_grammar() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("ten").is_err());
    }

    #[test]
    fn huge_durations_do_not_overflow() {
        let e = parse_duration("99999999d").expect_err("too long");
        assert!(e.contains("too long"), "{e}");
        assert!(parse_duration("99999999999999999d").is_err());
        let far = Duration::from_secs(1_000_000_000);
        assert!(
            cutoff(SystemTime::UNIX_EPOCH + Duration::from_secs(5), far) == SystemTime::UNIX_EPOCH
        );
        let now = SystemTime::now();
        assert_eq!(
            cutoff(now, Duration::from_secs(60)) + Duration::from_secs(60),
            now
        );
    }
}
