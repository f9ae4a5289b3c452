//! Distribution and rollout of a build: copies, shares per region, and what each rollout target
//! points at next.

use super::*;

pub(super) fn desired_regions(r: &LoadedRecipe, default_region: &str) -> (String, Vec<String>) {
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
pub(super) fn by_region<'s>(
    shares: impl Iterator<Item = &'s Share>,
) -> BTreeMap<String, Vec<String>> {
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
pub(super) fn share_kind(
    desired: &BTreeSet<Share>,
    principals: Vec<String>,
    region: String,
) -> ActionKind {
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

/// The shares a recipe asks for in `regions`; `grants` is what a bare account id is given.
pub(super) fn desired_shares(
    r: &LoadedRecipe,
    regions: &[String],
    grants: (bool, bool),
) -> BTreeSet<Share> {
    let mut out = BTreeSet::new();
    let Some(d) = &r.recipe.distribute else {
        return out;
    };
    for region in regions {
        for a in &d.share.accounts {
            let (fleet, image_builder) = match &a.value {
                AccountShare::WithPermissions(p) => (p.fleet, p.image_builder),
                AccountShare::Id(_) => grants,
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

impl<'a> Planner<'a> {
    /// Copies to every other region, then shares. Returns the action after which the image is
    /// available per region, and the share actions.
    pub(super) fn distribute(
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

    /// The rollouts the recipe's target asks for ([`TargetSpec::rollouts`]), in its order: the
    /// first ones once the image is in their region, the others after them. Returns the actions
    /// retirements wait for.
    pub(super) fn rollout(
        &mut self,
        cx: &RecipeCx<'_>,
        at: &BTreeMap<String, usize>,
        mut ready: Vec<usize>,
    ) -> Vec<usize> {
        let Some(spec) = self.set.targets.get(cx.r.recipe.target.value) else {
            return ready;
        };
        let steps = spec.rollouts(&cx.r.recipe, &cx.home);
        let first = steps.iter().filter(|s| s.order == RolloutOrder::First);
        for step in first {
            let Some(&dep) = at.get(&step.region) else {
                continue;
            };
            ready.push(self.rollout_step(cx, step, &[dep]));
        }
        let (mut after, mut gate) = (ready.clone(), ready.clone());
        for step in steps.iter().filter(|s| s.order != RolloutOrder::First) {
            let deps = match step.order {
                RolloutOrder::InRegion => {
                    let mut deps = ready.clone();
                    deps.extend(at.get(&step.region).filter(|d| !ready.contains(d)));
                    deps
                }
                RolloutOrder::Chained => gate.clone(),
                _ => ready.clone(),
            };
            let id = self.rollout_step(cx, step, &deps);
            if step.order == RolloutOrder::Chained {
                gate = vec![id];
            }
            after.push(id);
        }
        after
    }

    /// One rollout action, with why: a target observed missing says what happens to it, a rebuild
    /// how many machines it finds.
    fn rollout_step(&mut self, cx: &RecipeCx<'_>, step: &RolloutStep, deps: &[usize]) -> usize {
        let name = cx.name.as_str();
        let mut why = step.why.clone();
        let region = (step.region != cx.home).then(|| step.region.clone());
        let kind = match &step.action {
            RolloutAction::Point {
                kind,
                name: target,
                missing,
            } => {
                let target = RolloutTarget::new(*kind, target.clone());
                let observed = self.obs.rollouts.get(name).into_iter().flatten();
                let mut same = observed.filter(|o| o.target == target && o.region == region);
                if let Some(missing) = missing
                    && same.any(|o| o.image.is_none())
                {
                    why = format!("{why}; {missing}");
                }
                ActionKind::Rollout { target, region }
            }
            RolloutAction::Rebuild {
                machines,
                tagged,
                batch,
            } => {
                let n = self.obs.rebuilds.get(name);
                if let (Some(n), Some(counted)) = (n, &step.counted) {
                    why = counted.replace("{n}", &n.to_string());
                }
                ActionKind::Rebuild {
                    machines: machines.to_string(),
                    tagged: tagged.clone(),
                    batch: *batch,
                }
            }
        };
        self.b.add(name, kind, &why, deps)
    }
}
