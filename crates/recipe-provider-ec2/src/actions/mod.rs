//! One action at a time, by family: the base, the builder, the steps, the capture, distribution,
//! lifecycle (deprecate, retire) and rollout. [`Act`] is what every family needs of one action.

mod base;
mod builder;
mod capture;
mod distribute;
mod lifecycle;
mod rollout;
mod steps;

use recipe_engine::{ActionError, ActionKind};

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
    /// Steps, reboots, tests, clean-up and the version file through SSM; sysprep to its end.
    async fn on_builder(&self, kind: &ActionKind) -> Result<(), ActionError> {
        match kind {
            ActionKind::Sysprep => self.sysprep().await,
            kind => self.session().run(kind).await,
        }
    }

    /// Deprecation; WorkSpaces rebuilds are not EC2's.
    async fn other(&self, kind: &ActionKind) -> Result<(), ActionError> {
        match kind {
            ActionKind::Deprecate { build_id } => self.deprecate(build_id).await,
            other => Err(ActionError::fatal(format!(
                "the EC2 provider does not run `{}` actions",
                other.name()
            ))),
        }
    }
}
