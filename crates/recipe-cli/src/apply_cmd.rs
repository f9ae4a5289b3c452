//! `recipe apply`: make a plan real.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use recipe_engine::{CancelToken, EngineOptions, Event, Journal, Report};
use recipe_plan::{ActionKind, Change, Plan};
use recipe_state::{LockInfo, RecipeState, RegionImage, Share, StateStore, VersionStatus};

use crate::exit::Exit;
use crate::plan_cmd::{Planned, PlanningArgs, make_plan, runtime};
use crate::progress::{Mode, Progress};
use crate::{LoadArgs, render};

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
    /// Actions running at once.
    #[arg(long, default_value_t = 8)]
    parallelism: usize,
    /// Print events as JSON lines instead of progress.
    #[arg(long)]
    json: bool,
    /// Stop starting work after the first failure.
    #[arg(long)]
    fail_fast: bool,
    /// Keep builders of failed builds for debugging (they stay tagged with recipe:build-id).
    #[arg(long)]
    keep_on_error: bool,
    /// How often to poll instances, commands and images, in milliseconds (default 5000; 50 with
    /// --sandbox).
    #[arg(long, value_name = "MS")]
    poll_interval_ms: Option<u64>,
    /// How long to wait for a recipe's state lock.
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    lock_timeout: recipe_model::Duration,
}

impl ApplyArgs {
    fn clone_for_saved_plan(a: &ApplyArgs) -> ApplyArgs {
        ApplyArgs {
            load: LoadArgs {
                paths: a.load.paths.clone(),
                vars: a.load.vars.clone(),
            },
            planning: a.planning.clone(),
            plan: a.plan.clone(),
            auto_approve: a.auto_approve,
            parallelism: a.parallelism,
            json: a.json,
            fail_fast: a.fail_fast,
            keep_on_error: a.keep_on_error,
            poll_interval_ms: a.poll_interval_ms,
            lock_timeout: a.lock_timeout,
        }
    }
}

/// The recipe files a saved plan was made from.
fn saved_plan_paths(path: &std::path::Path) -> std::io::Result<Vec<PathBuf>> {
    let plan: Plan = serde_json::from_str(&std::fs::read_to_string(path)?).map_err(|e| {
        std::io::Error::other(format!("`{}` is not a saved plan: {e}", path.display()))
    })?;
    Ok(plan
        .recipes
        .iter()
        .map(|r| PathBuf::from(&r.file))
        .collect())
}

fn out(line: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

fn confirm(plan: &Plan) -> std::io::Result<bool> {
    let (b, u, _) = plan.summary();
    let mut err = std::io::stderr().lock();
    write!(
        err,
        "Apply {b} build(s) and {u} update(s)? Only `yes` applies: "
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

async fn apply_async(args: &ApplyArgs) -> std::io::Result<Exit> {
    // `recipe apply plan.json`: a saved plan given as the path.
    let mut owned;
    let mut args = args;
    if args.plan.is_none()
        && args.load.paths.len() == 1
        && args.load.paths[0].extension().is_some_and(|e| e == "json")
        && args.load.paths[0].is_file()
    {
        owned = ApplyArgs::clone_for_saved_plan(args);
        owned.plan = Some(args.load.paths[0].clone());
        owned.load.paths = saved_plan_paths(&args.load.paths[0])?;
        args = &owned;
    }
    let planned = match make_plan(&args.load, &args.planning).await? {
        Ok(p) => p,
        Err(exit) => return Ok(exit),
    };
    let Planned {
        set,
        plan: fresh,
        store,
        cloud,
    } = planned;
    let journal_dir = if args.planning.cloud.sandbox {
        crate::cloud::sandbox_dir().join("journal")
    } else {
        PathBuf::from(".recipe/journal")
    };
    let mut journal = match Journal::open(&journal_dir, "apply") {
        Ok(j) => j,
        Err(e) => {
            writeln!(std::io::stderr(), "error: {e}")?;
            return Ok(Exit::Invalid);
        }
    };
    // An apply that was interrupted (crash, kill -9) is resumed as it was planned, if nothing moved.
    let interrupted = journal
        .saved_plan
        .clone()
        .filter(|p| !journal.entries.is_empty() && p.resumable(&fresh));
    let plan = if let (None, Some(previous)) = (&args.plan, interrupted) {
        writeln!(
            std::io::stderr(),
            "resuming the apply interrupted at {} (its finished actions are not repeated)",
            previous.created_at
        )?;
        previous
    } else {
        match &args.plan {
            Some(path) => {
                let text = std::fs::read_to_string(path)?;
                let saved: Plan = match serde_json::from_str(&text) {
                    Ok(p) => p,
                    Err(e) => {
                        writeln!(
                            std::io::stderr(),
                            "error: `{}` is not a saved plan: {e}",
                            path.display()
                        )?;
                        return Ok(Exit::Invalid);
                    }
                };
                if let Err(stale) = saved.check_fresh(&fresh.basis) {
                    return Ok(render::report(&stale));
                }
                saved
            }
            None => fresh,
        }
    };
    if !args.json {
        out(&recipe_plan::render::human(&plan));
    }
    if !plan.has_changes() {
        if args.json {
            out(r#"{"event":"done","changes":0}"#);
        } else {
            out("Nothing to do: the images match the recipes.");
        }
        return Ok(Exit::Ok);
    }
    let unsupported: Vec<&str> = plan
        .recipes
        .iter()
        .filter(|r| r.change != Change::None && r.target != recipe_model::Target::Ec2Ami)
        .map(|r| r.recipe.as_str())
        .collect();
    if !unsupported.is_empty() {
        writeln!(
            std::io::stderr(),
            "error: apply supports ec2-ami recipes so far; the WorkSpaces and AppStream providers are not built yet ({}). Use --target to apply the EC2 recipes.",
            unsupported.join(", ")
        )?;
        return Ok(Exit::Invalid);
    }
    if !args.auto_approve {
        if !std::io::stdin().is_terminal() {
            writeln!(
                std::io::stderr(),
                "error: refusing to apply without a terminal to confirm on: pass --auto-approve"
            )?;
            return Ok(Exit::Invalid);
        }
        if !confirm(&plan)? {
            writeln!(std::io::stderr(), "not applied")?;
            return Ok(Exit::Ok);
        }
    }

    // Lock every recipe the plan changes.
    let me = LockInfo::for_this_process("apply");
    let touched: BTreeSet<String> = plan.actions.iter().map(|a| a.recipe.clone()).collect();
    let mut locked: Vec<String> = Vec::new();
    for r in &touched {
        if let Err(e) = store
            .lock(r, &me, Duration::from_secs(args.lock_timeout.as_secs()))
            .await
        {
            unlock_all(&store, &locked).await;
            return Ok(render::report(&e));
        }
        locked.push(r.clone());
    }
    // The plan was computed before the locks were taken: if another run saved state in between, the
    // plan is stale and applying it would overwrite that run's record.
    let state_before = match recipe_plan::read_state(&set, &store).await {
        Ok(s) => s,
        Err(e) => {
            unlock_all(&store, &locked).await;
            return Ok(render::report(&e));
        }
    };
    let moved: Vec<String> = plan
        .basis
        .state
        .iter()
        .filter(|(r, rev)| {
            touched.contains(*r) && state_before.get(*r).map(|s| s.revision.0.clone()) != **rev
        })
        .map(|(r, _)| format!("state of `{r}` changed while waiting for its lock"))
        .collect();
    if !moved.is_empty() {
        unlock_all(&store, &locked).await;
        return Ok(render::report(&recipe_plan::StalePlan { reasons: moved }));
    }
    let plain: BTreeMap<String, RecipeState> = state_before
        .iter()
        .map(|(k, v)| (k.clone(), v.state.clone()))
        .collect();

    let names: Vec<String> = plan
        .actions
        .iter()
        .map(|a| format!("{}: {}", a.recipe, a.action))
        .collect();
    let progress = Arc::new(Progress::new(Mode::pick(args.json), names));

    // What killed runs left: builders of builds this apply does not run, and the images of an
    // interrupted apply that is not resumed (its plan went stale).
    let current: BTreeSet<String> = plan
        .recipes
        .iter()
        .filter_map(|r| r.build.as_ref().map(|b| b.build_id.clone()))
        .collect();
    let abandoned: BTreeSet<String> = journal
        .saved_plan
        .iter()
        .flat_map(|p| p.recipes.iter())
        .filter_map(|r| r.build.as_ref().map(|b| b.build_id.clone()))
        .filter(|b| !current.contains(b))
        .collect();
    let recorded: BTreeSet<String> = plain
        .values()
        .flat_map(|s| s.versions.iter())
        .flat_map(|v| v.images.values().map(|i| i.image_id.clone()))
        .collect();
    let scopes: Vec<recipe_provider_ec2::SweepScope> = plan
        .recipes
        .iter()
        .filter(|r| touched.contains(&r.recipe) && r.target == recipe_model::Target::Ec2Ami)
        .map(|r| {
            let home = r
                .build
                .as_ref()
                .map(|b| b.home_region.clone())
                .or_else(|| {
                    plain
                        .get(&r.recipe)
                        .and_then(|s| s.current())
                        .map(|v| v.home_region.clone())
                })
                .unwrap_or_else(|| args.planning.region.clone());
            let mut regions = vec![home];
            for region in r.build.iter().flat_map(|b| b.regions.iter()) {
                if !regions.contains(region) {
                    regions.push(region.clone());
                }
            }
            recipe_provider_ec2::SweepScope {
                recipe: r.recipe.clone(),
                regions,
            }
        })
        .collect();
    let swept =
        recipe_provider_ec2::sweep_orphans(&cloud.sdk, &scopes, &current, &abandoned, &recorded)
            .await;
    for b in &swept.builders {
        progress.note(&format!(
            "  ✓ terminated a builder left by an earlier run that was not resumed: {b}"
        ));
    }
    for i in &swept.images {
        progress.note(&format!(
            "  ✓ deregistered an image left by an interrupted apply that was not resumed: {i}"
        ));
    }
    for p in &swept.problems {
        progress.note(&format!("  ! {p}"));
    }

    let log: recipe_provider_ec2::LogSink = {
        let progress = Arc::clone(&progress);
        Arc::new(move |recipe: &str, step: &str, line: &str| {
            progress.output(recipe, step, line);
        })
    };
    let status: recipe_provider_ec2::StatusSink = {
        let progress = Arc::clone(&progress);
        Arc::new(move |id: usize, on: &str| progress.waiting(id, on))
    };
    let poll = Duration::from_millis(args.poll_interval_ms.unwrap_or(if cloud.sim.is_some() {
        50
    } else {
        5000
    }));
    let provider = Arc::new(recipe_provider_ec2::Ec2Provider::new(
        &set,
        &plan,
        plain.clone(),
        cloud.sdk.clone(),
        recipe_provider_ec2::ProviderOptions {
            default_region: args.planning.region.clone(),
            poll,
            log,
            status,
        },
    ));
    let resuming = journal
        .saved_plan
        .as_ref()
        .is_some_and(|p| p.created_at == plan.created_at && p.actions == plan.actions);
    if !resuming && let Err(e) = journal.reset(&plan) {
        writeln!(std::io::stderr(), "error: {e}")?;
        return Ok(Exit::Invalid);
    }
    let opts = EngineOptions {
        parallelism: args.parallelism,
        fail_fast: args.fail_fast,
        ..EngineOptions::default()
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let cancel = CancelToken::new();
    // Builders launched and not yet terminated, for the message of a second Ctrl-C.
    // Builders of a resumed run come from the journal: their actions will not report again.
    let mut known: BTreeMap<String, String> = BTreeMap::new();
    for a in &plan.actions {
        let Some(o) = journal.outputs(a.id) else {
            continue;
        };
        if let Some(i) = o.get(&format!("{}/instance-id", a.recipe)) {
            known.insert(a.recipe.clone(), i.clone());
        }
        if matches!(a.action, ActionKind::TerminateBuilder) {
            known.remove(&a.recipe);
        }
    }
    let live_builders = Arc::new(std::sync::Mutex::new(known));
    let c2 = cancel.clone();
    let builders = Arc::clone(&live_builders);
    let p2 = Arc::clone(&progress);
    // One listener for both Ctrl-Cs, registered once before the plan runs, so that a second one sent
    // right after the first is not lost between two registrations. (A Ctrl-C during the sweep
    // before it stops the process at once; the sweep is safe to repeat.)
    let mut interrupts = Interrupts::new()?;
    tokio::spawn(async move {
        if interrupts.next().await {
            let _ = writeln!(
                std::io::stderr(),
                "\ninterrupted: finishing running actions, starting nothing new, then cleaning up (Ctrl-C again to exit now)"
            );
            c2.cancel();
            if interrupts.next().await {
                p2.finish();
                let left: Vec<String> = builders
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
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
                std::process::exit(130);
            }
        }
    });
    let terminate_ids: BTreeSet<usize> = plan
        .actions
        .iter()
        .filter(|a| matches!(a.action, ActionKind::TerminateBuilder))
        .map(|a| a.id)
        .collect();
    let recipe_of: Vec<String> = plan.actions.iter().map(|a| a.recipe.clone()).collect();
    let p3 = Arc::clone(&progress);
    let builders = Arc::clone(&live_builders);
    let printer = tokio::spawn(async move {
        while let Some(e) = rx.recv().await {
            if let Event::Succeeded { id, outputs, .. } = &e {
                let mut b = builders
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let recipe = recipe_of.get(*id).cloned().unwrap_or_default();
                if let Some(i) = outputs.get(&format!("{recipe}/instance-id")) {
                    b.insert(recipe.clone(), i.clone());
                }
                if terminate_ids.contains(id) {
                    b.remove(&recipe);
                }
            }
            p3.event(&e);
        }
    });
    let report = recipe_engine::execute(
        &plan,
        Arc::clone(&provider),
        &mut journal,
        &opts,
        &tx,
        &cancel,
    )
    .await;
    drop(tx);
    let _ = printer.await;
    progress.finish();
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            writeln!(std::io::stderr(), "error: {e}")?;
            return Ok(Exit::Invalid);
        }
    };
    let outputs: BTreeMap<String, String> = report
        .succeeded
        .iter()
        .filter_map(|id| journal.outputs(*id))
        .flat_map(|o| o.clone())
        .collect();

    // Builders of failed builds are terminated unless asked to keep them.
    leftovers(
        &plan,
        &report,
        &outputs,
        &cloud,
        &args.planning.region,
        args.keep_on_error,
    )
    .await;
    let saved = record_state(&plan, &report, &outputs, &store, &state_before).await;
    unlock_all(&store, &locked).await;
    if let Err(e) = saved {
        return Ok(render::report(&e));
    }
    summary(&plan, &report, &outputs, args.json);
    if report.ok() {
        let _ = journal.finish();
        Ok(Exit::Ok)
    } else {
        Ok(Exit::Invalid)
    }
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

async fn unlock_all(store: &crate::store::AnyStore, locked: &[String]) {
    for l in locked {
        let _ = store.unlock(l).await;
    }
}

/// Builders of builds that did not finish: terminated, or with `--keep-on-error` tagged
/// `recipe:keep` so that later applies leave them alone.
async fn leftovers(
    plan: &Plan,
    report: &Report,
    outputs: &BTreeMap<String, String>,
    cloud: &crate::cloud::Cloud,
    default_region: &str,
    keep: bool,
) {
    for a in plan
        .actions
        .iter()
        .filter(|a| matches!(a.action, ActionKind::TerminateBuilder))
    {
        if report.succeeded.contains(&a.id) {
            continue;
        }
        let Some(instance) = outputs.get(&format!("{}/instance-id", a.recipe)) else {
            continue;
        };
        let region = plan
            .recipes
            .iter()
            .find(|r| r.recipe == a.recipe)
            .and_then(|r| r.build.as_ref())
            .map_or(default_region.to_string(), |b| b.home_region.clone());
        let conf = recipe_provider_ec2::ec2_config(&cloud.sdk, &region);
        let client = recipe_provider_ec2::ec2_client(conf);
        if keep {
            match recipe_provider_ec2::mark_kept(&client, instance).await {
                Ok(()) => out(&format!(
                    "  ! kept the builder {instance} of {} for debugging (tagged recipe:keep=debug; terminate it when done)",
                    a.recipe
                )),
                Err(e) => out(&format!(
                    "  ! kept the builder {instance} of {} for debugging, but could not tag it ({}): tag it recipe:keep=debug by hand, or the next apply terminates it",
                    a.recipe, e.message
                )),
            }
            continue;
        }
        if client
            .terminate_instances()
            .instance_ids(instance)
            .send()
            .await
            .is_ok()
        {
            out(&format!(
                "  ✓ terminated the builder {instance} of {} (its build did not finish)",
                a.recipe
            ));
        }
    }
}

async fn record_state(
    plan: &Plan,
    report: &Report,
    outputs: &BTreeMap<String, String>,
    store: &crate::store::AnyStore,
    before: &BTreeMap<String, recipe_state::Stored>,
) -> Result<(), recipe_state::StateError> {
    for rp in &plan.recipes {
        if rp.change == Change::None {
            continue;
        }
        let stored = before.get(&rp.recipe);
        let mut state =
            stored.map_or_else(|| RecipeState::new(rp.recipe.clone()), |s| s.state.clone());
        let done = |pred: &dyn Fn(&ActionKind) -> bool| {
            plan.actions
                .iter()
                .filter(|a| {
                    a.recipe == rp.recipe && pred(&a.action) && report.succeeded.contains(&a.id)
                })
                .map(|a| a.action.clone())
                .collect::<Vec<_>>()
        };
        let image = |region: &str| {
            outputs
                .get(&format!("{}/image-id:{region}", rp.recipe))
                .cloned()
        };
        if let Some(b) = &rp.build {
            let images: BTreeMap<String, RegionImage> = b
                .regions
                .iter()
                .filter_map(|r| {
                    image(r).map(|id| {
                        let snaps = outputs
                            .get(&format!("{}/snapshots:{r}", rp.recipe))
                            .map(|s| {
                                s.split(',')
                                    .filter(|x| !x.is_empty())
                                    .map(str::to_string)
                                    .collect()
                            })
                            .unwrap_or_default();
                        (
                            r.clone(),
                            RegionImage {
                                image_id: id,
                                snapshot_ids: snaps,
                            },
                        )
                    })
                })
                .collect();
            let parent = b.parent.as_ref().and_then(|p| {
                before
                    .get(p)
                    .and_then(|s| s.state.current())
                    .map(|v| recipe_state::ParentRef {
                        recipe: p.clone(),
                        build_id: v.build_id.clone(),
                    })
            });
            if let Some(mut v) =
                recipe_plan::record::completed_version(rp, images, parent, plan.created_at)
            {
                let available = plan.actions.iter().any(|a| {
                    a.recipe == rp.recipe
                        && a.action == ActionKind::WaitAvailable
                        && report.succeeded.contains(&a.id)
                });
                v.status = if available {
                    VersionStatus::Available
                } else {
                    VersionStatus::Failed
                };
                let shared: BTreeSet<Share> = done(&|k| matches!(k, ActionKind::Share { .. }))
                    .into_iter()
                    .filter_map(|k| match k {
                        ActionKind::Share { principal, region } => Some(Share {
                            principal,
                            region,
                            fleet: false,
                            image_builder: false,
                        }),
                        _ => None,
                    })
                    .collect();
                v.shares = shared;
                v.rollout = done(&|k| matches!(k, ActionKind::Rollout { .. }))
                    .into_iter()
                    .map(|k| k.to_string())
                    .collect();
                if let Some(base) = outputs.get(&format!("{}/base", rp.recipe)) {
                    v.base_image = if b.parent.is_some() {
                        b.base.clone()
                    } else {
                        base.clone()
                    };
                }
                state.versions.push(v);
            }
        } else if let Some(cur) = state.versions.iter_mut().rev().find(|v| v.status.is_live()) {
            for k in done(&|_| true) {
                match k {
                    ActionKind::Copy { region } => {
                        if let Some(id) = image(&region) {
                            cur.images.insert(
                                region,
                                RegionImage {
                                    image_id: id,
                                    snapshot_ids: vec![],
                                },
                            );
                        }
                    }
                    ActionKind::RemoveCopy { region, .. } => {
                        cur.images.remove(&region);
                        cur.shares.retain(|s| s.region != region);
                    }
                    ActionKind::Share { principal, region } => {
                        cur.shares.insert(Share {
                            principal,
                            region,
                            fleet: false,
                            image_builder: false,
                        });
                    }
                    ActionKind::Unshare { principal, region } => cur
                        .shares
                        .retain(|s| !(s.principal == principal && s.region == region)),
                    ActionKind::Retag { tags, .. } => cur.image_tags = Some(tags),
                    _ => {}
                }
            }
            cur.updated_at = jiff::Timestamp::now();
        }
        for k in done(&|k| matches!(k, ActionKind::Retire { .. } | ActionKind::Deprecate { .. })) {
            match k {
                ActionKind::Retire { build_id, .. } => {
                    if let Some(v) = state.versions.iter_mut().find(|v| v.build_id == build_id) {
                        v.status = VersionStatus::Retired;
                    }
                }
                ActionKind::Deprecate { build_id } => {
                    if let Some(v) = state.versions.iter_mut().find(|v| v.build_id == build_id) {
                        v.status = VersionStatus::Deprecated;
                        v.deprecated_at = Some(jiff::Timestamp::now());
                    }
                }
                _ => {}
            }
        }
        store.save(&state, stored.map(|s| &s.revision)).await?;
    }
    Ok(())
}

fn summary(plan: &Plan, report: &Report, outputs: &BTreeMap<String, String>, json: bool) {
    let mut images: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (k, v) in outputs {
        if let Some((recipe, rest)) = k.split_once('/')
            && let Some(region) = rest.strip_prefix("image-id:")
        {
            images
                .entry(recipe.to_string())
                .or_default()
                .insert(region.to_string(), v.clone());
        }
    }
    if json {
        out(&serde_json::json!({ "event": "done", "ok": report.ok(), "images": images, "failed": report.failed, "skipped": report.skipped, "cancelled": report.cancelled }).to_string());
        return;
    }
    out("");
    for (recipe, regions) in &images {
        let list: Vec<String> = regions.iter().map(|(r, id)| format!("{r} {id}")).collect();
        out(&format!("{recipe}: {}", list.join(", ")));
    }
    let total = plan.actions.len();
    if report.ok() {
        out(&format!("Apply complete: {total} actions succeeded."));
    } else {
        out(&format!(
            "Apply incomplete: {} succeeded, {} failed, {} skipped, {} not started{}.",
            report.succeeded.len(),
            report.failed.len(),
            report.skipped.len(),
            report.not_started.len(),
            if report.cancelled {
                " (interrupted)"
            } else {
                ""
            }
        ));
    }
}
