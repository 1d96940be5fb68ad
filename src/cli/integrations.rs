//! `facerunner integrations show [continue|zed]`: what the editor
//! integrations would write (see `plan::integrations`), without writing it.
//!
//! With a name, only that content is printed (ready to redirect into a
//! file); without one, each integration the file enables, under a header
//! naming where it goes. `show zed` prints the `language_models.ollama`
//! settings as a JSON snippet to paste into Zed's settings.json, whether or
//! not the file asks FaceRunner to merge it. The dashboard's integrations
//! page shows the same (`plan::integrations_show`).

use std::process::ExitCode;

use crate::cli::Global;
use crate::config::resolve::Secrets;
use crate::plan::integrations::ZED_KEY;
use crate::plan::integrations_show::editor_config;

/// Arguments of `facerunner integrations`.
#[derive(Debug, Clone, clap::Args)]
pub struct IntegrationsArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: IntegrationsCommand,
}

/// The `integrations` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum IntegrationsCommand {
    /// Print what the editor integrations would write.
    Show {
        /// Only this one (default: every one the file enables).
        #[arg(value_enum)]
        which: Option<Which>,
    },
}

/// An integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    /// Continue's model block.
    Continue,
    /// Zed's `language_models.ollama` settings.
    Zed,
}

/// Run `facerunner integrations`.
pub fn run(global: &Global, args: IntegrationsArgs) -> miette::Result<ExitCode> {
    let IntegrationsCommand::Show { which } = args.command;
    let (spec, _dirs, loaded) = crate::cli::project::load_project_with(global, Secrets::Peek)?;
    let shown = editor_config(&loaded, &spec);
    match which {
        Some(Which::Continue) => print!("{}", shown.continue_.text),
        Some(Which::Zed) => print!("{}", shown.zed.text),
        None => {
            let c = &shown.continue_;
            if c.enabled {
                println!("==> continue: {} <==", c.path);
                print!("{}", c.text);
            }
            let z = &shown.zed;
            if z.enabled {
                println!("==> zed: {} ({} {}) <==", ZED_KEY.join("."), z.how, z.path);
                print!("{}", z.text);
            }
            if !c.enabled && !z.enabled {
                anstream::eprintln!(
                    "The file enables no integration; add `integrations: {{ continue: {{}} }}` \
                     (or `zed: {{}}`), or name one: `facerunner integrations show continue`."
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
