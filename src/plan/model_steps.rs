//! Model steps of one ollama service: pull what is missing, create derived
//! and file models when missing or when their definition hash changed (with
//! the field diff against the recorded definition), copy aliases, load
//! `keep_alive` models, and remove only what FaceRunner installed for the
//! file (not what `facerunner pull` fetched by hand) — and only with
//! `prune_models`. What is installed and neither declared nor owned is
//! returned as unmanaged.

use std::collections::{BTreeSet, HashMap};

use super::Action;
use super::build::Builder;
use super::desired::{Desired, DesiredModel, Source};
use super::diff::diff;
use crate::model::checks::Check;
use crate::model::state::State;
use crate::observe::{LiveStore, StoreSource};

/// Model steps of one ollama service; returns its unmanaged models.
pub(super) fn models(
    b: &mut Builder,
    desired: &Desired,
    service: &str,
    store: &LiveStore,
    owned: &State,
    gate: &[usize],
) -> Vec<String> {
    if let StoreSource::Unavailable { reason } = &store.source {
        b.checks.push(Check::error(
            format!("service {service}"),
            format!("cannot list its models: {reason}"),
            "check that the server answers, or that its models_dir is readable",
        ));
    }
    let declared: Vec<&DesiredModel> = desired
        .models
        .iter()
        .filter(|m| m.service == service)
        .collect();
    let mut declared_keys: BTreeSet<String> = BTreeSet::new();
    for m in &declared {
        declared_keys.insert(m.name.key());
        if let Some(a) = &m.alias {
            declared_keys.insert(a.key());
        }
    }
    let mut pending: HashMap<String, usize> = HashMap::new();
    let installed = |key: &str| store.models.contains_key(key);

    for m in declared
        .iter()
        .filter(|m| matches!(m.source, Source::Pull { .. }))
    {
        let key = m.name.key();
        if installed(&key) {
            continue;
        }
        let Source::Pull { from } = &m.source else {
            continue;
        };
        let id = b.push(
            Action::PullModel {
                service: service.into(),
                model: m.name.display_shortest(),
                source: from.clone(),
            },
            "not installed",
            gate.to_vec(),
        );
        pending.insert(key, id);
    }
    for m in &declared {
        let Source::Create {
            base,
            request,
            file,
            hash,
        } = &m.source
        else {
            continue;
        };
        let key = m.name.key();
        let record = owned.models.get(service).and_then(|r| r.get(&key));
        let mut changes = Vec::new();
        let (replaces, reason) = match (installed(&key), record) {
            (false, _) => (false, "not installed".to_string()),
            (true, Some(r)) if r.create_hash.as_deref() == Some(hash.as_str()) => continue,
            (true, Some(r)) => {
                let now =
                    serde_json::to_value(request).expect("a create request always serializes");
                changes = r
                    .definition
                    .as_ref()
                    .map(|old| diff(old, &now))
                    .unwrap_or_default();
                let fields: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
                let reason = if fields.is_empty() {
                    "its definition changed".to_string()
                } else {
                    format!("changed: {}", fields.join(", "))
                };
                (true, reason)
            }
            (true, None) => (
                true,
                "installed, but not created by FaceRunner from this definition".to_string(),
            ),
        };
        let mut waits = gate.to_vec();
        if let Some(base) = base {
            let bk = base.key();
            if let Some(id) = pending.get(&bk) {
                waits.push(*id);
            } else if !installed(&bk) && !declared_keys.contains(&bk) {
                b.checks.push(Check::error(
                    format!("model {}", m.name.display_shortest()),
                    format!(
                        "its base `{}` is neither installed nor declared",
                        base.display_shortest()
                    ),
                    format!(
                        "declare it in `models:` (`- ollama: {}`) or pull it first",
                        base.display_shortest()
                    ),
                ));
            }
        }
        let id = b.push(
            Action::CreateModel {
                service: service.into(),
                model: m.name.display_shortest(),
                request: request.clone(),
                file: file.clone(),
                create_hash: hash.clone(),
                replaces,
                changes,
            },
            reason,
            waits,
        );
        pending.insert(key, id);
    }
    for m in &declared {
        let Some(alias) = &m.alias else { continue };
        let (src, dst) = (m.name.key(), alias.key());
        let src_pending = pending.get(&src).copied();
        let stale = match (store.models.get(&src), store.models.get(&dst)) {
            (_, None) => Some("not installed"),
            (Some(s), Some(d)) if s.digest != d.digest && owned.owns(service, &dst) => {
                Some("points at another version of its source")
            }
            (_, Some(_)) if src_pending.is_some() && owned.owns(service, &dst) => {
                Some("its source changes in this plan")
            }
            _ => None,
        };
        let Some(reason) = stale else { continue };
        let mut waits = gate.to_vec();
        waits.extend(src_pending);
        let id = b.push(
            Action::CopyModel {
                service: service.into(),
                source: m.name.display_shortest(),
                model: alias.display_shortest(),
            },
            format!("alias {reason}"),
            waits,
        );
        pending.insert(dst, id);
    }
    for m in &declared {
        let Some(keep_alive) = &m.keep_alive else {
            continue;
        };
        let key = m.name.key();
        // A service that (re)starts in this plan comes back with nothing loaded.
        let loaded = gate.is_empty() && store.loaded.as_ref().is_some_and(|l| l.contains(&key));
        if loaded && !pending.contains_key(&key) {
            continue;
        }
        let mut waits = gate.to_vec();
        waits.extend(pending.get(&key));
        b.push(
            Action::PreloadModel {
                service: service.into(),
                model: m.name.display_shortest(),
                keep_alive: keep_alive.clone(),
            },
            format!("keep_alive {keep_alive}: not loaded"),
            waits,
        );
    }
    for (key, record) in owned.owned(service) {
        // Pulled by hand: asked for, not declared; never pruned nor warned about.
        if declared_keys.contains(key) || !installed(key) || !record.prunable() {
            continue;
        }
        if desired.prune_models {
            b.push(
                Action::RemoveModel {
                    service: service.into(),
                    model: record.name.clone(),
                },
                "installed by FaceRunner, no longer in the file (prune_models)",
                gate.to_vec(),
            );
        } else {
            b.checks.push(Check::warning(
                format!("model {}", record.name),
                "installed by FaceRunner and no longer in the file; kept",
                "set `settings.prune_models: true` to remove it, or `facerunner rm` it",
            ));
        }
    }
    store
        .models
        .iter()
        .filter(|(k, _)| !declared_keys.contains(*k) && !owned.owns(service, k))
        .map(|(_, m)| m.name.clone())
        .collect()
}
