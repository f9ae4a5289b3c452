//! The tags every resource recipe creates carries, so that state can be rebuilt from the cloud and
//! what killed runs left can be found.

use std::collections::BTreeMap;

/// The recipe's name.
pub const NAME: &str = "recipe:name";
/// The recipe's version.
pub const VERSION: &str = "recipe:version";
/// The build that made it.
pub const BUILD_ID: &str = "recipe:build-id";
/// The recipe's fingerprint at that build.
pub const FINGERPRINT: &str = "recipe:fingerprint";
/// The base image the build started from (as the image's version file says).
pub const BASE: &str = "recipe:base";
/// `builder` on temporary builders.
pub const ROLE: &str = "recipe:role";
/// Set on a builder kept for debugging: sweeps leave it alone.
pub const KEEP: &str = "recipe:keep";

/// Whether a tag key is the tool's own (`Name`, `Version`, `recipe:*`): never removed by a retag.
pub fn is_own(key: &str) -> bool {
    matches!(key, "Name" | "Version") || key.starts_with("recipe:")
}

/// The tags of a temporary builder.
pub fn builder_tags(recipe: &str, build_id: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (NAME.into(), recipe.to_string()),
        (BUILD_ID.into(), build_id.to_string()),
        (ROLE.into(), "builder".into()),
        ("Name".into(), format!("recipe builder: {recipe}")),
    ])
}

/// The value of `key` in `(key, value)` pairs.
pub fn value<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>, key: &str) -> Option<String> {
    pairs
        .into_iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.to_string())
}
