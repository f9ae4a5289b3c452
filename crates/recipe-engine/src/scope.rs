//! [`ActionScope`]: what every provider's action code needs of one action.

use recipe_loader::LoadedRecipe;
use recipe_plan::{Action, BuildValues, Outputs};
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

    /// Report what the action waits on.
    pub fn waiting(&self, on: String) {
        self.cx.events.waiting(self.a.id, on);
    }
}
