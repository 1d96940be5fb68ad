//! `facerunner update`: FaceRunner's own releases.
//!
//! The feed is a base URL laid out like GitHub releases (the same layout as
//! Ollama's, [`super::ollama`]): `{base}/latest` redirects to
//! `{base}/tag/v{VERSION}`; `{base}/download/v{VERSION}/sha256sum.txt`
//! lists `facerunner-linux-{amd64,arm64}` (the bare executable). The base
//! is `$FACERUNNER_UPDATE_URL`; there is no built-in default until
//! FaceRunner publishes releases somewhere.
//!
//! Replacing is atomic: the new executable is written beside the running
//! one (same directory, so the same file system), checked, made executable
//! and renamed over it. A copy installed by a package manager is never
//! replaced; its owner is told to upgrade through the manager.

use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::ollama::parse_sums;
use crate::safefs::path_err;

/// The feed's base URL.
pub const FEED_ENV: &str = "FACERUNNER_UPDATE_URL";
/// Set (to anything) to turn the automatic daily check off.
pub const NO_CHECK_ENV: &str = "FACERUNNER_NO_UPDATE_CHECK";
/// How often the automatic check may ask the feed.
pub const CHECK_EVERY: Duration = Duration::from_secs(24 * 3600);

/// Why an update could not be checked or installed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateError {
    /// No feed configured.
    #[error(
        "no release feed is configured; set {FEED_ENV} to the releases' base URL (laid out like https://github.com/OWNER/REPO/releases)"
    )]
    NoFeed,
    /// The request failed.
    #[error("cannot fetch {url}; check the network and {FEED_ENV}")]
    Http {
        /// The URL.
        url: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// An error status.
    #[error("{url} answered {status}; check {FEED_ENV}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// `{base}/latest` did not lead to a tag.
    #[error(
        "cannot tell the latest version from {url} (it led to {landed}); the feed is not laid out like GitHub releases"
    )]
    NoLatest {
        /// The URL asked.
        url: String,
        /// Where it led.
        landed: String,
    },
    /// No executable for this machine.
    #[error("{url} lists no {wanted}; this release has no build for this machine")]
    NoAsset {
        /// The checksum file.
        url: String,
        /// The asset looked for.
        wanted: String,
    },
    /// The download does not match its checksum.
    #[error(
        "{url} does not match its published SHA-256 (expected {expected}, got {actual}); nothing was replaced. Try again later; if it persists, the feed or the file was tampered with"
    )]
    Checksum {
        /// The URL.
        url: String,
        /// Published.
        expected: String,
        /// Computed.
        actual: String,
    },
    /// A file operation failed.
    #[error(transparent)]
    Io(#[from] crate::safefs::PathError),
}

/// The feed from the environment.
pub fn feed() -> Result<String, UpdateError> {
    std::env::var(FEED_ENV)
        .ok()
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('/').to_string())
        .ok_or(UpdateError::NoFeed)
}

/// This machine's asset name.
pub fn asset_name() -> Option<&'static str> {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => Some("facerunner-linux-amd64"),
        ("linux", "aarch64") => Some("facerunner-linux-arm64"),
        _ => None,
    }
}

/// `1.2.10` > `1.2.9`: numeric parts compared in order (a `v` prefix and a
/// `-pre` suffix are ignored); `None` when either is not a version.
pub fn is_newer(latest: &str, current: &str) -> Option<bool> {
    let parse = |v: &str| -> Option<Vec<u64>> {
        let v = v.strip_prefix('v').unwrap_or(v);
        let core = v.split(['-', '+']).next()?;
        core.split('.').map(|p| p.parse().ok()).collect()
    };
    Some(parse(latest)? > parse(current)?)
}

/// Whether `exe` belongs to a package manager (so it is only told, never
/// replaced): under `/usr`, `/bin`, `/sbin`, `/nix/store`, `/snap`, or a
/// Homebrew prefix.
pub fn package_managed(exe: &Path) -> bool {
    [
        "/usr/bin",
        "/usr/sbin",
        "/usr/lib",
        "/usr/libexec",
        "/bin",
        "/sbin",
        "/nix/store",
        "/snap",
        "/opt/homebrew",
        "/home/linuxbrew",
    ]
    .iter()
    .any(|p| exe.starts_with(p))
}

async fn send(client: &reqwest::Client, url: &str) -> Result<reqwest::Response, UpdateError> {
    let resp = client
        .get(url)
        .send()
        .await
        .map_err(|source| UpdateError::Http {
            url: url.into(),
            source,
        })?;
    if !resp.status().is_success() {
        return Err(UpdateError::Status {
            url: url.into(),
            status: resp.status().as_u16(),
        });
    }
    Ok(resp)
}

/// The latest version the feed offers (without a `v`).
pub async fn latest(client: &reqwest::Client, base: &str) -> Result<String, UpdateError> {
    let url = format!("{base}/latest");
    let resp = send(client, &url).await?;
    let landed = resp.url().clone();
    let segs: Vec<String> = landed
        .path_segments()
        .map(|s| s.map(str::to_string).collect())
        .unwrap_or_default();
    match segs.as_slice() {
        [.., tag, v] if tag == "tag" && crate::installs::valid_version(v) => {
            Ok(v.strip_prefix('v').unwrap_or(v).to_string())
        }
        _ => Err(UpdateError::NoLatest {
            url,
            landed: landed.to_string(),
        }),
    }
}

/// The largest release executable downloaded.
const MAX_BINARY_BYTES: u64 = 512 << 20;

/// Download release `version`'s executable, check it against the release's
/// `sha256sum.txt`, and rename it over `exe`.
pub async fn replace(
    client: &reqwest::Client,
    base: &str,
    version: &str,
    exe: &Path,
    progress: &dyn super::Progress,
) -> Result<(), UpdateError> {
    let wanted = asset_name().ok_or_else(|| UpdateError::NoAsset {
        url: base.into(),
        wanted: format!(
            "build for {}/{}",
            std::env::consts::OS,
            std::env::consts::ARCH
        ),
    })?;
    let sums_url = format!("{base}/download/v{version}/sha256sum.txt");
    // A checksum list is small: never hold more than 1 MiB of one.
    let body = crate::http::read_capped(send(client, &sums_url).await?, 1 << 20)
        .await
        .map_err(|e| match e {
            crate::http::CappedError::Transfer(source) => UpdateError::Http {
                url: sums_url.clone(),
                source,
            },
            crate::http::CappedError::TooLarge { .. } => {
                UpdateError::Io(crate::safefs::PathError {
                    action: "read (larger than 1 MiB)",
                    path: sums_url.clone().into(),
                    source: io::Error::other("too large"),
                })
            }
        })?;
    let expected = parse_sums(&String::from_utf8_lossy(&body))
        .into_iter()
        .find(|(n, _)| n == wanted)
        .map(|(_, h)| h)
        .ok_or_else(|| UpdateError::NoAsset {
            url: sums_url.clone(),
            wanted: wanted.into(),
        })?;
    let url = format!("{base}/download/v{version}/{wanted}");
    let resp = send(client, &url).await?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    let tmp =
        super::temp_name(dir, "facerunner-update").map_err(path_err("name a file in", dir))?;
    let result = async {
        let actual =
            super::fetch_to_new_file(resp, &tmp, 0o755, MAX_BINARY_BYTES, wanted, progress)
                .await
                .map_err(|e| match e {
                    super::FetchError::Http(source) => UpdateError::Http {
                        url: url.clone(),
                        source,
                    },
                    super::FetchError::Io(action, source) => path_err(action, &tmp)(source).into(),
                    super::FetchError::TooLarge => UpdateError::Io(crate::safefs::PathError {
                        action: "download (larger than 512 MiB)",
                        path: url.clone().into(),
                        source: io::Error::other("too large"),
                    }),
                })?;
        if actual != expected {
            return Err(UpdateError::Checksum {
                url: url.clone(),
                expected: expected.clone(),
                actual,
            });
        }
        std::fs::rename(&tmp, exe).map_err(|e| path_err("replace", exe)(e).into())
    }
    .await;
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Whether the automatic check may run now: not under CI, not opted out
/// (`FACERUNNER_NO_UPDATE_CHECK`, `NO_UPDATE_NOTIFIER`, `DO_NOT_TRACK`), a
/// feed configured, and the stamp file older than a day (or absent).
pub fn auto_check_due(stamp: &Path) -> bool {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    if set("CI") || set(NO_CHECK_ENV) || set("NO_UPDATE_NOTIFIER") || set("DO_NOT_TRACK") {
        return false;
    }
    if feed().is_err() {
        return false;
    }
    match std::fs::symlink_metadata(stamp).and_then(|m| m.modified()) {
        Ok(t) => SystemTime::now()
            .duration_since(t)
            .map_or(true, |age| age >= CHECK_EVERY),
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(is_newer("0.10.0", "0.9.9"), Some(true));
        assert_eq!(is_newer("v1.2.3", "1.2.3"), Some(false));
        assert_eq!(is_newer("1.2.3-rc1", "1.2.2"), Some(true));
        assert_eq!(is_newer("0.1.0", "0.2.0"), Some(false));
        assert_eq!(is_newer("banana", "0.1.0"), None);
    }

    #[test]
    fn package_manager_paths_are_only_told() {
        assert!(package_managed(Path::new("/usr/bin/facerunner")));
        assert!(package_managed(Path::new(
            "/nix/store/abc-facerunner/bin/facerunner"
        )));
        assert!(!package_managed(Path::new("/home/a/.local/bin/facerunner")));
        assert!(!package_managed(Path::new("/usr/local/bin/facerunner")));
    }
}
