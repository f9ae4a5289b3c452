//! Plans as data: what will be done, why, in what order, and what it was computed against.

use std::collections::BTreeMap;

use recipe_model::{Strategy, Target};
use serde::{Deserialize, Serialize};

use crate::action::{Action, ActionKind};

/// The plan file format this build writes and reads. 2: typed action outputs and rollout targets,
/// and the account and region the plan builds in. 5: a rebuild of the machines on a new image is
/// `rebuild` (it was `rebuild-workspaces`), naming its machines.
pub const PLAN_FORMAT: u32 = 5;

/// Where a plan builds: the account and default build region, and where the region came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CloudInfo {
    /// The AWS account (`None` when the plan did not ask the cloud).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The build region of recipes without `builder.region`.
    pub region: String,
    /// Where that region came from (`--region`, `AWS_REGION`, `AWS_DEFAULT_REGION`, `profile dev`, …).
    pub region_source: String,
    /// Made against the sandbox (`--sandbox`): a saved plan is applied there too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sandbox: bool,
    /// The endpoint `--endpoint-url` named, if any: a saved plan is applied against it too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

/// A plan: the difference between what the recipes want and what exists.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// File format.
    pub format: u32,
    /// When it was computed.
    pub created_at: jiff::Timestamp,
    /// The account and region it builds in.
    pub cloud: CloudInfo,
    /// What it was computed against; applying refuses a plan whose basis moved.
    pub basis: Basis,
    /// One entry per recipe considered, in dependency order.
    pub recipes: Vec<RecipePlan>,
    /// The actions, in an order that respects their dependencies.
    pub actions: Vec<Action>,
    /// The longest chain of dependent actions by estimated duration.
    pub critical_path: CriticalPath,
    /// Recipes that had no state but tagged images in the cloud: their state as rebuilt from the
    /// tags, which the plan was computed against and which apply records.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub adopted: BTreeMap<String, recipe_state::RecipeState>,
}

impl Plan {
    /// Whether the plan changes anything.
    pub fn has_changes(&self) -> bool {
        !self.actions.is_empty()
    }

    /// The fingerprint `recipe` is built at in this plan (its capture's), if it is built.
    pub fn fingerprint_of(&self, recipe: &str) -> Option<&str> {
        self.actions.iter().find_map(|a| match &a.action {
            ActionKind::Capture { fingerprint, .. } if a.recipe == recipe => {
                Some(fingerprint.as_str())
            }
            _ => None,
        })
    }

    /// Copies to remove and versions to retire: what the plan deletes.
    pub fn removals(&self) -> (usize, usize) {
        let count = |name: &str| {
            self.actions
                .iter()
                .filter(|a| a.action.name() == name)
                .count()
        };
        (count("remove-copy"), count("retire"))
    }

    /// Count of recipes to build, to update (no build) and unchanged.
    pub fn summary(&self) -> (usize, usize, usize) {
        let count = |c: Change| self.recipes.iter().filter(|r| r.change == c).count();
        (
            count(Change::Build),
            count(Change::Update),
            count(Change::None),
        )
    }

    /// Whether an interrupted apply of this plan can be resumed: state and recipes are as they were
    /// (the cloud has changed, by the interrupted run itself). `saved` holds the revisions the
    /// interrupted run itself saved (state is saved per recipe as its build finishes): those count as
    /// unchanged.
    ///
    /// A layered recipe's base part is its parent's planned build, which a fresh plan names anew, so it
    /// is left out of the comparison: the parent itself must match.
    pub fn resumable(&self, fresh: &Plan, saved: &BTreeMap<String, String>) -> bool {
        let state_same = self.basis.state.iter().all(|(r, rev)| {
            let now = fresh.basis.state.get(r).cloned().flatten();
            now == *rev || (now.is_some() && now.as_ref() == saved.get(r))
        });
        let content_same = self.recipes.iter().all(|mine| {
            let layered = mine.build.as_ref().is_some_and(|b| b.parent.is_some());
            if layered {
                self.parts_without_base(&mine.recipe) == fresh.parts_without_base(&mine.recipe)
            } else {
                let now = fresh.recipes.iter().find(|r| r.recipe == mine.recipe);
                now.is_some_and(|now| now.fingerprint_parts == mine.fingerprint_parts)
            }
        });
        state_same && content_same
    }

    /// The plan's own consistency, checked before the engine sees a saved plan: action ids are their
    /// positions, every dependency names an earlier action (so none dangles and there is no cycle), and
    /// every action belongs to a recipe of the plan.
    pub fn check_structure(&self) -> Result<(), String> {
        for (i, a) in self.actions.iter().enumerate() {
            if a.id != i {
                return Err(format!("action {i} has the id {}", a.id));
            }
            if let Some(d) = a.depends_on.iter().find(|d| **d >= i) {
                return Err(format!(
                    "action {i} ({}) depends on action {d}, which does not come before it",
                    a.action
                ));
            }
            if !self.recipes.iter().any(|r| r.recipe == a.recipe) {
                return Err(format!(
                    "action {i} belongs to `{}`, a recipe not in the plan",
                    a.recipe
                ));
            }
        }
        Ok(())
    }

    /// The actions as the recipes and basis give them, with the build ids (and the fingerprints that
    /// embed a parent's build id) left out: what a plan made now must share with a saved one.
    fn shape(&self) -> Vec<(String, ActionKind, Vec<usize>)> {
        self.actions
            .iter()
            .map(|a| {
                let kind = match &a.action {
                    ActionKind::Capture { .. } => ActionKind::Capture {
                        build_id: String::new(),
                        fingerprint: String::new(),
                    },
                    ActionKind::VersionFile { path, .. } => ActionKind::VersionFile {
                        path: path.clone(),
                        fingerprint: String::new(),
                    },
                    other => other.clone(),
                };
                (a.recipe.clone(), kind, a.depends_on.clone())
            })
            .collect()
    }

    /// Refuse a saved plan whose actions are not those its recipes and basis give (edited by hand:
    /// an action dropped or added, a share changed, a dependency moved), naming the first difference.
    pub fn check_actions(&self, fresh: &Plan) -> Result<(), StalePlan> {
        let (mine, now) = (self.shape(), fresh.shape());
        let first = mine.iter().zip(&now).position(|(a, b)| a != b);
        let reason = match (first, mine.len() == now.len()) {
            (None, true) => return Ok(()),
            (Some(i), _) => format!(
                "action {i} ({}: {}) is not what the recipes give ({}: {})",
                mine[i].0, mine[i].1, now[i].0, now[i].1
            ),
            (None, false) => format!(
                "it has {} actions where the recipes give {}",
                mine.len(),
                now.len()
            ),
        };
        Err(StalePlan::moved(vec![format!(
            "its actions are not what its recipes and state give now (edited by hand, or a deprecation came due since): {reason}"
        )]))
    }

    /// Whether `recipe` is layered on a parent this plan builds.
    fn child_of_a_planned_build(&self, recipe: &str) -> bool {
        let parent = self
            .recipes
            .iter()
            .find(|r| r.recipe == recipe)
            .and_then(|r| r.build.as_ref())
            .and_then(|b| b.parent.as_deref());
        parent.is_some_and(|p| {
            self.recipes
                .iter()
                .any(|r| r.recipe == p && r.build.is_some())
        })
    }

    /// A recipe's fingerprint parts without its base (`None`: not in the plan).
    fn parts_without_base(&self, recipe: &str) -> Option<BTreeMap<String, String>> {
        let r = self.recipes.iter().find(|r| r.recipe == recipe)?;
        let parts = r
            .fingerprint_parts
            .iter()
            .filter(|(k, _)| k.as_str() != "base");
        Some(parts.map(|(k, v)| (k.clone(), v.clone())).collect())
    }

    /// Refuse a plan whose basis no longer matches: state saved since, recipes or files edited, or the
    /// cloud observed differently.
    /// `fresh` is a plan made now from the same recipes.
    pub fn check_fresh(&self, fresh: &Plan) -> Result<(), StalePlan> {
        let current = &fresh.basis;
        let current_account = fresh.cloud.account.clone();
        let mut reasons = Vec::new();
        for (recipe, rev) in &self.basis.state {
            let now = current.state.get(recipe).cloned().flatten();
            if *rev != now {
                reasons.push(format!(
                    "state of `{recipe}` changed (revision {} → {})",
                    rev.as_deref().unwrap_or("none"),
                    now.as_deref().unwrap_or("none")
                ));
            }
        }
        for (recipe, fp) in &self.basis.fingerprints {
            if self.child_of_a_planned_build(recipe) {
                // Its base is its parent's planned build id, which a fresh plan names anew: compare the
                // rest of its content (the parent itself is compared on its own).
                if self.parts_without_base(recipe) != fresh.parts_without_base(recipe) {
                    reasons.push(format!("recipe `{recipe}` or a file it uses changed"));
                }
                continue;
            }
            match current.fingerprints.get(recipe) {
                Some(now) if now == fp => {}
                Some(_) => reasons.push(format!("recipe `{recipe}` or a file it uses changed")),
                None => reasons.push(format!("recipe `{recipe}` is no longer in the set")),
            }
        }
        if let (Some(planned), Some(now)) = (&self.cloud.account, &current_account)
            && planned != now
        {
            reasons.push(format!(
                "the plan was made for account {planned}, and these credentials are for account {now}"
            ));
        }
        if self.basis.observations != current.observations {
            reasons.push("the cloud changed since the plan was made".into());
        }
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(StalePlan::moved(reasons))
        }
    }
}

impl Plan {
    /// Read a saved plan. A plan of another format, or one that does not parse (a hand edit), is
    /// refused with where and why.
    pub fn from_json(path: &str, text: &str) -> Result<Plan, PlanFileError> {
        let bad = |e: serde_json::Error| PlanFileError::Invalid {
            path: path.to_string(),
            line: e.line(),
            column: e.column(),
            detail: e.to_string(),
        };
        let value: serde_json::Value = serde_json::from_str(text).map_err(bad)?;
        let format = value.get("format").and_then(serde_json::Value::as_u64);
        if format != Some(u64::from(PLAN_FORMAT)) {
            return Err(PlanFileError::Format {
                path: path.to_string(),
                found: format.map_or_else(|| "none".to_string(), |f| f.to_string()),
            });
        }
        serde_json::from_str(text).map_err(bad)
    }
}

/// A saved plan that cannot be applied as it is.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PlanFileError {
    /// Written by another version of recipe.
    #[error(
        "`{path}` is a plan of format {found}; this recipe reads plans of format {PLAN_FORMAT}"
    )]
    #[diagnostic(
        code(recipe::plan::format),
        help("plan again with this version (`recipe plan --out FILE`) and apply the new plan")
    )]
    Format {
        /// The file.
        path: String,
        /// The format it says it has.
        found: String,
    },
    /// Not a plan this version wrote (edited by hand, truncated, or another kind of file).
    #[error("{path}:{line}:{column}: not a saved plan: {detail}")]
    #[diagnostic(
        code(recipe::plan::unreadable),
        help("saved plans are not edited by hand: plan again with `recipe plan --out FILE`")
    )]
    Invalid {
        /// The file.
        path: String,
        /// Line of the problem.
        line: usize,
        /// Column of the problem.
        column: usize,
        /// What serde said.
        detail: String,
    },
}

/// A saved plan that no longer matches what it was computed against.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("the saved plan is stale: {}", reasons.join("; "))]
#[diagnostic(
    code(recipe::plan::stale),
    help("run `recipe plan --out FILE` again and apply the new plan")
)]
pub struct StalePlan {
    /// What moved.
    pub reasons: Vec<String>,
    /// The plan contradicts itself (edited by hand, or corrupt): bad input rather than a plan that
    /// aged.
    pub inconsistent: bool,
}

impl StalePlan {
    /// A plan that no longer matches, for these reasons.
    pub fn moved(reasons: Vec<String>) -> StalePlan {
        StalePlan {
            reasons,
            inconsistent: false,
        }
    }
}

/// What a plan was computed against.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Basis {
    /// State revision per recipe (`None`: no state yet).
    pub state: BTreeMap<String, Option<String>>,
    /// Fingerprint per recipe.
    pub fingerprints: BTreeMap<String, String>,
    /// Digest of the observations.
    pub observations: String,
}

/// What happens to a recipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// A new image version is built.
    Build,
    /// No build, but copies, shares, retention or rollout change.
    Update,
    /// Nothing to do.
    None,
}

/// The plan for one recipe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipePlan {
    /// Recipe name.
    pub recipe: String,
    /// Recipe file.
    pub file: String,
    /// Target.
    pub target: Target,
    /// Strategy.
    pub strategy: Strategy,
    /// What happens.
    pub change: Change,
    /// The fingerprint the recipe has now.
    pub fingerprint: String,
    /// Its parts.
    pub fingerprint_parts: BTreeMap<String, String>,
    /// The build, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildInfo>,
    /// Steps baked into the image.
    pub baked: Vec<String>,
    /// Steps deferred to first launch.
    pub launch: Vec<String>,
    /// Things worth knowing that change nothing (e.g. an unresolved base).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// What the builder lacks (preflight), each with its fix: apply refuses the build until fixed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// A planned build.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildInfo {
    /// The new version's build id.
    pub build_id: String,
    /// The recipe version.
    pub version: String,
    /// Why it is built.
    pub reasons: Vec<String>,
    /// The base it starts from (an image id or a reference resolved at apply).
    pub base: String,
    /// The parent recipe, for layered recipes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// The build region.
    pub home_region: String,
    /// Every region it will exist in.
    pub regions: Vec<String>,
    /// Every share it will have.
    pub shares: Vec<recipe_state::Share>,
    /// The recipe's `image.tags` as written, recorded with the version.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub image_tags: BTreeMap<String, String>,
    /// The image's name as it will be (`image.name` with the build's values).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image_name: String,
    /// How the image is made, in the target's words, where it has more than one way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
}

/// The critical path.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CriticalPath {
    /// Its estimated length in seconds: the shortest possible apply.
    pub total_secs: u64,
    /// Its actions, first to last.
    pub actions: Vec<usize>,
}
