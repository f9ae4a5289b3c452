//! The kiosk target's provider: each planned action, served by the fake cloud.

use std::collections::BTreeMap;
use std::sync::Arc;

use recipe_engine::{
    Action, ActionError, ActionKind, ActionScope, ApplyContext, BoxFuture, Lane, Leftover, Outputs,
    Provider, RecipeOutputs, Released, SweepRequest, Swept, Unfinished,
};
use recipe_loader::LoadedRecipe;
use recipe_model::{Base, Target};
use recipe_plan::{Observations, ObserveError};
use recipe_state::RecipeState;

use crate::cloud::{FakeCloud, NotFound};

/// The kiosk provider.
pub struct KioskProvider {
    cloud: Arc<FakeCloud>,
}

impl KioskProvider {
    /// A provider on `cloud`.
    pub fn new(cloud: Arc<FakeCloud>) -> KioskProvider {
        KioskProvider { cloud }
    }

    fn act(&self, s: &ActionScope<'_>) -> Result<RecipeOutputs, ActionError> {
        let lost = |e: NotFound| ActionError::fatal(e.0);
        let builder = || {
            let b = s.inputs.builder(s.name).map(str::to_string);
            b.ok_or_else(|| ActionError::fatal(format!("{}: no builder yet", s.name)))
        };
        Ok(match &s.a.action {
            ActionKind::ResolveBase => RecipeOutputs::base(self.base(s)?),
            ActionKind::LaunchBuilder => {
                let base = s.inputs.base(s.name).unwrap_or_default().to_string();
                let b = self.cloud.launch(s.name, &base);
                // The kiosk's own section, read typed.
                if let Some(screen) = crate::SCREEN.of(&s.r.recipe.sections) {
                    let home = screen.home_page.as_ref().map_or("", |h| h.value.as_str());
                    let set = format!("screen {:?} {home}", screen.orientation.value);
                    self.cloud.run(&b, &set).map_err(lost)?;
                }
                RecipeOutputs::builder(b)
            }
            ActionKind::RunSteps { indices, .. } => {
                let b = builder()?;
                for i in indices {
                    self.cloud.run(&b, &format!("step {i}")).map_err(lost)?;
                }
                RecipeOutputs::default()
            }
            ActionKind::RunTests { .. } | ActionKind::Cleanup { .. } | ActionKind::Reboot => {
                self.cloud
                    .run(&builder()?, s.a.action.name())
                    .map_err(lost)?;
                RecipeOutputs::default()
            }
            ActionKind::Capture { .. } => {
                let name = s.values().apply(&s.r.recipe.image.name.value);
                let id = self
                    .cloud
                    .capture(&builder()?, &name, &s.home)
                    .map_err(lost)?;
                RecipeOutputs::image(&s.home, id)
            }
            ActionKind::TerminateBuilder => {
                self.cloud.terminate(&builder()?);
                RecipeOutputs::default()
            }
            ActionKind::Copy { region } => {
                let from = s.image_in(&s.home);
                let from = from.ok_or_else(|| ActionError::fatal("no image to copy"))?;
                RecipeOutputs::image(region, self.cloud.copy(&from, region).map_err(lost)?)
            }
            ActionKind::WaitAvailable | ActionKind::Tag | ActionKind::VersionFile { .. } => {
                RecipeOutputs::default()
            }
            other => {
                let what = other.name();
                return Err(ActionError::fatal(format!("kiosk images have no `{what}`")));
            }
        })
    }

    fn base(&self, s: &ActionScope<'_>) -> Result<String, ActionError> {
        match &s.r.recipe.base.value {
            Base::ImageId(id) => Ok(id.value.clone()),
            // The fake cloud names catalog images `kio-` and the catalog name.
            Base::Declared(_, name) => Ok(format!("kio-{}", name.value)),
            Base::Recipe(parent) => s.image_of(&parent.value).ok_or_else(|| {
                ActionError::fatal(format!("no image of `{}` in {}", parent.value, s.home))
            }),
            other => Err(ActionError::fatal(format!(
                "kiosk images cannot start from {}",
                other.kind()
            ))),
        }
    }
}

impl Provider for KioskProvider {
    fn target(&self) -> Target {
        crate::KIOSK
    }

    /// The fake cloud keeps no tags to find images by: state is the record.
    fn observe<'a>(
        &'a self,
        _: &'a [&'a LoadedRecipe],
        _: &'a BTreeMap<String, RecipeState>,
    ) -> BoxFuture<'a, Result<Observations, ObserveError>> {
        Box::pin(async { Ok(Observations::default()) })
    }

    fn lane(&self, cx: &ApplyContext, action: &Action) -> Lane {
        Lane::new("kiosk", cx.home_region(&action.recipe).unwrap_or_default())
    }

    fn run<'a>(
        &'a self,
        cx: &'a ApplyContext,
        action: &'a Action,
        inputs: &'a Outputs,
    ) -> BoxFuture<'a, Result<RecipeOutputs, ActionError>> {
        Box::pin(async move { self.act(&ActionScope::new(cx, action, inputs)?) })
    }

    /// Builders of the swept recipes that no build of this apply runs are stopped.
    fn sweep<'a>(&'a self, _: &'a ApplyContext, request: &'a SweepRequest) -> BoxFuture<'a, Swept> {
        Box::pin(async move {
            let mut swept = Swept::default();
            let recipes: Vec<&str> = request.scopes.iter().map(|s| s.recipe.as_str()).collect();
            for (id, recipe) in self.cloud.running() {
                if recipes.contains(&recipe.as_str()) && !request.current.contains(&recipe) {
                    self.cloud.terminate(&id);
                    swept.builders.push(format!("{recipe}: {id}"));
                }
            }
            swept
        })
    }

    fn release<'a>(
        &'a self,
        _: &'a ApplyContext,
        left: &'a Leftover,
        keep: bool,
    ) -> BoxFuture<'a, Released> {
        Box::pin(async move {
            if keep {
                return Released::Kept;
            }
            self.cloud.terminate(&left.builder);
            Released::Terminated
        })
    }

    fn discard<'a>(
        &'a self,
        _: &'a ApplyContext,
        image: &'a Unfinished,
    ) -> BoxFuture<'a, Result<(), ActionError>> {
        Box::pin(async move {
            self.cloud.delete_image(&image.image);
            Ok(())
        })
    }
}
