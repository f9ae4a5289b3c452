//! The apply lifecycle around the executor: choose the plan (fresh, saved or resumed), lock, check
//! that state did not move, sweep what killed runs left, run, release the builders of failed builds,
//! record state, unlock. Every phase is a function; the CLI only renders the events.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use recipe_loader::RecipeSet;
use recipe_plan::{ActionKind, Applied, Outputs, Plan, StalePlan};
use recipe_state::{LockInfo, RecipeState, StateError, StateStore, Stored};

use crate::engine::{CancelToken, EngineOptions, Event, Report, execute};
use crate::journal::{Journal, JournalError};
use crate::provider::{
    ApplyContext, Events, Leftover, Registry, Routed, SweepRequest, SweepScope, Swept, Unfinished,
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
    /// The journal could not be written.
    #[error(transparent)]
    #[diagnostic(
        code(recipe::apply::journal),
        help(
            "the apply stopped and released its locks; make the journal's folder (.recipe/journal, or .recipe/sandbox/journal) writable and apply again: it sweeps what this one left"
        )
    )]
    Journal(#[from] JournalError),
}

/// Which plan to run, and whether it resumes the journal's.
#[derive(Debug)]
pub struct Chosen {
    /// The plan.
    pub plan: Plan,
    /// It is the journal's interrupted plan: its finished actions are not run again.
    pub resuming: bool,
}

/// The plan to apply: a saved one (refused if stale), else the journal's interrupted plan when nothing
/// it was made from moved, else the fresh one.
pub fn choose_plan(
    journal: &Journal,
    fresh: Plan,
    saved: Option<Plan>,
) -> Result<Chosen, StalePlan> {
    let plan = match saved {
        Some(saved) => {
            saved.check_structure().map_err(|why| StalePlan {
                reasons: vec![format!("the plan is not consistent: {why}")],
            })?;
            saved.check_fresh(&fresh)?;
            saved.check_actions(&fresh)?;
            saved
        }
        None => journal
            .saved_plan
            .clone()
            .filter(|p| !journal.entries.is_empty() && p.resumable(&fresh))
            .unwrap_or(fresh),
    };
    let resuming = journal
        .saved_plan
        .as_ref()
        .is_some_and(|p| p.created_at == plan.created_at && p.actions == plan.actions);
    Ok(Chosen { plan, resuming })
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
    async fn take(
        store: &'s S,
        recipes: &BTreeSet<String>,
        timeout: Duration,
    ) -> Result<Self, StateError> {
        let me = LockInfo::for_this_process("apply");
        let mut locks = Locks {
            store,
            held: Vec::new(),
        };
        for r in recipes {
            if let Err(e) = store.lock(r, &me, timeout).await {
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

/// Apply `chosen` (see [`choose_plan`]): lock the recipes it changes, run it, record state, unlock.
pub async fn apply<S: StateStore>(
    run: &Applying<'_, S>,
    chosen: Chosen,
    journal: &mut Journal,
) -> Result<ApplyReport, ApplyError> {
    let touched: BTreeSet<String> = chosen
        .plan
        .actions
        .iter()
        .map(|a| a.recipe.clone())
        .collect();
    let locks = Locks::take(run.store, &touched, run.opts.lock_timeout).await?;
    let result = locked(run, chosen, journal).await;
    locks.release().await;
    result
}

async fn locked<S: StateStore>(
    run: &Applying<'_, S>,
    chosen: Chosen,
    journal: &mut Journal,
) -> Result<ApplyReport, ApplyError> {
    let Chosen { plan, resuming } = chosen;
    let before = read_unmoved(run.store, run.set, &plan).await?;
    let state: BTreeMap<String, RecipeState> = before
        .iter()
        .map(|(k, v)| (k.clone(), v.state.clone()))
        .collect();
    let cx = Arc::new(ApplyContext::new(run.set, plan, state, run.events.clone()));
    let swept = sweep(run.registry, &cx, journal).await;
    run.events.send(Event::Swept(swept));
    if !resuming {
        journal.reset(&cx.plan)?;
    }
    let routed = Arc::new(Routed::new(run.registry.clone(), Arc::clone(&cx)));
    let engine = &run.opts.engine;
    let report = execute(
        &cx.plan,
        routed,
        journal,
        engine,
        run.events.sender(),
        run.cancel,
    )
    .await?;
    let outputs = collected(&cx.plan, &report, journal);
    release(run.registry, &cx, &report, &outputs, run.opts.keep_on_error).await;
    discard(run.registry, &cx, &report, &outputs).await;
    let applied = Applied {
        succeeded: &report.succeeded,
        outputs: &outputs,
        now: jiff::Timestamp::now(),
    };
    for state in recipe_plan::record(&cx.plan, &applied, &cx.state) {
        let expected = before.get(&state.recipe).map(|s| &s.revision);
        run.store.save(&state, expected).await?;
    }
    if report.ok() {
        let _ = std::mem::take(journal).finish();
    }
    Ok(ApplyReport { report, outputs })
}

/// State of the plan's recipes, read under the locks. The plan was computed before the locks were
/// taken: if another run saved state in between, applying it would overwrite that run's record.
async fn read_unmoved<S: StateStore>(
    store: &S,
    set: &RecipeSet,
    plan: &Plan,
) -> Result<BTreeMap<String, Stored>, ApplyError> {
    let touched: BTreeSet<&str> = plan.actions.iter().map(|a| a.recipe.as_str()).collect();
    let before = recipe_plan::read_state(set, store).await?;
    let moved: Vec<String> = plan
        .basis
        .state
        .iter()
        .filter(|(r, rev)| {
            touched.contains(r.as_str()) && before.get(*r).map(|s| s.revision.0.clone()) != **rev
        })
        .map(|(r, _)| format!("state of `{r}` changed while waiting for its lock"))
        .collect();
    if moved.is_empty() {
        Ok(before)
    } else {
        Err(StalePlan { reasons: moved }.into())
    }
}

/// What killed runs left, for the recipes this apply changes: builders of builds it does not run, and
/// the images of an interrupted apply that is not resumed (its plan went stale).
pub fn sweep_request(
    plan: &Plan,
    interrupted: Option<&Plan>,
    state: &BTreeMap<String, RecipeState>,
) -> SweepRequest {
    let touched: BTreeSet<&str> = plan.actions.iter().map(|a| a.recipe.as_str()).collect();
    let builds = |p: &Plan| -> BTreeSet<String> {
        p.recipes
            .iter()
            .filter_map(|r| r.build.as_ref().map(|b| b.build_id.clone()))
            .collect()
    };
    let current = builds(plan);
    let abandoned = interrupted
        .map(builds)
        .unwrap_or_default()
        .into_iter()
        .filter(|b| !current.contains(b))
        .collect();
    let recorded = state
        .values()
        .flat_map(|s| s.versions.iter())
        .flat_map(|v| v.images.values().map(|i| i.image_id.clone()))
        .collect();
    let scopes = plan
        .recipes
        .iter()
        .filter(|r| touched.contains(r.recipe.as_str()))
        .map(|r| SweepScope {
            recipe: r.recipe.clone(),
            regions: known_regions(r, state.get(&r.recipe)),
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
async fn sweep(registry: &Registry, cx: &ApplyContext, journal: &Journal) -> Swept {
    let request = sweep_request(&cx.plan, journal.saved_plan.as_ref(), &cx.state);
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

/// What the actions that succeeded made, from the journal (this run and any resumed one).
fn collected(plan: &Plan, report: &Report, journal: &Journal) -> Outputs {
    let mut outputs = Outputs::default();
    for id in &report.succeeded {
        if let Some(o) = journal.outputs(*id) {
            outputs.add(&plan.actions[*id].recipe, o);
        }
    }
    outputs
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
async fn discard(registry: &Registry, cx: &ApplyContext, report: &Report, outputs: &Outputs) {
    let images = unfinished(&cx.plan, report, outputs);
    for (provider, list) in registry.split(cx, images, |u| &u.recipe) {
        for (image, result) in provider.discard(cx, &list).await {
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
) {
    let builders = leftovers(&cx.plan, report, outputs);
    for (provider, list) in registry.split(cx, builders, |l| &l.recipe) {
        for (leftover, released) in provider.release(cx, &list, keep).await {
            cx.events.send(Event::Released { leftover, released });
        }
    }
}
