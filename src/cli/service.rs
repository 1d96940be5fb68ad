//! `facerunner service install|uninstall|status`: the project's daemon as a
//! systemd unit, and the daemon's side of it (`READY=1` over
//! `$NOTIFY_SOCKET` once its services are up).
//!
//! The unit (a user unit with `--user`, the suggestion of
//! shared/reference/web-setup-k8s.md §6) runs
//! `facerunner -f FILE daemon --foreground --up`: `Type=notify` (systemd
//! waits for `READY=1`), `KillMode=mixed` (SIGTERM to the daemon alone,
//! which stops its services in dependency order; SIGKILL to leftovers after
//! the timeout), `Restart=on-failure`. It carries the installing shell's
//! `PATH` (a user manager's is minimal) and `FACERUNNER_HOME` when set.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use miette::{IntoDiagnostic, WrapErr, miette};

use super::Global;

/// The first line of every unit FaceRunner writes; `uninstall` and a
/// second `install` touch only files that start with it.
pub const MARKER: &str =
    "# Written by `facerunner service install`; `facerunner service uninstall` removes it.";

/// Arguments of `facerunner service`.
#[derive(Debug, clap::Args)]
pub struct ServiceArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: Action,
}

/// `service` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Write a systemd unit for this project's daemon and enable it.
    Install(Where),
    /// Disable the unit and remove it.
    Uninstall(Where),
    /// `systemctl status` of the unit.
    Status(Where),
}

/// Which unit: user or system, and where its file lives.
#[derive(Debug, clap::Args)]
pub struct Where {
    /// A user unit (~/.config/systemd/user) instead of a system one (/etc/systemd/system).
    #[arg(long)]
    pub user: bool,
    /// Print the unit and what would be run; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Write the unit file into DIR instead of systemd's directory (packaging, tests).
    #[arg(long, value_name = "DIR")]
    pub unit_dir: Option<PathBuf>,
    /// Write the unit only; do not run systemctl.
    #[arg(long)]
    pub no_enable: bool,
}

/// What a unit is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitSpec {
    /// The project's name.
    pub project: String,
    /// The facerunner executable (absolute).
    pub exe: PathBuf,
    /// The project file (absolute).
    pub file: PathBuf,
    /// A user unit.
    pub user: bool,
    /// `PATH` for the daemon and its services.
    pub path: Option<String>,
    /// `FACERUNNER_HOME`, when set.
    pub home: Option<String>,
    /// The numeric user a system unit runs as.
    pub uid: u32,
}

/// `facerunner-<project>.service`.
pub fn unit_name(project: &str) -> String {
    format!("facerunner-{project}.service")
}

/// One word of an `Exec*=` line: `%` and `$` escaped, quoted when needed.
fn exec_word(s: &str) -> Result<String, String> {
    if s.contains(['\n', '\r']) {
        return Err(format!("`{s}` holds a line break"));
    }
    let e = s.replace('%', "%%").replace('$', "$$");
    Ok(
        if e.is_empty() || e.contains([' ', '\t', '"', '\'', '\\', ';']) {
            format!("\"{}\"", e.replace('\\', "\\\\").replace('"', "\\\""))
        } else {
            e
        },
    )
}

/// An `Environment=` assignment, quoted.
fn env_assignment(key: &str, value: &str) -> Result<String, String> {
    if value.contains(['\n', '\r']) {
        return Err(format!("{key} holds a line break"));
    }
    let v = value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('%', "%%");
    Ok(format!("Environment=\"{key}={v}\""))
}

/// The unit file's text.
pub fn unit_text(u: &UnitSpec) -> Result<String, String> {
    let exec = [
        u.exe.display().to_string(),
        "-f".into(),
        u.file.display().to_string(),
        "daemon".into(),
        "--foreground".into(),
        "--up".into(),
    ]
    .iter()
    .map(|w| exec_word(w))
    .collect::<Result<Vec<_>, _>>()?
    .join(" ");
    let dir = u.file.parent().unwrap_or(Path::new("/"));
    let mut s = format!(
        "{MARKER}\n[Unit]\nDescription=FaceRunner supervisor ({project})\n",
        project = u.project
    );
    if !u.user {
        s.push_str("Wants=network-online.target\nAfter=network-online.target\n");
    }
    s.push_str("\n[Service]\nType=notify\nNotifyAccess=main\n");
    s.push_str(&format!("ExecStart={exec}\n"));
    s.push_str(&format!(
        "WorkingDirectory={}\n",
        exec_word(&dir.display().to_string())?
    ));
    if !u.user {
        s.push_str(&format!("User={}\n", u.uid));
    }
    if let Some(p) = &u.path {
        s.push_str(&env_assignment("PATH", p)?);
        s.push('\n');
    }
    if let Some(h) = &u.home {
        s.push_str(&env_assignment("FACERUNNER_HOME", h)?);
        s.push('\n');
    }
    s.push_str("Restart=on-failure\nRestartSec=2\nKillMode=mixed\nTimeoutStartSec=300\nTimeoutStopSec=60\n");
    s.push_str(&format!(
        "\n[Install]\nWantedBy={}\n",
        if u.user {
            "default.target"
        } else {
            "multi-user.target"
        }
    ));
    Ok(s)
}

/// Where unit files go: `DIR`, else `$XDG_CONFIG_HOME/systemd/user` or
/// `/etc/systemd/system`.
fn unit_dir(w: &Where) -> miette::Result<PathBuf> {
    if let Some(d) = &w.unit_dir {
        return Ok(d.clone());
    }
    if !w.user {
        return Ok(PathBuf::from("/etc/systemd/system"));
    }
    use etcetera::BaseStrategy;
    let xdg = etcetera::choose_base_strategy()
        .map_err(|e| miette!("cannot find the config directory ({e}); pass --unit-dir DIR"))?;
    Ok(xdg.config_dir().join("systemd").join("user"))
}

/// Run `facerunner service ...`.
pub fn run(global: &Global, args: ServiceArgs) -> miette::Result<ExitCode> {
    let loaded = super::project::load_file(global)?;
    let project = loaded.project.clone();
    let name = unit_name(&project);
    match args.action {
        Action::Install(w) => {
            let file = std::fs::canonicalize(&loaded.file.path).into_diagnostic()?;
            let exe = std::env::current_exe()
                .and_then(std::fs::canonicalize)
                .into_diagnostic()
                .wrap_err("cannot find the facerunner executable")?;
            let spec = UnitSpec {
                project: project.clone(),
                exe,
                file,
                user: w.user,
                path: std::env::var("PATH").ok(),
                home: std::env::var("FACERUNNER_HOME")
                    .ok()
                    .filter(|h| !h.is_empty()),
                uid: rustix::process::geteuid().as_raw(),
            };
            let text = unit_text(&spec).map_err(|e| {
                miette!(
                    help = "move the project or the binary to a path without line breaks",
                    "cannot write a unit: {e}"
                )
            })?;
            let path = unit_dir(&w)?.join(&name);
            if w.dry_run {
                println!("# {}\n{text}", path.display());
                print_next(&w, &name, false);
                return Ok(ExitCode::SUCCESS);
            }
            refuse_foreign(&path)?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .into_diagnostic()
                    .wrap_err_with(|| format!("cannot create {}", dir.display()))?;
            }
            crate::safefs::write_private_atomic(&path, text.as_bytes())
                .into_diagnostic()
                .wrap_err(if w.user {
                    ""
                } else {
                    "a system unit needs root: run it with sudo, or use --user"
                })?;
            println!("wrote {}", path.display());
            let enabled = enable(&w, &name, &["enable", "--now"])?;
            print_next(&w, &name, enabled);
            Ok(ExitCode::SUCCESS)
        }
        Action::Uninstall(w) => {
            let path = unit_dir(&w)?.join(&name);
            if w.dry_run {
                println!("would disable {name} and remove {}", path.display());
                return Ok(ExitCode::SUCCESS);
            }
            if std::fs::symlink_metadata(&path).is_err() {
                println!("{} is not installed", path.display());
                return Ok(ExitCode::SUCCESS);
            }
            refuse_foreign(&path)?;
            enable(&w, &name, &["disable", "--now"])?;
            std::fs::remove_file(&path)
                .into_diagnostic()
                .wrap_err_with(|| format!("cannot remove {}", path.display()))?;
            if !w.no_enable && crate::installs::on_path("systemctl").is_some() {
                let _ = systemctl(&w, &["daemon-reload"]);
            }
            println!("removed {}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Action::Status(w) => {
            let path = unit_dir(&w)?.join(&name);
            let installed = std::fs::symlink_metadata(&path).is_ok();
            println!(
                "{}: {}",
                path.display(),
                if installed {
                    "installed"
                } else {
                    "not installed"
                }
            );
            if installed && crate::installs::on_path("systemctl").is_some() {
                let status = Command::new("systemctl")
                    .args(w.user.then_some("--user"))
                    .args(["status", "--no-pager", &name])
                    .status()
                    .into_diagnostic()?;
                // `systemctl status` exits 3 for a stopped unit: report, not fail.
                return Ok(if status.success() || status.code() == Some(3) {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                });
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A file at `path` that FaceRunner did not write is left alone.
fn refuse_foreign(path: &Path) -> miette::Result<()> {
    match crate::safefs::read_bounded(path, 1 << 20) {
        Ok(bytes) if !bytes.starts_with(MARKER.as_bytes()) => Err(miette!(
            help = "it was not written by facerunner; remove or rename it yourself if it should go",
            "{} exists and is not FaceRunner's",
            path.display()
        )),
        _ => Ok(()),
    }
}

fn systemctl(w: &Where, args: &[&str]) -> miette::Result<()> {
    let status = Command::new("systemctl")
        .args(w.user.then_some("--user"))
        .args(args)
        .status()
        .into_diagnostic()
        .wrap_err("cannot run systemctl")?;
    if status.success() {
        Ok(())
    } else {
        Err(miette!(
            help = if w.user {
                "is a user manager running (XDG_RUNTIME_DIR=/run/user/$UID)? Run the command yourself to see why"
            } else {
                "system units need root (sudo); run the command yourself to see why"
            },
            "`systemctl {}{}` failed ({status})",
            if w.user { "--user " } else { "" },
            args.join(" ")
        ))
    }
}

/// Reload and run `systemctl ARGS UNIT`, unless --no-enable or there is
/// no systemctl; whether it ran.
fn enable(w: &Where, name: &str, args: &[&str]) -> miette::Result<bool> {
    if w.no_enable || w.dry_run {
        return Ok(false);
    }
    if crate::installs::on_path("systemctl").is_none() {
        println!("systemctl not found: the unit was written but not enabled");
        return Ok(false);
    }
    systemctl(w, &["daemon-reload"])?;
    let mut all: Vec<&str> = args.to_vec();
    all.push(name);
    systemctl(w, &all)?;
    Ok(true)
}

fn print_next(w: &Where, name: &str, enabled: bool) {
    let user = if w.user { "--user " } else { "" };
    if !enabled {
        println!("enable it: systemctl {user}daemon-reload && systemctl {user}enable --now {name}");
    } else {
        println!("enabled and started {name}");
    }
    if w.user {
        println!(
            "a user unit stops at logout unless lingering is on: loginctl enable-linger {}",
            std::env::var("USER").unwrap_or_else(|_| "$USER".into())
        );
    }
    println!("logs: journalctl {user}-u {name}");
}

/// Send `state` (`READY=1`, `STATUS=...`) to systemd's `$NOTIFY_SOCKET`, if
/// set (a path, or `@name` for an abstract socket). No-op otherwise.
pub fn sd_notify(state: &str) -> std::io::Result<()> {
    let Some(addr) = std::env::var_os("NOTIFY_SOCKET").filter(|a| !a.is_empty()) else {
        return Ok(());
    };
    let sock = std::os::unix::net::UnixDatagram::unbound()?;
    use std::os::unix::ffi::OsStrExt;
    let bytes = addr.as_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        let a = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
        sock.send_to_addr(state.as_bytes(), &a)?;
    } else {
        sock.send_to(state.as_bytes(), Path::new(&addr))?;
    }
    Ok(())
}

/// For `daemon --foreground`: once the daemon answers on its socket, bring
/// the file's services up when `up` (as `facerunner up` does), then tell
/// systemd `READY=1` (only once they are; a failure is reported as
/// `STATUS=` and systemd's start timeout applies). Runs on its own thread.
pub fn notify_when_ready(global: &Global, dirs: &crate::paths::ProjectDirs, up: bool) {
    if !up && std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    let (global, socket) = (global.clone(), dirs.socket());
    let spawned = std::thread::Builder::new()
        .name("sd-notify".into())
        .spawn(move || {
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while std::os::unix::net::UnixStream::connect(&socket).is_err() {
                if std::time::Instant::now() >= deadline {
                    let _ = sd_notify("STATUS=the daemon did not start listening");
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if up {
                let _ = sd_notify("STATUS=starting services");
                let ok = super::up::run(
                    &global,
                    super::up::UpArgs {
                        services: vec![],
                        foreground: false,
                    },
                );
                match ok {
                    Ok(code) if code == ExitCode::SUCCESS => {}
                    Ok(_) => {
                        let _ = sd_notify(
                            "STATUS=some services did not come up; see facerunner status",
                        );
                        return;
                    }
                    Err(e) => {
                        let _ = sd_notify(&format!("STATUS=up failed: {e}"));
                        return;
                    }
                }
            }
            let _ = sd_notify("READY=1\nSTATUS=services up");
        });
    if let Err(e) = spawned {
        eprintln!("facerunner daemon: cannot watch for readiness: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(user: bool) -> UnitSpec {
        UnitSpec {
            project: "lab".into(),
            exe: "/opt/fr 1/facerunner".into(),
            file: "/home/a/lab/facerunner.yaml".into(),
            user,
            path: Some("/usr/bin:/bin:/x%y".into()),
            home: None,
            uid: 1000,
        }
    }

    #[test]
    fn the_unit_is_notify_mixed_and_restarts_on_failure() {
        let t = unit_text(&spec(true)).expect("unit");
        assert!(t.starts_with(MARKER));
        for line in [
            "Type=notify",
            "KillMode=mixed",
            "Restart=on-failure",
            "ExecStart=\"/opt/fr 1/facerunner\" -f /home/a/lab/facerunner.yaml daemon --foreground --up",
            "WorkingDirectory=/home/a/lab",
            "Environment=\"PATH=/usr/bin:/bin:/x%%y\"",
            "WantedBy=default.target",
        ] {
            assert!(t.lines().any(|l| l == line), "{line} missing:\n{t}");
        }
        assert!(
            !t.contains("network-online"),
            "a user manager cannot order on it"
        );
        assert!(!t.contains("User="));
        let s = unit_text(&spec(false)).expect("unit");
        assert!(
            s.contains("User=1000\n") && s.contains("WantedBy=multi-user.target"),
            "{s}"
        );
    }

    #[test]
    fn specifiers_and_line_breaks_cannot_be_injected() {
        assert_eq!(exec_word("a%h$X").expect("word"), "a%%h$$X");
        assert_eq!(exec_word("a\"b c").expect("word"), "\"a\\\"b c\"");
        let mut s = spec(true);
        s.file = "/x\n[Service]\nExecStartPre=/bin/evil/facerunner.yaml".into();
        assert!(unit_text(&s).is_err());
    }
}
