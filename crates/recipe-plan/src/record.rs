//! Turning an apply's outcomes into state: a pure function of the plan, what succeeded, the typed
//! outputs and the state before.

use std::collections::{BTreeMap, BTreeSet};

use recipe_state::{ImageVersion, ParentRef, RecipeState, RegionImage, Share, VersionStatus};

use crate::action::{Action, ActionKind};
use crate::outputs::Outputs;
use crate::plan::{Change, Plan, RecipePlan};

/// What an apply did: the actions that succeeded (this run or a resumed one) and what they made.
#[derive(Clone, Copy, Debug)]
pub struct Applied<'a> {
    /// Ids of the actions that succeeded.
    pub succeeded: &'a BTreeSet<usize>,
    /// Their outputs.
    pub outputs: &'a Outputs,
    /// When the apply ended.
    pub now: jiff::Timestamp,
}

impl Applied<'_> {
    fn done<'p>(&self, plan: &'p Plan, recipe: &str) -> impl Iterator<Item = &'p Action> {
        let succeeded = self.succeeded;
        let recipe = recipe.to_string();
        plan.actions
            .iter()
            .filter(move |a| a.recipe == recipe && succeeded.contains(&a.id))
    }
}

/// The state to save for every recipe the plan changes, parents first: `before` (what was read under
/// the locks) with the new version, copies, shares, rollouts, retirements and deprecations that
/// succeeded. A build whose image never became available is recorded as failed, without images (the
/// apply discards them).
pub fn record(
    plan: &Plan,
    applied: &Applied<'_>,
    before: &BTreeMap<String, RecipeState>,
) -> Vec<RecipeState> {
    let mut saved: Vec<RecipeState> = Vec::new();
    for rp in plan.recipes.iter().filter(|r| r.change != Change::None) {
        let parent = parent_ref(rp, &saved, before);
        saved.push(next_state(plan, rp, applied, before, parent));
    }
    saved
}

/// The state to save for one recipe, as [`record`] gives it, when its actions are done before the
/// rest of the plan's (state is saved per recipe as each finishes). `None` when the plan does not
/// change it.
pub fn record_recipe(
    plan: &Plan,
    applied: &Applied<'_>,
    before: &BTreeMap<String, RecipeState>,
    recipe: &str,
) -> Option<RecipeState> {
    let rp = plan
        .recipes
        .iter()
        .find(|r| r.recipe == recipe && r.change != Change::None)?;
    let parent_name = rp.build.as_ref().and_then(|b| b.parent.as_ref());
    let parent_state: Vec<RecipeState> = parent_name
        .and_then(|p| record_recipe(plan, applied, before, p))
        .into_iter()
        .collect();
    let parent = parent_ref(rp, &parent_state, before);
    Some(next_state(plan, rp, applied, before, parent))
}

fn next_state(
    plan: &Plan,
    rp: &RecipePlan,
    applied: &Applied<'_>,
    before: &BTreeMap<String, RecipeState>,
    parent: Option<ParentRef>,
) -> RecipeState {
    let mut state = before
        .get(&rp.recipe)
        .cloned()
        .unwrap_or_else(|| RecipeState::new(rp.recipe.clone()));
    if rp.build.is_some() {
        state
            .versions
            .push(built_version(plan, rp, applied, parent));
    } else if let Some(cur) = state.versions.iter_mut().rev().find(|v| v.status.is_live()) {
        update_current(cur, applied.done(plan, &rp.recipe), &rp.recipe, applied);
    }
    age(&mut state, applied.done(plan, &rp.recipe), applied.now);
    state
}

/// The parent's version a layered build starts from: the one this apply recorded, else the current.
fn parent_ref(
    rp: &RecipePlan,
    saved: &[RecipeState],
    before: &BTreeMap<String, RecipeState>,
) -> Option<ParentRef> {
    let p = rp.build.as_ref()?.parent.as_ref()?;
    let state = saved
        .iter()
        .find(|s| s.recipe == *p)
        .or_else(|| before.get(p))?;
    state.current().map(|v| ParentRef {
        recipe: p.clone(),
        build_id: v.build_id.clone(),
    })
}

fn built_version(
    plan: &Plan,
    rp: &RecipePlan,
    applied: &Applied<'_>,
    parent: Option<ParentRef>,
) -> ImageVersion {
    let b = rp.build.as_ref().expect("a build");
    let out = applied.outputs.of(&rp.recipe).cloned().unwrap_or_default();
    let images: BTreeMap<String, RegionImage> = b
        .regions
        .iter()
        .filter_map(|r| {
            let id = out.images.get(r)?;
            Some((
                r.clone(),
                RegionImage {
                    image_id: id.clone(),
                    snapshot_ids: out.snapshots.get(r).cloned().unwrap_or_default(),
                },
            ))
        })
        .collect();
    let done: Vec<&Action> = applied.done(plan, &rp.recipe).collect();
    let available = done.iter().any(|a| a.action == ActionKind::WaitAvailable);
    // The images of a build that did not finish are discarded by the apply, not kept under it.
    let images = if available { images } else { BTreeMap::new() };
    let base_image = match (&b.parent, &out.base) {
        (None, Some(resolved)) => resolved.clone(),
        _ => b.base.clone(),
    };
    ImageVersion {
        build_id: b.build_id.clone(),
        version: b.version.clone(),
        target: rp.target,
        fingerprint: rp.fingerprint.clone(),
        fingerprint_parts: rp.fingerprint_parts.clone(),
        base_image,
        parent,
        status: if available {
            VersionStatus::Available
        } else {
            VersionStatus::Failed
        },
        home_region: b.home_region.clone(),
        images,
        shares: done.iter().flat_map(|a| shares_of(&a.action)).collect(),
        rollout: done
            .iter()
            .filter_map(|a| match &a.action {
                ActionKind::Rollout { target, region } => Some(rollout_shown(target, region)),
                _ => None,
            })
            .collect(),
        created_at: plan.created_at,
        updated_at: plan.created_at,
        deprecated_at: None,
        image_tags: Some(b.image_tags.clone()),
    }
}

/// The shares a share action granted.
fn shares_of(kind: &ActionKind) -> Vec<Share> {
    match kind {
        ActionKind::Share {
            principals,
            region,
            fleet,
            image_builder,
        } => principals
            .iter()
            .map(|principal| Share {
                principal: principal.clone(),
                region: region.clone(),
                fleet: fleet.contains(principal),
                image_builder: image_builder.contains(principal),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Copies, shares and tags of the current version, when there was no build.
fn update_current<'p>(
    cur: &mut ImageVersion,
    done: impl Iterator<Item = &'p Action>,
    recipe: &str,
    applied: &Applied<'_>,
) {
    for a in done {
        match &a.action {
            ActionKind::Copy { region } => {
                if let Some(id) = applied.outputs.image(recipe, region) {
                    cur.images.insert(
                        region.clone(),
                        RegionImage {
                            image_id: id.to_string(),
                            snapshot_ids: applied.outputs.snapshots(recipe, region).to_vec(),
                        },
                    );
                }
            }
            ActionKind::RemoveCopy { region, .. } => {
                cur.images.remove(region);
                cur.shares.retain(|s| s.region != *region);
            }
            ActionKind::Share { .. } => {
                cur.shares.extend(shares_of(&a.action));
            }
            ActionKind::Unshare { principals, region } => cur
                .shares
                .retain(|s| !(principals.contains(&s.principal) && s.region == *region)),
            ActionKind::Retag { tags, .. } => cur.image_tags = Some(tags.clone()),
            ActionKind::Rollout { target, region } => {
                let shown = rollout_shown(target, region);
                if !cur.rollout.contains(&shown) {
                    cur.rollout.push(shown);
                }
            }
            _ => {}
        }
    }
    cur.updated_at = applied.now;
}

/// Retirements and deprecations that succeeded.
fn age<'p>(state: &mut RecipeState, done: impl Iterator<Item = &'p Action>, now: jiff::Timestamp) {
    for a in done {
        let (build_id, status) = match &a.action {
            ActionKind::Retire { build_id, .. } => (build_id, VersionStatus::Retired),
            ActionKind::Deprecate { build_id } => (build_id, VersionStatus::Deprecated),
            _ => continue,
        };
        if let Some(v) = state.versions.iter_mut().find(|v| v.build_id == *build_id) {
            v.status = status;
            if status == VersionStatus::Deprecated {
                v.deprecated_at = Some(now);
            }
        }
    }
}

/// How state records a rollout: the target, and its region when not the build region.
fn rollout_shown(target: &crate::RolloutTarget, region: &Option<String>) -> String {
    match region {
        Some(r) => format!("{target} in {r}"),
        None => target.to_string(),
    }
}
