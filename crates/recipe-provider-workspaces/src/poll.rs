//! WorkSpaces and SSM waits on the shared coalesced poller: WorkSpaces (DescribeWorkspaces, 25 ids a
//! call), images (DescribeWorkspaceImages, 25 ids a call) and agents registered through an activation
//! (DescribeInstanceInformation by ActivationIds) each have a group per region.

use std::sync::Arc;

use aws_sdk_workspaces::types::{WorkspaceImageState, WorkspaceState};
use recipe_aws::{Context, Poller, Probe, Probed, WaitError};

/// WorkSpaces states a wait for `want` cannot come back from.
fn dead_end(state: &WorkspaceState, want: &WorkspaceState) -> bool {
    use WorkspaceState as S;
    *want != S::Terminated
        && state != want
        && matches!(
            state,
            S::Error | S::Unhealthy | S::Impaired | S::Terminating | S::Terminated
        )
}

/// Wait until WorkSpace `id` is in state `want`, with no modification in progress (`Err` if it
/// went somewhere it cannot come back from). A terminated WorkSpace leaves DescribeWorkspaces, so a
/// wait for TERMINATED ends when it is gone.
pub async fn wait_workspace(
    poller: &Arc<Poller>,
    region: &str,
    client: aws_sdk_workspaces::Client,
    id: &str,
    want: WorkspaceState,
) -> Result<(), WaitError> {
    let key = format!("workspace-{want}/{region}");
    let probe: Probe = Arc::new(move |ids: Vec<String>| {
        let (client, want) = (client.clone(), want.clone());
        Box::pin(async move {
            let mut done = Vec::new();
            for chunk in ids.chunks(25) {
                let out = client
                    .describe_workspaces()
                    .set_workspace_ids(Some(chunk.to_vec()))
                    .send()
                    .await
                    .ctx("workspaces", "DescribeWorkspaces")?;
                let seen: Vec<String> = out
                    .workspaces()
                    .iter()
                    .filter_map(|w| w.workspace_id().map(str::to_string))
                    .collect();
                for w in out.workspaces() {
                    let (Some(id), Some(state)) = (w.workspace_id(), w.state()) else {
                        continue;
                    };
                    if *state == want && w.modification_states().is_empty() {
                        done.push((id.to_string(), Probed::Done));
                    } else if dead_end(state, &want) {
                        let why = w.error_message().unwrap_or("no reason given");
                        done.push((
                            id.to_string(),
                            Probed::Failed(format!("the WorkSpace {id} is {state}: {why}")),
                        ));
                    }
                }
                for gone in chunk.iter().filter(|i| !seen.contains(i)) {
                    let outcome = if want == WorkspaceState::Terminated {
                        Probed::Done
                    } else {
                        Probed::Failed(format!("the WorkSpace {gone} no longer exists"))
                    };
                    done.push((gone.clone(), outcome));
                }
            }
            Ok(done)
        })
    });
    poller.wait(key, id, probe).await
}

/// Wait until WorkSpaces image `image` is AVAILABLE (`Err` if it went to ERROR).
pub async fn wait_image(
    poller: &Arc<Poller>,
    region: &str,
    client: aws_sdk_workspaces::Client,
    image: &str,
) -> Result<(), WaitError> {
    let probe: Probe = Arc::new(move |ids: Vec<String>| {
        let client = client.clone();
        Box::pin(async move {
            let mut done = Vec::new();
            for chunk in ids.chunks(25) {
                let out = client
                    .describe_workspace_images()
                    .set_image_ids(Some(chunk.to_vec()))
                    .send()
                    .await
                    .ctx("workspaces", "DescribeWorkspaceImages")?;
                for i in out.images() {
                    let (Some(id), Some(state)) = (i.image_id(), i.state()) else {
                        continue;
                    };
                    match state {
                        WorkspaceImageState::Available => done.push((id.to_string(), Probed::Done)),
                        WorkspaceImageState::Pending => {}
                        other => {
                            let why = i.error_message().unwrap_or("no reason given");
                            done.push((
                                id.to_string(),
                                Probed::Failed(format!("image {id} is {other}: {why}")),
                            ));
                        }
                    }
                }
            }
            Ok(done)
        })
    });
    poller.wait(format!("wsimage/{region}"), image, probe).await
}

/// Every WorkSpace a DescribeWorkspaces call answers, page after page: AWS answers at most 25 a
/// page (API_DescribeWorkspaces, `Limit` 1-25), so one page is never the whole list.
pub(crate) async fn all_workspaces(
    call: aws_sdk_workspaces::operation::describe_workspaces::builders::DescribeWorkspacesFluentBuilder,
) -> Result<Vec<aws_sdk_workspaces::types::Workspace>, recipe_aws::AwsError> {
    use recipe_aws::Context;
    let mut pages = call.into_paginator().send();
    let mut all = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.ctx("workspaces", "DescribeWorkspaces")?;
        all.extend(page.workspaces().iter().cloned());
    }
    Ok(all)
}

impl crate::actions::Act<'_> {
    /// Wait until WorkSpace `id`, in the build region, is `want`.
    pub(crate) async fn workspace_until(
        &self,
        id: &str,
        want: WorkspaceState,
    ) -> Result<(), WaitError> {
        wait_workspace(&self.p.nodes.poller, &self.home, self.ws.clone(), id, want).await
    }
}
