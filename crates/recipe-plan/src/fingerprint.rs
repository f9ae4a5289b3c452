//! Fingerprints: a canonical hash of everything that goes into an image.
//!
//! Parts, each hashed on its own so a plan can say which one changed:
//! - `recipe`: the recipe after variables and includes, limited to what shapes the image (target,
//!   strategy, os, version, builder, the resolved steps with their stages, tests, cleanup, secret
//!   references). Distribution, retention, rollout, the bundle and image tags are left out: changing
//!   them changes what happens to an image, not the image.
//! - `base`: the resolved base image id (or, for a layered recipe, the parent's fingerprint).
//! - `vars`: the variable values.
//! - `file:<path>`: the content of every script and file the steps reference.
//!
//! The fingerprint is the hash of the sorted parts.

use std::collections::BTreeMap;
use std::path::Path;

use recipe_loader::LoadedRecipe;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A fingerprint and its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    /// `sha256:<hex>` over the parts.
    pub value: String,
    /// Part name → `sha256:<hex>`.
    pub parts: BTreeMap<String, String>,
}

fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", recipe_state::hex(&Sha256::digest(bytes)))
}

fn sha_json(v: &Value) -> String {
    sha(&serde_json::to_vec(v).expect("JSON serializes"))
}

/// `sha256:<hex>` of a JSON value's canonical bytes.
pub fn sha_of(v: &Value) -> String {
    sha_json(v)
}

/// The part of a recipe that shapes the image, as canonical JSON.
fn recipe_part(r: &LoadedRecipe) -> Value {
    let rec = &r.recipe;
    let steps = |list: &[recipe_loader::ResolvedStep]| -> Vec<Value> {
        list.iter()
            .map(|s| json!({ "step": s.step.value, "stage": s.stage }))
            .collect()
    };
    json!({
        "target": rec.target.value,
        "strategy": rec.strategy.value,
        "os": rec.os.value,
        "version": rec.version.value,
        "builder": rec.builder,
        "steps": steps(&r.steps),
        "tests": steps(&r.tests),
        "cleanup": rec.cleanup.as_ref().map(|c| c.value),
        "secrets": rec.secrets,
    })
}

/// Compute a recipe's fingerprint given its resolved base (an image id, or the parent's fingerprint).
pub fn fingerprint(r: &LoadedRecipe, base: &str) -> Fingerprint {
    with_base(own_parts(r), base)
}

/// The parts that do not depend on the base: the recipe, the variables and the files. They are
/// most of the work, and can be computed for every recipe at once ([`own_parts_of_all`]).
pub fn own_parts(r: &LoadedRecipe) -> BTreeMap<String, String> {
    let mut parts = BTreeMap::new();
    parts.insert("recipe".to_string(), sha_json(&recipe_part(r)));
    parts.insert("vars".to_string(), sha_json(&json!(r.vars)));
    let dir = r.source.path.parent().unwrap_or(Path::new(""));
    for f in &r.files {
        let rel = f.path.strip_prefix(dir).unwrap_or(&f.path);
        parts.insert(format!("file:{}", rel.display()), sha(&f.bytes));
    }
    parts
}

/// The fingerprint from a recipe's own parts and its base.
pub fn with_base(mut parts: BTreeMap<String, String>, base: &str) -> Fingerprint {
    parts.insert("base".to_string(), sha(base.as_bytes()));
    let value = sha_json(&json!(parts));
    Fingerprint { value, parts }
}

/// [`own_parts`] of the recipes at `wanted` (indexes into `recipes`), on every core; by index, empty
/// for the others.
pub fn own_parts_of_all(
    recipes: &[LoadedRecipe],
    wanted: &[usize],
) -> Vec<BTreeMap<String, String>> {
    let computed = recipe_loader::map_on_cores(wanted.to_vec(), |i| (i, own_parts(&recipes[i])));
    let mut out = vec![BTreeMap::new(); recipes.len()];
    for (i, parts) in computed {
        out[i] = parts;
    }
    out
}

/// What changed between two sets of parts, in words.
pub fn explain(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in new {
        match (k.strip_prefix("file:"), old.get(k)) {
            (Some(path), None) => out.push(format!("file `{path}` added")),
            (Some(path), Some(o)) if o != v => out.push(format!("file `{path}` changed")),
            (None, Some(o)) if o != v => out.push(match k.as_str() {
                "recipe" => "recipe changed".to_string(),
                "base" => "base image changed".to_string(),
                "vars" => "variable values changed".to_string(),
                other => format!("{other} changed"),
            }),
            _ => {}
        }
    }
    for k in old.keys() {
        if let Some(path) = k.strip_prefix("file:")
            && !new.contains_key(k)
        {
            out.push(format!("file `{path}` no longer used"));
        }
    }
    out
}
