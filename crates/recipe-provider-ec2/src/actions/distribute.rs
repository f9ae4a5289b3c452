//! Distribution: copies to other regions (called in the destination with an idempotent client
//! token), shares (launch permissions, and createVolumePermission on the snapshots for accounts),
//! removed copies, and retagging when only `image.tags` changed.

use std::collections::BTreeMap;

use aws_sdk_ec2::Client as Ec2;
use aws_sdk_ec2::types::{
    LaunchPermission, LaunchPermissionModifications, OperationType, SnapshotAttributeName,
};
use recipe_aws::{AwsError, Context};
use recipe_engine::{ActionError, RecipeOutputs, Retag, ShareChange};
use recipe_plan::BuildValues;

use super::Act;
use super::capture::snapshots_of;
use crate::{tag, tag_list};

fn principal_permission(principal: &str) -> LaunchPermission {
    if principal.contains(":ou/") {
        LaunchPermission::builder()
            .organizational_unit_arn(principal)
            .build()
    } else if principal.contains(":organization/") {
        LaunchPermission::builder()
            .organization_arn(principal)
            .build()
    } else {
        LaunchPermission::builder().user_id(principal).build()
    }
}

impl Act<'_> {
    /// The placeholder values and image name a copy carries: this build's, or (a copy of the current
    /// version outside a build) the current version's.
    fn copy_identity(&self) -> (BuildValues, String) {
        let v = self.values();
        match self.cx.current(self.name).filter(|_| v.build_id.is_empty()) {
            Some(c) => (
                BuildValues::of_version(c),
                format!("{}-{}", self.name, c.version),
            ),
            None => {
                let name = v.apply(&self.r.recipe.image.name);
                (v, name)
            }
        }
    }

    pub(super) async fn copy(&self, region: &str) -> Result<RecipeOutputs, ActionError> {
        let source = self.need_image(&self.home, "copy")?;
        let dest = self.p.ec2(region);
        let (values, image_name) = self.copy_identity();
        let build = values.build_id.clone();
        let mut req = dest
            .copy_image()
            .source_image_id(&source)
            .source_region(&self.home)
            .name(&image_name)
            .copy_image_tags(true)
            .client_token(format!("{build}-{region}"));
        if let Some(d) = &self.r.recipe.distribute {
            if let Some(k) = d.kms_keys.get(region) {
                req = req.encrypted(true).kms_key_id(&k.value);
            } else if d.encrypted.as_ref().is_some_and(|e| e.value) {
                req = req.encrypted(true);
            }
        }
        let made = req.send().await.ctx("ec2", "CopyImage")?;
        let id = made
            .image_id()
            .filter(|i| !i.is_empty())
            .ok_or_else(|| AwsError::missing("ec2", "CopyImage", "ImageId"))?
            .to_string();
        self.wait_image(region, &id).await?;
        // CopyImage copies the image's tags, not its snapshots' (the new snapshots are the copy's own).
        let snaps = snapshots_of(&dest, &id).await?;
        if !snaps.is_empty() {
            let tags = self.image_tags_with("");
            dest.create_tags()
                .set_resources(Some(snaps.clone()))
                .set_tags(Some(tag_list(&tags)))
                .send()
                .await
                .ctx("ec2", "CreateTags")?;
        }
        let mut made = RecipeOutputs::image(region, id);
        made.merge(&RecipeOutputs::snapshots(region, snaps));
        Ok(made)
    }

    /// Grant (or revoke) principals' use of the image in `region`: one ModifyImageAttribute carries
    /// every account, organization and OU, and one ModifySnapshotAttribute per snapshot every account.
    /// Both are idempotent (adding a permission already there, or removing one that is not, succeeds).
    pub(super) async fn share(&self, change: &ShareChange<'_>) -> Result<(), ActionError> {
        let (principals, region) = (change.principals, change.region);
        let add = change.grant.is_some();
        let id = self.need_image(region, "share")?;
        let client = self.p.ec2(region);
        let perms: Vec<LaunchPermission> =
            principals.iter().map(|p| principal_permission(p)).collect();
        let m = if add {
            LaunchPermissionModifications::builder().set_add(Some(perms))
        } else {
            LaunchPermissionModifications::builder().set_remove(Some(perms))
        };
        client
            .modify_image_attribute()
            .image_id(&id)
            .launch_permission(m.build())
            .send()
            .await
            .ctx("ec2", "ModifyImageAttribute")?;
        // Accounts also get createVolumePermission on the snapshots, which they need to copy the image
        // or make volumes from it. (Snapshots cannot be shared with an organization or OU: those
        // principals copy through the launch permission alone.)
        let accounts: Vec<String> = principals
            .iter()
            .filter(|p| p.chars().all(|c| c.is_ascii_digit()))
            .cloned()
            .collect();
        if accounts.is_empty() {
            return Ok(());
        }
        let op = if add {
            OperationType::Add
        } else {
            OperationType::Remove
        };
        let snaps = match self.known_snapshots(region) {
            Some(s) => s,
            None => snapshots_of(&client, &id).await?,
        };
        for snap in snaps {
            client
                .modify_snapshot_attribute()
                .snapshot_id(&snap)
                .attribute(SnapshotAttributeName::CreateVolumePermission)
                .operation_type(op.clone())
                .set_user_ids(Some(accounts.clone()))
                .send()
                .await
                .ctx("ec2", "ModifySnapshotAttribute")?;
        }
        Ok(())
    }

    pub(super) async fn remove_copy(
        &self,
        region: &str,
        image_id: &str,
    ) -> Result<(), ActionError> {
        Ok(self.p.deregister(region, image_id).await?)
    }

    /// Tag the current version's images and their snapshots in `r.regions` (a copy made in this
    /// plan comes in the inputs).
    pub(super) async fn retag(&self, r: Retag<'_>) -> Result<(), ActionError> {
        let p = self.p;
        let find = |region: String, id: String| async move {
            let client = p.ec2(&region);
            Ok((client.clone(), with_snapshots(&client, id).await?))
        };
        let add = |(client, ids): (Ec2, Vec<String>), tags: BTreeMap<String, String>| async move {
            let tags = tags.iter().map(|(k, v)| tag(k, v)).collect();
            let call = client
                .create_tags()
                .set_tags(Some(tags))
                .set_resources(Some(ids));
            call.send().await.ctx("ec2", "CreateTags")?;
            Ok(())
        };
        let take = |(client, ids): (Ec2, Vec<String>), keys: Vec<String>| async move {
            let keys = keys
                .iter()
                .map(|k| aws_sdk_ec2::types::Tag::builder().key(k).build());
            let call = client.delete_tags().set_tags(Some(keys.collect()));
            call.set_resources(Some(ids))
                .send()
                .await
                .ctx("ec2", "DeleteTags")?;
            Ok(())
        };
        self.retag_with(r, find, add, take).await
    }
}

/// An image and its snapshots: tags go on all of them.
async fn with_snapshots(
    client: &aws_sdk_ec2::Client,
    id: String,
) -> Result<Vec<String>, ActionError> {
    let snapshots = snapshots_of(client, &id).await?;
    Ok(std::iter::once(id).chain(snapshots).collect())
}
