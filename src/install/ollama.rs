//! Installing Ollama from its release archive.
//!
//! Releases are read from a base URL laid out like GitHub's
//! (`https://github.com/ollama/ollama/releases`, or `$FACERUNNER_OLLAMA_RELEASES`):
//!
//! - `{base}/latest` redirects to `{base}/tag/v{VERSION}` (the newest version);
//! - `{base}/download/v{VERSION}/sha256sum.txt` lists the SHA-256 of every asset;
//! - `{base}/download/v{VERSION}/ollama-linux-{amd64,arm64}.tar.zst` (since
//!   2026-01) or `.tgz` (older versions) holds `bin/ollama` and `lib/ollama/`.
//!
//! The archive is downloaded next to its destination, checked against
//! `sha256sum.txt` (a mismatch deletes it and installs nothing), unpacked
//! safely ([`super::archive`]) into a hidden directory, and renamed to
//! `_tools/ollama/<VERSION>` only when complete; then `current` names it.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::Progress;
use super::archive::{self, ArchiveError};
use crate::installs::{Installed, Tool, valid_version};
use crate::safefs::path_err;

/// The environment variable that replaces [`DEFAULT_RELEASES`].
pub const RELEASES_ENV: &str = "FACERUNNER_OLLAMA_RELEASES";
/// Where Ollama's releases are published.
pub const DEFAULT_RELEASES: &str = "https://github.com/ollama/ollama/releases";
/// The largest `sha256sum.txt` read.
const MAX_SUMS_BYTES: usize = 1 << 20;

/// Why Ollama could not be installed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// No release archive is published for this machine.
    #[error(
        "Ollama publishes no release archive for {os}/{arch}; install it by hand (https://ollama.com/download) and put `ollama` on PATH, or set `binary:` on the ollama service"
    )]
    Platform {
        /// `std::env::consts::OS`.
        os: String,
        /// `std::env::consts::ARCH`.
        arch: String,
    },
    /// A version string that cannot name a directory.
    #[error("`{version}` is not a version (expected something like 0.13.5)")]
    BadVersion {
        /// What was given.
        version: String,
    },
    /// The request failed.
    #[error(
        "cannot fetch {url}; check the network, or download the archive elsewhere and run `facerunner setup --ollama-archive FILE`"
    )]
    Http {
        /// The URL.
        url: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error status.
    #[error(
        "{url} answered {status}; check the version (--ollama-version) and ${RELEASES_ENV} (the releases' base URL)"
    )]
    Status {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// `{base}/latest` did not lead to a `.../tag/vX.Y.Z` page.
    #[error(
        "cannot tell the latest Ollama version from {url} (it led to {landed}); pass --ollama-version"
    )]
    NoLatest {
        /// `{base}/latest`.
        url: String,
        /// Where it led.
        landed: String,
    },
    /// The checksum file lists no archive for this machine.
    #[error(
        "{url} lists no {wanted}; this release may not exist for this machine, pick another with --ollama-version"
    )]
    NoAsset {
        /// The checksum file's URL.
        url: String,
        /// The archive names looked for.
        wanted: String,
    },
    /// The file does not match its published checksum.
    #[error(
        "{what} does not match its published SHA-256 (expected {expected}, got {actual}); nothing was installed. Download it again; if it keeps failing, the mirror or the file was tampered with"
    )]
    Checksum {
        /// The archive (URL or file).
        what: String,
        /// From `sha256sum.txt`.
        expected: String,
        /// Computed.
        actual: String,
    },
    /// A local archive is not listed in the `sha256sum.txt` beside it.
    #[error("{} is not listed in {}; use the checksum file of the same release", file.display(), sums.display())]
    NotListed {
        /// The archive.
        file: PathBuf,
        /// The checksum file.
        sums: PathBuf,
    },
    /// The archive could not be unpacked.
    #[error("cannot unpack the Ollama archive; nothing was installed")]
    Archive(#[from] ArchiveError),
    /// The archive holds no `bin/ollama`.
    #[error("{what} holds no bin/ollama; it is not an Ollama release archive for Linux")]
    NoBinary {
        /// The archive.
        what: String,
    },
    /// A file operation failed.
    #[error(transparent)]
    Io(#[from] crate::safefs::PathError),
}

/// The archive names for this machine, preferred first (`.tar.zst`, then
/// `.tgz` for releases before 2026-01).
pub fn asset_names(os: &str, arch: &str) -> Result<[String; 2], InstallError> {
    let arch_name = match (os, arch) {
        ("linux", "x86_64") => "amd64",
        ("linux", "aarch64") => "arm64",
        _ => {
            return Err(InstallError::Platform {
                os: os.into(),
                arch: arch.into(),
            });
        }
    };
    Ok([
        format!("ollama-linux-{arch_name}.tar.zst"),
        format!("ollama-linux-{arch_name}.tgz"),
    ])
}

/// The releases' base URL: `$FACERUNNER_OLLAMA_RELEASES`, else GitHub's.
pub fn releases_base() -> String {
    std::env::var(RELEASES_ENV)
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_RELEASES.into())
        .trim_end_matches('/')
        .to_string()
}

/// `v0.13.5` or `0.13.5` → `0.13.5`, checked.
pub fn normalize_version(v: &str) -> Result<String, InstallError> {
    let v = v.strip_prefix('v').unwrap_or(v);
    if valid_version(v) {
        Ok(v.to_string())
    } else {
        Err(InstallError::BadVersion { version: v.into() })
    }
}

/// Parse `sha256sum.txt`: `<hex>  [*][./]name` per line.
pub fn parse_sums(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let (hash, name) = l.trim().split_once(char::is_whitespace)?;
            let name = name.trim_start();
            let name = name.strip_prefix('*').unwrap_or(name);
            let name = name.strip_prefix("./").unwrap_or(name);
            (hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| (name.to_string(), hash.to_ascii_lowercase()))
        })
        .collect()
}

/// The newest version: where `{base}/latest` redirects (`.../tag/vX.Y.Z`).
pub async fn latest_version(client: &reqwest::Client, base: &str) -> Result<String, InstallError> {
    let url = format!("{base}/latest");
    let resp = client
        .get(&url)
        .send()
        .await
        .map_err(|source| InstallError::Http {
            url: url.clone(),
            source,
        })?;
    let landed = resp.url().clone();
    let tag = landed
        .path_segments()
        .and_then(|mut s| {
            let segs: Vec<&str> = s.by_ref().collect();
            let n = segs.len();
            (n >= 2 && segs[n - 2] == "tag").then(|| segs[n - 1].to_string())
        })
        .ok_or_else(|| InstallError::NoLatest {
            url: url.clone(),
            landed: landed.to_string(),
        })?;
    normalize_version(&tag)
}

/// What [`install_release`] or [`install_archive`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// This version was installed before; nothing was downloaded.
    Present(Installed),
    /// Newly installed.
    Installed(Installed),
}

/// The version's directory, if that version is complete (has its program).
fn present(dir: &Path, version: &str) -> Option<Installed> {
    let vdir = dir.join(version);
    let exe = vdir.join("bin").join(Tool::Ollama.name());
    std::fs::symlink_metadata(&exe)
        .is_ok_and(|m| m.is_file())
        .then_some(Installed {
            version: version.into(),
            dir: vdir,
            exe,
        })
}

/// Install release `version` (normalized) from `base` into `dir`
/// (`_tools/ollama`), unless it is there already.
pub async fn install_release(
    client: &reqwest::Client,
    base: &str,
    version: &str,
    dir: &Path,
    progress: &dyn Progress,
) -> Result<Outcome, InstallError> {
    if let Some(i) = present(dir, version) {
        super::set_current(dir, version)
            .map_err(|e| path_err("record the version in", dir)(e.into()))?;
        return Ok(Outcome::Present(i));
    }
    let wanted = asset_names(std::env::consts::OS, std::env::consts::ARCH)?;
    let sums_url = format!("{base}/download/v{version}/sha256sum.txt");
    let sums = String::from_utf8_lossy(&get_small(client, &sums_url).await?).into_owned();
    let sums = parse_sums(&sums);
    let (asset, expected) = wanted
        .iter()
        .find_map(|w| sums.iter().find(|(n, _)| n == w))
        .cloned()
        .ok_or_else(|| InstallError::NoAsset {
            url: sums_url.clone(),
            wanted: wanted.join(" or "),
        })?;
    super::private_dir(dir).map_err(|e| path_err("create the directory", dir)(e.into()))?;
    let url = format!("{base}/download/v{version}/{asset}");
    let tmp = super::temp_name(dir, "download").map_err(path_err("name a file in", dir))?;
    let result = async {
        let actual = download(client, &url, &tmp, progress).await?;
        if actual != expected {
            return Err(InstallError::Checksum {
                what: url.clone(),
                expected: expected.clone(),
                actual,
            });
        }
        finish(&tmp, &url, version, dir)
    }
    .await;
    let _ = std::fs::remove_file(&tmp);
    result.map(Outcome::Installed)
}

/// Install from a local archive (no network). `version` defaults to
/// `sha-<first 12 hex of its SHA-256>`. When a `sha256sum.txt` lies beside
/// the file, the archive must be listed in it and match.
pub fn install_archive(
    file: &Path,
    version: Option<&str>,
    dir: &Path,
) -> Result<(Outcome, Option<PathBuf>), InstallError> {
    let actual = hash_file(file)?;
    let sums_path = file.with_file_name("sha256sum.txt");
    let checked = match crate::safefs::read_bounded(&sums_path, MAX_SUMS_BYTES as u64) {
        Ok(bytes) => {
            let sums = parse_sums(&String::from_utf8_lossy(&bytes));
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let expected = sums
                .into_iter()
                .find(|(n, _)| *n == name)
                .map(|(_, h)| h)
                .ok_or_else(|| InstallError::NotListed {
                    file: file.to_path_buf(),
                    sums: sums_path.clone(),
                })?;
            if expected != actual {
                return Err(InstallError::Checksum {
                    what: file.display().to_string(),
                    expected,
                    actual,
                });
            }
            Some(sums_path)
        }
        Err(e) if e.is_not_found() => None,
        Err(e) => {
            return Err(path_err("read", &sums_path)(io::Error::other(e)).into());
        }
    };
    let version = match version {
        Some(v) => normalize_version(v)?,
        None => format!("sha-{}", &actual[..12]),
    };
    if let Some(i) = present(dir, &version) {
        super::set_current(dir, &version)
            .map_err(|e| path_err("record the version in", dir)(e.into()))?;
        return Ok((Outcome::Present(i), checked));
    }
    super::private_dir(dir).map_err(|e| path_err("create the directory", dir)(e.into()))?;
    let i = finish(file, &file.display().to_string(), &version, dir)?;
    Ok((Outcome::Installed(i), checked))
}

/// Unpack a checked archive into `dir/<version>` and make it current.
fn finish(
    archive: &Path,
    what: &str,
    version: &str,
    dir: &Path,
) -> Result<Installed, InstallError> {
    let staging = super::temp_name(dir, "unpack").map_err(path_err("name a directory in", dir))?;
    let result = (|| {
        archive::unpack(archive, &staging)?;
        let exe = staging.join("bin").join(Tool::Ollama.name());
        if !std::fs::symlink_metadata(&exe).is_ok_and(|m| m.is_file()) {
            return Err(InstallError::NoBinary { what: what.into() });
        }
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o700))
                .map_err(path_err("make executable", &exe))?;
        }
        let vdir = dir.join(version);
        std::fs::rename(&staging, &vdir)
            .map_err(path_err("move the unpacked release to", &vdir))?;
        super::set_current(dir, version)
            .map_err(|e| path_err("record the version in", dir)(e.into()))?;
        Ok(Installed {
            version: version.into(),
            exe: vdir.join("bin").join(Tool::Ollama.name()),
            dir: vdir,
        })
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result
}

async fn get_small(client: &reqwest::Client, url: &str) -> Result<Vec<u8>, InstallError> {
    let resp = send(client, url).await?;
    crate::http::read_capped(resp, MAX_SUMS_BYTES)
        .await
        .map_err(|e| match e {
            crate::http::CappedError::Transfer(source) => InstallError::Http {
                url: url.into(),
                source,
            },
            crate::http::CappedError::TooLarge { .. } => {
                InstallError::Io(crate::safefs::PathError {
                    action: "read (larger than 1 MiB)",
                    path: url.into(),
                    source: io::Error::other("too large"),
                })
            }
        })
}

async fn send(client: &reqwest::Client, url: &str) -> Result<reqwest::Response, InstallError> {
    let resp = client
        .get(url)
        .send()
        .await
        .map_err(|source| InstallError::Http {
            url: url.into(),
            source,
        })?;
    if !resp.status().is_success() {
        return Err(InstallError::Status {
            url: url.into(),
            status: resp.status().as_u16(),
        });
    }
    Ok(resp)
}

/// The largest Ollama archive downloaded (today's, with its GPU
/// libraries, are under 2 GiB).
const MAX_ARCHIVE_BYTES: u64 = 8 << 30;

/// Stream `url` into the new file `to` (0600, `O_EXCL|O_NOFOLLOW`); its SHA-256.
async fn download(
    client: &reqwest::Client,
    url: &str,
    to: &Path,
    progress: &dyn Progress,
) -> Result<String, InstallError> {
    let resp = send(client, url).await?;
    let what = url.rsplit('/').next().unwrap_or(url);
    super::fetch_to_new_file(resp, to, 0o600, MAX_ARCHIVE_BYTES, what, progress)
        .await
        .map_err(|e| match e {
            super::FetchError::Http(source) => InstallError::Http {
                url: url.into(),
                source,
            },
            super::FetchError::Io(action, source) => path_err(action, to)(source).into(),
            super::FetchError::TooLarge => InstallError::Io(crate::safefs::PathError {
                action: "download (larger than 8 GiB)",
                path: url.into(),
                source: io::Error::other("too large"),
            }),
        })
}

/// The SHA-256 of a file, hex.
pub fn hash_file(path: &Path) -> Result<String, InstallError> {
    let (mut f, _) = crate::safefs::open_regular_read(path)
        .map_err(|e| path_err("read", path)(io::Error::other(e)))?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(path_err("read", path))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    Ok(hex::encode(hash.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_names_follow_the_install_script() {
        let [zst, tgz] = asset_names("linux", "x86_64").expect("linux");
        assert_eq!(zst, "ollama-linux-amd64.tar.zst");
        assert_eq!(tgz, "ollama-linux-amd64.tgz");
        assert_eq!(
            asset_names("linux", "aarch64").expect("arm")[0],
            "ollama-linux-arm64.tar.zst"
        );
        let e = asset_names("macos", "aarch64").expect_err("no archive");
        assert!(e.to_string().contains("ollama.com/download"), "{e}");
    }

    #[test]
    fn checksum_files_parse_in_both_sha256sum_styles() {
        let a = "a".repeat(64);
        let b = "B".repeat(64);
        let text =
            format!("{a}  ./ollama-linux-amd64.tar.zst\n{b} *ollama-linux-amd64.tgz\nnot a line\n");
        assert_eq!(
            parse_sums(&text),
            vec![
                ("ollama-linux-amd64.tar.zst".to_string(), a),
                ("ollama-linux-amd64.tgz".to_string(), "b".repeat(64)),
            ]
        );
        assert_eq!(normalize_version("v0.13.5").expect("v"), "0.13.5");
        assert!(normalize_version("../x").is_err());
    }
}
