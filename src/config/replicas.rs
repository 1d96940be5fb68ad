//! `replicas: per-gpu`: one ollama service written once becomes one
//! ordinary service per GPU, before anything else sees the file.
//!
//! Instance `i` of `NAME` is the service `NAME-i` (by position), pinned to
//! its GPU through `gpus:` (→ `CUDA_VISIBLE_DEVICES`), listening on
//! `port + i`, with the group's `models_dir` (shared unless the file says
//! otherwise). References to the group mean every instance: `depends_on:
//! [NAME]`, Open WebUI's `backends: [NAME]`, and its models (each instance
//! gets its own model steps).
//!
//! Where the GPUs come from decides where this runs. When the service
//! names `gpus:`, the file alone decides (no NVML call, the same on every
//! machine). When it names none, the instances follow the inventory given
//! ([`crate::model::gpu::Inventory`]: `--gpus-from`, else the machine's),
//! so a card removed shows in the next plan as an instance stopping. With
//! no GPU at all, one instance (`NAME-0`) runs on the CPU, so the file
//! still works on a machine without GPUs.
//!
//! Expansion is a pure function of the file and the inventory; every caller
//! that resolves a file ([`expand`] on a [`Loaded`]) expands it first, so
//! `plan`, `apply`, the daemon and `status`/`logs` all see the instances.

use std::collections::{BTreeMap, HashMap};

use super::load::Loaded;
use super::resolve::ResolveError;
use super::types::{Config, DependsOn, Gpu, Kind, Placement, Replicas, Service};
use super::validate::default_port;
use crate::model::gpu::Inventory;

pub use crate::model::spec::{instance_index, instance_name};

/// Whether expanding `cfg` reads the inventory (a replicated service
/// without `gpus:`); otherwise callers need not ask NVML at all.
pub fn needs_inventory(cfg: &Config) -> bool {
    cfg.services
        .values()
        .any(|s| s.kind == Kind::Ollama && s.replicas.is_some() && s.gpus.is_none())
}

/// Expand the replicated services of `loaded` in place; warnings (an
/// instance on the CPU because there is no GPU) go to `loaded.warnings`.
pub fn expand(loaded: &mut Loaded, inventory: &Inventory) -> Result<(), ResolveError> {
    let (config, notes) = expand_config(&loaded.config, inventory)?;
    loaded.config = config;
    for note in notes {
        loaded
            .warnings
            .push(super::diag::Diagnostic::warning(note, None).on_one_line());
    }
    Ok(())
}

/// The file with every replicated service replaced by its instances, and
/// notes for the person running it.
pub fn expand_config(
    cfg: &Config,
    inventory: &Inventory,
) -> Result<(Config, Vec<String>), ResolveError> {
    let groups: Vec<&String> = cfg
        .services
        .iter()
        .filter(|(_, s)| s.kind == Kind::Ollama && s.replicas == Some(Replicas::PerGpu))
        .map(|(n, _)| n)
        .collect();
    if groups.is_empty() {
        return Ok((cfg.clone(), Vec::new()));
    }
    let mut out = cfg.clone();
    let mut notes = Vec::new();
    // group → its instance names, in order.
    let mut instances: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for group in groups {
        let svc = &cfg.services[group];
        let err = |message: String| ResolveError {
            service: group.clone(),
            message,
        };
        // Each instance's `gpus:` entry, by position.
        let pins: Vec<Option<String>> = match &svc.gpus {
            Some(names) if names.is_empty() => {
                return Err(err(
                    "`replicas: per-gpu` with `gpus: []` runs no instance".into()
                ));
            }
            Some(names) => names.iter().cloned().map(Some).collect(),
            None if inventory.gpus.is_empty() => {
                let why = inventory
                    .unavailable
                    .as_deref()
                    .map_or_else(String::new, |w| format!(" ({w})"));
                notes.push(format!(
                    "no GPU found{why}: `{group}` (replicas: per-gpu) runs one instance, `{}`, on the CPU",
                    instance_name(group, 0)
                ));
                vec![None]
            }
            None => {
                let mut gpus: Vec<_> = inventory.gpus.iter().collect();
                gpus.sort_by_key(|g| g.index);
                let mut pins = Vec::with_capacity(gpus.len());
                for (i, g) in gpus.into_iter().enumerate() {
                    let key = instance_name(group, i);
                    if cfg.gpus.contains_key(&key) {
                        return Err(err(format!(
                            "`gpus:` already declares `{key}`, the name its instance {i} pins its GPU under"
                        )));
                    }
                    let by_uuid = g.uuid.starts_with("GPU-") || g.uuid.starts_with("MIG-");
                    out.gpus.insert(
                        key.clone(),
                        Gpu {
                            uuid: by_uuid.then(|| g.uuid.clone()),
                            index: (!by_uuid).then_some(g.index),
                        },
                    );
                    pins.push(Some(key));
                }
                pins
            }
        };
        let base = svc
            .port
            .or_else(|| default_port(svc.kind))
            .unwrap_or(crate::ollama::DEFAULT_PORT);
        out.services.remove(group);
        let mut names = Vec::with_capacity(pins.len());
        for (i, pin) in pins.into_iter().enumerate() {
            let name = instance_name(group, i);
            if cfg.services.contains_key(&name) {
                return Err(err(format!(
                    "service `{name}` has the name of its instance {i}; rename that service"
                )));
            }
            let port = u16::try_from(i)
                .ok()
                .and_then(|i| base.checked_add(i))
                .ok_or_else(|| {
                    err(format!(
                        "instance {i} would listen on port {base} + {i}, past 65535; pick a lower `port:`"
                    ))
                })?;
            let instance = Service {
                port: Some(port),
                gpus: Some(pin.into_iter().collect()),
                replicas: None,
                placement: None,
                ..svc.clone()
            };
            out.services.insert(name.clone(), instance);
            names.push(name);
        }
        instances.insert(group.clone(), names);
    }
    for svc in out.services.values_mut() {
        rewrite_references(svc, &instances);
    }
    let mut models = Vec::with_capacity(out.models.len());
    for m in &out.models {
        let target = cfg.model_service(m).cloned();
        match target.as_ref().and_then(|t| Some((t, instances.get(t)?))) {
            Some((group, names)) => {
                // `placement: spread`: every instance gets a copy marked
                // with its group; the plan keeps the one it places.
                let spread = cfg.services[group].placement == Some(Placement::Spread);
                for n in names {
                    let mut copy = m.clone();
                    copy.service = Some(n.clone());
                    copy.spread_group = spread.then(|| group.clone());
                    models.push(copy);
                }
            }
            None => models.push(m.clone()),
        }
    }
    out.models = models;
    ports_free(&out, &instances)?;
    Ok((out, notes))
}

/// `depends_on` and `backends` naming a group name all its instances.
fn rewrite_references(svc: &mut Service, instances: &BTreeMap<String, Vec<String>>) {
    let each = |n: &String| -> Vec<String> {
        instances.get(n).cloned().unwrap_or_else(|| vec![n.clone()])
    };
    if let Some(b) = &mut svc.backends {
        *b = b.iter().flat_map(each).collect();
    }
    match &mut svc.depends_on {
        Some(DependsOn::List(l)) => *l = l.iter().flat_map(each).collect(),
        Some(DependsOn::Map(m)) => {
            *m = std::mem::take(m)
                .into_iter()
                .flat_map(|(k, d)| each(&k).into_iter().map(move |n| (n, d.clone())))
                .collect();
        }
        None => {}
    }
}

/// No instance's port is another listener's on the same address.
fn ports_free(cfg: &Config, instances: &BTreeMap<String, Vec<String>>) -> Result<(), ResolveError> {
    let group_of: HashMap<&str, &str> = instances
        .iter()
        .flat_map(|(g, ns)| ns.iter().map(move |n| (n.as_str(), g.as_str())))
        .collect();
    let mut seen: HashMap<u16, Vec<(String, &str)>> = HashMap::new();
    for (name, svc) in &cfg.services {
        let Some(port) = svc.port.or_else(|| default_port(svc.kind)) else {
            continue;
        };
        let bind = super::resolve::bind_of(cfg, svc);
        let users = seen.entry(port).or_default();
        let clash = users
            .iter()
            .find(|(b, _)| *b == bind || b == "0.0.0.0" || bind == "0.0.0.0")
            .map(|(_, n)| *n);
        if let Some(other) = clash {
            let (instance, with) = if group_of.contains_key(name.as_str()) {
                (name.as_str(), other)
            } else {
                (other, name.as_str())
            };
            let group = group_of.get(instance).copied().unwrap_or(instance);
            return Err(ResolveError {
                service: group.to_string(),
                message: format!(
                    "its instance `{instance}` would listen on port {port}, which `{with}` uses; instances take consecutive ports from `port:`, so move one of them"
                ),
            });
        }
        users.push((bind, name));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::interpolate::Vars;
    use crate::config::load_str;
    use crate::model::gpu::GpuInfo;

    fn loaded(yaml: &str) -> Loaded {
        load_str(
            std::path::Path::new("/p/facerunner.yaml"),
            yaml,
            &Vars::default(),
        )
        .unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn inventory(n: u32) -> Inventory {
        Inventory {
            gpus: (0..n)
                .map(|i| GpuInfo {
                    index: i,
                    uuid: format!("GPU-{i}{i}{i}"),
                    memory_total_bytes: 24 << 30,
                    ..Default::default()
                })
                .collect(),
            source: "file:test".into(),
            unavailable: None,
        }
    }

    #[test]
    fn instance_names_are_the_group_and_a_position() {
        assert_eq!(instance_index("llm", "llm-1"), Some(1));
        assert_eq!(instance_index("llm", "llm-10"), Some(10));
        assert_eq!(instance_index("llm", "llm-01"), None);
        assert_eq!(instance_index("llm", "llm-"), None);
        assert_eq!(instance_index("llm", "llm-x"), None);
        assert_eq!(instance_index("llm", "llmx-1"), None);
    }

    const FILE: &str = "version: 1\nservices:\n  llm: { kind: ollama, port: 11500, replicas: per-gpu, models_dir: m }\n  ui: { kind: open-webui, backends: [llm], depends_on: [llm] }\n  w:\n    command: [x]\n    depends_on: { llm: { condition: healthy } }\n    health: { tcp: 9 }\nmodels:\n  - ollama: llama3.2:1b\n";

    #[test]
    fn the_inventory_gives_one_pinned_instance_per_gpu() {
        let (cfg, notes) = expand_config(&loaded(FILE).config, &inventory(2)).unwrap();
        assert!(notes.is_empty());
        assert!(!cfg.services.contains_key("llm"));
        for i in 0..2u16 {
            let s = &cfg.services[&format!("llm-{i}")];
            assert_eq!(s.port, Some(11500 + i));
            assert_eq!(s.replicas, None);
            assert_eq!(s.models_dir.as_deref(), Some("m"), "the store is shared");
            let pin = &s.gpus.as_ref().unwrap()[0];
            assert_eq!(cfg.gpus[pin].uuid, Some(format!("GPU-{i}{i}{i}")));
        }
        assert_eq!(
            cfg.services["ui"].backends,
            Some(vec!["llm-0".to_string(), "llm-1".to_string()])
        );
        assert_eq!(
            cfg.services["ui"].depends_on,
            Some(DependsOn::List(vec!["llm-0".into(), "llm-1".into()]))
        );
        let Some(DependsOn::Map(m)) = &cfg.services["w"].depends_on else {
            panic!("a map stays a map")
        };
        assert_eq!(m.keys().collect::<Vec<_>>(), ["llm-0", "llm-1"]);
        let targets: Vec<_> = cfg.models.iter().map(|m| m.service.clone()).collect();
        assert_eq!(targets, [Some("llm-0".into()), Some("llm-1".into())]);
    }

    #[test]
    fn gpus_named_in_the_file_decide_without_the_inventory() {
        let file = "version: 1\ngpus:\n  a: { uuid: GPU-aaa }\n  b: { index: 3 }\nservices:\n  llm: { kind: ollama, replicas: per-gpu, gpus: [b, a] }\n";
        let (cfg, _) = expand_config(&loaded(file).config, &inventory(4)).unwrap();
        assert_eq!(cfg.services.len(), 2);
        assert_eq!(cfg.services["llm-0"].gpus, Some(vec!["b".to_string()]));
        assert_eq!(cfg.services["llm-1"].gpus, Some(vec!["a".to_string()]));
        assert_eq!(cfg.services["llm-1"].port, Some(11435));
        assert_eq!(cfg.gpus.len(), 2, "no GPU added");
    }

    #[test]
    fn no_gpu_runs_one_instance_on_the_cpu_and_says_so() {
        let (cfg, notes) = expand_config(&loaded(FILE).config, &Inventory::default()).unwrap();
        assert_eq!(cfg.services["llm-0"].gpus, Some(vec![]));
        assert!(!cfg.services.contains_key("llm-1"));
        assert!(notes[0].contains("on the CPU"), "{notes:?}");
    }

    #[test]
    fn an_instance_port_taken_by_another_service_is_an_error() {
        let file = "version: 1\nservices:\n  llm: { kind: ollama, port: 11500, replicas: per-gpu }\n  other: { kind: ollama, port: 11501 }\nmodels:\n  - { ollama: a:b, service: other }\n";
        let e = expand_config(&loaded(file).config, &inventory(2)).unwrap_err();
        assert_eq!(e.service, "llm");
        assert!(e.message.contains("port 11501"), "{e}");
        assert!(expand_config(&loaded(file).config, &inventory(1)).is_ok());
    }

    #[test]
    fn spread_marks_each_copy_with_its_group() {
        let file = FILE.replace(
            "replicas: per-gpu,",
            "replicas: per-gpu, placement: spread,",
        );
        let (cfg, _) = expand_config(&loaded(&file).config, &inventory(2)).unwrap();
        let marks: Vec<_> = cfg
            .models
            .iter()
            .map(|m| (m.service.clone(), m.spread_group.clone()))
            .collect();
        assert_eq!(
            marks,
            [
                (Some("llm-0".into()), Some("llm".into())),
                (Some("llm-1".into()), Some("llm".into()))
            ]
        );
        assert_eq!(cfg.services["llm-0"].placement, None);
        let (every, _) = expand_config(&loaded(FILE).config, &inventory(2)).unwrap();
        assert!(every.models.iter().all(|m| m.spread_group.is_none()));
    }

    #[test]
    fn a_file_without_replicas_is_unchanged() {
        let file = "version: 1\nservices:\n  llm: { kind: ollama }\n";
        let cfg = loaded(file).config;
        assert_eq!(expand_config(&cfg, &inventory(2)).unwrap().0, cfg);
    }
}
