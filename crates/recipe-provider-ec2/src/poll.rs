//! Coalesced pollers: everything waiting on the same kind of resource in one region is checked with one
//! describe call per tick, however many are waiting. Images (DescribeImages), instances
//! (DescribeInstances), SSM agents (DescribeInstanceInformation) and Run Command invocations
//! (ListCommandInvocations) each have a group per region.
//!
//! Ids are passed as filters, not as id lists, so an id that is not visible yet (eventual consistency
//! just after a create) does not fail the call for every other waiter.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::filter;

type Waiter = oneshot::Sender<Result<(), WaitError>>;

/// Why a wait ended without the wanted state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaitError {
    /// The resource itself failed: an image `failed`, a builder `terminated`.
    Failed(String),
    /// Polling could not tell: the describe call kept failing, or the poller stopped. The resource
    /// may still turn out well.
    Polling(String),
}

impl std::fmt::Display for WaitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WaitError::Failed(why) | WaitError::Polling(why) => f.write_str(why),
        }
    }
}

/// The most ids one describe call is asked about (EC2 filters take up to 200 values).
const MAX_IDS_PER_CALL: usize = 200;

/// Polls in a row that may fail before the waiters are failed.
const MAX_FAILED_POLLS: u32 = 10;

/// What one poll says of one waiting id.
#[derive(Debug)]
enum Probed {
    Done,
    Failed(String),
}

type ProbeFuture = Pin<Box<dyn Future<Output = Result<Vec<(String, Probed)>, String>> + Send>>;
type Probe = Arc<dyn Fn(Vec<String>) -> ProbeFuture + Send + Sync>;

/// Waits for images, instances, agents and commands, one describe call per group per tick.
pub struct Poller {
    tick: Duration,
    groups: Mutex<HashMap<String, HashMap<String, Vec<Waiter>>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Poller {
    /// A poller that checks every `tick`.
    pub fn new(tick: Duration) -> Arc<Poller> {
        Arc::new(Poller {
            tick,
            groups: Mutex::new(HashMap::new()),
        })
    }

    async fn wait(
        self: &Arc<Self>,
        group: String,
        id: &str,
        probe: Probe,
    ) -> Result<(), WaitError> {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut groups = lock(&self.groups);
            let first = !groups.contains_key(&group);
            groups
                .entry(group.clone())
                .or_default()
                .entry(id.to_string())
                .or_default()
                .push(tx);
            first
        };
        if start {
            let me = Arc::clone(self);
            tokio::spawn(async move { me.run(group, probe).await });
        }
        rx.await
            .unwrap_or_else(|_| Err(WaitError::Polling("the poller stopped".into())))
    }

    async fn run(self: Arc<Self>, group: String, probe: Probe) {
        let mut failures = 0;
        loop {
            tokio::time::sleep(self.tick).await;
            let ids: Vec<String> = {
                let mut groups = lock(&self.groups);
                let Some(waiting) = groups.get_mut(&group) else {
                    return;
                };
                // Waiters that gave up (an action timed out or was cancelled) are not polled for.
                waiting.retain(|_, w| {
                    w.retain(|tx| !tx.is_closed());
                    !w.is_empty()
                });
                if waiting.is_empty() {
                    groups.remove(&group);
                    return;
                }
                let mut ids: Vec<String> = waiting.keys().cloned().collect();
                ids.sort();
                ids
            };
            // One call for every waiter (a call per 200 ids: the most values a filter takes).
            let mut found = Vec::new();
            let mut error = None;
            for chunk in ids.chunks(MAX_IDS_PER_CALL) {
                match probe(chunk.to_vec()).await {
                    Ok(f) => found.extend(f),
                    Err(e) => error = Some(e),
                }
            }
            // A call that keeps failing (after the SDK's own retries) fails the waiters rather than
            // leaving them to the action timeout.
            failures = if error.is_some() { failures + 1 } else { 0 };
            let mut groups = lock(&self.groups);
            let Some(waiting) = groups.get_mut(&group) else {
                return;
            };
            if failures >= MAX_FAILED_POLLS {
                let why = format!(
                    "polling failed {failures} times in a row: {}",
                    error.unwrap_or_default()
                );
                for (_, ws) in waiting.drain() {
                    for w in ws {
                        let _ = w.send(Err(WaitError::Polling(why.clone())));
                    }
                }
                groups.remove(&group);
                return;
            }
            for (id, p) in found {
                let result = match p {
                    Probed::Done => Ok(()),
                    Probed::Failed(why) => Err(WaitError::Failed(why)),
                };
                for w in waiting.remove(&id).unwrap_or_default() {
                    let _ = w.send(result.clone());
                }
            }
        }
    }

    /// Wait until `image` in `region` is available (`Err` if it failed).
    pub async fn wait_available(
        self: &Arc<Self>,
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
                    .map_err(|e| format!("{e:?}"))?;
                Ok(out
                    .images()
                    .iter()
                    .filter_map(|img| {
                        let id = img.image_id()?.to_string();
                        match img.state()?.as_str() {
                            "available" => Some((id, Probed::Done)),
                            "pending" => None,
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
        self.wait(format!("image/{region}"), image, probe).await
    }

    /// Wait until `instance` in `region` is in state `want` (`running` or `stopped`); `Err` if it
    /// went somewhere else for good.
    pub async fn wait_instance(
        self: &Arc<Self>,
        region: &str,
        client: aws_sdk_ec2::Client,
        instance: &str,
        want: &'static str,
    ) -> Result<(), WaitError> {
        let probe: Probe = Arc::new(move |ids: Vec<String>| {
            let client = client.clone();
            Box::pin(async move {
                let out = client
                    .describe_instances()
                    .filters(filter("instance-id", &ids))
                    .send()
                    .await
                    .map_err(|e| format!("{e:?}"))?;
                Ok(out
                    .reservations()
                    .iter()
                    .flat_map(|r| r.instances())
                    .filter_map(|i| {
                        let id = i.instance_id()?.to_string();
                        let state = i.state()?.name()?.as_str().to_string();
                        if state == want {
                            return Some((id, Probed::Done));
                        }
                        let gone = matches!(state.as_str(), "terminated" | "shutting-down")
                            || (want == "running" && state == "stopped");
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
        self.wait(format!("instance-{want}/{region}"), instance, probe)
            .await
    }

    /// Wait until the SSM agent on `instance` reports Online.
    pub async fn wait_agent(
        self: &Arc<Self>,
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
                        .map_err(|e| format!("{e:?}"))?;
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
        self.wait(format!("agent/{region}"), instance, probe).await
    }

    /// Wait until the Run Command invocation `command` (sent to one instance) has finished, whatever
    /// its status; the caller reads the result with one GetCommandInvocation.
    pub async fn wait_command(
        self: &Arc<Self>,
        region: &str,
        ssm: aws_sdk_ssm::Client,
        command: &str,
        sent_after: aws_sdk_ssm::primitives::DateTime,
    ) -> Result<(), WaitError> {
        // Invocations since the first waiting command was sent (a minute earlier, for clock skew).
        let since = aws_sdk_ssm::primitives::DateTime::from_secs(sent_after.secs() - 60)
            .fmt(aws_sdk_ssm::primitives::DateTimeFormat::DateTime)
            .map_err(|e| WaitError::Polling(e.to_string()))?;
        let probe: Probe = Arc::new(move |ids: Vec<String>| {
            let ssm = ssm.clone();
            let since = since.clone();
            Box::pin(async move {
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
                        .map_err(|e| format!("{e:?}"))?;
                    done.extend(
                        out.command_invocations()
                            .iter()
                            .filter(|i| i.command_id().is_some_and(|c| ids.iter().any(|x| x == c)))
                            .filter(|i| {
                                !matches!(
                                    i.status().map(|s| s.as_str()),
                                    Some("Pending" | "InProgress" | "Delayed" | "Cancelling")
                                        | None
                                )
                            })
                            .filter_map(|i| Some((i.command_id()?.to_string(), Probed::Done))),
                    );
                    token = out.next_token().map(str::to_string);
                    if token.is_none() {
                        break;
                    }
                }
                Ok(done)
            })
        });
        self.wait(format!("command/{region}"), command, probe).await
    }
}
