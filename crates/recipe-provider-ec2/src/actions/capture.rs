//! The image: created from the builder (adopted after a crash only if it is this build's), waited
//! for (discarded with its snapshots if it fails), and tagged with its snapshots.

use aws_sdk_ec2::types::{ResourceType, TagSpecification};
use recipe_aws::{AwsError, Context};
use recipe_engine::{ActionError, ActionKind, RecipeOutputs};

use super::Act;
use crate::{Ec2Provider, filter, poll, tag_list, tag_value};

/// The snapshots behind an image.
pub(crate) async fn snapshots_of(
    client: &aws_sdk_ec2::Client,
    image: &str,
) -> Result<Vec<String>, ActionError> {
    let call = client.describe_images().image_ids(image).send().await;
    let d = call.ctx("ec2", "DescribeImages")?;
    Ok(d.images()
        .first()
        .map(|i| {
            i.block_device_mappings()
                .iter()
                .filter_map(|b| b.ebs().and_then(|e| e.snapshot_id()))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default())
}

impl Ec2Provider {
    /// Deregister an image with its snapshots; an image already gone counts as done.
    pub(crate) async fn deregister(&self, region: &str, id: &str) -> Result<(), AwsError> {
        let client = self.ec2(region);
        let done = recipe_aws::persist(
            recipe_aws::CLEANUP_ATTEMPTS,
            recipe_aws::CLEANUP_BACKOFF,
            || {
                let call = client
                    .deregister_image()
                    .image_id(id)
                    .delete_associated_snapshots(true)
                    .send();
                async { call.await.ctx("ec2", "DeregisterImage") }
            },
        )
        .await;
        match done {
            Err(e) if !e.is_gone() => Err(e),
            _ => Ok(()),
        }
    }
}

impl Act<'_> {
    pub(super) async fn capture(&self) -> Result<RecipeOutputs, ActionError> {
        let ActionKind::Capture { fingerprint, .. } = &self.a.action else {
            return Err(ActionError::fatal("capture runs on a capture action"));
        };
        let v = self.values();
        let image_name = v.apply(&self.r.recipe.image.name);
        let id = match self.adoptable(&image_name).await? {
            Some(id) => id,
            None => self.create_image(&image_name, fingerprint).await?,
        };
        Ok(RecipeOutputs::image(&self.home, id))
    }

    /// CreateImage has no client token: after a crash, find this build's image by name instead. A
    /// same-named image of another build (or made by hand) is never adopted.
    async fn adoptable(&self, image_name: &str) -> Result<Option<String>, ActionError> {
        let existing = self
            .ec2
            .describe_images()
            .owners("self")
            .filters(filter("name", &[image_name]))
            .send()
            .await
            .ctx("ec2", "DescribeImages")?;
        let Some(found) = existing.images().first() else {
            return Ok(None);
        };
        let build = tag_value(found.tags(), recipe_aws::tags::BUILD_ID).unwrap_or_default();
        if build != self.values().build_id {
            let from = if build.is_empty() {
                "not made by recipe".to_string()
            } else {
                format!("from build {build}")
            };
            return Err(ActionError::fatal(format!(
                "an image named {image_name} already exists, {from}; make image.name unique per build (add ${{build_id}}, or ${{timestamp}} if two builds never start in the same second)"
            )));
        }
        Ok(found.image_id().map(str::to_string))
    }

    async fn create_image(
        &self,
        image_name: &str,
        fingerprint: &str,
    ) -> Result<String, ActionError> {
        let v = self.values();
        let tags = self.image_tags_with(fingerprint);
        let description = match &self.r.recipe.image.description {
            Some(d) => v.apply(d),
            None => format!("recipe {} {}", self.name, self.r.recipe.version.value),
        };
        let made = self
            .ec2
            .create_image()
            .instance_id(self.instance())
            .name(image_name)
            .description(description)
            // The snapshots are tagged by the `tag` action once the image is available (moto cannot
            // tag snapshots at creation).
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Image)
                    .set_tags(Some(tag_list(&tags)))
                    .build(),
            )
            .send()
            .await
            .ctx("ec2", "CreateImage");
        let made = match made {
            // The SDK retried a call whose answer was lost after the image was made: this build's
            // image holds the name now.
            Err(e) if e.is("InvalidAMIName.Duplicate") => {
                return match self.adoptable(image_name).await? {
                    Some(id) => Ok(id),
                    None => Err(e.into()),
                };
            }
            other => other?,
        };
        let id = made.image_id().filter(|i| !i.is_empty());
        Ok(id
            .ok_or_else(|| AwsError::missing("ec2", "CreateImage", "ImageId"))?
            .to_string())
    }

    /// Wait for an image in `region`; if it fails, discard it and say so.
    pub(super) async fn wait_image(&self, region: &str, image: &str) -> Result<(), ActionError> {
        let wait = poll::wait_available(self.p.on(region, self.p.ec2(region)), image);
        let discard = async || {
            self.p.deregister(region, image).await?;
            Ok(format!(
                "{image} was deregistered and its snapshots deleted"
            ))
        };
        recipe_ssm::until_available(&self.s, (region, image), wait, discard).await
    }

    pub(super) async fn wait_available(&self) -> Result<RecipeOutputs, ActionError> {
        let id = self.need_image(&self.home, "wait for")?;
        self.wait_image(&self.home, &id).await?;
        let snaps = snapshots_of(&self.ec2, &id).await?;
        Ok(RecipeOutputs::snapshots(&self.home, snaps))
    }

    /// Tag the image and its snapshots.
    pub(super) async fn tag(&self) -> Result<(), ActionError> {
        let id = self.need_image(&self.home, "tag")?;
        let tags = self.image_tags_with("");
        let mut resources = vec![id];
        resources.extend(self.inputs.snapshots(self.name, &self.home).iter().cloned());
        self.ec2
            .create_tags()
            .set_resources(Some(resources))
            .set_tags(Some(tag_list(&tags)))
            .send()
            .await
            .ctx("ec2", "CreateTags")?;
        Ok(())
    }
}
