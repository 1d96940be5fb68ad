//! `(desired, live, owned) -> Plan`: the pure heart of `plan` and `apply`.
//!
//! No I/O happens here, so every rule is unit-tested with plain values:
//! services start when not running and restart when the spec hash the
//! daemon reports differs (with the field diff against the spec recorded at
//! the last apply); models are pulled when missing, created when missing or
//! when their definition hash changed, copied for aliases, loaded for
//! `keep_alive`, and removed only when FaceRunner owns them and
//! `prune_models` is on. Everything else installed is listed as unmanaged.
//! The daemon's own settings (watch mode) get a step when the file's differ
//! from the ones the daemon reports; a daemon that is there but cannot be
//! used (another protocol version) is an error, not "nothing runs".

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::desired::Desired;
use super::diff::diff;
use super::{Action, DAEMON_SUBJECT, FORMAT_VERSION, FieldChange, Fingerprint, Plan, Step};
use crate::config::resolve::normalized;
use crate::model::checks::Check;
use crate::model::spec::ServiceSpec;
use crate::model::state::State;
use crate::model::units::Duration;
use crate::observe::{Live, LiveService};

/// Accumulates steps and checks.
pub(super) struct Builder {
    pub(super) steps: Vec<Step>,
    pub(super) checks: Vec<Check>,
}

impl Builder {
    pub(super) fn push(
        &mut self,
        action: Action,
        reason: impl Into<String>,
        waits_for: Vec<usize>,
    ) -> usize {
        let id = self.steps.len();
        self.steps.push(Step {
            id,
            action,
            reason: reason.into(),
            waits_for,
        });
        id
    }
}

/// Compute the plan.
pub fn plan(desired: &Desired, live: &Live, owned: &State) -> Plan {
    let mut b = Builder {
        steps: Vec::new(),
        checks: desired.problems.clone(),
    };
    // `placement: spread`: each model of a replicated service on one instance.
    let spread = super::placement::spread(desired, live);
    let (desired, placement) = match spread {
        Some((placed, placement, notes)) => {
            b.checks.extend(notes);
            (std::borrow::Cow::Owned(placed), placement)
        }
        None => (std::borrow::Cow::Borrowed(desired), Vec::new()),
    };
    let desired: &Desired = &desired;
    gpu_checks(&mut b, desired, live);
    let service_steps = if let Some(problem) = &live.daemon_unusable {
        // What runs is unknown: nothing about services can be planned.
        b.checks.push(Check::error(
            DAEMON_SUBJECT,
            problem.reason.clone(),
            problem.help.clone(),
        ));
        HashMap::new()
    } else {
        let steps = services(&mut b, desired, live, owned);
        daemon_settings(&mut b, desired, live);
        steps
    };
    let mut unmanaged = BTreeMap::new();
    for (service, store) in &live.stores {
        let gate: Vec<usize> = service_steps.get(service).copied().into_iter().collect();
        let list = super::model_steps::models(&mut b, desired, service, store, owned, &gate);
        if !list.is_empty() {
            unmanaged.insert(service.clone(), list);
        }
    }
    one_writer_per_store(&mut b, desired);
    super::integrations::steps(&mut b, desired, live, owned);
    let (fit, fit_skipped) = super::fit::check(&mut b, desired, live);
    super::placement::annotate(&mut b.steps, &placement);
    Plan {
        format_version: FORMAT_VERSION,
        project: desired.project.clone(),
        fingerprint: Fingerprint {
            config: desired.config_fingerprint.clone(),
            live: live.fingerprint(),
            hub: live.hub_fingerprint(),
        },
        steps: b.steps,
        checks: b.checks,
        unmanaged,
        fit,
        fit_skipped,
        placement,
    }
}

/// Services sharing a model store (`OLLAMA_MODELS`, as the instances of a
/// `replicas: per-gpu` service do) never write the same model into it at
/// once: two servers downloading one blob to the same partial file would
/// corrupt it. Each pull or create of a model waits for the previous one of
/// that model into that store (which then finds its blobs present).
fn one_writer_per_store(b: &mut Builder, desired: &Desired) {
    let store_of = |service: &str| {
        desired
            .services
            .iter()
            .find(|s| s.name == service)
            .and_then(|s| s.env.get("OLLAMA_MODELS"))
            .cloned()
    };
    let mut last: HashMap<(String, String), usize> = HashMap::new();
    for i in 0..b.steps.len() {
        let (service, model) = match &b.steps[i].action {
            Action::PullModel { service, model, .. }
            | Action::CreateModel { service, model, .. } => (service, model),
            _ => continue,
        };
        let Some(store) = store_of(service) else {
            continue;
        };
        if let Some(before) = last.insert((store, model.clone()), i)
            && !b.steps[i].waits_for.contains(&before)
        {
            b.steps[i].waits_for.push(before);
        }
    }
}

/// The `gpus:` entries against the inventory the plan is made with: one the
/// inventory lacks is an error at its line; with no inventory at all, a
/// note that the check was skipped.
fn gpu_checks(b: &mut Builder, desired: &Desired, live: &Live) {
    use crate::config::gpus::{Outcome, check};
    if desired.gpus.is_empty() {
        return;
    }
    match check(&desired.gpus, &live.inventory) {
        Outcome::Skipped(why) => b.checks.push(Check::note(
            "gpus",
            format!("`gpus:` was not checked against any GPU: {why}"),
            "plan on the GPU machine, or give its inventory with --gpus-from FILE \
             (`facerunner gpus --json` there writes one)",
        )),
        Outcome::Checked(unmatched) => {
            for u in unmatched {
                let message = match &u.gpu.location {
                    Some(at) => format!("{at}: {}", u.message),
                    None => u.message,
                };
                b.checks.push(
                    Check::error(format!("gpu {}", u.gpu.name), message, u.help).at(u.gpu.location),
                );
            }
        }
    }
}

/// The daemon's own settings: one step when the file's differ from the
/// ones in force (no daemon: the defaults, which a daemon starts with).
/// The debounce matters only while watching, so it is compared only then.
fn daemon_settings(b: &mut Builder, desired: &Desired, live: &Live) {
    let (have, want) = (live.daemon_settings, desired.daemon);
    let mut changes = Vec::new();
    if have.watch != want.watch {
        changes.push(FieldChange {
            path: "watch".into(),
            old: Some(have.watch.into()),
            new: Some(want.watch.into()),
        });
    }
    if have.watch && want.watch && have.watch_debounce_ms != want.watch_debounce_ms {
        let show = |ms: u64| Duration(std::time::Duration::from_millis(ms)).to_string();
        changes.push(FieldChange {
            path: "watch_debounce".into(),
            old: Some(show(have.watch_debounce_ms).into()),
            new: Some(show(want.watch_debounce_ms).into()),
        });
    }
    if changes.is_empty() {
        return;
    }
    let fields: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
    let reason = format!("changed: {}", fields.join(", "));
    b.push(Action::UpdateDaemon { changes }, reason, vec![]);
}

/// Service steps; returns service → the step that (re)starts it.
fn services(
    b: &mut Builder,
    desired: &Desired,
    live: &Live,
    owned: &State,
) -> HashMap<String, usize> {
    for (name, l) in &live.services {
        if l.is_running() && !desired.services.iter().any(|s| &s.name == name) {
            b.push(
                Action::StopService {
                    service: name.clone(),
                },
                "no longer in the file",
                vec![],
            );
        }
    }
    let mut started: HashMap<String, usize> = HashMap::new();
    for svc in dependency_order(&desired.services) {
        let (action, reason) = match live.service(&svc.name) {
            LiveService::Running { spec_hash } if *spec_hash == svc.spec_hash => continue,
            LiveService::Running { .. } => {
                let changes = owned
                    .services
                    .get(&svc.name)
                    .map(|r| diff(&r.spec, &normalized(svc)))
                    .unwrap_or_default();
                let reason = if changes.is_empty() {
                    "its spec changed".to_string()
                } else {
                    let fields: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
                    format!("changed: {}", fields.join(", "))
                };
                (
                    Action::RestartService {
                        service: svc.name.clone(),
                        changes,
                    },
                    reason,
                )
            }
            LiveService::NotRunning => (
                Action::StartService {
                    service: svc.name.clone(),
                },
                "not running".to_string(),
            ),
            LiveService::Failed { reason } => (
                Action::StartService {
                    service: svc.name.clone(),
                },
                format!("failed: {reason}"),
            ),
        };
        service_checks(b, svc, live, matches!(action, Action::StartService { .. }));
        let waits: Vec<usize> = svc
            .depends_on
            .iter()
            .filter_map(|d| started.get(&d.service).copied())
            .collect();
        let id = b.push(action, reason, waits);
        started.insert(svc.name.clone(), id);
    }
    started
}

fn service_checks(b: &mut Builder, svc: &ServiceSpec, live: &Live, starting: bool) {
    let subject = format!("service {}", svc.name);
    if let Some(addr) = live.host.ports_taken.get(&svc.name).filter(|_| starting) {
        b.checks.push(Check::error(
            &subject,
            format!("port {addr} is already taken by a process FaceRunner did not start"),
            "stop that process, or give this service another `port:`",
        ));
    }
    if let Some(why) = live.host.bad_working_dirs.get(&svc.name) {
        b.checks.push(Check::error(
            &subject,
            format!("its working directory {why}"),
            "create it, or fix `working_dir:` (a relative path is taken from the project file's directory)",
        ));
    }
    if let Some(program) = live.host.missing_binaries.get(&svc.name) {
        b.checks.push(Check::error(
            &subject,
            format!("`{program}` is not on PATH and is not a file"),
            if matches!(program.as_str(), "ollama" | "open-webui") {
                "run `facerunner setup` to install it, or install it yourself, or set `binary:` to its path"
            } else {
                "install it, or set `binary:` (or `command:`) to its path"
            },
        ));
    }
}

/// Services with their dependencies first, file order among equals.
fn dependency_order(services: &[ServiceSpec]) -> Vec<&ServiceSpec> {
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut out = Vec::new();
    let mut left: Vec<&ServiceSpec> = services.iter().collect();
    while !left.is_empty() {
        let before = left.len();
        left.retain(|s| {
            let ready = s.depends_on.iter().all(|d| {
                done.contains(d.service.as_str()) || !services.iter().any(|x| x.name == d.service)
            });
            if ready {
                done.insert(&s.name);
                out.push(*s);
            }
            !ready
        });
        if left.len() == before {
            // A cycle (validation rejects those): keep file order.
            out.append(&mut left);
        }
    }
    out
}
