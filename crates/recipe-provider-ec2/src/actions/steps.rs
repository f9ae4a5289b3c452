//! Steps on the builder through SSM Run Command ([`recipe_ssm::Session`]: the same rendering and
//! sending as every provider whose builder SSM reaches), and sysprep, which stops the instance.

use recipe_aws::{AwsError, Context};
use recipe_engine::{ActionError, BoxFuture};
use recipe_ssm::{NodeCheck, Session};

use super::Act;
use crate::poll;

impl NodeCheck for Act<'_> {
    /// A builder that is not pending or running never gets its agent online.
    fn usable<'a>(&'a self, node: &'a str) -> BoxFuture<'a, Result<(), ActionError>> {
        Box::pin(async move {
            let state = self.builder_state(node).await?;
            if matches!(state.as_str(), "pending" | "running") {
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
        Session::new(
            self.ssm.clone(),
            &self.p.poller,
            &self.home,
            self.instance(),
            self.r,
            self.values(),
            self.a.id,
            &self.cx.events,
            self.p.poll,
            &self.p.agents,
            self,
        )
        .with_gates(
            self.cx.gates_shown(self.a.id),
            format!(
                "the builder {} in {} (Session Manager: `aws ssm start-session --target {} --region {}`)",
                self.instance(),
                self.home,
                self.instance(),
                self.home
            ),
        )
    }

    /// The builder's state (`running`, `stopped`, …).
    async fn builder_state(&self, instance: &str) -> Result<String, ActionError> {
        let out = self
            .ec2
            .describe_instances()
            .instance_ids(instance)
            .send()
            .await
            .ctx("ec2", "DescribeInstances")?;
        let state = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find_map(|i| {
                i.state()
                    .and_then(|s| s.name())
                    .map(|n| n.as_str().to_string())
            });
        state.ok_or_else(|| {
            AwsError::missing("ec2", "DescribeInstances", "the builder's state").into()
        })
    }

    /// Generalise and shut down. Sysprep stops the builder at its end, so a builder found stopped (or
    /// stopping) has been through it already: a resumed apply (after kill -9 during sysprep) waits for
    /// it to stop instead of for an agent that will not come back.
    pub(super) async fn sysprep(&self) -> Result<(), ActionError> {
        let script =
            "& \"$env:ProgramFiles\\Amazon\\EC2Launch\\EC2Launch.exe\" sysprep --shutdown=true";
        let instance = self.instance();
        let state = self.builder_state(&instance).await?;
        if !matches!(state.as_str(), "stopping" | "stopped") {
            self.session().run_script("sysprep", script, 1800).await?;
        }
        let _ = self
            .ec2
            .stop_instances()
            .instance_ids(&instance)
            .send()
            .await;
        self.waiting(format!("the builder {instance} to stop"));
        poll::wait_instance(
            &self.p.poller,
            &self.home,
            self.ec2.clone(),
            &instance,
            "stopped",
        )
        .await?;
        Ok(())
    }
}
