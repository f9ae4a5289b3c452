//! AppStream waits on the shared coalesced poller: image builders (one DescribeImageBuilders listing
//! per region and tick, for every builder waited on there) and images (DescribeImages by name).

use std::sync::Arc;

use aws_sdk_appstream::types::{FleetState, ImageBuilderState as B, ImageState};
use recipe_aws::{Context, Poller, Probe, Probed, WaitError};

/// What a builder in `state` means for a wait for `want`: done, keep waiting, or failed.
fn builder_outcome(name: &str, state: &B, want: &B) -> Option<Probed> {
    match (state, want) {
        (s, w) if s == w => Some(Probed::Done),
        // A FAILED builder cannot be stopped, and is deleted as it is.
        (B::Failed, B::Stopped) => Some(Probed::Done),
        (B::Failed | B::Deleting, _) | (B::Stopped | B::Snapshotting, B::Running) => Some(
            Probed::Failed(format!("the image builder {name} is {state}, not {want}")),
        ),
        _ => None,
    }
}

/// Wait until image builder `name` is `want` (RUNNING or STOPPED).
pub async fn wait_builder(
    poller: &Arc<Poller>,
    region: &str,
    client: aws_sdk_appstream::Client,
    name: &str,
    want: B,
) -> Result<(), WaitError> {
    let key = format!("builder-{want}/{region}");
    let probe: Probe = Arc::new(move |names: Vec<String>| {
        let (client, want) = (client.clone(), want.clone());
        Box::pin(async move {
            let all = builders(&client).await?;
            let mut done = Vec::new();
            for n in &names {
                let found = all.iter().find(|b| b.name() == Some(n.as_str()));
                let outcome = match found {
                    Some(b) => b.state().and_then(|s| builder_outcome(n, s, &want)),
                    None => Some(Probed::Failed(format!(
                        "the image builder {n} no longer exists"
                    ))),
                };
                done.extend(outcome.map(|o| (n.clone(), o)));
            }
            Ok(done)
        })
    });
    poller.wait(key, name, probe).await
}

/// Every image builder of the account in the client's region, page after page.
pub(crate) async fn builders(
    client: &aws_sdk_appstream::Client,
) -> Result<Vec<aws_sdk_appstream::types::ImageBuilder>, recipe_aws::AwsError> {
    let (mut all, mut token) = (Vec::new(), None);
    loop {
        let out = client
            .describe_image_builders()
            .set_next_token(token)
            .send()
            .await
            .ctx("appstream", "DescribeImageBuilders")?;
        all.extend(out.image_builders().iter().cloned());
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(all);
        }
    }
}

/// Wait until image `name` is AVAILABLE (`Err` if it FAILED or is gone).
pub async fn wait_image(
    poller: &Arc<Poller>,
    region: &str,
    client: aws_sdk_appstream::Client,
    name: &str,
) -> Result<(), WaitError> {
    let probe: Probe = Arc::new(move |names: Vec<String>| {
        let client = client.clone();
        Box::pin(async move {
            let mut done = Vec::new();
            for n in names {
                let image = crate::image::describe(&client, &n).await?;
                match image.as_ref().and_then(|i| i.state()) {
                    Some(ImageState::Available) => done.push((n, Probed::Done)),
                    Some(ImageState::Failed) => {
                        let why = image
                            .as_ref()
                            .and_then(|i| i.state_change_reason())
                            .and_then(|r| r.message())
                            .unwrap_or("no reason given")
                            .to_string();
                        done.push((
                            n.clone(),
                            Probed::Failed(format!("image {n} FAILED: {why}")),
                        ));
                    }
                    Some(_) => {}
                    None => done.push((n.clone(), Probed::Failed(format!("image {n} is gone")))),
                }
            }
            Ok(done)
        })
    });
    poller.wait(format!("asimage/{region}"), name, probe).await
}

/// Wait until fleet `name` is RUNNING or STOPPED (UpdateFleet refuses a STARTING or STOPPING one).
pub async fn wait_fleet(
    poller: &Arc<Poller>,
    region: &str,
    client: aws_sdk_appstream::Client,
    name: &str,
) -> Result<(), WaitError> {
    let probe: Probe = Arc::new(move |names: Vec<String>| {
        let client = client.clone();
        Box::pin(async move {
            let mut done = Vec::new();
            for n in names {
                let f = crate::rollout::describe_fleet(&client, &n).await?;
                match f.as_ref().and_then(|f| f.state()) {
                    Some(FleetState::Running | FleetState::Stopped) => done.push((n, Probed::Done)),
                    Some(_) => {}
                    None => done.push((n.clone(), Probed::Failed(format!("fleet {n} is gone")))),
                }
            }
            Ok(done)
        })
    });
    poller.wait(format!("fleet/{region}"), name, probe).await
}

impl crate::actions::Act<'_> {
    /// Wait until image builder `name`, in the build region, is `want`.
    pub(crate) async fn builder_until(&self, name: &str, want: B) -> Result<(), WaitError> {
        wait_builder(
            &self.p.nodes.poller,
            &self.home,
            self.apps.clone(),
            name,
            want,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_builder_wait_ends_where_the_builder_cannot_come_back_from() {
        let done = |s, w| matches!(builder_outcome("b", &s, &w), Some(Probed::Done));
        let failed = |s, w| matches!(builder_outcome("b", &s, &w), Some(Probed::Failed(_)));
        assert!(done(B::Running, B::Running));
        assert!(done(B::Stopped, B::Stopped));
        assert!(
            done(B::Failed, B::Stopped),
            "a failed builder is deleted as it is"
        );
        assert!(failed(B::Failed, B::Running));
        assert!(failed(B::Snapshotting, B::Running));
        assert!(builder_outcome("b", &B::Snapshotting, &B::Stopped).is_none());
        assert!(builder_outcome("b", &B::Pending, &B::Running).is_none());
    }
}
