//! AppStream's state per account and region, and its state machine: images PENDING → AVAILABLE;
//! builders PENDING → RUNNING, SNAPSHOTTING → STOPPED, STOPPING → STOPPED, DELETING → gone; fleets
//! STARTING → RUNNING, STOPPING → STOPPED.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::ApiError;
use crate::clock::Durations;
use crate::members::scoped;
use crate::protocol::Call;

use super::model::*;
use super::wire::*;

/// AppStream's state. Maps are keyed `owner/region/name`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Appstream {
    /// Images, the public ones under owner [`AWS_OWNER`].
    pub images: BTreeMap<String, Image>,
    /// Image builders.
    pub builders: BTreeMap<String, ImageBuilder>,
    /// Fleets.
    pub fleets: BTreeMap<String, Fleet>,
    /// Regions whose public images exist.
    pub seeded: BTreeSet<String>,
}

/// What using an image needs permission for.
#[derive(Clone, Copy)]
pub(super) enum Purpose {
    Fleet,
    ImageBuilder,
}

impl Appstream {
    /// Advance pending phases: images become AVAILABLE; builders RUNNING, STOPPED (a SNAPSHOTTING builder
    /// stops once its image is done), or gone after DELETING; fleets RUNNING or STOPPED.
    pub fn tick(&mut self, now: u64, d: &Durations) {
        for img in self.images.values_mut() {
            if IMAGE_PENDING_STATES.contains(&img.state.as_str())
                && now >= img.ready_at
                && !img.capturing
            {
                img.state = "AVAILABLE".into();
            }
        }
        self.builders
            .retain(|_, b| b.state != "DELETING" || now < b.ready_at);
        for b in self.builders.values_mut() {
            if b.state == "SNAPSHOTTING" && now >= b.ready_at {
                b.state = "STOPPING".into();
                b.ready_at = b.ready_at.saturating_add(d.builder_start_ms);
            }
            if now >= b.ready_at {
                match b.state.as_str() {
                    "PENDING" => b.state = "RUNNING".into(),
                    "STOPPING" => b.state = "STOPPED".into(),
                    _ => {}
                }
            }
        }
        for f in self.fleets.values_mut() {
            if now >= f.ready_at {
                match f.state.as_str() {
                    "STARTING" => f.state = "RUNNING".into(),
                    "STOPPING" => f.state = "STOPPED".into(),
                    _ => {}
                }
            }
        }
    }

    /// Create the public base images of a region, once. Each carries the agent of its release (the
    /// `MM-DD-YYYY` its name ends with).
    pub(super) fn seed(&mut self, region: &str) {
        if !self.seeded.insert(region.to_string()) {
            return;
        }
        for (name, platform, description, released) in PUBLIC_IMAGES {
            self.images.insert(
                scoped(AWS_OWNER, region, name),
                Image {
                    name: (*name).into(),
                    owner: AWS_OWNER.into(),
                    region: region.into(),
                    arn: format!("arn:aws:appstream:{region}::image/{name}"),
                    display_name: (*name).into(),
                    description: (*description).into(),
                    state: "AVAILABLE".into(),
                    created_ms: *released,
                    agent_version: release_of(name),
                    platform: (*platform).into(),
                    ..Default::default()
                },
            );
        }
    }

    /// The key of the image `account` means by `name`: its own, a public one, or one shared with it.
    pub(super) fn image_named(&self, account: &str, region: &str, name: &str) -> Option<String> {
        [
            scoped(account, region, name),
            scoped(AWS_OWNER, region, name),
        ]
        .into_iter()
        .find(|k| self.images.contains_key(k))
        .or_else(|| {
            self.images
                .iter()
                .find(|(_, i)| {
                    i.region == region && i.name == name && i.shared_with.contains_key(account)
                })
                .map(|(k, _)| k.clone())
        })
    }

    /// The key of the image with this ARN, if `account` may see it.
    pub(super) fn image_with_arn(&self, account: &str, region: &str, arn: &str) -> Option<String> {
        self.images
            .iter()
            .find(|(_, i)| i.arn == arn && i.region == region && i.permissions(account).is_some())
            .map(|(k, _)| k.clone())
    }

    /// The image a CreateImageBuilder / CreateFleet / UpdateFleet names by `ImageName` or `ImageArn`: it must
    /// be visible, AVAILABLE, and (when shared) shared for this purpose.
    pub(super) fn source_image(&self, c: &Call, purpose: Purpose) -> Result<&Image, ApiError> {
        let found = match (opt_str(c, "ImageName"), opt_str(c, "ImageArn")) {
            (Some(_), Some(_)) => {
                return Err(invalid_combination(
                    "Specify ImageName or ImageArn, not both.",
                ));
            }
            (None, None) => return Err(invalid_combination("ImageName or ImageArn is required.")),
            (Some(name), None) => self
                .image_named(&c.account, &c.region, name)
                .ok_or_else(|| not_found("image", name))?,
            (None, Some(arn)) => self
                .image_with_arn(&c.account, &c.region, arn)
                .ok_or_else(|| not_found("image", arn))?,
        };
        let img = &self.images[&found];
        let perms = img.permissions(&c.account).unwrap_or_default();
        let (what, allowed) = match purpose {
            Purpose::Fleet => ("fleets", perms.allow_fleet),
            Purpose::ImageBuilder => ("image builders", perms.allow_image_builder),
        };
        if !allowed {
            return Err(ApiError::client(
                "OperationNotPermittedException",
                format!(
                    "The image {} is not shared with account {} for {what}.",
                    img.name, c.account
                ),
            ));
        }
        if img.state != "AVAILABLE" {
            return Err(ApiError::client(
                "ResourceNotAvailableException",
                format!(
                    "The image {} is not available (state {}).",
                    img.name, img.state
                ),
            ));
        }
        Ok(img)
    }

    /// A recipient lost fleet permission on an image: its fleets using it go to no capacity.
    pub(super) fn drain_fleets(&mut self, image_arn: &str, account: &str) {
        for f in self
            .fleets
            .values_mut()
            .filter(|f| f.account == account && f.image_arn == image_arn)
        {
            f.desired = 0;
        }
    }

    /// The tags of the resource an ARN names, if it is the caller's, in the caller's region.
    pub(super) fn tags_of(&mut self, c: &Call, arn: &str) -> Option<&mut BTreeMap<String, String>> {
        let rest = arn.strip_prefix("arn:aws:appstream:")?;
        let (region, rest) = rest.split_once(':')?;
        let (account, resource) = rest.split_once(':')?;
        let (kind, name) = resource.split_once('/')?;
        if region != c.region || account != c.account {
            return None;
        }
        let k = scoped(account, region, name);
        match kind {
            "image" => self.images.get_mut(&k).map(|i| &mut i.tags),
            "image-builder" => self.builders.get_mut(&k).map(|b| &mut b.tags),
            "fleet" => self.fleets.get_mut(&k).map(|f| &mut f.tags),
            _ => None,
        }
    }
}

/// The `MM-DD-YYYY` release a public image's name ends with.
fn release_of(name: &str) -> String {
    let parts: Vec<&str> = name.rsplitn(4, '-').collect();
    match parts.as_slice() {
        [y, d, m, _] => format!("{m}-{d}-{y}"),
        _ => AGENT_VERSION.into(),
    }
}
