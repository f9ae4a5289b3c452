//! What killed runs left: builder WorkSpaces (found by their `recipe:*` tags among the WorkSpaces of
//! each recipe's builder user) with their activations, and unrecorded images of abandoned builds.

use std::collections::BTreeMap;

use aws_sdk_workspaces::types::WorkspaceState;
use recipe_aws::{AwsError, Context};
use recipe_engine::{ActionError, ApplyContext, SweepAt, SweepLog, SweepRequest};

use crate::WorkspacesProvider;

/// The tags on a WorkSpaces resource. Every caller found `id` in a listing; one that is gone by the
/// time its tags are asked for (a WorkSpace finishing termination, an image deleted meanwhile)
/// answers ResourceNotFoundException, and has no tags: it is nobody's any more.
pub(crate) async fn tags(
    client: &aws_sdk_workspaces::Client,
    id: &str,
) -> Result<BTreeMap<String, String>, AwsError> {
    let out = match client
        .describe_tags()
        .resource_id(id)
        .send()
        .await
        .ctx("workspaces", "DescribeTags")
    {
        Err(e) if e.is("ResourceNotFoundException") => return Ok(BTreeMap::new()),
        other => other?,
    };
    Ok(out
        .tag_list()
        .iter()
        .map(|t| {
            (
                t.key().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect())
}

/// The value of tag `key` on a WorkSpaces resource.
pub(crate) async fn tag_of(
    client: &aws_sdk_workspaces::Client,
    id: &str,
    key: &str,
) -> Result<Option<String>, ActionError> {
    Ok(tags(client, id).await?.remove(key))
}

/// Whether resource `id` carries every `k=v` of `wanted`.
pub(crate) async fn has_tags(
    client: &aws_sdk_workspaces::Client,
    id: &str,
    wanted: &BTreeMap<String, String>,
) -> Result<bool, ActionError> {
    let have = tags(client, id).await?;
    Ok(wanted.iter().all(|(k, v)| have.get(k) == Some(v)))
}

/// The recipe's images in `region` made by builds of an interrupted apply that will not be resumed,
/// and that state does not record: deleted (permissions first), never left unowned.
pub(crate) async fn images(p: &WorkspacesProvider, at: SweepAt<'_>) -> Result<(), ActionError> {
    let region = at.region;
    let client = p.workspaces(region);
    let owned = crate::image::owned_images(&client).await?;
    let listed = owned
        .iter()
        .filter_map(|i| i.image_id().map(str::to_string));
    let tags = |id: String| {
        let client = &client;
        async move { Ok(tags(client, &id).await?) }
    };
    let delete = |id: String| async move { crate::image::delete_image(p, region, &id).await };
    at.abandoned_images(listed.collect(), (tags, delete)).await
}

/// The recipe's builder WorkSpaces of builds this apply does not run, unless kept for debugging.
pub(crate) async fn builders(
    p: &WorkspacesProvider,
    cx: &ApplyContext,
    recipe: &str,
    req: &SweepRequest,
    swept: &SweepLog,
) -> Result<(), ActionError> {
    let Ok(r) = cx.recipe(recipe) else {
        return Ok(());
    };
    let b = &r.recipe.builder;
    let (Some(dir), Some(user)) = (&b.directory_id, &b.user_name) else {
        return Ok(());
    };
    let region = cx.home_region(recipe)?;
    let client = p.workspaces(&region);
    let call = client
        .describe_workspaces()
        .directory_id(&dir.value)
        .user_name(&user.value);
    for w in &crate::poll::all_workspaces(call).await? {
        let Some(id) = w.workspace_id() else { continue };
        if w.state() == Some(&WorkspaceState::Terminating) {
            continue;
        }
        let tags = tags(&client, id).await?;
        let Some(build) = req.stray_builder(recipe, &tags) else {
            continue;
        };
        recipe_ssm::hybrid::forget(&p.ssm(&region), id).await?;
        crate::builder::terminate(&client, id).await?;
        crate::builder::drop_temp(p, &region, id, build).await?;
        swept.builder(format!("{recipe}: {id} ({build})"));
    }
    Ok(())
}
