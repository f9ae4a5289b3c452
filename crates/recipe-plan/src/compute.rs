//! Computing a plan: desired (recipes) against recorded (state) and observed (the cloud).

use std::collections::{BTreeMap, BTreeSet};

use recipe_loader::{LoadedRecipe, RecipeSet, ResolvedStep};
use recipe_model::{AccountShare, Base, Stage, Step};
use recipe_state::{ImageVersion, RecipeState, Share, Stored};

use crate::action::RolloutTarget;
use crate::action::{Action, ActionKind, Estimates};
use crate::fingerprint::{Fingerprint, explain};
use crate::graph::critical_path;
use crate::observe::ObservedImage;
use crate::observe::{Observations, base_reference};
use crate::plan::{Basis, BuildInfo, Change, CloudInfo, PLAN_FORMAT, Plan, RecipePlan};
use recipe_loader::{RolloutAction, RolloutOrder, RolloutStep};

mod chain;
mod distribution;
mod retention;
mod update;

use distribution::*;
use retention::*;

/// What the caller decides.
#[derive(Clone, Debug)]
pub struct PlanOptions {
    /// Durations per action kind.
    pub estimates: Estimates,
    /// Plan only these recipes and the recipes they are layered on (empty: every recipe).
    pub targets: Vec<String>,
    /// Build ids of applies that did not finish (their journals are in the store): their images are
    /// never adopted, since the next apply resumes or sweeps them.
    pub unfinished: BTreeSet<String>,
    /// The time the plan is computed at (deprecation ages, build ids).
    pub now: jiff::Timestamp,
    /// The account and the build region for recipes that do not set `builder.region`.
    pub cloud: CloudInfo,
}

/// Why a plan could not be computed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PlanError {
    /// The recipe set has validation errors.
    #[error("the recipes have {0} error(s)")]
    #[diagnostic(
        code(recipe::plan::invalid),
        help("run `recipe validate` and fix the errors first")
    )]
    Invalid(usize),
    /// `--target` names no recipe.
    #[error("no recipe named `{name}` to target")]
    #[diagnostic(code("recipe::plan::unknown-target"), help("{help}"))]
    UnknownTarget {
        /// The name given.
        name: String,
        /// A suggestion.
        help: String,
    },
    /// Layered recipes whose parent's image will not exist in their build region.
    #[error("{} layered recipe(s) start from an image that will not exist in their build region", diagnostics.len())]
    #[diagnostic(code("recipe::ref::parent-region"))]
    ParentRegion {
        /// One per recipe, located at its `base`.
        #[related]
        diagnostics: Vec<recipe_loader::Diagnostic>,
    },
}

/// Why a version is made by the service from the current image (no builder, no step run).
pub const UPDATE_REASON: &str =
    "service updates are available for the current image, applied by the service itself";

/// A short label for a step in plans.
pub fn step_label(s: &ResolvedStep) -> String {
    if let Some(n) = s.step.common().and_then(|c| c.name()) {
        return n.value.clone();
    }
    let short = |t: &str| {
        let first = t.lines().next().unwrap_or("").trim();
        if first.chars().count() > 40 {
            format!("{}…", first.chars().take(39).collect::<String>())
        } else {
            first.to_string()
        }
    };
    match &s.step.value {
        Step::Shell(x) => format!("shell `{}`", short(&x.run)),
        Step::PowerShell(x) => format!("powershell `{}`", short(&x.run)),
        Step::Script(x) => format!("script {}", x.path.value),
        Step::File(x) => format!("file {}", x.dest.value),
        Step::Packages(x) => {
            let names: Vec<&str> = x.install.iter().map(|n| n.value.as_str()).collect();
            if names.is_empty() {
                "packages".into()
            } else {
                format!("packages {}", names.join(" "))
            }
        }
        Step::Download(x) => format!("download {}", x.dest.value),
        Step::App(x) => format!("app {}", x.id.value),
        Step::Manual(_) => "manual gate".into(),
        other => other.kind().to_string(),
    }
}

/// The recipes to plan, parents before children: every recipe, or the targets and their ancestors.
fn selection(set: &RecipeSet, targets: &[String]) -> Result<Vec<usize>, PlanError> {
    let mut chosen = BTreeSet::new();
    if targets.is_empty() {
        chosen.extend(0..set.recipes.len());
    }
    for name in targets {
        chosen.extend(with_ancestors(set, name)?);
    }
    ordered(set, chosen)
}

/// A recipe and the recipes it is layered on.
fn with_ancestors(set: &RecipeSet, name: &str) -> Result<BTreeSet<usize>, PlanError> {
    let Some(i) = set.recipes.iter().position(|r| r.recipe.name.value == name) else {
        let names: Vec<&str> = set
            .recipes
            .iter()
            .map(|r| r.recipe.name.value.as_str())
            .collect();
        return Err(PlanError::UnknownTarget {
            name: name.into(),
            help: format!("the recipes are: {}", names.join(", ")),
        });
    };
    let mut s = BTreeSet::from([i]);
    let mut cur = i;
    while let Some(p) = set.recipes[cur].parent {
        if !s.insert(p) {
            break;
        }
        cur = p;
    }
    Ok(s)
}

/// Depth from the root, then name: a stable order with parents first.
fn ordered(set: &RecipeSet, chosen: BTreeSet<usize>) -> Result<Vec<usize>, PlanError> {
    let depth = |mut i: usize| {
        let mut d = 0;
        while let Some(p) = set.recipes[i].parent {
            d += 1;
            i = p;
            if d > set.recipes.len() {
                break;
            }
        }
        d
    };
    let mut order: Vec<usize> = chosen.into_iter().collect();
    order.sort_by_key(|&i| (depth(i), set.recipes[i].recipe.name.value.clone()));
    Ok(order)
}

struct Builder<'a> {
    actions: Vec<Action>,
    estimates: &'a Estimates,
}

impl Builder<'_> {
    fn add(
        &mut self,
        recipe: &str,
        action: ActionKind,
        reason: impl Into<String>,
        deps: &[usize],
    ) -> usize {
        let id = self.actions.len();
        let estimate_secs = self.estimates.of(&action);
        let mut depends_on = deps.to_vec();
        depends_on.sort_unstable();
        depends_on.dedup();
        self.actions.push(Action {
            id,
            recipe: recipe.into(),
            action,
            reason: reason.into(),
            depends_on,
            estimate_secs,
        });
        id
    }
}

/// `b<UTC time>-<8 hex digits of sha256(recipe name, fingerprint)>`, with `.<n>` added if the recipe
/// already has that id (a rebuild of the same fingerprint within the same second). The name is in the
/// hash so that two recipes with the same content get different builds (client tokens derive from
/// the build id); a resumed plan keeps its build ids.
fn build_id(now: jiff::Timestamp, recipe: &str, fp: &Fingerprint, st: &RecipeState) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(recipe.as_bytes());
    h.update([0]);
    h.update(fp.value.as_bytes());
    let digits = recipe_state::hex(&h.finalize());
    let id = format!("b{}-{}", now.strftime("%Y%m%d%H%M%S"), &digits[..8]);
    let taken = |c: &str| st.versions.iter().any(|v| v.build_id == c);
    if !taken(&id) {
        return id;
    }
    (2..)
        .map(|n| format!("{id}.{n}"))
        .find(|c| !taken(c))
        .expect("an unused suffix exists")
}

/// A layered recipe starts from its parent's image in its own build region, so the parent must build
/// there or copy there. Refused at plan time, at the child's `base`.
fn check_parent_regions(
    set: &RecipeSet,
    order: &[usize],
    opts: &PlanOptions,
) -> Result<(), PlanError> {
    let mut diagnostics = Vec::new();
    for &i in order {
        let r = &set.recipes[i];
        let Some(p) = r.parent else { continue };
        let parent = &set.recipes[p];
        let (home, _) = desired_regions(r, &opts.cloud.region);
        let (_, parent_regions) = desired_regions(parent, &opts.cloud.region);
        if parent_regions.contains(&home) {
            continue;
        }
        let pname = &parent.recipe.name.value;
        diagnostics.push(
            recipe_loader::Diagnostic::new(
                recipe_loader::Code::ParentRegion,
                format!(
                    "`{}` builds in {home}, but its parent `{pname}` will have images only in {}",
                    r.recipe.name.value,
                    parent_regions.join(", ")
                ),
            )
            .at(&r.source, r.recipe.base.span)
            .label(format!("the parent's image is needed in {home}"))
            .help(format!(
                "add {home} to `{pname}`'s distribute.regions, or set builder.region of `{}` to one of {}",
                r.recipe.name.value,
                parent_regions.join(", ")
            )),
        );
    }
    if diagnostics.is_empty() {
        Ok(())
    } else {
        Err(PlanError::ParentRegion { diagnostics })
    }
}

/// Compute the plan: one stage after another for each recipe, parents first.
pub fn compute(
    set: &RecipeSet,
    state: &BTreeMap<String, Stored>,
    obs: &Observations,
    opts: &PlanOptions,
) -> Result<Plan, PlanError> {
    let errors = set.diagnostics.iter().filter(|d| d.is_error()).count();
    if errors > 0 {
        return Err(PlanError::Invalid(errors));
    }
    let order = selection(set, &opts.targets)?;
    check_parent_regions(set, &order, opts)?;
    let mut planner = Planner {
        set,
        state,
        obs,
        opts,
        b: Builder {
            actions: Vec::new(),
            estimates: &opts.estimates,
        },
        planned_builds: BTreeMap::new(),
        available_at: BTreeMap::new(),
        basis: Basis::default(),
        own_parts: crate::fingerprint::own_parts_of_all(&set.recipes, &order),
    };
    let recipes: Vec<RecipePlan> = order.iter().map(|&i| planner.recipe(i)).collect();
    let Planner { mut basis, b, .. } = planner;
    basis.observations = crate::digest(obs);
    let critical_path = critical_path(&b.actions);
    Ok(Plan {
        format: PLAN_FORMAT,
        created_at: opts.now,
        cloud: opts.cloud.clone(),
        basis,
        recipes,
        actions: b.actions,
        critical_path,
        adopted: BTreeMap::new(),
    })
}

/// The planner's running state across recipes.
struct Planner<'a> {
    set: &'a RecipeSet,
    state: &'a BTreeMap<String, Stored>,
    obs: &'a Observations,
    opts: &'a PlanOptions,
    b: Builder<'a>,
    /// Build ids of the recipes built in this plan, by set index.
    planned_builds: BTreeMap<usize, String>,
    /// For a recipe built in this plan: the action after which its image is available, per region.
    available_at: BTreeMap<usize, BTreeMap<String, usize>>,
    basis: Basis,
    /// Each planned recipe's fingerprint parts that do not depend on its base, by set index.
    own_parts: Vec<BTreeMap<String, String>>,
}

/// What is known of one recipe once its base and fingerprint are settled.
struct RecipeCx<'a> {
    index: usize,
    r: &'a LoadedRecipe,
    name: String,
    st: &'a RecipeState,
    reference: String,
    base_value: String,
    fp: Fingerprint,
    home: String,
    regions: Vec<String>,
    shares: BTreeSet<Share>,
    image_tags: BTreeMap<String, String>,
    /// The images found in the cloud, when the recipe was refreshed.
    observed: Option<Vec<ObservedImage>>,
    notes: Vec<String>,
}

impl RecipeCx<'_> {
    /// Whether a recorded version's image in `region` exists (assumed when not refreshed).
    fn present(&self, v: &ImageVersion, region: &str) -> bool {
        self.observed.as_ref().is_none_or(|imgs| {
            imgs.iter()
                .any(|o| o.build_id == v.build_id && o.region == region)
        })
    }

    /// A share recorded for `cur` but missing from its image as observed (read from the cloud).
    fn share_lost(&self, cur: &ImageVersion, s: &Share) -> bool {
        self.observed.as_ref().is_some_and(|imgs| {
            imgs.iter().any(|o| {
                o.build_id == cur.build_id
                    && o.region == s.region
                    && o.shares_observed
                    && !o.shares.contains(&s.principal)
            })
        })
    }
}

/// A rebuild under the version already built leaves two live images with one version: say so.
fn same_version_warning(cx: &mut RecipeCx<'_>) {
    let version = &cx.r.recipe.version.value;
    let live = cx
        .st
        .versions
        .iter()
        .filter(|v| v.status.is_live() && v.version == *version)
        .count();
    if live > 0 {
        let n = live + 1;
        let count = if n == 2 {
            "two".to_string()
        } else {
            n.to_string()
        };
        cx.notes.push(format!(
            "warning: version {version} is built again, so {count} live images carry version {version}; bump `version:` to tell them apart (docs/plan-apply.md#versions)"
        ));
    }
}

impl<'a> Planner<'a> {
    fn recipe(&mut self, i: usize) -> RecipePlan {
        let mut cx = self.context(i);
        if let Some(newer) = self.obs.newer_bases.get(&cx.name) {
            cx.notes
                .push(format!("{newer} (seed 002: update images regularly)"));
        }
        // A recipe made by the service's own updates builds only when it has an update.
        let spec = self.set.targets.get(cx.r.recipe.target.value);
        let managed = spec.is_some_and(|s| s.updates_only(&cx.r.recipe));
        let mut reasons = if managed {
            Vec::new()
        } else {
            self.build_reasons(&cx)
        };
        // Nothing of the recipe changed, but the service has updates for its current image: a new
        // version made from it by the service, without a builder.
        let updating = (managed || (reasons.is_empty() && cx.st.current().is_some()))
            && self.obs.updates.contains(&cx.name);
        if updating {
            let reason = spec
                .and_then(|s| s.update_reason())
                .unwrap_or(UPDATE_REASON);
            reasons.push(reason.to_string());
        } else if managed {
            let spec = self.set.targets.get(cx.r.recipe.target.value);
            let service = spec.map_or("the service", |s| s.service());
            cx.notes.push(format!(
                "{service} reports no update for the image: no new version"
            ));
        }
        let building = !reasons.is_empty();
        if building && !updating {
            same_version_warning(&mut cx);
        }
        let first_action = self.b.actions.len();
        let (build, after_rollout) = if building {
            let (build, after) = self.build(&cx, reasons, updating);
            (Some(build), after)
        } else {
            if let Some(cur) = cx.st.current() {
                self.update(&mut cx, cur);
            }
            (None, Vec::new())
        };
        self.retention(&mut cx, building, &after_rollout);
        let change = if building {
            Change::Build
        } else if self.b.actions.len() > first_action {
            Change::Update
        } else {
            Change::None
        };
        let (baked, launch): (Vec<&ResolvedStep>, Vec<&ResolvedStep>) =
            cx.r.steps.iter().partition(|s| s.stage == Stage::Image);
        // Preflight findings matter to a build (they are about its builder).
        let problems = match (building, self.obs.problems.get(&cx.name)) {
            (true, Some(p)) => p.clone(),
            _ => Vec::new(),
        };
        RecipePlan {
            recipe: cx.name,
            file: cx.r.source.path.display().to_string(),
            target: cx.r.recipe.target.value,
            strategy: cx.r.recipe.strategy.value,
            change,
            fingerprint: cx.fp.value.clone(),
            fingerprint_parts: cx.fp.parts.clone(),
            build,
            baked: baked.iter().map(|s| step_label(s)).collect(),
            launch: launch.iter().map(|s| step_label(s)).collect(),
            notes: cx.notes,
            problems,
        }
    }

    /// The base (the parent's version, an observed image id, or the reference itself), the
    /// fingerprint, and where the recipe's images should be.
    fn context(&mut self, i: usize) -> RecipeCx<'a> {
        let (set, state, obs) = (self.set, self.state, self.obs);
        let r = &set.recipes[i];
        let name = r.recipe.name.value.clone();
        let st = state.get(&name).map_or(&EMPTY, |s| &s.state);
        self.basis
            .state
            .insert(name.clone(), state.get(&name).map(|s| s.revision.0.clone()));
        let mut notes = Vec::new();
        let (needs_resolving, reference) = base_reference(&r.recipe.base.value);
        let base_value = match (&r.recipe.base.value, self.parent_version(i)) {
            (Base::Recipe(_), Some(v)) => v,
            _ => match obs.bases.get(&name) {
                Some(id) => id.clone(),
                None => {
                    if needs_resolving {
                        notes.push(format!(
                            "base `{reference}` is resolved when the image is built; a newer base image is noticed only when the cloud is observed"
                        ));
                    }
                    reference.clone()
                }
            },
        };
        let fp = crate::fingerprint::with_base(std::mem::take(&mut self.own_parts[i]), &base_value);
        self.basis
            .fingerprints
            .insert(name.clone(), fp.value.clone());
        let (home, regions) = desired_regions(r, &self.opts.cloud.region);
        let grants = self.set.targets.get(r.recipe.target.value);
        let shares = desired_shares(
            r,
            &regions,
            grants.map_or((false, false), |s| s.account_share()),
        );
        let image_tags = r
            .recipe
            .image
            .tags
            .iter()
            .map(|(k, v)| (k.value.clone(), v.value.clone()))
            .collect();
        let observed = obs
            .refreshed
            .contains(&name)
            .then(|| obs.images.get(&name).cloned().unwrap_or_default());
        RecipeCx {
            index: i,
            r,
            name,
            st,
            reference,
            base_value,
            fp,
            home,
            regions,
            shares,
            image_tags,
            observed,
            notes,
        }
    }

    /// A layered recipe's base: its parent's version being built, or the current one.
    fn parent_version(&self, i: usize) -> Option<String> {
        let p = self.set.recipes[i].parent?;
        let parent = &self.set.recipes[p].recipe.name.value;
        let build = self
            .planned_builds
            .get(&p)
            .cloned()
            .or_else(|| {
                self.state
                    .get(parent)
                    .and_then(|s| s.state.current())
                    .map(|v| v.build_id.clone())
            })
            .unwrap_or_else(|| "unbuilt".into());
        Some(format!("recipe:{parent}@{build}"))
    }

    /// Why build, if at all (empty: no build).
    fn build_reasons(&self, cx: &RecipeCx<'_>) -> Vec<String> {
        let parent_rebuilt =
            cx.r.parent
                .is_some_and(|p| self.available_at.contains_key(&p));
        let mut reasons: Vec<String> = Vec::new();
        match cx.st.current() {
            None if cx.st.versions.is_empty() => reasons.push("first build".into()),
            None => reasons.push("no usable version: the last build did not finish".into()),
            Some(cur) if !cx.present(cur, &cur.home_region) => {
                reasons.push(format!(
                    "image {} was deleted outside recipe",
                    cur.images
                        .get(&cur.home_region)
                        .map_or("?", |i| i.image_id.as_str())
                ));
            }
            Some(cur) if cur.fingerprint != cx.fp.value => {
                if let Some(p) = cx.r.parent.filter(|_| parent_rebuilt) {
                    let parent = &self.set.recipes[p].recipe.name.value;
                    reasons.push(format!("parent recipe `{parent}` is rebuilt"));
                }
                for why in explain(&cur.fingerprint_parts, &cx.fp.parts) {
                    if why != "base image changed" {
                        reasons.push(why);
                    } else if !parent_rebuilt {
                        reasons.push(base_change_reason(cx, cur));
                    }
                }
                if reasons.is_empty() {
                    reasons.push("fingerprint changed".into());
                }
            }
            Some(cur) => reasons.extend(too_old(cx, cur, self.opts.now)),
        }
        reasons
    }

    /// A new version: the build chain, the image, distribution and rollout. Returns the build and
    /// the actions retirements must wait for.
    fn build(
        &mut self,
        cx: &RecipeCx<'_>,
        reasons: Vec<String>,
        updating: bool,
    ) -> (BuildInfo, Vec<usize>) {
        let bid = build_id(self.opts.now, &cx.name, &cx.fp, cx.st);
        self.planned_builds.insert(cx.index, bid.clone());
        let name = cx.name.as_str();
        let imported = self.imported_from(cx);
        let route = match (updating, &imported) {
            (true, _) => recipe_loader::BuildRoute::Update,
            (false, Some(parent)) => recipe_loader::BuildRoute::Import { parent },
            (false, None) => recipe_loader::BuildRoute::Builder,
        };
        let route = (self.set.targets.get(cx.r.recipe.target.value)).and_then(|s| s.route(route));
        let capture = if updating {
            let kind = ActionKind::Capture {
                build_id: bid.clone(),
                fingerprint: cx.fp.value.clone(),
            };
            self.b.add(name, kind, reasons.join("; "), &[])
        } else if let Some(parent) = imported {
            self.import_chain(cx, &bid, &reasons, &parent)
        } else {
            let capture = self.build_chain(cx, &bid, &reasons);
            let why = "the builder is temporary";
            self.b
                .add(name, ActionKind::TerminateBuilder, why, &[capture]);
            capture
        };
        let wait = self.b.add(
            name,
            ActionKind::WaitAvailable,
            "the image must be available to copy and share",
            &[capture],
        );
        let tag = self.b.add(
            name,
            ActionKind::Tag,
            "recipe:* tags find the image again",
            &[wait],
        );
        let (at, shared) = self.distribute(cx, tag);
        let mut ready: Vec<usize> = at.values().copied().chain(shared).collect();
        ready.push(tag);
        let after_rollout = self.rollout(cx, &at, ready);
        self.available_at.insert(cx.index, at);
        let image_name =
            crate::BuildValues::new(self.opts.now, &bid).apply(&cx.r.recipe.image.name);
        let build = BuildInfo {
            build_id: bid,
            version: cx.r.recipe.version.value.clone(),
            reasons,
            base: cx.base_value.clone(),
            parent: cx
                .r
                .parent
                .map(|p| self.set.recipes[p].recipe.name.value.clone()),
            home_region: cx.home.clone(),
            regions: cx.regions.clone(),
            shares: cx.shares.iter().cloned().collect(),
            image_tags: cx.image_tags.clone(),
            image_name,
            route,
        };
        (build, after_rollout)
    }
}

static EMPTY: RecipeState = RecipeState {
    recipe: String::new(),
    versions: Vec::new(),
};

/// Why a base change means a build: a newer parent version, a build region other than the one the
/// current version was built in (a base resolves to another image in each region), or a newer base
/// image.
fn base_change_reason(cx: &RecipeCx<'_>, cur: &ImageVersion) -> String {
    match cx.base_value.split_once('@') {
        Some((parent, build)) if cx.r.parent.is_some() => format!(
            "parent `{}` has a newer version ({build}) than the one this image was built on",
            parent.trim_start_matches("recipe:")
        ),
        _ if cur.home_region != cx.home => format!(
            "the build region changed: {} → {} (the base is {} there; it was {} in {}); set `builder.region`, `--region` or AWS_REGION back to {} to keep the current version",
            cur.home_region,
            cx.home,
            cx.base_value,
            cur.base_image,
            cur.home_region,
            cur.home_region
        ),
        _ => format!("base image changed: {} → {}", cur.base_image, cx.base_value),
    }
}
