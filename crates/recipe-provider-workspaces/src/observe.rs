//! The planner's view of WorkSpaces: the recipes' images found by their `recipe:*` tags in the build
//! and distribution regions (one DescribeWorkspaceImages listing per region, DescribeTags per owned
//! image), their permissions, the image each recipe's bundle holds, the images bundles use, and an
//! AWS update of a public base bundle.

use std::collections::{BTreeMap, BTreeSet};

use recipe_aws::Context;
use recipe_loader::LoadedRecipe;
use recipe_plan::{Observations, ObserveError, ObservedImage, ObservedRollout, RolloutTarget};
use recipe_state::RecipeState;

use crate::WorkspacesProvider;

/// Observe the `workspaces` recipes.
pub(crate) async fn observe(
    p: &WorkspacesProvider,
    recipes: &[&LoadedRecipe],
    state: &BTreeMap<String, RecipeState>,
) -> Result<Observations, ObserveError> {
    let mut obs = Observations::default();
    let mut regions: BTreeSet<String> = BTreeSet::new();
    for r in recipes {
        let (name, home) = (r.recipe.name.value.clone(), p.home(r));
        obs.add_problems(&name, p.common_problems(r, &home).await);
        let ws = p.workspaces(&home);
        obs.add_problems(&name, crate::preflight::problems(&ws, r, &home).await);
        regions.extend(r.recipe.image_regions(&home));
        if let Some(b) = &r.recipe.bundle {
            let rollouts = observe_bundles(p, &home, b).await?;
            if let Some(n) = rebuild_count_at_home(p, r, &home).await? {
                obs.rebuilds.insert(name.clone(), n);
            }
            obs.rollouts.insert(name.clone(), rollouts);
        }
        if let recipe_model::Base::Bundle(bundle) = &r.recipe.base.value
            && let Some(built) = state.get(&name).and_then(|s| s.current())
            && let Some(advice) = bundle_update(p, &home, &bundle.value, built).await?
        {
            obs.newer_bases.insert(name.clone(), advice);
        }
        obs.images.insert(name.clone(), Vec::new());
        obs.refreshed.insert(name);
    }
    let current: BTreeMap<String, String> = recipes
        .iter()
        .filter(|r| r.recipe.os.value == recipe_model::Os::Windows)
        .filter_map(|r| {
            let name = &r.recipe.name.value;
            let v = state.get(name)?.current()?;
            Some((name.clone(), v.build_id.clone()))
        })
        .collect();
    for region in &regions {
        observe_region(p, region, &current, &mut obs).await?;
    }
    Ok(obs)
}

/// The recipe's bundle in the build region and in each of `bundle.regions`, with the image each
/// holds.
async fn observe_bundles(
    p: &WorkspacesProvider,
    home: &str,
    b: &recipe_model::Bundle,
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
            target: RolloutTarget::Bundle(b.name.value.clone()),
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
    if ro.is_none_or(|ro| ro.value.rebuild_workspaces.is_none()) {
        return Ok(None);
    }
    let Some(b) = &r.recipe.bundle else {
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
    let Some(rw) = ro.and_then(|ro| ro.value.rebuild_workspaces.as_ref()) else {
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
    region: &str,
    current: &BTreeMap<String, String>,
    obs: &mut Observations,
) -> Result<(), ObserveError> {
    let client = p.workspaces(region);
    for img in crate::image::owned_images(&client).await? {
        observe_image(&client, region, &img, current, obs).await?;
    }
    let bundles = crate::rollout::owned_bundles(&client).await?;
    let used = bundles
        .iter()
        .filter_map(|b| b.image_id())
        .map(str::to_string);
    obs.in_use.extend(used);
    Ok(())
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
    let get = |k: &str| tags.get(k).cloned();
    let (Some(recipe), Some(build_id)) =
        (get(recipe_aws::tags::NAME), get(recipe_aws::tags::BUILD_ID))
    else {
        return Ok(());
    };
    if get(recipe_aws::tags::ROLE).as_deref() == Some("builder") {
        return Ok(()); // a build's imported base, not one of its images
    }
    let update = img.updates().and_then(|u| u.update_available()) == Some(true);
    if update && current.get(&recipe) == Some(&build_id) {
        obs.updates.insert(recipe.clone());
    }
    let Some(list) = obs.images.get_mut(&recipe) else {
        return Ok(());
    };
    let perms = client
        .describe_workspace_image_permissions()
        .image_id(id)
        .send()
        .await
        .ctx("workspaces", "DescribeWorkspaceImagePermissions")?;
    list.push(ObservedImage {
        build_id,
        region: region.to_string(),
        image_id: id.to_string(),
        shares: perms
            .image_permissions()
            .iter()
            .filter_map(|p| p.shared_account_id())
            .map(str::to_string)
            .collect(),
        shares_observed: true,
        version: get(recipe_aws::tags::VERSION).unwrap_or_default(),
        fingerprint: get(recipe_aws::tags::FINGERPRINT).unwrap_or_default(),
        created_at: img
            .created()
            .and_then(|t| jiff::Timestamp::from_second(t.secs()).ok()),
    });
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
