//! Descriptors and children a process keeps across `execve`: what a daemon
//! re-executing itself hands to its next image (see
//! `supervisor/reexec.rs`), and taking them back on the other side.
//!
//! A descriptor number read from a handover file is only trusted after
//! `fstat` shows it is open and of the expected kind.

use std::io;
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};

use rustix::fs::FileType;
use rustix::io::FdFlags;
use rustix::process::{Pid, WaitOptions};

/// Let `fd` (open in this process) survive the next `execve`: clear its
/// close-on-exec flag.
///
/// # Errors
/// When `fd` is not open.
pub fn keep_across_exec(fd: RawFd) -> io::Result<()> {
    // SAFETY: only used for one fcntl call; the caller owns `fd` and keeps it open.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    rustix::io::fcntl_setfd(fd, FdFlags::empty()).map_err(Into::into)
}

/// Take an inherited descriptor that must be of `kind`: it gets
/// close-on-exec again and is owned by the caller.
fn take(fd: RawFd, kind: FileType) -> io::Result<OwnedFd> {
    if fd <= 2 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("descriptor {fd} is a standard stream"),
        ));
    }
    // SAFETY: borrowed only to inspect it; nothing is closed here.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let stat = rustix::fs::fstat(borrowed)?;
    let found = FileType::from_raw_mode(stat.st_mode);
    if found != kind {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("descriptor {fd} is a {found:?}, not a {kind:?}"),
        ));
    }
    rustix::io::fcntl_setfd(borrowed, FdFlags::CLOEXEC)?;
    // SAFETY: the descriptor is open (fstat succeeded), was handed to this
    // image by its previous one, and nothing else in this process owns it:
    // the caller takes each handed-over number once.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// An inherited pipe end.
///
/// # Errors
/// When `fd` is not open, a standard stream, or not a pipe.
pub fn pipe(fd: RawFd) -> io::Result<OwnedFd> {
    take(fd, FileType::Fifo)
}

/// An inherited socket (the daemon's listener).
///
/// # Errors
/// When `fd` is not open, a standard stream, or not a socket.
pub fn socket(fd: RawFd) -> io::Result<OwnedFd> {
    take(fd, FileType::Socket)
}

/// An inherited regular file (the daemon's lock file).
///
/// # Errors
/// When `fd` is not open, a standard stream, or not a regular file.
pub fn file(fd: RawFd) -> io::Result<OwnedFd> {
    take(fd, FileType::RegularFile)
}

/// Wait for our child `pid` to exit and reap it (blocks: run it off the
/// async threads); `(code, signal)`, or `None` when `pid` is not our child.
pub fn reap(pid: u32) -> Option<(Option<i32>, Option<i32>)> {
    let pid = Pid::from_raw(i32::try_from(pid).ok()?)?;
    loop {
        match rustix::process::waitpid(Some(pid), WaitOptions::empty()) {
            Ok(Some((_, st))) if st.exited() || st.signaled() => {
                return Some((st.exit_status(), st.terminating_signal()));
            }
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsRawFd, IntoRawFd};

    #[test]
    fn an_inherited_descriptor_is_checked_for_its_kind() {
        let (r, w) = std::io::pipe().expect("pipe");
        let file = tempfile::tempfile().expect("tempfile");
        assert!(file_is_cloexec(r.as_raw_fd()));
        keep_across_exec(r.as_raw_fd()).expect("clear");
        assert!(!file_is_cloexec(r.as_raw_fd()));
        // A file is not a pipe, a pipe is not a file; fd 1 is never taken.
        assert!(pipe(file.as_raw_fd()).is_err());
        assert!(self::file(r.as_raw_fd()).is_err());
        assert!(socket(r.as_raw_fd()).is_err());
        assert!(pipe(1).is_err());
        let raw = r.into_raw_fd();
        let owned = pipe(raw).expect("a pipe");
        assert!(file_is_cloexec(owned.as_raw_fd()), "close-on-exec again");
        drop(owned);
        drop(w);
        // A closed number is refused.
        assert!(pipe(raw).is_err());
        let f = self::file(file.into_raw_fd()).expect("a file");
        drop(f);
    }

    fn file_is_cloexec(fd: RawFd) -> bool {
        let b = unsafe { BorrowedFd::borrow_raw(fd) };
        rustix::io::fcntl_getfd(b)
            .expect("getfd")
            .contains(FdFlags::CLOEXEC)
    }

    #[test]
    fn reap_returns_the_childs_status() {
        // Reaped by `reap` itself, not through `Child`.
        let pid = std::process::Command::new("sh")
            .args(["-c", "exit 7"])
            .spawn()
            .expect("spawn")
            .id();
        assert_eq!(reap(pid), Some((Some(7), None)));
        let pid = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn")
            .id();
        rustix::process::kill_process(
            Pid::from_raw(i32::try_from(pid).expect("pid")).expect("pid"),
            rustix::process::Signal::KILL,
        )
        .expect("kill");
        assert_eq!(reap(pid), Some((None, Some(9))));
        assert_eq!(reap(pid), None, "reaped already");
    }
}
