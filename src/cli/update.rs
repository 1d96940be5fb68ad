//! `facerunner update [--check]`, and the daily update notice.
//!
//! The feed is `$FACERUNNER_UPDATE_URL` ([`crate::install::selfupdate`]).
//! `update --check` only compares; `update` downloads the new executable,
//! checks its SHA-256 and renames it over this one. A copy under a package
//! manager's directory (`/usr/bin`, ...) is never replaced: it is told.
//! The project's daemon, when one runs here, is then told to re-execute
//! itself as the new binary, handing its running services over instead of
//! restarting them (see `supervisor/reexec.rs`); if it cannot (a service
//! mid-restart, a new binary that cannot take over), it keeps its old image
//! and services, and says so.
//!
//! The notice: `up`, `apply` and `status` ask the feed at most once a day
//! (a stamp file), never under `CI` or with `FACERUNNER_NO_UPDATE_CHECK`,
//! `NO_UPDATE_NOTIFIER` or `DO_NOT_TRACK` set, never without a feed, and
//! give up after 3 seconds.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use miette::{IntoDiagnostic, WrapErr};

use super::Global;
use crate::install::selfupdate::{self, is_newer};

/// Arguments of `facerunner update`.
#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// Only say whether a newer version exists.
    #[arg(long)]
    pub check: bool,
}

const CURRENT: &str = env!("CARGO_PKG_VERSION");

fn stamp() -> Option<PathBuf> {
    crate::installs::root().ok().map(|r| r.join("update-check"))
}

fn touch_stamp() {
    if let Some(s) = stamp() {
        if let Some(dir) = s.parent() {
            let _ = crate::install::private_dir_pub(dir);
        }
        let _ = crate::safefs::write_private_atomic(&s, CURRENT.as_bytes());
    }
}

fn client(timeout: Option<Duration>) -> miette::Result<reqwest::Client> {
    let mut b = crate::http::client_builder().connect_timeout(Duration::from_secs(10));
    if let Some(t) = timeout {
        b = b.timeout(t);
    }
    b.build()
        .into_diagnostic()
        .wrap_err("cannot build an HTTP client")
}

/// Run `facerunner update`.
pub fn run(global: &Global, args: UpdateArgs) -> miette::Result<ExitCode> {
    let base = selfupdate::feed().into_diagnostic()?;
    let rt = super::daemon::runtime()?;
    let client = client(None)?;
    let latest = rt
        .block_on(selfupdate::latest(&client, &base))
        .into_diagnostic()?;
    touch_stamp();
    if is_newer(&latest, CURRENT) != Some(true) {
        println!("facerunner {CURRENT} is up to date (the feed's latest is {latest})");
        return Ok(ExitCode::SUCCESS);
    }
    println!("facerunner {latest} is available (this is {CURRENT})");
    if args.check {
        println!("`facerunner update` installs it");
        return Ok(ExitCode::SUCCESS);
    }
    let exe = std::env::current_exe()
        .into_diagnostic()
        .wrap_err("cannot find this executable")?;
    if selfupdate::package_managed(&exe) {
        println!(
            "{} was installed by a package manager: upgrade it through that manager (it is not replaced)",
            exe.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let bar = super::setup::bar();
    rt.block_on(selfupdate::replace(&client, &base, &latest, &exe, &bar))
        .into_diagnostic()?;
    println!("updated {} to {latest}", exe.display());
    // The project's daemon, if one runs here, becomes the new binary.
    if let Ok(dirs) = super::daemon::project_dirs(global) {
        match super::reexec::reexec(&rt, &dirs, &exe) {
            Ok(Some(done)) => println!("{done}"),
            Ok(None) => {}
            Err(e) => {
                eprintln!("{e:?}");
                println!(
                    "the daemon of project {} keeps running {CURRENT}; `facerunner daemon --reexec` tries again, `facerunner down && facerunner up` switches it (restarting the services)",
                    dirs.project
                );
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The daily notice (see the module docs); never fails, never blocks more
/// than a few seconds.
pub fn notice() {
    let Some(s) = stamp() else { return };
    if !selfupdate::auto_check_due(&s) {
        return;
    }
    touch_stamp();
    let Ok(base) = selfupdate::feed() else { return };
    let Ok(rt) = super::daemon::runtime() else {
        return;
    };
    let Ok(client) = client(Some(Duration::from_secs(3))) else {
        return;
    };
    if let Ok(latest) = rt.block_on(selfupdate::latest(&client, &base))
        && is_newer(&latest, CURRENT) == Some(true)
    {
        eprintln!(
            "note: facerunner {latest} is available (this is {CURRENT}); `facerunner update` installs it ({}=1 silences this)",
            selfupdate::NO_CHECK_ENV
        );
    }
}
