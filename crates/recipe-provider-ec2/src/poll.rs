//! EC2 waits on the shared coalesced poller: images (DescribeImages) and instances
//! (DescribeInstances) each have a group per region, so everything waiting on one kind in one region
//! costs one describe call per tick. The SSM waits are in [`recipe_ssm::poll`].

use std::sync::Arc;

use aws_sdk_ec2::types::{ImageState, InstanceStateName as I};
use recipe_aws::{Context, Poller, Probe, Probed, WaitError};

use crate::filter;

/// Wait until `image` in `region` is available (`Err` if it failed).
pub async fn wait_available(
    poller: &Arc<Poller>,
    region: &str,
    client: aws_sdk_ec2::Client,
    image: &str,
) -> Result<(), WaitError> {
    let probe: Probe = Arc::new(move |ids: Vec<String>| {
        let client = client.clone();
        Box::pin(async move {
            let out = client
                .describe_images()
                .filters(filter("image-id", &ids))
                .send()
                .await
                .ctx("ec2", "DescribeImages")?;
            Ok(out
                .images()
                .iter()
                .filter_map(|img| {
                    let id = img.image_id()?.to_string();
                    match img.state()? {
                        ImageState::Available => Some((id, Probed::Done)),
                        ImageState::Pending => None,
                        other => {
                            let why = format!(
                                "image {id} is {other}: {}",
                                img.state_reason()
                                    .and_then(|r| r.message())
                                    .unwrap_or("no reason given")
                            );
                            Some((id, Probed::Failed(why)))
                        }
                    }
                })
                .collect())
        })
    });
    poller.wait(format!("image/{region}"), image, probe).await
}

/// Wait until `instance` in `region` is in state `want` (`running` or `stopped`); `Err` if it
/// went somewhere else for good.
pub async fn wait_instance(
    poller: &Arc<Poller>,
    region: &str,
    client: aws_sdk_ec2::Client,
    instance: &str,
    want: I,
) -> Result<(), WaitError> {
    let key = format!("instance-{want}/{region}");
    let probe: Probe = Arc::new(move |ids: Vec<String>| {
        let (client, want) = (client.clone(), want.clone());
        Box::pin(async move {
            let out = client
                .describe_instances()
                .filters(filter("instance-id", &ids))
                .send()
                .await
                .ctx("ec2", "DescribeInstances")?;
            Ok(out
                .reservations()
                .iter()
                .flat_map(|r| r.instances())
                .filter_map(|i| {
                    let id = i.instance_id()?.to_string();
                    let state = i.state()?.name()?;
                    if *state == want {
                        return Some((id, Probed::Done));
                    }
                    let gone = matches!(state, I::Terminated | I::ShuttingDown)
                        || (want == I::Running && *state == I::Stopped);
                    gone.then(|| {
                        let why = i
                            .state_reason()
                            .and_then(|r| r.message())
                            .unwrap_or("no reason given");
                        (
                            id.clone(),
                            Probed::Failed(format!("the builder {id} is {state}: {why}")),
                        )
                    })
                })
                .collect())
        })
    });
    poller.wait(key, instance, probe).await
}

pub use recipe_ssm::poll::{wait_agent, wait_command};

impl crate::actions::Act<'_> {
    /// Wait until builder `instance`, in the build region, is `want`.
    pub(crate) async fn instance_until(&self, instance: &str, want: I) -> Result<(), WaitError> {
        wait_instance(
            &self.p.nodes.poller,
            &self.home,
            self.ec2.clone(),
            instance,
            want,
        )
        .await
    }
}
