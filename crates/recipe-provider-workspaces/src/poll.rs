//! WorkSpaces and SSM waits on the shared coalesced poller: WorkSpaces (DescribeWorkspaces, 25 ids a
//! call), images (DescribeWorkspaceImages, 25 ids a call) and agents registered through an activation
//! (DescribeInstanceInformation by ActivationIds) each have a group per region.

use aws_sdk_workspaces::Client;
use aws_sdk_workspaces::types::{WorkspaceImageState, WorkspaceState as S};
use recipe_aws::{Batch, Context, On, Probed, WaitError};

/// WorkSpaces states a wait for `want` cannot come back from.
fn dead_end(state: &S, want: &S) -> bool {
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
pub async fn wait_workspace(on: On<'_, Client>, id: &str, want: S) -> Result<(), WaitError> {
    on.wait_for(("workspace", id), want, workspace_states).await
}

/// What DescribeWorkspaces (25 ids a call) says of each WorkSpace waited on.
async fn workspace_states(client: Client, ids: Vec<String>, want: S) -> Batch {
    let mut done = Vec::new();
    for chunk in ids.chunks(25) {
        let call = client
            .describe_workspaces()
            .set_workspace_ids(Some(chunk.to_vec()));
        let out = call.send().await.ctx("workspaces", "DescribeWorkspaces")?;
        for w in out.workspaces() {
            let (Some(id), Some(state)) = (w.workspace_id(), w.state()) else {
                continue;
            };
            if *state == want && w.modification_states().is_empty() {
                done.push((id.to_string(), Probed::Done));
            } else if dead_end(state, &want) {
                let why = w.error_message().unwrap_or("no reason given");
                let failed = format!("the WorkSpace {id} is {state}: {why}");
                done.push((id.to_string(), Probed::Failed(failed)));
            }
        }
        let seen = |i: &&String| out.workspaces().iter().any(|w| w.workspace_id() == Some(i));
        for gone in chunk.iter().filter(|i| !seen(i)) {
            let outcome = if want == S::Terminated {
                Probed::Done
            } else {
                Probed::Failed(format!("the WorkSpace {gone} no longer exists"))
            };
            done.push((gone.clone(), outcome));
        }
    }
    Ok(done)
}

/// Wait until WorkSpaces image `image` is AVAILABLE (`Err` if it went to ERROR).
pub async fn wait_image(on: On<'_, Client>, image: &str) -> Result<(), WaitError> {
    on.wait("wsimage", image, image_states).await
}

/// What DescribeWorkspaceImages (25 ids a call) says of each image waited on.
async fn image_states(client: Client, ids: Vec<String>) -> Batch {
    let mut done = Vec::new();
    for chunk in ids.chunks(25) {
        let call = client
            .describe_workspace_images()
            .set_image_ids(Some(chunk.to_vec()));
        let out = call
            .send()
            .await
            .ctx("workspaces", "DescribeWorkspaceImages")?;
        for i in out.images() {
            let (Some(id), Some(state)) = (i.image_id(), i.state()) else {
                continue;
            };
            let outcome = match state {
                WorkspaceImageState::Available => Probed::Done,
                WorkspaceImageState::Pending => continue,
                other => {
                    let why = i.error_message().unwrap_or("no reason given");
                    Probed::Failed(format!("image {id} is {other}: {why}"))
                }
            };
            done.push((id.to_string(), outcome));
        }
    }
    Ok(done)
}

/// Every WorkSpace a DescribeWorkspaces call answers, page after page: AWS answers at most 25 a
/// page (API_DescribeWorkspaces, `Limit` 1-25), so one page is never the whole list.
pub(crate) async fn all_workspaces(
    call: aws_sdk_workspaces::operation::describe_workspaces::builders::DescribeWorkspacesFluentBuilder,
) -> Result<Vec<aws_sdk_workspaces::types::Workspace>, recipe_aws::AwsError> {
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
    pub(crate) async fn workspace_until(&self, id: &str, want: S) -> Result<(), WaitError> {
        wait_workspace(self.p.on(&self.home, self.ws.clone()), id, want).await
    }
}
