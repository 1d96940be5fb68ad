//! What the daemon is asked to run: the resolved, normalized description of
//! a project's services.
//!
//! The config layer builds a [`ProjectSpec`] from `facerunner.yaml` (argv
//! resolved, `shell: true` already turned into `["/bin/sh", "-c", cmd]`,
//! built-in kinds filled in) and the CLI sends it to the daemon over the
//! socket, so every type here is serde data. Durations travel as integer
//! milliseconds. A changed [`ServiceSpec::spec_hash`] means "restart it".

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Every service of one project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectSpec {
    /// Project name; selects the directories and the daemon.
    pub project: String,
    /// The file it came from (shown in status).
    pub config_path: PathBuf,
    /// Services, in file order.
    pub services: Vec<ServiceSpec>,
    /// The daemon's own settings (watch mode). Absent from an older CLI's
    /// spec: the defaults (no watching).
    #[serde(default)]
    pub settings: DaemonSettings,
}

/// The settings of the project's daemon itself, as opposed to its
/// services': whether it watches the project file, and how long it lets a
/// burst of saves settle. The daemon reports the ones in force in its
/// status, so a plan can show (and apply can make) a change of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DaemonSettings {
    /// `settings.watch`: the daemon re-applies when the file is saved.
    pub watch: bool,
    /// `settings.watch_debounce`, in milliseconds.
    pub watch_debounce_ms: u64,
}

/// `settings.watch_debounce` when the file does not set it.
pub const DEFAULT_WATCH_DEBOUNCE_MS: u64 = 300;

impl Default for DaemonSettings {
    /// A daemon that does not watch, which is also what "no daemon" amounts to.
    fn default() -> Self {
        DaemonSettings {
            watch: false,
            watch_debounce_ms: DEFAULT_WATCH_DEBOUNCE_MS,
        }
    }
}

impl ProjectSpec {
    /// The service called `name`.
    pub fn service(&self, name: &str) -> Option<&ServiceSpec> {
        self.services.iter().find(|s| s.name == name)
    }
}

/// One process FaceRunner owns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceSpec {
    /// Unique within the project.
    pub name: String,
    /// `process`, `ollama` or `open-webui`; display only.
    pub kind: String,
    /// Program and arguments; never passed through a shell by FaceRunner.
    pub argv: Vec<String>,
    /// Added on top of the daemon's environment.
    pub env: BTreeMap<String, String>,
    /// Keys of `env` the file marks `secret: true` (never shown by `plan`).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub secret_env: BTreeSet<String>,
    /// Absolute working directory.
    pub working_dir: PathBuf,
    /// Services that must reach a condition before this one starts.
    pub depends_on: Vec<Dependency>,
    /// Readiness and health check; `None` means ready once started.
    pub probe: Option<Probe>,
    /// What to do when the process exits.
    pub restart: RestartSpec,
    /// How to stop it.
    pub stop: StopSpec,
    /// Address it listens on (status and port checks).
    pub bind: Option<String>,
    /// Port it listens on (status and port checks).
    pub port: Option<u16>,
    /// Log rotation.
    pub log: LogSpec,
    /// Hash of the normalized spec, computed by the config layer.
    pub spec_hash: String,
}

/// `depends_on` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency {
    /// The service depended on.
    pub service: String,
    /// What it must reach first.
    pub condition: Condition,
}

/// A `depends_on` condition (compose semantics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// The process was spawned.
    Started,
    /// Its probe passed (or it has no probe and was spawned).
    Healthy,
    /// It exited with code 0.
    Completed,
}

/// A readiness/health probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    /// What to check.
    pub check: Check,
    /// Time between checks once the service has been healthy.
    #[serde(with = "millis")]
    pub interval: Duration,
    /// Time between checks until the first success, when shorter polling
    /// then is wanted (built-in probes: ready fast, then left alone);
    /// `None`: `interval` throughout.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_millis")]
    pub start_interval: Option<Duration>,
    /// Limit for one check.
    #[serde(with = "millis")]
    pub timeout: Duration,
    /// Consecutive failures that make it unhealthy.
    pub retries: u32,
    /// Grace after spawn during which failures do not count.
    #[serde(with = "millis")]
    pub start_period: Duration,
}

/// The kinds of probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// `GET url`; 2xx and 3xx pass.
    Http {
        /// Full URL.
        url: String,
    },
    /// A TCP connect succeeds.
    Tcp {
        /// Host name or address.
        host: String,
        /// Port.
        port: u16,
    },
    /// The program exits 0.
    Exec {
        /// Program and arguments.
        argv: Vec<String>,
    },
}

impl ServiceSpec {
    /// The argument after `flag` in the argv (`--token-file PATH`): how the
    /// daemon finds what it handed to a process of its own (a gateway's
    /// token, a dashboard's read-only token).
    pub fn arg_after(&self, flag: &str) -> Option<&str> {
        self.argv
            .iter()
            .position(|a| a == flag)
            .and_then(|i| self.argv.get(i + 1))
            .map(String::as_str)
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Check::Http { url } => write!(f, "http GET {url}"),
            Check::Tcp { host, port } => write!(f, "tcp {host}:{port}"),
            Check::Exec { argv } => write!(f, "exec {}", argv.join(" ")),
        }
    }
}

/// Restart behaviour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartSpec {
    /// When to restart.
    pub policy: RestartPolicy,
    /// Give up after this many consecutive restarts (`None`: never).
    pub max_retries: Option<u32>,
    /// First delay.
    #[serde(with = "millis")]
    pub backoff_initial: Duration,
    /// Cap for the doubling delay.
    #[serde(with = "millis")]
    pub backoff_max: Duration,
}

impl Default for RestartSpec {
    fn default() -> Self {
        RestartSpec {
            policy: RestartPolicy::OnFailure,
            max_retries: None,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
        }
    }
}

/// Restart policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// Never restart.
    No,
    /// Restart after a non-zero exit or a death by signal.
    OnFailure,
    /// Restart after any exit not asked for.
    Always,
}

/// How to stop a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopSpec {
    /// Signal name, `SIGTERM` style.
    pub signal: String,
    /// Grace period before SIGKILL.
    #[serde(with = "millis")]
    pub timeout: Duration,
}

impl Default for StopSpec {
    fn default() -> Self {
        StopSpec {
            signal: "SIGTERM".into(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Log rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSpec {
    /// Rotate when the file reaches this size.
    pub max_bytes: u64,
    /// Rotated files kept (`svc.log.1` .. `svc.log.N`).
    pub keep: u32,
}

impl Default for LogSpec {
    fn default() -> Self {
        LogSpec {
            max_bytes: 10 * 1024 * 1024,
            keep: 3,
        }
    }
}

/// Optional durations as integer milliseconds on the wire.
mod opt_millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::millis::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

/// Durations as integer milliseconds on the wire.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// The largest gateway placement file (`<service>.placement.json`) read or rewritten.
pub const GATEWAY_PLACEMENT_LIMIT: u64 = 4 * 1024 * 1024;

/// Whether `bind` only accepts connections from this machine.
pub fn is_loopback(bind: &str) -> bool {
    let b = bind.trim_matches(['[', ']']);
    b == "localhost"
        || b.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

// ---- replica instances (`replicas: per-gpu`) ----

/// The index of `name` as an instance of `group` (`llm-1` → 1).
pub fn instance_index(group: &str, name: &str) -> Option<usize> {
    let rest = name.strip_prefix(group)?.strip_prefix('-')?;
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if rest.len() > 1 && rest.starts_with('0') {
        return None;
    }
    rest.parse().ok()
}

/// The name of instance `i` of `group`.
pub fn instance_name(group: &str, i: usize) -> String {
    format!("{group}-{i}")
}

/// Names as a person gives them (`logs llm`, `restart llm`), with the name
/// of a replicated group replaced by its instances among `known`
/// (`llm` → `llm-0`, `llm-1`); other names are kept as they are.
pub fn expand_groups(known: &[String], names: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for n in names {
        let instances: Vec<&String> = if known.contains(n) {
            vec![]
        } else {
            known
                .iter()
                .filter(|k| instance_index(n, k).is_some())
                .collect()
        };
        if instances.is_empty() {
            out.push(n.clone());
        } else {
            out.extend(instances.into_iter().cloned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_name_becomes_its_instances_and_other_names_stay() {
        let known: Vec<String> = ["llm-0", "llm-1", "llm-10", "web", "llm-x", "llmx-0"]
            .map(String::from)
            .to_vec();
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            expand_groups(&known, &names(&["llm", "web", "nosuch"])),
            names(&["llm-0", "llm-1", "llm-10", "web", "nosuch"])
        );
        assert_eq!(expand_groups(&known, &names(&["llm-1"])), names(&["llm-1"]));
        assert_eq!(instance_index("llm", "llm-01"), None);
    }
}
