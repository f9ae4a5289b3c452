//! The image: the Image Assistant's `create-image` run on the builder (adopted after a crash when
//! this build's image exists), the wait, the tags; copies called in the source region with the tags
//! applied again in the destination (copies lose them); image permissions per account with fleet and
//! image-builder rights; retention that never deletes an image a fleet uses.

use std::collections::BTreeMap;

use aws_sdk_appstream::Client;
use aws_sdk_appstream::operation::describe_images::DescribeImagesOutput;
use aws_sdk_appstream::types::{Image, ImagePermissions, VisibilityType};
use recipe_aws::{AwsError, Context, every_page};
use recipe_engine::{ActionError, RecipeOutputs, Retag, ShareChange};
use recipe_ssm::{hybrid, render};

use crate::actions::Act;
use crate::{AppstreamProvider, poll};

/// Image `name` as the caller sees it in the client's region (`None`: no such image).
pub(crate) async fn describe(
    client: &aws_sdk_appstream::Client,
    name: &str,
) -> Result<Option<Image>, AwsError> {
    let call = if name.starts_with("arn:") {
        client.describe_images().arns(name)
    } else {
        client.describe_images().names(name)
    };
    match call.send().await.ctx("appstream", "DescribeImages") {
        Ok(out) => Ok(out.images().first().cloned()),
        Err(e) if e.is("ResourceNotFoundException") => Ok(None),
        Err(e) => Err(e),
    }
}

/// The tags on an AppStream resource.
pub(crate) async fn tags_of(
    client: &aws_sdk_appstream::Client,
    arn: &str,
) -> Result<BTreeMap<String, String>, AwsError> {
    match client
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .ctx("appstream", "ListTagsForResource")
    {
        Ok(out) => Ok(out
            .tags()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .collect()),
        Err(e) if e.is("ResourceNotFoundException") => Ok(BTreeMap::new()),
        Err(e) => Err(e),
    }
}

impl Act<'_> {
    /// The image's name in this build (checked against AppStream's rules at validate time). A managed
    /// update keeps the recipe's version, so its name carries the build id too (names are unique per
    /// region), cut to AppStream's 100.
    fn image_name(&self) -> String {
        let name = self.values().apply(&self.r.recipe.image.name);
        if !recipe_targets::managed_update(&self.r.recipe) {
            return name;
        }
        let build = self.values().build_id;
        let keep = 100usize.saturating_sub(build.len() + 1);
        format!("{}-{build}", &name[..name.len().min(keep)])
    }

    /// This build's image in the client's region, if an earlier attempt made it. A name taken by
    /// another build is never adopted. A copy carries no tags until this tool tags it: one made from
    /// the same base as the source is this build's.
    async fn existing(
        &self,
        client: &aws_sdk_appstream::Client,
        copy_of: Option<&Image>,
    ) -> Result<Option<Image>, ActionError> {
        let name = self.image_name();
        let Some(found) = describe(client, &name).await? else {
            return Ok(None);
        };
        let tags = tags_of(client, found.arn().unwrap_or_default()).await?;
        let build = tags.get(recipe_aws::tags::BUILD_ID);
        let untagged_copy = build.is_none()
            && copy_of.is_some_and(|src| src.base_image_arn() == found.base_image_arn());
        if build == Some(&self.values().build_id) || untagged_copy {
            return Ok(Some(found));
        }
        Err(ActionError::fatal(format!(
            "the image name `{name}` is taken by another image (build {}): AppStream image names are unique per region; change `version`, or put `${{build_id}}` in `image.name`",
            build.map_or("not made by recipe", String::as_str)
        )))
    }

    /// Run the Image Assistant's `create-image` on the builder. The agent's registration is removed
    /// from disk in the same command, so the image carries none; the node is deregistered after.
    pub(crate) async fn capture(&self) -> Result<RecipeOutputs, ActionError> {
        if self.existing(&self.apps, None).await?.is_some() {
            return Ok(RecipeOutputs::image(&self.home, self.image_name()));
        }
        if let Some(ami) = self
            .inputs
            .base(self.name)
            .filter(|b| b.starts_with("ami-"))
        {
            return self.import(ami).await;
        }
        if recipe_targets::managed_update(&self.r.recipe) {
            return self.managed_update().await;
        }
        let name = self.image_name();
        let script = self.capture_script(&name);
        let ran = self
            .session()
            .await?
            .run_script("Image Assistant create-image", &script, 900)
            .await;
        // The builder starts snapshotting as the command ends; its answer may never come back.
        if let Err(e) = ran
            && describe(&self.apps, &name).await?.is_none()
        {
            return Err(e);
        }
        if let Some(node) = self.p.nodes.on_builder(&self.ssm, &self.builder()).await? {
            hybrid::deregister(&self.ssm, &node).await?;
        }
        Ok(RecipeOutputs::image(&self.home, name))
    }

    /// The capture's one command: `update-default-profile` when asked, the registration removed
    /// from disk, then `create-image` with the image's name, display name, description and tags.
    fn capture_script(&self, name: &str) -> String {
        let os = self.r.recipe.os.value;
        let values = self.values();
        let shown = |d: &Option<recipe_model::Node<String>>| d.as_ref().map(|d| values.apply(d));
        let (display, description) = (
            shown(&self.r.recipe.image.display_name),
            shown(&self.r.recipe.image.description),
        );
        let tags = self.image_tags();
        let mut args = vec![("name", vec![name])];
        args.extend(display.as_deref().map(|d| ("display-name", vec![d])));
        args.extend(description.as_deref().map(|d| ("description", vec![d])));
        let pairs = tags.iter().flat_map(|(k, v)| [k.as_str(), v.as_str()]);
        args.push(("tags", pairs.collect()));
        let call = render::image_assistant_call(os, "create-image", &args);
        let profile = self.r.recipe.image.update_default_profile.as_ref();
        let profile = match profile.is_some_and(|u| u.value) {
            true => format!(
                "{}\n",
                render::image_assistant_call(os, "update-default-profile", &[])
            ),
            false => String::new(),
        };
        let forget = hybrid::remove_registration_now(os);
        format!("{profile}{forget}\n{call}")
    }

    /// The managed-update route: CreateUpdatedImage of the current version's image (the base image
    /// for the first version), which AppStream brings up to date (agent, Windows patches).
    async fn managed_update(&self) -> Result<RecipeOutputs, ActionError> {
        let source = update_source(self.r, self.cx.current(self.name), &self.home);
        let name = self.image_name();
        let values = self.values();
        self.apps
            .create_updated_image()
            .existing_image_name(&source)
            .new_image_name(&name)
            .set_new_image_display_name(
                self.r
                    .recipe
                    .image
                    .display_name
                    .as_ref()
                    .map(|d| values.apply(d)),
            )
            .set_new_image_description(
                self.r
                    .recipe
                    .image
                    .description
                    .as_ref()
                    .map(|d| values.apply(d)),
            )
            .set_new_image_tags(Some(self.image_tags().into_iter().collect()))
            .send()
            .await
            .ctx("appstream", "CreateUpdatedImage")?;
        Ok(RecipeOutputs::image(&self.home, name))
    }

    /// The import route: CreateImportedImage of the parent's AMI, with the `app` steps as the
    /// application catalog; its dry run first, so that a refused AMI or role fails before anything
    /// is made.
    async fn import(&self, ami: &str) -> Result<RecipeOutputs, ActionError> {
        let name = self.image_name();
        let role = self.r.recipe.builder.iam_role_arn.as_ref().ok_or_else(|| {
            ActionError::fatal("the import route needs builder.iam-role-arn: a role AppStream assumes to read the AMI")
        })?;
        let values = self.values();
        let call = || {
            self.apps
                .create_imported_image()
                .name(&name)
                .source_ami_id(ami)
                .iam_role_arn(&role.value)
                .set_display_name(
                    self.r
                        .recipe
                        .image
                        .display_name
                        .as_ref()
                        .map(|d| values.apply(d)),
                )
                .set_description(
                    self.r
                        .recipe
                        .image
                        .description
                        .as_ref()
                        .map(|d| values.apply(d)),
                )
                .set_app_catalog_config(Some(self.catalog()))
                .set_runtime_validation_config(self.r.recipe.builder.instance_type.as_ref().map(
                    |t| {
                        aws_sdk_appstream::types::RuntimeValidationConfig::builder()
                            .intended_instance_type(&t.value)
                            .build()
                    },
                ))
                .set_tags(Some(self.image_tags().into_iter().collect()))
        };
        match call().dry_run(true).send().await.ctx("appstream", "CreateImportedImage") {
            Err(e) if e.is("DryRunOperationException") => {}
            Err(e) => return Err(e.with_help("CreateImportedImage refused the AMI in its dry run: see the requirements in docs/appstream.md (import route)").into()),
            Ok(_) => {}
        }
        call()
            .send()
            .await
            .ctx("appstream", "CreateImportedImage")?;
        Ok(RecipeOutputs::image(&self.home, name))
    }

    /// The recipe's `app` steps as the image's application catalog.
    fn catalog(&self) -> Vec<aws_sdk_appstream::types::ApplicationConfig> {
        let apps = self.r.steps.iter().filter_map(|s| match &s.step.value {
            recipe_model::Step::App(a) => Some(a),
            _ => None,
        });
        apps.map(|a| {
            aws_sdk_appstream::types::ApplicationConfig::builder()
                .name(&a.id.value)
                .absolute_app_path(&a.path.value)
                .set_display_name(a.display_name.as_ref().map(|d| d.value.clone()))
                .set_launch_parameters(a.launch_parameters.as_ref().map(|d| d.value.clone()))
                .set_working_directory(a.working_directory.as_ref().map(|d| d.value.clone()))
                .set_absolute_icon_path(a.icon_path.as_ref().map(|d| d.value.clone()))
                .build()
        })
        .collect()
    }

    pub(crate) async fn wait_available(&self) -> Result<RecipeOutputs, ActionError> {
        let (p, home, client) = (self.p, self.home.as_str(), self.apps.clone());
        let wait =
            |image: String| async move { poll::wait_image(p.on(home, client), &image).await };
        let delete = |image: String| async move { delete_image(p, home, &image).await };
        recipe_ssm::image_available(&self.s, wait, delete).await
    }

    /// The seed's tags on the image in `region` (TagResource replaces values: idempotent).
    async fn tag_in(&self, region: &str, image: &str) -> Result<(), ActionError> {
        let client = self.p.appstream(region);
        let arn = arn_of(&client, image).await?;
        client
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(self.image_tags().into_iter().collect()))
            .send()
            .await
            .ctx("appstream", "TagResource")?;
        Ok(())
    }

    pub(crate) async fn tag(&self) -> Result<(), ActionError> {
        let image = self.need_image(&self.home, "tag")?;
        self.tag_in(&self.home, &image).await
    }

    /// CopyImage, called in the source region; the copy is tagged in the destination once
    /// AVAILABLE. The engine keeps at most two copies to one destination in flight.
    pub(crate) async fn copy(&self, region: &str) -> Result<RecipeOutputs, ActionError> {
        let source = self.need_image(&self.home, "copy")?;
        let src = describe(&self.apps, &source).await?;
        let client = self.p.appstream(region);
        let name = self.image_name();
        if self.existing(&client, src.as_ref()).await?.is_none() {
            let mut call = self
                .apps
                .copy_image()
                .source_image_name(&source)
                .destination_image_name(&name)
                .destination_region(region);
            if let Some(d) = src.as_ref().and_then(|i| i.description()) {
                call = call.destination_image_description(d);
            }
            call.send().await.ctx("appstream", "CopyImage")?;
        }
        self.waiting(format!("the copy {name} in {region} to become AVAILABLE"));
        poll::wait_image(self.p.on(region, client), &name).await?;
        self.tag_in(region, &name).await?;
        Ok(RecipeOutputs::image(region, name))
    }

    /// UpdateImagePermissions per account with the plan's fleet and image-builder rights, or (no
    /// grant) DeleteImagePermissions to revoke, in the image's region.
    pub(crate) async fn share(&self, change: &ShareChange<'_>) -> Result<(), ActionError> {
        let (principals, region, grant) = (change.principals, change.region, change.grant);
        let image = self.need_image(region, "share")?;
        let client = self.p.appstream(region);
        for account in principals {
            let Some(g) = &grant else {
                revoke(&client, &image, account).await?;
                continue;
            };
            let perms = ImagePermissions::builder()
                .allow_fleet(g.fleet.contains(account))
                .allow_image_builder(g.image_builder.contains(account))
                .build();
            client
                .update_image_permissions()
                .name(&image)
                .shared_account_id(account)
                .image_permissions(perms)
                .send()
                .await
                .ctx("appstream", "UpdateImagePermissions")?;
        }
        Ok(())
    }

    /// The recipe's changed tags on the current images. TagResource and UntagResource take the
    /// image's ARN.
    pub(crate) async fn retag(&self, r: Retag<'_>) -> Result<(), ActionError> {
        let p = self.p;
        let find = |region: String, image: String| async move {
            let client = p.appstream(&region);
            Ok((client.clone(), arn_of(&client, &image).await?))
        };
        let add = |(client, arn): (Client, String), tags: BTreeMap<String, String>| async move {
            let call = client.tag_resource().resource_arn(&arn);
            let call = call.set_tags(Some(tags.into_iter().collect()));
            call.send().await.ctx("appstream", "TagResource")?;
            Ok(())
        };
        let take = |(client, arn): (Client, String), keys: Vec<String>| async move {
            let call = client.untag_resource().resource_arn(&arn);
            call.set_tag_keys(Some(keys))
                .send()
                .await
                .ctx("appstream", "UntagResource")?;
            Ok(())
        };
        self.retag_with(r, find, add, take).await
    }

    /// Delete an old version's images in every region, unless a fleet uses one.
    pub(crate) async fn retire(&self, build_id: &str) -> Result<(), ActionError> {
        let p = self.p;
        let used_by = |region: String, image: String| async move {
            let fleets = crate::rollout::fleets_using(&p.appstream(&region), &image).await?;
            Ok(fleets.first().map(|f| format!("fleet {f}")))
        };
        let delete =
            |region: String, image: String| async move { delete_image(p, &region, &image).await };
        self.retire_with(build_id, used_by, delete).await
    }
}

/// What a managed update starts from: the current version's image in `home`, else the base image.
pub(crate) fn update_source(
    r: &recipe_loader::LoadedRecipe,
    current: Option<&recipe_state::ImageVersion>,
    home: &str,
) -> String {
    if let Some(img) = current.and_then(|v| v.images.get(home)) {
        return img.image_id.clone();
    }
    let base = &r.recipe.base.value;
    match base.declared(recipe_model::BaseKind::of(&recipe_targets::IMAGE_BASE)) {
        Some(i) => i.value.clone(),
        None => base.kind().to_string(),
    }
}

/// Whether AppStream has an update for image `source` (CreateUpdatedImage's dry run).
pub(crate) async fn can_update(
    client: &aws_sdk_appstream::Client,
    source: &str,
    recipe: &str,
) -> Result<bool, AwsError> {
    let out = client
        .create_updated_image()
        .existing_image_name(source)
        .new_image_name(format!("recipe-update-check-{recipe}"))
        .dry_run(true)
        .send()
        .await
        .ctx("appstream", "CreateUpdatedImage")?;
    Ok(out.can_update_image() == Some(true))
}

/// The ARN of image `name` in the client's region.
pub(crate) async fn arn_of(
    client: &aws_sdk_appstream::Client,
    name: &str,
) -> Result<String, ActionError> {
    let image = describe(client, name).await?;
    image
        .and_then(|i| i.arn().map(str::to_string))
        .ok_or_else(|| ActionError::fatal(format!("the image {name} no longer exists")))
}

/// Revoke `account`'s use of `image` (one never granted counts as revoked).
async fn revoke(
    client: &aws_sdk_appstream::Client,
    image: &str,
    account: &str,
) -> Result<(), ActionError> {
    match client
        .delete_image_permissions()
        .name(image)
        .shared_account_id(account)
        .send()
        .await
        .ctx("appstream", "DeleteImagePermissions")
    {
        Err(e) if e.is("ResourceNotFoundException") => Ok(()),
        other => other.map(|_| ()).map_err(Into::into),
    }
}

/// The accounts image `name` is shared with.
pub(crate) async fn shared_with(
    client: &aws_sdk_appstream::Client,
    name: &str,
) -> Result<Vec<String>, AwsError> {
    let (mut all, mut token) = (Vec::new(), None);
    loop {
        let got = client
            .describe_image_permissions()
            .name(name)
            .set_next_token(token)
            .send()
            .await
            .ctx("appstream", "DescribeImagePermissions");
        let out = match got {
            Err(e) if e.is("ResourceNotFoundException") => return Ok(all),
            other => other?,
        };
        let accounts = out.shared_image_permissions_list().iter();
        all.extend(
            accounts
                .filter_map(|p| p.shared_account_id())
                .map(str::to_string),
        );
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(all);
        }
    }
}

/// Delete an image (one already gone counts as deleted); its permissions are removed first.
pub(crate) async fn delete_image(
    p: &AppstreamProvider,
    region: &str,
    image: &str,
) -> Result<(), ActionError> {
    let client = p.appstream(region);
    for account in shared_with(&client, image).await? {
        revoke(&client, image, &account).await?;
    }
    let answer = client.delete_image().name(image).send().await;
    // An image a fleet or builder uses: ResourceInUseException.
    AwsError::deleted(answer.ctx("appstream", "DeleteImage"), "ResourceInUse")
}

/// The caller's own images in the client's region, every page (public images and images shared
/// with the caller are left out: a recipient sees `ImagePermissions`).
/// The newest of AWS's public images in `base`'s line (same name but for its release date
/// `-MM-DD-YYYY`, same platform), if it is newer than `base`: one DescribeImages listing of public
/// images. `None` when `base` is not a public image, or is the newest.
pub(crate) async fn newer_release(
    client: &aws_sdk_appstream::Client,
    base: &str,
) -> Result<Option<String>, AwsError> {
    let public = public_images(client).await?;
    let Some(current) = public.iter().find(|i| i.name() == Some(base)) else {
        return Ok(None);
    };
    let line = release_line(base);
    let newest = public
        .iter()
        .filter(|i| i.name().is_some_and(|n| release_line(n) == line))
        .filter(|i| i.platform() == current.platform())
        .max_by_key(|i| i.created_time().map(|t| t.secs()));
    Ok(newest
        .filter(|n| n.created_time().map(|t| t.secs()) > current.created_time().map(|t| t.secs()))
        .and_then(|n| n.name())
        .map(str::to_string))
}

/// An AppStream public image's name without its release date (`AppStream-WinServer2022-06-17-2025`
/// is in the line `AppStream-WinServer2022`).
fn release_line(name: &str) -> &str {
    let parts: Vec<&str> = name.rsplitn(4, '-').collect();
    let dated = parts.len() == 4
        && parts[..3]
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_digit()));
    if dated { parts[3] } else { name }
}

/// DescribeImages in the client's region, every page, of `kind` (every visibility when `None`).
async fn images(
    client: &aws_sdk_appstream::Client,
    kind: Option<aws_sdk_appstream::types::VisibilityType>,
) -> Result<Vec<Image>, AwsError> {
    let page = |t| {
        client
            .describe_images()
            .set_type(kind.clone())
            .set_next_token(t)
            .send()
    };
    let split = |o: DescribeImagesOutput| (o.images, o.next_token);
    every_page(("appstream", "DescribeImages"), page, split).await
}

/// AWS's public images in the client's region.
async fn public_images(client: &aws_sdk_appstream::Client) -> Result<Vec<Image>, AwsError> {
    images(
        client,
        Some(aws_sdk_appstream::types::VisibilityType::Public),
    )
    .await
}

/// The caller's own images in the client's region (neither public nor shared with it).
pub(crate) async fn owned_images(
    client: &aws_sdk_appstream::Client,
) -> Result<Vec<Image>, AwsError> {
    let all = images(client, None).await?;
    let own = all.into_iter().filter(|i| {
        i.visibility() != Some(&VisibilityType::Public) && i.image_permissions().is_none()
    });
    Ok(own.collect())
}
