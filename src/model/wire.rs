//! The requests and responses that cross the daemon's socket, and the
//! service state they report.
//!
//! One request per connection is the normal case (`Status`, `Stop`, ...);
//! `Up`, `Start`, `Restart` and `Down` stream [`Event`]s and end with
//! [`Response::Done`]; `Apply` streams the engine's [`ExecEvent`]s and ends
//! with [`Response::Applied`] or [`Response::NoChanges`]. Errors are typed
//! ([`ErrorKind`]) so the client can branch on them instead of matching
//! strings.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::model::events::{ExecEvent, Report};
use crate::model::plan::Plan;
use crate::model::spec::{DaemonSettings, ProjectSpec};

/// A client's request.
///
/// `Debug` is written by hand: [`Request::Apply`] carries the client's
/// interpolation variables (its whole environment), which may hold secrets
/// and must never reach a log.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    /// Install `spec` and bring `services` (all when empty) up with their dependencies.
    Up {
        /// The whole project.
        spec: ProjectSpec,
        /// Selected services; empty means all.
        services: Vec<String>,
    },
    /// Start already-known services (and their dependencies).
    Start {
        /// Service names.
        services: Vec<String>,
    },
    /// Stop services (dependents first).
    Stop {
        /// Service names.
        services: Vec<String>,
    },
    /// Stop then start services.
    Restart {
        /// Service names.
        services: Vec<String>,
    },
    /// Every service's state.
    Status,
    /// Stop everything in reverse dependency order, then exit the daemon.
    Down,
    /// Execute a plan the client made and confirmed: the daemon loads
    /// `config` with `vars`, re-plans under the apply lock, refuses when
    /// the plan is stale, and runs it.
    Apply {
        /// The project file (absolute).
        config: PathBuf,
        /// The client's interpolation variables (environment over `.env`),
        /// so the daemon reads the file exactly as the client did.
        vars: BTreeMap<String, String>,
        /// The plan to execute.
        plan: Box<Plan>,
        /// The GPU inventory the client planned against (`--gpus-from`);
        /// without one the daemon uses its machine's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        gpus: Option<Box<crate::model::gpu::Inventory>>,
    },
    /// Re-execute the daemon as `exe` (a new FaceRunner binary, after
    /// `update`), handing its running services over to the new image
    /// instead of stopping them. Answered by [`Response::Reexecuting`]
    /// just before the `execve`, or by an error saying why not.
    Reexec {
        /// The executable to become (absolute).
        exe: PathBuf,
    },
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Request::Up { spec, services } => f
                .debug_struct("Up")
                .field("spec", spec)
                .field("services", services)
                .finish(),
            Request::Start { services } => {
                f.debug_struct("Start").field("services", services).finish()
            }
            Request::Stop { services } => {
                f.debug_struct("Stop").field("services", services).finish()
            }
            Request::Restart { services } => f
                .debug_struct("Restart")
                .field("services", services)
                .finish(),
            Request::Status => f.write_str("Status"),
            Request::Down => f.write_str("Down"),
            Request::Reexec { exe } => f.debug_struct("Reexec").field("exe", exe).finish(),
            Request::Apply {
                config, vars, plan, ..
            } => f
                .debug_struct("Apply")
                .field("config", config)
                .field("vars", &format_args!("<{} hidden>", vars.len()))
                .field("plan", plan)
                .finish(),
        }
    }
}

impl Request {
    /// The request's name, for logs (never its payload: env may hold secrets).
    pub fn name(&self) -> &'static str {
        match self {
            Request::Up { .. } => "up",
            Request::Start { .. } => "start",
            Request::Stop { .. } => "stop",
            Request::Restart { .. } => "restart",
            Request::Status => "status",
            Request::Down => "down",
            Request::Apply { .. } => "apply",
            Request::Reexec { .. } => "reexec",
        }
    }
}

/// A daemon's answer; streaming requests send `Event`s before `Done`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "response", rename_all = "snake_case")]
pub enum Response {
    /// Progress of a streaming request.
    Event(Event),
    /// End of a streaming request; `failed` lists services that did not reach their goal.
    Done {
        /// Services that failed.
        failed: Vec<String>,
    },
    /// Answer to [`Request::Status`].
    Status(StatusReport),
    /// Progress of [`Request::Apply`], as the engine reports it.
    Exec(ExecEvent),
    /// End of [`Request::Apply`]: the plan ran; the report says how each step ended.
    Applied {
        /// Each step's outcome.
        report: Report,
    },
    /// End of [`Request::Apply`]: the plan had nothing to do.
    NoChanges,
    /// Answer to [`Request::Reexec`]: the daemon is about to become the
    /// new executable; `services` are the running ones it hands over.
    Reexecuting {
        /// Services handed over, still running.
        services: Vec<String>,
    },
    /// The request failed as a whole.
    Error(WireError),
}

/// Progress events, in the order they happen per service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Waiting for a dependency.
    Waiting {
        /// Service.
        service: String,
        /// Dependency and condition, e.g. `db (healthy)`.
        on: String,
    },
    /// About to spawn.
    Starting {
        /// Service.
        service: String,
    },
    /// Spawned.
    Started {
        /// Service.
        service: String,
        /// Pid of the service process.
        pid: u32,
    },
    /// Passed its probe (or has none).
    Ready {
        /// Service.
        service: String,
    },
    /// Was already running with the same spec.
    Unchanged {
        /// Service.
        service: String,
    },
    /// Did not become ready.
    Failed {
        /// Service.
        service: String,
        /// Why, in words.
        reason: String,
        /// The probe, e.g. `http GET http://127.0.0.1:1234/`.
        probe: Option<String>,
        /// Last lines of its log.
        log_tail: Vec<String>,
    },
    /// Stopping.
    Stopping {
        /// Service.
        service: String,
    },
    /// Stopped.
    Stopped {
        /// Service.
        service: String,
    },
}

/// A typed error on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct WireError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// Human text.
    pub message: String,
}

impl WireError {
    /// Build one.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        WireError {
            kind,
            message: message.into(),
        }
    }
}

/// Kinds of request failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// A named service is not in the project.
    UnknownService,
    /// No project was sent yet (`up` first).
    NoProject,
    /// `up` sent a different project than the daemon runs.
    WrongProject,
    /// The spec is invalid (e.g. a dependency cycle).
    InvalidSpec,
    /// The daemon is shutting down.
    ShuttingDown,
    /// `apply` sent a project file that does not load (or cannot be read).
    InvalidConfig,
    /// `apply` sent a plan the file or the live state has moved away from.
    StalePlan,
    /// `apply` sent a plan whose steps do not form a valid graph.
    InvalidPlan,
    /// `apply` sent a plan of another format version.
    PlanVersion,
    /// `apply` sent a plan whose checks found errors.
    PlanErrors,
    /// Anything else inside the daemon.
    Internal,
}

/// Answer to [`Request::Status`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StatusReport {
    /// Project name.
    pub project: String,
    /// Daemon pid.
    pub daemon_pid: u32,
    /// One entry per service, in file order.
    pub services: Vec<ServiceStatus>,
    /// Watch mode (`settings.watch: true`), when on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch: Option<WatchStatus>,
    /// Logs the daemon cannot write (a full disk, most often): lines are
    /// dropped and counted until writes succeed again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_trouble: Vec<LogTrouble>,
    /// The daemon's own settings in force: `watch` is whether it watches
    /// the file right now (off after the watcher failed), the debounce the
    /// one the last `up` installed. Absent from an older daemon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<DaemonSettings>,
}

/// A log file whose lines are being dropped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LogTrouble {
    /// The file.
    pub file: PathBuf,
    /// The first write error, e.g. `No space left on device (os error 28)`.
    pub error: String,
    /// When lines started being dropped.
    #[serde(with = "rfc3339")]
    #[schemars(with = "String")]
    pub since: SystemTime,
    /// Lines dropped so far.
    pub dropped_lines: u64,
}

/// How a service's processes are kept together, so that none outlives `down`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Containment {
    /// A cgroup v2 of its own, killed whole on stop (`cgroup.kill`).
    Cgroup {
        /// The cgroup's directory.
        path: PathBuf,
    },
    /// The shim is a child subreaper: descendants that leave the service's
    /// process group are reparented to it and killed when the service stops.
    Subreaper,
}

impl std::fmt::Display for Containment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Containment::Cgroup { path } => write!(f, "cgroup {}", path.display()),
            Containment::Subreaper => f.write_str("subreaper"),
        }
    }
}

/// The daemon's watching of the project file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WatchStatus {
    /// The file watched.
    pub file: std::path::PathBuf,
    /// The last automatic apply, if any yet.
    pub last: Option<WatchResult>,
    /// Why watching stopped, when it stopped on an error (the daemon no
    /// longer applies saves until the next `up`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

/// The outcome of one automatic apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WatchResult {
    /// When it finished.
    #[serde(with = "rfc3339")]
    #[schemars(with = "String")]
    pub at: SystemTime,
    /// Whether it succeeded (an invalid file counts as not).
    pub ok: bool,
    /// What happened, in a line.
    pub summary: String,
}

/// One service as the daemon sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ServiceStatus {
    /// Name.
    pub name: String,
    /// Kind (display).
    pub kind: String,
    /// Lifecycle state.
    pub state: Lifecycle,
    /// Restarts since it was last started on request.
    pub restarts: u32,
    /// The last exit, if any.
    pub last_exit: Option<ExitInfo>,
    /// Tail of the log when the service is failing (crash loop, unhealthy).
    pub log_tail: Vec<String>,
    /// Listening port (from the spec).
    pub port: Option<u16>,
    /// CPU percent of the service process (one core = 100).
    pub cpu_percent: Option<f32>,
    /// Resident memory of the service process.
    pub rss_bytes: Option<u64>,
    /// Hash of the spec the service runs with (what `plan` compares).
    #[serde(default)]
    pub spec_hash: String,
    /// How its processes are contained (while it runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub containment: Option<Containment>,
    /// The GPUs it may use (its `CUDA_VISIBLE_DEVICES`) and those its
    /// processes are on, with their memory and utilization now; empty on a
    /// machine without GPUs.
    #[serde(default)]
    pub gpus: Vec<ServiceGpu>,
    /// For a running `kind: gateway` service: what it says of its backends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<GatewayStatus>,
    /// For a running `kind: dashboard` service: its webhooks' delivery failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard: Option<DashboardStatus>,
}

/// What a running dashboard says of its webhooks, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DashboardStatus {
    /// Whether the dashboard answered the daemon's question.
    pub answered: bool,
    /// Why it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How many webhooks it delivers to.
    #[serde(default)]
    pub webhooks: usize,
    /// Its recent webhook delivery failures, oldest first.
    #[serde(default)]
    pub webhook_failures: Vec<WebhookFailure>,
}

/// A webhook delivery that failed every attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WebhookFailure {
    /// The webhook's URL.
    pub url: String,
    /// The event type.
    pub event: String,
    /// When it was given up, RFC 3339.
    pub at: String,
    /// Attempts made.
    pub attempts: u32,
    /// The last error.
    pub error: String,
}

/// A gateway's view of its backends, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GatewayStatus {
    /// Whether the gateway answered the daemon's question.
    pub answered: bool,
    /// Why it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The file holding its bearer token, when it requires one (never the token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// Each backend, in the order given to the gateway.
    #[serde(default)]
    pub backends: Vec<GatewayBackend>,
}

/// One Ollama server behind a gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GatewayBackend {
    /// Service name.
    pub name: String,
    /// Base URL.
    pub url: String,
    /// Whether it answered the gateway's last poll.
    pub healthy: bool,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Requests being served now.
    pub in_flight: u64,
    /// Requests sent to it.
    pub total: u64,
    /// Requests that failed (no answer, a 5xx, a stream cut).
    pub errors: u64,
    /// Models it holds (none while down: they are unavailable).
    #[serde(default)]
    pub models: Vec<String>,
    /// Models it has loaded.
    #[serde(default)]
    pub loaded: Vec<String>,
}

/// One GPU of a service, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ServiceGpu {
    /// The driver's index.
    pub index: u32,
    /// Its UUID (`GPU-…`), or PCI address on AMD.
    pub uuid: String,
    /// Marketing name.
    #[serde(default)]
    pub name: String,
    /// Memory in use on the GPU, by anyone.
    pub memory_used_bytes: u64,
    /// The GPU's memory.
    pub memory_total_bytes: u64,
    /// Memory held by this service's processes on it.
    #[serde(default)]
    pub service_memory_bytes: u64,
    /// Utilization of its compute engines, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utilization_percent: Option<u32>,
}

/// The lifecycle of a service; each state carries its own data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Lifecycle {
    /// Never started, or stopped on request.
    Stopped,
    /// Being spawned.
    Starting {
        /// When.
        #[serde(with = "rfc3339")]
        #[schemars(with = "String")]
        since: SystemTime,
    },
    /// Running.
    Running {
        /// Pid of the service (leader of its process group).
        pid: u32,
        /// When it was spawned.
        #[serde(with = "rfc3339")]
        #[schemars(with = "String")]
        started_at: SystemTime,
        /// Probe state.
        health: Health,
    },
    /// Being stopped on request.
    Stopping {
        /// Pid.
        pid: u32,
        /// Since when.
        #[serde(with = "rfc3339")]
        #[schemars(with = "String")]
        since: SystemTime,
    },
    /// Waiting before a restart.
    Backoff {
        /// Restart time.
        #[serde(with = "rfc3339")]
        #[schemars(with = "String")]
        until: SystemTime,
        /// Consecutive restart number.
        attempt: u32,
    },
    /// Exited and will not be restarted (policy, or completed).
    Exited {
        /// How it ended.
        exit: ExitInfo,
    },
    /// Gave up: spawn failure or `max_retries` reached.
    Failed {
        /// Why.
        reason: String,
        /// When.
        #[serde(with = "rfc3339")]
        #[schemars(with = "String")]
        at: SystemTime,
    },
}

impl Lifecycle {
    /// Short word for tables.
    pub fn word(&self) -> &'static str {
        match self {
            Lifecycle::Stopped => "stopped",
            Lifecycle::Starting { .. } => "starting",
            Lifecycle::Running { .. } => "running",
            Lifecycle::Stopping { .. } => "stopping",
            Lifecycle::Backoff { .. } => "restarting",
            Lifecycle::Exited { .. } => "exited",
            Lifecycle::Failed { .. } => "failed",
        }
    }

    /// Pid of the live process, if any.
    pub fn pid(&self) -> Option<u32> {
        match self {
            Lifecycle::Running { pid, .. } | Lifecycle::Stopping { pid, .. } => Some(*pid),
            _ => None,
        }
    }

    /// Whether it is running and ready (probe passed, or no probe).
    pub fn is_ready(&self) -> bool {
        matches!(
            self,
            Lifecycle::Running {
                health: Health::Healthy | Health::None,
                ..
            }
        )
    }
}

/// Probe state of a running service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "health", rename_all = "snake_case")]
pub enum Health {
    /// No probe configured.
    None,
    /// Not yet passed.
    Starting,
    /// Last check passed.
    Healthy,
    /// `retries` consecutive failures.
    Unhealthy {
        /// Consecutive failures.
        failures: u32,
        /// Last probe error.
        last_error: String,
    },
}

impl Health {
    /// Short word for tables.
    pub fn word(&self) -> &'static str {
        match self {
            Health::None => "-",
            Health::Starting => "starting",
            Health::Healthy => "healthy",
            Health::Unhealthy { .. } => "unhealthy",
        }
    }
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ExitInfo {
    /// Exit code, when it exited.
    pub code: Option<i32>,
    /// Signal number, when a signal killed it.
    pub signal: Option<i32>,
    /// When.
    #[serde(with = "rfc3339")]
    #[schemars(with = "String")]
    pub at: SystemTime,
    /// How long it ran.
    #[serde(with = "secs_f64")]
    #[schemars(with = "f64")]
    pub ran_for: Duration,
}

impl ExitInfo {
    /// Exit code 0.
    pub fn is_success(&self) -> bool {
        self.code == Some(0)
    }
}

impl std::fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.code, self.signal) {
            (Some(c), _) => write!(f, "exit code {c}"),
            (None, Some(s)) => write!(f, "killed by signal {s}"),
            (None, None) => write!(f, "unknown exit"),
        }
    }
}

mod secs_f64 {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        Ok(Duration::try_from_secs_f64(v).unwrap_or_default())
    }
}

/// Times as RFC 3339 UTC strings with milliseconds (`status --json` is read by people too).
mod rfc3339 {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    use crate::model::units::{format_time, parse_time};

    pub fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_time(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let text = String::deserialize(d)?;
        parse_time(&text).ok_or_else(|| D::Error::custom(format!("bad time {text:?}")))
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn lifecycle_round_trips_with_readable_times() {
        let t = UNIX_EPOCH + Duration::from_millis(1_764_160_496_789);
        let state = Lifecycle::Running {
            pid: 42,
            started_at: t,
            health: Health::Unhealthy {
                failures: 3,
                last_error: "refused".into(),
            },
        };
        let json = serde_json::to_value(&state).expect("serialize");
        assert_eq!(json["started_at"], "2025-11-26T12:34:56.789Z");
        assert_eq!(json["health"]["health"], "unhealthy");
        let back: Lifecycle = serde_json::from_value(json).expect("deserialize");
        assert_eq!(back, state);
        let err = Response::Error(WireError::new(ErrorKind::UnknownService, "no such"));
        let json = serde_json::to_string(&err).expect("serialize");
        assert!(json.contains("unknown_service"), "{json}");
    }

    #[test]
    fn status_reports_without_the_new_fields_still_parse() {
        let old = r#"{"project":"p","daemon_pid":1,"services":[{"name":"a","kind":"process",
            "state":{"state":"stopped"},"restarts":0,"last_exit":null,"log_tail":[],
            "port":null,"cpu_percent":null,"rss_bytes":null}]}"#;
        let r: StatusReport = serde_json::from_str(old).expect("parses");
        assert!(r.log_trouble.is_empty());
        assert_eq!(r.services[0].containment, None);
        let mut r = r;
        r.services[0].containment = Some(Containment::Cgroup {
            path: "/sys/fs/cgroup/x".into(),
        });
        r.log_trouble.push(LogTrouble {
            file: "/s/daemon.log".into(),
            error: "No space left on device (os error 28)".into(),
            since: UNIX_EPOCH,
            dropped_lines: 7,
        });
        let json = serde_json::to_value(&r).expect("serialize");
        assert_eq!(json["services"][0]["containment"]["kind"], "cgroup");
        assert_eq!(json["log_trouble"][0]["dropped_lines"], 7);
        let back: StatusReport = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, r);
    }
}
