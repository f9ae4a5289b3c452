//! Retention and deprecation: which old versions go, never one in use.

use super::*;

/// Why `cur` is rebuilt though nothing changed: it is older than `retain.max-age`.
pub(super) fn too_old(
    cx: &RecipeCx<'_>,
    cur: &ImageVersion,
    now: jiff::Timestamp,
) -> Option<String> {
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
pub(super) fn to_retire<'v>(
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

impl<'a> Planner<'a> {
    /// Retention and deprecation, over the versions that will be live after this plan.
    pub(super) fn retention(
        &mut self,
        cx: &mut RecipeCx<'_>,
        building: bool,
        after_rollout: &[usize],
    ) {
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
        // Validation keeps `deprecate-after` to the targets that can deprecate.
        if let Some(after) = &ret.deprecate_after {
            // A version retired by this plan is not also deprecated.
            let staying: Vec<&ImageVersion> = live
                .iter()
                .copied()
                .filter(|v| !retiring.contains(&v.build_id))
                .collect();
            self.deprecations(cx, &staying, after);
        }
    }

    pub(super) fn deprecations(
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
