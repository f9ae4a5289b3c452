//! The image: seed 001's requirements checked on the builder, the cleanup preset, a restart, then
//! CreateWorkspaceImage (adopted after a crash when this build's image exists), the wait, the tags;
//! copies called in the destination region, image permissions per account, retention.

use std::collections::BTreeMap;

use aws_sdk_workspaces::Client;
use aws_sdk_workspaces::operation::describe_workspace_images::DescribeWorkspaceImagesOutput;
use aws_sdk_workspaces::types::{RebootRequest, WorkspaceState};
use recipe_aws::{AwsError, Context, every_page};
use recipe_engine::{ActionError, ActionKind, RecipeOutputs, Retag, ShareChange};

use crate::actions::Act;
use crate::{WorkspacesProvider, poll, tag_list};

/// Polls after RebootWorkspaces within which the reboot is expected to show.
const RESTART_SEEN_POLLS: u32 = 10;

impl Act<'_> {
    /// The requirements only the machine can tell, then the preset.
    pub(crate) async fn cleanup(&self) -> Result<(), ActionError> {
        let session = self.session().await?;
        session
            .run_script(
                "pre-capture checks (seed 001)",
                crate::checks::script(self.os()),
                600,
            )
            .await?;
        session.cleanup().await
    }

    /// The image's name in this build. A version the service updates keeps the recipe's version, so
    /// its name carries the build id too (names are unique per region), cut to WorkSpaces' 64.
    fn image_name(&self) -> String {
        let name = self.values().apply(&self.r.recipe.image.name);
        if !self.updating() {
            return name;
        }
        let build = self.values().build_id;
        let keep = 64usize.saturating_sub(build.len() + 1);
        format!("{}-{build}", &name[..name.len().min(keep)])
    }

    /// `image.description` (checked at validate time), else `recipe <name> <version>` with what
    /// WorkSpaces refuses in a description left out.
    fn description(&self) -> String {
        let recipe = &self.r.recipe;
        match &recipe.image.description {
            Some(d) => self.values().apply(d),
            None => format!("recipe {} {}", recipe.name.value, recipe.version.value)
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || "_./() -".contains(*c))
                .collect(),
        }
    }

    /// The image of this build in the client's region, if an earlier attempt made it (found by its
    /// name, unique per region). A name taken by another build is never adopted.
    async fn existing(
        &self,
        client: &aws_sdk_workspaces::Client,
    ) -> Result<Option<String>, ActionError> {
        let name = self.image_name();
        let Some(found) = owned_named(client, &name).await? else {
            return Ok(None);
        };
        let build = self.values().build_id;
        match crate::sweep::tag_of(client, &found, recipe_aws::tags::BUILD_ID).await? {
            Some(b) if b == build => Ok(Some(found)),
            other => Err(ActionError::fatal(format!(
                "the image name `{name}` is taken by {found} (build {}): WorkSpaces image names are unique per region; change `version`, or put `${{build_id}}` or `${{timestamp}}` in `image.name`",
                other.unwrap_or_else(|| "not made by recipe".into())
            ))),
        }
    }

    /// Whether this build is made by the service from the current image (no builder in the plan).
    fn updating(&self) -> bool {
        let launches = |a: &&recipe_engine::Action| {
            a.recipe == self.name && a.action == ActionKind::LaunchBuilder
        };
        !self.cx.plan.actions.iter().any(|a| launches(&a))
    }

    /// CreateUpdatedWorkspaceImage from the current version's image: the same content with the
    /// WorkSpaces drivers and agents brought up to date.
    async fn capture_updated(&self) -> Result<RecipeOutputs, ActionError> {
        let current = self
            .cx
            .current(self.name)
            .and_then(|v| v.images.get(&self.home));
        let source = current.map(|i| i.image_id.clone()).ok_or_else(|| {
            ActionError::fatal(format!(
                "no current image of `{}` in {} to update",
                self.name, self.home
            ))
        })?;
        if let Some(found) = self.existing(&self.ws).await? {
            return Ok(RecipeOutputs::image(&self.home, found));
        }
        let out = self
            .ws
            .create_updated_workspace_image()
            .name(self.image_name())
            .description(self.description())
            .source_image_id(&source)
            .set_tags(Some(tag_list(&self.image_tags())))
            .send()
            .await
            .ctx("workspaces", "CreateUpdatedWorkspaceImage")?;
        let id = out.image_id().ok_or_else(|| {
            AwsError::missing("workspaces", "CreateUpdatedWorkspaceImage", "ImageId")
        })?;
        Ok(RecipeOutputs::image(&self.home, id))
    }

    /// Restart, check what the API tells, and create the image.
    pub(crate) async fn capture(&self) -> Result<RecipeOutputs, ActionError> {
        if self.updating() {
            return self.capture_updated().await;
        }
        if let Some(found) = self.existing(&self.ws).await? {
            return Ok(RecipeOutputs::image(&self.home, found));
        }
        let ws = self.builder();
        self.detach_agent(&ws).await?;
        self.restart(&ws).await?;
        self.check_workspace(&ws).await?;
        let out = self
            .ws
            .create_workspace_image()
            .name(self.image_name())
            .description(self.description())
            .workspace_id(&ws)
            .set_tags(Some(tag_list(&self.image_tags())))
            .send()
            .await
            .ctx("workspaces", "CreateWorkspaceImage")?;
        let id = out
            .image_id()
            .ok_or_else(|| AwsError::missing("workspaces", "CreateWorkspaceImage", "ImageId"))?;
        Ok(RecipeOutputs::image(&self.home, id))
    }

    /// RebootWorkspaces, as the console asks before an image is made, and wait until it is seen to
    /// restart and is AVAILABLE again.
    async fn restart(&self, ws: &str) -> Result<(), ActionError> {
        self.ensure_running(ws.to_string()).await?;
        let req = RebootRequest::builder()
            .workspace_id(ws)
            .build()
            .map_err(|e| ActionError::fatal(e.to_string()))?;
        let out = self
            .ws
            .reboot_workspaces()
            .reboot_workspace_requests(req)
            .send()
            .await
            .ctx("workspaces", "RebootWorkspaces")?;
        if let Some(f) = out.failed_requests().first() {
            return Err(ActionError::fatal(format!(
                "the builder {ws} could not be restarted: {}",
                f.error_message().unwrap_or("no message")
            )));
        }
        self.waiting(format!("the builder {ws} to restart"));
        self.restart_seen(ws).await?;
        self.workspace_until(ws, WorkspaceState::Available).await?;
        Ok(())
    }

    /// Wait until DescribeWorkspaces shows the reboot (any state but AVAILABLE): the API is
    /// eventually consistent, so right after RebootWorkspaces it may still answer AVAILABLE, and
    /// an image made then would catch the WorkSpace mid-reboot. A reboot too quick to be seen in
    /// [`RESTART_SEEN_POLLS`] polls is taken as done.
    async fn restart_seen(&self, ws: &str) -> Result<(), ActionError> {
        for _ in 0..RESTART_SEEN_POLLS {
            if self.state_of(ws).await? != WorkspaceState::Available {
                return Ok(());
            }
            recipe_engine::idle(tokio::time::sleep(self.p.nodes.poll)).await;
        }
        Ok(())
    }

    /// AVAILABLE with modification state NONE, and no encrypted volume (seed 001).
    async fn check_workspace(&self, ws: &str) -> Result<(), ActionError> {
        let w = self.describe(ws).await?;
        let state = w.state().map_or("unknown", WorkspaceState::as_str);
        if w.state() != Some(&WorkspaceState::Available) || !w.modification_states().is_empty() {
            return Err(ActionError::fatal(format!(
                "pre-capture check failed: the builder {ws} is {state} with {} modification(s) in progress; an image needs AVAILABLE with modification state NONE",
                w.modification_states().len()
            )));
        }
        if w.root_volume_encryption_enabled() == Some(true)
            || w.user_volume_encryption_enabled() == Some(true)
        {
            return Err(ActionError::fatal(format!(
                "pre-capture check failed: the builder {ws} has encrypted volumes, and WorkSpaces cannot make an image of an encrypted WorkSpace: build on an unencrypted one and encrypt the WorkSpaces launched from the bundle"
            )));
        }
        Ok(())
    }

    pub(crate) async fn wait_available(&self) -> Result<RecipeOutputs, ActionError> {
        let on = self.p.on(&self.home, self.ws.clone());
        let (p, home) = (self.p, self.home.as_str());
        recipe_ssm::image_available(
            &self.s,
            |image| async move { poll::wait_image(on, &image).await },
            |image| async move { delete_image(p, home, &image).await },
        )
        .await
    }

    /// The seed's tags on the image (CreateTags replaces values: idempotent).
    pub(crate) async fn tag(&self) -> Result<(), ActionError> {
        let image = self.need_image(&self.home, "tag")?;
        self.ws
            .create_tags()
            .resource_id(&image)
            .set_tags(Some(tag_list(&self.image_tags())))
            .send()
            .await
            .ctx("workspaces", "CreateTags")?;
        Ok(())
    }

    /// CopyWorkspaceImage, called in the destination, with the tags applied there (a copy of this
    /// build already there is adopted).
    pub(crate) async fn copy(&self, region: &str) -> Result<RecipeOutputs, ActionError> {
        let source = self.need_image(&self.home, "copy")?;
        let client = self.p.workspaces(region);
        let id = match self.existing(&client).await? {
            Some(found) => found,
            None => {
                let out = client
                    .copy_workspace_image()
                    .name(self.image_name())
                    .description(self.description())
                    .source_image_id(&source)
                    .source_region(&self.home)
                    .set_tags(Some(tag_list(&self.image_tags())))
                    .send()
                    .await
                    .ctx("workspaces", "CopyWorkspaceImage")?;
                out.image_id()
                    .ok_or_else(|| {
                        AwsError::missing("workspaces", "CopyWorkspaceImage", "ImageId")
                    })?
                    .to_string()
            }
        };
        self.waiting(format!("the copy {id} in {region} to become AVAILABLE"));
        poll::wait_image(self.p.on(region, client), &id).await?;
        Ok(RecipeOutputs::image(region, id))
    }

    /// UpdateWorkspaceImagePermission per account, in the image's region.
    pub(crate) async fn share(&self, change: &ShareChange<'_>) -> Result<(), ActionError> {
        let (principals, region) = (change.principals, change.region);
        let allow = change.grant.is_some();
        let image = self.need_image(region, "share")?;
        let client = self.p.workspaces(region);
        for account in principals {
            allow_copy(&client, &image, account, allow).await?;
        }
        Ok(())
    }

    /// Delete an old version's images in every region (unshared first), unless a bundle uses one.
    pub(crate) async fn retire(&self, build_id: &str) -> Result<(), ActionError> {
        let p = self.p;
        let used_by = |region: String, image: String| async move {
            let bundle = crate::rollout::bundle_using(&p.workspaces(&region), &image).await?;
            Ok(bundle.map(|b| format!("bundle {b}")))
        };
        let delete = |region: String, image: String| async move {
            unshare_all(&p.workspaces(&region), &image).await?;
            delete_image(p, &region, &image).await
        };
        self.retire_with(build_id, used_by, delete).await
    }

    /// The recipe's changed tags on the current images (CreateTags, DeleteTags by image id).
    pub(crate) async fn retag(&self, r: Retag<'_>) -> Result<(), ActionError> {
        let p = self.p;
        let find =
            |region: String, image: String| async move { Ok((p.workspaces(&region), image)) };
        let add = |(ws, image): (Client, String), tags: BTreeMap<String, String>| async move {
            let call = ws
                .create_tags()
                .resource_id(image)
                .set_tags(Some(tag_list(&tags)));
            call.send().await.ctx("workspaces", "CreateTags")?;
            Ok(())
        };
        let take = |(ws, image): (Client, String), keys: Vec<String>| async move {
            let call = ws.delete_tags().resource_id(image).set_tag_keys(Some(keys));
            call.send().await.ctx("workspaces", "DeleteTags")?;
            Ok(())
        };
        self.retag_with(r, find, add, take).await
    }
}

/// The caller's images in the client's region, every page.
pub(crate) async fn owned_images(
    client: &aws_sdk_workspaces::Client,
) -> Result<Vec<aws_sdk_workspaces::types::WorkspaceImage>, AwsError> {
    let owned = aws_sdk_workspaces::types::ImageType::Owned;
    let call = client.describe_workspace_images().image_type(owned);
    let page = |t| call.clone().set_next_token(t).send();
    let split = |o: DescribeWorkspaceImagesOutput| (o.images, o.next_token);
    every_page(("workspaces", "DescribeWorkspaceImages"), page, split).await
}

/// The caller's image named `name` in the client's region (names are unique per account and region).
pub(crate) async fn owned_named(
    client: &aws_sdk_workspaces::Client,
    name: &str,
) -> Result<Option<String>, ActionError> {
    let all = owned_images(client).await?;
    let found = all.iter().find(|i| i.name() == Some(name));
    Ok(found.and_then(|i| i.image_id()).map(str::to_string))
}

/// Remove every account's permission on `image`.
async fn unshare_all(client: &aws_sdk_workspaces::Client, image: &str) -> Result<(), ActionError> {
    let got = client
        .describe_workspace_image_permissions()
        .image_id(image)
        .send()
        .await
        .ctx("workspaces", "DescribeWorkspaceImagePermissions");
    let out = match got {
        Err(e) if e.is("ResourceNotFoundException") => return Ok(()),
        other => other?,
    };
    let accounts = out
        .image_permissions()
        .iter()
        .filter_map(|p| p.shared_account_id());
    for account in accounts {
        allow_copy(client, image, account, false).await?;
    }
    Ok(())
}

/// Whether `account` may copy `image` (UpdateWorkspaceImagePermission).
async fn allow_copy(
    client: &aws_sdk_workspaces::Client,
    image: &str,
    account: &str,
    allow: bool,
) -> Result<(), AwsError> {
    let call = client.update_workspace_image_permission().image_id(image);
    let call = call.allow_copy_image(allow).shared_account_id(account);
    call.send()
        .await
        .ctx("workspaces", "UpdateWorkspaceImagePermission")?;
    Ok(())
}

/// Delete an image (one already gone counts as deleted); its permissions are removed first.
pub(crate) async fn delete_image(
    p: &WorkspacesProvider,
    region: &str,
    image: &str,
) -> Result<(), ActionError> {
    let client = p.workspaces(region);
    unshare_all(&client, image).await?;
    let answer = client.delete_workspace_image().image_id(image).send().await;
    // An image a bundle uses: ResourceAssociatedException.
    AwsError::deleted(
        answer.ctx("workspaces", "DeleteWorkspaceImage"),
        "ResourceAssociated",
    )
}
