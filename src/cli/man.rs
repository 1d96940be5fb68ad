//! `facerunner man [-o DIR]`: the man pages, made with clap_mangen from the
//! same definitions as `--help` and the completions (internal commands left
//! out). Without `-o`, `facerunner(1)` goes to stdout (`facerunner man |
//! man -l -`); with `-o DIR`, `facerunner.1` and one page per command
//! (`facerunner-up.1`, `facerunner-integrations-show.1`, ...) are written
//! there, each 0600 through safefs, for `MANPATH` or packaging.

use std::path::PathBuf;
use std::process::ExitCode;

use miette::{IntoDiagnostic, WrapErr};

/// Arguments of `facerunner man`.
#[derive(Debug, Clone, clap::Args)]
pub struct ManArgs {
    /// Write every page into DIR (created when missing) instead of printing facerunner(1).
    #[arg(short = 'o', long = "out-dir", value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// Every page: (file name, roff text), the top page first.
pub fn pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut cmd = super::completions::public_command();
    cmd.build();
    let mut out = Vec::new();
    collect(&cmd, "facerunner", &mut out)?;
    Ok(out)
}

fn collect(
    cmd: &clap::Command,
    name: &str,
    out: &mut Vec<(String, Vec<u8>)>,
) -> std::io::Result<()> {
    let mut text = Vec::new();
    clap_mangen::Man::new(cmd.clone().name(clap::builder::Str::from(leak(name))))
        .render(&mut text)?;
    out.push((format!("{name}.1"), text));
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        collect(sub, &format!("{name}-{}", sub.get_name()), out)?;
    }
    Ok(())
}

/// clap names commands with `&'static str` (without its `string` feature);
/// the page names are few and made once per run.
fn leak(name: &str) -> &'static str {
    Box::leak(name.to_string().into_boxed_str())
}

/// Run `facerunner man`.
pub fn run(args: ManArgs) -> miette::Result<ExitCode> {
    let pages = pages()
        .into_diagnostic()
        .wrap_err("cannot render the man pages")?;
    match &args.out_dir {
        None => {
            use std::io::Write;
            if let Some((_, top)) = pages.first() {
                std::io::stdout()
                    .write_all(top)
                    .into_diagnostic()
                    .wrap_err("cannot write the man page to stdout")?;
            }
        }
        Some(dir) => {
            crate::safefs::create_private_dir_all(dir)
                .into_diagnostic()
                .wrap_err_with(|| format!("cannot use {} for the man pages", dir.display()))?;
            for (name, text) in &pages {
                let path = dir.join(name);
                crate::safefs::write_private_atomic(&path, text)
                    .into_diagnostic()
                    .wrap_err_with(|| format!("cannot write {}", path.display()))?;
            }
            anstream::eprintln!(
                "Wrote {} man pages to {}; read one with `man -l {}`.",
                pages.len(),
                dir.display(),
                dir.join("facerunner.1").display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_public_command_has_a_page_and_none_is_internal() {
        let pages = super::pages().expect("render");
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names[0], "facerunner.1");
        for want in [
            "facerunner-up.1",
            "facerunner-verify.1",
            "facerunner-integrations-show.1",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        assert!(
            !names
                .iter()
                .any(|n| n.contains("__") || n.contains("gateway")),
            "{names:?}"
        );
        let top = String::from_utf8_lossy(&pages[0].1);
        assert!(
            top.starts_with(".ie") || top.contains(".TH facerunner 1"),
            "{top}"
        );
        assert!(top.contains("verify"), "subcommands listed");
    }
}
