//! "One holder at a time" locks that name their holder: an OS lock
//! (`flock`) on a private file that holds the holder's pid.
//!
//! Used for the daemon (`state/daemon.lock`: one daemon per project) and
//! for applies (`state/apply.lock`: one apply at a time). The OS releases
//! the lock when its holder exits, even by SIGKILL, so a stale pid in the
//! file never blocks anyone; the pid is only what a waiter is told. The
//! file is opened through [`crate::safefs`]: never through a planted link,
//! never a FIFO, 0600.

use std::fs::{File, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A held lock; released (and its pid cleared) on drop.
#[derive(Debug)]
pub struct PidLock {
    file: File,
    path: PathBuf,
}

/// What trying a lock found.
#[derive(Debug)]
pub enum Attempt {
    /// Ours now.
    Held(PidLock),
    /// Someone else holds it: the pid in the file (`?` when unknown).
    Busy {
        /// The holder's pid as written.
        holder: String,
    },
}

impl PidLock {
    /// Try once, without waiting.
    pub fn try_acquire(path: &Path) -> io::Result<Attempt> {
        let file = crate::safefs::open_private_rw(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Attempt::Held(PidLock::claim(file, path)?)),
            Err(TryLockError::WouldBlock) => Ok(Attempt::Busy {
                holder: holder(&file),
            }),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }

    /// Wait for the lock; `on_wait` is told once the pid of the holder.
    pub async fn acquire(path: &Path, on_wait: impl FnMut(&str)) -> io::Result<PidLock> {
        let file = crate::safefs::open_private_rw(path)?;
        wait_for(&file, File::try_lock, on_wait).await?;
        PidLock::claim(file, path)
    }

    /// Write our pid into a file we just locked.
    fn claim(mut file: File, path: &Path) -> io::Result<PidLock> {
        file.set_len(0)?;
        file.rewind()?;
        writeln!(file, "{}", std::process::id())?;
        file.sync_all()?;
        Ok(PidLock {
            file,
            path: path.to_path_buf(),
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The lock held through `file`, a descriptor of `path` this process
    /// inherited across `execve` from its previous image, which held it.
    pub fn inherited(file: File, path: PathBuf) -> PidLock {
        PidLock { file, path }
    }
}

impl std::os::fd::AsRawFd for PidLock {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.file.as_raw_fd()
    }
}

impl Drop for PidLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// The pid written in the lock file by its holder (`?` when unknown).
fn holder(mut file: &File) -> String {
    let mut pid = String::new();
    let _ = file
        .rewind()
        .and_then(|()| file.take(64).read_to_string(&mut pid));
    match pid.trim() {
        "" => "?".into(),
        p => p.to_string(),
    }
}

/// Whether nobody holds the lock at `path` (a missing file is free).
pub fn is_free(path: &Path) -> bool {
    match crate::safefs::open_private_read(path) {
        Ok(f) => {
            let free = f.try_lock_shared().is_ok();
            let _ = f.unlock();
            free
        }
        Err(_) => true,
    }
}

/// Wait until nobody holds the lock, without taking it (nothing is
/// written, so the file only ever names a real holder); `on_wait` is told
/// once the pid of the holder.
pub async fn wait_until_free(path: &Path, on_wait: impl FnMut(&str)) -> io::Result<()> {
    let file = match crate::safefs::open_private_read(path) {
        Ok(f) => f,
        Err(crate::safefs::SafeFsError::Io(e)) if e.source.kind() == io::ErrorKind::NotFound => {
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    wait_for(&file, File::try_lock_shared, on_wait).await?;
    let _ = file.unlock();
    Ok(())
}

/// Poll `try_lock` until it succeeds; `on_wait` is told once the holder.
async fn wait_for(
    file: &File,
    try_lock: impl Fn(&File) -> Result<(), TryLockError>,
    mut on_wait: impl FnMut(&str),
) -> io::Result<()> {
    let mut told = false;
    loop {
        match try_lock(file) {
            Ok(()) => return Ok(()),
            Err(TryLockError::WouldBlock) => {
                if !told {
                    on_wait(&holder(file));
                    told = true;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(TryLockError::Error(e)) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_try_is_told_the_holder_and_a_dropped_lock_is_free() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.lock");
        assert!(is_free(&path));
        let Attempt::Held(lock) = PidLock::try_acquire(&path).expect("try") else {
            panic!("free at first");
        };
        assert!(!is_free(&path));
        match PidLock::try_acquire(&path).expect("try") {
            Attempt::Busy { holder } => assert_eq!(holder, std::process::id().to_string()),
            Attempt::Held(_) => panic!("held twice"),
        }
        drop(lock);
        assert!(is_free(&path));
        assert!(matches!(
            PidLock::try_acquire(&path).expect("try"),
            Attempt::Held(_)
        ));
    }

    #[test]
    fn a_planted_link_is_never_locked_through() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("precious");
        std::fs::write(&target, "keep").expect("write");
        let path = dir.path().join("x.lock");
        std::os::unix::fs::symlink(&target, &path).expect("symlink");
        assert!(PidLock::try_acquire(&path).is_err());
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "keep");
    }
}
