//! Steps on the builder through SSM Run Command ([`recipe_ssm::Session`]: the same rendering and
//! sending as every provider whose builder SSM reaches), and sysprep, which stops the instance.

use aws_sdk_ec2::types::InstanceStateName as I;
use recipe_aws::{AwsError, Context};
use recipe_engine::{ActionError, BoxFuture};
use recipe_ssm::{NodeCheck, Session};

use super::Act;

impl NodeCheck for Act<'_> {
    /// A builder that is not pending or running never gets its agent online.
    fn usable<'a>(&'a self, node: &'a str) -> BoxFuture<'a, Result<(), ActionError>> {
        Box::pin(async move {
            let state = self.builder_state(node).await?;
            if matches!(state, I::Pending | I::Running) {
                return Ok(());
            }
            Err(ActionError::fatal(format!(
                "the builder {node} is {state}: its SSM agent cannot come online to run commands"
            )))
        })
    }
}

impl Act<'_> {
    /// A session on this build's builder.
    pub(super) fn session(&self) -> Session<'_> {
        let (i, home) = (self.instance(), &self.home);
        let connect = format!(
            "the builder {i} in {home} (Session Manager: `aws ssm start-session --target {i} --region {home}`)"
        );
        Session::for_action(&self.s, self.ssm.clone(), &self.p.nodes, i, self, connect)
    }

    /// The builder's state (`running`, `stopped`, …).
    async fn builder_state(&self, instance: &str) -> Result<I, ActionError> {
        let call = self.ec2.describe_instances().instance_ids(instance);
        let out = call.send().await.ctx("ec2", "DescribeInstances")?;
        let state = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find_map(|i| i.state().and_then(|s| s.name()).cloned());
        state.ok_or_else(|| {
            AwsError::missing("ec2", "DescribeInstances", "the builder's state").into()
        })
    }

    /// Generalise and shut down, with the launch agent the builder has
    /// ([`recipe_ssm::render::sysprep_script`]). The command ends its own machine, so it is not waited
    /// for: the builder is, until it stops, while a command that fails (no launch agent, sysprep's
    /// own error) fails the action. A builder found stopped (or stopping) has been through sysprep
    /// already: a resumed apply (after kill -9 during sysprep) waits for it to stop.
    pub(super) async fn sysprep(&self) -> Result<(), ActionError> {
        let instance = self.instance();
        let state = self.builder_state(&instance).await?;
        if !matches!(state, I::Stopping | I::Stopped) {
            self.sysprep_until_down(&instance).await?;
        }
        let _ = self
            .ec2
            .stop_instances()
            .instance_ids(&instance)
            .send()
            .await;
        self.waiting(format!("the builder {instance} to stop"));
        self.instance_until(&instance, I::Stopped).await?;
        Ok(())
    }

    /// Send sysprep and watch the builder until it goes down, or the command fails or ends.
    async fn sysprep_until_down(&self, instance: &str) -> Result<(), ActionError> {
        let session = self.session();
        let script = recipe_ssm::render::sysprep_script();
        let id = session.start_script("sysprep", &script, 1800).await?;
        self.waiting(format!("sysprep on {instance} to shut it down"));
        loop {
            let state = self.builder_state(instance).await?;
            if matches!(state, I::Stopping | I::Stopped) || session.failed("sysprep", &id).await? {
                return Ok(());
            }
            recipe_engine::idle(tokio::time::sleep(self.p.nodes.poll)).await;
        }
    }
}
