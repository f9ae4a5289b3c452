//! The planner's view of WorkSpaces: the recipes' images found by their `recipe:*` tags in the build
//! and distribution regions (one DescribeWorkspaceImages listing per region, DescribeTags per owned
//! image), their permissions, the image each recipe's bundle holds, the images bundles use, and an
//! AWS update of a public base bundle.

use std::collections::BTreeMap;

use recipe_aws::Context;
use recipe_loader::LoadedRecipe;
use recipe_plan::{Observations, ObserveError, ObservedRollout, RolloutTarget};
use recipe_ssm::Observing;
use recipe_state::RecipeState;

use crate::WorkspacesProvider;

/// What an observing step hands back.
type Res = Result<Observations, ObserveError>;

/// Observe the `workspaces` recipes. A Windows recipe's current build is looked for among the
/// regions' images too.
pub(crate) async fn observe(
    p: &WorkspacesProvider,
    recipes: &[&LoadedRecipe],
    state: &BTreeMap<String, RecipeState>,
) -> Result<Observations, ObserveError> {
    let windows = recipes
        .iter()
        .filter(|r| r.recipe.os.value == recipe_model::Os::Windows);
    let current: BTreeMap<String, String> = windows
        .filter_map(|r| {
            let name = &r.recipe.name.value;
            let v = state.get(name)?.current()?;
            Some((name.clone(), v.build_id.clone()))
        })
        .collect();
    let current = &current;
    p.observe_each(
        (recipes, state),
        |o, obs| Box::pin(observe_recipe(p, o, obs)),
        |at, obs| Box::pin(observe_region(p, at, current, obs)),
    )
    .await
}

/// One recipe: the preflight, its bundle in each region with the WorkSpaces a rollout would
/// rebuild, and an AWS update of its base bundle.
async fn observe_recipe(p: &WorkspacesProvider, o: Observing<'_>, mut obs: Observations) -> Res {
    let (r, name, home) = (o.r, o.name.to_string(), o.home.as_str());
    let found = crate::preflight::problems(&p.workspaces(home), r, home).await;
    obs.add_problems(&name, found);
    if let Some(b) = recipe_targets::BUNDLE_OF.of(&r.recipe.sections) {
        let rollouts = observe_bundles(p, home, b).await?;
        if let Some(n) = rebuild_count_at_home(p, r, home).await? {
            obs.rebuilds.insert(name.clone(), n);
        }
        obs.rollouts.insert(name.clone(), rollouts);
    }
    if let Some(bundle) =
        (r.recipe.base).declared(recipe_model::BaseKind::of(&recipe_targets::BUNDLE_BASE))
        && let Some(built) = o.current
        && let Some(advice) = bundle_update(p, home, &bundle.value, built).await?
    {
        obs.newer_bases.insert(name, advice);
    }
    Ok(obs)
}

/// The recipe's bundle in the build region and in each of `bundle.regions`, with the image each
/// holds.
async fn observe_bundles(
    p: &WorkspacesProvider,
    home: &str,
    b: &recipe_targets::Bundle,
) -> Result<Vec<ObservedRollout>, ObserveError> {
    let mut regions = vec![home.to_string()];
    regions.extend(b.regions.iter().map(|x| x.value.clone()));
    regions.dedup();
    let mut out = Vec::new();
    for region in regions {
        let found = crate::rollout::bundle_named(&p.workspaces(&region), &b.name.value)
            .await
            .map_err(|e| {
                ObserveError::new("DescribeWorkspaceBundles (workspaces)", e.message.clone())
                    .caused_by(e)
            })?;
        out.push(ObservedRollout {
            target: RolloutTarget::new(recipe_targets::BUNDLE, &b.name.value),
            region: (region != home).then_some(region),
            image: found.and_then(|(_, img)| img),
        });
    }
    Ok(out)
}

/// How many WorkSpaces on the build region's bundle a rollout would rebuild (`None`: the recipe
/// rebuilds none).
async fn rebuild_count_at_home(
    p: &WorkspacesProvider,
    r: &LoadedRecipe,
    home: &str,
) -> Result<Option<usize>, ObserveError> {
    let ro = r.recipe.rollout.as_ref();
    if ro.is_none_or(|ro| recipe_targets::REBUILD_OF.of(&ro.value.sections).is_none()) {
        return Ok(None);
    }
    let Some(b) = recipe_targets::BUNDLE_OF.of(&r.recipe.sections) else {
        return Ok(None);
    };
    let client = p.workspaces(home);
    let found = crate::rollout::bundle_named(&client, &b.name.value)
        .await
        .map_err(|e| {
            ObserveError::new("DescribeWorkspaceBundles (workspaces)", e.message.clone())
                .caused_by(e)
        })?;
    match found {
        Some((id, _)) => rebuild_count(&client, &id, r).await.map(Some),
        None => Ok(Some(0)),
    }
}

/// How many WorkSpaces on `bundle` carry the recipe's rebuild tags.
async fn rebuild_count(
    client: &aws_sdk_workspaces::Client,
    bundle: &str,
    r: &LoadedRecipe,
) -> Result<usize, ObserveError> {
    let ro = r.recipe.rollout.as_ref();
    let Some(rw) = ro.and_then(|ro| recipe_targets::REBUILD_OF.of(&ro.value.sections)) else {
        return Ok(0);
    };
    let tagged: std::collections::BTreeMap<String, String> = (rw.value.tagged.iter())
        .map(|(k, v)| (k.clone(), v.value.clone()))
        .collect();
    let all = crate::poll::all_workspaces(client.describe_workspaces().bundle_id(bundle)).await?;
    let mut n = 0;
    for w in &all {
        let Some(id) = w.workspace_id() else { continue };
        let carries = crate::sweep::has_tags(client, id, &tagged)
            .await
            .map_err(|e| {
                ObserveError::new("DescribeTags (workspaces)", e.message.clone()).caused_by(e)
            })?;
        n += usize::from(carries);
    }
    Ok(n)
}

/// The owned images of `region` that carry a recipe's tags, and the images bundles there use.
/// `current`: the current build of each Windows recipe, whose home image may have updates (only
/// Windows images can be updated by the service).
async fn observe_region(
    p: &WorkspacesProvider,
    region: String,
    current: &BTreeMap<String, String>,
    mut obs: Observations,
) -> Res {
    let (client, region) = (p.workspaces(&region), region.as_str());
    for img in crate::image::owned_images(&client).await? {
        observe_image(&client, region, &img, current, &mut obs).await?;
    }
    let bundles = crate::rollout::owned_bundles(&client).await?;
    let used = bundles
        .iter()
        .filter_map(|b| b.image_id())
        .map(str::to_string);
    obs.in_use.extend(used);
    Ok(obs)
}

/// One owned image: kept if it carries a recipe's tags (and is not a build's imported base), with its
/// permissions; an update for a current Windows image is noted.
async fn observe_image(
    client: &aws_sdk_workspaces::Client,
    region: &str,
    img: &aws_sdk_workspaces::types::WorkspaceImage,
    current: &BTreeMap<String, String>,
    obs: &mut Observations,
) -> Result<(), ObserveError> {
    let Some(id) = img.image_id() else {
        return Ok(());
    };
    let tags = crate::sweep::tags(client, id).await?;
    let Some((recipe, mut seen)) = recipe_ssm::tagged_image(&tags, region, id) else {
        return Ok(());
    };
    if tags.get(recipe_aws::tags::ROLE).map(String::as_str) == Some("builder") {
        return Ok(()); // a build's imported base, not one of its images
    }
    let update = img.updates().and_then(|u| u.update_available()) == Some(true);
    if update && current.get(&recipe) == Some(&seen.build_id) {
        obs.updates.insert(recipe.clone());
    }
    let Some(list) = obs.images.get_mut(&recipe) else {
        return Ok(());
    };
    let perms = client
        .describe_workspace_image_permissions()
        .image_id(id)
        .send()
        .await;
    let perms = perms.ctx("workspaces", "DescribeWorkspaceImagePermissions")?;
    let shared = perms
        .image_permissions()
        .iter()
        .filter_map(|p| p.shared_account_id());
    seen.shares = shared.map(str::to_string).collect();
    seen.shares_observed = true;
    seen.created_at = img
        .created()
        .and_then(|t| jiff::Timestamp::from_second(t.secs()).ok());
    list.push(seen);
    Ok(())
}

/// AWS updates its public bundles' images in place: when the recipe's base bundle is one of AWS's
/// and was updated after `built` was made (`LastUpdatedTime`, DescribeWorkspaceBundles), what to do.
async fn bundle_update(
    p: &WorkspacesProvider,
    home: &str,
    bundle: &str,
    built: &recipe_state::ImageVersion,
) -> Result<Option<String>, ObserveError> {
    let out = p
        .workspaces(home)
        .describe_workspace_bundles()
        .bundle_ids(bundle)
        .send()
        .await
        .ctx("workspaces", "DescribeWorkspaceBundles")?;
    let Some(b) = out
        .bundles()
        .first()
        .filter(|b| b.owner() == Some("AMAZON"))
    else {
        return Ok(None);
    };
    let updated = b.last_updated_time().map(|t| t.secs()).unwrap_or_default();
    if updated <= built.created_at.as_second() {
        return Ok(None);
    }
    let image = b.image_id().unwrap_or("a new image");
    Ok(Some(format!(
        "AWS updated bundle {bundle} to {image} after version {} was built from it: bump `version` (or set `retain.max-age`) to build on it",
        built.version
    )))
}
