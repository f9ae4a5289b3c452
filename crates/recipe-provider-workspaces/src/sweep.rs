//! What killed runs left: builder WorkSpaces (found by their `recipe:*` tags among the WorkSpaces of
//! each recipe's builder user) with their activations, and unrecorded images of abandoned builds.

use recipe_aws::Context;
use recipe_engine::{ActionError, ApplyContext, SweepRequest, Swept};

use crate::WorkspacesProvider;

/// The value of tag `key` on a WorkSpaces resource.
pub(crate) async fn tag_of(
    client: &aws_sdk_workspaces::Client,
    id: &str,
    key: &str,
) -> Result<Option<String>, ActionError> {
    let out = client
        .describe_tags()
        .resource_id(id)
        .send()
        .await
        .ctx("workspaces", "DescribeTags")?;
    Ok(out
        .tag_list()
        .iter()
        .find(|t| t.key() == key)
        .and_then(|t| t.value())
        .map(str::to_string))
}

/// Whether resource `id` carries every `k=v` of `wanted`.
pub(crate) async fn has_tags(
    client: &aws_sdk_workspaces::Client,
    id: &str,
    wanted: &[String],
) -> Result<bool, ActionError> {
    let out = client
        .describe_tags()
        .resource_id(id)
        .send()
        .await
        .ctx("workspaces", "DescribeTags")?;
    Ok(wanted.iter().all(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        out.tag_list()
            .iter()
            .any(|t| t.key() == k && t.value() == Some(v))
    }))
}

/// Sweep every recipe in the request.
pub(crate) async fn sweep(p: &WorkspacesProvider, cx: &ApplyContext, req: &SweepRequest) -> Swept {
    let mut swept = Swept::default();
    for scope in &req.scopes {
        if let Err(e) = sweep_builders(p, cx, &scope.recipe, req, &mut swept).await {
            swept
                .problems
                .push(format!("{}: {}", scope.recipe, e.message));
        }
    }
    swept
}

/// The recipe's builder WorkSpaces of builds this apply does not run, unless kept for debugging.
async fn sweep_builders(
    p: &WorkspacesProvider,
    cx: &ApplyContext,
    recipe: &str,
    req: &SweepRequest,
    swept: &mut Swept,
) -> Result<(), ActionError> {
    let Ok(r) = cx.recipe(recipe) else {
        return Ok(());
    };
    let b = &r.recipe.builder;
    let (Some(dir), Some(user)) = (&b.directory_id, &b.user_name) else {
        return Ok(());
    };
    let region = p.home_of(cx, recipe)?;
    let client = p.workspaces(&region);
    let out = client
        .describe_workspaces()
        .directory_id(&dir.value)
        .user_name(&user.value)
        .send()
        .await
        .ctx("workspaces", "DescribeWorkspaces")?;
    for w in out.workspaces() {
        let Some(id) = w.workspace_id() else { continue };
        if w.state().map(|s| s.as_str()) == Some("TERMINATING") {
            continue;
        }
        let tags = client
            .describe_tags()
            .resource_id(id)
            .send()
            .await
            .ctx("workspaces", "DescribeTags")?;
        let get = |k: &str| {
            tags.tag_list()
                .iter()
                .find(|t| t.key() == k)
                .and_then(|t| t.value())
                .map(str::to_string)
        };
        let (Some(name), Some(build)) =
            (get(recipe_aws::tags::NAME), get(recipe_aws::tags::BUILD_ID))
        else {
            continue;
        };
        let role = get(recipe_aws::tags::ROLE);
        if name != recipe
            || role.as_deref() != Some("builder")
            || req.current.contains(&build)
            || get(recipe_aws::tags::KEEP).is_some()
        {
            continue;
        }
        crate::builder::forget(&p.ssm(&region), id).await?;
        crate::builder::terminate(&client, id).await?;
        crate::builder::drop_temp(p, &region, id, &build).await?;
        swept.builders.push(format!("{recipe}: {id} ({build})"));
    }
    Ok(())
}
