//! Where a set of recipes keeps `.recipe/` (state, the sandbox): next to the recipes, not wherever
//! the command runs, so `recipe plan ../infra/recipes` from elsewhere finds the same state.

use std::path::{Path, PathBuf};

/// The folder that holds `.recipe/`, and how it was found.
pub struct Anchor {
    /// The folder.
    pub dir: PathBuf,
    /// How it was found.
    pub found: Found,
}

/// How the folder that holds `.recipe/` was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    /// The nearest folder up from the recipes that already has `.recipe/`.
    DotRecipe,
    /// The root of the recipes' git repository.
    Git,
    /// Neither above the recipes: the current folder.
    CurrentFolder,
}

impl Anchor {
    /// The nearest folder, from the first recipe path upwards, that already has a `.recipe/` folder
    /// or is a git repository's root (`.git`); else the current folder.
    pub fn of(paths: &[PathBuf]) -> Anchor {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let start = paths.first().map_or_else(|| cwd.clone(), |p| cwd.join(p));
        let start = if start.is_dir() {
            start
        } else {
            start
                .parent()
                .map_or_else(|| cwd.clone(), Path::to_path_buf)
        };
        let start = start.canonicalize().unwrap_or(start);
        let found = start.ancestors().find_map(|d| {
            let found = if d.join(".recipe").is_dir() {
                Found::DotRecipe
            } else if d.join(".git").exists() {
                Found::Git
            } else {
                return None;
            };
            Some(Anchor {
                dir: d.to_path_buf(),
                found,
            })
        });
        found.unwrap_or(Anchor {
            dir: cwd,
            found: Found::CurrentFolder,
        })
    }

    /// Its `.recipe/`.
    pub fn dot_recipe(&self) -> PathBuf {
        self.dir.join(".recipe")
    }

    /// Where state is, in words, for `state: … (<this>)`.
    pub fn describe(&self) -> &'static str {
        match self.found {
            Found::DotRecipe => "next to the recipes: the nearest `.recipe/` above them",
            Found::Git => "next to the recipes: their git repository's root",
            Found::CurrentFolder => {
                "in the current folder, as no `.git` or `.recipe/` is above the recipes; run from the same folder, or pass --state, to find it again"
            }
        }
    }
}

/// `.recipe/` for these recipe paths.
pub fn dot_recipe(paths: &[PathBuf]) -> PathBuf {
    Anchor::of(paths).dot_recipe()
}

/// A path as short as it can be shown: relative to the current folder when under it.
pub fn shown(path: &Path) -> String {
    let cwd = std::env::current_dir()
        .ok()
        .and_then(|c| c.canonicalize().ok());
    match cwd.as_deref().and_then(|c| path.strip_prefix(c).ok()) {
        Some(rel) if rel.as_os_str().is_empty() => ".".into(),
        Some(rel) => rel.display().to_string(),
        None => path.display().to_string(),
    }
}
