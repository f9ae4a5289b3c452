//! The provider contract: one trait per target, and the registry that routes to them.
//!
//! A provider crate (EC2, WorkSpaces, AppStream) implements [`Provider`]: it observes the cloud for the
//! planner, runs one action at a time, sweeps what killed runs left, and releases the builders of
//! builds that failed. It reports waits and step output as engine [`Event`]s. The [`Registry`] holds
//! one provider per target; it is the planner's [`Observer`] and, bound to one apply as [`Routed`], the
//! engine's [`Runner`]. Nothing outside a provider knows its SDK, its types or its output keys.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use recipe_loader::{LoadedRecipe, RecipeSet};
use recipe_model::Target;
use recipe_plan::{
    Action, BuildInfo, Observations, ObserveError, Observer, Outputs, Plan, RecipeOutputs,
};
use recipe_state::{ImageVersion, RecipeState};
use tokio::sync::mpsc;

use crate::engine::{ActionError, Event, Lane, Runner};
use crate::limits::Limit;

pub use recipe_provider_api::BoxFuture;

/// Where providers report progress: the apply's event stream.
#[derive(Clone, Debug)]
pub struct Events {
    tx: mpsc::UnboundedSender<Event>,
}

impl Events {
    /// Events sent to `tx`.
    pub fn new(tx: mpsc::UnboundedSender<Event>) -> Events {
        Events { tx }
    }

    /// A sink that drops everything (tests, observation).
    pub fn discard() -> Events {
        Events {
            tx: mpsc::unbounded_channel().0,
        }
    }

    /// Send any event (the receiver may be gone: progress is best effort).
    pub fn send(&self, e: Event) {
        let _ = self.tx.send(e);
    }

    /// Action `id` now waits on `on` ("ami-0abc in eu-west-1 to become available").
    pub fn waiting(&self, id: usize, on: impl Into<String>) {
        self.send(Event::Waiting { id, on: on.into() });
    }

    /// A line the builder printed while action `id` ran `step`.
    pub fn output(&self, id: usize, step: &str, line: &str) {
        self.send(Event::Output {
            id,
            step: step.to_string(),
            line: line.to_string(),
        });
    }

    /// The sender, for the engine.
    pub fn sender(&self) -> &mpsc::UnboundedSender<Event> {
        &self.tx
    }
}

/// What one apply hands its providers: the plan, the recipes it was made from, the state read under
/// the locks, and where to report.
pub struct ApplyContext {
    /// The plan being applied.
    pub plan: Plan,
    /// The recipes, by name.
    pub recipes: BTreeMap<String, LoadedRecipe>,
    /// State per recipe, as read under the locks.
    pub state: BTreeMap<String, RecipeState>,
    /// Progress.
    pub events: Events,
    /// Gates already passed per action id, in the run this apply resumes: the first `count` gates
    /// the action meets were shown to a person in earlier applies, and are passed.
    pub gates: BTreeMap<usize, GatesShown>,
    /// Ctrl-C: an action that runs several steps sends no further step once it is cancelled.
    pub cancel: crate::engine::CancelToken,
}

/// The `manual` gates of one action shown in earlier applies of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GatesShown {
    /// How many.
    pub count: usize,
    /// When the last one was shown (a gate's `timeout` counts from here).
    pub last: Option<jiff::Timestamp>,
}

impl ApplyContext {
    /// The context for applying `plan`, made from `set`.
    pub fn new(
        set: &RecipeSet,
        plan: Plan,
        state: BTreeMap<String, RecipeState>,
        events: Events,
    ) -> ApplyContext {
        let recipes = set
            .recipes
            .iter()
            .map(|r| (r.recipe.name.value.clone(), r.clone()))
            .collect();
        ApplyContext {
            plan,
            recipes,
            state,
            events,
            gates: BTreeMap::new(),
            cancel: crate::engine::CancelToken::new(),
        }
    }

    /// The placeholder values of the build the plan makes of `recipe` (empty outside a build).
    pub fn values(&self, recipe: &str) -> recipe_plan::BuildValues {
        self.build(recipe)
            .map(|b| recipe_plan::BuildValues::new(self.plan.created_at, b.build_id.clone()))
            .unwrap_or_default()
    }

    /// `recipe`'s image in `region`: made earlier in this apply (`inputs`), or the current version's.
    pub fn image_in(&self, inputs: &Outputs, recipe: &str, region: &str) -> Option<String> {
        inputs
            .image(recipe, region)
            .map(str::to_string)
            .or_else(|| {
                let cur = self.current(recipe)?;
                cur.images.get(region).map(|i| i.image_id.clone())
            })
    }

    /// How many of action `id`'s gates were passed in earlier applies.
    pub fn gates_passed(&self, id: usize) -> usize {
        self.gates_shown(id).count
    }

    /// Action `id`'s gates shown in earlier applies.
    pub fn gates_shown(&self, id: usize) -> GatesShown {
        self.gates.get(&id).copied().unwrap_or_default()
    }

    /// A loaded recipe, or a fatal error naming it.
    pub fn recipe(&self, name: &str) -> Result<&LoadedRecipe, ActionError> {
        self.recipes
            .get(name)
            .ok_or_else(|| ActionError::fatal(format!("recipe `{name}` is not loaded")))
    }

    /// The region `recipe` builds in: its build's in this plan, else its `builder.region`, else the
    /// plan's default build region. Actions with no region of their own call there.
    pub fn home_region(&self, recipe: &str) -> Result<String, ActionError> {
        if let Some(b) = self.build(recipe) {
            return Ok(b.home_region.clone());
        }
        let own = self.recipe(recipe)?.recipe.builder.region.as_ref();
        Ok(own.map_or_else(|| self.plan.cloud.region.clone(), |n| n.value.clone()))
    }

    /// The region an action calls in: shares, unshares and copy removals where the copy is; copies
    /// in the destination when `copy_in_destination` (EC2, WorkSpaces), else in the source
    /// (AppStream); everything else in the recipe's build region.
    pub fn call_region(&self, action: &Action, copy_in_destination: bool) -> String {
        use recipe_plan::ActionKind as K;
        match &action.action {
            K::Copy { region } if copy_in_destination => region.clone(),
            K::Share { region, .. } | K::Unshare { region, .. } | K::RemoveCopy { region, .. } => {
                region.clone()
            }
            _ => self.home_region(&action.recipe).unwrap_or_default(),
        }
    }

    /// The build the plan makes of `recipe`, if any.
    pub fn build(&self, recipe: &str) -> Option<&BuildInfo> {
        self.plan
            .recipes
            .iter()
            .find(|r| r.recipe == recipe)
            .and_then(|r| r.build.as_ref())
    }

    /// The current recorded version of `recipe`.
    pub fn current(&self, recipe: &str) -> Option<&ImageVersion> {
        self.state.get(recipe).and_then(RecipeState::current)
    }

    /// Release the builder `l` left, in its recipe's build region: with `keep`, `mark(region)`
    /// tags it as kept for debugging; otherwise `remove(region)` removes it (with what the build
    /// set up for it), tried again as every clean-up is
    /// ([`CLEANUP_ATTEMPTS`](recipe_provider_api::CLEANUP_ATTEMPTS)).
    pub async fn release_with<M, R>(
        &self,
        (l, keep): (&Leftover, bool),
        mark: impl FnOnce(String) -> M,
        remove: impl Fn(String) -> R,
    ) -> Released
    where
        M: Future<Output = Result<(), ActionError>>,
        R: Future<Output = Result<(), ActionError>>,
    {
        let region = match self.home_region(&l.recipe) {
            Ok(region) => region,
            Err(e) => return Released::Failed(e),
        };
        if keep {
            return match mark(region).await {
                Ok(()) => Released::Kept,
                Err(e) => Released::KeptUnmarked(e),
            };
        }
        use recipe_provider_api::{CLEANUP_ATTEMPTS, CLEANUP_BACKOFF, persist};
        match persist(CLEANUP_ATTEMPTS, CLEANUP_BACKOFF, || remove(region.clone())).await {
            Ok(()) => Released::Terminated,
            Err(e) => Released::Failed(e),
        }
    }

    /// The target of `recipe` (from the plan).
    pub fn target(&self, recipe: &str) -> Option<Target> {
        self.plan
            .recipes
            .iter()
            .find(|r| r.recipe == recipe)
            .map(|r| r.target)
    }
}

/// A recipe whose leftovers a sweep looks for, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SweepScope {
    /// The recipe's name (its `recipe:name` tag).
    pub recipe: String,
    /// Its build region and distribution regions, as far as the plan and state know them.
    pub regions: Vec<String>,
}

/// What a sweep looks for: builders of builds this apply does not run, and images of an interrupted
/// apply that is not resumed and that state does not record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepRequest {
    /// The recipes, per provider.
    pub scopes: Vec<SweepScope>,
    /// Builds this apply runs or resumes: their builders are left alone.
    pub current: BTreeSet<String>,
    /// Builds of an interrupted apply that will not be resumed: their unrecorded images go.
    pub abandoned: BTreeSet<String>,
    /// Image ids state records: never removed.
    pub recorded: BTreeSet<String>,
}

impl SweepRequest {
    /// The build of an image tagged `tags` when it is `recipe`'s and that build was abandoned (an
    /// interrupted apply that will not be resumed): then the image goes, unless state records it.
    pub fn abandoned_build<'t>(
        &self,
        recipe: &str,
        tags: &'t BTreeMap<String, String>,
    ) -> Option<&'t str> {
        let ours = tags
            .get(recipe_provider_api::tags::NAME)
            .map(String::as_str)
            == Some(recipe);
        let build = tags.get(recipe_provider_api::tags::BUILD_ID)?;
        (ours && self.abandoned.contains(build)).then_some(build.as_str())
    }

    /// The build of a builder tagged `tags` when it is a stray of `recipe`: a builder
    /// (`recipe:role=builder`) of a build this apply does not run, not kept for debugging
    /// (`recipe:keep`). Then it goes.
    pub fn stray_builder<'t>(
        &self,
        recipe: &str,
        tags: &'t BTreeMap<String, String>,
    ) -> Option<&'t str> {
        use recipe_provider_api::tags::{BUILD_ID, KEEP, NAME, ROLE};
        let get = |k: &str| tags.get(k).map(String::as_str);
        let build = tags.get(BUILD_ID)?;
        let stray = get(NAME) == Some(recipe)
            && get(ROLE) == Some("builder")
            && !self.current.contains(build)
            && get(KEEP).is_none();
        stray.then_some(build.as_str())
    }

    /// Sweep recipe by recipe: `builders` for each recipe, then, when builds were abandoned,
    /// `images` for it in each of its regions. A failure is noted as a problem of that recipe (and
    /// region), and the sweep goes on; what was removed before it stays in the log.
    ///
    /// Both take owned names and a handle on the log, so that their futures borrow nothing of the
    /// loop (they stay `Send` whatever the provider captures).
    pub async fn by_recipe<B, I>(
        &self,
        builders: impl Fn(String, SweepLog) -> B,
        images: impl Fn(String, String, SweepLog) -> I,
    ) -> Swept
    where
        B: Future<Output = Result<(), ActionError>>,
        I: Future<Output = Result<(), ActionError>>,
    {
        let log = SweepLog::default();
        for scope in &self.scopes {
            let recipe = &scope.recipe;
            if let Err(e) = builders(recipe.clone(), log.clone()).await {
                log.problem(format!("{recipe}: {}", e.message));
            }
            if self.abandoned.is_empty() {
                continue;
            }
            for region in &scope.regions {
                let done = images(recipe.clone(), region.clone(), log.clone()).await;
                if let Err(e) = done {
                    log.problem(format!("{recipe} in {region}: {}", e.message));
                }
            }
        }
        log.take()
    }
}

/// Where a sweep looks for abandoned images: one recipe in one region.
#[derive(Clone, Copy)]
pub struct SweepAt<'a> {
    /// The recipe.
    pub recipe: &'a str,
    /// The region.
    pub region: &'a str,
    /// The sweep's request.
    pub req: &'a SweepRequest,
    /// What the sweep removed so far.
    pub log: &'a SweepLog,
}

impl SweepAt<'_> {
    /// Remove the recipe's images among `listed` (ids in the region) that an abandoned build made
    /// and state does not record: `tags(id)` reads an image's tags, `delete(id)` removes it (its
    /// permissions first), and the log says so.
    pub async fn abandoned_images<T, D>(
        &self,
        listed: Vec<String>,
        (tags, delete): (impl Fn(String) -> T, impl Fn(String) -> D),
    ) -> Result<(), ActionError>
    where
        T: Future<Output = Result<BTreeMap<String, String>, ActionError>>,
        D: Future<Output = Result<(), ActionError>>,
    {
        let (recipe, region, req) = (self.recipe, self.region, self.req);
        for id in listed.into_iter().filter(|id| !req.recorded.contains(id)) {
            let tags = tags(id.clone()).await?;
            if let Some(build) = req.abandoned_build(recipe, &tags) {
                delete(id.clone()).await?;
                self.log.image(recipe, &id, region, build);
            }
        }
        Ok(())
    }
}

/// A sweep in progress: what it removed and what it could not, shared by its steps.
#[derive(Clone, Debug, Default)]
pub struct SweepLog(Arc<Mutex<Swept>>);

impl SweepLog {
    fn with<T>(&self, f: impl FnOnce(&mut Swept) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// A builder removed: `recipe: builder (build)`.
    pub fn builder(&self, what: String) {
        self.with(|s| s.builders.push(what));
    }

    /// Image `image` of `recipe` in `region`, made by `build`, removed.
    pub fn image(&self, recipe: &str, image: &str, region: &str, build: &str) {
        let what = format!("{recipe}: {image} in {region} ({build})");
        self.with(|s| s.images.push(what));
    }

    /// Something that could not be looked at or removed.
    pub fn problem(&self, what: String) {
        self.with(|s| s.problems.push(what));
    }

    /// What the sweep did.
    pub fn take(&self) -> Swept {
        self.with(std::mem::take)
    }
}

/// What a sweep removed, and what it could not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// `recipe: builder (build)` of each builder removed.
    pub builders: Vec<String>,
    /// `recipe: image in region (build)` of each image removed.
    pub images: Vec<String>,
    /// What could not be looked at or removed.
    pub problems: Vec<String>,
}

impl Swept {
    /// Add another provider's sweep.
    pub fn extend(&mut self, other: Swept) {
        self.builders.extend(other.builders);
        self.images.extend(other.images);
        self.problems.extend(other.problems);
    }
}

/// The builder of a build that did not finish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leftover {
    /// Its recipe.
    pub recipe: String,
    /// Its id (instance, WorkSpace, image builder).
    pub builder: String,
}

/// What became of a leftover builder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Released {
    /// Terminated (or asked to be).
    Terminated,
    /// Kept for debugging and marked so that sweeps leave it (`--keep-on-error`).
    Kept,
    /// Kept, but it could not be marked: the next sweep would remove it.
    KeptUnmarked(ActionError),
    /// Could not be terminated.
    Failed(ActionError),
    /// Not this tool's to terminate (the recipe builds on an existing machine): left running, with
    /// only what the build added to it removed.
    Untouched,
}

/// An image made by a build that did not finish (it never became available, or the apply stopped
/// before it did): discarded, so that it is never left unowned under a failed version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unfinished {
    /// Its recipe.
    pub recipe: String,
    /// Its region.
    pub region: String,
    /// The image.
    pub image: String,
}

/// One target's provider.
pub trait Provider: Send + Sync {
    /// The target it serves.
    fn target(&self) -> Target;

    /// What exists, for the planner: bases resolved, images found by their tags, shares, images in
    /// use. Only `recipes` of this provider's target are passed.
    fn observe<'a>(
        &'a self,
        recipes: &'a [&'a LoadedRecipe],
        state: &'a BTreeMap<String, RecipeState>,
    ) -> BoxFuture<'a, Result<Observations, ObserveError>>;

    /// The service and region `action` calls, for rate limiting.
    fn lane(&self, cx: &ApplyContext, action: &Action) -> Lane;

    /// The per-kind limit `action` counts against. By default launches count builders and copies
    /// count copies, in the action's lane; a provider whose service has a fixed ceiling (AppStream:
    /// two copies per destination) says so here.
    fn limit(&self, cx: &ApplyContext, action: &Action) -> Option<Limit> {
        Limit::of(&action.action, self.lane(cx, action))
    }

    /// Run one action (idempotent: after a crash it may run again). `inputs` holds what the actions
    /// it depends on made, by recipe: a layered child reads its parent's image there.
    fn run<'a>(
        &'a self,
        cx: &'a ApplyContext,
        action: &'a Action,
        inputs: &'a Outputs,
    ) -> BoxFuture<'a, Result<RecipeOutputs, ActionError>>;

    /// Remove what killed runs left, found by tags.
    fn sweep<'a>(&'a self, cx: &'a ApplyContext, request: &'a SweepRequest)
    -> BoxFuture<'a, Swept>;

    /// Terminate the builder of a build that did not finish, or with `keep` mark it kept. The
    /// engine calls it once per builder and reports each as it is released.
    fn release<'a>(
        &'a self,
        cx: &'a ApplyContext,
        leftover: &'a Leftover,
        keep: bool,
    ) -> BoxFuture<'a, Released>;

    /// Remove an image of a build that did not finish (an image already gone counts as removed).
    /// `Err` says why it could not be removed; the next apply's sweep tries again. The engine calls
    /// it once per image.
    fn discard<'a>(
        &'a self,
        cx: &'a ApplyContext,
        image: &'a Unfinished,
    ) -> BoxFuture<'a, Result<(), ActionError>>;
}

/// One provider per target.
#[derive(Clone, Default)]
pub struct Registry {
    providers: BTreeMap<Target, Arc<dyn Provider>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Add a provider (replacing any earlier one for its target).
    pub fn register(&mut self, provider: Arc<dyn Provider>) -> &mut Registry {
        self.providers.insert(provider.target(), provider);
        self
    }

    /// The provider for `target`.
    pub fn get(&self, target: Target) -> Option<&Arc<dyn Provider>> {
        self.providers.get(&target)
    }

    /// The targets served.
    pub fn targets(&self) -> impl Iterator<Item = Target> + '_ {
        self.providers.keys().copied()
    }

    /// Recipes the plan changes whose target no provider serves.
    pub fn unserved<'p>(&self, plan: &'p Plan) -> Vec<(&'p str, Target)> {
        plan.recipes
            .iter()
            .filter(|r| r.change != recipe_plan::Change::None)
            .filter(|r| !self.providers.contains_key(&r.target))
            .map(|r| (r.recipe.as_str(), r.target))
            .collect()
    }

    /// `items` grouped by the provider of their recipe's target (items of a target with no provider
    /// are left out).
    pub fn split<T>(
        &self,
        cx: &ApplyContext,
        items: Vec<T>,
        recipe: impl Fn(&T) -> &str,
    ) -> Vec<(&dyn Provider, Vec<T>)> {
        let mut by_target: BTreeMap<Target, Vec<T>> = BTreeMap::new();
        for item in items {
            if let Some(t) = cx
                .target(recipe(&item))
                .filter(|t| self.providers.contains_key(t))
            {
                by_target.entry(t).or_default().push(item);
            }
        }
        by_target
            .into_iter()
            .map(|(t, list)| (self.providers[&t].as_ref(), list))
            .collect()
    }

    /// The provider of `recipe`'s target, in `cx`.
    pub fn for_recipe(
        &self,
        cx: &ApplyContext,
        recipe: &str,
    ) -> Result<&dyn Provider, ActionError> {
        let target = cx
            .target(recipe)
            .ok_or_else(|| ActionError::fatal(format!("recipe `{recipe}` is not in the plan")))?;
        self.get(target).map(AsRef::as_ref).ok_or_else(|| {
            ActionError::fatal(format!(
                "no provider for {} recipes is registered",
                target.as_str()
            ))
        })
    }
}

/// Merge one provider's observations into all of them (destructured, so a new field cannot be
/// forgotten here).
fn merge(all: &mut Observations, part: Observations) {
    let Observations {
        bases,
        images,
        in_use,
        refreshed,
        rollouts,
        rebuilds,
        updates,
        problems,
        newer_bases,
    } = part;
    all.bases.extend(bases);
    all.images.extend(images);
    all.in_use.extend(in_use);
    all.refreshed.extend(refreshed);
    all.rollouts.extend(rollouts);
    all.rebuilds.extend(rebuilds);
    all.updates.extend(updates);
    all.problems.extend(problems);
    all.newer_bases.extend(newer_bases);
}

impl Observer for Registry {
    async fn observe(
        &self,
        recipes: &[&LoadedRecipe],
        state: &BTreeMap<String, RecipeState>,
    ) -> Result<Observations, ObserveError> {
        let mut all = Observations::default();
        for (target, provider) in &self.providers {
            let mine: Vec<&LoadedRecipe> = recipes
                .iter()
                .copied()
                .filter(|r| r.recipe.target.value == *target)
                .collect();
            if !mine.is_empty() {
                merge(&mut all, provider.observe(&mine, state).await?);
            }
        }
        Ok(all)
    }
}

/// The registry bound to one apply: routes each action to its recipe's provider.
#[derive(Clone)]
pub struct Routed {
    registry: Registry,
    cx: Arc<ApplyContext>,
}

impl Routed {
    /// Bind `registry` to an apply.
    pub fn new(registry: Registry, cx: Arc<ApplyContext>) -> Routed {
        Routed { registry, cx }
    }

    /// The apply's context.
    pub fn context(&self) -> &ApplyContext {
        &self.cx
    }

    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

impl Runner for Routed {
    fn lane(&self, action: &Action) -> Lane {
        match self.registry.for_recipe(&self.cx, &action.recipe) {
            Ok(p) => p.lane(&self.cx, action),
            Err(_) => Lane::new("none", "none"),
        }
    }

    fn limit(&self, action: &Action) -> Option<Limit> {
        let provider = self.registry.for_recipe(&self.cx, &action.recipe).ok()?;
        provider.limit(&self.cx, action)
    }

    async fn run(&self, action: &Action, inputs: &Outputs) -> Result<RecipeOutputs, ActionError> {
        let provider = self.registry.for_recipe(&self.cx, &action.recipe)?;
        provider.run(&self.cx, action, inputs).await
    }
}
