//! `recipe plan` and `recipe graph`.

use std::io::Write;
use std::path::PathBuf;

use clap::ValueEnum;
use std::time::Duration;

use recipe_engine::Registry;
use recipe_plan::{CloudInfo, Estimates, PlanOptions, StateObserver};

use crate::exit::Exit;
use crate::store::StateArgs;
use crate::{LoadArgs, render};

/// How a plan is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// Grouped by recipe with +/~/- markers.
    Human,
    /// The plan as JSON (the same document `--out` writes).
    Json,
    /// Markdown for a pull-request comment.
    Markdown,
}

/// Options shared by `plan` and `graph`.
#[derive(clap::Args, Clone)]
pub struct PlanningArgs {
    /// Only this recipe and the recipes it is layered on (repeatable: `--target a --target b`).
    #[arg(long, value_name = "NAME")]
    target: Vec<String>,
    /// Override an action kind's estimated duration, e.g. `--estimate copy=30m` (repeatable).
    #[arg(long = "estimate", value_name = "KIND=DURATION", value_parser = parse_estimate)]
    estimates: Vec<(String, u64)>,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub cloud: crate::cloud::CloudArgs,
}

fn parse_estimate(s: &str) -> Result<(String, u64), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("expected KIND=DURATION, got `{s}`"))?;
    if !recipe_plan::ActionKind::NAMES.contains(&k) {
        return Err(format!(
            "unknown action kind `{k}`; the kinds are: {}",
            recipe_plan::ActionKind::NAMES.join(", ")
        ));
    }
    let d: recipe_model::Duration = v
        .parse()
        .map_err(|e: recipe_model::DurationParseError| e.to_string())?;
    Ok((k.to_string(), d.as_secs()))
}

#[derive(clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    load: LoadArgs,
    #[command(flatten)]
    planning: PlanningArgs,
    /// Save the plan (JSON) for `recipe apply FILE`.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// How to print the plan.
    #[arg(long = "format", value_enum, default_value_t = PlanFormat::Human)]
    plan_format: PlanFormat,
    /// Exit 0 when there are no changes, 2 when there are, 1 on error.
    #[arg(long)]
    detailed_exitcode: bool,
    /// Print only the plan's one-line summary (with `--format human`).
    #[arg(long, short)]
    quiet: bool,
}

#[derive(clap::Args)]
pub struct GraphArgs {
    #[command(flatten)]
    load: LoadArgs,
    #[command(flatten)]
    planning: PlanningArgs,
    /// Graph syntax.
    #[arg(long = "format", value_enum, default_value_t = GraphFormat::Dot)]
    graph_format: GraphFormat,
}

/// Graph syntaxes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// Graphviz DOT (`| dot -Tsvg`).
    Dot,
    /// Mermaid (renders in GitHub and GitLab Markdown).
    Mermaid,
}

fn options(p: &PlanningArgs, cloud: CloudInfo) -> PlanOptions {
    let mut estimates = Estimates::default();
    for (k, v) in &p.estimates {
        estimates.0.insert(k.clone(), *v);
    }
    PlanOptions {
        estimates,
        targets: p.target.clone(),
        unfinished: Default::default(),
        now: jiff::Timestamp::now(),
        cloud,
    }
}

/// What planning produced, kept for apply.
pub struct Planned {
    /// The recipes.
    pub set: recipe_loader::RecipeSet,
    /// The plan.
    pub plan: recipe_plan::Plan,
    /// The state store.
    pub store: crate::store::AnyStore,
    /// The cloud; holds the sandbox endpoint, if one was started, running while the command runs.
    pub cloud: crate::cloud::Cloud,
    /// The providers.
    pub registry: Registry,
    /// How it was planned, to plan again.
    opts: PlanOptions,
    refresh: bool,
}

impl Planned {
    /// The plan made again with the same recipes, cloud and options (state and the cloud read anew),
    /// as a queued apply does once it holds its locks. Reported when it fails.
    pub async fn again(&self) -> Result<recipe_plan::Plan, Exit> {
        let mut opts = self.opts.clone();
        opts.now = jiff::Timestamp::now();
        plan_now(
            &self.set,
            &self.store,
            &self.registry,
            &mut opts,
            self.refresh,
        )
        .await
    }
}

/// The plan of `set` against what `store` and (with `refresh`) the cloud hold now.
async fn plan_now(
    set: &recipe_loader::RecipeSet,
    store: &crate::store::AnyStore,
    registry: &Registry,
    opts: &mut PlanOptions,
    refresh: bool,
) -> Result<recipe_plan::Plan, Exit> {
    opts.unfinished = unfinished_builds(store, set).await;
    let planned = if refresh {
        recipe_plan::plan(set, store, registry, opts).await
    } else {
        recipe_plan::plan(set, store, &StateObserver, opts).await
    };
    planned.map_err(|e| {
        use recipe_plan::{PlanError, PlanFailure};
        let exit = match e {
            PlanFailure::Plan(PlanError::UnknownTarget { .. } | PlanError::Invalid(_)) => {
                Exit::Invalid
            }
            _ => Exit::Plan,
        };
        render::report_as(&e, exit)
    })
}

/// Load, report diagnostics, connect, observe and plan. `Err(exit)` when something failed (reported).
/// `poll` is the providers' poll interval (their default when `None`).
pub async fn make_plan(
    load: &LoadArgs,
    p: &PlanningArgs,
    poll: Option<Duration>,
) -> std::io::Result<Result<Planned, Exit>> {
    let set = load.load();
    if set.has_errors() {
        render::validate(&set, crate::Format::Human)?;
        return Ok(Err(Exit::Invalid));
    }
    render::warnings(&set)?;
    let anchor = crate::root::Anchor::of(&load.paths);
    let dot_recipe = anchor.dot_recipe();
    let cloud = match crate::cloud::Cloud::connect(&p.cloud, &dot_recipe).await? {
        Ok(c) => c,
        Err(e) => return Ok(Err(render::report_as(&e, Exit::Plan))),
    };
    let mut info = match where_it_builds(&set, &cloud, p.cloud.refresh, &load.allow_regions).await {
        Ok(info) => info,
        Err(exit) => return Ok(Err(exit)),
    };
    // A saved plan says which cloud it was made for, so `recipe apply FILE` goes back there.
    info.sandbox = p.cloud.sandbox;
    info.endpoint = p.cloud.endpoint_url.clone();
    if let Some(sim) = &cloud.sim {
        provide_account(sim, &set, &info.region);
    }
    let registry = cloud.registry(poll.unwrap_or_else(|| cloud.default_poll()));
    let at = p.state.at(&anchor, p.cloud.sandbox);
    let store = match at.open(Some(&cloud.aws)) {
        Ok(s) => s,
        Err(e) => return Ok(Err(render::report_as(&e, Exit::Plan))),
    };
    let _ = writeln!(std::io::stderr(), "{}", at.describe());
    let mut opts = options(p, info);
    let plan = match plan_now(&set, &store, &registry, &mut opts, p.cloud.refresh).await {
        Ok(plan) => plan,
        Err(exit) => return Ok(Err(exit)),
    };
    Ok(Ok(Planned {
        set,
        plan,
        store,
        cloud,
        registry,
        opts,
        refresh: p.cloud.refresh,
    }))
}

/// The default build region (from the standard chain, else the recipes' own `builder.region` when
/// every recipe sets one) and, when the cloud is asked, the account.
async fn where_it_builds(
    set: &recipe_loader::RecipeSet,
    cloud: &crate::cloud::Cloud,
    refresh: bool,
    allow: &[String],
) -> Result<CloudInfo, Exit> {
    let own: Vec<&str> = set
        .recipes
        .iter()
        .filter_map(|r| r.recipe.builder.region.as_ref().map(|n| n.value.as_str()))
        .collect();
    let (region, region_source) = match (cloud.aws.region(), own.first()) {
        (Ok(r), _) => {
            known_region(r, allow)?;
            (r.name.clone(), r.source.clone())
        }
        (Err(_), Some(first)) if own.len() == set.recipes.len() => {
            (first.to_string(), "the recipes' builder.region".to_string())
        }
        (Err(e), _) => return Err(render::report_as(&e, Exit::Plan)),
    };
    let account = if refresh {
        Some(
            cloud
                .aws
                .account(&region)
                .await
                .map_err(|e| render::report_as(&e, Exit::Plan))?,
        )
    } else {
        None
    };
    Ok(CloudInfo {
        account,
        region,
        region_source,
        ..Default::default()
    })
}

/// A default region from `--region`, the environment or the profile is checked as a recipe's
/// `builder.region` is: a typo is refused with a did-you-mean, and a region newer than this version
/// of recipe is let through by `--allow-region`.
fn known_region(r: &recipe_aws::RegionChoice, allow: &[String]) -> Result<(), Exit> {
    let Some(help) = recipe_loader::unknown_region_help(&r.name, allow) else {
        return Ok(());
    };
    let err = recipe_aws::AwsError::new(recipe_aws::AwsErrorDetail {
        service: "config",
        operation: "region",
        code: Some("recipe::aws::unknown-region".into()),
        message: format!("there is no AWS region `{}` (from {})", r.name, r.source),
        request_id: None,
        kind: recipe_aws::ErrorClass::Fatal,
        help: Some(help),
    });
    Err(render::report(&err))
}

/// The sandbox plays the platform team that set the account up: the subnets, security groups,
/// instance profiles (with AmazonSSMManagedInstanceCore), AppStream roles (trusting
/// appstream.amazonaws.com), WorkSpaces directories (registered), KMS keys and secrets the recipes
/// name exist
/// (docs/aws-sim.md). Against AWS, the plan's preflight reports the ones missing.
fn provide_account(sim: &aws_sim::Sim, set: &recipe_loader::RecipeSet, default_region: &str) {
    let account = aws_sim::DEFAULT_ACCOUNT;
    let ssm = ["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore".to_string()];
    for r in &set.recipes {
        let b = &r.recipe.builder;
        let region = b
            .region
            .as_ref()
            .map_or(default_region, |n| n.value.as_str());
        let subnets: Vec<String> = b.subnet_id.iter().map(|s| s.value.clone()).collect();
        let groups: Vec<String> = b
            .security_group_ids
            .iter()
            .map(|s| s.value.clone())
            .collect();
        sim.provide_network(account, region, &subnets, &groups);
        if let Some(profile) = &b.instance_profile {
            sim.provide_instance_profile(account, &profile.value, &ssm);
        }
        if let Some(dir) = &b.directory_id {
            let _ = sim.provide_directory(account, region, &dir.value);
        }
        if let Some(role) = &b.iam_role_arn {
            let name = role.value.rsplit('/').next().unwrap_or(&role.value);
            sim.provide_role(account, name, "appstream.amazonaws.com");
        }
        for (key_region, key) in r.recipe.distribute.iter().flat_map(|d| d.kms_keys.iter()) {
            sim.provide_kms_key(account, key_region, &key.value);
        }
        for (name, secret) in &r.recipe.secrets {
            let (id, manager) = match &secret.value {
                recipe_model::SecretRef::SsmParameter(p) => (p, false),
                recipe_model::SecretRef::SecretsManager(s) => (s, true),
            };
            sim.provide_secret(
                account,
                region,
                id,
                manager,
                &format!("sandbox value of {name}"),
            );
        }
    }
}

/// The builds of applies that did not finish, from their journals (read as a hint, without locks):
/// their images are the next apply's to resume or sweep, not the plan's to adopt.
async fn unfinished_builds(
    store: &crate::store::AnyStore,
    set: &recipe_loader::RecipeSet,
) -> std::collections::BTreeSet<String> {
    let names = set
        .recipes
        .iter()
        .map(|r| r.recipe.name.value.clone())
        .collect();
    let runs = recipe_engine::interrupted(store, &names)
        .await
        .unwrap_or_default();
    runs.iter()
        .flat_map(|run| {
            let open = run.open();
            run.plan
                .recipes
                .iter()
                .filter(move |r| open.contains(&r.recipe))
                .filter_map(|r| r.build.as_ref().map(|b| b.build_id.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The runtime for commands that talk to the cloud.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

/// `recipe plan`.
pub fn plan(args: &PlanArgs) -> std::io::Result<Exit> {
    let plan = match runtime()?.block_on(make_plan(&args.load, &args.planning, None))? {
        Ok(p) => p.plan,
        Err(exit) => return Ok(exit),
    };
    if let Some(path) = &args.out {
        let mut text = serde_json::to_string_pretty(&plan).expect("a plan serializes");
        text.push('\n');
        std::fs::write(path, text)?;
    }
    let mut out = std::io::stdout().lock();
    match args.plan_format {
        PlanFormat::Human if args.quiet => {
            writeln!(out, "{}", recipe_plan::render::summary_line(&plan))?
        }
        PlanFormat::Human => out.write_all(recipe_plan::render::human(&plan).as_bytes())?,
        PlanFormat::Markdown => out.write_all(recipe_plan::render::markdown(&plan).as_bytes())?,
        // Buffered: a large plan has hundreds of thousands of lines.
        PlanFormat::Json => crate::render::json_out(&plan)?,
    }
    if let Some(path) = &args.out {
        writeln!(
            std::io::stderr(),
            "saved the plan to {}; apply it with `recipe apply {}`",
            path.display(),
            path.display()
        )?;
    }
    Ok(plan_exit(&plan, args.detailed_exitcode))
}

/// `plan`'s exit code: 4 when it found problems apply would refuse (a CI gate on `plan` must stop
/// where apply would), else 2 for changes with `--detailed-exitcode`, else 0.
fn plan_exit(plan: &recipe_plan::Plan, detailed: bool) -> Exit {
    if plan.recipes.iter().any(|r| !r.problems.is_empty()) {
        Exit::Plan
    } else if detailed && plan.has_changes() {
        Exit::Changes
    } else {
        Exit::Ok
    }
}

/// `recipe graph`.
pub fn graph(args: &GraphArgs) -> std::io::Result<Exit> {
    let plan = match runtime()?.block_on(make_plan(&args.load, &args.planning, None))? {
        Ok(p) => p.plan,
        Err(exit) => return Ok(exit),
    };
    let text = match args.graph_format {
        GraphFormat::Dot => recipe_plan::graph::to_dot(&plan.actions, &plan.critical_path),
        GraphFormat::Mermaid => recipe_plan::graph::to_mermaid(&plan.actions),
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(Exit::Ok)
}
