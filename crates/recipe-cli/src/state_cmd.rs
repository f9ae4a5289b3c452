//! `recipe state list | show | unlock | import`.

use std::io::Write;

use recipe_state::{LockInfo, StateStore};

use crate::exit::Exit;
use crate::store::{AnyStore, StateArgs, StateAt};
use crate::{LoadArgs, render};

/// Which state a `state` command reads: as `plan PATHS` finds it (next to those recipes; by default
/// the current folder's), or the sandbox's.
#[derive(clap::Args)]
pub struct StateWhere {
    /// Recipe files or folders whose state to read, as `recipe plan PATHS` finds it (default: the
    /// current folder).
    #[arg(value_name = "PATHS")]
    paths: Vec<std::path::PathBuf>,
    #[command(flatten)]
    state: StateArgs,
    /// The sandbox's state (`.recipe/sandbox/state`), as `plan --sandbox` uses.
    #[arg(long)]
    sandbox: bool,
}

#[derive(clap::Subcommand)]
pub enum StateCommand {
    /// List the recipes that have state, with their current version and regions.
    List {
        #[command(flatten)]
        at: StateWhere,
    },
    /// Show every recorded version of a recipe (JSON with --format json).
    Show {
        /// The recipe.
        recipe: String,
        #[command(flatten)]
        at: StateWhere,
        /// Output format.
        #[arg(long, value_enum, default_value_t = crate::Format::Human)]
        format: crate::Format,
    },
    /// Remove a recipe's lock left by a run that died. Use only when no run is active.
    Unlock {
        /// The recipe.
        recipe: String,
        #[command(flatten)]
        at: StateWhere,
    },
    /// Record the images the cloud holds for recipes that have no state (found by their
    /// `recipe:name` tags), as a plan would adopt them. Recipes with state are left as they are.
    Import {
        #[command(flatten)]
        load: LoadArgs,
        #[command(flatten)]
        planning: crate::plan_cmd::PlanningArgs,
    },
}

impl StateWhere {
    /// Whether this is the sandbox's state.
    pub(crate) fn is_sandbox(&self) -> bool {
        self.sandbox
    }

    /// The `.recipe/` folder of the recipes at the paths (or the current folder's).
    pub(crate) fn dot_recipe(&self) -> std::path::PathBuf {
        crate::root::Anchor::of(&self.paths).dot_recipe()
    }

    /// The sandbox's signing key, when this is the sandbox's state.
    pub(crate) fn sandbox_key(&self) -> Option<std::path::PathBuf> {
        let key = self.dot_recipe().join("sandbox").join("provenance.pem");
        self.sandbox.then_some(key)
    }

    /// The state as the recipes at the paths (or the current folder's) find it.
    pub(crate) fn at(&self) -> StateAt {
        let here = [std::path::PathBuf::from(".")];
        let paths = if self.paths.is_empty() {
            &here[..]
        } else {
            &self.paths[..]
        };
        self.state.at(&crate::root::Anchor::of(paths), self.sandbox)
    }
}

/// The store; S3 with the AWS configuration from the standard chain.
pub(crate) async fn open(at: &StateAt) -> Result<AnyStore, Exit> {
    let aws = if at.is_s3() {
        match recipe_aws::Aws::load(&recipe_aws::AwsOptions::default()).await {
            Ok(aws) => Some(aws),
            Err(e) => return Err(render::report(&e)),
        }
    } else {
        None
    };
    let _ = writeln!(std::io::stderr(), "{}", at.describe());
    at.open(aws.as_ref()).map_err(|e| render::report(&e))
}

pub fn run(cmd: &StateCommand) -> std::io::Result<Exit> {
    if let StateCommand::Import { load, planning } = cmd {
        return crate::plan_cmd::runtime()?.block_on(import(load, planning));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run_async(cmd))
}

async fn run_async(cmd: &StateCommand) -> std::io::Result<Exit> {
    let (at, recipe) = match cmd {
        StateCommand::List { at } => (at, None),
        StateCommand::Show { at, recipe, .. } | StateCommand::Unlock { at, recipe } => {
            (at, Some(recipe.as_str()))
        }
        StateCommand::Import { .. } => return Ok(Exit::Invalid),
    };
    let store = match open(&at.at()).await {
        Ok(s) => s,
        Err(exit) => return Ok(exit),
    };
    match (cmd, recipe) {
        (StateCommand::List { .. }, _) => list(&store).await,
        (StateCommand::Show { format, .. }, Some(r)) => show(&store, r, *format).await,
        (_, Some(r)) => unlock(&store, r).await,
        _ => Ok(Exit::Invalid),
    }
}

async fn list(store: &AnyStore) -> std::io::Result<Exit> {
    let names = match store.list().await {
        Ok(n) => n,
        Err(e) => return Ok(render::report(&e)),
    };
    let mut out = std::io::stdout().lock();
    if names.is_empty() {
        writeln!(out, "no state yet")?;
    }
    for name in names {
        match store.load(&name).await {
            Ok(Some(s)) => writeln!(out, "{}", list_line(&name, &s.state))?,
            Ok(None) => {}
            Err(e) => {
                render::report(&e);
            }
        }
    }
    Ok(Exit::Ok)
}

fn list_line(name: &str, state: &recipe_state::RecipeState) -> String {
    let live = state.versions.iter().filter(|v| v.status.is_live()).count();
    match state.current() {
        Some(v) => {
            let regions: Vec<&str> = v.regions().collect();
            format!(
                "{name:<28} {:<10} {:<28} {live} live  {}",
                v.version,
                v.build_id,
                regions.join(", ")
            )
        }
        None => format!("{name:<28} (no usable version)"),
    }
}

async fn show(store: &AnyStore, recipe: &str, format: crate::Format) -> std::io::Result<Exit> {
    let stored = match store.load(recipe).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            writeln!(std::io::stderr(), "no state for `{recipe}`")?;
            return Ok(Exit::Invalid);
        }
        Err(e) => return Ok(render::report(&e)),
    };
    let mut out = std::io::stdout().lock();
    if format == crate::Format::Json {
        serde_json::to_writer_pretty(&mut out, &stored.state)?;
        writeln!(out)?;
        return Ok(Exit::Ok);
    }
    writeln!(out, "{recipe} (revision {})", stored.revision)?;
    for v in stored.state.versions.iter().rev() {
        writeln!(
            out,
            "  {} {:<10} {:<10} built {}",
            v.build_id,
            v.version,
            v.status.as_str(),
            v.created_at.strftime("%Y-%m-%d %H:%M")
        )?;
        for (region, img) in &v.images {
            writeln!(out, "      {region:<16} {}", img.image_id)?;
        }
        let kept = evidence_kept(store, recipe, &v.build_id).await;
        if !kept.is_empty() {
            writeln!(
                out,
                "      evidence: {} (recipe verify {recipe}@{})",
                kept.join(", "),
                v.build_id
            )?;
        }
        let principals: std::collections::BTreeSet<&str> =
            v.shares.iter().map(|s| s.principal.as_str()).collect();
        if !principals.is_empty() {
            let list: Vec<&str> = principals.into_iter().collect();
            writeln!(out, "      shared with {}", list.join(", "))?;
        }
    }
    Ok(Exit::Ok)
}

/// The evidence documents kept for a version, by what they are.
async fn evidence_kept(store: &AnyStore, recipe: &str, build: &str) -> Vec<&'static str> {
    let mut kept = Vec::new();
    for (kind, what) in [
        (crate::evidence::PROVENANCE, "provenance"),
        (crate::evidence::SBOM, "SBOM"),
    ] {
        if let Ok(Some(_)) = store.get_evidence(recipe, build, kind).await {
            kept.push(what);
        }
    }
    kept
}

async fn unlock(store: &AnyStore, recipe: &str) -> std::io::Result<Exit> {
    let mut out = std::io::stdout().lock();
    match store.force_unlock(recipe).await {
        Ok(Some(h)) => writeln!(
            out,
            "removed the lock on `{recipe}` held by {}",
            h.describe()
        )?,
        Ok(None) => writeln!(out, "`{recipe}` was not locked")?,
        Err(e) => return Ok(render::report(&e)),
    }
    Ok(Exit::Ok)
}

/// `recipe state import`: plan (which adopts what the cloud holds for recipes without state), then
/// save each adopted state under the recipe's lock.
async fn import(
    load: &LoadArgs,
    planning: &crate::plan_cmd::PlanningArgs,
) -> std::io::Result<Exit> {
    let planned = match crate::plan_cmd::make_plan(load, planning, None).await? {
        Ok(p) => p,
        Err(exit) => return Ok(exit),
    };
    let mut out = std::io::stdout().lock();
    if planned.plan.adopted.is_empty() {
        writeln!(
            out,
            "nothing to import: every recipe has state, or the cloud holds no image tagged with its name"
        )?;
        return Ok(Exit::Ok);
    }
    for (name, state) in &planned.plan.adopted {
        if let Err(e) = save_adopted(&planned.store, state).await {
            return Ok(render::report(&e));
        }
        let versions: Vec<&str> = state.versions.iter().map(|v| v.version.as_str()).collect();
        writeln!(out, "imported {name}: {}", versions.join(", "))?;
    }
    Ok(Exit::Ok)
}

/// Save a recipe's adopted state, under its lock, only where there is still none.
async fn save_adopted(
    store: &AnyStore,
    state: &recipe_state::RecipeState,
) -> Result<(), recipe_state::StateError> {
    let name = &state.recipe;
    let me = LockInfo::for_this_process("state import");
    store
        .lock(name, &me, std::time::Duration::from_secs(60))
        .await?;
    let result = match store.load(name).await {
        Ok(Some(s)) if !s.state.versions.is_empty() => Ok(()),
        Ok(existing) => store
            .save(state, existing.as_ref().map(|s| &s.revision))
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    store.unlock(name).await?;
    result
}
