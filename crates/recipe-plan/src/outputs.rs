//! What actions hand to the actions after them: typed, per recipe.
//!
//! A provider's action returns the [`RecipeOutputs`] it made for its own recipe; the engine files them
//! under that recipe in [`Outputs`], which is what later actions (of the same recipe, or of a child
//! layered on it, whatever its target) receive, what the journal keeps, and what state is recorded from.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What one recipe's actions made so far.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RecipeOutputs {
    /// The resolved base image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// The temporary builder (an instance, a WorkSpace or an image builder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builder: Option<String>,
    /// The image per region.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub images: BTreeMap<String, String>,
    /// The snapshots behind the image, per region.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub snapshots: BTreeMap<String, Vec<String>>,
}

impl RecipeOutputs {
    /// Outputs naming the resolved base.
    pub fn base(id: impl Into<String>) -> Self {
        RecipeOutputs {
            base: Some(id.into()),
            ..Default::default()
        }
    }

    /// Outputs naming the builder.
    pub fn builder(id: impl Into<String>) -> Self {
        RecipeOutputs {
            builder: Some(id.into()),
            ..Default::default()
        }
    }

    /// Outputs naming the image made in `region`.
    pub fn image(region: impl Into<String>, id: impl Into<String>) -> Self {
        RecipeOutputs {
            images: BTreeMap::from([(region.into(), id.into())]),
            ..Default::default()
        }
    }

    /// Outputs naming the snapshots behind the image in `region`.
    pub fn snapshots(region: impl Into<String>, ids: Vec<String>) -> Self {
        RecipeOutputs {
            snapshots: BTreeMap::from([(region.into(), ids)]),
            ..Default::default()
        }
    }

    /// Nothing made.
    pub fn is_empty(&self) -> bool {
        *self == RecipeOutputs::default()
    }

    /// Add what a later action made (a later value wins).
    pub fn merge(&mut self, later: &RecipeOutputs) {
        if later.base.is_some() {
            self.base.clone_from(&later.base);
        }
        if later.builder.is_some() {
            self.builder.clone_from(&later.builder);
        }
        self.images
            .extend(later.images.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.snapshots
            .extend(later.snapshots.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
}

/// Outputs by recipe.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Outputs(pub BTreeMap<String, RecipeOutputs>);

impl Outputs {
    /// File what an action of `recipe` made.
    pub fn add(&mut self, recipe: &str, made: &RecipeOutputs) {
        if made.is_empty() {
            return;
        }
        self.0.entry(recipe.to_string()).or_default().merge(made);
    }

    /// Add everything in `later`, recipe by recipe (a later value wins).
    pub fn merge(&mut self, later: &Outputs) {
        for (recipe, made) in &later.0 {
            self.add(recipe, made);
        }
    }

    /// What `recipe`'s actions made.
    pub fn of(&self, recipe: &str) -> Option<&RecipeOutputs> {
        self.0.get(recipe)
    }

    /// `recipe`'s resolved base.
    pub fn base(&self, recipe: &str) -> Option<&str> {
        self.of(recipe)?.base.as_deref()
    }

    /// `recipe`'s builder.
    pub fn builder(&self, recipe: &str) -> Option<&str> {
        self.of(recipe)?.builder.as_deref()
    }

    /// `recipe`'s image in `region`.
    pub fn image(&self, recipe: &str, region: &str) -> Option<&str> {
        self.of(recipe)?.images.get(region).map(String::as_str)
    }

    /// The snapshots behind `recipe`'s image in `region` (empty when unknown).
    pub fn snapshots(&self, recipe: &str, region: &str) -> &[String] {
        self.of(recipe)
            .and_then(|o| o.snapshots.get(region))
            .map_or(&[], Vec::as_slice)
    }
}

/// The values of a build's build-time placeholders: `${timestamp}`, `${date}`, `${build_id}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuildValues {
    /// `YYYYMMDDhhmmss`.
    pub timestamp: String,
    /// `YYYY-MM-DD`.
    pub date: String,
    /// The build id.
    pub build_id: String,
}

impl BuildValues {
    /// The values of a build started at `at`.
    pub fn new(at: jiff::Timestamp, build_id: impl Into<String>) -> BuildValues {
        BuildValues {
            timestamp: at.strftime("%Y%m%d%H%M%S").to_string(),
            date: at.strftime("%Y-%m-%d").to_string(),
            build_id: build_id.into(),
        }
    }

    /// The values a recorded version was built with.
    pub fn of_version(v: &recipe_state::ImageVersion) -> BuildValues {
        BuildValues::new(v.created_at, v.build_id.clone())
    }

    /// Substitute `${timestamp}`, `${date}`, `${build_id}`.
    pub fn apply(&self, s: &str) -> String {
        s.replace("${timestamp}", &self.timestamp)
            .replace("${date}", &self.date)
            .replace("${build_id}", &self.build_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_merge_per_recipe_and_later_values_win() {
        let mut all = Outputs::default();
        all.add("web", &RecipeOutputs::builder("i-1"));
        all.add("web", &RecipeOutputs::image("eu-west-2", "ami-1"));
        all.add("web", &RecipeOutputs::image("eu-west-1", "ami-2"));
        all.add("web", &RecipeOutputs::builder("i-2"));
        all.add("app", &RecipeOutputs::base("ami-1"));
        all.add("app", &RecipeOutputs::default());
        assert_eq!(all.builder("web"), Some("i-2"));
        assert_eq!(all.image("web", "eu-west-1"), Some("ami-2"));
        assert_eq!(all.image("web", "eu-west-2"), Some("ami-1"));
        assert_eq!(all.image("app", "eu-west-2"), None);
        assert_eq!(all.base("app"), Some("ami-1"));
        assert!(all.snapshots("web", "eu-west-2").is_empty());
        assert_eq!(all.0.len(), 2);
    }

    #[test]
    fn unknown_output_keys_are_refused() {
        let bad = r#"{"base":"ami-1","instance-id":"i-1"}"#;
        assert!(serde_json::from_str::<RecipeOutputs>(bad).is_err());
    }
}
