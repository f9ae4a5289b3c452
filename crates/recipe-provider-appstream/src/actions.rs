//! One action at a time: [`Act`] is what every family needs of one action.

use recipe_engine::{ActionError, ActionKind, RecipeOutputs};

use crate::AppstreamProvider;

recipe_engine::action_context! {
    AppstreamProvider {
        apps: aws_sdk_appstream::Client = appstream,
        ssm: aws_sdk_ssm::Client = ssm,
    }
}

impl Act<'_> {
    /// The image builder of this build: its name is derived from the build id, so it is known
    /// before it exists and found again after a crash.
    pub fn builder(&self) -> String {
        self.builder_made()
            .map_or_else(|| builder_name(&self.values().build_id), str::to_string)
    }
}

/// The name of a build's image builder (AppStream names: letters, digits, `_ . -`, up to 100).
pub(crate) fn builder_name(build_id: &str) -> String {
    format!("recipe-{build_id}")
}

impl Act<'_> {
    async fn dispatch(&self) -> Result<RecipeOutputs, ActionError> {
        let none = RecipeOutputs::default();
        match &self.a.action {
            ActionKind::ResolveBase => self.resolve_base().await,
            ActionKind::LaunchBuilder => self.launch_builder().await,
            ActionKind::TerminateBuilder => self.delete_builder().await.map(|()| none),
            kind @ (ActionKind::RunSteps { .. }
            | ActionKind::Reboot
            | ActionKind::InstallFirstBoot { .. }
            | ActionKind::RunTests { .. }
            | ActionKind::Cleanup { .. }
            | ActionKind::VersionFile { .. }) => {
                self.session().await?.run(kind).await.map(|()| none)
            }
            ActionKind::Capture { .. } => self.capture().await,
            ActionKind::WaitAvailable => self.wait_available().await,
            ActionKind::Tag => self.tag().await.map(|()| none),
            ActionKind::Copy { region } => self.copy(region).await,
            ActionKind::Share {
                principals,
                region,
                fleet,
                image_builder,
            } => {
                let grant = crate::image::Grant {
                    fleet,
                    image_builder,
                };
                self.share(principals, region, Some(grant))
                    .await
                    .map(|()| none)
            }
            ActionKind::Unshare { principals, region } => {
                self.share(principals, region, None).await.map(|()| none)
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
            ActionKind::Rollout { target, .. } => self.rollout(target).await.map(|()| none),
            other @ (ActionKind::Sysprep
            | ActionKind::Deprecate { .. }
            | ActionKind::RebuildWorkspaces { .. }) => Err(ActionError::fatal(format!(
                "AppStream has no `{}` action: the Image Assistant generalises the builder, images are not deprecated, and WorkSpaces are not AppStream's",
                other.name()
            ))),
        }
    }
}
