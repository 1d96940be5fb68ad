//! Semantic rules: what the schema cannot say.
//!
//! References (`depends_on`, `gpus`, `backends`, a model's `service`),
//! dependency cycles, ports unique per address, one probe per service,
//! model sources and names (Ollama's grammar, Hugging Face conversion), and
//! kind-specific rules. Every rule reports at the node it is about, and all
//! of them run: a file's problems are reported together.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::check::{SpanMap, did_you_mean, seg};
use super::diag::Diagnostic;
use super::types::{Command, Config, Kind, Model, Service, TcpTarget};
use crate::names::ModelName;
use crate::names::hf::{RepoHints, convert};

/// Default port of each built-in kind.
pub fn default_port(kind: Kind) -> Option<u16> {
    super::kinds::of(kind).default_port()
}

/// Signals a service may be stopped with.
pub const SIGNALS: &[&str] = &[
    "SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGKILL", "SIGUSR1", "SIGUSR2",
];

/// Normalize `TERM` / `sigterm` to `SIGTERM`; `None` when unknown.
pub fn signal_name(s: &str) -> Option<&'static str> {
    let up = s.to_ascii_uppercase();
    let full = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    SIGNALS.iter().copied().find(|n| *n == full)
}

/// The parts of a file that exist but could not be read (they have schema
/// errors, reported already), so the rules neither report them as missing
/// nor guess about what they say. Empty for a file without schema errors.
#[derive(Debug, Clone, Default)]
pub struct Gaps {
    /// Services left out of the config: a reference to one is not "unknown".
    pub services: BTreeSet<String>,
    /// `services:` as a whole could not be read: no service reference can
    /// be checked.
    pub all_services: bool,
    /// GPUs left out of the config.
    pub gpus: BTreeSet<String>,
    /// `gpus:` as a whole could not be read.
    pub all_gpus: bool,
    /// Other top-level keys left out (`settings`, `version`, …).
    pub top: BTreeSet<String>,
    /// For each model in the config, its index in the file (models with
    /// errors are left out, which shifts the rest). Empty: the same index.
    pub model_index: Vec<usize>,
}

impl Gaps {
    /// Could service `name` exist, unread?
    fn unread_service(&self, name: &str) -> bool {
        self.all_services || self.services.contains(name)
    }

    /// Is some service unread (so what services there are is not known)?
    fn some_service_unread(&self) -> bool {
        self.all_services || !self.services.is_empty()
    }

    /// The file's index of the config's `i`th model.
    fn model(&self, i: usize) -> usize {
        self.model_index.get(i).copied().unwrap_or(i)
    }
}

struct V<'a> {
    cfg: &'a Config,
    spans: &'a SpanMap,
    gaps: &'a Gaps,
    out: Vec<Diagnostic>,
}

impl V<'_> {
    fn err(&mut self, ptr: &str, summary: String, help: &str) {
        self.out
            .push(Diagnostic::error(summary, self.spans.value(ptr)).with_help(help));
    }

    fn err_key(&mut self, ptr: &str, summary: String, help: &str) {
        self.out
            .push(Diagnostic::error(summary, self.spans.key(ptr)).with_help(help));
    }

    /// A warning, rendered on one line (they repeat per service).
    fn warn(&mut self, ptr: &str, summary: String, help: &str) {
        self.out.push(
            Diagnostic::warning(summary, self.spans.key(ptr))
                .with_help(help)
                .on_one_line(),
        );
    }

    /// Is `name` a service that was read? Reports it when it is not a
    /// service at all; a service that exists but could not be read is
    /// neither reported nor usable (`false`).
    fn service_ref(&mut self, ptr: &str, name: &str, what: &str) -> bool {
        if self.cfg.services.contains_key(name) {
            return true;
        }
        if self.gaps.unread_service(name) {
            return false;
        }
        // Every service in the file, those with errors too.
        let names: BTreeSet<&str> = self
            .cfg
            .services
            .keys()
            .chain(&self.gaps.services)
            .map(String::as_str)
            .collect();
        let help = match did_you_mean(name, names.iter().copied()) {
            Some(m) => format!("did you mean `{m}`?"),
            None => format!(
                "services in this file: {}",
                names
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        self.err(
            ptr,
            format!("{what} names `{name}`, which is not a service in this file"),
            &help,
        );
        false
    }
}

/// Run every semantic rule on what could be read of a file: `cfg` without
/// the parts named in `gaps`.
pub fn validate(cfg: &Config, spans: &SpanMap, gaps: &Gaps) -> Vec<Diagnostic> {
    let mut v = V {
        cfg,
        spans,
        gaps,
        out: Vec::new(),
    };
    if cfg.version != 1 {
        v.err(
            "/version",
            format!("unsupported version {}", cfg.version),
            "this FaceRunner reads `version: 1`",
        );
    }
    if let Some(name) = &cfg.name
        && !valid_name(name)
    {
        v.err(
            "/name",
            format!("project name `{name}` is not usable"),
            "use lowercase letters, digits, `-` and `_`, starting with a letter or digit",
        );
    }
    for (name, gpu) in &cfg.gpus {
        let ptr = format!("/gpus/{}", seg(name));
        match (&gpu.uuid, gpu.index) {
            (Some(_), Some(_)) | (None, None) => v.err(
                &ptr,
                format!("GPU `{name}` needs exactly one of `uuid` and `index`"),
                "prefer `uuid` (from `nvidia-smi -L`): indexes can change order",
            ),
            (Some(u), None) if !u.starts_with("GPU-") && !u.starts_with("MIG-") => v.err(
                &format!("{ptr}/uuid"),
                format!("`{u}` is not an NVIDIA GPU UUID"),
                "copy it from `nvidia-smi -L`; it looks like GPU-5a1c9d3e-…",
            ),
            _ => {}
        }
    }
    for (name, svc) in &cfg.services {
        service(&mut v, name, svc);
    }
    // A service with errors still has a name that can be checked.
    for name in &gaps.services {
        service_name(&mut v, name);
    }
    cycles(&mut v);
    // Which ports clash depends on the default bind address.
    if !gaps.top.contains("settings") {
        ports(&mut v);
    }
    models(&mut v);
    webhooks(&mut v);
    v.out
}

/// The events a webhook may ask for (the dashboard's event types).
pub const WEBHOOK_EVENTS: [&str; 4] = ["service", "apply", "pull", "watch"];

/// `settings.webhooks`: delivered by the dashboard, so one must exist.
fn webhooks(v: &mut V<'_>) {
    let hooks = &v.cfg.settings.webhooks;
    if !hooks.is_empty() && !v.cfg.services.values().any(|s| s.kind == Kind::Dashboard) {
        v.err(
            "/settings/webhooks",
            "webhooks are sent by the dashboard, and the file has no `kind: dashboard` service"
                .into(),
            "add one (`dashboard: { kind: dashboard }`), or remove `webhooks`",
        );
    }
    for (i, h) in hooks.iter().enumerate() {
        let ptr = format!("/settings/webhooks/{i}");
        if !(h.url.starts_with("http://") || h.url.starts_with("https://")) {
            v.err(
                &format!("{ptr}/url"),
                format!("`{}` is not an http:// or https:// URL", h.url),
                "write the full URL, e.g. https://hooks.example/facerunner",
            );
        }
        for (j, e) in h.events.iter().enumerate() {
            if !WEBHOOK_EVENTS.contains(&e.as_str()) {
                v.err(
                    &format!("{ptr}/events/{j}"),
                    format!("`{e}` is not a webhook event"),
                    "use service, apply, pull or watch (or leave `events` out for all)",
                );
            }
        }
    }
}

/// Service and project names: lowercase letters, digits, `-`, `_`.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn service_name(v: &mut V<'_>, name: &str) {
    if !valid_name(name) {
        v.err_key(
            &format!("/services/{}", seg(name)),
            format!("service name `{name}` is not allowed"),
            "use lowercase letters, digits, `-` and `_`, starting with a letter or digit",
        );
    }
}

fn service(v: &mut V<'_>, name: &str, svc: &Service) {
    let ptr = format!("/services/{}", seg(name));
    service_name(v, name);
    match svc.kind {
        Kind::Process => match &svc.command {
            None => v.err_key(&ptr, format!("service `{name}` has no `command`"), "give the program and its arguments: `command: [python3, -m, http.server, \"9000\"]`"),
            Some(Command::Argv(a)) if a.is_empty() => v.err(&format!("{ptr}/command"), "`command` is an empty list".into(), "give the program and its arguments"),
            Some(Command::Line(_)) if !svc.shell => v.err(&format!("{ptr}/command"), "a string `command` runs through a shell only when `shell: true` is set".into(), "write it as a list (`[prog, arg]`), or add `shell: true` to run it with /bin/sh -c"),
            Some(Command::Argv(_)) if svc.shell => v.err(&format!("{ptr}/shell"), "`shell: true` needs `command` as one string".into(), "write `command: \"prog arg | other\"`, or drop `shell: true`"),
            _ => {}
        },
        Kind::Ollama | Kind::OpenWebui | Kind::Gateway | Kind::Dashboard => {
            if svc.command.is_some() {
                v.err_key(&format!("{ptr}/command"), format!("`command` is not used by kind `{}`", svc.kind.as_str()), "FaceRunner builds the command for this kind; use `binary:` to pick the executable, or `kind: process` for a custom command");
            }
        }
    }
    if svc.kind != Kind::Ollama && svc.models_dir.is_some() {
        v.err_key(
            &format!("{ptr}/models_dir"),
            "`models_dir` applies to ollama services only".into(),
            "remove it, or move it to an ollama service",
        );
    }
    if svc.replicas.is_some() {
        replicas(v, name, svc, &ptr);
    }
    if svc.placement.is_some() && (svc.kind != Kind::Ollama || svc.replicas.is_none()) {
        v.err_key(
            &format!("{ptr}/placement"),
            "`placement` applies to ollama services with `replicas: per-gpu` only".into(),
            "remove it, or add `replicas: per-gpu` to run one instance per GPU",
        );
    }
    if matches!(svc.kind, Kind::OpenWebui | Kind::Dashboard | Kind::Gateway) && svc.gpus.is_some() {
        v.err_key(
            &format!("{ptr}/gpus"),
            format!("`gpus` does not apply to kind `{}`", svc.kind.as_str()),
            "GPUs go to ollama services (and to processes that use CUDA)",
        );
    }
    if svc.kind != Kind::Gateway && svc.sticky.is_some() {
        v.err_key(
            &format!("{ptr}/sticky"),
            "`sticky` applies to gateway services only".into(),
            "remove it",
        );
    }
    if !matches!(svc.kind, Kind::OpenWebui | Kind::Gateway) && svc.backends.is_some() {
        v.err_key(
            &format!("{ptr}/backends"),
            "`backends` applies to open-webui and gateway services only".into(),
            "remove it",
        );
    }
    if let Some(backends) = &svc.backends {
        for (i, b) in backends.iter().enumerate() {
            let p = format!("{ptr}/backends/{i}");
            if v.service_ref(&p, b, "`backends`") && v.cfg.services[b].kind != Kind::Ollama {
                v.err(
                    &p,
                    format!("backend `{b}` is not an ollama service"),
                    "list ollama services here",
                );
            }
        }
    }
    if let Some(gpus) = &svc.gpus {
        for (i, g) in gpus.iter().enumerate() {
            if !v.cfg.gpus.contains_key(g) && !v.gaps.all_gpus && !v.gaps.gpus.contains(g) {
                let help = match did_you_mean(g, v.cfg.gpus.keys().map(String::as_str)) {
                    Some(m) => format!("did you mean `{m}`?"),
                    None => "declare it under `gpus:` with its uuid or index".to_string(),
                };
                v.err(
                    &format!("{ptr}/gpus/{i}"),
                    format!("GPU `{g}` is not declared under `gpus:`"),
                    &help,
                );
            }
        }
    }
    if let Some(deps) = &svc.depends_on {
        for (dep, _) in deps.entries() {
            let p = match deps {
                super::types::DependsOn::List(l) => format!(
                    "{ptr}/depends_on/{}",
                    l.iter().position(|d| *d == dep).unwrap_or(0)
                ),
                super::types::DependsOn::Map(_) => format!("{ptr}/depends_on/{}", seg(&dep)),
            };
            if dep == name {
                v.err(
                    &p,
                    format!("service `{name}` depends on itself"),
                    "remove it from its own `depends_on`",
                );
            } else {
                v.service_ref(&p, &dep, "`depends_on`");
            }
        }
    }
    if let Some(h) = &svc.health {
        let set = [h.http.is_some(), h.tcp.is_some(), h.exec.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        if set > 1 {
            v.err(
                &format!("{ptr}/health"),
                "a health check has more than one of `http`, `tcp`, `exec`".into(),
                "keep one probe",
            );
        } else if set == 0 && !h.disable && svc.kind == Kind::Process {
            v.err(
                &format!("{ptr}/health"),
                "a health check needs one of `http`, `tcp`, `exec`".into(),
                "add `http: http://127.0.0.1:PORT/`, `tcp: PORT` or `exec: [cmd, arg]`",
            );
        }
        if let Some(url) = &h.http
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            v.err(
                &format!("{ptr}/health/http"),
                format!("`{url}` is not an http(s) URL"),
                "write the whole URL: http://127.0.0.1:9000/",
            );
        }
        if let Some(TcpTarget::Address(a)) = &h.tcp
            && a.rsplit_once(':')
                .and_then(|(_, p)| p.parse::<u16>().ok())
                .is_none_or(|p| p == 0)
        {
            v.err(
                &format!("{ptr}/health/tcp"),
                format!("`{a}` is not `host:port`"),
                "write a port (`9000`) or `host:port`",
            );
        }
        if h.exec.as_ref().is_some_and(Vec::is_empty) {
            v.err(
                &format!("{ptr}/health/exec"),
                "`exec` is an empty list".into(),
                "give the program and its arguments",
            );
        }
    }
    if let Some(sig) = svc.stop.as_ref().and_then(|s| s.signal.as_deref())
        && signal_name(sig).is_none()
    {
        v.err(
            &format!("{ptr}/stop/signal"),
            format!("`{sig}` is not a signal FaceRunner sends"),
            &format!("use one of {}", SIGNALS.join(", ")),
        );
    }
}

/// `replicas: per-gpu`: ollama only, at least one GPU, instance names free.
fn replicas(v: &mut V<'_>, name: &str, svc: &Service, ptr: &str) {
    if svc.kind != Kind::Ollama {
        v.err_key(
            &format!("{ptr}/replicas"),
            format!(
                "`replicas` applies to ollama services only, not kind `{}`",
                svc.kind.as_str()
            ),
            "remove it, or run one ollama service per GPU with `kind: ollama`",
        );
        return;
    }
    if svc.gpus.as_ref().is_some_and(Vec::is_empty) {
        v.err(
            &format!("{ptr}/gpus"),
            "`replicas: per-gpu` with `gpus: []` runs no instance".into(),
            "list the GPUs to run one instance on each, or omit `gpus:` for every GPU of the machine",
        );
    }
    let taken: Vec<&String> = v
        .cfg
        .services
        .keys()
        .filter(|other| super::replicas::instance_index(name, other).is_some())
        .collect();
    for other in taken {
        v.err_key(
            &format!("{ptr}/replicas"),
            format!("service `{other}` has the name of an instance of `{name}`"),
            &format!(
                "the instances of `{name}` are named `{name}-0`, `{name}-1`, …: rename `{other}`"
            ),
        );
    }
}

fn cycles(v: &mut V<'_>) {
    let graph: BTreeMap<&str, Vec<String>> = v
        .cfg
        .services
        .iter()
        .map(|(n, s)| {
            (
                n.as_str(),
                s.depends_on
                    .as_ref()
                    .map(|d| d.entries().into_iter().map(|e| e.0).collect())
                    .unwrap_or_default(),
            )
        })
        .collect();
    let mut state: HashMap<&str, u8> = HashMap::new();
    let mut reported = BTreeSet::new();
    for start in graph.keys() {
        let mut path = Vec::new();
        visit(
            start,
            &graph,
            &mut state,
            &mut path,
            &mut |cycle: &[&str]| {
                // `a → a` is reported once, as "depends on itself".
                if cycle.len() == 2 && cycle[0] == cycle[1] {
                    return;
                }
                let mut key: Vec<String> = cycle.iter().map(|s| s.to_string()).collect();
                key.sort();
                if reported.insert(key) {
                    let first = cycle[0];
                    v.out.push(
                        Diagnostic::error(
                            format!("`depends_on` forms a cycle: {}", cycle.join(" → ")),
                            v.spans.key(&format!("/services/{}/depends_on", seg(first))),
                        )
                        .with_help(
                            "services cannot wait for each other; remove one of these dependencies",
                        ),
                    );
                }
            },
        );
    }
}

fn visit<'g>(
    n: &'g str,
    g: &'g BTreeMap<&'g str, Vec<String>>,
    state: &mut HashMap<&'g str, u8>,
    path: &mut Vec<&'g str>,
    found: &mut dyn FnMut(&[&str]),
) {
    match state.get(n) {
        Some(2) => return,
        Some(1) => {
            let i = path.iter().position(|p| *p == n).unwrap_or(0);
            let mut cycle = path[i..].to_vec();
            cycle.push(n);
            found(&cycle);
            return;
        }
        _ => {}
    }
    state.insert(n, 1);
    path.push(n);
    for d in g.get(n).into_iter().flatten() {
        if let Some((k, _)) = g.get_key_value(d.as_str()) {
            visit(k, g, state, path, found);
        }
    }
    path.pop();
    state.insert(n, 2);
}

fn ports(v: &mut V<'_>) {
    // port → (bind address, service) of every service seen so far.
    let mut seen: HashMap<u16, Vec<(String, String)>> = HashMap::new();
    // Every listener: a service, or each instance of a replicated one whose
    // GPUs the file names (the others are known only with the inventory:
    // expanding them reports a clash).
    let mut listeners: Vec<(String, &str, u16, &Service)> = Vec::new();
    for (name, svc) in &v.cfg.services {
        let Some(port) = svc.port.or_else(|| default_port(svc.kind)) else {
            continue;
        };
        match (&svc.replicas, &svc.gpus) {
            (Some(_), Some(gpus)) if svc.kind == Kind::Ollama => {
                for i in 0..gpus.len() {
                    let Some(p) = u16::try_from(i).ok().and_then(|i| port.checked_add(i)) else {
                        v.err_key(
                            &format!("/services/{}/port", seg(name)),
                            format!(
                                "`{name}` needs {} ports from {port}: past 65535",
                                gpus.len()
                            ),
                            "pick a lower `port:` (instance i listens on port + i)",
                        );
                        break;
                    };
                    listeners.push((format!("{name}-{i}"), name, p, svc));
                }
            }
            _ => listeners.push((name.clone(), name, port, svc)),
        }
    }
    for (name, written, port, svc) in listeners {
        let name = &name;
        let bind = svc
            .bind
            .clone()
            .unwrap_or_else(|| v.cfg.settings.bind.clone());
        let ptr = format!("/services/{}/port", seg(written));
        let users = seen.entry(port).or_default();
        let clash = users
            .iter()
            .find(|(b, _)| *b == bind || b == "0.0.0.0" || bind == "0.0.0.0")
            .map(|(_, n)| n.clone());
        if let Some(other) = clash {
            let mut d = Diagnostic::error(
                format!("port {port} is used by both `{other}` and `{name}`"),
                v.spans.key(&ptr),
            )
            .with_help("give each service its own port (ports are unique per bind address)");
            let written_other = other.rsplit_once('-').map_or(other.as_str(), |(g, _)| g);
            let other_ptr = if v.cfg.services.contains_key(&other) {
                format!("/services/{}/port", seg(&other))
            } else {
                format!("/services/{}/port", seg(written_other))
            };
            if let Some(s) = v.spans.key(&other_ptr) {
                d = d.with_related(format!("`{other}` uses it here"), s);
            }
            v.out.push(d);
        } else {
            users.push((bind, name.clone()));
        }
    }
}

fn models(v: &mut V<'_>) {
    let ollamas: Vec<&str> = v
        .cfg
        .services
        .iter()
        .filter(|(_, s)| s.kind == Kind::Ollama)
        .map(|(n, _)| n.as_str())
        .collect();
    let mut targets: HashMap<(String, String), usize> = HashMap::new();
    for (at, m) in v.cfg.models.iter().enumerate() {
        // The index in the file: models with errors are not in `cfg`.
        let i = v.gaps.model(at);
        let ptr = format!("/models/{i}");
        let sources: Vec<&str> = [
            ("ollama", m.ollama.is_some()),
            ("hf", m.hf.is_some()),
            ("from", m.from.is_some()),
            ("file", m.file.is_some()),
        ]
        .iter()
        .filter(|(_, set)| *set)
        .map(|(k, _)| *k)
        .collect();
        if sources.len() != 1 {
            let summary = if sources.is_empty() {
                "a model needs one of `ollama`, `hf`, `from` or `file`".to_string()
            } else {
                format!(
                    "a model has {}: choose one",
                    sources
                        .iter()
                        .map(|s| format!("`{s}`"))
                        .collect::<Vec<_>>()
                        .join(" and ")
                )
            };
            v.err(&ptr, summary, "`ollama: NAME` pulls from the registry, `hf: ORG/REPO` from Hugging Face, `from: BASE` derives, `file: PATH` imports a GGUF");
            continue;
        }
        let source = sources[0];
        if matches!(source, "ollama" | "hf") && m.name.is_some() {
            v.err_key(
                &format!("{ptr}/name"),
                format!("`name` is for derived and file models; this one comes from `{source}`"),
                "use `alias:` to install it under another local name",
            );
        }
        if matches!(source, "from" | "file") && m.name.is_none() {
            v.err(
                &ptr,
                format!("a `{source}` model needs `name:`, the local name to create"),
                "add `name: my-model`",
            );
        }
        if m.quant.is_some() && source != "hf" {
            v.err_key(
                &format!("{ptr}/quant"),
                "`quant` applies to `hf:` models only".into(),
                "remove it, or pick the quant in the Ollama tag (`model:tag`)",
            );
        }
        // `hf:` imports (`source: download`) are created with these.
        let creates = source != "ollama"
            && !(source == "hf" && m.source == Some(super::types::HfSourceChoice::Ollama));
        if !creates {
            for (key, set) in [
                ("system", m.system.is_some()),
                ("template", m.template.is_some()),
                ("parameters", !m.parameters.is_empty()),
            ] {
                if set {
                    v.err_key(
                        &format!("{ptr}/{key}"),
                        format!("`{key}` applies to derived models (`from:`), files and Hugging Face imports"),
                        if source == "hf" {
                            "remove `source: ollama`: FaceRunner then downloads the repo and imports it with this key"
                        } else {
                            "declare a derived model: `name: my-model`, `from: BASE`, and this key"
                        },
                    );
                }
            }
        }
        super::validate_hf::keys(&mut v.out, v.spans, m, &ptr, source);
        let service = model_service(v, m, &ptr, &ollamas);
        let mut names = Vec::new();
        match source {
            "ollama" => names.push(("ollama", m.ollama.clone().unwrap_or_default())),
            "hf" => {
                let input = m.hf.clone().unwrap_or_default();
                let quant = m
                    .quant
                    .as_deref()
                    .filter(|q| !q.trim().eq_ignore_ascii_case("auto"));
                match convert(&input, quant, &RepoHints::default()) {
                    // An import is created under its alias (checked below).
                    Ok(_) if m.source == Some(super::types::HfSourceChoice::Download) => {}
                    Ok(c) => names.push(("", c.ollama.display_shortest())),
                    // The Hub answers these when the plan is made online.
                    Err(e) if super::validate_hf::hub_decides(&e, m) => {}
                    Err(e) => v.err(&format!("{ptr}/hf"), e.reason.clone(), &e.help),
                }
            }
            "from" => {
                names.push(("name", m.name.clone().unwrap_or_default()));
                names.push(("from", m.from.clone().unwrap_or_default()));
            }
            _ => names.push(("name", m.name.clone().unwrap_or_default())),
        }
        if let Some(a) = &m.alias {
            names.push(("alias", a.clone()));
        }
        for (key, name) in names {
            match ModelName::parse(&name) {
                Err(e) => {
                    if !key.is_empty() {
                        v.err(&format!("{ptr}/{key}"), e.to_string(), "Ollama names look like `model:tag`, `namespace/model:tag` or `host/namespace/model:tag`");
                    }
                }
                Ok(n) if key != "from" => {
                    if let Some(svc) = &service
                        && let Some(first) = targets.insert((svc.clone(), n.key()), i)
                    {
                        v.err(&format!("{ptr}/{}", if key.is_empty() { "hf" } else { key }), format!("model `{}` is declared twice for service `{svc}` (also models[{first}])", n.display_shortest()), "keep one entry per model");
                    }
                }
                Ok(_) => {}
            }
        }
        if let Some(k) = &m.keep_alive
            && k.parse::<i64>().is_err()
            && crate::model::units::parse_duration(k).is_err()
        {
            v.err(
                &format!("{ptr}/keep_alive"),
                format!("`{k}` is not a keep-alive"),
                "write a duration (`10m`, `24h`), seconds, or -1 to keep it loaded forever",
            );
        }
    }
}

fn model_service(v: &mut V<'_>, m: &Model, ptr: &str, ollamas: &[&str]) -> Option<String> {
    match &m.service {
        Some(s) => {
            let p = format!("{ptr}/service");
            if v.service_ref(&p, s, "`service`") {
                if v.cfg.services[s].kind != Kind::Ollama {
                    v.err(
                        &p,
                        format!("`{s}` is not an ollama service"),
                        "models live in ollama services",
                    );
                    return None;
                }
                return Some(s.clone());
            }
            None
        }
        // An unread service may be an ollama one: neither "none" nor
        // "the only one" is known.
        None if v.gaps.some_service_unread() && ollamas.len() < 2 => None,
        None => match ollamas {
            [one] => Some(one.to_string()),
            [] => {
                v.err(
                    ptr,
                    "there is no ollama service to hold this model".into(),
                    "add a service with `kind: ollama`",
                );
                None
            }
            many => {
                v.err(
                    ptr,
                    "this model needs `service:` because there are several ollama services".into(),
                    &format!("add `service:` naming one of {}", many.join(", ")),
                );
                None
            }
        },
    }
}

/// Warnings that do not fail validation.
pub fn warnings(cfg: &Config, spans: &SpanMap, gaps: &Gaps) -> Vec<Diagnostic> {
    let mut v = V {
        cfg,
        spans,
        gaps,
        out: Vec::new(),
    };
    // Whether a service is depended on is not known while one is unread.
    if gaps.some_service_unread() {
        return v.out;
    }
    let depended: BTreeSet<String> = cfg
        .services
        .values()
        .flat_map(|s| {
            s.depends_on
                .iter()
                .flat_map(|d| d.entries().into_iter().map(|e| e.0))
        })
        .collect();
    for (name, svc) in &cfg.services {
        if svc.kind == Kind::Process && svc.health.is_none() && !depended.contains(name) {
            v.warn(
                &format!("/services/{}", seg(name)),
                format!("service `{name}` has no health check"),
                "`up` counts it ready once started: add `health:` (http, tcp or exec), or `health: { disable: true }` to silence this",
            );
        }
    }
    open_binds(&mut v);
    v.out
}

/// Whether a listen address accepts connections from every network.
fn is_open_bind(bind: &str) -> bool {
    matches!(bind.trim(), "0.0.0.0" | "::" | "[::]" | "*")
}

/// A service listening on every interface is reachable from the network:
/// say so once where it is set (`settings.bind`, or the service's `bind:`).
fn open_binds(v: &mut V<'_>) {
    const HELP: &str =
        "use 127.0.0.1 to keep it on this machine, unless other machines must reach it";
    let mut global_used = None;
    for (name, svc) in &v.cfg.services {
        if svc.port.or_else(|| default_port(svc.kind)).is_none() {
            continue;
        }
        match &svc.bind {
            Some(bind) if is_open_bind(bind) => v.warn(
                &format!("/services/{}/bind", seg(name)),
                format!("service `{name}` listens on {bind}: it is reachable from the network"),
                HELP,
            ),
            Some(_) => {}
            None if is_open_bind(&v.cfg.settings.bind) => {
                global_used.get_or_insert_with(Vec::new).push(name.clone());
            }
            None => {}
        }
    }
    if let Some(names) = global_used {
        let bind = v.cfg.settings.bind.clone();
        v.warn(
            "/settings/bind",
            format!(
                "settings.bind is {bind}: {} reachable from the network",
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
                    + if names.len() == 1 { " is" } else { " are" }
            ),
            HELP,
        );
    }
}
