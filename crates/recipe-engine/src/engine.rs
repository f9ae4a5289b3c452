//! The engine's types: the runner and recorder contracts, options, errors, events and the report.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use recipe_plan::{Action, Outputs, RecipeOutputs};
use tokio::sync::Notify;

use crate::journal::{Journal, JournalEntry, JournalError};
use crate::limits::{Limit, Limits};
use crate::provider::BoxFuture;

/// Where the executor puts each outcome, durably, before anything that depends on it starts: the
/// run's [`Journal`], or the apply's recorder, which also saves a recipe's state as soon as all its
/// actions succeeded.
pub trait Recorder: Send {
    /// What stops the run when it cannot be recorded.
    type Error: Send;
    /// Outputs of an action that finished in an earlier run of the plan: it is not run again.
    fn finished(&self, id: usize) -> Option<RecipeOutputs>;
    /// Persist an outcome.
    fn record(&mut self, id: usize, entry: JournalEntry) -> BoxFuture<'_, Result<(), Self::Error>>;
}

impl Recorder for Journal<'_> {
    type Error = JournalError;
    fn finished(&self, id: usize) -> Option<RecipeOutputs> {
        self.outputs(id).cloned()
    }
    fn record(
        &mut self,
        id: usize,
        entry: JournalEntry,
    ) -> BoxFuture<'_, Result<(), JournalError>> {
        Box::pin(Journal::record(self, id, entry))
    }
}

pub use recipe_provider_api::{ActionError, ErrorClass};

/// The service and region an action calls: calls are rate-limited per lane.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lane {
    /// The service (`ec2`, `workspaces`, …).
    pub service: String,
    /// The region.
    pub region: String,
}

impl Lane {
    /// A lane.
    pub fn new(service: impl Into<String>, region: impl Into<String>) -> Lane {
        Lane {
            service: service.into(),
            region: region.into(),
        }
    }
}

/// What runs actions: the provider registry bound to an apply ([`crate::Routed`]), or a fake in
/// tests.
pub trait Runner: Send + Sync + 'static {
    /// The lane an action calls, for rate limiting.
    fn lane(&self, action: &Action) -> Lane;

    /// The per-kind limit an action counts against (builders, copies); by default launches count
    /// builders in their lane and copies count copies in theirs.
    fn limit(&self, action: &Action) -> Option<Limit> {
        Limit::of(&action.action, self.lane(action))
    }

    /// Run one action. `inputs` holds the outputs of every action it depends on, directly or not,
    /// by recipe. Returns what it made for its own recipe. Must be idempotent: after a crash an
    /// action that was started may run again.
    fn run(
        &self,
        action: &Action,
        inputs: &Outputs,
    ) -> impl Future<Output = Result<RecipeOutputs, ActionError>> + Send;
}

/// How the engine runs a plan.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Actions doing work (calls) at once; actions waiting on the cloud hold no slot.
    pub parallelism: usize,
    /// Per-kind limits: builders per region, copies per destination.
    pub limits: Limits,
    /// Calls started per second per service, region and kind of action, after a burst (`None`:
    /// unlimited).
    pub rate_per_sec: Option<u32>,
    /// The burst: calls that may start at once before `rate_per_sec` paces them (EC2's bucket for
    /// most actions holds 100).
    pub rate_burst: u32,
    /// Stop starting work after the first failure.
    pub fail_fast: bool,
    /// Time limit for one attempt of one action.
    pub action_timeout: Duration,
    /// Attempts per action for retryable errors.
    pub max_attempts: u32,
    /// First backoff; doubles per attempt, with jitter.
    pub base_backoff: Duration,
    /// Largest backoff.
    pub max_backoff: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            parallelism: 8,
            limits: Limits::default(),
            rate_per_sec: Some(20),
            rate_burst: 100,
            fail_fast: false,
            action_timeout: Duration::from_secs(3 * 3600),
            max_attempts: 6,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// Progress, for the CLI to render (terminal or JSON lines).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Finished in an earlier run (from the journal): not run again.
    Resumed {
        /// Action id.
        id: usize,
    },
    /// An attempt started.
    Started {
        /// Action id.
        id: usize,
        /// 1 for the first attempt.
        attempt: u32,
    },
    /// An attempt failed and will be retried.
    Retrying {
        /// Action id.
        id: usize,
        /// The attempt that failed.
        attempt: u32,
        /// Why.
        error: String,
        /// Wait before the next attempt.
        wait_ms: u64,
    },
    /// Ready, but beyond a per-kind limit: it starts when a unit is given back.
    Queued {
        /// Action id.
        id: usize,
        /// The limit, e.g. "20 of 20 builders in use in ec2 eu-west-1".
        on: String,
    },
    /// What a running action waits on ("ami-0abc in eu-west-1 to become available").
    Waiting {
        /// Action id.
        id: usize,
        /// A short phrase.
        on: String,
    },
    /// A line a builder printed while running an action's step.
    Output {
        /// Action id.
        id: usize,
        /// The step's label.
        step: String,
        /// The line.
        line: String,
    },
    /// Done.
    Succeeded {
        /// Action id.
        id: usize,
        /// What it made for its recipe.
        outputs: RecipeOutputs,
        /// How long it took, all attempts included.
        elapsed_ms: u64,
    },
    /// Failed for good.
    Failed {
        /// Action id.
        id: usize,
        /// Why.
        error: String,
    },
    /// Stopped at a gate: a person must act; the next apply resumes past it.
    Paused {
        /// Action id.
        id: usize,
        /// What to do, and where.
        instructions: String,
    },
    /// What the sweep before the run removed (builders and images killed runs left).
    Swept(crate::provider::Swept),
    /// A builder of a build that did not finish, after the run: terminated or kept.
    Released {
        /// The builder.
        leftover: crate::provider::Leftover,
        /// What became of it.
        released: crate::provider::Released,
    },
    /// An image of a build that did not finish, after the run: discarded, or why it could not be.
    Discarded {
        /// The image.
        image: crate::provider::Unfinished,
        /// Whether it is gone.
        result: Result<(), ActionError>,
    },
    /// Not run because an action it depends on failed.
    Skipped {
        /// Action id.
        id: usize,
        /// The failed action.
        because: usize,
    },
}

/// How a run ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Actions that succeeded (this run or an earlier one).
    pub succeeded: BTreeSet<usize>,
    /// Actions that failed, with why.
    pub failed: BTreeMap<usize, String>,
    /// Actions skipped because something they depend on failed or paused.
    pub skipped: BTreeSet<usize>,
    /// Actions stopped at a gate, with the instructions.
    pub paused: BTreeMap<usize, String>,
    /// Actions never started (cancelled or fail-fast).
    pub not_started: BTreeSet<usize>,
    /// Whether the run was cancelled.
    pub cancelled: bool,
}

impl Report {
    /// Everything succeeded (an interrupt that came after the last action started changes nothing).
    pub fn ok(&self) -> bool {
        self.failed.is_empty()
            && self.paused.is_empty()
            && self.skipped.is_empty()
            && self.not_started.is_empty()
    }
}

/// Stops a run from starting new work. Cloned handles share the flag.
#[derive(Clone, Debug, Default)]
pub struct CancelToken {
    flag: Arc<AtomicBool>,
    notify: Arc<Notify>,
}

impl CancelToken {
    /// A fresh token.
    pub fn new() -> Self {
        Self::default()
    }

    /// Ask the run to stop starting work.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Whether cancel was called.
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    pub(crate) async fn cancelled(&self) {
        loop {
            let waiting = self.notify.notified();
            if self.is_cancelled() {
                return;
            }
            waiting.await;
        }
    }
}
