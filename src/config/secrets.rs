//! Generated secrets (Open WebUI's `WEBUI_SECRET_KEY`, ...).
//!
//! Each is 32 bytes from the OS CSPRNG, hex-encoded, created once in the
//! project's secrets directory with mode 0600 (`create_new`, so two
//! concurrent creators cannot overwrite each other), and read back on every
//! later start. Secrets never enter a spec hash: they are redacted first, so
//! creating one does not make a service look changed.

use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// What the spec holds when the secret is not created yet (`plan`, `config`).
pub const NOT_YET: &str = "<generated at first start>";

/// Read the secret `name`, creating it when `create` is true.
pub fn secret(dir: &Path, name: &str, create: bool) -> io::Result<String> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => return Ok(s.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if !create {
        return Ok(NOT_YET.into());
    }
    std::fs::create_dir_all(dir)?;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| io::Error::other(format!("the OS random source failed: {e}")))?;
    let value = hex::encode(bytes);
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
    {
        Ok(mut f) => {
            f.write_all(value.as_bytes())?;
            f.sync_all()?;
            Ok(value)
        }
        // Someone else created it first: theirs wins.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => secret(dir, name, false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(secret(dir.path(), "k", false).unwrap(), NOT_YET);
        let a = secret(dir.path(), "k", true).unwrap();
        assert_eq!(a.len(), 64);
        assert_eq!(secret(dir.path(), "k", true).unwrap(), a);
        let mode = std::fs::metadata(dir.path().join("k"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
