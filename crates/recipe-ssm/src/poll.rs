//! SSM waits on the shared coalesced poller: agents (DescribeInstanceInformation) and Run Command
//! invocations (ListCommandInvocations) each have a group per region, so everything waiting on one
//! kind in one region costs one describe call per tick.

use std::sync::Arc;

use recipe_aws::{Context, Poller, Probe, Probed, WaitError};

/// Wait until the SSM agent on `instance` reports Online.
pub async fn wait_agent(
    poller: &Arc<Poller>,
    region: &str,
    ssm: aws_sdk_ssm::Client,
    instance: &str,
) -> Result<(), WaitError> {
    let probe: Probe = Arc::new(move |ids: Vec<String>| {
        let ssm = ssm.clone();
        Box::pin(async move {
            let mut done = Vec::new();
            // The InstanceIds filter takes at most 50 values.
            for chunk in ids.chunks(50) {
                let f = aws_sdk_ssm::types::InstanceInformationStringFilter::builder()
                    .key("InstanceIds")
                    .set_values(Some(chunk.to_vec()))
                    .build()
                    .map_err(|e| e.to_string())?;
                let out = ssm
                    .describe_instance_information()
                    .filters(f)
                    .send()
                    .await
                    .ctx("ssm", "DescribeInstanceInformation")?;
                done.extend(
                    out.instance_information_list()
                        .iter()
                        .filter(|i| i.ping_status().map(|p| p.as_str()) == Some("Online"))
                        .filter_map(|i| Some((i.instance_id()?.to_string(), Probed::Done))),
                );
            }
            Ok(done)
        })
    });
    poller
        .wait(format!("agent/{region}"), instance, probe)
        .await
}

/// How far back a command poll looks: from a minute (clock skew) before the oldest command still
/// waiting, so the window moves on as commands finish instead of growing from the run's first command.
/// Waiting ids are `command@sent-epoch-seconds`; returns the window's start and the command ids.
pub fn command_window(waiting: &[String]) -> (i64, Vec<(&str, &str)>) {
    let parsed: Vec<(&str, &str, i64)> = waiting
        .iter()
        .map(|w| {
            let (cmd, sent) = w.rsplit_once('@').unwrap_or((w.as_str(), "0"));
            (w.as_str(), cmd, sent.parse().unwrap_or(0))
        })
        .collect();
    let oldest = parsed.iter().map(|(_, _, t)| *t).min().unwrap_or(0);
    let ids = parsed.iter().map(|(key, cmd, _)| (*key, *cmd)).collect();
    (oldest - 60, ids)
}

/// Wait until the Run Command invocation `command` (sent to one instance at `sent_at`) has finished,
/// whatever its status; the caller reads the result with one GetCommandInvocation. Every command
/// waiting in the region is checked by one ListCommandInvocations per tick, over [`command_window`].
pub async fn wait_command(
    poller: &Arc<Poller>,
    region: &str,
    ssm: aws_sdk_ssm::Client,
    command: &str,
    sent_at: aws_sdk_ssm::primitives::DateTime,
) -> Result<(), WaitError> {
    let probe: Probe = Arc::new(move |waiting: Vec<String>| {
        let ssm = ssm.clone();
        Box::pin(async move {
            let (since, ids) = command_window(&waiting);
            let since = aws_sdk_ssm::primitives::DateTime::from_secs(since)
                .fmt(aws_sdk_ssm::primitives::DateTimeFormat::DateTime)
                .map_err(|e| e.to_string())?;
            let mut done = Vec::new();
            let mut token = None;
            loop {
                let f = aws_sdk_ssm::types::CommandFilter::builder()
                    .key(aws_sdk_ssm::types::CommandFilterKey::InvokedAfter)
                    .value(since.clone())
                    .build()
                    .map_err(|e| e.to_string())?;
                let out = ssm
                    .list_command_invocations()
                    .filters(f)
                    .max_results(50)
                    .set_next_token(token)
                    .send()
                    .await
                    .ctx("ssm", "ListCommandInvocations")?;
                let finished = out.command_invocations().iter().filter(|i| {
                    !matches!(
                        i.status().map(|s| s.as_str()),
                        Some("Pending" | "InProgress" | "Delayed" | "Cancelling") | None
                    )
                });
                for i in finished {
                    let Some(c) = i.command_id() else { continue };
                    let keys = ids.iter().filter(|(_, cmd)| *cmd == c);
                    done.extend(keys.map(|(key, _)| (key.to_string(), Probed::Done)));
                }
                token = out.next_token().map(str::to_string);
                if token.is_none() {
                    break;
                }
            }
            Ok(done)
        })
    });
    let key = format!("{command}@{}", sent_at.secs());
    poller.wait(format!("command/{region}"), &key, probe).await
}

#[cfg(test)]
mod tests {
    use super::command_window;

    #[test]
    fn the_command_window_starts_at_the_oldest_command_still_waiting() {
        let waiting = vec!["c-2@1000".to_string(), "c-3@1200".to_string()];
        let (since, ids) = command_window(&waiting);
        assert_eq!(since, 940, "a minute before the oldest waiting command");
        assert_eq!(ids, [("c-2@1000", "c-2"), ("c-3@1200", "c-3")]);
        // Once c-2 finished, the window moves on.
        let (since, _) = command_window(&waiting[1..]);
        assert_eq!(since, 1140);
    }
}
