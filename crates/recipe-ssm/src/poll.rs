//! SSM waits on the shared coalesced poller: agents (DescribeInstanceInformation) and Run Command
//! invocations (ListCommandInvocations) each have a group per region, so everything waiting on one
//! kind in one region costs one describe call per tick.

use aws_sdk_ssm::Client;
use aws_sdk_ssm::types::{CommandInvocationStatus as C, PingStatus};
use recipe_aws::{Batch, Context, On, Probed, WaitError, probe_each};

/// Whether a command invocation in `status` has yet to end (no status yet counts as not ended).
pub(crate) fn in_flight(status: Option<&C>) -> bool {
    matches!(
        status,
        Some(C::Pending | C::InProgress | C::Delayed | C::Cancelling) | None
    )
}

/// Whether a managed node's agent answers.
pub(crate) fn online(i: &aws_sdk_ssm::types::InstanceInformation) -> bool {
    i.ping_status() == Some(&PingStatus::Online)
}

/// Wait until the SSM agent on `instance` reports Online.
pub async fn wait_agent(on: On<'_, Client>, instance: &str) -> Result<(), WaitError> {
    on.wait("agent", instance, agent_states).await
}

/// The waited-on nodes whose agent is Online (DescribeInstanceInformation, 50 ids a call: the
/// InstanceIds filter takes at most 50 values).
async fn agent_states(ssm: Client, ids: Vec<String>) -> Batch {
    let mut done = Vec::new();
    for chunk in ids.chunks(50) {
        let f = aws_sdk_ssm::types::InstanceInformationStringFilter::builder()
            .key("InstanceIds")
            .set_values(Some(chunk.to_vec()))
            .build()
            .map_err(|e| e.to_string())?;
        let call = ssm.describe_instance_information().filters(f);
        let out = call
            .send()
            .await
            .ctx("ssm", "DescribeInstanceInformation")?;
        let up = out.instance_information_list().iter().filter(|i| online(i));
        done.extend(up.filter_map(|i| Some((i.instance_id()?.to_string(), Probed::Done))));
    }
    Ok(done)
}

/// Wait until the Run Command invocation `command` (sent to one instance) has finished, whatever
/// its status; the caller reads the result with one GetCommandInvocation. Each waiting command is
/// read by its id (ListCommandInvocations with `CommandId`), so what else runs in the region (State
/// Manager, Patch Manager, other tools) costs nothing.
pub async fn wait_command(on: On<'_, Client>, command: &str) -> Result<(), WaitError> {
    on.wait("command", command, command_states).await
}

/// The waited-on commands that have finished.
async fn command_states(ssm: Client, waiting: Vec<String>) -> Batch {
    let ssm = &ssm;
    probe_each(waiting, |id| async move {
        Ok(finished(ssm, &id).await?.then_some(Probed::Done))
    })
    .await
}

/// Whether every invocation of `command` has a final status.
async fn finished(ssm: &aws_sdk_ssm::Client, command: &str) -> Result<bool, recipe_aws::AwsError> {
    let out = ssm
        .list_command_invocations()
        .command_id(command)
        .send()
        .await
        .ctx("ssm", "ListCommandInvocations")?;
    let list = out.command_invocations();
    Ok(!list.is_empty() && list.iter().all(|i| !in_flight(i.status())))
}
