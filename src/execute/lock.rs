//! One apply at a time per project: an exclusive lock on
//! `<state>/apply.lock`, holding the pid of the holder.
//!
//! The lock is the OS's (`File::try_lock`), so it is released when the
//! holder exits, even by SIGKILL: a stale pid in the file never blocks
//! anyone. A second apply waits, saying once who holds it.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The lock file's name in the state directory.
pub const LOCK_FILE: &str = "apply.lock";

/// A held apply lock; released on drop.
#[derive(Debug)]
pub struct ApplyLock {
    file: File,
    path: PathBuf,
}

impl ApplyLock {
    /// Wait for the lock; `on_wait` is told once the pid of the holder.
    pub async fn acquire(
        state_dir: &Path,
        mut on_wait: impl FnMut(&str),
    ) -> std::io::Result<ApplyLock> {
        crate::safefs::create_private_dir_all(state_dir)?;
        let path = state_dir.join(LOCK_FILE);
        // Never through a planted link, never a FIFO: 0600, a file of ours.
        let mut file = crate::safefs::open_private_rw(&path)?;
        let mut told = false;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    if !told {
                        on_wait(&holder(&file));
                        told = true;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(TryLockError::Error(e)) => return Err(e),
            }
        }
        file.set_len(0)?;
        file.rewind()?;
        write!(file, "{}", std::process::id())?;
        file.sync_all()?;
        Ok(ApplyLock { file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
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

/// Wait until no apply holds the lock, without taking it (nothing is
/// written, so the file only ever names an apply that runs); `on_wait` is
/// told once the pid of the holder. The CLI waits so before it plans, so
/// it plans against the world the running apply leaves.
pub async fn wait_until_free(
    state_dir: &Path,
    mut on_wait: impl FnMut(&str),
) -> std::io::Result<()> {
    let file = match crate::safefs::open_private_read(&state_dir.join(LOCK_FILE)) {
        Ok(f) => f,
        Err(crate::safefs::SafeFsError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let mut told = false;
    loop {
        match file.try_lock_shared() {
            Ok(()) => {
                let _ = file.unlock();
                return Ok(());
            }
            Err(TryLockError::WouldBlock) => {
                if !told {
                    on_wait(&holder(&file));
                    told = true;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(TryLockError::Error(e)) => return Err(e),
        }
    }
}

impl Drop for ApplyLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_holder_waits_and_learns_the_pid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = ApplyLock::acquire(dir.path(), |_| panic!("free"))
            .await
            .expect("lock");
        let (tx, rx) = std::sync::mpsc::channel();
        let d = dir.path().to_path_buf();
        let second = tokio::spawn(async move {
            ApplyLock::acquire(&d, |pid| tx.send(pid.to_string()).expect("send")).await
        });
        let pid = tokio::task::spawn_blocking(move || rx.recv().expect("told"))
            .await
            .expect("join");
        assert_eq!(pid, std::process::id().to_string());
        drop(first);
        second.await.expect("join").expect("then acquired");
    }

    #[tokio::test]
    async fn a_planted_symlink_is_refused_and_its_target_untouched() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("victim");
        std::fs::write(&target, "precious").expect("write");
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        std::os::unix::fs::symlink(&target, dir.path().join(LOCK_FILE)).expect("symlink");
        let e = ApplyLock::acquire(dir.path(), |_| panic!("no holder"))
            .await
            .expect_err("refused");
        assert!(e.to_string().contains("symbolic link"), "{e}");
        let e = wait_until_free(dir.path(), |_| panic!("no holder"))
            .await
            .expect_err("refused");
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "precious");
        let mode = std::fs::metadata(&target)
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644);
    }

    #[tokio::test]
    async fn the_lock_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let held = ApplyLock::acquire(dir.path(), |_| panic!("free"))
            .await
            .expect("lock");
        let mode = std::fs::metadata(held.path())
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[tokio::test]
    async fn waiting_until_free_learns_the_pid_and_writes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        wait_until_free(dir.path(), |_| panic!("no lock file: free"))
            .await
            .expect("free");
        let held = ApplyLock::acquire(dir.path(), |_| panic!("free"))
            .await
            .expect("lock");
        let (tx, rx) = std::sync::mpsc::channel();
        let d = dir.path().to_path_buf();
        let waiter = tokio::spawn(async move {
            wait_until_free(&d, |pid| tx.send(pid.to_string()).expect("send")).await
        });
        let pid = tokio::task::spawn_blocking(move || rx.recv().expect("told"))
            .await
            .expect("join");
        assert_eq!(pid, std::process::id().to_string());
        let path = held.path().to_path_buf();
        drop(held);
        waiter.await.expect("join").expect("then free");
        assert_eq!(std::fs::read_to_string(path).expect("read"), "");
    }
}
