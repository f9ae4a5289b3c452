//! One action at a time: [`Act`] is what every family needs of one action.

use recipe_engine::{ActionError, ActionKind};

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
    /// Steps, reboots, tests, clean-up and the version file through SSM on the image builder.
    async fn on_builder(&self, kind: &ActionKind) -> Result<(), ActionError> {
        match kind {
            ActionKind::Sysprep => Err(no_such(kind)),
            kind => self.session().await?.run(kind).await,
        }
    }

    /// A copy made by an earlier version, removed.
    async fn remove_copy(&self, region: &str, image_id: &str) -> Result<(), ActionError> {
        crate::image::delete_image(self.p, region, image_id).await
    }

    /// Nothing else is AppStream's.
    async fn other(&self, kind: &ActionKind) -> Result<(), ActionError> {
        Err(no_such(kind))
    }
}

fn no_such(kind: &ActionKind) -> ActionError {
    ActionError::fatal(format!(
        "AppStream has no `{}` action: the Image Assistant generalises the builder, images are not deprecated, and WorkSpaces are not AppStream's",
        kind.name()
    ))
}
