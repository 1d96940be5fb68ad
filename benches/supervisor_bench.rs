//! Supervisor benchmarks: bring-up time, daemon memory and idle CPU as the
//! number of services grows, printed with a baseline measured in the same
//! run (so numbers from different machines compare).
//!
//! `cargo bench --bench supervisor_bench` runs, for N in 10, 50 and 200
//! (`SUPERVISOR_BENCH_SIZES=10,50` overrides the list):
//!
//! - a project of N trivial services, each a small Python program that
//!   listens on its own loopback port 0.3 s after it starts, with a TCP
//!   probe every 200 ms, in a temp dir with its own `FACERUNNER_HOME`;
//! - `facerunner up` (the release binary) timed until it returns, which is
//!   when every service is ready;
//! - the daemon's RSS (`VmRSS`, and the peak `VmHWM`, from
//!   `/proc/PID/status`) and its CPU time over an idle 5 s window
//!   (`utime + stime` from `/proc/PID/stat`) while the N services run and
//!   are probed; the average RSS of one shim (`facerunner __shim`, one per
//!   service);
//! - `facerunner down`.
//!
//! The baseline is the same project with ONE service, measured the same
//! way: a bring-up bounded by the slowest service shows as a ratio near 1,
//! one that adds services up as a ratio near N.
//!
//! Every process the bench starts carries the project's unique name on its
//! command line; whatever is left of them at the end is killed.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

#[path = "../tests/it/support/procs.rs"]
mod procs;
use procs::processes_with;

/// The trivial service: listen after a delay, accept and close forever.
const LISTENER: &str = r#"import socket, sys, time
time.sleep(float(sys.argv[2]))
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(128)
while True:
    s.accept()[0].close()
"#;

/// Each service listens this long after it starts.
const LISTEN_DELAY: &str = "0.3";
/// The probe interval of every service.
const PROBE_INTERVAL_MS: u64 = 200;
/// Bring-ups per size (the median is shown).
const REPS: usize = 3;
/// The idle window over which the daemon's CPU time is measured.
const IDLE_WINDOW: Duration = Duration::from_secs(5);

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_facerunner"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `n` distinct free loopback ports (all bound at once, then released).
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local addr").port())
        .collect()
}

/// One bench project: `<tmp>/p/facerunner.yaml`, state under `<tmp>/home`.
struct Project {
    dir: tempfile::TempDir,
    name: String,
}

impl Project {
    /// `services` trivial services; with `probes`, each has a TCP probe,
    /// else none (it counts as ready once started).
    fn new(services: usize, probes: bool) -> Project {
        use std::sync::atomic::{AtomicU64, Ordering};
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let dir = tempfile::tempdir().expect("tempdir");
        let name = format!(
            "frb{}n{}z",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        std::fs::create_dir_all(dir.path().join("p")).expect("mkdir");
        let program = dir.path().join("listen.py");
        std::fs::write(&program, LISTENER).expect("write listen.py");
        let mut yaml = format!("version: 1\nname: {name}\nservices:\n");
        for (i, port) in free_ports(services).into_iter().enumerate() {
            let health = if probes {
                format!(
                    "{{ tcp: {port}, interval: {PROBE_INTERVAL_MS}ms, timeout: 1s, retries: 3, \
                     start_period: 120s }}"
                )
            } else {
                "{ disable: true }".to_string()
            };
            yaml.push_str(&format!(
                r#"  s{i}:
    kind: process
    command: [python3, -S, "{program}", "{port}", "{LISTEN_DELAY}", "{name}"]
    health: {health}
    stop: {{ signal: SIGTERM, timeout: 2s }}
"#,
                program = program.display(),
            ));
        }
        std::fs::write(dir.path().join("p/facerunner.yaml"), yaml).expect("write yaml");
        Project { dir, name }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args)
            .current_dir(self.dir.path().join("p"))
            .env("FACERUNNER_HOME", self.home())
            .env("NO_COLOR", "1")
            .env_remove("FACERUNNER_FILE");
        c
    }

    /// Run and require exit 0 (else print the daemon's log and fail).
    fn ok(&self, args: &[&str]) -> Output {
        let out = self.cmd(args).output().expect("run facerunner");
        if !out.status.success() {
            let dirs = facerunner::paths::ProjectDirs::under(&self.home(), &self.name);
            panic!(
                "facerunner {} failed ({:?}):\n--- stdout\n{}--- stderr\n{}--- daemon log\n{}",
                args.join(" "),
                out.status.code(),
                text(&out.stdout),
                text(&out.stderr),
                std::fs::read_to_string(dirs.daemon_log()).unwrap_or_default()
            );
        }
        out
    }

    /// `up`, timed until it returns (every service ready).
    fn up(&self) -> Duration {
        let t = Instant::now();
        self.ok(&["up"]);
        t.elapsed()
    }

    fn daemon_pid(&self) -> u32 {
        let out = self.ok(&["status", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status --json");
        v["daemon_pid"]
            .as_u64()
            .expect("daemon_pid in status --json") as u32
    }

    /// `down`, then wait until none of the project's processes is left.
    fn down(&self) {
        self.ok(&["down"]);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !processes_with(&self.name).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        // Best effort: never leave the bench's processes behind.
        if !processes_with(&self.name).is_empty() {
            let _ = self.cmd(&["down"]).output();
        }
        for (pid, _) in processes_with(&self.name) {
            if let Some(p) = rustix::process::Pid::from_raw(pid as i32) {
                let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
            }
        }
    }
}

/// The fields of `/proc/PID/stat` after the command name (field 3 onward).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// utime + stime of `pid`, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let Some(f) = stat_fields(pid) else {
        return 0.0;
    };
    // Fields 14 and 15 of stat; `f` starts at field 3.
    let ticks: u64 = f[11].parse::<u64>().expect("utime") + f[12].parse::<u64>().expect("stime");
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    ticks as f64 / hz
}

/// A `kB` field of `/proc/PID/status`, in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process is alive");
    s.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

struct Measured {
    services: usize,
    probes: bool,
    up: Duration,
    rss_kib: u64,
    peak_kib: u64,
    idle_cpu_pct: f64,
    shim_rss_kib: u64,
    daemon_up_cpu: f64,
    children_cpu: f64,
}

/// One full measurement of a project of `n` services; the `up` time is the
/// median of `reps` bring-ups (the machine may be shared).
fn measure(n: usize, probes: bool, reps: usize) -> Measured {
    let p = Project::new(n, probes);
    let up = p.up();
    let pid = p.daemon_pid();
    // CPU spent so far: the daemon's (it started with this `up`), and the
    // shims' and services' (all of it start-up: they are idle once ready).
    let daemon_up_cpu = cpu_seconds(pid);
    let procs = processes_with(&p.name);
    let shims: Vec<u32> = procs
        .iter()
        .filter(|(_, c)| c.contains("__shim"))
        .map(|(pid, _)| *pid)
        .collect();
    assert_eq!(shims.len(), n, "one shim per service");
    let children_cpu: f64 = procs
        .iter()
        .filter(|(p, _)| *p != pid)
        .map(|(p, _)| cpu_seconds(*p))
        .sum();
    let cpu0 = cpu_seconds(pid);
    let t = Instant::now();
    std::thread::sleep(IDLE_WINDOW);
    let cpu = cpu_seconds(pid) - cpu0;
    let idle_cpu_pct = cpu / t.elapsed().as_secs_f64() * 100.0;
    let rss_kib = status_kib(pid, "VmRSS");
    let peak_kib = status_kib(pid, "VmHWM");
    let shim_rss_kib = shims.iter().map(|&s| status_kib(s, "VmRSS")).sum::<u64>() / n as u64;
    p.down();
    drop(p);
    let mut ups: Vec<Duration> = (1..reps).map(|_| up_down(n, probes)).collect();
    ups.push(up);
    ups.sort();
    let up = ups[ups.len() / 2];
    Measured {
        services: n,
        probes,
        up,
        rss_kib,
        peak_kib,
        idle_cpu_pct,
        shim_rss_kib,
        daemon_up_cpu,
        children_cpu,
    }
}

/// `up` + `down` of a fresh project; returns the `up` time.
fn up_down(n: usize, probes: bool) -> Duration {
    let p = Project::new(n, probes);
    let t = p.up();
    p.down();
    t
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn main() {
    // `cargo bench` passes `--bench`; there is nothing to filter.
    let sizes: Vec<usize> = std::env::var("SUPERVISOR_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10, 50, 200]);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "supervisor: N trivial services (python3 -S, listening after {LISTEN_DELAY} s), \
         TCP probe every {PROBE_INTERVAL_MS} ms; {cores} cores"
    );

    // Warm-up (page cache, Python's bytecode), not counted.
    up_down(1, true);
    // Baseline: one service, the same way.
    let base = measure(1, true, REPS);
    let base_up = base.up;

    println!();
    println!(
        "{:>8} {:>10} {:>7} {:>11} {:>11} {:>10} {:>7} {:>9} {:>9} {:>9} {:>9}",
        "services",
        "up→ready",
        "ratio",
        "CPU in up",
        "per svc",
        "daemon RSS",
        "ratio",
        "peak RSS",
        "idle CPU",
        "probes/s",
        "shim RSS"
    );
    let row = |m: &Measured, up: Duration, ratio: f64, note: &str| {
        println!(
            "{:>8} {:>7.0} ms {:>6.2}x {:>8.0} ms {:>8.1} ms {:>6.1} MiB {:>6.2}x {:>5.1} MiB {:>7.2} % {:>9.0} {:>5.1} MiB{note}",
            m.services,
            up.as_secs_f64() * 1e3,
            ratio,
            m.daemon_up_cpu * 1e3,
            m.children_cpu * 1e3 / m.services as f64,
            mib(m.rss_kib),
            m.rss_kib as f64 / base.rss_kib as f64,
            mib(m.peak_kib),
            m.idle_cpu_pct,
            if m.probes {
                m.services as f64 * 1000.0 / PROBE_INTERVAL_MS as f64
            } else {
                0.0
            },
            mib(m.shim_rss_kib),
        );
    };
    row(&base, base_up, 1.0, "  (baseline)");
    for &n in &sizes {
        let m = measure(n, true, REPS);
        row(&m, m.up, m.up.as_secs_f64() / base_up.as_secs_f64(), "");
    }
    // Control: the middle size without probes shows what the probes cost.
    if let Some(&n) = sizes.get(sizes.len() / 2) {
        let m = measure(n, false, REPS);
        row(
            &m,
            m.up,
            m.up.as_secs_f64() / base_up.as_secs_f64(),
            "  (no probes: ready = started)",
        );
    }
    println!();
    println!(
        "up→ready: `facerunner up` until it returns with every service ready (daemon start \
         included), median of {REPS}; ratio: against ONE service brought up the same way (near 1 = bounded by the \
         slowest service, near N = their sum).\n\
         CPU in up: the daemon's CPU time from its start to the end of `up`; per svc: the CPU \
         time of one shim + its service until then (start-up cost; {cores} cores share it all).\n\
         idle CPU: the daemon's utime+stime over {} s with every service running and probed, \
         in % of one core; RSS: VmRSS after that window, peak: VmHWM.",
        IDLE_WINDOW.as_secs()
    );
}
