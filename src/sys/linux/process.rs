//! Process-model calls: the parent-death signal, process groups, a new
//! session, and the path of our own image.

use std::path::PathBuf;

pub use rustix::process::{Pid, Signal};

/// Ask for `sig` when our parent dies, then check the parent is still
/// `parent` (closing the race where it died before the request). False
/// when either fails: the parent is gone.
pub fn die_with_parent(sig: Signal, parent: u32) -> bool {
    rustix::process::set_parent_process_death_signal(Some(sig)).is_ok()
        && rustix::process::getppid().map(|p| p.as_raw_nonzero().get() as u32) == Some(parent)
}

/// Send `sig` to every process of the group `group` (errors ignored: a
/// group that is gone has nothing to signal).
pub fn signal_group(group: Pid, sig: Signal) {
    let _ = rustix::process::kill_process_group(group, sig);
}

/// Whether the group `group` still has members.
pub fn group_alive(group: Pid) -> bool {
    rustix::process::test_kill_process_group(group).is_ok()
}

/// Start a new session (for a process about to `exec`: call it from
/// `pre_exec`, where only async-signal-safe calls are allowed — setsid is).
pub fn new_session() -> std::io::Result<()> {
    rustix::process::setsid().map(drop).map_err(Into::into)
}

/// The path that always names our own running image: `/proc/self/exe`, so
/// a rebuild of the binary on disk cannot change what we spawn; else the
/// executable's path.
pub fn own_image() -> std::io::Result<PathBuf> {
    let proc_exe = PathBuf::from("/proc/self/exe");
    if proc_exe.exists() {
        Ok(proc_exe)
    } else {
        std::env::current_exe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_group_is_alive_and_a_group_of_nobody_is_not() {
        let ours = rustix::process::getpgrp();
        assert!(group_alive(ours));
        // Pid 2^22 - 1 is above the default pid_max of most systems' groups in use.
        assert!(!group_alive(Pid::from_raw(4_194_303).expect("pid")));
        assert!(own_image().expect("image").exists());
    }
}
