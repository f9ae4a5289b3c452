//! The build chain: resolve-base, the builder, the baked steps, reboots, tests, cleanup and capture
//! (or, on the import route, capture from the parent's image).

use super::*;

impl<'a> Planner<'a> {
    /// The recipe this one's image is imported from (the import route, [`TargetSpec::imports`]):
    /// an AppStream recipe on an AMI recipe.
    pub(super) fn imported_from(&self, cx: &RecipeCx<'_>) -> Option<String> {
        let parent = &self.set.recipes[cx.r.parent?];
        let spec = self.set.targets.get(cx.r.recipe.target.value);
        let imports = spec.is_some_and(|s| s.imports(&parent.recipe));
        imports.then(|| parent.recipe.name.value.clone())
    }

    /// The import route: the parent recipe did the baking; the target's service turns its image in
    /// this build region into this recipe's image (AppStream: CreateImportedImage, with the `app`
    /// steps as its catalog). No builder.
    pub(super) fn import_chain(
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
        let spec = self.set.targets.get(cx.r.recipe.target.value);
        let words = spec.map_or("", |s| s.import_words());
        let why = format!("{}; {words}", reasons.join("; "));
        self.b.add(name, kind, why, &[resolve])
    }

    /// Resolve the base, launch the builder, run the baked steps (batches end at a reboot), install
    /// first boot, test, clean up, write the version file, sysprep, capture. Returns the capture
    /// action.
    pub(super) fn build_chain(
        &mut self,
        cx: &RecipeCx<'_>,
        bid: &str,
        reasons: &[String],
    ) -> usize {
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
            && c.value != recipe_model::CleanupPreset::NONE
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
    pub(super) fn baked_steps(&mut self, cx: &RecipeCx<'_>, mut last: usize) -> (usize, bool) {
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

    pub(super) fn run_steps(
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
}
