//! The executor: starts each action when what it depends on has succeeded, within the call slots
//! (`parallelism`, see [`crate::slot`]) and the per-kind limits ([`crate::limits`]), and records
//! every outcome before anything that depends on it starts.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use recipe_plan::{Action, Outputs, Plan, RecipeOutputs};
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::engine::{
    ActionError, CancelToken, EngineOptions, ErrorClass, Event, Lane, Recorder, Report, Runner,
};
use crate::journal::JournalEntry;
use crate::limits::Gates;
use recipe_provider_api::slot::{self, Slot};

/// A token bucket per lane and kind of action, as EC2 throttles each API on its own
/// (https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html): a burst of `burst`
/// starts at once, then `rate` per second. A start that finds the bucket empty takes a token ahead
/// (the count goes below zero) and waits, without a call slot, until it is due.
#[derive(Default)]
struct RateLimiter {
    buckets: Mutex<HashMap<Bucket, (f64, Instant)>>,
}

/// A rate bucket: the lane and the kind of action.
type Bucket = (Lane, &'static str);

impl RateLimiter {
    async fn acquire(&self, lane: Bucket, rate: Option<u32>, burst: u32) {
        let Some(rate) = rate.filter(|r| *r > 0).map(f64::from) else {
            return;
        };
        let burst = f64::from(burst.max(1));
        let wait = {
            let mut buckets = self.buckets.lock().await;
            let now = Instant::now();
            let (tokens, at) = buckets.entry(lane).or_insert((burst, now));
            *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * rate).min(burst) - 1.0;
            *at = now;
            Duration::from_secs_f64((-*tokens).max(0.0) / rate)
        };
        if !wait.is_zero() {
            slot::idle(tokio::time::sleep(wait)).await;
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

/// What each succeeded action hands down to its dependents: what it received plus what it made, by
/// recipe. An action's inputs are the merge of its direct dependencies' hand-downs, so they hold the
/// outputs of everything it depends on, directly or not, without walking its ancestors. A hand-down
/// is dropped once every dependent has taken it.
struct Handed {
    handed: Vec<Option<Arc<Outputs>>>,
    takers_left: Vec<usize>,
    given: HashMap<usize, Outputs>,
}

impl Handed {
    /// The hand-downs of the actions that succeeded in an earlier run (dependencies come first in a
    /// plan, so id order is enough).
    fn new(plan: &Plan, frontier: &Frontier, done: &BTreeMap<usize, RecipeOutputs>) -> Handed {
        let mut h = Handed {
            handed: vec![None; plan.actions.len()],
            takers_left: frontier.dependents.iter().map(Vec::len).collect(),
            given: HashMap::new(),
        };
        for (id, outputs) in done {
            let mut out = h.gather(plan, *id, false);
            out.add(&plan.actions[*id].recipe, outputs);
            h.handed[*id] = Some(Arc::new(out));
        }
        h
    }

    fn gather(&mut self, plan: &Plan, id: usize, take: bool) -> Outputs {
        let mut inputs = Outputs::default();
        for d in &plan.actions[id].depends_on {
            if let Some(o) = &self.handed[*d] {
                inputs.merge(o);
            }
            if take {
                self.takers_left[*d] = self.takers_left[*d].saturating_sub(1);
                if self.takers_left[*d] == 0 {
                    self.handed[*d] = None;
                }
            }
        }
        inputs
    }

    /// The inputs of `id`, which starts now.
    fn take(&mut self, plan: &Plan, id: usize) -> Outputs {
        let inputs = self.gather(plan, id, true);
        self.given.insert(id, inputs.clone());
        inputs
    }

    /// `id` succeeded with `outputs`.
    fn succeeded(&mut self, plan: &Plan, id: usize, outputs: &RecipeOutputs) {
        let mut out = self.given.remove(&id).unwrap_or_default();
        out.add(&plan.actions[id].recipe, outputs);
        if self.takers_left[id] > 0 {
            self.handed[id] = Some(Arc::new(out));
        }
    }
}

type Outcome = (usize, Result<RecipeOutputs, ActionError>, u64);

async fn attempt_loop<R: Runner>(
    runner: Arc<R>,
    action: Action,
    inputs: Outputs,
    opts: EngineOptions,
    limiter: Arc<RateLimiter>,
    events: mpsc::UnboundedSender<Event>,
) -> Outcome {
    let start = Instant::now();
    let id = action.id;
    let mut attempt = 1;
    loop {
        let lane = (runner.lane(&action), action.action.name());
        limiter
            .acquire(lane, opts.rate_per_sec, opts.rate_burst)
            .await;
        slot::hold().await;
        let _ = events.send(Event::Started { id, attempt });
        let result =
            match tokio::time::timeout(opts.action_timeout, runner.run(&action, &inputs)).await {
                Ok(r) => r,
                Err(_) => Err(ActionError::fatal(format!(
                    "timed out after {} s",
                    opts.action_timeout.as_secs()
                ))),
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
                slot::idle(tokio::time::sleep(wait)).await;
                attempt += 1;
            }
            other => {
                let ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
                return (id, other, ms);
            }
        }
    }
}

/// A task that panicked (a bug in a provider) is that action's failure, not the end of the run: the
/// apply still releases builders, records state and unlocks.
fn panicked(tasks: &HashMap<tokio::task::Id, usize>, e: tokio::task::JoinError) -> Outcome {
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

/// One run of a plan: the state the loop in [`execute`] works on.
struct Scheduler<'p, R: Runner> {
    plan: &'p Plan,
    runner: Arc<R>,
    opts: &'p EngineOptions,
    events: &'p mpsc::UnboundedSender<Event>,
    report: Report,
    frontier: Frontier,
    gates: Gates,
    handed: Handed,
    /// Ready and within their limits: they start as call slots free up.
    admitted: BTreeSet<usize>,
    started: BTreeSet<usize>,
    blocked: BTreeSet<usize>,
    slots: Arc<Semaphore>,
    limiter: Arc<RateLimiter>,
    running: JoinSet<Outcome>,
    tasks: HashMap<tokio::task::Id, usize>,
    stop: bool,
}

impl<'p, R: Runner> Scheduler<'p, R> {
    fn new(
        plan: &'p Plan,
        runner: Arc<R>,
        done: &BTreeMap<usize, RecipeOutputs>,
        opts: &'p EngineOptions,
        events: &'p mpsc::UnboundedSender<Event>,
    ) -> Self {
        let frontier = Frontier::new(plan, done);
        let gates = Gates::new(
            plan,
            opts.limits,
            |id| runner.limit(&plan.actions[id]),
            done,
        );
        let handed = Handed::new(plan, &frontier, done);
        Scheduler {
            plan,
            runner,
            opts,
            events,
            report: Report {
                succeeded: done.keys().copied().collect(),
                ..Report::default()
            },
            frontier,
            gates,
            handed,
            admitted: BTreeSet::new(),
            started: done.keys().copied().collect(),
            blocked: BTreeSet::new(),
            slots: Arc::new(Semaphore::new(opts.parallelism.max(1))),
            limiter: Arc::new(RateLimiter::default()),
            running: JoinSet::new(),
            tasks: HashMap::new(),
            stop: false,
        }
    }

    fn send(&self, e: Event) {
        let _ = self.events.send(e);
    }

    /// Move ready actions through the limits: within them they are admitted, beyond them queued.
    fn admit_ready(&mut self) {
        while let Some(id) = self.frontier.ready.pop_first() {
            match self.gates.admit(id) {
                Ok(()) => {
                    self.admitted.insert(id);
                }
                Err(on) => self.send(Event::Queued { id, on }),
            }
        }
    }

    /// Start `id` in a call slot (its outcome is journaled as started first).
    async fn start<J: Recorder>(
        &mut self,
        id: usize,
        permit: OwnedSemaphorePermit,
        journal: &mut J,
    ) -> Result<(), J::Error> {
        self.started.insert(id);
        journal.record(id, JournalEntry::Started).await?;
        let inputs = self.handed.take(self.plan, id);
        let slot = Slot::new(Arc::clone(&self.slots), permit);
        let work = attempt_loop(
            Arc::clone(&self.runner),
            self.plan.actions[id].clone(),
            inputs,
            self.opts.clone(),
            Arc::clone(&self.limiter),
            self.events.clone(),
        );
        let task = self.running.spawn(slot.scope(work));
        self.tasks.insert(task.id(), id);
        Ok(())
    }

    /// `id` ended, well or not: what it held is given back and what was queued behind it is ready.
    fn ended(&mut self, id: usize) {
        for next in self.gates.ended(id) {
            self.frontier.ready.insert(next);
        }
    }

    async fn finish<J: Recorder>(
        &mut self,
        outcome: Outcome,
        journal: &mut J,
    ) -> Result<(), J::Error> {
        let (id, result, elapsed_ms) = outcome;
        match result {
            Ok(outputs) => {
                let entry = JournalEntry::Succeeded {
                    outputs: outputs.clone(),
                };
                journal.record(id, entry).await?;
                self.report.succeeded.insert(id);
                self.frontier.succeeded(id);
                self.handed.succeeded(self.plan, id, &outputs);
                self.send(Event::Succeeded {
                    id,
                    outputs,
                    elapsed_ms,
                });
            }
            Err(e) if e.class == ErrorClass::Paused => {
                let entry = JournalEntry::Paused {
                    instructions: e.message.clone(),
                    at: Some(jiff::Timestamp::now()),
                };
                journal.record(id, entry).await?;
                self.paused(id, e.message);
            }
            Err(e) => {
                let entry = JournalEntry::Failed {
                    error: e.message.clone(),
                };
                journal.record(id, entry).await?;
                self.failed(id, e.message);
            }
        }
        self.ended(id);
        Ok(())
    }

    /// `id` stopped at a gate: whatever depends on it waits for the next apply (skipped here).
    fn paused(&mut self, id: usize, instructions: String) {
        self.report.paused.insert(id, instructions.clone());
        self.send(Event::Paused { id, instructions });
        self.skip_after(id);
    }

    /// `id` failed for good: whatever depends on it is skipped.
    fn failed(&mut self, id: usize, error: String) {
        self.report.failed.insert(id, error.clone());
        self.send(Event::Failed { id, error });
        self.skip_after(id);
        if self.opts.fail_fast {
            self.stop = true;
        }
    }

    fn skip_after(&mut self, id: usize) {
        for d in self.frontier.descendants(id) {
            if self.blocked.insert(d) && !self.started.contains(&d) {
                self.report.skipped.insert(d);
                self.send(Event::Skipped { id: d, because: id });
                self.ended(d);
            }
        }
    }

    fn into_report(mut self, cancel: &CancelToken) -> Report {
        self.report.cancelled = cancel.is_cancelled();
        let r = &self.report;
        let not_started = (0..self.plan.actions.len())
            .filter(|id| {
                !self.started.contains(id) && !r.skipped.contains(id) && !r.succeeded.contains(id)
            })
            .collect();
        self.report.not_started = not_started;
        self.report
    }
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
    let mut done = BTreeMap::new();
    for a in &plan.actions {
        if let Some(outputs) = journal.finished(a.id) {
            done.insert(a.id, outputs);
            let _ = events.send(Event::Resumed { id: a.id });
        }
    }
    let mut s = Scheduler::new(plan, runner, &done, opts, events);
    drop(done);
    loop {
        let may_start = !s.stop && !cancel.is_cancelled();
        if may_start {
            s.admit_ready();
        }
        let starting = may_start && !s.admitted.is_empty();
        if !starting && s.running.is_empty() {
            break;
        }
        let slots = Arc::clone(&s.slots);
        tokio::select! {
            biased;
            () = cancel.cancelled(), if !cancel.is_cancelled() => {}
            joined = s.running.join_next(), if !s.running.is_empty() => {
                let outcome = match joined {
                    Some(Ok(o)) => o,
                    Some(Err(e)) => panicked(&s.tasks, e),
                    None => continue,
                };
                s.finish(outcome, journal).await?;
            }
            Ok(permit) = slots.acquire_owned(), if starting => {
                if let Some(id) = s.admitted.pop_first() {
                    s.start(id, permit, journal).await?;
                }
            }
        }
    }
    Ok(s.into_report(cancel))
}
