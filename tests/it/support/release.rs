//! `tests/support/release_server.py` from Rust: a local release server
//! serving a directory laid out like GitHub's release downloads, with the
//! log of every request path; and a fake Ollama release archive.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A running release server; killed on drop.
pub struct ReleaseServer {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The directory it serves.
    pub root: PathBuf,
    /// One line per request (the path; `HEAD path` for HEAD).
    pub log: PathBuf,
}

impl ReleaseServer {
    /// Serve `root` (created if missing); requests are logged to `root/../requests.log`.
    pub fn start(root: &Path) -> ReleaseServer {
        std::fs::create_dir_all(root).expect("mkdir release root");
        let log = root.with_file_name("requests.log");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/release_server.py");
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(root)
            .arg(&log)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start release_server.py");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the port");
        let port = line.trim().parse().expect("the server prints its port");
        ReleaseServer {
            child,
            port,
            root: root.to_path_buf(),
            log,
        }
    }

    /// `http://127.0.0.1:PORT/releases`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}/releases", self.port)
    }

    /// The requests so far.
    pub fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Publish `files` (name, bytes) as release `version` with a
    /// `sha256sum.txt` over them (`tamper` breaks the first checksum), and
    /// make it the latest.
    pub fn publish(&self, version: &str, files: &[(&str, Vec<u8>)], tamper: bool) -> PathBuf {
        use sha2::Digest;
        let dir = self
            .root
            .join("releases/download")
            .join(format!("v{version}"));
        std::fs::create_dir_all(&dir).expect("mkdir release");
        let mut sums = String::new();
        for (i, (name, bytes)) in files.iter().enumerate() {
            std::fs::write(dir.join(name), bytes).expect("write asset");
            let mut h = hex::encode(sha2::Sha256::digest(bytes));
            if tamper && i == 0 {
                h = h.replace(|c| c != '0', "0");
            }
            sums.push_str(&format!("{h}  ./{name}\n"));
        }
        std::fs::write(dir.join("sha256sum.txt"), sums).expect("write sums");
        std::fs::write(self.root.join("LATEST"), version).expect("write LATEST");
        dir
    }
}

impl Drop for ReleaseServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// This machine's Ollama archive name (`.tar.zst`).
pub fn ollama_asset() -> String {
    let arch = if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "amd64"
    };
    format!("ollama-linux-{arch}.tar.zst")
}

/// A `.tar.zst` like Ollama's: `bin/ollama` (the stand-in) and a library
/// with a sibling link under `lib/ollama/`.
pub fn fake_ollama_archive() -> Vec<u8> {
    let standin = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/ollama_standin.py");
    let body = std::fs::read(standin).expect("read the stand-in");
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, kind: tar::EntryType, mode: u32, data: &[u8], link: &str| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        if !link.is_empty() {
            h.set_link_name(link).expect("link name");
        }
        b.append_data(&mut h, name, data).expect("append");
    };
    add("bin/ollama", tar::EntryType::Regular, 0o755, &body, "");
    add(
        "lib/ollama/libggml-base.so.0.0.0",
        tar::EntryType::Regular,
        0o644,
        b"not a library",
        "",
    );
    add(
        "lib/ollama/libggml-base.so.0",
        tar::EntryType::Symlink,
        0o777,
        b"",
        "libggml-base.so.0.0.0",
    );
    let tar = b.into_inner().expect("tar");
    ruzstd::encoding::compress_to_vec(tar.as_slice(), ruzstd::encoding::CompressionLevel::Fastest)
}
