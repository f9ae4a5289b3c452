//! [`ActionScope`]: what every provider's action code needs of one action.

use std::collections::BTreeMap;
use std::future::Future;

use recipe_loader::LoadedRecipe;
use recipe_plan::{Action, BuildValues, Outputs, RolloutTarget};
use recipe_provider_api::tags;
use recipe_state::ImageVersion;

use crate::engine::ActionError;
use crate::provider::ApplyContext;

/// One action of one recipe, as every provider sees it: the apply, the action, what the actions it
/// depends on made, the recipe and its build region. A provider's own action context holds one and
/// dereferences to it, adding its clients.
pub struct ActionScope<'a> {
    /// The apply.
    pub cx: &'a ApplyContext,
    /// The action.
    pub a: &'a Action,
    /// What the actions before it made, by recipe.
    pub inputs: &'a Outputs,
    /// The recipe.
    pub r: &'a LoadedRecipe,
    /// The recipe's name.
    pub name: &'a str,
    /// Its build region ([`ApplyContext::home_region`]).
    pub home: String,
}

impl<'a> ActionScope<'a> {
    /// The scope of `a` in this apply.
    pub fn new(
        cx: &'a ApplyContext,
        a: &'a Action,
        inputs: &'a Outputs,
    ) -> Result<ActionScope<'a>, ActionError> {
        let r = cx.recipe(&a.recipe)?;
        Ok(ActionScope {
            cx,
            a,
            inputs,
            r,
            name: r.recipe.name.value.as_str(),
            home: cx.home_region(&a.recipe)?,
        })
    }

    /// The build's placeholder values (empty outside a build).
    pub fn values(&self) -> BuildValues {
        self.cx.values(self.name)
    }

    /// The recipe's image in `region`: made earlier in this apply, or the current version's.
    pub fn image_in(&self, region: &str) -> Option<String> {
        self.cx.image_in(self.inputs, self.name, region)
    }

    /// Another recipe's image in the build region: made in this apply, or its current version's.
    pub fn image_of(&self, recipe: &str) -> Option<String> {
        self.cx.image_in(self.inputs, recipe, &self.home)
    }

    /// The recipe's image in each of `regions` that has one.
    pub fn images_in<'r>(&self, regions: &'r [String]) -> Vec<(&'r str, String)> {
        (regions.iter())
            .filter_map(|region| Some((region.as_str(), self.image_in(region)?)))
            .collect()
    }

    /// The error for a base the target's `builder` cannot start from (validation refuses such a
    /// recipe first; this guards a hand-made plan).
    pub fn unusable_base(&self, builder: &str) -> ActionError {
        let kind = self.r.recipe.base.value.kind();
        ActionError::fatal(format!("{builder} cannot start from base `{kind}`"))
    }

    /// The recorded version of the recipe with `build_id`.
    pub fn version(&self, build_id: &str) -> Option<&'a ImageVersion> {
        let state = self.cx.state.get(self.name)?;
        state.versions.iter().find(|v| v.build_id == build_id)
    }

    /// The image in `region`, or a fatal error saying what it was needed for.
    pub fn need_image(&self, region: &str, for_what: &str) -> Result<String, ActionError> {
        self.image_in(region)
            .ok_or_else(|| ActionError::fatal(format!("no image in {region} to {for_what}")))
    }

    /// The builder launched earlier in this apply, if any.
    pub fn builder_made(&self) -> Option<&'a str> {
        self.inputs.builder(self.name)
    }

    /// The tags of this build's image and its snapshots, with the plan's fingerprint.
    pub fn image_tags(&self) -> BTreeMap<String, String> {
        let fingerprint = self.cx.plan.fingerprint_of(self.name).unwrap_or_default();
        self.image_tags_with(fingerprint)
    }

    /// The tags of this build's image: the tool's own, then the recipe's `image.tags` with
    /// build-time placeholders resolved. They carry what the image's version file says (recipe,
    /// version, build, fingerprint, base); `fingerprint` and the base are left out when empty or
    /// unknown.
    pub fn image_tags_with(&self, fingerprint: &str) -> BTreeMap<String, String> {
        let (recipe, v) = (&self.r.recipe, self.values());
        let mut tags: BTreeMap<String, String> = BTreeMap::from([
            (tags::NAME.into(), self.name.to_string()),
            (tags::VERSION.into(), recipe.version.value.clone()),
            (tags::BUILD_ID.into(), v.build_id.clone()),
            ("Name".into(), v.apply(&recipe.image.name)),
            ("Version".into(), recipe.version.value.clone()),
        ]);
        if !fingerprint.is_empty() {
            tags.insert(tags::FINGERPRINT.into(), fingerprint.to_string());
        }
        if let Some(base) = self.inputs.base(self.name).filter(|b| !b.is_empty()) {
            tags.insert(tags::BASE.into(), base.to_string());
        }
        for (k, val) in &recipe.image.tags {
            tags.insert(k.value.clone(), v.apply(val));
        }
        tags
    }

    /// Retire version `build_id`: its images in every region go with `delete`, once `used_by` has
    /// found nothing that uses any of them (a fleet, a bundle, an instance). An image in use keeps
    /// the whole version, and the action fails saying what uses it; a later apply retires it. A
    /// version state does not record has nothing left to retire.
    ///
    /// Both take the region and the image id, owned, so that their futures borrow nothing of the
    /// loop (they stay `Send` whatever the provider captures).
    pub async fn retire_with<U, D>(
        &self,
        build_id: &str,
        used_by: impl Fn(String, String) -> U,
        delete: impl Fn(String, String) -> D,
    ) -> Result<(), ActionError>
    where
        U: Future<Output = Result<Option<String>, ActionError>>,
        D: Future<Output = Result<(), ActionError>>,
    {
        let Some(v) = self.version(build_id) else {
            return Ok(());
        };
        for (region, img) in &v.images {
            if let Some(by) = used_by(region.clone(), img.image_id.clone()).await? {
                return Err(ActionError::fatal(format!(
                    "{} in {region} is in use by {by}: not retired (it is retired by a later apply once nothing uses it)",
                    img.image_id
                )));
            }
        }
        for (region, img) in &v.images {
            delete(region.clone(), img.image_id.clone()).await?;
        }
        Ok(())
    }

    /// Retag the current version's images in `r.regions`. For each image, `find(region, image)`
    /// looks up once what the tag calls address (its ARN, its snapshots); then `add(found, tags)`
    /// sets the recipe's tags, their build-time placeholders (`${timestamp}`, `${date}`, …)
    /// resolved to the version's own values, and, when keys left the recipe, `take(found, keys)`
    /// takes them off. All take owned arguments.
    pub async fn retag_with<H, F, A, T>(
        &self,
        r: Retag<'_>,
        find: impl Fn(String, String) -> F,
        add: impl Fn(H, BTreeMap<String, String>) -> A,
        take: impl Fn(H, Vec<String>) -> T,
    ) -> Result<(), ActionError>
    where
        H: Clone,
        F: Future<Output = Result<H, ActionError>>,
        A: Future<Output = Result<(), ActionError>>,
        T: Future<Output = Result<(), ActionError>>,
    {
        let version = (self.cx.current(self.name))
            .ok_or_else(|| ActionError::fatal("no current version to retag"))?;
        let v = BuildValues::of_version(version);
        let tags: BTreeMap<String, String> = (r.tags.iter())
            .map(|(k, val)| (k.clone(), v.apply(val)))
            .collect();
        if tags.is_empty() && r.remove.is_empty() {
            return Ok(());
        }
        for (region, image) in self.images_in(r.regions) {
            let found = find(region.to_string(), image).await?;
            if !tags.is_empty() {
                add(found.clone(), tags.clone()).await?;
            }
            if !r.remove.is_empty() {
                take(found, r.remove.to_vec()).await?;
            }
        }
        Ok(())
    }

    /// Report what the action waits on.
    pub fn waiting(&self, on: String) {
        self.cx.events.waiting(self.a.id, on);
    }
}

/// A rollout action: where the new image goes, and the region whose image it takes (`None`: the
/// build region).
#[derive(Clone, Copy, Debug)]
pub struct Rollout<'a> {
    /// The bundle, fleet, launch template or parameter.
    pub target: &'a RolloutTarget,
    /// Where.
    pub region: Option<&'a str>,
}

impl Rollout<'_> {
    /// The error for a rollout target `target` (a target's name) does not take: validation
    /// refuses such a recipe first; this guards a hand-made plan.
    pub fn refused(&self, target: &str, takes: &str) -> ActionError {
        let to = self.target;
        ActionError::fatal(format!(
            "{target} cannot roll out to {to}: it takes {takes}"
        ))
    }
}

/// A retag action: the recipe's image tags as written (build-time placeholders unresolved), the keys
/// no longer in the recipe, and the regions of the current version's images.
#[derive(Clone, Copy, Debug)]
pub struct Retag<'a> {
    /// The tags to set.
    pub tags: &'a BTreeMap<String, String>,
    /// The keys to take off.
    pub remove: &'a [String],
    /// Where.
    pub regions: &'a [String],
}

/// A share action, or an unshare: who, in which region, and what they are granted (`None` takes
/// the image's permissions away).
#[derive(Clone, Copy, Debug)]
pub struct ShareChange<'a> {
    /// Account ids, organization or OU ARNs.
    pub principals: &'a [String],
    /// The region of the image's copy.
    pub region: &'a str,
    /// What a share grants besides use of the image; `None` for an unshare.
    pub grant: Option<Grant<'a>>,
}

/// What a share grants: the accounts that may use the image in fleets, and those that may start
/// image builders from it (AppStream's rights; other targets grant use only).
#[derive(Clone, Copy, Debug, Default)]
pub struct Grant<'a> {
    /// Accounts that may use it in fleets.
    pub fleet: &'a [String],
    /// Accounts that may start image builders from it.
    pub image_builder: &'a [String],
}

impl<'a> ShareChange<'a> {
    /// The change a `share` or `unshare` action asks for (`None` for any other kind).
    pub fn of(kind: &'a crate::ActionKind) -> Option<ShareChange<'a>> {
        use crate::ActionKind as K;
        Some(match kind {
            K::Share {
                principals,
                region,
                fleet,
                image_builder,
            } => ShareChange {
                principals,
                region,
                grant: Some(Grant {
                    fleet,
                    image_builder,
                }),
            },
            K::Unshare { principals, region } => ShareChange {
                principals,
                region,
                grant: None,
            },
            _ => return None,
        })
    }
}
