//! The provider contract: one registry routes a plan that mixes targets (an AMI recipe feeding an
//! WorkSpaces import) to two fake providers, through the whole apply lifecycle.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use recipe_engine::apply::{Applying, prepare};
use recipe_engine::{
    Action, ActionError, ActionKind, ApplyContext, BoxFuture, CancelToken, Event, Events, Lane,
    Leftover, Outputs, Provider, RecipeOutputs, Registry, Released, SweepRequest, Swept,
    Unfinished,
};
use recipe_loader::{LoadedRecipe, RecipeSet};
use recipe_model::{Base, Target};
use recipe_plan::{Observations, ObserveError};
use recipe_state::{LocalStore, RecipeState, StateStore};

const GOLDEN: &str = r#"name: golden
description: the AMI the desktop is imported from
target: ec2-ami
strategy: full
os: windows
version: 1.0.0
base: { image-id: ami-0123456789abcdef0 }
builder: { region: eu-west-2, instance-type: t3.small }
steps:
  - powershell: { run: "Write-Output golden" }
cleanup: windows
image: { name: "golden-${build_id}" }
distribute: { regions: [eu-west-1] }
"#;

const DESKTOP: &str = r#"name: desktop
description: a WorkSpaces image imported from the golden AMI
target: workspaces
strategy: full
os: windows
version: 1.0.0
base: { recipe: golden }
builder:
  region: eu-west-2
  directory-id: d-906734325
  user-name: desktop-builder
steps:
  - powershell: { run: "Write-Output desktop" }
image: { name: "desktop-${build_id}" }
"#;

/// A provider that records what it was asked, and fails the action named `fail.1` of recipe `fail.0`.
struct Fake {
    target: Target,
    service: &'static str,
    fail: Vec<(&'static str, &'static str)>,
    ran: Mutex<Vec<(String, String)>>,
    observed: Mutex<Vec<String>>,
    swept: Mutex<Vec<String>>,
    released: Mutex<Vec<Leftover>>,
    discarded: Mutex<Vec<Unfinished>>,
    /// Actions (recipe, action) that never finish: the process is killed while they run.
    hang: Mutex<Vec<(String, String)>>,
    /// Panic when asked to release builders (a bug in the lifecycle, outside any action).
    panic_on_release: std::sync::atomic::AtomicBool,
    /// Actions (recipe, action) with a `manual` gate: they pause until an apply resumes past it.
    gate: Mutex<Vec<(String, String)>>,
}

impl Fake {
    fn new(
        target: Target,
        service: &'static str,
        fail: Vec<(&'static str, &'static str)>,
    ) -> Arc<Fake> {
        Arc::new(Fake {
            target,
            service,
            fail,
            ran: Mutex::default(),
            observed: Mutex::default(),
            swept: Mutex::default(),
            released: Mutex::default(),
            discarded: Mutex::default(),
            hang: Mutex::default(),
            panic_on_release: Default::default(),
            gate: Mutex::default(),
        })
    }

    fn ran(&self) -> Vec<(String, String)> {
        self.ran.lock().unwrap().clone()
    }

    fn home(r: &LoadedRecipe) -> String {
        r.recipe.builder.region.as_ref().unwrap().value.clone()
    }

    fn act(
        &self,
        cx: &ApplyContext,
        a: &Action,
        inputs: &Outputs,
    ) -> Result<RecipeOutputs, ActionError> {
        let r = cx.recipe(&a.recipe)?;
        let home = Self::home(r);
        let made = |what: &str| format!("{}-{what}-{}", self.service, a.recipe);
        let key = (a.recipe.clone(), a.action.name().to_string());
        if self.gate.lock().unwrap().contains(&key) && cx.gates_passed(a.id) == 0 {
            return Err(ActionError::paused("sign the licence on the builder"));
        }
        if self.fail.contains(&(a.recipe.as_str(), a.action.name())) {
            return Err(ActionError::fatal(format!(
                "{} failed (injected)",
                a.action.name()
            )));
        }
        Ok(match &a.action {
            ActionKind::ResolveBase => match &r.recipe.base.value {
                Base::Recipe(parent) => {
                    let id = inputs.image(&parent.value, &home).ok_or_else(|| {
                        ActionError::fatal(format!("no image of {} in {home}", parent.value))
                    })?;
                    RecipeOutputs::base(id)
                }
                Base::ImageId(id) => RecipeOutputs::base(id.value.clone()),
                other => return Err(ActionError::fatal(format!("unexpected base {other:?}"))),
            },
            ActionKind::LaunchBuilder => RecipeOutputs::builder(made("builder")),
            ActionKind::Capture { .. } => RecipeOutputs::image(&home, made("image")),
            ActionKind::Copy { region } => RecipeOutputs::image(region, made(region)),
            _ => RecipeOutputs::default(),
        })
    }
}

impl Provider for Fake {
    fn target(&self) -> Target {
        self.target
    }

    fn observe<'a>(
        &'a self,
        recipes: &'a [&'a LoadedRecipe],
        _: &'a BTreeMap<String, RecipeState>,
    ) -> BoxFuture<'a, Result<Observations, ObserveError>> {
        Box::pin(async move {
            // Records who asked; trusts state (nothing refreshed).
            let mut observed = self.observed.lock().unwrap();
            observed.extend(recipes.iter().map(|r| r.recipe.name.value.clone()));
            Ok(Observations::default())
        })
    }

    fn lane(&self, cx: &ApplyContext, action: &Action) -> Lane {
        let home = cx
            .recipe(&action.recipe)
            .map(Self::home)
            .unwrap_or_default();
        Lane::new(self.service, home)
    }

    fn run<'a>(
        &'a self,
        cx: &'a ApplyContext,
        action: &'a Action,
        inputs: &'a Outputs,
    ) -> BoxFuture<'a, Result<RecipeOutputs, ActionError>> {
        Box::pin(async move {
            self.ran
                .lock()
                .unwrap()
                .push((action.recipe.clone(), action.action.name().to_string()));
            cx.events
                .waiting(action.id, format!("{} to finish", action.action.name()));
            let key = (action.recipe.clone(), action.action.name().to_string());
            if self.hang.lock().unwrap().contains(&key) {
                std::future::pending::<()>().await;
            }
            self.act(cx, action, inputs)
        })
    }

    fn sweep<'a>(&'a self, _: &'a ApplyContext, request: &'a SweepRequest) -> BoxFuture<'a, Swept> {
        Box::pin(async move {
            let mut swept = self.swept.lock().unwrap();
            swept.extend(request.scopes.iter().map(|s| s.recipe.clone()));
            Swept::default()
        })
    }

    fn release<'a>(
        &'a self,
        _: &'a ApplyContext,
        leftover: &'a Leftover,
        _: bool,
    ) -> BoxFuture<'a, Released> {
        Box::pin(async move {
            let bug = self
                .panic_on_release
                .load(std::sync::atomic::Ordering::SeqCst);
            assert!(!bug, "a bug in release");
            self.released.lock().unwrap().push(leftover.clone());
            Released::Terminated
        })
    }

    fn discard<'a>(
        &'a self,
        _: &'a ApplyContext,
        image: &'a Unfinished,
    ) -> BoxFuture<'a, Result<(), ActionError>> {
        Box::pin(async move {
            self.discarded.lock().unwrap().push(image.clone());
            Ok(())
        })
    }
}

fn load(dir: &Path) -> RecipeSet {
    std::fs::write(dir.join("golden.yaml"), GOLDEN).unwrap();
    std::fs::write(dir.join("desktop.yaml"), DESKTOP).unwrap();
    let set = recipe_loader::load(&[dir.to_path_buf()], &recipe_targets::load_options());
    let errors: Vec<String> = set.diagnostics.iter().map(|d| d.to_string()).collect();
    assert!(!set.has_errors(), "{errors:?}");
    set
}

struct Run {
    ok: bool,
    events: Vec<Event>,
    outputs: Outputs,
}

async fn plan_and_apply(set: &RecipeSet, store: &LocalStore, registry: &Registry) -> Run {
    let plan = recipe_plan::plan(set, store, registry, &recipe_testkit::plan_options())
        .await
        .unwrap();
    assert!(registry.unserved(&plan).is_empty());
    let (opts, cancel) = (recipe_testkit::apply_options(), CancelToken::new());
    let prepared = prepare(store, plan, false, opts.lock_timeout, &|_, _| {})
        .await
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let applying = Applying {
        store,
        registry,
        set,
        opts: &opts,
        events: Events::new(tx),
        cancel: &cancel,
    };
    let out = prepared.apply(&applying).await.unwrap();
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    Run {
        ok: out.report.ok(),
        events,
        outputs: out.outputs,
    }
}

#[tokio::test]
async fn a_plan_mixing_two_targets_runs_through_one_registry() {
    let dir = tempfile::tempdir().unwrap();
    let set = load(dir.path());
    let store = LocalStore::new(dir.path().join("state"));
    let ec2 = Fake::new(recipe_targets::EC2_AMI, "ec2", vec![]);
    let workspaces = Fake::new(recipe_targets::WORKSPACES, "workspaces", vec![]);
    let mut registry = Registry::new();
    registry.register(ec2.clone()).register(workspaces.clone());

    let run = plan_and_apply(&set, &store, &registry).await;
    assert!(run.ok, "{:?}", run.events);
    // Each provider observed, swept and ran only its own target's recipes.
    assert_eq!(*ec2.observed.lock().unwrap(), ["golden"]);
    assert_eq!(*workspaces.observed.lock().unwrap(), ["desktop"]);
    ec2.observed.lock().unwrap().clear();
    assert_eq!(*ec2.swept.lock().unwrap(), ["golden"]);
    assert_eq!(*workspaces.swept.lock().unwrap(), ["desktop"]);
    assert!(ec2.ran().iter().all(|(r, _)| r == "golden"));
    assert!(workspaces.ran().iter().all(|(r, _)| r == "desktop"));
    assert!(ec2.ran().contains(&("golden".into(), "copy".into())));
    assert!(
        workspaces
            .ran()
            .contains(&("desktop".into(), "capture".into()))
    );
    // The child started from the parent's image in its own build region, made by the other provider.
    assert_eq!(run.outputs.base("desktop"), Some("ec2-image-golden"));
    assert_eq!(
        run.outputs.image("desktop", "eu-west-2"),
        Some("workspaces-image-desktop")
    );
    // Waits reach the event stream.
    assert!(
        run.events
            .iter()
            .any(|e| matches!(e, Event::Waiting { .. }))
    );
    // Both recorded, the child with the parent version it was built on.
    let golden = store.load("golden").await.unwrap().unwrap().state;
    let desktop = store.load("desktop").await.unwrap().unwrap().state;
    let g = golden.current().unwrap();
    assert_eq!(g.images["eu-west-1"].image_id, "ec2-eu-west-1-golden");
    let d = desktop.current().unwrap();
    assert_eq!(d.target, recipe_targets::WORKSPACES);
    assert_eq!(d.parent.as_ref().unwrap().build_id, g.build_id);
    // Nothing left to do.
    let again = recipe_plan::plan(&set, &store, &registry, &recipe_testkit::plan_options())
        .await
        .unwrap();
    assert!(!again.has_changes());
}

#[tokio::test]
async fn a_failed_build_releases_its_builder_through_its_own_provider() {
    let dir = tempfile::tempdir().unwrap();
    let set = load(dir.path());
    let store = LocalStore::new(dir.path().join("state"));
    let ec2 = Fake::new(recipe_targets::EC2_AMI, "ec2", vec![]);
    let workspaces = Fake::new(
        recipe_targets::WORKSPACES,
        "workspaces",
        vec![("desktop", "capture")],
    );
    let mut registry = Registry::new();
    registry.register(ec2.clone()).register(workspaces.clone());

    let run = plan_and_apply(&set, &store, &registry).await;
    assert!(!run.ok);
    assert!(ec2.released.lock().unwrap().is_empty());
    let released = workspaces.released.lock().unwrap().clone();
    assert_eq!(
        released,
        [Leftover {
            recipe: "desktop".into(),
            builder: "workspaces-builder-desktop".into()
        }]
    );
    assert!(run.events.iter().any(|e| matches!(
        e,
        Event::Released {
            released: Released::Terminated,
            ..
        }
    )));
    // The parent is recorded; the child's build is recorded as failed, so the next plan builds it.
    let desktop = store.load("desktop").await.unwrap().unwrap().state;
    assert!(desktop.current().is_none());
    assert!(
        store
            .load("golden")
            .await
            .unwrap()
            .unwrap()
            .state
            .current()
            .is_some()
    );
}

/// A `manual` gate stops its build where it is: the builder is kept (not released), no image is
/// discarded, the recipe's state is not saved and the run's journal stays. The other recipes finish
/// and are saved. The next apply resumes the run past the gate: the build goes on from the gating
/// action on the same builder, and finishes.
#[tokio::test]
async fn a_gate_stops_its_build_keeps_the_builder_and_the_next_apply_goes_on_past_it() {
    let dir = tempfile::tempdir().unwrap();
    let set = load(dir.path());
    let store = LocalStore::new(dir.path().join("state"));
    let ec2 = Fake::new(recipe_targets::EC2_AMI, "ec2", vec![]);
    let workspaces = Fake::new(recipe_targets::WORKSPACES, "workspaces", vec![]);
    let gated = ("desktop".to_string(), "run-steps".to_string());
    workspaces.gate.lock().unwrap().push(gated.clone());
    let mut registry = Registry::new();
    registry.register(ec2.clone()).register(workspaces.clone());

    let first = plan_and_apply(&set, &store, &registry).await;
    assert!(!first.ok);
    let paused: Vec<&String> = first
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Paused { instructions, .. } => Some(instructions),
            _ => None,
        })
        .collect();
    assert_eq!(paused, ["sign the licence on the builder"]);
    assert!(
        workspaces.released.lock().unwrap().is_empty(),
        "the builder is kept"
    );
    assert!(workspaces.discarded.lock().unwrap().is_empty());
    assert!(
        store
            .load("desktop")
            .await
            .unwrap()
            .is_none_or(|s| s.state.current().is_none())
    );
    assert!(
        store
            .load("golden")
            .await
            .unwrap()
            .unwrap()
            .state
            .current()
            .is_some()
    );
    assert_eq!(
        store.runs().await.unwrap().len(),
        1,
        "the journal stays for the next apply"
    );
    let launched = |p: &Fake| {
        p.ran()
            .iter()
            .filter(|(r, a)| r == "desktop" && a == "launch-builder")
            .count()
    };
    assert_eq!(launched(&workspaces), 1);

    let second = plan_and_apply(&set, &store, &registry).await;
    assert!(second.ok, "{:?}", second.events);
    assert_eq!(launched(&workspaces), 1, "the same builder goes on");
    let gate_runs = workspaces
        .ran()
        .iter()
        .filter(|(r, a)| (r, a) == (&gated.0, &gated.1))
        .count();
    assert_eq!(gate_runs, 2, "the gating action runs again, past its gate");
    assert!(workspaces.released.lock().unwrap().is_empty());
    assert!(
        store
            .load("desktop")
            .await
            .unwrap()
            .unwrap()
            .state
            .current()
            .is_some()
    );
    assert!(
        store.runs().await.unwrap().is_empty(),
        "the finished run's journal is gone"
    );
}

#[tokio::test]
async fn recipes_of_a_target_without_a_provider_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let set = load(dir.path());
    let store = LocalStore::new(dir.path().join("state"));
    let mut registry = Registry::new();
    registry.register(Fake::new(recipe_targets::EC2_AMI, "ec2", vec![]));
    let plan = recipe_plan::plan(&set, &store, &registry, &recipe_testkit::plan_options())
        .await
        .unwrap();
    assert_eq!(
        registry.unserved(&plan),
        [("desktop", recipe_targets::WORKSPACES)]
    );
}

#[tokio::test]
async fn the_image_of_a_build_that_did_not_finish_is_discarded_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let set = load(dir.path());
    let store = LocalStore::new(dir.path().join("state"));
    // The child's image is captured, then never becomes available.
    let ec2 = Fake::new(recipe_targets::EC2_AMI, "ec2", vec![]);
    let workspaces = Fake::new(
        recipe_targets::WORKSPACES,
        "workspaces",
        vec![("desktop", "wait-available")],
    );
    let mut registry = Registry::new();
    registry.register(ec2.clone()).register(workspaces.clone());

    let run = plan_and_apply(&set, &store, &registry).await;
    assert!(!run.ok);
    let discarded = workspaces.discarded.lock().unwrap().clone();
    assert_eq!(
        discarded,
        [Unfinished {
            recipe: "desktop".into(),
            region: "eu-west-2".into(),
            image: "workspaces-image-desktop".into(),
        }]
    );
    assert!(
        ec2.discarded.lock().unwrap().is_empty(),
        "the parent finished"
    );
    assert!(
        run.events
            .iter()
            .any(|e| matches!(e, Event::Discarded { result: Ok(()), .. }))
    );
    // The failed version keeps no image: nothing is left unowned under it.
    let desktop = store.load("desktop").await.unwrap().unwrap().state;
    assert!(desktop.versions.iter().all(|v| v.images.is_empty()));
}

/// An apply killed while the child's capture runs: the parent's state was saved when its own actions
/// finished, the run's journal is kept by the store, and the next apply resumes it without repeating
/// anything that finished, then forgets the journal.
#[tokio::test]
async fn a_killed_apply_saved_each_finished_recipe_and_the_next_resumes_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let set = load(dir.path());
    let store = LocalStore::new(dir.path().join("state"));
    let ec2 = Fake::new(recipe_targets::EC2_AMI, "ec2", vec![]);
    let workspaces = Fake::new(recipe_targets::WORKSPACES, "workspaces", vec![]);
    workspaces
        .hang
        .lock()
        .unwrap()
        .push(("desktop".into(), "capture".into()));
    let mut registry = Registry::new();
    registry.register(ec2.clone()).register(workspaces.clone());

    let plan = recipe_plan::plan(&set, &store, &registry, &recipe_testkit::plan_options())
        .await
        .unwrap();
    let golden: Vec<usize> = plan
        .actions
        .iter()
        .filter(|a| a.recipe == "golden")
        .map(|a| a.id)
        .collect();
    let capture = plan
        .actions
        .iter()
        .find(|a| a.recipe == "desktop" && a.action.name() == "capture")
        .unwrap()
        .id;
    let (opts, cancel) = (recipe_testkit::apply_options(), CancelToken::new());
    let prepared = prepare(&store, plan, false, opts.lock_timeout, &|_, _| {})
        .await
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let applying = Applying {
        store: &store,
        registry: &registry,
        set: &set,
        opts: &opts,
        events: Events::new(tx),
        cancel: &cancel,
    };
    // "kill -9": drop the apply once every parent action succeeded and the child's capture runs.
    let killer = async {
        let (mut done, mut capturing) = (Vec::new(), false);
        while let Some(e) = rx.recv().await {
            match e {
                Event::Succeeded { id, .. } if golden.contains(&id) => done.push(id),
                Event::Started { id, .. } if id == capture => capturing = true,
                _ => {}
            }
            if capturing && done.len() == golden.len() {
                return;
            }
        }
    };
    tokio::select! {
        _ = prepared.apply(&applying) => panic!("the capture hangs: the apply cannot end"),
        () = killer => {}
    }
    drop(applying);
    // The parent is in state already; the child is not; the run's journal is in the store.
    let g = store.load("golden").await.unwrap().unwrap().state;
    assert!(g.current().is_some_and(|v| v.images.len() == 2), "{g:?}");
    assert!(store.load("desktop").await.unwrap().is_none());
    assert_eq!(store.runs().await.unwrap().len(), 1);
    // A dead process's locks: `recipe state unlock` (the local store takes them over by pid).
    for r in ["golden", "desktop"] {
        store.force_unlock(r).await.unwrap();
    }
    workspaces.hang.lock().unwrap().clear();
    let (ec2_before, app_before) = (ec2.ran().len(), workspaces.ran().len());

    let run = plan_and_apply(&set, &store, &registry).await;
    assert!(run.ok, "{:?}", run.events);
    assert_eq!(
        ec2.ran().len(),
        ec2_before,
        "the parent is not touched again"
    );
    let again: Vec<String> = workspaces.ran()[app_before..]
        .iter()
        .map(|(_, a)| a.clone())
        .collect();
    assert!(!again.contains(&"launch-builder".to_string()), "{again:?}");
    assert_eq!(again.first().map(String::as_str), Some("capture"));
    let d = store.load("desktop").await.unwrap().unwrap().state;
    let g = store.load("golden").await.unwrap().unwrap().state;
    assert_eq!(
        d.current().unwrap().parent.as_ref().unwrap().build_id,
        g.current().unwrap().build_id
    );
    assert_eq!(g.versions.len(), 1, "the parent was recorded once");
    assert!(
        store.runs().await.unwrap().is_empty(),
        "the journal is forgotten"
    );
}

/// A panic in the lifecycle itself (here in a provider's release, after the run) still releases the
/// locks before it goes on: the next apply is not stranded.
#[tokio::test]
async fn a_panic_in_the_lifecycle_releases_the_locks() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::new(dir.path().join("state"));
    let ec2 = Fake::new(recipe_targets::EC2_AMI, "ec2", vec![]);
    let workspaces = Fake::new(
        recipe_targets::WORKSPACES,
        "workspaces",
        vec![("desktop", "capture")],
    );
    workspaces
        .panic_on_release
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let mut registry = Registry::new();
    registry.register(ec2.clone()).register(workspaces.clone());
    let (path, store2, registry2) = (dir.path().to_path_buf(), store.clone(), registry.clone());
    let applied = tokio::spawn(async move {
        let set = load(&path);
        plan_and_apply(&set, &store2, &registry2).await
    });
    let Err(err) = applied.await else {
        panic!("the apply panics")
    };
    assert!(err.is_panic());
    let me = recipe_state::LockInfo::for_this_process("test");
    for r in ["golden", "desktop"] {
        store
            .lock(r, &me, Duration::ZERO)
            .await
            .expect("not left locked");
    }
}
