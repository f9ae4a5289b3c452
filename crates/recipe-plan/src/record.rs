//! Turning a planned build into its state record.

use std::collections::BTreeMap;

use recipe_state::{ImageVersion, ParentRef, RegionImage, VersionStatus};

use crate::plan::RecipePlan;

/// The state record of a planned build once its capture, copies and shares have succeeded. The engine
/// records the same fields as each action finishes; `images` holds the image created in each region.
pub fn completed_version(
    rp: &RecipePlan,
    images: BTreeMap<String, RegionImage>,
    parent: Option<ParentRef>,
    now: jiff::Timestamp,
) -> Option<ImageVersion> {
    let b = rp.build.as_ref()?;
    Some(ImageVersion {
        build_id: b.build_id.clone(),
        version: b.version.clone(),
        target: rp.target,
        fingerprint: rp.fingerprint.clone(),
        fingerprint_parts: rp.fingerprint_parts.clone(),
        base_image: b.base.clone(),
        parent,
        status: VersionStatus::Available,
        home_region: b.home_region.clone(),
        images,
        shares: b.shares.iter().cloned().collect(),
        rollout: Vec::new(),
        created_at: now,
        updated_at: now,
        deprecated_at: None,
        image_tags: Some(b.image_tags.clone()),
    })
}
