//! The planner's view of EC2: bases resolved, the recipes' images found by their tags (one
//! DescribeImages per region for every recipe there), the current version's launch permissions, and
//! the images in use.

use std::collections::{BTreeMap, BTreeSet};

use recipe_aws::Context;
use recipe_loader::LoadedRecipe;
use recipe_model::Base;
use recipe_plan::{Observations, ObserveError, ObservedImage, ObservedRollout, RolloutTarget};
use recipe_state::RecipeState;

use crate::{Ec2Provider, filter, images_in_use, tag_value};

/// Observe the `ec2-ami` recipes.
pub(crate) async fn observe(
    p: &Ec2Provider,
    recipes: &[&LoadedRecipe],
    state: &BTreeMap<String, RecipeState>,
) -> Result<Observations, ObserveError> {
    let mut obs = Observations::default();
    // The recipes to look for in each region (their build region and distribution regions).
    let mut by_region: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut seen = crate::preflight::Seen::default();
    for r in recipes {
        let (name, home) = (r.recipe.name.value.clone(), p.home(r));
        let found = crate::preflight::problems(p, r, &home, &mut seen).await;
        obs.add_problems(&name, found);
        obs.add_problems(&name, p.common_problems(r, &home).await);
        if let Base::SsmParameter(param) = &r.recipe.base.value
            && let Some(id) = ssm_base(p, &home, &param.value).await?
        {
            obs.bases.insert(name.clone(), id);
        }
        for region in r.recipe.image_regions(&home) {
            by_region.entry(region).or_default().push(name.clone());
        }
        if state.get(&name).and_then(|s| s.current()).is_some() {
            let mut found = Vec::new();
            for region in r.recipe.rollout_regions(&home) {
                let at = (region != home).then(|| region.clone());
                found.extend(rollouts(p, r, &region, at).await?);
            }
            if !found.is_empty() {
                obs.rollouts.insert(name.clone(), found);
            }
        }
        obs.images.insert(name.clone(), Vec::new());
        obs.refreshed.insert(name);
    }
    for (region, names) in &by_region {
        observe_region(p, region, names, state, &mut obs).await?;
    }
    builder_room(p, recipes).await;
    Ok(obs)
}

/// The room the account's vCPU quota leaves for builders in each build region, for the apply's
/// builder limit: the least over the builder types built there (`quota.rs`).
async fn builder_room(p: &Ec2Provider, recipes: &[&LoadedRecipe]) {
    let mut types: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in recipes {
        let t = r.recipe.builder.instance_type.as_ref();
        let t = t.map_or(crate::DEFAULT_INSTANCE_TYPE, |t| t.value.as_str());
        types.entry(p.home(r)).or_default().push(t.to_string());
    }
    for (region, mut kinds) in types {
        kinds.sort();
        kinds.dedup();
        let mut least: Option<usize> = None;
        for k in &kinds {
            if let Some(n) = crate::quota::room(p, &region, k).await {
                least = Some(least.map_or(n, |l| l.min(n)));
            }
        }
        let mut room = p
            .room
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match least {
            Some(n) => room.insert(region, n),
            None => room.remove(&region),
        };
    }
}

/// What the recipe's rollout targets (SSM parameter, launch templates' default versions) point at in
/// `region` (`at`: the region as the plan names it, `None` for the build region).
async fn rollouts(
    p: &Ec2Provider,
    r: &LoadedRecipe,
    region: &str,
    at: Option<String>,
) -> Result<Vec<ObservedRollout>, ObserveError> {
    let mut out = Vec::new();
    let Some(ro) = &r.recipe.rollout else {
        return Ok(out);
    };
    if let Some(param) = &ro.value.ssm_parameter {
        let got = p
            .ssm(region)
            .get_parameter()
            .name(&param.value)
            .send()
            .await;
        let image = match got.ctx("ssm", "GetParameter") {
            Ok(v) => v.parameter().and_then(|p| p.value()).map(str::to_string),
            Err(e) if e.is("ParameterNotFound") => None,
            Err(e) => return Err(e.into()),
        };
        let target = RolloutTarget::new(recipe_targets::SSM_PARAMETER, &param.value);
        out.push(ObservedRollout {
            target,
            region: at.clone(),
            image,
        });
    }
    for t in &ro.value.launch_templates {
        let got = p
            .ec2(region)
            .describe_launch_template_versions()
            .launch_template_name(&t.value)
            .versions("$Default")
            .send()
            .await;
        let image = match got.ctx("ec2", "DescribeLaunchTemplateVersions") {
            Ok(v) => v
                .launch_template_versions()
                .first()
                .and_then(|v| v.launch_template_data())
                .and_then(|d| d.image_id())
                .map(str::to_string),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e.into()),
        };
        let target = RolloutTarget::new(recipe_targets::LAUNCH_TEMPLATE, &t.value);
        out.push(ObservedRollout {
            target,
            region: at.clone(),
            image,
        });
    }
    Ok(out)
}

/// The value of a recipe's SSM-parameter base; a missing parameter is named.
async fn ssm_base(
    p: &Ec2Provider,
    region: &str,
    param: &str,
) -> Result<Option<String>, ObserveError> {
    let got = p.ssm(region).get_parameter().name(param).send().await;
    let got = got.ctx("ssm", "GetParameter").map_err(|e| {
        if e.is("ParameterNotFound") {
            e.with_help(format!(
                "the base names the SSM parameter `{param}`, which does not exist in {region}: check its name, or the recipe's builder.region"
            ))
        } else {
            e
        }
    })?;
    Ok(got.parameter().and_then(|p| p.value()).map(str::to_string))
}

/// One DescribeImages for every recipe in `region` (200 names per filter), then one in-use check for
/// all their images.
async fn observe_region(
    p: &Ec2Provider,
    region: &str,
    names: &[String],
    state: &BTreeMap<String, RecipeState>,
    obs: &mut Observations,
) -> Result<(), ObserveError> {
    let ec2 = p.ec2(region);
    let mut ids = Vec::new();
    for chunk in names.chunks(200) {
        let found = ec2
            .describe_images()
            .owners("self")
            .filters(filter("tag:recipe:name", chunk))
            .send()
            .await
            .ctx("ec2", "DescribeImages")?;
        for img in found.images() {
            let seen = observed(&ec2, region, img, state).await?;
            ids.push(seen.1.image_id.clone());
            obs.images.entry(seen.0).or_default().push(seen.1);
        }
    }
    let users = images_in_use(&ec2, &ids).await.map_err(|e| {
        ObserveError::new(
            format!("what uses the recipes' images in {region}"),
            e.message.clone(),
        )
        .caused_by(e)
    })?;
    obs.in_use.extend(users.into_keys());
    Ok(())
}

/// One image as the planner sees it; launch permissions are read for the current version only.
async fn observed(
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    img: &aws_sdk_ec2::types::Image,
    state: &BTreeMap<String, RecipeState>,
) -> Result<(String, ObservedImage), ObserveError> {
    let tag = |k: &str| tag_value(img.tags(), k).unwrap_or_default();
    let name = tag(recipe_aws::tags::NAME);
    let build_id = tag(recipe_aws::tags::BUILD_ID);
    let image_id = img.image_id().unwrap_or_default().to_string();
    let current = state
        .get(&name)
        .and_then(|s| s.current())
        .is_some_and(|c| c.build_id == build_id);
    let shares = if current {
        launch_permissions(ec2, &image_id).await?
    } else {
        BTreeSet::new()
    };
    let seen = ObservedImage {
        build_id,
        region: region.to_string(),
        image_id,
        shares_observed: current,
        shares,
        version: tag(recipe_aws::tags::VERSION),
        fingerprint: tag(recipe_aws::tags::FINGERPRINT),
        created_at: img.creation_date().and_then(|d| d.parse().ok()),
    };
    Ok((name, seen))
}

/// Who may launch an image: account ids, organization and OU ARNs, `all`.
async fn launch_permissions(
    client: &aws_sdk_ec2::Client,
    image: &str,
) -> Result<BTreeSet<String>, ObserveError> {
    let attr = client
        .describe_image_attribute()
        .image_id(image)
        .attribute(aws_sdk_ec2::types::ImageAttributeName::LaunchPermission)
        .send()
        .await
        .ctx("ec2", "DescribeImageAttribute")?;
    Ok(attr
        .launch_permissions()
        .iter()
        .filter_map(|p| {
            p.user_id()
                .or(p.organization_arn())
                .or(p.organizational_unit_arn())
                .or(p.group().map(|g| g.as_str()))
                .map(str::to_string)
        })
        .collect())
}
