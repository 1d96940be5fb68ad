//! `facerunner hf ...` against the Hugging Face Hub stand-in
//! (tests/support/hf_standin.py): info, search, download into the shared
//! cache with resume after SIGKILL, sha256 checks, the CDN redirect without
//! the token, the Hub's error codes, 429, reuse of cached files and
//! `HF_HUB_OFFLINE`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use sha2::Digest;

use crate::support::{bin, describe, kill9, text, wait_until};

const STANDIN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/hf_standin.py");
const MIB: usize = 1 << 20;

/// A running stand-in over its own repos directory, and an HF_HOME.
struct Hub {
    child: Child,
    hub: u16,
    dir: tempfile::TempDir,
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// miette's report on one line: its wrapping (`  | ` continuation lines,
/// URLs broken after `/`) undone.
fn unwrap_report(s: &str) -> String {
    let mut out = String::new();
    for line in s.lines() {
        let l = line.trim_start();
        let l = l
            .strip_prefix("x ")
            .or_else(|| l.strip_prefix("| "))
            .or_else(|| l.strip_prefix('|'))
            .unwrap_or(l)
            .trim();
        if l.is_empty() {
            continue;
        }
        if !out.is_empty() && !out.ends_with('/') {
            out.push(' ');
        }
        out.push_str(l);
    }
    out
}

/// Deterministic, incompressible-enough bytes.
fn bytes(n: usize, seed: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    let mut x: u32 = 0x9e37_79b9 ^ u32::from(seed);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}

fn sha256(b: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(b))
}

impl Hub {
    /// Repos are written before the start: `files` of (repo, path, bytes),
    /// `meta` of (repo, .standin.json).
    fn start(files: &[(&str, &str, Vec<u8>)], meta: &[(&str, &str)], args: &[&str]) -> Hub {
        let dir = tempfile::tempdir().expect("tmp");
        for (repo, path, b) in files {
            let p = dir.path().join("repos").join(repo).join(path);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(&p, b).expect("write");
        }
        for (repo, m) in meta {
            std::fs::write(dir.path().join("repos").join(repo).join(".standin.json"), m)
                .expect("meta");
        }
        let mut child = Command::new("python3")
            .arg(STANDIN)
            .arg("--repos")
            .arg(dir.path().join("repos"))
            .arg("--log")
            .arg(dir.path().join("requests.jsonl"))
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the HF stand-in");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("READY line");
        let hub = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("hub="))
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no READY line: {line:?}"));
        Hub { child, hub, dir }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.hub)
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("hf-home")
    }

    fn cache(&self) -> PathBuf {
        self.home().join("hub")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args)
            .env("HF_ENDPOINT", self.endpoint())
            .env("HF_HOME", self.home())
            .env("NO_COLOR", "1")
            .env_remove("HF_TOKEN")
            .env_remove("HUGGING_FACE_HUB_TOKEN")
            .env_remove("HF_HUB_CACHE")
            .env_remove("HUGGINGFACE_HUB_CACHE")
            .env_remove("HF_HUB_OFFLINE")
            .env_remove("TRANSFORMERS_OFFLINE")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = self.cmd(args);
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().expect("run facerunner")
    }

    fn ok(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let out = self.run(args, env);
        assert!(out.status.success(), "{args:?} failed:\n{}", describe(&out));
        out
    }

    fn fail(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let out = self.run(args, env);
        assert!(
            !out.status.success(),
            "{args:?} should fail:\n{}",
            describe(&out)
        );
        unwrap_report(&text(&out.stderr))
    }

    /// The stand-in's request log.
    fn log(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.path().join("requests.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("log line"))
            .collect()
    }

    /// The CDN GETs of downloads: bounded ranges (`bytes=A-B`, what
    /// `hf info` and the plan send to read a GGUF header) left out.
    fn cdn_gets(&self) -> Vec<serde_json::Value> {
        self.log()
            .into_iter()
            .filter(|e| e["server"] == "cdn" && e["method"] == "GET")
            .filter(|e| e["range"].as_str().is_none_or(|r| r.ends_with('-')))
            .collect()
    }

    fn blob(&self, repo: &str, sha: &str) -> PathBuf {
        self.cache()
            .join(format!("models--{}", repo.replace('/', "--")))
            .join("blobs")
            .join(sha)
    }
}

fn gguf_repo() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    vec![
        ("org/Tiny-GGUF", "README.md", b"# tiny\n".to_vec()),
        ("org/Tiny-GGUF", "tiny-Q4_K_M.gguf", bytes(3000, 1)),
        ("org/Tiny-GGUF", "tiny-Q8_0.gguf", bytes(6000, 2)),
    ]
}

#[test]
fn info_lists_quants_with_sizes_their_gpu_fit_and_what_facerunner_would_do() {
    let hub = Hub::start(&gguf_repo(), &[], &[]);
    // One GPU between the two quants' needs by the plan's estimate
    // (weights + KV cache + overhead): Q4_K_M fits, Q8_0 does not.
    let need = |bytes: u64| {
        let meta = facerunner::model::gguf::ModelMeta {
            file_size_bytes: bytes,
            ..Default::default()
        };
        facerunner::model::gpu::estimate(&meta, None, &Default::default(), 1 << 30).total_bytes()
    };
    let total = (need(3000) + need(6000)) / 2;
    let gpus = hub.dir.path().join("gpus.json");
    std::fs::write(
        &gpus,
        format!(r#"{{"gpus": [{{"index": 0, "uuid": "GPU-0", "memory_total_bytes": {total}}}]}}"#),
    )
    .expect("gpus");
    let gpus = gpus.to_str().expect("utf-8");
    let out = hub.ok(
        &["--gpus-from", gpus, "hf", "info", "org/Tiny-GGUF", "--json"],
        &[],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["id"], "org/Tiny-GGUF");
    assert_eq!(v["commit"].as_str().map(str::len), Some(40), "{v:#}");
    let quants = v["quants"].as_array().expect("quants");
    assert_eq!(quants[0]["quant"], "Q4_K_M");
    assert_eq!(quants[0]["size"], 3000);
    assert_eq!(quants[0]["need"], need(3000), "{v:#}");
    assert_eq!(quants[0]["fits"]["0"], true, "{v:#}");
    assert_eq!(quants[1]["quant"], "Q8_0");
    assert_eq!(quants[1]["fits"]["0"], false, "{v:#}");
    let gguf = v["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|f| f["path"] == "tiny-Q4_K_M.gguf")
        .expect("the Q4 file");
    assert_eq!(gguf["lfs_sha256"], sha256(&bytes(3000, 1)));
    // HF_ENDPOINT is set: Ollama could not pull from there, so download +
    // import, of the quant the plan picks for `hf: org/Tiny-GGUF`.
    assert_eq!(v["action"], "download-import", "{v:#}");
    assert_eq!(v["resolution"]["quant"], "Q4_K_M", "{v:#}");
    assert_eq!(
        v["resolution"]["name"], "hf.co/org/Tiny-GGUF:Q4_K_M",
        "{v:#}"
    );

    let out = hub.ok(&["--gpus-from", gpus, "hf", "info", "org/Tiny-GGUF"], &[]);
    let t = text(&out.stdout);
    assert!(t.contains("Q4_K_M") && t.contains("GPU 0: fits"), "{t}");
    assert!(t.contains("GPU 0: too big"), "{t}");

    let out = hub.ok(&["hf", "search", "tiny", "--gguf", "--json"], &[]);
    let hits: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(hits[0]["id"], "org/Tiny-GGUF", "{hits:#}");
    assert_eq!(hits[0]["gguf"], true);
}

#[test]
fn a_download_killed_half_way_resumes_without_fetching_again_and_never_sends_the_token_to_the_cdn()
{
    let size = 32 * MIB;
    let data = bytes(size, 7);
    let files = vec![("org/Big-GGUF", "big-Q4_K_M.gguf", data.clone())];
    // 8 MiB/s: the first half takes about two seconds, time enough to kill.
    let hub = Hub::start(
        &files,
        &[],
        &["--slow-bps", "8388608", "--token", "hf_good"],
    );
    let token = [("HF_TOKEN", "hf_good")];
    let part = hub
        .blob("org/Big-GGUF", &sha256(&data))
        .with_extension("incomplete");
    let mut child = hub
        .cmd(&["hf", "download", "org/Big-GGUF", "--json"])
        .env("HF_TOKEN", "hf_good")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let kept = wait_until("half of the file on disk", Duration::from_secs(60), || {
        let len = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
        (len >= (size / 2) as u64).then_some(len)
    });
    kill9(child.id());
    let _ = child.wait();
    let kept = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(kept);
    assert!(kept < size as u64, "the download finished before the kill");

    let out = hub.ok(&["hf", "download", "org/Big-GGUF", "--json"], &token);
    let blob = hub.blob("org/Big-GGUF", &sha256(&data));
    assert_eq!(std::fs::read(&blob).expect("blob"), data);
    assert!(!part.exists(), "the part file was renamed");
    assert!(
        text(&out.stdout).contains("\"event\":\"downloaded\""),
        "{}",
        describe(&out)
    );

    let gets = hub.cdn_gets();
    assert_eq!(gets.len(), 2, "{gets:#?}");
    // The second run asked for the rest only.
    let range = gets[1]["range"].as_str().expect("a Range on the resume");
    let start: u64 = range
        .trim_start_matches("bytes=")
        .trim_end_matches('-')
        .parse()
        .expect("range start");
    assert!(
        start >= kept.min(start) && start >= (size / 2) as u64,
        "{range}"
    );
    let served: u64 = gets.iter().map(|g| g["bytes"].as_u64().unwrap_or(0)).sum();
    assert!(
        served <= (size as u64) * 105 / 100,
        "{served} bytes served for a {size}-byte file: more than 5% fetched again"
    );
    // The token went to the Hub, never to the CDN's pre-signed URL.
    let log = hub.log();
    assert!(
        log.iter()
            .any(|e| e["server"] == "hub" && e["authorization"] == "Bearer hf_good"),
        "{log:#?}"
    );
    for e in log.iter().filter(|e| e["server"] == "cdn") {
        assert!(e["authorization"].is_null(), "token sent to the CDN: {e}");
    }
}

#[test]
fn corrupt_bytes_are_refused_and_fetched_again_and_a_cut_transfer_resumes_in_the_same_run() {
    let data = bytes(3 * MIB, 3);
    let files = vec![("org/C-GGUF", "c-Q4_K_M.gguf", data.clone())];
    let hub = Hub::start(&files, &[], &["--corrupt-once"]);
    hub.ok(&["hf", "download", "org/C-GGUF"], &[]);
    assert_eq!(
        std::fs::read(hub.blob("org/C-GGUF", &sha256(&data))).expect("blob"),
        data
    );
    let gets = hub.cdn_gets();
    assert_eq!(gets.len(), 2, "corrupt once, fetched twice: {gets:#?}");
    assert!(
        gets[1]["range"].is_null(),
        "the second fetch starts over: {gets:#?}"
    );

    // Corrupt twice: refused, nothing left behind.
    let hub = Hub::start(&files, &[], &["--corrupt", "2"]);
    let e = hub.fail(&["hf", "download", "org/C-GGUF"], &[]);
    assert!(e.contains("do not match the Hub's sha256"), "{e}");
    let blob = hub.blob("org/C-GGUF", &sha256(&data));
    assert!(!blob.exists() && !blob.with_extension("incomplete").exists());

    let hub = Hub::start(&files, &[], &["--cut-after", "1000000"]);
    hub.ok(&["hf", "download", "org/C-GGUF"], &[]);
    assert_eq!(
        std::fs::read(hub.blob("org/C-GGUF", &sha256(&data))).expect("blob"),
        data
    );
    let gets = hub.cdn_gets();
    assert_eq!(gets.len(), 2, "{gets:#?}");
    assert_eq!(gets[0]["bytes"], 1_000_000);
    assert_eq!(gets[1]["range"], "bytes=1000000-", "{gets:#?}");
}

#[test]
fn errors_say_what_to_do_gated_not_found_bad_token() {
    let files = vec![
        ("org/Gated", "g-Q4_K_M.gguf", bytes(100, 4)),
        ("org/Tiny-GGUF", "tiny-Q4_K_M.gguf", bytes(100, 5)),
    ];
    let hub = Hub::start(
        &files,
        &[(
            "org/Gated",
            r#"{"gated": "manual", "authorized": ["hf_ok"]}"#,
        )],
        &["--token", "hf_ok", "--token", "hf_other"],
    );
    let licence = format!("{}/org/Gated", hub.endpoint());
    let e = hub.fail(&["hf", "download", "org/Gated"], &[]);
    assert!(
        e.contains("gated") && e.contains(&licence) && e.contains("HF_TOKEN"),
        "{e}"
    );
    let e = hub.fail(
        &["hf", "download", "org/Gated"],
        &[("HF_TOKEN", "hf_other")],
    );
    assert!(e.contains(&licence) && e.contains("not in the"), "{e}");
    hub.ok(&["hf", "download", "org/Gated"], &[("HF_TOKEN", "hf_ok")]);
    // The token file under HF_HOME counts too.
    std::fs::write(hub.home().join("token"), "hf_other\n").expect("token file");
    // (in another cache: the file is in this one, and a cached file needs no access)
    let other = hub.dir.path().join("other-cache");
    let other = other.to_str().expect("utf-8");
    let e = hub.fail(
        &[
            "hf",
            "download",
            "org/Gated",
            "g-Q4_K_M.gguf",
            "--revision",
            "main",
        ],
        &[("HF_HUB_CACHE", other)],
    );
    assert!(e.contains(&licence), "{e}");

    let e = hub.fail(
        &["hf", "info", "org/Tiny-GGUF"],
        &[("HF_TOKEN", "hf_wrong")],
    );
    assert!(e.contains("token was refused"), "{e}");
    std::fs::remove_file(hub.home().join("token")).expect("rm token");
    let e = hub.fail(&["hf", "info", "org/Nope"], &[]);
    assert!(
        e.contains("repo org/Nope not found") && e.contains("HF_TOKEN"),
        "{e}"
    );
    let e = hub.fail(&["hf", "info", "org/Tiny-GGUF", "--revision", "v9"], &[]);
    assert!(e.contains("no revision `v9`"), "{e}");
    let e = hub.fail(&["hf", "download", "org/Tiny-GGUF", "missing.gguf"], &[]);
    assert!(e.contains("no file `missing.gguf`"), "{e}");
    let e = hub.fail(&["hf", "info", "../etc"], &[]);
    assert!(e.contains("not a Hugging Face repo id"), "{e}");
}

#[test]
fn rate_limits_are_waited_out() {
    let hub = Hub::start(
        &gguf_repo(),
        &[],
        &["--rate-limit", "2", "--retry-after", "1"],
    );
    hub.ok(&["hf", "info", "org/Tiny-GGUF"], &[]);
    let limited = hub.log().iter().filter(|e| e["status"] == 429).count();
    assert_eq!(limited, 2);
    // Past the bounded retries, the error says so.
    let hub = Hub::start(
        &gguf_repo(),
        &[],
        &["--rate-limit", "100", "--retry-after", "0"],
    );
    let e = hub.fail(&["hf", "info", "org/Tiny-GGUF"], &[]);
    assert!(e.contains("rate limited"), "{e}");
}

/// Put a file in the cache the way huggingface_hub does (blob + relative
/// link + ref), without FaceRunner.
fn python_style_cache(cache: &Path, repo: &str, commit: &str, path: &str, data: &[u8]) {
    let root = cache.join(format!("models--{}", repo.replace('/', "--")));
    let sha = sha256(data);
    std::fs::create_dir_all(root.join("blobs")).expect("blobs");
    std::fs::write(root.join("blobs").join(&sha), data).expect("blob");
    let snap = root.join("snapshots").join(commit);
    std::fs::create_dir_all(&snap).expect("snap");
    std::os::unix::fs::symlink(format!("../../blobs/{sha}"), snap.join(path)).expect("link");
    std::fs::create_dir_all(root.join("refs")).expect("refs");
    std::fs::write(root.join("refs/main"), commit).expect("ref");
}

#[test]
fn cached_files_are_not_downloaded_again_and_offline_mode_answers_from_the_cache() {
    let repo = gguf_repo();
    let hub = Hub::start(&repo, &[], &[]);
    let out = hub.ok(&["hf", "info", "org/Tiny-GGUF", "--json"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let commit = v["commit"].as_str().expect("commit").to_string();
    // The Q8 file is already there, put by the Python tools.
    python_style_cache(
        &hub.cache(),
        "org/Tiny-GGUF",
        &commit,
        "tiny-Q8_0.gguf",
        &repo[2].2,
    );
    let out = hub.ok(
        &[
            "hf",
            "download",
            "org/Tiny-GGUF",
            "Q4_K_M",
            "Q8_0",
            "--json",
        ],
        &[],
    );
    let t = text(&out.stdout);
    assert!(t.contains("already in the cache"), "{t}");
    let gets = hub.cdn_gets();
    assert_eq!(gets.len(), 1, "only Q4_K_M is fetched: {gets:#?}");
    assert!(
        gets[0]["path"]
            .as_str()
            .unwrap_or("")
            .contains(&sha256(&repo[1].2))
    );
    // A second download fetches nothing.
    hub.ok(&["hf", "download", "org/Tiny-GGUF", "Q4_K_M"], &[]);
    assert_eq!(hub.cdn_gets().len(), 1);

    // Offline: no HTTP at all (the endpoint goes nowhere), answers from the cache.
    let offline = [
        ("HF_HUB_OFFLINE", "1"),
        ("HF_ENDPOINT", "http://127.0.0.1:9"),
    ];
    let out = hub.ok(&["hf", "info", "org/Tiny-GGUF", "--json"], &offline);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["commit"], commit.as_str());
    let paths: Vec<&str> = v["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["path"].as_str())
        .collect();
    assert_eq!(paths, ["tiny-Q4_K_M.gguf", "tiny-Q8_0.gguf"]);
    let out = hub.ok(&["hf", "download", "org/Tiny-GGUF", "Q8_0"], &offline);
    assert!(
        text(&out.stdout).contains("tiny-Q8_0.gguf"),
        "{}",
        describe(&out)
    );
    let e = hub.fail(&["hf", "download", "org/Tiny-GGUF", "README.md"], &offline);
    assert!(e.contains("no file `README.md`"), "{e}");
    let e = hub.fail(&["hf", "info", "org/Other"], &offline);
    assert!(e.contains("HF_HUB_OFFLINE"), "{e}");
    let e = hub.fail(&["hf", "search", "tiny"], &offline);
    assert!(e.contains("HF_HUB_OFFLINE"), "{e}");
    // Online but the Hub unreachable: the cache answers too.
    let unreachable = [("HF_ENDPOINT", "http://127.0.0.1:9")];
    let out = hub.ok(&["hf", "download", "org/Tiny-GGUF", "Q8_0"], &unreachable);
    assert!(
        text(&out.stdout).contains("tiny-Q8_0.gguf"),
        "{}",
        describe(&out)
    );
}

/// A Python with `huggingface_hub`: `FACERUNNER_HF_HUB_PYTHON`, else
/// `python3` if it can import it. Missing: skipped, except under CI=true
/// (.ci/run installs it), where the test fails.
fn hf_hub_python() -> Option<String> {
    let python = std::env::var("FACERUNNER_HF_HUB_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", "import huggingface_hub"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let why = format!(
            "{python} cannot import huggingface_hub (pip install huggingface_hub, or set FACERUNNER_HF_HUB_PYTHON)"
        );
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true and {why}: CI must run this test, not skip it"
        );
        eprintln!("skipped: {why}");
        return None;
    }
    Some(python)
}

#[test]
fn files_downloaded_by_huggingface_hub_are_reused_and_the_reverse() {
    let Some(python) = hf_hub_python() else {
        return;
    };
    let repo = gguf_repo();
    let hub = Hub::start(&repo, &[], &[]);
    let py = |file: &str| {
        let out = Command::new(&python)
            .args([
                "-c",
                "import sys; from huggingface_hub import hf_hub_download; print(hf_hub_download(sys.argv[1], sys.argv[2]))",
                "org/Tiny-GGUF",
                file,
            ])
            .env("HF_ENDPOINT", hub.endpoint())
            .env("HF_HOME", hub.home())
            .env("HF_HUB_DISABLE_TELEMETRY", "1")
            .env_remove("HF_TOKEN")
            .env_remove("HF_HUB_CACHE")
            .env_remove("HF_HUB_OFFLINE")
            .output()
            .expect("run python");
        assert!(
            out.status.success(),
            "huggingface_hub failed:\n{}",
            describe(&out)
        );
        PathBuf::from(text(&out.stdout).trim())
    };
    // Python first: FaceRunner finds the file and fetches nothing.
    let p = py("tiny-Q8_0.gguf");
    assert_eq!(std::fs::read(&p).expect("python's file"), repo[2].2);
    assert_eq!(hub.cdn_gets().len(), 1);
    let out = hub.ok(
        &[
            "hf",
            "download",
            "org/Tiny-GGUF",
            "tiny-Q8_0.gguf",
            "--json",
        ],
        &[],
    );
    assert!(
        text(&out.stdout).contains("already in the cache"),
        "{}",
        describe(&out)
    );
    assert_eq!(hub.cdn_gets().len(), 1, "FaceRunner downloaded it again");
    // FaceRunner first: huggingface_hub finds the file and fetches nothing.
    hub.ok(
        &["hf", "download", "org/Tiny-GGUF", "tiny-Q4_K_M.gguf"],
        &[],
    );
    assert_eq!(hub.cdn_gets().len(), 2);
    let p = py("tiny-Q4_K_M.gguf");
    assert_eq!(std::fs::read(&p).expect("our file"), repo[1].2);
    assert_eq!(
        hub.cdn_gets().len(),
        2,
        "huggingface_hub downloaded it again"
    );
}

#[test]
fn the_commands_of_docs_huggingface_md_work() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/huggingface.md"))
        .expect("docs/huggingface.md");
    let repo = "bartowski/Llama-3.2-1B-Instruct-GGUF";
    let hub = Hub::start(
        &[
            (
                repo,
                "README.md",
                b"# Llama 3.2 1B Instruct GGUF\n".to_vec(),
            ),
            (repo, "Llama-3.2-1B-Instruct-Q4_K_M.gguf", bytes(4000, 8)),
            (repo, "Llama-3.2-1B-Instruct-Q8_0.gguf", bytes(8000, 9)),
        ],
        &[],
        &[],
    );
    let commands: Vec<&str> = doc.lines().filter_map(|l| l.strip_prefix("$ ")).collect();
    assert!(commands.len() >= 5, "{commands:?}");
    for line in commands {
        let mut env = Vec::new();
        let mut words = line.split_whitespace().peekable();
        while let Some(w) = words.peek() {
            match w.split_once('=') {
                Some((k, v)) if !w.starts_with('-') => {
                    env.push((k, v));
                    words.next();
                }
                _ => break,
            }
        }
        assert_eq!(words.next(), Some("facerunner"), "{line}");
        let args: Vec<&str> = words.collect();
        let out = hub.ok(&args, &env);
        assert!(
            !out.stdout.is_empty(),
            "{line}: no output\n{}",
            describe(&out)
        );
    }
    assert_eq!(hub.cdn_gets().len(), 1, "the Q4_K_M file, once");
}

#[test]
fn the_hf_standin_passes_its_own_tests() {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/hf_standin_test.py"
    );
    let out = Command::new("python3")
        .arg(script)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "the HF stand-in's self-test failed:\n{}",
        describe(&out)
    );
}

#[test]
fn a_part_file_left_complete_is_checked_and_committed_without_a_request() {
    let repo = gguf_repo();
    let hub = Hub::start(&repo, &[], &[]);
    let blob = hub.blob("org/Tiny-GGUF", &sha256(&repo[1].2));
    std::fs::create_dir_all(blob.parent().expect("blobs")).expect("mkdir");
    // Killed after the last byte, before the rename.
    std::fs::write(blob.with_extension("incomplete"), &repo[1].2).expect("part");
    hub.ok(&["hf", "download", "org/Tiny-GGUF", "Q4_K_M"], &[]);
    assert_eq!(std::fs::read(&blob).expect("blob"), repo[1].2);
    assert!(hub.cdn_gets().is_empty(), "{:#?}", hub.cdn_gets());
    // A complete-sized part file with wrong bytes is refused and fetched again.
    let blob8 = hub.blob("org/Tiny-GGUF", &sha256(&repo[2].2));
    std::fs::write(
        blob8.with_extension("incomplete"),
        vec![0u8; repo[2].2.len()],
    )
    .expect("part");
    hub.ok(&["hf", "download", "org/Tiny-GGUF", "Q8_0"], &[]);
    assert_eq!(std::fs::read(&blob8).expect("blob"), repo[2].2);
    assert_eq!(hub.cdn_gets().len(), 1);
}

#[test]
fn every_page_of_the_file_tree_is_read() {
    let hub = Hub::start(&gguf_repo(), &[], &["--page-size", "1"]);
    let out = hub.ok(&["hf", "info", "org/Tiny-GGUF", "--json"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["files"].as_array().map(Vec::len), Some(3), "{v:#}");
    let pages = hub
        .log()
        .iter()
        .filter(|e| e["path"].as_str().is_some_and(|p| p.contains("/tree/")))
        .count();
    assert_eq!(pages, 3);
}

#[test]
fn two_downloads_of_one_file_at_once_fetch_it_once() {
    let data = bytes(4 * MIB, 11);
    let files = vec![("org/L-GGUF", "l-Q4_K_M.gguf", data.clone())];
    // 4 MiB/s: the first holds the blob's lock for about a second.
    let hub = Hub::start(&files, &[], &["--slow-bps", "4194304"]);
    let spawn = || {
        hub.cmd(&["hf", "download", "org/L-GGUF"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "{}", describe(&out));
    }
    assert_eq!(
        std::fs::read(hub.blob("org/L-GGUF", &sha256(&data))).expect("blob"),
        data
    );
    assert_eq!(hub.cdn_gets().len(), 1, "{:#?}", hub.cdn_gets());
}
