//! Process identity, so FaceRunner only ever signals processes it started.
//!
//! A pid alone is not an identity: after a process exits its pid can be
//! reused by anything. We record `(pid, pgid, start time)` at spawn, the
//! start time being field 22 of `/proc/<pid>/stat` (clock ticks since boot),
//! and check it again before every signal. Signals always go to the
//! service's process group, which the service leads (pgid = pid). If the
//! leader has exited, the group may still hold grandchildren; Linux does not
//! hand out a pid while it is still in use as a process-group id, so
//! signalling the group is still safe then. Only "the pid exists with a
//! different start time" means the group is someone else's.

use std::io;

use rustix::process::{Pid, Signal};

/// Who a spawned service is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProcessIdentity {
    /// Pid of the service process.
    pub pid: u32,
    /// Its process group (equal to `pid`: it leads the group).
    pub pgid: u32,
    /// Start time in clock ticks since boot (`/proc/<pid>/stat` field 22).
    pub start_ticks: u64,
}

/// What `/proc` says about a recorded identity now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Same pid, same start time: ours.
    Ours,
    /// No such pid: it exited.
    Gone,
    /// The pid belongs to another process now.
    Reused,
}

/// The fields of `/proc/<pid>/stat` we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// Parent pid.
    pub ppid: u32,
    /// Process group.
    pub pgrp: u32,
    /// Start time in clock ticks since boot.
    pub start_ticks: u64,
}

/// Whether `pid` exists and is not a zombie.
pub fn is_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|t| {
            t.rfind(')')
                .map(|i| !t[i + 1..].trim_start().starts_with(['Z', 'X']))
        })
        .unwrap_or(false)
}

/// Read `/proc/<pid>/stat`; `Ok(None)` when the process does not exist.
pub fn stat(pid: u32) -> io::Result<Option<Stat>> {
    let text = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(3) => return Ok(None), // ESRCH: exiting
        Err(e) => return Err(e),
    };
    parse_stat(&text).map(Some).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected /proc/{pid}/stat"),
        )
    })
}

/// Parse a stat line; the command name may contain spaces and parentheses,
/// so fields are counted from the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state); field N is fields[N - 3].
    Some(Stat {
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        start_ticks: fields.get(19)?.parse().ok()?,
    })
}

impl ProcessIdentity {
    /// Identity of a live process, read from `/proc`.
    pub fn of(pid: u32) -> io::Result<Option<ProcessIdentity>> {
        Ok(stat(pid)?.map(|s| ProcessIdentity {
            pid,
            pgid: s.pgrp,
            start_ticks: s.start_ticks,
        }))
    }

    /// Compare with what `/proc` says now.
    pub fn liveness(&self) -> Liveness {
        match stat(self.pid) {
            Ok(Some(s)) if s.start_ticks == self.start_ticks => Liveness::Ours,
            Ok(Some(_)) => Liveness::Reused,
            Ok(None) | Err(_) => Liveness::Gone,
        }
    }

    /// Send `sig` to the service's process group, unless the group leader's
    /// pid now belongs to someone else. Returns whether a signal was sent to
    /// a group that still had members.
    pub fn signal_group(&self, sig: Signal) -> io::Result<bool> {
        if self.liveness() == Liveness::Reused {
            tracing::warn!(
                pid = self.pid,
                "pid reused by another process; not signalling"
            );
            return Ok(false);
        }
        let Some(pgid) = Pid::from_raw(self.pgid as i32) else {
            return Ok(false);
        };
        match rustix::process::kill_process_group(pgid, sig) {
            Ok(()) => Ok(true),
            Err(rustix::io::Errno::SRCH) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether the process group still has members.
    pub fn group_alive(&self) -> bool {
        Pid::from_raw(self.pgid as i32)
            .is_some_and(|p| rustix::process::test_kill_process_group(p).is_ok())
    }
}

/// Parse `SIGTERM`, `TERM`, `sigterm` or a number.
pub fn parse_signal(name: &str) -> Option<Signal> {
    let upper = name.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    let sig = match bare {
        "TERM" => Signal::TERM,
        "INT" => Signal::INT,
        "HUP" => Signal::HUP,
        "QUIT" => Signal::QUIT,
        "KILL" => Signal::KILL,
        "USR1" => Signal::USR1,
        "USR2" => Signal::USR2,
        "WINCH" => Signal::WINCH,
        other => return other.parse::<i32>().ok().and_then(Signal::from_named_raw),
    };
    Some(sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_parsing_survives_odd_names() {
        let line = "42 (a (b) c) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 123456 0 0";
        let s = parse_stat(line).expect("parses");
        assert_eq!(
            s,
            Stat {
                ppid: 1,
                pgrp: 42,
                start_ticks: 123456
            }
        );
    }

    #[test]
    fn our_own_identity_is_ours() {
        let me = ProcessIdentity::of(std::process::id())
            .expect("proc")
            .expect("exists");
        assert_eq!(me.liveness(), Liveness::Ours);
        let other = ProcessIdentity {
            start_ticks: me.start_ticks + 1,
            ..me
        };
        assert_eq!(other.liveness(), Liveness::Reused);
    }

    #[test]
    fn signal_names() {
        assert_eq!(parse_signal("SIGTERM"), Some(Signal::TERM));
        assert_eq!(parse_signal("int"), Some(Signal::INT));
        assert_eq!(parse_signal("9"), Some(Signal::KILL));
        assert_eq!(parse_signal("SIGNOPE"), None);
    }
}
