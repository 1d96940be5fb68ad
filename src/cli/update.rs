//! `facerunner update [--check]`, and the daily update notice.
//!
//! The feed is `$FACERUNNER_UPDATE_URL` ([`crate::install::selfupdate`]).
//! `update --check` only compares; `update` downloads the new executable,
//! checks its SHA-256 and renames it over this one. A copy under a package
//! manager's directory (`/usr/bin`, ...) is never replaced: it is told.
//! A running daemon keeps running its old image (shims spawn it through
//! `/proc/self/exe`, so nothing breaks); it is not re-executed in place —
//! `facerunner down && facerunner up` switches it, restarting services.
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
    // The project's daemon, if one runs here, keeps the old image.
    if let Ok(dirs) = super::daemon::project_dirs(global)
        && let Ok(Some(c)) = rt.block_on(super::daemon::connect(&dirs))
    {
        println!(
            "the daemon of project {} (pid {}) keeps running {CURRENT} and its services; `facerunner down && facerunner up` switches it to {latest} (restarting the services)",
            dirs.project,
            c.daemon_pid()
        );
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
