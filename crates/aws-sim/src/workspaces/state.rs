//! WorkSpaces' state per account and region, and its state machine: WorkSpaces PENDING → AVAILABLE,
//! REBUILDING → AVAILABLE, TERMINATING → TERMINATED; images PENDING → AVAILABLE (or ERROR).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ApiError;
use crate::clock::Durations;
use crate::protocol::Call;

use super::model::*;
use super::wire::*;

/// WorkSpaces' state.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Workspaces {
    /// WorkSpaces by id.
    pub workspaces: BTreeMap<String, Workspace>,
    /// Images by id.
    pub images: BTreeMap<String, Image>,
    /// Custom bundles by id.
    pub bundles: BTreeMap<String, Bundle>,
    /// Deleted bundle names (`account/region/name`) → deletion time (ms): taken for 2 hours.
    pub deleted_names: BTreeMap<String, u64>,
    /// Public bundles AWS has moved to a newer image since the simulator's release: bundle id →
    /// (how many times, when last). AWS updates its public bundles' images in place (the bundle
    /// keeps its id; `ImageId` and `LastUpdatedTime` change).
    pub public_updates: BTreeMap<String, (u32, u64)>,
    /// BYOL settings by `account/region` (`account.rs`).
    pub byol: BTreeMap<String, super::account::Byol>,
    /// Directories registered with WorkSpaces, by `account/region/id` (`directories.rs`).
    pub directories: BTreeMap<String, super::directories::Registration>,
}

impl Workspaces {
    /// The image a WorkSpace was launched from: its name, and its sandbox artifact if it has one.
    pub fn image_of(&self, workspace: &str) -> Option<(String, Option<String>)> {
        let ws = self.workspaces.get(workspace)?;
        if let Some(b) = super::model::public_bundle(&ws.region, &ws.bundle_id) {
            let p = super::model::PUBLIC_BUNDLES.iter().find(|p| p.id == b.id)?;
            return Some((p.image_name.to_string(), None));
        }
        let bundle = self.bundles.get(&ws.bundle_id)?;
        let img = self.images.get(&bundle.image_id)?;
        Some((img.name.clone(), img.artifact.clone()))
    }

    /// Advance pending phases.
    pub fn tick(&mut self, now: u64, d: &Durations) {
        for img in self.images.values_mut() {
            if img.state == "PENDING" && now >= img.ready_at && !img.capturing {
                img.state = if img.fail { "ERROR" } else { "AVAILABLE" }.into();
            }
        }
        for ws in self.workspaces.values_mut() {
            auto_stop(ws, now, d);
            if now < ws.ready_at {
                continue;
            }
            if ws.state == "REBUILDING" && ws.rebuild_fails {
                ws.state = "UNHEALTHY".into();
                ws.rebuild_fails = false;
                continue;
            }
            let next = match ws.state.as_str() {
                // SUSPENDED only while an image is made: its ready_at is the image's.
                "PENDING" | "REBUILDING" | "SUSPENDED" | "STARTING" | "REBOOTING" => "AVAILABLE",
                "STOPPING" => "STOPPED",
                "TERMINATING" => "TERMINATED",
                _ => continue,
            };
            ws.state = next.into();
        }
    }

    /// An image the account can see in the region: its own, one shared with it, or a public one.
    pub(super) fn visible_image(&self, account: &str, region: &str, id: &str) -> Option<Image> {
        self.images
            .get(id)
            .filter(|i| {
                i.region == region && (i.owner == account || i.shared_with.contains(account))
            })
            .cloned()
            .or_else(|| public_image(region, id))
    }

    /// A bundle the account can use in the region: its own or a public one.
    pub(super) fn visible_bundle(&self, account: &str, region: &str, id: &str) -> Option<Bundle> {
        self.bundles
            .get(id)
            .filter(|b| b.region == region && b.owner == account)
            .cloned()
            .or_else(|| self.public_bundle_now(region, id))
    }

    /// A public bundle as it is now: its release image, or the newer one AWS moved it to.
    pub(super) fn public_bundle_now(&self, region: &str, id: &str) -> Option<Bundle> {
        let mut b = public_bundle(region, id)?;
        if let Some((n, at)) = self.public_updates.get(id) {
            b.image_id = format!("{}u{n}", b.image_id);
            b.updated_ms = *at;
        }
        Some(b)
    }

    /// Name and quota checks for a new image in the caller's account and region.
    pub(super) fn check_new_image(
        &self,
        account: &str,
        region: &str,
        name: &str,
    ) -> Result<(), ApiError> {
        let owned = move || {
            self.images
                .values()
                .filter(move |i| i.owner == account && i.region == region)
        };
        if owned().any(|i| i.name == name) {
            return Err(ApiError::client(
                EXISTS,
                "A WorkSpace image with the same name exists in the destination Region. Provide a unique destination image name, and try again.",
            ));
        }
        if owned().count() >= IMAGE_QUOTA {
            return Err(ApiError::client(
                LIMIT,
                format!(
                    "Your account can hold at most {IMAGE_QUOTA} WorkSpaces images in {region}."
                ),
            ));
        }
        Ok(())
    }

    /// The image a bundle may use: owned by the caller, in the region, AVAILABLE.
    pub(super) fn image_for_bundle(&self, c: &Call, image_id: &str) -> Result<(), ApiError> {
        match self.images.get(image_id) {
            Some(img) if img.region == c.region && img.owner == c.account => {
                if img.state == "AVAILABLE" {
                    Ok(())
                } else {
                    Err(ApiError::client(
                        UNAVAILABLE,
                        format!("The image {image_id} is not AVAILABLE ({}).", img.state),
                    ))
                }
            }
            Some(img) if img.region == c.region && img.shared_with.contains(&c.account) => {
                Err(invalid(format!(
                    "The image {image_id} is shared with your account: copy it to your account before you make a bundle of it."
                )))
            }
            _ if public_image(&c.region, image_id).is_some() => Err(invalid(format!(
                "The image {image_id} is a public image: a custom bundle needs an image you own."
            ))),
            _ => Err(ApiError::client(
                NOT_FOUND,
                format!("The image {image_id} could not be found."),
            )),
        }
    }
}

/// An AUTO_STOP WorkSpace that nobody uses stops once its timeout has passed since it became
/// AVAILABLE: "AutoStop: … stop after a specified period of inactivity"
/// (API_WorkspaceProperties, `RunningModeAutoStopTimeoutInMinutes`, default 60; the Administration
/// Guide, "Manage the running mode"). aws-sim models no user sessions, so no one is ever connected.
fn auto_stop(ws: &mut Workspace, now: u64, d: &Durations) {
    let props = &ws.properties;
    if ws.state != "AVAILABLE"
        || props.get("RunningMode").and_then(serde_json::Value::as_str) != Some("AUTO_STOP")
    {
        return;
    }
    let minutes = props
        .get("RunningModeAutoStopTimeoutInMinutes")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(60);
    let idle_until = ws.ready_at.saturating_add(minutes * 60_000);
    if now >= idle_until {
        ws.state = "STOPPING".into();
        ws.ready_at = idle_until.saturating_add(d.workspace_start_ms);
    }
}
