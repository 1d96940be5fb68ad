//! `placement: spread`: each model of a `replicas: per-gpu` ollama service
//! goes to ONE of its instances.
//!
//! The expansion (`config::replicas`) gives every instance a copy of each
//! of the group's models, marked with the group. Here the plan keeps the
//! copy on one instance and drops the others, before any model step is
//! made, so the steps (and the fit check) see each model once.
//!
//! The choice ([`assign`], pure): models already installed on an instance
//! stay there while they still fit (no churn); the others go first-fit
//! decreasing by estimated size (`model::gpu::estimate`) against each
//! instance's room (its GPUs' free memory, as the fit check counts it, less
//! the models placed before); a model no GPU has room for, or whose size is
//! unknown, goes to the instance with the most room left. Without a GPU
//! inventory, or when no model's size is known, models go by turns, and
//! the plan says so once. Ties go to the lower instance, so the same inputs
//! always give the same placement.

use std::collections::BTreeMap;

use super::desired::{Desired, DesiredModel};
use super::fit::{room, service_gpus};
use super::{Action, ModelPlacement, PlacementBasis};
use crate::model::checks::Check;
use crate::model::gpu::estimate;
use crate::observe::Live;

/// One model to place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item {
    /// Estimated memory, when known.
    pub need: Option<u64>,
    /// The instance (position) it is installed on now, if any.
    pub installed_on: Option<usize>,
}

/// Where [`assign`] put one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    /// The instance (position).
    pub instance: usize,
    /// Why.
    pub basis: PlacementBasis,
    /// The instance's room before this item (when rooms are known).
    pub free: Option<u64>,
}

/// Place `items` on instances whose rooms are `free` (by position; `None`
/// when that instance's GPU is unknown). One choice per item, in order.
pub fn assign(free: &[Option<u64>], items: &[Item]) -> Vec<Choice> {
    let n = free.len();
    if n == 0 {
        return Vec::new();
    }
    let installed = |it: &Item| it.installed_on.filter(|i| *i < n);
    let mut out: Vec<Option<Choice>> = vec![None; items.len()];
    let rooms: Option<Vec<u64>> = free.iter().copied().collect();
    let Some(mut left) = rooms.filter(|_| items.iter().any(|i| i.need.is_some())) else {
        // By turns: the instance with the fewest models so far.
        let mut count = vec![0usize; n];
        for (k, it) in items.iter().enumerate() {
            if let Some(i) = installed(it) {
                count[i] += 1;
                out[k] = Some(Choice {
                    instance: i,
                    basis: PlacementBasis::Installed,
                    free: free[i],
                });
            }
        }
        for slot in &mut out {
            if slot.is_none() {
                let i = (0..n).min_by_key(|i| (count[*i], *i)).unwrap_or(0);
                count[i] += 1;
                *slot = Some(Choice {
                    instance: i,
                    basis: PlacementBasis::RoundRobin,
                    free: free[i],
                });
            }
        }
        return out.into_iter().flatten().collect();
    };
    // Largest first; unknown sizes last; file order among equals.
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|k| {
        (
            items[*k].need.is_none(),
            std::cmp::Reverse(items[*k].need),
            *k,
        )
    });
    // What is installed stays while it fits.
    for &k in &order {
        let it = &items[k];
        let Some(i) = installed(it) else { continue };
        if it.need.is_none_or(|need| left[i] >= need) {
            out[k] = Some(Choice {
                instance: i,
                basis: PlacementBasis::Installed,
                free: Some(left[i]),
            });
            left[i] -= it.need.unwrap_or(0);
        }
    }
    let most_room = |left: &[u64]| (0..n).max_by_key(|i| (left[*i], std::cmp::Reverse(*i)));
    for &k in &order {
        if out[k].is_some() {
            continue;
        }
        let (i, basis) = match items[k].need {
            Some(need) => match (0..n).find(|i| left[*i] >= need) {
                Some(i) => (i, PlacementBasis::FirstFit),
                None => (most_room(&left).unwrap_or(0), PlacementBasis::MostRoom),
            },
            None => (most_room(&left).unwrap_or(0), PlacementBasis::UnknownSize),
        };
        out[k] = Some(Choice {
            instance: i,
            basis,
            free: Some(left[i]),
        });
        left[i] = left[i].saturating_sub(items[k].need.unwrap_or(0));
    }
    out.into_iter().flatten().collect()
}

/// A spread group's instances (in order) and its models: each model's key
/// and the indices of its copies in `Desired::models`.
type Group<'a> = (Vec<&'a str>, Vec<(String, Vec<usize>)>);

/// The desired state with each spread model on its one instance, the
/// placements, and a note per group placed by turns. `None` when the file
/// spreads nothing.
pub(super) fn spread(
    desired: &Desired,
    live: &Live,
) -> Option<(Desired, Vec<ModelPlacement>, Vec<Check>)> {
    if desired.models.iter().all(|m| m.spread_group.is_none()) {
        return None;
    }
    // group → its instances (in order) and its models (key → copy indices).
    let mut groups: BTreeMap<&str, Group<'_>> = BTreeMap::new();
    for (k, m) in desired.models.iter().enumerate() {
        let Some(g) = &m.spread_group else { continue };
        let (instances, models) = groups.entry(g).or_default();
        if !instances.contains(&m.service.as_str()) {
            instances.push(&m.service);
        }
        let key = m.name.key();
        match models.iter_mut().find(|(k, _)| *k == key) {
            Some((_, copies)) => copies.push(k),
            None => models.push((key, vec![k])),
        }
    }
    let mut keep = vec![true; desired.models.len()];
    let mut placements = Vec::new();
    let mut notes = Vec::new();
    for (group, (instances, models)) in &groups {
        let gpus: Vec<Vec<&crate::model::gpu::GpuInfo>> = instances
            .iter()
            .map(|i| {
                desired
                    .fit_services
                    .get(*i)
                    .filter(|_| !live.inventory.gpus.is_empty())
                    .map(|svc| service_gpus(&live.inventory, svc))
                    .unwrap_or_default()
            })
            .collect();
        let free: Vec<Option<u64>> = gpus
            .iter()
            .map(|g| (!g.is_empty()).then(|| g.iter().map(|g| room(g)).sum()))
            .collect();
        let items: Vec<Item> = models
            .iter()
            .map(|(key, copies)| Item {
                need: copies
                    .iter()
                    .find_map(|c| need(desired, live, &desired.models[*c])),
                installed_on: instances.iter().position(|i| {
                    live.stores
                        .get(*i)
                        .is_some_and(|s| s.models.contains_key(key))
                }),
            })
            .collect();
        let choices = assign(&free, &items);
        if choices
            .iter()
            .any(|c| c.basis == PlacementBasis::RoundRobin)
        {
            let why = if free.iter().any(Option::is_none) {
                match &live.inventory.unavailable {
                    Some(w) => format!("no GPU inventory ({w})"),
                    None if live.inventory.gpus.is_empty() => "the inventory lists no GPUs".into(),
                    None => "not every instance's GPU is in the inventory".into(),
                }
            } else {
                "no model's size is known (a model's header is read from its `file:` or once it is installed)".into()
            };
            notes.push(Check::note(
                format!("service {group}"),
                format!("`placement: spread` placed the models of `{group}` by turns: {why}"),
                "plan with `--gpus-from FILE` (written by `facerunner gpus --json` on the GPU machine) to place them by GPU memory",
            ));
        }
        for ((_, copies), (item, c)) in models.iter().zip(items.iter().zip(&choices)) {
            let chosen = instances[c.instance];
            for k in copies {
                keep[*k] = desired.models[*k].service == chosen;
            }
            let m = &desired.models[copies[0]];
            let gpu_ids: Vec<u32> = gpus[c.instance].iter().map(|g| g.index).collect();
            placements.push(ModelPlacement {
                group: group.to_string(),
                model: m.name.display_shortest(),
                service: chosen.to_string(),
                reason: reason(chosen, &gpu_ids, item, c),
                gpus: gpu_ids,
                need_bytes: item.need,
                free_bytes: c.free,
                basis: c.basis,
            });
        }
    }
    let mut placed = desired.clone();
    let mut k = 0;
    placed.models.retain(|_| {
        k += 1;
        keep[k - 1]
    });
    Some((placed, placements, notes))
}

/// A model's estimated memory on its copy's instance, when its header was read.
fn need(desired: &Desired, live: &Live, m: &DesiredModel) -> Option<u64> {
    let meta = super::fit::model_meta(live, m)?;
    let svc = desired.fit_services.get(&m.service)?;
    let vram = service_gpus(&live.inventory, svc)
        .iter()
        .map(|g| g.memory_total_bytes)
        .sum();
    Some(estimate(&meta, m.num_ctx, &svc.knobs, vram).total_bytes())
}

fn gib(b: u64) -> String {
    format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64)
}

/// "placed on llm-1: GPU 1 has 18.0 GiB free, needs 5.2 GiB".
fn reason(instance: &str, gpus: &[u32], item: &Item, c: &Choice) -> String {
    let gpu = match gpus {
        [] => "its GPU".to_string(),
        [g] => format!("GPU {g}"),
        gs => format!(
            "GPU {}",
            gs.iter().map(u32::to_string).collect::<Vec<_>>().join("+")
        ),
    };
    let free = c
        .free
        .map(gib)
        .unwrap_or_else(|| "an unknown amount".into());
    let need = item.need.map(gib);
    match (c.basis, need) {
        (PlacementBasis::Installed, Some(need)) => format!(
            "stays on {instance}, where it is installed: {gpu} has {free} free, needs {need}"
        ),
        (PlacementBasis::Installed, None) => {
            format!("stays on {instance}, where it is installed")
        }
        (PlacementBasis::FirstFit, Some(need)) => {
            format!("placed on {instance}: {gpu} has {free} free, needs {need}")
        }
        (PlacementBasis::MostRoom, Some(need)) => format!(
            "placed on {instance}: no instance's GPU has room for it ({need}); {gpu} has the most, {free} free"
        ),
        (PlacementBasis::RoundRobin, _) => {
            format!("placed on {instance} by turns (GPU room or model sizes unknown)")
        }
        _ => format!(
            "placed on {instance}: its size is unknown; {gpu} has the most room left, {free} free"
        ),
    }
}

/// End the reason of each placed model's install step with its placement.
pub(super) fn annotate(steps: &mut [super::Step], placements: &[ModelPlacement]) {
    for s in steps {
        let (service, model) = match &s.action {
            Action::PullModel { service, model, .. }
            | Action::CreateModel { service, model, .. } => (service, model),
            _ => continue,
        };
        if let Some(p) = placements
            .iter()
            .find(|p| &p.service == service && &p.model == model)
        {
            s.reason = format!("{}; {}", s.reason, p.reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PlacementBasis::*;

    const G: u64 = 1 << 30;

    fn item(need: Option<u64>) -> Item {
        Item {
            need: need.map(|n| n * G),
            installed_on: None,
        }
    }

    fn on(choices: &[Choice]) -> Vec<(usize, PlacementBasis)> {
        choices.iter().map(|c| (c.instance, c.basis)).collect()
    }

    #[test]
    fn largest_first_each_to_the_first_instance_with_room() {
        // GPU 0: 8 GiB, GPU 1: 20 GiB; models 3, 15, 6 GiB (file order).
        let free = [Some(8 * G), Some(20 * G)];
        let c = assign(&free, &[item(Some(3)), item(Some(15)), item(Some(6))]);
        // 15 → 1 (0 is too small), 6 → 0, 3 → 1 (0 has 2 left, 1 has 5).
        assert_eq!(on(&c), [(1, FirstFit), (1, FirstFit), (0, FirstFit)]);
        assert_eq!(c[1].free, Some(20 * G));
        assert_eq!(c[0].free, Some(5 * G), "after the 15 GiB model");
    }

    #[test]
    fn too_big_for_all_goes_to_the_most_room_and_unknown_sizes_go_last() {
        let free = [Some(8 * G), Some(10 * G)];
        let c = assign(&free, &[item(None), item(Some(30)), item(Some(4))]);
        // 30 → most room (1, left 0); 4 → 0 (left 4); unknown → 0 (most left).
        assert_eq!(on(&c), [(0, UnknownSize), (1, MostRoom), (0, FirstFit)]);
    }

    #[test]
    fn an_installed_model_stays_unless_it_no_longer_fits() {
        let free = [Some(8 * G), Some(20 * G)];
        let mut small = item(Some(3));
        small.installed_on = Some(1);
        let mut big = item(Some(10));
        big.installed_on = Some(0); // 10 GiB no longer fits GPU 0
        let c = assign(&free, &[small, big, item(Some(6))]);
        // small stays on 1 (left 17); big moves: first fit is 1 (left 7);
        // the 6 GiB one: 0.
        assert_eq!(on(&c), [(1, Installed), (1, FirstFit), (0, FirstFit)]);
    }

    #[test]
    fn without_rooms_or_sizes_models_go_by_turns() {
        let mut installed = item(None);
        installed.installed_on = Some(0);
        let c = assign(
            &[None, None],
            &[item(Some(5)), installed, item(None), item(None)],
        );
        assert_eq!(
            on(&c),
            [
                (1, RoundRobin),
                (0, Installed),
                (0, RoundRobin),
                (1, RoundRobin)
            ]
        );
        let c = assign(&[Some(G), Some(G)], &[item(None), item(None), item(None)]);
        assert_eq!(on(&c), [(0, RoundRobin), (1, RoundRobin), (0, RoundRobin)]);
    }

    #[test]
    fn the_same_inputs_give_the_same_placement() {
        let free = [Some(10 * G), Some(10 * G), Some(10 * G)];
        let items = [item(Some(4)), item(Some(4)), item(Some(7)), item(None)];
        let a = assign(&free, &items);
        assert_eq!(a, assign(&free, &items));
        // 7 → 0; the 4s in file order: 1, then 1 again (0 has 3 left);
        // the unknown one: the most room left, 2.
        assert_eq!(
            on(&a),
            [
                (1, FirstFit),
                (1, FirstFit),
                (0, FirstFit),
                (2, UnknownSize)
            ]
        );
    }

    /// Through the planner: a file with three models spread over two
    /// instances (GPUs named in the file, no inventory), `two:1b` already on
    /// `llm-1`.
    #[test]
    fn the_plan_installs_each_model_once_and_leaves_an_installed_one_where_it_is() {
        use crate::config::interpolate::Vars;
        use crate::config::resolve::{Secrets, resolve};
        use crate::model::gpu::Inventory;
        use crate::names::ModelName;
        use crate::observe::{LiveModel, LiveStore, StoreSource};
        let yaml = "version: 1\nname: t\ngpus:\n  a: { index: 0 }\n  b: { index: 1 }\nservices:\n  llm: { kind: ollama, port: 11500, replicas: per-gpu, placement: spread, gpus: [a, b] }\nmodels:\n  - ollama: one:1b\n  - ollama: two:1b\n  - ollama: three:1b\n";
        let path = std::path::Path::new("/p/facerunner.yaml");
        let mut loaded = crate::config::load_str(path, yaml, &Vars::default())
            .unwrap_or_else(|e| panic!("{e:?}"));
        crate::config::replicas::expand(&mut loaded, &Inventory::default()).expect("expands");
        let dirs = crate::paths::ProjectDirs::under(std::path::Path::new("/tmp/fr-unit"), "t");
        let spec = resolve(&loaded, &dirs, Secrets::Peek).expect("resolves");
        let d = Desired::new(&loaded, &spec);
        assert_eq!(d.models.len(), 6, "a copy per instance before the plan");
        let store = |models: &[&str]| LiveStore {
            source: StoreSource::Api {
                url: "http://x".into(),
            },
            models: models
                .iter()
                .map(|m| {
                    let name = ModelName::parse(m).expect("valid");
                    (
                        name.key(),
                        LiveModel {
                            name: (*m).into(),
                            digest: "d".into(),
                            size: 1,
                        },
                    )
                })
                .collect(),
            loaded: None,
        };
        let live = Live {
            stores: [
                ("llm-0".into(), store(&[])),
                ("llm-1".into(), store(&["two:1b"])),
            ]
            .into(),
            ..Live::default()
        };
        let plan = super::super::plan(&d, &live, &Default::default());
        let installs: Vec<(&str, &str, &str)> = plan
            .steps
            .iter()
            .filter_map(|s| match &s.action {
                Action::PullModel { service, model, .. } => {
                    Some((service.as_str(), model.as_str(), s.reason.as_str()))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            installs,
            [
                (
                    "llm-0",
                    "one:1b",
                    "not installed; placed on llm-0 by turns (GPU room or model sizes unknown)"
                ),
                (
                    "llm-0",
                    "three:1b",
                    "not installed; placed on llm-0 by turns (GPU room or model sizes unknown)"
                ),
            ]
        );
        let placed: Vec<(&str, &str, PlacementBasis)> = plan
            .placement
            .iter()
            .map(|p| (p.model.as_str(), p.service.as_str(), p.basis))
            .collect();
        assert_eq!(
            placed,
            [
                ("one:1b", "llm-0", RoundRobin),
                ("two:1b", "llm-1", Installed),
                ("three:1b", "llm-0", RoundRobin)
            ]
        );
        let turns = plan
            .checks
            .iter()
            .filter(|c| c.message.contains("by turns"))
            .count();
        assert_eq!(turns, 1, "said once: {:?}", plan.checks);
        assert!(plan.unmanaged.is_empty(), "{:?}", plan.unmanaged);
        assert_eq!(
            plan.clone(),
            super::super::plan(&d, &live, &Default::default())
        );
        let text = super::super::render::render(&plan);
        assert!(
            text.contains("model two:1b: stays on llm-1, where it is installed"),
            "{text}"
        );
    }

    #[test]
    fn no_instance_places_nothing() {
        assert!(assign(&[], &[item(Some(1))]).is_empty());
    }
}
