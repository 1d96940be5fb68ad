//! The file format of CONFIG.md as Rust types.
//!
//! These types are the single source of truth: serde reads the file into
//! them, schemars turns them into the JSON Schema that `facerunner schema`
//! prints and editors use, and the checker validates a file against that
//! same schema before serde ever sees it. Field names are a contract with
//! users (CONFIG.md): extend, never rename.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::units::{Duration, Size};

/// A FaceRunner project file, `facerunner.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "facerunner.yaml")]
pub struct Config {
    /// Format version; always 1.
    #[schemars(range(min = 1, max = 1000))]
    pub version: u32,
    /// Project name; default: the file's directory name. State, logs and the daemon are per project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Project-wide settings.
    #[serde(default)]
    pub settings: Settings,
    /// Logical GPU names → physical devices.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub gpus: BTreeMap<String, Gpu>,
    /// The services, by name (lowercase letters, digits, `-`, `_`).
    #[serde(default)]
    pub services: BTreeMap<String, Service>,
    /// The models FaceRunner keeps installed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<Model>,
    /// Files FaceRunner writes for other tools.
    #[serde(default)]
    pub integrations: Integrations,
}

/// Project-wide settings; every key is optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Default listen address of built-in services.
    #[serde(default = "default_bind")]
    pub bind: String,
    /// Remove models that FaceRunner pulled earlier and the file no longer lists (never models it did not pull).
    #[serde(default)]
    pub prune_models: bool,
    /// The daemon re-applies when this file is saved.
    #[serde(default)]
    pub watch: bool,
    /// How long watch mode waits for a burst of saves to settle.
    #[serde(default = "default_debounce")]
    pub watch_debounce: Duration,
    /// `plan` checks each model's memory estimate against the free memory of its service's GPUs: `warn` (default) shows a warning, `error` blocks apply, `off` skips it (and reads no model headers).
    #[serde(default)]
    pub gpu_fit: GpuFit,
    /// Webhooks the dashboard (`kind: dashboard`) POSTs events to, signed with HMAC-SHA256 (`X-FaceRunner-Signature-256: sha256=HEX`) when `secret` is set, retried with backoff.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<Webhook>,
}

/// One webhook (`settings.webhooks`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// Where to POST (http:// or https://).
    pub url: String,
    /// Which events: `service` (state changes), `apply` (finished or failed), `pull`, `watch`; all when absent.
    #[serde(default)]
    pub events: Vec<String>,
    /// The HMAC-SHA256 key of the signature header (write `${VAR}` and keep the value in `.env`).
    #[serde(default)]
    pub secret: Option<String>,
}

/// What `plan` does with a model that does not fit its GPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GpuFit {
    /// A warning; `apply` goes ahead.
    #[default]
    Warn,
    /// A plan error; `apply` refuses.
    Error,
    /// No check.
    Off,
}

impl Config {
    /// The `ollama` services, in file order.
    pub fn ollama_services(&self) -> impl Iterator<Item = (&String, &Service)> {
        self.services.iter().filter(|(_, s)| s.kind == Kind::Ollama)
    }

    /// The ollama service a model goes to: its `service:`, else the file's
    /// only ollama service (`None` when there is none or several).
    pub fn model_service<'a>(&'a self, m: &'a Model) -> Option<&'a String> {
        m.service.as_ref().or_else(|| {
            let mut ollamas = self.ollama_services().map(|(n, _)| n);
            match (ollamas.next(), ollamas.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            }
        })
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bind: default_bind(),
            prune_models: false,
            watch: false,
            watch_debounce: default_debounce(),
            gpu_fit: GpuFit::default(),
            webhooks: Vec::new(),
        }
    }
}

fn default_bind() -> String {
    "127.0.0.1".into()
}

fn default_debounce() -> Duration {
    Duration(std::time::Duration::from_millis(
        crate::model::spec::DEFAULT_WATCH_DEBOUNCE_MS,
    ))
}

/// A physical GPU: by UUID (preferred: stable across reboots) or by index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Gpu {
    /// NVIDIA UUID, as `nvidia-smi -L` prints it (`GPU-…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// Index as CUDA enumerates it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 255))]
    pub index: Option<u32>,
}

/// What a service is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Any local process (argv, env, probes, restart policy).
    #[default]
    Process,
    /// An `ollama serve` instance.
    Ollama,
    /// Open WebUI (`open-webui serve`).
    OpenWebui,
    /// FaceRunner's own web dashboard.
    Dashboard,
    /// One Ollama-compatible endpoint in front of the ollama services, routing by model.
    Gateway,
}

impl Kind {
    /// The name used in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Process => "process",
            Kind::Ollama => "ollama",
            Kind::OpenWebui => "open-webui",
            Kind::Dashboard => "dashboard",
            Kind::Gateway => "gateway",
        }
    }
}

/// One service.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// `process` (default), `ollama`, `open-webui`, `gateway` or `dashboard`.
    #[serde(default)]
    pub kind: Kind,
    /// argv (a list), or a string run through /bin/sh when `shell: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
    /// Run `command` (a string) through /bin/sh -c.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shell: bool,
    /// Working directory, relative to the project file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Extra environment variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, EnvValue>,
    /// Files of `KEY=value` lines, relative to the project file; `env` wins over them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_file: Option<OneOrMany>,
    /// Listen port (ollama, open-webui, gateway, dashboard; informational for processes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<u16>,
    /// Listen address; default `settings.bind`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    /// GPUs this service may use (names from `gpus:`) → `CUDA_VISIBLE_DEVICES`, by UUID where
    /// known; `[]` = CPU only; omitted = all visible. For ollama and process services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<Vec<String>>,
    /// Ollama's model store (`OLLAMA_MODELS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models_dir: Option<String>,
    /// Ollama: `per-gpu` runs one instance per GPU of `gpus:` (or of the machine when `gpus:` is
    /// omitted), named `NAME-0`, `NAME-1`, … on ports `port`, `port+1`, …, each pinned to its GPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<Replicas>,
    /// With `replicas: per-gpu`: where the group's models go. `every` (default): each model on
    /// every instance; `spread`: each model on one instance, the one whose GPU has room (largest
    /// first, by estimated size), shown in the plan with the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    /// The executable (ollama, open-webui); default: PATH.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary: Option<String>,
    /// Open WebUI and gateway: the ollama services they talk to; default: every ollama service
    /// (for Open WebUI: the gateway, when the file has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backends: Option<Vec<String>>,
    /// Gateway: how a conversation keeps to one backend (and its KV cache) when several hold its
    /// model. `header` (default): only requests with an `X-FaceRunner-Session` header; `prefix`:
    /// also requests without one, by their prompt's start (the first two messages, or the
    /// system prompt and the prompt's first 4 KiB), so each turn of a chat lands where the
    /// last one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticky: Option<Sticky>,
    /// Services to start first: a list, or a mapping to `{condition}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<DependsOn>,
    /// Readiness and health probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// Restart policy: `no`, `on-failure`, `always`, or the long form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<Restart>,
    /// How to stop it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    /// Log file rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<LogSettings>,
    /// Container image, used by `facerunner export kubernetes` only (local runs ignore it):
    /// required there to export a `process` or `gateway` service as a Deployment; for `ollama`
    /// and `open-webui` it replaces the default image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// How many instances of a service run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Replicas {
    /// One instance per GPU, each pinned to it by UUID.
    PerGpu,
}

/// Where the models of a `replicas: per-gpu` service go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Placement {
    /// Every model on every instance.
    #[default]
    Every,
    /// Each model on one instance: the one whose GPU has room.
    Spread,
}

/// How a gateway keeps a conversation on one backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Sticky {
    /// Only by the `X-FaceRunner-Session` header.
    #[default]
    Header,
    /// By the header, else by the prompt's start.
    Prefix,
}

/// argv, or a shell string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Command {
    /// argv: program and arguments, never through a shell.
    Argv(Vec<String>),
    /// A string: split on whitespace, or run by /bin/sh with `shell: true`.
    Line(String),
}

/// One string or a list of strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl OneOrMany {
    /// The items, in order.
    pub fn items(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// An environment value: strings, numbers and booleans are all written as
/// text; `{ value: ..., secret: true }` marks a value that `plan` must never
/// show (names with TOKEN, KEY, SECRET or PASSWORD are masked anyway).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum EnvValue {
    /// Text.
    Text(String),
    /// A whole number.
    Int(i64),
    /// A number.
    Float(f64),
    /// true / false.
    Bool(bool),
    /// A value with options.
    Long(EnvLong),
}

/// `{ value: ..., secret: true }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvLong {
    /// The value.
    pub value: String,
    /// Never shown by `plan` (human output, JSON, saved plans); its changes
    /// are still detected.
    #[serde(default)]
    pub secret: bool,
}

impl EnvValue {
    /// Whether the file marks this value secret.
    pub fn is_secret(&self) -> bool {
        matches!(self, EnvValue::Long(EnvLong { secret: true, .. }))
    }
}

impl std::fmt::Display for EnvValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EnvValue::Text(s) => f.write_str(s),
            EnvValue::Int(i) => write!(f, "{i}"),
            EnvValue::Float(x) => write!(f, "{x}"),
            EnvValue::Bool(b) => write!(f, "{b}"),
            EnvValue::Long(l) => f.write_str(&l.value),
        }
    }
}

/// `depends_on`: a list of names, or names mapped to a condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum DependsOn {
    /// Each must have started.
    List(Vec<String>),
    /// Each with its condition.
    Map(BTreeMap<String, Dependency>),
}

impl DependsOn {
    /// (service, condition) pairs.
    pub fn entries(&self) -> Vec<(String, Condition)> {
        match self {
            DependsOn::List(v) => v.iter().map(|s| (s.clone(), Condition::Started)).collect(),
            DependsOn::Map(m) => m.iter().map(|(k, d)| (k.clone(), d.condition)).collect(),
        }
    }
}

/// One dependency's condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Dependency {
    /// When the dependency counts as satisfied.
    #[serde(default)]
    pub condition: Condition,
}

/// When a dependency is satisfied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Its process has started.
    #[default]
    Started,
    /// Its probe passes.
    Healthy,
    /// It has exited with status 0.
    Completed,
}

/// A probe: exactly one of `http`, `tcp`, `exec`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// GET this URL; 2xx or 3xx is healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// Connect to this port (on the service's address) or `host:port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpTarget>,
    /// Run this argv; exit 0 is healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<Vec<String>>,
    /// Time between probes (default 2s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    /// Time one probe may take (default 1s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Consecutive failures before unhealthy (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub retries: Option<u32>,
    /// Failures in this first period do not count (default 10s; 60s for ollama, 5m for open-webui).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<Duration>,
    /// Turn off the kind's built-in probe.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable: bool,
}

/// `tcp:` a port, or `host:port`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum TcpTarget {
    /// A port on the service's address.
    Port(#[schemars(range(min = 1, max = 65535))] u16),
    /// `host:port`.
    Address(String),
}

/// A port written as text (`tcp: "11631"`, as interpolation produces) is a
/// port, like the number.
impl<'de> Deserialize<'de> for TcpTarget {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Port(u16),
            Address(String),
        }
        Ok(match Raw::deserialize(d)? {
            Raw::Port(p) => TcpTarget::Port(p),
            Raw::Address(a) => match a.trim().parse::<u16>() {
                Ok(p) if p != 0 => TcpTarget::Port(p),
                _ => TcpTarget::Address(a),
            },
        })
    }
}

/// Restart policy, short or long form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Restart {
    /// `no`, `on-failure` or `always`.
    Policy(RestartPolicy),
    /// `{policy, max_retries, backoff: {initial, max}}`.
    Long(RestartLong),
}

/// When to restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// Never.
    No,
    /// When it exits with a non-zero status or a signal.
    #[default]
    OnFailure,
    /// Whenever it exits.
    Always,
}

/// The long form of `restart`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestartLong {
    /// When to restart.
    #[serde(default)]
    pub policy: RestartPolicy,
    /// Give up after this many restarts in a row (default: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100000))]
    pub max_retries: Option<u32>,
    /// Exponential backoff between restarts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Backoff>,
}

/// Exponential backoff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Backoff {
    /// First wait (default 1s); doubles each time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial: Option<Duration>,
    /// Longest wait (default 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Duration>,
}

/// How a service is stopped: the signal, then SIGKILL after the timeout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stop {
    /// Signal sent to the process group first (default SIGTERM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// Grace period before SIGKILL (default 10s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

/// Log rotation of one service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// Rotate when the file reaches this size (default 10MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size: Option<Size>,
    /// Rotated files kept (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub keep: Option<u32>,
}

/// One model: exactly one of `ollama`, `hf`, `from`, `file`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Model {
    /// An Ollama registry name (`llama3.2:1b`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ollama: Option<String>,
    /// A Hugging Face repo (`org/repo`), converted to an Ollama reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hf: Option<String>,
    /// GGUF quant for `hf:` (default Q4_K_M when the repo has it); `auto`
    /// picks the largest the target GPU holds (else Q4_K_M).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quant: Option<String>,
    /// Quantize a safetensors `hf:` repo when importing it into Ollama:
    /// `q4_K_M` or `q8_0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantize: Option<String>,
    /// Where an `hf:` model's bytes come from: `ollama` (Ollama pulls
    /// `hf.co/org/repo:QUANT`) or `download` (FaceRunner downloads from the
    /// Hub, then imports into Ollama). Default: chosen automatically.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<HfSourceChoice>,
    /// Branch, tag or commit of an `hf:` repo (default `main`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Local name of a derived (`from`) or file (`file`) model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Also install under this local name (a copy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// Base model of a derived model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// A local GGUF file, relative to the project file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// System prompt of a derived model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Prompt template of a derived model (Go template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Parameters of a derived model (`temperature`, `num_ctx`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, serde_json::Value>,
    /// The ollama service that holds it (required when there are several).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Load it after apply and keep it resident this long (`-1` = forever).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_alive: Option<String>,
    /// Set by the expansion of a `replicas: per-gpu` service with `placement: spread` on each
    /// instance's copy of the model: the group it was declared for. The plan keeps one copy.
    /// Never read from or written to the file.
    #[serde(skip)]
    #[schemars(skip)]
    pub spread_group: Option<String>,
}

/// Files FaceRunner writes for other tools.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Integrations {
    /// The Continue editor extension: a model block file listing the file's models
    /// (`.continue/models/facerunner.yaml` beside this file, or in `~/.continue` with
    /// `scope: user`), shown in the plan and removed when this key is.
    #[serde(default, rename = "continue", skip_serializing_if = "Option::is_none")]
    pub continue_: Option<ContinueIntegration>,
    /// The Zed editor: its `language_models.ollama` settings (`facerunner integrations show
    /// zed`); merged into Zed's settings.json only with `merge: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zed: Option<ZedIntegration>,
}

/// Continue's model block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContinueIntegration {
    /// Write it (default `true`; `false` removes a block FaceRunner wrote).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `workspace` (default): `.continue/models/facerunner.yaml` in this file's directory;
    /// `user`: `~/.continue/models/facerunner.yaml`, for every workspace.
    #[serde(default)]
    pub scope: ContinueScope,
    /// The roles each model gets in Continue (default: `chat`, `edit`, `apply`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<ContinueRole>>,
}

fn yes() -> bool {
    true
}

/// Where Continue's model block is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ContinueScope {
    /// `.continue/models/` in the project file's directory (that workspace only).
    #[default]
    Workspace,
    /// `~/.continue/models/` (every workspace).
    User,
}

/// A Continue model role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ContinueRole {
    /// Chat.
    Chat,
    /// Tab autocomplete.
    Autocomplete,
    /// Embeddings.
    Embed,
    /// Reranking.
    Rerank,
    /// Inline edits.
    Edit,
    /// Applying code blocks.
    Apply,
    /// Summaries.
    Summarize,
}

impl ContinueRole {
    /// The name Continue uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ContinueRole::Chat => "chat",
            ContinueRole::Autocomplete => "autocomplete",
            ContinueRole::Embed => "embed",
            ContinueRole::Rerank => "rerank",
            ContinueRole::Edit => "edit",
            ContinueRole::Apply => "apply",
            ContinueRole::Summarize => "summarize",
        }
    }
}

/// Zed's `language_models.ollama` settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ZedIntegration {
    /// Merge the block into Zed's settings.json (`$XDG_CONFIG_HOME/zed`, else `~/.config/zed`)
    /// on apply, leaving every other key as it is; refused (with a warning) when that file is
    /// not plain JSON. Default `false`: only `facerunner integrations show zed` prints it.
    #[serde(default)]
    pub merge: bool,
}

/// `source:` of an `hf:` model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum HfSourceChoice {
    /// Ollama pulls `hf.co/org/repo:QUANT` itself.
    Ollama,
    /// FaceRunner downloads from the Hub, then imports into Ollama.
    Download,
}

impl From<HfSourceChoice> for crate::model::hf::HfSource {
    fn from(c: HfSourceChoice) -> Self {
        match c {
            HfSourceChoice::Ollama => crate::model::hf::HfSource::Ollama,
            HfSourceChoice::Download => crate::model::hf::HfSource::Download,
        }
    }
}
