//! The `facerunner` binary: parse arguments, run, map the result to an exit
//! code (0 ok, 1 error, 2 changes pending with `plan --detailed-exitcode`).

use std::process::ExitCode;

use clap::Parser;
use facerunner::cli::{Cli, dispatch, output};

fn main() -> ExitCode {
    let cli = Cli::parse();
    output::init(cli.global.color);
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
