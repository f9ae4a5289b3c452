//! The executor.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use recipe_plan::{Action, Outputs, Plan, RecipeOutputs};
use tokio::sync::{Mutex, Notify, Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::journal::{Journal, JournalEntry, JournalError};
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

/// How an action's failure should be treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// The service asked us to slow down: retry with backoff.
    Throttling,
    /// A 5xx, a timeout, a dropped connection: retry with backoff.
    Transient,
    /// A resource just created is not visible yet (`InvalidAMIID.NotFound` right after CreateImage):
    /// retry with backoff.
    EventualConsistency,
    /// Anything else: do not retry.
    Fatal,
}

impl ErrorClass {
    fn retryable(self) -> bool {
        self != ErrorClass::Fatal
    }
}

/// An action's failure.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ActionError {
    /// How to treat it.
    pub class: ErrorClass,
    /// What happened.
    pub message: String,
}

impl ActionError {
    /// A failure that will not go away by retrying.
    pub fn fatal(message: impl Into<String>) -> ActionError {
        ActionError {
            class: ErrorClass::Fatal,
            message: message.into(),
        }
    }
}

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
    /// Actions running at once.
    pub parallelism: usize,
    /// Calls started per second per service and region (`None`: unlimited).
    pub rate_per_sec: Option<u32>,
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
            rate_per_sec: Some(20),
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
        result: Result<(), String>,
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
    /// Actions skipped because something they depend on failed.
    pub skipped: BTreeSet<usize>,
    /// Actions never started (cancelled or fail-fast).
    pub not_started: BTreeSet<usize>,
    /// Whether the run was cancelled.
    pub cancelled: bool,
}

impl Report {
    /// Everything succeeded (an interrupt that came after the last action started changes nothing).
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty() && self.not_started.is_empty()
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

    async fn cancelled(&self) {
        loop {
            let waiting = self.notify.notified();
            if self.is_cancelled() {
                return;
            }
            waiting.await;
        }
    }
}

/// One call slot per `1/rate` seconds per lane.
#[derive(Default)]
struct RateLimiter {
    next: Mutex<HashMap<Lane, Instant>>,
}

impl RateLimiter {
    async fn acquire(&self, lane: Lane, rate: Option<u32>) {
        let Some(rate) = rate.filter(|r| *r > 0) else {
            return;
        };
        let gap = Duration::from_secs_f64(1.0 / f64::from(rate));
        let wait = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let slot = next.get(&lane).copied().filter(|t| *t > now).unwrap_or(now);
            next.insert(lane, slot + gap);
            slot.saturating_duration_since(now)
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

fn backoff(opts: &EngineOptions, attempt: u32, id: usize) -> Duration {
    let exp = opts
        .base_backoff
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let capped = exp.min(opts.max_backoff);
    // Jitter between 50% and 100%, varied per action and attempt.
    let seed = (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ u64::from(attempt).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let frac = 0.5 + (seed % 1000) as f64 / 2000.0;
    capped.mul_f64(frac)
}

/// Everything an action depends on, directly or not, in id order. `seen` is scratch space of one flag
/// per action, all false, and is left so.
fn ancestors(plan: &Plan, id: usize, seen: &mut [bool]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut stack = plan.actions[id].depends_on.clone();
    while let Some(d) = stack.pop() {
        if !seen[d] {
            seen[d] = true;
            out.push(d);
            stack.extend(plan.actions[d].depends_on.iter().copied());
        }
    }
    for d in &out {
        seen[*d] = false;
    }
    out.sort_unstable();
    out
}

/// Which actions may start: for each action, how many of its dependencies have not succeeded yet, and
/// the actions with none left, in id order. Starting or finishing an action costs its own edges, not
/// a scan of the plan, so scheduling stays fast on plans of thousands of actions.
struct Frontier {
    waiting_on: Vec<usize>,
    dependents: Vec<Vec<usize>>,
    ready: BTreeSet<usize>,
}

impl Frontier {
    /// The frontier of `plan` once the actions in `done` have succeeded.
    fn new(plan: &Plan, done: &BTreeMap<usize, RecipeOutputs>) -> Frontier {
        let n = plan.actions.len();
        let mut dependents = vec![Vec::new(); n];
        let mut waiting_on = vec![0; n];
        for a in &plan.actions {
            for d in &a.depends_on {
                dependents[*d].push(a.id);
                if !done.contains_key(d) {
                    waiting_on[a.id] += 1;
                }
            }
        }
        let ready = (0..n)
            .filter(|id| waiting_on[*id] == 0 && !done.contains_key(id))
            .collect();
        Frontier {
            waiting_on,
            dependents,
            ready,
        }
    }

    /// The next action that may start.
    fn pop(&mut self) -> Option<usize> {
        self.ready.pop_first()
    }

    /// `id` succeeded: its dependents wait on one action fewer.
    fn succeeded(&mut self, id: usize) {
        for d in &self.dependents[id] {
            self.waiting_on[*d] -= 1;
            if self.waiting_on[*d] == 0 {
                self.ready.insert(*d);
            }
        }
    }

    /// Everything that depends on `id`, directly or not.
    fn descendants(&self, id: usize) -> BTreeSet<usize> {
        let mut out = BTreeSet::new();
        let mut frontier = vec![id];
        while let Some(x) = frontier.pop() {
            for d in &self.dependents[x] {
                if out.insert(*d) {
                    frontier.push(*d);
                }
            }
        }
        out
    }
}

async fn attempt_loop<R: Runner>(
    runner: Arc<R>,
    action: Action,
    inputs: Outputs,
    opts: EngineOptions,
    limiter: Arc<RateLimiter>,
    events: mpsc::UnboundedSender<Event>,
) -> (usize, Result<RecipeOutputs, ActionError>, u64) {
    let start = Instant::now();
    let id = action.id;
    let mut attempt = 1;
    loop {
        limiter
            .acquire(runner.lane(&action), opts.rate_per_sec)
            .await;
        let _ = events.send(Event::Started { id, attempt });
        let result =
            match tokio::time::timeout(opts.action_timeout, runner.run(&action, &inputs)).await {
                Ok(r) => r,
                Err(_) => Err(ActionError {
                    class: ErrorClass::Fatal,
                    message: format!("timed out after {} s", opts.action_timeout.as_secs()),
                }),
            };
        match result {
            Err(e) if e.class.retryable() && attempt < opts.max_attempts => {
                let wait = backoff(&opts, attempt, id);
                let _ = events.send(Event::Retrying {
                    id,
                    attempt,
                    error: e.message.clone(),
                    wait_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                });
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            other => {
                return (
                    id,
                    other,
                    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
                );
            }
        }
    }
}

/// A task that panicked (a bug in a provider) is that action's failure, not the end of the run: the
/// apply still releases builders, records state and unlocks.
fn panicked(
    tasks: &HashMap<tokio::task::Id, usize>,
    e: tokio::task::JoinError,
) -> (usize, Result<RecipeOutputs, ActionError>, u64) {
    let id = tasks.get(&e.id()).copied().unwrap_or_default();
    let why = match e.try_into_panic() {
        Ok(p) => p
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into()),
        Err(e) => e.to_string(),
    };
    let message = format!("internal error: the action panicked ({why}); please report it");
    (id, Err(ActionError::fatal(message)), 0)
}

/// Run a plan. Outcomes go to `journal` as they happen; the report says how the run ended. An action
/// whose task panics fails like any other, naming the panic.
pub async fn execute<R: Runner, J: Recorder>(
    plan: &Plan,
    runner: Arc<R>,
    journal: &mut J,
    opts: &EngineOptions,
    events: &mpsc::UnboundedSender<Event>,
    cancel: &CancelToken,
) -> Result<Report, J::Error> {
    let n = plan.actions.len();
    let mut report = Report::default();
    let mut done: BTreeMap<usize, RecipeOutputs> = BTreeMap::new();
    let mut blocked: BTreeSet<usize> = BTreeSet::new();
    for a in &plan.actions {
        if let Some(outputs) = journal.finished(a.id) {
            done.insert(a.id, outputs);
            report.succeeded.insert(a.id);
            let _ = events.send(Event::Resumed { id: a.id });
        }
    }
    let limiter = Arc::new(RateLimiter::default());
    let slots = Arc::new(Semaphore::new(opts.parallelism.max(1)));
    let mut running: JoinSet<(usize, Result<RecipeOutputs, ActionError>, u64)> = JoinSet::new();
    let mut tasks: HashMap<tokio::task::Id, usize> = HashMap::new();
    let mut started: BTreeSet<usize> = done.keys().copied().collect();
    let mut frontier = Frontier::new(plan, &done);
    let mut scratch = vec![false; n];
    let mut stop = false;
    loop {
        if !stop && !cancel.is_cancelled() {
            while let Ok(permit) = Arc::clone(&slots).try_acquire_owned() {
                let Some(id) = frontier.pop() else { break };
                started.insert(id);
                journal.record(id, JournalEntry::Started).await?;
                let mut inputs = Outputs::default();
                for a in ancestors(plan, id, &mut scratch) {
                    if let Some(o) = done.get(&a) {
                        inputs.add(&plan.actions[a].recipe, o);
                    }
                }
                let (runner, action, opts, limiter, events) = (
                    Arc::clone(&runner),
                    plan.actions[id].clone(),
                    opts.clone(),
                    Arc::clone(&limiter),
                    events.clone(),
                );
                let task = running.spawn(async move {
                    let _permit = permit;
                    attempt_loop(runner, action, inputs, opts, limiter, events).await
                });
                tasks.insert(task.id(), id);
            }
        }
        if running.is_empty() {
            break;
        }
        let joined = tokio::select! {
            j = running.join_next() => j,
            () = cancel.cancelled(), if !cancel.is_cancelled() => continue,
        };
        let Some(joined) = joined else { break };
        let (id, result, elapsed_ms) = match joined {
            Ok(r) => r,
            Err(e) => panicked(&tasks, e),
        };
        match result {
            Ok(outputs) => {
                journal
                    .record(
                        id,
                        JournalEntry::Succeeded {
                            outputs: outputs.clone(),
                        },
                    )
                    .await?;
                report.succeeded.insert(id);
                frontier.succeeded(id);
                let _ = events.send(Event::Succeeded {
                    id,
                    outputs: outputs.clone(),
                    elapsed_ms,
                });
                done.insert(id, outputs);
            }
            Err(e) => {
                journal
                    .record(
                        id,
                        JournalEntry::Failed {
                            error: e.message.clone(),
                        },
                    )
                    .await?;
                report.failed.insert(id, e.message.clone());
                let _ = events.send(Event::Failed {
                    id,
                    error: e.message,
                });
                for d in frontier.descendants(id) {
                    if blocked.insert(d) && !started.contains(&d) {
                        report.skipped.insert(d);
                        let _ = events.send(Event::Skipped { id: d, because: id });
                    }
                }
                if opts.fail_fast {
                    stop = true;
                }
            }
        }
    }
    report.cancelled = cancel.is_cancelled();
    report.not_started = (0..n)
        .filter(|id| {
            !started.contains(id) && !report.skipped.contains(id) && !report.succeeded.contains(id)
        })
        .collect();
    Ok(report)
}
