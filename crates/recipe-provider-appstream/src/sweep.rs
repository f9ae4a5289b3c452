//! What killed runs left: image builders (found by their `recipe:*` tags) with their activations and
//! managed nodes, and unrecorded images of abandoned builds.

use aws_sdk_appstream::types::ImageBuilderState;
use recipe_engine::{ActionError, ApplyContext, SweepLog, SweepRequest, Swept};

use crate::AppstreamProvider;
use crate::image::tags_of;

/// Sweep every recipe in the request: its builders, then its images of abandoned builds.
pub(crate) async fn sweep(p: &AppstreamProvider, cx: &ApplyContext, req: &SweepRequest) -> Swept {
    req.by_recipe(
        |recipe, log| async move { sweep_builders(p, cx, &recipe, req, &log).await },
        |recipe, region, log| async move { sweep_images(p, &recipe, &region, req, &log).await },
    )
    .await
}

/// The recipe's images in `region` made by builds of an interrupted apply that will not be resumed,
/// and that state does not record: deleted (permissions first).
async fn sweep_images(
    p: &AppstreamProvider,
    recipe: &str,
    region: &str,
    req: &SweepRequest,
    swept: &SweepLog,
) -> Result<(), ActionError> {
    let client = p.appstream(region);
    for img in crate::image::owned_images(&client).await? {
        let (Some(name), Some(arn)) = (img.name(), img.arn()) else {
            continue;
        };
        if req.recorded.contains(name) {
            continue;
        }
        let tags = tags_of(&client, arn).await?;
        if let Some(build) = req.abandoned_build(recipe, &tags) {
            crate::image::delete_image(p, region, name).await?;
            swept.image(recipe, name, region, build);
        }
    }
    Ok(())
}

/// The recipe's image builders of builds this apply does not run, unless kept for debugging.
async fn sweep_builders(
    p: &AppstreamProvider,
    cx: &ApplyContext,
    recipe: &str,
    req: &SweepRequest,
    swept: &SweepLog,
) -> Result<(), ActionError> {
    let region = cx.home_region(recipe)?;
    let client = p.appstream(&region);
    let found = crate::poll::builders(&client).await?;
    let found = found
        .iter()
        .filter(|b| b.state() != Some(&ImageBuilderState::Deleting));
    for (name, arn) in found.filter_map(|b| Some((b.name()?, b.arn()?))) {
        let tags = tags_of(&client, arn).await?;
        let get = |k: &str| tags.get(k).cloned();
        let (Some(owner), Some(build)) =
            (get(recipe_aws::tags::NAME), get(recipe_aws::tags::BUILD_ID))
        else {
            continue;
        };
        if owner != recipe
            || get(recipe_aws::tags::ROLE).as_deref() != Some("builder")
            || req.current.contains(&build)
            || get(recipe_aws::tags::KEEP).is_some()
        {
            continue;
        }
        recipe_ssm::hybrid::forget(&p.ssm(&region), name).await?;
        crate::builder::stop_and_delete(p, &region, name).await?;
        swept.builder(format!("{recipe}: {name} ({build})"));
    }
    Ok(())
}
