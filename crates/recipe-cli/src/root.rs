//! Where a set of recipes keeps `.recipe/` (state, the sandbox): next to the recipes, not wherever
//! the command runs, so `recipe plan ../infra/recipes` from elsewhere finds the same state.

use std::path::{Path, PathBuf};

/// The folder that holds `.recipe/`: the nearest folder, from the first recipe path upwards, that
/// already has a `.recipe/` folder or is a git repository's root (`.git`); else the current folder.
pub fn anchor(paths: &[PathBuf]) -> PathBuf {
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
    start
        .ancestors()
        .find(|d| d.join(".recipe").is_dir() || d.join(".git").exists())
        .map_or(cwd, Path::to_path_buf)
}

/// `.recipe/` for these recipe paths.
pub fn dot_recipe(paths: &[PathBuf]) -> PathBuf {
    anchor(paths).join(".recipe")
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
