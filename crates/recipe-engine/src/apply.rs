//! The apply lifecycle around the executor: lock, find what dead runs left (resume the run, or sweep
//! it), check that state did not move, run, saving each recipe's state as soon as its actions
//! succeeded, release the builders of failed builds, record the rest, unlock. Every phase is a
//! function; the CLI only renders the events.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use recipe_loader::RecipeSet;
use recipe_plan::{ActionKind, Applied, Outputs, Plan, StalePlan};
use recipe_state::{LockInfo, RecipeState, Revision, StateError, StateStore, Stored};

use crate::engine::{CancelToken, EngineOptions, Event, Recorder, Report};
use crate::executor::execute;
use crate::journal::{Journal, JournalEntry, JournalError, Run, entangled, interrupted};
use crate::provider::{
    ApplyContext, BoxFuture, Events, Leftover, Registry, Routed, SweepRequest, SweepScope, Swept,
    Unfinished,
};

/// How an apply runs.
#[derive(Clone, Debug)]
pub struct ApplyOptions {
    /// The executor's options.
    pub engine: EngineOptions,
    /// Keep builders of failed builds (marked so that sweeps leave them).
    pub keep_on_error: bool,
    /// How long to wait for each recipe's lock.
    pub lock_timeout: Duration,
}

/// Why an apply stopped before or after running the plan.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ApplyError {
    /// Locking, reading or saving state failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    State(#[from] StateError),
    /// State moved between planning and locking.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Stale(#[from] StalePlan),
    /// The journal could not be read or written.
    #[error(transparent)]
    #[diagnostic(
        code(recipe::apply::journal),
        help(
            "the apply stopped and released its locks; the journal is kept beside the state (its runs/ folder, or runs/ prefix in S3): make it readable and writable and apply again, which sweeps what this one left"
        )
    )]
    Journal(#[from] JournalError),
}

/// A saved plan, checked against the fresh one before anything is locked: its own consistency, that
/// nothing it was made from moved, and that its actions are what the recipes and state give.
pub fn check_saved(fresh: &Plan, saved: Plan) -> Result<Plan, StalePlan> {
    saved.check_structure().map_err(|why| StalePlan {
        reasons: vec![format!("the plan is not consistent: {why}")],
        inconsistent: true,
    })?;
    saved.check_fresh(fresh)?;
    saved.check_actions(fresh)?;
    if saved.adopted != fresh.adopted {
        return Err(StalePlan::moved(vec![
            "the images adopted from their tags are not those the cloud holds now".into(),
        ]));
    }
    Ok(saved)
}

/// How an apply ended.
#[derive(Debug)]
pub struct ApplyReport {
    /// The executor's report.
    pub report: Report,
    /// What the actions that succeeded made.
    pub outputs: Outputs,
}

/// The recipes' locks, taken in name order and released by [`Locks::release`].
struct Locks<'s, S: StateStore> {
    store: &'s S,
    held: Vec<String>,
}

impl<'s, S: StateStore> Locks<'s, S> {
    /// Take each lock; `waiting` hears of each one held by someone else before it is waited for.
    async fn take(
        store: &'s S,
        recipes: &BTreeSet<String>,
        timeout: Duration,
        waiting: &(dyn Fn(&str, &str) + Sync),
    ) -> Result<Self, StateError> {
        let me = LockInfo::for_this_process("apply");
        let mut locks = Locks {
            store,
            held: Vec::new(),
        };
        for r in recipes {
            let taken = match store.lock(r, &me, Duration::ZERO).await {
                Err(StateError::Locked { holder, .. }) => {
                    waiting(r, &holder);
                    store.lock(r, &me, timeout).await
                }
                other => other,
            };
            if let Err(e) = taken {
                locks.release().await;
                return Err(e);
            }
            locks.held.push(r.clone());
        }
        Ok(locks)
    }

    async fn release(self) {
        for r in &self.held {
            let _ = self.store.unlock(r).await;
        }
    }
}

/// An apply with its locks held: the plan to run, and what dead runs left. Run it with
/// [`Prepared::apply`], or give it up with [`Prepared::release`]; either releases the locks.
pub struct Prepared<'s, S: StateStore> {
    locks: Locks<'s, S>,
    /// The plan to run: the fresh (or saved) one, or the dead run's that is resumed.
    pub plan: Plan,
    /// The dead run this apply goes on with: its finished actions are not run again.
    pub resumed: Option<Run>,
    /// Dead runs that are not resumed: what they left is swept.
    pub taken_over: Vec<Run>,
}

/// Lock the recipes `plan` changes (and those that dead runs touching them left open), then find
/// those dead runs: one whose plan still holds is resumed (unless `plan` is a saved plan, which is
/// applied as it is); the others are swept. Nothing changes in the cloud here.
pub async fn prepare<'s, S: StateStore>(
    store: &'s S,
    plan: Plan,
    saved: bool,
    timeout: Duration,
    waiting: &(dyn Fn(&str, &str) + Sync),
) -> Result<Prepared<'s, S>, ApplyError> {
    let touched = touched(&plan);
    let wanted = entangled(store, &touched).await;
    let locks = Locks::take(store, &wanted, timeout, waiting).await?;
    let runs = match interrupted(store, &touched).await {
        Ok(runs) => runs,
        Err(e) => {
            locks.release().await;
            return Err(e.into());
        }
    };
    Ok(choose(locks, plan, saved, runs))
}

fn choose<'s, S: StateStore>(
    locks: Locks<'s, S>,
    fresh: Plan,
    saved: bool,
    mut runs: Vec<Run>,
) -> Prepared<'s, S> {
    let resumable = |r: &Run| {
        let revisions: BTreeMap<String, String> = r
            .saved
            .iter()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect();
        let held: BTreeSet<&String> = locks.held.iter().collect();
        r.open().iter().all(|o| held.contains(o)) && r.plan.resumable(&fresh, &revisions)
    };
    let resumed = if !saved && runs.len() == 1 && resumable(&runs[0]) {
        runs.pop()
    } else {
        None
    };
    let plan = resumed.as_ref().map_or(fresh, |r| r.plan.clone());
    Prepared {
        locks,
        plan,
        resumed,
        taken_over: runs,
    }
}

fn touched(plan: &Plan) -> BTreeSet<String> {
    plan.actions.iter().map(|a| a.recipe.clone()).collect()
}

impl<'s, S: StateStore> Prepared<'s, S> {
    /// Give up (nothing to do, or not approved): release the locks.
    pub async fn release(self) {
        self.locks.release().await;
    }

    /// The recipes of the plan whose state another run saved after the plan was made (while this
    /// one waited for their locks), each with why. Saves of the resumed run itself do not count.
    pub async fn moved(&self, set: &RecipeSet) -> Result<Vec<String>, ApplyError> {
        let own = self.resumed.as_ref().map(|r| r.saved.clone());
        let (_, moved) =
            read_state(self.locks.store, set, &self.plan, &own.unwrap_or_default()).await?;
        Ok(moved)
    }

    /// Go on under the same locks with `fresh`, a plan made again once they were held. When `fresh`
    /// changes a recipe that is not locked, the locks are released and `None` is returned: lock
    /// again for it with [`prepare`].
    pub async fn replanned(self, fresh: Plan) -> Result<Option<Self>, ApplyError> {
        let touched = touched(&fresh);
        let held: BTreeSet<String> = self.locks.held.iter().cloned().collect();
        let wanted = entangled(self.locks.store, &touched).await;
        if !wanted.is_subset(&held) {
            self.locks.release().await;
            return Ok(None);
        }
        let runs = match interrupted(self.locks.store, &touched).await {
            Ok(runs) => runs,
            Err(e) => {
                self.locks.release().await;
                return Err(e.into());
            }
        };
        Ok(Some(choose(self.locks, fresh, false, runs)))
    }

    /// Run the plan, record state, unlock. The locks are released even if the lifecycle panics (a
    /// bug): the panic goes on once they are.
    pub async fn apply(self, run: &Applying<'_, S>) -> Result<ApplyReport, ApplyError> {
        let Prepared {
            locks,
            plan,
            resumed,
            taken_over,
        } = self;
        let result = CatchUnwind(Box::pin(locked(run, plan, resumed, &taken_over))).await;
        locks.release().await;
        match result {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

/// A future whose panic is caught and returned, so that what must follow it (unlocking) still runs.
struct CatchUnwind<F>(std::pin::Pin<Box<F>>);

impl<F: std::future::Future> std::future::Future for CatchUnwind<F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let inner = self.0.as_mut();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Ok(std::task::Poll::Ready(v)) => std::task::Poll::Ready(Ok(v)),
            Err(panic) => std::task::Poll::Ready(Err(panic)),
        }
    }
}

/// What an apply works with: where state is, the providers, the recipes, how to run, where progress
/// goes, and the token that stops it.
pub struct Applying<'a, S: StateStore> {
    /// The state store.
    pub store: &'a S,
    /// The providers.
    pub registry: &'a Registry,
    /// The recipes the plan was made from.
    pub set: &'a RecipeSet,
    /// How to run.
    pub opts: &'a ApplyOptions,
    /// Where progress goes.
    pub events: Events,
    /// Ctrl-C.
    pub cancel: &'a CancelToken,
}

async fn locked<S: StateStore>(
    run: &Applying<'_, S>,
    plan: Plan,
    resumed: Option<Run>,
    taken_over: &[Run],
) -> Result<ApplyReport, ApplyError> {
    let own: BTreeMap<String, Revision> = resumed
        .as_ref()
        .map(|r| r.saved.clone())
        .unwrap_or_default();
    let (before, moved) = read_state(run.store, run.set, &plan, &own).await?;
    if !moved.is_empty() {
        return Err(StalePlan::moved(moved).into());
    }
    let mut state: BTreeMap<String, RecipeState> = before
        .iter()
        .map(|(k, v)| (k.clone(), v.state.clone()))
        .collect();
    // Recipes the plan adopted from their tags start from that state (the store held none).
    for (name, adopted) in &plan.adopted {
        if state.get(name).is_none_or(|s| s.versions.is_empty()) {
            state.insert(name.clone(), adopted.clone());
        }
    }
    let gates = resumed
        .as_ref()
        .map(|r| r.gates.clone())
        .unwrap_or_default();
    let mut cx = ApplyContext::new(run.set, plan, state, run.events.clone());
    cx.gates = gates;
    cx.cancel = run.cancel.clone();
    let cx = Arc::new(cx);
    let dead: Vec<&Plan> = taken_over.iter().map(|r| &r.plan).collect();
    let swept = sweep(run.registry, &cx, &dead).await;
    let clean = swept.problems.is_empty();
    run.events.send(Event::Swept(swept));
    let mut journal = match resumed {
        Some(r) => Journal::resume(run.store, r),
        None => Journal::begin(run.store, &cx.plan).await?,
    };
    forget_swept(run.store, &cx, taken_over, clean).await;
    let mut recording = Recording::new(&mut journal, run.store, &cx, &before);
    let routed = Arc::new(Routed::new(run.registry.clone(), Arc::clone(&cx)));
    let engine = &run.opts.engine;
    let sender = run.events.sender();
    let report = execute(&cx.plan, routed, &mut recording, engine, sender, run.cancel).await?;
    let outputs = recording.outputs.clone();
    // A build stopped at a gate keeps its builder, its image and its journal: the next apply
    // resumes it.
    let paused: BTreeSet<String> = (report.paused.keys())
        .map(|id| cx.plan.actions[*id].recipe.clone())
        .collect();
    release(
        run.registry,
        &cx,
        &report,
        &outputs,
        run.opts.keep_on_error,
        &paused,
    )
    .await;
    discard(run.registry, &cx, &report, &outputs, &paused).await;
    recording.save_rest(&paused).await?;
    if paused.is_empty() {
        journal.finish().await?;
    }
    Ok(ApplyReport { report, outputs })
}

/// The journals of dead runs whose leftovers were all swept (every recipe they left open is in this
/// plan, and the sweep met no problem) are forgotten; the others stay for a later apply.
async fn forget_swept<S: StateStore>(store: &S, cx: &ApplyContext, runs: &[Run], clean: bool) {
    let mine: BTreeSet<&str> = cx.plan.recipes.iter().map(|r| r.recipe.as_str()).collect();
    for r in runs {
        if clean && r.open().iter().all(|o| mine.contains(o.as_str())) {
            let _ = store.remove_run(&r.id).await;
        }
    }
}

/// Outcomes go to the journal; a recipe whose actions all succeeded has its state saved at once, so
/// a crash later in a long apply leaves no finished image known only to a journal.
struct Recording<'r, 'j, S: StateStore> {
    journal: &'r mut Journal<'j>,
    store: &'r S,
    cx: &'r ApplyContext,
    before: &'r BTreeMap<String, Stored>,
    succeeded: BTreeSet<usize>,
    outputs: Outputs,
    /// Per recipe, its actions that have not succeeded yet: a recipe's state is saved when it reaches
    /// zero, without looking through the plan at each success.
    left: HashMap<String, usize>,
}

impl<'r, 'j, S: StateStore> Recording<'r, 'j, S> {
    fn new(
        journal: &'r mut Journal<'j>,
        store: &'r S,
        cx: &'r ApplyContext,
        before: &'r BTreeMap<String, Stored>,
    ) -> Self {
        let mut outputs = Outputs::default();
        let mut succeeded = BTreeSet::new();
        let mut left: HashMap<String, usize> = HashMap::new();
        for a in &cx.plan.actions {
            if let Some(o) = journal.outputs(a.id) {
                outputs.add(&a.recipe, o);
                succeeded.insert(a.id);
            } else {
                *left.entry(a.recipe.clone()).or_default() += 1;
            }
        }
        Recording {
            journal,
            store,
            cx,
            before,
            succeeded,
            outputs,
            left,
        }
    }

    fn applied(&self) -> Applied<'_> {
        Applied {
            succeeded: &self.succeeded,
            outputs: &self.outputs,
            now: jiff::Timestamp::now(),
        }
    }

    /// Save one recipe's state (as [`recipe_plan::record`] gives it) and journal that it was saved.
    async fn save(&mut self, state: &RecipeState) -> Result<(), ApplyError> {
        let expected = self.before.get(&state.recipe).map(|s| &s.revision);
        let revision = self.store.save(state, expected).await?;
        self.journal.saved(&state.recipe, revision).await?;
        Ok(())
    }

    async fn on_success(&mut self, recipe: &str) -> Result<(), ApplyError> {
        let plan = &self.cx.plan;
        let left = self.left.get_mut(recipe).map_or(0, |n| {
            *n = n.saturating_sub(1);
            *n
        });
        if left > 0 || self.journal.saved.contains_key(recipe) {
            return Ok(());
        }
        let state = recipe_plan::record_recipe(plan, &self.applied(), &self.cx.state, recipe);
        match state {
            Some(state) => self.save(&state).await,
            None => Ok(()),
        }
    }

    /// After the run: save every recipe not saved yet (failed builds, partial updates), but not one
    /// stopped at a gate (its build goes on in the next apply).
    async fn save_rest(&mut self, paused: &BTreeSet<String>) -> Result<(), ApplyError> {
        let all = recipe_plan::record(&self.cx.plan, &self.applied(), &self.cx.state);
        for state in all {
            if !self.journal.saved.contains_key(&state.recipe) && !paused.contains(&state.recipe) {
                self.save(&state).await?;
            }
        }
        Ok(())
    }
}

impl<S: StateStore> Recorder for Recording<'_, '_, S> {
    type Error = ApplyError;

    fn finished(&self, id: usize) -> Option<recipe_plan::RecipeOutputs> {
        self.journal.outputs(id).cloned()
    }

    fn record(&mut self, id: usize, entry: JournalEntry) -> BoxFuture<'_, Result<(), ApplyError>> {
        Box::pin(async move {
            let recipe = self.cx.plan.actions[id].recipe.clone();
            if let JournalEntry::Succeeded { outputs } = &entry {
                self.outputs.add(&recipe, outputs);
                self.succeeded.insert(id);
            }
            let success = matches!(entry, JournalEntry::Succeeded { .. });
            self.journal.record(id, entry).await?;
            if success {
                self.on_success(&recipe).await?;
            }
            Ok(())
        })
    }
}

/// State of the plan's recipes, read under the locks, and which of them moved. The plan was computed
/// before the locks were taken: if another run saved state in between, applying it would overwrite
/// that run's record.
async fn read_state<S: StateStore>(
    store: &S,
    set: &RecipeSet,
    plan: &Plan,
    own: &BTreeMap<String, Revision>,
) -> Result<(BTreeMap<String, Stored>, Vec<String>), ApplyError> {
    let touched: BTreeSet<&str> = plan.actions.iter().map(|a| a.recipe.as_str()).collect();
    let before = recipe_plan::read_state(set, store).await?;
    let moved: Vec<String> = plan
        .basis
        .state
        .iter()
        .filter(|(r, rev)| {
            let now = before.get(*r).map(|s| &s.revision);
            let by_this_run = now.is_some() && now == own.get(*r);
            touched.contains(r.as_str()) && now.map(|r| r.0.clone()) != **rev && !by_this_run
        })
        .map(|(r, _)| format!("state of `{r}` changed while waiting for its lock"))
        .collect();
    Ok((before, moved))
}

/// What killed runs left, for the recipes this apply changes and those dead runs changed: builders of
/// builds it does not run, and the unrecorded images of builds that will not finish (those of dead
/// runs not resumed, and those state records as failed).
pub fn sweep_request(
    plan: &Plan,
    dead: &[&Plan],
    state: &BTreeMap<String, RecipeState>,
) -> SweepRequest {
    let builds = |p: &Plan| -> BTreeSet<String> {
        p.recipes
            .iter()
            .filter_map(|r| r.build.as_ref().map(|b| b.build_id.clone()))
            .collect()
    };
    let current = builds(plan);
    let failed = state
        .values()
        .flat_map(|s| s.versions.iter())
        .filter(|v| v.status == recipe_state::VersionStatus::Failed)
        .map(|v| v.build_id.clone());
    let abandoned = dead
        .iter()
        .flat_map(|p| builds(p))
        .chain(failed)
        .filter(|b| !current.contains(b))
        .collect();
    let recorded = state
        .values()
        .flat_map(|s| s.versions.iter())
        .flat_map(|v| v.images.values().map(|i| i.image_id.clone()))
        .collect();
    let mut in_scope: BTreeSet<&str> = plan.actions.iter().map(|a| a.recipe.as_str()).collect();
    in_scope.extend(
        dead.iter()
            .flat_map(|p| p.actions.iter().map(|a| a.recipe.as_str())),
    );
    let scopes = plan
        .recipes
        .iter()
        .filter(|r| in_scope.contains(r.recipe.as_str()))
        .map(|r| {
            let earlier = dead
                .iter()
                .flat_map(|p| p.recipes.iter())
                .filter(|d| d.recipe == r.recipe);
            let mut regions = known_regions(r, state.get(&r.recipe));
            for region in earlier.flat_map(|d| d.build.iter().flat_map(|b| b.regions.iter())) {
                if !regions.contains(region) {
                    regions.push(region.clone());
                }
            }
            SweepScope {
                recipe: r.recipe.clone(),
                regions,
            }
        })
        .collect();
    SweepRequest {
        scopes,
        current,
        abandoned,
        recorded,
    }
}

/// A recipe's build and distribution regions, from its planned build or its current version (empty:
/// the provider uses the recipe's build region).
fn known_regions(r: &recipe_plan::RecipePlan, state: Option<&RecipeState>) -> Vec<String> {
    let mut regions: Vec<String> = Vec::new();
    let current = state.and_then(RecipeState::current);
    let found = r
        .build
        .iter()
        .flat_map(|b| std::iter::once(&b.home_region).chain(&b.regions))
        .chain(
            current
                .iter()
                .flat_map(|v| std::iter::once(&v.home_region).chain(v.images.keys())),
        );
    for region in found {
        if !regions.contains(region) {
            regions.push(region.clone());
        }
    }
    regions
}

/// Each provider sweeps its own recipes.
async fn sweep(registry: &Registry, cx: &ApplyContext, dead: &[&Plan]) -> Swept {
    let request = sweep_request(&cx.plan, dead, &cx.state);
    let mut swept = Swept::default();
    let scopes = request.scopes.clone();
    for (provider, scopes) in registry.split(cx, scopes, |s| &s.recipe) {
        let mine = SweepRequest {
            scopes,
            ..request.clone()
        };
        swept.extend(provider.sweep(cx, &mine).await);
    }
    swept
}

/// Builders of builds whose terminate-builder action did not succeed.
pub fn leftovers(plan: &Plan, report: &Report, outputs: &Outputs) -> Vec<Leftover> {
    plan.actions
        .iter()
        .filter(|a| a.action == ActionKind::TerminateBuilder && !report.succeeded.contains(&a.id))
        .filter_map(|a| {
            Some(Leftover {
                recipe: a.recipe.clone(),
                builder: outputs.builder(&a.recipe)?.to_string(),
            })
        })
        .collect()
}

/// Images of builds whose image never became available in this or an earlier run of the plan.
pub fn unfinished(plan: &Plan, report: &Report, outputs: &Outputs) -> Vec<Unfinished> {
    let available = |recipe: &str| {
        plan.actions.iter().any(|a| {
            a.recipe == recipe
                && a.action == ActionKind::WaitAvailable
                && report.succeeded.contains(&a.id)
        })
    };
    plan.recipes
        .iter()
        .filter(|r| r.build.is_some() && !available(&r.recipe))
        .flat_map(|r| {
            let images = outputs
                .of(&r.recipe)
                .map(|o| o.images.clone())
                .unwrap_or_default();
            images.into_iter().map(|(region, image)| Unfinished {
                recipe: r.recipe.clone(),
                region,
                image,
            })
        })
        .collect()
}

/// Discard the images of unfinished builds, each through its provider.
async fn discard(
    registry: &Registry,
    cx: &ApplyContext,
    report: &Report,
    outputs: &Outputs,
    paused: &BTreeSet<String>,
) {
    let mut images = unfinished(&cx.plan, report, outputs);
    images.retain(|u| !paused.contains(&u.recipe));
    for (provider, list) in registry.split(cx, images, |u| &u.recipe) {
        for image in list {
            let result = provider.discard(cx, &image).await;
            cx.events.send(Event::Discarded { image, result });
        }
    }
}

/// Terminate (or keep) the builders of failed builds, each through its provider.
async fn release(
    registry: &Registry,
    cx: &ApplyContext,
    report: &Report,
    outputs: &Outputs,
    keep: bool,
    paused: &BTreeSet<String>,
) {
    let mut builders = leftovers(&cx.plan, report, outputs);
    builders.retain(|l| !paused.contains(&l.recipe));
    for (provider, list) in registry.split(cx, builders, |l| &l.recipe) {
        for leftover in list {
            let released = provider.release(cx, &leftover, keep).await;
            cx.events.send(Event::Released { leftover, released });
        }
    }
}
