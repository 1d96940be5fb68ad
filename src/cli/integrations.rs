//! `facerunner integrations show [continue|zed]`: what the editor
//! integrations would write (see `plan::integrations`), without writing it.
//!
//! With a name, only that content is printed (ready to redirect into a
//! file); without one, each integration the file enables, under a header
//! naming where it goes. `show zed` prints the `language_models.ollama`
//! settings as a JSON snippet to paste into Zed's settings.json, whether or
//! not the file asks FaceRunner to merge it.

use std::process::ExitCode;

use crate::cli::Global;
use crate::config::resolve::Secrets;
use crate::config::types::ContinueRole;
use crate::plan::Desired;
use crate::plan::integrations::{
    ZED_KEY, continue_block, continue_path, editor_models, zed_block, zed_path,
};

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
    let desired = Desired::new(&loaded, &spec);
    let models = editor_models(&loaded, &desired.models);
    let ints = &loaded.config.integrations;
    let continue_text = || {
        let c = ints.continue_.as_ref();
        let roles = c
            .and_then(|c| c.roles.clone())
            .unwrap_or_else(|| vec![ContinueRole::Chat, ContinueRole::Edit, ContinueRole::Apply]);
        continue_block(&models, &roles, &loaded.file.path)
    };
    let zed_text = || {
        let mut v = serde_json::Value::Null;
        for k in ZED_KEY.iter().rev() {
            v = if v.is_null() {
                serde_json::json!({ *k: zed_block(&models) })
            } else {
                serde_json::json!({ *k: v })
            };
        }
        format!(
            "{}\n",
            serde_json::to_string_pretty(&v).unwrap_or_else(|_| "{}".into())
        )
    };
    match which {
        Some(Which::Continue) => print!("{}", continue_text()),
        Some(Which::Zed) => print!("{}", zed_text()),
        None => {
            let with_continue = ints.continue_.as_ref().is_some_and(|c| c.enabled);
            if with_continue {
                let scope = ints.continue_.as_ref().map(|c| c.scope).unwrap_or_default();
                let (_, shown) = continue_path(scope, &loaded.base_dir);
                println!("==> continue: {shown} <==");
                print!("{}", continue_text());
            }
            if let Some(z) = &ints.zed {
                let (_, shown) = zed_path(&loaded.base_dir);
                let how = if z.merge {
                    "merged into"
                } else {
                    "to paste into"
                };
                println!("==> zed: {} ({how} {shown}) <==", ZED_KEY.join("."));
                print!("{}", zed_text());
            }
            if !with_continue && ints.zed.is_none() {
                anstream::eprintln!(
                    "The file enables no integration; add `integrations: {{ continue: {{}} }}` \
                     (or `zed: {{}}`), or name one: `facerunner integrations show continue`."
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
