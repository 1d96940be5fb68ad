//! The `facerunner` binary: parse arguments, run, map the result to an exit
//! code (0 ok, 1 error, 2 changes pending with `plan --detailed-exitcode`).

use std::process::ExitCode;

use clap::Parser;
use facerunner::cli::{Cli, Command, dispatch};
use facerunner::style;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(
        cli.command,
        Command::Daemon(_) | Command::Shim(_) | Command::Gateway(_)
    ) {
        // A reader that goes away (`facerunner logs | head`) ends a command
        // quietly, like any Unix tool. The daemon and the shim keep Rust's
        // default (ignore SIGPIPE): a client hanging up must not kill them
        // (nor the gateway, whose clients hang up mid-stream).
        // SAFETY: called before any thread is started; SIG_DFL is a valid disposition.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    style::init(cli.global.color);
    match dispatch(cli) {
        Ok(code) => code,
        Err(report) => {
            if is_broken_pipe(&report) {
                return ExitCode::SUCCESS;
            }
            anstream::eprintln!("{report:?}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(report: &miette::Report) -> bool {
    report
        .chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}
