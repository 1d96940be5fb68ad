//! Test harness: a throwaway project directory with its own
//! `FACERUNNER_HOME`, the real `facerunner` binary, process inspection
//! through `/proc`, and one generic wait-for-a-condition helper.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

pub mod procs;
pub mod release;
pub use procs::{is_zombie, processes_with};

/// Where the small test programs live.
pub fn programs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs")
}

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_facerunner"))
}

/// A free loopback port (bound, then released), never the same twice in
/// a run, and below the kernel's range of ephemeral ports: a port from
/// that range (what binding port 0 gives) can be taken, between its
/// choice and the service's bind, by any outgoing connection of the tests
/// running alongside (a gateway's, a poll's), and the service then fails
/// with "address already in use".
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(0);
    if low < 4096 {
        // No room below the ephemeral range (or not Linux): the kernel's choice.
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        return l.local_addr().expect("local addr").port();
    }
    // [low/2, low), starting where this process's id points, so test
    // binaries running at once start apart.
    let (base, span) = (low / 2, low - low / 2);
    let start = std::process::id().wrapping_mul(7919) % span;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(n < span, "no free port left below {low}");
        let port = (base + (start + n) % span) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Poll `f` every 50 ms until it returns `Some` or `timeout` passes, then
/// fail with `what`.
pub fn wait_until<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One test project: `<tmp>/p/facerunner.yaml`, state under `<tmp>/home`.
/// The project name doubles as a marker: every process of the project
/// (daemon, shims, services started with `{marker}` in their argv) has it
/// on its command line.
pub struct Project {
    pub dir: tempfile::TempDir,
    pub name: String,
}

impl Project {
    /// A project whose `services:` block is `services` (YAML, indented by
    /// two spaces); `{programs}` and `{marker}` are replaced.
    pub fn new(services: &str) -> Project {
        let dir = tempfile::tempdir().expect("tempdir");
        let name = format!("frt{}n{}z", std::process::id(), rand_suffix());
        std::fs::create_dir_all(dir.path().join("p")).expect("mkdir");
        let p = Project { dir, name };
        p.write(services);
        p
    }

    /// Rewrite the file.
    pub fn write(&self, services: &str) {
        let body = services
            .replace("{programs}", &programs().display().to_string())
            .replace("{marker}", &self.name);
        let yaml = format!("version: 1\nname: {}\nservices:\n{body}", self.name);
        std::fs::write(self.dir.path().join("p/facerunner.yaml"), yaml).expect("write yaml");
    }

    /// `FACERUNNER_HOME`.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// The project's directories.
    pub fn dirs(&self) -> facerunner::paths::ProjectDirs {
        facerunner::paths::ProjectDirs::under(&self.home(), &self.name)
    }

    /// A command for the binary, in the project directory.
    pub fn cmd(&self, args: &[&str]) -> std::process::Command {
        let mut c = std::process::Command::new(bin());
        c.args(args)
            .current_dir(self.dir.path().join("p"))
            .env("FACERUNNER_HOME", self.home())
            .env("NO_COLOR", "1")
            .env_remove("FACERUNNER_FILE");
        // No internet in tests: `hf:` models are resolved from this
        // project's own (empty) Hugging Face cache, then FaceRunner's table;
        // a test that wants a Hub sets HF_ENDPOINT and removes HF_HUB_OFFLINE.
        for k in [
            "HF_ENDPOINT",
            "HF_TOKEN",
            "HUGGING_FACE_HUB_TOKEN",
            "HF_HUB_CACHE",
        ] {
            c.env_remove(k);
        }
        c.env("HF_HOME", self.dir.path().join("hf-home"))
            .env("HF_HUB_OFFLINE", "1");
        c
    }

    /// Run to completion (failing the test after `timeout`).
    pub fn run(&self, args: &[&str]) -> Output {
        let out = assert_cmd::Command::from_std(self.cmd(args))
            .timeout(Duration::from_secs(60))
            .output()
            .expect("run facerunner");
        if std::env::var_os("FR_TEST_VERBOSE").is_some() {
            eprintln!(
                "$ facerunner {}\n{}{}",
                args.join(" "),
                text(&out.stdout),
                text(&out.stderr)
            );
        }
        out
    }

    /// Run and require exit 0.
    pub fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "facerunner {} failed:\n{}",
            args.join(" "),
            describe(&out)
        );
        out
    }

    /// `status --json`.
    pub fn status(&self) -> serde_json::Value {
        let out = self.ok(&["status", "--json"]);
        serde_json::from_slice(&out.stdout).expect("status --json is JSON")
    }

    /// One service's entry in `status --json`.
    pub fn service(&self, name: &str) -> Option<serde_json::Value> {
        let s = self.status();
        s["services"]
            .as_array()?
            .iter()
            .find(|v| v["name"] == name)
            .cloned()
    }

    /// Print the daemon's log, every service log and the processes (for failures).
    pub fn dump(&self) {
        let dirs = self.dirs();
        let mut files = vec![dirs.daemon_log()];
        if let Ok(entries) = std::fs::read_dir(&dirs.logs) {
            files.extend(entries.flatten().map(|e| e.path()));
        }
        for f in files {
            eprintln!(
                "--- {}\n{}",
                f.display(),
                std::fs::read_to_string(&f).unwrap_or_default()
            );
        }
        eprintln!("--- processes\n{:#?}", self.processes());
    }

    /// Live (non-zombie) processes whose command line has the marker.
    pub fn processes(&self) -> Vec<(u32, String)> {
        processes_with(&self.name)
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dump();
        }
        // Best effort: never leave a test's processes behind.
        let _ = assert_cmd::Command::from_std(self.cmd(&["down"]))
            .timeout(Duration::from_secs(30))
            .output();
        for (pid, _) in self.processes() {
            if let Some(p) = rustix::process::Pid::from_raw(pid as i32) {
                let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
            }
        }
    }
}

/// Whether `pid` is alive (and not a zombie).
pub fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid)
}

/// Send SIGKILL.
pub fn kill9(pid: u32) {
    let p = rustix::process::Pid::from_raw(pid as i32).expect("positive pid");
    rustix::process::kill_process(p, rustix::process::Signal::KILL).expect("kill -9");
}

/// Lossy UTF-8.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Exit code, stdout and stderr, for failure messages.
pub fn describe(out: &Output) -> String {
    format!(
        "exit: {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// A real component a test needs (`open-webui`, `chromium`, ...), found on
/// `PATH`. Without it the test is skipped, saying why and how to install it
/// — except under CI (`CI=true`), where a missing component fails the test:
/// CI installs every component, so a skip there would hide a broken setup.
pub fn component(name: &str, install: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        });
    if found.is_none() {
        let why = format!("{name} is not on PATH (install it: {install})");
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true and {why}: CI must run this test, not skip it"
        );
        eprintln!("skipped: {why}");
    }
    found
}
