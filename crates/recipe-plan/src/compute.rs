//! Computing a plan: desired (recipes) against recorded (state) and observed (the cloud).

use std::collections::{BTreeMap, BTreeSet};

use recipe_loader::{LoadedRecipe, RecipeSet, ResolvedStep};
use recipe_model::{AccountShare, Base, Stage, Step, Target};
use recipe_state::{ImageVersion, RecipeState, Share, Stored};

use crate::action::{Action, ActionKind, Estimates};
use crate::fingerprint::{Fingerprint, explain, fingerprint};
use crate::graph::critical_path;
use crate::observe::{Observations, base_reference};
use crate::plan::{Basis, BuildInfo, Change, PLAN_FORMAT, Plan, RecipePlan};

/// What the caller decides.
#[derive(Clone, Debug)]
pub struct PlanOptions {
    /// Durations per action kind.
    pub estimates: Estimates,
    /// Plan only this recipe and the recipes it is layered on.
    pub target: Option<String>,
    /// The time the plan is computed at (deprecation ages, build ids).
    pub now: jiff::Timestamp,
    /// The build region for recipes that do not set `builder.region`.
    pub default_region: String,
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

/// The recipes to plan, parents before children: every recipe, or the target and its ancestors.
fn selection(set: &RecipeSet, target: Option<&str>) -> Result<Vec<usize>, PlanError> {
    let mut chosen: BTreeSet<usize> = match target {
        None => (0..set.recipes.len()).collect(),
        Some(name) => {
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
            s
        }
    };
    // Depth from the root, then name: a stable order with parents first.
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
    let mut order: Vec<usize> = std::mem::take(&mut chosen).into_iter().collect();
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

/// `b<UTC time>-<fingerprint prefix>`, with `.<n>` added if the recipe already has that id (a rebuild
/// of the same fingerprint within the same second).
fn build_id(now: jiff::Timestamp, fp: &Fingerprint, st: &RecipeState) -> String {
    let digits = fp.value.trim_start_matches("sha256:");
    let id = format!(
        "b{}-{}",
        now.strftime("%Y%m%d%H%M%S"),
        &digits[..8.min(digits.len())]
    );
    let taken = |c: &str| st.versions.iter().any(|v| v.build_id == c);
    if !taken(&id) {
        return id;
    }
    (2..)
        .map(|n| format!("{id}.{n}"))
        .find(|c| !taken(c))
        .expect("an unused suffix exists")
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

/// Compute the plan.
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
    let order = selection(set, opts.target.as_deref())?;
    let mut b = Builder {
        actions: Vec::new(),
        estimates: &opts.estimates,
    };
    let mut recipes = Vec::new();
    let mut planned_builds: BTreeMap<usize, String> = BTreeMap::new();
    // For a recipe built in this plan: the action after which its image is available, per region.
    let mut available_at: BTreeMap<usize, BTreeMap<String, usize>> = BTreeMap::new();
    let mut basis = Basis::default();
    let empty = RecipeState::default();

    for &i in &order {
        let r = &set.recipes[i];
        let name = r.recipe.name.value.clone();
        let st = state.get(&name).map_or(&empty, |s| &s.state);
        basis
            .state
            .insert(name.clone(), state.get(&name).map(|s| s.revision.0.clone()));
        let mut notes = Vec::new();

        // The base: the parent's fingerprint, an observed image id, or the reference itself.
        let (needs_resolving, reference) = base_reference(&r.recipe.base.value);
        // A layered recipe's base is its parent's version: the one this plan builds, or the current one.
        let parent_version = r.parent.map(|p| {
            let parent = &set.recipes[p].recipe.name.value;
            let build = planned_builds
                .get(&p)
                .cloned()
                .or_else(|| {
                    state
                        .get(parent)
                        .and_then(|s| s.state.current())
                        .map(|v| v.build_id.clone())
                })
                .unwrap_or_else(|| "unbuilt".into());
            format!("recipe:{parent}@{build}")
        });
        let base_value = match (&r.recipe.base.value, parent_version) {
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
        let fp = fingerprint(r, &base_value);
        basis.fingerprints.insert(name.clone(), fp.value.clone());

        let (home, regions) = desired_regions(r, &opts.default_region);
        let shares = desired_shares(r, &regions);
        let image_tags: BTreeMap<String, String> = r
            .recipe
            .image
            .tags
            .iter()
            .map(|(k, v)| (k.value.clone(), v.value.clone()))
            .collect();
        let current = st.current();
        let observed = obs
            .refreshed
            .contains(&name)
            .then(|| obs.images.get(&name).cloned().unwrap_or_default());
        let present = |v: &ImageVersion, region: &str| match &observed {
            None => true,
            Some(imgs) => imgs
                .iter()
                .any(|o| o.build_id == v.build_id && o.region == region),
        };

        // Why build, if at all.
        let parent_rebuilt = r.parent.is_some_and(|p| available_at.contains_key(&p));
        let mut reasons: Vec<String> = Vec::new();
        match current {
            None if st.versions.is_empty() => reasons.push("first build".into()),
            None => reasons.push("no usable version: the last build did not finish".into()),
            Some(cur) if !present(cur, &cur.home_region) => {
                reasons.push(format!(
                    "image {} was deleted outside recipe",
                    cur.images
                        .get(&cur.home_region)
                        .map_or("?", |i| i.image_id.as_str())
                ));
            }
            Some(cur) if cur.fingerprint != fp.value => {
                if parent_rebuilt {
                    let parent = &set.recipes[r.parent.expect("parent_rebuilt implies a parent")]
                        .recipe
                        .name
                        .value;
                    reasons.push(format!("parent recipe `{parent}` is rebuilt"));
                }
                for why in explain(&cur.fingerprint_parts, &fp.parts) {
                    if why == "base image changed" {
                        if parent_rebuilt {
                            continue;
                        }
                        match base_value.split_once('@') {
                            Some((parent, build)) if r.parent.is_some() => reasons.push(format!(
                                "parent `{}` has a newer version ({build}) than the one this image was built on",
                                parent.trim_start_matches("recipe:")
                            )),
                            _ => reasons.push(format!("base image changed: {} → {base_value}", cur.base_image)),
                        }
                    } else {
                        reasons.push(why);
                    }
                }
                if reasons.is_empty() {
                    reasons.push("fingerprint changed".into());
                }
            }
            Some(_) => {}
        }
        let building = !reasons.is_empty();

        let (baked, launch): (Vec<&ResolvedStep>, Vec<&ResolvedStep>) =
            r.steps.iter().partition(|s| s.stage == Stage::Image);
        let baked_labels: Vec<String> = baked.iter().map(|s| step_label(s)).collect();
        let launch_labels: Vec<String> = launch.iter().map(|s| step_label(s)).collect();
        let first_action = b.actions.len();
        let mut build = None;
        let mut after_rollout: Vec<usize> = Vec::new();

        if building {
            let bid = build_id(opts.now, &fp, st);
            planned_builds.insert(i, bid.clone());
            // The parent's image must exist in this recipe's build region first.
            let parent_dep: Vec<usize> = r
                .parent
                .and_then(|p| available_at.get(&p))
                .map(|at| {
                    at.get(&home)
                        .or_else(|| at.values().next())
                        .copied()
                        .into_iter()
                        .collect()
                })
                .unwrap_or_default();
            let resolve = b.add(
                &name,
                ActionKind::ResolveBase,
                format!("start from {reference}"),
                &parent_dep,
            );
            let launch_b = b.add(
                &name,
                ActionKind::LaunchBuilder,
                "a temporary builder for the build",
                &[resolve],
            );
            let mut last = launch_b;
            let mut batch: Vec<String> = Vec::new();
            let mut indices: Vec<usize> = Vec::new();
            let mut has_sysprep = false;
            for (index, s) in r
                .steps
                .iter()
                .enumerate()
                .filter(|(_, s)| s.stage == Stage::Image)
            {
                match s.step.value {
                    Step::Reboot(_) => {
                        if !batch.is_empty() {
                            last = b.add(
                                &name,
                                ActionKind::RunSteps {
                                    steps: std::mem::take(&mut batch),
                                    indices: std::mem::take(&mut indices),
                                },
                                "baked steps",
                                &[last],
                            );
                        }
                        last = b.add(&name, ActionKind::Reboot, "a reboot step", &[last]);
                    }
                    Step::Sysprep(_) => has_sysprep = true,
                    _ => {
                        batch.push(step_label(s));
                        indices.push(index);
                    }
                }
            }
            if !batch.is_empty() {
                last = b.add(
                    &name,
                    ActionKind::RunSteps {
                        steps: batch,
                        indices,
                    },
                    "baked steps",
                    &[last],
                );
            }
            if !launch_labels.is_empty() {
                last = b.add(
                    &name,
                    ActionKind::InstallFirstBoot {
                        steps: launch_labels.clone(),
                    },
                    format!(
                        "`{}` defers these steps to first boot",
                        r.recipe.strategy.as_str()
                    ),
                    &[last],
                );
            }
            if !r.tests.is_empty() {
                last = b.add(
                    &name,
                    ActionKind::RunTests {
                        count: r.tests.len(),
                    },
                    "validate the builder before capture",
                    &[last],
                );
            }
            if let Some(c) = &r.recipe.cleanup
                && c.value != recipe_model::CleanupPreset::None
            {
                last = b.add(
                    &name,
                    ActionKind::Cleanup {
                        preset: c.as_str().into(),
                    },
                    "clean down before capture",
                    &[last],
                );
            }
            if has_sysprep {
                last = b.add(
                    &name,
                    ActionKind::Sysprep,
                    "generalise Windows before capture",
                    &[last],
                );
            }
            let capture = b.add(
                &name,
                ActionKind::Capture {
                    build_id: bid.clone(),
                    fingerprint: fp.value.clone(),
                },
                reasons.join("; "),
                &[last],
            );
            b.add(
                &name,
                ActionKind::TerminateBuilder,
                "the builder is temporary",
                &[capture],
            );
            let wait = b.add(
                &name,
                ActionKind::WaitAvailable,
                "the image must be available to copy and share",
                &[capture],
            );
            let tag = b.add(
                &name,
                ActionKind::Tag,
                "recipe:* tags find the image again",
                &[wait],
            );
            let mut at = BTreeMap::from([(home.clone(), tag)]);
            for region in regions.iter().filter(|r| **r != home) {
                let c = b.add(
                    &name,
                    ActionKind::Copy {
                        region: region.clone(),
                    },
                    "listed in distribute.regions",
                    &[tag],
                );
                at.insert(region.clone(), c);
            }
            let mut shared = Vec::new();
            for s in &shares {
                let dep = at.get(&s.region).copied().unwrap_or(tag);
                shared.push(b.add(
                    &name,
                    ActionKind::Share {
                        principal: s.principal.clone(),
                        region: s.region.clone(),
                    },
                    "listed in distribute.share",
                    &[dep],
                ));
            }
            let mut ready: Vec<usize> = at.values().copied().chain(shared).collect();
            ready.push(tag);
            if let Some(bundle) = &r.recipe.bundle {
                let u = b.add(
                    &name,
                    ActionKind::UpdateBundle {
                        bundle: bundle.name.value.clone(),
                    },
                    "the bundle wraps the new image",
                    &[tag],
                );
                ready.push(u);
            }
            after_rollout = ready.clone();
            if let Some(ro) = &r.recipe.rollout {
                let ro = &ro.value;
                let targets = ro
                    .launch_templates
                    .iter()
                    .map(|t| format!("launch template {}", t.value))
                    .chain(
                        ro.ssm_parameter
                            .iter()
                            .map(|p| format!("SSM parameter {}", p.value)),
                    )
                    .chain(ro.fleets.iter().map(|f| format!("fleet {}", f.value)));
                let mut rolled = Vec::new();
                for t in targets {
                    rolled.push(b.add(
                        &name,
                        ActionKind::Rollout { target: t },
                        "listed in rollout",
                        &ready,
                    ));
                }
                if let Some(rw) = &ro.rebuild_workspaces {
                    let tagged = rw
                        .tagged
                        .iter()
                        .map(|(k, v)| format!("{k}={}", v.value))
                        .collect();
                    rolled.push(b.add(
                        &name,
                        ActionKind::RebuildWorkspaces {
                            tagged,
                            batch: rw.batch,
                        },
                        "rollout.rebuild-workspaces",
                        &ready,
                    ));
                }
                after_rollout.extend(rolled);
            }
            available_at.insert(i, at);
            build = Some(BuildInfo {
                build_id: bid,
                version: r.recipe.version.value.clone(),
                reasons: reasons.clone(),
                base: base_value.clone(),
                parent: r.parent.map(|p| set.recipes[p].recipe.name.value.clone()),
                home_region: home.clone(),
                regions: regions.clone(),
                shares: shares.iter().cloned().collect(),
                image_tags: image_tags.clone(),
            });
        } else if let Some(cur) = current {
            // No build: bring the current version's copies and shares to what the recipe says.
            let mut copies: BTreeMap<String, usize> = BTreeMap::new();
            for region in regions.iter().filter(|r| **r != cur.home_region) {
                match cur.images.get(region) {
                    None => {
                        let c = b.add(
                            &name,
                            ActionKind::Copy {
                                region: region.clone(),
                            },
                            "region added to distribute.regions",
                            &[],
                        );
                        copies.insert(region.clone(), c);
                    }
                    Some(img) if !present(cur, region) => {
                        let c = b.add(
                            &name,
                            ActionKind::Copy {
                                region: region.clone(),
                            },
                            format!(
                                "repair: the copy {} was deleted outside recipe",
                                img.image_id
                            ),
                            &[],
                        );
                        copies.insert(region.clone(), c);
                    }
                    Some(_) => {}
                }
            }
            // Tags are not in the fingerprint: a change of `image.tags` alone retags every region,
            // after any copy this plan makes (copies take their tags from the source).
            // Versions recorded before tags were kept (`None`) are tagged once if the recipe has tags.
            let none = BTreeMap::new();
            let recorded = cur.image_tags.as_ref().unwrap_or(&none);
            let unknown = cur.image_tags.is_none() && !image_tags.is_empty();
            if unknown || *recorded != image_tags {
                let mut what: Vec<String> = Vec::new();
                for (k, v) in &image_tags {
                    match recorded.get(k) {
                        None => what.push(format!("+{k}")),
                        Some(old) if old != v => what.push(format!("~{k}")),
                        Some(_) => {}
                    }
                }
                // The tool's own tags stay, even if the recipe had overridden them.
                let remove: Vec<String> = recorded
                    .keys()
                    .filter(|k| !image_tags.contains_key(*k))
                    .filter(|k| {
                        !matches!(k.as_str(), "Name" | "Version") && !k.starts_with("recipe:")
                    })
                    .cloned()
                    .collect();
                what.extend(remove.iter().map(|k| format!("-{k}")));
                let deps: Vec<usize> = copies.values().copied().collect();
                b.add(
                    &name,
                    ActionKind::Retag {
                        tags: image_tags.clone(),
                        remove,
                        regions: regions.clone(),
                    },
                    if unknown {
                        "image.tags are not recorded for this version: tag it as the recipe says"
                            .to_string()
                    } else {
                        format!("image.tags changed ({})", what.join(", "))
                    },
                    &deps,
                );
            }
            for (region, img) in &cur.images {
                if !regions.contains(region) {
                    b.add(
                        &name,
                        ActionKind::RemoveCopy {
                            region: region.clone(),
                            image_id: img.image_id.clone(),
                        },
                        "region removed from distribute.regions",
                        &[],
                    );
                }
            }
            // A share recorded in state but missing from the image as observed was removed outside
            // the tool (only when the observer read the image's launch permissions).
            let lost = |s: &Share| {
                observed.as_ref().is_some_and(|imgs| {
                    imgs.iter().any(|o| {
                        o.build_id == cur.build_id
                            && o.region == s.region
                            && o.shares_observed
                            && !o.shares.contains(&s.principal)
                    })
                })
            };
            for s in &shares {
                let deps: Vec<usize> = copies.get(&s.region).copied().into_iter().collect();
                let reason = if !deps.is_empty() {
                    "the new copy is shared like the others".to_string()
                } else if !cur.shares.contains(s) {
                    "share added to distribute.share".to_string()
                } else if lost(s) {
                    format!(
                        "repair: the share with {} in {} was removed outside recipe",
                        s.principal, s.region
                    )
                } else {
                    continue;
                };
                b.add(
                    &name,
                    ActionKind::Share {
                        principal: s.principal.clone(),
                        region: s.region.clone(),
                    },
                    reason,
                    &deps,
                );
            }
            for s in cur.shares.difference(&shares) {
                if regions.contains(&s.region) {
                    b.add(
                        &name,
                        ActionKind::Unshare {
                            principal: s.principal.clone(),
                            region: s.region.clone(),
                        },
                        "share removed from distribute.share",
                        &[],
                    );
                }
            }
        }

        // Retention and deprecation, over the versions that will be live after this plan.
        if let Some(ret) = &r.recipe.retain {
            let live: Vec<&ImageVersion> =
                st.versions.iter().filter(|v| v.status.is_live()).collect();
            if let Some(keep) = &ret.keep {
                let keep_existing = if building {
                    (keep.value as usize).saturating_sub(1)
                } else {
                    keep.value as usize
                };
                let protect = if building {
                    None
                } else {
                    current.map(|c| c.build_id.as_str())
                };
                let (retire, in_use) = to_retire(&live, keep_existing, &obs.in_use, protect);
                for v in retire {
                    b.add(
                        &name,
                        ActionKind::Retire {
                            build_id: v.build_id.clone(),
                            version: v.version.clone(),
                        },
                        format!(
                            "retain.keep is {}: {} live version(s) after this plan",
                            keep.value,
                            live.len() + usize::from(building)
                        ),
                        &after_rollout,
                    );
                }
                for v in in_use {
                    notes.push(format!(
                        "{} ({}) is past retention but still in use: kept",
                        v.version, v.build_id
                    ));
                }
            }
            if let Some(after) = &ret.deprecate_after
                && r.recipe.target.value == Target::Ec2Ami
            {
                let span = jiff::SignedDuration::from_secs(
                    i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
                );
                for v in live
                    .iter()
                    .filter(|v| v.status == recipe_state::VersionStatus::Available)
                {
                    if v.created_at
                        .checked_add(span)
                        .is_ok_and(|due| due <= opts.now)
                    {
                        b.add(
                            &name,
                            ActionKind::Deprecate {
                                build_id: v.build_id.clone(),
                            },
                            format!(
                                "built {}, deprecate-after {after} has passed",
                                v.created_at.strftime("%Y-%m-%d")
                            ),
                            &[],
                        );
                    }
                }
            }
        }

        let change = if building {
            Change::Build
        } else if b.actions.len() > first_action {
            Change::Update
        } else {
            Change::None
        };
        recipes.push(RecipePlan {
            recipe: name,
            file: r.source.path.display().to_string(),
            target: r.recipe.target.value,
            strategy: r.recipe.strategy.value,
            change,
            fingerprint: fp.value.clone(),
            fingerprint_parts: fp.parts.clone(),
            build,
            baked: baked_labels,
            launch: launch_labels,
            notes,
        });
    }

    basis.observations = crate::digest(obs);
    let critical_path = critical_path(&b.actions);
    Ok(Plan {
        format: PLAN_FORMAT,
        created_at: opts.now,
        basis,
        recipes,
        actions: b.actions,
        critical_path,
    })
}
