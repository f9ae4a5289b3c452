//! The planner: what the recipes want against what exists, as a plan of actions.
//!
//! - [`fingerprint`]: a canonical hash of everything that shapes an image; a change means a new
//!   version, no change means no build.
//! - [`Observer`]: the refresh interface providers implement.
//! - [`compute`]: pure; recipes + state + observations → [`Plan`] (data: actions, edges, reasons,
//!   estimates, the critical path, and the basis a saved plan is checked against).
//! - [`graph`]: the action graph on petgraph; DOT and Mermaid output.
//! - [`render`]: human and Markdown text (the CLI prints it).
//! - [`Outputs`]: what actions hand on, typed per recipe; [`record`]: an apply's outcomes as state (pure).

mod action;
mod compute;
pub mod fingerprint;
pub mod graph;
mod observe;
mod outputs;
mod plan;
pub mod record;
pub mod render;

use std::collections::BTreeMap;

pub use action::{Action, ActionKind, Estimates, RolloutTarget};
pub use compute::{PlanError, PlanOptions, compute, step_label};
pub use observe::{
    FixedObserver, Observations, ObserveError, ObservedImage, ObservedRollout, Observer,
    StateObserver, base_reference, rebuild_state,
};
pub use outputs::{BuildValues, Outputs, RecipeOutputs};
pub use plan::{
    Basis, BuildInfo, Change, CloudInfo, CriticalPath, PLAN_FORMAT, Plan, PlanFileError,
    RecipePlan, StalePlan,
};
use recipe_loader::RecipeSet;
pub use recipe_state::Stored;
use recipe_state::{StateError, StateStore};
pub use record::{Applied, record, record_recipe};

/// `sha256:` digest of the observations, for a plan's basis.
pub fn digest(obs: &Observations) -> String {
    use sha2::Digest;
    let bytes = serde_json::to_vec(obs).expect("observations serialize");
    format!(
        "sha256:{}",
        recipe_state::hex(&sha2::Sha256::digest(&bytes))
    )
}

/// Why planning failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PlanFailure {
    /// Reading state failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    State(#[from] StateError),
    /// Observing the cloud failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Observe(#[from] ObserveError),
    /// The plan could not be computed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Plan(#[from] PlanError),
}

/// Read state for every recipe of the set.
pub async fn read_state(
    set: &RecipeSet,
    store: &impl StateStore,
) -> Result<BTreeMap<String, Stored>, StateError> {
    let mut out = BTreeMap::new();
    for r in &set.recipes {
        let name = &r.recipe.name.value;
        if let Some(s) = store.load(name).await? {
            out.insert(name.clone(), s);
        }
    }
    Ok(out)
}

/// Plan: read state, observe, compute. Reads only.
pub async fn plan(
    set: &RecipeSet,
    store: &impl StateStore,
    observer: &impl Observer,
    options: &PlanOptions,
) -> Result<Plan, PlanFailure> {
    let state = read_state(set, store).await?;
    let recipes: Vec<&recipe_loader::LoadedRecipe> = set.recipes.iter().collect();
    let plain: BTreeMap<String, recipe_state::RecipeState> = state
        .iter()
        .map(|(k, v)| (k.clone(), v.state.clone()))
        .collect();
    let obs = observer.observe(&recipes, &plain).await?;
    Ok(compute(set, &state, &obs, options)?)
}
