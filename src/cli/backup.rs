//! `facerunner backup [FILE]` and `facerunner restore FILE [--into DIR]`.
//!
//! A backup holds the project file, `.env` (only with `--include-secrets`),
//! the state file (which models FaceRunner owns), the exact model list of
//! every ollama service (`models.json`: name, digest and size from
//! `/api/tags`), and with `--with-data` each Open WebUI service's data
//! directory, copied while that service is stopped (stop, copy, start: no
//! pure-Rust SQLite online backup is used). See [`crate::backup`].

use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use miette::{IntoDiagnostic, WrapErr, miette};

use super::Global;
use super::control::{Control, ServicesArgs};
use crate::backup::{self, FORMAT, FORMAT_VERSION, Manifest, Writer};
use crate::config::types::Kind;
use crate::paths::ProjectDirs;

/// Arguments of `facerunner backup`.
#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// The archive to write (default: `<project>-<unix time>.facerunner-backup.tar.gz` here);
    /// an existing file is never overwritten.
    pub file: Option<PathBuf>,
    /// Include `.env` (secrets) beside the project file.
    #[arg(long)]
    pub include_secrets: bool,
    /// Include each Open WebUI service's data directory (the service is stopped while it is copied).
    #[arg(long)]
    pub with_data: bool,
}

/// Arguments of `facerunner restore`.
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// The archive written by `facerunner backup`.
    pub file: PathBuf,
    /// The directory to restore the project into (default: here); it must be empty.
    #[arg(long, value_name = "DIR")]
    pub into: Option<PathBuf>,
}

/// Run `facerunner backup`.
pub fn run_backup(global: &Global, args: BackupArgs) -> miette::Result<ExitCode> {
    let loaded = super::project::load_file(global)?;
    let dirs = ProjectDirs::for_project(&loaded.project).into_diagnostic()?;
    let cfg = &loaded.config;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let out = args.file.clone().unwrap_or_else(|| {
        PathBuf::from(format!("{}-{now}.facerunner-backup.tar.gz", loaded.project))
    });
    let file_name = loaded
        .file
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "facerunner.yaml".into());

    // The model lists first (a network step that may fail per service).
    let rt = super::daemon::runtime()?;
    let mut models = serde_json::Map::new();
    for (name, svc) in cfg.ollama_services() {
        let url = crate::config::resolve::ollama_url(cfg, svc);
        let listed = rt.block_on(async {
            crate::ollama::Client::new(&url)
                .map_err(|e| e.to_string())?
                .tags()
                .await
                .map_err(|e| e.to_string())
        });
        let entry = match listed {
            Ok(mut list) => {
                // By name: the same models give the same archive member.
                list.sort_by(|a, b| a.name.cmp(&b.name));
                serde_json::json!({
                "url": url,
                "models": list.iter().map(|m| serde_json::json!({
                    "name": m.name, "digest": m.digest, "size": m.size
                })).collect::<Vec<_>>()
                })
            }
            Err(e) => {
                anstream::eprintln!(
                    "warning: {name}: cannot list its models ({e}); the backup records no model list for it (start it with `facerunner up` and back up again for one)"
                );
                serde_json::json!({"url": url, "error": e})
            }
        };
        models.insert(name.clone(), entry);
    }

    let mut w = Writer::create(&out)
        .into_diagnostic()
        .wrap_err("choose another archive name")?;
    let text = crate::safefs::read_bounded(&loaded.file.path, 16 << 20).into_diagnostic()?;
    w.add_bytes(&format!("project/{file_name}"), &text)
        .into_diagnostic()?;
    let env = loaded.base_dir.join(".env");
    let has_env = std::fs::symlink_metadata(&env).is_ok();
    if has_env && args.include_secrets {
        w.add_file("project/.env", &env).into_diagnostic()?;
    } else if has_env {
        println!(
            "left out {} (secrets; --include-secrets adds it)",
            env.display()
        );
    }
    let state = crate::execute::store::path(&dirs.state);
    if std::fs::symlink_metadata(&state).is_ok() {
        w.add_file("state/state.json", &state).into_diagnostic()?;
    }
    let models_json =
        serde_json::to_vec_pretty(&serde_json::Value::Object(models)).into_diagnostic()?;
    w.add_bytes("models.json", &models_json).into_diagnostic()?;

    let mut data = Vec::new();
    if args.with_data {
        for (name, svc) in &cfg.services {
            if svc.kind != Kind::OpenWebui {
                continue;
            }
            let dir = dirs.data.join(name);
            if !dir.is_dir() {
                continue;
            }
            let running = service_running(&dirs, name)?;
            if running {
                println!("stopping {name} to copy its data consistently");
                stop_start(global, Control::Stop, name)?;
            }
            let copied = w.add_dir(&format!("data/{name}"), &dir);
            if running {
                stop_start(global, Control::Start, name)?;
            }
            copied.into_diagnostic()?;
            data.push(name.clone());
        }
    }
    let manifest = w
        .finish(Manifest {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            facerunner: env!("CARGO_PKG_VERSION").into(),
            project: loaded.project.clone(),
            file_name,
            created_unix: now,
            secrets: has_env && args.include_secrets,
            data,
            members: Default::default(),
        })
        .into_diagnostic()?;
    println!(
        "wrote {} ({} members{})",
        out.display(),
        manifest.members.len(),
        if manifest.secrets {
            ", with secrets: keep it private"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}

fn service_running(dirs: &ProjectDirs, name: &str) -> miette::Result<bool> {
    use crate::model::wire::{Lifecycle, Request, Response};
    super::daemon::runtime()?.block_on(async {
        let Some(c) = super::daemon::connect(dirs).await? else {
            return Ok(false);
        };
        match c
            .request(&Request::Status, |_| {})
            .await
            .map_err(super::daemon::report)?
        {
            Response::Status(r) => Ok(r
                .services
                .iter()
                .any(|s| s.name == name && !matches!(s.state, Lifecycle::Stopped))),
            _ => Ok(false),
        }
    })
}

fn stop_start(global: &Global, control: Control, name: &str) -> miette::Result<()> {
    let code = super::control::run(
        global,
        control,
        ServicesArgs {
            services: vec![name.to_string()],
        },
    )?;
    if code != ExitCode::SUCCESS {
        return Err(miette!(
            help = "see `facerunner status` and `facerunner logs {name}`",
            "could not {} {name}",
            if control == Control::Stop {
                "stop"
            } else {
                "start"
            }
        ));
    }
    Ok(())
}

/// Run `facerunner restore`.
pub fn run_restore(_global: &Global, args: RestoreArgs) -> miette::Result<ExitCode> {
    let target = match &args.into {
        Some(d) => d.clone(),
        None => std::env::current_dir().into_diagnostic()?,
    };
    match std::fs::read_dir(&target) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(miette!(
                    help = "restore into an empty directory: --into NEW_DIR",
                    "{} is not empty",
                    target.display()
                ));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(&target)
                .into_diagnostic()
                .wrap_err_with(|| format!("cannot create {}", target.display()))?;
        }
        Err(e) => {
            return Err(e)
                .into_diagnostic()
                .wrap_err(format!("cannot read the directory {}", target.display()));
        }
    }
    let target = std::fs::canonicalize(&target).into_diagnostic()?;
    let parent = target.parent().unwrap_or(Path::new("/"));
    let tmp = tempfile::Builder::new()
        .prefix(".facerunner-restore")
        .tempdir_in(parent)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot create a staging directory in {}", parent.display()))?;
    let staging = tmp.path().join("unpacked");
    let manifest = backup::open(&args.file, &staging).into_diagnostic()?;

    // Check everything before writing anything.
    let bad = |why: String| {
        miette!(
            "{} names {why}; refused (this archive was not written by `facerunner backup`)",
            args.file.display()
        )
    };
    if !crate::config::validate::valid_name(&manifest.project) {
        return Err(bad(format!("the project `{}`", manifest.project)));
    }
    let mut parts = Path::new(&manifest.file_name).components();
    if !matches!(
        (parts.next(), parts.next()),
        (Some(Component::Normal(_)), None)
    ) {
        return Err(bad(format!("the project file `{}`", manifest.file_name)));
    }
    for s in &manifest.data {
        if !crate::config::validate::valid_name(s) {
            return Err(bad(format!("the service `{s}`")));
        }
    }
    let dirs = ProjectDirs::for_project(&manifest.project).into_diagnostic()?;
    let file = target.join(&manifest.file_name);
    match crate::safefs::read_private_bounded(&dirs.owner_file(), 64 * 1024) {
        Ok(owner) => {
            let owner = PathBuf::from(String::from_utf8_lossy(&owner).trim_end().to_string());
            if owner.exists() && owner != file {
                return Err(miette!(
                    help = format!(
                        "this machine already runs project `{}`; restore on another machine, or remove that project (`facerunner down`, delete its file) first",
                        manifest.project
                    ),
                    "project `{}` belongs to {}",
                    manifest.project,
                    owner.display()
                ));
            }
        }
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e).into_diagnostic(),
    }
    for s in &manifest.data {
        let d = dirs.data.join(s);
        if std::fs::read_dir(&d).is_ok_and(|mut e| e.next().is_some()) {
            return Err(miette!(
                help = "move it away first if the backup's data should replace it",
                "{} (Open WebUI's data of `{s}`) is not empty",
                d.display()
            ));
        }
    }

    // Write: the project files, the state, the data; then claim the project.
    let project_dir = staging.join("project");
    for name in [manifest.file_name.as_str(), ".env"] {
        let from = project_dir.join(name);
        if from.is_file() {
            let bytes = std::fs::read(&from).into_diagnostic()?;
            let to = target.join(name);
            if !crate::safefs::create_private_atomic(&to, &bytes).into_diagnostic()? {
                return Err(miette!(
                    "{} appeared while restoring; refused",
                    to.display()
                ));
            }
        }
    }
    dirs.create().into_diagnostic()?;
    let _ = std::fs::remove_file(dirs.owner_file());
    dirs.check_owner(&file, true).into_diagnostic()?;
    let state = staging.join("state/state.json");
    if state.is_file() {
        let bytes = std::fs::read(&state).into_diagnostic()?;
        crate::safefs::write_private_atomic(&crate::execute::store::path(&dirs.state), &bytes)
            .into_diagnostic()?;
    }
    for s in &manifest.data {
        let d = dirs.data.join(s);
        if d.is_dir() {
            std::fs::remove_dir(&d).into_diagnostic()?;
        }
        backup::copy_tree(&staging.join("data").join(s), &d).into_diagnostic()?;
    }
    println!(
        "restored project `{}` into {}{}",
        manifest.project,
        target.display(),
        if manifest.secrets { " (with .env)" } else { "" }
    );
    if let Ok(bytes) = std::fs::read(staging.join("models.json"))
        && let Ok(serde_json::Value::Object(models)) = serde_json::from_slice(&bytes)
    {
        for (svc, entry) in models {
            for m in entry["models"].as_array().into_iter().flatten() {
                println!(
                    "  {svc}: {} {}",
                    m["name"].as_str().unwrap_or("?"),
                    m["digest"].as_str().unwrap_or("?")
                );
            }
        }
    }
    println!("next: `facerunner plan` shows what must be pulled, `facerunner apply` does it");
    Ok(ExitCode::SUCCESS)
}
