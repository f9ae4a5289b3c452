//! The refresh interface: what exists in the cloud, gathered before planning.
//!
//! Providers implement [`Observer`]: resolve each recipe's base image, and find the images, copies and
//! shares that exist, by the `recipe:*` tags every created resource carries. Planning itself is pure:
//! it takes the [`Observations`] as data.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use recipe_loader::LoadedRecipe;
use recipe_model::Base;
use recipe_state::RecipeState;
use serde::{Deserialize, Serialize};

/// What the cloud says.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Observations {
    /// The resolved base image per recipe (for SSM-parameter and filter bases).
    #[serde(default)]
    pub bases: BTreeMap<String, String>,
    /// Images found by their tags, per recipe.
    #[serde(default)]
    pub images: BTreeMap<String, Vec<ObservedImage>>,
    /// Image ids still used by a bundle, a fleet or a launch template.
    #[serde(default)]
    pub in_use: BTreeSet<String>,
    /// Recipes whose images were looked for. For the others, state is trusted as it is.
    #[serde(default)]
    pub refreshed: BTreeSet<String>,
    /// What each recipe's rollout targets point at now (`None`: the target does not exist). Targets
    /// not looked at are absent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rollouts: BTreeMap<String, Vec<ObservedRollout>>,
    /// Per recipe whose rollout rebuilds machines: how many carry the rollout's tags (those a
    /// rebuild would touch). Recipes not looked at are absent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rebuilds: BTreeMap<String, usize>,
    /// Recipes whose current image has service updates available that the service itself applies
    /// (WorkSpaces: `Updates` in DescribeWorkspaceImages, applied by CreateUpdatedWorkspaceImage).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub updates: BTreeSet<String>,
    /// Per recipe: prerequisites of its builder found missing (read-only preflight), each with its
    /// fix. A build of such a recipe is refused by apply.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub problems: BTreeMap<String, Vec<String>>,
    /// Per recipe whose base is one of AWS's public images or bundles: what AWS published since,
    /// and what to do about it, as a sentence (seed 002: update images regularly). A note, not a
    /// rebuild: building on it is a change to the recipe.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub newer_bases: BTreeMap<String, String>,
}

impl Observations {
    /// The preflight's findings for `recipe` (none: nothing is recorded).
    pub fn add_problems(&mut self, recipe: &str, problems: Vec<String>) {
        if !problems.is_empty() {
            let found = self.problems.entry(recipe.to_string()).or_default();
            found.extend(problems);
        }
    }
}

/// A rollout target as found in the cloud.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ObservedRollout {
    /// The target.
    pub target: crate::action::RolloutTarget,
    /// Its region, when not the build region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The image it points at (`None`: the target does not exist).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// One image found in one region.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ObservedImage {
    /// The `recipe:build-id` tag.
    pub build_id: String,
    /// The region.
    pub region: String,
    /// The image id.
    pub image_id: String,
    /// Principals it is shared with, in that region.
    #[serde(default)]
    pub shares: BTreeSet<String>,
    /// Whether `shares` was read from the cloud (else it is unknown, not empty).
    #[serde(default)]
    pub shares_observed: bool,
    /// The `recipe:version` tag.
    #[serde(default)]
    pub version: String,
    /// The `recipe:fingerprint` tag.
    #[serde(default)]
    pub fingerprint: String,
    /// When the image was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<jiff::Timestamp>,
}

/// Rebuild a recipe's state from the images found by their tags (when the state store was lost).
/// One version per build id, oldest first; the home region is where the image is oldest (the
/// capture), the others are copies. Fingerprint parts and rollout are unknown and left empty, so the
/// next plan explains a change only as "fingerprint changed".
pub fn rebuild_state(
    recipe: &str,
    target: recipe_model::Target,
    images: &[ObservedImage],
) -> RecipeState {
    use std::collections::BTreeMap;

    use recipe_state::{ImageVersion, RegionImage, Share, VersionStatus};

    let mut by_build: BTreeMap<&str, Vec<&ObservedImage>> = BTreeMap::new();
    for i in images {
        by_build.entry(i.build_id.as_str()).or_default().push(i);
    }
    let epoch = jiff::Timestamp::UNIX_EPOCH;
    let mut versions: Vec<ImageVersion> = by_build
        .into_values()
        .map(|imgs| {
            let home = imgs
                .iter()
                .min_by_key(|i| (i.created_at.unwrap_or(epoch), i.region.clone()))
                .expect("a build has an image");
            let created = home.created_at.unwrap_or(epoch);
            ImageVersion {
                build_id: home.build_id.clone(),
                version: home.version.clone(),
                target,
                fingerprint: home.fingerprint.clone(),
                fingerprint_parts: BTreeMap::new(),
                base_image: String::new(),
                parent: None,
                status: VersionStatus::Available,
                home_region: home.region.clone(),
                images: imgs
                    .iter()
                    .map(|i| {
                        (
                            i.region.clone(),
                            RegionImage {
                                image_id: i.image_id.clone(),
                                snapshot_ids: vec![],
                            },
                        )
                    })
                    .collect(),
                shares: imgs
                    .iter()
                    .flat_map(|i| {
                        i.shares.iter().map(|p| Share {
                            principal: p.clone(),
                            region: i.region.clone(),
                            fleet: false,
                            image_builder: false,
                        })
                    })
                    .collect(),
                rollout: vec![],
                created_at: created,
                updated_at: created,
                deprecated_at: None,
                image_tags: None,
            }
        })
        .collect();
    versions.sort_by(|a, b| (a.created_at, &a.build_id).cmp(&(b.created_at, &b.build_id)));
    RecipeState {
        recipe: recipe.into(),
        versions,
    }
}

pub use recipe_provider_api::ObserveError;

/// A source of observations: the providers, or a fake in tests.
pub trait Observer: Sync {
    /// Observe the cloud for these recipes.
    fn observe(
        &self,
        recipes: &[&LoadedRecipe],
        state: &BTreeMap<String, RecipeState>,
    ) -> impl Future<Output = Result<Observations, ObserveError>> + Send;
}

/// Trusts state and resolves nothing: the planner's view when no provider can be asked.
///
/// Bases that need resolving (an SSM parameter, AMI filters) keep their reference in the fingerprint,
/// so a newer base image is not noticed until a provider observes it.
#[derive(Clone, Copy, Debug, Default)]
pub struct StateObserver;

impl Observer for StateObserver {
    async fn observe(
        &self,
        _: &[&LoadedRecipe],
        _: &BTreeMap<String, RecipeState>,
    ) -> Result<Observations, ObserveError> {
        Ok(Observations::default())
    }
}

/// A fixed set of observations (tests, and `--observations FILE` for offline what-if plans).
#[derive(Clone, Debug, Default)]
pub struct FixedObserver(pub Observations);

impl Observer for FixedObserver {
    async fn observe(
        &self,
        _: &[&LoadedRecipe],
        _: &BTreeMap<String, RecipeState>,
    ) -> Result<Observations, ObserveError> {
        Ok(self.0.clone())
    }
}

/// Whether a base must be resolved by a provider, and the reference to use when it is not.
pub fn base_reference(base: &Base) -> (bool, String) {
    match base {
        Base::SsmParameter(p) => (true, format!("ssm-parameter:{}", p.value)),
        Base::AmiFilter(f) => (
            true,
            format!(
                "ami-filter:{}",
                serde_json::to_string(f).expect("filter serializes")
            ),
        ),
        Base::ImageId(id) => (false, id.value.clone()),
        Base::Recipe(r) => (false, format!("recipe:{}", r.value)),
        other => {
            let value = other.single().map_or("", |s| s.value.as_str());
            (false, format!("{}:{value}", other.kind()))
        }
    }
}
