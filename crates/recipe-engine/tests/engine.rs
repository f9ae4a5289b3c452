//! The engine with a fake runner: order, concurrency, retries, timeouts, failures, resume, cancel,
//! rate limits.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use recipe_engine::{
    ActionError, CancelToken, EngineOptions, ErrorClass, Event, Journal, Lane, Outputs,
    RecipeOutputs, Runner, execute,
};
use recipe_plan::{Action, ActionKind, Basis, CriticalPath, Plan};
use tokio::sync::mpsc;

/// A plan of `Tag` actions with the given dependencies.
fn plan(deps: &[&[usize]]) -> Plan {
    let actions = deps
        .iter()
        .enumerate()
        .map(|(id, d)| Action {
            id,
            recipe: "r".into(),
            action: ActionKind::Tag,
            reason: String::new(),
            depends_on: d.to_vec(),
            estimate_secs: 1,
        })
        .collect();
    Plan {
        format: recipe_plan::PLAN_FORMAT,
        created_at: jiff::Timestamp::UNIX_EPOCH,
        cloud: Default::default(),
        basis: Basis::default(),
        recipes: vec![],
        actions,
        critical_path: CriticalPath::default(),
        adopted: Default::default(),
    }
}

type Behaviour = Box<dyn Fn(usize, u32) -> Result<(), ActionError> + Send + Sync>;

/// Records calls; behaviour per (action, attempt).
struct Fake {
    calls: Vec<AtomicUsize>,
    order: std::sync::Mutex<Vec<usize>>,
    running: AtomicUsize,
    max_running: AtomicUsize,
    delay: Duration,
    behave: Behaviour,
}

impl Fake {
    fn new(n: usize, delay_ms: u64, behave: Behaviour) -> Arc<Fake> {
        Arc::new(Fake {
            calls: (0..n).map(|_| AtomicUsize::new(0)).collect(),
            order: Default::default(),
            running: AtomicUsize::new(0),
            max_running: AtomicUsize::new(0),
            delay: Duration::from_millis(delay_ms),
            behave,
        })
    }
    fn calls(&self, id: usize) -> usize {
        self.calls[id].load(Ordering::SeqCst)
    }
}

impl Runner for Fake {
    fn lane(&self, _: &Action) -> Lane {
        Lane::new("ec2", "us-east-1")
    }
    async fn run(&self, action: &Action, inputs: &Outputs) -> Result<RecipeOutputs, ActionError> {
        let attempt = self.calls[action.id].fetch_add(1, Ordering::SeqCst) + 1;
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        self.order.lock().unwrap().push(action.id);
        (self.behave)(action.id, u32::try_from(attempt).unwrap())?;
        // Hands on everything it received, plus an image of its own.
        let mut out = inputs.of("r").cloned().unwrap_or_default();
        out.merge(&RecipeOutputs::image(format!("out-{}", action.id), "yes"));
        Ok(out)
    }
}

fn opts() -> EngineOptions {
    EngineOptions {
        parallelism: 4,
        limits: Default::default(),
        rate_per_sec: None,
        rate_burst: 1,
        fail_fast: false,
        action_timeout: Duration::from_secs(5),
        max_attempts: 4,
        base_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
    }
}

async fn run<R: Runner>(
    p: &Plan,
    runner: &Arc<R>,
    journal: &mut Journal<'_>,
    o: &EngineOptions,
) -> (recipe_engine::Report, Vec<Event>) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let report = execute(p, Arc::clone(runner), journal, o, &tx, &CancelToken::new())
        .await
        .unwrap();
    drop(tx);
    let mut events = Vec::new();
    while let Some(e) = rx.recv().await {
        events.push(e);
    }
    (report, events)
}

#[tokio::test]
async fn dependencies_first_parallel_branches_together_and_outputs_flow_down() {
    // 0 → {1, 2, 3} → 4
    let p = plan(&[&[], &[0], &[0], &[0], &[1, 2, 3]]);
    let fake = Fake::new(5, 20, Box::new(|_, _| Ok(())));
    let (report, events) = run(&p, &fake, &mut Journal::in_memory(), &opts()).await;
    assert!(report.ok());
    let order = fake.order.lock().unwrap().clone();
    assert_eq!(order.first(), Some(&0));
    assert_eq!(order.last(), Some(&4));
    assert_eq!(
        fake.max_running.load(Ordering::SeqCst),
        3,
        "the three branches ran together"
    );
    let last = events.iter().find_map(|e| match e {
        Event::Succeeded { id: 4, outputs, .. } => Some(outputs.clone()),
        _ => None,
    });
    let keys: Vec<String> = last.unwrap().images.into_keys().collect();
    assert_eq!(
        keys,
        ["out-0", "out-1", "out-2", "out-3", "out-4"],
        "every ancestor's outputs reach the last action"
    );
}

#[tokio::test]
async fn concurrency_is_bounded() {
    let p = plan(&[&[], &[], &[], &[], &[], &[], &[], &[]]);
    let fake = Fake::new(8, 20, Box::new(|_, _| Ok(())));
    let mut o = opts();
    o.parallelism = 3;
    let (report, _) = run(&p, &fake, &mut Journal::in_memory(), &o).await;
    assert!(report.ok());
    assert_eq!(fake.max_running.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn retryable_errors_are_retried_and_fatal_ones_are_not() {
    let p = plan(&[&[], &[], &[]]);
    let fake = Fake::new(
        3,
        1,
        Box::new(|id, attempt| match (id, attempt) {
            (0, 1 | 2) => Err(ActionError::new(ErrorClass::Throttling, "Rate exceeded")),
            (1, 1) => Err(ActionError::new(
                ErrorClass::EventualConsistency,
                "InvalidAMIID.NotFound",
            )),
            (2, _) => Err(ActionError::fatal("InvalidParameterValue")),
            _ => Ok(()),
        }),
    );
    let (report, events) = run(&p, &fake, &mut Journal::in_memory(), &opts()).await;
    assert_eq!((fake.calls(0), fake.calls(1), fake.calls(2)), (3, 2, 1));
    assert!(report.succeeded.contains(&0) && report.succeeded.contains(&1));
    assert_eq!(
        report.failed.get(&2).map(String::as_str),
        Some("InvalidParameterValue")
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::Retrying { .. }))
            .count(),
        3
    );
}

#[tokio::test]
async fn a_failure_skips_its_dependents_and_independent_branches_go_on() {
    // 0 → 1 → 2, and 3 → 4 independent
    let p = plan(&[&[], &[0], &[1], &[], &[3]]);
    let fake = Fake::new(
        5,
        5,
        Box::new(|id, _| {
            if id == 0 {
                Err(ActionError::fatal("boom"))
            } else {
                Ok(())
            }
        }),
    );
    let (report, _) = run(&p, &fake, &mut Journal::in_memory(), &opts()).await;
    assert_eq!(report.failed.keys().copied().collect::<Vec<_>>(), [0]);
    assert_eq!(report.skipped.iter().copied().collect::<Vec<_>>(), [1, 2]);
    assert!(report.succeeded.contains(&3) && report.succeeded.contains(&4));
    assert_eq!((fake.calls(1), fake.calls(2)), (0, 0));
}

#[tokio::test]
async fn fail_fast_starts_nothing_new() {
    // 0 fails quickly; 1 runs long; 2 depends on 1.
    let p = plan(&[&[], &[], &[1]]);
    let fake = Fake::new(
        3,
        30,
        Box::new(|id, _| {
            if id == 0 {
                Err(ActionError::fatal("boom"))
            } else {
                Ok(())
            }
        }),
    );
    let mut o = opts();
    o.fail_fast = true;
    let (report, _) = run(&p, &fake, &mut Journal::in_memory(), &o).await;
    assert!(report.succeeded.contains(&1), "what was running finishes");
    assert_eq!(fake.calls(2), 0);
    assert!(report.not_started.contains(&2));
}

#[tokio::test]
async fn an_attempt_that_hangs_times_out() {
    let p = plan(&[&[]]);
    let fake = Fake::new(1, 500, Box::new(|_, _| Ok(())));
    let mut o = opts();
    o.action_timeout = Duration::from_millis(50);
    let (report, _) = run(&p, &fake, &mut Journal::in_memory(), &o).await;
    assert!(
        report.failed[&0].starts_with("timed out"),
        "{:?}",
        report.failed
    );
}

#[tokio::test]
async fn a_second_run_resumes_from_the_journal_without_repeating_work() {
    let dir = tempfile::tempdir().unwrap();
    let p = plan(&[&[], &[0], &[1], &[0]]);
    let flaky = Fake::new(
        4,
        1,
        Box::new(|id, _| {
            if id == 1 {
                Err(ActionError::fatal("builder lost"))
            } else {
                Ok(())
            }
        }),
    );
    let store = recipe_state::LocalStore::new(dir.path());
    let mut j = Journal::begin(&store, &p).await.unwrap();
    let (first, _) = run(&p, &flaky, &mut j, &opts()).await;
    assert_eq!(first.failed.keys().copied().collect::<Vec<_>>(), [1]);
    drop(j);
    // The journal survived in the store; a new run (a new process) finds it and resumes from it.
    let recipes = p.actions.iter().map(|a| a.recipe.clone()).collect();
    let mut found = recipe_engine::interrupted(&store, &recipes).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].plan, p);
    let fixed = Fake::new(4, 1, Box::new(|_, _| Ok(())));
    let mut j = Journal::resume(&store, found.remove(0));
    let (second, events) = run(&p, &fixed, &mut j, &opts()).await;
    assert!(second.ok());
    assert_eq!(
        (fixed.calls(0), fixed.calls(3)),
        (0, 0),
        "finished actions are not repeated"
    );
    assert_eq!((fixed.calls(1), fixed.calls(2)), (1, 1));
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::Resumed { .. }))
            .count(),
        2
    );
    j.finish().await.unwrap();
    assert!(
        recipe_state::StateStore::runs(&store)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn cancel_stops_new_work_and_lets_running_actions_finish() {
    let p = plan(&[&[], &[0], &[1]]);
    let fake = Fake::new(3, 50, Box::new(|_, _| Ok(())));
    let cancel = CancelToken::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let c2 = cancel.clone();
    tokio::spawn(async move {
        // Cancel as soon as the first action starts.
        while let Some(e) = rx.recv().await {
            if matches!(e, Event::Started { id: 0, .. }) {
                c2.cancel();
            }
        }
    });
    let report = execute(
        &p,
        Arc::clone(&fake),
        &mut Journal::in_memory(),
        &opts(),
        &tx,
        &cancel,
    )
    .await
    .unwrap();
    assert!(report.cancelled);
    assert!(report.succeeded.contains(&0), "the running action finished");
    assert_eq!(
        report.not_started.iter().copied().collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(fake.calls(1), 0);
}

#[tokio::test(start_paused = true)]
async fn calls_per_lane_are_rate_limited() {
    // A burst of 3, then 10 per second: 8 calls take 0.5 s for the last five.
    let none: &[usize] = &[];
    let p = plan(&[none; 8]);
    let fake = Fake::new(8, 0, Box::new(|_, _| Ok(())));
    let mut o = opts();
    o.parallelism = 8;
    o.rate_per_sec = Some(10);
    o.rate_burst = 3;
    let start = tokio::time::Instant::now();
    let (report, events) = run(&p, &fake, &mut Journal::in_memory(), &o).await;
    assert!(report.ok());
    assert_eq!(start.elapsed(), Duration::from_millis(500));
    let first: Vec<usize> = events
        .iter()
        .take_while(|e| !matches!(e, Event::Succeeded { .. }))
        .filter_map(|e| match e {
            Event::Started { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    assert!(first.len() >= 3, "the burst started at once: {first:?}");
}

#[tokio::test(start_paused = true)]
async fn each_kind_of_action_has_its_own_rate_bucket() {
    // Three tags and three shares, a burst of 3 per bucket: all six start at once, as EC2 throttles
    // each API on its own.
    let share = || ActionKind::Share {
        principals: vec!["111122223333".into()],
        region: "us-east-1".into(),
        fleet: vec![],
        image_builder: vec![],
    };
    let p = plan_of(&[
        ("r", ActionKind::Tag, &[]),
        ("r", ActionKind::Tag, &[]),
        ("r", ActionKind::Tag, &[]),
        ("r", share(), &[]),
        ("r", share(), &[]),
        ("r", share(), &[]),
    ]);
    let fake = Fake::new(6, 0, Box::new(|_, _| Ok(())));
    let mut o = opts();
    o.parallelism = 8;
    o.rate_per_sec = Some(10);
    o.rate_burst = 3;
    let start = tokio::time::Instant::now();
    let (report, _) = run(&p, &fake, &mut Journal::in_memory(), &o).await;
    assert!(report.ok());
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "no action waited for a token"
    );
}

#[tokio::test]
async fn an_interrupt_after_the_last_action_started_leaves_a_complete_run() {
    let p = plan(&[&[], &[0]]);
    let fake = Fake::new(2, 30, Box::new(|_, _| Ok(())));
    let cancel = CancelToken::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let c2 = cancel.clone();
    tokio::spawn(async move {
        // Cancel once the last action has started: nothing is left to stop.
        while let Some(e) = rx.recv().await {
            if matches!(e, Event::Started { id: 1, .. }) {
                c2.cancel();
            }
        }
    });
    let mut journal = Journal::in_memory();
    let report = execute(&p, Arc::clone(&fake), &mut journal, &opts(), &tx, &cancel)
        .await
        .unwrap();
    assert!(report.cancelled);
    assert!(report.not_started.is_empty());
    assert!(report.ok(), "every action succeeded: {report:?}");
}

#[tokio::test]
async fn an_action_that_panics_fails_alone_and_the_run_goes_on() {
    let p = plan(&[&[], &[0], &[]]);
    let fake = Fake::new(
        3,
        1,
        Box::new(|id, _| {
            assert!(id != 0, "a provider bug");
            Ok(())
        }),
    );
    let (report, _) = run(&p, &fake, &mut Journal::in_memory(), &opts()).await;
    let why = &report.failed[&0];
    assert!(why.contains("panicked (a provider bug)"), "{why}");
    assert!(report.skipped.contains(&1));
    assert!(report.succeeded.contains(&2), "the independent branch ran");
}

/// A plan of `(recipe, kind, dependencies)`.
fn plan_of(actions: &[(&str, ActionKind, &[usize])]) -> Plan {
    let mut p = plan(&[]);
    p.actions = actions
        .iter()
        .enumerate()
        .map(|(id, (recipe, kind, deps))| Action {
            id,
            recipe: (*recipe).into(),
            action: kind.clone(),
            reason: String::new(),
            depends_on: deps.to_vec(),
            estimate_secs: 1,
        })
        .collect();
    p
}

/// Counts actions in each phase: working (holding a call slot), waiting (in `idle`), builders alive
/// and copies in flight, with the highest of each.
#[derive(Default)]
struct Cloud {
    working: AtomicUsize,
    most_working: AtomicUsize,
    waiting: AtomicUsize,
    most_waiting: AtomicUsize,
    builders: AtomicUsize,
    most_builders: AtomicUsize,
    copies: AtomicUsize,
    most_copies: AtomicUsize,
    /// Waits end once this many actions wait at once (0: at once).
    release_at: usize,
    all_waiting: tokio::sync::Notify,
    fail: Option<usize>,
}

fn up(n: &AtomicUsize, most: &AtomicUsize) {
    most.fetch_max(n.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
}

impl Cloud {
    async fn wait(&self) {
        let now = self.waiting.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_waiting.fetch_max(now, Ordering::SeqCst);
        if now >= self.release_at {
            self.all_waiting.notify_waiters();
        } else {
            let released = self.all_waiting.notified();
            tokio::time::timeout(Duration::from_secs(2), released)
                .await
                .expect("every waiting action got to its wait");
        }
        self.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Runner for Cloud {
    fn lane(&self, _: &Action) -> Lane {
        Lane::new("ec2", "us-east-1")
    }
    async fn run(&self, action: &Action, _: &Outputs) -> Result<RecipeOutputs, ActionError> {
        up(&self.working, &self.most_working);
        match action.action {
            ActionKind::LaunchBuilder => up(&self.builders, &self.most_builders),
            ActionKind::TerminateBuilder => {
                self.builders.fetch_sub(1, Ordering::SeqCst);
            }
            ActionKind::Copy { .. } => up(&self.copies, &self.most_copies),
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
        self.working.fetch_sub(1, Ordering::SeqCst);
        // The wait on the cloud: no call slot held.
        recipe_engine::idle(self.wait()).await;
        up(&self.working, &self.most_working);
        if matches!(action.action, ActionKind::Copy { .. }) {
            self.copies.fetch_sub(1, Ordering::SeqCst);
        }
        self.working.fetch_sub(1, Ordering::SeqCst);
        if self.fail == Some(action.id) {
            return Err(ActionError::fatal("the build failed"));
        }
        Ok(RecipeOutputs::default())
    }
}

#[tokio::test]
async fn fifty_waiting_actions_with_two_call_slots_all_progress() {
    // Each action's wait ends only once all fifty wait at the same time: with waits holding a slot,
    // two would wait and the rest never start.
    let none: &[usize] = &[];
    let p = plan(&[none; 50]);
    let cloud = Arc::new(Cloud {
        release_at: 50,
        ..Cloud::default()
    });
    let mut o = opts();
    o.parallelism = 2;
    let (report, _) = run(&p, &cloud, &mut Journal::in_memory(), &o).await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(cloud.most_waiting.load(Ordering::SeqCst), 50);
    assert!(
        cloud.most_working.load(Ordering::SeqCst) <= 2,
        "at most two actions worked at once"
    );
}

/// Recipes of launch → steps → terminate, each independent.
fn builds(n: usize) -> Plan {
    let names: Vec<String> = (0..n).map(|i| format!("r{i}")).collect();
    let mut actions: Vec<(&str, ActionKind, &[usize])> = Vec::new();
    let deps: Vec<[usize; 1]> = (0..3 * n).map(|i| [i]).collect();
    for (i, name) in names.iter().enumerate() {
        actions.push((name, ActionKind::LaunchBuilder, &[]));
        actions.push((name, ActionKind::Tag, &deps[3 * i]));
        actions.push((name, ActionKind::TerminateBuilder, &deps[3 * i + 1]));
    }
    plan_of(&actions)
}

#[tokio::test]
async fn builders_beyond_the_limit_are_queued_until_a_build_terminates() {
    let p = builds(6);
    let cloud = Arc::new(Cloud::default());
    let mut o = opts();
    o.parallelism = 16;
    o.limits.builders = 2;
    let (report, events) = run(&p, &cloud, &mut Journal::in_memory(), &o).await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(cloud.most_builders.load(Ordering::SeqCst), 2);
    let queued: Vec<&String> = events
        .iter()
        .filter_map(|e| match e {
            Event::Queued { on, .. } => Some(on),
            _ => None,
        })
        .collect();
    assert_eq!(queued.len(), 4, "four launches waited for a builder");
    assert_eq!(queued[0], "2 of 2 builders in use in ec2 us-east-1");
}

#[tokio::test]
async fn a_failed_build_gives_its_builder_back() {
    // r0's steps fail: its terminate is skipped, and r1 still gets the only builder.
    let p = builds(2);
    let cloud = Arc::new(Cloud {
        fail: Some(1),
        ..Cloud::default()
    });
    let mut o = opts();
    o.limits.builders = 1;
    let (report, _) = run(&p, &cloud, &mut Journal::in_memory(), &o).await;
    assert_eq!(report.failed.keys().collect::<Vec<_>>(), [&1]);
    assert_eq!(report.skipped.iter().collect::<Vec<_>>(), [&2]);
    assert!(
        (3..6).all(|id| report.succeeded.contains(&id)),
        "{report:?}"
    );
}

#[tokio::test]
async fn copies_in_flight_stay_within_the_limit_while_they_wait() {
    let copy = |r: &str| ActionKind::Copy { region: r.into() };
    let p = plan_of(&[
        ("a", copy("eu-west-1"), &[]),
        ("b", copy("eu-west-1"), &[]),
        ("c", copy("eu-west-1"), &[]),
        ("d", copy("eu-west-1"), &[]),
        ("e", copy("eu-west-1"), &[]),
    ]);
    let cloud = Arc::new(Cloud::default());
    let mut o = opts();
    o.parallelism = 16;
    o.limits.copies = 2;
    let (report, events) = run(&p, &cloud, &mut Journal::in_memory(), &o).await;
    assert!(report.ok());
    assert_eq!(cloud.most_copies.load(Ordering::SeqCst), 2);
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::Queued { .. }))
            .count(),
        3
    );
}
