//! EC2 waits on the shared coalesced poller: images (DescribeImages) and instances
//! (DescribeInstances) each have a group per region, so everything waiting on one kind in one region
//! costs one describe call per tick. The SSM waits are in [`recipe_ssm::poll`].

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{ImageState, InstanceStateName as I};
use recipe_aws::{Batch, Context, On, Probed, WaitError};

use crate::filter;

/// Wait until `image` is available (`Err` if it failed).
pub async fn wait_available(on: On<'_, Client>, image: &str) -> Result<(), WaitError> {
    on.wait("image", image, image_states).await
}

/// What one DescribeImages call says of each image waited on.
async fn image_states(client: Client, ids: Vec<String>) -> Batch {
    let call = client.describe_images().filters(filter("image-id", &ids));
    let out = call.send().await.ctx("ec2", "DescribeImages")?;
    let outcome = |img: &aws_sdk_ec2::types::Image| {
        let id = img.image_id()?.to_string();
        match img.state()? {
            ImageState::Available => Some((id, Probed::Done)),
            ImageState::Pending => None,
            other => {
                let reason = img.state_reason().and_then(|r| r.message());
                let why = format!(
                    "image {id} is {other}: {}",
                    reason.unwrap_or("no reason given")
                );
                Some((id, Probed::Failed(why)))
            }
        }
    };
    Ok(out.images().iter().filter_map(outcome).collect())
}

/// Wait until `instance` is in state `want` (`running` or `stopped`); `Err` if it went somewhere
/// else for good.
pub async fn wait_instance(on: On<'_, Client>, instance: &str, want: I) -> Result<(), WaitError> {
    on.wait_for(("instance", instance), want, instance_states)
        .await
}

/// What one DescribeInstances call says of each instance waited on.
async fn instance_states(client: Client, ids: Vec<String>, want: I) -> Batch {
    let call = client
        .describe_instances()
        .filters(filter("instance-id", &ids));
    let out = call.send().await.ctx("ec2", "DescribeInstances")?;
    let outcome = |i: &aws_sdk_ec2::types::Instance| {
        let id = i.instance_id()?.to_string();
        let state = i.state()?.name()?;
        if *state == want {
            return Some((id, Probed::Done));
        }
        let gone = matches!(state, I::Terminated | I::ShuttingDown)
            || (want == I::Running && *state == I::Stopped);
        gone.then(|| {
            let reason = i.state_reason().and_then(|r| r.message());
            let why = reason.unwrap_or("no reason given");
            let failed = format!("the builder {id} is {state}: {why}");
            (id, Probed::Failed(failed))
        })
    };
    let instances = out.reservations().iter().flat_map(|r| r.instances());
    Ok(instances.filter_map(outcome).collect())
}

pub use recipe_ssm::poll::{wait_agent, wait_command};

impl crate::actions::Act<'_> {
    /// Wait until builder `instance`, in the build region, is `want`.
    pub(crate) async fn instance_until(&self, instance: &str, want: I) -> Result<(), WaitError> {
        wait_instance(self.p.on(&self.home, self.ec2.clone()), instance, want).await
    }
}
