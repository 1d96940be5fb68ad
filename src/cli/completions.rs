//! `facerunner completions SHELL`: shell completion scripts.
//!
//! Internal subcommands (`__shim`, and any other `__` name) are left out:
//! clap's generators list hidden subcommands too.

use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

/// Arguments of `completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Print the script.
pub fn run(args: CompletionsArgs) -> miette::Result<ExitCode> {
    let mut cmd = public_command();
    clap_complete::generate(args.shell, &mut cmd, "facerunner", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

/// The CLI as people use it: the whole command without internal subcommands.
/// clap cannot remove a subcommand, so the top level is rebuilt from the
/// derived one: same name, version, about, arguments and the other subcommands.
pub(crate) fn public_command() -> clap::Command {
    let full = super::Cli::command();
    let mut cmd = clap::Command::new("facerunner")
        .version(env!("CARGO_PKG_VERSION"))
        .propagate_version(true)
        .args(full.get_arguments().cloned())
        .subcommands(
            full.get_subcommands()
                .filter(|s| !s.get_name().starts_with("__"))
                .cloned(),
        );
    if let Some(about) = full.get_about() {
        cmd = cmd.about(about.clone());
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_subcommands_are_not_completed() {
        let shown: Vec<String> = public_command()
            .get_subcommands()
            .map(|s| s.get_name().to_string())
            .collect();
        assert!(shown.iter().any(|s| s == "up"), "{shown:?}");
        assert!(!shown.iter().any(|s| s.starts_with("__")), "{shown:?}");
        let all = super::super::Cli::command()
            .get_subcommands()
            .filter(|s| !s.get_name().starts_with("__"))
            .count();
        assert_eq!(shown.len(), all, "every public subcommand stays");
        for shell in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::Elvish,
            Shell::PowerShell,
        ] {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut public_command(), "facerunner", &mut out);
            let script = String::from_utf8(out).expect("utf-8");
            assert!(!script.contains("__shim"), "{shell}: lists __shim");
            assert!(script.contains("restart"), "{shell}");
            assert!(script.contains("color"), "{shell}: global options stay");
        }
    }
}
