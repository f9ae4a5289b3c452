//! `recipe apply`: make a plan real.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use recipe_engine::apply::{ApplyError, ApplyOptions, Applying, Prepared, check_saved, prepare};
use recipe_engine::{
    CancelToken, EngineOptions, Event, Events, JournalEntry, Limits, Registry, Released,
};
use recipe_plan::{ActionKind, Plan};

use crate::exit::Exit;
use crate::plan_cmd::{PlanningArgs, make_plan, runtime};
use crate::progress::{Mode, Progress};
use crate::{LoadArgs, render};

/// `--max-builders` when not given: no limit of the tool's own; the providers' ceilings (the EC2
/// quota's room, 20 for WorkSpaces and AppStream) bound the builders.
const UNBOUNDED_BUILDERS: usize = 1000;

#[derive(clap::Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    load: LoadArgs,
    #[command(flatten)]
    planning: PlanningArgs,
    /// A plan saved with `recipe plan --out` (refused if it went stale); otherwise PATHS are planned now.
    #[arg(long, value_name = "FILE")]
    plan: Option<PathBuf>,
    /// Apply without asking. Required without a terminal.
    #[arg(long)]
    auto_approve: bool,
    /// Actions making calls at once. Actions waiting on the cloud (an image, a copy, a command) hold
    /// no slot.
    #[arg(long, default_value_t = 8, value_name = "N")]
    parallelism: usize,
    /// Builders running at once per service and region; launches beyond it are queued. By default
    /// what the account allows: EC2 reads the room its vCPU quota leaves in each region (Service
    /// Quotas), WorkSpaces and AppStream allow 20. A launch the quota still refuses is queued too.
    #[arg(long, default_value_t = UNBOUNDED_BUILDERS, value_name = "N")]
    max_builders: usize,
    /// Image copies in flight per destination region (EC2 allows 25 from one source region);
    /// copies beyond it are queued.
    #[arg(long, default_value_t = Limits::default().copies, value_name = "N")]
    max_copies: usize,
    /// Print events as JSON lines instead of progress.
    #[arg(long, conflicts_with = "quiet")]
    json: bool,
    /// Print only failures, gates, problems and the summary (not the plan or each action).
    #[arg(long, short)]
    quiet: bool,
    /// Stop starting work after the first failure.
    #[arg(long)]
    fail_fast: bool,
    /// Keep the builders of failed builds for debugging. They are tagged `recipe:keep=debug`, which
    /// later sweeps leave alone; terminate them when done.
    #[arg(long)]
    keep_on_error: bool,
    /// How often to poll instances, commands and images, in milliseconds (default 5000; 50 with
    /// --sandbox).
    #[arg(long, value_name = "MS")]
    poll_interval_ms: Option<u64>,
    /// In logs (no terminal), how often to print a line per running action saying what it waits
    /// for and for how long; `0s` for never.
    #[arg(
        long,
        default_value = "30s",
        value_name = "DURATION",
        env = "RECIPE_HEARTBEAT"
    )]
    heartbeat: recipe_model::Duration,
    /// How long to wait for a recipe's state lock.
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    lock_timeout: recipe_model::Duration,
    /// Sign each new image version's provenance with this ECDSA P-256 key (PKCS#8 PEM); it is kept
    /// beside the state and checked by `recipe verify` (docs/supply-chain.md). Without it the
    /// provenance is kept unsigned.
    #[arg(long, env = "RECIPE_SIGNING_KEY", value_name = "FILE")]
    sign_key: Option<PathBuf>,
    /// Sign provenance with this AWS KMS key instead (id, ARN or alias; an `ECC_NIST_P256`
    /// `SIGN_VERIFY` key): KMS Sign on the SHA-256 of each envelope's encoding.
    #[arg(
        long,
        env = "RECIPE_SIGNING_KMS_KEY",
        value_name = "KEY-ID",
        conflicts_with = "sign_key"
    )]
    sign_kms_key: Option<String>,
}

impl ApplyArgs {
    fn clone_for_saved_plan(a: &ApplyArgs) -> ApplyArgs {
        ApplyArgs {
            load: LoadArgs {
                paths: a.load.paths.clone(),
                vars: a.load.vars.clone(),
                allow_regions: a.load.allow_regions.clone(),
            },
            planning: a.planning.clone(),
            plan: a.plan.clone(),
            auto_approve: a.auto_approve,
            parallelism: a.parallelism,
            max_builders: a.max_builders,
            max_copies: a.max_copies,
            json: a.json,
            quiet: a.quiet,
            fail_fast: a.fail_fast,
            keep_on_error: a.keep_on_error,
            poll_interval_ms: a.poll_interval_ms,
            lock_timeout: a.lock_timeout,
            sign_key: a.sign_key.clone(),
            sign_kms_key: a.sign_kms_key.clone(),
            heartbeat: a.heartbeat,
        }
    }
}

/// The saved plan, read before anything else: a plan of another format or edited by hand is refused
/// with where and why, and nothing is done.
fn read_saved(path: &Path) -> Result<Plan, Exit> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        let _ = writeln!(
            std::io::stderr(),
            "error: cannot read the saved plan `{shown}`: {e}\n  help: pass the file `recipe plan --out FILE` wrote"
        );
        Exit::Invalid
    })?;
    Plan::from_json(&shown, &text).map_err(|e| render::report(&e))
}

fn out(line: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

fn confirm(plan: &Plan) -> std::io::Result<bool> {
    let (b, u, _) = plan.summary();
    let (copies, retire) = plan.removals();
    let mut err = std::io::stderr().lock();
    write!(
        err,
        "Apply {b} build(s) and {u} update(s), deleting {copies} copy(ies) and retiring {retire} version(s)? Only `yes` applies: "
    )?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}

/// `recipe apply`.
pub fn apply(args: &ApplyArgs) -> std::io::Result<Exit> {
    runtime()?.block_on(apply_async(args))
}

/// `recipe apply plan.json`: a saved plan given as the path stands for `--plan plan.json` with the
/// recipe files it was made from.
fn with_saved_plan(args: &ApplyArgs) -> Result<Option<(ApplyArgs, Plan)>, Exit> {
    let given = match (&args.plan, args.load.paths.as_slice()) {
        (Some(p), _) => p.clone(),
        (None, [p]) if p.extension().is_some_and(|e| e == "json") && p.is_file() => p.clone(),
        _ => return Ok(None),
    };
    let saved = read_saved(&given)?;
    let mut owned = ApplyArgs::clone_for_saved_plan(args);
    owned.plan = Some(given);
    // The cloud the plan was made for: the sandbox, or the endpoint it named.
    owned.planning.cloud.sandbox |= saved.cloud.sandbox;
    if owned.planning.cloud.endpoint_url.is_none() {
        owned
            .planning
            .cloud
            .endpoint_url
            .clone_from(&saved.cloud.endpoint);
    }
    owned.load.paths = saved
        .recipes
        .iter()
        .map(|r| PathBuf::from(&r.file))
        .collect();
    Ok(Some((owned, saved)))
}

async fn apply_async(args: &ApplyArgs) -> std::io::Result<Exit> {
    let (owned, saved) = match with_saved_plan(args) {
        Ok(Some((a, p))) => (Some(a), Some(p)),
        Ok(None) => (None, None),
        Err(exit) => return Ok(exit),
    };
    let args = owned.as_ref().unwrap_or(args);
    let poll = args.poll_interval_ms.map(Duration::from_millis);
    let planned = match make_plan(&args.load, &args.planning, poll).await? {
        Ok(p) => p,
        Err(exit) => return Ok(exit),
    };
    let given = saved.is_some();
    let plan = match saved {
        Some(saved) => match check_saved(&planned.plan, saved) {
            Ok(p) => p,
            Err(stale) => {
                let exit = if stale.inconsistent {
                    Exit::Invalid
                } else {
                    Exit::Plan
                };
                return Ok(render::report_as(&stale, exit));
            }
        },
        None => planned.plan.clone(),
    };
    let prepared = match locked_plan(args, &planned, plan, given).await? {
        Ok(p) => p,
        Err(exit) => return Ok(exit),
    };
    say_what_dead_runs_left(&prepared)?;
    match show_and_confirm(args, &prepared.plan) {
        Ok(None) => run(args, &planned, prepared).await,
        other => {
            prepared.release().await;
            Ok(other?.unwrap_or(Exit::Ok))
        }
    }
}

type Locked<'s> = Prepared<'s, crate::store::AnyStore>;

/// Lock the recipes `plan` changes. When another run saved state of one of them while this one
/// waited for its lock (a CI job queued behind another), the plan is made again under the locks,
/// against what that run left, as Terraform does. A saved plan is not: it is refused as stale.
/// `Err(exit)` when there is nothing to apply (reported).
async fn locked_plan<'p>(
    args: &ApplyArgs,
    planned: &'p crate::plan_cmd::Planned,
    plan: Plan,
    given: bool,
) -> std::io::Result<Result<Locked<'p>, Exit>> {
    if let Some(exit) = refuse(args, &planned.registry, &plan)? {
        return Ok(Err(exit));
    }
    let mut prepared = match take_locks(args, &planned.store, plan, given).await {
        Ok(p) => p,
        Err(e) => return Ok(Err(render::report_as(&e, Exit::Plan))),
    };
    loop {
        let moved = match (given, prepared.moved(&planned.set).await) {
            (true, _) => Vec::new(),
            (false, Ok(moved)) => moved,
            (false, Err(e)) => {
                let exit = render::report_as(&e, Exit::Plan);
                return Ok(Err(released(prepared, exit).await));
            }
        };
        if moved.is_empty() {
            return Ok(Ok(prepared));
        }
        writeln!(
            std::io::stderr(),
            "{}: planning again now that the locks are held",
            moved.join("; ")
        )?;
        let fresh = match planned.again().await {
            Ok(p) => p,
            Err(exit) => return Ok(Err(released(prepared, exit).await)),
        };
        if let Some(exit) = refuse(args, &planned.registry, &fresh)? {
            return Ok(Err(released(prepared, exit).await));
        }
        prepared = match prepared.replanned(fresh.clone()).await {
            Ok(Some(p)) => p,
            Ok(None) => match take_locks(args, &planned.store, fresh, given).await {
                Ok(p) => p,
                Err(e) => return Ok(Err(render::report_as(&e, Exit::Plan))),
            },
            Err(e) => return Ok(Err(render::report_as(&e, Exit::Plan))),
        };
    }
}

async fn released(prepared: Locked<'_>, exit: Exit) -> Exit {
    prepared.release().await;
    exit
}

/// `Some(exit)` when `plan` is not applied: a target no provider serves, a preflight problem, or
/// nothing to do (said so).
fn refuse(args: &ApplyArgs, registry: &Registry, plan: &Plan) -> std::io::Result<Option<Exit>> {
    if let Some(exit) = refuse_unserved(registry, plan)? {
        return Ok(Some(exit));
    }
    if let Some(exit) = refuse_problems(plan)? {
        return Ok(Some(exit));
    }
    if !plan.has_changes() {
        return Ok(Some(show_and_confirm(args, plan)?.unwrap_or(Exit::Ok)));
    }
    Ok(None)
}

/// Take the locks (saying whom it waits for), and find what dead runs left.
async fn take_locks<'s>(
    args: &ApplyArgs,
    store: &'s crate::store::AnyStore,
    plan: Plan,
    given: bool,
) -> Result<Locked<'s>, recipe_engine::apply::ApplyError> {
    let timeout = args.lock_timeout;
    let waiting = move |recipe: &str, holder: &str| {
        let _ = writeln!(
            std::io::stderr(),
            "waiting up to {timeout} for the lock on `{recipe}`, held by {holder}"
        );
    };
    let timeout = Duration::from_secs(timeout.as_secs());
    prepare(store, plan, given, timeout, &waiting).await
}

fn say_what_dead_runs_left(prepared: &Locked<'_>) -> std::io::Result<()> {
    let mut err = std::io::stderr().lock();
    if let Some(run) = &prepared.resumed {
        writeln!(
            err,
            "resuming the apply interrupted at {} (run {}): its finished actions are not repeated",
            run.plan.created_at, run.id
        )?;
    }
    for run in &prepared.taken_over {
        writeln!(
            err,
            "an apply interrupted at {} (run {}) is not resumed, as its plan no longer holds: the builders and unrecorded images it left are removed",
            run.plan.created_at, run.id
        )?;
    }
    Ok(())
}

/// A build whose builder lacks a prerequisite (preflight) is refused before anything is made.
fn refuse_problems(plan: &Plan) -> std::io::Result<Option<Exit>> {
    let found: Vec<String> = plan
        .recipes
        .iter()
        .flat_map(|r| {
            r.problems
                .iter()
                .map(move |p| format!("  {}: {p}", r.recipe))
        })
        .collect();
    if found.is_empty() {
        return Ok(None);
    }
    writeln!(
        std::io::stderr(),
        "error: the plan's preflight found what the builders lack; nothing was changed:\n{}",
        found.join("\n")
    )?;
    Ok(Some(Exit::Plan))
}

/// A plan that changes recipes of a target no provider serves is refused before it is shown.
fn refuse_unserved(registry: &Registry, plan: &Plan) -> std::io::Result<Option<Exit>> {
    let unserved = registry.unserved(plan);
    if unserved.is_empty() {
        return Ok(None);
    }
    let list: Vec<String> = unserved
        .iter()
        .map(|(r, t)| format!("{r} ({})", t.as_str()))
        .collect();
    let served: Vec<&str> = registry.targets().map(|t| t.as_str()).collect();
    writeln!(
        std::io::stderr(),
        "error: no provider for these recipes' targets is built into this recipe: {}. It applies {} recipes; use --target to apply those.",
        list.join(", "),
        served.join(", ")
    )?;
    Ok(Some(Exit::Plan))
}

/// Print the plan; `Some(exit)` when there is nothing to do or it was not approved.
fn show_and_confirm(args: &ApplyArgs, plan: &Plan) -> std::io::Result<Option<Exit>> {
    if args.quiet {
        out(&recipe_plan::render::summary_line(plan));
    } else if !args.json {
        out(&recipe_plan::render::human(plan));
    }
    if !plan.has_changes() {
        if args.json {
            out(r#"{"event":"done","changes":0}"#);
        } else {
            out("Nothing to do: the images match the recipes.");
        }
        return Ok(Some(Exit::Ok));
    }
    if args.auto_approve {
        return Ok(None);
    }
    if !std::io::stdin().is_terminal() {
        writeln!(
            std::io::stderr(),
            "error: refusing to apply without a terminal to confirm on: pass --auto-approve"
        )?;
        return Ok(Some(Exit::Declined));
    }
    if !confirm(plan)? {
        // As Terraform: declining is not success, so a script that asked does not go on.
        writeln!(std::io::stderr(), "not applied: the answer was not `yes`")?;
        return Ok(Some(Exit::Declined));
    }
    Ok(None)
}

/// Builders launched and not yet terminated, by recipe, for the message of a second Ctrl-C.
type LiveBuilders = Arc<Mutex<BTreeMap<String, String>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Follow builders through the events: launched, then terminated by the build or released after a
/// failure or an interrupt.
fn track(builders: &LiveBuilders, plan: &Plan, e: &Event) {
    match e {
        Event::Released {
            leftover,
            released: Released::Terminated,
        } => {
            lock(builders).remove(&leftover.recipe);
        }
        Event::Succeeded { id, outputs, .. } => {
            let Some(a) = plan.actions.get(*id) else {
                return;
            };
            let mut b = lock(builders);
            if let Some(i) = &outputs.builder {
                b.insert(a.recipe.clone(), i.clone());
            }
            if a.action == ActionKind::TerminateBuilder {
                b.remove(&a.recipe);
            }
        }
        _ => {}
    }
}

/// Builders of a resumed run come from its journal: their actions will not report again.
fn resumed_builders(prepared: &Locked<'_>) -> LiveBuilders {
    let builders: LiveBuilders = Arc::default();
    let Some(run) = &prepared.resumed else {
        return builders;
    };
    for (id, entry) in &run.entries {
        if let JournalEntry::Succeeded { outputs } = entry {
            let e = Event::Succeeded {
                id: *id,
                outputs: outputs.clone(),
                elapsed_ms: 0,
            };
            track(&builders, &prepared.plan, &e);
        }
    }
    builders
}

async fn run(
    args: &ApplyArgs,
    planned: &crate::plan_cmd::Planned,
    prepared: Locked<'_>,
) -> std::io::Result<Exit> {
    let progress = Arc::new(Progress::new(
        Mode::pick(args.json, args.quiet),
        &prepared.plan,
    ));
    let builders = resumed_builders(&prepared);
    let cancel = CancelToken::new();
    let mut interrupts = Interrupts::new()?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    // One listener for both Ctrl-Cs, registered once before the plan runs, so that a second one sent
    // right after the first is not lost between two registrations.
    let (c2, b2, p2) = (cancel.clone(), Arc::clone(&builders), Arc::clone(&progress));
    tokio::spawn(async move { on_interrupts(&mut interrupts, &c2, &b2, &p2).await });
    let (p3, b3, plan) = (
        Arc::clone(&progress),
        Arc::clone(&builders),
        prepared.plan.clone(),
    );
    let printer = tokio::spawn(async move {
        while let Some(e) = rx.recv().await {
            track(&b3, &plan, &e);
            p3.event(&e);
        }
    });
    let heartbeat = tokio::spawn(beat(Arc::clone(&progress), args.heartbeat));
    let opts = ApplyOptions {
        engine: EngineOptions {
            parallelism: args.parallelism,
            limits: Limits {
                builders: args.max_builders,
                copies: args.max_copies,
            },
            fail_fast: args.fail_fast,
            ..EngineOptions::default()
        },
        keep_on_error: args.keep_on_error,
        lock_timeout: Duration::from_secs(args.lock_timeout.as_secs()),
    };
    let plan = prepared.plan.clone();
    let applying = Applying {
        store: &planned.store,
        registry: &planned.registry,
        set: &planned.set,
        opts: &opts,
        events: Events::new(tx),
        cancel: &cancel,
    };
    let result = prepared.apply(&applying).await;
    drop(applying);
    let _ = printer.await;
    heartbeat.abort();
    progress.finish();
    match result {
        Ok(done) => {
            let exit = crate::summary::summary(&plan, &done, &progress, args.json);
            if let (Some(sim), false) = (&planned.cloud.sim, args.json) {
                sandbox_artifacts(sim, &done);
            }
            keep_evidence(args, planned, &done).await?;
            Ok(exit)
        }
        // State that moved while a saved plan waited for its lock: nothing was changed.
        Err(e @ ApplyError::Stale(_)) => Ok(render::report_as(&e, Exit::Plan)),
        Err(e) => Ok(render::report_as(&e, Exit::Failed)),
    }
}

/// Keep each new version's provenance (signed with `--sign-key`) and, in the sandbox, its SBOM.
async fn keep_evidence(
    args: &ApplyArgs,
    planned: &crate::plan_cmd::Planned,
    done: &recipe_engine::apply::ApplyReport,
) -> std::io::Result<()> {
    let sim = planned.cloud.sim.as_ref();
    let key = match (&args.sign_key, sim) {
        (Some(k), _) => Ok(Some(k.clone())),
        (None, Some(_)) => {
            let dot = crate::root::Anchor::of(&args.load.paths).dot_recipe();
            crate::evidence::sandbox_key(&dot).map(Some)
        }
        (None, None) => Ok(None),
    };
    let signer = match &args.sign_kms_key {
        Some(id) => crate::evidence::Signer::kms(&planned.cloud.aws.sdk, id).await,
        None => key.and_then(|k| crate::evidence::Signer::from_path(k.as_deref())),
    };
    let signer = match signer {
        Ok(s) => s,
        Err(e) => {
            out(&format!("Evidence not kept: {e}"));
            return Ok(());
        }
    };
    let at = |image: &str| sim.and_then(|s| s.artifact(image));
    let artifacts: Option<crate::evidence::Artifacts<'_>> = sim.map(|_| &at as _);
    let lines =
        crate::evidence::record(&planned.store, &planned.set, done, artifacts, &signer).await;
    if !lines.is_empty() && !args.json && !args.quiet {
        out("Evidence kept beside the state (check with `recipe verify RECIPE`):");
        for l in lines {
            out(&l);
        }
    }
    Ok(())
}

/// In the sandbox: where each EC2 image's root filesystem is, or that its steps did not run
/// (a base with no sandbox root, docs/sandbox.md).
fn sandbox_artifacts(sim: &aws_sim::Sim, done: &recipe_engine::apply::ApplyReport) {
    let mut lines = Vec::new();
    for (recipe, o) in &done.outputs.0 {
        for (region, image) in &o.images {
            lines.push(match sim.artifact(image) {
                Some(path) => format!("  {recipe} {region} {image}: artifact {}", crate::evidence::shown(&path)),
                None => format!("  {recipe} {region} {image}: steps not executed (its base has no sandbox root; docs/sandbox.md)"),
            });
        }
    }
    if lines.is_empty() {
        return;
    }
    out("Sandbox images (open one with `tar --zstd -xf <artifact> -C <folder>`):");
    for l in lines {
        out(&l);
    }
}

/// A heartbeat line per running action every `every` (never, at zero).
async fn beat(progress: Arc<Progress>, every: recipe_model::Duration) {
    let every = Duration::from_secs(every.as_secs());
    if every.is_zero() {
        return;
    }
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tick.tick().await;
        progress.heartbeat();
    }
}

/// A second SIGINT sooner than this after the first is the same interrupt: GNU `timeout -s INT` and
/// some CI runners signal both the process and its group, so one stop arrives twice.
const SAME_INTERRUPT: Duration = Duration::from_secs(1);

/// The first Ctrl-C stops new work; the second (a second or more later) exits at once, naming the
/// builders it leaves.
async fn on_interrupts(
    interrupts: &mut Interrupts,
    cancel: &CancelToken,
    builders: &LiveBuilders,
    progress: &Progress,
) {
    if !interrupts.next().await {
        return;
    }
    let _ = writeln!(
        std::io::stderr(),
        "\ninterrupted: finishing running actions, starting nothing new, then cleaning up (Ctrl-C again to exit now)"
    );
    cancel.cancel();
    let first = tokio::time::Instant::now();
    loop {
        if !interrupts.next().await {
            return;
        }
        if first.elapsed() >= SAME_INTERRUPT {
            break;
        }
    }
    progress.finish();
    let left: Vec<String> = lock(builders)
        .iter()
        .map(|(r, i)| format!("{i} ({r})"))
        .collect();
    let _ = writeln!(
        std::io::stderr(),
        "exiting now. May be left: {}, and images being captured or copied. All carry the recipe:build-id tag; the next apply resumes from the journal, or terminates the builders if the plan changed.",
        if left.is_empty() {
            "no builder known to be running".to_string()
        } else {
            format!("builders {}", left.join(", "))
        }
    );
    std::process::exit(Exit::Interrupted.code().into());
}

/// Ctrl-C (SIGINT), received through one registration.
struct Interrupts {
    #[cfg(unix)]
    sig: tokio::signal::unix::Signal,
}

impl Interrupts {
    fn new() -> std::io::Result<Interrupts> {
        Ok(Interrupts {
            #[cfg(unix)]
            sig: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?,
        })
    }

    async fn next(&mut self) -> bool {
        #[cfg(unix)]
        return self.sig.recv().await.is_some();
        #[cfg(not(unix))]
        return tokio::signal::ctrl_c().await.is_ok();
    }
}
