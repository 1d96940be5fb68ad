//! Observe and plan in one call: what `plan`, `apply` and `up` all start with.

use crate::config::Loaded;
use crate::execute::store::{self, StateError};
use crate::model::gpu::Inventory;
use crate::model::spec::ProjectSpec;
use crate::model::state::State;
use crate::observe::{Live, observe};
use crate::paths::ProjectDirs;
use crate::plan::{Desired, Plan, plan};

/// A plan with the inputs it was made from.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// What the file asks for.
    pub desired: Desired,
    /// What was observed.
    pub live: Live,
    /// What FaceRunner owned at that moment.
    pub state: State,
    /// The plan.
    pub plan: Plan,
}

/// Read the state file, observe, and compute the plan. Changes nothing.
pub async fn prepare(
    loaded: &Loaded,
    spec: &ProjectSpec,
    dirs: &ProjectDirs,
    inventory: &Inventory,
) -> Result<Prepared, StateError> {
    let state = store::load(&dirs.state)?;
    let mut live = observe(loaded, spec, dirs, inventory).await;
    let desired = Desired::with_live(loaded, spec, &live);
    for (path, key) in crate::plan::integrations::paths_to_observe(&desired, &state) {
        let seen = crate::observe::files::observe(&path, key.as_deref());
        live.host.files.insert(path.display().to_string(), seen);
    }
    let plan = plan(&desired, &live, &state);
    Ok(Prepared {
        desired,
        live,
        state,
        plan,
    })
}
