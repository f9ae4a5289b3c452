//! The planner's view of AppStream: the recipes' images found by their `recipe:*` tags in the build
//! and distribution regions (one DescribeImages listing per region, ListTagsForResource per owned
//! image), their permissions, the image each listed fleet runs, the images fleets use, and a newer
//! AWS release of a public base.

use std::collections::BTreeMap;

use recipe_loader::LoadedRecipe;
use recipe_plan::{Observations, ObserveError, ObservedRollout, RolloutTarget};
use recipe_ssm::Observing;
use recipe_state::RecipeState;

use crate::AppstreamProvider;

/// Observe the `appstream` recipes.
pub(crate) async fn observe(
    p: &AppstreamProvider,
    recipes: &[&LoadedRecipe],
    state: &BTreeMap<String, RecipeState>,
) -> Result<Observations, ObserveError> {
    p.observe_each(
        (recipes, state),
        |o, obs| Box::pin(observe_recipe(p, o, obs)),
        |region, obs| Box::pin(observe_region(p, region, obs)),
    )
    .await
}

/// What an observing step hands back.
type Res = Result<Observations, ObserveError>;

/// One recipe: its builder's network and role, its fleets, whether AppStream has an update for
/// it (managed update), and a newer AWS release of its base.
async fn observe_recipe(p: &AppstreamProvider, o: Observing<'_>, mut obs: Observations) -> Res {
    let (r, name, home) = (o.r, o.name, o.home.as_str());
    obs.add_problems(
        name,
        crate::preflight::problems(&p.ec2(home), r, home).await,
    );
    obs.add_problems(name, crate::preflight::role(&p.iam(), r).await);
    let listed = r
        .recipe
        .rollout
        .iter()
        .flat_map(|ro| ro.value.fleets.iter());
    let mut rollouts = Vec::new();
    for fleet in listed {
        let found = crate::rollout::describe_fleet(&p.appstream(home), &fleet.value).await?;
        rollouts.push(ObservedRollout {
            target: RolloutTarget::new(recipe_targets::FLEET, &fleet.value),
            region: None,
            image: found.and_then(|f| f.image_name().map(str::to_string)),
        });
    }
    if !rollouts.is_empty() {
        obs.rollouts.insert(name.to_string(), rollouts);
    }
    if recipe_targets::managed_update(&r.recipe) {
        let source = crate::image::update_source(r, o.current, home);
        if crate::image::can_update(&p.appstream(home), &source, name).await? {
            obs.updates.insert(name.to_string());
        }
    }
    if let Some(base) = r
        .recipe
        .base
        .declared(recipe_model::BaseKind::of(&recipe_targets::IMAGE_BASE))
        && let Some(newer) = crate::image::newer_release(&p.appstream(home), &base.value).await?
    {
        let advice = format!(
            "AWS published {newer}, newer than this recipe's base: set `base` to it to build on it"
        );
        obs.newer_bases.insert(name.to_string(), advice);
    }
    Ok(obs)
}

/// The owned images of `region` that carry a recipe's tags, and the images fleets there use.
async fn observe_region(p: &AppstreamProvider, region: String, mut obs: Observations) -> Res {
    let (client, region) = (p.appstream(&region), region.as_str());
    for img in crate::image::owned_images(&client).await? {
        observe_image(&client, region, &img, &mut obs).await?;
    }
    let fleets = crate::rollout::fleets(&client).await?;
    obs.in_use.extend(
        fleets
            .iter()
            .filter_map(|f| f.image_name())
            .map(str::to_string),
    );
    Ok(obs)
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
    let Some((recipe, mut seen)) = recipe_ssm::tagged_image(&tags, region, name) else {
        return Ok(());
    };
    let Some(list) = obs.images.get_mut(&recipe) else {
        return Ok(());
    };
    seen.shares = crate::image::shared_with(client, name)
        .await?
        .into_iter()
        .collect();
    seen.shares_observed = true;
    let created = img
        .created_time()
        .map(|t| jiff::Timestamp::from_second(t.secs()));
    seen.created_at = created.and_then(Result::ok);
    list.push(seen);
    Ok(())
}
