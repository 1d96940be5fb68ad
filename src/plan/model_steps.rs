//! Model steps of one ollama service, in five phases, one function each:
//!
//! 1. [`Phase::pulls`]: pull what is declared and missing;
//! 2. [`Phase::creates`]: create derived and file models when missing or
//!    when their definition hash changed (with the field diff against the
//!    recorded definition), after their base;
//! 3. [`Phase::aliases`]: copy aliases that are missing or stale;
//! 4. [`Phase::preloads`]: load `keep_alive` models that are not loaded;
//! 5. [`Phase::prunes`]: the safety rule — remove only what FaceRunner
//!    installed for the file (never what `facerunner pull` fetched by hand,
//!    never what someone else installed), and only with `prune_models`.
//!
//! What is installed and neither declared nor owned is returned as
//! unmanaged: listed, never touched.

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
    let declared_keys: BTreeSet<String> = declared
        .iter()
        .flat_map(|m| std::iter::once(m.name.key()).chain(m.alias.as_ref().map(|a| a.key())))
        .collect();
    let mut phase = Phase {
        b,
        service,
        store,
        owned,
        gate,
        declared,
        declared_keys,
        pending: HashMap::new(),
    };
    phase.pulls();
    phase.creates();
    phase.aliases();
    phase.preloads();
    phase.prunes(desired.prune_models);
    phase.unmanaged()
}

/// What every phase of one service shares.
struct Phase<'a, 'b> {
    b: &'a mut Builder,
    service: &'a str,
    store: &'a LiveStore,
    owned: &'a State,
    /// Steps every model step waits for (the service's start or restart).
    gate: &'a [usize],
    declared: Vec<&'b DesiredModel>,
    /// Keys of every declared name and alias.
    declared_keys: BTreeSet<String>,
    /// Model key → the step that installs it in this plan.
    pending: HashMap<String, usize>,
}

impl Phase<'_, '_> {
    fn installed(&self, key: &str) -> bool {
        self.store.models.contains_key(key)
    }

    /// For an `hf:` model FaceRunner installed from one commit: why it is
    /// installed again when the revision now resolves to another.
    fn moved(&self, m: &DesiredModel, key: &str) -> Option<String> {
        let hf = m.hf.as_ref()?;
        let now = hf.commit.as_deref()?;
        let record = self.owned.models.get(self.service)?.get(key)?;
        let was = record.hf_commit.as_deref()?;
        (was != now).then(|| {
            format!(
                "{} moved on Hugging Face: {} → {}",
                hf.revision,
                short(was),
                short(now)
            )
        })
    }

    /// Phase 1: Pull what is declared and not installed.
    fn pulls(&mut self) {
        for m in self.declared.clone() {
            let Source::Pull { from } = &m.source else {
                continue;
            };
            let key = m.name.key();
            let mut reason = "not installed".to_string();
            if self.installed(&key) {
                match self.moved(m, &key) {
                    Some(why) => reason = why,
                    None => continue,
                }
            }
            let id = self.b.push(
                Action::PullModel {
                    service: self.service.into(),
                    model: m.name.display_shortest(),
                    source: from.clone(),
                    hf: m.hf.clone(),
                },
                reason,
                self.gate.to_vec(),
            );
            self.pending.insert(key, id);
        }
    }

    /// Phase 2: Create derived and file models that are missing or changed.
    fn creates(&mut self) {
        for m in self.declared.clone() {
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
            let record = self
                .owned
                .models
                .get(self.service)
                .and_then(|r| r.get(&key));
            let mut changes = Vec::new();
            let (replaces, reason) = match (self.installed(&key), record) {
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
                    let reason = if let Some(moved) = self.moved(m, &key) {
                        moved
                    } else if fields.is_empty() {
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
            let mut waits = self.gate.to_vec();
            if let Some(base) = base {
                let bk = base.key();
                if let Some(id) = self.pending.get(&bk) {
                    waits.push(*id);
                } else if !self.installed(&bk) && !self.declared_keys.contains(&bk) {
                    self.b.checks.push(Check::error(
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
            let id = self.b.push(
                Action::CreateModel {
                    service: self.service.into(),
                    model: m.name.display_shortest(),
                    request: request.clone(),
                    file: file.clone(),
                    create_hash: hash.clone(),
                    replaces,
                    changes,
                    hf: m.hf.clone(),
                },
                reason,
                waits,
            );
            self.pending.insert(key, id);
        }
    }

    /// Phase 3: Copy aliases that are missing, or stale copies FaceRunner made.
    fn aliases(&mut self) {
        for m in self.declared.clone() {
            let Some(alias) = &m.alias else { continue };
            let (src, dst) = (m.name.key(), alias.key());
            let src_pending = self.pending.get(&src).copied();
            let ours = self.owned.owns(self.service, &dst);
            let stale = match (self.store.models.get(&src), self.store.models.get(&dst)) {
                (_, None) => Some("not installed"),
                (Some(s), Some(d)) if s.digest != d.digest && ours => {
                    Some("points at another version of its source")
                }
                (_, Some(_)) if src_pending.is_some() && ours => {
                    Some("its source changes in this plan")
                }
                _ => None,
            };
            let Some(reason) = stale else { continue };
            let mut waits = self.gate.to_vec();
            waits.extend(src_pending);
            let id = self.b.push(
                Action::CopyModel {
                    service: self.service.into(),
                    source: m.name.display_shortest(),
                    model: alias.display_shortest(),
                },
                format!("alias {reason}"),
                waits,
            );
            self.pending.insert(dst, id);
        }
    }

    /// Phase 4: Load `keep_alive` models that are not loaded (after they install).
    fn preloads(&mut self) {
        for m in self.declared.clone() {
            let Some(keep_alive) = &m.keep_alive else {
                continue;
            };
            let key = m.name.key();
            // A service that (re)starts in this plan comes back with nothing loaded.
            let loaded = self.gate.is_empty()
                && self.store.loaded.as_ref().is_some_and(|l| l.contains(&key));
            if loaded && !self.pending.contains_key(&key) {
                continue;
            }
            let mut waits = self.gate.to_vec();
            waits.extend(self.pending.get(&key));
            self.b.push(
                Action::PreloadModel {
                    service: self.service.into(),
                    model: m.name.display_shortest(),
                    keep_alive: keep_alive.clone(),
                },
                format!("keep_alive {keep_alive}: not loaded"),
                waits,
            );
        }
    }

    /// Phase 5: The safety rule: only a model FaceRunner installed for the file,
    /// still installed, no longer declared, is removed — and only with
    /// `prune_models` (otherwise a warning says it is kept). A model pulled
    /// by hand is never pruned nor warned about; one FaceRunner does not own
    /// is never touched.
    fn prunes(&mut self, prune_models: bool) {
        for (key, record) in self.owned.owned(self.service) {
            if self.declared_keys.contains(key) || !self.installed(key) || !record.prunable() {
                continue;
            }
            if prune_models {
                self.b.push(
                    Action::RemoveModel {
                        service: self.service.into(),
                        model: record.name.clone(),
                    },
                    "installed by FaceRunner, no longer in the file (prune_models)",
                    self.gate.to_vec(),
                );
            } else {
                self.b.checks.push(Check::warning(
                    format!("model {}", record.name),
                    "installed by FaceRunner and no longer in the file; kept",
                    "set `settings.prune_models: true` to remove it, or `facerunner rm` it",
                ));
            }
        }
    }

    /// Installed, neither declared nor owned: listed, never touched.
    fn unmanaged(&self) -> Vec<String> {
        self.store
            .models
            .iter()
            .filter(|(k, _)| !self.declared_keys.contains(*k) && !self.owned.owns(self.service, k))
            .map(|(_, m)| m.name.clone())
            .collect()
    }
}

/// A commit as people read it: its first 12 characters.
fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}
