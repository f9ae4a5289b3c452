//! The coalesced poller: everything waiting on the same kind of resource in one region is checked with
//! one describe call per tick, however many are waiting. A provider names the group (`image/eu-west-1`)
//! and supplies the probe: one describe call for a batch of ids, saying which are done or failed.
//!
//! Probes should pass ids as filters, not as id lists, so that an id not visible yet (eventual
//! consistency just after a create) does not fail the call for every other waiter.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

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
pub const MAX_IDS_PER_CALL: usize = 200;

/// Polls in a row that may fail before the waiters are failed.
const MAX_FAILED_POLLS: u32 = 10;

/// What one poll says of one waiting id (ids it says nothing of are still pending).
#[derive(Debug)]
pub enum Probed {
    /// In the wanted state.
    Done,
    /// Failed for good, with why.
    Failed(String),
}

/// What a probe returns: the ids it has news of, or why the call failed.
pub type ProbeFuture = Pin<Box<dyn Future<Output = Result<Vec<(String, Probed)>, String>> + Send>>;
/// One describe call for a batch of at most [`MAX_IDS_PER_CALL`] ids.
pub type Probe = Arc<dyn Fn(Vec<String>) -> ProbeFuture + Send + Sync>;

/// Waits for resources, one describe call per group per tick.
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

    /// Wait until `id` is done in `group` (a kind and a region). The first waiter of a group starts
    /// its polling with `probe`; the group stops when nobody waits.
    pub async fn wait(
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
}

/// A resource that failed is fatal; polling that could not tell is transient (the action is retried).
impl From<WaitError> for recipe_engine::ActionError {
    fn from(e: WaitError) -> recipe_engine::ActionError {
        match e {
            WaitError::Failed(why) => recipe_engine::ActionError::fatal(why),
            WaitError::Polling(why) => recipe_engine::ActionError {
                class: recipe_engine::ErrorClass::Transient,
                message: why,
            },
        }
    }
}
