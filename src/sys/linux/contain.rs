//! Containment: every process a service starts stops with it, including
//! those that leave its process group (`setsid`, `setpgid`, double forks).
//!
//! The shim keeps a service's processes together in one of two ways, and
//! reports which in its `started` line (shown by `status`):
//!
//! - **cgroup v2** (when the daemon's own cgroup is writable: root, or a
//!   delegated user slice): the shim creates `facerunner-shim-<pid>` under
//!   its cgroup, the service joins it between fork and exec (so nothing it
//!   starts can be outside it), and stopping writes `cgroup.kill` (or
//!   SIGKILLs each member on kernels without it), then removes the cgroup.
//! - **subreaper** (otherwise): the shim is `PR_SET_CHILD_SUBREAPER`, so a
//!   process whose parent exits is reparented to the shim rather than to
//!   init. Stopping repeatedly signals and reaps the shim's children until
//!   none remain; a process killed this way hands its own children to the
//!   shim in turn.
//!
//! The shim is a subreaper in both cases, and reaps orphans that exit while
//! the service runs. Setting `FACERUNNER_CONTAINMENT=subreaper` in the
//! daemon's environment skips the cgroup.
//!
//! Linux only (the lead moves this under `sys/`).

use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

use crate::model::wire::Containment;

/// Environment variable that forces the subreaper fallback.
pub const ENV: &str = "FACERUNNER_CONTAINMENT";

/// How long stopping keeps killing before it gives up (a process stuck in
/// uninterruptible sleep cannot be killed, only waited for).
const KILL_LIMIT: Duration = Duration::from_secs(10);

/// The shim's containment of its service.
#[derive(Debug)]
pub struct Contain {
    me: u32,
    /// The cgroup made for the service (until [`Contain::confirm`] says
    /// whether the service is in it).
    cgroup: Option<PathBuf>,
}

impl Contain {
    /// Become a subreaper and, unless [`ENV`] says `subreaper`, make a
    /// cgroup for the service. Never fails: without a cgroup, the subreaper
    /// is the containment; without that either, the process group is.
    pub fn prepare() -> Contain {
        let me = rustix::process::getpid();
        let _ = rustix::process::set_child_subreaper(Some(me));
        let me = me.as_raw_nonzero().get() as u32;
        let forced = std::env::var(ENV).is_ok_and(|v| v == "subreaper");
        let cgroup = if forced { None } else { make_cgroup(me).ok() };
        Contain { me, cgroup }
    }

    /// `cgroup.procs` of the cgroup the service is to join between fork and
    /// exec (see [`join`]), if there is one.
    pub fn join_target(&self) -> Option<CString> {
        let procs = self.cgroup.as_ref()?.join("cgroup.procs");
        CString::new(procs.as_os_str().as_bytes()).ok()
    }

    /// After spawning `pid`: whether it is in the cgroup (joining can fail,
    /// e.g. when the parent cgroup has controllers enabled); if not, drop the
    /// cgroup and rely on the subreaper.
    pub fn confirm(&mut self, pid: u32) -> Containment {
        match &self.cgroup {
            Some(dir) if cgroup_of(pid).as_deref() == Some(dir.as_path()) => {
                Containment::Cgroup { path: dir.clone() }
            }
            Some(dir) => {
                let _ = std::fs::remove_dir(dir);
                self.cgroup = None;
                Containment::Subreaper
            }
            None => Containment::Subreaper,
        }
    }

    /// Send `sig` to every contained process that left the service's group
    /// (members of the cgroup, and the shim's own children).
    pub fn signal_all(&self, sig: Signal) {
        let mut pids = self.cgroup.as_deref().map(cgroup_procs).unwrap_or_default();
        pids.extend(
            children(self.me)
                .into_iter()
                .filter(|c| !c.zombie)
                .map(|c| c.pid),
        );
        for pid in pids {
            if let Some(p) = Pid::from_raw(pid as i32) {
                let _ = rustix::process::kill_process(p, sig);
            }
        }
    }

    /// Kill everything contained at once (`cgroup.kill`, else SIGKILL each).
    fn kill_all(&self) {
        if let Some(dir) = &self.cgroup {
            let _ = kill_cgroup_now(dir);
        }
        // Without cgroup.kill, and for orphans: each process.
        self.signal_all(Signal::KILL);
    }

    /// Reap the shim's exited children except `except` (the service itself,
    /// which its `Child` handle reaps).
    pub fn reap(&self, except: Option<u32>) {
        for c in children(self.me) {
            if c.zombie
                && Some(c.pid) != except
                && let Some(p) = Pid::from_raw(c.pid as i32)
            {
                let _ = rustix::process::waitpid(Some(p), rustix::process::WaitOptions::NOHANG);
            }
        }
    }

    /// Whether nothing contained is left (call after the service exited).
    pub fn is_empty(&self) -> bool {
        self.reap(None);
        let cgroup_empty = self
            .cgroup
            .as_deref()
            .is_none_or(|d| cgroup_procs(d).is_empty());
        cgroup_empty && children(self.me).is_empty()
    }

    /// Kill and reap until nothing is left, or [`KILL_LIMIT`] passes.
    pub async fn kill_everything(&self) {
        let deadline = Instant::now() + KILL_LIMIT;
        loop {
            self.kill_all();
            if self.is_empty() || Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Remove the cgroup (once empty).
    pub fn finish(self) {
        if let Some(dir) = &self.cgroup {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Move the calling process into the cgroup whose `cgroup.procs` is
/// `procs`. Runs between fork and exec, so only async-signal-safe calls
/// (open, write, close) and no allocation. A failure leaves the process
/// where it was, which [`Contain::confirm`] notices.
pub fn join(procs: &CStr) {
    use rustix::fs::{Mode, OFlags};
    if let Ok(fd) = rustix::fs::open(procs, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty()) {
        let _ = rustix::io::write(&fd, b"0");
    }
}

/// Kill every member of a service's cgroup and remove it; for the daemon,
/// when a shim was killed before it could do so itself.
pub fn kill_cgroup(dir: &Path) {
    if kill_cgroup_now(dir).is_err() {
        for pid in cgroup_procs(dir) {
            if let Some(p) = Pid::from_raw(pid as i32) {
                let _ = rustix::process::kill_process(p, Signal::KILL);
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

fn kill_cgroup_now(dir: &Path) -> io::Result<()> {
    std::fs::write(dir.join("cgroup.kill"), "1")
}

/// The members of a cgroup.
fn cgroup_procs(dir: &Path) -> Vec<u32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// Create `facerunner-shim-<me>` under our own cgroup v2.
fn make_cgroup(me: u32) -> io::Result<PathBuf> {
    let own = cgroup_of(me).ok_or_else(|| io::Error::other("no cgroup v2"))?;
    let dir = own.join(format!("facerunner-shim-{me}"));
    if let Err(e) = std::fs::create_dir(&dir) {
        if e.kind() != io::ErrorKind::AlreadyExists {
            return Err(e);
        }
        // Left by an earlier process with our pid: empty cgroups can go.
        std::fs::remove_dir(&dir)?;
        std::fs::create_dir(&dir)?;
    }
    Ok(dir)
}

/// The cgroup v2 directory of `pid`: its `0::` line in `/proc/<pid>/cgroup`
/// under the cgroup2 mount.
fn cgroup_of(pid: u32) -> Option<PathBuf> {
    let text = read_small(&format!("/proc/{pid}/cgroup"))?;
    let rel = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    let mounts = read_small("/proc/self/mountinfo")?;
    cgroup_dir(&mounts, rel)
}

/// Join a cgroup path with the cgroup2 mount found in `mountinfo`.
fn cgroup_dir(mountinfo: &str, rel: &str) -> Option<PathBuf> {
    for line in mountinfo.lines() {
        let (left, right) = line.split_once(" - ")?;
        if right.split_whitespace().next() != Some("cgroup2") {
            continue;
        }
        let fields: Vec<&str> = left.split_whitespace().collect();
        let (root, mount) = (*fields.get(3)?, *fields.get(4)?);
        let rest = if root == "/" {
            rel
        } else {
            rel.strip_prefix(root)?
        };
        let rest = rest.trim_start_matches('/');
        if rest.split('/').any(|c| c == "..") {
            return None;
        }
        return Some(if rest.is_empty() {
            PathBuf::from(mount)
        } else {
            Path::new(mount).join(rest)
        });
    }
    None
}

fn read_small(path: &str) -> Option<String> {
    use std::io::Read;
    let mut s = String::new();
    std::fs::File::open(path)
        .ok()?
        .take(1 << 20)
        .read_to_string(&mut s)
        .ok()?;
    Some(s)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Child {
    pid: u32,
    zombie: bool,
}

/// The processes whose parent is `parent`, from `/proc/*/stat`.
fn children(parent: u32) -> Vec<Child> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Some(stat) = read_small(&format!("/proc/{pid}/stat")) else {
            continue;
        };
        if let Some((ppid, state)) = parse_stat(&stat)
            && ppid == parent
        {
            found.push(Child {
                pid,
                zombie: matches!(state, 'Z' | 'X'),
            });
        }
    }
    found
}

/// (ppid, state) of a stat line; fields are counted from the last `)`.
fn parse_stat(text: &str) -> Option<(u32, char)> {
    let mut rest = text.get(text.rfind(')')? + 1..)?.split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((ppid, state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_dirs_come_from_the_cgroup2_mount() {
        let mi = "30 1 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n";
        assert_eq!(
            cgroup_dir(mi, "/user.slice/a.scope"),
            Some(PathBuf::from("/sys/fs/cgroup/user.slice/a.scope"))
        );
        assert_eq!(cgroup_dir(mi, "/"), Some(PathBuf::from("/sys/fs/cgroup")));
        let v1 = "25 1 0:22 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        assert_eq!(cgroup_dir(v1, "/"), None);
        let nested = "30 1 0:26 /outer /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        assert_eq!(
            cgroup_dir(nested, "/outer/x"),
            Some(PathBuf::from("/sys/fs/cgroup/x"))
        );
        assert_eq!(cgroup_dir(mi, "/../etc"), None);
    }

    #[test]
    fn stat_lines_give_parent_and_state() {
        assert_eq!(parse_stat("42 (a) b) (c) Z 7 42 42 0"), Some((7, 'Z')));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn children_are_found_through_proc() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let me = std::process::id();
        assert!(
            children(me)
                .iter()
                .any(|c| c.pid == child.id() && !c.zombie)
        );
        child.kill().expect("kill");
        child.wait().expect("wait");
        assert!(!children(me).iter().any(|c| c.pid == child.id()));
    }
}
