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
/// The regions a recipe's bundle is made in: the build region, then `bundle.regions`.
pub(super) fn bundle_regions(cx: &RecipeCx<'_>) -> Vec<String> {
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

    /// The bundle first (WorkSpaces are rebuilt from it), then every other rollout target once the
    /// image is everywhere. Returns the actions retirements wait for.
    pub(super) fn rollout(
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
    pub(super) fn fleet_reason(
        &self,
        name: &str,
        fleets: &[recipe_model::Node<String>],
        i: usize,
    ) -> String {
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
}
