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
//! The fingerprint is the hash of the sorted parts. Beside them, `detail:*` entries (the version, a
//! hash per step by its label, per section) are kept with the parts but left out of the hash: they
//! only let a plan say *what* in the recipe changed ("version 1.2.0 → 1.3.0", "step `nginx`
//! changed"), and adding them changed no existing fingerprint.

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
    for (k, v) in detail_parts(r) {
        parts.insert(format!("{DETAIL}{k}"), v);
    }
    parts.insert("vars".to_string(), sha_json(&json!(r.vars)));
    let dir = r.source.path.parent().unwrap_or(Path::new(""));
    for f in &r.files {
        let rel = relative(&f.path, dir);
        parts.insert(format!("file:{}", rel.display()), sha(&f.bytes));
    }
    parts
}

/// `path` from `base`, with `..` where it leaves it (`../components/files/x`), so that a file's
/// part is named the same wherever the command runs. Both are as the loader was given them
/// (relative to the same folder, or absolute); otherwise `path` as it is.
fn relative(path: &Path, base: &Path) -> std::path::PathBuf {
    use std::path::Component;
    fn parts(p: &Path) -> Vec<Component<'_>> {
        p.components().filter(|c| *c != Component::CurDir).collect()
    }
    let (p, b) = (parts(path), parts(base));
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if path.is_absolute() != base.is_absolute() || b[common..].contains(&Component::ParentDir) {
        return path.to_path_buf();
    }
    let mut out = std::path::PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &p[common..] {
        out.push(c.as_os_str());
    }
    out
}

/// Keys of the parts that explain a change but are not hashed into the fingerprint.
const DETAIL: &str = "detail:";

/// What in the recipe part changed, piece by piece: `version` (the value itself), `step:<label>`
/// (a hash per step; a repeated label gets `#2`, `#3`), and a hash per other section.
fn detail_parts(r: &LoadedRecipe) -> BTreeMap<String, String> {
    let rec = &r.recipe;
    let mut d = BTreeMap::from([
        ("version".to_string(), rec.version.value.clone()),
        (
            "target".to_string(),
            sha_json(&json!([rec.target.value, rec.strategy.value, rec.os.value])),
        ),
        ("builder".to_string(), sha_json(&json!(rec.builder))),
        (
            "cleanup".to_string(),
            sha_json(&json!(rec.cleanup.as_ref().map(|c| c.value))),
        ),
        ("secrets".to_string(), sha_json(&json!(rec.secrets))),
    ]);
    for (kind, list) in [("step", &r.steps), ("test", &r.tests)] {
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for s in list {
            let label = crate::compute::step_label(s);
            let n = seen.entry(label.clone()).or_default();
            *n += 1;
            let key = if *n == 1 {
                format!("{kind}:{label}")
            } else {
                format!("{kind}:{label}#{n}")
            };
            d.insert(
                key,
                sha_json(&json!({ "step": s.step.value, "stage": s.stage })),
            );
        }
    }
    d
}

/// The fingerprint from a recipe's own parts and its base.
pub fn with_base(mut parts: BTreeMap<String, String>, base: &str) -> Fingerprint {
    parts.insert("base".to_string(), sha(base.as_bytes()));
    let hashed: BTreeMap<&String, &String> = parts
        .iter()
        .filter(|(k, _)| !k.starts_with(DETAIL))
        .collect();
    let value = sha_json(&json!(hashed));
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

/// Why a fingerprint moved, in words: which file, which step, the version, the variables, the base.
pub fn explain(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in new {
        match (k.strip_prefix("file:"), old.get(k)) {
            (Some(path), None) => out.push(format!("file `{path}` added")),
            (Some(path), Some(o)) if o != v => out.push(format!("file `{path}` changed")),
            (None, Some(o)) if o != v && k == "recipe" => out.extend(recipe_changes(old, new)),
            (None, Some(o)) if o != v && !k.starts_with(DETAIL) => out.push(match k.as_str() {
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

/// Steps gone and steps new: one of each of a kind reads as one step changed (`packages nginx` →
/// `packages nginx git`), more as added and removed.
fn renamed_or_not(removed: &[(&str, &str)], added: &[(&str, &str)]) -> Vec<String> {
    let mut out = Vec::new();
    for kind in ["step", "test"] {
        let of = |list: &[(&str, &str)]| -> Vec<String> {
            list.iter()
                .filter(|(k, _)| *k == kind)
                .map(|(_, l)| l.to_string())
                .collect()
        };
        let (gone, new) = (of(removed), of(added));
        if let ([g], [n]) = (gone.as_slice(), new.as_slice()) {
            out.push(format!("{kind} `{g}` changed to `{n}`"));
            continue;
        }
        out.extend(new.iter().map(|l| format!("{kind} `{l}` added")));
        out.extend(gone.iter().map(|l| format!("{kind} `{l}` removed")));
    }
    out
}

/// What in the recipe changed, from the `detail:` parts; "recipe changed" when the version that
/// was built recorded none.
fn recipe_changes(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> Vec<String> {
    let detail = |m: &BTreeMap<String, String>| -> BTreeMap<String, String> {
        m.iter()
            .filter_map(|(k, v)| k.strip_prefix(DETAIL).map(|d| (d.to_string(), v.clone())))
            .collect()
    };
    let (old, new) = (detail(old), detail(new));
    if old.is_empty() {
        return vec!["recipe changed".into()];
    }
    let mut out = Vec::new();
    let mut added: Vec<(&str, &str)> = Vec::new();
    for (k, v) in &new {
        let was = old.get(k);
        if was == Some(v) {
            continue;
        }
        match (k.split_once(':'), was) {
            (None, Some(w)) if k == "version" => out.push(format!("version changed ({w} → {v})")),
            (None, _) if k == "target" => out.push("target, strategy or os changed".into()),
            (None, _) => out.push(format!("{k} changed")),
            (Some(kl), None) => added.push(kl),
            (Some((kind, label)), Some(_)) => out.push(format!("{kind} `{label}` changed")),
        }
    }
    let removed: Vec<(&str, &str)> = old
        .keys()
        .filter(|k| !new.contains_key(*k))
        .filter_map(|k| k.split_once(':'))
        .collect();
    out.extend(renamed_or_not(&removed, &added));
    if out.is_empty() {
        out.push("recipe changed".into());
    }
    out
}

#[cfg(test)]
mod relative_tests {
    use std::path::Path;

    #[test]
    fn a_file_is_named_from_the_recipe_folder_wherever_the_command_runs() {
        let r = |p: &str, b: &str| {
            super::relative(Path::new(p), Path::new(b))
                .display()
                .to_string()
        };
        assert_eq!(r("recipes/layered/files/a", "recipes/layered"), "files/a");
        assert_eq!(
            r("recipes/components/files/a", "recipes/layered"),
            "../components/files/a"
        );
        assert_eq!(
            r("../x/recipes/components/f", "../x/recipes/layered"),
            "../components/f"
        );
        assert_eq!(r("./recipes/layered/f", "recipes/layered"), "f");
    }
}
