//! Computing a plan: desired (recipes) against recorded (state) and observed (the cloud).

use std::collections::{BTreeMap, BTreeSet};

use recipe_loader::{LoadedRecipe, RecipeSet, ResolvedStep};
use recipe_model::{AccountShare, Base, Stage, Step, Target};
use recipe_state::{ImageVersion, RecipeState, Share, Stored};

use crate::action::RolloutTarget;
use crate::action::{Action, ActionKind, Estimates};
use crate::fingerprint::{Fingerprint, explain};
use crate::graph::critical_path;
use crate::observe::ObservedImage;
use crate::observe::{Observations, base_reference};
use crate::plan::{Basis, BuildInfo, Change, CloudInfo, PLAN_FORMAT, Plan, RecipePlan};

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
pub const UPDATE_REASON: &str = "service updates are available for the current image (WorkSpaces: drivers and agents, applied by CreateUpdatedWorkspaceImage)";

/// Why a version is made by the service from the current image (or, for a managed AppStream update,
/// from the base image first).
fn update_reason(target: Target) -> String {
    match target {
        Target::Appstream => "AppStream has an update for the image (agent, Windows patches): a managed image update (CreateUpdatedImage)".into(),
        _ => UPDATE_REASON.into(),
    }
}

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

fn desired_regions(r: &LoadedRecipe, default_region: &str) -> (String, Vec<String>) {
    let home = r
        .recipe
        .builder
        .region
        .as_ref()
        .map_or_else(|| default_region.to_string(), |n| n.value.clone());
    let mut regions = vec![home.clone()];
    if let Some(d) = &r.recipe.distribute {
        for reg in &d.regions {
            if !regions.contains(&reg.value) {
                regions.push(reg.value.clone());
            }
        }
    }
    (home, regions)
}

/// Shares grouped by region: one share action (one call) per image and region.
/// The regions a recipe's bundle is made in: the build region, then `bundle.regions`.
fn bundle_regions(cx: &RecipeCx<'_>) -> Vec<String> {
    let Some(b) = &cx.r.recipe.bundle else {
        return Vec::new();
    };
    let mut out = vec![cx.home.clone()];
    for r in &b.regions {
        if !out.contains(&r.value) {
            out.push(r.value.clone());
        }
    }
    out
}

fn by_region<'s>(shares: impl Iterator<Item = &'s Share>) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in shares {
        out.entry(s.region.clone())
            .or_default()
            .push(s.principal.clone());
    }
    for principals in out.values_mut() {
        principals.sort();
        principals.dedup();
    }
    out
}

/// A share action for `principals` in `region`, with the AppStream rights `desired` gives each.
fn share_kind(desired: &BTreeSet<Share>, principals: Vec<String>, region: String) -> ActionKind {
    let with = |right: fn(&Share) -> bool| -> Vec<String> {
        let here = desired.iter().filter(|s| s.region == region && right(s));
        let mut out: Vec<String> = here
            .map(|s| s.principal.clone())
            .filter(|p| principals.contains(p))
            .collect();
        out.dedup();
        out
    };
    ActionKind::Share {
        fleet: with(|s| s.fleet),
        image_builder: with(|s| s.image_builder),
        principals,
        region,
    }
}

fn desired_shares(r: &LoadedRecipe, regions: &[String]) -> BTreeSet<Share> {
    let mut out = BTreeSet::new();
    let Some(d) = &r.recipe.distribute else {
        return out;
    };
    for region in regions {
        for a in &d.share.accounts {
            let (fleet, image_builder) = match (&a.value, r.recipe.target.value) {
                (AccountShare::WithPermissions(p), _) => (p.fleet, p.image_builder),
                (AccountShare::Id(_), Target::Appstream) => (true, false),
                _ => (false, false),
            };
            out.insert(Share {
                principal: a.id().to_string(),
                region: region.clone(),
                fleet,
                image_builder,
            });
        }
        for p in d
            .share
            .organizations
            .iter()
            .chain(&d.share.organizational_units)
        {
            out.insert(Share {
                principal: p.value.clone(),
                region: region.clone(),
                fleet: false,
                image_builder: false,
            });
        }
    }
    out
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

/// Why `cur` is rebuilt though nothing changed: it is older than `retain.max-age`.
fn too_old(cx: &RecipeCx<'_>, cur: &ImageVersion, now: jiff::Timestamp) -> Option<String> {
    let max = cx.r.recipe.retain.as_ref()?.max_age.as_ref()?;
    let secs = i64::try_from(max.value.as_secs()).unwrap_or(i64::MAX);
    let due = cur
        .created_at
        .checked_add(jiff::SignedDuration::from_secs(secs))
        .ok()?;
    let days = now.duration_since(cur.created_at).as_secs() / 86_400;
    (now >= due).then(|| {
        format!(
            "version {} is {days} days old, past `retain.max-age: {}`",
            cur.version, max.value
        )
    })
}

/// Live versions to retire so that `keep` remain, oldest first; never one in use, never `protect`.
fn to_retire<'v>(
    live: &[&'v ImageVersion],
    keep: usize,
    in_use: &BTreeSet<String>,
    protect: Option<&str>,
) -> (Vec<&'v ImageVersion>, Vec<&'v ImageVersion>) {
    let mut retire = Vec::new();
    let mut kept_in_use = Vec::new();
    let mut excess = live.len().saturating_sub(keep);
    for v in live {
        if excess == 0 {
            break;
        }
        if Some(v.build_id.as_str()) == protect {
            continue;
        }
        if v.images.values().any(|i| in_use.contains(&i.image_id)) {
            kept_in_use.push(*v);
            continue;
        }
        retire.push(*v);
        excess -= 1;
    }
    (retire, kept_in_use)
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
        // A managed update (AppStream) builds only when the service has an update for the image.
        let managed = cx.r.recipe.managed_update();
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
            reasons.push(update_reason(cx.r.recipe.target.value));
        } else if managed {
            cx.notes
                .push("AppStream reports no update for the image: no new version".into());
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
        let shares = desired_shares(r, &regions);
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
        let capture = if updating {
            let kind = ActionKind::Capture {
                build_id: bid.clone(),
                fingerprint: cx.fp.value.clone(),
            };
            self.b.add(name, kind, reasons.join("; "), &[])
        } else if let Some(parent) = self.imported_from(cx) {
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
        };
        (build, after_rollout)
    }

    /// The AMI recipe an AppStream recipe is imported from (the import route), if it is one.
    fn imported_from(&self, cx: &RecipeCx<'_>) -> Option<String> {
        let parent = &self.set.recipes[cx.r.parent?];
        let imports = cx.r.recipe.target.value == Target::Appstream
            && parent.recipe.target.value == Target::Ec2Ami;
        imports.then(|| parent.recipe.name.value.clone())
    }

    /// The import route: the parent AMI recipe did the baking; CreateImportedImage turns its AMI in
    /// this build region into the AppStream image, with the `app` steps as its catalog. No builder.
    fn import_chain(
        &mut self,
        cx: &RecipeCx<'_>,
        bid: &str,
        reasons: &[String],
        parent: &str,
    ) -> usize {
        let name = cx.name.as_str();
        let parent_dep: Vec<usize> =
            cx.r.parent
                .and_then(|p| self.available_at.get(&p))
                .and_then(|at| at.get(&cx.home))
                .copied()
                .into_iter()
                .collect();
        let why = format!(
            "import route: start from the AMI of `{parent}` in {}",
            cx.home
        );
        let resolve = self.b.add(name, ActionKind::ResolveBase, why, &parent_dep);
        let kind = ActionKind::Capture {
            build_id: bid.to_string(),
            fingerprint: cx.fp.value.clone(),
        };
        let why = format!(
            "{}; CreateImportedImage turns the AMI into an AppStream image, its `app` steps the catalog",
            reasons.join("; ")
        );
        self.b.add(name, kind, why, &[resolve])
    }

    /// Resolve the base, launch the builder, run the baked steps (batches end at a reboot), install
    /// first boot, test, clean up, write the version file, sysprep, capture. Returns the capture
    /// action.
    fn build_chain(&mut self, cx: &RecipeCx<'_>, bid: &str, reasons: &[String]) -> usize {
        let name = cx.name.as_str();
        // The parent's image must exist in this recipe's build region first (checked up front).
        let parent_dep: Vec<usize> =
            cx.r.parent
                .and_then(|p| self.available_at.get(&p))
                .and_then(|at| at.get(&cx.home))
                .copied()
                .into_iter()
                .collect();
        let resolve = self.b.add(
            name,
            ActionKind::ResolveBase,
            format!("start from {}", cx.reference),
            &parent_dep,
        );
        let launch = self.b.add(
            name,
            ActionKind::LaunchBuilder,
            "a temporary builder for the build",
            &[resolve],
        );
        let (mut last, has_sysprep) = self.baked_steps(cx, launch);
        let launch_labels: Vec<String> =
            cx.r.steps
                .iter()
                .filter(|s| s.stage == Stage::Launch)
                .map(step_label)
                .collect();
        if !launch_labels.is_empty() {
            let why = format!(
                "`{}` defers these steps to first boot",
                cx.r.recipe.strategy.as_str()
            );
            let kind = ActionKind::InstallFirstBoot {
                steps: launch_labels,
            };
            last = self.b.add(name, kind, why, &[last]);
        }
        if !cx.r.tests.is_empty() {
            let kind = ActionKind::RunTests {
                count: cx.r.tests.len(),
            };
            last = self
                .b
                .add(name, kind, "validate the builder before capture", &[last]);
        }
        if let Some(c) = &cx.r.recipe.cleanup
            && c.value != recipe_model::CleanupPreset::None
        {
            let kind = ActionKind::Cleanup { preset: c.value };
            last = self.b.add(name, kind, "clean down before capture", &[last]);
        }
        // The version file is written by a command on the builder: a build that runs none (no
        // steps, tests or cleanup; a base without an agent) has no session to write it with, and
        // its image's tags carry the same values.
        if last != launch {
            let path = match cx.r.recipe.os.value {
                recipe_model::Os::Linux => "/etc/recipe-image.json",
                recipe_model::Os::Windows => "C:\\ProgramData\\recipe\\image.json",
            };
            let kind = ActionKind::VersionFile {
                path: path.into(),
                fingerprint: cx.fp.value.clone(),
            };
            let why = "say on the image which recipe, version and build made it";
            last = self.b.add(name, kind, why, &[last]);
        }
        if has_sysprep {
            let why = "generalise Windows before capture";
            last = self.b.add(name, ActionKind::Sysprep, why, &[last]);
        }
        let kind = ActionKind::Capture {
            build_id: bid.to_string(),
            fingerprint: cx.fp.value.clone(),
        };
        self.b.add(name, kind, reasons.join("; "), &[last])
    }

    /// The baked steps in batches that end at a reboot. Returns the last action and whether a
    /// sysprep step was seen (it runs last, after cleanup).
    fn baked_steps(&mut self, cx: &RecipeCx<'_>, mut last: usize) -> (usize, bool) {
        let name = cx.name.as_str();
        let mut batch: Vec<String> = Vec::new();
        let mut indices: Vec<usize> = Vec::new();
        let mut has_sysprep = false;
        let baked = cx.r.steps.iter().enumerate();
        for (index, s) in baked.filter(|(_, s)| s.stage == Stage::Image) {
            match s.step.value {
                Step::Reboot(_) => {
                    if !batch.is_empty() {
                        last = self.run_steps(name, &mut batch, &mut indices, last);
                    }
                    last = self
                        .b
                        .add(name, ActionKind::Reboot, "a reboot step", &[last]);
                }
                Step::Sysprep(_) => has_sysprep = true,
                _ => {
                    batch.push(step_label(s));
                    indices.push(index);
                }
            }
        }
        if !batch.is_empty() {
            last = self.run_steps(name, &mut batch, &mut indices, last);
        }
        (last, has_sysprep)
    }

    fn run_steps(
        &mut self,
        name: &str,
        batch: &mut Vec<String>,
        indices: &mut Vec<usize>,
        after: usize,
    ) -> usize {
        let kind = ActionKind::RunSteps {
            steps: std::mem::take(batch),
            indices: std::mem::take(indices),
        };
        self.b.add(name, kind, "baked steps", &[after])
    }

    /// Copies to every other region, then shares. Returns the action after which the image is
    /// available per region, and the share actions.
    fn distribute(
        &mut self,
        cx: &RecipeCx<'_>,
        tag: usize,
    ) -> (BTreeMap<String, usize>, Vec<usize>) {
        let name = cx.name.as_str();
        let mut at = BTreeMap::from([(cx.home.clone(), tag)]);
        for region in cx.regions.iter().filter(|r| **r != cx.home) {
            let kind = ActionKind::Copy {
                region: region.clone(),
            };
            let c = self
                .b
                .add(name, kind, "listed in distribute.regions", &[tag]);
            at.insert(region.clone(), c);
        }
        let mut shared = Vec::new();
        for (region, principals) in by_region(cx.shares.iter()) {
            let dep = at.get(&region).copied().unwrap_or(tag);
            let kind = share_kind(&cx.shares, principals, region);
            shared.push(self.b.add(name, kind, "listed in distribute.share", &[dep]));
        }
        (at, shared)
    }

    /// The bundle first (WorkSpaces are rebuilt from it), then every other rollout target once the
    /// image is everywhere. Returns the actions retirements wait for.
    fn rollout(
        &mut self,
        cx: &RecipeCx<'_>,
        at: &BTreeMap<String, usize>,
        mut ready: Vec<usize>,
    ) -> Vec<usize> {
        let name = cx.name.as_str();
        if let Some(bundle) = &cx.r.recipe.bundle {
            for region in bundle_regions(cx) {
                let Some(&dep) = at.get(&region) else {
                    continue;
                };
                let kind = ActionKind::Rollout {
                    target: RolloutTarget::Bundle(bundle.name.value.clone()),
                    region: (region != cx.home).then_some(region),
                };
                ready.push(self.b.add(
                    name,
                    kind,
                    "the bundle wraps the new image; WorkSpaces already launched keep theirs until rebuilt",
                    &[dep],
                ));
            }
        }
        let mut after = ready.clone();
        let Some(ro) = &cx.r.recipe.rollout else {
            return after;
        };
        let ro = &ro.value;
        let targets: Vec<RolloutTarget> = ro
            .launch_templates
            .iter()
            .map(|t| RolloutTarget::LaunchTemplate(t.value.clone()))
            .chain(
                ro.ssm_parameter
                    .iter()
                    .map(|p| RolloutTarget::SsmParameter(p.value.clone())),
            )
            .collect();
        // One rollout per region: each copy has its own image id, published once the image is
        // ready (copied and shared).
        for region in cx.r.recipe.rollout_regions(&cx.home) {
            let mut deps = ready.clone();
            deps.extend(at.get(&region).filter(|d| !ready.contains(d)));
            for target in &targets {
                let kind = ActionKind::Rollout {
                    target: target.clone(),
                    region: (region != cx.home).then(|| region.clone()),
                };
                after.push(self.b.add(name, kind, "listed in rollout", &deps));
            }
        }
        // Fleets in the order listed, each after the one before is healthy on the new image: the
        // first (staging) is the gate for the rest.
        let mut gate = ready.clone();
        for (i, f) in ro.fleets.iter().enumerate() {
            let kind = ActionKind::Rollout {
                target: RolloutTarget::Fleet(f.value.clone()),
                region: None,
            };
            let why = self.fleet_reason(name, &ro.fleets, i);
            let id = self.b.add(name, kind, &why, &gate);
            gate = vec![id];
            after.push(id);
        }
        if let Some(rw) = &ro.rebuild_workspaces {
            let tagged = (rw.tagged.iter())
                .map(|(k, v)| (k.clone(), v.value.clone()))
                .collect();
            let kind = ActionKind::RebuildWorkspaces {
                tagged,
                batch: rw.batch,
            };
            let reason = match self.obs.rebuilds.get(name) {
                Some(n) => format!(
                    "rollout.rebuild-workspaces: {n} WorkSpace(s) on the bundle carry the tags; each is rebuilt from the new image and its user volume goes back to its last snapshot"
                ),
                None => "rollout.rebuild-workspaces".to_string(),
            };
            after.push(self.b.add(name, kind, &reason, &ready));
        }
        after
    }

    /// Why fleet `i` of `fleets` is rolled out: listed, after the one before it, and created when it
    /// does not exist yet.
    fn fleet_reason(&self, name: &str, fleets: &[recipe_model::Node<String>], i: usize) -> String {
        let mut why = match i {
            0 => "listed in rollout".to_string(),
            _ => format!(
                "listed in rollout, after {} is healthy",
                fleets[i - 1].value
            ),
        };
        let target = RolloutTarget::Fleet(fleets[i].value.clone());
        let observed = self.obs.rollouts.get(name).into_iter().flatten();
        if observed
            .filter(|o| o.target == target)
            .any(|o| o.image.is_none())
        {
            why.push_str("; the fleet does not exist yet: it is created stopped (On-Demand, one instance), to be sized and started by you");
        }
        why
    }

    /// No build: bring the current version's copies, tags and shares to what the recipe says.
    fn update(&mut self, cx: &mut RecipeCx<'_>, cur: &ImageVersion) {
        let copies = self.copies(cx, cur);
        self.retag(cx, cur, &copies);
        self.removed_regions(cx, cur);
        self.shares(cx, cur, &copies);
        self.rollout_drift(cx, cur, &copies);
    }

    /// A rollout target observed not pointing at the current version (a rollout that failed or was
    /// interrupted, or a change made outside the tool) is rolled out again.
    fn rollout_drift(
        &mut self,
        cx: &RecipeCx<'_>,
        cur: &ImageVersion,
        copies: &BTreeMap<String, usize>,
    ) {
        let Some(observed) = self.obs.rollouts.get(&cx.name) else {
            return;
        };
        for o in observed {
            let region = o.region.as_ref().unwrap_or(&cur.home_region);
            let want = cur.images.get(region).map(|i| &i.image_id);
            if want.is_some() && o.image.as_ref() == want && !copies.contains_key(region) {
                continue;
            }
            let target = match &o.region {
                Some(r) => format!("{} in {r}", o.target),
                None => o.target.to_string(),
            };
            let why = match (&o.image, want) {
                (Some(other), Some(want)) => {
                    format!("{target} points at {other}, not the current image {want}")
                }
                (Some(other), None) => format!("{target} points at {other}, not this version"),
                (None, _) => format!("{target} does not exist"),
            };
            let kind = ActionKind::Rollout {
                target: o.target.clone(),
                region: o.region.clone(),
            };
            let deps: Vec<usize> = copies.get(region).copied().into_iter().collect();
            self.b.add(&cx.name, kind, why, &deps);
        }
    }

    /// Copies in regions no longer listed: removed, unless in use (then kept, with a note, as
    /// retention keeps a version in use). Older live versions keep their copies there until they
    /// retire, and the plan says so.
    fn removed_regions(&mut self, cx: &mut RecipeCx<'_>, cur: &ImageVersion) {
        let gone = |region: &String| !cx.regions.contains(region);
        for (region, img) in cur.images.iter().filter(|(r, _)| gone(r)) {
            if self.obs.in_use.contains(&img.image_id) {
                cx.notes.push(format!(
                    "the copy {} in {region} is in use: not removed (a later apply removes it once nothing uses it)",
                    img.image_id
                ));
                continue;
            }
            let kind = ActionKind::RemoveCopy {
                region: region.clone(),
                image_id: img.image_id.clone(),
            };
            let why = "region removed from distribute.regions";
            self.b.add(&cx.name, kind, why, &[]);
        }
        let older = cx
            .st
            .versions
            .iter()
            .filter(|v| v.status.is_live() && v.build_id != cur.build_id);
        for v in older {
            for region in v.images.keys().filter(|r| gone(r)) {
                cx.notes.push(format!(
                    "{} ({}) keeps its copy in {region} until it is retired",
                    v.version, v.build_id
                ));
            }
        }
    }

    /// Copies to regions added, and repairs of copies deleted outside recipe.
    fn copies(&mut self, cx: &RecipeCx<'_>, cur: &ImageVersion) -> BTreeMap<String, usize> {
        let mut copies = BTreeMap::new();
        for region in cx.regions.iter().filter(|r| **r != cur.home_region) {
            let reason = match cur.images.get(region) {
                None if self.opts.unfinished.contains(&cur.build_id) => {
                    format!("the copy to {region} did not finish: its apply was interrupted")
                }
                None => "region added to distribute.regions".to_string(),
                Some(img) if !cx.present(cur, region) => format!(
                    "repair: the copy {} was deleted outside recipe",
                    img.image_id
                ),
                Some(_) => continue,
            };
            let kind = ActionKind::Copy {
                region: region.clone(),
            };
            copies.insert(region.clone(), self.b.add(&cx.name, kind, reason, &[]));
        }
        copies
    }

    /// Tags are not in the fingerprint: a change of `image.tags` alone retags every region, after
    /// any copy this plan makes (copies take their tags from the source). Versions recorded before
    /// tags were kept (`None`) are tagged once if the recipe has tags.
    fn retag(&mut self, cx: &RecipeCx<'_>, cur: &ImageVersion, copies: &BTreeMap<String, usize>) {
        let none = BTreeMap::new();
        let recorded = cur.image_tags.as_ref().unwrap_or(&none);
        let unknown = cur.image_tags.is_none() && !cx.image_tags.is_empty();
        if !unknown && *recorded == cx.image_tags {
            return;
        }
        let mut what: Vec<String> = Vec::new();
        for (k, v) in &cx.image_tags {
            match recorded.get(k) {
                None => what.push(format!("+{k}={v:?}")),
                Some(old) if old != v => what.push(format!("~{k}: {old:?} → {v:?}")),
                Some(_) => {}
            }
        }
        // The tool's own tags stay, even if the recipe had overridden them.
        let remove: Vec<String> = recorded
            .keys()
            .filter(|k| !cx.image_tags.contains_key(*k))
            .filter(|k| !matches!(k.as_str(), "Name" | "Version") && !k.starts_with("recipe:"))
            .cloned()
            .collect();
        what.extend(remove.iter().map(|k| {
            format!(
                "-{k} (was {:?})",
                recorded.get(k).map_or("", String::as_str)
            )
        }));
        let reason = if unknown {
            "image.tags are not recorded for this version: tag it as the recipe says".to_string()
        } else {
            format!("image.tags changed ({})", what.join(", "))
        };
        let kind = ActionKind::Retag {
            tags: cx.image_tags.clone(),
            remove,
            regions: cx.regions.clone(),
        };
        let deps: Vec<usize> = copies.values().copied().collect();
        self.b.add(&cx.name, kind, reason, &deps);
    }

    /// Shares added, new copies shared like the others, shares removed outside recipe repaired, and
    /// shares no longer listed revoked.
    fn shares(&mut self, cx: &RecipeCx<'_>, cur: &ImageVersion, copies: &BTreeMap<String, usize>) {
        let name = cx.name.as_str();
        // Per region: the principals to grant, and why.
        let mut grants: BTreeMap<&str, (Vec<String>, BTreeSet<String>)> = BTreeMap::new();
        for s in &cx.shares {
            let reason = if copies.contains_key(&s.region) {
                "the new copy is shared like the others".to_string()
            } else if !cur.shares.contains(s) {
                "share added to distribute.share".to_string()
            } else if cx.share_lost(cur, s) {
                format!(
                    "repair: the share with {} was removed outside recipe",
                    s.principal
                )
            } else {
                continue;
            };
            let g = grants.entry(s.region.as_str()).or_default();
            g.0.push(s.principal.clone());
            g.1.insert(reason);
        }
        for (region, (principals, reasons)) in grants {
            let deps: Vec<usize> = copies.get(region).copied().into_iter().collect();
            let reasons: Vec<String> = reasons.into_iter().collect();
            let kind = share_kind(&cx.shares, principals, region.to_string());
            self.b.add(name, kind, reasons.join("; "), &deps);
        }
        let gone: Vec<&Share> = cur
            .shares
            .difference(&cx.shares)
            .filter(|s| cx.regions.contains(&s.region))
            .collect();
        for (region, principals) in by_region(gone.iter().copied()) {
            let fleets: Vec<&str> = gone
                .iter()
                .filter(|s| s.region == region && s.fleet)
                .map(|s| s.principal.as_str())
                .collect();
            let mut why = "share removed from distribute.share".to_string();
            if !fleets.is_empty() {
                why.push_str(&format!(
                    "; warning: {} loses fleet use of the image, and AppStream drops its fleets on it to zero capacity",
                    fleets.join(", ")
                ));
            }
            let kind = ActionKind::Unshare { principals, region };
            self.b.add(name, kind, why, &[]);
        }
    }

    /// Retention and deprecation, over the versions that will be live after this plan.
    fn retention(&mut self, cx: &mut RecipeCx<'_>, building: bool, after_rollout: &[usize]) {
        let Some(ret) = &cx.r.recipe.retain else {
            return;
        };
        let live: Vec<&ImageVersion> = cx
            .st
            .versions
            .iter()
            .filter(|v| v.status.is_live())
            .collect();
        let mut retiring: BTreeSet<String> = BTreeSet::new();
        if let Some(keep) = &ret.keep {
            let keep_existing = (keep.value as usize).saturating_sub(usize::from(building));
            let protect = if building {
                None
            } else {
                cx.st.current().map(|c| c.build_id.as_str())
            };
            let (retire, in_use) = to_retire(&live, keep_existing, &self.obs.in_use, protect);
            retiring.extend(retire.iter().map(|v| v.build_id.clone()));
            for v in retire {
                let kind = ActionKind::Retire {
                    build_id: v.build_id.clone(),
                    version: v.version.clone(),
                };
                let reason = format!(
                    "retain.keep is {}: {} live version(s) after this plan",
                    keep.value,
                    live.len() + usize::from(building)
                );
                self.b.add(&cx.name, kind, reason, after_rollout);
            }
            for v in in_use {
                cx.notes.push(format!(
                    "{} ({}) is past retention but still in use: kept",
                    v.version, v.build_id
                ));
            }
        }
        if let Some(after) = &ret.deprecate_after
            && cx.r.recipe.target.value == Target::Ec2Ami
        {
            // A version retired by this plan is not also deprecated.
            let staying: Vec<&ImageVersion> = live
                .iter()
                .copied()
                .filter(|v| !retiring.contains(&v.build_id))
                .collect();
            self.deprecations(cx, &staying, after);
        }
    }

    fn deprecations(
        &mut self,
        cx: &RecipeCx<'_>,
        live: &[&ImageVersion],
        after: &recipe_model::Duration,
    ) {
        let span =
            jiff::SignedDuration::from_secs(i64::try_from(after.as_secs()).unwrap_or(i64::MAX));
        let available = live
            .iter()
            .filter(|v| v.status == recipe_state::VersionStatus::Available);
        for v in available {
            let due = v.created_at.checked_add(span);
            if !due.is_ok_and(|due| due <= self.opts.now) {
                continue;
            }
            let kind = ActionKind::Deprecate {
                build_id: v.build_id.clone(),
            };
            let reason = format!(
                "built {}, deprecate-after {after} has passed",
                v.created_at.strftime("%Y-%m-%d")
            );
            self.b.add(&cx.name, kind, reason, &[]);
        }
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
