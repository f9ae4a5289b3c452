//! What killed runs left: image builders (found by their `recipe:*` tags) with their activations and
//! managed nodes, and unrecorded images of abandoned builds.

use recipe_aws::Context;
use recipe_engine::{ActionError, ApplyContext, SweepRequest, Swept};

use crate::AppstreamProvider;
use crate::image::tags_of;

/// Sweep every recipe in the request.
pub(crate) async fn sweep(p: &AppstreamProvider, cx: &ApplyContext, req: &SweepRequest) -> Swept {
    let mut swept = Swept::default();
    for scope in &req.scopes {
        if let Err(e) = sweep_builders(p, cx, &scope.recipe, req, &mut swept).await {
            swept
                .problems
                .push(format!("{}: {}", scope.recipe, e.message));
        }
        if req.abandoned.is_empty() {
            continue;
        }
        for region in &scope.regions {
            if let Err(e) = sweep_images(p, &scope.recipe, region, req, &mut swept).await {
                let problem = format!("{} in {region}: {}", scope.recipe, e.message);
                swept.problems.push(problem);
            }
        }
    }
    swept
}

/// The recipe's images in `region` made by builds of an interrupted apply that will not be resumed,
/// and that state does not record: deleted (permissions first).
async fn sweep_images(
    p: &AppstreamProvider,
    recipe: &str,
    region: &str,
    req: &SweepRequest,
    swept: &mut Swept,
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
        let ours = tags.get(recipe_aws::tags::NAME).map(String::as_str) == Some(recipe);
        let build = tags
            .get(recipe_aws::tags::BUILD_ID)
            .cloned()
            .unwrap_or_default();
        if ours && req.abandoned.contains(&build) {
            crate::image::delete_image(p, region, name).await?;
            swept
                .images
                .push(format!("{recipe}: {name} in {region} ({build})"));
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
    swept: &mut Swept,
) -> Result<(), ActionError> {
    let region = cx.home_region(recipe)?;
    let client = p.appstream(&region);
    let (mut token, mut found) = (None, Vec::new());
    loop {
        let out = client
            .describe_image_builders()
            .set_next_token(token)
            .send()
            .await
            .ctx("appstream", "DescribeImageBuilders")?;
        let named = out.image_builders().iter().filter_map(|b| {
            let state = b.state().map(|s| s.as_str());
            (state != Some("DELETING"))
                .then(|| Some((b.name()?.to_string(), b.arn()?.to_string())))?
        });
        found.extend(named);
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    for (name, arn) in found {
        let tags = tags_of(&client, &arn).await?;
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
        recipe_ssm::hybrid::forget(&p.ssm(&region), &name).await?;
        crate::builder::stop_and_delete(p, &region, &name).await?;
        swept.builders.push(format!("{recipe}: {name} ({build})"));
    }
    Ok(())
}
