//! The bundle (created the first time, then updated to each new image) and the opt-in rebuild of
//! the WorkSpaces on it: in batches, a health check after each, stopping at the first unhealthy batch.

use std::collections::BTreeMap;

use aws_sdk_workspaces::operation::describe_workspace_bundles::DescribeWorkspaceBundlesOutput;
use aws_sdk_workspaces::types::{
    Compute, ComputeType, RebuildRequest, RootStorage, UserStorage, WorkspaceState,
};
use recipe_aws::{Context, every_page};
use recipe_engine::{ActionError, Rollout};

use crate::actions::Act;
use crate::tag_list;

/// The caller's bundles in the client's region, every page.
pub(crate) async fn owned_bundles(
    client: &aws_sdk_workspaces::Client,
) -> Result<Vec<aws_sdk_workspaces::types::WorkspaceBundle>, recipe_aws::AwsError> {
    let page = |t| client.describe_workspace_bundles().set_next_token(t).send();
    let split = |o: DescribeWorkspaceBundlesOutput| (o.bundles, o.next_token);
    every_page(("workspaces", "DescribeWorkspaceBundles"), page, split).await
}

/// The owned bundle named `name`, with its image.
pub(crate) async fn bundle_named(
    client: &aws_sdk_workspaces::Client,
    name: &str,
) -> Result<Option<(String, Option<String>)>, ActionError> {
    let all = owned_bundles(client).await?;
    let found = all.iter().find(|b| b.name() == Some(name));
    Ok(found.map(|b| {
        let id = b.bundle_id().unwrap_or_default().to_string();
        (id, b.image_id().map(str::to_string))
    }))
}

/// The owned bundle that uses `image`, if any.
pub(crate) async fn bundle_using(
    client: &aws_sdk_workspaces::Client,
    image: &str,
) -> Result<Option<String>, ActionError> {
    let all = owned_bundles(client).await?;
    let found = all.iter().find(|b| b.image_id() == Some(image));
    Ok(found.and_then(|b| b.name()).map(str::to_string))
}

/// States RebuildWorkspaces accepts (API_RebuildWorkspaces).
const REBUILDABLE: &[WorkspaceState] = &[
    WorkspaceState::Available,
    WorkspaceState::Error,
    WorkspaceState::Unhealthy,
    WorkspaceState::Stopped,
    WorkspaceState::Rebooting,
];

impl Act<'_> {
    /// The bundle in `region` (the build region when `None`) wraps the recipe's image there:
    /// created the first time, updated after.
    pub(crate) async fn rollout(&self, to: Rollout<'_>) -> Result<(), ActionError> {
        if to.target.kind != recipe_targets::BUNDLE {
            return Err(to.refused("a workspaces recipe", "its bundle"));
        }
        let name = &to.target.name;
        let region = to.region.unwrap_or(&self.home);
        let image = self.need_image(region, "put in the bundle")?;
        let ws = self.p.workspaces(region);
        match bundle_named(&ws, name).await? {
            Some((_, Some(current))) if current == image => Ok(()),
            Some((id, _)) => {
                ws.update_workspace_bundle()
                    .bundle_id(&id)
                    .image_id(&image)
                    .send()
                    .await
                    .ctx("workspaces", "UpdateWorkspaceBundle")?;
                // The bundle now holds this build: its tags say so.
                ws.create_tags()
                    .resource_id(id)
                    .set_tags(Some(tag_list(&self.bundle_tags(name))))
                    .send()
                    .await
                    .ctx("workspaces", "CreateTags")?;
                Ok(())
            }
            None => self.create_bundle(&ws, name, &image).await,
        }
    }

    async fn create_bundle(
        &self,
        ws: &aws_sdk_workspaces::Client,
        name: &str,
        image: &str,
    ) -> Result<(), ActionError> {
        let b = recipe_targets::BUNDLE_OF
            .of(&self.r.recipe.sections)
            .ok_or_else(|| ActionError::fatal("the recipe has no `bundle`"))?;
        let compute = compute_name(&b.compute.value);
        let description = b.description.as_ref().map_or(name, |d| d.value.as_str());
        let tags = self.bundle_tags(name);
        ws.create_workspace_bundle()
            .bundle_name(name)
            .bundle_description(description)
            .image_id(image)
            .compute_type(
                ComputeType::builder()
                    .name(Compute::from(compute.as_str()))
                    .build(),
            )
            .root_storage(
                RootStorage::builder()
                    .capacity(b.root_volume_gib.value.to_string())
                    .build()
                    .map_err(|e| ActionError::fatal(e.to_string()))?,
            )
            .user_storage(
                UserStorage::builder()
                    .capacity(b.user_volume_gib.value.to_string())
                    .build()
                    .map_err(|e| ActionError::fatal(e.to_string()))?,
            )
            .set_tags(Some(tag_list(&tags)))
            .send()
            .await
            .ctx("workspaces", "CreateWorkspaceBundle")?;
        Ok(())
    }

    /// The bundle's tags: the image's (the tool's own, `Version`, `image.tags`), the bundle's
    /// `Name`, then `bundle.tags`. Never a builder's (`recipe:role`).
    fn bundle_tags(&self, name: &str) -> BTreeMap<String, String> {
        let mut tags = self.image_tags();
        tags.insert("Name".into(), name.to_string());
        let values = self.values();
        for (k, v) in recipe_targets::BUNDLE_OF
            .of(&self.r.recipe.sections)
            .iter()
            .flat_map(|b| &b.tags)
        {
            tags.insert(k.value.clone(), values.apply(v));
        }
        tags
    }

    /// Rebuild the WorkSpaces on the bundle that carry every tag in `tagged`, `batch` at a time;
    /// each batch must come back AVAILABLE before the next starts.
    pub(crate) async fn rebuild(
        &self,
        tagged: &BTreeMap<String, String>,
        batch: u32,
    ) -> Result<(), ActionError> {
        let Some(b) = recipe_targets::BUNDLE_OF.of(&self.r.recipe.sections) else {
            return Ok(());
        };
        let Some((bundle, _)) = bundle_named(&self.ws, &b.name.value).await? else {
            return Ok(());
        };
        let (ready, skipped) = self.selected(&bundle, tagged).await?;
        let mut done = 0;
        for chunk in ready.chunks(batch.max(1) as usize) {
            for ws in chunk {
                let req = RebuildRequest::builder()
                    .workspace_id(ws)
                    .build()
                    .map_err(|e| ActionError::fatal(e.to_string()))?;
                let out = self
                    .ws
                    .rebuild_workspaces()
                    .rebuild_workspace_requests(req)
                    .send()
                    .await
                    .ctx("workspaces", "RebuildWorkspaces")?;
                if let Some(f) = out.failed_requests().first() {
                    return Err(ActionError::fatal(format!(
                        "{ws} could not be rebuilt: {} ({done} rebuilt before it)",
                        f.error_message().unwrap_or("no message")
                    )));
                }
            }
            for ws in chunk {
                self.waiting(format!("{ws} to come back from its rebuild"));
                if let Err(e) = self.workspace_until(ws, WorkspaceState::Available).await {
                    return Err(ActionError::fatal(format!(
                        "the rollout stopped at an unhealthy batch: {e}; {done} WorkSpace(s) rebuilt before it, {} not started",
                        ready.len() - done - chunk.len()
                    )));
                }
            }
            done += chunk.len();
        }
        for (ws, why) in skipped {
            self.cx
                .events
                .output(self.a.id, "rebuild", &format!("skipped {ws}: {why}"));
        }
        self.cx.events.output(
            self.a.id,
            "rebuild",
            &format!("rebuilt {done} WorkSpace(s) on bundle {bundle}"),
        );
        Ok(())
    }

    /// The bundle's WorkSpaces that carry the tags: those a rebuild may start from, and the others
    /// with why they are skipped.
    async fn selected(
        &self,
        bundle: &str,
        tagged: &BTreeMap<String, String>,
    ) -> Result<(Vec<String>, Vec<(String, String)>), ActionError> {
        let all =
            crate::poll::all_workspaces(self.ws.describe_workspaces().bundle_id(bundle)).await?;
        let (mut ready, mut skipped) = (Vec::new(), Vec::new());
        for w in &all {
            let Some(id) = w.workspace_id() else { continue };
            if !crate::sweep::has_tags(&self.ws, id, tagged).await? {
                continue;
            }
            let state = w.state().map_or("unknown", WorkspaceState::as_str);
            if w.state().is_some_and(|s| REBUILDABLE.contains(s)) {
                ready.push(id.to_string());
            } else {
                skipped.push((
                    id.to_string(),
                    format!(
                        "it is {state}, and a rebuild starts only from {}",
                        REBUILDABLE
                            .iter()
                            .map(WorkspaceState::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
        Ok((ready, skipped))
    }
}

/// The compute type as the API spells it.
pub(crate) fn compute_name(c: &recipe_targets::ComputeType) -> String {
    c.api_name().to_string()
}
