//! The planner's view of AppStream: the recipes' images found by their `recipe:*` tags in the build
//! and distribution regions (one DescribeImages listing per region, ListTagsForResource per owned
//! image), their permissions, the image each listed fleet runs, the images fleets use, and a newer
//! AWS release of a public base.

use std::collections::{BTreeMap, BTreeSet};

use recipe_loader::LoadedRecipe;
use recipe_plan::{Observations, ObserveError, ObservedImage, ObservedRollout, RolloutTarget};
use recipe_state::RecipeState;

use crate::AppstreamProvider;

/// Observe the `appstream` recipes.
pub(crate) async fn observe(
    p: &AppstreamProvider,
    recipes: &[&LoadedRecipe],
    state: &BTreeMap<String, RecipeState>,
) -> Result<Observations, ObserveError> {
    let mut obs = Observations::default();
    let mut regions: BTreeSet<String> = BTreeSet::new();
    for r in recipes {
        let (name, home) = (r.recipe.name.value.clone(), p.home(r));
        let network = crate::preflight::problems(&p.ec2(&home), r, &home).await;
        obs.add_problems(&name, network);
        obs.add_problems(&name, crate::preflight::role(&p.iam(), r).await);
        obs.add_problems(&name, p.common_problems(r, &home).await);
        regions.extend(r.recipe.image_regions(&home));
        let listed = r
            .recipe
            .rollout
            .iter()
            .flat_map(|ro| ro.value.fleets.iter());
        let mut rollouts = Vec::new();
        for fleet in listed {
            let found = crate::rollout::describe_fleet(&p.appstream(&home), &fleet.value).await?;
            rollouts.push(ObservedRollout {
                target: RolloutTarget::Fleet(fleet.value.clone()),
                region: None,
                image: found.and_then(|f| f.image_name().map(str::to_string)),
            });
        }
        if !rollouts.is_empty() {
            obs.rollouts.insert(name.clone(), rollouts);
        }
        if r.recipe.managed_update() {
            let current = state.get(&name).and_then(|s| s.current());
            let source = crate::image::update_source(r, current, &home);
            if crate::image::can_update(&p.appstream(&home), &source, &name).await? {
                obs.updates.insert(name.clone());
            }
        }
        if let recipe_model::Base::AppstreamImage(base) = &r.recipe.base.value
            && let Some(newer) =
                crate::image::newer_release(&p.appstream(&home), &base.value).await?
        {
            let advice = format!(
                "AWS published {newer}, newer than this recipe's base: set `base` to it to build on it"
            );
            obs.newer_bases.insert(name.clone(), advice);
        }
        obs.images.insert(name.clone(), Vec::new());
        obs.refreshed.insert(name);
    }
    for region in &regions {
        observe_region(p, region, &mut obs).await?;
    }
    Ok(obs)
}

/// The owned images of `region` that carry a recipe's tags, and the images fleets there use.
async fn observe_region(
    p: &AppstreamProvider,
    region: &str,
    obs: &mut Observations,
) -> Result<(), ObserveError> {
    let client = p.appstream(region);
    for img in crate::image::owned_images(&client).await? {
        observe_image(&client, region, &img, obs).await?;
    }
    let fleets = crate::rollout::fleets(&client).await?;
    obs.in_use.extend(
        fleets
            .iter()
            .filter_map(|f| f.image_name())
            .map(str::to_string),
    );
    Ok(())
}

/// One owned image, kept if it carries a recipe's tags, with the accounts it is shared with.
async fn observe_image(
    client: &aws_sdk_appstream::Client,
    region: &str,
    img: &aws_sdk_appstream::types::Image,
    obs: &mut Observations,
) -> Result<(), ObserveError> {
    let (Some(name), Some(arn)) = (img.name(), img.arn()) else {
        return Ok(());
    };
    let tags = crate::image::tags_of(client, arn).await?;
    let get = |k: &str| tags.get(k).cloned();
    let (Some(recipe), Some(build_id)) =
        (get(recipe_aws::tags::NAME), get(recipe_aws::tags::BUILD_ID))
    else {
        return Ok(());
    };
    let Some(list) = obs.images.get_mut(&recipe) else {
        return Ok(());
    };
    list.push(ObservedImage {
        build_id,
        region: region.to_string(),
        image_id: name.to_string(),
        shares: crate::image::shared_with(client, name)
            .await?
            .into_iter()
            .collect(),
        shares_observed: true,
        version: get(recipe_aws::tags::VERSION).unwrap_or_default(),
        fingerprint: get(recipe_aws::tags::FINGERPRINT).unwrap_or_default(),
        created_at: img
            .created_time()
            .and_then(|t| jiff::Timestamp::from_second(t.secs()).ok()),
    });
    Ok(())
}
