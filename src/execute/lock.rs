//! One apply at a time per project: a [`PidLock`] on `<state>/apply.lock`.
//!
//! A second apply waits, saying once who holds it; the CLI waits for a
//! running apply (without taking the lock) before it plans, so it plans
//! against the world that apply leaves.

use std::path::Path;

use crate::pidlock::PidLock;

/// The lock file's name in the state directory.
pub const LOCK_FILE: &str = "apply.lock";

/// A held apply lock; released on drop.
pub type ApplyLock = PidLock;

/// Wait for the apply lock of `state_dir`; `on_wait` is told once the pid
/// of the holder.
pub async fn acquire(state_dir: &Path, on_wait: impl FnMut(&str)) -> std::io::Result<ApplyLock> {
    crate::safefs::create_private_dir_all(state_dir)?;
    PidLock::acquire(&state_dir.join(LOCK_FILE), on_wait).await
}

/// Wait until no apply holds the lock, without taking it.
pub async fn wait_until_free(state_dir: &Path, on_wait: impl FnMut(&str)) -> std::io::Result<()> {
    crate::pidlock::wait_until_free(&state_dir.join(LOCK_FILE), on_wait).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_holder_waits_and_learns_the_pid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = acquire(dir.path(), |_| panic!("free")).await.expect("lock");
        let (tx, rx) = std::sync::mpsc::channel();
        let d = dir.path().to_path_buf();
        let second = tokio::spawn(async move {
            acquire(&d, |pid| tx.send(pid.to_string()).expect("send")).await
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
        let e = acquire(dir.path(), |_| panic!("no holder"))
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
        let held = acquire(dir.path(), |_| panic!("free")).await.expect("lock");
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
        let held = acquire(dir.path(), |_| panic!("free")).await.expect("lock");
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
