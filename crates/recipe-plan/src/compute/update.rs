//! A recipe with no build: copies and removals as `distribute` changed, retags, shares, and rollout
//! targets that drifted.

use super::*;

impl<'a> Planner<'a> {
    /// No build: bring the current version's copies, tags and shares to what the recipe says.
    pub(super) fn update(&mut self, cx: &mut RecipeCx<'_>, cur: &ImageVersion) {
        let copies = self.copies(cx, cur);
        self.retag(cx, cur, &copies);
        self.removed_regions(cx, cur);
        self.shares(cx, cur, &copies);
        self.rollout_drift(cx, cur, &copies);
    }

    /// A rollout target observed not pointing at the current version (a rollout that failed or was
    /// interrupted, or a change made outside the tool) is rolled out again.
    pub(super) fn rollout_drift(
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
    pub(super) fn removed_regions(&mut self, cx: &mut RecipeCx<'_>, cur: &ImageVersion) {
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
    pub(super) fn copies(
        &mut self,
        cx: &RecipeCx<'_>,
        cur: &ImageVersion,
    ) -> BTreeMap<String, usize> {
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
    pub(super) fn retag(
        &mut self,
        cx: &RecipeCx<'_>,
        cur: &ImageVersion,
        copies: &BTreeMap<String, usize>,
    ) {
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
    pub(super) fn shares(
        &mut self,
        cx: &RecipeCx<'_>,
        cur: &ImageVersion,
        copies: &BTreeMap<String, usize>,
    ) {
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
                let spec = self.set.targets.get(cx.r.recipe.target.value);
                let service = spec.map_or("the service", |s| s.service());
                why.push_str(&format!(
                    "; warning: {} loses fleet use of the image, and {service} drops its fleets on it to zero capacity",
                    fleets.join(", ")
                ));
            }
            let kind = ActionKind::Unshare { principals, region };
            self.b.add(name, kind, why, &[]);
        }
    }
}
