//! One action at a time: [`Act`] is what every family needs of one action.

use recipe_engine::{Action, ActionError, ActionKind, ApplyContext, Outputs, RecipeOutputs};
use recipe_loader::LoadedRecipe;
use recipe_plan::BuildValues;

use crate::WorkspacesProvider;

/// One action of one recipe, with its inputs and the clients of its build region.
pub(crate) struct Act<'a> {
    pub p: &'a WorkspacesProvider,
    pub cx: &'a ApplyContext,
    pub a: &'a Action,
    pub inputs: &'a Outputs,
    pub r: &'a LoadedRecipe,
    pub name: &'a str,
    pub home: String,
    pub ws: aws_sdk_workspaces::Client,
    pub ssm: aws_sdk_ssm::Client,
}

impl Act<'_> {
    /// The build's placeholder values (empty outside a build).
    pub fn values(&self) -> BuildValues {
        self.cx.values(self.name)
    }

    /// The recipe's image in `region`: made earlier in this apply, or the current version's.
    pub fn image_in(&self, region: &str) -> Option<String> {
        self.cx.image_in(self.inputs, self.name, region)
    }

    /// Another recipe's image in the build region: made in this apply, or its current version's.
    pub fn image_of(&self, recipe: &str) -> Option<String> {
        self.cx.image_in(self.inputs, recipe, &self.home)
    }

    /// The image in `region`, or a fatal error saying what it was needed for.
    pub fn need_image(&self, region: &str, for_what: &str) -> Result<String, ActionError> {
        self.image_in(region)
            .ok_or_else(|| ActionError::fatal(format!("no image in {region} to {for_what}")))
    }

    /// The builder WorkSpace launched earlier in this apply (empty when there is none).
    pub fn builder(&self) -> String {
        self.inputs
            .builder(self.name)
            .unwrap_or_default()
            .to_string()
    }

    /// Report what the action waits on.
    pub fn waiting(&self, on: String) {
        self.cx.events.waiting(self.a.id, on);
    }
}

/// Run one action.
pub(crate) async fn run(
    p: &WorkspacesProvider,
    cx: &ApplyContext,
    a: &Action,
    inputs: &Outputs,
) -> Result<RecipeOutputs, ActionError> {
    let r = cx.recipe(&a.recipe)?;
    let home = p.home_of(cx, &a.recipe)?;
    let act = Act {
        p,
        cx,
        a,
        inputs,
        r,
        name: r.recipe.name.value.as_str(),
        ws: p.workspaces(&home),
        ssm: p.ssm(&home),
        home,
    };
    act.dispatch().await
}

impl Act<'_> {
    async fn dispatch(&self) -> Result<RecipeOutputs, ActionError> {
        let none = RecipeOutputs::default();
        match &self.a.action {
            ActionKind::ResolveBase => self.resolve_base().await,
            ActionKind::LaunchBuilder => self.launch_builder().await,
            ActionKind::TerminateBuilder => self.terminate_builder().await.map(|()| none),
            ActionKind::Cleanup { .. } => self.cleanup().await.map(|()| none),
            kind @ (ActionKind::RunSteps { .. }
            | ActionKind::Reboot
            | ActionKind::InstallFirstBoot { .. }
            | ActionKind::RunTests { .. }
            | ActionKind::VersionFile { .. }) => {
                self.session().await?.run(kind).await.map(|()| none)
            }
            ActionKind::Capture { .. } => self.capture().await,
            ActionKind::WaitAvailable => self.wait_available().await,
            ActionKind::Tag => self.tag().await.map(|()| none),
            ActionKind::Copy { region } => self.copy(region).await,
            ActionKind::Share {
                principals, region, ..
            } => self.share(principals, region, true).await.map(|()| none),
            ActionKind::Unshare { principals, region } => {
                self.share(principals, region, false).await.map(|()| none)
            }
            ActionKind::RemoveCopy { region, image_id } => {
                crate::image::delete_image(self.p, region, image_id)
                    .await
                    .map(|()| none)
            }
            ActionKind::Retag {
                tags,
                remove,
                regions,
            } => self.retag(tags, remove, regions).await.map(|()| none),
            ActionKind::Retire { build_id, .. } => self.retire(build_id).await.map(|()| none),
            ActionKind::Rollout { target, region } => {
                self.rollout(target, region.as_deref()).await.map(|()| none)
            }
            ActionKind::RebuildWorkspaces { tagged, batch } => {
                self.rebuild(tagged, *batch).await.map(|()| none)
            }
            other @ (ActionKind::Sysprep | ActionKind::Deprecate { .. }) => {
                Err(ActionError::fatal(format!(
                    "WorkSpaces has no `{}` action: image creation generalises the WorkSpace itself, and images are not deprecated",
                    other.name()
                )))
            }
        }
    }
}
