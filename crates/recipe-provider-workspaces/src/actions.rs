//! One action at a time: [`Act`] is what every family needs of one action.

use recipe_engine::{ActionError, ActionKind};

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
    /// Steps, reboots, tests and the version file through SSM; clean-up with seed 001's checks.
    async fn on_builder(&self, kind: &ActionKind) -> Result<(), ActionError> {
        match kind {
            ActionKind::Cleanup { .. } => self.cleanup().await,
            ActionKind::Sysprep => Err(no_such(kind)),
            kind => self.session().await?.run(kind).await,
        }
    }

    /// A copy made by an earlier version, removed.
    async fn remove_copy(&self, region: &str, image_id: &str) -> Result<(), ActionError> {
        crate::image::delete_image(self.p, region, image_id).await
    }

    /// Rebuilding the WorkSpaces of the bundle.
    async fn other(&self, kind: &ActionKind) -> Result<(), ActionError> {
        match kind {
            ActionKind::Rebuild { tagged, batch, .. } => self.rebuild(tagged, *batch).await,
            other => Err(no_such(other)),
        }
    }
}

fn no_such(kind: &ActionKind) -> ActionError {
    ActionError::fatal(format!(
        "WorkSpaces has no `{}` action: image creation generalises the WorkSpace itself, and images are not deprecated",
        kind.name()
    ))
}
