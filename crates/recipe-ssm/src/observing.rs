//! The planner's view, the same for every target: recipe by recipe, then region by region, and the
//! images found by their `recipe:*` tags.

use std::collections::{BTreeMap, BTreeSet};

use recipe_engine::BoxFuture;
use recipe_loader::LoadedRecipe;
use recipe_plan::{Observations, ObserveError, ObservedImage};
use recipe_state::{ImageVersion, RecipeState};

use crate::ProviderCore;

/// One step of observing: the observations, handed back with what it found.
pub type Observed<'a> = BoxFuture<'a, Result<Observations, ObserveError>>;

/// The recipe being observed: its name, build region and current version.
#[derive(Clone)]
pub struct Observing<'a> {
    /// The recipe.
    pub r: &'a LoadedRecipe,
    /// Its name.
    pub name: &'a str,
    /// Its build region.
    pub home: String,
    /// Its current version, if state has one.
    pub current: Option<&'a ImageVersion>,
}

impl ProviderCore {
    /// The planner's view, recipe by recipe, then region by region. For each recipe: the findings
    /// every target shares, then `recipe(observing, obs)`; the recipe counts as refreshed. Then
    /// `region(region, obs)` finds the images in each region any recipe's images may be in. Each
    /// step takes the observations and hands them back.
    pub async fn observe_each<'a>(
        &'a self,
        (recipes, state): (&'a [&'a LoadedRecipe], &'a BTreeMap<String, RecipeState>),
        mut recipe: impl FnMut(Observing<'a>, Observations) -> Observed<'a>,
        mut region: impl FnMut(String, Observations) -> Observed<'a>,
    ) -> Result<Observations, ObserveError> {
        let mut obs = Observations::default();
        let mut regions = std::collections::BTreeSet::new();
        for r in recipes {
            let (name, home) = (r.recipe.name.value.as_str(), self.home(r));
            obs.add_problems(name, self.common_problems(r, &home).await);
            regions.extend(r.recipe.image_regions(&home));
            let current = state.get(name).and_then(RecipeState::current);
            obs = recipe(
                Observing {
                    r,
                    name,
                    home,
                    current,
                },
                obs,
            )
            .await?;
            obs.images.insert(name.to_string(), Vec::new());
            obs.refreshed.insert(name.to_string());
        }
        for at in regions {
            obs = region(at, obs).await?;
        }
        Ok(obs)
    }
}

/// An image found by its `recipe:*` tags, as the planner sees it: the recipe it is of, with its
/// build, version and fingerprint (`None` when it carries no recipe's name and build). Its shares
/// and creation time are the caller's to fill in.
pub fn tagged_image(
    tags: &BTreeMap<String, String>,
    region: &str,
    id: &str,
) -> Option<(String, ObservedImage)> {
    use recipe_aws::tags::{BUILD_ID, FINGERPRINT, NAME, VERSION};
    let get = |k: &str| tags.get(k).cloned();
    let (recipe, build_id) = (get(NAME)?, get(BUILD_ID)?);
    let seen = ObservedImage {
        build_id,
        region: region.to_string(),
        image_id: id.to_string(),
        shares: BTreeSet::new(),
        shares_observed: false,
        version: get(VERSION).unwrap_or_default(),
        fingerprint: get(FINGERPRINT).unwrap_or_default(),
        created_at: None,
    };
    Some((recipe, seen))
}
