//! What killed runs left: image builders (found by their `recipe:*` tags) with their activations and
//! managed nodes, and unrecorded images of abandoned builds.

use std::collections::BTreeMap;

use aws_sdk_appstream::types::ImageBuilderState;
use recipe_engine::{ActionError, ApplyContext, SweepAt, SweepLog, SweepRequest};

use crate::AppstreamProvider;
use crate::image::tags_of;

/// The recipe's images in `region` made by builds of an interrupted apply that will not be resumed,
/// and that state does not record: deleted (permissions first). Tags are read by ARN.
pub(crate) async fn images(p: &AppstreamProvider, at: SweepAt<'_>) -> Result<(), ActionError> {
    let region = at.region;
    let client = p.appstream(region);
    let owned = crate::image::owned_images(&client).await?;
    let arns: BTreeMap<String, String> = owned
        .iter()
        .filter_map(|i| Some((i.name()?.to_string(), i.arn()?.to_string())))
        .collect();
    let listed = arns.keys().cloned().collect();
    let tags = |name: String| {
        let (client, arn) = (&client, arns.get(&name).cloned().unwrap_or_default());
        async move { Ok(tags_of(client, &arn).await?) }
    };
    let delete = |name: String| async move { crate::image::delete_image(p, region, &name).await };
    at.abandoned_images(listed, (tags, delete)).await
}

/// The recipe's image builders of builds this apply does not run, unless kept for debugging.
pub(crate) async fn builders(
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
        let Some(build) = req.stray_builder(recipe, &tags) else {
            continue;
        };
        recipe_ssm::hybrid::forget(&p.ssm(&region), name).await?;
        crate::builder::stop_and_delete(p, &region, name).await?;
        swept.builder(format!("{recipe}: {name} ({build})"));
    }
    Ok(())
}
