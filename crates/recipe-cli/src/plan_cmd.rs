//! `recipe plan` and `recipe graph`.

use std::io::Write;
use std::path::PathBuf;

use clap::ValueEnum;
use recipe_plan::{Estimates, PlanOptions, StateObserver};

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
    /// Plan only this recipe and the recipes it is layered on.
    #[arg(long, value_name = "NAME")]
    target: Option<String>,
    /// Override an action kind's estimated duration, e.g. `--estimate copy=30m` (repeatable).
    #[arg(long = "estimate", value_name = "KIND=DURATION", value_parser = parse_estimate)]
    estimates: Vec<(String, u64)>,
    /// The build region for recipes without `builder.region`.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,
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

pub fn options(p: &PlanningArgs) -> PlanOptions {
    let mut estimates = Estimates::default();
    for (k, v) in &p.estimates {
        estimates.0.insert(k.clone(), *v);
    }
    PlanOptions {
        estimates,
        target: p.target.clone(),
        now: jiff::Timestamp::now(),
        default_region: p.region.clone(),
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
    /// The cloud (and the sandbox endpoint, if one was started).
    pub cloud: crate::cloud::Cloud,
}

impl PlanningArgs {
    /// The state store, defaulting to the sandbox's with `--sandbox`.
    pub fn state_args(&self) -> StateArgs {
        let mut s = self.state.clone();
        if self.cloud.sandbox && s.location == ".recipe/state" {
            s.location = crate::cloud::sandbox_dir()
                .join("state")
                .display()
                .to_string();
        }
        s
    }
}

/// Load, report diagnostics, connect, observe and plan. `Err(exit)` when something failed (reported).
pub async fn make_plan(
    load: &LoadArgs,
    p: &PlanningArgs,
) -> std::io::Result<Result<Planned, Exit>> {
    let set = load.load();
    if set.has_errors() {
        render::validate(&set, crate::Format::Human)?;
        return Ok(Err(Exit::Invalid));
    }
    render::warnings(&set)?;
    let cloud = crate::cloud::Cloud::connect(&p.cloud, &p.region).await?;
    let observer = if p.cloud.refresh {
        crate::cloud::AnyObserver::Ec2(Box::new(recipe_provider_ec2::Ec2Observer::new(
            cloud.sdk.clone(),
            p.region.clone(),
        )))
    } else {
        crate::cloud::AnyObserver::State(StateObserver)
    };
    let store = match p.state_args().open().await {
        Ok(s) => s,
        Err(e) => return Ok(Err(render::report(&e))),
    };
    match recipe_plan::plan(&set, &store, &observer, &options(p)).await {
        Ok(plan) => Ok(Ok(Planned {
            set,
            plan,
            store,
            cloud,
        })),
        Err(e) => Ok(Err(render::report(&e))),
    }
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
    let plan = match runtime()?.block_on(make_plan(&args.load, &args.planning))? {
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
        PlanFormat::Human => out.write_all(recipe_plan::render::human(&plan).as_bytes())?,
        PlanFormat::Markdown => out.write_all(recipe_plan::render::markdown(&plan).as_bytes())?,
        PlanFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &plan)?;
            writeln!(out)?;
        }
    }
    if let Some(path) = &args.out {
        writeln!(
            std::io::stderr(),
            "saved the plan to {}; apply it with `recipe apply {}`",
            path.display(),
            path.display()
        )?;
    }
    Ok(if args.detailed_exitcode && plan.has_changes() {
        Exit::Changes
    } else {
        Exit::Ok
    })
}

/// `recipe graph`.
pub fn graph(args: &GraphArgs) -> std::io::Result<Exit> {
    let plan = match runtime()?.block_on(make_plan(&args.load, &args.planning))? {
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
