//! `facerunner init`: write a first `facerunner.yaml` for this machine.
//!
//! It looks around first: `ollama` and `open-webui` on `PATH`, the GPUs
//! (`src/gpu`), the models already in the Ollama store (`OLLAMA_MODELS`,
//! else `~/.ollama/models`) and which default ports are free (the next free
//! one is taken instead). On a terminal it then asks, with what it found
//! as the defaults; otherwise (or with `--yes`) it takes the flags and
//! those defaults. The file it writes is commented (what was found, what to
//! run next), carries the schema modeline (the schema is written beside it
//! as `facerunner.schema.json` unless one is there), is validated before it
//! is written, and never replaces an existing file: init exits 1 instead.

use std::io::{BufRead, IsTerminal, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use miette::{IntoDiagnostic, WrapErr, miette};

use crate::cli::Global;
use crate::observe::host::find_program;

/// Arguments of `facerunner init`.
#[derive(Debug, Clone, clap::Args)]
pub struct InitArgs {
    /// Ask nothing: take the flags and what was detected.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Include Open WebUI (default: when `open-webui` is on PATH).
    #[arg(long, overrides_with = "no_webui")]
    pub webui: bool,
    /// Leave Open WebUI out.
    #[arg(long)]
    pub no_webui: bool,
    /// Ollama's port (default: 11434, or the next free one).
    #[arg(long, value_name = "PORT")]
    pub ollama_port: Option<u16>,
    /// Open WebUI's port (default: 8080, or the next free one).
    #[arg(long, value_name = "PORT")]
    pub webui_port: Option<u16>,
    /// A model to keep installed (repeatable; default: those already in the Ollama store,
    /// else llama3.2:1b).
    #[arg(long = "model", value_name = "NAME")]
    pub models: Vec<String>,
    /// Leave out the Continue integration (on by default).
    #[arg(long)]
    pub no_continue: bool,
}

/// What was found on this machine.
#[derive(Debug, Clone, Default)]
pub struct Detected {
    /// `ollama` on PATH.
    pub ollama: Option<PathBuf>,
    /// `open-webui` on PATH.
    pub open_webui: Option<PathBuf>,
    /// GPUs, one line each.
    pub gpus: Vec<String>,
    /// The Ollama store looked at, and whether `OLLAMA_MODELS` named it.
    pub store: PathBuf,
    /// Whether `OLLAMA_MODELS` named the store.
    pub store_from_env: bool,
    /// Models in it.
    pub models: Vec<String>,
    /// The Ollama port to use, and the default it replaces when that was taken.
    pub ollama_port: (u16, Option<u16>),
    /// The same for Open WebUI.
    pub webui_port: (u16, Option<u16>),
}

/// The first free port on 127.0.0.1 from `from` on (and `from` when it was free).
fn free_port(from: u16) -> (u16, Option<u16>) {
    let mut p = from;
    for _ in 0..100 {
        if TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return (p, (p != from).then_some(from));
        }
        p = p.checked_add(1).unwrap_or(from);
    }
    (from, None)
}

/// Look around.
pub fn detect() -> Detected {
    let here = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let (store, store_from_env) = match std::env::var_os("OLLAMA_MODELS").filter(|v| !v.is_empty())
    {
        Some(dir) => (PathBuf::from(dir), true),
        None => (
            crate::config::resolve::expand_path("~/.ollama/models", &here),
            false,
        ),
    };
    let models = crate::observe::models::read_store(&store)
        .map(|m| m.into_values().map(|m| m.name).collect())
        .unwrap_or_default();
    let inventory = crate::gpu::local();
    let gpus = inventory
        .gpus
        .iter()
        .map(|g| {
            format!(
                "GPU {}: {} ({:.0} GiB)",
                g.index,
                if g.name.is_empty() {
                    &g.vendor
                } else {
                    &g.name
                },
                g.memory_total_bytes as f64 / (1u64 << 30) as f64
            )
        })
        .collect();
    Detected {
        ollama: find_program("ollama", &here),
        open_webui: find_program("open-webui", &here),
        gpus,
        store,
        store_from_env,
        models,
        ollama_port: free_port(crate::ollama::DEFAULT_PORT),
        webui_port: free_port(8080),
    }
}

/// The choices the file is written from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choices {
    /// Ollama's port.
    pub ollama_port: u16,
    /// Open WebUI's port, when it is included.
    pub webui: Option<u16>,
    /// The models.
    pub models: Vec<String>,
    /// Write Continue's model block.
    pub continue_: bool,
}

fn default_choices(d: &Detected, args: &InitArgs) -> Choices {
    let webui = if args.no_webui {
        false
    } else {
        args.webui || d.open_webui.is_some()
    };
    let models = if !args.models.is_empty() {
        args.models.clone()
    } else if !d.models.is_empty() {
        d.models.clone()
    } else {
        vec!["llama3.2:1b".into()]
    };
    Choices {
        ollama_port: args.ollama_port.unwrap_or(d.ollama_port.0),
        webui: webui.then(|| args.webui_port.unwrap_or(d.webui_port.0)),
        models,
        continue_: !args.no_continue,
    }
}

/// Ask one question on the terminal; an empty answer takes the default.
fn ask(input: &mut dyn BufRead, question: &str, default: &str) -> std::io::Result<String> {
    let mut err = std::io::stderr();
    write!(err, "{question} [{default}]: ")?;
    err.flush()?;
    let mut line = String::new();
    input.read_line(&mut line)?;
    let line = line.trim();
    Ok(if line.is_empty() {
        default.to_string()
    } else {
        line.to_string()
    })
}

fn yes_no(answer: &str, default: bool) -> bool {
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => true,
        "n" | "no" => false,
        _ => default,
    }
}

fn ask_port(input: &mut dyn BufRead, question: &str, default: u16) -> std::io::Result<u16> {
    loop {
        let a = ask(input, question, &default.to_string())?;
        match a.parse::<u16>() {
            Ok(p) if p > 0 => return Ok(p),
            _ => eprintln!("  a port is a number from 1 to 65535"),
        }
    }
}

fn interactive(d: &Detected, mut c: Choices, input: &mut dyn BufRead) -> std::io::Result<Choices> {
    c.ollama_port = ask_port(input, "Ollama port", c.ollama_port)?;
    let webui_default = c.webui.is_some();
    let with_webui = yes_no(
        &ask(
            input,
            &format!(
                "Include Open WebUI{}?",
                if d.open_webui.is_some() {
                    ""
                } else {
                    " (not found on PATH)"
                }
            ),
            if webui_default { "Y/n" } else { "y/N" },
        )?,
        webui_default,
    );
    c.webui = if with_webui {
        Some(ask_port(
            input,
            "Open WebUI port",
            c.webui.unwrap_or(d.webui_port.0),
        )?)
    } else {
        None
    };
    let models = ask(input, "Models (comma-separated)", &c.models.join(", "))?;
    c.models = models
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    c.continue_ = yes_no(
        &ask(
            input,
            "Write Continue's model block (.continue/models/facerunner.yaml) on apply?",
            if c.continue_ { "Y/n" } else { "y/N" },
        )?,
        c.continue_,
    );
    Ok(c)
}

/// JSON's quoting, which YAML reads as a double-quoted scalar.
fn q(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// The file's text.
pub fn render(d: &Detected, c: &Choices, schema: &str) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let _ = writeln!(o, "# yaml-language-server: $schema={schema}");
    o.push_str("#\n# Written by `facerunner init` from what it found on this machine:\n");
    match &d.ollama {
        Some(p) => {
            let _ = writeln!(o, "#   ollama:     {}", p.display());
        }
        None => o.push_str(
            "#   ollama:     not on PATH: install it, or set `binary:` below to its path\n",
        ),
    }
    match &d.open_webui {
        Some(p) => {
            let _ = writeln!(o, "#   open-webui: {}", p.display());
        }
        None => o.push_str("#   open-webui: not on PATH\n"),
    }
    if d.gpus.is_empty() {
        o.push_str("#   GPUs:       none found: models run on the CPU\n");
    } else {
        for g in &d.gpus {
            let _ = writeln!(o, "#   {g}");
        }
    }
    let _ = writeln!(
        o,
        "#   models:     {} in {}",
        if d.models.is_empty() {
            "none yet".to_string()
        } else {
            d.models.join(", ")
        },
        d.store.display()
    );
    o.push_str(
        "#\n# Next: `facerunner plan` shows what would happen, `facerunner up` starts it,\n\
         # `facerunner verify` checks that everything answers. Every key:\n\
         # `facerunner schema`, or facerunner.example.yaml in FaceRunner's sources.\n",
    );
    o.push_str("version: 1\nservices:\n  ollama:\n    kind: ollama\n");
    let _ = write!(o, "    port: {}", c.ollama_port);
    if let (p, Some(taken)) = d.ollama_port
        && p == c.ollama_port
    {
        let _ = write!(o, "            # {taken} was taken");
    }
    o.push('\n');
    if d.store_from_env {
        let _ = writeln!(
            o,
            "    models_dir: {}   # from OLLAMA_MODELS",
            q(&d.store.display().to_string())
        );
    }
    if let Some(port) = c.webui {
        o.push_str("  webui:\n    kind: open-webui\n");
        let _ = write!(o, "    port: {port}");
        if let (p, Some(taken)) = d.webui_port
            && p == port
        {
            let _ = write!(o, "            # {taken} was taken");
        }
        o.push('\n');
        o.push_str("    depends_on: { ollama: { condition: healthy } }\n");
    }
    if c.models.is_empty() {
        o.push_str("models: []                   # e.g. `- ollama: llama3.2:1b`\n");
    } else {
        o.push_str("models:                      # pulled by `apply`, kept installed\n");
        for m in &c.models {
            let _ = writeln!(o, "  - ollama: {}", q(m));
        }
    }
    if c.continue_ {
        o.push_str(
            "integrations:\n  continue: {}                # apply writes .continue/models/facerunner.yaml for the Continue extension\n",
        );
    }
    o
}

/// Run `facerunner init`.
pub fn run(global: &Global, args: InitArgs) -> miette::Result<ExitCode> {
    let cwd = std::env::current_dir().into_diagnostic()?;
    let path = match &global.file {
        Some(f) => cwd.join(f),
        None => cwd.join("facerunner.yaml"),
    };
    if std::fs::symlink_metadata(&path).is_ok() {
        return Err(miette!(
            help = "edit it, or move it away first; init never replaces a file",
            "{} already exists",
            path.display()
        ));
    }
    let detected = detect();
    let mut choices = default_choices(&detected, &args);
    let terminal = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if terminal && !args.yes {
        choices = interactive(&detected, choices, &mut std::io::stdin().lock())
            .into_diagnostic()
            .wrap_err("cannot read the answers")?;
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let schema_path = dir.join("facerunner.schema.json");
    let text = render(&detected, &choices, "./facerunner.schema.json");
    // What is written must validate: check it as the loader would.
    crate::config::load_str(&path, &text, &crate::config::interpolate::Vars::default()).map_err(
        |e| {
            miette!(
                "init made a file that does not validate (a bug; please report it): {}",
                crate::style::with_causes(&e)
            )
        },
    )?;
    if !crate::safefs::create_private_atomic(&path, text.as_bytes())
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot write {}", path.display()))?
    {
        return Err(miette!(
            help = "edit it, or move it away first; init never replaces a file",
            "{} already exists",
            path.display()
        ));
    }
    let schema = super::schema::schema_text();
    let wrote_schema = crate::safefs::create_private_atomic(&schema_path, schema.as_bytes())
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot write {}", schema_path.display()))?;
    anstream::eprintln!(
        "Wrote {}{}. Next: `facerunner plan`, then `facerunner up`.",
        path.display(),
        if wrote_schema {
            " and facerunner.schema.json (for editor completion)"
        } else {
            ""
        }
    );
    if detected.ollama.is_none() {
        anstream::eprintln!(
            "note: `ollama` is not on PATH: install it, or set `binary:` in the file to its path."
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_gives_the_next_free_one_and_says_which_was_taken() {
        let held = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = held.local_addr().expect("addr").port();
        let (got, taken) = free_port(port);
        assert_ne!(got, port);
        assert_eq!(taken, Some(port));
        drop(held);
        assert_eq!(free_port(port), (port, None));
    }

    #[test]
    fn answers_override_the_defaults_and_empty_answers_keep_them() {
        let d = Detected {
            ollama_port: (11434, None),
            webui_port: (8081, Some(8080)),
            ..Detected::default()
        };
        let args = InitArgs {
            yes: false,
            webui: false,
            no_webui: false,
            ollama_port: None,
            webui_port: None,
            models: vec![],
            no_continue: false,
        };
        let c = default_choices(&d, &args);
        assert_eq!(c.webui, None, "no open-webui on PATH: left out by default");
        let mut input = std::io::Cursor::new("\ny\n\nqwen2.5:0.5b, llama3.2:1b\nn\n");
        let c = interactive(&d, c, &mut input).expect("answers");
        assert_eq!(
            c,
            Choices {
                ollama_port: 11434,
                webui: Some(8081),
                models: vec!["qwen2.5:0.5b".into(), "llama3.2:1b".into()],
                continue_: false,
            }
        );
        let text = render(&d, &c, "./facerunner.schema.json");
        assert!(text.contains("8080 was taken"), "{text}");
        crate::config::load_str(
            Path::new("/p/facerunner.yaml"),
            &text,
            &crate::config::interpolate::Vars::default(),
        )
        .unwrap_or_else(|e| panic!("{e:?}\n{text}"));
    }
}
