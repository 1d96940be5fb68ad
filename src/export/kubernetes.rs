//! `facerunner.yaml` as Kubernetes manifests, typed with `k8s-openapi`
//! (API version 1.37, the `v1_37` feature).
//!
//! - `ollama`: a StatefulSet (a `models` volume claim per pod, mounted at
//!   `/root/.ollama`), a ClusterIP Service for clients and a headless
//!   Service (`NAME-pods`) that names each pod; GPUs as `nvidia.com/gpu`
//!   (`amd.com/gpu` when the inventory's GPUs are AMD); `replicas:
//!   per-gpu` as one pod per GPU.
//! - its models: a ConfigMap (the lists, the create requests, the script
//!   [`MODELS_SCRIPT`]) and a Job that runs the script against every pod.
//! - `open-webui`: a Deployment, a PVC for its data and a Service.
//! - `process` and `gateway`: a Deployment (and a Service when they have a
//!   port) when they name an `image:`, else a warning saying why not.
//! - `dashboard`: never (it belongs to the local daemon).
//!
//! Objects are ordered by kind, then name; each renders as YAML from its
//! JSON value (sorted keys), so the bytes depend on the file alone.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, StatefulSet, StatefulSetSpec,
};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, EnvVarSource, ExecAction,
    HTTPGetAction, PersistentVolumeClaim, PersistentVolumeClaimSpec,
    PersistentVolumeClaimVolumeSource, PodSpec, PodTemplateSpec, Probe, ResourceRequirements,
    SecretKeySelector, SecretVolumeSource, Service as K8sService, ServicePort, ServiceSpec,
    TCPSocketAction, Toleration, Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::check::seg;
use crate::config::types::{Command, Condition, Config, Health, Kind, Model, Service, TcpTarget};
use crate::config::validate::default_port;
use crate::config::{Diagnostic, Loaded};
use crate::model::gpu::Inventory;
use crate::model::ollama::CreateRequest;
use crate::names::{ModelName, RepoHints, convert};

/// The Kubernetes API version the manifests are typed against.
pub const API_VERSION: &str = "1.37";
/// Ollama's image (the tag `-rocm` is appended for AMD GPUs).
pub const OLLAMA_IMAGE: &str = "ollama/ollama:0.32.15";
/// Open WebUI's image.
pub const OPEN_WEBUI_IMAGE: &str = "ghcr.io/open-webui/open-webui:v0.11.0";
/// The image of the model Job and the init containers: POSIX sh and curl.
pub const CURL_IMAGE: &str = "curlimages/curl:8.17.0";
/// The model Job's script (POSIX sh + curl), also in its ConfigMap.
pub const MODELS_SCRIPT: &str = include_str!("models_job.sh");
/// Size of each Ollama pod's model volume.
pub const OLLAMA_VOLUME: &str = "30Gi";
/// Size of Open WebUI's data volume.
pub const OPEN_WEBUI_VOLUME: &str = "2Gi";
/// Where the model ConfigMap is mounted in the Job.
const MODELS_MOUNT: &str = "/facerunner";

/// What the export is asked for.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `metadata.namespace` of every object; none: the one `kubectl` uses.
    pub namespace: Option<String>,
    /// The cluster's GPUs (`--gpus-from`): vendor, and whether they differ.
    pub inventory: Option<Inventory>,
}

/// One manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// `NN-kind-name.yaml`.
    pub file_name: String,
    /// Its kind (`StatefulSet`, …).
    pub kind: String,
    /// Its `metadata.name`.
    pub name: String,
    /// The YAML document (ends with a newline).
    pub yaml: String,
}

/// The result: manifests and what could not be expressed.
#[derive(Debug, Clone, Default)]
pub struct Export {
    /// In apply order.
    pub manifests: Vec<Manifest>,
    /// Errors (nothing should be written) and warnings, located in the file.
    pub diagnostics: Vec<Diagnostic>,
    /// The Secrets the manifests read and the user creates: (name, key).
    /// Their values are never written by the export.
    pub secrets: std::collections::BTreeSet<(String, String)>,
}

impl Export {
    /// Does a diagnostic make the export unusable?
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// Every document as one `---`-separated stream.
    pub fn stream(&self) -> String {
        let mut out = String::new();
        for m in &self.manifests {
            out.push_str("---\n");
            out.push_str(&m.yaml);
        }
        out
    }
}

/// Why an object could not be rendered (a serializer failure: a bug).
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// serde_json refused the object.
    #[error("cannot turn the {kind} `{name}` into JSON")]
    Json {
        /// Its kind.
        kind: String,
        /// Its name.
        name: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// The YAML writer refused it.
    #[error("cannot write the {kind} `{name}` as YAML: {message}")]
    Yaml {
        /// Its kind.
        kind: String,
        /// Its name.
        name: String,
        /// The writer's message.
        message: String,
    },
}

/// An object before rendering.
struct Object {
    order: u8,
    kind: &'static str,
    name: String,
    value: Result<serde_json::Value, serde_json::Error>,
}

/// Build the manifests of `loaded` (the file as written: `replicas:
/// per-gpu` is not expanded, it becomes a StatefulSet's replica count).
pub fn export(loaded: &Loaded, opts: &Options) -> Result<Export, RenderError> {
    let mut b = Builder {
        loaded,
        cfg: &loaded.config,
        opts,
        objects: Vec::new(),
        diags: Vec::new(),
        secrets: Default::default(),
    };
    b.run();
    let Builder {
        mut objects,
        mut diags,
        secrets,
        ..
    } = b;
    objects.sort_by(|a, b| (a.order, &a.name).cmp(&(b.order, &b.name)));
    // Two objects of one kind with one name: the second would replace the
    // first in the cluster (e.g. services `x` and `x-pods` when `x` is an
    // ollama service, whose headless Service is `x-pods`).
    for w in objects.windows(2) {
        if w[0].kind == w[1].kind && w[0].name == w[1].name {
            diags.push(
                Diagnostic::error(
                    format!(
                        "two {} objects would be named `{}`",
                        w[0].kind, w[0].name
                    ),
                    None,
                )
                .with_help("rename one of the services: an ollama service `x` also makes `x-pods` and `x-models`"),
            );
        }
    }
    let mut manifests = Vec::new();
    for (i, o) in objects.into_iter().enumerate() {
        let value = o.value.map_err(|source| RenderError::Json {
            kind: o.kind.into(),
            name: o.name.clone(),
            source,
        })?;
        let yaml = serde_saphyr::to_string(&value).map_err(|e| RenderError::Yaml {
            kind: o.kind.into(),
            name: o.name.clone(),
            message: e.to_string(),
        })?;
        manifests.push(Manifest {
            file_name: format!(
                "{:02}-{}-{}.yaml",
                i + 1,
                o.kind.to_ascii_lowercase(),
                o.name
            ),
            kind: o.kind.into(),
            name: o.name,
            yaml,
        });
    }
    diags.sort_by_key(|d| !d.is_error());
    Ok(Export {
        manifests,
        diagnostics: diags,
        secrets,
    })
}

/// The object's name for a service: DNS-1035 (`_` becomes `-`; a leading
/// digit gets `s-`).
pub fn dns_name(service: &str) -> String {
    let s: String = service
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        format!("s-{s}")
    } else {
        s
    }
}

struct Builder<'a> {
    loaded: &'a Loaded,
    cfg: &'a Config,
    opts: &'a Options,
    objects: Vec<Object>,
    diags: Vec<Diagnostic>,
    secrets: std::collections::BTreeSet<(String, String)>,
}

/// How an ollama service's GPUs map to pods.
struct GpuShape {
    replicas: i32,
    per_pod: usize,
    resource: &'static str,
    amd: bool,
}

impl<'a> Builder<'a> {
    fn run(&mut self) {
        let names: Vec<&String> = self.cfg.services.keys().collect();
        let mut seen: BTreeMap<String, &String> = BTreeMap::new();
        for n in &names {
            if let Some(other) = seen.insert(dns_name(n), n) {
                self.diags.push(
                    Diagnostic::error(
                        format!(
                            "services `{other}` and `{n}` get the same Kubernetes name `{}`",
                            dns_name(n)
                        ),
                        self.loaded.spans.key(&format!("/services/{}", seg(n))),
                    )
                    .with_help("Kubernetes names use `-`, not `_`: rename one of them"),
                );
            }
        }
        for (name, svc) in &self.cfg.services {
            match svc.kind {
                Kind::Ollama => self.ollama(name, svc),
                Kind::OpenWebui => self.open_webui(name, svc),
                Kind::Process | Kind::Gateway => self.workload(name, svc),
                Kind::Dashboard => self.warn_key(
                    name,
                    "",
                    format!("service `{name}` (dashboard) is not exported: the dashboard belongs to the local FaceRunner daemon"),
                    "nothing to do; it is simply left out of the manifests",
                ),
            }
        }
    }

    fn ptr(name: &str, field: &str) -> String {
        if field.is_empty() {
            format!("/services/{}", seg(name))
        } else {
            format!("/services/{}/{field}", seg(name))
        }
    }

    fn warn_key(&mut self, name: &str, field: &str, summary: String, help: &str) {
        let span = self.loaded.spans.key(&Self::ptr(name, field));
        self.diags.push(
            Diagnostic::warning(summary, span)
                .with_help(help)
                .on_one_line(),
        );
    }

    fn error_at(&mut self, ptr: &str, summary: String, help: &str) {
        let span = self.loaded.spans.value(ptr);
        self.diags
            .push(Diagnostic::error(summary, span).with_help(help));
    }

    fn push<T: Serialize>(&mut self, order: u8, kind: &'static str, name: &str, obj: &T) {
        self.objects.push(Object {
            order,
            kind,
            name: name.to_string(),
            value: serde_json::to_value(obj),
        });
    }

    fn meta(&self, name: &str, service: &str, kind: Kind) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_string()),
            namespace: self.opts.namespace.clone(),
            labels: Some(self.labels(service, kind)),
            ..ObjectMeta::default()
        }
    }

    fn labels(&self, service: &str, kind: Kind) -> BTreeMap<String, String> {
        let mut l = self.selector(service);
        l.insert("app.kubernetes.io/name".into(), kind.as_str().into());
        l.insert("app.kubernetes.io/managed-by".into(), "facerunner".into());
        l
    }

    /// The labels a Service and a workload select pods by.
    fn selector(&self, service: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("app.kubernetes.io/instance".into(), dns_name(service)),
            (
                "app.kubernetes.io/part-of".into(),
                dns_name(&self.loaded.project),
            ),
        ])
    }

    fn port(svc: &Service) -> Option<u16> {
        svc.port.or_else(|| default_port(svc.kind))
    }

    /// The service's `env:`; values marked `secret: true` come from the
    /// Secret `<service>-env` the user creates (never written here).
    fn env(&mut self, name: &str, svc: &Service) -> Vec<EnvVar> {
        svc.env
            .iter()
            .map(|(k, v)| {
                if v.is_secret() {
                    let secret = format!("{}-env", dns_name(name));
                    self.secrets.insert((secret.clone(), k.clone()));
                    EnvVar {
                        name: k.clone(),
                        value_from: Some(secret_ref(&secret, k)),
                        ..EnvVar::default()
                    }
                } else {
                    EnvVar {
                        name: k.clone(),
                        value: Some(v.to_string()),
                        ..EnvVar::default()
                    }
                }
            })
            .collect()
    }

    fn service_object(&mut self, name: &str, svc: &Service, port: u16, headless: bool) {
        let obj_name = if headless {
            format!("{}-pods", dns_name(name))
        } else {
            dns_name(name)
        };
        let s = K8sService {
            metadata: self.meta(&obj_name, name, svc.kind),
            spec: Some(ServiceSpec {
                cluster_ip: headless.then(|| "None".to_string()),
                publish_not_ready_addresses: headless.then_some(true),
                selector: Some(self.selector(name)),
                ports: Some(vec![ServicePort {
                    name: Some("http".into()),
                    port: i32::from(port),
                    target_port: Some(IntOrString::Int(i32::from(port))),
                    protocol: Some("TCP".into()),
                    ..ServicePort::default()
                }]),
                ..ServiceSpec::default()
            }),
            ..K8sService::default()
        };
        self.push(20, "Service", &obj_name, &s);
    }

    /// The probe from `health:`, else GET `default_path` on the port.
    fn probe(&mut self, name: &str, svc: &Service, port: u16, default_path: &str) -> Option<Probe> {
        let h = svc.health.clone().unwrap_or_default();
        if h.disable {
            return None;
        }
        let ptr = Self::ptr(name, "health");
        let mut p = Probe {
            period_seconds: h.interval.map(|d| secs(d.0)),
            timeout_seconds: h.timeout.map(|d| secs(d.0)),
            failure_threshold: h.retries.map(|r| i32::try_from(r).unwrap_or(i32::MAX)),
            ..Probe::default()
        };
        if let Some(url) = &h.http {
            match http_target(url) {
                Some((port, path)) => {
                    p.http_get = Some(HTTPGetAction {
                        path: Some(path),
                        port: IntOrString::Int(i32::from(port)),
                        ..HTTPGetAction::default()
                    })
                }
                None => {
                    self.error_at(
                        &format!("{ptr}/http"),
                        format!("the probe URL `{url}` has no port and path Kubernetes can use"),
                        "write it as http://HOST:PORT/PATH",
                    );
                    return None;
                }
            }
        } else if let Some(t) = &h.tcp {
            let port = match t {
                TcpTarget::Port(p) => *p,
                TcpTarget::Address(a) => match a.rsplit_once(':').and_then(|(_, p)| p.parse().ok())
                {
                    Some(p) => p,
                    None => {
                        self.error_at(
                            &format!("{ptr}/tcp"),
                            format!("`{a}` has no port Kubernetes can probe"),
                            "write a port, or HOST:PORT",
                        );
                        return None;
                    }
                },
            };
            p.tcp_socket = Some(TCPSocketAction {
                port: IntOrString::Int(i32::from(port)),
                ..TCPSocketAction::default()
            });
        } else if let Some(argv) = &h.exec {
            p.exec = Some(ExecAction {
                command: Some(argv.clone()),
            });
        } else {
            p.http_get = Some(HTTPGetAction {
                path: Some(default_path.into()),
                port: IntOrString::Int(i32::from(port)),
                ..HTTPGetAction::default()
            });
        }
        Some(p)
    }

    fn probes(&mut self, name: &str, svc: &Service, c: &mut Container, port: u16, path: &str) {
        // Failures in the start period do not count (`health.start_period`,
        // else the kind's default, as locally): the liveness probe waits it
        // out, so a slow first start (Open WebUI's) is not killed.
        let default_start = match svc.kind {
            Kind::Ollama => 60,
            Kind::OpenWebui => 300,
            _ => 10,
        };
        let start = Some(
            svc.health
                .as_ref()
                .and_then(|h: &Health| h.start_period)
                .map_or(default_start, |d| secs(d.0)),
        );
        if let Some(p) = self.probe(name, svc, port, path) {
            c.readiness_probe = Some(p.clone());
            c.liveness_probe = Some(Probe {
                initial_delay_seconds: start,
                ..p
            });
        }
    }

    /// `depends_on` as init containers that wait for each dependency's
    /// Service to answer.
    fn init_containers(&mut self, name: &str, svc: &Service) -> Option<Vec<Container>> {
        let deps = svc.depends_on.as_ref()?.entries();
        let mut out = Vec::new();
        for (dep, cond) in deps {
            let Some(d) = self.cfg.services.get(&dep) else {
                continue;
            };
            let exported = match d.kind {
                Kind::Ollama | Kind::OpenWebui => true,
                Kind::Gateway => d.image.is_some(),
                Kind::Process => d.image.is_some() && d.port.is_some(),
                Kind::Dashboard => false,
            };
            let port = Self::port(d);
            if cond == Condition::Completed || !exported || port.is_none() {
                let why = if cond == Condition::Completed {
                    "Kubernetes has no \"completed\" dependency between workloads"
                } else {
                    "it has no exported Service to wait for"
                };
                self.warn_key(
                    name,
                    "depends_on",
                    format!("`{name}` will not wait for `{dep}` in Kubernetes: {why}"),
                    "make the service tolerate its dependency starting later, or give the dependency an `image:` and a `port:`",
                );
                continue;
            }
            let url = format!("http://{}:{}/", dns_name(&dep), port.unwrap_or_default());
            out.push(Container {
                name: format!("wait-for-{}", dns_name(&dep)),
                image: Some(CURL_IMAGE.into()),
                command: Some(vec![
                    "/bin/sh".into(),
                    "-c".into(),
                    format!(
                        "until curl -s -o /dev/null --connect-timeout 2 --max-time 5 {url}; do echo waiting for {dep}; sleep 2; done"
                    ),
                ]),
                ..Container::default()
            });
        }
        (!out.is_empty()).then_some(out)
    }

    fn gpu_shape(&mut self, name: &str, svc: &Service) -> GpuShape {
        let inv = self.opts.inventory.as_ref().filter(|i| !i.gpus.is_empty());
        let per_gpu = svc.replicas.is_some();
        let named = svc.gpus.clone();
        let count = match &named {
            Some(v) => v.len(),
            None if per_gpu => match inv {
                Some(i) => i.gpus.len(),
                None => {
                    self.warn_key(
                        name,
                        "replicas",
                        format!("`{name}` has `replicas: per-gpu` without `gpus:` and no inventory: exported as one pod with one GPU"),
                        "name its GPUs in `gpus:`, or pass the cluster's GPUs with `--gpus-from FILE`",
                    );
                    1
                }
            },
            None => {
                self.warn_key(
                    name,
                    "",
                    format!(
                        "`{name}` names no `gpus:` (locally: every GPU); its pod requests none"
                    ),
                    "list the GPUs it should get in `gpus:` (`[]` says CPU only and silences this)",
                );
                0
            }
        };
        // The inventory entries the service's GPUs are.
        let mut vendors: Vec<String> = Vec::new();
        if let Some(inv) = inv {
            let kinds: std::collections::BTreeSet<(String, String)> = inv
                .gpus
                .iter()
                .map(|g| (g.vendor.clone(), g.name.clone()))
                .collect();
            for g in named.iter().flatten() {
                let Some(decl) = self.cfg.gpus.get(g) else {
                    continue;
                };
                let hit = inv.gpus.iter().find(|x| {
                    decl.uuid.as_deref() == Some(x.uuid.as_str()) || decl.index == Some(x.index)
                });
                if let Some(x) = hit {
                    vendors.push(x.vendor.clone());
                }
                if kinds.len() > 1 && decl.index.is_some() {
                    let list: Vec<String> = kinds.iter().map(|(v, n)| format!("{v} {n}")).collect();
                    self.error_at(
                        &format!("/gpus/{}", seg(g)),
                        format!(
                            "GPU `{g}` is chosen by index, but the cluster's GPUs differ ({}): Kubernetes gives a pod any free GPU, so which one `{name}` gets cannot be expressed",
                            list.join(", ")
                        ),
                        "export against an inventory of one GPU model (`--gpus-from`), or split the cluster's GPU models into separate files",
                    );
                }
            }
            if vendors.is_empty() {
                vendors = inv.gpus.iter().map(|g| g.vendor.clone()).collect();
            }
        }
        vendors.sort();
        vendors.dedup();
        let amd = vendors.len() == 1 && vendors[0].eq_ignore_ascii_case("amd");
        GpuShape {
            replicas: if per_gpu {
                i32::try_from(count.max(1)).unwrap_or(i32::MAX)
            } else {
                1
            },
            per_pod: if per_gpu { count.min(1) } else { count },
            resource: if amd { "amd.com/gpu" } else { "nvidia.com/gpu" },
            amd,
        }
    }

    fn ollama(&mut self, name: &str, svc: &Service) {
        let port = Self::port(svc).unwrap_or(11434);
        let obj = dns_name(name);
        if svc.binary.is_some() {
            self.warn_key(
                name,
                "binary",
                format!("`binary:` of `{name}` is a local path; the pods run the image instead"),
                "set `image:` to choose the image (default ollama/ollama)",
            );
        }
        let shape = self.gpu_shape(name, svc);
        let image = svc.image.clone().unwrap_or_else(|| {
            if shape.amd {
                format!("{OLLAMA_IMAGE}-rocm")
            } else {
                OLLAMA_IMAGE.into()
            }
        });
        let mut env = vec![EnvVar {
            name: "OLLAMA_HOST".into(),
            value: Some(format!("0.0.0.0:{port}")),
            ..EnvVar::default()
        }];
        env.extend(
            self.env(name, svc)
                .into_iter()
                .filter(|e| e.name != "OLLAMA_HOST" && e.name != "OLLAMA_MODELS"),
        );
        let resources = (shape.per_pod > 0).then(|| {
            let q = BTreeMap::from([(
                shape.resource.to_string(),
                Quantity(shape.per_pod.to_string()),
            )]);
            ResourceRequirements {
                limits: Some(q.clone()),
                requests: Some(q),
                ..ResourceRequirements::default()
            }
        });
        let mut c = Container {
            name: "ollama".into(),
            image: Some(image),
            env: Some(env),
            ports: Some(vec![ContainerPort {
                name: Some("http".into()),
                container_port: i32::from(port),
                ..ContainerPort::default()
            }]),
            resources,
            volume_mounts: Some(vec![VolumeMount {
                name: "models".into(),
                mount_path: "/root/.ollama".into(),
                ..VolumeMount::default()
            }]),
            ..Container::default()
        };
        self.probes(name, svc, &mut c, port, "/");
        let init = self.init_containers(name, svc);
        let claim = PersistentVolumeClaim {
            metadata: ObjectMeta {
                name: Some("models".into()),
                labels: Some(self.labels(name, svc.kind)),
                ..ObjectMeta::default()
            },
            spec: Some(PersistentVolumeClaimSpec {
                access_modes: Some(vec!["ReadWriteOnce".into()]),
                resources: Some(VolumeResourceRequirements {
                    requests: Some(BTreeMap::from([(
                        "storage".into(),
                        Quantity(OLLAMA_VOLUME.into()),
                    )])),
                    ..VolumeResourceRequirements::default()
                }),
                ..PersistentVolumeClaimSpec::default()
            }),
            ..PersistentVolumeClaim::default()
        };
        let ss = StatefulSet {
            metadata: self.meta(&obj, name, svc.kind),
            spec: StatefulSetSpec {
                replicas: Some(shape.replicas),
                service_name: Some(format!("{obj}-pods")),
                selector: LabelSelector {
                    match_labels: Some(self.selector(name)),
                    ..LabelSelector::default()
                },
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(self.labels(name, svc.kind)),
                        ..ObjectMeta::default()
                    }),
                    spec: Some(PodSpec {
                        containers: vec![c],
                        init_containers: init,
                        // GPU nodes are often tainted for GPU pods only.
                        tolerations: (shape.per_pod > 0).then(|| {
                            vec![Toleration {
                                key: Some(shape.resource.into()),
                                operator: Some("Exists".into()),
                                effect: Some("NoSchedule".into()),
                                ..Toleration::default()
                            }]
                        }),
                        ..PodSpec::default()
                    }),
                },
                volume_claim_templates: Some(vec![claim]),
                ..StatefulSetSpec::default()
            },
            ..StatefulSet::default()
        };
        self.push(30, "StatefulSet", &obj, &ss);
        self.service_object(name, svc, port, false);
        self.service_object(name, svc, port, true);
        if svc.placement == Some(crate::config::types::Placement::Spread) {
            self.warn_key(
                name,
                "placement",
                format!("`placement: spread` of `{name}` cannot be expressed: every pod gets every model"),
                "drop `placement:`, or split the group into one ollama service per GPU",
            );
        }
        self.models(name, svc, port, shape.replicas);
    }

    /// The models of ollama service `name`: a ConfigMap and a Job.
    fn models(&mut self, name: &str, svc: &Service, port: u16, replicas: i32) {
        let mut pull: Vec<String> = Vec::new();
        let mut create: Vec<(String, CreateRequest)> = Vec::new();
        let mut copy: Vec<(String, String)> = Vec::new();
        for (i, m) in self.cfg.models.iter().enumerate() {
            if self.cfg.model_service(m).map(String::as_str) != Some(name) {
                continue;
            }
            let Some(main) = self.model(i, m, &mut pull, &mut create) else {
                continue;
            };
            if m.keep_alive.is_some() {
                let span = self.loaded.spans.key(&format!("/models/{i}/keep_alive"));
                self.diags.push(
                    Diagnostic::warning(
                        format!("`keep_alive` of model `{main}` is not exported: the model Job installs models, it does not load them"),
                        span,
                    )
                    .with_help("set OLLAMA_KEEP_ALIVE in the ollama service's `env:` for a default the pods apply")
                    .on_one_line(),
                );
            }
            if let Some(a) = m.alias.as_deref().and_then(|a| ModelName::parse(a).ok()) {
                copy.push((main, a.display_shortest()));
            }
        }
        if pull.is_empty() && create.is_empty() && copy.is_empty() {
            return;
        }
        let obj = format!("{}-models", dns_name(name));
        let mut data = BTreeMap::new();
        data.insert("models.sh".to_string(), MODELS_SCRIPT.to_string());
        if !pull.is_empty() {
            data.insert("pull".into(), lines(pull.iter().map(String::as_str)));
        }
        if !create.is_empty() {
            let mut list = Vec::new();
            for (i, (model, req)) in create.iter().enumerate() {
                let key = format!("create-{}.json", i + 1);
                // A CreateRequest holds strings, maps and JSON values only.
                let mut body = serde_json::to_string_pretty(req).unwrap_or_default();
                body.push('\n');
                data.insert(key.clone(), body);
                list.push(format!("{model} {key}"));
            }
            data.insert("create".into(), lines(list.iter().map(String::as_str)));
        }
        if !copy.is_empty() {
            let list: Vec<String> = copy.iter().map(|(s, d)| format!("{s} {d}")).collect();
            data.insert("copy".into(), lines(list.iter().map(String::as_str)));
        }
        let mut h = Sha256::new();
        for (k, v) in &data {
            h.update(k.as_bytes());
            h.update([0]);
            h.update(v.as_bytes());
            h.update([0]);
        }
        let urls: Vec<String> = (0..replicas)
            .map(|i| format!("http://{0}-{i}.{0}-pods:{port}", dns_name(name)))
            .collect();
        h.update(urls.join(" ").as_bytes());
        let hash = hex::encode(h.finalize());
        let cm = ConfigMap {
            metadata: self.meta(&obj, name, svc.kind),
            data: Some(data),
            ..ConfigMap::default()
        };
        self.push(10, "ConfigMap", &obj, &cm);
        let job_name = format!("{obj}-{}", &hash[..8]);
        let job = Job {
            metadata: self.meta(&job_name, name, svc.kind),
            spec: Some(JobSpec {
                backoff_limit: Some(6),
                ttl_seconds_after_finished: Some(86400),
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(BTreeMap::from([
                            ("app.kubernetes.io/component".into(), "models".into()),
                            ("app.kubernetes.io/managed-by".into(), "facerunner".into()),
                            (
                                "app.kubernetes.io/part-of".into(),
                                dns_name(&self.loaded.project),
                            ),
                        ])),
                        ..ObjectMeta::default()
                    }),
                    spec: Some(PodSpec {
                        restart_policy: Some("OnFailure".into()),
                        containers: vec![Container {
                            name: "models".into(),
                            image: Some(CURL_IMAGE.into()),
                            command: Some(vec![
                                "/bin/sh".into(),
                                format!("{MODELS_MOUNT}/models.sh"),
                            ]),
                            env: Some(vec![
                                EnvVar {
                                    name: "OLLAMA_URLS".into(),
                                    value: Some(urls.join(" ")),
                                    ..EnvVar::default()
                                },
                                EnvVar {
                                    name: "FACERUNNER_MODELS".into(),
                                    value: Some(MODELS_MOUNT.into()),
                                    ..EnvVar::default()
                                },
                            ]),
                            volume_mounts: Some(vec![VolumeMount {
                                name: "models".into(),
                                mount_path: MODELS_MOUNT.into(),
                                read_only: Some(true),
                                ..VolumeMount::default()
                            }]),
                            ..Container::default()
                        }],
                        volumes: Some(vec![Volume {
                            name: "models".into(),
                            config_map: Some(ConfigMapVolumeSource {
                                name: obj.clone(),
                                ..ConfigMapVolumeSource::default()
                            }),
                            ..Volume::default()
                        }]),
                        ..PodSpec::default()
                    }),
                },
                ..JobSpec::default()
            }),
            ..Job::default()
        };
        self.push(50, "Job", &job_name, &job);
    }

    /// One model entry into the lists; its main name, or `None` when it
    /// cannot be exported (said as a diagnostic) or is invalid (`plan`
    /// says why).
    fn model(
        &mut self,
        i: usize,
        m: &Model,
        pull: &mut Vec<String>,
        create: &mut Vec<(String, CreateRequest)>,
    ) -> Option<String> {
        if let Some(o) = &m.ollama {
            let n = ModelName::parse(o).ok()?.display_shortest();
            push_unique(pull, &n);
            return Some(n);
        }
        if let Some(hf) = &m.hf {
            let n = convert(hf, m.quant.as_deref(), &RepoHints::default())
                .ok()?
                .ollama
                .display_shortest();
            push_unique(pull, &n);
            return Some(n);
        }
        if m.file.is_some() {
            let span = self.loaded.spans.value(&format!("/models/{i}/file"));
            self.diags.push(
                Diagnostic::warning(
                    format!(
                        "model `{}` comes from a local file, which the cluster cannot read: it is not exported",
                        m.name.as_deref().unwrap_or("?")
                    ),
                    span,
                )
                .with_help("push the model to a registry and name it with `ollama:`, or copy it into the pods' model volume yourself"),
            );
            return None;
        }
        let local = ModelName::parse(m.name.as_deref()?)
            .ok()?
            .display_shortest();
        let from = match m.from.as_deref() {
            Some(f) => Some(ModelName::parse(f).ok()?.display_shortest()),
            None => None,
        };
        let req = CreateRequest {
            model: local.clone(),
            from,
            system: m.system.clone(),
            template: m.template.clone(),
            parameters: m.parameters.clone().into_iter().collect(),
            ..CreateRequest::default()
        };
        if !create.iter().any(|(n, _)| *n == local) {
            create.push((local.clone(), req));
        }
        Some(local)
    }

    fn open_webui(&mut self, name: &str, svc: &Service) {
        let port = Self::port(svc).unwrap_or(8080);
        let obj = dns_name(name);
        if svc.binary.is_some() {
            self.warn_key(
                name,
                "binary",
                format!("`binary:` of `{name}` is a local path; the pod runs the image instead"),
                "set `image:` to choose the image (default ghcr.io/open-webui/open-webui)",
            );
        }
        let urls = self.webui_backends(name, svc);
        self.secrets
            .insert((format!("{obj}-secret"), "WEBUI_SECRET_KEY".into()));
        let mut env = vec![
            plain("ANONYMIZED_TELEMETRY", "false"),
            plain("DATA_DIR", "/app/backend/data"),
            plain("DO_NOT_TRACK", "true"),
            plain("ENABLE_PERSISTENT_CONFIG", "False"),
            plain("ENABLE_VERSION_UPDATE_CHECK", "false"),
            plain("HOST", "0.0.0.0"),
            plain("OLLAMA_BASE_URLS", &urls.join(";")),
            plain("PORT", &port.to_string()),
            plain("SCARF_NO_ANALYTICS", "true"),
            EnvVar {
                name: "WEBUI_SECRET_KEY".into(),
                value_from: Some(secret_ref(&format!("{obj}-secret"), "WEBUI_SECRET_KEY")),
                ..EnvVar::default()
            },
        ];
        let fixed: Vec<String> = env.iter().map(|e| e.name.clone()).collect();
        env.extend(
            self.env(name, svc)
                .into_iter()
                .filter(|e| !fixed.contains(&e.name)),
        );
        let mut c = Container {
            name: "open-webui".into(),
            image: Some(svc.image.clone().unwrap_or_else(|| OPEN_WEBUI_IMAGE.into())),
            env: Some(env),
            ports: Some(vec![ContainerPort {
                name: Some("http".into()),
                container_port: i32::from(port),
                ..ContainerPort::default()
            }]),
            volume_mounts: Some(vec![VolumeMount {
                name: "data".into(),
                mount_path: "/app/backend/data".into(),
                ..VolumeMount::default()
            }]),
            ..Container::default()
        };
        self.probes(name, svc, &mut c, port, "/health");
        let init = self.init_containers(name, svc);
        let pvc_name = format!("{obj}-data");
        let pvc = PersistentVolumeClaim {
            metadata: self.meta(&pvc_name, name, svc.kind),
            spec: Some(PersistentVolumeClaimSpec {
                access_modes: Some(vec!["ReadWriteOnce".into()]),
                resources: Some(VolumeResourceRequirements {
                    requests: Some(BTreeMap::from([(
                        "storage".into(),
                        Quantity(OPEN_WEBUI_VOLUME.into()),
                    )])),
                    ..VolumeResourceRequirements::default()
                }),
                ..PersistentVolumeClaimSpec::default()
            }),
            ..PersistentVolumeClaim::default()
        };
        self.push(15, "PersistentVolumeClaim", &pvc_name, &pvc);
        let volumes = vec![Volume {
            name: "data".into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: pvc_name,
                ..PersistentVolumeClaimVolumeSource::default()
            }),
            ..Volume::default()
        }];
        self.deployment(name, svc, c, init, Some(volumes), true);
        self.service_object(name, svc, port, false);
    }

    /// Open WebUI's `OLLAMA_BASE_URLS`: the Services of its `backends:`,
    /// else of every ollama service. Never the gateway: in the cluster it
    /// listens on every address and so requires its token, which Open WebUI
    /// cannot send.
    fn webui_backends(&mut self, name: &str, svc: &Service) -> Vec<String> {
        if svc.backends.is_none()
            && let Some((g, _)) = self
                .cfg
                .services
                .iter()
                .find(|(_, s)| s.kind == Kind::Gateway)
        {
            self.warn_key(
                name,
                "",
                format!("`{name}` talks to the ollama Services directly in Kubernetes, not through the gateway `{g}`"),
                "in the cluster the gateway requires its token, which Open WebUI cannot send; nothing to do",
            );
        }
        crate::config::kinds::gateway_backends(self.cfg, svc.backends.as_ref())
            .iter()
            .filter_map(|n| {
                let s = self.cfg.services.get(n.as_str())?;
                Some(format!(
                    "http://{}:{}",
                    dns_name(n),
                    Self::port(s).unwrap_or(11434)
                ))
            })
            .collect()
    }

    fn deployment(
        &mut self,
        name: &str,
        svc: &Service,
        c: Container,
        init: Option<Vec<Container>>,
        volumes: Option<Vec<Volume>>,
        recreate: bool,
    ) {
        let obj = dns_name(name);
        let d = Deployment {
            metadata: self.meta(&obj, name, svc.kind),
            spec: DeploymentSpec {
                replicas: Some(1),
                selector: LabelSelector {
                    match_labels: Some(self.selector(name)),
                    ..LabelSelector::default()
                },
                strategy: recreate.then(|| DeploymentStrategy {
                    type_: Some("Recreate".into()),
                    ..DeploymentStrategy::default()
                }),
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(self.labels(name, svc.kind)),
                        ..ObjectMeta::default()
                    }),
                    spec: Some(PodSpec {
                        containers: vec![c],
                        init_containers: init,
                        volumes,
                        ..PodSpec::default()
                    }),
                },
                ..DeploymentSpec::default()
            },
            ..Deployment::default()
        };
        self.push(40, "Deployment", &obj, &d);
    }

    /// A `process` or `gateway` service: a Deployment when it has an
    /// `image:`.
    fn workload(&mut self, name: &str, svc: &Service) {
        let Some(image) = svc.image.clone() else {
            let what = if svc.kind == Kind::Gateway {
                "the gateway runs the local facerunner executable"
            } else {
                "a process runs a local command"
            };
            self.warn_key(
                name,
                "",
                format!(
                    "service `{name}` ({}) is not exported: {what}, and it has no `image:`",
                    svc.kind.as_str()
                ),
                "add `image:` (a container image that runs it) to export it as a Deployment",
            );
            return;
        };
        let port = if svc.kind == Kind::Gateway {
            Self::port(svc)
        } else {
            svc.port
        };
        let mut c = Container {
            name: dns_name(name),
            image: Some(image),
            env: Some(self.env(name, svc)).filter(|e| !e.is_empty()),
            working_dir: None,
            ports: port.map(|p| {
                vec![ContainerPort {
                    name: Some("http".into()),
                    container_port: i32::from(p),
                    ..ContainerPort::default()
                }]
            }),
            ..Container::default()
        };
        let mut volumes = None;
        if svc.kind == Kind::Gateway {
            let p = port.unwrap_or(11433);
            let mut args = vec![
                "gateway".to_string(),
                "--project".into(),
                self.loaded.project.clone(),
                "--bind".into(),
                "0.0.0.0".into(),
                "--port".into(),
                p.to_string(),
            ];
            let backends = crate::config::kinds::gateway_backends(self.cfg, svc.backends.as_ref());
            for (model, on) in crate::config::kinds::gateway_placement(self.cfg, &backends) {
                args.push("--place".into());
                args.push(format!("{model}={}", on.join(",")));
            }
            for b in &backends {
                if let Some(s) = self.cfg.services.get(b.as_str()) {
                    args.push("--backend".into());
                    args.push(format!(
                        "{b}=http://{}:{}",
                        dns_name(b),
                        Self::port(s).unwrap_or(11434)
                    ));
                }
            }
            self.secrets
                .insert((format!("{}-token", dns_name(name)), "token".into()));
            args.push("--token-file".into());
            args.push("/var/run/facerunner/token".into());
            c.args = Some(args);
            c.volume_mounts = Some(vec![VolumeMount {
                name: "token".into(),
                mount_path: "/var/run/facerunner".into(),
                read_only: Some(true),
                ..VolumeMount::default()
            }]);
            volumes = Some(vec![Volume {
                name: "token".into(),
                secret: Some(SecretVolumeSource {
                    secret_name: Some(format!("{}-token", dns_name(name))),
                    items: Some(vec![k8s_openapi::api::core::v1::KeyToPath {
                        key: "token".into(),
                        path: "token".into(),
                        ..Default::default()
                    }]),
                    ..SecretVolumeSource::default()
                }),
                ..Volume::default()
            }]);
        } else {
            match &svc.command {
                Some(Command::Argv(a)) => c.command = Some(a.clone()),
                Some(Command::Line(l)) => {
                    c.command = Some(vec!["/bin/sh".into(), "-c".into(), l.clone()]);
                }
                None => {}
            }
            if svc.working_dir.is_some() {
                self.warn_key(
                    name,
                    "working_dir",
                    format!("`working_dir` of `{name}` is a local path; the container starts in its image's directory"),
                    "set the working directory in the image",
                );
            }
        }
        // A gateway answers GET / without its token; a process is probed
        // only when `health:` says how.
        let checked = svc
            .health
            .as_ref()
            .is_some_and(|h| h.http.is_some() || h.tcp.is_some() || h.exec.is_some());
        if svc.kind == Kind::Gateway || checked {
            self.probes(name, svc, &mut c, port.unwrap_or(11433), "/");
        }
        let init = self.init_containers(name, svc);
        self.deployment(name, svc, c, init, volumes, false);
        if let Some(p) = port {
            self.service_object(name, svc, p, false);
        }
    }
}

fn plain(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..EnvVar::default()
    }
}

fn secret_ref(secret: &str, key: &str) -> EnvVarSource {
    EnvVarSource {
        secret_key_ref: Some(SecretKeySelector {
            name: secret.into(),
            key: key.into(),
            ..SecretKeySelector::default()
        }),
        ..EnvVarSource::default()
    }
}

fn push_unique(v: &mut Vec<String>, s: &str) {
    if !v.iter().any(|x| x == s) {
        v.push(s.to_string());
    }
}

fn lines<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let mut s = String::new();
    for i in items {
        s.push_str(i);
        s.push('\n');
    }
    s
}

/// Whole seconds, rounded up, at least 1 (what probes take).
fn secs(d: std::time::Duration) -> i32 {
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i32::try_from(s.max(1)).unwrap_or(i32::MAX)
}

/// The port and path of a probe URL (`http://HOST:PORT/PATH`).
fn http_target(url: &str) -> Option<(u16, String)> {
    let (scheme, rest) = url.split_once("://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let port = match authority.rsplit_once(':') {
        Some((_, p)) if !p.ends_with(']') => p.parse().ok()?,
        _ if scheme.eq_ignore_ascii_case("https") => 443,
        _ => 80,
    };
    Some((port, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names_are_dns_1035() {
        assert_eq!(dns_name("ollama_a"), "ollama-a");
        assert_eq!(dns_name("0web"), "s-0web");
    }

    #[test]
    fn probe_urls_give_port_and_path() {
        assert_eq!(
            http_target("http://127.0.0.1:8080/health"),
            Some((8080, "/health".into()))
        );
        assert_eq!(http_target("http://localhost"), Some((80, "/".into())));
        assert_eq!(http_target("nonsense"), None);
    }

    #[test]
    fn probe_seconds_round_up() {
        assert_eq!(secs(std::time::Duration::from_millis(200)), 1);
        assert_eq!(secs(std::time::Duration::from_millis(2500)), 3);
    }
}
