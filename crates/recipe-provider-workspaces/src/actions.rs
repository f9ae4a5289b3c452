//! One action at a time: [`Act`] is what every family needs of one action.

use recipe_engine::{ActionError, ActionKind, RecipeOutputs};

use crate::WorkspacesProvider;

recipe_engine::action_context! {
    WorkspacesProvider {
        ws: aws_sdk_workspaces::Client = workspaces,
        ssm: aws_sdk_ssm::Client = ssm,
    }
}

impl Act<'_> {
    /// The builder WorkSpace launched earlier in this apply (empty when there is none).
    pub fn builder(&self) -> String {
        self.builder_made().unwrap_or_default().to_string()
    }
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
