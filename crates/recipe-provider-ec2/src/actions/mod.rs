//! One action at a time, by family: the base, the builder, the steps, the capture, distribution,
//! lifecycle (deprecate, retire) and rollout. [`Act`] is what every family needs of one action.

mod base;
mod builder;
mod capture;
mod distribute;
mod lifecycle;
mod rollout;
mod steps;

use recipe_engine::{ActionError, ActionKind, RecipeOutputs};

use crate::Ec2Provider;

recipe_engine::action_context! {
    Ec2Provider {
        ec2: aws_sdk_ec2::Client = ec2,
        ssm: aws_sdk_ssm::Client = ssm,
    }
}

impl Act<'_> {
    /// The snapshots behind the recipe's image in `region`, when this apply or state knows them.
    pub fn known_snapshots(&self, region: &str) -> Option<Vec<String>> {
        let made = self.inputs.snapshots(self.name, region);
        if self.inputs.image(self.name, region).is_some() {
            return (!made.is_empty()).then(|| made.to_vec());
        }
        let cur = self.cx.current(self.name)?.images.get(region)?;
        (!cur.snapshot_ids.is_empty()).then(|| cur.snapshot_ids.clone())
    }

    /// The builder launched earlier in this apply (empty when there is none).
    pub fn instance(&self) -> String {
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
            kind @ (ActionKind::RunSteps { .. }
            | ActionKind::Reboot
            | ActionKind::InstallFirstBoot { .. }
            | ActionKind::RunTests { .. }
            | ActionKind::Cleanup { .. }
            | ActionKind::VersionFile { .. }) => self.session().run(kind).await.map(|()| none),
            ActionKind::Sysprep => self.sysprep().await.map(|()| none),
            ActionKind::Capture { fingerprint, .. } => self.capture(fingerprint).await,
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
                self.remove_copy(region, image_id).await.map(|()| none)
            }
            ActionKind::Retag {
                tags,
                remove,
                regions,
            } => self.retag(tags, remove, regions).await.map(|()| none),
            ActionKind::Deprecate { build_id } => self.deprecate(build_id).await.map(|()| none),
            ActionKind::Retire { build_id, .. } => self.retire(build_id).await.map(|()| none),
            ActionKind::Rollout { target, region } => {
                self.rollout(target, region.as_deref()).await.map(|()| none)
            }
            other @ ActionKind::RebuildWorkspaces { .. } => Err(ActionError::fatal(format!(
                "the EC2 provider does not run `{}` actions",
                other.name()
            ))),
        }
    }
}
