//! The state document: image versions per recipe.

use std::collections::{BTreeMap, BTreeSet};

use recipe_model::Target;
use serde::{Deserialize, Serialize};

/// Everything recorded for one recipe.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipeState {
    /// The recipe's name.
    pub recipe: String,
    /// Image versions, oldest first.
    pub versions: Vec<ImageVersion>,
}

impl RecipeState {
    /// An empty record for a recipe.
    pub fn new(recipe: impl Into<String>) -> Self {
        RecipeState {
            recipe: recipe.into(),
            versions: Vec::new(),
        }
    }

    /// The newest version that finished building (any status but `building` and `failed`).
    pub fn current(&self) -> Option<&ImageVersion> {
        self.versions.iter().rev().find(|v| v.status.is_live())
    }

    /// A version by build id.
    pub fn version(&self, build_id: &str) -> Option<&ImageVersion> {
        self.versions.iter().find(|v| v.build_id == build_id)
    }
}

/// Where a version is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VersionStatus {
    /// Being built; not usable yet.
    Building,
    /// Built and usable.
    Available,
    /// Deprecated (still launchable, hidden from most listings).
    Deprecated,
    /// Deregistered or deleted by retention.
    Retired,
    /// The build failed.
    Failed,
}

impl VersionStatus {
    /// Built and not retired: counts for retention and is the base of children.
    pub fn is_live(&self) -> bool {
        matches!(self, VersionStatus::Available | VersionStatus::Deprecated)
    }

    /// The name as written.
    pub fn as_str(&self) -> &'static str {
        match self {
            VersionStatus::Building => "building",
            VersionStatus::Available => "available",
            VersionStatus::Deprecated => "deprecated",
            VersionStatus::Retired => "retired",
            VersionStatus::Failed => "failed",
        }
    }
}

/// One image version: one build of a recipe, copied to regions and shared.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ImageVersion {
    /// Unique id of the build, also tagged on every resource it created (`recipe:build-id`).
    pub build_id: String,
    /// The recipe's `version` when it was built.
    pub version: String,
    /// The target.
    pub target: Target,
    /// Hash of the recipe, its files, its variables and its resolved base (see recipe-plan).
    pub fingerprint: String,
    /// The hash of each part of the fingerprint (`recipe`, `base`, `vars`, `file:<path>`), so a plan can
    /// say what changed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fingerprint_parts: BTreeMap<String, String>,
    /// The base image the build started from (resolved id).
    pub base_image: String,
    /// The parent recipe's version, for layered recipes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ParentRef>,
    /// Status.
    pub status: VersionStatus,
    /// The build region.
    pub home_region: String,
    /// Image per region (the home region included).
    #[serde(default)]
    pub images: BTreeMap<String, RegionImage>,
    /// Principals the image is shared with.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub shares: BTreeSet<Share>,
    /// Where the version was rolled out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollout: Vec<String>,
    /// When the build started (RFC 3339, UTC).
    pub created_at: jiff::Timestamp,
    /// When the record last changed.
    pub updated_at: jiff::Timestamp,
    /// When the version was deprecated, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated_at: Option<jiff::Timestamp>,
    /// The recipe's `image.tags`, as written, when the images were last tagged (`None`: recorded
    /// before tags were kept), so that a change of tags alone retags instead of rebuilding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tags: Option<BTreeMap<String, String>>,
}

impl ImageVersion {
    /// The regions the version exists in.
    pub fn regions(&self) -> impl Iterator<Item = &str> {
        self.images.keys().map(String::as_str)
    }
}

/// The parent of a layered version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ParentRef {
    /// The parent recipe.
    pub recipe: String,
    /// The parent's build id.
    pub build_id: String,
}

/// The image in one region.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RegionImage {
    /// The image id (`ami-…`, `wsi-…`, or an AppStream image ARN or name).
    pub image_id: String,
    /// Snapshot ids behind the image (AMIs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub snapshot_ids: Vec<String>,
}

/// A principal an image is shared with.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Share {
    /// Account id, organization ARN or OU ARN.
    pub principal: String,
    /// The region the share applies in.
    pub region: String,
    /// AppStream: fleet permission.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fleet: bool,
    /// AppStream: image-builder permission.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub image_builder: bool,
}
