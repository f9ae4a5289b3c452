//! AppStream waits on the shared coalesced poller: image builders (one DescribeImageBuilders listing
//! per region and tick, for every builder waited on there) and images (DescribeImages by name).

use aws_sdk_appstream::Client;
use aws_sdk_appstream::operation::describe_image_builders::DescribeImageBuildersOutput;
use aws_sdk_appstream::types::{FleetState, ImageBuilder, ImageBuilderState as B, ImageState};
use recipe_aws::{AwsError, Batch, Context, On, Probed, WaitError, every_page, probe_each};

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
pub async fn wait_builder(on: On<'_, Client>, name: &str, want: B) -> Result<(), WaitError> {
    on.wait_for(("builder", name), want, builder_states).await
}

/// What one listing of the region's builders says of each builder waited on.
async fn builder_states(client: Client, names: Vec<String>, want: B) -> Batch {
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
}

/// Image builder `name` in the client's region (`None`: no such builder).
pub(crate) async fn builder(client: &Client, name: &str) -> Result<Option<ImageBuilder>, AwsError> {
    let call = client.describe_image_builders().names(name).send().await;
    match call.ctx("appstream", "DescribeImageBuilders") {
        Ok(out) => Ok(out.image_builders.and_then(|b| b.into_iter().next())),
        Err(e) if e.is("ResourceNotFoundException") => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every image builder of the account in the client's region, page after page.
pub(crate) async fn builders(client: &Client) -> Result<Vec<ImageBuilder>, AwsError> {
    let page = |t| client.describe_image_builders().set_next_token(t).send();
    let split = |o: DescribeImageBuildersOutput| (o.image_builders, o.next_token);
    every_page(("appstream", "DescribeImageBuilders"), page, split).await
}

/// Wait until image `name` is AVAILABLE (`Err` if it FAILED or is gone).
pub async fn wait_image(on: On<'_, Client>, name: &str) -> Result<(), WaitError> {
    on.wait("asimage", name, image_states).await
}

/// Each image waited on: AVAILABLE, FAILED (with AppStream's reason), gone, or still pending.
async fn image_states(client: Client, names: Vec<String>) -> Batch {
    let client = &client;
    probe_each(names, |n| async move {
        let image = crate::image::describe(client, &n).await?;
        Ok(match image.as_ref().and_then(|i| i.state()) {
            Some(ImageState::Available) => Some(Probed::Done),
            Some(ImageState::Failed) => {
                let reason = image.as_ref().and_then(|i| i.state_change_reason());
                let why = reason
                    .and_then(|r| r.message())
                    .unwrap_or("no reason given");
                Some(Probed::Failed(format!("image {n} FAILED: {why}")))
            }
            Some(_) => None,
            None => Some(Probed::Failed(format!("image {n} is gone"))),
        })
    })
    .await
}

/// Wait until fleet `name` is RUNNING or STOPPED (UpdateFleet refuses a STARTING or STOPPING one).
pub async fn wait_fleet(on: On<'_, Client>, name: &str) -> Result<(), WaitError> {
    on.wait("fleet", name, fleet_states).await
}

/// Each fleet waited on: settled (RUNNING or STOPPED), gone, or still changing.
async fn fleet_states(client: Client, names: Vec<String>) -> Batch {
    let client = &client;
    probe_each(names, |n| async move {
        let f = crate::rollout::describe_fleet(client, &n).await?;
        Ok(match f.as_ref().and_then(|f| f.state()) {
            Some(FleetState::Running | FleetState::Stopped) => Some(Probed::Done),
            Some(_) => None,
            None => Some(Probed::Failed(format!("fleet {n} is gone"))),
        })
    })
    .await
}

impl crate::actions::Act<'_> {
    /// Wait until image builder `name`, in the build region, is `want`.
    pub(crate) async fn builder_until(&self, name: &str, want: B) -> Result<(), WaitError> {
        wait_builder(self.p.on(&self.home, self.apps.clone()), name, want).await
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
