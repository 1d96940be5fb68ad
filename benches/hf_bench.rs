//! The Hugging Face downloader's speed and memory: one 1 GiB LFS file from
//! the Hub stand-in (tests/support/hf_standin.py, sendfile on loopback),
//! fetched by `facerunner hf download` (a whole process: repo info, the
//! redirect, streaming to the part file with sha256, rename and link), by
//! `curl -L -o FILE` of the same resolve URL (alone, and followed by
//! `sha256sum FILE`, since FaceRunner checks the hash), and by huggingface_hub's
//! `hf_hub_download` when a Python with it is found
//! (`FACERUNNER_HF_HUB_PYTHON`, else `python3`), in the same run. Prints
//! median wall time of 3 runs each, MiB/s, the ratio to curl, and each
//! process's peak RSS (`wait4`'s ru_maxrss). Nothing is asserted.
//! `HF_BENCH_MIB` changes the size (default 1024).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Run to the end; (wall time, peak RSS in KiB).
fn timed(cmd: &mut Command) -> (Duration, u64) {
    let start = Instant::now();
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid out-parameter for wait4.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our child, status and usage are valid pointers.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(r, pid, "wait4");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{cmd:?} failed"
    );
    std::mem::forget(child); // reaped by wait4
    (wall, usage.ru_maxrss as u64)
}

fn median(mut v: Vec<(Duration, u64)>) -> (Duration, u64) {
    v.sort();
    let rss = v.iter().map(|x| x.1).max().unwrap_or(0);
    (v[v.len() / 2].0, rss)
}

fn write_file(path: &Path, mib: usize) {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..mib {
        for c in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c.copy_from_slice(&x.to_le_bytes());
        }
        f.write_all(&block).expect("write");
    }
    f.flush().expect("flush");
}

fn python_with_hf_hub() -> Option<String> {
    let python = std::env::var("FACERUNNER_HF_HUB_PYTHON").unwrap_or_else(|_| "python3".into());
    Command::new(&python)
        .args(["-c", "import huggingface_hub"])
        .stderr(Stdio::null())
        .status()
        .ok()
        .filter(|s| s.success())
        .map(|_| python)
}

fn main() {
    let mib: usize = std::env::var("HF_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let dir = tempfile::tempdir().expect("tmp");
    let repo_dir = dir.path().join("repos/bench/Big-GGUF");
    std::fs::create_dir_all(&repo_dir).expect("mkdir");
    write_file(&repo_dir.join("big-Q4_K_M.gguf"), mib);
    let standin = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/hf_standin.py");
    let mut child = Command::new("python3")
        .arg(&standin)
        .arg("--repos")
        .arg(dir.path().join("repos"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the stand-in");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("READY");
    let _standin = Proc(child);
    let hub: u16 = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("hub="))
        .and_then(|p| p.parse().ok())
        .expect("hub port");
    let endpoint = format!("http://127.0.0.1:{hub}");
    let url = format!("{endpoint}/bench/Big-GGUF/resolve/main/big-Q4_K_M.gguf");
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_facerunner"));
    let home = dir.path().join("hf-home");
    let fresh = || {
        let _ = std::fs::remove_dir_all(&home);
        let _ = std::fs::remove_file(dir.path().join("curl.out"));
    };
    // Warm up: the stand-in hashes the file once; the page cache holds it.
    fresh();
    timed(
        Command::new(&bin)
            .args(["hf", "info", "bench/Big-GGUF"])
            .env("HF_ENDPOINT", &endpoint)
            .env("HF_HOME", &home),
    );

    let runs = 3;
    let mut ours = Vec::new();
    let mut curl = Vec::new();
    let mut curl_sha = Vec::new();
    let mut python = Vec::new();
    let py = python_with_hf_hub();
    for _ in 0..runs {
        fresh();
        curl.push(timed(
            Command::new("curl")
                .args(["-sSfL", "-o"])
                .arg(dir.path().join("curl.out"))
                .arg(&url),
        ));
        // curl does not check the bytes; FaceRunner hashes them (sha256)
        // before committing the blob: curl followed by sha256sum does both.
        let out = dir.path().join("curl.out");
        let start = Instant::now();
        timed(Command::new("sha256sum").arg(&out));
        curl_sha.push((
            curl.last().map_or(Duration::ZERO, |c| c.0) + start.elapsed(),
            0,
        ));
        fresh();
        ours.push(timed(
            Command::new(&bin)
                .args(["hf", "download", "bench/Big-GGUF", "--json"])
                .env("HF_ENDPOINT", &endpoint)
                .env("HF_HOME", &home)
                .env_remove("HF_TOKEN")
                .env_remove("HF_HUB_CACHE")
                .env_remove("HF_HUB_OFFLINE"),
        ));
        if let Some(py) = &py {
            fresh();
            python.push(timed(
                Command::new(py)
                    .args([
                        "-c",
                        "from huggingface_hub import hf_hub_download as d; d('bench/Big-GGUF', 'big-Q4_K_M.gguf')",
                    ])
                    .env("HF_ENDPOINT", &endpoint)
                    .env("HF_HOME", &home)
                    .env("HF_HUB_DISABLE_TELEMETRY", "1")
                    .env_remove("HF_TOKEN")
                    .env_remove("HF_HUB_CACHE"),
            ));
        }
    }
    fresh();
    let rate = |d: Duration| mib as f64 / d.as_secs_f64();
    let (c, c_rss) = median(curl);
    let (o, o_rss) = median(ours);
    println!("hf download of one {mib} MiB file on loopback (median of {runs}):");
    println!("| client | time | MiB/s | vs curl | peak RSS |");
    println!("|---|---|---|---|---|");
    println!(
        "| curl -L -o FILE | {:.2} s | {:.0} | 1.00× | {:.1} MiB |",
        c.as_secs_f64(),
        rate(c),
        c_rss as f64 / 1024.0
    );
    let (cs, _) = median(curl_sha);
    println!(
        "| curl -L -o FILE, then sha256sum FILE | {:.2} s | {:.0} | {:.2}× | - |",
        cs.as_secs_f64(),
        rate(cs),
        rate(cs) / rate(c)
    );
    println!(
        "| facerunner hf download | {:.2} s | {:.0} | {:.2}× | {:.1} MiB |",
        o.as_secs_f64(),
        rate(o),
        rate(o) / rate(c),
        o_rss as f64 / 1024.0
    );
    if !python.is_empty() {
        let (p, p_rss) = median(python);
        println!(
            "| huggingface_hub hf_hub_download | {:.2} s | {:.0} | {:.2}× | {:.1} MiB |",
            p.as_secs_f64(),
            rate(p),
            rate(p) / rate(c),
            p_rss as f64 / 1024.0
        );
    } else {
        println!("(huggingface_hub not found: set FACERUNNER_HF_HUB_PYTHON to compare with it)");
    }
}
