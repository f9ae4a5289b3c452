//! The coalesced, adaptive poller.
//!
//! - **Coalesced.** Everything waiting on the same kind of resource in one region is checked with one
//!   describe call, however many are waiting. A provider names the group (`image/eu-west-1`) and
//!   supplies the probe: one describe call for a batch of ids, saying which are done or failed.
//! - **Adaptive.** A resource is checked right after its wait starts (it is often ready already),
//!   then after 1 s, 2 s and 5 s, then every poll interval. Each call answers for every waiter of
//!   the group, whatever its own schedule.
//! - **Shared pace.** A group calls at most once per [`Poller::floor`] (1 s, or the poll interval if
//!   shorter), except for first checks, which wait only 100 ms after the group's last call (waits
//!   that start together still share one). When the service throttles a probe, the group's floor doubles (up to the poll interval
//!   times four) and comes back down as calls succeed: throttling slows the shared tick, not each
//!   waiter on its own.
//!
//! Probes should pass ids as filters, not as id lists, so that an id not visible yet (eventual
//! consistency just after a create) does not fail the call for every other waiter.
//!
//! A wait runs in [`recipe_provider_api::idle`]: the waiting action holds no call slot.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

use crate::AwsError;

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

/// The least gap before a call made for a resource's first check: waits that start together share a
/// call, and a wait that starts alone is not held back by a call the group made just before.
const FIRST_CHECK_GAP: Duration = Duration::from_millis(100);

/// The delays between a resource's first checks, before it settles on the poll interval.
const EARLY_CHECKS: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(5),
];

/// What one poll says of one waiting id (ids it says nothing of are still pending).
#[derive(Debug)]
pub enum Probed {
    /// In the wanted state.
    Done,
    /// Failed for good, with why.
    Failed(String),
}

/// Why a probe call failed, and whether the service was throttling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeError {
    /// What went wrong.
    pub message: String,
    /// The service asked us to slow down.
    pub throttled: bool,
}

impl From<AwsError> for ProbeError {
    fn from(e: AwsError) -> ProbeError {
        ProbeError {
            throttled: e.kind == crate::ErrorClass::Throttling,
            message: e.to_string(),
        }
    }
}

impl From<String> for ProbeError {
    fn from(message: String) -> ProbeError {
        ProbeError {
            message,
            throttled: false,
        }
    }
}

/// What a probe returns: the ids it has news of, or why the call failed.
pub type ProbeFuture =
    Pin<Box<dyn Future<Output = Result<Vec<(String, Probed)>, ProbeError>> + Send>>;
/// One describe call for a batch of at most [`MAX_IDS_PER_CALL`] ids.
pub type Probe = Arc<dyn Fn(Vec<String>) -> ProbeFuture + Send + Sync>;

/// One waiting id: who waits, when it is next due, and how far along its schedule it is.
struct Waiting {
    senders: Vec<Waiter>,
    due: Instant,
    checks: usize,
}

/// Everything waiting in one group, and the group's pace.
struct Group {
    waiting: HashMap<String, Waiting>,
    wake: Arc<Notify>,
    floor: Duration,
    last_call: Option<Instant>,
}

/// Waits for resources, one describe call per group at a time.
pub struct Poller {
    tick: Duration,
    groups: Mutex<HashMap<String, Group>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Poller {
    /// A poller whose resources settle on checks every `tick` (the poll interval).
    pub fn new(tick: Duration) -> Arc<Poller> {
        Arc::new(Poller {
            tick,
            groups: Mutex::new(HashMap::new()),
        })
    }

    /// The least time between two calls of one group, unthrottled.
    pub fn floor(&self) -> Duration {
        EARLY_CHECKS[0].min(self.tick)
    }

    /// The delay after a resource's `checks`-th check.
    fn delay(&self, checks: usize) -> Duration {
        EARLY_CHECKS
            .get(checks.saturating_sub(1))
            .map_or(self.tick, |d| (*d).min(self.tick))
    }

    /// Wait until `id` is done in `group` (a kind and a region), without holding the action's call
    /// slot. The first waiter of a group starts its polling with `probe`; the group stops when
    /// nobody waits.
    pub async fn wait(
        self: &Arc<Self>,
        group: String,
        id: &str,
        probe: Probe,
    ) -> Result<(), WaitError> {
        let (tx, rx) = oneshot::channel();
        if self.enlist(&group, id, tx) {
            let me = Arc::clone(self);
            tokio::spawn(async move { me.run(group, probe).await });
        }
        recipe_provider_api::idle(rx)
            .await
            .unwrap_or_else(|_| Err(WaitError::Polling("the poller stopped".into())))
    }

    /// Add a waiter, due now; true if its group is new (and needs a polling task).
    fn enlist(&self, group: &str, id: &str, tx: Waiter) -> bool {
        let mut groups = lock(&self.groups);
        let first = !groups.contains_key(group);
        let g = groups.entry(group.to_string()).or_insert_with(|| Group {
            waiting: HashMap::new(),
            wake: Arc::new(Notify::new()),
            floor: self.floor(),
            last_call: None,
        });
        let w = g.waiting.entry(id.to_string()).or_insert_with(|| Waiting {
            senders: Vec::new(),
            due: Instant::now(),
            checks: 0,
        });
        w.senders.push(tx);
        w.due = Instant::now();
        g.wake.notify_one();
        first
    }

    /// When the group calls next (its earliest due waiter, no sooner than its floor allows) and
    /// its ids; `None` when nobody waits any more (the group is removed).
    fn next_call(&self, group: &str) -> Option<(Instant, Arc<Notify>, Vec<String>)> {
        let mut groups = lock(&self.groups);
        let g = groups.get_mut(group)?;
        // Waiters that gave up (an action timed out or was cancelled) are not polled for.
        g.waiting.retain(|_, w| {
            w.senders.retain(|tx| !tx.is_closed());
            !w.senders.is_empty()
        });
        let Some(due) = g.waiting.values().map(|w| w.due).min() else {
            groups.remove(group);
            return None;
        };
        // A first check waits only for the short gap, unless the service is throttling us.
        let first = g.waiting.values().any(|w| w.checks == 0 && w.due <= due);
        let gap = if first && g.floor <= self.floor() {
            FIRST_CHECK_GAP.min(g.floor)
        } else {
            g.floor
        };
        let at = g.last_call.map_or(due, |last| due.max(last + gap));
        let mut ids: Vec<String> = g.waiting.keys().cloned().collect();
        ids.sort();
        Some((at, Arc::clone(&g.wake), ids))
    }

    async fn run(self: Arc<Self>, group: String, probe: Probe) {
        let mut failures = 0;
        loop {
            let Some((at, wake, _)) = self.next_call(&group) else {
                return;
            };
            if at > Instant::now() {
                // A new waiter may be due sooner: look again when one comes.
                tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = wake.notified() => continue,
                }
            }
            let Some((_, _, ids)) = self.next_call(&group) else {
                return;
            };
            let (found, error) = call(&probe, &ids).await;
            failures = if error.is_some() { failures + 1 } else { 0 };
            if !self.settle(&group, found, error, failures) {
                return;
            }
        }
    }

    /// Hand out what a call found, move the group's pace and its waiters' schedules on. False when
    /// the group is gone (given up on after too many failed calls).
    fn settle(
        &self,
        group: &str,
        found: Vec<(String, Probed)>,
        error: Option<ProbeError>,
        failures: u32,
    ) -> bool {
        let mut groups = lock(&self.groups);
        let Some(g) = groups.get_mut(group) else {
            return false;
        };
        let now = Instant::now();
        g.last_call = Some(now);
        g.floor = match &error {
            Some(e) if e.throttled => (g.floor * 2).min(self.tick * 4).max(self.floor()),
            _ => (g.floor / 2).max(self.floor()),
        };
        if failures >= MAX_FAILED_POLLS {
            let why = format!(
                "polling failed {failures} times in a row: {}",
                error.map(|e| e.message).unwrap_or_default()
            );
            fail_all(g, &why);
            groups.remove(group);
            return false;
        }
        for (id, p) in found {
            let result = match p {
                Probed::Done => Ok(()),
                Probed::Failed(why) => Err(WaitError::Failed(why)),
            };
            for w in g.waiting.remove(&id).map(|w| w.senders).unwrap_or_default() {
                let _ = w.send(result.clone());
            }
        }
        for w in g.waiting.values_mut().filter(|w| w.due <= now) {
            w.checks += 1;
            w.due = now + self.delay(w.checks);
        }
        true
    }
}

/// One call for every waiter (a call per 200 ids: the most values a filter takes). A call that keeps
/// failing (after the SDK's own retries) fails the waiters rather than leaving them to the action
/// timeout.
async fn call(probe: &Probe, ids: &[String]) -> (Vec<(String, Probed)>, Option<ProbeError>) {
    let mut found = Vec::new();
    let mut error = None;
    for chunk in ids.chunks(MAX_IDS_PER_CALL) {
        match probe(chunk.to_vec()).await {
            Ok(f) => found.extend(f),
            Err(e) => error = Some(e),
        }
    }
    (found, error)
}

fn fail_all(g: &mut Group, why: &str) {
    for (_, w) in g.waiting.drain() {
        for tx in w.senders {
            let _ = tx.send(Err(WaitError::Polling(why.to_string())));
        }
    }
}

/// What one probe call answers: news of some of the ids, or why the call failed.
pub type Batch = Result<Vec<(String, Probed)>, ProbeError>;

/// What `probe(id)` says of each id, one call each: `Some` news, or `None` while it is pending.
pub async fn probe_each<F, Fut>(ids: Vec<String>, probe: F) -> Batch
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<Option<Probed>, ProbeError>>,
{
    let mut done = Vec::new();
    for id in ids {
        if let Some(news) = probe(id.clone()).await? {
            done.push((id, news));
        }
    }
    Ok(done)
}

/// Where a wait polls: the poller, the region, and the client that asks.
pub struct On<'a, C> {
    /// The command's poller.
    pub poller: &'a Arc<Poller>,
    /// The region the resource is in.
    pub region: &'a str,
    /// The client for that region.
    pub client: C,
}

impl<C: Clone + Send + Sync + 'static> On<'_, C> {
    /// Wait until `id` is done, in the group of `kind` in this region: everything waiting on one
    /// kind in one region is checked by one `probe(client, ids)` call per tick.
    pub async fn wait<F, Fut>(self, kind: &str, id: &str, probe: F) -> Result<(), WaitError>
    where
        F: Fn(C, Vec<String>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Batch> + Send + 'static,
    {
        let client = self.client;
        let probe: Probe = Arc::new(move |ids| Box::pin(probe(client.clone(), ids)));
        self.poller
            .wait(format!("{kind}/{}", self.region), id, probe)
            .await
    }

    /// Wait until `id` is in state `want`, in the group of `kind` and `want` in this region:
    /// `probe(client, ids, want)` checks a batch.
    pub async fn wait_for<W, F, Fut>(
        self,
        (kind, id): (&str, &str),
        want: W,
        probe: F,
    ) -> Result<(), WaitError>
    where
        W: Clone + std::fmt::Display + Send + Sync + 'static,
        F: Fn(C, Vec<String>, W) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Batch> + Send + 'static,
    {
        let kind = format!("{kind}-{want}");
        self.wait(&kind, id, move |c, ids| probe(c, ids, want.clone()))
            .await
    }
}

/// A resource that failed is fatal; polling that could not tell is transient (the action is retried).
impl From<WaitError> for recipe_provider_api::ActionError {
    fn from(e: WaitError) -> recipe_provider_api::ActionError {
        match e {
            WaitError::Failed(why) => recipe_provider_api::ActionError::fatal(why),
            WaitError::Polling(why) => recipe_provider_api::ActionError::transient(why),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A probe that records when it was called and with how many ids; `answer` says, per call
    /// number, what it returns.
    type Answer =
        Box<dyn Fn(usize, &[String]) -> Result<Vec<(String, Probed)>, ProbeError> + Send + Sync>;

    fn probe(start: Instant, calls: Arc<Mutex<Vec<(u64, usize)>>>, answer: Answer) -> Probe {
        let answer = Arc::new(answer);
        Arc::new(move |ids: Vec<String>| {
            let (calls, answer) = (Arc::clone(&calls), Arc::clone(&answer));
            Box::pin(async move {
                let n = {
                    let mut c = calls.lock().unwrap();
                    c.push((start.elapsed().as_millis() as u64, ids.len()));
                    c.len()
                };
                answer(n, &ids)
            })
        })
    }

    fn done(ids: &[String]) -> Vec<(String, Probed)> {
        ids.iter().map(|i| (i.clone(), Probed::Done)).collect()
    }

    fn throttled() -> ProbeError {
        ProbeError {
            message: "RequestLimitExceeded".into(),
            throttled: true,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_resource_already_there_is_found_by_the_first_check_without_waiting_a_tick() {
        let (start, calls) = (Instant::now(), Arc::default());
        let p = probe(start, Arc::clone(&calls), Box::new(|_, ids| Ok(done(ids))));
        let poller = Poller::new(Duration::from_secs(5));
        poller.wait("image/r".into(), "ami-1", p).await.unwrap();
        assert_eq!(*calls.lock().unwrap(), [(0, 1)]);
    }

    #[tokio::test(start_paused = true)]
    async fn checks_back_off_one_two_five_seconds_then_every_poll_interval() {
        let (start, calls) = (Instant::now(), Arc::default());
        // Ready from the sixth call on.
        let answer: Answer = Box::new(|n, ids| Ok(if n >= 6 { done(ids) } else { vec![] }));
        let p = probe(start, Arc::clone(&calls), answer);
        let poller = Poller::new(Duration::from_secs(10));
        poller.wait("image/r".into(), "ami-1", p).await.unwrap();
        let at: Vec<u64> = calls.lock().unwrap().iter().map(|c| c.0 / 1000).collect();
        assert_eq!(at, [0, 1, 3, 8, 18, 28]);
    }

    #[tokio::test(start_paused = true)]
    async fn many_waiters_share_each_call() {
        let (start, calls) = (Instant::now(), Arc::default());
        let answer: Answer = Box::new(|n, ids| Ok(if n >= 3 { done(ids) } else { vec![] }));
        let p = probe(start, Arc::clone(&calls), answer);
        let poller = Poller::new(Duration::from_secs(5));
        let waits = (0..50).map(|i| {
            let (poller, p) = (Arc::clone(&poller), Arc::clone(&p));
            async move { poller.wait("image/r".into(), &format!("ami-{i}"), p).await }
        });
        for r in futures_join(waits).await {
            r.unwrap();
        }
        let c = calls.lock().unwrap().clone();
        assert_eq!(c.len(), 3, "three calls for fifty waiters: {c:?}");
        assert!(c.iter().all(|(_, n)| *n == 50));
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_slows_the_group_and_success_brings_it_back() {
        let (start, calls) = (Instant::now(), Arc::default());
        let answer: Answer = Box::new(|n, ids| match n {
            1..=3 => Err(throttled()),
            7.. => Ok(done(ids)),
            _ => Ok(vec![]),
        });
        let p = probe(start, Arc::clone(&calls), answer);
        let poller = Poller::new(Duration::from_secs(5));
        poller.wait("image/r".into(), "ami-1", p).await.unwrap();
        let at: Vec<u64> = calls.lock().unwrap().iter().map(|c| c.0 / 1000).collect();
        // Floors 2, 4, 8 s after the throttled calls; the resource's own schedule is 1, 2, 5, 5 s.
        assert_eq!(at, [0, 2, 6, 14, 19, 24, 29]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_that_starts_just_after_a_call_is_checked_at_once() {
        let (start, calls) = (Instant::now(), Arc::default());
        // ami-1 is never ready; ami-2 is ready as soon as it is asked about.
        let answer: Answer = Box::new(|_, ids| {
            Ok(ids
                .iter()
                .filter(|i| *i == "ami-2")
                .map(|i| (i.clone(), Probed::Done))
                .collect())
        });
        let p = probe(start, Arc::clone(&calls), answer);
        let poller = Poller::new(Duration::from_secs(5));
        let (p1, poller1) = (Arc::clone(&p), Arc::clone(&poller));
        let _slow = tokio::spawn(async move { poller1.wait("image/r".into(), "ami-1", p1).await });
        tokio::time::sleep(Duration::from_millis(200)).await;
        poller.wait("image/r".into(), "ami-2", p).await.unwrap();
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(200),
            "not held back to the 1 s pace"
        );
        let c = calls.lock().unwrap().clone();
        assert_eq!(c, [(0, 1), (200, 2)], "the second call answers for both");
    }

    async fn futures_join<F>(fs: impl Iterator<Item = F>) -> Vec<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handles: Vec<_> = fs.map(tokio::spawn).collect();
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    }
}
