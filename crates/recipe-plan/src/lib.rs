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
    let had: BTreeMap<String, Option<String>> = state
        .iter()
        .map(|(k, v)| (k.clone(), Some(v.revision.0.clone())))
        .collect();
    let (state, adopted) = adopt(set, state, &obs, &options.unfinished);
    let mut plan = compute(set, &state, &obs, options)?;
    for (name, st) in adopted {
        // Planned against the adopted state; the basis is what the store holds (nothing, or an
        // empty document), which apply replaces.
        plan.basis
            .state
            .insert(name.clone(), had.get(&name).cloned().flatten());
        if let Some(r) = plan.recipes.iter_mut().find(|r| r.recipe == name) {
            r.notes.push(adoption_note(&st));
        }
        plan.adopted.insert(name, st);
    }
    Ok(plan)
}

/// Recipes without state whose images the cloud holds (found by their tags): their state rebuilt
/// from the tags, so the plan builds nothing twice. `recipe state import` saves the same. Images of
/// `unfinished` builds (applies that died) are not adopted: the next apply resumes or sweeps them.
pub fn adopt(
    set: &RecipeSet,
    mut state: BTreeMap<String, Stored>,
    obs: &Observations,
    unfinished: &std::collections::BTreeSet<String>,
) -> (
    BTreeMap<String, Stored>,
    BTreeMap<String, recipe_state::RecipeState>,
) {
    let mut adopted = BTreeMap::new();
    for r in &set.recipes {
        let name = &r.recipe.name.value;
        let empty = state.get(name).is_none_or(|s| s.state.versions.is_empty());
        let finished: Vec<ObservedImage> = obs
            .images
            .get(name)
            .into_iter()
            .flatten()
            .filter(|i| !unfinished.contains(&i.build_id))
            .cloned()
            .collect();
        if empty && !finished.is_empty() {
            let rebuilt = rebuild_state(name, r.recipe.target.value, &finished);
            let revision = state.get(name).map_or_else(
                || recipe_state::Revision(String::new()),
                |s| s.revision.clone(),
            );
            let stored = Stored {
                revision,
                state: rebuilt.clone(),
            };
            state.insert(name.clone(), stored);
            adopted.insert(name.clone(), rebuilt);
        }
    }
    (state, adopted)
}

fn adoption_note(st: &recipe_state::RecipeState) -> String {
    let versions: Vec<String> = st
        .versions
        .iter()
        .map(|v| format!("{} ({})", v.version, v.build_id))
        .collect();
    format!(
        "no state yet: adopted {} found by their tags ({}); apply records them, or `recipe state import` does now",
        if versions.len() == 1 {
            "1 version"
        } else {
            "these versions"
        },
        versions.join(", ")
    )
}
